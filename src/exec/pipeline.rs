//! The morsel-driven pipeline driver (Leis et al., SIGMOD 2014; DuckDB; Polars streaming).
//!
//! ```text
//!   Source ──tasks──▶ worker 0: task ▶ batch ▶ op ▶ op ▶ LocalSink 0 ─┐
//!     (file ranges,   worker 1: task ▶ batch ▶ op ▶ op ▶ LocalSink 1 ─┼─▶ combine ▶ finalize ▶ next Source
//!      row groups,    worker N: ...                                   ─┘
//!      partitions)
//! ```
//!
//! A pipeline is one [`Source`], a chain of streaming [`Operator`]s and one [`Sink`].
//! `threads` workers run on the session's rayon pool. Each pulls a [`Task`] (a file
//! range, a row group, a spilled partition) from the source, decodes its morsels one at
//! a time, pushes each through the operators and into its own [`LocalSink`]; nothing is
//! locked per morsel. Work stealing is the task queue itself: a worker that finishes
//! early takes the next task, so uneven files balance out. When the source is dry each
//! worker combines its local state into the shared sink, and `finalize` (single
//! threaded) turns the sink into the source of the next pipeline.
//!
//! Memory: a worker holds one morsel at a time in flight, so the driver itself holds
//! `threads × morsel` bytes; everything that grows lives in sinks, behind reservations.
//!
//! Order: every morsel carries a [`Seq`] (task index, batch index), which lets order-
//! sensitive sinks (collect, limit, first/last) restore source order.
//!
//! Errors and early exit: the first error, a sink reporting [`SinkStatus::Finished`]
//! (a satisfied limit), or a cancel sets a shared stop flag; workers stop between
//! morsels, and the first error is returned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::metrics::OperatorMetrics;

/// Position of a morsel in source order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq {
    pub task: u64,
    pub batch: u64,
}

/// A record batch with its place in source order.
#[derive(Debug, Clone)]
pub struct Morsel {
    pub batch: RecordBatch,
    pub seq: Seq,
}

/// The batches of one task, decoded lazily.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// One unit of source work.
pub struct Task {
    /// Position among the source's tasks (for ordering).
    pub index: u64,
    pub batches: BatchIter,
}

/// Hands out tasks to workers. Called concurrently.
pub trait Source: Send + Sync {
    /// Next task, or `None` when the source is exhausted.
    fn next_task(&self) -> Result<Option<Task>>;
    /// Output schema.
    fn schema(&self) -> SchemaRef;
}

/// Where an operator pushes its output: the rest of the pipeline. It answers whether
/// the sink wants more.
pub type Emit<'a> = dyn FnMut(RecordBatch) -> Result<SinkStatus> + 'a;

/// A streaming operator: one morsel in, any number of batches out (a filter emits
/// at most one, a join probe may emit several), pushed into `emit` as they are made,
/// so a large fan-out never sits in memory whole. Called concurrently.
pub trait Operator: Send + Sync {
    fn name(&self) -> String;
    /// Processes a morsel, calling `emit` for each output batch; stops early and
    /// returns `Finished` once `emit` does.
    fn execute(&self, batch: RecordBatch, emit: &mut Emit<'_>) -> Result<SinkStatus>;
}

/// Whether a sink wants more input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkStatus {
    NeedMore,
    /// The sink has all it needs (e.g. a limit is satisfied); stop the pipeline.
    Finished,
}

/// A pipeline breaker, input side. `local_state` is called once per worker,
/// `LocalSink::sink` in parallel on different locals, `LocalSink::combine` once per
/// worker at the end, and `finalize` once, single-threaded, after every combine.
pub trait Sink: Send + Sync {
    fn name(&self) -> String;
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>>;
    fn finalize(&self) -> Result<Box<dyn Source>>;
}

/// One worker's private part of a sink.
pub trait LocalSink: Send {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus>;
    /// Called when this worker has pushed every morsel of task `task`.
    fn task_done(&mut self, _task: u64) -> Result<SinkStatus> {
        Ok(SinkStatus::NeedMore)
    }
    fn combine(self: Box<Self>) -> Result<()>;
}

/// Everything a running pipeline needs besides its parts.
#[derive(Clone)]
pub struct ExecContext {
    pub pool: Arc<rayon::ThreadPool>,
    pub threads: usize,
    pub cancel: Arc<AtomicBool>,
    /// Rows produced by sources so far, session-wide (for progress bars).
    pub rows_scanned: Arc<std::sync::atomic::AtomicU64>,
}

/// A streaming operator with its metrics.
pub struct MeteredOperator {
    pub op: Arc<dyn Operator>,
    pub metrics: Arc<OperatorMetrics>,
}

/// What one pipeline run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineRun {
    /// Tasks taken from the source.
    pub tasks: u64,
    /// The sink reported `Finished` (the pipeline stopped early).
    pub finished: bool,
}

/// Runs `source → operators → sink` to completion on `ctx.threads` workers.
pub fn run_pipeline(
    ctx: &ExecContext,
    source: &dyn Source,
    operators: &[MeteredOperator],
    sink: &dyn Sink,
    source_metrics: &OperatorMetrics,
) -> Result<()> {
    run_pipeline_at(ctx, source, operators, sink, source_metrics, 0).map(|_| ())
}

