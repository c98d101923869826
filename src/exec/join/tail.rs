//! The join's tail: what a hash join outputs after its probe pipeline has finished.
//!
//! 1. Build rows the roles want by their match state (outer joins' unmatched build
//!    rows; semi/anti joins whose build side is the left input), from the in-memory
//!    table.
//! 2. Each spilled partition, one task per partition so partitions run in parallel:
//!    load its build file into a table, stream its probe file through
//!    [`probe_keyed`], then emit its build rows by match state.
//!
//! A partition whose build rows do not fit the task's memory is split again by the
//! next [`SUB_RADIX_BITS`] of the hash (a fresh hash "seed" for the sub-level) into
//! sub-partition files, recursively. When splitting stops helping (a heavily repeated
//! key: one sub-partition keeps every row), the partition is joined in chunks instead:
//! each build chunk that fits is indexed and the whole probe file is streamed past it,
//! with probe match flags kept across chunks (one bit per probe row) so outer, semi and
//! anti rows come out once, at the end.
//!
//! Memory: per running task, one table of one partition (or chunk) under a
//! reservation, plus one probe batch's output.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::build::BuiltJoin;
use super::probe::{build_columns, emit_probe_rows, null_columns, output_batch, probe_keyed};
use super::table::JoinTable;
use super::{hash_column, writer_buffer_bytes, JoinSpec, KeyedBatch};
use crate::error::{Error, Result};
use crate::exec::context::{Decision, Holder};
use crate::exec::group_table::{max_depth, split_by_partition, SUB_RADIX_BITS};
use crate::memory::{batch_memory_size, Reservation};
use crate::spill::SpillFile;
use crate::stream::{BatchIter, SinkStatus, Source, Task};

/// The source of a join's tail output.
pub struct JoinTailSource {
    shared: Arc<BuiltJoin>,
    started: AtomicBool,
    tasks: Mutex<VecDeque<BatchIter>>,
    next_index: std::sync::atomic::AtomicU64,
}

impl JoinTailSource {
    pub fn new(shared: Arc<BuiltJoin>) -> Self {
        JoinTailSource {
            shared,
            started: AtomicBool::new(false),
            tasks: Mutex::new(VecDeque::new()),
            next_index: Default::default(),
        }
    }

    /// Makes the task list, once the probe pipeline is over.
    fn start(&self) -> Result<()> {
        let shared = &self.shared;
        let spec = Arc::clone(&shared.spec);
        let (table, reservation) = shared.release_table()?;
        let mut tasks: VecDeque<BatchIter> = VecDeque::new();
        if spec.roles.tracks_build_matches() {
            if let Some(table) = table {
                let mut out = VecDeque::new();
                emit_build_rows(&spec, &table, shared.chunk_rows, &mut out)?;
                drop(table);
                drop(reservation);
                tasks.push_back(Box::new(out.into_iter().map(Ok)));
            }
        } else {
            drop(table);
            drop(reservation);
        }
        for (build, probe) in shared.take_spilled()? {
            tasks.push_back(Box::new(PartitionJoin {
                shared: Arc::clone(shared),
                work: vec![Work {
                    build: Some(build),
                    probe,
                    depth: 0,
                }],
                current: None,
                queue: VecDeque::new(),
                reservation: shared.ctx.reservation("HashJoin partition"),
                failed: false,
            }));
        }
        *self
            .tasks
            .lock()
            .map_err(|_| Error::Internal("join tail poisoned".into()))? = tasks;
        Ok(())
    }
}

impl Source for JoinTailSource {
    fn next_task(&self) -> Result<Option<Task>> {
        if !self.started.swap(true, Ordering::AcqRel) {
            self.start()?;
        }
        let next = self
            .tasks
            .lock()
            .map_err(|_| Error::Internal("join tail poisoned".into()))?
            .pop_front();
        Ok(next.map(|batches| Task {
            index: self.next_index.fetch_add(1, Ordering::Relaxed),
            batches,
        }))
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.shared.spec.output_schema)
    }
}

/// Build rows by match state, as the roles want them.
fn emit_build_rows(
    spec: &JoinSpec,
    table: &JoinTable,
    chunk_rows: usize,
    out: &mut VecDeque<RecordBatch>,
) -> Result<()> {
    let roles = spec.roles;
    let want_matched = roles.build_semi;
    let rows: Vec<u32> = (0..table.rows() as u32)
        .filter(|&r| table.is_matched(r) == want_matched)
        .collect();
    for chunk in rows.chunks(chunk_rows.max(1)) {
        let build = build_columns(spec, table, chunk)?;
        let batch = if roles.build_unmatched {
            output_batch(
                spec,
                null_columns(&spec.probe_schema, chunk.len()),
                build,
                chunk.len(),
            )?
        } else {
            super::probe::batch_of(&spec.output_schema, build, chunk.len())?
        };
        out.push_back(batch);
    }
    Ok(())
}

/// One spilled (sub-)partition still to join.
struct Work {
    /// `None`: no build rows (a sub-partition only the probe side reached).
    build: Option<SpillFile>,
    probe: Option<SpillFile>,
    depth: u32,
}

