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

/// A streaming operator: one morsel in, at most one out. Called concurrently.
pub trait Operator: Send + Sync {
    fn name(&self) -> String;
    /// Transforms a morsel; `None` drops it (e.g. a filter that kept no rows).
    fn execute(&self, batch: RecordBatch) -> Result<Option<RecordBatch>>;
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

/// Runs `source → operators → sink` to completion on `ctx.threads` workers.
pub fn run_pipeline(
    ctx: &ExecContext,
    source: &dyn Source,
    operators: &[MeteredOperator],
    sink: &dyn Sink,
    source_metrics: &OperatorMetrics,
) -> Result<()> {
    let stop = AtomicBool::new(false);
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
                        if local.task_done(task.index)? == SinkStatus::Finished {
                            stop.store(true, Ordering::Relaxed);
                            break 'tasks;
                        }
                        break;
                    };
                    let mut batch = Some(batch?);
                    let rows = batch.as_ref().map_or(0, |b| b.num_rows());
                    source_metrics.add_rows(rows);
                    ctx.rows_scanned.fetch_add(rows as u64, Ordering::Relaxed);
                    for op in operators {
                        let Some(b) = batch.take() else { break };
                        let started = Instant::now();
                        batch = op.op.execute(b)?;
                        op.metrics.add_time(started.elapsed());
                        if let Some(b) = &batch {
                            op.metrics.add_rows(b.num_rows());
                        }
                    }
                    let seq = Seq {
                        task: task.index,
                        batch: batch_index,
                    };
                    batch_index += 1;
                    if let Some(batch) = batch {
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        if local.sink(Morsel { batch, seq })? == SinkStatus::Finished {
                            stop.store(true, Ordering::Relaxed);
                            break 'tasks;
                        }
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
        None => Ok(()),
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
