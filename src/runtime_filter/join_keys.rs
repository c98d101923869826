//! A dynamic join filter: the key range (and, when few, the keys) of a finished build
//! side, pushed into the Parquet scan of the probe side.
//!
//! An inner or semi join (or an outer join that preserves only its build side) drops
//! every probe row whose key no build row has. Once the build has run, the planner
//! hands what it learned to the probe side's scan when the probe key is a scan column
//! that reaches the join unchanged, through filters, projections and other joins
//! (see `plan::physical_planner`):
//!
//! * always the **range** `[min, max]` of the build keys: the scan skips row groups
//!   whose statistics lie outside it, whatever the number of keys (a fact table
//!   clustered by date, joined with the 61 days of a date dimension, reads 61 days);
//! * when there are at most [`MAX_KEYS`] distinct keys, the **keys** too: row groups
//!   whose range holds none of them are skipped, and in the others the key column is
//!   decoded first and the other columns only for rows whose key is among them (a
//!   `RowSelection`, as for a top-k bound);
//! * with more keys, a **bitmap** of them over their range, when the range is at most
//!   [`MAX_BITMAP_BITS`] wide and the keys fill at most half of it (27,440 customer
//!   demographics among 1.9 million select rows as sharply as a few keys do; the
//!   102,000 keys of a whole item table would select nothing, and are left out). It
//!   selects rows as the keys do.
//!
//! The probe still checks every row it gets, so the filter only removes rows that could
//! not match; NULL keys never match and are removed too.
//!
//! Integer keys only (the common case of surrogate keys). Memory: the range, and a hash
//! set of at most [`MAX_KEYS`] keys or a bitmap of at most [`MAX_BITMAP_BITS`] bits
//! (2 MiB): bounded by constants, not by the data.

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int64Type};

use crate::expr::cast::cast_array;

/// Builds with more distinct keys than this push only their key range.
pub const MAX_KEYS: usize = 4096;

/// Key ranges at most this wide may keep a bitmap of the keys.
pub const MAX_BITMAP_BITS: u64 = 1 << 24;

/// The build keys of a join that drops unmatched probe rows, for the probe side's scan.
#[derive(Debug, Clone)]
pub struct JoinKeyFilter {
    /// The probe key column, as named in the scan's output.
    pub column: String,
    /// The smallest and largest non-null key; `None` when the build has none.
    range: Option<(i64, i64)>,
    /// The distinct keys, when at most [`MAX_KEYS`].
    keys: Option<HashSet<i64, ahash::RandomState>>,
    /// The keys in ascending order (empty without `keys`), for row-group statistics.
    sorted: Vec<i64>,
    /// Without `keys`: bit `k - lo` set for each key `k` (see the module doc).
    bitmap: Option<arrow::buffer::BooleanBuffer>,
}

/// Whether `t` is a key type the filter handles.
pub fn supported(t: &DataType) -> bool {
    t.is_integer()
}

impl JoinKeyFilter {
    /// The filter of the non-null values of `keys`; `None` when they are not integers.
    pub fn try_new(column: impl Into<String>, keys: &[ArrayRef]) -> Option<Self> {
        let mut set = Some(HashSet::with_hasher(ahash::RandomState::new()));
        let mut range: Option<(i64, i64)> = None;
        let mut keys64 = Vec::with_capacity(keys.len());
        for k in keys {
            if !supported(k.data_type()) {
                return None;
            }
            keys64.push(cast_array(k, &DataType::Int64).ok()?);
        }
        for k in &keys64 {
            let k = k.as_primitive::<Int64Type>();
            for v in k.iter().flatten() {
                range = Some(match range {
                    Some((lo, hi)) => (lo.min(v), hi.max(v)),
                    None => (v, v),
                });
                if let Some(s) = &mut set {
                    s.insert(v);
                    if s.len() > MAX_KEYS {
                        set = None;
                    }
                }
            }
        }
        let mut sorted: Vec<i64> = set.iter().flatten().copied().collect();
        sorted.sort_unstable();
        let bitmap = match (&set, range) {
            (None, Some((lo, hi))) => key_bitmap(&keys64, lo, hi),
            _ => None,
        };
        Some(JoinKeyFilter {
            column: column.into(),
            range,
            keys: set,
            sorted,
            bitmap,
        })
    }

    /// The same filter for the key column as another scan names it.
    pub fn for_column(&self, column: String) -> Self {
        JoinKeyFilter {
            column,
            ..self.clone()
        }
    }

    /// Whether the filter knows the keys themselves (and so selects rows, not only row
    /// groups).
    pub fn selects_rows(&self) -> bool {
        self.keys.is_some() || self.bitmap.is_some()
    }

    /// Whether some key may lie in `[min, max]` (statistics of a row group; `None` when
    /// unknown).
    pub fn may_contain(&self, min: Option<i64>, max: Option<i64>) -> bool {
        let Some((lo, hi)) = self.range else {
            return false;
        };
        let (Some(min), Some(max)) = (min, max) else {
            return true;
        };
        if max < lo || min > hi {
            return false;
        }
        if let Some(bits) = &self.bitmap {
            let (from, to) = ((min.max(lo) - lo) as usize, (max.min(hi) - lo) as usize);
            return from > to || bits.slice(from, to - from + 1).count_set_bits() > 0;
        }
        if self.keys.is_none() {
            return true;
        }
        let first = self.sorted.partition_point(|&k| k < min);
        self.sorted.get(first).is_some_and(|&k| k <= max)
    }

