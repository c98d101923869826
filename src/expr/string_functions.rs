//! String functions beyond the basic ones in `functions.rs`: trimming, replacing,
//! padding, splitting, searching, and regular expressions, with DuckDB's semantics
//! (1-based character positions; `regexp_replace` replaces the first match unless the
//! options hold `g`; `regexp_extract` is `''` where nothing matches).
//!
//! Each runs row by row over whole arrays; a NULL argument makes the row NULL
//! (`concat_ws` skips NULL values instead). Regular expressions must be constants and
//! are compiled once per morsel.

use std::sync::Arc;

use super::cast::cast_array as cast;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use regex::Regex;

use super::eval::ColumnarValue;
use super::{ScalarFunc, ScalarValue};
use crate::error::{Error, Result};

/// Argument `i` as text.
fn text(args: &[ColumnarValue], i: usize, len: usize) -> Result<StringArray> {
    Ok(cast(&args[i].to_array(len), &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// Argument `i` as integers.
fn ints(args: &[ColumnarValue], i: usize, len: usize) -> Result<Int64Array> {
    Ok(cast(&args[i].to_array(len), &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// Argument `i` as a constant string (a pattern, options).
fn constant(func: ScalarFunc, args: &[ColumnarValue], i: usize) -> Result<Option<String>> {
    match args.get(i) {
        None => Ok(None),
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(s))) => Ok(Some(s.clone())),
        Some(ColumnarValue::Scalar(ScalarValue::Null)) => Ok(None),
        Some(_) => Err(Error::NotSupported(format!(
            "{}() with a non-constant argument {}",
            func.name(),
            i + 1
        ))),
    }
}

fn regex(func: ScalarFunc, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| {
        Error::Plan(format!(
            "{}(): invalid pattern '{pattern}': {e}",
            func.name()
        ))
    })
}

/// A row-wise function of text columns to text.
fn map_text(
    len: usize,
    inputs: &[&StringArray],
    mut f: impl FnMut(usize, &[&str]) -> Option<String>,
) -> ArrayRef {
    let mut values: Vec<&str> = Vec::with_capacity(inputs.len());
    let out: StringArray = (0..len)
        .map(|r| {
            if inputs.iter().any(|a| a.is_null(r)) {
                return None;
            }
            values.clear();
            values.extend(inputs.iter().map(|a| a.value(r)));
            f(r, &values)
        })
        .collect();
    Arc::new(out)
}

/// `s` padded on the left (`left`) or right to `n` characters with `fill`, or cut to
/// `n` (DuckDB's `lpad`/`rpad`).
fn pad(s: &str, n: i64, fill: &str, left: bool) -> Option<String> {
    let n = usize::try_from(n).unwrap_or(0);
    let have = s.chars().count();
    if have >= n {
        return Some(s.chars().take(n).collect());
    }
    if fill.is_empty() {
        return Some(s.to_string());
    }
    let padding: String = fill.chars().cycle().take(n - have).collect();
    Some(if left {
        padding + s
    } else {
        s.to_string() + &padding
    })
}

/// DuckDB's replacement syntax (`\1`) in the `regex` crate's (`${1}`).
fn replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some(_) => out.extend(chars.next()),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Evaluates string function `func`.
pub(super) fn evaluate(func: ScalarFunc, args: &[ColumnarValue], len: usize) -> Result<ArrayRef> {
    use ScalarFunc::*;
    Ok(match func {
        Trim | LTrim | RTrim => {
            let s = text(args, 0, len)?;
            let chars = match args.len() {
                2 => Some(text(args, 1, len)?),
                _ => None,
            };
            let mut inputs = vec![&s];
            inputs.extend(chars.as_ref());
            map_text(len, &inputs, |_, v| {
                let set: Vec<char> = v.get(1).map_or(vec![' '], |c| c.chars().collect());
                let is = |c: char| set.contains(&c);
                Some(
                    match func {
                        Trim => v[0].trim_matches(is),
                        LTrim => v[0].trim_start_matches(is),
                        _ => v[0].trim_end_matches(is),
                    }
                    .to_string(),
                )
            })
        }
        Replace => {
            let (s, from, to) = (
                text(args, 0, len)?,
                text(args, 1, len)?,
                text(args, 2, len)?,
            );
            map_text(len, &[&s, &from, &to], |_, v| {
                Some(if v[1].is_empty() {
                    v[0].to_string()
                } else {
                    v[0].replace(v[1], v[2])
                })
            })
        }
        LPad | RPad => {
            let (s, n) = (text(args, 0, len)?, ints(args, 1, len)?);
            let fill = match args.len() {
                3 => text(args, 2, len)?,
                _ => StringArray::from(vec![" "; len]),
            };
            map_text(len, &[&s, &fill], |r, v| {
                n.is_valid(r)
                    .then(|| pad(v[0], n.value(r), v[1], func == LPad))
                    .flatten()
            })
        }
        SplitPart => {
            let (s, delim, n) = (
                text(args, 0, len)?,
                text(args, 1, len)?,
                ints(args, 2, len)?,
            );
            map_text(len, &[&s, &delim], |r, v| {
                if !n.is_valid(r) {
                    return None;
                }
                let parts: Vec<&str> = if v[1].is_empty() {
                    vec![v[0]]
                } else {
                    v[0].split(v[1]).collect()
                };
                let i = n.value(r);
                let part = match i {
                    i if i > 0 => parts.get(i as usize - 1),
                    i if i < 0 => parts
                        .len()
                        .checked_sub(i.unsigned_abs() as usize)
                        .and_then(|k| parts.get(k)),
                    _ => None,
                };
                Some(part.map_or(String::new(), |p| p.to_string()))
            })
        }
        StrPos => {
            let (s, sub) = (text(args, 0, len)?, text(args, 1, len)?);
            let out: Int64Array = (0..len)
                .map(|r| {
                    if s.is_null(r) || sub.is_null(r) {
                        return None;
                    }
                    let (h, n) = (s.value(r), sub.value(r));
                    Some(h.find(n).map_or(0, |b| h[..b].chars().count() as i64 + 1))
                })
                .collect();
            Arc::new(out)
        }
        Reverse => {
            let s = text(args, 0, len)?;
            map_text(len, &[&s], |_, v| Some(v[0].chars().rev().collect()))
        }
        Repeat | Left | Right => {
            let (s, n) = (text(args, 0, len)?, ints(args, 1, len)?);
            map_text(len, &[&s], |r, v| {
                if !n.is_valid(r) {
                    return None;
                }
                let k = n.value(r);
                let count = v[0].chars().count() as i64;
                Some(match func {
                    Repeat => v[0].repeat(usize::try_from(k).unwrap_or(0)),
                    // A negative count keeps all but |k| characters, as in DuckDB.
                    Left => {
                        let take = if k >= 0 { k } else { (count + k).max(0) };
                        v[0].chars().take(take as usize).collect()
                    }
                    _ => {
                        let take = if k >= 0 {
                            k.min(count)
                        } else {
                            (count + k).max(0)
                        };
                        v[0].chars().skip((count - take) as usize).collect()
                    }
                })
            })
        }
        ConcatWs => {
            let sep = text(args, 0, len)?;
            let parts = (1..args.len())
                .map(|i| text(args, i, len))
                .collect::<Result<Vec<_>>>()?;
            let out: StringArray = (0..len)
                .map(|r| {
                    if sep.is_null(r) {
                        return None;
                    }
                    let values: Vec<&str> = parts
                        .iter()
                        .filter(|p| p.is_valid(r))
                        .map(|p| p.value(r))
                        .collect();
                    Some(values.join(sep.value(r)))
                })
                .collect();
            Arc::new(out)
        }
        RegexpMatches => {
            let s = text(args, 0, len)?;
            let Some(pattern) = constant(func, args, 1)? else {
                return Ok(Arc::new(BooleanArray::new_null(len)));
            };
            let re = regex(func, &pattern)?;
            let out: BooleanArray = s.iter().map(|v| v.map(|v| re.is_match(v))).collect();
            Arc::new(out)
        }
        RegexpReplace => {
            let s = text(args, 0, len)?;
            let (Some(pattern), Some(with)) = (constant(func, args, 1)?, constant(func, args, 2)?)
            else {
                return Ok(arrow::array::new_null_array(&DataType::Utf8, len));
            };
            let global = constant(func, args, 3)?.is_some_and(|o| o.contains('g'));
            let re = regex(func, &pattern)?;
            let with = replacement(&with);
            let out: StringArray = s
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if global {
                            re.replace_all(v, with.as_str()).into_owned()
                        } else {
                            re.replace(v, with.as_str()).into_owned()
                        }
                    })
                })
                .collect();
            Arc::new(out)
        }
        RegexpExtract => {
            let s = text(args, 0, len)?;
            let Some(pattern) = constant(func, args, 1)? else {
                return Ok(arrow::array::new_null_array(&DataType::Utf8, len));
            };
            let group = match args.get(2) {
                None => 0,
                Some(ColumnarValue::Scalar(ScalarValue::Int64(g))) if *g >= 0 => *g as usize,
                Some(_) => {
                    return Err(Error::NotSupported(
                        "regexp_extract() with a group that is not a non-negative constant".into(),
                    ))
                }
            };
            let re = regex(func, &pattern)?;
            if group >= re.captures_len() {
                return Err(Error::Plan(format!(
                    "regexp_extract(): pattern '{pattern}' has no group {group}"
                )));
            }
            let out: StringArray = s
                .iter()
                .map(|v| {
                    v.map(|v| {
                        re.captures(v)
                            .and_then(|c| c.get(group))
                            .map_or(String::new(), |m| m.as_str().to_string())
                    })
                })
                .collect();
            Arc::new(out)
        }
        other => {
            return Err(Error::Internal(format!(
                "{}() is not a string function",
                other.name()
            )))
        }
    })
}
