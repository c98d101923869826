//! A dynamic join filter: the keys of a small, finished build side, pushed into the
//! Parquet scan of the probe side.
//!
//! An inner or semi join (or an outer join that preserves only its build side) drops
//! every probe row whose key no build row has. Once the build has
//! run and holds few distinct keys (TPC-H Q18: the 624 orders over 300 units, against
//! all 60M `lineitem` rows), the planner hands those keys to the probe side's scan when
//! the probe key is a scan column that reaches the join unchanged (through filters and
//! projections only). The scan then skips row groups whose statistics hold none of
//! the keys, decodes the key column of the others first, and decodes the other columns
//! only for rows whose key is among them (a `RowSelection`, as for a top-k bound). The
//! probe still checks every row it gets, so the filter only removes rows that could not
//! match; NULL keys never match and are removed too.
//!
//! Integer keys only (the common case of surrogate keys). Memory: one hash set of at
//! most [`MAX_KEYS`] keys.

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int64Type};

use crate::expr::cast::cast_array;

/// Builds with more distinct keys than this are not pushed into the probe scan.
pub const MAX_KEYS: usize = 4096;

/// The distinct build keys of a join that drops unmatched probe rows, for the probe
/// side's scan.
#[derive(Debug)]
pub struct JoinKeyFilter {
    /// The probe key column, as named in the scan's output.
    pub column: String,
    keys: HashSet<i64, ahash::RandomState>,
    /// The keys in ascending order, for row-group statistics.
    sorted: Vec<i64>,
}

/// Whether `t` is a key type the filter handles.
pub fn supported(t: &DataType) -> bool {
    t.is_integer()
}

impl JoinKeyFilter {
    /// The filter of the non-null values of `keys`; `None` when they are not integers
    /// or more than [`MAX_KEYS`] distinct.
    pub fn try_new(column: impl Into<String>, keys: &[ArrayRef]) -> Option<Self> {
        let mut set = HashSet::with_hasher(ahash::RandomState::new());
        for k in keys {
            if !supported(k.data_type()) {
                return None;
            }
            let k = cast_array(k, &DataType::Int64).ok()?;
            let k = k.as_primitive::<Int64Type>();
            for v in k.iter().flatten() {
                set.insert(v);
                if set.len() > MAX_KEYS {
                    return None;
                }
            }
        }
        let mut sorted: Vec<i64> = set.iter().copied().collect();
        sorted.sort_unstable();
        Some(JoinKeyFilter {
            column: column.into(),
            keys: set,
            sorted,
        })
    }

    /// Whether some key lies in `[min, max]` (statistics of a row group; `None` when
    /// unknown).
    pub fn may_contain(&self, min: Option<i64>, max: Option<i64>) -> bool {
        let (Some(min), Some(max)) = (min, max) else {
            return true;
        };
        let first = self.sorted.partition_point(|&k| k < min);
        self.sorted.get(first).is_some_and(|&k| k <= max)
    }

    /// Which rows of `column` hold one of the keys (NULL: false); `None` when the
    /// column is not an integer column.
    pub fn row_mask(&self, column: &ArrayRef) -> Option<BooleanArray> {
        if !supported(column.data_type()) {
            return None;
        }
        let values = cast_array(column, &DataType::Int64).ok()?;
        let values = values.as_primitive::<Int64Type>();
        let (lo, hi) = match (self.sorted.first(), self.sorted.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => return Some(BooleanArray::from(vec![false; values.len()])),
        };
        // The range check rejects most rows without hashing.
        let hit = |v: i64| v >= lo && v <= hi && self.keys.contains(&v);
        let bits =
            arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| hit(values.values()[i]));
        let bits = match values.nulls() {
            Some(n) => &bits & n.inner(),
            None => bits,
        };
        Some(BooleanArray::new(bits, None))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn masks_rows_and_ranges_by_the_build_keys() {
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(9), Some(5)]));
        let f = JoinKeyFilter::try_new("k", &[keys]).unwrap();
        let column: ArrayRef = Arc::new(Int32Array::from(vec![Some(5), None, Some(6), Some(9)]));
        let mask = f.row_mask(&column).unwrap();
        assert_eq!(mask, BooleanArray::from(vec![true, false, false, true]));
        assert!(f.may_contain(Some(0), Some(5)));
        assert!(f.may_contain(Some(6), Some(100)));
        assert!(!f.may_contain(Some(6), Some(8)));
        assert!(!f.may_contain(Some(10), Some(20)));
        assert!(f.may_contain(None, Some(1)), "unknown statistics");
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        assert!(JoinKeyFilter::try_new("k", &[strings]).is_none());
        let many: ArrayRef = Arc::new(Int64Array::from_iter_values(0..=MAX_KEYS as i64));
        assert!(JoinKeyFilter::try_new("k", &[many]).is_none());
    }
}
