//! The executor: runs a [`PhysicalPlan`], pipeline by pipeline, in plan order.
//!
//! ```text
//!  output sink made first ─▶ for each pipeline:  still needed? ──no──▶ skipped
//!                                               │ yes
//!                           sink (made when its first pipeline starts)
//!                           source: a scan, values, or a finalized breaker's output
//!                           operators: filter, project, probes of finalized builds
//!                           run on the workers (pipeline.rs)
//!                           last pipeline into this sink? ─▶ finalize ─▶ its typed
//!                           output waits for the pipelines that read it
//! ```
//!
//! Each breaker's `finalize` hands on a typed result: the rows of an aggregate, sort,
//! top-k or limit (a [`Source`]); a built hash join ([`BuiltJoin`], probed by later
//! pipelines and drained by its tail); a materialized shared result (read once per
//! occurrence). The executor keeps each result until its last reader has taken it, so
//! its memory is released as soon as nothing can read it any more.
//!
//! Runtime filters are wired here: a top-k's bound exists from the moment its sink is
//! made (before the scan below it starts), and a join's key filter is computed from
//! the finished build before its probe side's scan starts.
//!
//! A sink that has all it needs (a satisfied limit) stops its pipeline; the pipelines
//! still to run into it are skipped, and so is every pipeline whose output only such
//! pipelines would read.
//!
//! Every operator gets one [`OperatorContext`] (its budget scaled to this session's
//! memory limit when the plan was made for another) and one metrics entry, indexed by
//! its id, which `explain --analyze` shows beside the plan's estimates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::aggregate::HashAggregateSink;
use super::collect::CollectSink;
use super::context::OperatorContext;
use super::expand::ExpandOperator;
use super::filter::FilterOperator;
use super::join::{BuiltJoin, HashJoinProbe, JoinBuildSink, JoinTailSource};
use super::physical::{OperatorId, OperatorKind, OutputSpec, PhysicalPlan};
use super::pipeline::{run_pipeline, ExecContext, MeteredOperator, PipelineRun};
use super::project::ProjectOperator;
use super::shared::{MaterializeSink, Materialized};
use super::sort::{ExternalSortSink, TopKSink};
use super::window::WindowSink;
use crate::config::SessionConfig;
use crate::error::{Error, Result};
use crate::io::scan::{scan, ScanRequest};
use crate::io::sink::{csv_sink, parquet_sink, FileSink};
use crate::memory::MemoryPool;
use crate::metrics::QueryMetrics;
use crate::runtime_filter::{JoinKeyFilter, TopKBound};
use crate::spill::SpillManager;
use crate::stream::{MemorySource, Operator, Sink, Source};

/// What a session lends each of its queries: the worker threads, the memory pool, the
/// settings, the cancel flag and the progress counter.
#[derive(Clone)]
pub struct Runtime {
    pub threads: Arc<rayon::ThreadPool>,
    pub pool: Arc<MemoryPool>,
    pub config: SessionConfig,
    pub cancel: Arc<AtomicBool>,
    /// Rows produced by scans so far, session-wide (for progress bars).
    pub rows_scanned: Arc<AtomicU64>,
}

impl Runtime {
    /// A fresh context for one query: its own spill directory.
    pub fn query_context(&self) -> QueryContext {
        let c = &self.config;
        QueryContext {
            exec: ExecContext {
                pool: Arc::clone(&self.threads),
                threads: c.threads,
                cancel: Arc::clone(&self.cancel),
                rows_scanned: Arc::clone(&self.rows_scanned),
            },
            pool: Arc::clone(&self.pool),
            spill: SpillManager::with_write_buffer(
                &c.spill_dir,
                c.max_spill_bytes,
                c.spill_compression,
                (c.memory_limit / 1024).clamp(16 << 10, 1 << 20),
            ),
            force_spill: c.force_spill,
            partial_aggregate_groups: c.partial_aggregate_groups,
        }
    }
}

/// Everything one running query shares.
#[derive(Clone)]
pub struct QueryContext {
    pub exec: ExecContext,
    pub pool: Arc<MemoryPool>,
    pub spill: Arc<SpillManager>,
    /// Operators spill whenever they can (testing).
    pub force_spill: bool,
    /// Initial flush threshold of the aggregate's partial tables, in groups.
    pub partial_aggregate_groups: usize,
}

