//! Subqueries in WHERE and HAVING conjuncts, decorrelated into joins and aggregates;
//! no subquery ever runs once per row.
//!
//! A predicate is split at its top-level ANDs. Conjuncts without subqueries filter
//! first; then each subquery conjunct joins the plan so far (`P`) with the
//! subquery's plan (`S`, its columns renamed `#sq<n>…` so they cannot clash):
//!
//! ```text
//! x IN (S)            Semi(P, S, filter: x = s [AND correlation])
//! EXISTS (S)          Semi(P, S, filter: correlation)   -- uncorrelated: S is LIMIT 1
//! NOT EXISTS (S)      Anti(P, S, filter: correlation)
//! x NOT IN (S)        Project P.*                       -- SQL NULL semantics:
//!                       Filter n = 0 OR (x IS NOT NULL AND n = nn)
//!                         Cross(Anti(P, S, x = s), Aggregate[count(*) n, count(s) nn](S))
//!                     correlated: Anti(P, S, corr AND (x = s OR x IS NULL OR s IS NULL))
//! x < (S)             Filter x < #sq<n>                  -- S aggregates to one row:
//!                       Cross(P, S)                     --   uncorrelated
//!                       Inner(P, S grouped by its correlation columns, keys)
//!                                                       --   correlated; Left join +
//!                                                       --   coalesce(…, 0) for count
//! ```
//!
//! **Correlation.** A subquery is planned with the enclosing SELECT's FROM items as
//! its outer names (`scope.rs`): names its own FROM binds shadow them, others resolve
//! outward to tagged columns. Its WHERE conjuncts holding tagged columns are taken out
//! (they are the correlation predicates) and the inner columns they use become extra
//! output columns `#corr<i>` of the subquery, extra grouping keys when it aggregates
//! (which needs every correlation predicate to be `inner = outer`). The join condition
//! is the correlation predicates over the renamed columns; the optimizer turns its
//! equalities into join keys and leaves the rest (Q21's `l3.l_suppkey <> l1.l_suppkey`)
//! as the join's filter.
//!
//! Where a NULL result filters the row anyway (inside comparisons and arithmetic at the
//! top of a conjunct) a correlated scalar subquery is inner-joined; in the select list
//! and under OR, NOT or CASE it is left-joined (grouped by its correlation columns, it
//! has at most one row per outer row, so the left join neither drops nor repeats rows).
//! Correlated scalar subqueries that do not aggregate or have their own GROUP BY, and
//! correlation in HAVING, are [`Error::NotSupported`]. An
//! uncorrelated scalar subquery that may return several rows fails at run time if it
//! does (`subquery/scalar.rs`).

mod mark;
mod scalar;

use std::sync::Arc;

use sqlparser::ast::{self, SetExpr};

pub(crate) use self::mark::join_marks;
use self::scalar::{cross_join_one_row, lower_scalar, scalar};

use super::context::{Cx, Outer};
use super::scope::{
    is_correlated, outer_column, ScalarSubqueries, Scope, SubqueryMark, SubqueryMarks,
};
use crate::error::{Error, Result};
use crate::expr::{AggFunc, BinaryOp, Expr, ScalarValue};
use crate::plan::{JoinType, LogicalPlan};

/// The name of a subquery's `i`-th correlation column.
pub(crate) fn corr_name(i: usize) -> String {
    format!("#corr{i}")
}

/// A filtered plan, and the conjuncts that refer to the enclosing query (a subquery's
/// correlation predicates, for its caller to join on).
pub(crate) struct Filtered {
    pub plan: Arc<LogicalPlan>,
    pub correlated: Vec<Expr>,
}

