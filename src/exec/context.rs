//! The memory contract of operators, written once: [`OperatorContext`] and its one
//! spill decision, [`OperatorContext::reserve_or_spill`].
//!
//! Every operator whose state grows with the data gets an `OperatorContext` from the
//! executor: the session's pool and the query's spill manager, the morsel size and
//! thread count, the `force_spill` testing knob, the operator's metrics, and its
//! **budget**, the bytes the physical planner lets it hold (a join build gets a share
//! of its subtree's budget; see `plan/physical_planner.rs`).
//!
//! Before an operator buffers more state it asks [`OperatorContext::reserve_or_spill`]
//! (or [`OperatorContext::resize_or_spill`]). The answer is [`Decision::Keep`] only when
//!
//! 1. spilling is not forced (`force_spill`),
//! 2. the holder stays within its cap ([`Holder`]): one worker's part of the budget
//!    after the scans' set-aside, one task's `budget / threads`, or the whole budget
//!    for the single-threaded `finalize`,
//! 3. the pool's resident guard, where it is on, sees room for them in the process's
//!    resident memory ([`MemoryPool::resident_room`]; asked only of a holder that
//!    would hold a quarter of its cap or more), and
//! 4. the pool grants the bytes;
//!
//! and then the bytes are reserved. Otherwise nothing is reserved and the answer is
//! [`Decision::Spill`]: the operator writes state out (or re-partitions it) and asks
//! again. No operator takes this decision on its own.
//!
//! Bytes an operator cannot do without (a collected result, one top-k batch) go
//! through [`OperatorContext::reserve`], which either reserves them or fails with
//! [`Error::ResourcesExhausted`](crate::error::Error::ResourcesExhausted) naming the
//! operator. The write buffer of a spill file is reserved too, or the file is written
//! unbuffered ([`OperatorContext::spill_writer`]). A failed `try_grow` is never
//! ignored.
//!
//! Work that already runs from spill files (merging a spilled partition, joining a
//! spilled partition) takes [`OperatorContext::unforced`]: forcing it to spill again
//! would only recurse, so there only the cap and the pool decide.

use std::sync::Arc;

use crate::error::Result;
use crate::memory::{worker_budget, MemoryPool, Reservation};
use crate::metrics::OperatorMetrics;
use crate::spill::{SpillManager, SpillWriter};

/// The resident guard ([`crate::memory`]) asks a holder to spill only when it would
/// hold at least this fraction (1/n) of its cap: spilling a small holder frees little,
/// and where the process holds far more than the limit outside the pool (a limit of
/// tens of MiB, below what the runtime and the scans' buffers take), refusing every
/// small holder's growth made them write thousands of tiny spill files (TPC-DS q78 at
/// 32 MiB: 243 s and 364K files in one join, against 2.4 s without the guard).
const RESIDENT_GUARD_MIN_SHARE: usize = 4;

/// What an operator may keep in memory, and where it writes what it cannot.
#[derive(Debug, Clone)]
pub struct OperatorContext {
    pub pool: Arc<MemoryPool>,
    pub spill: Arc<SpillManager>,
    /// Rows per output batch.
    pub chunk_rows: usize,
    /// Workers running the operator's pipelines.
    pub threads: usize,
    /// Testing knob (DuckDB's `force_external`): spill whenever spilling is possible.
    pub force_spill: bool,
    pub metrics: Arc<OperatorMetrics>,
    /// Bytes this operator may hold in memory in total.
    pub budget: usize,
}

/// The answer of [`OperatorContext::reserve_or_spill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The bytes are reserved: keep the state in memory.
    Keep,
    /// Nothing was reserved: write state out (or re-partition), then ask again.
    Spill,
}

/// Whose cap a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// One worker's local state in a sink that runs beside the scans feeding it (an
    /// aggregate's partial tables, a sort's buffers): its part of the budget after the
    /// scans' set-aside ([`crate::memory::worker_budget`]), `(budget − set-aside) /
    /// threads`.
    Worker,
    /// One of `threads` tasks at once whose room is already planned (a partition
    /// merge, a spilled join partition, a join build worker within the join's share):
    /// `budget / threads`.
    Task,
    /// The operator as a whole (its single-threaded `finalize`): all of `budget`.
    Operator,
}

