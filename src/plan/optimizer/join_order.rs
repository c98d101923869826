//! Join ordering: a region of inner joins (the joins of a comma-separated FROM, or a
//! chain of `JOIN … ON`) is flattened into its inputs ("leaves") and its predicates,
//! then rebuilt as a left-deep tree chosen greedily by estimated *cardinality*:
//!
//! 1. start from the leaf with the most rows: it becomes the probe stream that flows
//!    through every join of the region in one pipeline;
//! 2. repeatedly join the connected leaf L (one sharing a predicate with the joined
//!    set S) that minimises the estimated output
//!    `|S| · |L| / max(min(Π ndv(a), |L|), min(Π ndv(b), |S|)) · 0.5^k` over the
//!    equalities `a = b` linking L (column a) to S (column b) and the k other linking
//!    predicates: with one equality, `1 / max(ndv(a), ndv(b))`; with several, each
//!    side's combinations are capped by its rows, so a two-column key is not taken
//!    for a far more selective one; ties go to the smaller L; then `|S|` becomes that
//!    estimate. Only when no leaf is connected is one crossed (the one with the
//!    smallest product).
//!
//! Choosing by output size rather than input size keeps a cycle in the join graph
//! from taking a many-to-many edge early: in TPC-H Q5, `customer` is connected to
//! `supplier` by `c_nationkey = s_nationkey` (25 distinct values) and is smaller
//! than `orders`, but joining it there multiplies the stream; its key edge to
//! `orders` is taken once `orders` is in.
//!
//! Row counts and distinct counts come from a [`Statistics`]. [`DefaultStats`] knows
//! only [`estimate::rows`](crate::plan::estimate::rows) and assumes every column is
//! key-like (`ndv = rows`); it reads no data and is what [`super::optimize`] uses. The
//! session's sampling implementation ([`SampledStats`](crate::plan::sampled_stats))
//! runs a small query per (leaf, equality column) instead; see there for what is read. Each leaf's row count and
//! each join column's NDV are asked for once per region.
//!
//! Before the greedy pass, *satellites* fold into their partner: a leaf linked only
//! to one other leaf (not the largest) that cuts that leaf's rows by a third or more is
//! joined to it first, as a bushy subtree that then counts as one leaf (TPC-H Q3:
//! `orders ⋈ customer[BUILDING]` is built once, small, instead of all the qualifying
//! orders; Q5: `nation ⋈ region[ASIA]` and then `supplier ⋈ that`).
//!
//! Each join of the new tree carries a build-side hint: the hash table goes on the
//! new leaf unless the estimated stream is less than half its rows.
//!
//! Predicates are put back as one filter above the new tree; the next predicate
//! pushdown turns `l = r` conjuncts into join keys at the lowest join that sees both
//! sides. A projection restores the region's original column order. Outer, semi and
//! anti joins are not reordered (their inputs are regions of their own).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::expr::{BinaryOp, Expr};
use crate::plan::stats::{DefaultStats, Statistics};
use crate::plan::{BuildSide, JoinType, LogicalPlan};

/// Reorders every inner-join region of `plan` using [`DefaultStats`].
pub fn reorder(plan: &LogicalPlan) -> Result<LogicalPlan> {
    reorder_with(plan, &DefaultStats)
}

/// Reorders every inner-join region of `plan`, estimating with `stats`.
pub fn reorder_with(plan: &LogicalPlan, stats: &dyn Statistics) -> Result<LogicalPlan> {
    if is_region(plan) {
        let mut leaves = vec![];
        let mut preds = vec![];
        flatten(plan, stats, &mut leaves, &mut preds)?;
        if leaves.len() > 2 {
            return rebuild(plan, stats, leaves, preds);
        }
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|i| reorder_with(i, stats).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    plan.with_inputs(inputs)
}

fn is_inner_join(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Join {
            join_type: JoinType::Inner,
            ..
        }
    )
}

/// An inner join, or a filter right above one.
fn is_region(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter { input, .. } => is_inner_join(input),
        other => is_inner_join(other),
    }
}

