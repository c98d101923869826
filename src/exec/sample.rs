//! Sampled join statistics: the [`JoinStats`] that `LazyFrame` gives the join-order
//! optimizer when it runs a query (and for `explain`, so it shows the order that runs).
//!
//! Row counts start from the plan-only estimates ([`estimate::rows`]: exact Parquet
//! footer counts, else bytes over row width). A filtered scan (possibly under renaming
//! projections) has its filters' selectivity measured: the first [`SAMPLE_ROWS`] rows
//! of the scan *without* its filters are read (only the columns the filters use) and
//! the filters evaluated on them; rows = unfiltered rows × passed / read (exact when
//! the whole input fits the sample). So `p_name LIKE '%green%'` counts 5 %, not the
//! plan-only guess of half.
//!
//! A column's distinct count is measured on a sample: for a leaf that is a chain of
//! filters and projections over a scan (or in-memory values),
//! `Limit(Project(leaf, [column]), 16384)` runs once, with limit and projection
//! pushdown, so it reads one column of the first rows that pass the leaf's filters. With `d` distinct values among the `n` rows read:
//!
//! - `n < 16384`: the whole input was read, `ndv = d`;
//! - `d · 100 < n`: the column is saturated (e.g. a nation key), `ndv = d`;
//! - otherwise `ndv = rows · d / n`, scaled up from the sample.
//!
//! A prefix sample overstates the distinct count of a foreign key spread uniformly
//! over a small domain (`l_suppkey`: nearly every sampled value is new), so for an
//! integer column of Parquet files the count is also capped by the value range in the
//! row-group statistics (`max - min + 1`), which costs no reading.
//!
//! Other leaves (aggregates, joins, …) are not run: they get `ndv = rows`, as
//! [`DefaultStats`] gives, and so does a sample that fails. The join-order rule asks
//! once per (leaf, join column) and region, so a query samples at most one small scan
//! per equality-join column; the samples use their own query context and do not count
//! towards the session's scanned rows.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use crate::error::Result;
use crate::exec::planner::collect;
use crate::expr::eval::evaluate_predicate;
use crate::expr::{col, Expr};
use crate::plan::optimizer::{limit_pushdown, projection_pushdown, DefaultStats, JoinStats};
use crate::plan::{estimate, projected_column, LogicalPlan, ScanNode};
use crate::session::Session;

/// Rows read per sample.
pub const SAMPLE_ROWS: usize = 16384;

/// [`JoinStats`] that samples join columns by running small queries in `session`.
pub struct SampledStats<'a> {
    session: &'a Session,
    /// Measured row counts of filtered scans, by [`scan_key`].
    filtered_rows: Mutex<HashMap<String, f64>>,
}

