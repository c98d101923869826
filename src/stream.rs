//! The streaming contract: what flows through a pipeline ([`Morsel`]s, grouped into
//! [`Task`]s) and the three kinds of parts a pipeline is made of.
//!
//! ```text
//!   Source ──tasks──▶ worker: task ▶ batch ▶ Operator ▶ Operator ▶ LocalSink ─┐
//!                     worker: ...                                           ─┼▶ combine ▶ Sink::finalize
//! ```
//!
//! A pipeline is one [`Source`], a chain of streaming [`Operator`]s and one [`Sink`]
//! (a pipeline breaker, or the query's output). The scans (`io/`), the operators
//! (`exec/`) and custom outputs of library users all meet here, so this module sits
//! below both: it knows Arrow and the error type, nothing else.
//!
//! # The memory contract
//!
//! * Every buffer that grows with the data is held behind a
//!   [`Reservation`](crate::memory::Reservation) of the one pool, and the decision to
//!   spill instead is taken in one place, `OperatorContext::reserve_or_spill`
//!   (`exec/context.rs`).
//! * What cannot be reserved in advance is bounded: a worker holds one morsel in
//!   flight (at most `chunk_rows` rows) between its source and its sink, so the driver
//!   itself holds at most `threads × morsel` bytes; the driver records the largest
//!   morsel of each source in its metrics (`in_flight_peak`).
//! * A [`Source`] reserves what it holds resident while a task decodes (a CSV range,
//!   a Parquet row group's column chunks) and releases it when the task ends.
//! * A [`Sink`]'s local state reserves what it buffers before it buffers it; what
//!   `finalize` hands on carries its reservations with it, and releases them when the
//!   consumer has read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};

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

/// Hands out tasks to workers.
///
/// Concurrency: `next_task` is called by every worker of the pipeline, concurrently;
/// tasks must come out with increasing [`Task::index`] in source order. A task's
/// batches are then decoded by the worker that took it, one at a time.
///
/// Memory: a task reserves what it holds resident while it decodes, and releases it
/// when its iterator is dropped.
pub trait Source: Send + Sync {
    /// Next task, or `None` when the source is exhausted.
    fn next_task(&self) -> Result<Option<Task>>;
    /// Output schema.
    fn schema(&self) -> SchemaRef;
}

/// Where an operator pushes its output: the rest of the pipeline. It answers whether
/// the sink wants more.
pub type Emit<'a> = dyn FnMut(RecordBatch) -> Result<SinkStatus> + 'a;

/// A streaming operator: one morsel in, any number of batches out (a filter emits at
/// most one, a join probe may emit several), pushed into `emit` as they are made, so
/// a large fan-out never sits in memory whole.
///
/// Concurrency: `execute` is called by every worker at once, on different morsels.
/// Memory: an operator holds nothing between morsels beyond what its breaker (a join
/// build) has already reserved.
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

/// A pipeline breaker, input side, or the query's output.
///
/// Concurrency: `local_state` is called once per worker; [`LocalSink::sink`] runs in
/// parallel on different locals, [`LocalSink::combine`] once per worker at the end,
/// and `finalize` once, single-threaded, after every combine (and after every
/// pipeline that feeds this sink has run).
///
/// Memory: a local reserves what it buffers before buffering it, and spills (or
/// fails with `ResourcesExhausted`) when the reservation cannot grow. `finalize`
/// hands on a typed result (a [`Source`] of the breaker's output, a built hash table,
/// the collected batches) that owns the reservations of what it holds.
pub trait Sink: Send + Sync {
    /// What `finalize` hands on.
    type Output;
    fn name(&self) -> String;
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>>;
    fn finalize(&self) -> Result<Self::Output>;
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

/// A source over batches already in memory, one task per batch.
pub struct MemorySource {
    schema: SchemaRef,
    batches: Mutex<std::vec::IntoIter<RecordBatch>>,
    next_index: AtomicU64,
}

impl MemorySource {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        MemorySource {
            schema,
            batches: Mutex::new(batches.into_iter()),
            next_index: AtomicU64::default(),
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

/// Makes the batches of one task when the task is taken.
pub type TaskFactory = Box<dyn FnOnce() -> Result<BatchIter> + Send>;

/// A source that yields tasks from a list of lazily-started task factories, in order.
pub struct TaskListSource {
    schema: SchemaRef,
    tasks: Mutex<std::iter::Enumerate<std::vec::IntoIter<TaskFactory>>>,
}

impl TaskListSource {
    pub fn new(schema: SchemaRef, tasks: Vec<TaskFactory>) -> Self {
        TaskListSource {
            schema,
            tasks: Mutex::new(tasks.into_iter().enumerate()),
        }
    }

    /// A source of one task yielding `batches`.
    pub fn single(schema: SchemaRef, batches: BatchIter) -> Self {
        TaskListSource::new(schema, vec![Box::new(move || Ok(batches))])
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
