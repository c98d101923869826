//! Exact `sum` and `avg` of decimal columns: the unscaled values of a `Decimal128` of at
//! most 18 digits are added as `i128` per group, as DuckDB sums decimals exactly; `avg`
//! divides the exact sum by the count once at the end, so groups whose exact averages
//! are equal get equal doubles (a double running sum would differ in the last bits and
//! break ties, e.g. in `rank() OVER (ORDER BY avg(x))`). Memory: 17 bytes per group (the
//! sum and a seen flag), 8 more for avg's count; the partial state is a
//! `Decimal128(38, scale)` column (and avg's `Int64` count).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};

use super::{for_valid, grow, prim, GroupsAccumulator, DECIMAL_SUM_PRECISION};
use crate::error::Result;

/// Exact sum of decimals of at most 18 digits: the unscaled values are added as
/// `i128` (the partial state is a `Decimal128(38, scale)`), and only the final value
/// becomes a double, with one conversion. Cheaper than a compensated double sum, and
/// equal to DuckDB's exact decimal sum.
pub(super) struct SumDecimal {
    sums: Vec<i128>,
    seen: Vec<bool>,
    scale: i8,
}

impl SumDecimal {
    /// A sum over decimals of scale `scale`.
    pub(super) fn new(scale: i8) -> Self {
        SumDecimal {
            sums: vec![],
            seen: vec![],
            scale,
        }
    }

    fn fold(&mut self, a: &ArrayRef, group_ids: &[u32], n: usize) {
        grow(&mut self.sums, n, 0);
        grow(&mut self.seen, n, false);
        let a = prim::<Decimal128Type>(a);
        let (sums, seen) = (&mut self.sums[..], &mut self.seen[..]);
        for_valid(a, group_ids, |g, i| {
            sums[g] += a.value(i);
            seen[g] = true;
        });
    }

    fn sums_array(&mut self) -> Result<Decimal128Array> {
        let seen = std::mem::take(&mut self.seen);
        let nulls = seen.iter().any(|s| !s).then(|| NullBuffer::from(seen));
        let sums = std::mem::take(&mut self.sums);
        Ok(Decimal128Array::new(sums.into(), nulls)
            .with_precision_and_scale(DECIMAL_SUM_PRECISION, self.scale)?)
    }
}

impl GroupsAccumulator for SumDecimal {
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
        Ok(vec![Arc::new(self.sums_array()?)])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let scale = self.scale;
        let sums = self.sums_array()?;
        Ok(Arc::new(sums.unary::<_, Float64Type>(|v| {
            decimal_value_to_f64(v, scale)
        })))
    }
    fn size(&self) -> usize {
        self.sums.capacity() * 17
    }
}

/// Exact average of decimals of at most 18 digits: an exact [`SumDecimal`] and a count
/// per group, divided once at the end.
pub(super) struct MeanDecimal {
    sum: SumDecimal,
    counts: Vec<i64>,
}

impl MeanDecimal {
    pub(super) fn new(scale: i8) -> Self {
        MeanDecimal {
            sum: SumDecimal::new(scale),
            counts: vec![],
        }
    }
}

impl GroupsAccumulator for MeanDecimal {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        self.sum.fold(&values[0], group_ids, n);
        grow(&mut self.counts, n, 0);
        let counts = &mut self.counts[..];
        for_valid(values[0].as_ref(), group_ids, |g, _| counts[g] += 1);
        Ok(())
    }
    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        self.sum.fold(&states[0], group_ids, n);
        grow(&mut self.counts, n, 0);
        let c = states[1].as_primitive::<Int64Type>();
        let counts = &mut self.counts[..];
        for_valid(c, group_ids, |g, i| counts[g] += c.value(i));
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let sums = self.sum.sums_array()?;
        let counts = Int64Array::from(std::mem::take(&mut self.counts));
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }
    fn evaluate(&mut self) -> Result<ArrayRef> {
        let scale = self.sum.scale;
        let sums = self.sum.sums_array()?;
        let counts = std::mem::take(&mut self.counts);
        let means: Float64Array = sums
            .iter()
            .zip(&counts)
            .map(|(s, &n)| match s {
                Some(s) if n > 0 => Some(decimal_mean_to_f64(s, n, scale)),
                _ => None,
            })
            .collect();
        Ok(Arc::new(means))
    }
    fn size(&self) -> usize {
        self.sum.size() + self.counts.capacity() * 8
    }
}

