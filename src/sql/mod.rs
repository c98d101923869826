//! SQL: one query, parsed by `sqlparser` (DuckDB dialect) and lowered onto
//! [`LogicalPlan`] through the same constructors the `LazyFrame` API uses, so SQL and
//! the API share one set of type checks and error messages.
//!
//! ```text
//! SELECT [DISTINCT] <items> FROM <items and joins> WHERE <p> GROUP BY <keys>
//!   HAVING <h> [UNION [ALL] <select>]… ORDER BY <keys> LIMIT n OFFSET m
//!
//! [Project: drop hidden ORDER BY keys]  -- order.rs
//!   Limit(m, n)
//!     Sort <keys>                          -- order.rs
//!       [Aggregate: DISTINCT]              -- setop.rs
//!         Project <items>                  -- no aggregation
//!         | Project / Filter(h) / Aggregate  -- plan::aggregate::build_aggregate
//!           Filter <p>
//!             <joined FROM items>          -- join.rs, each item from from.rs
//! ```
//!
//! Modules: `from` one FROM item (path, table function, table, derived table);
//! `join` joins and comma lists; `scope` what names (`col`, `t.col`, `t.*`) refer
//! to; `expr` expressions; `order` ORDER BY; `setop` UNION and DISTINCT.
//!
//! Supported: select items with aliases, `*` and `t.*`; joins (`ON`, `USING`, inner,
//! outer, cross, semi, anti, comma lists); WHERE; GROUP BY by expression, select alias,
//! ordinal or ALL; HAVING; aggregates (also `median`, `quantile_cont`); SELECT
//! DISTINCT; UNION \[ALL\]; ORDER BY; LIMIT/OFFSET. Output columns are named by their
//! alias, by the column's name for a bare column (`b.id` outputs `id`), else by the
//! SQL text of the item (`sum(v1)`), as DuckDB does; because floe's output names must
//! be unique, a repeated name gets `_1`, `_2`, … (`SELECT a.id, b.id` outputs `id`,
//! `id_1`).
//!
//! Also `WITH` (`cte`), subqueries (`subquery`: `[NOT] IN`, `[NOT] EXISTS` and
//! comparisons with scalar subqueries as WHERE conjuncts, correlated ones decorrelated
//! into joins; EXISTS/IN elsewhere as mark joins), window functions with named windows
//! (`window`) and QUALIFY, GROUPING SETS, ROLLUP and CUBE (`plan::grouping_sets`).
//!
//! Not supported yet, each as [`Error::NotSupported`] naming it: recursive CTEs,
//! INTERSECT ALL/EXCEPT ALL, NATURAL/ASOF/LATERAL joins, DISTINCT ON. Text that does not parse is [`Error::Sql`].

mod context;
mod cte;
mod decimal_literal;
mod expr;
mod from;
mod interval;
mod join;
#[cfg(test)]
mod join_tests;
mod null_treatment;
mod order;
mod scope;
mod setop;
mod subquery;
#[cfg(test)]
mod subquery_tests;
mod table_function;
#[cfg(test)]
mod tests;
mod values;
mod window;

use std::sync::Arc;

use sqlparser::ast::{self, GroupByExpr, LimitClause, SelectItem, SetExpr, Statement};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use self::context::{Cx, Outer};
use self::scope::{is_correlated, named, ScalarSubqueries, Scope, SubqueryMarks, WindowCalls};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::aggregate::build_aggregate;
use crate::plan::aggregate::build_aggregate_parts;
use crate::plan::grouping_sets::{build_grouping_sets, build_grouping_sets_parts, calls_grouping};
use crate::plan::LogicalPlan;

/// Where SQL finds the tables a query names by name (a `Session` is one). Paths in
/// FROM (`'data/*.csv'`, `read_parquet('dir/')`) need no catalog.
pub trait Catalog {
    /// The plan of table `name` (names match case-insensitively), if registered.
    fn table(&self, name: &str) -> Option<Arc<LogicalPlan>>;
    /// The registered names, for messages.
    fn table_names(&self) -> Vec<String>;
}

