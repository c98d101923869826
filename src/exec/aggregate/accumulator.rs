//! Group-indexed accumulators: one object holds the running state of one aggregate for
//! *all* groups of a hash table, in columnar vectors indexed by group id (DataFusion's
//! `GroupsAccumulator` idea), so updating costs a tight loop per batch, not a virtual
//! call per row.
//!
//! Each accumulator can emit its partial state as Arrow arrays ([`GroupsAccumulator::state`])
//! and merge such arrays back ([`GroupsAccumulator::merge`]). That state is what the
//! hash aggregate spills, and what a distributed run would ship between the partial and
//! the final phase (DESIGN §6). [`state_fields`] fixes its schema.
//!
//! Values whose type has no specialised accumulator (strings, dates, decimals, booleans)
//! are handled in `arrow-row` encoding, whose byte order equals the sort order, so one
//! implementation of min/max/first/last/count_distinct serves every type.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, Float64Array, Int64Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::expr::AggFunc;

/// The running state of one aggregate over all groups of a table.
pub trait GroupsAccumulator: Send {
    /// Folds input rows in: row `i` belongs to group `group_ids[i]`; `order[i]` is its
    /// position in source order (used by first/last).
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        num_groups: usize,
        order: &[i64],
    ) -> Result<()>;
    /// Folds partial states (arrays shaped like [`state_fields`]) in.
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], num_groups: usize) -> Result<()>;
    /// Emits the partial state of every group and resets.
    fn state(&mut self) -> Result<Vec<ArrayRef>>;
    /// Emits the final value of every group and resets.
    fn evaluate(&mut self) -> Result<ArrayRef>;
    /// Bytes held.
    fn size(&self) -> usize;
}

/// The type an aggregate's input is cast to before `update`.
pub fn input_type(func: AggFunc, arg: &DataType) -> DataType {
    use AggFunc::*;
    match func {
        Sum if arg.is_integer() || *arg == DataType::Null => DataType::Int64,
        Sum | Mean | Std | Var | Corr => DataType::Float64,
        Min | Max if arg.is_integer() => DataType::Int64,
        Min | Max if arg.is_floating() => DataType::Float64,
        _ => arg.clone(),
    }
}

/// The partial-state fields of an aggregate named `name`.
pub fn state_fields(func: AggFunc, arg: &DataType, name: &str) -> Vec<Field> {
    use AggFunc::*;
    let f = |suffix: &str, t: DataType| Field::new(format!("{name}#{suffix}"), t, true);
    match func {
        CountStar | Count => vec![f("count", DataType::Int64)],
        Sum => vec![f("sum", input_type(func, arg))],
        Mean => vec![f("sum", DataType::Float64), f("count", DataType::Int64)],
        Std | Var => vec![
            f("count", DataType::Int64),
            f("mean", DataType::Float64),
            f("m2", DataType::Float64),
        ],
        Corr => ["n", "mx", "my", "m2x", "m2y", "cxy"]
            .iter()
            .map(|s| f(s, DataType::Float64))
            .collect(),
        Min | Max if arg.is_integer() => vec![f("value", DataType::Int64)],
        Min | Max if arg.is_floating() => vec![f("value", DataType::Float64)],
        Min | Max => vec![f("value", DataType::Binary)],
        First | Last => vec![f("value", DataType::Binary), f("order", DataType::Int64)],
        CountDistinct => vec![f("set", DataType::Binary)],
    }
}

/// A new accumulator for `func` over an argument of type `arg`, producing `output`.
pub fn create_accumulator(
    func: AggFunc,
    arg: &DataType,
    output: &DataType,
) -> Result<Box<dyn GroupsAccumulator>> {
    use AggFunc::*;
    Ok(match func {
        CountStar => Box::new(CountAcc {
            counts: vec![],
            star: true,
        }),
        Count => Box::new(CountAcc {
            counts: vec![],
            star: false,
        }),
        Sum if input_type(func, arg) == DataType::Int64 => Box::new(SumI64 {
            sums: vec![],
            seen: vec![],
        }),
        Sum => Box::new(SumF64 {
            sums: vec![],
            seen: vec![],
        }),
        Mean => Box::new(MeanAcc {
            sums: vec![],
            counts: vec![],
        }),
        Std | Var => Box::new(VarAcc {
            n: vec![],
            mean: vec![],
            m2: vec![],
            std: func == Std,
        }),
        Corr => Box::new(CorrAcc { s: vec![] }),
        Min | Max if arg.is_integer() => Box::new(MinMaxI64 {
            v: vec![],
            seen: vec![],
            max: func == Max,
            output: output.clone(),
        }),
        Min | Max if arg.is_floating() => Box::new(MinMaxF64 {
            v: vec![],
            max: func == Max,
            output: output.clone(),
        }),
        Min | Max | First | Last => Box::new(RowValueAcc::try_new(func, arg, output)?),
        CountDistinct => Box::new(DistinctAcc::try_new(arg)?),
    })
}

