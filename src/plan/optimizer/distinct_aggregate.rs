//! Distinct aggregates as two group-bys, so that they spill like any other.
//!
//! `count(DISTINCT x)` (and `sum`/`avg(DISTINCT x)`) keeps a set of values per group
//! inside one accumulator; a set cannot be split across spill partitions, so one
//! group with more distinct values than memory holds fails. When every other aggregate
//! of the Aggregate is decomposable (`count`, `count(*)`, `sum`, `min`, `max`), and
//! the distinct calls read one argument, the Aggregate becomes
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
//! Distinct calls over several arguments `x0 .. xm` read the input once through an
//! Expand: each row becomes one row per argument (and one more when there are other
//! aggregates). The j-th holds the keys and `xj` in column `#distinct{j}`, NULL in the
//! other `#distinct` columns and in the other aggregates' argument columns
//! (`#value{i}`); the extra row holds only those arguments. The inner group-by, by
//! the keys and every `#distinct{j}`, holds each (key, j, value) once and the other
//! aggregates' parts; the outer one counts `#distinct{j}`, which is NULL outside the
//! rows of `xj`, and combines the parts.
//!
//! Aggregates with other aggregates beside the distinct calls (`avg`, `stddev`,
//! `first`, ...) keep the per-group sets, and so do grouping sets with a grand total
//! (`ROLLUP`, `CUBE`): their one row over no input is planned from the Expand of the
//! sets right below the Aggregate.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::expr::aggregate::AggFunc;
use crate::expr::{col, lit, null, Expr};
use crate::plan::grouping_sets::grand_total_keys;
use crate::plan::LogicalPlan;

/// The name of the inner aggregate's key holding the distinct argument (with several,
/// followed by the argument's number).
const DISTINCT_KEY: &str = "#distinct";

/// `plan` with each Aggregate of distinct calls beside decomposable ones split in two.
pub fn rewrite(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let node = plan.map_inputs(rewrite)?;
    let LogicalPlan::Aggregate {
        input, keys, aggs, ..
    } = &node
    else {
        return Ok(node);
    };
    if grand_total_keys(input, keys).is_some() {
        // ROLLUP, CUBE or GROUPING SETS with (): the planner recognises their grand
        // total over no rows from the Expand right below the Aggregate.
        return Ok(node);
    }
    match &distinct_arguments(aggs)[..] {
        [] => Ok(node),
        [argument] => split(input, keys, aggs, argument.clone()),
        arguments => split_expanded(input, keys, aggs, arguments),
    }
}

/// The arguments the distinct calls in `aggs` read, in order of first use; none when
/// there is no distinct call, or a call is neither distinct nor decomposable.
fn distinct_arguments(aggs: &[Expr]) -> Vec<Expr> {
    use AggFunc::*;
    let mut arguments: Vec<Expr> = vec![];
    for a in aggs {
        let Expr::Aggregate { func, args } = a.unalias() else {
            return vec![];
        };
        match (func, &args[..]) {
            (CountDistinct | SumDistinct | MeanDistinct, [x]) => {
                if !arguments.contains(x) {
                    arguments.push(x.clone());
                }
            }
            (CountStar | Count | Sum | Min | Max, _) => {}
            _ => return vec![],
        }
    }
    arguments
}

/// The outer aggregate of a distinct call `func` over the inner key `over`; `None`
/// when `func` is not a distinct call.
fn outer_distinct(func: AggFunc, over: Expr) -> Option<Expr> {
    let outer = match func {
        AggFunc::CountDistinct => AggFunc::Count,
        AggFunc::SumDistinct => AggFunc::Sum,
        AggFunc::MeanDistinct => AggFunc::Mean,
        _ => return None,
    };
    Some(Expr::Aggregate {
        func: outer,
        args: vec![over],
    })
}

/// The outer aggregate combining the parts of a decomposable `func` in column `part`.
fn outer_part(func: AggFunc, part: Expr) -> Expr {
    let outer = match func {
        AggFunc::CountStar | AggFunc::Count => AggFunc::Sum,
        f => f,
    };
    Expr::Aggregate {
        func: outer,
        args: vec![part],
    }
}

fn is_count(a: &Expr) -> bool {
    matches!(
        a.unalias(),
        Expr::Aggregate {
            func: AggFunc::CountStar | AggFunc::Count,
            ..
        }
    )
}

/// `outer` (an aggregate whose columns are `aggs`' output names after the keys), with
/// the summed counts made 0 over no input when there are no keys.
fn zero_counts(outer: LogicalPlan, keys: &[Expr], aggs: &[Expr]) -> Result<LogicalPlan> {
    if !keys.is_empty() || !aggs.iter().any(is_count) {
        return Ok(outer);
    }
    // No keys: one output row even over no input, where a count is 0.
    let exprs = aggs
        .iter()
        .map(|a| {
            let name = a.output_name();
            if is_count(a) {
                col(&name).fill_null(lit(0i64)).alias(name)
            } else {
                col(name)
            }
        })
        .collect();
    LogicalPlan::try_project(Arc::new(outer), exprs)
}

