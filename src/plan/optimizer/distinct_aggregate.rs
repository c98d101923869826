//! Distinct aggregates as two group-bys, so that they spill like any other.
//!
//! `count(DISTINCT x)` (and `sum`/`avg(DISTINCT x)`) keeps a set of values per group
//! inside one accumulator; a set cannot be split across spill partitions, so one
//! group with more distinct values than memory holds fails. When every distinct
//! aggregate of an Aggregate reads the same argument and every other aggregate is
//! decomposable (`count`, `count(*)`, `sum`, `min`, `max`), the Aggregate becomes
//!
//! ```text
//! Aggregate: keys=[k]            aggs=[count(#distinct), sum(#partial1) ...]
//!   Aggregate: keys=[k, x AS #distinct] aggs=[sum(y) AS #partial1 ...]
//! ```
//!
//! The inner group-by removes the duplicates (one row per key and distinct value) and
//! computes the other aggregates in parts; the outer one counts, sums or averages the
//! distinct values and combines the parts (a count's parts are summed). Both are the
//! ordinary hash aggregate, which partitions and spills its groups, so the query runs
//! within any memory limit the aggregate itself runs in. NULL values of `x` form a
//! group of the inner aggregate that the outer `count`/`sum`/`avg` skip, as the
//! distinct aggregate does. Without keys, a count over no rows is 0, not NULL: a
//! projection restores that.
//!
//! Aggregates with distinct calls over different arguments, or with other
//! aggregates (`avg`, `stddev`, `first`, ...), keep the per-group sets.

use std::sync::Arc;

use crate::error::Result;
use crate::expr::aggregate::AggFunc;
use crate::expr::{col, lit, Expr};
use crate::plan::LogicalPlan;

/// The name of the inner aggregate's key holding the distinct argument.
const DISTINCT_KEY: &str = "#distinct";

/// `plan` with each Aggregate whose distinct calls share one argument split in two.
pub fn rewrite(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|i| rewrite(i).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let node = plan.with_inputs(inputs)?;
    let LogicalPlan::Aggregate {
        input, keys, aggs, ..
    } = &node
    else {
        return Ok(node);
    };
    let Some(argument) = shared_distinct_argument(aggs) else {
        return Ok(node);
    };
    split(input, keys, aggs, argument.clone())
}

/// The argument every distinct call in `aggs` reads, when there is at least one and
/// every other call is decomposable.
fn shared_distinct_argument(aggs: &[Expr]) -> Option<&Expr> {
    use AggFunc::*;
    let mut argument = None;
    for a in aggs {
        let Expr::Aggregate { func, args } = a.unalias() else {
            return None;
        };
        match func {
            CountDistinct | SumDistinct | MeanDistinct => match (argument, &args[..]) {
                (None, [x]) => argument = Some(x),
                (Some(seen), [x]) if seen == x => {}
                _ => return None,
            },
            CountStar | Count | Sum | Min | Max => {}
            _ => return None,
        }
    }
    argument
}