impl<'a> SampledStats<'a> {
    pub fn new(session: &'a Session) -> Self {
        SampledStats {
            session,
            filtered_rows: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `plan` (a small sample query) in its own context.
    fn run(&self, plan: LogicalPlan) -> Result<(LogicalPlan, Vec<RecordBatch>)> {
        let plan = LogicalPlan::limit(Arc::new(plan), 0, SAMPLE_ROWS);
        let plan = limit_pushdown::push_down(&plan, None)?;
        let plan = projection_pushdown::prune(&plan, None)?;
        let mut ctx = self.session.query_context();
        ctx.exec.rows_scanned = Arc::new(AtomicU64::new(0));
        let batches = collect(&plan, &ctx)?;
        Ok((plan, batches))
    }

    /// Rows of `scan` after its filters, from their pass rate on the first rows of
    /// the unfiltered scan; `None` when nothing could be read.
    fn measure_filtered_rows(&self, scan: &ScanNode) -> Result<Option<f64>> {
        let Some(predicate) = Expr::conjunction(scan.filters.clone()) else {
            return Ok(None);
        };
        let mut bare = scan.clone();
        bare.filters.clear();
        bare.limit = None;
        let bare = LogicalPlan::Scan(bare);
        let total = estimate::rows(&bare);
        let columns = predicate.column_refs().into_iter().map(col).collect();
        let (_, batches) = self.run(LogicalPlan::try_project(Arc::new(bare), columns)?)?;
        let (mut read, mut passed) = (0usize, 0usize);
        for b in &batches {
            read += b.num_rows();
            passed += evaluate_predicate(&predicate, b)?.true_count();
        }
        Ok(match read {
            0 => None,
            n if n < SAMPLE_ROWS => Some(passed.max(1) as f64),
            n => Some((total * passed as f64 / n as f64).max(1.0)),
        })
    }

    /// `(n, d)`: rows read and distinct values among them.
    fn sample(&self, leaf: &LogicalPlan, column: &str) -> Result<(usize, usize)> {
        let plan = LogicalPlan::try_project(Arc::new(leaf.clone()), vec![col(column)])?;
        let (plan, batches) = self.run(plan)?;
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

/// The scan under a chain of projections, if that is all `plan` is.
fn scan_under_projections(plan: &LogicalPlan) -> Option<&ScanNode> {
    match plan {
        LogicalPlan::Scan(s) => Some(s),
        LogicalPlan::Project { input, .. } => scan_under_projections(input),
        _ => None,
    }
}

/// The scan under renaming projections and the name `column` has there.
fn scan_column<'p>(plan: &'p LogicalPlan, column: &str) -> Option<(&'p ScanNode, String)> {
    match plan {
        LogicalPlan::Scan(s) => Some((s, column.to_string())),
        LogicalPlan::Project { input, exprs, .. } => {
            scan_column(input, projected_column(exprs, column)?)
        }
        _ => None,
    }
}

/// Identifies a scan and its filters (the cache key of a measured row count).
fn scan_key(scan: &ScanNode) -> String {
    let first = scan
        .dataset
        .files
        .first()
        .map(|f| f.path.display().to_string());
    format!("{first:?}|{}|{:?}", scan.dataset.files.len(), scan.filters)
}

/// `max - min + 1` of an integer column over every row group of a Parquet scan;
/// `None` for other types, CSV, or any row group without statistics.
fn integer_range(scan: &ScanNode, column: &str) -> Option<f64> {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for f in &scan.dataset.files {
        let meta = f.parquet.as_ref()?;
        let conv =
            StatisticsConverter::try_new(column, meta.schema(), meta.parquet_schema()).ok()?;
        if !conv.arrow_field().data_type().is_integer() {
            return None;
        }
        let groups = meta.metadata().row_groups();
        for bounds in [
            conv.row_group_mins(groups.iter()).ok()?,
            conv.row_group_maxes(groups.iter()).ok()?,
        ] {
            if bounds.null_count() > 0 {
                return None;
            }
            let bounds = arrow::compute::cast(&bounds, &DataType::Int64).ok()?;
            let bounds = bounds.as_primitive::<Int64Type>();
            lo = lo.min(arrow::compute::min(bounds)?);
            hi = hi.max(arrow::compute::max(bounds)?);
        }
    }
    (lo <= hi).then_some((hi as f64 - lo as f64) + 1.0)
}

impl JoinStats for SampledStats<'_> {
    fn rows(&self, leaf: &LogicalPlan) -> f64 {
        let base = estimate::rows(leaf);
        let Some(scan) = scan_under_projections(leaf).filter(|s| !s.filters.is_empty()) else {
            return base;
        };
        let key = scan_key(scan);
        if let Some(r) = self
            .filtered_rows
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
        {
            return r;
        }
        let rows = match self.measure_filtered_rows(scan) {
            Ok(Some(r)) => r,
            _ => base,
        };
        if let Ok(mut m) = self.filtered_rows.lock() {
            m.insert(key, rows);
        }
        rows
    }

    fn ndv(&self, leaf: &LogicalPlan, column: &str) -> f64 {
        let rows = self.rows(leaf);
        if !sampleable(leaf) {
            return DefaultStats.ndv(leaf, column);
        }
        let sampled = match self.sample(leaf, column) {
            Ok((n, d)) if n < SAMPLE_ROWS || d * 100 < n => (d as f64).max(1.0),
            Ok((n, d)) => (rows * d as f64 / n as f64).max(1.0),
            Err(_) => DefaultStats.ndv(leaf, column),
        };
        let range = scan_column(leaf, column).and_then(|(scan, c)| integer_range(scan, &c));
        match range {
            Some(r) => sampled.min(r).max(1.0),
            None => sampled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::lit;
    use crate::io::ParquetOptions;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// 50,000 rows: `k` spread over 1..=1000 (a foreign key with a small domain), `f`
    /// cycling through 0..20; row groups of 8192 rows.
    fn write_table(dir: &std::path::Path) -> String {
        let path = dir.join("t.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("f", DataType::Int64, false),
        ]));
        let n = 50_000i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|i| i * 7919 % 1000 + 1),
                )),
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 20))),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(8192))
            .build();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn filter_selectivity_is_measured_and_key_ranges_cap_distinct_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_table(dir.path());
        let session = Session::builder().threads(1).build().unwrap();
        let stats = SampledStats::new(&session);
        let frame = session
            .scan_parquet(&path, ParquetOptions::default())
            .unwrap();
        let plain = frame.optimized_plan().unwrap();
        // The footer count, exact.
        assert_eq!(stats.rows(&plain), 50_000.0);
        // The sample sees 1000 distinct values in 16384 rows and scales that to about
        // 3000; the row-group range 1..=1000 caps it.
        let ndv = stats.ndv(&plain, "k");
        assert!(ndv <= 1000.0, "ndv(k) = {ndv}");
        assert_eq!(
            integer_range(scan_under_projections(&plain).unwrap(), "k"),
            Some(1000.0)
        );
        // `f = 3` keeps 1 row in 20: measured on the sample, not guessed as half.
        let filtered = frame
            .filter(col("f").eq(lit(3i64)))
            .unwrap()
            .optimized_plan()
            .unwrap();
        let rows = stats.rows(&filtered);
        assert!((2000.0..3000.0).contains(&rows), "rows(f = 3) = {rows}");
        assert!(
            estimate::rows(&filtered) > 20_000.0,
            "the plan-only guess is half"
        );
    }
}
