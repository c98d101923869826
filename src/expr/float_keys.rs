//! One rule for floating-point values wherever they are compared, hashed or encoded as
//! keys: `-0.0` equals `0.0`, and every NaN is one value, equal to itself and greater
//! than every other number, `+inf` included (DuckDB's and PostgreSQL's rule).
//!
//! Arrow's comparison kernels and `arrow-row` order floats by IEEE 754 totalOrder, under
//! which `-0.0 < 0.0` and a NaN with its sign bit set (what x86 gives for `0.0 / 0.0`)
//! sorts below `-inf`. Canonicalising a copy of the values first (`-0.0` becomes `0.0`,
//! every NaN the positive quiet NaN) makes totalOrder agree with the rule above, in:
//! comparisons (`=`, `<`, .., and so Parquet row-group pruning), group, DISTINCT and
//! join keys (`exec::keys`), sort keys, window partition and peer keys, and
//! count(DISTINCT) / approx_count_distinct. The values a query outputs are not changed.
//!
//! Cost: one vectorised pass over a float column where it is used as a key; nothing for
//! other types. Memory: the canonical copy, the size of the column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};

/// `a` with `-0.0` as `0.0` and every NaN as the positive quiet NaN; `a` itself (a
/// cheap clone) when it holds no floats.
pub fn canonical_floats(a: &ArrayRef) -> ArrayRef {
    match a.data_type() {
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            if p.values()
                .iter()
                .all(|v| v.to_bits() != (-0.0f64).to_bits() && !v.is_nan())
            {
                return Arc::clone(a);
            }
            Arc::new(p.unary::<_, Float64Type>(canonical_f64))
        }
        DataType::Float32 => {
            let p = a.as_primitive::<Float32Type>();
            if p.values()
                .iter()
                .all(|v| v.to_bits() != (-0.0f32).to_bits() && !v.is_nan())
            {
                return Arc::clone(a);
            }
            Arc::new(p.unary::<_, Float32Type>(canonical_f32))
        }
        _ => Arc::clone(a),
    }
}

/// The larger of two floats under the rule above: a NaN wins (`f64::max` drops it).
/// min/max aggregates fold with these, so `max` over a NaN is NaN, as in DuckDB.
#[inline]
pub fn max_f64(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// The smaller of two floats under the rule above: a NaN loses to any number.
#[inline]
pub fn min_f64(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else {
        a.min(b)
    }
}

/// Whether a column of type `t` needs [`canonical_floats`] before it is compared.
pub fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

/// [`canonical_floats`] over several key columns.
pub fn canonical_keys(keys: &[ArrayRef]) -> Vec<ArrayRef> {
    keys.iter().map(canonical_floats).collect()
}

#[inline]
fn canonical_f64(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else {
        v + 0.0
    }
}

#[inline]
fn canonical_f32(v: f32) -> f32 {
    if v.is_nan() {
        f32::NAN
    } else {
        v + 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    #[test]
    fn negative_zero_and_every_nan_become_one_value() {
        let neg_nan = f64::from_bits(f64::NAN.to_bits() | (1 << 63));
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            None,
            Some(neg_nan),
            Some(f64::NAN),
            Some(-1.5),
        ]));
        let c = canonical_floats(&a);
        let c = c.as_primitive::<Float64Type>();
        assert_eq!(c.value(0).to_bits(), 0.0f64.to_bits());
        assert_eq!(c.value(1).to_bits(), 0.0f64.to_bits());
        assert!(c.is_null(2));
        assert_eq!(c.value(3).to_bits(), f64::NAN.to_bits());
        assert_eq!(c.value(4).to_bits(), f64::NAN.to_bits());
        assert_eq!(c.value(5), -1.5);
    }

    #[test]
    fn arrays_without_negative_zero_or_nan_are_shared() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 0.0, -2.0]));
        assert!(Arc::ptr_eq(&a, &canonical_floats(&a)));
    }
}
