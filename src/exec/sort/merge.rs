//! The external sort's runs and their k-way merge.
//!
//! A *run* is a spill file of batches of the run schema (input columns plus the key
//! column, see [`super::keys`]) in key order, written with LZ4 and at most
//! `chunk_rows` rows per batch ([`run_batch_rows`]: fewer for rows so wide that a
//! two-way merge of such batches would pass half the operator's budget). A worker's
//! in-memory buffer, once its rows are put in key order, is a run too, just not on
//! disk.
//!
//! [`MergeStream`] merges runs: a binary min-heap over one cursor per run, keyed by the
//! cursor's current key bytes, pops the smallest row as many times as its runs' batches
//! have rows, then gathers those rows into one output batch with `interleave`. Keys are unique, so the heap
//! never sees ties and the merge is stable.
//!
//! Memory: the merge reserves its workspace *before* it starts and never grows:
//! per open run, a read buffer ([`io_buffer`]: `limit / (8 · fan_in)`, clamped to
//! 16 KiB..1 MiB) plus two decoded batches (its current one and, until
//! the next output batch is cut, the previous one that pending output rows still
//! point into); one output batch; and for an intermediate merge, the run writer's
//! buffer and one encoded batch. Batch sizes are estimated from the largest batch
//! written to any run ([`Run::max_batch_bytes`]). [`merge_runs`] opens at most
//! `fan_in` runs at once: with more, it merges the oldest `fan_in` into a new run and
//! repeats. If the workspace for `fan_in` runs cannot be reserved it tries fewer, down
//! to two, and only then returns [`crate::error::Error::ResourcesExhausted`]. The
//! final merge, which streams to the operator's consumer, keeps to half the budget:
//! when its runs would need more, the oldest are merged into one run first, as few as
//! make the rest fit, so the consumer (a window's partition buffer, a join's build)
//! still finds memory.
//!
//! A run's file is deleted as soon as its cursor has read the last batch.

use std::collections::VecDeque;

use arrow::array::{Array, BinaryArray, RecordBatch};
use arrow::datatypes::SchemaRef;

use super::keys::{compare_keys, gather, key_column};
use crate::config::SpillCompression;
use crate::error::Result;
use crate::exec::context::OperatorContext;
use crate::memory::{batch_memory_size, Reservation};
use crate::spill::SpillFile;

/// A sorted run on disk.
pub(super) struct Run {
    pub file: SpillFile,
    /// Bytes of the largest batch written to the run, as `batch_memory_size` counts.
    pub max_batch_bytes: usize,
    /// The most rows a batch of the run has.
    pub batch_rows: usize,
}

/// A worker's buffered batches with their rows' positions in key order.
pub(super) struct SortedBuffer {
    pub batches: Vec<RecordBatch>,
    pub order: Vec<(u32, u32)>,
    /// Holds the batches and the order.
    pub reservation: Reservation,
}

impl SortedBuffer {
    /// Bytes an output batch of `chunk_rows` of these rows is expected to take.
    pub fn chunk_bytes(&self, chunk_rows: usize) -> usize {
        let rows = self.order.len().max(1);
        self.reservation.size().div_ceil(rows) * chunk_rows.min(rows)
    }
}

/// The read and write buffer of each run file: a share of the pool, so that a small
/// budget still fits `fan_in` open runs, but never beyond what sequential I/O needs.
pub(super) fn io_buffer(ctx: &OperatorContext, fan_in: usize) -> usize {
    (ctx.pool.limit() / (8 * fan_in.max(2))).clamp(16 << 10, 1 << 20)
}

/// The fewest rows per run batch [`run_batch_rows`] chooses.
const MIN_RUN_BATCH_ROWS: usize = 64;

/// Batches a two-way merge holds (two runs' current and previous batches, the output,
/// the intermediate run writer's batch) and [`run_batch_rows`] fits in half the
/// budget.
const TWO_WAY_MERGE_BATCHES: usize = 6;

/// Rows per batch of a run whose rows take `row_bytes` each (and of the merge's output
/// of such runs): `chunk_rows`, or fewer (at least 64) when a two-way merge of
/// `chunk_rows`-row batches would need more than half the operator's budget. At the
/// default 64Ki rows that happens only for rows wider than `budget / (12 · 64Ki)`
/// bytes (about 43 bytes at a 32 MiB budget, 1.4 KB at 1 GiB); below it nothing
/// changes, so a merge's fan-in and the memory it leaves to the operators it feeds
/// stay as they were.
pub(super) fn run_batch_rows(ctx: &OperatorContext, row_bytes: usize) -> usize {
    let fit = ctx.budget / 2 / (TWO_WAY_MERGE_BATCHES * row_bytes.max(1));
    ctx.chunk_rows.min(fit.max(MIN_RUN_BATCH_ROWS)).max(1)
}

