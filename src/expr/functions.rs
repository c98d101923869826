//! Scalar (row-wise) functions: strings, dates, null handling, math.
//!
//! Each function checks its argument types in [`ScalarFunc::return_type`] at plan time
//! and runs on whole arrays in [`ScalarFunc::evaluate`], through arrow kernels where
//! arrow has one (`date_part`, `like`/`contains`, `substring_by_char`, `zip`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::is_not_null;
use arrow::compute::kernels::temporal::{date_part, DatePart};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use chrono::{Datelike, NaiveDate, Timelike};

use super::cast::{cast_array, cast_array as cast};
use super::eval::ColumnarValue;
use super::types::{common_type, is_numeric, is_string};
use super::ScalarValue;
use crate::error::{Error, Result};

/// A row-wise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ScalarFunc {
    /// First non-null argument (`fill_null`).
    Coalesce,
    Contains,
    StartsWith,
    EndsWith,
    Lower,
    Upper,
    /// Length in characters.
    Length,
    /// `substring(s, start[, len])`, 1-based.
    Substring,
    Year,
    Quarter,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// ISO weekday: Monday = 1 .. Sunday = 7 (Polars' `weekday`).
    Weekday,
    /// SQL `dayofweek`: Sunday = 0 .. Saturday = 6 (DuckDB's).
    DayOfWeek,
    /// `date_trunc(unit, t)`.
    DateTrunc,
    Abs,
    /// `round(x[, digits])`.
    Round,
    Sqrt,
    /// `concat(a, ...)`: the arguments as text, NULLs skipped (DuckDB's `concat`).
    Concat,
    /// `a || b`: the arguments as text, NULL when any is NULL (SQL's operator).
    ConcatStrict,
    /// `grouping(k, ...)` / `grouping_id`: which keys a grouping set left out, one bit
    /// per argument (the first the most significant). The planner replaces it with its
    /// value per grouping set (`plan::grouping_sets`); it never evaluates.
    Grouping,
    /// `single_value(v, n)`: `v` where the row count `n` is at most 1, an error where
    /// it is more (the value of a scalar subquery that may return several rows).
    SingleValue,
    // Numeric (`math_functions.rs`).
    Floor,
    Ceil,
    Power,
    Ln,
    Log10,
    Log2,
    Exp,
    Sign,
    /// Largest argument, NULLs skipped.
    Greatest,
    /// Smallest argument, NULLs skipped.
    Least,
    // Strings (`string_functions.rs`).
    Trim,
    LTrim,
    RTrim,
    Replace,
    LPad,
    RPad,
    SplitPart,
    /// 1-based character position of a substring, 0 when absent.
    StrPos,
    Reverse,
    Repeat,
    Left,
    Right,
    ConcatWs,
    RegexpMatches,
    RegexpReplace,
    RegexpExtract,
    // Dates (`date_functions.rs`).
    /// `date_diff(unit, start, end)`: unit boundaries crossed.
    DateDiff,
    MakeDate,
    Strftime,
    Strptime,
    DayOfYear,
    /// ISO week number.
    Week,
    LastDay,
    /// `add_interval(x, months, days, micros)`: `x + INTERVAL ..` for a date or
    /// timestamp column, calendar months first (the day clamped to the month's
    /// length), then days, then microseconds (timestamps only).
    AddInterval,
}

