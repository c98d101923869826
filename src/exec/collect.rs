//! Collect: gathers a pipeline's output in memory, in source order, optionally keeping
//! only rows `skip .. skip + fetch` (LIMIT/OFFSET).
//!
//! Each worker keeps its morsels with their [`Seq`]; `finalize` sorts them by it, so
//! results come out in source order whatever the thread count. Every collected batch is
//! reserved against the pool: a result larger than the budget fails with
//! `ResourcesExhausted` (write such results with a file sink instead).
//!
//! With a limit, the sink tracks rows per task and which tasks are complete; once the
//! complete prefix of tasks (plus what has arrived from the first incomplete one) holds
//! `skip + fetch` rows, it reports `Finished` and the pipeline stops early: this is what
//! makes `head(5)` on a huge file return at once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use arrow::array::RecordBatch;

use super::context::OperatorContext;
use crate::error::{Error, Result};
use crate::memory::Reservation;
use crate::stream::{LocalSink, Morsel, Seq, Sink, SinkStatus};

#[derive(Default)]
struct Progress {
    /// Rows received per task, and whether the task is complete.
    tasks: BTreeMap<u64, (usize, bool)>,
}

impl Progress {
    fn prefix_rows(&self) -> usize {
        let mut total = 0;
        for (expected, (&task, &(rows, done))) in self.tasks.iter().enumerate() {
            if task != expected as u64 {
                break;
            }
            total += rows;
            if !done {
                break;
            }
        }
        total
    }
}

/// Collects the output of a pipeline.
pub struct CollectSink {
    ctx: OperatorContext,
    limit: Option<(usize, usize)>,
    collected: Mutex<(Vec<Morsel>, Vec<Reservation>)>,
    progress: Mutex<Progress>,
}

/// What a [`CollectSink`] hands on: the rows in source order. Their reservations are
/// released as they are handed on: the caller owns the rows now (a limit's are at
/// most `skip + fetch` rows).
pub struct Collected {
    pub batches: Vec<RecordBatch>,
}

impl CollectSink {
    /// `limit` = `(skip, fetch)`.
    pub fn new(ctx: OperatorContext, limit: Option<(usize, usize)>) -> Self {
        CollectSink {
            ctx,
            limit,
            collected: Mutex::new((vec![], vec![])),
            progress: Mutex::new(Progress::default()),
        }
    }

    /// Sorts what was collected into source order and applies the limit.
    fn take_batches(&self) -> Result<Vec<RecordBatch>> {
        let mut guard = self
            .collected
            .lock()
            .map_err(|_| Error::Internal("collect sink poisoned".into()))?;
        let mut morsels = std::mem::take(&mut guard.0);
        morsels.sort_by_key(|m| m.seq);
        let mut batches: Vec<RecordBatch> = morsels.into_iter().map(|m| m.batch).collect();
        if let Some((skip, fetch)) = self.limit {
            let mut out = vec![];
            let (mut to_skip, mut to_take) = (skip, fetch);
            for b in batches {
                if to_take == 0 {
                    break;
                }
                let n = b.num_rows();
                if to_skip >= n {
                    to_skip -= n;
                    continue;
                }
                let len = (n - to_skip).min(to_take);
                out.push(b.slice(to_skip, len));
                to_skip = 0;
                to_take -= len;
            }
            batches = out;
        }
        Ok(batches)
    }
}

struct LocalCollect<'a> {
    sink: &'a CollectSink,
    morsels: Vec<Morsel>,
    reservation: Reservation,
}

impl LocalCollect<'_> {
    fn note_rows(&self, seq: Seq, rows: usize, done: bool) -> Result<SinkStatus> {
        let Some((skip, fetch)) = self.sink.limit else {
            return Ok(SinkStatus::NeedMore);
        };
        let mut p = self
            .sink
            .progress
            .lock()
            .map_err(|_| Error::Internal("collect progress poisoned".into()))?;
        let entry = p.tasks.entry(seq.task).or_insert((0, false));
        entry.0 += rows;
        entry.1 |= done;
        Ok(if p.prefix_rows() >= skip.saturating_add(fetch) {
            SinkStatus::Finished
        } else {
            SinkStatus::NeedMore
        })
    }
}

impl LocalSink for LocalCollect<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let bytes = crate::memory::batch_memory_size(&morsel.batch);
        self.sink.ctx.reserve(&mut self.reservation, bytes)?;
        let (seq, rows) = (morsel.seq, morsel.batch.num_rows());
        self.morsels.push(morsel);
        self.note_rows(seq, rows, false)
    }

    fn task_done(&mut self, task: u64) -> Result<SinkStatus> {
        self.note_rows(Seq { task, batch: 0 }, 0, true)
    }

    fn combine(self: Box<Self>) -> Result<()> {
        let mut guard = self
            .sink
            .collected
            .lock()
            .map_err(|_| Error::Internal("collect sink poisoned".into()))?;
        guard.0.extend(self.morsels);
        guard.1.push(self.reservation);
        Ok(())
    }
}

impl Sink for CollectSink {
    type Output = Collected;

    fn name(&self) -> String {
        match self.limit {
            Some((skip, fetch)) => format!("Limit: skip={skip} fetch={fetch}"),
            None => "Collect".into(),
        }
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(LocalCollect {
            sink: self,
            morsels: vec![],
            reservation: self.ctx.reservation(&self.name()),
        }))
    }

    fn finalize(&self) -> Result<Collected> {
        let batches = self.take_batches()?;
        drop(
            self.collected
                .lock()
                .map(|mut g| std::mem::take(&mut g.1))
                .map_err(|_| Error::Internal("collect sink poisoned".into()))?,
        );
        Ok(Collected { batches })
    }
}