/// One conjunct that needs a join.
enum Conjunct<'q> {
    Exists(&'q ast::Query, bool),
    In(&'q ast::Expr, &'q ast::Query, bool),
    /// A predicate over `#sq<n>` placeholders, each the value of one scalar subquery.
    Scalar(Expr, Vec<(&'q ast::Query, String)>),
    /// A predicate with subqueries under OR, NOT or CASE: over one-row scalar
    /// subqueries' placeholders and `EXISTS`/`IN` marks (`mark.rs`).
    Marked(Expr, Vec<(ast::Query, String)>, Vec<SubqueryMark>),
}

/// Splits `a AND (b AND c)` into `[a, b, c]`, without recursion (a generated WHERE
/// may AND thousands of terms).
fn conjuncts<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Expr>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::And,
                right,
            } => {
                stack.push(right);
                stack.push(left);
            }
            ast::Expr::Nested(inner) => stack.push(inner),
            other => out.push(other),
        }
    }
}

fn strip_nested(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// The subquery form of a conjunct, if it is `[NOT] EXISTS` or `[NOT] IN (subquery)`.
fn subquery_form(e: &ast::Expr, negate: bool) -> Option<Conjunct<'_>> {
    match strip_nested(e) {
        ast::Expr::Exists { subquery, negated } => {
            Some(Conjunct::Exists(subquery, *negated != negate))
        }
        ast::Expr::In {
            expr,
            target: ast::InTarget::Subquery(q),
            negated,
            ..
        } => Some(Conjunct::In(expr, q, *negated != negate)),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Not,
            expr,
        } => subquery_form(expr, !negate),
        _ => None,
    }
}

/// Joins in scalar subquery `q` of a select list or of a predicate under OR, NOT or
/// CASE, as column `name`: uncorrelated, one row (its value, NULL for none, an error
/// at run time for several); correlated, left-joined on its correlation columns.
pub(crate) fn select_list_scalar(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    here: &Outer,
    q: &ast::Query,
    name: &str,
) -> Result<Arc<LogicalPlan>> {
    let sub = plan_subquery(&cx.with_outer(here.clone()), q, name)?;
    if sub.correlated.is_empty() {
        return scalar::cross_join_one_row(plan, sub, q);
    }
    // Correlated: a left join keeps every row, NULL (0 for a count) where the
    // subquery has no rows for it.
    let (plan, count) = scalar::join_correlated(plan, sub, q, true)?;
    let Some((value, zero)) = count else {
        return Ok(plan);
    };
    let exprs = plan
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let c = Expr::Column(f.name().clone());
            if c == value {
                c.fill_null(zero.clone()).alias(f.name().clone())
            } else {
                c
            }
        })
        .collect();
    Ok(Arc::new(LogicalPlan::try_project(plan, exprs)?))
}

