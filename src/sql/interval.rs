//! `date ± INTERVAL 'n' unit`, as TPC-H writes its date ranges, and the same on a
//! date or timestamp column.
//!
//! On a constant (a DATE literal) the sum is computed while planning, with calendar
//! rules for months and years (the day is clamped to the target month's length, as
//! DuckDB does: `date '2024-01-31' + interval '1' month` = 2024-02-29). On a column it
//! is the `add_interval` function (`expr/date_functions.rs`), with the same rules, and
//! hours, minutes and seconds for timestamps.

use chrono::{Days, Months, NaiveDate};
use sqlparser::ast::{self, Value};

use crate::error::{Error, Result};
use crate::expr::{Expr, ScalarValue};

/// An interval as a count of one unit.
enum Span {
    Days(i64),
    Months(i64),
    Micros(i64),
}

fn parse(iv: &ast::Interval) -> Result<Span> {
    let text = match iv.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            other => return Err(Error::Sql(format!("invalid INTERVAL value {other}"))),
        },
        other => return Err(Error::NotSupported(format!("INTERVAL {other}"))),
    };
    // `interval '3' month` or `interval '3 months'`.
    let mut words = text.split_whitespace();
    let n: i64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| Error::Sql(format!("invalid INTERVAL '{text}'")))?;
    let unit = match (&iv.leading_field, words.next()) {
        (Some(f), None) => f.to_string().to_ascii_lowercase(),
        (None, Some(u)) => u.to_ascii_lowercase(),
        _ => return Err(Error::NotSupported(format!("INTERVAL '{text}'"))),
    };
    if iv.last_field.is_some() {
        return Err(Error::NotSupported("INTERVAL ranges (… TO …)".into()));
    }
    Ok(match unit.trim_end_matches('s') {
        "day" => Span::Days(n),
        "week" => Span::Days(7 * n),
        "month" => Span::Months(n),
        "quarter" => Span::Months(3 * n),
        "year" => Span::Months(12 * n),
        "hour" => Span::Micros(3_600_000_000 * n),
        "minute" => Span::Micros(60_000_000 * n),
        "second" => Span::Micros(1_000_000 * n),
        "millisecond" => Span::Micros(1_000 * n),
        "microsecond" => Span::Micros(n),
        other => return Err(Error::NotSupported(format!("INTERVAL unit '{other}'"))),
    })
}

/// The interval as (months, days, microseconds), negated when `subtract`.
pub fn parts(iv: &ast::Interval, subtract: bool) -> Result<(i64, i64, i64)> {
    let sign = if subtract { -1 } else { 1 };
    Ok(match parse(iv)? {
        Span::Months(n) => (n * sign, 0, 0),
        Span::Days(n) => (0, n * sign, 0),
        Span::Micros(n) => (0, 0, n * sign),
    })
}

/// `x + INTERVAL (months, days, micros)` on a column.
pub fn add_interval(x: Expr, (months, days, micros): (i64, i64, i64)) -> Expr {
    Expr::Function {
        func: crate::expr::ScalarFunc::AddInterval,
        args: vec![
            x,
            Expr::Literal(ScalarValue::Int64(months)),
            Expr::Literal(ScalarValue::Int64(days)),
            Expr::Literal(ScalarValue::Int64(micros)),
        ],
    }
}

/// `date ± interval` (`subtract` for minus): folded for a DATE literal, else
/// `add_interval` on the column.
pub fn shift(date: Expr, iv: &ast::Interval, subtract: bool) -> Result<Expr> {
    let Expr::Literal(ScalarValue::Date32(days)) = date else {
        return Ok(add_interval(date, parts(iv, subtract)?));
    };
    let epoch =
        NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(|| Error::Internal("epoch".into()))?;
    let base = epoch
        .checked_add_signed(chrono::Duration::days(days as i64))
        .ok_or_else(|| Error::Sql("date out of range".into()))?;
    let sign = if subtract { -1 } else { 1 };
    let out = match parse(iv)? {
        Span::Days(n) => {
            let n = n * sign;
            if n >= 0 {
                base.checked_add_days(Days::new(n as u64))
            } else {
                base.checked_sub_days(Days::new(n.unsigned_abs()))
            }
        }
        Span::Months(n) => {
            let n = n * sign;
            let m = Months::new(n.unsigned_abs() as u32);
            if n >= 0 {
                base.checked_add_months(m)
            } else {
                base.checked_sub_months(m)
            }
        }
        Span::Micros(_) => {
            return Err(Error::NotSupported(
                "an INTERVAL of hours, minutes or seconds added to a DATE literal".into(),
            ))
        }
    }
    .ok_or_else(|| Error::Sql("date arithmetic out of range".into()))?;
    Ok(Expr::Literal(ScalarValue::Date32(
        (out - epoch).num_days() as i32
    )))
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn date(s: &str) -> i32 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }

    fn shifted(base: &str, iv: &str, subtract: bool) -> Result<Expr> {
        let e = Parser::new(&GenericDialect)
            .try_with_sql(iv)
            .unwrap()
            .parse_expr()
            .unwrap();
        let ast::Expr::Interval(iv) = e else {
            panic!("not an interval: {e}")
        };
        shift(
            Expr::Literal(ScalarValue::Date32(date(base))),
            &iv,
            subtract,
        )
    }

    #[test]
    fn calendar_arithmetic_like_duckdb() {
        let d = |s| Expr::Literal(ScalarValue::Date32(date(s)));
        assert_eq!(
            shifted("1998-12-01", "interval '90' day", true).unwrap(),
            d("1998-09-02")
        );
        assert_eq!(
            shifted("1994-01-01", "interval '1' year", false).unwrap(),
            d("1995-01-01")
        );
        assert_eq!(
            shifted("1993-10-01", "interval '3' month", false).unwrap(),
            d("1994-01-01")
        );
        assert_eq!(
            shifted("2024-01-31", "interval '1 month'", false).unwrap(),
            d("2024-02-29")
        );
        assert!(matches!(
            shifted("2024-01-31", "interval '1' hour", false),
            Err(Error::NotSupported(_))
        ));
    }
}
