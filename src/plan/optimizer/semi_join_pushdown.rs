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
