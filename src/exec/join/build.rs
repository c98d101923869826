//! The build side of the hash join: a sink that buffers keyed build rows under a
//! reservation and, when memory runs short, partitions them and spills whole
//! partitions (largest first), keeping the rest in memory (hybrid hash join).
//!
//! ```text
//!  morsel ─▶ keys + hash ─▶ in memory? ──yes──▶ worker buffer (reserved)
//!                              │ no: reserve_or_spill says spill (the join's budget)
//!                              ▼
//!              partitioned mode: rows of spilled partitions ─▶ that partition's
//!              build file; others ─▶ per-partition buffers; still short ─▶ spill the
//!              largest in-memory partition
//! ```
//!
//! `finalize` (single-threaded) gathers the workers' buffers, reserves the table
//! ([`JoinTable::overhead`]) and, if that does not fit, spills more partitions, then
//! indexes what is left in memory. The result, [`BuiltJoin`], is what the probe
//! operator and the tail source share: the table, the set of spilled partitions, their
//! build files and the probe spill writers.
//!
//! Memory: buffered rows, the table and the write buffers of open partition files are
//! reserved; [`OperatorContext::reserve_or_spill`] decides when the largest partition
//! goes to disk. A worker's small input batches wait in an unreserved coalescing
//! buffer of at most [`COALESCE_ROWS`] rows.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

use super::table::JoinTable;
use super::{hash_column, writer_buffer_bytes, JoinSpec};
use crate::error::{Error, Result};
use crate::exec::context::{Decision, Holder, OperatorContext};
use crate::exec::group_table::{split_by_partition, PARTITIONS};
use crate::memory::{batch_memory_size, Reservation};
use crate::spill::{SpillFile, SpillWriter};
use crate::stream::{LocalSink, Morsel, Sink, SinkStatus};

fn poisoned() -> Error {
    Error::Internal("hash join state poisoned".into())
}

/// Build rows gathered so far, by partition once partitioned.
#[derive(Default)]
struct Gathered {
    /// Buffers of workers that never partitioned.
    whole: Vec<RecordBatch>,
    parts: Vec<Vec<RecordBatch>>,
}

/// The build sink.
pub struct JoinBuildSink {
    spec: Arc<JoinSpec>,
    /// The join's context; a cross join's is never forced to spill (it cannot
    /// partition, so forcing would only fail it).
    ctx: OperatorContext,
    partitioned: AtomicBool,
    spilled: Vec<AtomicBool>,
    writers: Vec<Mutex<Option<SpillWriter>>>,
    /// Bytes reserved for the writers' buffers (by whichever worker opened them).
    writer_bytes: AtomicUsize,
    gathered: Mutex<(Gathered, Option<Reservation>)>,
}

impl JoinBuildSink {
    pub fn new(spec: Arc<JoinSpec>, ctx: OperatorContext) -> Self {
        let ctx = if spec.key_types.is_empty() {
            ctx.unforced()
        } else {
            ctx
        };
        JoinBuildSink {
            spec,
            ctx,
            partitioned: AtomicBool::new(false),
            spilled: (0..PARTITIONS).map(|_| AtomicBool::new(false)).collect(),
            writers: (0..PARTITIONS).map(|_| Mutex::new(None)).collect(),
            writer_bytes: AtomicUsize::new(0),
            gathered: Mutex::new((Gathered::default(), None)),
        }
    }

    /// Appends `rows` (all of partition `p`) to p's build file.
    fn write_spilled(
        &self,
        p: usize,
        rows: &RecordBatch,
        reservation: &mut Reservation,
    ) -> Result<()> {
        let mut slot = self.writers[p].lock().map_err(|_| poisoned())?;
        if slot.is_none() {
            // A writer buffers outside any batch: its buffer is reserved, or the file
            // is written unbuffered. `finalize` releases what was reserved.
            let (writer, reserved) = self.ctx.spill_writer(
                &self.spec.build_keyed_schema,
                reservation,
                writer_buffer_bytes(&self.ctx),
                Holder::Operator,
            )?;
            self.writer_bytes.fetch_add(reserved, Ordering::Relaxed);
            *slot = Some(writer);
        }
        if let Some(w) = slot.as_mut() {
            w.write(rows)?;
        }
        Ok(())
    }