/// A partition being probed: its table and its probe file's reader.
struct Probing {
    table: JoinTable,
    probe: Option<BatchIter>,
    /// The probe file being read (deleted when this partition is done).
    _probe_file: Option<SpillFile>,
    /// For chunked joins: the rest of the build file, the probe file to re-read,
    /// and the probe match flags so far.
    chunked: Option<Chunked>,
}

struct Chunked {
    build: BatchIter,
    probe_file: Option<SpillFile>,
    build_file: SpillFile,
    probe_matched: Vec<bool>,
    probe_offset: usize,
    done_building: bool,
}

/// Joins spilled partitions one after another (a task's batch iterator).
struct PartitionJoin {
    shared: Arc<BuiltJoin>,
    work: Vec<Work>,
    current: Option<Probing>,
    queue: VecDeque<RecordBatch>,
    reservation: Reservation,
    failed: bool,
}

impl PartitionJoin {
    /// Loads as much of a build stream as fits; `None` batch list means it all fit.
    fn load(&mut self, reader: &mut BatchIter) -> Result<(Vec<RecordBatch>, bool)> {
        let mut batches = vec![];
        let inputs = self.shared.spec.build_schema.fields().len();
        for b in reader.by_ref() {
            let b = b?;
            let n = b.num_rows();
            let key_bytes: usize = b.columns()[inputs..]
                .iter()
                .map(|c| c.get_buffer_memory_size())
                .sum();
            let need = batch_memory_size(&b) + JoinTable::overhead(n, key_bytes);
            // A spilled partition is already on disk: forcing another spill would only
            // recurse, so only the worker's cap and the pool decide.
            let fits = self.shared.ctx.unforced().reserve_or_spill(
                &mut self.reservation,
                need,
                Holder::Task,
            ) == Decision::Keep;
            batches.push(b);
            if !fits {
                return Ok((batches, false));
            }
        }
        Ok((batches, true))
    }

    /// Starts the next piece of work; false when there is none.
    fn start_next(&mut self) -> Result<bool> {
        let Some(work) = self.work.pop() else {
            return Ok(false);
        };
        self.reservation.free();
        let spec = Arc::clone(&self.shared.spec);
        let mut reader: BatchIter = match &work.build {
            Some(f) => Box::new(f.read()?),
            None => Box::new(std::iter::empty()),
        };
        let (batches, all) = self.load(&mut reader)?;
        if all {
            let table = JoinTable::try_new(&spec, batches)?;
            let probe: Option<BatchIter> = match &work.probe {
                Some(f) => Some(Box::new(f.read()?)),
                None => None,
            };
            self.current = Some(Probing {
                table,
                probe,
                _probe_file: work.probe,
                chunked: None,
            });
            return Ok(true);
        }
        drop(batches);
        self.reservation.free();
        if work.depth < max_depth() && self.repartition(&work)? {
            return Ok(true);
        }
        // Splitting no longer helps: join in chunks that fit.
        let Some(build_file) = work.build else {
            return Err(Error::Internal(
                "join partition without build rows overflowed".into(),
            ));
        };
        let chunked = Chunked {
            build: Box::new(build_file.read()?),
            probe_file: work.probe,
            build_file,
            probe_matched: vec![],
            probe_offset: 0,
            done_building: false,
        };
        self.current = Some(Probing {
            table: JoinTable::try_new(&spec, vec![])?,
            probe: None,
            _probe_file: None,
            chunked: Some(chunked),
        });
        self.next_chunk()?;
        Ok(true)
    }

    /// Splits a partition by the next hash bits; false if every row stayed together.
    fn repartition(&mut self, work: &Work) -> Result<bool> {
        let spec = &self.shared.spec;
        let parts = 1usize << SUB_RADIX_BITS;
        let ctx = &self.shared.ctx;
        let split = |file: &SpillFile, schema: &SchemaRef| -> Result<Vec<Option<SpillFile>>> {
            // The sub-partition files' buffers are reserved while they are written.
            let mut buffers = ctx.reservation("HashJoin partition split");
            let mut writers: Vec<Option<crate::spill::SpillWriter>> =
                (0..parts).map(|_| None).collect();
            for b in file.read()? {
                let b = b?;
                let hashes = hash_column(&b)?;
                for piece in split_by_partition(&b, &hashes, work.depth + 1, parts) {
                    let (p, rows) = piece?;
                    if writers[p].is_none() {
                        let buffer = writer_buffer_bytes(ctx);
                        writers[p] = Some(
                            ctx.spill_writer(schema, &mut buffers, buffer, Holder::Task)?
                                .0,
                        );
                    }
                    if let Some(w) = writers[p].as_mut() {
                        w.write(&rows)?;
                    }
                }
            }
            writers
                .into_iter()
                .map(|w| w.map(|w| w.finish()).transpose())
                .collect()
        };
        let Some(build_file) = &work.build else {
            return Ok(false);
        };
        let build = split(build_file, &spec.build_keyed_schema)?;
        if build.iter().filter(|b| b.is_some()).count() <= 1 {
            return Ok(false);
        }
        let mut probe = match &work.probe {
            Some(f) => split(f, &spec.probe_keyed_schema)?,
            None => (0..parts).map(|_| None).collect(),
        };
        let (mut bytes, mut files) = (0u64, 0usize);
        for (p, b) in build.into_iter().enumerate() {
            let pr = probe[p].take();
            for f in [Some(&b), Some(&pr)].into_iter().flatten().flatten() {
                bytes += f.bytes();
                files += 1;
            }
            // Probe rows with no build rows still matter to outer and anti joins.
            let probe_matters = spec.roles.probe_unmatched || spec.roles.probe_anti;
            if b.is_some() || (pr.is_some() && probe_matters) {
                self.work.push(Work {
                    build: b,
                    probe: pr,
                    depth: work.depth + 1,
                });
            }
        }
        self.shared.ctx.metrics.add_spill(bytes, files);
        Ok(true)
    }