/// Plans one SQL query against `catalog` (its tables) and the file paths it names.
///
/// Errors: [`Error::Sql`] for text that does not parse or makes no sense,
/// [`Error::NotSupported`] for valid SQL floe does not run yet, [`Error::Plan`] /
/// [`Error::Schema`] for unknown names and type errors.
pub fn plan_sql(catalog: &dyn Catalog, query: &str) -> Result<LogicalPlan> {
    let statements = parse(query)?;
    let statement = match statements.as_slice() {
        [s] => s,
        [] => return Err(Error::Sql("empty query".into())),
        _ => {
            return Err(Error::NotSupported(
                "several statements in one query".into(),
            ))
        }
    };
    match statement {
        Statement::Query(q) => plan_query(&Cx::root(catalog), q),
        Statement::Explain { .. } | Statement::ExplainTable { .. } => Err(Error::NotSupported(
            "EXPLAIN in SQL; use LazyFrame::explain or `floe explain`".into(),
        )),
        other => {
            let text = other.to_string();
            let kind = text
                .split_whitespace()
                .next()
                .unwrap_or("this")
                .to_ascii_uppercase();
            Err(Error::NotSupported(format!(
                "{kind} statement; only SELECT is supported"
            )))
        }
    }
}

/// How deep expressions and subqueries may nest (sqlparser's default, 50, rejected a
/// 50-deep CASE with a bare syntax error). The parser grows its stack as it recurses,
/// and so do floe's expression lowering and evaluation ([`recursive`]).
const NESTING_LIMIT: usize = 1000;

/// Parses SQL text in DuckDB's dialect (with DuckDB's in-parenthesis `IGNORE NULLS`).
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>> {
    let sql = null_treatment::move_null_treatment(sql);
    let dialect = DuckDbDialect {};
    Parser::new(&dialect)
        .with_recursion_limit(NESTING_LIMIT)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| match e {
            sqlparser::parser::ParserError::RecursionLimitExceeded => Error::Sql(format!(
                "the statement nests expressions or subqueries deeper than {NESTING_LIMIT} \
                 levels"
            )),
            e => Error::Sql(e.to_string()),
        })
}

/// Plans a query `sqlparser` has already parsed (the body of `CREATE VIEW ... AS`).
pub(crate) fn plan_parsed_query(catalog: &dyn Catalog, q: &ast::Query) -> Result<LogicalPlan> {
    plan_query(&Cx::root(catalog), q)
}

pub(crate) fn plan_query(cx: &Cx, q: &ast::Query) -> Result<LogicalPlan> {
    let with_ctes;
    let cx = match &q.with {
        Some(w) => {
            with_ctes = cte::with_ctes(cx, w)?;
            &with_ctes
        }
        None => cx,
    };
    if q.fetch.is_some() {
        return Err(Error::NotSupported("FETCH".into()));
    }
    if !q.locks.is_empty()
        || q.for_clause.is_some()
        || q.settings.is_some()
        || q.format_clause.is_some()
    {
        return Err(Error::NotSupported(format!("query clause in '{q}'")));
    }
    if !q.pipe_operators.is_empty() {
        return Err(Error::NotSupported("pipe operators (|>)".into()));
    }
    let order_by = q.order_by.as_ref();
    let (plan, visible) = match q.body.as_ref() {
        SetExpr::Select(s) => {
            let p = plan_select(cx, s, order_by)?.uncorrelated()?;
            (p.plan, p.visible)
        }
        other => {
            let plan = plan_set_expr(cx, other)?;
            match order_by {
                Some(o) => (order::sort_output(Arc::new(plan), o)?, None),
                None => (plan, None),
            }
        }
    };
    let plan = match &q.limit_clause {
        None => plan,
        Some(limit) => {
            let (skip, fetch) = limit_offset(limit)?;
            LogicalPlan::limit(Arc::new(plan), skip, fetch)
        }
    };
    // Hidden ORDER BY columns go after the LIMIT, so that Limit sits right on Sort.
    match visible {
        None => Ok(plan),
        Some(names) => LogicalPlan::try_project(
            Arc::new(plan),
            names.into_iter().map(Expr::Column).collect(),
        ),
    }
}