fn flatten(
    plan: &LogicalPlan,
    stats: &dyn Statistics,
    leaves: &mut Vec<LogicalPlan>,
    preds: &mut Vec<Expr>,
) -> Result<()> {
    match plan {
        LogicalPlan::Filter { input, predicate } if is_inner_join(input) => {
            preds.extend(predicate.clone().split_conjunction());
            flatten(input, stats, leaves, preds)
        }
        LogicalPlan::Join {
            left,
            right,
            join_type: JoinType::Inner,
            on,
            filter,
            ..
        } => {
            flatten(left, stats, leaves, preds)?;
            flatten(right, stats, leaves, preds)?;
            preds.extend(on.iter().map(|(l, r)| l.clone().eq(r.clone())));
            if let Some(f) = filter {
                preds.extend(f.clone().split_conjunction());
            }
            Ok(())
        }
        other => {
            leaves.push(reorder_with(other, stats)?);
            Ok(())
        }
    }
}

fn columns(plan: &LogicalPlan) -> BTreeSet<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// `a = b` between two plain columns.
fn equality(p: &Expr) -> Option<(&str, &str)> {
    match p {
        Expr::Binary {
            left,
            op: BinaryOp::Eq,
            right,
        } => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(a), Expr::Column(b)) => Some((a, b)),
            _ => None,
        },
        _ => None,
    }
}

/// A leaf waiting to be joined.
struct Leaf {
    rows: f64,
    cols: BTreeSet<String>,
    plan: LogicalPlan,
}

/// Estimated rows of joining a side of `s_rows` rows over columns `s_cols` with a
/// leaf of `l_rows` rows over `l_cols`, through the predicates linking them (`None`
/// when none does): `|S| · |L| / max(min(Π ndv(a), |L|), min(Π ndv(b), |S|)) · 0.5^k`
/// (see the module doc).
fn join_rows(
    (s_rows, s_cols): (f64, &BTreeSet<String>),
    (l_rows, l_cols): (f64, &BTreeSet<String>),
    preds: &[(Expr, BTreeSet<String>)],
    ndv: &mut dyn FnMut(&str) -> f64,
) -> Option<f64> {
    let mut sel = 1.0;
    let mut connected = false;
    // Distinct-count products of the equality columns on each side.
    let (mut ndv_leaf, mut ndv_joined) = (1.0f64, 1.0f64);
    for (p, refs) in preds {
        let links = refs.iter().any(|c| l_cols.contains(c))
            && refs.iter().any(|c| s_cols.contains(c))
            && refs
                .iter()
                .all(|c| l_cols.contains(c) || s_cols.contains(c));
        if !links {
            continue;
        }
        connected = true;
        match equality(p) {
            Some((a, b)) => {
                let (a, b) = if l_cols.contains(a) { (a, b) } else { (b, a) };
                ndv_leaf *= ndv(a);
                ndv_joined *= ndv(b);
            }
            None => sel *= 0.5,
        }
    }
    if !connected {
        return None;
    }
    // Key combinations on a side are at most its rows: a two-column key
    // (`partsupp`'s) is not twice as selective as each column alone.
    sel /= ndv_leaf.min(l_rows).max(ndv_joined.min(s_rows)).max(1.0);
    Some((s_rows * l_rows * sel).max(1.0))
}

