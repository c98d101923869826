//! `WITH name [(a, b, …)] AS (query), … <query>`: common table expressions.
//!
//! Each definition is planned in order, seeing the ones before it, and becomes a
//! named relation of the query's [`Cx`]; a FROM item of that name (in the query, its
//! subqueries and derived tables) is the CTE's plan, shadowing a registered table. A CTE
//! referenced twice is the same plan used twice, computed once per use. A column alias
//! list renames the first columns. `WITH RECURSIVE` is [`Error::NotSupported`].

use std::sync::Arc;

use sqlparser::ast;

use super::context::Cx;
use super::join::rename_columns;
use crate::error::{Error, Result};

/// `cx` with the definitions of `with` added.
pub(crate) fn with_ctes<'a>(cx: &Cx<'a>, with: &ast::With) -> Result<Cx<'a>> {
    if with.recursive {
        return Err(Error::NotSupported("WITH RECURSIVE".into()));
    }
    let mut out = cx.clone();
    for cte in &with.cte_tables {
        if cte.from.is_some() {
            return Err(Error::NotSupported(format!("CTE '{cte}'")));
        }
        let name = cte.alias.name.value.clone();
        // A CTE body is its own query: it cannot refer to an enclosing query's rows.
        let mut plan = Arc::new(super::plan_query(&out.uncorrelated(), &cte.query)?);
        if !cte.alias.columns.is_empty() {
            plan = rename_columns(plan, &cte.alias.columns)?;
        }
        out.ctes.push((name, plan));
    }
    Ok(out)
}