/// Bytes the merge of `fan` runs reserves up front (see the module doc).
pub(super) fn workspace(
    ctx: &OperatorContext,
    fan_in: usize,
    fan: usize,
    max_batch: usize,
    batch_rows: usize,
    writes_run: bool,
) -> usize {
    let io = io_buffer(ctx, fan_in);
    let per_run = io + 2 * max_batch;
    let output = max_batch + batch_rows * std::mem::size_of::<(usize, usize)>();
    let writer = if writes_run { io + max_batch } else { 0 };
    fan * per_run + output + writer
}

/// Writes a sorted buffer as a run, [`run_batch_rows`] rows per batch.
pub(super) fn write_run(
    ctx: &OperatorContext,
    fan_in: usize,
    run_schema: &SchemaRef,
    batches: &[RecordBatch],
    order: &[(u32, u32)],
) -> Result<Run> {
    let mut writer =
        ctx.spill
            .create_writer_with(run_schema, SpillCompression::Lz4, io_buffer(ctx, fan_in))?;
    let bytes: usize = batches.iter().map(batch_memory_size).sum();
    let batch_rows = run_batch_rows(ctx, bytes / order.len().max(1));
    let mut max_batch_bytes = 0;
    let mut indices = Vec::with_capacity(batch_rows.min(order.len()));
    for chunk in order.chunks(batch_rows) {
        indices.clear();
        indices.extend(chunk.iter().map(|&(b, r)| (b as usize, r as usize)));
        let batch = gather(run_schema, batches, &indices)?;
        max_batch_bytes = max_batch_bytes.max(batch_memory_size(&batch));
        writer.write(&batch)?;
    }
    let file = writer.finish()?;
    ctx.metrics.add_spill(file.bytes(), 1);
    Ok(Run {
        file,
        max_batch_bytes,
        batch_rows,
    })
}

/// What [`merge_runs`] did, for the operator's note.
pub(super) struct MergeReport {
    /// Merges, the final one included.
    pub merges: usize,
    /// The most runs one merge had open.
    pub widest: usize,
}

/// Merges `runs` down to a stream of batches of `out_schema`, with intermediate merges
/// while there are more runs than fit at once.
pub(super) fn merge_runs(
    runs: Vec<Run>,
    ctx: &OperatorContext,
    fan_in: usize,
    run_schema: &SchemaRef,
    out_schema: &SchemaRef,
) -> Result<(MergeStream, MergeReport)> {
    let mut runs = VecDeque::from(runs);
    let mut report = MergeReport {
        merges: 0,
        widest: 0,
    };
    loop {
        let n = runs.len();
        let max_batch = runs.iter().map(|r| r.max_batch_bytes).max().unwrap_or(0);
        let batch_rows = runs.iter().map(|r| r.batch_rows).max().unwrap_or(1);
        let mut reservation = ctx.reservation("ExternalSort(merge)");
        let mut fan = fan_in.max(2).min(n);
        // The final merge streams to a consumer that needs memory of its own: it keeps
        // to half the budget, and runs that would pass that are merged first.
        let final_fits =
            |k: usize| workspace(ctx, fan_in, k, max_batch, batch_rows, false) <= ctx.budget / 2;
        if fan >= n && !final_fits(n) {
            let k = (2..n).rev().find(|&k| final_fits(k)).unwrap_or(2);
            fan = (n - k + 1).clamp(2, fan_in.max(2));
        }
        // The merge's workspace is reserved up front for its whole run; a budget too
        // small for `fan` runs merges fewer at once (more passes).
        loop {
            let writes_run = fan < n;
            match ctx.reserve(
                &mut reservation,
                workspace(ctx, fan_in, fan, max_batch, batch_rows, writes_run),
            ) {
                Ok(()) => break,
                Err(e) if fan <= 2 => return Err(e),
                Err(_) => fan -= 1,
            }
        }
        ctx.metrics.record_reserved(reservation.size());
        report.merges += 1;
        report.widest = report.widest.max(fan);
        if fan >= n {
            let stream = MergeStream::from_runs(
                runs.into(),
                reservation,
                out_schema,
                ctx,
                fan_in,
                batch_rows,
            )?;
            return Ok((stream, report));
        }
        let group: Vec<Run> = runs.drain(..fan).collect();
        let merged = merge_to_run(group, reservation, ctx, fan_in, run_schema, batch_rows)?;
        runs.push_back(merged);
    }
}