/// Folds each *satellite* into its partner before ordering: a leaf D whose key
/// equalities all link it to one other leaf L (not the largest, which is the probe
/// stream anyway), when joining D cuts L's rows by at least a third. L ⋈ D becomes one
/// leaf (a bushy subtree, D built, L probing), so the filter D stands for reaches the
/// stream through L's key: TPC-H Q3's customers select orders before orders meet
/// lineitem; Q5's region selects nations. Repeats while something folds.
fn fold_satellites(
    leaves: &mut Vec<Leaf>,
    preds: &[(Expr, BTreeSet<String>)],
    ndv: &mut dyn FnMut(&str) -> f64,
) -> Result<()> {
    'again: loop {
        let largest = (0..leaves.len())
            .max_by(|&a, &b| leaves[a].rows.total_cmp(&leaves[b].rows))
            .unwrap_or(0);
        for d in 0..leaves.len() {
            let mut partners = BTreeSet::new();
            // Only key equalities make partners: another condition (Q7's OR over the two
            // nations) is applied wherever its columns meet, folded or not.
            for (p, refs) in preds {
                if equality(p).is_some() && refs.iter().any(|c| leaves[d].cols.contains(c)) {
                    for (j, leaf) in leaves.iter().enumerate() {
                        if j != d && refs.iter().any(|c| leaf.cols.contains(c)) {
                            partners.insert(j);
                        }
                    }
                }
            }
            let [l] = partners.into_iter().collect::<Vec<_>>()[..] else {
                continue;
            };
            if l == largest || leaves[d].rows > leaves[l].rows {
                continue;
            }
            let Some(rows) = join_rows(
                (leaves[l].rows, &leaves[l].cols),
                (leaves[d].rows, &leaves[d].cols),
                preds,
                ndv,
            ) else {
                continue;
            };
            if rows > leaves[l].rows * (2.0 / 3.0) {
                continue;
            }
            let sat = leaves.remove(d);
            let l = if l > d { l - 1 } else { l };
            let partner = leaves.remove(l);
            let plan = LogicalPlan::try_join(
                Arc::new(partner.plan),
                Arc::new(sat.plan),
                JoinType::Inner,
                vec![],
                None,
            )?
            .with_build_hint(Some(BuildSide::Right));
            let mut cols = partner.cols;
            cols.extend(sat.cols);
            leaves.insert(l, Leaf { rows, cols, plan });
            continue 'again;
        }
        return Ok(());
    }
}

/// The join order, greedily by estimated output rows from the leaf `first`: leaf
/// indexes, each with the estimated rows of the stream it joins (the first leaf's entry
/// is its own rows), and the sum of the estimated join outputs (the rows the stream
/// carries beyond its first leaf).
///
/// A leaf joined on a key of its own (a column whose distinct count is about its
/// rows) contributes at most as many distinct rows as the stream has distinct values
/// of the other side: its columns' distinct counts are capped by that. (A date
/// dimension joined to a fact table that holds 261 dates brings 261 weeks, not every
/// week of the dimension.)
fn greedy_order(
    leaves: &[Leaf],
    preds: &[(Expr, BTreeSet<String>)],
    ndv: &mut dyn FnMut(&str) -> f64,
    first: usize,
) -> (Vec<(usize, f64)>, f64) {
    let mut remaining: Vec<usize> = (0..leaves.len()).filter(|&i| i != first).collect();
    let mut order = vec![(first, leaves[first].rows)];
    let mut joined_cols = leaves[first].cols.clone();
    let mut size = leaves[first].rows;
    let mut carried = 0.0;
    let mut caps: HashMap<String, f64> = HashMap::new();
    while !remaining.is_empty() {
        let mut capped = |c: &str| -> f64 {
            let v = ndv(c);
            caps.get(c).map_or(v, |&cap| v.min(cap))
        };
        // (estimated output, leaf rows, index) of every connected candidate.
        let mut best: Option<(f64, f64, usize)> = None;
        for &i in &remaining {
            let Some(out) = join_rows(
                (size, &joined_cols),
                (leaves[i].rows, &leaves[i].cols),
                preds,
                &mut capped,
            ) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((o, r, _)) => out < o || (out == o && leaves[i].rows < r),
            };
            if better {
                best = Some((out, leaves[i].rows, i));
            }
        }
        let (out, pick) = match best {
            Some((out, _, i)) => (out, i),
            None => {
                // Nothing connected: cross the smallest.
                let i = remaining
                    .iter()
                    .copied()
                    .min_by(|&a, &b| leaves[a].rows.total_cmp(&leaves[b].rows))
                    .unwrap_or(remaining[0]);
                (size * leaves[i].rows, i)
            }
        };
        // The distinct rows a key-joined leaf brings.
        let leaf = &leaves[pick];
        let mut cap = f64::INFINITY;
        for (p, _) in preds {
            let Some((a, b)) = equality(p) else { continue };
            let (a, b) = if leaf.cols.contains(a) {
                (a, b)
            } else {
                (b, a)
            };
            if leaf.cols.contains(a) && joined_cols.contains(b) && capped(a) >= 0.9 * leaf.rows {
                cap = cap.min(capped(b));
            }
        }
        if cap.is_finite() {
            for c in &leaf.cols {
                caps.insert(c.clone(), cap);
            }
        }
        remaining.retain(|&i| i != pick);
        joined_cols.extend(leaf.cols.iter().cloned());
        order.push((pick, size));
        size = out;
        carried += out;
    }
    (order, carried)
}

