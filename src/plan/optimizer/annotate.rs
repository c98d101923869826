//! Annotation: run after the optimizer when estimates are wanted. It asks the [`Statistics`] for what sampling can
//! measure and records it in the plan, where the physical planner's estimates read it:
//!
//! * every scan: its rows after its filters ([`ScanNode::estimated_rows`](crate::plan::ScanNode::estimated_rows));
//! * every aggregate with keys: its distinct key combinations and the bytes of one
//!   encoded key ([`GroupEstimate`](crate::plan::GroupEstimate)).
//!
//! No rewrite and no execution decision depends on these numbers; they make `explain`
//! say, before a long query runs, how large its state will be and whether it spills.
//! With [`super::DefaultStats`] nothing is measured and nothing changes.

use std::sync::Arc;

use crate::error::Result;
use crate::plan::stats::Statistics;
use crate::plan::LogicalPlan;

/// `plan` with measured scan rows and aggregate groups recorded.
pub fn annotate(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<LogicalPlan> {
    let node = plan.map_inputs(|i| annotate(i, stats))?;
    Ok(match node {
        LogicalPlan::Scan(mut s) => {
            let scan = LogicalPlan::Scan(s.clone());
            s.estimated_rows = stats.scan_rows(&scan).or(s.estimated_rows);
            LogicalPlan::Scan(s)
        }
        LogicalPlan::Aggregate {
            input,
            keys,
            aggs,
            schema,
            groups,
        } => {
            let measured = if keys.is_empty() {
                None
            } else {
                stats.groups(&input, &keys)
            };
            LogicalPlan::Aggregate {
                groups: measured.or(groups),
                input: Arc::clone(&input),
                keys,
                aggs,
                schema,
            }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, Expr};
    use crate::plan::stats::DefaultStats;
    use crate::plan::GroupEstimate;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    /// Statistics that answer fixed numbers.
    struct Fixed;

    impl Statistics for Fixed {
        fn rows(&self, _leaf: &LogicalPlan) -> f64 {
            1.0
        }
        fn ndv(&self, _leaf: &LogicalPlan, _column: &str) -> f64 {
            1.0
        }
        fn groups(&self, _input: &LogicalPlan, keys: &[Expr]) -> Option<GroupEstimate> {
            Some(GroupEstimate {
                groups: 42.0,
                key_bytes: keys.len() as f64 * 9.0,
            })
        }
    }

    fn values() -> Arc<LogicalPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        Arc::new(LogicalPlan::Values {
            schema,
            batches: vec![batch],
        })
    }

    #[test]
    fn records_measured_groups_on_keyed_aggregates_only() {
        let keyed =
            LogicalPlan::try_aggregate(values(), vec![col("k")], vec![col("k").sum()]).unwrap();
        let annotated = annotate(&keyed, &Fixed).unwrap();
        let LogicalPlan::Aggregate { groups, .. } = &annotated else {
            panic!("not an aggregate: {annotated:?}");
        };
        assert_eq!(
            *groups,
            Some(GroupEstimate {
                groups: 42.0,
                key_bytes: 9.0
            })
        );
        // A global aggregate has one group; nothing is asked.
        let global = LogicalPlan::try_aggregate(values(), vec![], vec![col("k").sum()]).unwrap();
        let LogicalPlan::Aggregate { groups, .. } = annotate(&global, &Fixed).unwrap() else {
            panic!("not an aggregate");
        };
        assert_eq!(groups, None);
        // Plan-only statistics measure nothing.
        let LogicalPlan::Aggregate { groups, .. } = annotate(&keyed, &DefaultStats).unwrap() else {
            panic!("not an aggregate");
        };
        assert_eq!(groups, None);
    }
}
