//! Exact `median` and `quantile_cont`: every non-null value of a group is kept (as
//! f64) and the answer comes from sorting them at the end (`select_nth_unstable`,
//! i.e. a partial sort), with DuckDB's linear interpolation between neighbouring ranks.
//!
//! Memory: 8 bytes per value, counted in [`GroupsAccumulator::size`], so the hash
//! aggregate's reservation sees it and spills partial states (each group's values as
//! one little-endian f64 byte string) when the budget is short. The values of one
//! group must fit in memory when its final value is computed.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Float64Array};
use arrow::datatypes::Float64Type;

use super::{grow, GroupsAccumulator};
use crate::error::Result;

pub(super) struct QuantileAcc {
    q: f64,
    values: Vec<Vec<f64>>,
    count: usize,
}

impl QuantileAcc {
    pub(super) fn new(q: f64) -> Self {
        QuantileAcc {
            q,
            values: vec![],
            count: 0,
        }
    }
}

/// The continuous quantile `q` of `v` (reordered in place); `None` when empty.
pub fn quantile_cont(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (_, lo_v, rest) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let lo_v = *lo_v;
    if hi == lo {
        return Some(lo_v);
    }
    // The next rank is the smallest value above position `lo`.
    let hi_v = rest.iter().copied().fold(f64::INFINITY, f64::min);
    Some(lo_v + (pos - lo as f64) * (hi_v - lo_v))
}

impl GroupsAccumulator for QuantileAcc {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        n: usize,
        _: &[i64],
    ) -> Result<()> {
        grow(&mut self.values, n, vec![]);
        let a = values[0].as_primitive::<Float64Type>();
        for (i, &g) in group_ids.iter().enumerate() {
            if a.is_valid(i) {
                self.values[g as usize].push(a.value(i));
                self.count += 1;
            }
        }
        Ok(())
    }

    fn merge(&mut self, states: &[ArrayRef], group_ids: &[u32], n: usize) -> Result<()> {
        grow(&mut self.values, n, vec![]);
        let s = states[0].as_binary::<i32>();
        for (i, &g) in group_ids.iter().enumerate() {
            for chunk in s.value(i).chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                self.values[g as usize].push(f64::from_le_bytes(b));
                self.count += 1;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        self.count = 0;
        let mut b = BinaryBuilder::new();
        for v in std::mem::take(&mut self.values) {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            b.append_value(&bytes);
        }
        Ok(vec![Arc::new(b.finish())])
    }

    fn evaluate(&mut self) -> Result<ArrayRef> {
        self.count = 0;
        let q = self.q;
        let out: Float64Array = std::mem::take(&mut self.values)
            .into_iter()
            .map(|mut v| quantile_cont(&mut v, q))
            .collect();
        Ok(Arc::new(out))
    }

    fn size(&self) -> usize {
        self.values.capacity() * 24 + self.count * 8
    }
}

#[cfg(test)]
mod tests {
    use super::quantile_cont;

    #[test]
    fn interpolates_like_duckdb() {
        // DuckDB: select quantile_cont(x, q) from (values (1),(2),(3),(4)) t(x)
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile_cont(&mut v, 0.5), Some(2.5));
        assert_eq!(quantile_cont(&mut v, 0.25), Some(1.75));
        assert_eq!(quantile_cont(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile_cont(&mut v, 1.0), Some(4.0));
        assert_eq!(quantile_cont(&mut [], 0.5), None);
        assert_eq!(quantile_cont(&mut [7.0], 0.9), Some(7.0));
    }
}
