//! Predicate pushdown: splits filters into conjuncts and moves each as far down as it
//! can go: through projections (renaming columns), below aggregations when it uses only
//! grouping keys, and into scans, where the scan applies it and uses it for Parquet
//! row-group pruning and hive partition pruning. A conjunct that cannot move stays in a
//! Filter right above the node that stops it. Nothing moves past a Limit.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Result;
use crate::expr::Expr;
use crate::plan::LogicalPlan;

/// Pushes `pending` predicates (and the plan's own filters) down into `plan`.
pub fn push_down(plan: Arc<LogicalPlan>, mut pending: Vec<Expr>) -> Result<LogicalPlan> {
    match plan.as_ref() {
        LogicalPlan::Filter { input, predicate } => {
            pending.extend(predicate.clone().split_conjunction());
            push_down(Arc::clone(input), pending)
        }
        LogicalPlan::Scan(scan) => {
            let mut scan = scan.clone();
            scan.filters.extend(pending);
            Ok(LogicalPlan::Scan(scan))
        }
        LogicalPlan::Project { input, exprs, .. } => {
            let renames = plain_renames(exprs);
            let (down, keep) = partition(pending, |p| {
                p.column_refs().iter().all(|c| renames.contains_key(c))
            });
            let down = down.into_iter().map(|p| rename(p, &renames)).collect();
            let input = push_down(Arc::clone(input), down)?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, keep)
        }
        LogicalPlan::Aggregate { input, keys, .. } => {
            let renames = plain_renames(keys);
            let (down, keep) = partition(pending, |p| {
                !p.column_refs().is_empty()
                    && p.column_refs().iter().all(|c| renames.contains_key(c))
            });
            let down = down.into_iter().map(|p| rename(p, &renames)).collect();
            let input = push_down(Arc::clone(input), down)?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, keep)
        }
        LogicalPlan::Limit { input, .. } => {
            let input = push_down(Arc::clone(input), vec![])?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, pending)
        }
        LogicalPlan::Values { .. } => wrap(plan.as_ref().clone(), pending),
    }
}

/// Output column name → the plain input column it passes through (possibly renamed).
fn plain_renames(exprs: &[Expr]) -> HashMap<String, String> {
    exprs
        .iter()
        .filter_map(|e| match e.unalias() {
            Expr::Column(c) => Some((e.output_name(), c.clone())),
            _ => None,
        })
        .collect()
}

fn partition(preds: Vec<Expr>, f: impl Fn(&Expr) -> bool) -> (Vec<Expr>, Vec<Expr>) {
    preds.into_iter().partition(|p| f(p))
}

fn rename(e: Expr, renames: &HashMap<String, String>) -> Expr {
    e.transform(&mut |x| match x {
        Expr::Column(c) => Expr::Column(renames.get(&c).cloned().unwrap_or(c)),
        other => other,
    })
}

fn wrap(plan: LogicalPlan, preds: Vec<Expr>) -> Result<LogicalPlan> {
    match Expr::conjunction(preds) {
        None => Ok(plan),
        Some(p) => Ok(LogicalPlan::Filter {
            input: Arc::new(plan),
            predicate: p,
        }),
    }
}