/// What a finished query produced.
#[derive(Default)]
pub struct Executed {
    /// The collected rows (for an `OutputSpec::Collect` plan).
    pub batches: Vec<RecordBatch>,
    /// Rows and files a file output wrote.
    pub written: Option<(u64, Vec<std::path::PathBuf>)>,
}

/// Runs `plan`; `external` is the sink of an `OutputSpec::External` plan. Counters go
/// to `metrics` (made with [`PhysicalPlan::new_metrics`]), also when the query fails.
pub fn execute(
    plan: &PhysicalPlan,
    ctx: &QueryContext,
    metrics: &QueryMetrics,
    external: Option<&dyn Sink<Output = ()>>,
) -> Result<Executed> {
    let mut run = Executor::new(plan, ctx, metrics, external)?;
    run.all()?;
    Ok(run.result)
}

/// Runs `plan` and returns its rows (an `OutputSpec::Collect` plan).
pub fn execute_collect(plan: &PhysicalPlan, ctx: &QueryContext) -> Result<Vec<RecordBatch>> {
    let metrics = plan.new_metrics();
    Ok(execute(plan, ctx, &metrics, None)?.batches)
}

/// A sink being fed (boxed: they differ widely in size, and there are few).
enum Running<'e> {
    Aggregate(Box<HashAggregateSink>),
    Sort(Box<ExternalSortSink>),
    Window(Box<WindowSink>),
    TopK(Box<TopKSink>),
    Limit(Box<CollectSink>),
    Join(Box<JoinBuildSink>),
    Materialize(Box<MaterializeSink>),
    Collect(Box<CollectSink>),
    File(Arc<FileSink>),
    External(&'e dyn Sink<Output = ()>),
}

/// A finalized breaker's output, waiting for the pipelines that read it.
enum Ready {
    Rows(Box<dyn Source>),
    Join(Arc<BuiltJoin>),
    Shared(Arc<Materialized>, usize),
}

struct Executor<'a> {
    plan: &'a PhysicalPlan,
    ctx: &'a QueryContext,
    metrics: &'a QueryMetrics,
    external: Option<&'a dyn Sink<Output = ()>>,
    sinks: HashMap<OperatorId, Running<'a>>,
    ready: HashMap<OperatorId, Ready>,
    bounds: HashMap<OperatorId, Arc<TopKBound>>,
    /// Per (join, key index, scan column): the filter of its finished build's keys.
    join_filters: HashMap<(OperatorId, usize, String), Arc<JoinKeyFilter>>,
    /// Pipelines still to run (or skip) into each operator's sink.
    feeders: Vec<usize>,
    /// Tasks already fed into each sink (so `Seq`s keep growing across pipelines).
    task_base: Vec<u64>,
    /// Sinks that reported they have all they need.
    finished: Vec<bool>,
    /// Per operator, the pipelines that read its output (source or probe).
    readers: Vec<Vec<usize>>,
    result: Executed,
}

impl<'a> Executor<'a> {
    fn new(
        plan: &'a PhysicalPlan,
        ctx: &'a QueryContext,
        metrics: &'a QueryMetrics,
        external: Option<&'a dyn Sink<Output = ()>>,
    ) -> Result<Self> {
        let n = plan.operators.len();
        let mut readers = vec![vec![]; n];
        for (i, p) in plan.pipelines.iter().enumerate() {
            for &op in std::iter::once(&p.source).chain(&p.operators) {
                if let Some(r) = readers.get_mut(op) {
                    r.push(i);
                }
            }
        }
        let mut run = Executor {
            plan,
            ctx,
            metrics,
            external,
            sinks: HashMap::new(),
            ready: HashMap::new(),
            bounds: HashMap::new(),
            join_filters: HashMap::new(),
            feeders: plan.feeders(),
            task_base: vec![0; n],
            finished: vec![false; n],
            readers,
            result: Executed::default(),
        };
        // The output first: a destination that cannot be written fails before any
        // pipeline has run.
        let output = plan.output()?.id;
        run.start_sink(output)?;
        Ok(run)
    }

    fn all(&mut self) -> Result<()> {
        for i in 0..self.plan.pipelines.len() {
            let sink = self.plan.pipelines[i].sink;
            if self.live(i) {
                self.run(i)?;
            }
            let left = self
                .feeders
                .get_mut(sink)
                .ok_or_else(|| Error::Internal(format!("pipeline into unknown operator {sink}")))?;
            *left = left.saturating_sub(1);
            if *left == 0 && self.sinks.contains_key(&sink) {
                self.finalize(sink)?;
            }
        }
        Ok(())
    }

