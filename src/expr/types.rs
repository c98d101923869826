//! Type resolution and coercion, run when a plan node is built.
//!
//! [`field`] derives an expression's output field (name, type, nullability) from the
//! input schema, and fails with [`Error::Schema`] on a type mismatch. Evaluation uses
//! the same coercion functions, so the type checked at plan time is the type produced.
//!
//! Coercion rules (DuckDB's, simplified):
//! * integers of any width meet as Int64; an integer and a float (or decimal) meet as Float64;
//! * `/` always divides in Float64, as in DuckDB and Polars;
//! * a string meets a date or timestamp as that temporal type (for `d >= '2024-01-01'`);
//! * NULL meets anything as that thing.

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{BinaryOp, Expr};
use crate::error::{Error, Result};

/// True for every integer type.
pub fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

/// True for integers, floats and decimals.
pub fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

/// True for every string type, including dictionary-encoded strings.
pub fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A type as SQL names it (`VARCHAR`, `BIGINT`, `DOUBLE`, `DATE`, …), for messages.
pub fn sql_name(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "NULL".into(),
        Boolean => "BOOLEAN".into(),
        Int8 => "TINYINT".into(),
        Int16 => "SMALLINT".into(),
        Int32 => "INTEGER".into(),
        Int64 => "BIGINT".into(),
        UInt8 => "UTINYINT".into(),
        UInt16 => "USMALLINT".into(),
        UInt32 => "UINTEGER".into(),
        UInt64 => "UBIGINT".into(),
        Float16 | Float32 => "FLOAT".into(),
        Float64 => "DOUBLE".into(),
        Utf8 | LargeUtf8 | Utf8View => "VARCHAR".into(),
        Binary | LargeBinary | BinaryView => "BLOB".into(),
        Date32 | Date64 => "DATE".into(),
        Timestamp(_, None) => "TIMESTAMP".into(),
        Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        Dictionary(_, v) => sql_name(v),
        Interval(_) => "INTERVAL".into(),
        other => other.to_string(),
    }
}

/// The type two operands of a comparison (or of CASE branches, IN lists, coalesce) meet at.
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(match a {
            Dictionary(_, v) => v.as_ref().clone(),
            LargeUtf8 | Utf8View => Utf8,
            t => t.clone(),
        });
    }
    Some(match (a, b) {
        (Null, t) | (t, Null) => common_type(t, t)?,
        (x, y) if is_integer(x) && is_integer(y) => Int64,
        (Decimal128(p1, s1), Decimal128(p2, s2)) if s1 == s2 => Decimal128((*p1).max(*p2), *s1),
        (x, y) if is_numeric(x) && is_numeric(y) => Float64,
        (x, y) if is_string(x) && is_string(y) => Utf8,
        (x, s) | (s, x) if is_string(s) && is_temporal(x) => common_type(x, x)?,
        (Date32 | Date64, Timestamp(_, _)) | (Timestamp(_, _), Date32 | Date64) => {
            Timestamp(TimeUnit::Microsecond, None)
        }
        (Timestamp(_, _), Timestamp(_, _)) => Timestamp(TimeUnit::Microsecond, None),
        (Date32, Date64) | (Date64, Date32) => Date32,
        _ => return None,
    })
}

/// For `left op right`: the type both operands are cast to, and the result type.
pub fn coerce_binary(
    left: &DataType,
    op: BinaryOp,
    right: &DataType,
) -> Result<(DataType, DataType)> {
    use DataType::*;
    let mismatch = || {
        Error::Schema(format!(
            "cannot apply '{}' to {} and {}",
            op.symbol(),
            sql_name(left),
            sql_name(right)
        ))
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let ok = |t: &DataType| matches!(t, Boolean | Null);
            if ok(left) && ok(right) {
                Ok((Boolean, Boolean))
            } else {
                Err(mismatch())
            }
        }
        op if op.is_comparison() => {
            let t = common_type(left, right).ok_or_else(mismatch)?;
            Ok((t, Boolean))
        }
        BinaryOp::Divide | BinaryOp::IntegerDivide => {
            let numeric = |t: &DataType| is_numeric(t) || *t == Null;
            let integer = |t: &DataType| is_integer(t) || *t == Null;
            if op == BinaryOp::IntegerDivide && integer(left) && integer(right) {
                Ok((Int64, Int64))
            } else if numeric(left) && numeric(right) {
                Ok((Float64, Float64))
            } else {
                Err(mismatch())
            }
        }
        // `date ± n` shifts by n days and `date - date` counts days, as in DuckDB: the
        // operands meet as day numbers.
        BinaryOp::Plus | BinaryOp::Minus
            if matches!((left, right), (Date32, r) if r.is_integer() || *r == Null)
                || (op == BinaryOp::Plus
                    && matches!((left, right), (l, Date32) if l.is_integer() || *l == Null)) =>
        {
            Ok((Int64, Date32))
        }
        BinaryOp::Minus if (left, right) == (&Date32, &Date32) => Ok((Int64, Int64)),
        _ => {
            let t = match (left, right) {
                (Null, Null) => Int64,
                (x, Null) | (Null, x) if is_integer(x) => Int64,
                (x, Null) | (Null, x) if is_numeric(x) => Float64,
                (x, y) if is_integer(x) && is_integer(y) => Int64,
                (x, y) if is_numeric(x) && is_numeric(y) => Float64,
                _ => return Err(mismatch()),
            };
            Ok((t.clone(), t))
        }
    }
}

