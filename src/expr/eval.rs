//! Evaluation of an [`Expr`] on a record batch, with arrow's compute kernels.
//!
//! Literals stay scalars ([`ColumnarValue::Scalar`]) and reach the kernels as arrow
//! `Scalar` datums, so `col("x").gt(lit(3))` never materialises a column of threes.
//! Operands are cast to the type chosen by [`super::types::coerce_binary`], the same
//! function that typed the plan, so evaluation produces the planned type.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Datum, RecordBatch, Scalar,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::CastOptions;
use arrow::datatypes::DataType;

use super::types::{coerce_binary, common_type};
use super::{BinaryOp, Expr, ScalarValue};
use crate::error::{Error, Result};

/// The value of an expression over a batch: a column, or one value for every row.
#[derive(Debug, Clone)]
pub enum ColumnarValue {
    Array(ArrayRef),
    Scalar(ScalarValue),
}

impl ColumnarValue {
    /// The value as an array of `len` rows.
    pub fn to_array(&self, len: usize) -> ArrayRef {
        match self {
            ColumnarValue::Array(a) => Arc::clone(a),
            ColumnarValue::Scalar(s) => s.to_array(len),
        }
    }

    /// The Arrow type.
    pub fn data_type(&self) -> DataType {
        match self {
            ColumnarValue::Array(a) => a.data_type().clone(),
            ColumnarValue::Scalar(s) => s.data_type(),
        }
    }

    /// The value cast to `to`, as a kernel operand.
    pub fn to_datum(&self, to: &DataType) -> Result<Box<dyn Datum>> {
        Ok(match self {
            ColumnarValue::Array(a) => Box::new(cast_to(a, to)?),
            ColumnarValue::Scalar(s) => Box::new(Scalar::new(cast_to(&s.to_array(1), to)?)),
        })
    }
}

impl ColumnarValue {
    /// [`ColumnarValue::to_datum`] for a float comparison: `-0.0` as `0.0` and one NaN
    /// ([`super::float_keys`]).
    fn to_canonical_datum(&self, to: &DataType) -> Result<Box<dyn Datum>> {
        use super::float_keys::canonical_floats;
        Ok(match self {
            ColumnarValue::Array(a) => Box::new(canonical_floats(&cast_to(a, to)?)),
            ColumnarValue::Scalar(s) => {
                Box::new(Scalar::new(canonical_floats(&cast_to(&s.to_array(1), to)?)))
            }
        })
    }
}

fn cast_to(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    super::cast::cast_array(a, to)
}

/// Evaluates `expr` over `batch` to an array of `batch.num_rows()` rows.
pub fn evaluate(expr: &Expr, batch: &RecordBatch) -> Result<ArrayRef> {
    Ok(evaluate_columnar(expr, batch)?.to_array(batch.num_rows()))
}

/// Evaluates a predicate to a boolean array (nulls count as false when filtering).
pub fn evaluate_predicate(expr: &Expr, batch: &RecordBatch) -> Result<BooleanArray> {
    let a = evaluate(expr, batch)?;
    match a.data_type() {
        DataType::Boolean => Ok(a.as_boolean().clone()),
        DataType::Null => Ok(BooleanArray::new_null(a.len())),
        t => Err(Error::Schema(format!(
            "predicate {expr} is {t}, not boolean"
        ))),
    }
}