    /// Whether pipeline `i` can still change the result: its sink wants more, and
    /// something that will run reads the sink's output.
    fn live(&self, i: usize) -> bool {
        let Some(p) = self.plan.pipelines.get(i) else {
            return false;
        };
        if self.finished.get(p.sink).copied().unwrap_or(true) {
            return false;
        }
        match self.plan.operators.get(p.sink).map(|o| &o.kind) {
            Some(OperatorKind::Output(_)) => true,
            _ => self
                .readers
                .get(p.sink)
                .is_some_and(|r| r.iter().any(|&q| q > i && self.live(q))),
        }
    }

    /// The context of operator `op`: its budget, scaled to this session's limit.
    fn context(&self, op: OperatorId) -> Result<OperatorContext> {
        let o = self.plan.operator(op)?;
        let planned = self.plan.settings.memory_limit.max(1) as f64;
        let limit = self.ctx.pool.limit();
        let budget = ((o.budget as f64) * (limit as f64 / planned)).min(limit as f64) as usize;
        Ok(OperatorContext {
            pool: Arc::clone(&self.ctx.pool),
            spill: Arc::clone(&self.ctx.spill),
            chunk_rows: self.plan.settings.chunk_rows.max(1),
            threads: self.ctx.exec.threads.max(1),
            force_spill: self.ctx.force_spill,
            metrics: self.metrics.get(op)?,
            budget,
        })
    }

    /// Makes the sink of operator `op`.
    fn start_sink(&mut self, op: OperatorId) -> Result<()> {
        if self.sinks.contains_key(&op) {
            return Ok(());
        }
        let o = self.plan.operator(op)?;
        let ctx = self.context(op)?;
        let schema = Arc::clone(&o.schema);
        let sink = match &o.kind {
            OperatorKind::HashAggregate(spec) => Running::Aggregate(Box::new(
                HashAggregateSink::new(Arc::clone(spec), ctx, self.ctx.partial_aggregate_groups),
            )),
            OperatorKind::Sort {
                keys,
                fan_in,
                skip,
                fetch,
            } => Running::Sort(Box::new(
                ExternalSortSink::try_new(schema, keys.clone(), ctx, *fan_in)?
                    .with_range(*skip, *fetch),
            )),
            OperatorKind::Window(spec) => {
                let input = self.plan.operator(op)?.inputs.first().copied();
                let input_schema = match input {
                    Some(i) => Arc::clone(&self.plan.operator(i)?.schema),
                    None => return Err(Error::Internal(format!("window {op} has no input"))),
                };
                Running::Window(Box::new(WindowSink::try_new(
                    input_schema,
                    schema,
                    Arc::clone(spec),
                    ctx,
                )?))
            }
            OperatorKind::TopK { keys, k } => {
                let bound = self.topk_bound(op);
                Running::TopK(Box::new(
                    TopKSink::try_new(schema, keys.clone(), *k, ctx)?.with_bound(bound),
                ))
            }
            OperatorKind::Limit { skip, fetch } => {
                Running::Limit(Box::new(CollectSink::new(ctx, Some((*skip, *fetch)))))
            }
            OperatorKind::HashJoin(spec) => {
                Running::Join(Box::new(JoinBuildSink::new(Arc::clone(spec), ctx)))
            }
            OperatorKind::Materialize { .. } => {
                Running::Materialize(Box::new(MaterializeSink::new(schema, ctx)))
            }
            OperatorKind::Output(out) => match out {
                OutputSpec::Collect { limit } => {
                    Running::Collect(Box::new(CollectSink::new(ctx, *limit)))
                }
                OutputSpec::Parquet { path, options } => Running::File(parquet_sink(
                    path,
                    schema,
                    options.clone(),
                    Arc::clone(&ctx.pool),
                    ctx.metrics,
                )?),
                OutputSpec::Csv { path, options } => Running::File(csv_sink(
                    path,
                    schema,
                    options.clone(),
                    Arc::clone(&ctx.pool),
                    ctx.metrics,
                )?),
                OutputSpec::External { name } => match self.external {
                    Some(s) => Running::External(s),
                    None => {
                        return Err(Error::Internal(format!(
                            "the plan writes to an external sink ({name}) but none was given"
                        )))
                    }
                },
            },
            other => {
                return Err(Error::Internal(format!(
                    "operator {op} ({}) is not a sink: {other:?}",
                    o.label
                )))
            }
        };
        self.sinks.insert(op, sink);
        Ok(())
    }

