//! Accumulators over numbers: count, sum, mean, variance/stddev, corr, and min/max of
//! integers and floats. Each keeps one or a few `Vec`s indexed by group id; memory is
//! a few machine words per group.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::{for_valid, grow, nullable_from, prim, GroupsAccumulator};
use crate::error::{Error, Result};

pub(super) struct CountAcc {
    pub(super) counts: Vec<i64>,
    pub(super) star: bool,
}

impl GroupsAccumulator for CountAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.counts, n, 0);
        if self.star {
            group_ids.iter().for_each(|&g| self.counts[g as usize] += 1);
        } else {
            for_valid(values[0].as_ref(), group_ids, |g, _| self.counts[g] += 1);
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.counts, n, 0);
        let c = prim::<Int64Type>(&states[0]);
        for_valid(c, group_ids, |g, i| self.counts[g] += c.value(i));
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from(std::mem::take(&mut self.counts))))
    }
    fn size(&self) -> usize {
        self.counts.capacity() * 8
    }
}

pub(super) struct SumI64 {
    pub(super) sums: Vec<i64>,
    pub(super) seen: Vec<bool>,
}

impl SumI64 {
    fn add(&mut self, g: usize, v: i64) -> Result<()> {
        self.sums[g] = self.sums[g].checked_add(v).ok_or_else(|| {
            Error::Plan("integer overflow in sum(); cast the column to DOUBLE".into())
        })?;
        self.seen[g] = true;
        Ok(())
    }
    fn fold(&mut self, a: &ArrayRef, group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.sums, n, 0);
        grow(&mut self.seen, n, false);
        let a = prim::<Int64Type>(a);
        let mut result = Ok(());
        for_valid(a, group_ids, |g, i| {
            if result.is_ok() {
                result = self.add(g, a.value(i));
            }
        });
        result
    }
}

impl GroupsAccumulator for SumI64 {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.fold(&values[0], group_ids, n)
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.fold(&states[0], group_ids, n)
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let nulls = NullBuffer::from_iter(std::mem::take(&mut self.seen));
        Ok(Arc::new(Int64Array::new(
            std::mem::take(&mut self.sums).into(),
            Some(nulls),
        )))
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 9
    }
}

/// Sum of doubles with Neumaier's compensated summation: each group keeps a running
/// sum and the rounding error it has dropped, so the result is (almost always) the
/// correctly rounded exact sum whatever order the rows and partial states arrive in.
/// Plain summation made two evaluations of the same sum differ by an ulp between
/// runs, which broke equality tests such as TPC-H Q15's `total_revenue = max(..)`.
pub(super) struct SumF64 {
    pub(super) sums: Vec<f64>,
    pub(super) comps: Vec<f64>,
    pub(super) seen: Vec<bool>,
}

#[inline]
fn neumaier(sum: &mut f64, comp: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *comp += (*sum - t) + x;
    } else {
        *comp += (x - t) + *sum;
    }
    *sum = t;
}

impl SumF64 {
    fn grow(&mut self, n: usize) {
        grow(&mut self.sums, n, 0.0);
        grow(&mut self.comps, n, 0.0);
        grow(&mut self.seen, n, false);
    }
}

impl GroupsAccumulator for SumF64 {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.grow(n);
        let a = prim::<Float64Type>(&values[0]);
        for_valid(a, group_ids, |g, i| {
            neumaier(&mut self.sums[g], &mut self.comps[g], a.value(i));
            self.seen[g] = true;
        });
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.grow(n);
        let sums = prim::<Float64Type>(&states[0]);
        let comps = prim::<Float64Type>(&states[1]);
        for_valid(sums, group_ids, |g, i| {
            neumaier(&mut self.sums[g], &mut self.comps[g], sums.value(i));
            neumaier(&mut self.sums[g], &mut self.comps[g], comps.value(i));
            self.seen[g] = true;
        });
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let seen = std::mem::take(&mut self.seen);
        let comps = std::mem::take(&mut self.comps);
        Ok(vec![
            nullable_from(std::mem::take(&mut self.sums), seen.iter().copied()),
            nullable_from(comps, seen.into_iter()),
        ])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let seen = std::mem::take(&mut self.seen);
        let comps = std::mem::take(&mut self.comps);
        let sums: Vec<f64> = std::mem::take(&mut self.sums)
            .into_iter()
            .zip(comps)
            .map(|(s, c)| s + c)
            .collect();
        Ok(nullable_from(sums, seen.into_iter()))
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 17
    }
}