/// Evaluates `expr`, keeping constants as scalars. Grows its stack on deep trees.
#[recursive::recursive]
pub fn evaluate_columnar(expr: &Expr, batch: &RecordBatch) -> Result<ColumnarValue> {
    let n = batch.num_rows();
    Ok(match expr {
        Expr::Column(name) => {
            let idx = batch.schema().index_of(name).map_err(|_| {
                Error::Internal(format!("column '{name}' missing from batch at execution"))
            })?;
            ColumnarValue::Array(Arc::clone(batch.column(idx)))
        }
        Expr::Literal(v) => ColumnarValue::Scalar(v.clone()),
        Expr::Alias(e, _) => evaluate_columnar(e, batch)?,
        Expr::Binary { left, op, right } => {
            let l = evaluate_columnar(left, batch)?;
            let r = evaluate_columnar(right, batch)?;
            ColumnarValue::Array(binary(&l, *op, &r, n)?)
        }
        Expr::Not(e) => {
            let a = evaluate(e, batch)?;
            ColumnarValue::Array(Arc::new(boolean::not(&as_bool(&a)?)?))
        }
        Expr::Negative(e) => {
            let a = evaluate(e, batch)?;
            ColumnarValue::Array(numeric::neg(&a)?)
        }
        Expr::IsNull(e) => {
            let a = evaluate(e, batch)?;
            ColumnarValue::Array(Arc::new(boolean::is_null(&a)?))
        }
        Expr::IsNotNull(e) => {
            let a = evaluate(e, batch)?;
            ColumnarValue::Array(Arc::new(boolean::is_not_null(&a)?))
        }
        Expr::Cast { expr: e, to } => {
            let a = evaluate(e, batch)?;
            let options = CastOptions {
                safe: false,
                ..Default::default()
            };
            let a = round_before_integer_cast(a, to)?;
            let out = super::cast::cast_array_with_options(&a, to, &options)
                .map_err(|err| Error::Schema(format!("CAST({e} AS {to}) failed: {err}")))?;
            ColumnarValue::Array(out)
        }
        Expr::Case {
            branches,
            otherwise,
        } => ColumnarValue::Array(case(branches, otherwise.as_deref(), batch)?),
        Expr::InList {
            expr: e,
            list,
            negated,
        } => {
            let v = evaluate_columnar(e, batch)?;
            let mut acc: Option<BooleanArray> = None;
            for item in list {
                let i = evaluate_columnar(item, batch)?;
                let eq = binary(&v, BinaryOp::Eq, &i, n)?;
                let eq = eq.as_boolean().clone();
                acc = Some(match acc {
                    None => eq,
                    Some(a) => boolean::or_kleene(&a, &eq)?,
                });
            }
            let out = acc.unwrap_or_else(|| BooleanArray::from(vec![false; n]));
            let out = if *negated { boolean::not(&out)? } else { out };
            ColumnarValue::Array(Arc::new(out))
        }
        Expr::Like {
            expr: e,
            pattern,
            negated,
            case_insensitive,
        } => {
            let v = evaluate_columnar(e, batch)?.to_datum(&DataType::Utf8)?;
            let p = evaluate_columnar(pattern, batch)?.to_datum(&DataType::Utf8)?;
            use arrow::compute::kernels::comparison as c;
            let out = match (negated, case_insensitive) {
                (false, false) => c::like(v.as_ref(), p.as_ref())?,
                (true, false) => c::nlike(v.as_ref(), p.as_ref())?,
                (false, true) => c::ilike(v.as_ref(), p.as_ref())?,
                (true, true) => c::nilike(v.as_ref(), p.as_ref())?,
            };
            ColumnarValue::Array(broadcast(Arc::new(out), n))
        }
        Expr::Function { func, args } => {
            let values = args
                .iter()
                .map(|a| evaluate_columnar(a, batch))
                .collect::<Result<Vec<_>>>()?;
            ColumnarValue::Array(broadcast(func.evaluate(&values, n)?, n))
        }
        Expr::Aggregate { .. } => {
            return Err(Error::Plan(format!(
                "aggregate {expr} used outside of an aggregation"
            )))
        }
        Expr::Window(_) => {
            return Err(Error::Plan(format!(
                "window expression {expr} used outside of select, with_columns or filter"
            )))
        }
    })
}

/// DuckDB rounds when casting to an integer type (doubles half-to-even, decimals half
/// away from zero); arrow truncates. Round first so the answers agree.
fn round_before_integer_cast(a: ArrayRef, to: &DataType) -> Result<ArrayRef> {
    use arrow::datatypes::Float64Type;
    if !to.is_integer() {
        return Ok(a);
    }
    let half_even = a.data_type().is_floating();
    if !half_even
        && !matches!(
            a.data_type(),
            DataType::Decimal128(..) | DataType::Decimal256(..)
        )
    {
        return Ok(a);
    }
    let f = super::cast::cast_array(&a, &DataType::Float64)?;
    let rounded: arrow::array::Float64Array = if half_even {
        f.as_primitive::<Float64Type>().unary(f64::round_ties_even)
    } else {
        f.as_primitive::<Float64Type>().unary(f64::round)
    };
    Ok(Arc::new(rounded))
}

