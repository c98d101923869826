//! Window functions in a select list: planned between the aggregate (if any) and the
//! final projection.
//!
//! `SELECT k, sum(x) AS s, rank() OVER (ORDER BY sum(x) DESC) AS r ... GROUP BY k`:
//! the select list is planned with each window call as a placeholder column `#win…`
//! (`scope::WindowCalls`); the partition keys, order keys and arguments of every call
//! are computed beside the other items (over the aggregate's output when there is
//! one), one Window node per distinct PARTITION BY / ORDER BY appends the calls'
//! columns, and the final projection reads them:
//!
//! ```text
//! Project: k, #agg0 AS s, #win1_0 AS r
//!   Window: partition_by=[] order_by=[#wi0 DESC] [rank() AS #win1_0]
//!     Project: k, #agg0, #agg0 AS #wi0
//!       Aggregate: keys=[k] aggs=[sum(x) AS #agg0]
//! ```

use std::sync::Arc;

use super::scope::WindowUse;
use crate::error::Result;
use crate::expr::window::WindowCall;
use crate::expr::{col, Expr, SortExpr};
use crate::plan::LogicalPlan;

/// Calls sharing a PARTITION BY / ORDER BY: the first call's index, its keys, the calls.
type WindowGroup = (usize, Vec<Expr>, Vec<SortExpr>, Vec<WindowCall>);

/// The distinct non-literal expressions the window calls read (partition keys, order
/// keys, arguments), in order of first use: the same column used by many calls is
/// computed, sorted and spilled once.
fn distinct_inputs(windows: &[WindowUse]) -> Vec<&Expr> {
    let mut out: Vec<&Expr> = vec![];
    let used = windows.iter().flat_map(|w| {
        (w.partition_by.iter())
            .chain(w.order_by.iter().map(|o| &o.expr))
            .chain(w.args.iter())
    });
    for e in used {
        if !matches!(e, Expr::Literal(_)) && !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The expressions every window call needs computed below it, named `#wi<k>`
/// (literal arguments stay in the calls).
pub(crate) fn inputs(windows: &[WindowUse]) -> Vec<Expr> {
    (distinct_inputs(windows).into_iter().enumerate())
        .map(|(k, e)| e.clone().alias(format!("#wi{k}")))
        .collect()
}

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
    let mut plan = Arc::new(LogicalPlan::try_project(below, exprs)?);
    let distinct = distinct_inputs(windows);
    // The column an input expression was computed into; a literal stays itself (the
    // operator reads constant offsets, lag's and nth_value's, from the plan).
    let input = |e: &Expr| match distinct.iter().position(|d| *d == e) {
        Some(k) => col(format!("#wi{k}")),
        None => e.clone(),
    };

    // One Window node per distinct (PARTITION BY, ORDER BY): its calls share a sort.
    let mut groups: Vec<WindowGroup> = vec![];
    for (i, w) in windows.iter().enumerate() {
        let call = WindowCall {
            func: w.func,
            args: w.args.iter().map(input).collect(),
            frame: w.frame,
            name: w.name.clone(),
        };
        let same = groups.iter_mut().find(|(first, ..)| {
            windows[*first].partition_by == w.partition_by && windows[*first].order_by == w.order_by
        });
        match same {
            Some((.., calls)) => calls.push(call),
            None => {
                let partition_by = w.partition_by.iter().map(input).collect();
                let order_by = w
                    .order_by
                    .iter()
                    .map(|o| SortExpr {
                        expr: input(&o.expr),
                        descending: o.descending,
                        nulls_first: o.nulls_first,
                    })
                    .collect();
                groups.push((i, partition_by, order_by, vec![call]));
            }
        }
    }
    for (_, partition_by, order_by, calls) in groups {
        plan = Arc::new(LogicalPlan::try_window(
            plan,
            partition_by,
            order_by,
            calls,
        )?);
    }
    LogicalPlan::try_project(plan, items.to_vec())
}