    /// The running bound of top-k `op`, made when some scan reads it.
    fn topk_bound(&mut self, op: OperatorId) -> Option<Arc<TopKBound>> {
        let link = self.plan.operators.iter().find_map(|o| match &o.kind {
            OperatorKind::Scan(s) => s.topk_bound.as_ref().filter(|l| l.topk == op),
            _ => None,
        })?;
        let bound = Arc::new(TopKBound::new(
            link.column.clone(),
            link.descending,
            link.nulls_first,
        ));
        self.bounds.insert(op, Arc::clone(&bound));
        Some(bound)
    }

    /// The source of pipeline role "source" of `op`.
    fn source(&mut self, op: OperatorId) -> Result<Box<dyn Source>> {
        let o = self.plan.operator(op)?;
        match &o.kind {
            OperatorKind::Scan(spec) => scan(
                &spec.dataset,
                ScanRequest {
                    projection: spec.projection.clone(),
                    filters: spec.filters.clone(),
                    limit: spec.limit,
                    chunk_rows: self.plan.settings.chunk_rows.max(1),
                    pool: Arc::clone(&self.ctx.pool),
                    metrics: self.metrics.get(op)?,
                    spill: Some(Arc::clone(&self.ctx.spill)),
                    topk_bound: spec
                        .topk_bound
                        .as_ref()
                        .and_then(|l| self.bounds.get(&l.topk).cloned()),
                    join_keys: spec
                        .join_keys
                        .iter()
                        .filter_map(|l| {
                            self.join_filters
                                .get(&(l.join, l.key, l.column.clone()))
                                .cloned()
                        })
                        .collect(),
                },
            ),
            OperatorKind::Values(v) => {
                let rows = self.plan.settings.chunk_rows.max(1);
                let mut chunks = vec![];
                for b in &v.batches {
                    let mut off = 0;
                    while off < b.num_rows() {
                        let len = rows.min(b.num_rows() - off);
                        chunks.push(b.slice(off, len));
                        off += len;
                    }
                }
                Ok(Box::new(MemorySource::new(Arc::clone(&v.schema), chunks)))
            }
            OperatorKind::HashJoin(_) => match self.ready.remove(&op) {
                Some(Ready::Join(built)) => {
                    self.join_filters.retain(|(join, _, _), _| *join != op);
                    Ok(Box::new(JoinTailSource::new(built)))
                }
                _ => Err(self.not_ready(op)),
            },
            OperatorKind::Materialize { .. } => match self.ready.remove(&op) {
                Some(Ready::Shared(result, readers)) => {
                    let source = result.source();
                    if readers > 1 {
                        self.ready.insert(op, Ready::Shared(result, readers - 1));
                    }
                    Ok(source)
                }
                _ => Err(self.not_ready(op)),
            },
            _ => match self.ready.remove(&op) {
                Some(Ready::Rows(source)) => Ok(source),
                _ => Err(self.not_ready(op)),
            },
        }
    }

    fn not_ready(&self, op: OperatorId) -> Error {
        let label = self
            .plan
            .operators
            .get(op)
            .map(|o| o.label.as_str())
            .unwrap_or("?");
        Error::Internal(format!(
            "operator {op} ({label}) is read before its sink was finalized"
        ))
    }

    /// The streaming operator of pipeline role "operator" of `op`.
    fn operator(&self, op: OperatorId) -> Result<Arc<dyn Operator>> {
        let o = self.plan.operator(op)?;
        Ok(match &o.kind {
            OperatorKind::Filter { predicate } => Arc::new(FilterOperator {
                predicate: predicate.clone(),
            }),
            OperatorKind::Project { exprs } => Arc::new(ProjectOperator {
                exprs: exprs.clone(),
                schema: Arc::clone(&o.schema),
            }),
            OperatorKind::Expand { projections } => Arc::new(ExpandOperator {
                projections: projections.clone(),
                schema: Arc::clone(&o.schema),
            }),
            OperatorKind::HashJoin(_) => match self.ready.get(&op) {
                Some(Ready::Join(built)) => Arc::new(HashJoinProbe {
                    built: Arc::clone(built),
                }),
                _ => return Err(self.not_ready(op)),
            },
            other => {
                return Err(Error::Internal(format!(
                    "operator {op} ({}) does not stream: {other:?}",
                    o.label
                )))
            }
        })
    }

