//! Annotation: run after the optimizer when estimates are wanted. It asks the [`Statistics`] for what sampling can
//! measure and records it in the plan, where the physical planner's estimates read it:
//!
//! * every scan: its rows after its filters ([`ScanNode::estimated_rows`](crate::plan::ScanNode::estimated_rows));
//! * every aggregate with keys: its distinct key combinations and the bytes of one
//!   encoded key ([`GroupEstimate`](crate::plan::GroupEstimate));
//! * every join: its output rows, from its inputs' (annotated) rows and its key
//!   columns' distinct counts, as the join-order rule estimates them:
//!   `|L| · |R| / max(min(Π ndv(l), |L|), min(Π ndv(r), |R|))`, halved for an extra
//!   condition; an outer join keeps at least its preserved side's rows, a semi join
//!   the share of left keys the right side holds, an anti join the rest. A key
//!   column's distinct count is asked of the input below the joins that provides it
//!   (a scan with its filters), capped by the rows of the join's side.
//!
//! No execution decision depends on these numbers (the semi-join build-side rule
//! estimates rows the same way, through [`estimated_rows`]); they make `explain`
//! say, before a long query runs, how large its state will be and whether it spills.
//! With [`super::DefaultStats`] nothing is measured and nothing changes.

use std::sync::Arc;

use crate::error::Result;
use crate::expr::Expr;
use crate::plan::estimate;
use crate::plan::stats::Statistics;
use crate::plan::{JoinType, LogicalPlan};

/// `plan` with measured scan rows and aggregate groups recorded.
pub fn annotate(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<LogicalPlan> {
    annotate_with(plan, stats, true)
}

/// Estimated output rows of `plan`, with scans and joins measured as [`annotate`]
/// does but aggregate groups not sampled (that would run the aggregate's input).
pub fn estimated_rows(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<f64> {
    Ok(estimate::rows(&annotate_with(plan, stats, false)?))
}

fn annotate_with(
    plan: &LogicalPlan,
    stats: &dyn Statistics,
    measure_groups: bool,
) -> Result<LogicalPlan> {
    let node = plan.map_inputs(|i| annotate_with(i, stats, measure_groups))?;
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
            let measured = if keys.is_empty() || !measure_groups {
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
        join @ LogicalPlan::Join { .. } => {
            let rows = join_rows(&join, stats);
            join.with_estimated_rows(rows)
        }
        other => other,
    })
}

/// Estimated output rows of `join` (see the module doc); `None` for other nodes.
fn join_rows(join: &LogicalPlan, stats: &dyn Statistics) -> Option<f64> {
    let LogicalPlan::Join {
        left,
        right,
        join_type,
        on,
        filter,
        ..
    } = join
    else {
        return None;
    };
    let (l, r) = (estimate::rows(left), estimate::rows(right));
    let (mut ndv_l, mut ndv_r) = (1.0f64, 1.0f64);
    for (a, b) in on {
        ndv_l *= key_ndv(left, a, stats).unwrap_or(l);
        ndv_r *= key_ndv(right, b, stats).unwrap_or(r);
    }
    let (ndv_l, ndv_r) = (ndv_l.min(l).max(1.0), ndv_r.min(r).max(1.0));
    let condition = if filter.is_some() { 0.5 } else { 1.0 };
    let matched = if on.is_empty() {
        l * r * condition
    } else {
        l * r / ndv_l.max(ndv_r) * condition
    };
    // The share of left keys that find a partner (keys assumed to nest).
    let semi = l * (ndv_r / ndv_l).min(1.0) * if on.is_empty() { 1.0 } else { condition };
    let rows = match join_type {
        JoinType::Inner => matched,
        JoinType::Left => matched.max(l),
        JoinType::Right => matched.max(r),
        JoinType::Full => matched.max(l).max(r),
        JoinType::Semi => semi,
        JoinType::Anti => l - semi,
    };
    Some(rows.max(1.0))
}

/// Distinct values of key `key` of join input `side`: asked of the input below any
/// joins that provides the column, capped by `side`'s rows; `None` for a key that is
/// not a column.
fn key_ndv(side: &LogicalPlan, key: &Expr, stats: &dyn Statistics) -> Option<f64> {
    let Expr::Column(name) = key.unalias() else {
        return None;
    };
    let provider = provider(side, name);
    Some(stats.ndv(provider, name).min(estimate::rows(side)))
}

/// The input below the joins of `plan` whose output holds `column`.
fn provider<'a>(plan: &'a LogicalPlan, column: &str) -> &'a LogicalPlan {
    if let LogicalPlan::Join { left, right, .. } = plan {
        for input in [left, right] {
            if input.schema().field_with_name(column).is_ok() {
                return provider(input, column);
            }
        }
    }
    plan
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

    /// Statistics with fixed distinct counts per column name, rows from the plan.
    struct Ndv(&'static [(&'static str, f64)]);

    impl Statistics for Ndv {
        fn rows(&self, leaf: &LogicalPlan) -> f64 {
            estimate::rows(leaf)
        }
        fn ndv(&self, _leaf: &LogicalPlan, column: &str) -> f64 {
            self.0
                .iter()
                .find(|(c, _)| *c == column)
                .map_or(1.0, |(_, n)| *n)
        }
    }

    /// `rows` in-memory rows of one Int64 column `name`.
    fn table(name: &str, rows: i64) -> Arc<LogicalPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        Arc::new(LogicalPlan::Values {
            schema,
            batches: vec![batch],
        })
    }

    fn join_estimate(join_type: JoinType, stats: &Ndv) -> f64 {
        let join = LogicalPlan::try_join(
            table("fk", 1000),
            table("pk", 100),
            join_type,
            vec![(col("fk"), col("pk"))],
            None,
        )
        .unwrap();
        let annotated = annotate(&join, stats).unwrap();
        let LogicalPlan::Join { estimated_rows, .. } = annotated else {
            panic!("not a join: {annotated:?}");
        };
        estimated_rows.unwrap()
    }

    #[test]
    fn join_rows_follow_key_distinct_counts() {
        // 1000 rows whose key takes 200 values, against 100 distinct keys: each
        // matching key value (100 of 200) has 5 rows.
        let stats = Ndv(&[("fk", 200.0), ("pk", 100.0)]);
        assert_eq!(join_estimate(JoinType::Inner, &stats), 500.0);
        assert_eq!(join_estimate(JoinType::Left, &stats), 1000.0);
        assert_eq!(join_estimate(JoinType::Semi, &stats), 500.0);
        assert_eq!(join_estimate(JoinType::Anti, &stats), 500.0);
        // A foreign key into all of the right side's keys: every left row matches once.
        let stats = Ndv(&[("fk", 100.0), ("pk", 100.0)]);
        assert_eq!(join_estimate(JoinType::Inner, &stats), 1000.0);
        assert_eq!(join_estimate(JoinType::Anti, &stats), 1.0);
        // Plan-only statistics (every column key-like): a join keeps its larger input.
        let join = LogicalPlan::try_join(
            table("fk", 1000),
            table("pk", 100),
            JoinType::Inner,
            vec![(col("fk"), col("pk"))],
            None,
        )
        .unwrap();
        assert_eq!(estimate::rows(&join), 1000.0);
    }
}
