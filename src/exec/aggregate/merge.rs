//! The final phase of the hash aggregate: merge one partition's partial states.
//!
//! Algorithm and memory behaviour are described in the parent module. This file holds
//! the per-partition merge with recursive re-partitioning: when the merge table's
//! reservation cannot grow, what the table holds and every input not yet read are split
//! by the next [`SUB_RADIX_BITS`](super::table::SUB_RADIX_BITS) of the key hash into
//! spill files, the table is freed, and each sub-partition is merged on its own.

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;

use super::{drain_state, AggregateSpec};
use crate::error::{Error, Result};
use crate::exec::context::{Decision, Holder, OperatorContext};
use crate::exec::group_table::{
    hash_keys, max_depth, split_by_partition, GroupTable, SUB_RADIX_BITS,
};
use crate::memory::Reservation;
use crate::spill::{SpillFile, SpillWriter};
use crate::stream::{Source, Task};

type Partition = (Vec<RecordBatch>, Vec<SpillFile>);

/// Upper bound of the table bytes a reserved group costs: up to 8/3 slots of 32 bytes
/// (3/4 load, rounded up to a power of two), its hash and its key offset.
const RESERVED_BYTES_PER_ROW: usize = 112;

/// One task per non-empty partition; each merges and emits that partition's groups.
pub struct FinalAggregateSource {
    spec: Arc<AggregateSpec>,
    ctx: OperatorContext,
    partitions: Mutex<std::iter::Enumerate<std::vec::IntoIter<Partition>>>,
    /// Holds the bytes of the in-memory partial states until their partition is merged.
    held: Mutex<Option<Reservation>>,
    /// The key of the one row output even when no input row arrived: the empty key
    /// of a global aggregate, or the grand-total key of grouping sets over an input
    /// with no rows (`AggregateSpec::empty_input_keys`); merged into partition 0.
    one_row_key: Option<Vec<u8>>,
}

impl FinalAggregateSource {
    pub fn new(
        spec: Arc<AggregateSpec>,
        ctx: OperatorContext,
        partitions: Vec<Partition>,
        held: Option<Reservation>,
    ) -> Result<Self> {
        let no_rows = partitions
            .iter()
            .all(|(batches, files)| batches.is_empty() && files.is_empty());
        let one_row_key = match &spec.empty_input_keys {
            _ if spec.keys.is_empty() => Some(vec![]),
            Some(values) if no_rows => {
                let cols = values
                    .iter()
                    .zip(&spec.key_fields)
                    .map(|(v, f)| crate::expr::cast::cast_array(&v.to_array(1), f.data_type()))
                    .collect::<Result<Vec<_>>>()?;
                let encoded = spec.key_codec()?.encode(&cols)?;
                Some(encoded.key(0).to_vec())
            }
            _ => None,
        };
        Ok(FinalAggregateSource {
            spec,
            ctx,
            partitions: Mutex::new(partitions.into_iter().enumerate()),
            held: Mutex::new(held),
            one_row_key,
        })
    }

    fn merge_partition(&self, partition: Partition) -> Result<Output> {
        let (batches, files) = partition;
        let in_memory: usize = batches.iter().map(crate::memory::batch_memory_size).sum();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let inputs: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> = Box::new(
            batches
                .into_iter()
                .map(Ok)
                .chain(files.into_iter().flat_map(|f| match f.read() {
                    Ok(it) => Box::new(it) as Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
                    Err(e) => Box::new(std::iter::once(Err(e))),
                })),
        );
        let mut out = Output {
            batches: Default::default(),
            reservation: self.ctx.reservation("HashAggregate(output)"),
            files: Default::default(),
            reading: None,
        };
        let result = self.merge(inputs, 0, rows, &mut out);
        if let Ok(mut held) = self.held.lock() {
            if let Some(r) = held.as_mut() {
                r.shrink(in_memory);
            }
        }
        result?;
        Ok(out)
    }