fn grow<T: Clone>(v: &mut Vec<T>, n: usize, init: T) {
    if v.len() < n {
        v.resize(n, init);
    }
}

fn prim<T: arrow::datatypes::ArrowPrimitiveType>(a: &ArrayRef) -> &arrow::array::PrimitiveArray<T> {
    a.as_primitive::<T>()
}

/// Calls `f(group, row)` for every non-null row.
fn for_valid(a: &dyn Array, group_ids: &[u32], mut f: impl FnMut(usize, usize)) {
    match a.logical_nulls() {
        None => group_ids
            .iter()
            .enumerate()
            .for_each(|(i, &g)| f(g as usize, i)),
        Some(n) => group_ids
            .iter()
            .enumerate()
            .filter(|(i, _)| n.is_valid(*i))
            .for_each(|(i, &g)| f(g as usize, i)),
    }
}

fn nullable_from(values: Vec<f64>, valid: impl Iterator<Item = bool>) -> ArrayRef {
    let nulls = NullBuffer::from_iter(valid);
    Arc::new(Float64Array::new(values.into(), Some(nulls)))
}

struct CountAcc {
    counts: Vec<i64>,
    star: bool,
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

struct SumI64 {
    sums: Vec<i64>,
    seen: Vec<bool>,
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

struct SumF64 {
    sums: Vec<f64>,
    seen: Vec<bool>,
}

impl SumF64 {
    fn fold(&mut self, a: &ArrayRef, group_ids: &[u32], n: usize) {
        grow(&mut self.sums, n, 0.0);
        grow(&mut self.seen, n, false);
        let a = prim::<Float64Type>(a);
        for_valid(a, group_ids, |g, i| {
            self.sums[g] += a.value(i);
            self.seen[g] = true;
        });
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
        self.fold(&values[0], group_ids, n);
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.fold(&states[0], group_ids, n);
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let seen = std::mem::take(&mut self.seen);
        Ok(nullable_from(
            std::mem::take(&mut self.sums),
            seen.into_iter(),
        ))
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 9
    }
}

struct MeanAcc {
    sums: Vec<f64>,
    counts: Vec<i64>,
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
struct VarAcc {
    n: Vec<f64>,
    mean: Vec<f64>,
    m2: Vec<f64>,
    std: bool,
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
                let var = m2 / (n - 1.0);
                if self.std {
                    var.max(0.0).sqrt()
                } else {
                    var
                }
            })
            .collect();
        Ok(nullable_from(v, n.into_iter().map(|n| n > 1.0)))
    }
    fn size(&self) -> usize {
        self.n.capacity() * 24
    }
}

/// Pearson correlation from co-moments: state (n, mean_x, mean_y, M2x, M2y, Cxy).
struct CorrAcc {
    s: Vec<[f64; 6]>,
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

struct MinMaxI64 {
    v: Vec<i64>,
    seen: Vec<bool>,
    max: bool,
    output: DataType,
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

struct MinMaxF64 {
    v: Vec<Option<f64>>,
    max: bool,
    output: DataType,
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
                Some(c) if max => c.max(x),
                Some(c) => c.min(x),
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

/// min/max/first/last over any type, on `arrow-row` encoded values.
struct RowValueAcc {
    func: AggFunc,
    converter: RowConverter,
    values: Vec<Option<Box<[u8]>>>,
    order: Vec<i64>,
    bytes: usize,
    output: DataType,
}

impl RowValueAcc {
    fn try_new(func: AggFunc, arg: &DataType, output: &DataType) -> Result<Self> {
        Ok(RowValueAcc {
            func,
            converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            values: vec![],
            order: vec![],
            bytes: 0,
            output: output.clone(),
        })
    }

    fn offer(&mut self, g: usize, bytes: &[u8], order: i64) {
        let replace = match (&self.values[g], self.func) {
            (None, _) => true,
            (Some(cur), AggFunc::Min) => bytes < cur.as_ref(),
            (Some(cur), AggFunc::Max) => bytes > cur.as_ref(),
            (Some(_), AggFunc::First) => order < self.order[g],
            (Some(_), _) => order > self.order[g],
        };
        if replace {
            self.bytes += bytes.len();
            if let Some(old) = self.values[g].replace(bytes.into()) {
                self.bytes -= old.len();
            }
            self.order[g] = order;
        }
    }

