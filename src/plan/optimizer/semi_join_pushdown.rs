//! Semi/anti join pushdown: `(A ⋈ B) ⋉ R` becomes `(A ⋉ R) ⋈ B` when the semi (or
//! anti) join's conditions read only A's columns on the left — like a filter on A,
//! which is what a semi join is. An `IN (subquery)` or `EXISTS` over a multi-table
//! FROM (TPC-H Q18: `o_orderkey IN (…)` over customer, orders, lineitem) then filters
//! its own table before the big joins, and the join orderer sees a small input.
//! Filters in between stay where they are (a semi join does not change left rows).
//! Only a semi join whose own input is estimated smaller than the side it would move
//! into is moved: one over a big input stays above, where the joins below have
//! already cut the rows that probe it.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::Result;
use crate::expr::Expr;
use crate::plan::{estimate, JoinType, LogicalPlan};

/// Applies the rewrite everywhere in `plan`, bottom-up.
pub fn push_down(plan: &LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.map_inputs(push_down)?;
    if let LogicalPlan::Join {
        left,
        right,
        join_type: join_type @ (JoinType::Semi | JoinType::Anti),
        on,
        filter,
        ..
    } = &plan
    {
        let ls = left.schema();
        let mut refs: BTreeSet<String> = on.iter().flat_map(|(l, _)| l.column_refs()).collect();
        refs.extend(
            filter
                .iter()
                .flat_map(|f| f.column_refs())
                .filter(|c| ls.field_with_name(c).is_ok()),
        );
        let semi = SemiJoin {
            right,
            join_type: *join_type,
            on,
            filter: filter.as_ref(),
            refs: &refs,
        };
        if let Some(pushed) = semi.sink_into(left)? {
            return Ok(pushed);
        }
    }
    Ok(plan)
}

struct SemiJoin<'a> {
    right: &'a Arc<LogicalPlan>,
    join_type: JoinType,
    on: &'a [(Expr, Expr)],
    filter: Option<&'a Expr>,
    /// Left-side columns its conditions read.
    refs: &'a BTreeSet<String>,
}