    /// Marks `p` spilled and writes out `rows` (its buffered rows).
    fn spill_partition(
        &self,
        p: usize,
        rows: Vec<RecordBatch>,
        reservation: &mut Reservation,
    ) -> Result<()> {
        self.spilled[p].store(true, Ordering::Relaxed);
        for b in rows {
            reservation.shrink(batch_memory_size(&b));
            self.write_spilled(p, &b, reservation)?;
        }
        Ok(())
    }
}

struct LocalBuild<'a> {
    sink: &'a JoinBuildSink,
    /// Whose cap applies: a worker's part of the join's share, or (in `finalize`) all of
    /// it.
    holder: Holder,
    reservation: Reservation,
    whole: Vec<RecordBatch>,
    parts: Option<Vec<Vec<RecordBatch>>>,
    /// Small input batches (behind a selective filter or join) gathered until
    /// [`COALESCE_ROWS`], so partitions and spill files do not fill with tiny pieces.
    /// Bounded by that row count; not reserved.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

/// Input batches smaller than this are concatenated before they are partitioned.
const COALESCE_ROWS: usize = 4096;

impl LocalBuild<'_> {
    fn fits(&mut self, bytes: usize) -> bool {
        self.sink
            .ctx
            .reserve_or_spill(&mut self.reservation, bytes, self.holder)
            == Decision::Keep
    }

    /// Switches this worker to partitioned buffers.
    fn partition(&mut self) -> Result<()> {
        self.sink.partitioned.store(true, Ordering::Relaxed);
        if self.parts.is_some() {
            return Ok(());
        }
        let mut parts: Vec<Vec<RecordBatch>> = vec![vec![]; PARTITIONS];
        for b in std::mem::take(&mut self.whole) {
            // The pieces replace the batch: settle the reservation on their size in
            // one step (a piece may carry a little more than its share of buffers).
            let before = batch_memory_size(&b);
            let hashes = hash_column(&b)?;
            let mut pieces = 0;
            for piece in split_by_partition(&b, &hashes, 0, PARTITIONS) {
                let (p, rows) = piece?;
                pieces += batch_memory_size(&rows);
                parts[p].push(rows);
            }
            drop(b);
            let size = self.reservation.size().saturating_sub(before) + pieces;
            self.sink.ctx.resize(&mut self.reservation, size)?;
        }
        self.parts = Some(parts);
        Ok(())
    }

    /// Writes out buffered rows of partitions another worker has spilled.
    fn flush_spilled(&mut self) -> Result<()> {
        let Some(parts) = self.parts.as_mut() else {
            return Ok(());
        };
        for (p, rows) in parts.iter_mut().enumerate() {
            if !rows.is_empty() && self.sink.spilled[p].load(Ordering::Relaxed) {
                let rows = std::mem::take(rows);
                self.sink.spill_partition(p, rows, &mut self.reservation)?;
            }
        }
        Ok(())
    }

    /// Spills this worker's largest in-memory partition; false when none is left.
    fn spill_largest(&mut self) -> Result<bool> {
        let Some(parts) = self.parts.as_mut() else {
            return Ok(false);
        };
        let largest = parts
            .iter()
            .enumerate()
            .filter(|(_, rows)| !rows.is_empty())
            // Rows, not bytes: every partition has the same columns, and row counts are
            // free to read while byte sizes walk every buffer.
            .max_by_key(|(_, rows)| rows.iter().map(|b| b.num_rows()).sum::<usize>())
            .map(|(p, _)| p);
        let Some(p) = largest else { return Ok(false) };
        let rows = std::mem::take(&mut parts[p]);
        self.sink.spill_partition(p, rows, &mut self.reservation)?;
        Ok(true)
    }

    fn add_partitioned(&mut self, batch: RecordBatch) -> Result<()> {
        self.flush_spilled()?;
        let hashes = hash_column(&batch)?;
        for piece in split_by_partition(&batch, &hashes, 0, PARTITIONS) {
            let (p, rows) = piece?;
            loop {
                if self.sink.spilled[p].load(Ordering::Relaxed) {
                    self.sink.write_spilled(p, &rows, &mut self.reservation)?;
                    break;
                }
                if self.fits(batch_memory_size(&rows)) {
                    if let Some(parts) = self.parts.as_mut() {
                        parts[p].push(rows);
                    }
                    break;
                }
                if !self.spill_largest()? {
                    // Nothing of ours left to spill: this partition goes to disk.
                    self.sink.spilled[p].store(true, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Concatenates the gathered small batches into one.
    fn take_pending(&mut self) -> Result<Option<RecordBatch>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.pending_rows = 0;
        let batches = std::mem::take(&mut self.pending);
        let schema = batches[0].schema();
        Ok(Some(concat_batches(&schema, &batches)?))
    }

    fn add(&mut self, keyed: RecordBatch) -> Result<()> {
        if self.parts.is_none() && !self.sink.partitioned.load(Ordering::Relaxed) {
            if self.fits(batch_memory_size(&keyed)) {
                self.whole.push(keyed);
                self.sink
                    .ctx
                    .metrics
                    .record_reserved(self.reservation.size());
                return Ok(());
            }
            if self.sink.spec.key_types.is_empty() {
                return Err(self.reservation.exhausted(batch_memory_size(&keyed)));
            }
        }
        self.partition()?;
        self.add_partitioned(keyed)?;
        self.sink
            .ctx
            .metrics
            .record_reserved(self.reservation.size());
        Ok(())
    }
}

impl LocalSink for LocalBuild<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let keyed = self.sink.spec.keyed(&morsel.batch, true)?;
        if keyed.num_rows() >= COALESCE_ROWS {
            self.add(keyed)?;
        } else if keyed.num_rows() > 0 {
            self.pending_rows += keyed.num_rows();
            self.pending.push(keyed);
            if self.pending_rows >= COALESCE_ROWS {
                if let Some(b) = self.take_pending()? {
                    self.add(b)?;
                }
            }
        }
        Ok(SinkStatus::NeedMore)
    }

    fn combine(mut self: Box<Self>) -> Result<()> {
        if let Some(b) = self.take_pending()? {
            self.add(b)?;
        }
        if self.sink.partitioned.load(Ordering::Relaxed) && self.parts.is_some() {
            self.flush_spilled()?;
        }
        let mut guard = self.sink.gathered.lock().map_err(|_| poisoned())?;
        let (gathered, reservation) = &mut *guard;
        gathered.whole.append(&mut self.whole);
        if let Some(parts) = self.parts.take() {
            gathered.parts.resize(PARTITIONS, vec![]);
            for (p, mut rows) in parts.into_iter().enumerate() {
                gathered.parts[p].append(&mut rows);
            }
        }
        let mine = std::mem::replace(
            &mut self.reservation,
            self.sink.ctx.reservation("HashJoin build"),
        );
        match reservation {
            Some(r) => r.absorb(mine),
            None => *reservation = Some(mine),
        }
        Ok(())
    }
}

impl Sink for JoinBuildSink {
    type Output = Arc<BuiltJoin>;

    fn name(&self) -> String {
        "HashJoin build".into()
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(LocalBuild {
            sink: self,
            holder: Holder::Task,
            reservation: self.ctx.reservation("HashJoin build"),
            whole: vec![],
            parts: None,
            pending: vec![],
            pending_rows: 0,
        }))
    }

    fn finalize(&self) -> Result<Arc<BuiltJoin>> {
        let (gathered, reservation) = {
            let mut guard = self.gathered.lock().map_err(|_| poisoned())?;
            std::mem::take(&mut *guard)
        };
        let mut reservation = reservation.unwrap_or_else(|| self.ctx.reservation("HashJoin build"));
        let mut local = LocalBuild {
            sink: self,
            holder: Holder::Operator,
            reservation: self.ctx.reservation("HashJoin build"),
            whole: gathered.whole,
            parts: (!gathered.parts.is_empty()).then_some(gathered.parts),
            pending: vec![],
            pending_rows: 0,
        };
        local.reservation.absorb(std::mem::replace(
            &mut reservation,
            self.ctx.reservation("HashJoin build"),
        ));
        if self.partitioned.load(Ordering::Relaxed) || local.parts.is_some() {
            // Buffers of workers that never partitioned join the partitioned layout.
            let whole = std::mem::take(&mut local.whole);
            local.partition()?;
            for b in whole {
                local.reservation.shrink(batch_memory_size(&b));
                local.add_partitioned(b)?;
            }
            local.flush_spilled()?;
        }
        // Reserve the table; spill partitions until it fits the share.
        loop {
            let batches: Vec<&RecordBatch> = match &local.parts {
                Some(parts) => parts.iter().flatten().collect(),
                None => local.whole.iter().collect(),
            };
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let key_bytes: usize = batches
                .iter()
                .map(|b| {
                    let n = self.spec.build_schema.fields().len();
                    b.columns()[n..]
                        .iter()
                        .map(|c| c.get_buffer_memory_size())
                        .sum::<usize>()
                })
                .sum();
            let need = JoinTable::overhead(rows, key_bytes);
            if rows == 0 || local.fits(need) {
                break;
            }
            if self.spec.key_types.is_empty() {
                return Err(Error::ResourcesExhausted {
                    operator:
                        "CrossJoin build (the smaller side of a cross join must fit in memory)"
                            .into(),
                    requested: need,
                    reserved: local.reservation.size(),
                    used: self.ctx.pool.used(),
                    limit: self.ctx.pool.limit(),
                });
            }
            if local.parts.is_none() {
                local.partition()?;
            }
            if !local.spill_largest()? {
                break;
            }
        }
        let in_memory: Vec<RecordBatch> = match local.parts.take() {
            Some(parts) => parts.into_iter().flatten().collect(),
            None => std::mem::take(&mut local.whole),
        };
        let table = JoinTable::try_new(&self.spec, in_memory)?;
        let mut build_files: Vec<Option<SpillFile>> = vec![];
        let mut spilled = vec![false; PARTITIONS];
        let (mut bytes, mut files) = (0u64, 0usize);
        for (p, slot) in self.writers.iter().enumerate() {
            let w = slot.lock().map_err(|_| poisoned())?.take();
            build_files.push(match w {
                Some(w) => {
                    spilled[p] = true;
                    let f = w.finish()?;
                    bytes += f.bytes();
                    files += 1;
                    Some(f)
                }
                None => None,
            });
        }
        // Writers are closed: their buffers are gone.
        let writer_bytes = self.writer_bytes.load(Ordering::Relaxed);
        local
            .reservation
            .shrink(writer_bytes.min(local.reservation.size()));
        let metrics = &self.ctx.metrics;
        metrics.add_spill(bytes, files);
        metrics.record_reserved(local.reservation.size());
        metrics.set_note(if files == 0 {
            format!("in memory: {} build rows", table.rows())
        } else {
            format!(
                "hybrid grace: {} of {PARTITIONS} partitions spilled, {} build rows in memory",
                files,
                table.rows()
            )
        });
        Ok(Arc::new(BuiltJoin {
            spec: Arc::clone(&self.spec),
            ctx: self.ctx.clone(),
            chunk_rows: self.ctx.chunk_rows,
            table: Mutex::new(Some(Arc::new(table))),
            table_reservation: Mutex::new(Some(std::mem::replace(
                &mut local.reservation,
                self.ctx.reservation("HashJoin build"),
            ))),
            spilled,
            build_files: Mutex::new(build_files),
            probe_writers: (0..PARTITIONS).map(|_| Mutex::new(None)).collect(),
            probe_reservation: Mutex::new(self.ctx.reservation("HashJoin probe spill")),
        }))
    }
}

