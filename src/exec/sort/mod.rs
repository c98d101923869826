//! External sort: ORDER BY over more rows than fit in memory, by sorted runs and a
//! k-way merge. Top-k (ORDER BY … LIMIT k) is its own operator, [`TopKSink`].
//!
//! ```text
//!  sink (per worker)                                finalize            source (1 task)
//!  morsel ─▶ eval keys ─▶ arrow-row bytes ─┐
//!            + (task, batch, row)          ▼
//!                              buffer of morsels + key column
//!                                │ reservation can't grow / over limit÷threads
//!                                ▼ (or force_spill: every morsel)
//!                         sort positions by key bytes,
//!                         write a sorted run (IPC + LZ4) ──▶ runs ─┐
//!  combine: sort the rest ─▶ in-memory sorted buffer ──────────────┤
//!                                                                  ▼
//!               no run on disk: k-way merge of the buffers in memory ─▶ batches
//!               else: buffers become runs too; while runs > fan_in, merge the
//!                     oldest fan_in into a new run; k-way merge the rest ─▶ batches
//! ```
//!
//! *Keys.* Every morsel's ORDER BY expressions are evaluated and encoded with
//! [`arrow::row`], followed by the morsel's source position, into one byte string per
//! row ([`keys`]); comparisons are byte comparisons. The position makes keys unique,
//! which makes the sort stable however the workers interleave.
//!
//! *Memory and spilling.* Each worker buffers its morsels (plus their key column)
//! and reserves their `batch_memory_size` and 8 bytes per row for the sorted order.
//! When [`OperatorContext::reserve_or_spill`] says spill (the reservation cannot
//! grow past the worker's part of the budget, `budget / threads`), the worker sorts the buffer's row positions by key,
//! writes the rows as a run of `chunk_rows`-row batches and frees the reservation. In
//! `combine` each worker sorts what is left (in parallel). `finalize` merges the
//! buffers in memory if no run was spilled and the merge's output batch can be
//! reserved; otherwise it writes the buffers as runs too, freeing their memory, and
//! merges the runs from disk ([`merge`]: reserved workspace, at most `fan_in` runs
//! open, intermediate merge passes when there are more).
//!
//! *Output.* One task whose batches (at most `chunk_rows` rows, the input schema)
//! are produced lazily by the merge, so a result larger than memory streams to a
//! file sink. Order: the keys, then source order. Spill files are deleted as soon as
//! the merge has read them, and the merge's memory is returned when it ends.

mod keys;
mod merge;
mod topk;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use self::keys::{sort_order, KeyEncoder};
use self::merge::{merge_runs, write_run, MergeStream, Run, SortedBuffer};
use super::context::{Decision, Holder, OperatorContext};
use crate::error::{Error, Result};
use crate::expr::SortExpr;
use crate::memory::{batch_memory_size, Reservation};
use crate::stream::{BatchIter, LocalSink, Morsel, Sink, SinkStatus, Source, TaskListSource};

pub use self::topk::TopKSink;

/// Bytes reserved per buffered row for its place in the sorted order (the entry the
/// sort moves, which becomes a (batch, row) pair).
const ORDER_BYTES_PER_ROW: usize = std::mem::size_of::<keys::SortEntry>();

/// What the workers hand over in `combine`.
#[derive(Default)]
struct Collected {
    memory: Vec<SortedBuffer>,
    runs: Vec<Run>,
}

/// The external sort's sink; `finalize` gives the sorted output as a source.
pub struct ExternalSortSink {
    encoder: KeyEncoder,
    /// Its budget bounds what each worker buffers before writing a run to
    /// `budget / threads` (DuckDB #8135: one worker cannot starve the others).
    ctx: OperatorContext,
    /// The most runs merged at once (at least 2).
    fan_in: usize,
    /// Output only rows `skip..skip + fetch` of the sorted order.
    skip: usize,
    fetch: Option<usize>,
    collected: Mutex<Collected>,
}

impl ExternalSortSink {
    pub fn try_new(
        input_schema: SchemaRef,
        keys: Vec<SortExpr>,
        ctx: OperatorContext,
        fan_in: usize,
    ) -> Result<Self> {
        let mut ctx = ctx;
        ctx.chunk_rows = ctx.chunk_rows.max(1);
        Ok(ExternalSortSink {
            encoder: KeyEncoder::try_new(&input_schema, &keys)?,
            ctx,
            fan_in: fan_in.max(2),
            skip: 0,
            fetch: None,
            collected: Mutex::new(Collected::default()),
        })
    }

    /// Outputs only rows `skip..skip + fetch` (to the end for `None`): the merge stops
    /// there.
    pub fn with_range(mut self, skip: usize, fetch: Option<usize>) -> Self {
        self.skip = skip;
        self.fetch = fetch;
        self
    }

    fn collected(&self) -> Result<std::sync::MutexGuard<'_, Collected>> {
        self.collected
            .lock()
            .map_err(|_| Error::Internal("sort state poisoned".into()))
    }
}

impl Sink for ExternalSortSink {
    type Output = Box<dyn Source>;