/// Applies WHERE predicate `w` to `plan`: plain conjuncts as a filter, subquery
/// conjuncts as joins; conjuncts referring to the enclosing query are returned.
pub(crate) fn filter(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    scope: &Scope,
    here: &Outer,
    w: &ast::Expr,
) -> Result<Filtered> {
    let mut parts = vec![];
    conjuncts(w, &mut parts);
    let (mut plain, mut correlated, mut joins) = (vec![], vec![], vec![]);
    for part in &parts {
        if let Some(form) = subquery_form(part, false) {
            joins.push(form);
            continue;
        }
        let mut pending = vec![];
        let e = match lower_scalar(cx, scope, part, &mut pending) {
            Ok(e) => e,
            Err(_) => {
                // Subqueries under OR, NOT or CASE: EXISTS/IN as marks, scalar
                // subqueries as one-row inputs (anything else fails the same way again).
                let marks = SubqueryMarks {
                    prefix: cx.next_id(),
                    ..Default::default()
                };
                let scalars = ScalarSubqueries {
                    prefix: cx.next_id(),
                    ..Default::default()
                };
                let e = Scope {
                    marks: Some(&marks),
                    subqueries: Some(&scalars),
                    ..*scope
                }
                .expr(part)?;
                if is_correlated(&e) {
                    return Err(Error::NotSupported(format!(
                        "outer reference next to a subquery in '{part}'"
                    )));
                }
                let (scalars, marks) = (scalars.found.into_inner(), marks.found.into_inner());
                joins.push(Conjunct::Marked(e, scalars, marks));
                continue;
            }
        };
        if !pending.is_empty() {
            if is_correlated(&e) {
                return Err(Error::NotSupported(format!(
                    "outer reference next to a scalar subquery in '{part}'"
                )));
            }
            joins.push(Conjunct::Scalar(e, pending));
            continue;
        }
        // `(a = o AND x) OR (a = o AND y)`: the common correlation comes out of the OR.
        for piece in e.split_conjunction() {
            if is_correlated(&piece) {
                correlated.push(piece);
            } else {
                plain.push(piece);
            }
        }
    }
    let mut plan = plan;
    if let Some(p) = Expr::conjunction(plain) {
        plan = Arc::new(LogicalPlan::try_filter(plan, p)?);
    }
    let sub_cx = cx.with_outer(here.clone());
    for j in joins {
        plan = match j {
            Conjunct::Exists(q, negated) => exists(&sub_cx, plan, q, negated)?,
            Conjunct::In(x, q, negated) => {
                let x = scope.expr(x)?;
                if is_correlated(&x) {
                    return Err(Error::NotSupported(format!(
                        "outer reference on the left of IN (subquery): {x}"
                    )));
                }
                in_subquery(&sub_cx, plan, x, q, negated)?
            }
            Conjunct::Scalar(e, pending) => scalar(&sub_cx, plan, e, &pending)?,
            Conjunct::Marked(e, scalars, marks) => {
                let columns: Vec<Expr> = plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| Expr::Column(f.name().clone()))
                    .collect();
                for (q, name) in &scalars {
                    plan = select_list_scalar(cx, plan, here, q, name)?;
                }
                plan = join_marks(cx, plan, here, marks)?;
                let filtered = LogicalPlan::try_filter(plan, e)?;
                Arc::new(LogicalPlan::try_project(Arc::new(filtered), columns)?)
            }
        };
    }
    Ok(Filtered { plan, correlated })
}

/// A HAVING predicate with its scalar subqueries cross-joined into the plan before
/// aggregation; their `#sq<n>` columns are constant, so they join the grouping keys.
pub(crate) struct Having {
    pub plan: Arc<LogicalPlan>,
    pub predicate: Expr,
    pub keys: Vec<Expr>,
}

/// Plans HAVING predicate `h` over `plan` (the aggregation's input).
pub(crate) fn having(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    scope: &Scope,
    here: &Outer,
    h: &ast::Expr,
) -> Result<Having> {
    let mut parts = vec![];
    conjuncts(h, &mut parts);
    let mut plan = plan;
    let (mut predicates, mut keys) = (vec![], vec![]);
    let sub_cx = cx.with_outer(here.clone());
    for part in &parts {
        if subquery_form(part, false).is_some() {
            return Err(Error::NotSupported(format!(
                "EXISTS / IN (subquery) in HAVING: '{part}'"
            )));
        }
        let mut pending = vec![];
        let e = lower_scalar(cx, scope, part, &mut pending)?;
        if is_correlated(&e) {
            return Err(Error::NotSupported(format!(
                "outer reference in a subquery's HAVING: '{part}'"
            )));
        }
        for (q, name) in &pending {
            let sub = plan_subquery(&sub_cx, q, name)?;
            if !sub.correlated.is_empty() {
                return Err(Error::NotSupported(format!(
                    "correlated scalar subquery in HAVING: '{part}'"
                )));
            }
            plan = cross_join_one_row(plan, sub, q)?;
            keys.push(Expr::Column(name.clone()));
        }
        predicates.push(e);
    }
    let predicate = Expr::conjunction(predicates)
        .ok_or_else(|| Error::Internal("HAVING without predicate".into()))?;
    Ok(Having {
        plan,
        predicate,
        keys,
    })
}

/// A planned subquery, its columns renamed: the first is `name`, the others
/// `name_<j>`; `correlated` is over those names and the outer plan's columns.
struct Sub {
    plan: Arc<LogicalPlan>,
    /// The select list (one column for IN and scalar subqueries).
    items: Vec<Expr>,
    single_row: bool,
    aggregating: bool,
    correlated: Vec<Expr>,
}

