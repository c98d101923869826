//! Runtime-filter links: which Parquet scan a top-k bound or a join's build keys may
//! filter, decided when the physical plan is built (see `crate::runtime_filter`).
//!
//! A top-k bound goes to a scan its first key reaches through filters and projections
//! that pass the column on by name. A join-key filter goes down [`key_routes`]: through
//! filters, projections (renames included) and joins that output the column's side,
//! and across an inner join's key equality to the other side; only to inputs through
//! which it reaches a Parquet scan ([`routed`]). Skipping rows there is exact, because
//! every row removed could only have produced output rows the join above drops.

use crate::exec::join::JoinSpec;
use crate::exec::physical::{JoinKeysLink, OperatorId, TopKLink};
use crate::expr::{Expr, SortExpr};
use crate::io::FileFormat;
use crate::plan::{JoinType, LogicalPlan};

/// Whether `column` of `input` is a column of a Parquet scan that reaches `input`
/// through filters and projections passing it through by name (for a top-k bound).
fn parquet_scan_column(input: &LogicalPlan, column: &str) -> bool {
    let mut node = input;
    loop {
        match node {
            LogicalPlan::Filter { input, .. } => node = input,
            LogicalPlan::Project { input, exprs, .. } => {
                let passes = exprs
                    .iter()
                    .any(|e| matches!(e, Expr::Column(c) if c == column));
                if !passes {
                    return false;
                }
                node = input;
            }
            LogicalPlan::Scan(s) => return is_parquet_scan_of(s, column),
            _ => return false,
        }
    }
}

fn is_parquet_scan_of(s: &crate::plan::ScanNode, column: &str) -> bool {
    matches!(s.dataset.format, FileFormat::Parquet(_)) && s.schema.field_with_name(column).is_ok()
}

/// Where a join-key filter on `column` of `node`'s output may go next, exactly: the
/// inputs whose rows without a matching value may be dropped, each with its name for
/// the column. Through a filter; through a projection that passes the column on or
/// renames it; through a join to the side that outputs it ([`join_side_of`]) and, for
/// an inner join keyed on it, also to the other side's key column (the two are equal
/// in every output row).
fn key_routes<'p>(node: &'p LogicalPlan, column: &str) -> Vec<(&'p LogicalPlan, String)> {
    match node {
        LogicalPlan::Filter { input, .. } => vec![(input.as_ref(), column.to_string())],
        LogicalPlan::Project { input, exprs, .. } => exprs
            .iter()
            .find_map(|e| match e {
                Expr::Column(c) if c == column => Some(c.clone()),
                Expr::Alias(inner, name) if name == column => match inner.as_ref() {
                    Expr::Column(c) => Some(c.clone()),
                    _ => None,
                },
                _ => None,
            })
            .map(|c| vec![(input.as_ref(), c)])
            .unwrap_or_default(),
        LogicalPlan::Join {
            left,
            right,
            join_type,
            on,
            ..
        } => {
            let Some(side) = join_side_of(*join_type, left, right, column) else {
                return vec![];
            };
            let mut out = vec![(side, column.to_string())];
            if *join_type == JoinType::Inner {
                let from_left = std::ptr::eq(side, left.as_ref());
                for (l, r) in on {
                    if let (Expr::Column(l), Expr::Column(r)) = (l, r) {
                        if from_left && l == column {
                            out.push((right.as_ref(), r.clone()));
                        } else if !from_left && r == column {
                            out.push((left.as_ref(), l.clone()));
                        }
                    }
                }
            }
            out
        }
        _ => vec![],
    }
}

/// `link` routed one step down from `node` ([`key_routes`]), renamed for each input,
/// to the inputs through which it reaches a Parquet scan only (so it never enters a
/// node that does not route it, such as a union whose inputs name columns their own
/// way).
pub(super) fn routed<'p>(
    node: &'p LogicalPlan,
    link: &JoinKeysLink,
) -> Vec<(&'p LogicalPlan, JoinKeysLink)> {
    key_routes(node, &link.column)
        .into_iter()
        .filter(|(input, column)| reaches_parquet_scan(input, column))
        .map(|(input, column)| {
            (
                input,
                JoinKeysLink {
                    column,
                    ..link.clone()
                },
            )
        })
        .collect()
}

/// Whether a join-key filter on `column` of `node` reaches some Parquet scan.
fn reaches_parquet_scan(node: &LogicalPlan, column: &str) -> bool {
    if let LogicalPlan::Scan(s) = node {
        return is_parquet_scan_of(s, column);
    }
    key_routes(node, column)
        .into_iter()
        .any(|(input, c)| reaches_parquet_scan(input, &c))
}

/// The input of a join whose `column` the join outputs as it is: the one side that
/// has it, when the join outputs that side's columns. Dropping a row of that side
/// then drops only the output rows that hold its value, or (outer joins) turns them
/// into rows whose value is NULL; a join above keyed on the column drops both kinds.
fn join_side_of<'p>(
    join_type: JoinType,
    left: &'p LogicalPlan,
    right: &'p LogicalPlan,
    column: &str,
) -> Option<&'p LogicalPlan> {
    let in_left = left.schema().field_with_name(column).is_ok();
    let in_right = right.schema().field_with_name(column).is_ok();
    match (in_left, in_right) {
        (true, false) => Some(left),
        (false, true) if join_type.outputs_right() => Some(right),
        _ => None,
    }
}

/// The bound link of a top-k whose first key is a Parquet scan column.
pub(super) fn topk_link(
    topk: OperatorId,
    input: &LogicalPlan,
    keys: &[SortExpr],
) -> Option<TopKLink> {
    let first = keys.first()?;
    let Expr::Column(column) = &first.expr else {
        return None;
    };
    parquet_scan_column(input, column).then(|| TopKLink {
        topk,
        column: column.clone(),
        descending: first.descending,
        nulls_first: first.nulls_first,
    })
}

/// The key-filter links of a join whose unmatched probe rows never reach the output:
/// one per key that is a Parquet scan column on the probe side. Whether a filter is
/// used depends on the build (integer keys, all in memory), which the executor sees
/// when the build is finished.
pub(super) fn join_keys_link(
    join: OperatorId,
    spec: &JoinSpec,
    probe_side: &LogicalPlan,
) -> Vec<JoinKeysLink> {
    let keeps_unmatched_probe = spec.roles.probe_unmatched || spec.roles.probe_anti;
    if keeps_unmatched_probe {
        return vec![];
    }
    spec.probe_keys
        .iter()
        .zip(&spec.key_types)
        .enumerate()
        .filter_map(|(key, (probe_key, key_type))| {
            let Expr::Column(column) = probe_key else {
                return None;
            };
            let usable = crate::runtime_filter::join_keys_supported(key_type)
                && reaches_parquet_scan(probe_side, column);
            usable.then(|| JoinKeysLink {
                join,
                key,
                column: column.clone(),
            })
        })
        .collect()
}
