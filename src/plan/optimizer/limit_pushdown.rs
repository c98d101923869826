//! Limit pushdown: a scan under a limit (with only row-wise projections between, and
//! no filter) is told how many rows are needed, so it can stop handing out work early.
//! The Limit node itself stays, so the answer never depends on the scan honouring it.

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