pub(super) struct MeanAcc {
    pub(super) sums: Vec<f64>,
    pub(super) counts: Vec<i64>,
}

impl GroupsAccumulator for MeanAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.sums, n, 0.0);
        grow(&mut self.counts, n, 0);
        let a = prim::<Float64Type>(&values[0]);
        for_valid(a, group_ids, |g, i| {
            self.sums[g] += a.value(i);
            self.counts[g] += 1;
        });
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.sums, n, 0.0);
        grow(&mut self.counts, n, 0);
        let s = prim::<Float64Type>(&states[0]);
        let c = prim::<Int64Type>(&states[1]);
        for_valid(c, group_ids, |g, i| {
            self.counts[g] += c.value(i);
            if s.is_valid(i) {
                self.sums[g] += s.value(i);
            }
        });
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![
            Arc::new(Float64Array::from(std::mem::take(&mut self.sums))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.counts))),
        ])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let counts = std::mem::take(&mut self.counts);
        let sums = std::mem::take(&mut self.sums);
        let means: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s / c.max(1) as f64)
            .collect();
        Ok(nullable_from(means, counts.into_iter().map(|c| c > 0)))
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 16
    }
}

/// Welford's online variance; partial states merge with Chan et al.'s formula.
pub(super) struct VarAcc {
    pub(super) n: Vec<f64>,
    pub(super) mean: Vec<f64>,
    pub(super) m2: Vec<f64>,
    pub(super) std: bool,
    /// Divide by n (var_pop/stddev_pop), not n - 1.
    pub(super) population: bool,
}

impl VarAcc {
    fn grow(&mut self, n: usize) {
        grow(&mut self.n, n, 0.0);
        grow(&mut self.mean, n, 0.0);
        grow(&mut self.m2, n, 0.0);
    }
    fn combine(&mut self, g: usize, nb: f64, mb: f64, m2b: f64) {
        let na = self.n[g];
        let n = na + nb;
        if n == 0.0 {
            return;
        }
        let delta = mb - self.mean[g];
        self.mean[g] += delta * nb / n;
        self.m2[g] += m2b + delta * delta * na * nb / n;
        self.n[g] = n;
    }
}

impl GroupsAccumulator for VarAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.grow(n);
        let a = prim::<Float64Type>(&values[0]);
        for_valid(a, group_ids, |g, i| {
            let x = a.value(i);
            self.n[g] += 1.0;
            let delta = x - self.mean[g];
            self.mean[g] += delta / self.n[g];
            self.m2[g] += delta * (x - self.mean[g]);
        });
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.grow(n);
        let c = prim::<Int64Type>(&states[0]);
        let m = prim::<Float64Type>(&states[1]);
        let m2 = prim::<Float64Type>(&states[2]);
        for_valid(c, group_ids, |g, i| {
            self.combine(g, c.value(i) as f64, m.value(i), m2.value(i))
        });
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let n: Int64Array = std::mem::take(&mut self.n)
            .into_iter()
            .map(|v| v as i64)
            .collect();
        Ok(vec![
            Arc::new(n),
            Arc::new(Float64Array::from(std::mem::take(&mut self.mean))),
            Arc::new(Float64Array::from(std::mem::take(&mut self.m2))),
        ])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let n = std::mem::take(&mut self.n);
        let m2 = std::mem::take(&mut self.m2);
        self.mean.clear();
        let v: Vec<f64> = n
            .iter()
            .zip(&m2)
            .map(|(&n, &m2)| {
                // One value varies by 0, even a NaN or an infinity (DuckDB's rule).
                if n == 1.0 && self.population {
                    return 0.0;
                }
                let var = m2 / if self.population { n } else { n - 1.0 };
                if self.std {
                    // Rounding can leave a tiny negative m2; NaN stays NaN.
                    if var < 0.0 {
                        0.0
                    } else {
                        var.sqrt()
                    }
                } else {
                    var
                }
            })
            .collect();
        let least = if self.population { 1.0 } else { 2.0 };
        Ok(nullable_from(v, n.into_iter().map(|n| n >= least)))
    }
    fn size(&self) -> usize {
        self.n.capacity() * 24
    }
}

/// Pearson correlation from co-moments: state (n, mean_x, mean_y, M2x, M2y, Cxy).
pub(super) struct CorrAcc {
    pub(super) s: Vec<[f64; 6]>,
}

