//! The memory pool: one authority for every buffer that grows with the data.
//!
//! A session owns one [`MemoryPool`] with a byte budget (`memory_limit`). Operators
//! never allocate large state silently: they hold a [`Reservation`] and call
//! [`Reservation::try_grow`] *before* building more state. When growing fails the
//! operator spills what it holds (see [`crate::spill`]), shrinks its reservation and
//! retries; if it cannot spill it returns [`Error::ResourcesExhausted`], naming itself
//! and the sizes. Dropping a reservation returns its bytes (RAII), so an error or a
//! cancel anywhere cannot leak budget.
//!
//! The pool is a lock-free counter: `try_grow` is one compare-and-swap, cheap enough
//! to call once per morsel. It also records the high-water mark, which
//! `explain_analyze` and the tests read.
//!
//! Working memory is sized as `limit / threads` per worker by the operators (see
//! [`MemoryPool::per_worker_budget`]), never as a function of input size: this is the
//! lesson of DuckDB #8135.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A byte budget shared by all operators of a session.
#[derive(Debug)]
pub struct MemoryPool {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl MemoryPool {
    /// A pool with `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryPool {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Highest number of bytes reserved at once since the last [`MemoryPool::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Starts a new high-water mark (at the current usage).
    pub fn reset_peak(&self) {
        self.peak.store(self.used(), Ordering::Relaxed);
    }

    /// Bytes that one of `workers` concurrent workers should plan to use
    /// ([`worker_budget`] of this pool's limit).
    pub fn per_worker_budget(&self, workers: usize) -> usize {
        worker_budget(self.limit, workers)
    }

    /// A new, empty reservation owned by `operator`.
    pub fn reservation(self: &Arc<Self>, operator: impl Into<String>) -> Reservation {
        Reservation {
            pool: Arc::clone(self),
            operator: operator.into(),
            size: 0,
        }
    }

    fn try_add(&self, bytes: usize) -> bool {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add(bytes);
            if next > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes that one of `workers` concurrent workers of a pool of `limit` bytes should
/// plan to use: an equal share of the pool after setting aside room for the scans
/// feeding the workers (each holds a CSV range of up to limit/64, at most 16 MiB,
/// which cannot spill; twice that for slack). Without the set-aside, the workers' sort
/// buffers or aggregate tables could fill the pool between them and the next CSV range
/// could not be reserved (seen on the SF10 `lineitem` sort from CSV at a 1 GiB limit).
pub fn worker_budget(limit: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    let range = (limit / 64).clamp(1 << 20, 16 << 20);
    limit.saturating_sub(2 * range * workers) / workers
}

/// Bytes a batch keeps alive, counting only the sliced part of shared buffers, so
/// that slices of one large batch are not each charged for the whole.
pub fn batch_memory_size(batch: &arrow::array::RecordBatch) -> usize {
    use arrow::array::Array;
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

/// Bytes held against a [`MemoryPool`] by one operator; returned on drop.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<MemoryPool>,
    operator: String,
    size: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The pool this reservation draws from.
    pub fn pool(&self) -> &Arc<MemoryPool> {
        &self.pool
    }

    /// Tries to hold `bytes` more. On failure nothing changes and the error is
    /// [`Error::ResourcesExhausted`]; a spilling operator treats it as "spill now".
    pub fn try_grow(&mut self, bytes: usize) -> Result<()> {
        if bytes == 0 || self.pool.try_add(bytes) {
            self.size += bytes;
            Ok(())
        } else {
            Err(self.exhausted(bytes))
        }
    }

    /// Grows or shrinks so that exactly `bytes` are held.
    pub fn try_resize(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.size {
            self.try_grow(bytes - self.size)
        } else {
            self.shrink(self.size - bytes);
            Ok(())
        }
    }

    /// Returns `bytes` to the pool (at most what is held).
    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.size);
        self.pool.release(bytes);
        self.size -= bytes;
    }

    /// Returns everything held.
    pub fn free(&mut self) {
        self.shrink(self.size);
    }

    /// Splits `bytes` off into a new reservation of the same operator.
    pub fn split(&mut self, bytes: usize) -> Reservation {
        let bytes = bytes.min(self.size);
        self.size -= bytes;
        Reservation {
            pool: Arc::clone(&self.pool),
            operator: self.operator.clone(),
            size: bytes,
        }
    }

    /// Takes over the bytes of `other` (of the same pool) without touching the pool.
    pub fn absorb(&mut self, mut other: Reservation) {
        self.size += other.size;
        other.size = 0;
    }

    /// The error for a request of `bytes` that the pool cannot grant.
    pub fn exhausted(&self, bytes: usize) -> Error {
        Error::ResourcesExhausted {
            operator: self.operator.clone(),
            requested: bytes,
            reserved: self.size,
            used: self.pool.used(),
            limit: self.pool.limit,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_shrink_drop_returns_bytes() {
        let pool = MemoryPool::new(100);
        let mut a = pool.reservation("a");
        a.try_grow(60).unwrap();
        let mut b = pool.reservation("b");
        let err = b.try_grow(50).unwrap_err();
        assert!(matches!(
            err,
            Error::ResourcesExhausted { requested: 50, .. }
        ));
        assert_eq!(pool.used(), 60);
        b.try_grow(40).unwrap();
        assert_eq!(pool.used(), 100);
        a.shrink(30);
        assert_eq!(pool.used(), 70);
        let c = b.split(15);
        assert_eq!((b.size(), c.size()), (25, 15));
        drop(a);
        drop(b);
        assert_eq!(pool.used(), 15);
        drop(c);
        assert_eq!(pool.used(), 0);
        assert_eq!(pool.peak(), 100);
    }

    #[test]
    fn concurrent_reservations_never_exceed_limit() {
        let pool = MemoryPool::new(1000);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let pool = Arc::clone(&pool);
                s.spawn(move || {
                    let mut r = pool.reservation("t");
                    for _ in 0..10_000 {
                        if r.try_grow(7).is_err() {
                            r.free();
                        }
                        assert!(pool.used() <= 1000);
                    }
                });
            }
        });
        assert_eq!(pool.used(), 0);
        assert!(pool.peak() <= 1000);
    }
}