impl OperatorContext {
    /// The bytes `holder` may hold.
    pub fn cap(&self, holder: Holder) -> usize {
        let threads = self.threads.max(1);
        match holder {
            Holder::Worker => {
                let set_aside =
                    self.pool.limit() - worker_budget(self.pool.limit(), threads) * threads;
                self.budget.saturating_sub(set_aside) / threads
            }
            Holder::Task => self.budget / threads,
            Holder::Operator => self.budget,
        }
    }

    /// The one spill decision (see the module doc): reserves `bytes` more on
    /// `reservation` and answers [`Decision::Keep`], or reserves nothing and answers
    /// [`Decision::Spill`].
    pub fn reserve_or_spill(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
        holder: Holder,
    ) -> Decision {
        self.resize_or_spill(
            reservation,
            reservation.size().saturating_add(bytes),
            holder,
        )
    }

    /// [`OperatorContext::reserve_or_spill`] for a holder that knows its new total:
    /// resizes `reservation` to `size` bytes (shrinking always succeeds unless
    /// spilling is forced).
    pub fn resize_or_spill(
        &self,
        reservation: &mut Reservation,
        size: usize,
        holder: Holder,
    ) -> Decision {
        if self.force_spill
            || size > self.cap(holder)
            || (size > reservation.size()
                && size >= self.cap(holder) / RESIDENT_GUARD_MIN_SHARE
                && !self.pool.resident_room(size - reservation.size()))
            || reservation.try_resize(size).is_err()
        {
            return Decision::Spill;
        }
        self.metrics.record_reserved(reservation.size());
        Decision::Keep
    }

    /// Reserves `bytes` the operator cannot do without, or fails with
    /// `ResourcesExhausted` naming the operator.
    pub fn reserve(&self, reservation: &mut Reservation, bytes: usize) -> Result<()> {
        reservation.try_grow(bytes)?;
        self.metrics.record_reserved(reservation.size());
        Ok(())
    }

    /// Resizes `reservation` to exactly `size` bytes, or fails with
    /// `ResourcesExhausted`.
    pub fn resize(&self, reservation: &mut Reservation, size: usize) -> Result<()> {
        reservation.try_resize(size)?;
        self.metrics.record_reserved(reservation.size());
        Ok(())
    }

    /// Opens a spill file for `schema` whose write buffer (`buffer` bytes) is reserved
    /// on `reservation` within `holder`'s cap. When the cap or the pool cannot take it
    /// (a tiny budget), the file is written unbuffered instead, so no buffer lives
    /// outside the pool and buffers never crowd the state out beyond the cap. Returns
    /// the writer and the bytes reserved for it, which the caller releases when it
    /// finishes the writer.
    pub fn spill_writer(
        &self,
        schema: &arrow::datatypes::SchemaRef,
        reservation: &mut Reservation,
        buffer: usize,
        holder: Holder,
    ) -> Result<(SpillWriter, usize)> {
        let size = reservation.size().saturating_add(buffer);
        let buffered = size <= self.cap(holder) && reservation.try_resize(size).is_ok();
        let buffer = if buffered {
            self.metrics.record_reserved(reservation.size());
            buffer
        } else {
            0
        };
        let writer = self.spill.create_writer_buffered(schema, buffer)?;
        Ok((writer, buffer))
    }

    /// The write buffer of each of `files` spill files open at once: together at most
    /// a quarter of `holder`'s cap, at most the session's buffer size, at least 4 KiB
    /// (which [`OperatorContext::spill_writer`] then grants only within the cap).
    pub fn spill_buffer_bytes(&self, files: usize, holder: Holder) -> usize {
        (self.cap(holder) / (4 * files.max(1)))
            .min(self.spill.write_buffer_bytes())
            .max(4096)
    }

    /// This context for work that already runs from spill files: not forced to spill.
    pub fn unforced(&self) -> OperatorContext {
        OperatorContext {
            force_spill: false,
            ..self.clone()
        }
    }

