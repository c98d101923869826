//! Sampled statistics: the [`Statistics`] that `LazyFrame` gives the optimizer when it
//! runs a query (and for `explain`, so it shows the plan that runs). The samples run
//! as small queries of their own (planned with [`plan_physical`] and run by the
//! executor) on the session's `Runtime`; nothing here calls back into the session.
//!
//! Row counts start from the plan-only estimates ([`estimate::rows`]: exact Parquet
//! footer counts, else bytes over row width). A filtered scan (possibly under renaming
//! projections) has its filters' selectivity measured: the first [`SAMPLE_ROWS`] rows
//! of the scan *without* its filters are read (only the columns the filters use) and
//! the filters evaluated on them; rows = unfiltered rows × passed / read (exact when
//! the whole input fits the sample). So `p_name LIKE '%green%'` counts 5 %, not the
//! plan-only guess of half. A Parquet input of at most [`EXACT_FILTER_ROWS`] rows (its
//! footer count) is read whole instead, so the count is exact: a dimension stored in
//! key order (dates from 1900 first) would show no `d_year = 2000` in its prefix.
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
//!
//! For the physical plan's estimates (annotation after the optimizer), two more
//! measurements:
//!
//! - the rows of a CSV scan: its bytes over the mean line length of the first MiB of
//!   its first files, times the pass rate of its filters on the sample;
//! - the groups of an aggregate over a sampleable input: the key columns of the first
//!   [`SAMPLE_ROWS`] rows, encoded together; with `d` distinct keys, `f1` seen once
//!   and `f2` seen twice, Chao1's estimate `d + f1² / (2·f2)` (exact when the sample
//!   read the whole input), at most the input's rows; and the mean encoded key bytes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use crate::error::Result;
use crate::exec::executor::{execute_collect, Runtime};
use crate::expr::eval::evaluate_predicate;
use crate::expr::{col, Expr};
use crate::io::FileFormat;
use crate::plan::optimizer::{limit_pushdown, projection_pushdown};
use crate::plan::physical_planner::plan_physical;
use crate::plan::stats::{DefaultStats, Statistics};
use crate::plan::{column_input, estimate, projected_column, GroupEstimate, LogicalPlan, ScanNode};

/// Rows read per sample.
pub const SAMPLE_ROWS: usize = 16384;

/// A filtered Parquet scan of at most this many rows (exact footer count) has its
/// filters evaluated on every row, not on a prefix: a small dimension table is often
/// stored in key order (dates from 1900 first), so a prefix says nothing of a filter
/// on a later year.
pub const EXACT_FILTER_ROWS: usize = 16 * SAMPLE_ROWS;

/// [`Statistics`] that samples by running small queries on `runtime`.
pub struct SampledStats<'a> {
    runtime: &'a Runtime,
    /// Measured selectivities of filtered scans, by [`scan_key`].
    filtered: Mutex<HashMap<String, Option<Selectivity>>>,
}

/// What a sample says of a scan's filters.
#[derive(Debug, Clone, Copy)]
enum Selectivity {
    /// The sample read the whole input: this many rows pass.
    Exact(f64),
    /// This share of the rows read passed.
    Rate(f64),
}

impl Selectivity {
    fn apply(self, unfiltered: f64) -> f64 {
        match self {
            Selectivity::Exact(r) => r,
            Selectivity::Rate(p) => (unfiltered * p).max(1.0),
        }
    }
}

