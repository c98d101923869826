//! Predicate pushdown: splits filters into conjuncts and moves each as far down as it
//! can go: through projections (renaming columns), below aggregations when it uses only
//! grouping keys, and into scans, where the scan applies it and uses it for Parquet
//! row-group pruning and hive partition pruning. Through joins, a conjunct over one
//! side goes to that side when the join type allows, and an equality across the sides
//! of an inner join becomes a join key. A conjunct that cannot move stays in a
//! Filter right above the node that stops it. Nothing moves past a Limit, an Expand or a Window.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::Schema;

use crate::error::Result;
use crate::expr::{BinaryOp, Expr};
use crate::plan::{BuildSide, JoinType, LogicalPlan};

/// Pushes `pending` predicates (and the plan's own filters) down into `plan`.
pub fn push_down(plan: Arc<LogicalPlan>, mut pending: Vec<Expr>) -> Result<LogicalPlan> {
    match plan.as_ref() {
        LogicalPlan::Filter { input, predicate } => {
            for p in predicate.clone().split_conjunction() {
                if !pending.contains(&p) {
                    pending.push(p);
                }
            }
            push_down(Arc::clone(input), pending)
        }
        LogicalPlan::Scan(scan) => {
            let mut scan = scan.clone();
            for p in pending {
                if !scan.filters.contains(&p) {
                    scan.filters.push(p);
                }
            }
            Ok(LogicalPlan::Scan(scan))
        }
        LogicalPlan::Project { input, exprs, .. } => {
            let renames = plain_renames(exprs);
            let (down, keep) = partition(pending, |p| {
                p.column_refs().iter().all(|c| renames.contains_key(c))
            });
            let down = down.into_iter().map(|p| rename(p, &renames)).collect();
            let input = push_down(Arc::clone(input), down)?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, keep)
        }
        LogicalPlan::Aggregate { input, keys, .. } => {
            let renames = plain_renames(keys);
            let (down, keep) = partition(pending, |p| {
                !p.column_refs().is_empty()
                    && p.column_refs().iter().all(|c| renames.contains_key(c))
            });
            let down = down.into_iter().map(|p| rename(p, &renames)).collect();
            let input = push_down(Arc::clone(input), down)?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, keep)
        }
        // Filters stay above an Expand (its projections may null the columns they read).
        // A filter below a window would change the partitions it sees.
        LogicalPlan::Limit { input, .. }
        | LogicalPlan::Expand { input, .. }
        | LogicalPlan::Window { input, .. } => {
            let input = push_down(Arc::clone(input), vec![])?;
            wrap(plan.with_inputs(vec![Arc::new(input)])?, pending)
        }
        LogicalPlan::Sort { input, .. } => {
            let input = push_down(Arc::clone(input), pending)?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        LogicalPlan::Union { inputs, .. } => {
            let inputs = inputs
                .iter()
                .map(|i| push_down(Arc::clone(i), pending.clone()).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            plan.with_inputs(inputs)
        }
        LogicalPlan::Join {
            left,
            right,
            join_type,
            on,
            filter,
            build_hint,
            ..
        } => push_into_join(
            (left, right),
            *join_type,
            on,
            filter.as_ref(),
            *build_hint,
            pending,
        ),
        LogicalPlan::Values { .. } => wrap(plan.as_ref().clone(), pending),
    }
}

/// Which inputs of a join an expression reads.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    Both,
    Neither,
}

fn side_of(e: &Expr, left: &Schema, right: &Schema) -> Side {
    let refs = e.column_refs();
    let l = refs.iter().any(|c| left.field_with_name(c).is_ok());
    let r = refs.iter().any(|c| right.field_with_name(c).is_ok());
    match (l, r) {
        (true, true) => Side::Both,
        (true, false) => Side::Left,
        (false, true) => Side::Right,
        (false, false) => Side::Neither,
    }
}

