//! Subqueries inside expressions: `EXISTS (q)` and `x IN (q)` under OR, NOT or CASE,
//! or in the select list, become boolean *mark* columns joined onto the outer plan
//! (DuckDB's mark join), so every outer row is kept whatever its mark says. No
//! subquery runs once per row:
//!
//! ```text
//! EXISTS (q)   uncorrelated: Cross(P, Project[n > 0 AS m](Aggregate[count(*) n](Limit 1 (q))))
//!              correlated on inner = outer equalities k = o:
//!                Project P.*, coalesce(hit, false) AS m
//!                  Left(P, Project[k, true AS hit](Aggregate keys=k (q)), on k = o)
//! x IN (q)     Left(P, Project[k, v, true AS hit](Aggregate keys=(k, v) (q)), on k = o AND v = x)
//!              then Left (Cross when uncorrelated) with
//!                Aggregate keys=k [count(*) n, count(v) nn] (q), on k = o
//!              m = CASE WHEN hit THEN true WHEN n IS NULL OR n = 0 THEN false
//!                       WHEN x IS NULL OR nn < n THEN NULL ELSE false END
//! ```
//!
//! The joined sides hold one row per key, so the left joins never repeat an outer row,
//! and `m` follows SQL's three-valued IN (NULL when `x` is NULL or the subquery holds a
//! NULL and nothing matched), so `NOT` over a mark is exact too. Memory and spilling
//! are the aggregates' and the hash joins'. Correlation other than `inner = outer`
//! equalities is [`Error::NotSupported`] here.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::DataType;

use super::super::context::{Cx, Outer};
use super::super::scope::{MarkKind, SubqueryMark};
use super::{plan_subquery, Sub};
use crate::error::{Error, Result};
use crate::expr::{len, lit, null, when, BinaryOp, Expr};
use crate::plan::{JoinType, LogicalPlan};

/// Joins each mark's column onto `plan` (an outer query's rows, `here` its FROM items).
pub(crate) fn join_marks(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    here: &Outer,
    marks: Vec<SubqueryMark>,
) -> Result<Arc<LogicalPlan>> {
    let sub_cx = cx.with_outer(here.clone());
    let mut plan = plan;
    for mark in marks {
        plan = join_mark(&sub_cx, plan, &mark)?;
    }
    Ok(plan)
}

/// A correlation equality split into its inner side (over the subquery's columns) and
/// its outer side.
struct Key {
    inner: Expr,
    outer: Expr,
}