impl CorrAcc {
    fn combine(&mut self, g: usize, b: [f64; 6]) {
        let a = self.s[g];
        let n = a[0] + b[0];
        if n == 0.0 {
            return;
        }
        let dx = b[1] - a[1];
        let dy = b[2] - a[2];
        let f = a[0] * b[0] / n;
        self.s[g] = [
            n,
            a[1] + dx * b[0] / n,
            a[2] + dy * b[0] / n,
            a[3] + b[3] + dx * dx * f,
            a[4] + b[4] + dy * dy * f,
            a[5] + b[5] + dx * dy * f,
        ];
    }
}

impl GroupsAccumulator for CorrAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.s, n, [0.0; 6]);
        let x = prim::<Float64Type>(&values[0]);
        let y = prim::<Float64Type>(&values[1]);
        for (i, &g) in group_ids.iter().enumerate() {
            if x.is_valid(i) && y.is_valid(i) {
                self.combine(g as usize, [1.0, x.value(i), y.value(i), 0.0, 0.0, 0.0]);
            }
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.s, n, [0.0; 6]);
        let cols: Vec<&Float64Array> = states.iter().map(prim::<Float64Type>).collect();
        for (i, &g) in group_ids.iter().enumerate() {
            let b = std::array::from_fn(|k| cols[k].value(i));
            self.combine(g as usize, b);
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let s = std::mem::take(&mut self.s);
        Ok((0..6)
            .map(|k| Arc::new(Float64Array::from_iter_values(s.iter().map(|r| r[k]))) as ArrayRef)
            .collect())
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let s = std::mem::take(&mut self.s);
        let out: Float64Array = s
            .iter()
            .map(|r| {
                let d = (r[3] * r[4]).sqrt();
                (r[0] > 1.0 && d > 0.0).then(|| r[5] / d)
            })
            .collect();
        Ok(Arc::new(out))
    }
    fn size(&self) -> usize {
        self.s.capacity() * 48
    }
}

pub(super) struct MinMaxI64 {
    pub(super) v: Vec<i64>,
    pub(super) seen: Vec<bool>,
    pub(super) max: bool,
    pub(super) output: DataType,
}

impl MinMaxI64 {
    fn fold(&mut self, a: &ArrayRef, group_ids: &[u32], n: usize) {
        grow(&mut self.v, n, if self.max { i64::MIN } else { i64::MAX });
        grow(&mut self.seen, n, false);
        let a = prim::<Int64Type>(a);
        let max = self.max;
        for_valid(a, group_ids, |g, i| {
            let x = a.value(i);
            let cur = &mut self.v[g];
            if (max && x > *cur) || (!max && x < *cur) {
                *cur = x;
            }
            self.seen[g] = true;
        });
    }
    fn emit(&mut self) -> ArrayRef {
        let nulls = NullBuffer::from_iter(std::mem::take(&mut self.seen));
        Arc::new(Int64Array::new(
            std::mem::take(&mut self.v).into(),
            Some(nulls),
        ))
    }
}

impl GroupsAccumulator for MinMaxI64 {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.fold(&values[0], group_ids, n);
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.fold(&states[0], group_ids, n);
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.emit()])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        Ok(cast(&self.emit(), &self.output)?)
    }
    fn size(&self) -> usize {
        self.v.capacity() * 9
    }
}

pub(super) struct MinMaxF64 {
    pub(super) v: Vec<Option<f64>>,
    pub(super) max: bool,
    pub(super) output: DataType,
}

impl MinMaxF64 {
    fn fold(&mut self, a: &ArrayRef, group_ids: &[u32], n: usize) {
        grow(&mut self.v, n, None);
        let a = prim::<Float64Type>(a);
        let max = self.max;
        for_valid(a, group_ids, |g, i| {
            let x = a.value(i);
            let cur = &mut self.v[g];
            *cur = Some(match *cur {
                None => x,
                Some(c) if max => crate::expr::float_keys::max_f64(c, x),
                Some(c) => crate::expr::float_keys::min_f64(c, x),
            });
        });
    }
}

impl GroupsAccumulator for MinMaxF64 {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.fold(&values[0], group_ids, n);
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.fold(&states[0], group_ids, n);
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(Float64Array::from(std::mem::take(
            &mut self.v,
        )))])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let a: ArrayRef = Arc::new(Float64Array::from(std::mem::take(&mut self.v)));
        Ok(cast(&a, &self.output)?)
    }
    fn size(&self) -> usize {
        self.v.capacity() * 16
    }
}
