//! Shared subplans: an aggregate subtree that occurs more than once in a query (a `WITH`
//! view read twice, as in TPC-H Q15) runs once, and every occurrence reads its
//! materialized result.
//!
//! ```text
//!  plan ─▶ fingerprint every Aggregate subtree ─▶ those seen twice or more are shared
//!  first occurrence:  subtree pipelines ─▶ MaterializeSink ─▶ Materialized (in memory
//!                                                                or one spill file)
//!  every occurrence:  Materialized ─▶ source (batches in memory, or the file streamed)
//! ```
//!
//! Two subtrees are the same when their fingerprints are: node kinds, expressions,
//! limits and the identity of the scanned dataset, recursively. Subtrees holding
//! in-memory `Values` are never shared (their data is not in the fingerprint).
//!
//! Memory: the materialized batches are reserved against the pool while they are
//! collected. When the reservation cannot grow (or under `force_spill`), everything
//! collected so far goes to a spill file and the rest follows it there; readers then
//! stream the file. The result, and its reservation or file, is released when the
//! last occurrence has been planned and read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::pipeline::{LocalSink, MemorySource, Morsel, Sink, SinkStatus, Source, Task};
use crate::error::{Error, Result};
use crate::memory::{batch_memory_size, MemoryPool, Reservation};
use crate::metrics::OperatorMetrics;
use crate::plan::LogicalPlan;
use crate::spill::{SpillFile, SpillManager, SpillWriter};

/// The shared subtrees of one query and the results computed so far.
#[derive(Default)]
pub struct SharedResults {
    /// Fingerprint → occurrences not yet planned (only subtrees seen twice or more).
    remaining: Mutex<HashMap<String, usize>>,
    done: Mutex<HashMap<String, Arc<Materialized>>>,
}

impl SharedResults {
    /// Finds the aggregate subtrees of `plan` that occur more than once.
    pub fn for_plan(plan: &LogicalPlan) -> Self {
        let mut all = HashMap::new();
        count_aggregates(plan, None, &mut all);
        all.retain(|_, n| *n > 1);
        // Recount: the inside of a shared subtree is planned once, not per occurrence.
        let mut counts = HashMap::new();
        count_aggregates(plan, Some(&all), &mut counts);
        counts.retain(|_, n| *n > 1);
        SharedResults {
            remaining: Mutex::new(counts),
            done: Mutex::default(),
        }
    }

    /// The fingerprint of `plan` when it is a shared subtree.
    pub fn key(&self, plan: &LogicalPlan) -> Option<String> {
        if !matches!(plan, LogicalPlan::Aggregate { .. }) {
            return None;
        }
        let key = fingerprint(plan)?;
        let remaining = self.remaining.lock().ok()?;
        remaining.contains_key(&key).then_some(key)
    }

    /// The result of `key` if it was already computed; counts one occurrence planned.
    pub fn take(&self, key: &str) -> Result<Option<Arc<Materialized>>> {
        let last = {
            let mut remaining = lock(&self.remaining)?;
            let n = remaining.get_mut(key);
            match n {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => true,
            }
        };
        let mut done = lock(&self.done)?;
        Ok(if last {
            done.remove(key)
        } else {
            done.get(key).cloned()
        })
    }