/// A query body without ORDER BY / LIMIT of its own (an operand of a set operation).
pub(crate) fn plan_set_expr(cx: &Cx, body: &SetExpr) -> Result<LogicalPlan> {
    match body {
        SetExpr::Select(s) => Ok(plan_select(cx, s, None)?.uncorrelated()?.plan),
        SetExpr::Query(inner) => plan_query(cx, inner),
        SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } => setop::plan_set_operation(cx, left, op, set_quantifier, right),
        SetExpr::Values(v) => values::plan_values(v),
        SetExpr::Table(_) => Err(Error::NotSupported("TABLE statement".into())),
        other => Err(Error::NotSupported(format!("'{other}' as a query"))),
    }
}

/// `(skip, fetch)` of a LIMIT clause; no LIMIT (or `LIMIT ALL`) fetches everything.
fn limit_offset(limit: &LimitClause) -> Result<(usize, usize)> {
    match limit {
        LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        } => {
            if !limit_by.is_empty() {
                return Err(Error::NotSupported("LIMIT BY".into()));
            }
            let fetch = match limit {
                Some(e) => count_literal(e, "LIMIT")?,
                None => usize::MAX,
            };
            let skip = match offset {
                Some(o) => count_literal(&o.value, "OFFSET")?,
                None => 0,
            };
            Ok((skip, fetch))
        }
        LimitClause::OffsetCommaLimit { offset, limit } => Ok((
            count_literal(offset, "OFFSET")?,
            count_literal(limit, "LIMIT")?,
        )),
    }
}

fn count_literal(e: &ast::Expr, clause: &str) -> Result<usize> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            // A count larger than any row count (all digits, too long for usize) means
            // every row: there cannot be more.
            ast::Value::Number(n, _) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(n.parse::<usize>().unwrap_or(usize::MAX))
            }
            ast::Value::Number(n, _) => Err(Error::Sql(format!(
                "{clause} must be a whole number of rows, got {n}"
            ))),
            ast::Value::Null => Ok(usize::MAX),
            other => Err(Error::Sql(format!(
                "{clause} must be a non-negative integer, got {other}"
            ))),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            ..
        } => Err(Error::Sql(format!(
            "{clause} must be a non-negative integer, got {e}"
        ))),
        ast::Expr::Nested(inner) => count_literal(inner, clause),
        other => Err(Error::NotSupported(format!(
            "non-constant {clause} '{other}'"
        ))),
    }
}

/// A planned SELECT; with `visible`, its output also carries hidden ORDER BY columns
/// that the caller projects away (after any LIMIT).
struct SelectPlan {
    plan: LogicalPlan,
    visible: Option<Vec<String>>,
    /// The select list (before aggregation), for a subquery's caller.
    items: Vec<Expr>,
    /// Whether the SELECT aggregates without GROUP BY (so outputs exactly one row,
    /// unless correlated).
    single_row: bool,
    /// Whether the SELECT aggregates.
    aggregating: bool,
    /// Correlation predicates of a subquery (see `subquery.rs`): over the enclosing
    /// query's columns (tagged) and this plan's trailing `#corr<i>` columns.
    correlated: Vec<Expr>,
}

impl SelectPlan {
    /// The plan of a SELECT that must not refer to an enclosing query.
    fn uncorrelated(self) -> Result<Self> {
        match self.correlated.first() {
            None => Ok(self),
            Some(c) => Err(Error::NotSupported(format!(
                "correlated subquery with LIMIT, ORDER BY or set operations (correlation {c})"
            ))),
        }
    }
}

