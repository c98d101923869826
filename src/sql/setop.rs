//! Set operations: `UNION ALL` and `UNION`, also chained.
//!
//! SQL matches the inputs' columns by position and names them after the first input,
//! while [`LogicalPlan::try_union`] matches by name, so every later input is first
//! renamed to the first input's names. `UNION` (distinct) is an aggregation grouped by
//! every column over the `UNION ALL`. Runs of `UNION ALL` become one Union node:
//!
//! ```text
//! a UNION ALL b UNION c        Aggregate: keys=[every column] aggs=[]
//!                                Union: 3 inputs
//!                                  a, Project(b renamed), Project(c renamed)
//! ```
//!
//! `INTERSECT`, `EXCEPT`, `MINUS` and `UNION [ALL] BY NAME` are [`Error::NotSupported`].

use std::sync::Arc;

use sqlparser::ast::{SetExpr, SetOperator, SetQuantifier};

use super::context::Cx;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::LogicalPlan;

/// The plan of `left <op> right`.
pub(crate) fn plan_set_operation(
    cx: &Cx,
    left: &SetExpr,
    op: &SetOperator,
    quantifier: &SetQuantifier,
    right: &SetExpr,
) -> Result<LogicalPlan> {
    if !matches!(op, SetOperator::Union) {
        return Err(Error::NotSupported(op.to_string()));
    }
    let distinct = match quantifier {
        SetQuantifier::All => false,
        SetQuantifier::Distinct | SetQuantifier::None => true,
        other => return Err(Error::NotSupported(format!("UNION {other}"))),
    };
    let left = super::plan_set_expr(cx, left)?;
    let right = super::plan_set_expr(cx, right)?;
    let right = rename_like(Arc::new(right), &left)?;
    // A Union node is always UNION ALL of its inputs, so it can take one more.
    let inputs = match left {
        LogicalPlan::Union { inputs, .. } => {
            let mut inputs = inputs;
            inputs.push(right);
            inputs
        }
        other => vec![Arc::new(other), right],
    };
    let union = LogicalPlan::try_union(inputs)?;
    if distinct {
        distinct_rows(Arc::new(union))
    } else {
        Ok(union)
    }
}

/// Distinct rows: an aggregation grouped by every column.
pub(crate) fn distinct_rows(input: Arc<LogicalPlan>) -> Result<LogicalPlan> {
    let keys = input
        .schema()
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    LogicalPlan::try_aggregate(input, keys, vec![])
}

/// `plan` with its columns renamed, by position, to those of `like`.
fn rename_like(plan: Arc<LogicalPlan>, like: &LogicalPlan) -> Result<Arc<LogicalPlan>> {
    let (have, want) = (plan.schema(), like.schema());
    if have.fields().len() != want.fields().len() {
        return Err(Error::Schema(format!(
            "UNION inputs have {} and {} columns; each must have the same number",
            want.fields().len(),
            have.fields().len()
        )));
    }
    if have
        .fields()
        .iter()
        .zip(want.fields())
        .all(|(h, w)| h.name() == w.name())
    {
        return Ok(plan);
    }
    let exprs = have
        .fields()
        .iter()
        .zip(want.fields())
        .map(|(h, w)| {
            let c = Expr::Column(h.name().clone());
            if h.name() == w.name() {
                c
            } else {
                c.alias(w.name().clone())
            }
        })
        .collect();
    Ok(Arc::new(LogicalPlan::try_project(plan, exprs)?))
}
