//! Top-k: ORDER BY … LIMIT k without sorting everything, in O(k) memory.
//!
//! ```text
//!  sink (per worker)                                         combine      finalize
//!  morsel ─▶ keys (arrow-row + position) ─▶ keep key < k-th best key ─┐
//!                                                                      ▼
//!            best k rows (sorted, with keys) ◀── sort survivors + best, take k
//!                                   └──────────────▶ shared best k ─▶ slices ─▶ 1 task
//! ```
//!
//! Each worker keeps its best `k` rows, sorted by key, as one compact batch (input
//! columns plus the key column of [`super::keys`]). For each morsel it encodes the
//! keys; once it holds `k` rows, it drops every row whose key is not below the k-th
//! key (one byte comparison per row), so after a warm-up most morsels cost only the
//! encoding. Survivors are appended to the best rows, which are cut back to `k` by a
//! selection plus a sort of `k` positions and a `take` (which also copies the kept
//! values out of the morsels, so no morsel stays alive). `combine` merges the
//! workers' sets the same way into the shared one.
//!
//! Memory: each worker and the shared state reserve the size of their best batch,
//! O(k) rows; the morsel being filtered is in flight like any morsel. Nothing spills:
//! if `k` rows do not fit the pool, the error is `ResourcesExhausted`.
//!
//! Output: one task with the k rows in key order, then source order (keys end in the
//! source position), in batches of at most `chunk_rows` rows. `k = 0` yields nothing
//! and stops the pipeline at the first morsel.

use std::collections::VecDeque;
use std::sync::Mutex;

use arrow::array::{Array, BinaryArray, RecordBatch, UInt32Array};
use arrow::compute::kernels::cmp;
use arrow::datatypes::SchemaRef;

use super::keys::{key_column, strip_key, KeyEncoder};
use super::{single_task, SortContext, SortKey};
use crate::error::{Error, Result};
use crate::exec::pipeline::{LocalSink, Morsel, Sink, SinkStatus, Source};
use crate::memory::{batch_memory_size, Reservation};

/// The best `k` rows seen so far, with the bytes they hold.
struct Best {
    rows: Option<RecordBatch>,
    reservation: Reservation,
}

/// The top-k sink; `finalize` gives the k rows in order as a source.
pub struct TopKSink {
    encoder: KeyEncoder,
    k: usize,
    ctx: SortContext,
    best: Mutex<Best>,
}

impl TopKSink {
    pub fn try_new(
        input_schema: SchemaRef,
        keys: Vec<SortKey>,
        k: usize,
        ctx: SortContext,
    ) -> Result<Self> {
        let mut ctx = ctx;
        ctx.chunk_rows = ctx.chunk_rows.max(1);
        let best = Best {
            rows: None,
            reservation: ctx.pool.reservation("TopK"),
        };
        Ok(TopKSink {
            encoder: KeyEncoder::try_new(&input_schema, &keys)?,
            k,
            ctx,
            best: Mutex::new(best),
        })
    }

    /// The best `k` rows of `best` and `more` (both of the run schema), sorted.
    fn keep_best(&self, best: Option<RecordBatch>, more: RecordBatch) -> Result<RecordBatch> {
        let all = match best {
            Some(best) => {
                arrow::compute::concat_batches(self.encoder.run_schema(), [&best, &more])?
            }
            None => more,
        };
        let keys = key_column(&all)?;
        let by_key = |a: &u32, b: &u32| keys.value(*a as usize).cmp(keys.value(*b as usize));
        let mut idx: Vec<u32> = (0..all.num_rows() as u32).collect();
        if idx.len() > self.k && self.k > 0 {
            idx.select_nth_unstable_by(self.k - 1, by_key);
        }
        idx.truncate(self.k);
        idx.sort_unstable_by(by_key);
        Ok(arrow::compute::take_record_batch(
            &all,
            &UInt32Array::from(idx),
        )?)
    }

    fn shared(&self) -> Result<std::sync::MutexGuard<'_, Best>> {
        self.best
            .lock()
            .map_err(|_| Error::Internal("top-k state poisoned".into()))
    }
}

impl Sink for TopKSink {
    fn name(&self) -> String {
        format!("TopK(k={})", self.k)
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(TopKLocal {
            sink: self,
            best: Best {
                rows: None,
                reservation: self.ctx.pool.reservation("TopK"),
            },
        }))
    }

    fn finalize(&self) -> Result<Box<dyn Source>> {
        let mut shared = self.shared()?;
        let rows = shared.rows.take();
        let reservation = std::mem::replace(
            &mut shared.reservation,
            self.ctx.pool.reservation("TopK"),
        );
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
        if let Some(best) = self.best.rows.as_ref().filter(|b| b.num_rows() >= sink.k) {
            let keys = key_column(best)?;
            let threshold = BinaryArray::new_scalar(keys.value(keys.len() - 1));
            let better = cmp::lt(key_column(&batch)?, &threshold)?;
            if better.true_count() == 0 {
                return Ok(SinkStatus::NeedMore);
            }
            batch = arrow::compute::filter_record_batch(&batch, &better)?;
        }
        let best = sink.keep_best(self.best.rows.take(), batch)?;
        self.best.reservation.try_resize(batch_memory_size(&best))?;
        sink.ctx.metrics.record_reserved(self.best.reservation.size());
        self.best.rows = Some(best);
        Ok(SinkStatus::NeedMore)
    }

    fn combine(self: Box<Self>) -> Result<()> {
        let sink = self.sink;
        let Best { rows, reservation } = self.best;
        let Some(rows) = rows else {
            return Ok(());
        };
        let mut shared = sink.shared()?;
        let best = sink.keep_best(shared.rows.take(), rows)?;
        shared.reservation.absorb(reservation);
        shared.reservation.try_resize(batch_memory_size(&best))?;
        sink.ctx.metrics.record_reserved(shared.reservation.size());
        shared.rows = Some(best);
        Ok(())
    }
}
