//! `LazyFrame`, the builder of logical plans, and `DataFrame`, a collected result.
//!
//! Builder methods that can meet a type error return `Result`, so the error is
//! reported where the query is written. Nothing runs until `collect()`, `sink_*()` or
//! `explain_analyze()`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::exec::physical::{OutputSpec, PhysicalPlan};
use crate::exec::render::{self, Analyzed, ExplainFormat};
use crate::expr::Expr;
use crate::expr::SortExpr;
use crate::io::{CsvSinkOptions, ParquetSinkOptions};
use crate::metrics::QueryMetrics;
use crate::plan::aggregate::build_aggregate;
use crate::plan::explain::format_plan;
use crate::plan::optimizer::annotate::annotate;
use crate::plan::optimizer::optimize_with;
use crate::plan::physical_planner::plan_physical_into;
use crate::plan::sampled_stats::SampledStats;
use crate::plan::window;
use crate::plan::{JoinType, LogicalPlan};
use crate::session::Session;
use crate::stream::Sink;

/// A query being built; nothing runs until it is collected or sunk.
#[derive(Clone)]
pub struct LazyFrame {
    session: Session,
    plan: Arc<LogicalPlan>,
}

impl fmt::Debug for LazyFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LazyFrame\n{}", format_plan(&self.plan))
    }
}

/// The result of `group_by`, waiting for its aggregates.
pub struct GroupBy {
    frame: LazyFrame,
    keys: Vec<Expr>,
}

/// What a sink wrote.
#[derive(Debug, Clone)]
pub struct SinkReport {
    pub rows: u64,
    pub files: Vec<std::path::PathBuf>,
}

impl LazyFrame {
    pub(crate) fn new(session: Session, plan: LogicalPlan) -> Self {
        LazyFrame {
            session,
            plan: Arc::new(plan),
        }
    }

    fn derive(&self, plan: LogicalPlan) -> LazyFrame {
        LazyFrame::new(self.session.clone(), plan)
    }