/// `sum × 10^-scale / n` as a double that depends only on the exact quotient: the
/// exactly converted sum divided by the count (one correctly rounded division), then
/// by the power of ten; a sum beyond 2^53 goes through its decimal text.
fn decimal_mean_to_f64(sum: i128, n: i64, scale: i8) -> f64 {
    const EXACT: i128 = 1 << 53;
    if sum.abs() < EXACT && (0..=22).contains(&scale) {
        sum as f64 / n as f64 / 10_f64.powi(scale as i32)
    } else {
        decimal_value_to_f64(sum, scale) / n as f64
    }
}

/// The double nearest to the decimal `v × 10^-scale`. Small values divide exactly
/// converted operands (one rounding); a larger sum goes through its decimal text,
/// which Rust parses correctly rounded, where `i128 → f64` and then a division would
/// round twice.
fn decimal_value_to_f64(v: i128, scale: i8) -> f64 {
    const EXACT: i128 = 1 << 53;
    if v.abs() < EXACT && (0..=22).contains(&scale) {
        v as f64 / 10_f64.powi(scale as i32)
    } else {
        format!("{v}e{}", -(scale as i32))
            .parse()
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array};
    use arrow::datatypes::DataType;

    fn decimals(values: &[Option<i128>], scale: i8) -> ArrayRef {
        Arc::new(
            Decimal128Array::from(values.to_vec())
                .with_precision_and_scale(15, scale)
                .unwrap(),
        )
    }

    /// Updates, a state round trip and merge give the exact sums of the unscaled
    /// values (computed here by hand), NULL for a group with only NULLs, and the double
    /// nearest to each exact decimal.
    #[test]
    fn decimal_sums_are_exact() {
        // 0.1 + 0.2 is 0.30000000000000004 in doubles; exact here.
        let values = decimals(
            &[Some(10), Some(20), None, Some(999_999_999_999_999), Some(1)],
            2,
        );
        let mut partial = SumDecimal::new(2);
        partial.update(&[values], &[0, 0, 1, 2, 2], 3, &[]).unwrap();
        let state = partial.state().unwrap();
        let sums = state[0].as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(sums.data_type(), &DataType::Decimal128(38, 2));
        assert_eq!(sums.value(0), 30);
        assert!(sums.is_null(1));
        assert_eq!(sums.value(2), 1_000_000_000_000_000);
        let mut fin = SumDecimal::new(2);
        fin.merge(&state, &[1, 0, 1], 2).unwrap();
        fin.merge(&state, &[1, 0, 1], 2).unwrap();
        let out = fin.evaluate().unwrap();
        let out = out.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(out.is_null(0));
        assert_eq!(out.value(1), 20_000_000_000_000.6);
    }

    /// Averages whose exact values are equal (4 × 2.50 and 1.00 + 4.00; 3 × 0.10 and
    /// 0.10) give equal doubles, also after a state round trip and merge; a group with
    /// only NULLs averages to NULL.
    #[test]
    fn decimal_means_divide_the_exact_sum_once() {
        let values = decimals(
            &[
                Some(250),
                Some(250),
                Some(250),
                Some(250),
                Some(100),
                Some(400),
            ],
            2,
        );
        let mut acc = MeanDecimal::new(2);
        acc.update(&[values], &[0, 0, 0, 0, 1, 1], 2, &[]).unwrap();
        let tenths = decimals(&[Some(10), Some(10), Some(10), Some(10), None], 2);
        let mut partial = MeanDecimal::new(2);
        partial.update(&[tenths], &[0, 0, 1, 0, 2], 3, &[]).unwrap();
        let state = partial.state().unwrap();
        assert_eq!(state[1].as_primitive::<Int64Type>().values(), &[3, 1, 0]);
        let mut fin = MeanDecimal::new(2);
        fin.merge(&state, &[0, 1, 2], 3).unwrap();
        let out = acc.evaluate().unwrap();
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(out.value(0), 2.5);
        assert_eq!(out.value(0).to_bits(), out.value(1).to_bits());
        let merged = fin.evaluate().unwrap();
        let merged = merged.as_primitive::<Float64Type>();
        assert_eq!(merged.value(0).to_bits(), merged.value(1).to_bits());
        assert_eq!(merged.value(0), 0.1);
        assert!(merged.is_null(2));
    }
}