/// The built join: what the probe operator and the tail source share.
pub struct BuiltJoin {
    pub spec: Arc<JoinSpec>,
    pub ctx: OperatorContext,
    pub chunk_rows: usize,
    table: Mutex<Option<Arc<JoinTable>>>,
    table_reservation: Mutex<Option<Reservation>>,
    spilled: Vec<bool>,
    build_files: Mutex<Vec<Option<SpillFile>>>,
    probe_writers: Vec<Mutex<Option<SpillWriter>>>,
    probe_reservation: Mutex<Reservation>,
}

impl BuiltJoin {
    /// The build side's `key`-th key column, batch by batch, when the whole build is
    /// in memory (for [`crate::runtime_filter::JoinKeyFilter`]).
    pub fn in_memory_build_keys(&self, key: usize) -> Result<Option<Vec<arrow::array::ArrayRef>>> {
        let Some(expr) = self.spec.build_keys.get(key) else {
            return Ok(None);
        };
        if self.any_spilled() {
            return Ok(None);
        }
        let Some(table) = self.table.lock().map_err(|_| poisoned())?.clone() else {
            return Ok(None);
        };
        table
            .batches
            .iter()
            .map(|b| crate::expr::eval::evaluate(expr, b))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// The in-memory table.
    pub fn table(&self) -> Result<Arc<JoinTable>> {
        self.table
            .lock()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or_else(|| Error::Internal("join table already released".into()))
    }

    /// Takes the table (and its reservation) out, once probing is over.
    pub fn release_table(&self) -> Result<(Option<Arc<JoinTable>>, Option<Reservation>)> {
        let t = self.table.lock().map_err(|_| poisoned())?.take();
        let r = self
            .table_reservation
            .lock()
            .map_err(|_| poisoned())?
            .take();
        Ok((t, r))
    }

    pub fn any_spilled(&self) -> bool {
        self.spilled.iter().any(|s| *s)
    }

    pub fn is_spilled(&self, p: usize) -> bool {
        self.spilled[p]
    }

    /// Appends probe rows of spilled partition `p` to its probe file.
    pub fn defer_probe_rows(&self, p: usize, rows: &RecordBatch) -> Result<()> {
        let mut slot = self.probe_writers[p].lock().map_err(|_| poisoned())?;
        if slot.is_none() {
            // The write buffer of a probe partition file: reserved, or none.
            let mut r = self.probe_reservation.lock().map_err(|_| poisoned())?;
            let (writer, _) = self.ctx.spill_writer(
                &self.spec.probe_keyed_schema,
                &mut r,
                writer_buffer_bytes(&self.ctx),
                Holder::Operator,
            )?;
            drop(r);
            *slot = Some(writer);
        }
        if let Some(w) = slot.as_mut() {
            w.write(rows)?;
        }
        Ok(())
    }

    /// The spilled partitions' (build file, probe file) pairs, closing the probe files.
    pub fn take_spilled(&self) -> Result<Vec<(SpillFile, Option<SpillFile>)>> {
        let mut build = self.build_files.lock().map_err(|_| poisoned())?;
        let mut out = vec![];
        let (mut bytes, mut files) = (0u64, 0usize);
        for (p, slot) in build.iter_mut().enumerate() {
            let probe = match self.probe_writers[p].lock().map_err(|_| poisoned())?.take() {
                Some(w) => {
                    let f = w.finish()?;
                    bytes += f.bytes();
                    files += 1;
                    Some(f)
                }
                None => None,
            };
            if let Some(b) = slot.take() {
                out.push((b, probe));
            }
        }
        self.ctx.metrics.add_spill(bytes, files);
        if let Ok(mut r) = self.probe_reservation.lock() {
            r.free();
        }
        Ok(out)
    }
}