/// The output field of `expr` over `schema`, or the type error it contains.
pub fn field(expr: &Expr, schema: &Schema) -> Result<Field> {
    let (data_type, nullable) = type_and_nullability(expr, schema)?;
    Ok(Field::new(expr.output_name(), data_type, nullable))
}

/// The output type of `expr` over `schema`.
pub fn data_type(expr: &Expr, schema: &Schema) -> Result<DataType> {
    Ok(type_and_nullability(expr, schema)?.0)
}

fn type_and_nullability(expr: &Expr, schema: &Schema) -> Result<(DataType, bool)> {
    use DataType::*;
    Ok(match expr {
        Expr::Column(name) => {
            let f = schema.field_with_name(name).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::Plan(format!(
                    "column '{name}' not found; available columns: [{}]",
                    names.join(", ")
                ))
            })?;
            (f.data_type().clone(), f.is_nullable())
        }
        Expr::Literal(v) => (v.data_type(), v.is_null()),
        Expr::Alias(e, _) => type_and_nullability(e, schema)?,
        Expr::Binary { left, op, right } => {
            let (l, ln) = type_and_nullability(left, schema)?;
            let (r, rn) = type_and_nullability(right, schema)?;
            let (_, out) = coerce_binary(&l, *op, &r)?;
            (
                out,
                ln || rn || matches!(op, BinaryOp::Divide | BinaryOp::Modulo),
            )
        }
        Expr::Not(e) => {
            let (t, n) = type_and_nullability(e, schema)?;
            if !matches!(t, Boolean | Null) {
                return Err(Error::Schema(format!(
                    "NOT needs a boolean, got {t} in {expr}"
                )));
            }
            (Boolean, n)
        }
        Expr::Negative(e) => {
            let (t, n) = type_and_nullability(e, schema)?;
            if !is_numeric(&t) {
                return Err(Error::Schema(format!("cannot negate {t} in {expr}")));
            }
            (t, n)
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            type_and_nullability(e, schema)?;
            (Boolean, false)
        }
        Expr::Cast { expr: e, to } => {
            let (t, n) = type_and_nullability(e, schema)?;
            if !arrow::compute::can_cast_types(&t, to) {
                return Err(Error::Schema(format!("cannot cast {t} to {to}")));
            }
            (to.clone(), n || is_string(&t))
        }
        Expr::Case {
            branches,
            otherwise,
        } => {
            let mut out = Null;
            for (c, v) in branches {
                let ct = data_type(c, schema)?;
                if !matches!(ct, Boolean | Null) {
                    return Err(Error::Schema(format!(
                        "CASE condition must be boolean, got {ct} in {c}"
                    )));
                }
                let vt = data_type(v, schema)?;
                out = common_type(&out, &vt).ok_or_else(|| {
                    Error::Schema(format!("CASE branches have types {out} and {vt}"))
                })?;
            }
            if let Some(e) = otherwise {
                let vt = data_type(e, schema)?;
                out = common_type(&out, &vt).ok_or_else(|| {
                    Error::Schema(format!("CASE branches have types {out} and {vt}"))
                })?;
            }
            (out, true)
        }
        Expr::InList { expr: e, list, .. } => {
            // `x IN (1, NULL)` is NULL when x is not 1: any nullable item makes it nullable.
            let (t, mut n) = type_and_nullability(e, schema)?;
            for item in list {
                let (it, item_nullable) = type_and_nullability(item, schema)?;
                n |= item_nullable;
                common_type(&t, &it).ok_or_else(|| {
                    Error::Schema(format!(
                        "IN list item {item} of type {it} does not match {t}"
                    ))
                })?;
            }
            (Boolean, n)
        }
        Expr::Like {
            expr: e, pattern, ..
        } => {
            let (t, n) = type_and_nullability(e, schema)?;
            let (p, pattern_nullable) = type_and_nullability(pattern, schema)?;
            if !(is_string(&t) || t == Null) || !(is_string(&p) || p == Null) {
                return Err(Error::Schema(format!(
                    "LIKE needs strings, got {t} LIKE {p}"
                )));
            }
            (Boolean, n || pattern_nullable)
        }
        Expr::Function { func, args } => {
            let types = args
                .iter()
                .map(|a| type_and_nullability(a, schema))
                .collect::<Result<Vec<_>>>()?;
            func.return_type(&types)?
        }
        Expr::Aggregate { func, args } => {
            let types = args
                .iter()
                .map(|a| data_type(a, schema))
                .collect::<Result<Vec<_>>>()?;
            (func.return_type(&types)?, func.nullable())
        }
        Expr::Window(_) => {
            return Err(Error::Plan(format!(
                "window expression {expr} is allowed only in select, with_columns and filter"
            )))
        }
    })
}