/// The order to build: greedy from the largest leaf (the natural probe stream), unless
/// starting from another leaf carries less than half as many rows through the joins
/// (TPC-DS q72: from `inventory` every week of stock meets seven sold days; from the
/// filtered sales, the stream stays small and `inventory` probes it once).
fn choose_order(
    leaves: &[Leaf],
    preds: &[(Expr, BTreeSet<String>)],
    ndv: &mut dyn FnMut(&str) -> f64,
) -> Vec<(usize, f64)> {
    let largest = (0..leaves.len())
        .max_by(|&a, &b| leaves[a].rows.total_cmp(&leaves[b].rows))
        .unwrap_or(0);
    let (mut best, mut best_cost) = greedy_order(leaves, preds, ndv, largest);
    let baseline = best_cost;
    for first in (0..leaves.len()).filter(|&i| i != largest) {
        let (order, cost) = greedy_order(leaves, preds, ndv, first);
        if cost < 0.5 * baseline && cost < best_cost {
            (best, best_cost) = (order, cost);
        }
    }
    best
}

fn rebuild(
    original: &LogicalPlan,
    stats: &dyn Statistics,
    leaves: Vec<LogicalPlan>,
    preds: Vec<Expr>,
) -> Result<LogicalPlan> {
    let originals = leaves.clone();
    let mut leaves: Vec<Leaf> = leaves
        .into_iter()
        .map(|l| Leaf {
            rows: stats.rows(&l).max(1.0),
            cols: columns(&l),
            plan: l,
        })
        .collect();
    // A column's distinct count, from the input it comes from (asked once).
    let mut cache: std::collections::HashMap<String, f64> = Default::default();
    let mut ndv = |c: &str| -> f64 {
        if let Some(v) = cache.get(c) {
            return *v;
        }
        let v = originals
            .iter()
            .find(|l| l.schema().field_with_name(c).is_ok())
            .map_or(1.0, |l| stats.ndv(l, c).max(1.0));
        cache.insert(c.to_string(), v);
        v
    };
    let linking: Vec<(Expr, BTreeSet<String>)> = preds
        .iter()
        .map(|p| (p.clone(), p.column_refs().into_iter().collect()))
        .collect();
    fold_satellites(&mut leaves, &linking, &mut ndv)?;
    let order = choose_order(&leaves, &linking, &mut ndv);
    let leaf_rows: Vec<f64> = leaves.iter().map(|l| l.rows).collect();
    let mut slots: Vec<Option<LogicalPlan>> = leaves.into_iter().map(|l| Some(l.plan)).collect();
    let mut tree: Option<LogicalPlan> = None;
    for (i, stream_rows) in order {
        let leaf = slots[i]
            .take()
            .ok_or_else(|| Error::Internal(format!("join order visits input {i} twice")))?;
        tree = Some(match tree {
            None => leaf,
            Some(t) => {
                // The hash table goes on the smaller side: usually the new leaf, but
                // after selective joins the stream can be the smaller one (TPC-H Q9:
                // lineitem ⋈ green parts is far smaller than partsupp or orders).
                let build = if stream_rows * 2.0 < leaf_rows[i] {
                    BuildSide::Left
                } else {
                    BuildSide::Right
                };
                LogicalPlan::try_join(Arc::new(t), Arc::new(leaf), JoinType::Inner, vec![], None)?
                    .with_build_hint(Some(build))
            }
        });
    }
    let tree = tree.ok_or_else(|| Error::Internal("join region without inputs".into()))?;
    let tree = match Expr::conjunction(preds) {
        Some(p) => LogicalPlan::try_filter(Arc::new(tree), p)?,
        None => tree,
    };
    let want = original.schema();
    let same_order = tree
        .schema()
        .fields()
        .iter()
        .zip(want.fields())
        .all(|(a, b)| a.name() == b.name());
    if same_order {
        return Ok(tree);
    }
    let exprs = want
        .fields()
        .iter()
        .map(|f| Expr::Column(f.name().clone()))
        .collect();
    LogicalPlan::try_project(Arc::new(tree), exprs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::col;
    use crate::plan::optimizer::test_util::{child, join_inputs, names, values};

    /// Fixed statistics: a leaf's rows by its first column's name; a column's distinct
    /// count by its name.
    struct Fixed {
        rows: &'static [(&'static str, f64)],
        ndv: &'static [(&'static str, f64)],
    }

    fn lookup(table: &[(&str, f64)], key: &str) -> f64 {
        let hit = table.iter().find(|(k, _)| *k == key);
        hit.unwrap_or_else(|| panic!("no statistic for {key}")).1
    }

    impl Statistics for Fixed {
        fn rows(&self, leaf: &LogicalPlan) -> f64 {
            lookup(self.rows, &names(leaf)[0])
        }
        fn ndv(&self, _leaf: &LogicalPlan, column: &str) -> f64 {
            lookup(self.ndv, column)
        }
    }

    fn join(l: Arc<LogicalPlan>, r: Arc<LogicalPlan>, a: &str, b: &str) -> Arc<LogicalPlan> {
        let on = vec![(col(a), col(b))];
        Arc::new(LogicalPlan::try_join(l, r, JoinType::Inner, on, None).unwrap())
    }

    /// Fact `f(f, f_<d>…)` joined to each dimension `d(<d>_key)` on `f_<d> = <d>_key`,
    /// in `dims` order (the first dimension is the leftmost input).
    fn star(dims: &[&str]) -> Arc<LogicalPlan> {
        let mut fact_cols = vec!["f".to_string()];
        fact_cols.extend(dims.iter().map(|d| format!("f_{d}")));
        let fact_cols: Vec<&str> = fact_cols.iter().map(String::as_str).collect();
        let dim = |d: &str| values(&[&format!("{d}_key")], 1);
        let (d0, rest) = dims.split_first().unwrap();
        let mut plan = join(
            dim(d0),
            values(&fact_cols, 1),
            &format!("{d0}_key"),
            &format!("f_{d0}"),
        );
        for d in rest {
            plan = join(plan, dim(d), &format!("f_{d}"), &format!("{d}_key"));
        }
        plan
    }

    /// The join tree under the restoring projection and the predicates' filter.
    fn tree(plan: &LogicalPlan) -> &LogicalPlan {
        match plan {
            LogicalPlan::Project { input, .. } | LogicalPlan::Filter { input, .. } => tree(input),
            other => other,
        }
    }

    /// A left-deep tree's leaves (by first column), probe stream first, and the build
    /// hint of each join, lowest first.
    fn left_deep(plan: &LogicalPlan) -> (Vec<String>, Vec<Option<BuildSide>>) {
        let (mut leaves, mut hints) = (vec![], vec![]);
        let mut node = tree(plan);
        while let LogicalPlan::Join { left, right, .. } = node {
            leaves.insert(0, names(right)[0].clone());
            hints.insert(0, node.build_hint());
            node = left;
        }
        leaves.insert(0, names(node)[0].clone());
        (leaves, hints)
    }

    #[test]
    fn largest_leaf_becomes_the_probe_stream() {
        // Both dimensions give 1M rows out; the smaller goes first.
        let stats = Fixed {
            rows: &[("f", 1e6), ("a_key", 100.0), ("b_key", 1000.0)],
            ndv: &[
                ("a_key", 100.0),
                ("f_a", 100.0),
                ("b_key", 1e3),
                ("f_b", 1e3),
            ],
        };
        let plan = star(&["a", "b"]);
        let out = reorder_with(&plan, &stats).unwrap();
        assert!(matches!(out, LogicalPlan::Project { .. }), "order restored");
        assert_eq!(names(&out), names(&plan));
        assert!(matches!(child(&out), LogicalPlan::Filter { .. }));
        let (leaves, hints) = left_deep(&out);
        assert_eq!(leaves, ["f", "a_key", "b_key"]);
        assert_eq!(hints, [Some(BuildSide::Right); 2]);
    }

    #[test]
    fn selective_dimension_joins_before_smaller_and_larger_ones() {
        // Out of 1M rows: a (10k rows, f_a key-like) leaves 1M·10k/1M = 10k; b (100
        // rows, 100 values) and c (100k, key-like) both leave 1M. Then b and c both
        // leave 10k (b, smaller, first), and the 10k stream builds against c's 100k.
        let stats = Fixed {
            rows: &[("f", 1e6), ("a_key", 1e4), ("b_key", 100.0), ("c_key", 1e5)],
            ndv: &[
                ("a_key", 1e4),
                ("f_a", 1e6),
                ("b_key", 100.0),
                ("f_b", 100.0),
                ("c_key", 1e5),
                ("f_c", 1e5),
            ],
        };
        let out = reorder_with(&star(&["c", "b", "a"]), &stats).unwrap();
        let (leaves, hints) = left_deep(&out);
        assert_eq!(leaves, ["f", "a_key", "b_key", "c_key"]);
        let (r, l) = (Some(BuildSide::Right), Some(BuildSide::Left));
        assert_eq!(hints, [r, r, l]);
    }

    #[test]
    fn satellite_folds_into_its_partner_as_a_bushy_subtree() {
        // c (100 rows) cuts o from 100k to 100k·100/10k = 1000 rows: a satellite.
        let stats = Fixed {
            rows: &[("f_o", 1e6), ("o_key", 1e5), ("c_key", 100.0)],
            ndv: &[("f_o", 1e5), ("o_key", 1e5), ("o_c", 1e4), ("c_key", 100.0)],
        };
        let (f, o, c) = (
            values(&["f_o"], 1),
            values(&["o_key", "o_c"], 1),
            values(&["c_key"], 1),
        );
        let plan = join(join(f, o, "f_o", "o_key"), c, "o_c", "c_key");
        let out = reorder_with(&plan, &stats).unwrap();
        assert!(
            matches!(out, LogicalPlan::Filter { .. }),
            "same column order"
        );
        assert_eq!(names(&out), names(&plan));
        let (probe, folded) = join_inputs(tree(&out));
        assert_eq!(names(probe), ["f_o"]);
        let (partner, satellite) = join_inputs(folded);
        assert_eq!(names(partner), ["o_key", "o_c"]);
        assert_eq!(names(satellite), ["c_key"]);
        assert_eq!(folded.build_hint(), Some(BuildSide::Right));
    }

    /// A stock table (`inv`, the largest leaf) meets dates by week: starting the stream
    /// there carries every stock row through the joins, while starting from the
    /// dates (or the filtered sales, `cs`) keeps the stream small, and the stock probes it once at
    /// the end (built on the stream). The date dimension joined on its key brings at
    /// most the stream's distinct dates, so its weeks are capped too.
    #[test]
    fn a_smaller_stream_start_wins_when_it_carries_far_fewer_rows() {
        let stats = Fixed {
            rows: &[
                ("inv", 1e6),
                ("d2_date", 7000.0),
                ("d1_date", 70.0),
                ("cs", 1000.0),
            ],
            ndv: &[
                ("inv_date", 100.0),
                ("inv_item", 1e4),
                ("d2_date", 7000.0),
                ("d2_week", 1000.0),
                ("d1_date", 70.0),
                ("d1_week", 10.0),
                ("cs_date", 70.0),
                ("cs_item", 1000.0),
            ],
        };
        let inv = values(&["inv", "inv_date", "inv_item"], 1);
        let d2 = values(&["d2_date", "d2_week"], 1);
        let d1 = values(&["d1_date", "d1_week"], 1);
        let cs = values(&["cs", "cs_date", "cs_item"], 1);
        let plan = join(
            join(inv, d2, "inv_date", "d2_date"),
            d1,
            "d2_week",
            "d1_week",
        );
        let on = vec![
            (col("d1_date"), col("cs_date")),
            (col("inv_item"), col("cs_item")),
        ];
        let plan = LogicalPlan::try_join(plan, cs, JoinType::Inner, on, None).unwrap();
        let out = reorder_with(&plan, &stats).unwrap();
        assert_eq!(names(&out), names(&plan));
        let (leaves, hints) = left_deep(&out);
        // From `inv`: 1e6 rows through three joins. From `d2`: 490 (a week of dates
        // per weekly row), 7000, 7000; from `cs`: 1000, 7000, 7000.
        assert_eq!(leaves, ["d2_date", "d1_date", "cs", "inv"]);
        assert_eq!(
            hints.last(),
            Some(&Some(BuildSide::Left)),
            "the stream is built"
        );
    }
}