    /// Merges `inputs` (state batches, the first `rows_hint` of their rows known to be
    /// in memory) and appends final batches to `out`.
    fn merge(
        &self,
        mut inputs: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
        depth: u32,
        rows_hint: usize,
        out: &mut Output,
    ) -> Result<()> {
        let spec = &self.spec;
        let mut table = GroupTable::new(spec.new_accumulators()?);
        let mut reservation = self.ctx.reservation("HashAggregate(final)");
        let mut ids = vec![];
        let mut hashes = vec![];
        // Partitions merge in parallel: each task keeps to a worker's part of the
        // budget, so a large partition re-partitions instead of starving its
        // neighbours. The inputs are spilled state already: forcing another spill
        // would only recurse, so only the cap and the pool decide.
        let ctx = self.ctx.unforced();
        let share = ctx.cap(Holder::Task);
        // The in-memory states hold at most that many groups: room for them up front
        // spares the table its growth steps, when it takes a small part of the share
        // (the reservation below still decides whether the table may keep it).
        if rows_hint.saturating_mul(RESERVED_BYTES_PER_ROW) <= share / 4 {
            table.reserve(rows_hint);
        }
        while let Some(batch) = inputs.next() {
            let batch = batch?;
            merge_batch(&mut table, spec, &batch, &mut ids, &mut hashes)?;
            let size = table.size();
            // Re-partitioning cannot help when not even a handful of groups fit.
            let can_split = table.num_groups() >= 16 && depth < max_depth();
            if !can_split {
                ctx.resize(&mut reservation, size)?;
            } else if ctx.resize_or_spill(&mut reservation, size, Holder::Task) == Decision::Spill {
                ctx.metrics.record_reserved(size);
                return self.repartition(table, reservation, inputs, depth, out);
            }
        }
        if let (Some(key), 0) = (&self.one_row_key, table.num_groups()) {
            // A global aggregate over no rows still has one row: count 0, sum NULL, ...
            // (and so does the grand total of grouping sets).
            hashes.clear();
            hashes.push(0);
            table.intern(std::iter::once(key.as_slice()), &hashes, &mut ids);
            let empty: Vec<Vec<ArrayRef>> = spec
                .state_schema
                .fields()
                .iter()
                .skip(1)
                .map(|f| arrow::array::new_empty_array(f.data_type()))
                .collect::<Vec<_>>()
                .chunks(1)
                .map(|c| c.to_vec())
                .collect();
            let mut col = 0;
            for (acc, call) in table.accumulators.iter_mut().zip(&spec.calls) {
                let n = super::accumulator::state_fields(call.func, &call.arg_type, "").len();
                let states: Vec<ArrayRef> = empty[col..col + n].iter().flatten().cloned().collect();
                col += n;
                acc.merge(&states, &[], 1)?;
            }
        }
        let before = out.batches.len();
        self.emit(&mut table, out)?;
        drop(table);
        // The output stays charged until the consumer has taken it.
        let bytes: usize = out
            .batches
            .iter()
            .skip(before)
            .map(crate::memory::batch_memory_size)
            .sum();
        let mut reservation = reservation;
        if self.ctx.resize(&mut reservation, bytes).is_err() {
            // The partition's output (all its sub-partitions' groups) does not fit:
            // it goes to a spill file, read back as the consumer takes it.
            drop(reservation);
            return out.spill(&self.ctx, &self.spec.output_schema, before);
        }
        out.reservation.absorb(reservation);
        Ok(())
    }

    /// Splits the table's state and the remaining inputs into sub-partition files and
    /// merges each of them.
    fn repartition(
        &self,
        mut table: GroupTable,
        reservation: Reservation,
        inputs: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
        depth: u32,
        out: &mut Output,
    ) -> Result<()> {
        let spec = &self.spec;
        let parts = 1usize << SUB_RADIX_BITS;
        let (state, hashes) = drain_state(&mut table, spec)?;
        drop(table);
        drop(reservation);
        // The sub-partition files' buffers are reserved while they are written.
        let mut buffers = self.ctx.reservation("HashAggregate(re-partition)");
        let mut writers: Vec<Option<SpillWriter>> = (0..parts).map(|_| None).collect();
        let mut write = |batch: &RecordBatch, hashes: &[u64]| -> Result<()> {
            for part in split_by_partition(batch, hashes, depth + 1, parts) {
                let (p, b) = part?;
                let w = match &mut writers[p] {
                    Some(w) => w,
                    slot => {
                        let buffer = self.ctx.spill_buffer_bytes(parts, Holder::Task);
                        let (w, _) = self.ctx.spill_writer(
                            &spec.state_schema,
                            &mut buffers,
                            buffer,
                            Holder::Task,
                        )?;
                        slot.insert(w)
                    }
                };
                w.write(&b)?;
            }
            Ok(())
        };
        write(&state, &hashes)?;
        drop(state);
        let mut batch_hashes = vec![];
        for batch in inputs {
            let batch = batch?;
            let keys = batch.column(0).as_binary::<i32>();
            hash_keys(
                keys.iter().map(|k| k.unwrap_or_default()),
                &mut batch_hashes,
            );
            write(&batch, &batch_hashes)?;
        }
        let mut files = vec![];
        for w in writers.into_iter().flatten() {
            let f = w.finish()?;
            self.ctx.metrics.add_spill(f.bytes(), 1);
            files.push(f);
        }
        drop(buffers);
        self.ctx
            .metrics
            .set_note(format!("spilled, re-partitioned to depth {}", depth + 1));
        for f in files {
            let it = Box::new(f.read()?);
            self.merge(it, depth + 1, 0, out)?;
        }
        Ok(())
    }

