//! Plan fragments: a plan subtree and the slice of input it reads, the unit another
//! process (a Dask worker) can run.
//!
//! A fragment is an ordinary [`LogicalPlan`] whose scan names a slice of its dataset
//! ([`Dataset::fragment`]: some files, some Parquet row groups, or a byte window of a
//! CSV file), so it serializes like any plan and runs with the same executor.
//! [`split_scan`] cuts a plan into fragments along one scan: for a plan that streams
//! (filters and projections over that scan) the fragments' rows together are the
//! plan's rows; an aggregate's fragments give partial results for a final merge.

use std::sync::Arc;

use super::{LogicalPlan, ScanNode};
use crate::error::{Error, Result};
use crate::io::Dataset;

/// The scans of `plan`, in depth-first order (left input first).
pub fn scans(plan: &LogicalPlan) -> Vec<&ScanNode> {
    let mut out = vec![];
    collect_scans(plan, &mut out);
    out
}

fn collect_scans<'a>(plan: &'a LogicalPlan, out: &mut Vec<&'a ScanNode>) {
    if let LogicalPlan::Scan(s) = plan {
        out.push(s);
    }
    for input in plan.inputs() {
        collect_scans(input, out);
    }
}

/// `plan` with scan number `index` (in [`scans`] order) reading `dataset` instead.
pub fn with_scan_dataset(
    plan: &LogicalPlan,
    index: usize,
    dataset: Arc<Dataset>,
) -> Result<LogicalPlan> {
    let mut seen = 0;
    let out = replace(plan, index, &dataset, &mut seen)?;
    if seen <= index {
        return Err(Error::Plan(format!(
            "the plan has {seen} scans; no scan {index}"
        )));
    }
    Ok(out)
}

fn replace(
    plan: &LogicalPlan,
    index: usize,
    dataset: &Arc<Dataset>,
    seen: &mut usize,
) -> Result<LogicalPlan> {
    if let LogicalPlan::Scan(s) = plan {
        let here = *seen;
        *seen += 1;
        if here == index {
            let mut s = s.clone();
            s.dataset = Arc::clone(dataset);
            s.estimated_rows = None;
            return Ok(LogicalPlan::Scan(s));
        }
        return Ok(plan.clone());
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|i| replace(i, index, dataset, seen).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    plan.with_inputs(inputs)
}

/// Fragments of `plan` along its scan number `index`: one per slice of about
/// `target_bytes` of that scan's input ([`Dataset::split`]), each the whole plan
/// reading only its slice.
pub fn split_scan(plan: &LogicalPlan, index: usize, target_bytes: u64) -> Result<Vec<LogicalPlan>> {
    let scan = scans(plan)
        .get(index)
        .map(|s| Arc::clone(&s.dataset))
        .ok_or_else(|| Error::Plan(format!("the plan has no scan {index}")))?;
    scan.split(target_bytes)
        .iter()
        .map(|parts| {
            let slice = scan.fragment(parts)?;
            with_scan_dataset(plan, index, Arc::new(slice))
        })
        .collect()
}
