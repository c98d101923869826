//! ORDER BY keys: an expression, its direction and where NULLs go. Used by the sort
//! and top-k of logical and physical plans, and by the SQL and LazyFrame front ends.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Expr;

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortExpr {
    pub expr: Expr,
    pub descending: bool,
    pub nulls_first: bool,
}

impl SortExpr {
    /// Ascending, nulls last (the DuckDB and Polars default).
    pub fn asc(expr: Expr) -> Self {
        SortExpr {
            expr,
            descending: false,
            nulls_first: false,
        }
    }
    /// Descending, nulls last (the DuckDB default for DESC).
    pub fn desc(expr: Expr) -> Self {
        SortExpr {
            expr,
            descending: true,
            nulls_first: false,
        }
    }
    /// The same key with nulls first or last.
    pub fn with_nulls_first(mut self, nulls_first: bool) -> Self {
        self.nulls_first = nulls_first;
        self
    }
}

impl fmt::Display for SortExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}{}",
            self.expr,
            if self.descending { "DESC" } else { "ASC" },
            if self.nulls_first { " NULLS FIRST" } else { "" }
        )
    }
}