/// A decimal column compared with a number literal, in the decimal domain: the literal
/// becomes the column's decimal type, so the column is not cast to `Float64` row by row
/// (TPC-H's `l_quantity < 24`, `l_discount BETWEEN 0.05 AND 0.07`). This is also the
/// exact comparison DuckDB makes. `None` when the literal has no exact decimal form at
/// the column's scale (then both sides go to `Float64` as typed).
fn decimal_comparison(
    l: &ColumnarValue,
    op: BinaryOp,
    r: &ColumnarValue,
) -> Result<Option<ArrayRef>> {
    use arrow::array::Decimal128Array;
    let (array, scalar, flipped) = match (l, r) {
        (ColumnarValue::Array(a), ColumnarValue::Scalar(s)) => (a, s, false),
        (ColumnarValue::Scalar(s), ColumnarValue::Array(a)) => (a, s, true),
        _ => return Ok(None),
    };
    let DataType::Decimal128(precision, scale) = *array.data_type() else {
        return Ok(None);
    };
    let Some(unscaled) = scalar.exact_decimal(scale) else {
        return Ok(None);
    };
    let literal =
        Decimal128Array::from(vec![unscaled]).with_precision_and_scale(precision, scale)?;
    let literal = Scalar::new(literal);
    let (ld, rd): (&dyn Datum, &dyn Datum) = if flipped {
        (&literal, array)
    } else {
        (array, &literal)
    };
    let out = match op {
        BinaryOp::Eq => cmp::eq(ld, rd)?,
        BinaryOp::NotEq => cmp::neq(ld, rd)?,
        BinaryOp::Lt => cmp::lt(ld, rd)?,
        BinaryOp::LtEq => cmp::lt_eq(ld, rd)?,
        BinaryOp::Gt => cmp::gt(ld, rd)?,
        BinaryOp::GtEq => cmp::gt_eq(ld, rd)?,
        _ => return Ok(None),
    };
    Ok(Some(Arc::new(out)))
}

/// A kernel's one-row result for two scalar inputs, repeated to `n` rows.
fn broadcast(a: ArrayRef, n: usize) -> ArrayRef {
    if a.len() == n {
        a
    } else if a.len() == 1 {
        let idx = arrow::array::UInt32Array::from(vec![0u32; n]);
        arrow::compute::take(&a, &idx, None).unwrap_or(a)
    } else {
        a
    }
}

fn as_bool(a: &ArrayRef) -> Result<BooleanArray> {
    match a.data_type() {
        DataType::Boolean => Ok(a.as_boolean().clone()),
        DataType::Null => Ok(BooleanArray::new_null(a.len())),
        t => Err(Error::Schema(format!("expected boolean, got {t}"))),
    }
}

/// `l op r` with coercion; scalars stay scalars inside the kernels.
pub fn binary(l: &ColumnarValue, op: BinaryOp, r: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    let (operand, out_type) = coerce_binary(&l.data_type(), op, &r.data_type())?;
    let any_null = operand == DataType::Null
        || l.data_type() == DataType::Null
        || r.data_type() == DataType::Null;
    // NULL op x is NULL, except for the three-valued AND / OR below.
    if any_null && !matches!(op, BinaryOp::And | BinaryOp::Or) {
        return Ok(new_null_array(&out_type, n));
    }
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        let la = as_bool(&l.to_array(n))?;
        let ra = as_bool(&r.to_array(n))?;
        let out = if op == BinaryOp::And {
            boolean::and_kleene(&la, &ra)?
        } else {
            boolean::or_kleene(&la, &ra)?
        };
        return Ok(Arc::new(out));
    }
    if op.is_comparison() {
        if let Some(out) = decimal_comparison(l, op, r)? {
            return Ok(out);
        }
    }
    let (ld, rd) = if op.is_comparison() && super::float_keys::is_float(&operand) {
        (
            l.to_canonical_datum(&operand)?,
            r.to_canonical_datum(&operand)?,
        )
    } else {
        (l.to_datum(&operand)?, r.to_datum(&operand)?)
    };
    let (ld, rd) = (ld.as_ref(), rd.as_ref());
    let out: ArrayRef = match op {
        BinaryOp::Plus => numeric::add(ld, rd)?,
        BinaryOp::Minus => numeric::sub(ld, rd)?,
        BinaryOp::Multiply => numeric::mul(ld, rd)?,
        BinaryOp::Divide => divide(ld, rd)?,
        BinaryOp::IntegerDivide => numeric::div(ld, rd).map_err(|e| match e {
            arrow::error::ArrowError::DivideByZero => {
                Error::Plan("integer division by zero (//)".into())
            }
            e => e.into(),
        })?,
        BinaryOp::Modulo => numeric::rem(ld, rd).map_err(|e| match e {
            arrow::error::ArrowError::DivideByZero => Error::Plan("modulo by zero".into()),
            e => e.into(),
        })?,
        BinaryOp::Eq => Arc::new(cmp::eq(ld, rd)?),
        BinaryOp::NotEq => Arc::new(cmp::neq(ld, rd)?),
        BinaryOp::Lt => Arc::new(cmp::lt(ld, rd)?),
        BinaryOp::LtEq => Arc::new(cmp::lt_eq(ld, rd)?),
        BinaryOp::Gt => Arc::new(cmp::gt(ld, rd)?),
        BinaryOp::GtEq => Arc::new(cmp::gt_eq(ld, rd)?),
        BinaryOp::And | BinaryOp::Or => unreachable_op(op)?,
    };
    // Day numbers back to a date (`date ± n`).
    let out = if out_type == DataType::Date32 && *out.data_type() != DataType::Date32 {
        cast_to(&cast_to(&out, &DataType::Int32)?, &DataType::Date32)?
    } else {
        out
    };
    Ok(broadcast(out, n))
}

