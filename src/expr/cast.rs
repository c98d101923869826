//! Casting arrays between Arrow types: arrow's `cast` kernel with fast paths for the
//! conversions that the hot loops of TPC-style queries perform on every row.
//!
//! The one fast path today is `Decimal128(p, s)` → `Float64` for `p <= 18`. arrow's kernel
//! converts each `i128` with a software routine (`__floattidf`), which took a sixth of the
//! time of TPC-H Q1 from Parquet. A value of at most 18 digits fits an `i64`, whose
//! conversion to `f64` is one instruction; below 2^53 it is exact, and the result is
//! bit for bit arrow's correctly rounded one (`value / 10^s`, one rounding). Output is
//! one new array of the input's length; nulls are kept.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Decimal128Type};

use crate::error::Result;

/// Decimals with this many digits or fewer fit an `i64`.
const I64_DIGITS: u8 = 18;

/// `array` as type `to`, with arrow's default (null-on-failure) options.
pub fn cast_array(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    cast_array_with_options(array, to, &CastOptions::default())
}

/// `array` as type `to`; the array itself when it already has that type.
pub fn cast_array_with_options(
    array: &ArrayRef,
    to: &DataType,
    options: &CastOptions,
) -> Result<ArrayRef> {
    match (array.data_type(), to) {
        (from, to) if from == to => Ok(Arc::clone(array)),
        (DataType::Decimal128(p, s), DataType::Float64) if *p <= I64_DIGITS => {
            Ok(Arc::new(decimal_to_f64(array, *s)))
        }
        _ => Ok(cast_with_options(array, to, options)?),
    }
}

/// Unscaled values below this magnitude convert to `f64` exactly.
const F64_EXACT: i128 = 1 << 53;

/// A decimal array of at most 18 digits and scale `scale` as doubles. Below 2^53 the
/// unscaled value and the power of ten (scale ≤ 22) are exact doubles, so one division
/// rounds once; larger values take arrow's correctly rounded per-value path.
fn decimal_to_f64(array: &ArrayRef, scale: i8) -> Float64Array {
    use arrow::compute::kernels::cast::single_decimal_to_float_lossy;
    let divisor = 10_f64.powi(scale as i32);
    let exact = (0..=22).contains(&scale);
    array.as_primitive::<Decimal128Type>().unary(|v| {
        if exact && v.abs() < F64_EXACT {
            (v as i64) as f64 / divisor
        } else {
            single_decimal_to_float_lossy::<Decimal128Type, _>(&|x: i128| x as f64, v, scale as i32)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Decimal128Array;
    use arrow::compute::cast;

    #[test]
    fn decimal_fast_path_equals_arrow_cast_bit_for_bit() {
        let values: Vec<Option<i128>> = vec![
            Some(0),
            Some(1),
            Some(-1),
            Some(123_456_789),
            Some(-999_999_999_999_999_999),
            Some(999_999_999_999_999_999),
            None,
            Some(4_503_599_627_370_497), // above 2^52: rounding matters
            Some(-9_007_199_254_740_993),
        ];
        for scale in [0_i8, 2, 4, 10] {
            let a: ArrayRef = Arc::new(
                Decimal128Array::from(values.clone())
                    .with_precision_and_scale(18, scale)
                    .unwrap(),
            );
            let fast = cast_array(&a, &DataType::Float64).unwrap();
            let slow = cast(&a, &DataType::Float64).unwrap();
            assert_eq!(fast.null_count(), 1);
            let (f, s) = (
                fast.as_primitive::<arrow::datatypes::Float64Type>(),
                slow.as_primitive::<arrow::datatypes::Float64Type>(),
            );
            for i in 0..a.len() {
                assert_eq!(f.is_null(i), s.is_null(i));
                if f.is_valid(i) {
                    assert_eq!(
                        f.value(i).to_bits(),
                        s.value(i).to_bits(),
                        "row {i} scale {scale}"
                    );
                }
            }
        }
    }

    #[test]
    fn wide_decimals_take_arrow_kernel() {
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(10_i128.pow(30))])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        let f = cast_array(&a, &DataType::Float64).unwrap();
        assert_eq!(
            f.as_primitive::<arrow::datatypes::Float64Type>().value(0),
            1e28
        );
    }
}