fn plan_select(cx: &Cx, s: &ast::Select, order_by: Option<&ast::OrderBy>) -> Result<SelectPlan> {
    reject_unsupported_clauses(s)?;
    let from = join::plan_from(&cx.uncorrelated(), &s.from)?;
    let schema = from.plan.schema();
    let relations = &from.relations;
    let outer = cx.outer.as_ref().map(|o| &o.relations);
    // What this SELECT's own subqueries see as their enclosing query.
    let here = Outer {
        relations: relations.clone(),
    };

    // The select list, over the FROM items' columns; its scalar subqueries are
    // collected and joined in below.
    let select_subqueries = ScalarSubqueries {
        prefix: cx.next_id(),
        ..Default::default()
    };
    let window_calls = WindowCalls {
        prefix: cx.next_id(),
        named: s.named_window.clone(),
        ..Default::default()
    };
    let select_marks = SubqueryMarks {
        prefix: cx.next_id(),
        ..Default::default()
    };
    let scope = Scope::over(&schema, relations, &[])
        .with_outer(outer)
        .with_subqueries(&select_subqueries)
        .with_windows(&window_calls)
        .with_marks(&select_marks);
    let mut items: Vec<Expr> = vec![];
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let x = scope.expr(e)?;
                items.push(match x {
                    // A column is named by its SQL name, not its (maybe renamed) plan name.
                    // A scalar subquery's value (a `#` placeholder) by its SQL text.
                    Expr::Column(c) if c.starts_with('#') && relations.sql_name(&c).is_none() => {
                        Expr::Column(c).alias(e.to_string())
                    }
                    Expr::Column(c) => {
                        let name = relations.sql_name(&c).unwrap_or(&c).to_string();
                        named(Expr::Column(c), &name)
                    }
                    other => other.alias(e.to_string()),
                });
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push(scope.expr(expr)?.alias(alias.value.clone()))
            }
            SelectItem::ExprWithAliases { .. } => {
                return Err(Error::NotSupported(
                    "several aliases for one select item".into(),
                ))
            }
            SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                if opts.opt_ilike.is_some()
                    || opts.opt_except.is_some()
                    || opts.opt_rename.is_some()
                    || opts.opt_alias.is_some()
                {
                    return Err(Error::NotSupported(format!("'{item}' (wildcard options)")));
                }
                let star = match item {
                    SelectItem::QualifiedWildcard(
                        ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                        _,
                    ) => {
                        let q =
                            name.0.last().and_then(|p| p.as_ident()).ok_or_else(|| {
                                Error::Sql(format!("invalid qualifier in '{item}'"))
                            })?;
                        relations.qualified_star(&q.value)?
                    }
                    SelectItem::QualifiedWildcard(..) => {
                        return Err(Error::NotSupported(format!("'{item}'")))
                    }
                    _ => relations.star(),
                };
                items.extend(star_options(star, opts, &scope)?);
            }
        }
    }
    // `FROM t` alone (DuckDB) selects everything.
    if s.projection.is_empty() {
        items.extend(relations.star());
    }
    let items = unique_names(items);
    if let Some(e) = items.iter().find(|e| is_correlated(e)) {
        return Err(Error::NotSupported(format!(
            "outer reference in a subquery's select list ({})",
            e.output_name()
        )));
    }
    let aliases: Vec<(String, Expr)> = items
        .iter()
        .filter_map(|e| match e {
            Expr::Alias(inner, name) => Some((name.clone(), inner.unalias().clone())),
            _ => None,
        })
        .collect();
    let clause_scope = Scope::over(&schema, relations, &aliases).with_outer(outer);
    // QUALIFY (DuckDB): a hidden item computed with the select list, window calls and
    // select-list aliases included, then a filter before DISTINCT and ORDER BY.
    let qualify = match &s.qualify {
        Some(q) => Some(
            Scope::over(&schema, relations, &aliases)
                .with_outer(outer)
                .with_windows(&window_calls)
                .expr(q)?,
        ),
        None => None,
    };

    let mut plan = from.plan;
    let mut correlated = vec![];
    if let Some(w) = &s.selection {
        let filtered = subquery::filter(cx, plan, &clause_scope, &here, w)?;
        plan = filtered.plan;
        correlated = filtered.correlated;
    }

    // Scalar subqueries of the select list: each joined in as a one-row input
    // (uncorrelated only), a constant that may also serve as a grouping key.
    plan = subquery::join_marks(cx, plan, &here, select_marks.found.into_inner())?;
    let select_subqueries = select_subqueries.found.into_inner();
    for (q, name) in &select_subqueries {
        plan = subquery::select_list_scalar(cx, plan, &here, q, name)?;
    }
    let (mut keys, mut sets) = match group_keys(&s.group_by, &clause_scope, &items)? {
        Some(g) => (Some(g.keys), g.sets),
        None => (None, None),
    };
    let mut having = None;
    if let Some(h) = &s.having {
        let hv = subquery::having(cx, plan, &clause_scope, &here, h)?;
        plan = hv.plan;
        having = Some(hv.predicate);
        if !hv.keys.is_empty() {
            if sets.is_some() {
                return Err(Error::NotSupported(
                    "scalar subquery in HAVING with grouping sets".into(),
                ));
            }
            match keys.as_mut() {
                Some(k) => k.extend(hv.keys),
                None => {
                    return Err(Error::NotSupported(
                        "scalar subquery in HAVING without GROUP BY".into(),
                    ))
                }
            }
        }
    }
    if let Some(k) = keys.iter().flatten().find(|k| is_correlated(k)) {
        return Err(Error::NotSupported(format!(
            "outer reference in a subquery's GROUP BY ({k})"
        )));
    }
    let order = order_by
        .map(|o| order::select_keys(o, &items, &clause_scope))
        .transpose()?
        .unwrap_or_default();
    let distinct = matches!(s.distinct, Some(ast::Distinct::Distinct));

    // ORDER BY keys outside the select list ride along as hidden columns.
    let visible: Vec<String> = items.iter().map(Expr::output_name).collect();
    let mut all = items;
    let mut sort_keys = vec![];
    for k in &order {
        let name = match &k.key {
            order::KeyRef::Output(name) => name.clone(),
            order::KeyRef::Hidden(e) => {
                if distinct {
                    return Err(Error::Plan(format!(
                        "for SELECT DISTINCT, ORDER BY expressions must appear in the select list: {e}"
                    )));
                }
                let name = format!("#order{}", all.len() - visible.len());
                all.push(e.clone().alias(name.clone()));
                name
            }
        };
        sort_keys.push(k.sort_expr(name));
    }
    let hidden = all.len() > visible.len();
    let select_items = all[..visible.len()].to_vec();
    if let Some(q) = qualify {
        if is_correlated(&q) {
            return Err(Error::NotSupported(format!(
                "outer reference in a subquery's QUALIFY ({q})"
            )));
        }
        all.push(q.alias(QUALIFY));
    }

    let aggregating =
        keys.is_some() || having.is_some() || all.iter().any(Expr::contains_aggregate);
    let single_row = aggregating && keys.is_none();
    if !correlated.is_empty() {
        // The inner side of each correlation predicate rides along as `#corr<i>`
        // (as a grouping key when aggregating), for the caller's join.
        let (inner, rewritten) = subquery::correlation_columns(correlated, aggregating)?;
        if aggregating {
            keys.get_or_insert_with(Vec::new)
                .extend(inner.iter().cloned());
        }
        for (i, e) in inner.into_iter().enumerate() {
            all.push(e.alias(subquery::corr_name(i)));
        }
        correlated = rewritten;
    }
    if aggregating && !select_subqueries.is_empty() {
        let Some(k) = keys.as_mut() else {
            return Err(Error::NotSupported(
                "scalar subquery in the select list of an aggregate without GROUP BY".into(),
            ));
        };
        for (_, n) in &select_subqueries {
            k.push(Expr::Column(n.clone()));
            // A constant key belongs to every grouping set.
            for set in sets.iter_mut().flatten() {
                set.push(k.len() - 1);
            }
        }
    }
    let windows = std::mem::take(&mut *window_calls.found.borrow_mut());
    if !windows.is_empty() && !correlated.is_empty() {
        return Err(Error::NotSupported(
            "window functions in a correlated subquery".into(),
        ));
    }
    let grouping_calls = all.iter().chain(having.iter()).any(calls_grouping);
    // `sum(sum(x)) OVER ()` aggregates even without an aggregate outside a window.
    let aggregating = aggregating
        || window::inputs(&windows)
            .iter()
            .any(Expr::contains_aggregate);
    let mut plan = if aggregating {
        let keys = keys.unwrap_or_default();
        let sets = match sets {
            Some(_) if !correlated.is_empty() => {
                return Err(Error::NotSupported(
                    "correlated subquery with grouping sets".into(),
                ))
            }
            Some(sets) => Some(sets),
            None if grouping_calls && keys.is_empty() => {
                return Err(Error::Plan(
                    "grouping() is only valid in a query with GROUP BY".into(),
                ))
            }
            None if grouping_calls => Some(vec![(0..keys.len()).collect()]),
            None => None,
        };
        if windows.is_empty() {
            match sets {
                Some(sets) => build_grouping_sets(plan, keys, sets, all, having)?,
                None => build_aggregate(plan, keys, all, having)?,
            }
        } else {
            let n = all.len();
            let mut select = all;
            select.extend(window::inputs(&windows));
            let (below, finals) = match sets {
                Some(sets) => build_grouping_sets_parts(plan, keys, sets, select, having)?,
                None => build_aggregate_parts(plan, keys, select, having)?,
            };
            window::plan(Arc::new(below), finals, n, &windows)?
        }
    } else if windows.is_empty() {
        LogicalPlan::try_project(plan, all)?
    } else {
        let n = all.len();
        let mut finals = all;
        finals.extend(window::inputs(&windows));
        window::plan(plan, finals, n, &windows)?
    };
    if s.qualify.is_some() {
        let keep: Vec<Expr> = plan
            .schema()
            .fields()
            .iter()
            .filter(|f| f.name() != QUALIFY)
            .map(|f| Expr::Column(f.name().clone()))
            .collect();
        let filtered = LogicalPlan::try_filter(Arc::new(plan), Expr::Column(QUALIFY.into()))?;
        plan = LogicalPlan::try_project(Arc::new(filtered), keep)?;
    }
    if distinct {
        plan = setop::distinct_rows(Arc::new(plan))?;
    }
    if !sort_keys.is_empty() {
        plan = LogicalPlan::try_sort(Arc::new(plan), sort_keys)?;
    }
    Ok(SelectPlan {
        plan,
        visible: hidden.then_some(visible),
        items: select_items,
        single_row,
        aggregating,
        correlated,
    })
}

