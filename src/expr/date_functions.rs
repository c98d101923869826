//! Date functions beyond the parts and `date_trunc` of `functions.rs`: `date_diff`,
//! `make_date`, `strftime`, `strptime`, `dayofyear`, `week` (ISO), `last_day` and
//! `add_interval` (`column ± INTERVAL ..`), with
//! DuckDB's semantics (`date_diff` counts the unit boundaries crossed: months between
//! 2024-01-31 and 2024-02-01 is 1). Row by row over whole arrays; a NULL argument, an
//! impossible date or text that does not match the format gives NULL.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

use super::eval::ColumnarValue;
use super::{ScalarFunc, ScalarValue};
use crate::error::{Error, Result};

const EPOCH_DAYS_CE: i32 = 719_163;

fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_DAYS_CE)?)
}

fn days_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - EPOCH_DAYS_CE
}

/// Argument `i` as dates (a timestamp is cut to its day).
fn dates(args: &[ColumnarValue], i: usize, len: usize) -> Result<Vec<Option<NaiveDate>>> {
    let a = cast(&args[i].to_array(len), &DataType::Date32)?;
    Ok(a.as_primitive::<Date32Type>()
        .iter()
        .map(|d| d.and_then(date_of))
        .collect())
}

/// Argument `i` as date-times (a date is its midnight).
fn date_times(args: &[ColumnarValue], i: usize, len: usize) -> Result<Vec<Option<NaiveDateTime>>> {
    let a = cast(
        &args[i].to_array(len),
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )?;
    Ok(a.as_primitive::<TimestampMicrosecondType>()
        .iter()
        .map(|t| t.and_then(|t| DateTime::from_timestamp_micros(t).map(|t| t.naive_utc())))
        .collect())
}

fn constant_text(func: ScalarFunc, args: &[ColumnarValue], i: usize) -> Result<Option<String>> {
    match &args[i] {
        ColumnarValue::Scalar(ScalarValue::Utf8(s)) => Ok(Some(s.clone())),
        ColumnarValue::Scalar(ScalarValue::Null) => Ok(None),
        _ => Err(Error::NotSupported(format!(
            "{}() with a non-constant argument {}",
            func.name(),
            i + 1
        ))),
    }
}

/// Months since year 0 (for month, quarter and year differences).
fn months(d: NaiveDate) -> i64 {
    d.year() as i64 * 12 + d.month0() as i64
}

/// A constant integer argument (add_interval's months, days, microseconds).
fn constant_int(args: &[ColumnarValue], i: usize) -> Result<i64> {
    match &args[i] {
        ColumnarValue::Scalar(ScalarValue::Int64(v)) => Ok(*v),
        _ => Err(Error::NotSupported(format!(
            "add_interval() with a non-constant argument {}",
            i + 1
        ))),
    }
}

/// `d` plus `months` calendar months (the day clamped to the month's length).
fn add_months(d: NaiveDate, months: i64) -> Option<NaiveDate> {
    let m = chrono::Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        d.checked_add_months(m)
    } else {
        d.checked_sub_months(m)
    }
}

/// `x + INTERVAL (months, days, micros)` over a date or timestamp array; NULL where
/// the result leaves the type's range.
fn add_interval(args: &[ColumnarValue], len: usize) -> Result<ArrayRef> {
    let (months, days, micros) = (
        constant_int(args, 1)?,
        constant_int(args, 2)?,
        constant_int(args, 3)?,
    );
    let x = args[0].to_array(len);
    let shift =
        |d: NaiveDate| add_months(d, months)?.checked_add_signed(chrono::Duration::try_days(days)?);
    if *x.data_type() == DataType::Date32 {
        if micros != 0 {
            return Err(Error::NotSupported(
                "an INTERVAL of hours, minutes or seconds added to a DATE (cast it to TIMESTAMP)"
                    .into(),
            ));
        }
        let out: Date32Array = (x.as_primitive::<Date32Type>().iter())
            .map(|d| d.and_then(date_of).and_then(shift).map(days_of))
            .collect();
        return Ok(Arc::new(out));
    }
    let micros = chrono::Duration::microseconds(micros);
    let out: TimestampMicrosecondArray = date_times(args, 0, len)?
        .iter()
        .map(|t| {
            let t = (*t)?;
            let day = shift(t.date())?;
            let t = day.and_time(t.time()).checked_add_signed(micros)?;
            Some(t.and_utc().timestamp_micros())
        })
        .collect();
    Ok(cast(&(Arc::new(out) as ArrayRef), x.data_type())?)
}

