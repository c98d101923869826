//! Key-set pushdown into a joined aggregate (a "magic set"): a decorrelated scalar
//! subquery is an aggregate grouped by its correlation column, joined back to the
//! outer query on that column. Only the groups whose key the outer side can produce
//! matter, so the aggregate's input is first semi-joined with those keys:
//!
//! ```text
//! Join(L, Aggregate[keys: b](S), a = b)
//!   → Join(L, Aggregate[keys: b](Semi(S, K, b = k)), a = b)
//! ```
//!
//! where `K` is the filtered input under `L` that column `a` comes from (a scan with
//! filters, a filter, or a semi/anti join's left input), projected to `a AS #keyset`.
//! Every `a` value that reaches the join is among `K`'s, because the path from `K` up
//! to the join only keeps, renames or inner-joins rows. TPC-H Q17 then averages the
//! quantities of the ~2000 selected parts instead of all 2M parts, and Q20 sums over
//! the partsupp rows of the `forest%` parts only. `K` is evaluated once more (its scan
//! runs twice), so the rule applies only when `K` is filtered.
//!
//! Applies to inner joins, and to left joins whose right side is the aggregate (a
//! group missing for a key no left row has changes nothing).

use std::sync::Arc;

use crate::error::Result;
use crate::expr::{col, Expr};
use crate::plan::{projected_column, JoinType, LogicalPlan};

/// The name the key set's column takes (unique within one rewrite).
const KEY_SET: &str = "#keyset";

/// Applies the rewrite everywhere in `plan`, bottom-up.
pub fn push_down(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(push_down)?;
    let LogicalPlan::Join {
        left,
        right,
        join_type: join_type @ (JoinType::Inner | JoinType::Left),
        on,
        ..
    } = &plan
    else {
        return Ok(plan);
    };
    let sides = [(left, right, true), (right, left, false)];
    for (outer, agg_side, agg_is_right) in sides {
        if *join_type == JoinType::Left && !agg_is_right {
            continue;
        }
        for (l, r) in on {
            let (outer_key, agg_key) = if agg_is_right { (l, r) } else { (r, l) };
            let (Expr::Column(a), Expr::Column(b)) = (outer_key.unalias(), agg_key.unalias())
            else {
                continue;
            };
            let Some(key_set) = key_source(outer, a) else {
                continue;
            };
            if let Some(reduced) = reduce_aggregate(agg_side, b, &key_set)? {
                let (new_left, new_right) = if agg_is_right {
                    (Arc::clone(left), Arc::new(reduced))
                } else {
                    (Arc::new(reduced), Arc::clone(right))
                };
                return plan.with_inputs(vec![new_left, new_right]);
            }
        }
    }
    Ok(plan)
}

/// The filtered input under `plan` that column `c` comes from, projected to
/// `c AS #keyset`; `None` when the path is not one that only keeps, renames or
/// inner-joins rows, or nothing on it filters.
fn key_source(plan: &LogicalPlan, c: &str) -> Option<LogicalPlan> {
    let project = |p: &LogicalPlan, c: &str| {
        LogicalPlan::try_project(Arc::new(p.clone()), vec![col(c.to_string()).alias(KEY_SET)]).ok()
    };
    match plan {
        LogicalPlan::Scan(s) if !s.filters.is_empty() => project(plan, c),
        LogicalPlan::Scan(_) => None,
        LogicalPlan::Filter { input, .. } => key_source(input, c).or_else(|| project(plan, c)),
        LogicalPlan::Project { input, exprs, .. } => key_source(input, projected_column(exprs, c)?),
        LogicalPlan::Join {
            left,
            right,
            join_type,
            ..
        } => match join_type {
            JoinType::Inner => {
                let side = if left.schema().field_with_name(c).is_ok() {
                    left
                } else {
                    right
                };
                key_source(side, c)
            }
            JoinType::Semi | JoinType::Anti => key_source(left, c).or_else(|| project(plan, c)),
            _ => None,
        },
        _ => None,
    }
}