fn unreachable_op(op: BinaryOp) -> Result<ArrayRef> {
    Err(Error::Internal(format!("operator {op:?} handled above")))
}

/// Float division with IEEE semantics, as in DuckDB 2 and Polars: x / 0 is ±infinity
/// and 0 / 0 is NaN, never an error.
fn divide(l: &dyn Datum, r: &dyn Datum) -> Result<ArrayRef> {
    Ok(numeric::div(l, r)?)
}

fn case(
    branches: &[(Expr, Expr)],
    otherwise: Option<&Expr>,
    batch: &RecordBatch,
) -> Result<ArrayRef> {
    let n = batch.num_rows();
    let mut values = Vec::with_capacity(branches.len() + 1);
    for (_, v) in branches {
        values.push(evaluate_columnar(v, batch)?);
    }
    let other = match otherwise {
        Some(e) => evaluate_columnar(e, batch)?,
        None => ColumnarValue::Scalar(ScalarValue::Null),
    };
    let out_type = values
        .iter()
        .chain(std::iter::once(&other))
        .try_fold(DataType::Null, |acc, v| common_type(&acc, &v.data_type()))
        .ok_or_else(|| Error::Schema("CASE branches of incompatible types".into()))?;
    let mut result = cast_to(&other.to_array(n), &out_type)?;
    for ((cond, _), value) in branches.iter().zip(values).rev() {
        let c = evaluate_predicate(cond, batch)?;
        // A null condition does not match.
        let c = match c.nulls() {
            Some(_) => arrow::compute::prep_null_mask_filter(&c),
            None => c,
        };
        let v = cast_to(&value.to_array(n), &out_type)?;
        result = arrow::compute::kernels::zip::zip(&c, &v, &result)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Decimal128Array;

    /// Decimal column against number literals, both ways round, against comparisons of
    /// the unscaled integers done by hand; a literal with no exact form at the scale
    /// (0.055 at scale 2) still compares correctly through `Float64`.
    #[test]
    fn decimal_column_compares_exactly_with_literals() {
        let unscaled = [100_i128, 499, 500, 501, 2400, -700, 0, 5, 6];
        let column: ArrayRef = Arc::new(
            Decimal128Array::from(unscaled.iter().map(|v| Some(*v)).collect::<Vec<_>>())
                .with_precision_and_scale(15, 2)
                .unwrap(),
        );
        let col = ColumnarValue::Array(column);
        let n = unscaled.len();
        let cases = [
            (ScalarValue::Int64(24), 2400_f64),
            (ScalarValue::Float64(0.05), 5.0),
            (ScalarValue::Float64(5.0), 500.0),
            (ScalarValue::Float64(0.055), 5.5),
            (ScalarValue::Int64(-7), -700.0),
        ];
        for (literal, at_scale) in cases {
            let lit = ColumnarValue::Scalar(literal.clone());
            for op in [
                BinaryOp::Eq,
                BinaryOp::NotEq,
                BinaryOp::Lt,
                BinaryOp::LtEq,
                BinaryOp::Gt,
                BinaryOp::GtEq,
            ] {
                let expect = |a: f64, b: f64| match op {
                    BinaryOp::Eq => a == b,
                    BinaryOp::NotEq => a != b,
                    BinaryOp::Lt => a < b,
                    BinaryOp::LtEq => a <= b,
                    BinaryOp::Gt => a > b,
                    _ => a >= b,
                };
                let out = binary(&col, op, &lit, n).unwrap();
                let flipped = binary(&lit, op, &col, n).unwrap();
                for (i, v) in unscaled.iter().enumerate() {
                    let v = *v as f64;
                    assert_eq!(
                        out.as_boolean().value(i),
                        expect(v, at_scale),
                        "{v} {op:?} {literal:?}"
                    );
                    assert_eq!(
                        flipped.as_boolean().value(i),
                        expect(at_scale, v),
                        "{literal:?} {op:?} {v}"
                    );
                }
            }
        }
    }
}