/// One intermediate merge: `runs` into one new run.
fn merge_to_run(
    runs: Vec<Run>,
    workspace: Reservation,
    ctx: &OperatorContext,
    fan_in: usize,
    run_schema: &SchemaRef,
    batch_rows: usize,
) -> Result<Run> {
    let stream = MergeStream::from_runs(runs, workspace, run_schema, ctx, fan_in, batch_rows)?;
    let mut writer =
        ctx.spill
            .create_writer_with(run_schema, SpillCompression::Lz4, io_buffer(ctx, fan_in))?;
    let mut max_batch_bytes = 0;
    for batch in stream {
        let batch = batch?;
        max_batch_bytes = max_batch_bytes.max(batch_memory_size(&batch));
        writer.write(&batch)?;
    }
    let file = writer.finish()?;
    ctx.metrics.add_spill(file.bytes(), 1);
    Ok(Run {
        file,
        max_batch_bytes,
        batch_rows,
    })
}

type RunReader = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// A run being read: in memory (a sorted buffer) or from disk.
enum Cursor {
    Memory {
        keys: Vec<BinaryArray>,
        order: Vec<(u32, u32)>,
        pos: usize,
        /// Slot of the buffer's first batch in [`MergeState::batches`].
        base: usize,
    },
    Disk {
        reader: RunReader,
        batch: RecordBatch,
        keys: BinaryArray,
        row: usize,
        /// Slot of `batch` in [`MergeState::batches`].
        slot: usize,
        /// Deleted when the cursor is done.
        _file: SpillFile,
    },
    Done,
}

impl Cursor {
    fn key(&self) -> &[u8] {
        match self {
            Cursor::Memory {
                keys, order, pos, ..
            } => match order.get(*pos) {
                Some(&(b, r)) => keys.get(b as usize).map_or(&[], |k| k.value(r as usize)),
                None => &[],
            },
            Cursor::Disk { keys, row, .. } => keys.value(*row),
            Cursor::Done => &[],
        }
    }

    /// (slot, row) of the current row.
    fn position(&self) -> (usize, usize) {
        match self {
            Cursor::Memory {
                order, pos, base, ..
            } => order
                .get(*pos)
                .map_or((0, 0), |&(b, r)| (base + b as usize, r as usize)),
            Cursor::Disk { slot, row, .. } => (*slot, *row),
            Cursor::Done => (0, 0),
        }
    }

    /// Moves to the next row, loading the next batch of a disk run into `batches`.
    /// `false` when the run is exhausted.
    fn advance(&mut self, batches: &mut Vec<RecordBatch>) -> Result<bool> {
        match self {
            Cursor::Memory { order, pos, .. } => {
                *pos += 1;
                Ok(*pos < order.len())
            }
            Cursor::Disk {
                reader,
                batch,
                keys,
                row,
                slot,
                ..
            } => {
                *row += 1;
                if *row < keys.len() {
                    return Ok(true);
                }
                for next in reader.by_ref() {
                    let next = next?;
                    if next.num_rows() == 0 {
                        continue;
                    }
                    *keys = key_column(&next)?.clone();
                    *slot = batches.len();
                    batches.push(next.clone());
                    *batch = next;
                    *row = 0;
                    return Ok(true);
                }
                Ok(false)
            }
            Cursor::Done => Ok(false),
        }
    }
}

/// A k-way merge; yields batches of at most `chunk_rows` rows (runs from disk: as many
/// as their batches have), lazily.
pub(super) struct MergeStream {
    state: Option<MergeState>,
}

struct MergeState {
    cursors: Vec<Cursor>,
    /// Indices of live cursors, a min-heap by current key.
    heap: Vec<usize>,
    /// Batches that pending output rows may point into: the in-memory buffers'
    /// batches (the first `fixed`, kept to the end) and disk cursors' batches.
    batches: Vec<RecordBatch>,
    fixed: usize,
    pending: Vec<(usize, usize)>,
    out_schema: SchemaRef,
    chunk_rows: usize,
    /// The in-memory buffers' reservations and the merge workspace; freed when the
    /// stream ends or drops.
    _reservations: Vec<Reservation>,
}