/// `plan` (projections over an aggregate grouped by column `b`, possibly renamed)
/// with the aggregate's input semi-joined to `key_set`; `None` when it is not that.
fn reduce_aggregate(
    plan: &LogicalPlan,
    b: &str,
    key_set: &LogicalPlan,
) -> Result<Option<LogicalPlan>> {
    match plan {
        LogicalPlan::Project { input, exprs, .. } => {
            let Some(inner) = projected_column(exprs, b) else {
                return Ok(None);
            };
            Ok(match reduce_aggregate(input, inner, key_set)? {
                Some(reduced) => Some(plan.with_inputs(vec![Arc::new(reduced)])?),
                None => None,
            })
        }
        LogicalPlan::Aggregate { input, keys, .. } => {
            let key = keys.iter().find(|k| k.output_name() == b);
            let Some(Expr::Column(source)) = key.map(|k| k.unalias()) else {
                return Ok(None);
            };
            if input.schema().field_with_name(KEY_SET).is_ok() {
                return Ok(None);
            }
            let semi = LogicalPlan::try_join(
                Arc::clone(input),
                Arc::new(key_set.clone()),
                JoinType::Semi,
                vec![(col(source.clone()), col(KEY_SET))],
                None,
            )?;
            Ok(Some(plan.with_inputs(vec![Arc::new(semi)])?))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::lit;
    use crate::plan::optimizer::test_util::{child, join_inputs, names, values};

    /// `L(a, l_x)` filtered on `l_x > 1`.
    fn filtered_outer() -> Arc<LogicalPlan> {
        let l = values(&["a", "l_x"], 10);
        Arc::new(LogicalPlan::try_filter(l, col("l_x").gt(lit(1i64))).unwrap())
    }

    /// `S(b, v)` grouped by `b`, summing `v` as `total`.
    fn grouped() -> Arc<LogicalPlan> {
        let s = values(&["b", "v"], 100);
        let aggs = vec![col("v").sum().alias("total")];
        Arc::new(LogicalPlan::try_aggregate(s, vec![col("b")], aggs).unwrap())
    }

    /// Asserts `agg` is an aggregate over `S ⋉ (a AS #keyset over L's filter)`.
    fn assert_reduced(agg: &LogicalPlan) {
        assert!(matches!(agg, LogicalPlan::Aggregate { .. }), "{agg:?}");
        let LogicalPlan::Join { join_type, on, .. } = child(agg) else {
            panic!("expected a semi join under the aggregate: {agg:?}");
        };
        assert_eq!(*join_type, JoinType::Semi);
        assert_eq!(on, &vec![(col("b"), col(KEY_SET))]);
        let (input, keys) = join_inputs(child(agg));
        assert_eq!(names(input), ["b", "v"]);
        let LogicalPlan::Project { exprs, input, .. } = keys else {
            panic!("expected the key set projection: {keys:?}");
        };
        assert_eq!(exprs, &vec![col("a").alias(KEY_SET)]);
        assert!(matches!(input.as_ref(), LogicalPlan::Filter { .. }));
    }

    #[test]
    fn aggregate_joined_on_its_key_reads_only_the_filtered_keys() {
        let on = vec![(col("a"), col("b"))];
        let plan =
            LogicalPlan::try_join(filtered_outer(), grouped(), JoinType::Inner, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        let (left, right) = join_inputs(&out);
        assert!(
            matches!(left, LogicalPlan::Filter { .. }),
            "outer side unchanged"
        );
        assert_reduced(right);
        assert_eq!(names(&out), names(&plan));
    }

    #[test]
    fn renamed_aggregate_on_the_left_is_reduced_through_its_projection() {
        let renamed = vec![col("b").alias("k"), col("total")];
        let agg = Arc::new(LogicalPlan::try_project(grouped(), renamed).unwrap());
        let on = vec![(col("k"), col("a"))];
        let plan = LogicalPlan::try_join(agg, filtered_outer(), JoinType::Inner, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        let (left, _) = join_inputs(&out);
        assert!(matches!(left, LogicalPlan::Project { .. }), "{left:?}");
        assert_reduced(child(left));
    }

    #[test]
    fn unfiltered_outer_side_or_preserved_aggregate_is_left_alone() {
        let on = vec![(col("a"), col("b"))];
        let plain = values(&["a", "l_x"], 10);
        let plan = LogicalPlan::try_join(plain, grouped(), JoinType::Inner, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        assert!(matches!(
            child(join_inputs(&out).1),
            LogicalPlan::Values { .. }
        ));
        // A left join preserves every group of a left-side aggregate.
        let on = vec![(col("b"), col("a"))];
        let plan =
            LogicalPlan::try_join(grouped(), filtered_outer(), JoinType::Left, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        assert!(matches!(
            child(join_inputs(&out).0),
            LogicalPlan::Values { .. }
        ));
    }
}
