//! Top-k: ORDER BY … LIMIT k without sorting everything, in O(k) memory.
//!
//! ```text
//!  sink (per worker)                                         combine      finalize
//!  morsel ─▶ keys (arrow-row + position) ─▶ keep key < k-th best key ─┐
//!                                                                      ▼
//!        best k rows (sorted, with keys) ◀── compact: select k, sort, take ◀── pending
//!                        └──────────────────▶ shared best k ─▶ slices ─▶ 1 task
//! ```
//!
//! Each worker keeps its best `k` rows, sorted by key, as one compact batch (input
//! columns plus the key column of [`super::keys`]). For each morsel it encodes the
//! keys; once it holds `k` rows it drops every row whose key is not below the k-th
//! key (one byte comparison per row), so after a warm-up most morsels cost only the
//! encoding. Survivors wait in a pending list; once they number `max(k, min(4k, 1024))`
//! they are compacted with the best rows: a selection of the `k` smallest keys, a sort
//! of those `k` positions and a `take`, which copies the kept values out of the
//! morsels. Compacting per `k` survivors rather than per morsel keeps a large `k` from
//! re-sorting its rows for every morsel. `combine` compacts each worker's rows into
//! the shared set the same way.
//!
//! Memory: each worker and the shared state reserve their best batch and pending
//! survivors, O(k + 1024) rows; the morsel being filtered is in flight like any
//! morsel. Nothing spills: if that does not fit the pool, the error is
//! `ResourcesExhausted`.
//!
//! Output: one task with the k rows in key order, then source order (keys end in the
//! source position), in batches of at most `chunk_rows` rows. `k = 0` yields nothing
//! and stops the pipeline at the first morsel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, BinaryArray, RecordBatch, UInt32Array};
use arrow::compute::kernels::cmp;
use arrow::datatypes::SchemaRef;

use super::keys::{compare_keys, key_column, strip_key, KeyEncoder};
use super::single_task;
use crate::error::{Error, Result};
use crate::exec::context::OperatorContext;
use crate::expr::SortExpr;
use crate::memory::{batch_memory_size, Reservation};
use crate::runtime_filter::TopKBound;
use crate::stream::{LocalSink, Morsel, Sink, SinkStatus, Source};

/// Most pending survivors needed to trigger a compaction (see `compact_at`).
const COMPACT_MIN_ROWS: usize = 1024;

/// The best `k` rows seen so far, survivors not yet folded in, and the bytes held.
struct Best {
    /// At most `k` rows in key order (run schema).
    rows: Option<RecordBatch>,
    /// Rows that beat the k-th key of `rows` when they came, waiting for a compaction.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    reservation: Reservation,
}

impl Best {
    fn new(reservation: Reservation) -> Self {
        Best {
            rows: None,
            pending: vec![],
            pending_rows: 0,
            reservation,
        }
    }

    /// The k-th key, once `k` rows are held.
    fn threshold(&self, k: usize) -> Result<Option<&[u8]>> {
        match &self.rows {
            Some(rows) if rows.num_rows() >= k && k > 0 => {
                let keys = key_column(rows)?;
                Ok(Some(keys.value(keys.len() - 1)))
            }
            _ => Ok(None),
        }
    }
}

/// The top-k sink; `finalize` gives the k rows in order as a source.
pub struct TopKSink {
    encoder: KeyEncoder,
    k: usize,
    ctx: OperatorContext,
    best: Mutex<Best>,
    /// Where the k-th value of the first key is published for the scan below.
    bound: Option<Arc<TopKBound>>,
}

impl TopKSink {
    pub fn try_new(
        input_schema: SchemaRef,
        keys: Vec<SortExpr>,
        k: usize,
        ctx: OperatorContext,
    ) -> Result<Self> {
        let mut ctx = ctx;
        ctx.chunk_rows = ctx.chunk_rows.max(1);
        let best = Best::new(ctx.reservation("TopK"));
        Ok(TopKSink {
            encoder: KeyEncoder::try_new(&input_schema, &keys)?,
            k,
            ctx,
            best: Mutex::new(best),
            bound: None,
        })
    }

    /// Publishes the running k-th value of the first key to `bound` (see
    /// [`TopKBound`]).
    pub fn with_bound(mut self, bound: Option<Arc<TopKBound>>) -> Self {
        self.bound = bound;
        self
    }

    /// Offers the k-th row's key value of `rows` (k rows in key order) to the bound.
    fn publish(&self, rows: &RecordBatch) {
        let Some(bound) = &self.bound else { return };
        if self.k == 0 || rows.num_rows() < self.k {
            return;
        }
        if let Some(col) = rows.column_by_name(&bound.column) {
            bound.offer(col.slice(self.k - 1, 1));
        }
    }