    /// Which rows of `column` may match: hold one of the keys, or without the keys lie
    /// in their range (NULL: false); `None` when the column is not an integer column.
    pub fn row_mask(&self, column: &ArrayRef) -> Option<BooleanArray> {
        if !supported(column.data_type()) {
            return None;
        }
        let values = cast_array(column, &DataType::Int64).ok()?;
        let values = values.as_primitive::<Int64Type>();
        let Some((lo, hi)) = self.range else {
            return Some(BooleanArray::from(vec![false; values.len()]));
        };
        // The range check rejects most rows without hashing.
        let in_range = |v: i64| v >= lo && v <= hi;
        let bits = match (&self.keys, &self.bitmap) {
            (Some(keys), _) => arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| {
                let v = values.values()[i];
                in_range(v) && keys.contains(&v)
            }),
            (None, Some(map)) => arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| {
                let v = values.values()[i];
                in_range(v) && map.value((v - lo) as usize)
            }),
            (None, None) => arrow::buffer::BooleanBuffer::collect_bool(values.len(), |i| {
                in_range(values.values()[i])
            }),
        };
        let bits = match values.nulls() {
            Some(n) => &bits & n.inner(),
            None => bits,
        };
        Some(BooleanArray::new(bits, None))
    }
}

/// The bitmap of the non-null `keys` (`Int64`) over `[lo, hi]`, when that range is at most
/// [`MAX_BITMAP_BITS`] wide and the keys set at most half of its bits.
fn key_bitmap(keys: &[ArrayRef], lo: i64, hi: i64) -> Option<arrow::buffer::BooleanBuffer> {
    let width = hi.checked_sub(lo)?.checked_add(1)? as u64;
    if width > MAX_BITMAP_BITS {
        return None;
    }
    let mut bits = arrow::buffer::MutableBuffer::from_len_zeroed(width.div_ceil(8) as usize);
    let slice = bits.as_slice_mut();
    for k in keys {
        for v in k.as_primitive::<Int64Type>().iter().flatten() {
            arrow::util::bit_util::set_bit(slice, (v - lo) as usize);
        }
    }
    let map = arrow::buffer::BooleanBuffer::new(bits.into(), 0, width as usize);
    (map.count_set_bits() as u64 * 2 <= width).then_some(map)
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
        assert!(f.selects_rows());
    }

    /// More than [`MAX_KEYS`] keys that fill at most half their range keep a bitmap:
    /// rows and row groups are selected by the keys themselves.
    #[test]
    fn many_sparse_keys_keep_a_bitmap() {
        // Every fourth value of 1000..1000 + 4·5000: 5001 keys over a range of 20001.
        let keys: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..=5000i64).map(|k| Some(1000 + 4 * k)).chain([None]),
        ));
        let f = JoinKeyFilter::try_new("k", &[keys]).unwrap();
        assert!(f.selects_rows());
        let column: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(999),
            Some(1000),
            Some(1001),
            None,
            Some(1004 + 4 * 2000),
            Some(1003 + 4 * 2000),
            Some(21000),
            Some(21004),
        ]));
        let naive: Vec<bool> = (0..column.len())
            .map(|i| {
                let c = column.as_primitive::<Int64Type>();
                c.is_valid(i) && {
                    let v = c.value(i);
                    (1000..=21000).contains(&v) && (v - 1000) % 4 == 0
                }
            })
            .collect();
        assert_eq!(f.row_mask(&column).unwrap(), BooleanArray::from(naive));
        assert!(f.may_contain(Some(1001), Some(1004)));
        assert!(
            !f.may_contain(Some(1001), Some(1003)),
            "no key between them"
        );
        assert!(!f.may_contain(Some(21001), Some(30000)));
        assert!(f.may_contain(Some(0), Some(1000)));
        // Dense keys (every value of a range) keep only the range.
        let dense: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10_000));
        let d = JoinKeyFilter::try_new("k", &[dense]).unwrap();
        assert!(!d.selects_rows());
    }

    /// More than [`MAX_KEYS`] keys keep their range: row groups outside it are
    /// skipped, rows are kept by the range alone; a build without keys matches nothing.
    #[test]
    fn many_keys_keep_their_range() {
        let many: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..=MAX_KEYS as i64).map(|k| 100 + 2 * k),
        ));
        let f = JoinKeyFilter::try_new("k", &[many]).unwrap();
        assert!(!f.selects_rows());
        let top = 100 + 2 * MAX_KEYS as i64;
        assert!(!f.may_contain(Some(0), Some(99)));
        assert!(!f.may_contain(Some(top + 1), Some(top + 50)));
        assert!(f.may_contain(Some(101), Some(101)), "inside the range");
        assert!(f.may_contain(Some(top), Some(top + 1)));
        let column: ArrayRef =
            Arc::new(Int64Array::from(vec![Some(99), Some(101), None, Some(top)]));
        let mask = f.row_mask(&column).unwrap();
        assert_eq!(mask, BooleanArray::from(vec![false, true, false, true]));
        let none: ArrayRef = Arc::new(Int64Array::from(vec![None::<i64>]));
        let empty = JoinKeyFilter::try_new("k", &[none]).unwrap();
        assert!(!empty.may_contain(None, None));
        assert!(!empty.may_contain(Some(0), Some(10)));
        let mask = empty.row_mask(&column).unwrap();
        assert_eq!(mask.true_count(), 0);
    }
}