    /// Keeps `result` for the occurrences of `key` still to be planned.
    pub fn insert(&self, key: String, result: Arc<Materialized>) -> Result<()> {
        let still_needed = lock(&self.remaining)?.get(&key).is_some_and(|n| *n > 0);
        if still_needed {
            lock(&self.done)?.insert(key, result);
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::Internal("shared results poisoned".into()))
}

/// Counts the aggregate subtrees of `plan` by fingerprint. With `shared`, the inputs
/// of a shared subtree are visited at its first occurrence only.
fn count_aggregates(
    plan: &LogicalPlan,
    shared: Option<&HashMap<String, usize>>,
    counts: &mut HashMap<String, usize>,
) {
    if matches!(plan, LogicalPlan::Aggregate { .. }) {
        if let Some(key) = fingerprint(plan) {
            let seen = counts.get(&key).copied().unwrap_or(0);
            counts.insert(key.clone(), seen + 1);
            if seen > 0 && shared.is_some_and(|s| s.contains_key(&key)) {
                return;
            }
        }
    }
    for input in plan.inputs() {
        count_aggregates(input, shared, counts);
    }
}

/// A string that two subtrees share exactly when they compute the same rows; `None`
/// for a subtree holding in-memory batches.
pub fn fingerprint(plan: &LogicalPlan) -> Option<String> {
    let mut out = String::new();
    write_fingerprint(plan, &mut out)?;
    Some(out)
}

fn write_fingerprint(plan: &LogicalPlan, out: &mut String) -> Option<()> {
    match plan {
        LogicalPlan::Scan(s) => {
            let _ = write!(
                out,
                "Scan({:p},{:?},{:?},{:?})",
                Arc::as_ptr(&s.dataset),
                s.projection,
                s.filters,
                s.limit
            );
            return Some(());
        }
        LogicalPlan::Values { .. } => return None,
        LogicalPlan::Filter { predicate, .. } => {
            let _ = write!(out, "Filter({predicate:?})");
        }
        LogicalPlan::Project { exprs, .. } => {
            let _ = write!(out, "Project({exprs:?})");
        }
        LogicalPlan::Aggregate { keys, aggs, .. } => {
            let _ = write!(out, "Aggregate({keys:?},{aggs:?})");
        }
        LogicalPlan::Limit { skip, fetch, .. } => {
            let _ = write!(out, "Limit({skip},{fetch})");
        }
        LogicalPlan::Sort { keys, fetch, .. } => {
            let _ = write!(out, "Sort({keys:?},{fetch:?})");
        }
        LogicalPlan::Join {
            join_type,
            on,
            filter,
            build_hint,
            ..
        } => {
            let _ = write!(out, "Join({join_type:?},{on:?},{filter:?},{build_hint:?})");
        }
        LogicalPlan::Union { .. } => out.push_str("Union"),
    }
    out.push('[');
    for input in plan.inputs() {
        write_fingerprint(input, out)?;
        out.push(',');
    }
    out.push(']');
    Some(())
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
    spill: Arc<SpillManager>,
    force_spill: bool,
    metrics: Arc<OperatorMetrics>,
    state: Mutex<Collected>,
}

impl MaterializeSink {
    pub fn new(
        schema: SchemaRef,
        pool: &Arc<MemoryPool>,
        spill: Arc<SpillManager>,
        force_spill: bool,
        metrics: Arc<OperatorMetrics>,
    ) -> Self {
        MaterializeSink {
            state: Mutex::new(Collected {
                morsels: vec![],
                reservation: pool.reservation("Materialize"),
                writer: None,
            }),
            schema,
            spill,
            force_spill,
            metrics,
        }
    }

    fn push(&self, morsel: Morsel) -> Result<()> {
        let mut state = lock(&self.state)?;
        self.metrics.add_rows(morsel.batch.num_rows());
        if state.writer.is_none() {
            let bytes = batch_memory_size(&morsel.batch);
            if !self.force_spill && state.reservation.try_grow(bytes).is_ok() {
                self.metrics.record_reserved(state.reservation.size());
                state.morsels.push(morsel);
                return Ok(());
            }
            // Out of memory: everything so far goes to a file, in source order.
            let mut writer = self.spill.create_writer(&self.schema)?;
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
                self.metrics.add_spill(f.bytes(), 1);
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
    fn name(&self) -> String {
        "Materialize (shared subplan)".into()
    }
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(LocalMaterialize { sink: self }))
    }
    fn finalize(&self) -> Result<Box<dyn Source>> {
        Ok(self.finish()?.source())
    }
}
