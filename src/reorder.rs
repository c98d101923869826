//! Source order for a sink fed by parallel workers: a reorder buffer that releases a
//! morsel once no running worker can still deliver an earlier one.
//!
//! The driver hands out tasks in increasing order and a worker runs its tasks one at
//! a time, so a worker that last delivered `(task t, batch b)` can only deliver later
//! sequence numbers, one that reported task `t` done only tasks after `t`, and one
//! that registers later only tasks not handed out yet. A buffered item is ready once
//! it is below the smallest next-possible [`Seq`] of all registered workers (a
//! registered worker that has reported nothing yet holds everything back).
//!
//! Memory: the buffer holds what waits for an earlier morsel; its owner accounts for
//! the items' bytes and may release them out of order ([`Reorder::pop_first`]) when
//! memory runs short. The file sinks and the CLI's stdout writers use it.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::stream::Seq;

/// Where a worker stands.
#[derive(Debug, Clone, Copy)]
enum WorkerPos {
    /// Registered, nothing delivered yet: it may still deliver any sequence number.
    Idle,
    /// Last delivered this morsel.
    At(Seq),
    /// Finished this task and delivers only later tasks.
    TaskDone(u64),
    /// Combined: delivers nothing more.
    Done,
}

/// Items keyed by [`Seq`], released in order.
#[derive(Debug)]
pub struct Reorder<T> {
    pending: BTreeMap<Seq, T>,
    workers: Vec<WorkerPos>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            pending: BTreeMap::new(),
            workers: Vec::new(),
        }
    }
}

impl<T> Reorder<T> {
    /// A new worker; its number for the other calls.
    pub fn register(&mut self) -> usize {
        self.workers.push(WorkerPos::Idle);
        self.workers.len() - 1
    }

    fn position(&mut self, worker: usize) -> Result<&mut WorkerPos> {
        self.workers
            .get_mut(worker)
            .ok_or_else(|| Error::Internal(format!("unknown sink worker {worker}")))
    }

    /// Buffers `item`, the morsel `seq` of `worker`.
    pub fn insert(&mut self, worker: usize, seq: Seq, item: T) -> Result<()> {
        *self.position(worker)? = WorkerPos::At(seq);
        if self.pending.insert(seq, item).is_some() {
            return Err(Error::Internal(format!("sink got morsel {seq:?} twice")));
        }
        Ok(())
    }

    /// `worker` finished task `task`.
    pub fn task_done(&mut self, worker: usize, task: u64) -> Result<()> {
        *self.position(worker)? = WorkerPos::TaskDone(task);
        Ok(())
    }

    /// `worker` delivers nothing more.
    pub fn finish(&mut self, worker: usize) -> Result<()> {
        *self.position(worker)? = WorkerPos::Done;
        Ok(())
    }

    /// Every worker is done (the sink is being finalized).
    pub fn finish_all(&mut self) {
        self.workers.iter_mut().for_each(|w| *w = WorkerPos::Done);
    }

    /// The next item no running worker can precede.
    pub fn pop_ready(&mut self) -> Option<T> {
        let bound = self
            .workers
            .iter()
            .filter_map(|w| match w {
                WorkerPos::Idle => Some(Seq::default()),
                WorkerPos::At(s) => Some(Seq {
                    task: s.task,
                    batch: s.batch.saturating_add(1),
                }),
                WorkerPos::TaskDone(t) => Some(Seq {
                    task: t.saturating_add(1),
                    batch: 0,
                }),
                WorkerPos::Done => None,
            })
            .min();
        let entry = self.pending.first_entry()?;
        if bound.is_some_and(|b| *entry.key() >= b) {
            return None;
        }
        Some(entry.remove())
    }

    /// The earliest buffered item, ready or not.
    pub fn pop_first(&mut self) -> Option<T> {
        self.pending.pop_first().map(|(_, item)| item)
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drops every buffered item.
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(task: u64, batch: u64) -> Seq {
        Seq { task, batch }
    }

    #[test]
    fn releases_in_order_once_no_worker_can_precede() {
        let mut r = Reorder::default();
        let (a, b) = (r.register(), r.register());
        r.insert(b, seq(1, 0), "t1b0").unwrap();
        // Worker a has delivered nothing: it may still deliver task 0.
        assert_eq!(r.pop_ready(), None);
        r.insert(a, seq(0, 0), "t0b0").unwrap();
        assert_eq!(r.pop_ready(), Some("t0b0"));
        // a may still deliver (0, 1).
        assert_eq!(r.pop_ready(), None);
        r.task_done(a, 0).unwrap();
        // a may still deliver task 1, for all the buffer knows.
        assert_eq!(r.pop_ready(), None);
        r.insert(a, seq(2, 0), "t2b0").unwrap();
        assert_eq!(r.pop_ready(), Some("t1b0"));
        assert_eq!(r.pop_ready(), None, "b may still deliver (1, 1)");
        r.finish(b).unwrap();
        assert_eq!(r.pop_ready(), Some("t2b0"));
        assert!(r.is_empty());
        assert!(r.insert(a, seq(2, 0), "again").is_ok());
        assert!(r.insert(a, seq(2, 0), "twice").is_err());
    }
}