fn split(
    input: &Arc<LogicalPlan>,
    keys: &[Expr],
    aggs: &[Expr],
    argument: Expr,
) -> Result<LogicalPlan> {
    use AggFunc::*;
    let mut inner_keys = keys.to_vec();
    inner_keys.push(argument.alias(DISTINCT_KEY));
    let mut partials = vec![];
    let mut outer_aggs = vec![];
    let mut zero_when_empty = vec![];
    for (i, a) in aggs.iter().enumerate() {
        let Expr::Aggregate { func, .. } = a.unalias() else {
            unreachable!("checked by shared_distinct_argument")
        };
        let (outer, over) = match func {
            CountDistinct => (Count, col(DISTINCT_KEY)),
            SumDistinct => (Sum, col(DISTINCT_KEY)),
            MeanDistinct => (Mean, col(DISTINCT_KEY)),
            _ => {
                let name = format!("#partial{i}");
                partials.push(a.unalias().clone().alias(&name));
                let outer = match func {
                    CountStar | Count => Sum,
                    f => *f,
                };
                (outer, col(name))
            }
        };
        let name = a.output_name();
        zero_when_empty.push(matches!(func, CountStar | Count).then(|| name.clone()));
        outer_aggs.push(
            Expr::Aggregate {
                func: outer,
                args: vec![over],
            }
            .alias(name),
        );
    }
    let inner = LogicalPlan::try_aggregate(Arc::clone(input), inner_keys, partials)?;
    let outer_keys = keys.iter().map(|k| col(k.output_name())).collect();
    let outer = LogicalPlan::try_aggregate(Arc::new(inner), outer_keys, outer_aggs)?;
    if !keys.is_empty() || zero_when_empty.iter().all(Option::is_none) {
        return Ok(outer);
    }
    // No keys: one output row even over no input, where a count is 0.
    let exprs = zero_when_empty
        .into_iter()
        .zip(aggs)
        .map(|(count, a)| match count {
            Some(name) => col(&name).fill_null(lit(0i64)).alias(name),
            None => col(a.output_name()),
        })
        .collect();
    LogicalPlan::try_project(Arc::new(outer), exprs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::optimizer::test_util::{child, names, values};

    fn aggregate(keys: Vec<Expr>, aggs: Vec<Expr>) -> LogicalPlan {
        LogicalPlan::try_aggregate(values(&["a", "b", "c"], 4), keys, aggs).unwrap()
    }

    fn distinct(func: AggFunc, x: &str) -> Expr {
        Expr::Aggregate {
            func,
            args: vec![col(x)],
        }
    }

    fn inner_keys(plan: &LogicalPlan) -> Vec<String> {
        match plan {
            LogicalPlan::Aggregate { keys, .. } => keys.iter().map(Expr::output_name).collect(),
            other => panic!("expected an aggregate, got {other:?}"),
        }
    }

    /// Distinct calls over one argument, with decomposable others, become two
    /// aggregates with the same output columns; the inner one groups by the keys and
    /// the argument.
    #[test]
    fn distinct_calls_over_one_argument_split_into_two_group_bys() {
        let plan = aggregate(
            vec![col("a")],
            vec![
                distinct(AggFunc::CountDistinct, "b").alias("n"),
                distinct(AggFunc::SumDistinct, "b"),
                distinct(AggFunc::Sum, "c").alias("s"),
                distinct(AggFunc::Count, "c").alias("k"),
            ],
        );
        let out = rewrite(&plan).unwrap();
        assert_eq!(names(&out), names(&plan));
        assert_eq!(inner_keys(&out), vec!["a"]);
        assert_eq!(inner_keys(child(&out)), vec!["a", DISTINCT_KEY]);
    }

    /// Without keys the summed counts are wrapped so that no input counts 0 (the
    /// outer count of the distinct values is 0 by itself).
    #[test]
    fn without_keys_counts_are_zero_over_no_rows() {
        let plan = aggregate(
            vec![],
            vec![
                distinct(AggFunc::CountDistinct, "b").alias("n"),
                distinct(AggFunc::Count, "c").alias("k"),
            ],
        );
        let out = rewrite(&plan).unwrap();
        assert!(matches!(out, LogicalPlan::Project { .. }), "{out:?}");
        assert_eq!(names(&out), vec!["n", "k"]);
        assert_eq!(inner_keys(child(child(&out))), vec![DISTINCT_KEY]);
    }

    /// Two distinct arguments, or an aggregate that is not decomposable, leave the
    /// Aggregate as it is; so does one with no distinct call.
    #[test]
    fn other_aggregates_are_left_alone() {
        for aggs in [
            vec![
                distinct(AggFunc::CountDistinct, "b").alias("x"),
                distinct(AggFunc::CountDistinct, "c").alias("y"),
            ],
            vec![
                distinct(AggFunc::CountDistinct, "b").alias("x"),
                distinct(AggFunc::Mean, "c").alias("y"),
            ],
            vec![distinct(AggFunc::Sum, "b").alias("x")],
        ] {
            let plan = aggregate(vec![col("a")], aggs);
            let out = rewrite(&plan).unwrap();
            assert!(matches!(child(&out), LogicalPlan::Values { .. }), "{out:?}");
        }
    }
}