impl ScalarFunc {
    /// The SQL name.
    pub fn name(self) -> &'static str {
        use ScalarFunc::*;
        match self {
            Coalesce => "coalesce",
            Contains => "contains",
            StartsWith => "starts_with",
            EndsWith => "ends_with",
            Lower => "lower",
            Upper => "upper",
            Length => "length",
            Substring => "substring",
            Year => "year",
            Quarter => "quarter",
            Month => "month",
            Day => "day",
            Hour => "hour",
            Minute => "minute",
            Second => "second",
            Weekday => "weekday",
            DayOfWeek => "dayofweek",
            DateTrunc => "date_trunc",
            Abs => "abs",
            Round => "round",
            Sqrt => "sqrt",
            Concat => "concat",
            ConcatStrict => "||",
            Grouping => "grouping",
            SingleValue => "single_value",
            Floor => "floor",
            Ceil => "ceil",
            Power => "power",
            Ln => "ln",
            Log10 => "log10",
            Log2 => "log2",
            Exp => "exp",
            Sign => "sign",
            Greatest => "greatest",
            Least => "least",
            Trim => "trim",
            LTrim => "ltrim",
            RTrim => "rtrim",
            Replace => "replace",
            LPad => "lpad",
            RPad => "rpad",
            SplitPart => "split_part",
            StrPos => "strpos",
            Reverse => "reverse",
            Repeat => "repeat",
            Left => "left",
            Right => "right",
            ConcatWs => "concat_ws",
            RegexpMatches => "regexp_matches",
            RegexpReplace => "regexp_replace",
            RegexpExtract => "regexp_extract",
            DateDiff => "date_diff",
            MakeDate => "make_date",
            Strftime => "strftime",
            Strptime => "strptime",
            DayOfYear => "dayofyear",
            Week => "week",
            AddInterval => "add_interval",
            LastDay => "last_day",
        }
    }

    /// Looks a function up by its SQL name.
    pub fn from_name(name: &str) -> Option<Self> {
        use ScalarFunc::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "coalesce" | "ifnull" => Coalesce,
            "contains" => Contains,
            "starts_with" | "prefix" => StartsWith,
            "ends_with" | "suffix" => EndsWith,
            "lower" | "lcase" => Lower,
            "upper" | "ucase" => Upper,
            "length" | "char_length" | "character_length" | "len" => Length,
            "substring" | "substr" => Substring,
            "year" => Year,
            "quarter" => Quarter,
            "month" => Month,
            "day" | "dayofmonth" => Day,
            "hour" => Hour,
            "minute" => Minute,
            "second" => Second,
            "isodow" | "weekday" => Weekday,
            "dayofweek" | "dow" => DayOfWeek,
            "date_trunc" | "datetrunc" => DateTrunc,
            "abs" => Abs,
            "round" => Round,
            "sqrt" => Sqrt,
            "concat" => Concat,
            "grouping" | "grouping_id" => Grouping,
            "floor" => Floor,
            "ceil" | "ceiling" => Ceil,
            "power" | "pow" => Power,
            "ln" => Ln,
            "log10" | "log" => Log10,
            "log2" => Log2,
            "exp" => Exp,
            "sign" => Sign,
            "greatest" => Greatest,
            "least" => Least,
            "trim" => Trim,
            "ltrim" => LTrim,
            "rtrim" => RTrim,
            "replace" => Replace,
            "lpad" => LPad,
            "rpad" => RPad,
            "split_part" => SplitPart,
            "strpos" | "instr" => StrPos,
            "reverse" => Reverse,
            "repeat" => Repeat,
            "left" => Left,
            "right" => Right,
            "concat_ws" => ConcatWs,
            "regexp_matches" => RegexpMatches,
            "regexp_replace" => RegexpReplace,
            "regexp_extract" => RegexpExtract,
            "date_diff" | "datediff" => DateDiff,
            "make_date" => MakeDate,
            "strftime" => Strftime,
            "strptime" => Strptime,
            "dayofyear" | "doy" => DayOfYear,
            "week" | "weekofyear" => Week,
            "last_day" => LastDay,
            "add_interval" => AddInterval,
            _ => return None,
        })
    }

    /// Checks argument types; returns the result type and nullability.
    pub fn return_type(self, args: &[(DataType, bool)]) -> Result<(DataType, bool)> {
        use ScalarFunc::*;
        let arity = |lo: usize, hi: usize| -> Result<()> {
            if args.len() < lo || args.len() > hi {
                return Err(Error::Plan(format!(
                    "{}() takes {lo}..={hi} arguments, got {}",
                    self.name(),
                    args.len()
                )));
            }
            Ok(())
        };
        let nullable = args.iter().any(|a| a.1);
        let want = |i: usize, ok: bool, what: &str| -> Result<()> {
            if ok || args[i].0 == DataType::Null {
                Ok(())
            } else {
                Err(Error::Schema(format!(
                    "argument {} of {}() must be {what}, got {}",
                    i + 1,
                    self.name(),
                    crate::expr::types::sql_name(&args[i].0)
                )))
            }
        };
        let temporal = |t: &DataType| {
            matches!(
                t,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            )
        };
        Ok(match self {
            Coalesce => {
                arity(1, usize::MAX)?;
                let mut t = DataType::Null;
                for (a, _) in args {
                    t = common_type(&t, a).ok_or_else(|| {
                        Error::Schema(format!("coalesce() arguments of types {t} and {a}"))
                    })?;
                }
                (t, args.iter().all(|a| a.1))
            }
            Contains | StartsWith | EndsWith => {
                arity(2, 2)?;
                want(0, is_string(&args[0].0), "a string")?;
                want(1, is_string(&args[1].0), "a string")?;
                (DataType::Boolean, nullable)
            }
            Lower | Upper => {
                arity(1, 1)?;
                want(0, is_string(&args[0].0), "a string")?;
                (DataType::Utf8, nullable)
            }
            Length => {
                arity(1, 1)?;
                want(0, is_string(&args[0].0), "a string")?;
                (DataType::Int64, nullable)
            }
            Substring => {
                arity(2, 3)?;
                want(0, is_string(&args[0].0), "a string")?;
                for (i, (t, _)) in args.iter().enumerate().skip(1) {
                    want(i, t.is_integer(), "an integer")?;
                }
                (DataType::Utf8, nullable)
            }
            Year | Quarter | Month | Day | Weekday | DayOfWeek => {
                arity(1, 1)?;
                want(0, temporal(&args[0].0), "a date or timestamp")?;
                (DataType::Int64, nullable)
            }
            Hour | Minute | Second => {
                arity(1, 1)?;
                want(
                    0,
                    matches!(args[0].0, DataType::Timestamp(_, _)),
                    "a timestamp",
                )?;
                (DataType::Int64, nullable)
            }
            DateTrunc => {
                arity(2, 2)?;
                want(0, is_string(&args[0].0), "a unit string")?;
                want(1, temporal(&args[1].0), "a date or timestamp")?;
                let t = match &args[1].0 {
                    DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, None),
                    _ => DataType::Date32,
                };
                (t, nullable)
            }
            Abs => {
                arity(1, 1)?;
                want(0, is_numeric(&args[0].0), "numeric")?;
                let t = if args[0].0.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                (t, nullable)
            }
            Round | Sqrt => {
                arity(1, if self == Round { 2 } else { 1 })?;
                want(0, is_numeric(&args[0].0), "numeric")?;
                (DataType::Float64, nullable || self == Sqrt)
            }
            Concat => {
                arity(1, usize::MAX)?;
                (DataType::Utf8, false)
            }
            ConcatStrict => {
                arity(1, usize::MAX)?;
                (DataType::Utf8, nullable)
            }
            Grouping => {
                arity(1, 62)?;
                (DataType::Int64, false)
            }
            SingleValue => {
                arity(2, 2)?;
                want(1, args[1].0.is_integer(), "a row count")?;
                (args[0].0.clone(), true)
            }
            Floor | Ceil => {
                arity(1, 1)?;
                want(0, is_numeric(&args[0].0), "numeric")?;
                let t = if args[0].0.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                (t, nullable)
            }
            Power | Ln | Log10 | Log2 | Exp | Sign => {
                let n = if self == Power { 2 } else { 1 };
                arity(n, n)?;
                for (i, (t, _)) in args.iter().enumerate() {
                    want(i, is_numeric(t), "numeric")?;
                }
                match self {
                    Sign => (DataType::Int64, nullable),
                    Exp => (DataType::Float64, nullable),
                    _ => (DataType::Float64, true),
                }
            }
            Greatest | Least => {
                arity(1, usize::MAX)?;
                let mut t = DataType::Null;
                for (a, _) in args {
                    t = common_type(&t, a).ok_or_else(|| {
                        Error::Schema(format!("{}() arguments of types {t} and {a}", self.name()))
                    })?;
                }
                (t, args.iter().all(|a| a.1))
            }
            Trim | LTrim | RTrim | Reverse => {
                arity(1, if self == Reverse { 1 } else { 2 })?;
                for (i, (t, _)) in args.iter().enumerate() {
                    want(i, is_string(t), "a string")?;
                }
                (DataType::Utf8, nullable)
            }
            Replace | RegexpReplace | RegexpMatches => {
                match self {
                    Replace => arity(3, 3)?,
                    RegexpReplace => arity(3, 4)?,
                    _ => arity(2, 2)?,
                }
                for (i, (t, _)) in args.iter().enumerate() {
                    want(i, is_string(t), "a string")?;
                }
                let t = if self == RegexpMatches {
                    DataType::Boolean
                } else {
                    DataType::Utf8
                };
                (t, nullable)
            }
            LPad | RPad | Repeat | Left | Right => {
                let most = if matches!(self, LPad | RPad) { 3 } else { 2 };
                arity(2, most)?;
                want(0, is_string(&args[0].0), "a string")?;
                want(1, args[1].0.is_integer(), "an integer")?;
                if let Some((t, _)) = args.get(2) {
                    want(2, is_string(t), "a string")?;
                }
                (DataType::Utf8, nullable)
            }
            SplitPart | RegexpExtract => {
                arity(if self == SplitPart { 3 } else { 2 }, 3)?;
                want(0, is_string(&args[0].0), "a string")?;
                want(1, is_string(&args[1].0), "a string")?;
                if let Some((t, _)) = args.get(2) {
                    want(2, t.is_integer(), "an integer")?;
                }
                (DataType::Utf8, nullable)
            }
            StrPos => {
                arity(2, 2)?;
                want(0, is_string(&args[0].0), "a string")?;
                want(1, is_string(&args[1].0), "a string")?;
                (DataType::Int64, nullable)
            }
            ConcatWs => {
                arity(2, usize::MAX)?;
                want(0, is_string(&args[0].0), "a string")?;
                (DataType::Utf8, args[0].1)
            }
            DateDiff => {
                arity(3, 3)?;
                want(0, is_string(&args[0].0), "a unit string")?;
                want(1, temporal(&args[1].0), "a date or timestamp")?;
                want(2, temporal(&args[2].0), "a date or timestamp")?;
                (DataType::Int64, nullable)
            }
            AddInterval => {
                arity(4, 4)?;
                want(0, temporal(&args[0].0), "a date or timestamp")?;
                for (i, (t, _)) in args.iter().enumerate().skip(1) {
                    want(i, t.is_integer(), "an integer")?;
                }
                (args[0].0.clone(), nullable)
            }
            MakeDate => {
                arity(3, 3)?;
                for (i, (t, _)) in args.iter().enumerate() {
                    want(i, t.is_integer(), "an integer")?;
                }
                (DataType::Date32, true)
            }
            Strftime => {
                arity(2, 2)?;
                want(0, temporal(&args[0].0), "a date or timestamp")?;
                want(1, is_string(&args[1].0), "a format string")?;
                (DataType::Utf8, nullable)
            }
            Strptime => {
                arity(2, 2)?;
                want(0, is_string(&args[0].0), "a string")?;
                want(1, is_string(&args[1].0), "a format string")?;
                (DataType::Timestamp(TimeUnit::Microsecond, None), true)
            }
            DayOfYear | Week | LastDay => {
                arity(1, 1)?;
                want(0, temporal(&args[0].0), "a date or timestamp")?;
                let t = if self == LastDay {
                    DataType::Date32
                } else {
                    DataType::Int64
                };
                (t, nullable)
            }
        })
    }

    /// Evaluates the function over `args` (each an array of `len` rows or a scalar).
    pub fn evaluate(self, args: &[ColumnarValue], len: usize) -> Result<ArrayRef> {
        use ScalarFunc::*;
        let array = |i: usize| args[i].to_array(len);
        let int_arg = |i: usize| -> Result<Option<i64>> {
            match args.get(i) {
                None => Ok(None),
                Some(ColumnarValue::Scalar(ScalarValue::Int64(v))) => Ok(Some(*v)),
                Some(_) => Err(Error::NotSupported(format!(
                    "{}() with a non-constant argument {}",
                    self.name(),
                    i + 1
                ))),
            }
        };
        Ok(match self {
            Coalesce => {
                let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
                let t = types
                    .iter()
                    .try_fold(DataType::Null, |acc, t| common_type(&acc, t))
                    .ok_or_else(|| Error::Internal("coalesce types".into()))?;
                let mut out = cast(&array(0), &t)?;
                for i in 1..args.len() {
                    let next = cast(&array(i), &t)?;
                    let keep = is_not_null(&out)?;
                    out = arrow::compute::kernels::zip::zip(&keep, &out, &next)?;
                }
                out
            }
            Contains | StartsWith | EndsWith => {
                let left = cast(&array(0), &DataType::Utf8)?;
                let right = args[1].to_datum(&DataType::Utf8)?;
                let f = match self {
                    Contains => arrow::compute::kernels::comparison::contains,
                    StartsWith => arrow::compute::kernels::comparison::starts_with,
                    _ => arrow::compute::kernels::comparison::ends_with,
                };
                Arc::new(f(&left, right.as_ref())?)
            }
            Concat | ConcatStrict => concat(args, len, self == ConcatStrict)?,
            Floor | Ceil | Power | Ln | Log10 | Log2 | Exp | Sign | Greatest | Least => {
                let types: Vec<(DataType, bool)> =
                    args.iter().map(|a| (a.data_type(), true)).collect();
                let (out, _) = self.return_type(&types)?;
                super::math_functions::evaluate(self, args, len, &out)?
            }
            Trim | LTrim | RTrim | Replace | LPad | RPad | SplitPart | StrPos | Reverse
            | Repeat | Left | Right | ConcatWs | RegexpMatches | RegexpReplace | RegexpExtract => {
                super::string_functions::evaluate(self, args, len)?
            }
            DateDiff | MakeDate | Strftime | Strptime | DayOfYear | Week | LastDay
            | AddInterval => super::date_functions::evaluate(self, args, len)?,
            SingleValue => {
                let counts = cast(&array(1), &DataType::Int64)?;
                let several = counts
                    .as_primitive::<Int64Type>()
                    .iter()
                    .any(|n| n.is_some_and(|n| n > 1));
                if several {
                    return Err(Error::InvalidInput(
                        "more than one row returned by a subquery used as an expression".into(),
                    ));
                }
                array(0)
            }
            Grouping => {
                return Err(Error::Plan(
                    "grouping() is only valid in a query with GROUP BY".into(),
                ))
            }
            Lower | Upper => {
                let a = cast(&array(0), &DataType::Utf8)?;
                let s = a.as_string::<i32>();
                let out: StringArray = if self == Lower {
                    s.iter().map(|v| v.map(|v| v.to_lowercase())).collect()
                } else {
                    s.iter().map(|v| v.map(|v| v.to_uppercase())).collect()
                };
                Arc::new(out)
            }
            Length => {
                let a = cast(&array(0), &DataType::Utf8)?;
                let out: Int64Array = a
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|v| v.chars().count() as i64))
                    .collect();
                Arc::new(out)
            }
            Substring => {
                let a = cast(&array(0), &DataType::Utf8)?;
                let start = int_arg(1)?.unwrap_or(1);
                let count = int_arg(2)?;
                // SQL: characters from position `start` (1-based); positions before 1 eat into the length.
                let (from, count) = if start >= 1 {
                    (start - 1, count)
                } else {
                    (0, count.map(|c| (c + start - 1).max(0)))
                };
                let out = arrow::compute::kernels::substring::substring_by_char(
                    a.as_string::<i32>(),
                    from,
                    count.map(|c| c.max(0) as u64),
                )?;
                Arc::new(out)
            }
            Year | Quarter | Month | Day | Hour | Minute | Second | Weekday | DayOfWeek => {
                let a = array(0);
                let part = match self {
                    Year => DatePart::Year,
                    Quarter => DatePart::Quarter,
                    Month => DatePart::Month,
                    Day => DatePart::Day,
                    Hour => DatePart::Hour,
                    Minute => DatePart::Minute,
                    Second => DatePart::Second,
                    Weekday => DatePart::DayOfWeekMonday0,
                    _ => DatePart::DayOfWeekSunday0,
                };
                let p = cast(&date_part(&a, part)?, &DataType::Int64)?;
                if self == Weekday {
                    arrow::compute::kernels::numeric::add(&p, &Int64Array::new_scalar(1))?
                } else {
                    p
                }
            }
            DateTrunc => {
                let unit = match &args[0] {
                    ColumnarValue::Scalar(ScalarValue::Utf8(u)) => u.to_ascii_lowercase(),
                    _ => {
                        return Err(Error::NotSupported(
                            "date_trunc() with a non-constant unit".into(),
                        ))
                    }
                };
                date_trunc(&unit, &array(1))?
            }
            Abs => {
                let a = array(0);
                if a.data_type().is_integer() {
                    let a = cast(&a, &DataType::Int64)?;
                    // abs(i64::MIN) has no BIGINT value: an error, as in DuckDB.
                    let out: Int64Array = a.as_primitive::<Int64Type>().try_unary(|v| {
                        v.checked_abs().ok_or_else(|| {
                            arrow::error::ArrowError::ComputeError(format!(
                                "integer overflow: abs({v}) does not fit in BIGINT"
                            ))
                        })
                    })?;
                    Arc::new(out)
                } else {
                    let a = cast_array(&a, &DataType::Float64)?;
                    let out: Float64Array = a.as_primitive::<Float64Type>().unary(|v| v.abs());
                    Arc::new(out)
                }
            }
            Round => {
                let digits = int_arg(1)?.unwrap_or(0);
                let a = cast_array(&array(0), &DataType::Float64)?;
                let out: Float64Array = a
                    .as_primitive::<Float64Type>()
                    .unary(|v| round_exact(v, digits));
                Arc::new(out)
            }
            Sqrt => {
                let a = cast(&array(0), &DataType::Float64)?;
                let out: Float64Array = a
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.filter(|v| *v >= 0.0).map(f64::sqrt))
                    .collect();
                Arc::new(out)
            }
        })
    }
}