    /// A new, empty reservation of this operator, named `what`.
    pub fn reservation(&self, what: &str) -> Reservation {
        self.pool.reservation(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpillCompression;

    fn ctx(limit: usize, budget: usize, threads: usize, force: bool) -> OperatorContext {
        OperatorContext {
            pool: MemoryPool::new(limit),
            spill: SpillManager::new(std::env::temp_dir(), u64::MAX, SpillCompression::None),
            chunk_rows: 1024,
            threads,
            force_spill: force,
            metrics: OperatorMetrics::new("test"),
            budget,
        }
    }

    #[test]
    fn keeps_within_the_cap_and_the_pool_else_spills() {
        let c = ctx(1000, 600, 2, false);
        let mut r = c.reservation("t");
        assert_eq!(
            c.reserve_or_spill(&mut r, 300, Holder::Task),
            Decision::Keep
        );
        assert_eq!(r.size(), 300);
        // A task's cap is 600 / 2.
        assert_eq!(c.reserve_or_spill(&mut r, 1, Holder::Task), Decision::Spill);
        // A worker beside scans leaves them their set-aside: at a 1000-byte pool (at
        // least 1 MiB of CSV range per worker) nothing is left.
        assert_eq!(c.cap(Holder::Worker), 0);
        let big = ctx(1 << 30, 1 << 30, 2, false);
        assert_eq!(big.cap(Holder::Worker), worker_budget(1 << 30, 2));
        assert_eq!(r.size(), 300, "a refusal reserves nothing");
        assert_eq!(
            c.reserve_or_spill(&mut r, 300, Holder::Operator),
            Decision::Keep
        );
        // The pool has 400 left but the budget is spent.
        assert_eq!(
            c.reserve_or_spill(&mut r, 1, Holder::Operator),
            Decision::Spill
        );
        // The pool refuses what the cap would allow.
        let other = ctx(1000, 1000, 1, false);
        let mut big = c.pool.reservation("other");
        big.try_grow(350).unwrap();
        let mut r2 = other.pool.reservation("r2");
        assert_eq!(
            other.reserve_or_spill(&mut r2, 10, Holder::Operator),
            Decision::Keep
        );
        drop(r2);
        let shared = OperatorContext {
            pool: Arc::clone(&c.pool),
            ..other
        };
        let mut r3 = shared.reservation("r3");
        assert_eq!(
            shared.reserve_or_spill(&mut r3, 100, Holder::Operator),
            Decision::Spill
        );
        assert_eq!(
            shared.reserve_or_spill(&mut r3, 50, Holder::Operator),
            Decision::Keep
        );
        assert_eq!(c.pool.used(), 1000);
        drop((r, r3, big));
        assert_eq!(c.pool.used(), 0);
    }

    /// With the process holding far more than the limit outside the pool, the
    /// resident guard refuses growth above half the pool, but only to a holder that
    /// would hold a quarter of its cap or more: small holders keep their bytes.
    #[test]
    fn the_resident_guard_asks_only_large_holders_to_spill() {
        fn huge() -> Option<usize> {
            Some(1 << 40)
        }
        let c = OperatorContext {
            pool: MemoryPool::with_resident_guard(1000, huge),
            ..ctx(1000, 1000, 1, false)
        };
        let mut large = c.reservation("large");
        assert_eq!(
            c.reserve_or_spill(&mut large, 500, Holder::Operator),
            Decision::Keep,
            "under half the pool the guard says nothing"
        );
        assert_eq!(
            c.reserve_or_spill(&mut large, 1, Holder::Operator),
            Decision::Spill
        );
        let mut small = c.reservation("small");
        assert_eq!(
            c.reserve_or_spill(&mut small, 249, Holder::Operator),
            Decision::Keep
        );
        assert_eq!(
            c.reserve_or_spill(&mut small, 1, Holder::Operator),
            Decision::Spill,
            "a quarter of the cap: refused"
        );
        assert_eq!(c.pool.resident_refusals(), 2);
        assert_eq!(c.pool.used(), 749);
    }

    #[test]
    fn forced_spill_refuses_everything_but_unforced_work() {
        let c = ctx(1000, 1000, 1, true);
        let mut r = c.reservation("t");
        assert_eq!(
            c.reserve_or_spill(&mut r, 1, Holder::Operator),
            Decision::Spill
        );
        assert_eq!(
            c.unforced().reserve_or_spill(&mut r, 1, Holder::Operator),
            Decision::Keep
        );
        // Must-have bytes are not a spill decision.
        c.reserve(&mut r, 10).unwrap();
        assert_eq!(r.size(), 11);
        assert!(c.reserve(&mut r, 5000).is_err());
        assert_eq!(r.size(), 11);
    }
}