/// The hidden column a QUALIFY predicate is computed into.
const QUALIFY: &str = "#qualify";

/// Makes output names unique: a repeated name gets `_1`, `_2`, … (DuckDB would show
/// the same name twice; plan columns must be unique).
/// `*` with DuckDB's `EXCLUDE (a, b)` (drops columns) and `REPLACE (expr AS a)`
/// (computes a column in its place) applied; an unknown name is an error.
fn star_options(
    star: Vec<Expr>,
    opts: &ast::WildcardAdditionalOptions,
    scope: &Scope<'_>,
) -> Result<Vec<Expr>> {
    let same = |e: &Expr, name: &str| e.output_name().eq_ignore_ascii_case(name);
    let known = |name: &str| -> Result<()> {
        if star.iter().any(|e| same(e, name)) {
            Ok(())
        } else {
            Err(Error::Plan(format!(
                "column '{name}' in EXCLUDE/REPLACE is not among the columns of *"
            )))
        }
    };
    // The last part of each (maybe qualified) name.
    let last = |n: &ast::ObjectName| -> Result<String> {
        (n.0.last().and_then(|p| p.as_ident()))
            .map(|i| i.value.clone())
            .ok_or_else(|| Error::Sql(format!("invalid column name '{n}' in EXCLUDE")))
    };
    let excluded: Vec<String> = match &opts.opt_exclude {
        None => vec![],
        Some(ast::ExcludeSelectItem::Single(n)) => vec![last(n)?],
        Some(ast::ExcludeSelectItem::Multiple(ns)) => ns.iter().map(last).collect::<Result<_>>()?,
    };
    for name in &excluded {
        known(name)?;
    }
    let mut replaced: Vec<(String, Expr)> = vec![];
    if let Some(r) = &opts.opt_replace {
        for item in &r.items {
            let name = item.column_name.value.clone();
            known(&name)?;
            replaced.push((name.clone(), scope.expr(&item.expr)?.alias(name)));
        }
    }
    Ok(star
        .into_iter()
        .filter(|e| !excluded.iter().any(|n| same(e, n)))
        .map(|e| match replaced.iter().find(|(n, _)| same(&e, n)) {
            Some((_, r)) => r.clone(),
            None => e,
        })
        .collect())
}