/// `v` rounded to `digits` decimal places (negative: tens, hundreds, ...), half away
/// from zero, on the exact value of the double, as DuckDB does: 8.255 is stored as
/// 8.25499999..., so it rounds to 8.25. Scaling by 10^digits can round the product to an
/// exact tie (82.55 × 10 gives 825.5); the product's rounding error, from a fused
/// multiply-add, tells which side of the tie the exact product lies on.
pub(crate) fn round_exact(v: f64, digits: i64) -> f64 {
    if !v.is_finite() || digits > 22 {
        return v;
    }
    if digits < -22 {
        return 0.0 * v.signum();
    }
    let m = 10f64.powi(digits.unsigned_abs() as i32);
    // y ≈ v·10^digits, and err = exact − y (sign only matters).
    let (y, err) = if digits >= 0 {
        let y = v * m;
        (y, v.mul_add(m, -y))
    } else {
        let y = v / m;
        (y, (-y).mul_add(m, v))
    };
    let mut r = y.round();
    if (y - y.trunc()).abs() == 0.5 && err != 0.0 && (err > 0.0) != (y > 0.0) {
        // The exact value is just short of the tie: towards zero.
        r = y.trunc();
    }
    if digits >= 0 {
        r / m
    } else {
        r * m
    }
}

/// Truncates dates or timestamps to the start of their `unit`.
fn date_trunc(unit: &str, a: &ArrayRef) -> Result<ArrayRef> {
    let bad_unit = || Error::Plan(format!("date_trunc: unknown unit '{unit}'"));
    let trunc_date = |d: NaiveDate| -> Option<NaiveDate> {
        match unit {
            "year" => d.with_day(1)?.with_month(1),
            "quarter" => d.with_day(1)?.with_month((d.month0() / 3) * 3 + 1),
            "month" => d.with_day(1),
            "week" => Some(d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64)),
            _ => Some(d),
        }
    };
    if !matches!(
        unit,
        "year" | "quarter" | "month" | "week" | "day" | "hour" | "minute" | "second"
    ) {
        return Err(bad_unit());
    }
    const EPOCH_CE: i32 = 719_163;
    match a.data_type() {
        DataType::Date32 | DataType::Date64 => {
            let d = cast(a, &DataType::Date32)?;
            let out: Date32Array = d
                .as_primitive::<arrow::datatypes::Date32Type>()
                .iter()
                .map(|v| {
                    v.and_then(|v| NaiveDate::from_num_days_from_ce_opt(v + EPOCH_CE))
                        .and_then(trunc_date)
                        .map(|d| d.num_days_from_ce() - EPOCH_CE)
                })
                .collect();
            Ok(Arc::new(out))
        }
        DataType::Timestamp(_, _) => {
            let t = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let out: TimestampMicrosecondArray = t
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .iter()
                .map(|v| {
                    let ts = chrono::DateTime::from_timestamp_micros(v?)?.naive_utc();
                    let truncated = match unit {
                        "hour" => ts.date().and_hms_opt(ts.hour(), 0, 0)?,
                        "minute" => ts.date().and_hms_opt(ts.hour(), ts.minute(), 0)?,
                        "second" => ts.date().and_hms_opt(ts.hour(), ts.minute(), ts.second())?,
                        _ => trunc_date(ts.date())?.and_hms_opt(0, 0, 0)?,
                    };
                    Some(truncated.and_utc().timestamp_micros())
                })
                .collect();
            Ok(Arc::new(out))
        }
        other => Err(Error::Schema(format!("date_trunc() of {other}"))),
    }
}

/// The arguments cast to text and joined row by row; a NULL argument is skipped, or
/// (`strict`) makes the row NULL.
fn concat(args: &[ColumnarValue], len: usize, strict: bool) -> Result<ArrayRef> {
    let parts = args
        .iter()
        .map(|a| cast(&a.to_array(len), &DataType::Utf8))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let strings: Vec<&StringArray> = parts.iter().map(|a| a.as_string::<i32>()).collect();
    let bytes: usize = strings.iter().map(|s| s.value_data().len()).sum();
    let mut out = arrow::array::StringBuilder::with_capacity(len, bytes);
    let mut row = String::new();
    for r in 0..len {
        row.clear();
        let mut null = false;
        for s in &strings {
            if s.is_null(r) {
                null |= strict;
            } else {
                row.push_str(s.value(r));
            }
        }
        if null {
            out.append_null();
        } else {
            out.append_value(&row);
        }
    }
    Ok(Arc::new(out.finish()))
}
