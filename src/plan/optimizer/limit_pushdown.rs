//! Limit pushdown: a scan under a limit (with only row-wise projections between, and
//! no filter) is told how many rows are needed, so it can stop handing out work early.
//! A sort under a limit becomes a top-k (`fetch`), and a limit reaches every input of a
//! union. The Limit node itself stays, so the answer never depends on the scan
//! honouring it.

use std::sync::Arc;

use crate::error::Result;
use crate::plan::LogicalPlan;

/// Pushes `needed` (rows wanted from this node, if bounded) down the plan.
pub fn push_down(plan: &LogicalPlan, needed: Option<usize>) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Limit { input, skip, fetch } => {
            let n = skip.saturating_add(*fetch);
            let needed = Some(needed.map_or(n, |m| m.min(n)));
            let input = push_down(input, needed)?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        LogicalPlan::Project { input, .. } => {
            let input = push_down(input, needed)?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        // Sort + limit is a top-k: the sort keeps only the first `needed` rows.
        LogicalPlan::Sort { input, keys, fetch } => {
            let input = push_down(input, None)?;
            Ok(LogicalPlan::Sort {
                input: Arc::new(input),
                keys: keys.clone(),
                fetch: match (needed, fetch) {
                    (Some(n), Some(f)) => Some(n.min(*f)),
                    (n, f) => n.or(*f),
                },
            })
        }
        LogicalPlan::Union { inputs, .. } => {
            let inputs = inputs
                .iter()
                .map(|i| push_down(i, needed).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            plan.with_inputs(inputs)
        }
        LogicalPlan::Scan(scan) if scan.filters.is_empty() => {
            let mut scan = scan.clone();
            if let Some(n) = needed {
                scan.limit = Some(scan.limit.map_or(n, |l| l.min(n)));
            }
            Ok(LogicalPlan::Scan(scan))
        }
        _ => {
            let inputs = plan
                .inputs()
                .into_iter()
                .map(|i| push_down(i, None).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            plan.with_inputs(inputs)
        }
    }
}
