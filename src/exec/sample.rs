//! Sampled join statistics: the [`JoinStats`] that `LazyFrame` gives the join-order
//! optimizer when it runs a query (and for `explain`, so it shows the order that runs).
//!
//! Row counts are the plan-only estimates ([`estimate::rows`]: exact Parquet footer
//! counts, else bytes over row width). A column's distinct count is measured on a
//! sample: for a leaf that is a chain of filters and projections over a scan (or
//! in-memory values), `Limit(Project(leaf, [column]), 16384)` runs once, with limit
//! and projection pushdown, so it reads one column of the first rows that pass the
//! leaf's filters. With `d` distinct values among the `n` rows read:
//!
//! - `n < 16384`: the whole input was read, `ndv = d`;
//! - `d · 100 < n`: the column is saturated (e.g. a nation key), `ndv = d`;
//! - otherwise `ndv = rows · d / n`, scaled up from the sample.
//!
//! Other leaves (aggregates, joins, …) are not run: they get `ndv = rows`, as
//! [`DefaultStats`] gives, and so does a sample that fails. The join-order rule asks
//! once per (leaf, join column) and region, so a query samples at most one small scan
//! per equality-join column; the samples use their own query context and do not count
//! towards the session's scanned rows.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::row::{RowConverter, SortField};

use crate::error::Result;
use crate::exec::planner::collect;
use crate::expr::col;
use crate::plan::optimizer::{limit_pushdown, projection_pushdown, DefaultStats, JoinStats};
use crate::plan::{estimate, LogicalPlan};
use crate::session::Session;

/// Rows read per sample.
pub const SAMPLE_ROWS: usize = 16384;

/// [`JoinStats`] that samples join columns by running small queries in `session`.
pub struct SampledStats<'a> {
    session: &'a Session,
}

impl<'a> SampledStats<'a> {
    pub fn new(session: &'a Session) -> Self {
        SampledStats { session }
    }

    /// `(n, d)`: rows read and distinct values among them.
    fn sample(&self, leaf: &LogicalPlan, column: &str) -> Result<(usize, usize)> {
        let plan = LogicalPlan::try_project(Arc::new(leaf.clone()), vec![col(column)])?;
        let plan = LogicalPlan::limit(Arc::new(plan), 0, SAMPLE_ROWS);
        let plan = limit_pushdown::push_down(&plan, None)?;
        let plan = projection_pushdown::prune(&plan, None)?;
        let mut ctx = self.session.query_context();
        ctx.exec.rows_scanned = Arc::new(AtomicU64::new(0));
        let batches = collect(&plan, &ctx)?;
        let converter = RowConverter::new(vec![SortField::new(
            plan.schema().field(0).data_type().clone(),
        )])?;
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut n = 0;
        for b in &batches {
            n += b.num_rows();
            let rows = converter.convert_columns(&[Arc::clone(b.column(0))])?;
            for r in rows.iter() {
                seen.insert(r.as_ref().to_vec());
            }
        }
        Ok((n, seen.len()))
    }
}

/// A chain of filters and projections over a scan or in-memory values.
fn sampleable(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter { input, .. } | LogicalPlan::Project { input, .. } => sampleable(input),
        LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => true,
        _ => false,
    }
}

impl JoinStats for SampledStats<'_> {
    fn rows(&self, leaf: &LogicalPlan) -> f64 {
        estimate::rows(leaf)
    }

    fn ndv(&self, leaf: &LogicalPlan, column: &str) -> f64 {
        let rows = self.rows(leaf);
        if !sampleable(leaf) {
            return DefaultStats.ndv(leaf, column);
        }
        match self.sample(leaf, column) {
            Ok((n, d)) if n < SAMPLE_ROWS || d * 100 < n => (d as f64).max(1.0),
            Ok((n, d)) => (rows * d as f64 / n as f64).max(1.0),
            Err(_) => DefaultStats.ndv(leaf, column),
        }
    }
}