fn unique_names(items: Vec<Expr>) -> Vec<Expr> {
    let names: Vec<String> = items.iter().map(Expr::output_name).collect();
    let mut used: Vec<String> = vec![];
    let mut out = vec![];
    for (item, name) in items.into_iter().zip(&names) {
        if !used.contains(name) {
            used.push(name.clone());
            out.push(item);
            continue;
        }
        let mut n = 1;
        let mut new = format!("{name}_{n}");
        while used.contains(&new) || names.contains(&new) {
            n += 1;
            new = format!("{name}_{n}");
        }
        used.push(new.clone());
        out.push(item.unalias().clone().alias(new));
    }
    out
}

fn reject_unsupported_clauses(s: &ast::Select) -> Result<()> {
    let unsupported = |what: &str| Err(Error::NotSupported(what.to_string()));
    match &s.distinct {
        None | Some(ast::Distinct::All) => {}
        Some(ast::Distinct::Distinct) => {}
        Some(ast::Distinct::On(_)) => return unsupported("SELECT DISTINCT ON"),
    }
    if s.top.is_some() {
        return unsupported("TOP");
    }
    if s.into.is_some() {
        return unsupported("SELECT INTO");
    }
    if s.exclude.is_some() {
        return unsupported("EXCLUDE");
    }
    if !s.lateral_views.is_empty() {
        return unsupported("LATERAL VIEW");
    }
    if s.prewhere.is_some() {
        return unsupported("PREWHERE");
    }
    if !s.connect_by.is_empty() {
        return unsupported("CONNECT BY");
    }
    if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
        return unsupported("CLUSTER/DISTRIBUTE/SORT BY");
    }
    if s.value_table_mode.is_some() {
        return unsupported("SELECT AS STRUCT/VALUE");
    }
    Ok(())
}

