//! Row-group pruning from Parquet statistics.
//!
//! For each pushed filter, [`keep_row_groups`] computes, vectorised over all row groups
//! of a file, whether a row group *might* hold a row that satisfies it; a row group is
//! read only if every filter says it might. Understood forms:
//!
//! | filter                       | row group may match if                 |
//! |------------------------------|----------------------------------------|
//! | `c = v`                      | `min <= v AND max >= v`                |
//! | `c < v`, `c <= v`            | `min < v`, `min <= v`                  |
//! | `c > v`, `c >= v`            | `max > v`, `max >= v`                  |
//! | `v op c`                     | as `c op' v` with the operator flipped |
//! | `c IN (v1, ..)`              | any `c = vi` may match                 |
//! | `c IS NULL` / `IS NOT NULL`  | null count > 0 / null count < rows     |
//! | `a AND b`, `a OR b`          | both / either                          |
//!
//! Everything else, and every case where a statistic is missing, unreadable or of
//! doubtful meaning, keeps the row group: pruning is an optimisation, the filters are
//! applied exactly afterwards. Doubtful cases: `>`-style bounds on floats (NaN sorts
//! above every number in arrow but is left out of Parquet statistics), string bounds
//! from writers that predate defined column orders, NULL and NaN literals.
//! Memory: a few arrays with one value per row group.

use arrow::array::{Array, BooleanArray, UInt64Array};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::ColumnOrder;

use crate::expr::eval::{binary, ColumnarValue};
use crate::expr::{BinaryOp, Expr, ScalarValue};

/// Per row group of the file: `true` if it may hold rows satisfying all `filters`.
pub(crate) fn keep_row_groups(metadata: &ArrowReaderMetadata, filters: &[Expr]) -> Vec<bool> {
    let n = metadata.metadata().num_row_groups();
    let mut keep = vec![true; n];
    for f in filters {
        if let Some(mask) = may_match(metadata, f) {
            for (k, m) in keep.iter_mut().zip(mask) {
                *k &= m;
            }
        }
    }
    keep
}

/// `None`: the filter says nothing about row groups.
fn may_match(meta: &ArrowReaderMetadata, expr: &Expr) -> Option<Vec<bool>> {
    match expr.unalias() {
        Expr::Binary {
            left,
            op: BinaryOp::And,
            right,
        } => match (may_match(meta, left), may_match(meta, right)) {
            (Some(a), Some(b)) => Some(a.iter().zip(b).map(|(x, y)| *x && y).collect()),
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
        },
        Expr::Binary {
            left,
            op: BinaryOp::Or,
            right,
        } => {
            let (a, b) = (may_match(meta, left)?, may_match(meta, right)?);
            Some(a.iter().zip(b).map(|(x, y)| *x || y).collect())
        }
        Expr::Binary { left, op, right } if op.is_comparison() => {
            match (left.unalias(), right.unalias()) {
                (Expr::Column(c), Expr::Literal(v)) => compare(meta, c, *op, v),
                (Expr::Literal(v), Expr::Column(c)) => compare(meta, c, flip(*op)?, v),
                _ => None,
            }
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => {
            let Expr::Column(c) = expr.unalias() else {
                return None;
            };
            let mut acc: Option<Vec<bool>> = None;
            for item in list {
                let Expr::Literal(v) = item.unalias() else {
                    return None;
                };
                let m = compare(meta, c, BinaryOp::Eq, v)?;
                acc = Some(match acc {
                    None => m,
                    Some(a) => a.iter().zip(m).map(|(x, y)| *x || y).collect(),
                });
            }
            acc
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            let Expr::Column(c) = e.unalias() else {
                return None;
            };
            let converter = converter(meta, c)?;
            let groups = meta.metadata().row_groups();
            let nulls: UInt64Array = converter.row_group_null_counts(groups.iter()).ok()?;
            let is_null = matches!(expr.unalias(), Expr::IsNull(_));
            let mask = groups
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    if i >= nulls.len() || nulls.is_null(i) {
                        return true;
                    }
                    let count = nulls.value(i);
                    if is_null {
                        count > 0
                    } else {
                        count < g.num_rows().max(0) as u64
                    }
                })
                .collect();
            Some(mask)
        }
        _ => None,
    }
}

fn flip(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        _ => return None,
    })
}

fn converter<'a>(meta: &'a ArrowReaderMetadata, column: &str) -> Option<StatisticsConverter<'a>> {
    let c = StatisticsConverter::try_new(column, meta.schema(), meta.parquet_schema()).ok()?;
    let leaf = c.parquet_column_index()?;
    if is_bytes(c.arrow_field().data_type()) {
        // Byte-array bounds are only trustworthy with a defined (unsigned) column order.
        let order = meta
            .metadata()
            .file_metadata()
            .column_orders()
            .and_then(|o| o.get(leaf).copied());
        if !matches!(order, Some(ColumnOrder::TYPE_DEFINED_ORDER(_))) {
            return None;
        }
    }
    Some(c.with_missing_null_counts_as_zero(false))
}

fn is_bytes(t: &DataType) -> bool {
    match t {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::Dictionary(_, v) => is_bytes(v),
        _ => false,
    }
}

fn compare(
    meta: &ArrowReaderMetadata,
    column: &str,
    op: BinaryOp,
    value: &ScalarValue,
) -> Option<Vec<bool>> {
    if value.is_null() || matches!(value, ScalarValue::Float64(x) if x.is_nan()) {
        return None;
    }
    let converter = converter(meta, column)?;
    let float = converter.arrow_field().data_type().is_floating();
    let groups = meta.metadata().row_groups();
    let n = groups.len();
    let literal = ColumnarValue::Scalar(value.clone());
    let bound = |stats: arrow::array::ArrayRef, op: BinaryOp| -> Option<Vec<bool>> {
        if stats.len() != n {
            return None;
        }
        let out = binary(&ColumnarValue::Array(stats), op, &literal, n).ok()?;
        let out = out.as_any().downcast_ref::<BooleanArray>()?;
        // An unknown bound (null) keeps the row group.
        Some((0..n).map(|i| out.is_null(i) || out.value(i)).collect())
    };
    let mins = || converter.row_group_mins(groups.iter()).ok();
    let maxes = || converter.row_group_maxes(groups.iter()).ok();
    match op {
        BinaryOp::Eq => {
            let lo = bound(mins()?, BinaryOp::LtEq)?;
            let hi = bound(maxes()?, BinaryOp::GtEq)?;
            Some(lo.iter().zip(hi).map(|(a, b)| *a && b).collect())
        }
        BinaryOp::Lt | BinaryOp::LtEq if !float => bound(mins()?, op),
        BinaryOp::Gt | BinaryOp::GtEq if !float => bound(maxes()?, op),
        _ => None,
    }
}
