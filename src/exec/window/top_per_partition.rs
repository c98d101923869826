//! Top-k per partition: drops, before the window's sort, rows that cannot rank within
//! the first `k` of their partition, when the plan above reads only those
//! (`QUALIFY row_number() OVER (PARTITION BY g ORDER BY v DESC) <= k`, or the same as
//! a filter over a subquery).
//!
//! Algorithm: each worker maps partition keys (`arrow-row` bytes) to dense ids in the
//! hash aggregate's group table and keeps, per id, the `k` best order keys it has seen
//! (`arrow-row` bytes, so byte order is the ORDER BY's order). The table's slots and
//! the per-id state are prefetched a few rows ahead: with a million partitions both
//! are far larger than the cache, and their misses were most of the cost. A row whose
//! order key is worse than the k-th best of its partition already has `k` rows
//! strictly before it, so its rank and row number exceed `k`: it is
//! dropped. The window numbers the survivors: a row ranking within `k` keeps every row
//! before or tied with it, so its rank and row number are those it has over all rows.
//! With rows in random order about `k·ln(n/k)` of a partition's `n` rows pass when
//! they arrive, but most of them are displaced later. So survivors wait in a pending
//! buffer, which is filtered again against the partitions' current k-th best whenever
//! it has doubled since it was last compacted (and once more at the end): only about
//! `k` rows per partition and worker (plus ties) reach the sort. The k best rows of
//! every partition seen so far are never dropped, so the second filter is as safe as
//! the first.
//!
//! Memory: the table, each partition's `k` keys (32 bytes each, and the bytes of keys
//! longer than 30) and the pending rows with their partition ids, reserved against the
//! pool and held to
//! a quarter of the operator's budget. When the pending rows would pass that, they go
//! on to the sort (which spills as always); when the keys alone cannot grow, the worker
//! forgets them and lets every later row through: the pre-filter is only a shortcut.
//! Nothing is spilled here.

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow_row::{RowConverter, Rows, SortField};

use super::WindowSpec;
use crate::error::Result;
use crate::exec::group_table::{hash_keys, prefetch, GroupTable};
use crate::expr::eval::evaluate;
use crate::expr::types::data_type;
use crate::memory::{batch_memory_size, Reservation};
use crate::stream::{LocalSink, Morsel, Seq, SinkStatus};

/// Rows ahead whose partition state `keep` asks the CPU to load.
const PREFETCH_AHEAD: usize = 16;