    fn name(&self) -> String {
        "ExternalSort".into()
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(SortLocal {
            sink: self,
            batches: vec![],
            rows: 0,
            reservation: self.ctx.reservation("ExternalSort(buffer)"),
            runs: vec![],
        }))
    }

    fn finalize(&self) -> Result<Box<dyn Source>> {
        let Collected { memory, mut runs } = std::mem::take(&mut *self.collected()?);
        let ctx = &self.ctx;
        let out_schema = self.encoder.input_schema();
        if runs.is_empty() {
            let mut workspace = ctx.reservation("ExternalSort(merge)");
            let chunk = memory
                .iter()
                .map(|b| b.chunk_bytes(ctx.chunk_rows))
                .max()
                .unwrap_or(0);
            let output = chunk + ctx.chunk_rows * std::mem::size_of::<(usize, usize)>();
            if ctx.reserve_or_spill(&mut workspace, output, Holder::Operator) == Decision::Keep {
                ctx.metrics.set_note("in memory");
                let stream = MergeStream::from_memory(memory, workspace, out_schema, ctx)?;
                return Ok(single_task(
                    out_schema,
                    row_range(Box::new(stream), self.skip, self.fetch),
                ));
            }
        }
        // Something is on disk (or memory is too short to merge in place): every
        // buffer becomes a run, one at a time, freeing its memory before the merge.
        for buffer in memory {
            runs.push(write_run(
                ctx,
                self.fan_in,
                self.encoder.run_schema(),
                &buffer.batches,
                &buffer.order,
            )?);
        }
        let spilled = runs.len();
        let (stream, report) = merge_runs(
            runs,
            ctx,
            self.fan_in,
            self.encoder.run_schema(),
            out_schema,
        )?;
        ctx.metrics.set_note(format!(
            "spilled {spilled} runs, {} merge passes (fan-in {} of {})",
            report.merges, report.widest, self.fan_in
        ));
        Ok(single_task(
            out_schema,
            row_range(Box::new(stream), self.skip, self.fetch),
        ))
    }
}

/// Rows `skip..skip + fetch` of `batches` (to the end for `None`); stops reading
/// after them.
fn row_range(batches: BatchIter, skip: usize, fetch: Option<usize>) -> BatchIter {
    if skip == 0 && fetch.is_none() {
        return batches;
    }
    let (mut skip, mut left) = (skip, fetch.unwrap_or(usize::MAX));
    Box::new(
        batches
            .map_while(move |b| {
                if left == 0 {
                    return None;
                }
                Some(b.map(|b| {
                    let from = skip.min(b.num_rows());
                    skip -= from;
                    let take = (b.num_rows() - from).min(left);
                    left -= take;
                    b.slice(from, take)
                }))
            })
            .filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0)),
    )
}

/// A source of one task, index 0, yielding `batches`.
fn single_task(schema: &SchemaRef, batches: BatchIter) -> Box<dyn Source> {
    Box::new(TaskListSource::single(Arc::clone(schema), batches))
}

/// One worker's buffer and the runs it has written.
struct SortLocal<'a> {
    sink: &'a ExternalSortSink,
    /// Morsels with their key column (the run schema).
    batches: Vec<RecordBatch>,
    rows: usize,
    reservation: Reservation,
    runs: Vec<Run>,
}

impl SortLocal<'_> {
    /// Sorts the buffer, writes it as a run and frees its memory.
    fn spill(&mut self) -> Result<()> {
        let batches = std::mem::take(&mut self.batches);
        self.rows = 0;
        let order = sort_order(&batches)?;
        let run = write_run(
            &self.sink.ctx,
            self.sink.fan_in,
            self.sink.encoder.run_schema(),
            &batches,
            &order,
        )?;
        self.runs.push(run);
        drop(batches);
        self.reservation.free();
        Ok(())
    }
}

impl LocalSink for SortLocal<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let ctx = &self.sink.ctx;
        let batch = self.sink.encoder.encode(&morsel)?;
        drop(morsel);
        let bytes = batch_memory_size(&batch) + batch.num_rows() * ORDER_BYTES_PER_ROW;
        self.rows += batch.num_rows();
        self.batches.push(batch);
        if ctx.reserve_or_spill(&mut self.reservation, bytes, Holder::Worker) == Decision::Spill {
            self.spill()?;
        }
        Ok(SinkStatus::NeedMore)
    }

    fn combine(mut self: Box<Self>) -> Result<()> {
        if !self.batches.is_empty() && !self.runs.is_empty() {
            // Already on disk: the rest goes there too.
            self.spill()?;
        }
        let runs = std::mem::take(&mut self.runs);
        let buffer = if self.batches.is_empty() {
            None
        } else {
            let batches = std::mem::take(&mut self.batches);
            let order = sort_order(&batches)?;
            let reservation = std::mem::replace(
                &mut self.reservation,
                self.sink.ctx.reservation("ExternalSort(buffer)"),
            );
            Some(SortedBuffer {
                batches,
                order,
                reservation,
            })
        };
        let mut c = self.sink.collected()?;
        c.runs.extend(runs);
        c.memory.extend(buffer);
        Ok(())
    }
}