    fn grow(&mut self, n: usize) {
        grow(&mut self.values, n, None);
        grow(&mut self.order, n, 0);
    }

    fn emit_binary(&mut self) -> BinaryArray {
        self.bytes = 0;
        let values = std::mem::take(&mut self.values);
        values.iter().map(|v| v.as_deref()).collect()
    }
}

impl GroupsAccumulator for RowValueAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        order: &[i64],
    ) -> Result<()> {
        self.grow(n);
        let rows = self.converter.convert_columns(&values[..1])?;
        if matches!(self.func, AggFunc::First | AggFunc::Last) {
            // first/last keep nulls, as in DuckDB and Polars: the encoded row of a null decodes to null.
            for (i, &g) in group_ids.iter().enumerate() {
                self.offer(g as usize, rows.row(i).as_ref(), order[i]);
            }
        } else {
            for_valid(values[0].as_ref(), group_ids, |g, i| {
                self.offer(g, rows.row(i).as_ref(), order.get(i).copied().unwrap_or(0))
            });
        }
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.grow(n);
        let v = states[0].as_binary::<i32>();
        let o = states.get(1).map(|o| prim::<Int64Type>(o).clone());
        for_valid(v, group_ids, |g, i| {
            self.offer(g, v.value(i), o.as_ref().map_or(0, |o| o.value(i)))
        });
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let order = Int64Array::from(std::mem::take(&mut self.order));
        let values = self.emit_binary();
        let mut out: Vec<ArrayRef> = vec![Arc::new(values)];
        if matches!(self.func, AggFunc::First | AggFunc::Last) {
            out.push(Arc::new(order));
        }
        Ok(out)
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.order.clear();
        let values = std::mem::take(&mut self.values);
        self.bytes = 0;
        // Null groups decode through a placeholder row and are nulled afterwards.
        let valid: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
        let Some(filler) = values.iter().flatten().next().cloned() else {
            return Ok(arrow::array::new_null_array(&self.output, values.len()));
        };
        let parser = self.converter.parser();
        let rows = values
            .iter()
            .map(|v| parser.parse(v.as_deref().unwrap_or(&filler)));
        let decoded = self.converter.convert_rows(rows)?.remove(0);
        let nulls = NullBuffer::union(Some(&NullBuffer::from_iter(valid)), decoded.nulls());
        let data = decoded.into_data().into_builder().nulls(nulls).build()?;
        Ok(cast(&arrow::array::make_array(data), &self.output)?)
    }
    fn size(&self) -> usize {
        self.values.capacity() * 24 + self.order.capacity() * 8 + self.bytes
    }
}

/// count(DISTINCT x): a set of encoded values per group; the partial state serialises
/// each set as length-prefixed items in one binary value.
struct DistinctAcc {
    converter: RowConverter,
    sets: Vec<hashbrown::HashSet<Box<[u8]>>>,
    bytes: usize,
}

impl DistinctAcc {
    fn try_new(arg: &DataType) -> Result<Self> {
        Ok(DistinctAcc {
            converter: RowConverter::new(vec![SortField::new(arg.clone())])?,
            sets: vec![],
            bytes: 0,
        })
    }
    fn insert(&mut self, g: usize, item: &[u8]) {
        if !self.sets[g].contains(item) {
            self.bytes += item.len() + 32;
            self.sets[g].insert(item.into());
        }
    }
}

impl GroupsAccumulator for DistinctAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.sets, n, Default::default());
        let rows = self.converter.convert_columns(&values[..1])?;
        for_valid(values[0].as_ref(), group_ids, |g, i| {
            self.insert(g, rows.row(i).as_ref())
        });
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.sets, n, Default::default());
        let s = states[0].as_binary::<i32>();
        for (i, &g) in group_ids.iter().enumerate() {
            let mut buf = s.value(i);
            while buf.len() >= 4 {
                let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let end = (4 + len).min(buf.len());
                self.insert(g as usize, &buf[4..end]);
                buf = &buf[end..];
            }
        }
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        self.bytes = 0;
        let mut b = BinaryBuilder::new();
        for set in std::mem::take(&mut self.sets) {
            let mut buf = Vec::new();
            for item in set {
                buf.extend_from_slice(&(item.len() as u32).to_le_bytes());
                buf.extend_from_slice(&item);
            }
            b.append_value(&buf);
        }
        Ok(vec![Arc::new(b.finish())])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.bytes = 0;
        let sets = std::mem::take(&mut self.sets);
        Ok(Arc::new(Int64Array::from_iter_values(
            sets.iter().map(|s| s.len() as i64),
        )))
    }
    fn size(&self) -> usize {
        self.sets.capacity() * 48 + self.bytes
    }
}