/// Key bytes, held inline up to 30 bytes so that a lookup and the drop test touch
/// one cache line rather than chase pointers (most rows are dropped there).
#[derive(Clone, Debug)]
enum Key {
    Inline(u8, [u8; 30]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= 30 {
            let mut b = [0u8; 30];
            b[..bytes.len()].copy_from_slice(bytes);
            Key::Inline(bytes.len() as u8, b)
        } else {
            Key::Heap(bytes.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline(n, b) => &b[..*n as usize],
            Key::Heap(b) => b,
        }
    }

    /// Bytes held outside the key itself.
    fn heap(&self) -> usize {
        match self {
            Key::Inline(..) => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

/// A partition's best order keys so far, best first, at most `k`; the k-th (the
/// worst kept) also inline, once there are `k`.
#[derive(Default)]
struct Best {
    worst: Option<Key>,
    keys: Vec<Key>,
}

/// Each row's key bytes: empty for all `rows` when there are no key columns.
fn key_bytes<'a>(keys: Option<&'a Rows>, rows: usize) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
    match keys {
        Some(k) => Box::new(k.iter().map(|r| r.data())),
        None => Box::new(std::iter::repeat_n(&[][..], rows)),
    }
}

/// One worker's pre-filter in front of its part of the sort.
pub(super) struct TopPerPartition<'a> {
    inner: Box<dyn LocalSink + 'a>,
    spec: &'a WindowSpec,
    k: usize,
    partition_keys: RowConverter,
    order_keys: RowConverter,
    /// Partition keys to dense ids (the hash aggregate's table, no accumulators).
    table: GroupTable,
    /// By partition id: its best order keys so far, best first, at most `k`.
    best: Vec<Best>,
    hashes: Vec<u64>,
    ids: Vec<u32>,
    /// Heap bytes of the kept order keys (those longer than a key holds inline).
    bytes: usize,
    /// The most the keys may take: a quarter of the operator's budget, the rest
    /// being the sort's.
    most_bytes: usize,
    reservation: Reservation,
    /// Whether the keys outgrew the pool: every row then goes through.
    gave_up: bool,
    /// Rows that passed, with their partition ids, waiting to be filtered again before
    /// they go to the sort.
    pending: Vec<(RecordBatch, Vec<u32>)>,
    pending_rows: usize,
    pending_bytes: usize,
    /// Pending rows at which they are filtered again.
    compact_at: usize,
}

/// The fewest pending rows filtered again at once.
const MIN_COMPACT_ROWS: usize = 1 << 16;

/// Numbers the batches a pre-filter hands on after a second filter: each gets its own
/// place in source order (the sort breaks ties by it).
static COMPACTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl<'a> TopPerPartition<'a> {
    pub fn try_new(
        inner: Box<dyn LocalSink + 'a>,
        spec: &'a WindowSpec,
        k: usize,
        input_schema: &SchemaRef,
        reservation: Reservation,
        budget: usize,
    ) -> Result<Self> {
        let partition_fields = (spec.partition_by.iter())
            .map(|e| Ok(SortField::new(data_type(e, input_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        let order_fields = (spec.order_by.iter())
            .map(|o| {
                Ok(SortField::new_with_options(
                    data_type(&o.expr, input_schema)?,
                    arrow::compute::SortOptions {
                        descending: o.descending,
                        nulls_first: o.nulls_first,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TopPerPartition {
            inner,
            spec,
            k: k.max(1),
            partition_keys: RowConverter::new(partition_fields)?,
            order_keys: RowConverter::new(order_fields)?,
            table: GroupTable::new(vec![]),
            best: vec![],
            hashes: vec![],
            ids: vec![],
            bytes: 0,
            most_bytes: budget / 4,
            reservation,
            gave_up: false,
            pending: vec![],
            pending_rows: 0,
            pending_bytes: 0,
            compact_at: MIN_COMPACT_ROWS,
        })
    }

    /// `exprs` over `batch` in `arrow-row` form; `None` without expressions (every row
    /// then has the same, empty, key).
    fn rows_of<'e>(
        converter: &RowConverter,
        exprs: impl Iterator<Item = &'e crate::expr::Expr>,
        batch: &RecordBatch,
    ) -> Result<Option<Rows>> {
        let columns = exprs
            .map(|e| {
                Ok(crate::expr::float_keys::canonical_floats(&evaluate(
                    e, batch,
                )?))
            })
            .collect::<Result<Vec<_>>>()?;
        (!columns.is_empty())
            .then(|| converter.convert_columns(&columns))
            .transpose()
            .map_err(Into::into)
    }

    /// The order keys of `batch`'s rows.
    fn order_rows(&self, batch: &RecordBatch) -> Result<Option<Rows>> {
        let exprs = self.spec.order_by.iter().map(|o| &o.expr);
        Self::rows_of(&self.order_keys, exprs, batch)
    }

    /// Each row's partition id in `self.ids` (a new partition gets a new id).
    fn intern(&mut self, parts: Option<&Rows>, rows: usize) {
        hash_keys(key_bytes(parts, rows), &mut self.hashes);
        (self.table).intern(key_bytes(parts, rows), &self.hashes, &mut self.ids);
        let groups = self.table.num_groups();
        if self.best.len() < groups {
            self.best.resize_with(groups, Best::default);
        }
    }

    /// Bytes held: the table, each partition's state with room for its `k` keys, and
    /// the heap bytes of long keys.
    fn held(&self) -> usize {
        let per_partition = std::mem::size_of::<Best>() + self.k * std::mem::size_of::<Key>();
        self.table.size() + self.best.capacity() * per_partition + self.bytes
    }

    /// The pending rows that may still rank within `k` (their partitions' k-th best
    /// may have improved since they passed), in one batch, with their partition ids.
    fn compact(&mut self) -> Result<Option<(RecordBatch, Vec<u32>)>> {
        let mut kept = Vec::with_capacity(self.pending.len());
        let mut kept_ids = vec![];
        for (batch, ids) in std::mem::take(&mut self.pending) {
            let orders = self.order_rows(&batch)?;
            let keep: Vec<bool> = (ids.iter().enumerate())
                .map(|(i, &id)| {
                    let order = orders.as_ref().map(|o| o.row(i));
                    let order = order.as_ref().map_or(&[][..], |o| o.as_ref());
                    let best = self.best.get(id as usize);
                    let worst = best.and_then(|b| b.worst.as_ref());
                    worst.is_none_or(|w| order <= w.bytes())
                })
                .collect();
            kept_ids.extend(ids.iter().zip(&keep).filter(|(_, &k)| k).map(|(&id, _)| id));
            kept.push(filter_record_batch(&batch, &BooleanArray::from(keep))?);
        }
        self.pending_rows = 0;
        self.pending_bytes = 0;
        let Some(first) = kept.first() else {
            return Ok(None);
        };
        let batch = arrow::compute::concat_batches(&first.schema(), &kept)?;
        Ok((batch.num_rows() > 0).then_some((batch, kept_ids)))
    }

    /// Filters the pending rows again and keeps them pending.
    fn compact_pending(&mut self) -> Result<()> {
        if let Some((batch, ids)) = self.compact()? {
            self.pending_rows = batch.num_rows();
            self.pending_bytes = batch_memory_size(&batch) + ids.len() * 4;
            self.pending.push((batch, ids));
        }
        self.compact_at = (2 * self.pending_rows).max(MIN_COMPACT_ROWS);
        Ok(())
    }

    /// Filters the pending rows again and hands them on to the sort.
    fn flush(&mut self) -> Result<SinkStatus> {
        let status = match self.compact()? {
            Some((batch, _)) => self.inner.sink(Morsel {
                batch,
                seq: Seq {
                    task: u64::MAX,
                    batch: COMPACTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                },
            })?,
            None => SinkStatus::NeedMore,
        };
        self.compact_at = MIN_COMPACT_ROWS;
        Ok(status)
    }

    /// Which rows of `batch` may rank within `k`; records their keys.
    fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray> {
        let parts = Self::rows_of(&self.partition_keys, self.spec.partition_by.iter(), batch)?;
        let orders = self.order_rows(batch)?;
        let n = batch.num_rows();
        self.intern(parts.as_ref(), n);
        let mut keep = Vec::with_capacity(n);
        for i in 0..n {
            if let Some(&ahead) = self.ids.get(i + PREFETCH_AHEAD) {
                prefetch(self.best.as_ptr().wrapping_add(ahead as usize));
            }
            let order = orders.as_ref().map(|o| o.row(i));
            let order = order.as_ref().map_or(&[][..], |o| o.as_ref());
            let Some(best) = self.best.get_mut(self.ids[i] as usize) else {
                return Err(crate::error::Error::Internal(
                    "top-k per partition: a partition id without state".into(),
                ));
            };
            match best.worst.as_ref().map(Key::bytes) {
                Some(w) if order > w => keep.push(false),
                Some(w) if order == w => keep.push(true),
                _ => {
                    // Full: the worst makes room (the new key is better), so the keys
                    // never take more than the `k` places `held` counts.
                    if best.keys.len() == self.k {
                        if let Some(out) = best.keys.pop() {
                            self.bytes = self.bytes.saturating_sub(out.heap());
                        }
                    }
                    if best.keys.capacity() == 0 {
                        best.keys.reserve_exact(self.k);
                    }
                    let key = Key::new(order);
                    self.bytes += key.heap();
                    let at = best.keys.partition_point(|b| b.bytes() <= order);
                    best.keys.insert(at, key);
                    if best.keys.len() == self.k {
                        let worst = best.keys.last().cloned();
                        self.bytes += worst.as_ref().map_or(0, Key::heap);
                        if let Some(old) = std::mem::replace(&mut best.worst, worst) {
                            self.bytes = self.bytes.saturating_sub(old.heap());
                        }
                    }
                    keep.push(true);
                }
            }
        }
        Ok(BooleanArray::from(keep))
    }
}

impl LocalSink for TopPerPartition<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        if self.gave_up {
            return self.inner.sink(morsel);
        }
        let keep = self.keep(&morsel.batch)?;
        let batch = filter_record_batch(&morsel.batch, &keep)?;
        let ids: Vec<u32> = (self.ids.iter().zip(keep.values().iter()))
            .filter(|(_, k)| *k)
            .map(|(&id, _)| id)
            .collect();
        let keys = self.held();
        if keys > self.most_bytes || self.reservation.try_resize(keys).is_err() {
            // The keys outgrew their share: what is pending goes on, then every row.
            self.flush()?;
            self.gave_up = true;
            self.table = GroupTable::new(vec![]);
            self.best = vec![];
            self.reservation.free();
            if batch.num_rows() == 0 {
                return Ok(SinkStatus::NeedMore);
            }
            return self.inner.sink(Morsel {
                batch,
                seq: morsel.seq,
            });
        }
        if batch.num_rows() == 0 {
            return Ok(SinkStatus::NeedMore);
        }
        self.pending_rows += batch.num_rows();
        self.pending_bytes += batch_memory_size(&batch) + ids.len() * 4;
        self.pending.push((batch, ids));
        if self.pending_rows >= self.compact_at {
            self.compact_pending()?;
        }
        let held = self.held() + self.pending_bytes;
        if held > self.most_bytes || self.reservation.try_resize(held).is_err() {
            let status = self.flush();
            self.reservation.try_resize(self.held()).ok();
            return status;
        }
        Ok(SinkStatus::NeedMore)
    }

    fn task_done(&mut self, task: u64) -> Result<SinkStatus> {
        self.inner.task_done(task)
    }

    fn combine(mut self: Box<Self>) -> Result<()> {
        if !self.gave_up {
            self.flush()?;
        }
        let TopPerPartition {
            inner, reservation, ..
        } = *self;
        drop(reservation);
        inner.combine()
    }
}
