//! Join ordering: a region of inner joins (the joins of a comma-separated FROM, or a
//! chain of `JOIN … ON`) is flattened into its inputs and its predicates, then rebuilt
//! as a left-deep tree chosen greedily by estimated size ([`estimate::bytes`]):
//!
//! 1. start from the largest input: it becomes the probe stream that flows through
//!    every join of the region in one pipeline;
//! 2. repeatedly join the smallest input connected to what is joined so far by some
//!    predicate, so each join builds a small hash table and no cross product is formed
//!    while a connected input remains (only a truly disconnected input is crossed).
//!
//! Predicates are put back as one filter above the new tree; the next predicate
//! pushdown turns `l = r` conjuncts into join keys at the lowest join that sees both
//! sides. A projection restores the region's original column order. Outer, semi and
//! anti joins are not reordered (their inputs are regions of their own).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::Result;
use crate::expr::Expr;
use crate::plan::{estimate, JoinType, LogicalPlan};

/// Reorders every inner-join region of `plan`.
pub fn reorder(plan: &LogicalPlan) -> Result<LogicalPlan> {
    if is_region(plan) {
        let mut leaves = vec![];
        let mut preds = vec![];
        flatten(plan, &mut leaves, &mut preds)?;
        if leaves.len() > 2 {
            return rebuild(plan, leaves, preds);
        }
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|i| reorder(i).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    plan.with_inputs(inputs)
}

fn is_inner_join(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Join {
            join_type: JoinType::Inner,
            ..
        }
    )
}

/// An inner join, or a filter right above one.
fn is_region(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter { input, .. } => is_inner_join(input),
        other => is_inner_join(other),
    }
}

fn flatten(plan: &LogicalPlan, leaves: &mut Vec<LogicalPlan>, preds: &mut Vec<Expr>) -> Result<()> {
    match plan {
        LogicalPlan::Filter { input, predicate } if is_inner_join(input) => {
            preds.extend(predicate.clone().split_conjunction());
            flatten(input, leaves, preds)
        }
        LogicalPlan::Join {
            left,
            right,
            join_type: JoinType::Inner,
            on,
            filter,
            ..
        } => {
            flatten(left, leaves, preds)?;
            flatten(right, leaves, preds)?;
            preds.extend(on.iter().map(|(l, r)| l.clone().eq(r.clone())));
            if let Some(f) = filter {
                preds.extend(f.clone().split_conjunction());
            }
            Ok(())
        }
        other => {
            leaves.push(reorder(other)?);
            Ok(())
        }
    }
}

fn columns(plan: &LogicalPlan) -> BTreeSet<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn rebuild(
    original: &LogicalPlan,
    leaves: Vec<LogicalPlan>,
    preds: Vec<Expr>,
) -> Result<LogicalPlan> {
    let mut remaining: Vec<(u64, BTreeSet<String>, LogicalPlan)> = leaves
        .into_iter()
        .map(|l| (estimate::bytes(&l), columns(&l), l))
        .collect();
    let pred_refs: Vec<BTreeSet<String>> = preds
        .iter()
        .map(|p| p.column_refs().into_iter().collect())
        .collect();
    let first = remaining
        .iter()
        .enumerate()
        .max_by_key(|(_, (b, _, _))| *b)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let (_, mut joined_cols, first) = remaining.remove(first);
    let mut tree = first;
    while !remaining.is_empty() {
        let connected = |cols: &BTreeSet<String>| {
            pred_refs.iter().any(|refs| {
                refs.iter().any(|c| cols.contains(c))
                    && refs.iter().any(|c| joined_cols.contains(c))
                    && refs
                        .iter()
                        .all(|c| cols.contains(c) || joined_cols.contains(c))
            })
        };
        let pick = remaining
            .iter()
            .enumerate()
            .filter(|(_, (_, cols, _))| connected(cols))
            .min_by_key(|(_, (b, _, _))| *b)
            .or_else(|| remaining.iter().enumerate().min_by_key(|(_, (b, _, _))| *b))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let (_, cols, leaf) = remaining.remove(pick);
        joined_cols.extend(cols);
        tree = LogicalPlan::try_join(
            Arc::new(tree),
            Arc::new(leaf),
            JoinType::Inner,
            vec![],
            None,
        )?;
    }
    let tree = match Expr::conjunction(preds) {
        Some(p) => LogicalPlan::try_filter(Arc::new(tree), p)?,
        None => tree,
    };
    let want = original.schema();
    let same_order = tree
        .schema()
        .fields()
        .iter()
        .zip(want.fields())
        .all(|(a, b)| a.name() == b.name());
    if same_order {
        return Ok(tree);
    }
    let exprs = want
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    LogicalPlan::try_project(Arc::new(tree), exprs)
}