/// GROUP BY: its keys, and the grouping sets over them (indices into `keys`) when it
/// has ROLLUP, CUBE or GROUPING SETS (`None`: one set of every key).
struct GroupBy {
    keys: Vec<Expr>,
    sets: Option<Vec<Vec<usize>>>,
}

/// The most keys a CUBE may take (2^12 grouping sets).
const MAX_CUBE_KEYS: usize = 12;

/// The grouping keys, or `None` without GROUP BY.
///
/// A key is an input expression, a select-list alias (input columns take precedence),
/// or a 1-based position in the select list; `GROUP BY ALL` groups by every select
/// item that contains no aggregate. `ROLLUP (a, b)` is the sets (a, b), (a), ();
/// `CUBE (a, b)` every subset; `GROUPING SETS ((a), ())` the sets listed; several
/// items combine as a cross product (`GROUP BY a, ROLLUP (b)` = (a, b), (a)).
fn group_keys(group_by: &GroupByExpr, scope: &Scope, items: &[Expr]) -> Result<Option<GroupBy>> {
    let mut keys: Vec<Expr> = vec![];
    let mut push = |k: Expr| -> usize {
        match keys.iter().position(|x| x == &k) {
            Some(i) => i,
            None => {
                keys.push(k);
                keys.len() - 1
            }
        }
    };
    let resolve = |e: &ast::Expr| -> Result<Expr> {
        let key = match ordinal(e, "GROUP BY")? {
            Some(i) => {
                let item = items.get(i.wrapping_sub(1)).ok_or_else(|| {
                    Error::Plan(format!(
                        "GROUP BY position {i} is not in the select list (1..={})",
                        items.len()
                    ))
                })?;
                if item.contains_aggregate() {
                    return Err(Error::Plan(format!(
                        "GROUP BY position {i} refers to an aggregate ({})",
                        item.output_name()
                    )));
                }
                item.unalias().clone()
            }
            None => scope.expr(e)?,
        };
        if key.contains_aggregate() {
            return Err(Error::Plan(format!("aggregate in GROUP BY: {key}")));
        }
        Ok(key)
    };
    let mut sets: Option<Vec<Vec<usize>>> = None;
    match group_by {
        GroupByExpr::All(modifiers) => {
            if !modifiers.is_empty() {
                return Err(Error::NotSupported(format!(
                    "GROUP BY ALL {}",
                    modifiers[0]
                )));
            }
            for item in items.iter().filter(|e| !e.contains_aggregate()) {
                push(item.unalias().clone());
            }
        }
        GroupByExpr::Expressions(exprs, modifiers) => {
            if let Some(m) = modifiers.first() {
                return Err(Error::NotSupported(format!("GROUP BY ... {m}")));
            }
            if exprs.is_empty() {
                return Ok(None);
            }
            // Each item's own grouping sets; the query's are their cross product.
            let mut product: Vec<Vec<usize>> = vec![vec![]];
            let mut any_sets = false;
            for e in exprs {
                let mut element = |lists: &[Vec<ast::Expr>]| -> Result<Vec<Vec<usize>>> {
                    lists
                        .iter()
                        .map(|l| l.iter().map(|x| Ok(push(resolve(x)?))).collect())
                        .collect()
                };
                let own: Vec<Vec<usize>> = match e {
                    ast::Expr::Rollup(lists) => {
                        any_sets = true;
                        let parts = element(lists)?;
                        (0..=parts.len())
                            .rev()
                            .map(|n| parts[..n].concat())
                            .collect()
                    }
                    ast::Expr::Cube(lists) => {
                        any_sets = true;
                        let parts = element(lists)?;
                        if parts.len() > MAX_CUBE_KEYS {
                            return Err(Error::NotSupported(format!(
                                "CUBE of {} items (at most {MAX_CUBE_KEYS})",
                                parts.len()
                            )));
                        }
                        (0..1usize << parts.len())
                            .rev()
                            .map(|mask| {
                                (0..parts.len())
                                    .filter(|b| mask & (1 << (parts.len() - 1 - b)) != 0)
                                    .flat_map(|b| parts[b].clone())
                                    .collect()
                            })
                            .collect()
                    }
                    ast::Expr::GroupingSets(lists) => {
                        any_sets = true;
                        element(lists)?
                    }
                    // `GROUP BY (a, b)`: a composite item is its keys.
                    ast::Expr::Tuple(list) => {
                        vec![list
                            .iter()
                            .map(|x| Ok(push(resolve(x)?)))
                            .collect::<Result<_>>()?]
                    }
                    plain => vec![vec![push(resolve(plain)?)]],
                };
                product = product
                    .iter()
                    .flat_map(|p| {
                        own.iter().map(move |o| {
                            let mut set = p.clone();
                            set.extend(o.iter().filter(|i| !p.contains(i)));
                            set
                        })
                    })
                    .collect();
            }
            if any_sets {
                sets = Some(product);
            }
        }
    }
    Ok(Some(GroupBy { keys, sets }))
}

/// `Some(n)` for an integer literal (a select-list position).
fn ordinal(e: &ast::Expr, clause: &str) -> Result<Option<usize>> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) if !n.contains(['.', 'e', 'E']) => {
                n.parse::<usize>().map(Some).map_err(|_| {
                    Error::Plan(format!("{clause} position {n} is not in the select list"))
                })
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}
