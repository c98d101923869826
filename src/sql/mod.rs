//! SQL: one SELECT statement, parsed by `sqlparser` (DuckDB dialect) and lowered onto
//! [`LogicalPlan`] through the same constructors the `LazyFrame` API uses, so SQL and
//! the API share one set of type checks and error messages.
//!
//! ```text
//! SELECT <items> FROM <one relation> WHERE <p> GROUP BY <keys> HAVING <h> LIMIT n OFFSET m
//!
//! Limit(m, n)
//!   Project <items>                      -- no aggregation
//!   | Project / Filter(h) / Aggregate    -- plan::aggregate::build_aggregate
//!     Filter <p>
//!       <relation>                       -- from.rs: a path, read_csv/read_parquet, a table
//! ```
//!
//! Supported: select items with aliases and `*`; WHERE; GROUP BY by expression,
//! select alias, ordinal or ALL; HAVING; aggregates with and without GROUP BY;
//! LIMIT/OFFSET. Expressions are lowered in [`expr`]. Output columns are named by
//! their alias, by the column for a bare column, else by the SQL text of the item
//! (`sum(v1)`), as DuckDB does.
//!
//! Not supported yet, each as [`Error::NotSupported`] naming it: ORDER BY, DISTINCT,
//! joins, subqueries, CTEs, set operations, window functions, QUALIFY, median and
//! quantiles. Text that does not parse is [`Error::Sql`].

mod expr;
mod from;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use sqlparser::ast::{self, GroupByExpr, LimitClause, SelectItem, SetExpr, Statement};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use self::expr::Scope;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::aggregate::build_aggregate;
use crate::plan::LogicalPlan;
use crate::session::Session;

/// Plans one SQL query against `session` (its registered tables and file paths).
///
/// Errors: [`Error::Sql`] for text that does not parse or makes no sense,
/// [`Error::NotSupported`] for valid SQL floe does not run yet, [`Error::Plan`] /
/// [`Error::Schema`] for unknown names and type errors.
pub fn plan_sql(session: &Session, query: &str) -> Result<LogicalPlan> {
    let statements =
        Parser::parse_sql(&DuckDbDialect {}, query).map_err(|e| Error::Sql(e.to_string()))?;
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
        Statement::Query(q) => plan_query(session, q),
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

pub(crate) fn plan_query(session: &Session, q: &ast::Query) -> Result<LogicalPlan> {
    if q.with.is_some() {
        return Err(Error::NotSupported(
            "WITH (common table expressions)".into(),
        ));
    }
    if q.order_by.is_some() {
        return Err(Error::NotSupported("ORDER BY".into()));
    }
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
    let plan = match q.body.as_ref() {
        SetExpr::Select(s) => plan_select(session, s)?,
        SetExpr::Query(inner) => plan_query(session, inner)?,
        SetExpr::SetOperation { op, .. } => return Err(Error::NotSupported(op.to_string())),
        SetExpr::Values(_) => return Err(Error::NotSupported("VALUES".into())),
        SetExpr::Table(_) => return Err(Error::NotSupported("TABLE statement".into())),
        other => return Err(Error::NotSupported(format!("'{other}' as a query"))),
    };
    match &q.limit_clause {
        None => Ok(plan),
        Some(limit) => {
            let (skip, fetch) = limit_offset(limit)?;
            Ok(LogicalPlan::limit(Arc::new(plan), skip, fetch))
        }
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
            ast::Value::Number(n, _) => n.parse::<usize>().map_err(|_| {
                Error::Sql(format!("{clause} must be a non-negative integer, got {n}"))
            }),
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

fn plan_select(session: &Session, s: &ast::Select) -> Result<LogicalPlan> {
    reject_unsupported_clauses(s)?;
    let input = from::plan_from(session, &s.from)?;
    let schema = input.schema();

    // The select list, over the input columns.
    let scope = Scope::new(&schema);
    let mut items: Vec<Expr> = vec![];
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let x = scope.expr(e)?;
                items.push(match x {
                    Expr::Column(_) => x,
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
                    || opts.opt_exclude.is_some()
                    || opts.opt_except.is_some()
                    || opts.opt_replace.is_some()
                    || opts.opt_rename.is_some()
                    || opts.opt_alias.is_some()
                {
                    return Err(Error::NotSupported(format!("'{item}' (wildcard options)")));
                }
                items.extend(
                    schema
                        .fields()
                        .iter()
                        .map(|f| Expr::Column(f.name().clone())),
                );
            }
        }
    }
    // `FROM t` alone (DuckDB) selects everything.
    if s.projection.is_empty() {
        items.extend(
            schema
                .fields()
                .iter()
                .map(|f| Expr::Column(f.name().clone())),
        );
    }
    let aliases: Vec<(String, Expr)> = items
        .iter()
        .filter_map(|e| match e {
            Expr::Alias(inner, name) => Some((name.clone(), inner.unalias().clone())),
            _ => None,
        })
        .collect();
    let clause_scope = Scope::with_aliases(&schema, &aliases);

    let mut plan = input;
    if let Some(w) = &s.selection {
        let predicate = clause_scope.expr(w)?;
        plan = Arc::new(LogicalPlan::try_filter(plan, predicate)?);
    }

    let keys = group_keys(&s.group_by, &clause_scope, &items)?;
    let having = s
        .having
        .as_ref()
        .map(|h| clause_scope.expr(h))
        .transpose()?;
    let aggregating =
        keys.is_some() || having.is_some() || items.iter().any(Expr::contains_aggregate);
    if aggregating {
        build_aggregate(plan, keys.unwrap_or_default(), items, having)
    } else {
        LogicalPlan::try_project(plan, items)
    }
}

fn reject_unsupported_clauses(s: &ast::Select) -> Result<()> {
    let unsupported = |what: &str| Err(Error::NotSupported(what.to_string()));
    match &s.distinct {
        None | Some(ast::Distinct::All) => {}
        Some(ast::Distinct::Distinct) => return unsupported("SELECT DISTINCT"),
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
    if !s.named_window.is_empty() {
        return unsupported("WINDOW");
    }
    if s.qualify.is_some() {
        return unsupported("QUALIFY");
    }
    if s.value_table_mode.is_some() {
        return unsupported("SELECT AS STRUCT/VALUE");
    }
    Ok(())
}

/// The grouping keys, or `None` without GROUP BY.
///
/// A key is an input expression, a select-list alias (input columns take precedence),
/// or a 1-based position in the select list; `GROUP BY ALL` groups by every select
/// item that contains no aggregate.
fn group_keys(group_by: &GroupByExpr, scope: &Scope, items: &[Expr]) -> Result<Option<Vec<Expr>>> {
    let mut keys: Vec<Expr> = vec![];
    let mut push = |k: Expr| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
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
            for e in exprs {
                let key = match ordinal(e)? {
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
                push(key);
            }
        }
    }
    Ok(Some(keys))
}

/// `Some(n)` for an integer literal (a select-list position).
fn ordinal(e: &ast::Expr) -> Result<Option<usize>> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) if !n.contains(['.', 'e', 'E']) => {
                n.parse::<usize>().map(Some).map_err(|_| {
                    Error::Plan(format!("GROUP BY position {n} is not in the select list"))
                })
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}
