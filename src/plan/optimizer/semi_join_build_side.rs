//! Build side of semi and anti joins: a join that tests rows of its left input against
//! a right input (`IN (subquery)`, `EXISTS`, `NOT EXISTS`, after decorrelation) builds
//! its hash table on the right by default. When the left rows are estimated at under a
//! quarter of the right's, the left builds instead and the right streams through it as
//! the probe (TPC-DS q95: 1,300 web orders tested against a 75M-row self-join; q16,
//! q94: a few thousand catalog orders against all of `catalog_sales`). The join's
//! output is the same either way (the executor keeps the matched, or unmatched, build
//! rows); a small build is held in memory where a large one spills, and its keys reach
//! the probe side's scans as a runtime filter (`crate::runtime_filter::join_keys`).
//!
//! Rows come from [`super::annotate::estimated_rows`]: scan rows and key distinct
//! counts measured by the session's [`Statistics`], aggregate groups not sampled.
//! A join that already carries a build-side hint keeps it. Runs after the second
//! predicate pushdown, when the joins below have their keys.

use std::sync::Arc;

use super::annotate::estimated_rows;
use crate::error::Result;
use crate::plan::stats::Statistics;
use crate::plan::{BuildSide, JoinType, LogicalPlan};

/// How much smaller the left input must be estimated for it to become the build.
const LEFT_BUILD_RATIO: f64 = 4.0;

/// `plan` with build-on-left hints on semi and anti joins whose left input is far
/// smaller than their right.
pub fn choose(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<LogicalPlan> {
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|i| choose(i, stats).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let node = plan.with_inputs(inputs)?;
    let LogicalPlan::Join {
        left,
        right,
        join_type: JoinType::Semi | JoinType::Anti,
        on,
        build_hint: None,
        ..
    } = &node
    else {
        return Ok(node);
    };
    if on.is_empty() {
        return Ok(node);
    }
    let (l, r) = (estimated_rows(left, stats)?, estimated_rows(right, stats)?);
    if l * LEFT_BUILD_RATIO < r {
        return Ok(node.with_build_hint(Some(BuildSide::Left)));
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::col;
    use crate::plan::optimizer::test_util::values;
    use crate::plan::stats::DefaultStats;

    fn semi(left_rows: usize, right_rows: usize, join_type: JoinType) -> LogicalPlan {
        let left = values(&["a"], left_rows);
        let right = values(&["b"], right_rows);
        LogicalPlan::try_join(left, right, join_type, vec![(col("a"), col("b"))], None).unwrap()
    }

    /// A small left side builds; a comparable or larger one leaves the default (the
    /// right builds); a hint already there stays; inner joins are not touched.
    #[test]
    fn small_left_sides_of_semi_and_anti_joins_build() {
        for t in [JoinType::Semi, JoinType::Anti] {
            let out = choose(&semi(10, 1000, t), &DefaultStats).unwrap();
            assert_eq!(out.build_hint(), Some(BuildSide::Left), "{t}");
            let out = choose(&semi(500, 1000, t), &DefaultStats).unwrap();
            assert_eq!(out.build_hint(), None, "{t}");
        }
        let hinted = semi(10, 1000, JoinType::Semi).with_build_hint(Some(BuildSide::Right));
        let out = choose(&hinted, &DefaultStats).unwrap();
        assert_eq!(out.build_hint(), Some(BuildSide::Right));
        let out = choose(&semi(10, 1000, JoinType::Inner), &DefaultStats).unwrap();
        assert_eq!(out.build_hint(), None);
    }
}
