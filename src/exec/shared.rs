//! Shared subplans: a subtree that occurs more than once in a query (a `WITH` view
//! read twice, as in TPC-H Q15) runs once into a [`MaterializeSink`], and every
//! occurrence reads the [`Materialized`] result. The physical planner finds such
//! subtrees by their structural fingerprint (`plan/physical_planner.rs`).
//!
//! ```text
//!  first occurrence:  subtree pipelines ─▶ MaterializeSink ─▶ Materialized (in memory
//!                                                                or one spill file)
//!  every occurrence:  Materialized ─▶ source (batches in memory, or the file streamed)
//! ```
//!
//! Memory: the materialized batches are reserved against the pool while they are
//! collected ([`OperatorContext::reserve_or_spill`]). When that says spill (or under
//! `force_spill`), everything collected so far goes to a spill file and the rest
//! follows it there; readers then stream the file. The result, and its reservation or
//! file, is released when the last occurrence has read it.

use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::context::{Decision, Holder, OperatorContext};
use crate::error::{Error, Result};
use crate::memory::{batch_memory_size, Reservation};
use crate::spill::{SpillFile, SpillWriter};
use crate::stream::{LocalSink, MemorySource, Morsel, Sink, SinkStatus, Source, Task};

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::Internal("shared result poisoned".into()))
}

/// A computed shared result: batches in memory, or a spill file.
pub struct Materialized {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    file: Option<SpillFile>,
    /// Holds the bytes of `batches` in the pool until the last reader is done.
    _reservation: Reservation,
}

impl Materialized {
    /// A source over the result (one task per batch, or one task streaming the file).
    pub fn source(self: &Arc<Self>) -> Box<dyn Source> {
        match &self.file {
            None => Box::new(HeldSource {
                inner: MemorySource::new(Arc::clone(&self.schema), self.batches.clone()),
                _result: Arc::clone(self),
            }),
            Some(file) => Box::new(FileSource {
                file: Mutex::new(Some(file.clone())),
                schema: Arc::clone(&self.schema),
            }),
        }
    }
}

/// A memory source that keeps the result's reservation alive while it is read.
struct HeldSource {
    inner: MemorySource,
    _result: Arc<Materialized>,
}

impl Source for HeldSource {
    fn next_task(&self) -> Result<Option<Task>> {
        self.inner.next_task()
    }
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// Streams a spilled result back as one task.
struct FileSource {
    file: Mutex<Option<SpillFile>>,
    schema: SchemaRef,
}

impl Source for FileSource {
    fn next_task(&self) -> Result<Option<Task>> {
        let Some(file) = lock(&self.file)?.take() else {
            return Ok(None);
        };
        Ok(Some(Task {
            index: 0,
            batches: Box::new(file.read()?),
        }))
    }
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// What a [`MaterializeSink`] has collected so far.
struct Collected {
    morsels: Vec<Morsel>,
    reservation: Reservation,
    writer: Option<SpillWriter>,
}

/// Collects a shared subtree's output, spilling it whole when the pool runs short.
pub struct MaterializeSink {
    schema: SchemaRef,
    ctx: OperatorContext,
    state: Mutex<Collected>,
}

impl MaterializeSink {
    pub fn new(schema: SchemaRef, ctx: OperatorContext) -> Self {
        MaterializeSink {
            state: Mutex::new(Collected {
                morsels: vec![],
                reservation: ctx.reservation("Materialize"),
                writer: None,
            }),
            schema,
            ctx,
        }
    }

    fn push(&self, morsel: Morsel) -> Result<()> {
        let mut state = lock(&self.state)?;
        if state.writer.is_none() {
            let bytes = batch_memory_size(&morsel.batch);
            let state = &mut *state;
            if self
                .ctx
                .reserve_or_spill(&mut state.reservation, bytes, Holder::Operator)
                == Decision::Keep
            {
                state.morsels.push(morsel);
                return Ok(());
            }
            // Out of memory: everything so far goes to a file, in source order.
            let mut writer = self.ctx.spill.create_writer(&self.schema)?;
            let mut held = std::mem::take(&mut state.morsels);
            held.sort_by_key(|m| m.seq);
            for m in held {
                writer.write(&m.batch)?;
            }
            state.reservation.free();
            state.writer = Some(writer);
        }
        match state.writer.as_mut() {
            Some(w) => w.write(&morsel.batch),
            None => Err(Error::Internal("materialize writer missing".into())),
        }
    }

    /// The collected result, in source order.
    pub fn finish(&self) -> Result<Arc<Materialized>> {
        let mut state = lock(&self.state)?;
        let held = state.reservation.size();
        let reservation = state.reservation.split(held);
        let file = match state.writer.take() {
            Some(w) => {
                let f = w.finish()?;
                self.ctx.metrics.add_spill(f.bytes(), 1);
                Some(f)
            }
            None => None,
        };
        let mut morsels = std::mem::take(&mut state.morsels);
        morsels.sort_by_key(|m| m.seq);
        Ok(Arc::new(Materialized {
            schema: Arc::clone(&self.schema),
            batches: morsels.into_iter().map(|m| m.batch).collect(),
            file,
            _reservation: reservation,
        }))
    }
}

struct LocalMaterialize<'a> {
    sink: &'a MaterializeSink,
}

impl LocalSink for LocalMaterialize<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        self.sink.push(morsel)?;
        Ok(SinkStatus::NeedMore)
    }
    fn combine(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Sink for MaterializeSink {
    type Output = Arc<Materialized>;
    fn name(&self) -> String {
        "Materialize (shared subplan)".into()
    }
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(LocalMaterialize { sink: self }))
    }
    fn finalize(&self) -> Result<Arc<Materialized>> {
        self.finish()
    }
}
