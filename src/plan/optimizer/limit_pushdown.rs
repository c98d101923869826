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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};
    use crate::plan::optimizer::test_util::{as_scan, child, csv_scan};

    #[test]
    fn scan_under_a_projection_is_told_skip_plus_fetch_and_the_limit_stays() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a", "b"]);
        let project = LogicalPlan::try_project(scan, vec![col("a")]).unwrap();
        let inner = LogicalPlan::limit(Arc::new(project), 2, 3);
        // An outer limit needing more rows does not widen the inner one.
        let plan = LogicalPlan::limit(Arc::new(inner), 0, 100);
        let out = push_down(&plan, None).unwrap();
        let inner = child(&out);
        assert!(
            matches!(
                inner,
                LogicalPlan::Limit {
                    skip: 2,
                    fetch: 3,
                    ..
                }
            ),
            "{inner:?}"
        );
        let project = child(inner);
        assert!(matches!(project, LogicalPlan::Project { .. }));
        assert_eq!(as_scan(child(project)).limit, Some(5));
    }

    #[test]
    fn sort_under_a_limit_becomes_a_top_k_over_an_unbounded_scan() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a"]);
        let sort = LogicalPlan::try_sort(scan, vec![col("a").sort_asc()]).unwrap();
        let plan = LogicalPlan::limit(Arc::new(sort), 1, 4);
        let out = push_down(&plan, None).unwrap();
        let LogicalPlan::Sort { input, fetch, .. } = child(&out) else {
            panic!("expected a sort under the limit: {out:?}");
        };
        assert_eq!(*fetch, Some(5));
        assert_eq!(as_scan(input).limit, None);
    }

    #[test]
    fn filters_stop_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a"]);
        let filter = LogicalPlan::try_filter(Arc::clone(&scan), col("a").gt(lit(1i64))).unwrap();
        let out = push_down(&LogicalPlan::limit(Arc::new(filter), 0, 1), None).unwrap();
        assert_eq!(as_scan(child(child(&out))).limit, None);
        // A filter already pushed into the scan stops it too.
        let mut filtered = as_scan(&scan).clone();
        filtered.filters.push(col("a").gt(lit(1i64)));
        let plan = LogicalPlan::limit(Arc::new(LogicalPlan::Scan(filtered)), 0, 1);
        assert_eq!(as_scan(child(&push_down(&plan, None).unwrap())).limit, None);
    }

    #[test]
    fn limit_reaches_every_input_of_a_union() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = vec![
            csv_scan(dir.path(), "x", &["a"]),
            csv_scan(dir.path(), "y", &["a"]),
        ];
        let union = LogicalPlan::try_union(inputs).unwrap();
        let out = push_down(&LogicalPlan::limit(Arc::new(union), 0, 7), None).unwrap();
        let union = child(&out);
        assert_eq!(union.inputs().len(), 2);
        for input in union.inputs() {
            assert_eq!(as_scan(input).limit, Some(7));
        }
    }
}
