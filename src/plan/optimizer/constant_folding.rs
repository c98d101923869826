//! Constant folding: a sub-expression whose inputs are all literals is evaluated once
//! at plan time and replaced by its value (`lit(2) * lit(3)` → `6`,
//! `CAST('2024-01-01' AS DATE)` → a date literal), so the kernels do not redo it per
//! morsel and scans see literals they can prune with.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::Schema;

use crate::error::Result;
use crate::expr::eval::evaluate;
use crate::expr::{Expr, ScalarValue};
use crate::plan::LogicalPlan;

/// Folds constants in every expression of the plan.
pub fn fold_plan(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let node = plan.map_inputs(fold_plan)?;
    Ok(match node {
        LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
            input,
            predicate: fold(predicate),
        },
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => LogicalPlan::Project {
            input,
            exprs: exprs.into_iter().map(fold).collect(),
            schema,
        },
        other => other,
    })
}

/// Folds the literal-only sub-expressions of `expr`.
pub fn fold(expr: Expr) -> Expr {
    expr.transform(&mut |e| {
        let foldable = !matches!(
            e,
            Expr::Literal(_)
                | Expr::Column(_)
                | Expr::Alias(..)
                | Expr::Aggregate { .. }
                | Expr::Window(_)
        ) && e.children().iter().all(|c| matches!(c, Expr::Literal(_)));
        if !foldable {
            return e;
        }
        match evaluate_constant(&e) {
            Some(v) => Expr::Literal(v),
            None => e,
        }
    })
}

fn evaluate_constant(e: &Expr) -> Option<ScalarValue> {
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    let batch =
        RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).ok()?;
    let array = evaluate(e, &batch).ok()?;
    let value = ScalarValue::try_from_array(array.as_ref(), 0).ok()?;
    // Only fold when the literal keeps the exact type (a CAST to Int32 must stay Int32).
    (value.data_type() == *array.data_type() || value.is_null() && array.data_type().is_null())
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};

    #[test]
    fn folds_arithmetic_and_keeps_columns() {
        let e = col("a").gt(lit(2).mul(lit(3)));
        assert_eq!(fold(e), col("a").gt(lit(6)));
        let e = lit("2024-01-05").cast(arrow::datatypes::DataType::Date32);
        assert_eq!(fold(e), Expr::Literal(ScalarValue::Date32(19727)));
    }

    #[test]
    fn leaves_errors_for_runtime() {
        // 1 % 0 fails; folding must not hide or change that.
        let e = lit(1).rem(lit(0));
        assert_eq!(fold(e.clone()), e);
    }
}