impl Sub {
    fn value(&self, what: &str) -> Result<Expr> {
        match self.items.len() {
            1 => Ok(Expr::Column(self.plan.schema().field(0).name().clone())),
            n => Err(Error::Plan(format!(
                "{what} subquery must return one column, it returns {n}"
            ))),
        }
    }
}

/// Plans subquery `q` of an enclosing query (`cx.outer`), its output renamed after
/// `name`.
fn plan_subquery(cx: &Cx, q: &ast::Query, name: &str) -> Result<Sub> {
    let plain = q.limit_clause.is_none() && q.fetch.is_none();
    let (plan, items, single_row, aggregating, correlated) = match q.body.as_ref() {
        // Without LIMIT, ORDER BY cannot change a subquery's result: it is ignored.
        SetExpr::Select(s) if plain => {
            let with_ctes;
            let cx = match &q.with {
                Some(w) => {
                    with_ctes = super::cte::with_ctes(cx, w)?;
                    &with_ctes
                }
                None => cx,
            };
            let p = super::plan_select(cx, s, None)?;
            (p.plan, p.items, p.single_row, p.aggregating, p.correlated)
        }
        _ => {
            let plan = super::plan_query(cx, q)?;
            let items = plan
                .schema()
                .fields()
                .iter()
                .map(|f| Expr::Column(f.name().clone()))
                .collect();
            (plan, items, false, false, vec![])
        }
    };
    let schema = plan.schema();
    let mut renames = vec![];
    let exprs = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let new = if j == 0 {
                name.to_string()
            } else {
                format!("{name}_{j}")
            };
            renames.push((f.name().clone(), new.clone()));
            Expr::Column(f.name().clone()).alias(new)
        })
        .collect();
    let plan = Arc::new(LogicalPlan::try_project(Arc::new(plan), exprs)?);
    let correlated = correlated
        .into_iter()
        .map(|c| {
            c.transform(&mut |x| match x {
                Expr::Column(c) => match outer_column(&c) {
                    Some(o) => Expr::Column(o.to_string()),
                    None => match renames.iter().find(|(old, _)| *old == c) {
                        Some((_, new)) => Expr::Column(new.clone()),
                        None => Expr::Column(c),
                    },
                },
                other => other,
            })
        })
        .collect();
    Ok(Sub {
        plan,
        items,
        single_row,
        aggregating,
        correlated,
    })
}

/// `[NOT] EXISTS (q)`: a semi (anti) join on the correlation predicates.
fn exists(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    q: &ast::Query,
    negated: bool,
) -> Result<Arc<LogicalPlan>> {
    let name = format!("#sq{}", cx.next_id());
    let sub = plan_subquery(cx, q, &name)?;
    let join_type = if negated {
        JoinType::Anti
    } else {
        JoinType::Semi
    };
    let (right, filter) = match Expr::conjunction(sub.correlated) {
        // One row of an uncorrelated subquery decides for every row.
        None => (Arc::new(LogicalPlan::limit(sub.plan, 0, 1)), None),
        Some(c) => (sub.plan, Some(c)),
    };
    Ok(Arc::new(LogicalPlan::try_join(
        plan,
        right,
        join_type,
        vec![],
        filter,
    )?))
}

