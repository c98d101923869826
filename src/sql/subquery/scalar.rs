//! Scalar subqueries (`x < (SELECT …)`): lowered to `#sq<n>` columns inside a
//! conjunct, then joined in. An uncorrelated one is cross-joined: as it is when it
//! aggregates to one row, else through `first` and a row count that fails the query
//! at run time if it returns several rows (DuckDB's rule); a correlated one is grouped by its correlation columns and joined on
//! them (inner, or left with `coalesce(…, 0)` when it is a count). The rules and their
//! limits are in the parent module's doc.

use std::sync::Arc;

use sqlparser::ast;

use super::super::context::Cx;
use super::super::expr::binary_op;
use super::super::scope::Scope;
use super::{plan_subquery, Sub};
use crate::error::{Error, Result};
use crate::expr::{AggFunc, Expr, ScalarFunc, ScalarValue};
use crate::plan::{JoinType, LogicalPlan};

/// Lowers `e`, turning scalar subqueries that sit under comparisons and arithmetic
/// only into `#sq<n>` placeholder columns (recorded in `pending`).
pub(super) fn lower_scalar<'q>(
    cx: &Cx,
    scope: &Scope,
    e: &'q ast::Expr,
    pending: &mut Vec<(&'q ast::Query, String)>,
) -> Result<Expr> {
    // Anything without a subquery lowers as usual (a subquery makes this fail).
    let err = match scope.expr(e) {
        Ok(x) => return Ok(x),
        Err(err) => err,
    };
    match e {
        ast::Expr::Subquery(q) => {
            let name = format!("#sq{}", cx.next_id());
            pending.push((q, name.clone()));
            Ok(Expr::Column(name))
        }
        ast::Expr::Nested(inner) => lower_scalar(cx, scope, inner, pending),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => Ok(Expr::Negative(Box::new(lower_scalar(
            cx, scope, expr, pending,
        )?))),
        // Not `NOT BETWEEN`: `NOT (x >= NULL AND x <= 5)` can be true, so a NULL value
        // would not filter the row.
        ast::Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => Ok(lower_scalar(cx, scope, expr, pending)?.between(
            lower_scalar(cx, scope, low, pending)?,
            lower_scalar(cx, scope, high, pending)?,
        )),
        ast::Expr::BinaryOp { left, op, right } => match binary_op(op) {
            Ok(op) if op.is_comparison() || op.is_arithmetic() => Ok(Expr::Binary {
                left: Box::new(lower_scalar(cx, scope, left, pending)?),
                op,
                right: Box::new(lower_scalar(cx, scope, right, pending)?),
            }),
            _ => Err(err),
        },
        _ => Err(err),
    }
}

/// Joins the one-row result of an uncorrelated scalar subquery onto every row.
pub(super) fn cross_join_one_row(
    plan: Arc<LogicalPlan>,
    sub: Sub,
    q: &ast::Query,
) -> Result<Arc<LogicalPlan>> {
    let value = sub.value("scalar")?;
    let one_row = if sub.single_row {
        sub.plan
    } else {
        at_most_one_row(sub.plan, value, q)?
    };
    Ok(Arc::new(LogicalPlan::try_join(
        plan,
        one_row,
        JoinType::Inner,
        vec![],
        None,
    )?))
}

/// The one-row result of a scalar subquery that may return any number of rows: its
/// value (NULL for no rows), or an error when it returns several, as in DuckDB:
///
/// ```text
/// Project: single_value(v, n) AS #sq0
///   Aggregate: keys=[] aggs=[first(#sq0) AS v, count(*) AS n]
/// ```
fn at_most_one_row(
    plan: Arc<LogicalPlan>,
    value: Expr,
    q: &ast::Query,
) -> Result<Arc<LogicalPlan>> {
    let Expr::Column(name) = &value else {
        return Err(Error::Internal(format!(
            "scalar subquery value {value} ('{q}')"
        )));
    };
    let (v, n) = (format!("{name}#value"), format!("{name}#rows"));
    let aggregate = LogicalPlan::try_aggregate(
        plan,
        vec![],
        vec![
            value.clone().first().alias(v.clone()),
            crate::expr::len().alias(n.clone()),
        ],
    )?;
    let single = Expr::Function {
        func: ScalarFunc::SingleValue,
        args: vec![Expr::Column(v), Expr::Column(n)],
    };
    Ok(Arc::new(LogicalPlan::try_project(
        Arc::new(aggregate),
        vec![single.alias(name.clone())],
    )?))
}

/// Joins correlated scalar subquery `sub` (grouped by its correlation columns, so at
/// most one row per outer row) onto `plan` on its correlation predicates: an inner
/// join where a NULL value drops the row anyway (`keep_unmatched` false), else a left
/// join, whose unmatched rows get NULL, the value of an aggregate over no rows. For a
/// count, whose value over no rows is 0, the join is a left join and the placeholder
/// and 0 are returned for the caller to fill the NULLs with.
#[allow(clippy::type_complexity)]
pub(super) fn join_correlated(
    plan: Arc<LogicalPlan>,
    sub: Sub,
    q: &ast::Query,
    keep_unmatched: bool,
) -> Result<(Arc<LogicalPlan>, Option<(Expr, Expr)>)> {
    let value = sub.value("scalar")?;
    if !sub.aggregating || !sub.single_row {
        return Err(Error::NotSupported(format!(
            "correlated scalar subquery that does not aggregate to one row ('{q}')"
        )));
    }
    // COUNT over no rows is 0, not the NULL an unmatched left join gives.
    let item = sub.items[0].unalias();
    let is_count = is_count_aggregate(item);
    let mut has_count = false;
    item.visit(&mut |x| has_count |= is_count_aggregate(x));
    if has_count && !is_count {
        return Err(Error::NotSupported(format!(
            "correlated scalar subquery computing from a count ('{q}')"
        )));
    }
    let join_type = if is_count || keep_unmatched {
        JoinType::Left
    } else {
        JoinType::Inner
    };
    let plan = Arc::new(LogicalPlan::try_join(
        plan,
        sub.plan,
        join_type,
        vec![],
        Expr::conjunction(sub.correlated),
    )?);
    let count = is_count.then_some((value, Expr::Literal(ScalarValue::Int64(0))));
    Ok((plan, count))
}

/// Whether `e` is a count, whose value over no rows is 0 (not NULL).
fn is_count_aggregate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Aggregate {
            func: AggFunc::Count | AggFunc::CountStar | AggFunc::CountDistinct,
            ..
        }
    )
}

/// A conjunct `e` over scalar subqueries' placeholders: each subquery joined, then
/// the filter. `e` is a conjunct with the placeholders under comparisons and
/// arithmetic only, so a NULL value drops the row and inner joins are exact.
pub(super) fn scalar(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    e: Expr,
    pending: &[(&ast::Query, String)],
) -> Result<Arc<LogicalPlan>> {
    let mut plan = plan;
    let mut e = e;
    for (q, name) in pending {
        let sub = plan_subquery(cx, q, name)?;
        if sub.correlated.is_empty() {
            plan = cross_join_one_row(plan, sub, q)?;
            continue;
        }
        let (joined, count) = join_correlated(plan, sub, q, false)?;
        plan = joined;
        if let Some((value, zero)) = count {
            e = e.transform(&mut |x| {
                if x == value {
                    x.fill_null(zero.clone())
                } else {
                    x
                }
            });
        }
    }
    Ok(Arc::new(LogicalPlan::try_filter(plan, e)?))
}
