//! Numeric functions beyond `abs`, `round` and `sqrt`: `floor`, `ceil`, `power`, `ln`,
//! `log10`, `log2`, `exp`, `sign`, and `greatest`/`least` (over any comparable type).
//!
//! `floor` and `ceil` keep integers as they are and compute doubles otherwise;
//! logarithms of zero or negative numbers are NULL (as `sqrt` of a negative is), where
//! DuckDB raises an error. `greatest`/`least` skip NULLs, as DuckDB's do.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use arrow::compute::kernels::cmp;
use arrow::compute::kernels::zip::zip;
use arrow::compute::{and, cast, is_null, or};
use arrow::datatypes::{DataType, Float64Type};

use super::cast::cast_array;
use super::eval::ColumnarValue;
use super::float_keys::canonical_floats;
use super::ScalarFunc;
use crate::error::{Error, Result};

fn doubles(args: &[ColumnarValue], i: usize, len: usize) -> Result<Float64Array> {
    Ok(cast_array(&args[i].to_array(len), &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

/// Evaluates numeric function `func`; `out` is its result type.
pub(super) fn evaluate(
    func: ScalarFunc,
    args: &[ColumnarValue],
    len: usize,
    out: &DataType,
) -> Result<ArrayRef> {
    use ScalarFunc::*;
    Ok(match func {
        Floor | Ceil if out.is_integer() => cast(&args[0].to_array(len), &DataType::Int64)?,
        Floor | Ceil | Ln | Log10 | Log2 | Exp => {
            let x = doubles(args, 0, len)?;
            let f = |v: f64| -> Option<f64> {
                match func {
                    Floor => Some(v.floor()),
                    Ceil => Some(v.ceil()),
                    Exp => Some(v.exp()),
                    _ if v <= 0.0 => None,
                    Ln => Some(v.ln()),
                    Log10 => Some(v.log10()),
                    _ => Some(v.log2()),
                }
            };
            let out: Float64Array = x.iter().map(|v| v.and_then(f)).collect();
            Arc::new(out)
        }
        Power => {
            let (x, y) = (doubles(args, 0, len)?, doubles(args, 1, len)?);
            let out: Float64Array = x
                .iter()
                .zip(y.iter())
                .map(|(a, b)| Some(a?.powf(b?)))
                .collect();
            Arc::new(out)
        }
        Sign => {
            let x = doubles(args, 0, len)?;
            let out: Int64Array = x
                .iter()
                .map(|v| {
                    v.map(|v| match v {
                        v if v > 0.0 => 1,
                        v if v < 0.0 => -1,
                        _ => 0,
                    })
                })
                .collect();
            Arc::new(out)
        }
        Greatest | Least => {
            let mut best = cast_array(&args[0].to_array(len), out)?;
            for a in &args[1..] {
                let next = cast_array(&a.to_array(len), out)?;
                // Compared under the float rule (`float_keys`): -0.0 = 0.0, and every
                // NaN (a negated one too) above every number.
                let (n, b) = (canonical_floats(&next), canonical_floats(&best));
                let better = if func == Greatest {
                    cmp::gt(&n, &b)?
                } else {
                    cmp::lt(&n, &b)?
                };
                // Take `next` where it wins or `best` is NULL (and `next` is not).
                let better: BooleanArray = better.iter().map(|b| Some(b == Some(true))).collect();
                let take = or(
                    &better,
                    &and(&is_null(&best)?, &arrow::compute::not(&is_null(&next)?)?)?,
                )?;
                best = zip(&take, &next, &best)?;
            }
            best
        }
        other => {
            return Err(Error::Internal(format!(
                "{}() is not a numeric function",
                other.name()
            )))
        }
    })
}
