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
//!
//! *Resident guard* (optional, [`MemoryPool::with_resident_guard`]; the CLI turns it
//! on). The pool counts what operators reserve, but a process's resident memory also
//! holds what the allocator keeps after a spill frees it (freed pages of idle threads'
//! heaps wait to be reused), plus small unreserved buffers: measured at 1.3–1.5× the
//! limit on spilling group-bys and sorts, and 1.15–1.25× with the guard (README,
//! "Limits"). With the guard, the pool reads the process's
//! anonymous resident bytes (`/proc/self/statm`, at most once a millisecond) and keeps
//! the difference from its own reservations as the *outside* bytes. The one spill
//! decision (`OperatorContext::resize_or_spill` in `exec::context`) then also
//! answers "spill" when `reserved + outside + growth` would pass the limit, so
//! operators spill earlier by as much as the allocator holds. It never does so while
//! the pool holds less than half its limit, so a query always makes progress (at worst
//! as with half the pool). RSS is process-wide, so the guard assumes one session per
//! process; a library embedding several sessions, or holding data of its own, leaves
//! it off. Off Linux it does nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};

/// A byte budget shared by all operators of a session.
#[derive(Debug)]
pub struct MemoryPool {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    resident: Option<ResidentGuard>,
}

/// Reads the process's anonymous resident bytes, or `None` where that is unknown.
pub type ResidentReader = fn() -> Option<usize>;

/// The resident guard of a pool (see the module doc).
#[derive(Debug)]
struct ResidentGuard {
    /// Reserved plus outside bytes the guard lets the pool reach.
    cap: usize,
    /// Below this many reserved bytes the guard never says spill.
    floor: usize,
    read: ResidentReader,
    /// Resident bytes not reserved in the pool, at the last reading.
    outside: AtomicUsize,
    /// Microseconds after `start` of the last reading (`u64::MAX`: none yet).
    read_at: AtomicU64,
    start: Instant,
    /// Growth requests the guard turned into spills.
    refusals: AtomicU64,
}

/// How long a reading of the resident bytes is reused, in microseconds.
const RESIDENT_READ_EVERY_US: u64 = 1000;

impl ResidentGuard {
    fn new(limit: usize, read: ResidentReader) -> Self {
        ResidentGuard {
            cap: limit,
            floor: limit / 2,
            read,
            outside: AtomicUsize::new(0),
            read_at: AtomicU64::new(u64::MAX),
            start: Instant::now(),
            refusals: AtomicU64::new(0),
        }
    }

    /// The outside bytes, read again when the last reading is older than
    /// [`RESIDENT_READ_EVERY_US`]; `used` is the pool's reservation at this moment.
    fn outside(&self, used: usize) -> usize {
        let now = self.start.elapsed().as_micros() as u64;
        let last = self.read_at.load(Ordering::Relaxed);
        if last == u64::MAX || now.saturating_sub(last) >= RESIDENT_READ_EVERY_US {
            self.read_at.store(now, Ordering::Relaxed);
            if let Some(resident) = (self.read)() {
                self.outside
                    .store(resident.saturating_sub(used), Ordering::Relaxed);
            }
        }
        self.outside.load(Ordering::Relaxed)
    }
}

/// The process's anonymous resident bytes: resident minus file-backed pages of
/// `/proc/self/statm` (a mapped input file's pages are the page cache's, which the
/// kernel can drop). `None` off Linux or when the file cannot be read.
pub fn anonymous_resident_bytes() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut fields = text.split_ascii_whitespace().skip(1);
        let resident: usize = fields.next()?.parse().ok()?;
        let shared: usize = fields.next()?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page).ok().filter(|&p| p > 0)?;
        Some(resident.saturating_sub(shared).saturating_mul(page))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

impl MemoryPool {
    /// A pool with `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryPool {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            resident: None,
        })
    }

    /// A pool with `limit` bytes and the resident guard (see the module doc), which
    /// reads the process's resident bytes with `read` (normally
    /// [`anonymous_resident_bytes`]).
    pub fn with_resident_guard(limit: usize, read: ResidentReader) -> Arc<Self> {
        Arc::new(MemoryPool {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            resident: Some(ResidentGuard::new(limit, read)),
        })
    }

    /// Whether the process's resident memory has room for `growth` more reserved
    /// bytes: always, without the guard or while the pool stays under half its limit;
    /// otherwise when reserved, outside and `growth` bytes stay within the limit.
    /// A "no" is counted ([`MemoryPool::resident_refusals`]).
    pub fn resident_room(&self, growth: usize) -> bool {
        let Some(guard) = &self.resident else {
            return true;
        };
        let used = self.used();
        let after = used.saturating_add(growth);
        if after <= guard.floor || after.saturating_add(guard.outside(used)) <= guard.cap {
            return true;
        }
        guard.refusals.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Growth requests the resident guard turned into spills (0 without the guard).
    pub fn resident_refusals(&self) -> u64 {
        self.resident
            .as_ref()
            .map_or(0, |g| g.refusals.load(Ordering::Relaxed))
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
    fn resident_guard_refuses_growth_only_above_half_the_limit() {
        fn huge() -> Option<usize> {
            Some(usize::MAX / 4)
        }
        let pool = MemoryPool::with_resident_guard(1000, huge);
        let mut r = pool.reservation("r");
        assert!(pool.resident_room(500), "under the floor: always room");
        r.try_grow(400).unwrap();
        assert!(pool.resident_room(100));
        assert!(
            !pool.resident_room(101),
            "over the floor, the process is full"
        );
        assert_eq!(pool.resident_refusals(), 1);
        // The pool itself still grants bytes: only the spill decision asks the guard.
        r.try_grow(600).unwrap();
    }

    #[test]
    fn resident_guard_counts_outside_bytes_against_the_limit() {
        // 300 bytes resident outside the pool (reads are 1 ms apart at most, and the
        // reader says reserved + 300 at its first read, when nothing is reserved).
        fn three_hundred() -> Option<usize> {
            Some(300)
        }
        let pool = MemoryPool::with_resident_guard(1000, three_hundred);
        assert!(pool.resident_room(700), "700 + 300 outside fits 1000");
        assert!(!pool.resident_room(701));
        let unknown = MemoryPool::with_resident_guard(1000, || None);
        assert!(unknown.resident_room(1000), "no reading: no outside bytes");
        let off = MemoryPool::new(1000);
        assert!(off.resident_room(usize::MAX));
        assert_eq!(off.resident_refusals(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn anonymous_resident_bytes_are_read() {
        let before = anonymous_resident_bytes().unwrap();
        assert!(before > 0);
        let v = vec![1u8; 64 << 20];
        let after = anonymous_resident_bytes().unwrap();
        assert!(after >= before + (32 << 20), "{before} -> {after}");
        drop(v);
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