    /// The logical plan as built (before optimization).
    pub fn plan(&self) -> &Arc<LogicalPlan> {
        &self.plan
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    /// Computes `exprs` as the new columns. Window expressions (`.over(..)`,
    /// `shift`, `cum_sum`, `rolling_mean`, ...) keep every row; aggregates without
    /// one reduce the frame to one row.
    pub fn select(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<LazyFrame> {
        let exprs: Vec<Expr> = exprs.into_iter().collect();
        if exprs.iter().any(Expr::contains_window) {
            if exprs.iter().any(Expr::contains_aggregate) {
                return Err(Error::Plan(
                    "select() mixes aggregates and window expressions; aggregate with \
                     group_by(..).agg(..), then add windows with with_columns(..)"
                        .into(),
                ));
            }
            let (below, exprs) = window::lift(&self.plan, exprs)?;
            return Ok(self.derive(LogicalPlan::try_project(below, exprs)?));
        }
        if exprs.iter().any(|e| e.contains_aggregate()) {
            if !exprs
                .iter()
                .all(|e| e.contains_aggregate() || matches!(e, Expr::Literal(_)))
            {
                return Err(Error::Plan(
                    "select() mixes aggregates and columns; use group_by(..).agg(..)".into(),
                ));
            }
            return Ok(self.derive(build_aggregate(
                Arc::clone(&self.plan),
                vec![],
                exprs,
                None,
            )?));
        }
        Ok(self.derive(LogicalPlan::try_project(Arc::clone(&self.plan), exprs)?))
    }

    /// Adds (or replaces, by name) columns.
    pub fn with_columns(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<LazyFrame> {
        let new: Vec<Expr> = exprs.into_iter().collect();
        let names: Vec<String> = new.iter().map(|e| e.output_name()).collect();
        let mut all: Vec<Expr> = self
            .schema()
            .fields()
            .iter()
            .map(|f| match names.iter().position(|n| n == f.name()) {
                Some(i) => new[i].clone(),
                None => Expr::Column(f.name().clone()),
            })
            .collect();
        let schema = self.schema();
        for e in new {
            if schema.field_with_name(&e.output_name()).is_err() {
                all.push(e);
            }
        }
        self.select(all)
    }

    /// Keeps the rows where `predicate` is true. The predicate may hold window
    /// expressions: `filter(row_number().over_ordered([col("g")], [col("v").sort_desc()])
    /// .lt_eq(lit(2)))` keeps the top two rows of each group (and runs as a top-k per
    /// group).
    pub fn filter(&self, predicate: Expr) -> Result<LazyFrame> {
        if predicate.contains_window() {
            let (below, mut rewritten) = window::lift(&self.plan, vec![predicate])?;
            let predicate = rewritten
                .pop()
                .ok_or_else(|| Error::Plan("filter".into()))?;
            let kept = LogicalPlan::try_filter(below, predicate)?;
            let columns = (self.schema().fields().iter())
                .map(|f| Expr::Column(f.name().clone()))
                .collect();
            return Ok(self.derive(LogicalPlan::try_project(Arc::new(kept), columns)?));
        }
        Ok(self.derive(LogicalPlan::try_filter(Arc::clone(&self.plan), predicate)?))
    }

    /// Groups by `keys`; follow with `.agg(..)`.
    pub fn group_by(&self, keys: impl IntoIterator<Item = Expr>) -> GroupBy {
        GroupBy {
            frame: self.clone(),
            keys: keys.into_iter().collect(),
        }
    }

    /// The first `n` rows.
    pub fn limit(&self, n: usize) -> LazyFrame {
        self.derive(LogicalPlan::limit(Arc::clone(&self.plan), 0, n))
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> LazyFrame {
        self.limit(n)
    }

    /// Rows `offset .. offset + n`.
    pub fn slice(&self, offset: usize, n: usize) -> LazyFrame {
        self.derive(LogicalPlan::limit(Arc::clone(&self.plan), offset, n))
    }

    /// Orders rows by `keys` (stable: ties keep their input order). Sorts larger than
    /// memory spill sorted runs and merge them; a `limit` after a sort is a top-k.
    pub fn sort(&self, keys: impl IntoIterator<Item = SortExpr>) -> Result<LazyFrame> {
        Ok(self.derive(LogicalPlan::try_sort(
            Arc::clone(&self.plan),
            keys.into_iter().collect(),
        )?))
    }

    /// The first `k` rows by `keys` (a bounded heap; never spills).
    pub fn top_k(&self, k: usize, keys: impl IntoIterator<Item = SortExpr>) -> Result<LazyFrame> {
        Ok(self.sort(keys)?.limit(k))
    }

    /// Joins with `other` where `left_on[i] = right_on[i]` for every i, keeping the
    /// rows `how` says. Output columns are this frame's, then `other`'s; an `other`
    /// column whose name is already taken gets the suffix `_right`, except a key joined
    /// to a key of the same name, which appears once (as DuckDB's `USING` and Polars'
    /// `on=` do; a full join keeps both). NULL keys never match.
    pub fn join(
        &self,
        other: &LazyFrame,
        left_on: impl IntoIterator<Item = Expr>,
        right_on: impl IntoIterator<Item = Expr>,
        how: JoinType,
    ) -> Result<LazyFrame> {
        self.join_where(other, left_on, right_on, how, None)
    }

    /// [`LazyFrame::join`] with an extra `condition` that a matching pair must also
    /// satisfy (it decides what counts as a match for outer, semi and anti joins). The
    /// condition names `other`'s columns as the output does (clashing ones with
    /// `_right`).
    pub fn join_where(
        &self,
        other: &LazyFrame,
        left_on: impl IntoIterator<Item = Expr>,
        right_on: impl IntoIterator<Item = Expr>,
        how: JoinType,
        condition: Option<Expr>,
    ) -> Result<LazyFrame> {
        let left_on: Vec<Expr> = left_on.into_iter().collect();
        let right_on: Vec<Expr> = right_on.into_iter().collect();
        if left_on.len() != right_on.len() {
            return Err(Error::Plan(format!(
                "join has {} left keys but {} right keys",
                left_on.len(),
                right_on.len()
            )));
        }
        let ls = self.schema();
        let rs = other.schema();
        // Same-named key pairs are shown once (except by a full join).
        let shared_keys: Vec<String> = left_on
            .iter()
            .zip(&right_on)
            .filter_map(|(l, r)| match (l, r) {
                (Expr::Column(a), Expr::Column(b)) if a == b => Some(a.clone()),
                _ => None,
            })
            .collect();
        let rename = |name: &str| -> String {
            let mut n = format!("{name}_right");
            while ls.field_with_name(&n).is_ok() || rs.field_with_name(&n).is_ok() {
                n.push_str("_right");
            }
            n
        };
        let mut renames = std::collections::HashMap::new();
        let right_exprs: Vec<Expr> = rs
            .fields()
            .iter()
            .map(|f| {
                let c = Expr::Column(f.name().clone());
                if ls.field_with_name(f.name()).is_ok() {
                    let n = rename(f.name());
                    renames.insert(f.name().clone(), n.clone());
                    c.alias(n)
                } else {
                    c
                }
            })
            .collect();
        let right_plan = if renames.is_empty() {
            Arc::clone(&other.plan)
        } else {
            Arc::new(LogicalPlan::try_project(
                Arc::clone(&other.plan),
                right_exprs,
            )?)
        };
        let renamed = |e: Expr| {
            e.transform(&mut |x| match x {
                Expr::Column(c) => Expr::Column(renames.get(&c).cloned().unwrap_or(c)),
                other => other,
            })
        };
        let on: Vec<(Expr, Expr)> = left_on
            .into_iter()
            .zip(right_on.into_iter().map(renamed))
            .collect();
        let joined = LogicalPlan::try_join(Arc::clone(&self.plan), right_plan, how, on, condition)?;
        if shared_keys.is_empty() || !how.outputs_right() || how == JoinType::Full {
            return Ok(self.derive(joined));
        }
        // Show each same-named key once: the left copy, or for a right join the right
        // one (the left is null where only the right matched).
        let schema = joined.schema();
        let exprs: Vec<Expr> = schema
            .fields()
            .iter()
            .filter_map(|f| {
                let name = f.name();
                let dropped_right = renames
                    .iter()
                    .any(|(orig, new)| new == name && shared_keys.contains(orig));
                if how == JoinType::Right {
                    if shared_keys.contains(name) {
                        return None;
                    }
                    if dropped_right {
                        let orig = renames.iter().find(|(_, n)| *n == name)?.0;
                        return Some(Expr::Column(name.clone()).alias(orig.clone()));
                    }
                    return Some(Expr::Column(name.clone()));
                }
                (!dropped_right).then(|| Expr::Column(name.clone()))
            })
            .collect();
        // Keep the left frame's column order for a right join too.
        Ok(self.derive(LogicalPlan::try_project(Arc::new(joined), exprs)?))
    }

    /// Joins on columns that have the same name on both sides.
    pub fn join_on(&self, other: &LazyFrame, on: &[&str], how: JoinType) -> Result<LazyFrame> {
        let keys: Vec<Expr> = on.iter().map(|c| Expr::Column(c.to_string())).collect();
        self.join(other, keys.clone(), keys, how)
    }

    /// Every pair of rows (the smaller side must fit in memory).
    pub fn cross_join(&self, other: &LazyFrame) -> Result<LazyFrame> {
        self.join(other, [], [], JoinType::Inner)
    }

    /// This frame's rows followed by `other`'s (UNION ALL); columns match by name.
    pub fn union(&self, other: &LazyFrame) -> Result<LazyFrame> {
        Ok(self.derive(LogicalPlan::try_union(vec![
            Arc::clone(&self.plan),
            Arc::clone(&other.plan),
        ])?))
    }

    /// The rows of every frame in turn (UNION ALL); columns match by name.
    pub fn concat(frames: &[LazyFrame]) -> Result<LazyFrame> {
        let first = frames
            .first()
            .ok_or_else(|| Error::Plan("concat of no frames".into()))?;
        Ok(first.derive(LogicalPlan::try_union(
            frames.iter().map(|f| Arc::clone(&f.plan)).collect(),
        )?))
    }

    /// Distinct rows (through the spilling hash aggregate; order unspecified).
    pub fn distinct(&self) -> Result<LazyFrame> {
        let keys: Vec<Expr> = self
            .schema()
            .fields()
            .iter()
            .map(|f| Expr::Column(f.name().clone()))
            .collect();
        Ok(self.derive(LogicalPlan::try_aggregate(
            Arc::clone(&self.plan),
            keys,
            vec![],
        )?))
    }

    /// Same as [`LazyFrame::distinct`] (the Polars name).
    pub fn unique(&self) -> Result<LazyFrame> {
        self.distinct()
    }

    /// The optimized plan, as `collect` runs it (join order from sampled statistics,
    /// see [`crate::plan::sampled_stats`]).
    pub fn optimized_plan(&self) -> Result<LogicalPlan> {
        optimize_with(&self.plan, &SampledStats::new(self.session.runtime()))
    }

    /// The physical plan of the query: pipelines, operators, budgets, and estimates
    /// measured by sampling (nothing else runs; see [`crate::exec::physical`]). It is
    /// the plan `collect` runs, with measured rather than plan-only estimates.
    pub fn physical_plan(&self) -> Result<PhysicalPlan> {
        let plan = self.annotated_plan()?;
        plan_physical_into(
            &plan,
            self.session.config(),
            OutputSpec::Collect { limit: None },
        )
    }

    /// The optimized plan with measured scan rows and aggregate groups recorded (see
    /// [`crate::plan::optimizer::annotate`]).
    fn annotated_plan(&self) -> Result<LogicalPlan> {
        crate::error::catch_panic(|| {
            let stats = SampledStats::new(self.session.runtime());
            annotate(&optimize_with(&self.plan, &stats)?, &stats)
        })
    }

    fn physical_into(&self, output: OutputSpec) -> Result<PhysicalPlan> {
        crate::error::catch_panic(|| {
            let plan = self.optimized_plan()?;
            plan_physical_into(&plan, self.session.config(), output)
        })
    }

    /// Runs the query and returns its result.
    pub fn collect(&self) -> Result<DataFrame> {
        Ok(self.collect_with_metrics()?.0)
    }

    /// Runs the query; also returns every operator's metrics (by operator id of the
    /// physical plan).
    pub fn collect_with_metrics(&self) -> Result<(DataFrame, QueryMetrics)> {
        let physical = self.physical_into(OutputSpec::Collect { limit: None })?;
        self.session.collect_physical(&physical)
    }

    /// The optimized logical plan and the physical plan it runs as, with each
    /// operator's estimated rows, memory and spill at the session's memory limit.
    pub fn explain(&self) -> Result<String> {
        self.explain_as(ExplainFormat::Text, false)
    }

    /// Runs the query and reports, per operator, the estimate beside the actual: rows
    /// out, peak reserved memory, spilled bytes and files, and time.
    pub fn explain_analyze(&self) -> Result<String> {
        self.explain_as(ExplainFormat::Text, true)
    }

    /// [`LazyFrame::explain`] (or with `analyze`, [`LazyFrame::explain_analyze`]) as
    /// text, as a Graphviz DOT graph, or as an SVG picture of the pipelines.
    pub fn explain_as(&self, format: ExplainFormat, analyze: bool) -> Result<String> {
        let plan = self.annotated_plan()?;
        let physical = plan_physical_into(
            &plan,
            self.session.config(),
            OutputSpec::Collect { limit: None },
        )?;
        let analyzed = if analyze {
            let started = Instant::now();
            let pool = self.session.memory_pool();
            pool.reset_peak();
            let (df, metrics) = self.session.collect_physical(&physical)?;
            Some(Analyzed {
                metrics,
                rows: df.num_rows(),
                seconds: started.elapsed().as_secs_f64(),
                pool_peak: pool.peak(),
                pool_limit: pool.limit(),
            })
        } else {
            None
        };
        Ok(match format {
            ExplainFormat::Text => format!(
                "Logical plan (optimized):\n{}\n{}",
                format_plan(&plan),
                render::text(&physical, analyzed.as_ref())
            ),
            ExplainFormat::Dot => render::dot(&physical, analyzed.as_ref()),
            ExplainFormat::Svg => render::svg(&physical, analyzed.as_ref()),
        })
    }

    /// Streams the result into Parquet (zstd), atomically.
    pub fn sink_parquet(
        &self,
        path: impl AsRef<Path>,
        options: ParquetSinkOptions,
    ) -> Result<SinkReport> {
        self.sink_file(OutputSpec::Parquet {
            path: path.as_ref().to_path_buf(),
            options,
        })
    }

    /// Streams the result into CSV, atomically.
    pub fn sink_csv(&self, path: impl AsRef<Path>, options: CsvSinkOptions) -> Result<SinkReport> {
        self.sink_file(OutputSpec::Csv {
            path: path.as_ref().to_path_buf(),
            options,
        })
    }

    /// Runs the query into a file output.
    fn sink_file(&self, output: OutputSpec) -> Result<SinkReport> {
        let physical = self.physical_into(output)?;
        let (executed, _) = self.session.execute_physical(&physical, None)?;
        let (rows, files) = executed
            .written
            .ok_or_else(|| Error::Internal("file output reported nothing written".into()))?;
        Ok(SinkReport { rows, files })
    }

    /// Runs the query into any sink (e.g. a streaming writer of the CLI).
    pub fn sink_into(&self, sink: &dyn Sink<Output = ()>) -> Result<QueryMetrics> {
        let physical = self.physical_into(OutputSpec::External { name: sink.name() })?;
        let (_, metrics) = self.session.execute_physical(&physical, Some(sink))?;
        Ok(metrics)
    }
}

impl GroupBy {
    /// Computes `aggs` per group. Each may be an aggregate or an expression over
    /// aggregates and keys (`col("a").sum() / len()`).
    pub fn agg(self, aggs: impl IntoIterator<Item = Expr>) -> Result<LazyFrame> {
        let mut select: Vec<Expr> = self
            .keys
            .iter()
            .map(|k| Expr::Column(k.output_name()))
            .collect();
        select.extend(aggs);
        let keys = self.keys;
        let plan = build_aggregate(Arc::clone(&self.frame.plan), keys, select, None)?;
        Ok(self.frame.derive(plan))
    }
}

/// A materialised result: a schema and record batches.
#[derive(Debug, Clone)]
pub struct DataFrame {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl DataFrame {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        DataFrame { schema, batches }
    }
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
    /// All rows as one batch.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        Ok(arrow::compute::concat_batches(&self.schema, &self.batches)?)
    }
    /// One column, all rows.
    pub fn column(&self, name: &str) -> Result<ArrayRef> {
        let i = self
            .schema
            .index_of(name)
            .map_err(|_| Error::Plan(format!("no column '{name}'")))?;
        Ok(self.to_batch()?.column(i).clone())
    }
    /// Back to a lazy frame, to query further.
    pub fn lazy(&self, session: &Session) -> LazyFrame {
        LazyFrame::new(
            session.clone(),
            LogicalPlan::Values {
                schema: Arc::clone(&self.schema),
                batches: self.batches.clone(),
            },
        )
    }
}

impl fmt::Display for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = arrow::util::display::FormatOptions::default().with_null("null");
        match arrow::util::pretty::pretty_format_batches_with_options(&self.batches, &options) {
            Ok(t) if !self.batches.is_empty() => write!(f, "{t}"),
            _ => {
                let names: Vec<&str> = self
                    .schema
                    .fields()
                    .iter()
                    .map(|x| x.name().as_str())
                    .collect();
                write!(f, "(0 rows) [{}]", names.join(", "))
            }
        }
    }
}
