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

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};

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
        (DataType::Float64, DataType::Utf8) => Ok(floats_as_text::<Float64Type>(array)),
        (DataType::Float32, DataType::Utf8) => Ok(floats_as_text::<Float32Type>(array)),
        (DataType::Float64 | DataType::Float32, DataType::LargeUtf8 | DataType::Utf8View) => {
            let text = cast_array_with_options(array, &DataType::Utf8, options)?;
            Ok(cast_with_options(&text, to, options)?)
        }
        _ => Ok(cast_with_options(array, to, options)?),
    }
}

/// A float column as [`float_text`] strings; NULL stays NULL.
fn floats_as_text<T>(array: &ArrayRef) -> ArrayRef
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: std::fmt::LowerExp + Into<f64> + Copy,
{
    let text: StringArray = array
        .as_primitive::<T>()
        .iter()
        .map(|v| v.map(float_text))
        .collect();
    Arc::new(text)
}

/// A float as text the way DuckDB (and Python's `repr`) writes it: the shortest digits
/// that read back to the same value, in positional notation with at least one decimal
/// (`1.0`, `0.0001`) for exponents -4 to 15, else in scientific notation with a signed
/// two-digit exponent (`1e+20`, `1.5e-05`); `nan`, `inf`, `-inf`. arrow's cast writes
/// `NaN` and never an exponent.
pub fn float_text<F: std::fmt::LowerExp + Into<f64> + Copy>(v: F) -> String {
    let x: f64 = v.into();
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // `{:e}` gives the shortest round-trip digits of `v`'s own type: "-1.25e-5", "1e20".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exp) {
        let e_sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{e_sign}{:02}", exp.unsigned_abs());
    }
    if exp < 0 {
        let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
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
    fn floats_print_as_duckdb_does() {
        // DuckDB's `x::VARCHAR` for each (the same as Python's repr).
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (123456789.123, "123456789.123"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1e20, "1e+20"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (-45.25, "-45.25"),
            (5e-324, "5e-324"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(float_text(v), want, "{v:e}");
        }
        assert_eq!(float_text(0.1f32), "0.1");
        let a: ArrayRef = Arc::new(Float64Array::from(vec![Some(f64::NAN), None, Some(2.5)]));
        let text = cast_array(&a, &DataType::Utf8).unwrap();
        let text = text.as_string::<i32>();
        assert_eq!(
            (text.value(0), text.is_null(1), text.value(2)),
            ("nan", true, "2.5")
        );
    }

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