    /// Folds the pending survivors into the best rows: keeps the `k` smallest keys, in
    /// order, copied out of the morsels (`take`), and settles the reservation.
    fn compact(&self, best: &mut Best) -> Result<()> {
        if best.pending.is_empty() {
            return Ok(());
        }
        let mut parts: Vec<RecordBatch> = best.rows.take().into_iter().collect();
        parts.append(&mut best.pending);
        best.pending_rows = 0;
        let all = arrow::compute::concat_batches(self.encoder.run_schema(), &parts)?;
        drop(parts);
        let keys = key_column(&all)?;
        let by_key =
            |a: &u32, b: &u32| compare_keys(keys.value(*a as usize), keys.value(*b as usize));
        let mut idx: Vec<u32> = (0..all.num_rows() as u32).collect();
        if idx.len() > self.k && self.k > 0 {
            idx.select_nth_unstable_by(self.k - 1, by_key);
        }
        idx.truncate(self.k);
        idx.sort_unstable_by(by_key);
        let rows = arrow::compute::take_record_batch(&all, &UInt32Array::from(idx))?;
        self.ctx
            .resize(&mut best.reservation, batch_memory_size(&rows))?;
        self.publish(&rows);
        best.rows = Some(rows);
        Ok(())
    }

    /// Survivors are folded in once there are this many, so that a large `k` costs a
    /// sort per `k` survivors rather than per morsel. A small `k` compacts every `4k`
    /// survivors: a compaction is then cheap, and the tighter k-th key it publishes
    /// lets the scan skip more (see [`TopKBound`]).
    fn compact_at(&self) -> usize {
        self.k.max(COMPACT_MIN_ROWS.min(4 * self.k))
    }

    fn shared(&self) -> Result<std::sync::MutexGuard<'_, Best>> {
        self.best
            .lock()
            .map_err(|_| Error::Internal("top-k state poisoned".into()))
    }
}

impl Sink for TopKSink {
    type Output = Box<dyn Source>;

    fn name(&self) -> String {
        format!("TopK(k={})", self.k)
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(TopKLocal {
            sink: self,
            best: Best::new(self.ctx.reservation("TopK")),
        }))
    }

    fn finalize(&self) -> Result<Box<dyn Source>> {
        let mut shared = self.shared()?;
        self.compact(&mut shared)?;
        let rows = shared.rows.take();
        let reservation = std::mem::replace(&mut shared.reservation, self.ctx.reservation("TopK"));
        drop(shared);
        self.ctx.metrics.set_note(format!("k = {}", self.k));
        let schema = self.encoder.input_schema();
        let mut batches = VecDeque::new();
        if let Some(rows) = rows {
            let rows = strip_key(&rows, schema)?;
            let mut offset = 0;
            while offset < rows.num_rows() {
                let len = self.ctx.chunk_rows.min(rows.num_rows() - offset);
                batches.push_back(rows.slice(offset, len));
                offset += len;
            }
        }
        let output = HeldBatches {
            batches,
            reservation: Some(reservation),
        };
        Ok(single_task(schema, Box::new(output)))
    }
}

/// Batches handed out one by one, their reservation freed after the last.
struct HeldBatches {
    batches: VecDeque<RecordBatch>,
    reservation: Option<Reservation>,
}

impl Iterator for HeldBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.batches.pop_front();
        if next.is_none() {
            self.reservation = None;
        }
        next.map(Ok)
    }
}

/// One worker's best rows.
struct TopKLocal<'a> {
    sink: &'a TopKSink,
    best: Best,
}

impl LocalSink for TopKLocal<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let sink = self.sink;
        if sink.k == 0 {
            return Ok(SinkStatus::Finished);
        }
        let mut batch = sink.encoder.encode(&morsel)?;
        drop(morsel);
        if let Some(threshold) = self.best.threshold(sink.k)? {
            let better = cmp::lt(key_column(&batch)?, &BinaryArray::new_scalar(threshold))?;
            if better.true_count() == 0 {
                return Ok(SinkStatus::NeedMore);
            }
            batch = arrow::compute::filter_record_batch(&batch, &better)?;
        }
        sink.ctx
            .reserve(&mut self.best.reservation, batch_memory_size(&batch))?;
        self.best.pending_rows += batch.num_rows();
        self.best.pending.push(batch);
        if self.best.pending_rows >= sink.compact_at() {
            sink.compact(&mut self.best)?;
        }
        Ok(SinkStatus::NeedMore)
    }

    fn combine(mut self: Box<Self>) -> Result<()> {
        let sink = self.sink;
        sink.compact(&mut self.best)?;
        let Some(rows) = self.best.rows.take() else {
            return Ok(());
        };
        let mut shared = sink.shared()?;
        let reservation =
            std::mem::replace(&mut self.best.reservation, sink.ctx.reservation("TopK"));
        shared.reservation.absorb(reservation);
        shared.pending_rows += rows.num_rows();
        shared.pending.push(rows);
        sink.compact(&mut shared)
    }
}