/// Filters above a join and the join's own condition: conjuncts over one side move
/// into that side where the join type allows it (never into a side whose rows an outer
/// join preserves), `l = r` conjuncts across the sides of an inner join become join
/// keys (so comma joins become hash joins), and the rest stay where they were.
fn push_into_join(
    (left, right): (&Arc<LogicalPlan>, &Arc<LogicalPlan>),
    join_type: JoinType,
    on: &[(Expr, Expr)],
    filter: Option<&Expr>,
    build_hint: Option<BuildSide>,
    pending: Vec<Expr>,
) -> Result<LogicalPlan> {
    let (ls, rs) = (left.schema(), right.schema());
    // Which side's rows may be filtered before the join without changing the answer.
    let (left_ok, right_ok) = match join_type {
        JoinType::Inner => (true, true),
        JoinType::Left | JoinType::Semi | JoinType::Anti => (true, false),
        JoinType::Right => (false, true),
        JoinType::Full => (false, false),
    };
    let mut on = on.to_vec();
    let (mut to_left, mut to_right, mut above, mut cond) = (vec![], vec![], vec![], vec![]);
    // Conjuncts of the join's own condition: for an inner join they are filters like
    // any other; for outer joins they may only narrow the non-preserved side.
    let own: Vec<Expr> = filter
        .map(|f| f.clone().split_conjunction())
        .unwrap_or_default();
    for p in own {
        match side_of(&p, &ls, &rs) {
            Side::Left if join_type == JoinType::Inner || matches!(join_type, JoinType::Right) => {
                to_left.push(p)
            }
            Side::Right
                if matches!(
                    join_type,
                    JoinType::Inner | JoinType::Left | JoinType::Semi | JoinType::Anti
                ) =>
            {
                to_right.push(p)
            }
            Side::Both => match equi_pair(&p, &ls, &rs) {
                Some(pair) => on.push(pair),
                None => {
                    let (l, r) = implied_by_sides(&p, &ls, &rs);
                    if matches!(join_type, JoinType::Inner | JoinType::Right) {
                        to_left.extend(l);
                    }
                    if join_type != JoinType::Right && join_type != JoinType::Full {
                        to_right.extend(r);
                    }
                    cond.push(p)
                }
            },
            _ => cond.push(p),
        }
    }
    for p in pending {
        match side_of(&p, &ls, &rs) {
            Side::Left if left_ok => to_left.push(p),
            Side::Right if right_ok && join_type.outputs_right() => to_right.push(p),
            Side::Both if join_type == JoinType::Inner => match equi_pair(&p, &ls, &rs) {
                Some(pair) => on.push(pair),
                None => {
                    let (l, r) = implied_by_sides(&p, &ls, &rs);
                    to_left.extend(l);
                    to_right.extend(r);
                    cond.push(p)
                }
            },
            _ => above.push(p),
        }
    }
    let left = push_down(Arc::clone(left), to_left)?;
    let right = push_down(Arc::clone(right), to_right)?;
    let join = LogicalPlan::try_join(
        Arc::new(left),
        Arc::new(right),
        join_type,
        on,
        Expr::conjunction(cond),
    )?
    .with_build_hint(build_hint);
    wrap(join, above)
}

/// What a predicate over both sides implies about each side alone: for an OR whose
/// every branch constrains one side, the OR of those constraints (a filter that can
/// run below the join, while the predicate itself stays on the join).
fn implied_by_sides(p: &Expr, ls: &Schema, rs: &Schema) -> (Option<Expr>, Option<Expr>) {
    let left = p.implied_disjunction(&|c| ls.field_with_name(c).is_ok());
    let right = p.implied_disjunction(&|c| rs.field_with_name(c).is_ok());
    (left, right)
}

/// `l = r` with one side over each input, as a (left key, right key) pair.
fn equi_pair(p: &Expr, ls: &Schema, rs: &Schema) -> Option<(Expr, Expr)> {
    let Expr::Binary {
        left,
        op: BinaryOp::Eq,
        right,
    } = p
    else {
        return None;
    };
    match (side_of(left, ls, rs), side_of(right, ls, rs)) {
        (Side::Left, Side::Right) => Some((left.as_ref().clone(), right.as_ref().clone())),
        (Side::Right, Side::Left) => Some((right.as_ref().clone(), left.as_ref().clone())),
        _ => None,
    }
}

/// Output column name → the plain input column it passes through (possibly renamed).
fn plain_renames(exprs: &[Expr]) -> HashMap<String, String> {
    exprs
        .iter()
        .filter_map(|e| match e.unalias() {
            Expr::Column(c) => Some((e.output_name(), c.clone())),
            _ => None,
        })
        .collect()
}

fn partition(preds: Vec<Expr>, f: impl Fn(&Expr) -> bool) -> (Vec<Expr>, Vec<Expr>) {
    preds.into_iter().partition(|p| f(p))
}

fn rename(e: Expr, renames: &HashMap<String, String>) -> Expr {
    e.transform(&mut |x| match x {
        Expr::Column(c) => Expr::Column(renames.get(&c).cloned().unwrap_or(c)),
        other => other,
    })
}

