//! ORDER BY: keys, directions and null placement, lowered to a [`LogicalPlan::Sort`].
//!
//! A key of a SELECT is, in this order of precedence: a 1-based position in the select
//! list (`ORDER BY 2`), the name of an output column (an alias wins over an input
//! column, as in DuckDB), or an expression over the input. An expression equal to a
//! select item sorts by that item's output column; any other is computed as a hidden
//! column next to the select list, sorted by, and projected away after the LIMIT:
//!
//! ```text
//! SELECT a FROM t ORDER BY b LIMIT 3
//!
//! Project: a                   -- drops the hidden key
//!   Limit: fetch=3             -- the optimizer makes Limit + Sort a top-k
//!     Sort: [#order0 ASC]
//!       Project: a, b AS #order0
//! ```
//!
//! With GROUP BY the hidden key goes through the aggregation like any select item, so
//! it may be an aggregate (`ORDER BY count(*)`) or a grouping key. Under SELECT
//! DISTINCT every key must be in the select list. After UNION, keys are output
//! columns, positions, or expressions over them.
//!
//! Defaults as DuckDB: ASC, and NULLS LAST for both ASC and DESC.

use std::sync::Arc;

use sqlparser::ast::{self, OrderBy, OrderByExpr, OrderByKind, OrderByOptions, OrderBySort};

use super::scope::Scope;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::SortExpr;
use crate::plan::LogicalPlan;

/// What one ORDER BY key sorts by.
#[derive(Debug)]
pub(crate) enum KeyRef {
    /// An output column of the select list.
    Output(String),
    /// An expression over the input that is not in the select list.
    Hidden(Expr),
}

/// One ORDER BY key, resolved.
#[derive(Debug)]
pub(crate) struct OrderKey {
    pub key: KeyRef,
    pub descending: bool,
    pub nulls_first: bool,
}

impl OrderKey {
    /// The sort key over the plan that outputs `key` under its name.
    pub fn sort_expr(&self, column: String) -> SortExpr {
        SortExpr {
            expr: Expr::Column(column),
            descending: self.descending,
            nulls_first: self.nulls_first,
        }
    }
}

/// The keys of a SELECT's ORDER BY; `items` are the named select items over the input.
pub(crate) fn select_keys(
    order_by: &OrderBy,
    items: &[Expr],
    scope: &Scope,
) -> Result<Vec<OrderKey>> {
    if order_by.interpolate.is_some() {
        return Err(Error::NotSupported("ORDER BY ... INTERPOLATE".into()));
    }
    match &order_by.kind {
        // ORDER BY ALL: every select item, left to right.
        OrderByKind::All(options) => {
            let (descending, nulls_first) = direction(options)?;
            Ok(items
                .iter()
                .map(|e| OrderKey {
                    key: KeyRef::Output(e.output_name()),
                    descending,
                    nulls_first,
                })
                .collect())
        }
        OrderByKind::Expressions(exprs) => exprs
            .iter()
            .map(|o| {
                let (descending, nulls_first) = key_options(o)?;
                Ok(OrderKey {
                    key: resolve(&o.expr, items, scope)?,
                    descending,
                    nulls_first,
                })
            })
            .collect(),
    }
}

/// Sorts the output of `plan` (a set operation or parenthesized query) by `order_by`.
pub(crate) fn sort_output(plan: Arc<LogicalPlan>, order_by: &OrderBy) -> Result<LogicalPlan> {
    let schema = plan.schema();
    let items: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    let keys = select_keys(order_by, &items, &Scope::new(&schema))?;
    let keys = keys
        .into_iter()
        .map(|k| match k.key {
            KeyRef::Output(ref name) => k.sort_expr(name.clone()),
            KeyRef::Hidden(ref e) => SortExpr {
                expr: e.clone(),
                descending: k.descending,
                nulls_first: k.nulls_first,
            },
        })
        .collect();
    LogicalPlan::try_sort(plan, keys)
}

fn key_options(o: &OrderByExpr) -> Result<(bool, bool)> {
    if o.with_fill.is_some() {
        return Err(Error::NotSupported("ORDER BY ... WITH FILL".into()));
    }
    direction(&o.options)
}

/// `(descending, nulls_first)`.
pub(super) fn direction(o: &OrderByOptions) -> Result<(bool, bool)> {
    let descending = match &o.sort {
        None | Some(OrderBySort::Asc) => false,
        Some(OrderBySort::Desc) => true,
        Some(OrderBySort::Using(op)) => {
            return Err(Error::NotSupported(format!("ORDER BY ... USING {op}")))
        }
    };
    Ok((descending, o.nulls_first.unwrap_or(false)))
}

fn resolve(e: &ast::Expr, items: &[Expr], scope: &Scope) -> Result<KeyRef> {
    if let Some(i) = super::ordinal(e, "ORDER BY")? {
        let item = items.get(i.wrapping_sub(1)).ok_or_else(|| {
            Error::Plan(format!(
                "ORDER BY position {i} is not in the select list (1..={})",
                items.len()
            ))
        })?;
        return Ok(KeyRef::Output(item.output_name()));
    }
    if let ast::Expr::Identifier(id) = e {
        let names: Vec<String> = items.iter().map(Expr::output_name).collect();
        let found = names
            .iter()
            .find(|n| **n == id.value)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(&id.value)));
        if let Some(n) = found {
            return Ok(KeyRef::Output(n.clone()));
        }
    }
    let x = scope.expr(e)?;
    match items.iter().find(|i| i.unalias() == &x || *i == &x) {
        Some(item) => Ok(KeyRef::Output(item.output_name())),
        None => Ok(KeyRef::Hidden(x)),
    }
}