/// `x [NOT] IN (q)`.
fn in_subquery(
    cx: &Cx,
    plan: Arc<LogicalPlan>,
    x: Expr,
    q: &ast::Query,
    negated: bool,
) -> Result<Arc<LogicalPlan>> {
    let name = format!("#sq{}", cx.next_id());
    let sub = plan_subquery(cx, q, &name)?;
    let v = sub.value("IN")?;
    let mut condition = sub.correlated.clone();
    if !negated {
        condition.push(x.eq(v));
        return Ok(Arc::new(LogicalPlan::try_join(
            plan,
            sub.plan,
            JoinType::Semi,
            vec![],
            Expr::conjunction(condition),
        )?));
    }
    if !condition.is_empty() {
        // A row fails if some correlated value equals x or makes `x = v` NULL.
        let equal_or_unknown = x.clone().eq(v.clone()).or(x.is_null()).or(v.is_null());
        condition.push(equal_or_unknown);
        return Ok(Arc::new(LogicalPlan::try_join(
            plan,
            sub.plan,
            JoinType::Anti,
            vec![],
            Expr::conjunction(condition),
        )?));
    }
    // Uncorrelated: rows with no equal value, kept only if the subquery is empty or
    // x is not NULL and the subquery holds no NULL.
    let columns: Vec<Expr> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    let anti = LogicalPlan::try_join(
        plan,
        Arc::clone(&sub.plan),
        JoinType::Anti,
        vec![],
        Some(x.clone().eq(v.clone())),
    )?;
    let (n, nn) = (format!("{name}_n"), format!("{name}_nn"));
    let counts = LogicalPlan::try_aggregate(
        sub.plan,
        vec![],
        vec![
            Expr::Aggregate {
                func: AggFunc::CountStar,
                args: vec![],
            }
            .alias(n.clone()),
            v.count().alias(nn.clone()),
        ],
    )?;
    let cross = LogicalPlan::try_join(
        Arc::new(anti),
        Arc::new(counts),
        JoinType::Inner,
        vec![],
        None,
    )?;
    let zero = Expr::Literal(ScalarValue::Int64(0));
    let keep = Expr::Column(n.clone())
        .eq(zero)
        .or(x.is_not_null().and(Expr::Column(n).eq(Expr::Column(nn))));
    let filtered = LogicalPlan::try_filter(Arc::new(cross), keep)?;
    Ok(Arc::new(LogicalPlan::try_project(
        Arc::new(filtered),
        columns,
    )?))
}

/// Splits a subquery's correlation predicates into the inner expressions they use
/// (to output as `#corr<i>`) and the predicates rewritten over those names. When
/// the subquery aggregates, the inner expressions become grouping keys, which is
/// only exact for `inner = outer` predicates.
pub(crate) fn correlation_columns(
    correlated: Vec<Expr>,
    aggregating: bool,
) -> Result<(Vec<Expr>, Vec<Expr>)> {
    fn index(e: Expr, inner: &mut Vec<Expr>) -> Expr {
        let i = match inner.iter().position(|x| *x == e) {
            Some(i) => i,
            None => {
                inner.push(e);
                inner.len() - 1
            }
        };
        Expr::Column(corr_name(i))
    }
    let mut inner: Vec<Expr> = vec![];
    let mut rewritten = vec![];
    for c in correlated {
        if c.contains_aggregate() {
            return Err(Error::NotSupported(format!(
                "aggregate in a correlation predicate ({c})"
            )));
        }
        if aggregating {
            let Expr::Binary {
                left,
                op: BinaryOp::Eq,
                right,
            } = &c
            else {
                return Err(Error::NotSupported(format!(
                    "correlated aggregate subquery with a non-equality correlation ({c})"
                )));
            };
            let pure_outer = |e: &Expr| e.column_refs().iter().all(|c| outer_column(c).is_some());
            let (i, o) = match (is_correlated(left), is_correlated(right)) {
                (false, true) if pure_outer(right) => (left, right),
                (true, false) if pure_outer(left) => (right, left),
                _ => {
                    return Err(Error::NotSupported(format!(
                        "correlated aggregate subquery with correlation {c}; it must be \
                         inner = outer"
                    )))
                }
            };
            let col = index(i.as_ref().clone(), &mut inner);
            rewritten.push(col.eq(o.as_ref().clone()));
        } else {
            let expr = c.transform(&mut |x| match x {
                Expr::Column(name) if outer_column(&name).is_none() => {
                    index(Expr::Column(name), &mut inner)
                }
                other => other,
            });
            rewritten.push(expr);
        }
    }
    Ok((inner, rewritten))
}