/// Pushes `batch` through `operators` into `sink`, timing each operator without the
/// time spent downstream of it.
fn push(
    operators: &[MeteredOperator],
    batch: RecordBatch,
    sink: &mut dyn FnMut(RecordBatch) -> Result<SinkStatus>,
) -> Result<SinkStatus> {
    let Some((op, rest)) = operators.split_first() else {
        return sink(batch);
    };
    let started = Instant::now();
    let mut downstream = std::time::Duration::ZERO;
    let status = op.op.execute(batch, &mut |b: RecordBatch| {
        if b.num_rows() == 0 {
            return Ok(SinkStatus::NeedMore);
        }
        op.metrics.add_rows(b.num_rows());
        let t = Instant::now();
        let status = push(rest, b, sink);
        downstream += t.elapsed();
        status
    })?;
    op.metrics
        .add_time(started.elapsed().saturating_sub(downstream));
    Ok(status)
}

/// [`run_pipeline`] for one of several pipelines feeding the same sink in turn: task
/// indices (and so [`Seq`]s) start at `task_base`, after the earlier pipelines' tasks.
pub fn run_pipeline_at(
    ctx: &ExecContext,
    source: &dyn Source,
    operators: &[MeteredOperator],
    sink: &dyn Sink,
    source_metrics: &OperatorMetrics,
    task_base: u64,
) -> Result<PipelineRun> {
    let stop = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let tasks = std::sync::atomic::AtomicU64::new(0);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        stop.store(true, Ordering::Relaxed);
        if let Ok(mut slot) = first_error.lock() {
            if slot.is_none() {
                *slot = Some(e);
            }
        }
    };
    let worker = || {
        let result = (|| -> Result<()> {
            let mut local = sink.local_state()?;
            'tasks: while !stop.load(Ordering::Relaxed) {
                if ctx.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let started = Instant::now();
                let Some(task) = source.next_task()? else {
                    break;
                };
                source_metrics.add_time(started.elapsed());
                tasks.fetch_add(1, Ordering::Relaxed);
                let task_index = task_base + task.index;
                let mut batches = task.batches;
                let mut batch_index = 0u64;
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break 'tasks;
                    }
                    if ctx.cancel.load(Ordering::Relaxed) {
                        return Err(Error::Cancelled);
                    }
                    let started = Instant::now();
                    let next = batches.next();
                    source_metrics.add_time(started.elapsed());
                    let Some(batch) = next else {
                        if local.task_done(task_index)? == SinkStatus::Finished {
                            finished.store(true, Ordering::Relaxed);
                            stop.store(true, Ordering::Relaxed);
                            break 'tasks;
                        }
                        break;
                    };
                    let batch = batch?;
                    let rows = batch.num_rows();
                    source_metrics.add_rows(rows);
                    ctx.rows_scanned.fetch_add(rows as u64, Ordering::Relaxed);
                    // Every batch reaching the sink gets its own position: an operator
                    // may emit several per input morsel, in order.
                    let status = push(operators, batch, &mut |batch: RecordBatch| {
                        if batch.num_rows() == 0 {
                            return Ok(SinkStatus::NeedMore);
                        }
                        let seq = Seq {
                            task: task_index,
                            batch: batch_index,
                        };
                        batch_index += 1;
                        local.sink(Morsel { batch, seq })
                    })?;
                    if status == SinkStatus::Finished {
                        finished.store(true, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        break 'tasks;
                    }
                }
            }
            local.combine()
        })();
        if let Err(e) = result {
            fail(e);
        }
    };
    ctx.pool.scope(|s| {
        for _ in 0..ctx.threads.max(1) {
            s.spawn(|_| worker());
        }
    });
    let error = first_error
        .lock()
        .map_err(|_| Error::Internal("pipeline error slot poisoned".into()))?
        .take();
    match error {
        Some(e) => Err(e),
        None => Ok(PipelineRun {
            tasks: tasks.load(Ordering::Relaxed),
            finished: finished.load(Ordering::Relaxed),
        }),
    }
}

/// A source over batches already in memory, one task per batch.
pub struct MemorySource {
    schema: SchemaRef,
    batches: Mutex<std::vec::IntoIter<RecordBatch>>,
    next_index: std::sync::atomic::AtomicU64,
}

impl MemorySource {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        MemorySource {
            schema,
            batches: Mutex::new(batches.into_iter()),
            next_index: Default::default(),
        }
    }
}

impl Source for MemorySource {
    fn next_task(&self) -> Result<Option<Task>> {
        let mut guard = self
            .batches
            .lock()
            .map_err(|_| Error::Internal("memory source poisoned".into()))?;
        Ok(guard.next().map(|b| Task {
            index: self.next_index.fetch_add(1, Ordering::Relaxed),
            batches: Box::new(std::iter::once(Ok(b))),
        }))
    }
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A source that yields tasks from a list of lazily-started task factories, in order.
pub struct TaskListSource {
    schema: SchemaRef,
    #[allow(clippy::type_complexity)]
    tasks: Mutex<
        std::iter::Enumerate<std::vec::IntoIter<Box<dyn FnOnce() -> Result<BatchIter> + Send>>>,
    >,
}

impl TaskListSource {
    #[allow(clippy::type_complexity)]
    pub fn new(
        schema: SchemaRef,
        tasks: Vec<Box<dyn FnOnce() -> Result<BatchIter> + Send>>,
    ) -> Self {
        TaskListSource {
            schema,
            tasks: Mutex::new(tasks.into_iter().enumerate()),
        }
    }
}

impl Source for TaskListSource {
    fn next_task(&self) -> Result<Option<Task>> {
        let next = self
            .tasks
            .lock()
            .map_err(|_| Error::Internal("task list poisoned".into()))?
            .next();
        match next {
            None => Ok(None),
            Some((i, make)) => Ok(Some(Task {
                index: i as u64,
                batches: make()?,
            })),
        }
    }
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