/// Evaluates date function `func`.
pub(super) fn evaluate(func: ScalarFunc, args: &[ColumnarValue], len: usize) -> Result<ArrayRef> {
    use ScalarFunc::*;
    Ok(match func {
        DateDiff => {
            let Some(unit) = constant_text(func, args, 0)? else {
                return Ok(arrow::array::new_null_array(&DataType::Int64, len));
            };
            let unit = unit.to_ascii_lowercase();
            let unit = unit.trim_end_matches('s');
            let (a, b) = (dates(args, 1, len)?, dates(args, 2, len)?);
            let diff = |x: NaiveDate, y: NaiveDate| -> Result<i64> {
                Ok(match unit {
                    "day" => (y - x).num_days(),
                    "week" => (y - x).num_days() / 7,
                    "month" => months(y) - months(x),
                    "quarter" => months(y) / 3 - months(x) / 3,
                    "year" => (y.year() - x.year()) as i64,
                    other => {
                        return Err(Error::NotSupported(format!(
                            "date_diff unit '{other}' (day, week, month, quarter, year)"
                        )))
                    }
                })
            };
            let out = a
                .iter()
                .zip(&b)
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => diff(*x, *y).map(Some),
                    _ => Ok(None),
                })
                .collect::<Result<Int64Array>>()?;
            Arc::new(out)
        }
        MakeDate => {
            let part = |i: usize| -> Result<Int64Array> {
                Ok(cast(&args[i].to_array(len), &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone())
            };
            let (y, m, d) = (part(0)?, part(1)?, part(2)?);
            let out: Date32Array = (0..len)
                .map(|r| {
                    if y.is_null(r) || m.is_null(r) || d.is_null(r) {
                        return None;
                    }
                    let date = NaiveDate::from_ymd_opt(
                        i32::try_from(y.value(r)).ok()?,
                        u32::try_from(m.value(r)).ok()?,
                        u32::try_from(d.value(r)).ok()?,
                    )?;
                    Some(days_of(date))
                })
                .collect();
            Arc::new(out)
        }
        Strftime => {
            let Some(format) = constant_text(func, args, 1)? else {
                return Ok(arrow::array::new_null_array(&DataType::Utf8, len));
            };
            let items: Vec<chrono::format::Item> =
                chrono::format::StrftimeItems::new(&format).collect();
            if items.contains(&chrono::format::Item::Error) {
                return Err(Error::Plan(format!(
                    "strftime(): invalid format '{format}'"
                )));
            }
            let t = date_times(args, 0, len)?;
            let out: StringArray = t
                .iter()
                .map(|t| t.map(|t| t.format_with_items(items.iter()).to_string()))
                .collect();
            Arc::new(out)
        }
        Strptime => {
            let Some(format) = constant_text(func, args, 1)? else {
                return Ok(arrow::array::new_null_array(
                    &DataType::Timestamp(TimeUnit::Microsecond, None),
                    len,
                ));
            };
            let s = cast(&args[0].to_array(len), &DataType::Utf8)?;
            let out: TimestampMicrosecondArray = s
                .as_string::<i32>()
                .iter()
                .map(|v| {
                    let v = v?;
                    let t = NaiveDateTime::parse_from_str(v, &format).ok().or_else(|| {
                        NaiveDate::parse_from_str(v, &format)
                            .ok()
                            .and_then(|d| d.and_hms_opt(0, 0, 0))
                    })?;
                    Some(t.and_utc().timestamp_micros())
                })
                .collect();
            Arc::new(out)
        }
        DayOfYear | Week => {
            let d = dates(args, 0, len)?;
            let out: Int64Array = d
                .iter()
                .map(|d| {
                    d.map(|d| match func {
                        DayOfYear => d.ordinal() as i64,
                        _ => d.iso_week().week() as i64,
                    })
                })
                .collect();
            Arc::new(out)
        }
        LastDay => {
            let d = dates(args, 0, len)?;
            let out: Date32Array = d
                .iter()
                .map(|d| {
                    let d = (*d)?;
                    let (y, m) = if d.month() == 12 {
                        (d.year() + 1, 1)
                    } else {
                        (d.year(), d.month() + 1)
                    };
                    let first_next = NaiveDate::from_ymd_opt(y, m, 1)?;
                    Some(days_of(first_next.pred_opt()?))
                })
                .collect();
            Arc::new(out)
        }
        AddInterval => add_interval(args, len)?,
        other => {
            return Err(Error::Internal(format!(
                "{}() is not a date function",
                other.name()
            )))
        }
    })
}