    /// Runs pipeline `i`.
    fn run(&mut self, i: usize) -> Result<()> {
        let p = &self.plan.pipelines[i];
        self.start_sink(p.sink)?;
        let source = self.source(p.source)?;
        let operators = p
            .operators
            .iter()
            .map(|&op| {
                Ok(MeteredOperator {
                    op: self.operator(op)?,
                    metrics: self.metrics.get(op)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let source_metrics = self.metrics.get(p.source)?;
        let sink_metrics = self.metrics.get(p.sink)?;
        let base = self.task_base[p.sink];
        let sink = self
            .sinks
            .get(&p.sink)
            .ok_or_else(|| Error::Internal(format!("sink {} not started", p.sink)))?;
        let exec = &self.ctx.exec;
        let source = source.as_ref();
        let (src, ops, sm) = (source, &operators[..], &*sink_metrics);
        let meta = (&*source_metrics, base);
        let ran: PipelineRun = match sink {
            Running::Aggregate(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::Sort(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::TopK(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::Window(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::Limit(s) | Running::Collect(s) => {
                run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1)
            }
            Running::Join(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::Materialize(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::File(s) => run_pipeline(exec, src, ops, s.as_ref(), meta.0, sm, meta.1),
            Running::External(s) => run_pipeline(exec, src, ops, *s, meta.0, sm, meta.1),
        }?;
        self.task_base[p.sink] += ran.tasks;
        if ran.finished {
            self.finished[p.sink] = true;
        }
        Ok(())
    }

    /// Finalizes the sink of `op` and keeps its output for its readers.
    fn finalize(&mut self, op: OperatorId) -> Result<()> {
        let Some(sink) = self.sinks.remove(&op) else {
            return Ok(());
        };
        let ready = match sink {
            Running::Aggregate(s) => Ready::Rows(s.finalize()?),
            Running::Sort(s) => Ready::Rows(s.finalize()?),
            Running::TopK(s) => Ready::Rows(s.finalize()?),
            Running::Window(s) => Ready::Rows(s.finalize()?),
            Running::Limit(s) => {
                let schema = Arc::clone(&self.plan.operator(op)?.schema);
                Ready::Rows(Box::new(MemorySource::new(schema, s.finalize()?.batches)))
            }
            Running::Join(s) => {
                let built = s.finalize()?;
                self.wire_join_filter(op, &built)?;
                Ready::Join(built)
            }
            Running::Materialize(s) => {
                let readers = match &self.plan.operator(op)?.kind {
                    OperatorKind::Materialize { readers } => *readers,
                    _ => 1,
                };
                Ready::Shared(s.finalize()?, readers.max(1))
            }
            Running::Collect(s) => {
                // The caller owns the result now; its bytes leave the query's accounting.
                self.result.batches = s.finalize()?.batches;
                let rows = self.result.batches.iter().map(|b| b.num_rows()).sum();
                self.metrics.get(op)?.add_rows(rows);
                return Ok(());
            }
            Running::File(s) => {
                s.finalize()?;
                self.result.written = Some((s.rows_written(), s.files()));
                self.metrics.get(op)?.add_rows(s.rows_written() as usize);
                return Ok(());
            }
            Running::External(s) => {
                s.finalize()?;
                return Ok(());
            }
        };
        self.ready.insert(op, ready);
        Ok(())
    }

    /// Computes the key filters the scans on the probe side of join `op` read.
    fn wire_join_filter(&mut self, op: OperatorId, built: &BuiltJoin) -> Result<()> {
        let links: Vec<crate::exec::physical::JoinKeysLink> = self
            .plan
            .operators
            .iter()
            .filter_map(|o| match &o.kind {
                OperatorKind::Scan(s) => Some(s.join_keys.iter().filter(|l| l.join == op)),
                _ => None,
            })
            .flatten()
            .cloned()
            .collect();
        // One filter per key, evaluated once; scans that name the key column their
        // own way (across renames and key equalities) get it under their name.
        let mut per_key: HashMap<usize, Option<JoinKeyFilter>> = HashMap::new();
        for link in links {
            let filter = match per_key.entry(link.key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let keys = built.in_memory_build_keys(link.key)?;
                    e.insert(keys.and_then(|k| JoinKeyFilter::try_new(link.column.clone(), &k)))
                }
            };
            if let Some(filter) = filter {
                let named = filter.for_column(link.column.clone());
                self.join_filters
                    .insert((op, link.key, link.column), Arc::new(named));
            }
        }
        Ok(())
    }
}
