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
//! `INTERSECT` and `EXCEPT` (`MINUS`) are one aggregation over the tagged `UNION ALL`
//! of both inputs, so they run out of core as the aggregate does, and NULLs compare
//! equal as set operations require (a group key treats NULL as a value, a join would
//! not):
//!
//! ```text
//! a INTERSECT b        Project: every column
//!                        Filter: in_left > 0 AND in_right > 0     (EXCEPT: in_right = 0)
//!                          Aggregate: keys=[every column] aggs=[max(l) AS in_left, max(r) AS in_right]
//!                            Union: Project(a, 1 AS l, 0 AS r), Project(b renamed, 0 AS l, 1 AS r)
//! ```
//!
//! `INTERSECT ALL` and `EXCEPT ALL` keep duplicates: a row that is `m` times in the
//! left input and `n` times in the right one is kept `min(m, n)` times (`INTERSECT
//! ALL`) or `max(m - n, 0)` times (`EXCEPT ALL`). Over the same tagged union, a window
//! partitioned by every column numbers the left copies of each row (left rows first)
//! and counts its right copies; the left copies numbered up to (INTERSECT ALL) or past
//! (EXCEPT ALL) that count are kept. The window operator sorts and spills, so these run
//! out of core too:
//!
//! ```text
//! a INTERSECT ALL b    Project: every column
//!                        Filter: l = 1 AND copy <= in_right      (EXCEPT ALL: copy > in_right)
//!                          Window: partition by every column, order by l DESC:
//!                                  row_number() AS copy, sum(r) AS in_right
//!                            Union: Project(a, 1 AS l, 0 AS r), Project(b renamed, 0 AS l, 1 AS r)
//! ```
//!
//! `UNION [ALL] BY NAME` is [`Error::NotSupported`].

use std::sync::Arc;

use sqlparser::ast::{SetExpr, SetOperator, SetQuantifier};

use super::context::Cx;
use crate::error::{Error, Result};
use crate::expr::{lit, row_number, Expr, SortExpr};
use crate::plan::LogicalPlan;

/// The plan of `left <op> right`.
pub(crate) fn plan_set_operation(
    cx: &Cx,
    left: &SetExpr,
    op: &SetOperator,
    quantifier: &SetQuantifier,
    right: &SetExpr,
) -> Result<LogicalPlan> {
    let keep = match op {
        SetOperator::Union => None,
        SetOperator::Intersect => Some(Keep::InBoth),
        SetOperator::Except | SetOperator::Minus => Some(Keep::OnlyLeft),
    };
    if let Some(keep) = keep {
        let all = match quantifier {
            SetQuantifier::Distinct | SetQuantifier::None => false,
            SetQuantifier::All => true,
            other => return Err(Error::NotSupported(format!("{op} {other}"))),
        };
        let left = super::plan_set_expr(cx, left)?;
        let right = super::plan_set_expr(cx, right)?;
        let right = rename_like(Arc::new(right), &left)?;
        return intersect_or_except(Arc::new(left), right, keep, all);
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

/// Which rows of the left input a set operation keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// `INTERSECT`: rows also in the right input.
    InBoth,
    /// `EXCEPT`: rows not in the right input.
    OnlyLeft,
}

/// The distinct rows of `left` that are (`InBoth`) or are not (`OnlyLeft`) in `right`,
/// whose columns already carry the left input's names; with `all`, as many copies as
/// the multiset operation keeps.
fn intersect_or_except(
    left: Arc<LogicalPlan>,
    right: Arc<LogicalPlan>,
    keep: Keep,
    all: bool,
) -> Result<LogicalPlan> {
    let columns: Vec<Expr> = left
        .schema()
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    // Tag names that no input column can have (both inputs have the same names).
    let taken = |name: &str| columns.iter().any(|c| c.output_name() == name);
    let mut suffix = String::new();
    while taken(&format!("__in_left{suffix}")) || taken(&format!("__in_right{suffix}")) {
        suffix.push('_');
    }
    let (l, r) = (format!("__in_left{suffix}"), format!("__in_right{suffix}"));
    let tagged = |plan: Arc<LogicalPlan>, in_left: i64| -> Result<Arc<LogicalPlan>> {
        let mut exprs = columns.clone();
        exprs.push(lit(in_left).alias(l.clone()));
        exprs.push(lit(1 - in_left).alias(r.clone()));
        Ok(Arc::new(LogicalPlan::try_project(plan, exprs)?))
    };
    let union = LogicalPlan::try_union(vec![tagged(left, 1)?, tagged(right, 0)?])?;
    if all {
        return multiset_intersect_or_except(Arc::new(union), columns, (&l, &r), keep);
    }
    let aggregate = LogicalPlan::try_aggregate(
        Arc::new(union),
        columns.clone(),
        vec![
            Expr::Column(l.clone()).max().alias(l.clone()),
            Expr::Column(r.clone()).max().alias(r.clone()),
        ],
    )?;
    let in_right = match keep {
        Keep::InBoth => Expr::Column(r).gt(lit(0i64)),
        Keep::OnlyLeft => Expr::Column(r).eq(lit(0i64)),
    };
    let filter = LogicalPlan::try_filter(
        Arc::new(aggregate),
        Expr::Column(l).gt(lit(0i64)).and(in_right),
    )?;
    LogicalPlan::try_project(Arc::new(filter), columns)
}

/// `INTERSECT ALL` / `EXCEPT ALL` over the tagged union (tag columns `l`, `r`).
fn multiset_intersect_or_except(
    union: Arc<LogicalPlan>,
    columns: Vec<Expr>,
    (l, r): (&str, &str),
    keep: Keep,
) -> Result<LogicalPlan> {
    let (copy, in_right) = (format!("{l}_copy"), format!("{r}_count"));
    let mut exprs = columns.clone();
    exprs.push(Expr::Column(l.to_string()));
    exprs.push(
        row_number()
            .over_ordered(
                columns.clone(),
                [SortExpr::desc(Expr::Column(l.to_string()))],
            )
            .alias(copy.clone()),
    );
    exprs.push(
        Expr::Column(r.to_string())
            .sum()
            .over(columns.clone())
            .alias(in_right.clone()),
    );
    let (below, exprs) = crate::plan::window::lift(&union, exprs)?;
    let numbered = Arc::new(LogicalPlan::try_project(below, exprs)?);
    let (copy, in_right) = (Expr::Column(copy), Expr::Column(in_right));
    let kept = match keep {
        Keep::InBoth => copy.lt_eq(in_right),
        Keep::OnlyLeft => copy.gt(in_right),
    };
    let filter = LogicalPlan::try_filter(
        numbered,
        Expr::Column(l.to_string()).eq(lit(1i64)).and(kept),
    )?;
    LogicalPlan::try_project(Arc::new(filter), columns)
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
