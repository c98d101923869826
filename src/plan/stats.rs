//! The narrow interface through which the optimizer learns about data:
//! [`Statistics`]. The optimizer never runs anything itself; the session hands it an
//! implementation ([`super::sampled_stats::SampledStats`] runs small sample queries),
//! and [`DefaultStats`] answers from the plan alone.

use super::{estimate, GroupEstimate, LogicalPlan};
use crate::expr::Expr;

/// What the optimizer may ask about the inputs of a plan.
pub trait Statistics {
    /// Estimated rows of `leaf` (at least 1).
    fn rows(&self, leaf: &LogicalPlan) -> f64;
    /// Estimated distinct values of `column` (an output column of `leaf`; at least 1).
    fn ndv(&self, leaf: &LogicalPlan, column: &str) -> f64;
    /// Distinct combinations of `keys` over `input` and the bytes of one encoded key,
    /// when they can be measured (`None`: the estimates fall back to heuristics).
    fn groups(&self, _input: &LogicalPlan, _keys: &[Expr]) -> Option<GroupEstimate> {
        None
    }
    /// Rows of a scan after its filters, when they can be measured better than the
    /// plan-only estimate.
    fn scan_rows(&self, _scan: &LogicalPlan) -> Option<f64> {
        None
    }
}

/// Plan-only statistics: [`estimate::rows`], and every column key-like.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultStats;

impl Statistics for DefaultStats {
    fn rows(&self, leaf: &LogicalPlan) -> f64 {
        estimate::rows(leaf)
    }
    fn ndv(&self, leaf: &LogicalPlan, _column: &str) -> f64 {
        estimate::rows(leaf)
    }
}