fn join_mark(cx: &Cx, plan: Arc<LogicalPlan>, mark: &SubqueryMark) -> Result<Arc<LogicalPlan>> {
    let name = &mark.name;
    let sub = plan_subquery(cx, &mark.query, &format!("{name}#q"))?;
    let inner_names: HashSet<String> = sub
        .plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let keys = sub
        .correlated
        .iter()
        .map(|c| {
            equality(c, &inner_names).ok_or_else(|| {
                Error::NotSupported(format!(
                    "a subquery inside an expression correlated by {c}: only inner = outer \
                     equalities are decorrelated there ('{}')",
                    mark.query
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let outer_columns: Vec<Expr> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    match &mark.kind {
        MarkKind::Exists => exists_mark(plan, sub, &keys, name, outer_columns),
        MarkKind::In(x) => in_mark(plan, sub, &keys, x, name, outer_columns),
    }
}

/// `inner = outer` with one side over `inner` columns only and the other over none.
fn equality(c: &Expr, inner: &HashSet<String>) -> Option<Key> {
    let Expr::Binary {
        left,
        op: BinaryOp::Eq,
        right,
    } = c
    else {
        return None;
    };
    let side = |e: &Expr| {
        let refs = e.column_refs();
        let n = refs.iter().filter(|r| inner.contains(r.as_str())).count();
        (n == refs.len() && n > 0, n == 0)
    };
    match (side(left), side(right)) {
        ((true, _), (_, true)) => Some(Key {
            inner: left.as_ref().clone(),
            outer: right.as_ref().clone(),
        }),
        ((_, true), (true, _)) => Some(Key {
            inner: right.as_ref().clone(),
            outer: left.as_ref().clone(),
        }),
        _ => None,
    }
}

/// The distinct key tuples of `sub` (keys named `<name>#k<i>`, then `extra`), each
/// with `true AS <name>#hit`.
fn distinct_hits(
    sub: &Arc<LogicalPlan>,
    keys: &[Key],
    extra: Option<(Expr, String)>,
    name: &str,
) -> Result<Arc<LogicalPlan>> {
    let mut exprs: Vec<Expr> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| k.inner.clone().alias(format!("{name}#k{i}")))
        .collect();
    if let Some((e, n)) = extra {
        exprs.push(e.alias(n));
    }
    let names: Vec<Expr> = exprs
        .iter()
        .map(|e| Expr::Column(e.output_name()))
        .collect();
    let projected = LogicalPlan::try_project(Arc::clone(sub), exprs)?;
    let distinct = LogicalPlan::try_aggregate(Arc::new(projected), names.clone(), vec![])?;
    let mut out = names;
    out.push(lit(true).alias(format!("{name}#hit")));
    Ok(Arc::new(LogicalPlan::try_project(Arc::new(distinct), out)?))
}

/// `k<i> = outer<i>` for every key, over columns named `<name>#<tag><i>`.
fn key_condition(keys: &[Key], name: &str, tag: &str) -> Vec<Expr> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| Expr::Column(format!("{name}#{tag}{i}")).eq(k.outer.clone()))
        .collect()
}

fn exists_mark(
    plan: Arc<LogicalPlan>,
    sub: Sub,
    keys: &[Key],
    name: &str,
    outer_columns: Vec<Expr>,
) -> Result<Arc<LogicalPlan>> {
    if keys.is_empty() {
        let n = format!("{name}#n");
        let one = LogicalPlan::limit(sub.plan, 0, 1);
        let count = LogicalPlan::try_aggregate(Arc::new(one), vec![], vec![len().alias(&n)])?;
        let m = LogicalPlan::try_project(
            Arc::new(count),
            vec![Expr::Column(n).gt(lit(0i64)).alias(name)],
        )?;
        return Ok(Arc::new(LogicalPlan::try_join(
            plan,
            Arc::new(m),
            JoinType::Inner,
            vec![],
            None,
        )?));
    }
    let hits = distinct_hits(&sub.plan, keys, None, name)?;
    let joined = LogicalPlan::try_join(
        plan,
        hits,
        JoinType::Left,
        vec![],
        Expr::conjunction(key_condition(keys, name, "k")),
    )?;
    let mut out = outer_columns;
    out.push(
        Expr::Column(format!("{name}#hit"))
            .fill_null(lit(false))
            .alias(name),
    );
    Ok(Arc::new(LogicalPlan::try_project(Arc::new(joined), out)?))
}

fn in_mark(
    plan: Arc<LogicalPlan>,
    sub: Sub,
    keys: &[Key],
    x: &Expr,
    name: &str,
    outer_columns: Vec<Expr>,
) -> Result<Arc<LogicalPlan>> {
    let v = sub.value("IN")?;
    let value = format!("{name}#v");
    let hits = distinct_hits(&sub.plan, keys, Some((v.clone(), value.clone())), name)?;
    let mut on = key_condition(keys, name, "k");
    on.push(Expr::Column(value).eq(x.clone()));
    let joined = LogicalPlan::try_join(plan, hits, JoinType::Left, vec![], Expr::conjunction(on))?;

    // Per key: how many rows, and how many non-NULL values.
    let (n, nn) = (format!("{name}#n"), format!("{name}#nn"));
    let mut exprs: Vec<Expr> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| k.inner.clone().alias(format!("{name}#c{i}")))
        .collect();
    let group: Vec<Expr> = exprs
        .iter()
        .map(|e| Expr::Column(e.output_name()))
        .collect();
    exprs.push(v.alias(format!("{name}#cv")));
    let projected = LogicalPlan::try_project(sub.plan, exprs)?;
    let counts = LogicalPlan::try_aggregate(
        Arc::new(projected),
        group,
        vec![
            len().alias(&n),
            Expr::Column(format!("{name}#cv")).count().alias(&nn),
        ],
    )?;
    let (join_type, condition) = if keys.is_empty() {
        (JoinType::Inner, None)
    } else {
        (
            JoinType::Left,
            Expr::conjunction(key_condition(keys, name, "c")),
        )
    };
    let joined = LogicalPlan::try_join(
        Arc::new(joined),
        Arc::new(counts),
        join_type,
        vec![],
        condition,
    )?;
    let (n, nn) = (Expr::Column(n), Expr::Column(nn));
    let unknown = Expr::Cast {
        expr: Box::new(null()),
        to: DataType::Boolean,
    };
    let m = when(Expr::Column(format!("{name}#hit")).is_not_null())
        .then(lit(true))
        .when(n.clone().is_null().or(n.clone().eq(lit(0i64))))
        .then(lit(false))
        .when(x.clone().is_null().or(nn.lt(n)))
        .then(unknown)
        .otherwise(lit(false));
    let mut out = outer_columns;
    out.push(m.alias(name));
    Ok(Arc::new(LogicalPlan::try_project(Arc::new(joined), out)?))
}