    /// Turns a merged table into output batches of at most `chunk_rows` rows.
    fn emit(&self, table: &mut GroupTable, out: &mut Output) -> Result<()> {
        let spec = &self.spec;
        let drained = table.drain(true)?;
        let mut cols: Vec<ArrayRef> = vec![];
        if !spec.keys.is_empty() {
            cols.extend(spec.key_codec()?.decode(drained.keys.as_binary::<i32>())?);
        }
        cols.extend(drained.values.into_iter().flatten());
        let schema: SchemaRef = Arc::clone(&spec.output_schema);
        let batch = RecordBatch::try_new(schema, cols)?;
        let chunk = self.ctx.chunk_rows.max(1);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = chunk.min(batch.num_rows() - offset);
            out.batches.push_back(batch.slice(offset, len));
            offset += len;
        }
        Ok(())
    }
}

/// A merged partition's output: batches in memory with the reservation that covers
/// them (each batch's bytes are released as the consumer takes it), then, when they
/// did not all fit, spill files read back one batch at a time.
struct Output {
    batches: std::collections::VecDeque<RecordBatch>,
    reservation: Reservation,
    files: std::collections::VecDeque<SpillFile>,
    reading: Option<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>>,
}

impl Output {
    /// Writes the in-memory batches to a spill file and releases their bytes: the
    /// first `reserved` of them are covered by `self.reservation`, the rest (just
    /// emitted) by nothing.
    fn spill(&mut self, ctx: &OperatorContext, schema: &SchemaRef, reserved: usize) -> Result<()> {
        let mut buffer = ctx.reservation("HashAggregate(output spill)");
        let (mut writer, _) = ctx.spill_writer(
            schema,
            &mut buffer,
            ctx.spill_buffer_bytes(1, Holder::Task),
            Holder::Task,
        )?;
        for (i, b) in self.batches.drain(..).enumerate() {
            writer.write(&b)?;
            if i < reserved {
                self.reservation
                    .shrink(crate::memory::batch_memory_size(&b));
            }
        }
        let file = writer.finish()?;
        ctx.metrics.add_spill(file.bytes(), 1);
        self.files.push_back(file);
        Ok(())
    }
}

impl Iterator for Output {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(b) = self.batches.pop_front() {
            self.reservation
                .shrink(crate::memory::batch_memory_size(&b));
            return Some(Ok(b));
        }
        loop {
            if let Some(it) = &mut self.reading {
                match it.next() {
                    Some(b) => return Some(b),
                    None => self.reading = None,
                }
            }
            let file = self.files.pop_front()?;
            match file.read() {
                Ok(it) => self.reading = Some(Box::new(it)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Folds one state batch into `table`.
fn merge_batch(
    table: &mut GroupTable,
    spec: &AggregateSpec,
    batch: &RecordBatch,
    ids: &mut Vec<u32>,
    hashes: &mut Vec<u64>,
) -> Result<()> {
    let keys = batch.column(0).as_binary::<i32>();
    hash_keys(keys.iter().map(|k| k.unwrap_or_default()), hashes);
    table.intern(keys.iter().map(|k| k.unwrap_or_default()), hashes, ids);
    let groups = table.num_groups();
    let mut col = 1;
    for (acc, call) in table.accumulators.iter_mut().zip(&spec.calls) {
        let n = super::accumulator::state_fields(call.func, &call.arg_type, "").len();
        acc.merge(&batch.columns()[col..col + n], ids, groups)?;
        col += n;
    }
    Ok(())
}

impl Source for FinalAggregateSource {
    fn next_task(&self) -> Result<Option<Task>> {
        loop {
            let next = self
                .partitions
                .lock()
                .map_err(|_| Error::Internal("aggregate partitions poisoned".into()))?
                .next();
            let Some((index, partition)) = next else {
                return Ok(None);
            };
            let empty = partition.0.is_empty() && partition.1.is_empty();
            if empty && !(self.one_row_key.is_some() && index == 0) {
                continue;
            }
            let batches = self.merge_partition(partition)?;
            return Ok(Some(Task {
                index: index as u64,
                batches: Box::new(batches),
            }));
        }
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.spec.output_schema)
    }
}
