//! Scalar subqueries (`x < (SELECT …)`): lowered to `#sq<n>` columns inside a
//! conjunct, then joined in. An uncorrelated one must aggregate to one row and is
//! cross-joined; a correlated one is grouped by its correlation columns and joined on
//! them (inner, or left with `coalesce(…, 0)` when it is a count). The rules and their
//! limits are in the parent module's doc.

use std::sync::Arc;

use sqlparser::ast;

use super::super::context::Cx;
use super::super::expr::binary_op;
use super::super::scope::Scope;
use super::{plan_subquery, Sub};
use crate::error::{Error, Result};
use crate::expr::{AggFunc, Expr, ScalarValue};
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
    sub.value("scalar")?;
    if !sub.single_row {
        return Err(Error::NotSupported(format!(
            "scalar subquery that may return several rows ('{q}'); floe plans scalar \
             subqueries that aggregate without GROUP BY"
        )));
    }
    Ok(Arc::new(LogicalPlan::try_join(
        plan,
        sub.plan,
        JoinType::Inner,
        vec![],
        None,
    )?))
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
        let value = sub.value("scalar")?;
        if !sub.aggregating || !sub.single_row {
            return Err(Error::NotSupported(format!(
                "correlated scalar subquery that does not aggregate to one row ('{q}')"
            )));
        }
        // COUNT over no rows is 0, not the NULL an unmatched left join gives.
        let item = sub.items[0].unalias();
        let is_count = matches!(
            item,
            Expr::Aggregate {
                func: AggFunc::Count | AggFunc::CountStar | AggFunc::CountDistinct,
                ..
            }
        );
        let mut has_count = false;
        item.visit(&mut |x| {
            has_count |= matches!(
                x,
                Expr::Aggregate {
                    func: AggFunc::Count | AggFunc::CountStar | AggFunc::CountDistinct,
                    ..
                }
            )
        });
        if has_count && !is_count {
            return Err(Error::NotSupported(format!(
                "correlated scalar subquery computing from a count ('{q}')"
            )));
        }
        let join_type = if is_count {
            JoinType::Left
        } else {
            JoinType::Inner
        };
        plan = Arc::new(LogicalPlan::try_join(
            plan,
            sub.plan,
            join_type,
            vec![],
            Expr::conjunction(sub.correlated),
        )?);
        if is_count {
            let zero = Expr::Literal(ScalarValue::Int64(0));
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
