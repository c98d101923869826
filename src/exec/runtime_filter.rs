//! Runtime filters: what a breaker learns while it runs, handed to the Parquet scan
//! below it so that the scan decodes less.
//!
//! * A top-k publishes its running k-th key ([`super::topk_bound`]).
//! * A join's finished build hands over its few distinct keys
//!   ([`super::join::key_filter`]) when probe rows without a match are never output
//!   (inner and semi joins, outer joins that preserve only the build side).
//!
//! Either is wired only where its column reaches the breaker unchanged from a Parquet
//! scan through filters and projections, so only one scan receives it and skipping
//! rows by their scan value is exact. Memory: the bound is one value; the key set is at
//! most [`super::join::key_filter::MAX_KEYS`] keys.

use std::sync::Arc;

use super::join::key_filter::JoinKeyFilter;
use super::join::{JoinShared, JoinSpec};
use super::topk_bound::TopKBound;
use crate::error::Result;
use crate::expr::Expr;
use crate::io::FileFormat;
use crate::plan::{LogicalPlan, SortExpr};

/// Whether `column` of `input` is a column of a Parquet scan that reaches `input`
/// through filters and projections passing it through by name.
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
            LogicalPlan::Scan(s) => {
                let parquet = matches!(s.dataset.format, FileFormat::Parquet(_));
                return parquet && s.schema.field_with_name(column).is_ok();
            }
            _ => return false,
        }
    }
}

/// A bound for a top-k whose first key is a Parquet scan column (see above).
pub(super) fn topk_bound(input: &LogicalPlan, keys: &[SortExpr]) -> Option<Arc<TopKBound>> {
    let first = keys.first()?;
    let Expr::Column(column) = &first.expr else {
        return None;
    };
    parquet_scan_column(input, column).then(|| {
        Arc::new(TopKBound::new(
            column.clone(),
            first.descending,
            first.nulls_first,
        ))
    })
}

/// The build keys of a finished join for its probe side's Parquet scan, when probe
/// rows without a match never reach the output (their absence cannot change it), the
/// join has one integer key and few distinct build keys, and the probe key is a scan
/// column (see above).
pub(super) fn join_key_filter(
    spec: &JoinSpec,
    shared: &JoinShared,
    probe_side: &LogicalPlan,
) -> Result<Option<Arc<JoinKeyFilter>>> {
    let keeps_unmatched_probe = spec.roles.probe_unmatched || spec.roles.probe_anti;
    if keeps_unmatched_probe || spec.probe_keys.len() != 1 {
        return Ok(None);
    }
    let Expr::Column(column) = &spec.probe_keys[0] else {
        return Ok(None);
    };
    if !parquet_scan_column(probe_side, column) {
        return Ok(None);
    }
    let Some(keys) = shared.in_memory_build_keys()? else {
        return Ok(None);
    };
    Ok(JoinKeyFilter::try_new(column.clone(), &keys).map(Arc::new))
}