/// One distinct argument: the inner group-by by the keys and `argument`.
fn split(
    input: &Arc<LogicalPlan>,
    keys: &[Expr],
    aggs: &[Expr],
    argument: Expr,
) -> Result<LogicalPlan> {
    let mut inner_keys = keys.to_vec();
    inner_keys.push(argument.alias(DISTINCT_KEY));
    let mut partials = vec![];
    let mut outer_aggs = vec![];
    for (i, a) in aggs.iter().enumerate() {
        let Expr::Aggregate { func, .. } = a.unalias() else {
            return Err(Error::Internal(format!("{a} is not an aggregate")));
        };
        let outer = outer_distinct(*func, col(DISTINCT_KEY)).unwrap_or_else(|| {
            let name = format!("#partial{i}");
            partials.push(a.unalias().clone().alias(&name));
            outer_part(*func, col(name))
        });
        outer_aggs.push(outer.alias(a.output_name()));
    }
    let inner = LogicalPlan::try_aggregate(Arc::clone(input), inner_keys, partials)?;
    let outer_keys = keys.iter().map(|k| col(k.output_name())).collect();
    let outer = LogicalPlan::try_aggregate(Arc::new(inner), outer_keys, outer_aggs)?;
    zero_counts(outer, keys, aggs)
}

/// Several distinct arguments: an Expand, then the two group-bys (see the module doc).
fn split_expanded(
    input: &Arc<LogicalPlan>,
    keys: &[Expr],
    aggs: &[Expr],
    arguments: &[Expr],
) -> Result<LogicalPlan> {
    let key_names: Vec<String> = keys.iter().map(Expr::output_name).collect();
    let distinct_name = |j: usize| format!("{DISTINCT_KEY}{j}");
    let value_name = |i: usize| format!("#value{i}");
    let part_name = |i: usize| format!("#partial{i}");
    // The other aggregates, by position, with what they aggregate (count(*): a 1).
    let others: Vec<(usize, AggFunc, Expr)> = aggs
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a.unalias() {
            Expr::Aggregate { func, args } if outer_distinct(*func, null()).is_none() => {
                Some((i, *func, args.first().cloned().unwrap_or_else(|| lit(1i64))))
            }
            _ => None,
        })
        .collect();
    // The row for argument `j`, or (None) for the other aggregates.
    let row = |j: Option<usize>| -> Vec<Expr> {
        let mut exprs: Vec<Expr> = keys
            .iter()
            .zip(&key_names)
            .map(|(k, n)| k.clone().alias(n))
            .collect();
        for (i, x) in arguments.iter().enumerate() {
            let value = if j == Some(i) { x.clone() } else { null() };
            exprs.push(value.alias(distinct_name(i)));
        }
        for (i, _, arg) in &others {
            let value = if j.is_none() { arg.clone() } else { null() };
            exprs.push(value.alias(value_name(*i)));
        }
        exprs
    };
    let mut projections: Vec<Vec<Expr>> = (0..arguments.len()).map(|j| row(Some(j))).collect();
    if !others.is_empty() {
        projections.push(row(None));
    }
    let expanded = LogicalPlan::try_expand(Arc::clone(input), projections)?;
    let mut inner_keys: Vec<Expr> = key_names.iter().map(col).collect();
    inner_keys.extend((0..arguments.len()).map(|j| col(distinct_name(j))));
    let partials = others
        .iter()
        .map(|&(i, func, _)| {
            // count(*) counts the 1s, which only the extra rows hold.
            let func = match func {
                AggFunc::CountStar => AggFunc::Count,
                f => f,
            };
            Expr::Aggregate {
                func,
                args: vec![col(value_name(i))],
            }
            .alias(part_name(i))
        })
        .collect();
    let inner = LogicalPlan::try_aggregate(Arc::new(expanded), inner_keys, partials)?;
    let mut outer_aggs = vec![];
    for (i, a) in aggs.iter().enumerate() {
        let Expr::Aggregate { func, args } = a.unalias() else {
            return Err(Error::Internal(format!("{a} is not an aggregate")));
        };
        let argument = args
            .first()
            .and_then(|x| arguments.iter().position(|y| y == x));
        let outer = argument
            .and_then(|j| outer_distinct(*func, col(distinct_name(j))))
            .unwrap_or_else(|| outer_part(*func, col(part_name(i))));
        outer_aggs.push(outer.alias(a.output_name()));
    }
    let outer_keys = key_names.iter().map(col).collect();
    let outer = LogicalPlan::try_aggregate(Arc::new(inner), outer_keys, outer_aggs)?;
    zero_counts(outer, keys, aggs)
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

    /// Two distinct arguments read the input once through an Expand of one row per
    /// argument and one for the other aggregates; the inner group-by has a key per
    /// argument.
    #[test]
    fn several_distinct_arguments_expand_the_input_once() {
        let plan = aggregate(
            vec![col("a")],
            vec![
                distinct(AggFunc::CountDistinct, "b").alias("x"),
                distinct(AggFunc::SumDistinct, "c").alias("y"),
                distinct(AggFunc::CountDistinct, "c").alias("z"),
                Expr::Aggregate {
                    func: AggFunc::CountStar,
                    args: vec![],
                }
                .alias("n"),
            ],
        );
        let out = rewrite(&plan).unwrap();
        assert_eq!(names(&out), names(&plan));
        let inner = child(&out);
        assert_eq!(inner_keys(inner), vec!["a", "#distinct0", "#distinct1"]);
        match child(inner) {
            LogicalPlan::Expand { projections, .. } => assert_eq!(projections.len(), 3),
            other => panic!("expected an expand, got {other:?}"),
        }
    }

    /// An aggregate that is not decomposable beside a distinct call leaves the
    /// Aggregate as it is; so does one with no distinct call.
    #[test]
    fn other_aggregates_are_left_alone() {
        for aggs in [
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