fn wrap(plan: LogicalPlan, preds: Vec<Expr>) -> Result<LogicalPlan> {
    match Expr::conjunction(preds) {
        None => Ok(plan),
        Some(p) => Ok(LogicalPlan::Filter {
            input: Arc::new(plan),
            predicate: p,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};
    use crate::plan::optimizer::test_util::{as_scan, child, csv_scan, join_inputs, names};

    #[test]
    fn filter_over_projection_reaches_the_scan_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a", "b"]);
        let project = LogicalPlan::try_project(scan, vec![col("a").alias("x"), col("b")]).unwrap();
        let plan = LogicalPlan::try_filter(Arc::new(project), col("x").gt(lit(1i64))).unwrap();
        let out = push_down(Arc::new(plan.clone()), vec![]).unwrap();
        assert!(matches!(out, LogicalPlan::Project { .. }), "{out:?}");
        assert_eq!(as_scan(child(&out)).filters, vec![col("a").gt(lit(1i64))]);
        assert_eq!(names(&out), names(&plan));
    }

    #[test]
    fn aggregate_passes_key_filters_down_and_keeps_result_filters_above() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["k", "v"]);
        let agg =
            LogicalPlan::try_aggregate(scan, vec![col("k")], vec![col("v").sum().alias("total")])
                .unwrap();
        let pred = col("k").gt(lit(1i64)).and(col("total").gt(lit(10i64)));
        let plan = LogicalPlan::try_filter(Arc::new(agg), pred).unwrap();
        let out = push_down(Arc::new(plan), vec![]).unwrap();
        let LogicalPlan::Filter { input, predicate } = &out else {
            panic!("expected a filter on top: {out:?}");
        };
        assert_eq!(predicate, &col("total").gt(lit(10i64)));
        assert!(matches!(input.as_ref(), LogicalPlan::Aggregate { .. }));
        assert_eq!(as_scan(child(input)).filters, vec![col("k").gt(lit(1i64))]);
    }

    #[test]
    fn inner_join_splits_filters_by_side_and_turns_equalities_into_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = (
            csv_scan(dir.path(), "l", &["a", "b"]),
            csv_scan(dir.path(), "r", &["c", "d"]),
        );
        let cross = LogicalPlan::try_join(l, r, JoinType::Inner, vec![], None).unwrap();
        let pred = col("a")
            .eq(col("c"))
            .and(col("b").gt(lit(1i64)))
            .and(col("d").gt(lit(2i64)));
        let plan = LogicalPlan::try_filter(Arc::new(cross), pred).unwrap();
        let out = push_down(Arc::new(plan.clone()), vec![]).unwrap();
        let LogicalPlan::Join { on, filter, .. } = &out else {
            panic!("expected no filter above the join: {out:?}");
        };
        assert_eq!(on, &vec![(col("a"), col("c"))]);
        assert_eq!(filter, &None);
        let (left, right) = join_inputs(&out);
        assert_eq!(as_scan(left).filters, vec![col("b").gt(lit(1i64))]);
        assert_eq!(as_scan(right).filters, vec![col("d").gt(lit(2i64))]);
        assert_eq!(names(&out), names(&plan));
    }

    #[test]
    fn left_join_keeps_filters_on_its_preserved_side_only() {
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = (
            csv_scan(dir.path(), "l", &["a", "b"]),
            csv_scan(dir.path(), "r", &["c", "d"]),
        );
        let join =
            LogicalPlan::try_join(l, r, JoinType::Left, vec![(col("a"), col("c"))], None).unwrap();
        let pred = col("d").gt(lit(2i64)).and(col("b").gt(lit(1i64)));
        let plan = LogicalPlan::try_filter(Arc::new(join), pred).unwrap();
        let out = push_down(Arc::new(plan), vec![]).unwrap();
        let LogicalPlan::Filter { input, predicate } = &out else {
            panic!("expected the right-side filter above the join: {out:?}");
        };
        assert_eq!(predicate, &col("d").gt(lit(2i64)));
        let (left, right) = join_inputs(input);
        assert_eq!(as_scan(left).filters, vec![col("b").gt(lit(1i64))]);
        assert!(as_scan(right).filters.is_empty());
    }

    #[test]
    fn nothing_moves_past_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let limit = LogicalPlan::limit(csv_scan(dir.path(), "t", &["a"]), 0, 10);
        let plan = LogicalPlan::try_filter(Arc::new(limit), col("a").gt(lit(1i64))).unwrap();
        let out = push_down(Arc::new(plan), vec![]).unwrap();
        let LogicalPlan::Filter { input, .. } = &out else {
            panic!("expected the filter to stay above the limit: {out:?}");
        };
        assert!(matches!(input.as_ref(), LogicalPlan::Limit { .. }));
        assert!(as_scan(child(input)).filters.is_empty());
    }
}
