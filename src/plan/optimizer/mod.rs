//! The logical optimizer: a fixed sequence of small rewrite rules, one per file.
//!
//! 1. [`constant_folding`]: evaluates literal-only sub-expressions once.
//! 2. [`aggregate_offsets`]: `sum(x + c)` / `avg(x + c)` from `sum(x)`, `count(x)`,
//!    `avg(x)`, which calls with different constants share.
//! 3. [`distinct_aggregate`]: an aggregate whose distinct calls share one argument
//!    becomes two group-bys (the inner one removes duplicates), which spill.
//! 4. [`predicate_pushdown`]: moves filters towards and into scans (where they drive
//!    Parquet row-group pruning and hive partition pruning).
//! 5. [`semi_join_pushdown`]: a semi/anti join over an inner join moves to the side
//!    its conditions read (an `IN (subquery)` filters its own table first).
//! 6. [`join_order`]: rebuilds regions of inner joins left-deep, the input with the
//!    most rows as the probe stream, then greedily the connected input with the
//!    smallest estimated join output (row counts and distinct counts from a
//!    [`Statistics`]); then predicate pushdown again, which turns the
//!    region's equalities into join keys.
//! 7. [`semi_join_build_side`]: a semi or anti join whose left input is estimated far
//!    smaller than its right builds its hash table on the left.
//! 8. [`key_set_pushdown`]: an aggregate joined on its grouping key (a decorrelated
//!    scalar subquery) first semi-joins its input with the filtered keys the other
//!    side can produce.
//! 9. [`limit_pushdown`]: tells scans how many rows are needed (a sort under a limit
//!    becomes a top-k).
//! 10. [`projection_pushdown`]: scans read only the columns the query uses.
//!
//! [`annotate`] is not one of them: it records measured scan rows and aggregate groups
//! in an optimized plan for the physical plan's estimates. No decision depends on
//! those (rule 7 estimates rows the same way, without sampling aggregates), and
//! measuring them costs a sample per aggregate and filtered scan, so only
//! what shows estimates (`explain`, `LazyFrame::physical_plan`) runs it; `collect`
//! plans with the plan-only estimates.

pub mod aggregate_offsets;
pub mod annotate;
pub mod constant_folding;
pub mod distinct_aggregate;
pub mod join_order;
pub mod key_set_pushdown;
pub mod limit_pushdown;
pub mod predicate_pushdown;
pub mod projection_pushdown;
pub mod semi_join_build_side;
pub mod semi_join_pushdown;
#[cfg(test)]
mod test_util;

use std::sync::Arc;

use super::LogicalPlan;
use crate::error::Result;

pub use super::stats::{DefaultStats, Statistics};

/// Runs every rule once, in order, ordering joins with [`DefaultStats`] (reads no
/// data).
pub fn optimize(plan: &LogicalPlan) -> Result<LogicalPlan> {
    optimize_with(plan, &DefaultStats)
}

/// Runs every rule once, in order, ordering joins with `stats` (which may sample
/// the join inputs; the leaves it is asked about are already filtered).
pub fn optimize_with(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<LogicalPlan> {
    let plan = constant_folding::fold_plan(plan)?;
    let plan = aggregate_offsets::rewrite(&plan)?;
    let plan = distinct_aggregate::rewrite(&plan)?;
    let plan = predicate_pushdown::push_down(Arc::new(plan), vec![])?;
    let plan = semi_join_pushdown::push_down(&plan)?;
    let plan = join_order::reorder_with(&plan, stats)?;
    let plan = predicate_pushdown::push_down(Arc::new(plan), vec![])?;
    let plan = semi_join_build_side::choose(&plan, stats)?;
    let plan = key_set_pushdown::push_down(&plan)?;
    let plan = limit_pushdown::push_down(&plan, None)?;
    projection_pushdown::prune(&plan, None)
}
