//! What planning one (sub)query needs besides its text: the catalog, the common table
//! expressions in force, and the enclosing query's names for a correlated subquery.
//!
//! A [`Cx`] is cheap to derive: a CTE body, a derived table or a set-operation operand
//! gets the same CTEs and no outer names (they cannot be correlated); a subquery in a
//! WHERE/HAVING conjunct gets the enclosing SELECT's FROM items as its outer names
//! (one level: a reference two levels out is not resolved).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::scope::Relations;
use super::Catalog;
use crate::plan::LogicalPlan;

/// The names of the query enclosing a subquery.
#[derive(Debug, Clone)]
pub(crate) struct Outer {
    pub relations: Relations,
}

/// The planning context of one query.
#[derive(Clone)]
pub(crate) struct Cx<'a> {
    /// Where named tables come from.
    pub catalog: &'a dyn Catalog,
    /// `WITH` definitions visible here, later ones shadow earlier ones.
    pub ctes: Vec<(String, Arc<LogicalPlan>)>,
    /// The enclosing query's FROM items, for a subquery in WHERE/HAVING.
    pub outer: Option<Outer>,
    /// Numbers the helper columns subqueries add, unique across one statement.
    counter: Rc<Cell<usize>>,
}

impl<'a> Cx<'a> {
    /// The context of a top-level statement.
    pub fn root(catalog: &'a dyn Catalog) -> Self {
        Cx {
            catalog,
            ctes: vec![],
            outer: None,
            counter: Rc::new(Cell::new(0)),
        }
    }

    /// The same CTEs, no outer names: for derived tables, CTE bodies, set operands.
    pub fn uncorrelated(&self) -> Self {
        Cx {
            outer: None,
            ..self.clone()
        }
    }

    /// The context of a subquery whose enclosing query binds `outer`.
    pub fn with_outer(&self, outer: Outer) -> Self {
        Cx {
            outer: Some(outer),
            ..self.clone()
        }
    }

    /// The plan of CTE `name`, if one is in force (names match case-insensitively).
    pub fn cte(&self, name: &str) -> Option<Arc<LogicalPlan>> {
        let found = |exact: bool| {
            self.ctes.iter().rev().find(|(n, _)| {
                if exact {
                    n == name
                } else {
                    n.eq_ignore_ascii_case(name)
                }
            })
        };
        found(true)
            .or_else(|| found(false))
            .map(|(_, p)| Arc::clone(p))
    }

    /// A fresh number for helper column names (`#sq3`, …).
    pub fn next_id(&self) -> usize {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }
}
