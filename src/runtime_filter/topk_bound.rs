//! The running bound of a top-k, shared with the scan below it (a "dynamic filter").
//!
//! While `ORDER BY c DESC LIMIT k` runs, the k-th best value of `c` seen so far only
//! improves. The top-k sink publishes it here; the Parquet scan, before decoding a
//! row group, compares it with that row group's statistics and skips the row group
//! when none of its rows can make the top k: for a descending key when its maximum is
//! below the bound, for an ascending key when its minimum is above it. A row equal to
//! the bound can still tie, so equality keeps the row group. NULLs sort last by
//! default and never beat a bound; with `NULLS FIRST` a row group holding NULLs is
//! always read.
//!
//! Within a row group that stays, the scan reads the key column alone first and asks
//! [`TopKBound::row_mask`] which rows may still make the top k; the other columns are
//! decoded for those rows only (late materialization), and not at all when none may.
//!
//! The planner wires a bound only where the key column reaches the top-k unchanged
//! from a scan (through filters and projections), so skipping rows by their scan
//! value is exact.

use std::sync::{Arc, RwLock};

use arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use arrow::compute::kernels::cmp;

/// The k-th best value of the first sort key of a top-k, once known.
#[derive(Debug)]
pub struct TopKBound {
    /// The key column (as named in the scan's output).
    pub column: String,
    pub descending: bool,
    pub nulls_first: bool,
    value: RwLock<Option<ArrayRef>>,
}

impl TopKBound {
    pub fn new(column: impl Into<String>, descending: bool, nulls_first: bool) -> Self {
        TopKBound {
            column: column.into(),
            descending,
            nulls_first,
            value: RwLock::new(None),
        }
    }

    /// Offers a new k-th value (a one-row array); kept if it is tighter.
    pub fn offer(&self, candidate: ArrayRef) {
        if candidate.len() != 1 || candidate.is_null(0) {
            return;
        }
        // Floats under the one rule of `float_keys` (-0.0 = 0.0, NaN above all).
        let candidate = crate::expr::float_keys::canonical_floats(&candidate);
        let Ok(mut slot) = self.value.write() else {
            return;
        };
        let tighter = match slot.as_ref() {
            None => true,
            Some(current) => {
                let better = if self.descending {
                    cmp::gt(&candidate, current)
                } else {
                    cmp::lt(&candidate, current)
                };
                better.map(|b| b.value(0)).unwrap_or(false)
            }
        };
        if tighter {
            *slot = Some(candidate);
        }
    }

    /// Whether a bound is known yet.
    pub fn is_set(&self) -> bool {
        self.value.read().map(|v| v.is_some()).unwrap_or(false)
    }

    /// Which rows of `key` (the key column as the scan reads it) may still make the
    /// top k: those at least as good as the bound (ties stay), and NULLs only when
    /// they sort first. `None` when no bound is known yet or the types differ; then
    /// every row must be read.
    pub fn row_mask(&self, key: &ArrayRef) -> Option<BooleanArray> {
        let slot = self.value.read().ok()?;
        let bound = slot.as_ref()?;
        if bound.data_type() != key.data_type() {
            return None;
        }
        let bound = Scalar::new(Arc::clone(bound));
        let key = crate::expr::float_keys::canonical_floats(key);
        let key = &key;
        let keep = if self.descending {
            cmp::gt_eq(key, &bound)
        } else {
            cmp::lt_eq(key, &bound)
        }
        .ok()?;
        if keep.null_count() == 0 {
            return Some(keep);
        }
        Some(
            keep.iter()
                .map(|v| Some(v.unwrap_or(self.nulls_first)))
                .collect(),
        )
    }

    /// Whether a row group with these statistics (one-row arrays of the column's type;
    /// null when unknown) may hold a row that makes the top k.
    pub fn may_contribute(&self, min: &ArrayRef, max: &ArrayRef, null_count: Option<u64>) -> bool {
        if self.nulls_first && null_count != Some(0) {
            return true;
        }
        let Ok(slot) = self.value.read() else {
            return true;
        };
        let Some(bound) = slot.as_ref() else {
            return true;
        };
        let (edge, beyond) = if self.descending {
            (max, cmp::lt(max, bound))
        } else {
            (min, cmp::gt(min, bound))
        };
        if edge.is_null(0) {
            return true;
        }
        // Statistics of another type than the bound: never skip.
        !matches!(beyond, Ok(b) if b.value(0))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;

    fn one(v: Option<i64>) -> ArrayRef {
        Arc::new(Int64Array::from(vec![v]))
    }

    #[test]
    fn descending_bound_skips_row_groups_below_it() {
        let b = TopKBound::new("x", true, false);
        assert!(
            b.may_contribute(&one(Some(0)), &one(Some(5)), Some(0)),
            "no bound yet"
        );
        b.offer(one(Some(10)));
        b.offer(one(Some(7)));
        assert!(!b.may_contribute(&one(Some(0)), &one(Some(9)), Some(3)));
        assert!(
            b.may_contribute(&one(Some(0)), &one(Some(10)), Some(0)),
            "ties stay"
        );
        assert!(
            b.may_contribute(&one(None), &one(None), None),
            "unknown stats stay"
        );
        let nf = TopKBound::new("x", true, true);
        nf.offer(one(Some(10)));
        assert!(
            nf.may_contribute(&one(Some(0)), &one(Some(1)), Some(2)),
            "nulls first"
        );
    }

    #[test]
    fn row_mask_keeps_rows_at_least_as_good_as_the_bound() {
        let key: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(5), Some(9)]));
        let b = TopKBound::new("x", true, false);
        assert!(b.row_mask(&key).is_none(), "no bound yet");
        b.offer(one(Some(5)));
        let m = b.row_mask(&key).unwrap();
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [false, false, true, true].map(Some)
        );
        let asc = TopKBound::new("x", false, true);
        asc.offer(one(Some(5)));
        let m = asc.row_mask(&key).unwrap();
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [true, true, true, false].map(Some)
        );
        let other: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1]));
        assert!(
            b.row_mask(&other).is_none(),
            "another type: read everything"
        );
    }

    #[test]
    fn ascending_bound_skips_row_groups_above_it() {
        let b = TopKBound::new("x", false, false);
        b.offer(one(Some(3)));
        b.offer(one(Some(5)));
        assert!(!b.may_contribute(&one(Some(4)), &one(Some(9)), Some(0)));
        assert!(b.may_contribute(&one(Some(3)), &one(Some(9)), Some(0)));
    }
}