impl SemiJoin<'_> {
    fn covers(&self, plan: &LogicalPlan) -> bool {
        let s = plan.schema();
        !self.refs.is_empty() && self.refs.iter().all(|c| s.field_with_name(c).is_ok())
    }

    /// Whether filtering `side` first pays: the semi join's own input must be the
    /// smaller (TPC-H Q18's 624-order subquery, yes; Q21's `EXISTS` over all of
    /// lineitem, no: it is cheaper to probe it with the few rows the other joins
    /// leave).
    fn worth_it(&self, side: &LogicalPlan) -> bool {
        estimate::rows(self.right) < estimate::rows(side)
    }

    /// This semi join applied to `input` directly.
    fn over(&self, input: &Arc<LogicalPlan>) -> Result<LogicalPlan> {
        if let Some(deeper) = self.sink_into(input)? {
            return Ok(deeper);
        }
        LogicalPlan::try_join(
            Arc::clone(input),
            Arc::clone(self.right),
            self.join_type,
            self.on.to_vec(),
            self.filter.cloned(),
        )
    }

    /// The semi join moved below `left` (an inner join, or a filter over one), if its
    /// conditions read only one side.
    fn sink_into(&self, left: &LogicalPlan) -> Result<Option<LogicalPlan>> {
        match left {
            LogicalPlan::Filter { input, predicate } => {
                Ok(self.sink_into(input)?.map(|inner| LogicalPlan::Filter {
                    input: Arc::new(inner),
                    predicate: predicate.clone(),
                }))
            }
            LogicalPlan::Join {
                left: a,
                right: b,
                join_type: JoinType::Inner,
                on,
                filter,
                ..
            } => {
                let (a, b) = if self.covers(a) && self.worth_it(a) {
                    (Arc::new(self.over(a)?), Arc::clone(b))
                } else if self.covers(b) && self.worth_it(b) {
                    (Arc::clone(a), Arc::new(self.over(b)?))
                } else {
                    return Ok(None);
                };
                Ok(Some(LogicalPlan::try_join(
                    a,
                    b,
                    JoinType::Inner,
                    on.clone(),
                    filter.clone(),
                )?))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};
    use crate::plan::optimizer::test_util::{child, join_inputs, names, values};

    /// `A(a_key, a_x) ⋈ B(b_key)` on `a_x = b_key`, 100 rows each.
    fn a_join_b() -> Arc<LogicalPlan> {
        let (a, b) = (values(&["a_key", "a_x"], 100), values(&["b_key"], 100));
        let on = vec![(col("a_x"), col("b_key"))];
        Arc::new(LogicalPlan::try_join(a, b, JoinType::Inner, on, None).unwrap())
    }

    fn join_type(plan: &LogicalPlan) -> JoinType {
        match plan {
            LogicalPlan::Join { join_type, .. } => *join_type,
            other => panic!("expected a join, got {other:?}"),
        }
    }

    #[test]
    fn small_semi_join_moves_to_the_left_input_it_reads() {
        let r = values(&["r"], 5);
        let on = vec![(col("a_key"), col("r"))];
        let plan = LogicalPlan::try_join(a_join_b(), r, JoinType::Semi, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        assert_eq!(join_type(&out), JoinType::Inner);
        let (left, right) = join_inputs(&out);
        assert_eq!(join_type(left), JoinType::Semi);
        let (semi_in, semi_keys) = join_inputs(left);
        assert_eq!(names(semi_in), ["a_key", "a_x"]);
        assert_eq!(names(semi_keys), ["r"]);
        assert_eq!(names(right), ["b_key"]);
        assert_eq!(names(&out), names(&plan));
    }

    #[test]
    fn anti_join_reading_the_right_input_moves_there_below_a_filter() {
        let filter = LogicalPlan::try_filter(a_join_b(), col("a_x").gt(lit(1i64))).unwrap();
        let on = vec![(col("b_key"), col("r"))];
        let r = values(&["r"], 5);
        let plan = LogicalPlan::try_join(Arc::new(filter), r, JoinType::Anti, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        let LogicalPlan::Filter { predicate, .. } = &out else {
            panic!("expected the filter to stay on top: {out:?}");
        };
        assert_eq!(predicate, &col("a_x").gt(lit(1i64)));
        let (left, right) = join_inputs(child(&out));
        assert_eq!(names(left), ["a_key", "a_x"]);
        assert_eq!(join_type(right), JoinType::Anti);
        assert_eq!(names(join_inputs(right).0), ["b_key"]);
    }

    /// TPC-DS q58's `d_date IN (SELECT d_date FROM date_dim WHERE d_week_seq =
    /// (scalar))`: the subquery is as big as the table it filters, but its join with a
    /// one-row input is an equality filter, so it is estimated smaller and moves down.
    #[test]
    fn semi_join_whose_input_is_filtered_by_a_scalar_moves_down() {
        let (d, one) = (values(&["d", "week"], 100), values(&["w"], 1));
        let scalar = LogicalPlan::try_aggregate(one, vec![], vec![col("w").max().alias("m")]);
        let filtered = LogicalPlan::try_join(
            d,
            Arc::new(scalar.unwrap()),
            JoinType::Inner,
            vec![(col("week"), col("m"))],
            None,
        )
        .unwrap();
        let sub = LogicalPlan::try_project(Arc::new(filtered), vec![col("d").alias("r")]);
        let on = vec![(col("a_key"), col("r"))];
        let plan =
            LogicalPlan::try_join(a_join_b(), Arc::new(sub.unwrap()), JoinType::Semi, on, None)
                .unwrap();
        let out = push_down(&plan).unwrap();
        assert_eq!(join_type(&out), JoinType::Inner, "{out:?}");
        assert_eq!(join_type(join_inputs(&out).0), JoinType::Semi);
    }

    #[test]
    fn semi_join_over_a_bigger_input_stays_above() {
        let r = values(&["r"], 1000);
        let on = vec![(col("a_key"), col("r"))];
        let plan = LogicalPlan::try_join(a_join_b(), r, JoinType::Semi, on, None).unwrap();
        let out = push_down(&plan).unwrap();
        assert_eq!(join_type(&out), JoinType::Semi);
        let (left, right) = join_inputs(&out);
        assert_eq!(join_type(left), JoinType::Inner);
        assert_eq!(names(right), ["r"]);
    }
}
