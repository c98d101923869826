//! The logical optimizer: a fixed sequence of small rewrite rules, one per file.
//!
//! 1. [`constant_folding`]: evaluates literal-only sub-expressions once.
//! 2. [`predicate_pushdown`]: moves filters towards and into scans (where they drive
//!    Parquet row-group pruning and hive partition pruning).
//! 3. [`limit_pushdown`]: tells scans how many rows are needed.
//! 4. [`projection_pushdown`]: scans read only the columns the query uses.

pub mod constant_folding;
pub mod limit_pushdown;
pub mod predicate_pushdown;
pub mod projection_pushdown;

use std::sync::Arc;

use super::LogicalPlan;
use crate::error::Result;

/// Runs every rule once, in order.
pub fn optimize(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let plan = constant_folding::fold_plan(plan)?;
    let plan = predicate_pushdown::push_down(Arc::new(plan), vec![])?;
    let plan = limit_pushdown::push_down(&plan, None)?;
    let plan = projection_pushdown::prune(&plan, None)?;
    Ok(plan)
}
