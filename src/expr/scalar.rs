//! Literal values: the constants of an expression, convertible to and from Arrow arrays.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};

use crate::error::{Error, Result};

/// A single constant value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ScalarValue {
    /// SQL NULL, of no particular type.
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Utf8(String),
    /// Days since 1970-01-01.
    Date32(i32),
    /// Microseconds since 1970-01-01T00:00:00, no time zone.
    TimestampMicros(i64),
}

impl ScalarValue {
    /// The Arrow type of the value.
    pub fn data_type(&self) -> DataType {
        match self {
            ScalarValue::Null => DataType::Null,
            ScalarValue::Boolean(_) => DataType::Boolean,
            ScalarValue::Int64(_) => DataType::Int64,
            ScalarValue::Float64(_) => DataType::Float64,
            ScalarValue::Utf8(_) => DataType::Utf8,
            ScalarValue::Date32(_) => DataType::Date32,
            ScalarValue::TimestampMicros(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The number as an unscaled decimal at `scale`, when that is exact: an integer
    /// that fits, or a double that is the nearest double to a decimal of that scale
    /// (SQL's `0.05` is parsed to the double nearest 5/100 and maps back to 5).
    pub fn exact_decimal(&self, scale: i8) -> Option<i128> {
        if !(0..=18).contains(&scale) {
            return None;
        }
        let pow = 10_i128.pow(scale as u32);
        match self {
            ScalarValue::Int64(v) => (*v as i128).checked_mul(pow),
            ScalarValue::Float64(f) => {
                let scaled = (f * pow as f64).round();
                if !scaled.is_finite() || scaled.abs() >= (1u64 << 53) as f64 {
                    return None;
                }
                let unscaled = scaled as i64;
                (unscaled as f64 / pow as f64 == *f).then_some(unscaled as i128)
            }
            _ => None,
        }
    }

    /// An array that repeats the value `len` times.
    pub fn to_array(&self, len: usize) -> ArrayRef {
        match self {
            ScalarValue::Null => new_null_array(&DataType::Null, len),
            ScalarValue::Boolean(v) => Arc::new(BooleanArray::from(vec![*v; len])),
            ScalarValue::Int64(v) => Arc::new(Int64Array::from_value(*v, len)),
            ScalarValue::Float64(v) => Arc::new(Float64Array::from_value(*v, len)),
            ScalarValue::Utf8(v) => {
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, len)))
            }
            ScalarValue::Date32(v) => Arc::new(Date32Array::from_value(*v, len)),
            ScalarValue::TimestampMicros(v) => {
                Arc::new(TimestampMicrosecondArray::from_value(*v, len))
            }
        }
    }

    /// Reads row `i` of `array` (after casting to one of the scalar types).
    pub fn try_from_array(array: &dyn Array, i: usize) -> Result<Self> {
        use arrow::array::AsArray;
        if array.is_null(i) {
            return Ok(ScalarValue::Null);
        }
        let cast = |to: &DataType| arrow::compute::cast(&array.slice(i, 1), to);
        Ok(match array.data_type() {
            DataType::Boolean => ScalarValue::Boolean(array.as_boolean().value(i)),
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => ScalarValue::Int64(
                cast(&DataType::Int64)?
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(0),
            ),
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::UInt64
            | DataType::Decimal128(_, _) => ScalarValue::Float64(
                cast(&DataType::Float64)?
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(0),
            ),
            DataType::Date32 | DataType::Date64 => ScalarValue::Date32(
                cast(&DataType::Date32)?
                    .as_primitive::<arrow::datatypes::Date32Type>()
                    .value(0),
            ),
            DataType::Timestamp(_, _) => ScalarValue::TimestampMicros(
                cast(&DataType::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(0),
            ),
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _) => ScalarValue::Utf8(
                cast(&DataType::Utf8)?
                    .as_string::<i32>()
                    .value(0)
                    .to_string(),
            ),
            other => return Err(Error::NotSupported(format!("scalar value of type {other}"))),
        })
    }

    /// True for [`ScalarValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, ScalarValue::Null)
    }
}

impl fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarValue::Null => write!(f, "NULL"),
            ScalarValue::Boolean(v) => write!(f, "{v}"),
            ScalarValue::Int64(v) => write!(f, "{v}"),
            ScalarValue::Float64(v) => write!(f, "{v:?}"),
            ScalarValue::Utf8(v) => write!(f, "'{}'", v.replace('\'', "''")),
            ScalarValue::Date32(d) => {
                let date = chrono::NaiveDate::from_num_days_from_ce_opt(*d + 719_163);
                match date {
                    Some(d) => write!(f, "DATE '{d}'"),
                    None => write!(f, "DATE({d})"),
                }
            }
            ScalarValue::TimestampMicros(t) => match chrono::DateTime::from_timestamp_micros(*t) {
                Some(ts) => write!(f, "TIMESTAMP '{}'", ts.naive_utc()),
                None => write!(f, "TIMESTAMP({t})"),
            },
        }
    }
}

impl From<i64> for ScalarValue {
    fn from(v: i64) -> Self {
        ScalarValue::Int64(v)
    }
}
impl From<i32> for ScalarValue {
    fn from(v: i32) -> Self {
        ScalarValue::Int64(v as i64)
    }
}
impl From<f64> for ScalarValue {
    fn from(v: f64) -> Self {
        ScalarValue::Float64(v)
    }
}
impl From<bool> for ScalarValue {
    fn from(v: bool) -> Self {
        ScalarValue::Boolean(v)
    }
}
impl From<&str> for ScalarValue {
    fn from(v: &str) -> Self {
        ScalarValue::Utf8(v.to_string())
    }
}
impl From<String> for ScalarValue {
    fn from(v: String) -> Self {
        ScalarValue::Utf8(v)
    }
}
