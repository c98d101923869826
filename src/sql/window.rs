//! Window functions in a select list: planned between the aggregate (if any) and the
//! final projection.
//!
//! `SELECT k, sum(x) AS s, rank() OVER (ORDER BY sum(x) DESC) AS r ... GROUP BY k`:
//! the select list is planned with each window call as a placeholder column `#win…`
//! (`scope::WindowCalls`); the partition keys, order keys and arguments of every call
//! are computed beside the other items (over the aggregate's output when there is
//! one), one Window node per distinct PARTITION BY / ORDER BY appends the calls'
//! columns (`plan/window.rs`, shared with the API), and the final projection reads
//! them:
//!
//! ```text
//! Project: k, #agg0 AS s, #win1_0 AS r
//!   Window: partition_by=[] order_by=[#wi0 DESC] [rank() AS #win1_0]
//!     Project: k, #agg0, #agg0 AS #wi0
//!       Aggregate: keys=[k] aggs=[sum(x) AS #agg0]
//! ```

use std::sync::Arc;

use crate::error::Result;
use crate::expr::{col, Expr};
use crate::plan::window::{stack, WindowUse};
use crate::plan::LogicalPlan;

pub(crate) use crate::plan::window::inputs;

/// `below` with the window inputs (`finals[n_items..]`, from [`inputs`]) computed,
/// the windows evaluated, and the select items (`finals[..n_items]`) projected.
pub(crate) fn plan(
    below: Arc<LogicalPlan>,
    finals: Vec<Expr>,
    n_items: usize,
    windows: &[WindowUse],
) -> Result<LogicalPlan> {
    let (items, inputs) = finals.split_at(n_items.min(finals.len()));
    let mut exprs: Vec<Expr> = below
        .schema()
        .fields()
        .iter()
        .map(|f| col(f.name().clone()))
        .collect();
    exprs.extend(inputs.iter().cloned());
    let plan = Arc::new(LogicalPlan::try_project(below, exprs)?);
    LogicalPlan::try_project(stack(plan, windows, false)?, items.to_vec())
}