impl MergeStream {
    /// Merges workers' in-memory sorted buffers.
    pub(super) fn from_memory(
        buffers: Vec<SortedBuffer>,
        workspace: Reservation,
        out_schema: &SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self> {
        let mut batches = vec![];
        let mut cursors = vec![];
        let mut reservations = vec![workspace];
        for buf in buffers {
            let keys = buf
                .batches
                .iter()
                .map(|b| key_column(b).cloned())
                .collect::<Result<Vec<_>>>()?;
            if !buf.order.is_empty() {
                cursors.push(Cursor::Memory {
                    keys,
                    order: buf.order,
                    pos: 0,
                    base: batches.len(),
                });
            }
            batches.extend(buf.batches);
            reservations.push(buf.reservation);
        }
        let fixed = batches.len();
        Ok(Self::new(
            cursors,
            batches,
            fixed,
            reservations,
            out_schema,
            ctx.chunk_rows,
        ))
    }

    /// Merges runs on disk, opening each one; output batches have `batch_rows` rows.
    fn from_runs(
        runs: Vec<Run>,
        workspace: Reservation,
        out_schema: &SchemaRef,
        ctx: &OperatorContext,
        fan_in: usize,
        batch_rows: usize,
    ) -> Result<Self> {
        let mut batches = vec![];
        let mut cursors = vec![];
        for run in runs {
            let mut reader: RunReader =
                Box::new(run.file.read_with_buffer(io_buffer(ctx, fan_in))?);
            let mut first = None;
            for b in reader.by_ref() {
                let b = b?;
                if b.num_rows() > 0 {
                    first = Some(b);
                    break;
                }
            }
            // An empty run's file is dropped (deleted) right here.
            let Some(batch) = first else { continue };
            let keys = key_column(&batch)?.clone();
            cursors.push(Cursor::Disk {
                reader,
                slot: batches.len(),
                batch: batch.clone(),
                keys,
                row: 0,
                _file: run.file,
            });
            batches.push(batch);
        }
        Ok(Self::new(
            cursors,
            batches,
            0,
            vec![workspace],
            out_schema,
            batch_rows,
        ))
    }

    fn new(
        cursors: Vec<Cursor>,
        batches: Vec<RecordBatch>,
        fixed: usize,
        reservations: Vec<Reservation>,
        out_schema: &SchemaRef,
        chunk_rows: usize,
    ) -> Self {
        let mut heap: Vec<usize> = (0..cursors.len()).collect();
        for i in (0..heap.len() / 2).rev() {
            sift_down(&mut heap, &cursors, i);
        }
        MergeStream {
            state: Some(MergeState {
                cursors,
                heap,
                batches,
                fixed,
                pending: Vec::with_capacity(chunk_rows),
                out_schema: SchemaRef::clone(out_schema),
                chunk_rows: chunk_rows.max(1),
                _reservations: reservations,
            }),
        }
    }
}

impl MergeState {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.pending.len() < self.chunk_rows {
            let Some(&top) = self.heap.first() else { break };
            let Some(cursor) = self.cursors.get_mut(top) else {
                break;
            };
            self.pending.push(cursor.position());
            if cursor.advance(&mut self.batches)? {
                sift_down(&mut self.heap, &self.cursors, 0);
            } else {
                // Drops a disk run's reader and deletes its file.
                *cursor = Cursor::Done;
                self.heap.swap_remove(0);
                sift_down(&mut self.heap, &self.cursors, 0);
            }
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let out = gather(&self.out_schema, &self.batches, &self.pending)?;
        self.pending.clear();
        // No output row points into a disk batch any more: keep only the current ones.
        self.batches.truncate(self.fixed);
        for &c in &self.heap {
            if let Some(Cursor::Disk { batch, slot, .. }) = self.cursors.get_mut(c) {
                *slot = self.batches.len();
                self.batches.push(batch.clone());
            }
        }
        Ok(Some(out))
    }
}

/// Restores the heap property below `i`.
fn sift_down(heap: &mut [usize], cursors: &[Cursor], mut i: usize) {
    let key = |h: usize| cursors.get(h).map_or(&[][..], |c| c.key());
    loop {
        let left = 2 * i + 1;
        if left >= heap.len() {
            return;
        }
        let right = left + 1;
        let mut min = left;
        if right < heap.len() && compare_keys(key(heap[right]), key(heap[left])).is_lt() {
            min = right;
        }
        if compare_keys(key(heap[min]), key(heap[i])).is_lt() {
            heap.swap(min, i);
            i = min;
        } else {
            return;
        }
    }
}

impl Iterator for MergeStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let state = self.state.as_mut()?;
        match state.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                // Frees the buffers, files and reservations at once.
                self.state = None;
                None
            }
            Err(e) => {
                self.state = None;
                Some(Err(e))
            }
        }
    }
}