    /// Loads the next build chunk of a chunked join and restarts its probe pass.
    fn next_chunk(&mut self) -> Result<()> {
        let spec = Arc::clone(&self.shared.spec);
        let Some(mut cur) = self.current.take() else {
            return Ok(());
        };
        if let Some(ch) = cur.chunked.as_mut() {
            self.reservation.free();
            let mut build = std::mem::replace(&mut ch.build, Box::new(std::iter::empty()));
            let (batches, all) = self.load(&mut build)?;
            ch.build = build;
            ch.done_building = all;
            cur.table = JoinTable::try_new(&spec, batches)?;
            ch.probe_offset = 0;
            cur.probe = match &ch.probe_file {
                Some(f) => Some(Box::new(f.read()?)),
                None => None,
            };
        }
        self.current = Some(cur);
        Ok(())
    }

    /// Advances the current partition by one probe batch (or finishes it).
    fn step(&mut self) -> Result<()> {
        let spec = Arc::clone(&self.shared.spec);
        let chunk_rows = self.shared.chunk_rows;
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        let queue = &mut self.queue;
        let mut emit = |b: RecordBatch| -> Result<SinkStatus> {
            queue.push_back(b);
            Ok(SinkStatus::NeedMore)
        };
        let next = cur.probe.as_mut().and_then(|p| p.next());
        if let Some(batch) = next {
            let inputs = spec.probe_schema.fields().len();
            let batch = KeyedBatch::of(batch?, inputs, &spec)?;
            let mut matched = vec![];
            match cur.chunked.as_mut() {
                None => {
                    probe_keyed(
                        &spec,
                        &cur.table,
                        &batch,
                        chunk_rows,
                        true,
                        &mut matched,
                        &mut emit,
                    )?;
                }
                Some(ch) => {
                    probe_keyed(
                        &spec,
                        &cur.table,
                        &batch,
                        chunk_rows,
                        false,
                        &mut matched,
                        &mut emit,
                    )?;
                    let end = ch.probe_offset + matched.len();
                    if ch.probe_matched.len() < end {
                        ch.probe_matched.resize(end, false);
                    }
                    for (k, m) in matched.iter().enumerate() {
                        ch.probe_matched[ch.probe_offset + k] |= *m;
                    }
                    ch.probe_offset = end;
                }
            }
            return Ok(());
        }
        // This table's probe pass is over.
        let mut out = VecDeque::new();
        emit_build_rows_if_tracked(&spec, &cur.table, chunk_rows, &mut out)?;
        self.queue.extend(out);
        let more_chunks = cur.chunked.as_ref().is_some_and(|c| !c.done_building);
        if more_chunks {
            return self.next_chunk();
        }
        if let Some(ch) = cur.chunked.take() {
            // Probe rows by their match state over every chunk.
            if let Some(f) = &ch.probe_file {
                let mut offset = 0;
                for b in f.read()? {
                    let b = b?;
                    let n = b.num_rows();
                    let flags = &ch.probe_matched[offset..offset + n];
                    offset += n;
                    let queue = &mut self.queue;
                    emit_probe_rows(&spec, &b, flags, &mut |b| {
                        queue.push_back(b);
                        Ok(SinkStatus::NeedMore)
                    })?;
                }
            }
            drop(ch.build_file);
        }
        self.current = None;
        self.reservation.free();
        Ok(())
    }
}

fn emit_build_rows_if_tracked(
    spec: &JoinSpec,
    table: &JoinTable,
    chunk_rows: usize,
    out: &mut VecDeque<RecordBatch>,
) -> Result<()> {
    if spec.roles.tracks_build_matches() {
        emit_build_rows(spec, table, chunk_rows, out)?;
    }
    Ok(())
}

impl Iterator for PartitionJoin {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some(Ok(b));
            }
            let result = if self.current.is_some() {
                self.step()
            } else {
                match self.start_next() {
                    Ok(true) => Ok(()),
                    Ok(false) => return None,
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = result {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}