impl<'a> SampledStats<'a> {
    pub fn new(runtime: &'a Runtime) -> Self {
        SampledStats {
            runtime,
            filtered: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `plan` (a small sample query) in its own context.
    fn run(&self, plan: LogicalPlan) -> Result<(LogicalPlan, Vec<RecordBatch>)> {
        self.run_limited(plan, SAMPLE_ROWS)
    }

    /// Runs the first `limit` rows of `plan` (a small sample query) in its own context.
    fn run_limited(
        &self,
        plan: LogicalPlan,
        limit: usize,
    ) -> Result<(LogicalPlan, Vec<RecordBatch>)> {
        let plan = LogicalPlan::limit(Arc::new(plan), 0, limit);
        let plan = limit_pushdown::push_down(&plan, None)?;
        let plan = projection_pushdown::prune(&plan, None)?;
        // A sample is not the user's query: it reads in morsels of at least 8192 rows
        // and is never forced to spill, whatever the session's testing knobs say.
        let mut config = self.runtime.config.clone();
        config.chunk_rows = config.chunk_rows.max(8192);
        let physical = plan_physical(&plan, &config)?;
        let mut ctx = self.runtime.query_context();
        ctx.force_spill = false;
        ctx.exec.rows_scanned = Arc::new(AtomicU64::new(0));
        let batches = execute_collect(&physical, &ctx)?;
        Ok((plan, batches))
    }

    /// The pass rate of `scan`'s filters on the first rows of the unfiltered scan:
    /// `Exact(rows)` when the sample read the whole input, `None` when nothing could
    /// be read.
    fn measure_selectivity(&self, scan: &ScanNode) -> Result<Option<Selectivity>> {
        let Some(predicate) = Expr::conjunction(scan.filters.clone()) else {
            return Ok(None);
        };
        let bare = LogicalPlan::Scan(unfiltered(scan));
        // A small Parquet input (exact footer count) is read whole.
        let limit = match scan.dataset.format {
            FileFormat::Parquet(_) => match estimate::rows(&bare) as usize {
                rows if rows <= EXACT_FILTER_ROWS => rows + 1,
                _ => SAMPLE_ROWS,
            },
            _ => SAMPLE_ROWS,
        };
        let columns = predicate.column_refs().into_iter().map(col).collect();
        let projected = LogicalPlan::try_project(Arc::new(bare), columns)?;
        let (_, batches) = self.run_limited(projected, limit)?;
        let (mut read, mut passed) = (0usize, 0usize);
        for b in &batches {
            read += b.num_rows();
            passed += evaluate_predicate(&predicate, b)?.true_count();
        }
        Ok(match read {
            0 => None,
            n if n < limit => Some(Selectivity::Exact(passed.max(1) as f64)),
            n => Some(Selectivity::Rate(passed as f64 / n as f64)),
        })
    }

    /// The cached (or measured) selectivity of a filtered scan.
    fn selectivity(&self, scan: &ScanNode) -> Option<Selectivity> {
        let key = scan_key(scan);
        if let Some(r) = self.filtered.lock().ok().and_then(|m| m.get(&key).copied()) {
            return r;
        }
        let measured = self.measure_selectivity(scan).ok().flatten();
        if let Ok(mut m) = self.filtered.lock() {
            m.insert(key, measured);
        }
        measured
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

/// `scan` without its filters, limit, projection and measured rows.
fn unfiltered(scan: &ScanNode) -> ScanNode {
    let mut bare = scan.clone();
    bare.filters.clear();
    bare.limit = None;
    bare.estimated_rows = None;
    bare.projection = None;
    bare.schema = Arc::clone(&bare.dataset.schema);
    bare
}

/// Rows of an unfiltered scan: Parquet footers (exact) or the CSV line estimate.
fn unfiltered_rows(scan: &LogicalPlan) -> f64 {
    match scan {
        LogicalPlan::Scan(s) if matches!(s.dataset.format, FileFormat::Csv(_)) => {
            crate::io::csv::estimate_rows(&s.dataset).unwrap_or_else(|| estimate::rows(scan))
        }
        _ => estimate::rows(scan),
    }
}

impl SampledStats<'_> {
    /// Distinct key combinations among the first rows of `input`, with Chao1's
    /// estimate of the whole; see the module doc.
    fn measure_groups(&self, input: &LogicalPlan, keys: &[Expr]) -> Result<Option<GroupEstimate>> {
        let exprs: Vec<Expr> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.clone().alias(format!("#k{i}")))
            .collect();
        let plan = LogicalPlan::try_project(Arc::new(input.clone()), exprs)?;
        let (plan, batches) = self.run(plan)?;
        let fields = plan
            .schema()
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut counts: HashMap<Vec<u8>, u32> = HashMap::new();
        let (mut n, mut key_bytes) = (0usize, 0usize);
        for b in &batches {
            n += b.num_rows();
            let rows = converter.convert_columns(b.columns())?;
            for r in rows.iter() {
                key_bytes += r.as_ref().len();
                *counts.entry(r.as_ref().to_vec()).or_insert(0) += 1;
            }
        }
        if n == 0 {
            return Ok(None);
        }
        let d = counts.len() as f64;
        let groups = if n < SAMPLE_ROWS {
            d
        } else {
            let f1 = counts.values().filter(|&&c| c == 1).count() as f64;
            let f2 = counts.values().filter(|&&c| c == 2).count() as f64;
            let chao1 = if f2 > 0.0 {
                d + f1 * f1 / (2.0 * f2)
            } else {
                d + f1 * (f1 - 1.0) / 2.0
            };
            chao1.min(self.rows(input)).max(d)
        };
        Ok(Some(GroupEstimate {
            groups: groups.max(1.0),
            key_bytes: key_bytes as f64 / n as f64,
        }))
    }
}

impl Statistics for SampledStats<'_> {
    fn groups(&self, input: &LogicalPlan, keys: &[Expr]) -> Option<GroupEstimate> {
        if !sampleable(input) {
            return None;
        }
        self.measure_groups(input, keys).ok().flatten()
    }

    fn scan_rows(&self, scan: &LogicalPlan) -> Option<f64> {
        let LogicalPlan::Scan(s) = scan else {
            return None;
        };
        let mut rows = unfiltered_rows(&LogicalPlan::Scan(unfiltered(s)));
        if !s.filters.is_empty() {
            rows = match self.selectivity(s) {
                Some(sel) => sel.apply(rows),
                None => estimate::rows(scan),
            };
        }
        if let Some(l) = s.limit {
            rows = rows.min(l as f64);
        }
        Some(rows.max(1.0))
    }

    fn rows(&self, leaf: &LogicalPlan) -> f64 {
        let base = estimate::rows(leaf);
        let Some(scan) = scan_under_projections(leaf).filter(|s| !s.filters.is_empty()) else {
            return base;
        };
        match self.selectivity(scan) {
            Some(sel) => sel.apply(estimate::rows(&LogicalPlan::Scan(unfiltered(scan)))),
            None => base,
        }
    }

    fn ndv(&self, leaf: &LogicalPlan, column: &str) -> f64 {
        let rows = self.rows(leaf);
        if !sampleable(leaf) {
            // The column has no more distinct values than in the input it comes from
            // (a left join's leaf would otherwise count as many distinct keys as rows,
            // and every dimension joined to it would look like a filter).
            return match column_input(leaf, column) {
                Some((input, name)) => self.ndv(input, &name).min(rows).max(1.0),
                None => DefaultStats.ndv(leaf, column),
            };
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
    use crate::session::Session;
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
        let stats = SampledStats::new(session.runtime());
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
        // Annotation records the measured rows in the plan.
        let annotated =
            estimate::rows(&crate::plan::optimizer::annotate::annotate(&filtered, &stats).unwrap());
        assert!(
            (2000.0..3000.0).contains(&annotated),
            "annotated {annotated}"
        );
        let plan_only =
            crate::plan::optimizer::optimize(frame.filter(col("f").eq(lit(3i64))).unwrap().plan())
                .unwrap();
        assert!(
            estimate::rows(&plan_only) > 20_000.0,
            "the plan-only guess is half"
        );
    }

    /// A small input stored in key order is measured on every row: a filter on its
    /// last rows, which a prefix sample would not see, counts exactly. A column seen
    /// through a left join keeps the distinct count of the input it comes from.
    #[test]
    fn small_inputs_count_exactly_and_joins_keep_distinct_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ordered.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..60_000))],
        )
        .unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let session = Session::builder().threads(1).build().unwrap();
        let stats = SampledStats::new(session.runtime());
        let ordered = session
            .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
            .unwrap();
        let late = ordered.filter(col("id").gt_eq(lit(55_000i64))).unwrap();
        assert_eq!(stats.rows(&late.optimized_plan().unwrap()), 5000.0);

        let small = write_table(dir.path());
        let t = session
            .scan_parquet(&small, ParquetOptions::default())
            .unwrap();
        let joined = t
            .join(
                &ordered,
                [col("f")],
                [col("id")],
                crate::plan::JoinType::Left,
            )
            .unwrap()
            .optimized_plan()
            .unwrap();
        let ndv = stats.ndv(&joined, "k");
        assert!(ndv <= 1000.0, "ndv(k) through the join = {ndv}");
    }
}
