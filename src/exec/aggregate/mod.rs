//! Hash aggregate: two phases, radix-partitioned, spilling.
//!
//! ```text
//!  partial phase (sink, per worker)            final phase (source, per partition)
//!  morsel ─▶ keys ─▶ arrow-row ─▶ hash ─┐
//!                                        ▼
//!            local GroupTable + accumulators     partition p: state batches in memory
//!               │ reservation can't grow               + spill files of p from every worker
//!               ▼                                        │ merge into a fresh table
//!            drain state, split by the top              │ reservation can't grow?
//!            RADIX_BITS of the hash into P              ▼   re-partition p by the next
//!            per-partition spill files (IPC+LZ4)          SUB_RADIX_BITS into spill files,
//!                                                         merge each sub-partition in turn
//! ```
//!
//! *Partial phase.* Each worker folds its morsels into a private [`GroupTable`]
//! whose size it reserves after every morsel. When
//! [`OperatorContext::resize_or_spill`] says spill (the reservation cannot grow past
//! the worker's part of the budget, or `force_spill` is set) the worker drains the table's partial state — key bytes plus
//! the accumulators' Arrow state — splits it by partition and appends it to its own
//! per-partition spill writers, then starts over with an empty table. At the end
//! (`combine`) a worker that never spilled hands its state to the shared sink in
//! memory; one that did appends the rest to its files.
//!
//! *Final phase.* `finalize` returns a source with one task per partition, so the
//! partitions merge in parallel on the workers. A task merges every state batch of its
//! partition into one table and emits final values. If that table's reservation cannot
//! grow, the task re-partitions what it has and what is left by the next hash bits
//! into sub-partition spill files and merges them one at a time, recursively, so a
//! skewed or huge partition still finishes within the budget.
//!
//! Memory: at most one table per worker in the partial phase, and one merge table per
//! running partition task in the final phase, all behind reservations. Output order is
//! unspecified (by partition, then first appearance).

pub(crate) mod accumulator;
mod merge;
mod state;

use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use self::accumulator::{create_accumulator, input_type, state_fields, GroupsAccumulator};
use self::state::{call_inputs, drain_state, encode_keys, morsel_state, row_order};
use serde::{Deserialize, Serialize};

use super::context::{Decision, Holder, OperatorContext};
use super::group_table::{hash_keys, split_by_partition, GroupTable, PARTITIONS};
use super::keys::{EncodedKeys, KeyCodec};
use crate::error::{Error, Result};
use crate::expr::{types, AggFunc, Expr};
use crate::memory::Reservation;
use crate::spill::{SpillFile, SpillWriter};
use crate::stream::{LocalSink, Morsel, Sink, SinkStatus, Source};

/// One aggregate of an aggregation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggregateCall {
    pub func: AggFunc,
    pub args: Vec<Expr>,
    /// Type the arguments are evaluated at (the first argument's).
    pub arg_type: DataType,
    pub output: Field,
}

/// What to compute: keys and aggregates over an input schema.
#[derive(Debug, Serialize, Deserialize)]
pub struct AggregateSpec {
    pub keys: Vec<Expr>,
    pub key_fields: Vec<Field>,
    pub calls: Vec<AggregateCall>,
    pub output_schema: SchemaRef,
    /// Key bytes (Binary) followed by every call's state fields.
    pub state_schema: SchemaRef,
    /// The key values of the one row to output when the input has no rows at all: a
    /// GROUPING SETS aggregate whose sets include the empty set (the grand total),
    /// which SQL outputs even over no rows. `None`: no rows in, no rows out.
    #[serde(default)]
    pub empty_input_keys: Option<Vec<crate::expr::ScalarValue>>,
}

impl AggregateSpec {
    /// Resolves `keys` and `aggs` (aggregate expressions, optionally aliased) over
    /// `input`, producing `output` (the keys, then one column per aggregate, as the
    /// logical plan derived it).
    pub fn try_new(
        input: &Schema,
        keys: &[Expr],
        aggs: &[Expr],
        output: SchemaRef,
    ) -> Result<Self> {
        if output.fields().len() != keys.len() + aggs.len() {
            return Err(Error::Internal(format!(
                "aggregate output has {} columns for {} keys and {} aggregates",
                output.fields().len(),
                keys.len(),
                aggs.len()
            )));
        }
        let key_fields: Vec<Field> = output.fields()[..keys.len()]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut calls = vec![];
        for (a, field) in aggs.iter().zip(&output.fields()[keys.len()..]) {
            let Expr::Aggregate { func, args } = a.unalias() else {
                return Err(Error::Plan(format!("{a} is not an aggregate")));
            };
            let arg_types = args
                .iter()
                .map(|e| types::data_type(e, input))
                .collect::<Result<Vec<_>>>()?;
            calls.push(AggregateCall {
                func: *func,
                args: args.clone(),
                arg_type: arg_types.first().cloned().unwrap_or(DataType::Null),
                output: field.as_ref().clone(),
            });
        }
        let mut state = vec![Field::new("#key", DataType::Binary, false)];
        for (i, c) in calls.iter().enumerate() {
            state.extend(state_fields(c.func, &c.arg_type, &format!("{i}")));
        }
        Ok(AggregateSpec {
            keys: keys.to_vec(),
            key_fields,
            calls,
            output_schema: output,
            state_schema: Arc::new(Schema::new(state)),
            empty_input_keys: None,
        })
    }

    /// The spec that outputs one row with keys `keys` when its input has no rows.
    pub fn with_empty_input_keys(mut self, keys: Option<Vec<crate::expr::ScalarValue>>) -> Self {
        self.empty_input_keys = keys;
        self
    }

    fn new_accumulators(&self) -> Result<Vec<Box<dyn GroupsAccumulator>>> {
        self.calls
            .iter()
            .map(|c| {
                create_accumulator(
                    c.func,
                    &input_type(c.func, &c.arg_type),
                    c.output.data_type(),
                )
            })
            .collect()
    }

    fn key_codec(&self) -> Result<KeyCodec> {
        let types: Vec<DataType> = self
            .key_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        KeyCodec::try_new(&types)
    }

    fn needs_order(&self) -> bool {
        self.calls.iter().any(|c| {
            matches!(
                c.func,
                AggFunc::First | AggFunc::Last | AggFunc::AnyValue | AggFunc::StringAgg(None)
            )
        })
    }
}

/// Partial state collected by `combine`, per partition.
#[derive(Default)]
struct Collected {
    in_memory: Vec<Vec<RecordBatch>>,
    spilled: Vec<Vec<SpillFile>>,
    reservation: Option<Reservation>,
}

/// The hash aggregate's sink (partial phase); `finalize` gives the final phase's source.
pub struct HashAggregateSink {
    spec: Arc<AggregateSpec>,
    /// Its budget bounds each worker's partial table to `budget / threads` (DuckDB
    /// #8135: without that, many workers' tables fill the pool and starve the scan).
    ctx: OperatorContext,
    /// Initial flush threshold of the partial tables, in groups.
    flush_groups: usize,
    collected: Mutex<Collected>,
}

impl HashAggregateSink {
    pub fn new(spec: Arc<AggregateSpec>, ctx: OperatorContext, flush_groups: usize) -> Self {
        let collected = Collected {
            in_memory: vec![vec![]; PARTITIONS],
            spilled: vec![vec![]; PARTITIONS],
            reservation: Some(ctx.reservation("HashAggregate(partial state)")),
        };
        HashAggregateSink {
            spec,
            ctx,
            flush_groups,
            collected: Mutex::new(collected),
        }
    }
}

impl Sink for HashAggregateSink {
    type Output = Box<dyn Source>;

    fn name(&self) -> String {
        "HashAggregate".into()
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(PartialAggregate {
            table: GroupTable::new(self.spec.new_accumulators()?),
            codec: self.spec.key_codec()?,
            reservation: self.ctx.reservation("HashAggregate(partial)"),
            writers: None,
            writer_bytes: 0,
            sink: self,
            ids: vec![],
            hashes: vec![],
            rows_since_spill: 0,
            pass_through: false,
            flushed: vec![],
            flushed_bytes: 0,
            flush_groups: self.flush_groups.max(1),
            probes_since_flush: 0,
            run_mode: false,
        }))
    }

    fn finalize(&self) -> Result<Box<dyn Source>> {
        let mut c = self
            .collected
            .lock()
            .map_err(|_| Error::Internal("aggregate state poisoned".into()))?;
        let spilled: usize = c.spilled.iter().map(|f| f.len()).sum();
        self.ctx.metrics.set_note(if spilled > 0 {
            format!("spilled ({spilled} files)")
        } else {
            "in memory".into()
        });
        let partitions = std::mem::take(&mut c.in_memory)
            .into_iter()
            .zip(std::mem::take(&mut c.spilled))
            .collect();
        Ok(Box::new(merge::FinalAggregateSource::new(
            Arc::clone(&self.spec),
            self.ctx.clone(),
            partitions,
            c.reservation.take(),
        )?))
    }
}

/// One worker's partial aggregation.
struct PartialAggregate<'a> {
    table: GroupTable,
    codec: KeyCodec,
    reservation: Reservation,
    writers: Option<Vec<Option<SpillWriter>>>,
    /// Bytes of `reservation` that hold the open writers' buffers.
    writer_bytes: usize,
    sink: &'a HashAggregateSink,
    ids: Vec<u32>,
    hashes: Vec<u64>,
    /// Input rows folded into the table since it was last flushed or spilled.
    rows_since_spill: usize,
    /// Set when a spilled table held nearly one group per input row: pre-aggregating
    /// then buys nothing, so morsels go straight to the partition files as one-row
    /// states (DuckDB abandons pre-aggregation the same way).
    pass_through: bool,
    /// Flushed partial states, by partition (empty until the first flush), and their
    /// bytes; covered by `reservation` together with the table.
    flushed: Vec<Vec<RecordBatch>>,
    flushed_bytes: usize,
    /// The table is flushed when it holds this many groups.
    flush_groups: usize,
    /// Rows since the last flush that probed the table (not a repeat of the row before).
    probes_since_flush: usize,
    /// Set when a flushed table created a group for nearly every probe while repeats of
    /// the previous row did the reducing (input clustered by key, such as `lineitem` by
    /// order): morsels then fold runs of equal keys into states without a table.
    run_mode: bool,
}

/// A flush whose table reduced its input rows by less than this factor makes the next
/// table 4× larger: more groups then meet in the table instead of in the final phase.
const GOOD_REDUCTION: f64 = 2.0;

/// A flushed table with more groups than this share of its probes, whose rows were
/// reduced well by repeats alone, switches the worker to run mode.
const RUN_MODE_RATIO: f64 = 0.95;

/// A spilled table with more groups than this share of its input rows switches the
/// worker to pass-through.
const PASS_THROUGH_RATIO: f64 = 0.8;

impl PartialAggregate<'_> {
    fn writer(&mut self, p: usize) -> Result<&mut SpillWriter> {
        let sink = self.sink;
        let writers = self
            .writers
            .get_or_insert_with(|| (0..PARTITIONS).map(|_| None).collect());
        Ok(match &mut writers[p] {
            Some(w) => w,
            slot => {
                // The file's write buffer is reserved with the table (or the file is
                // written unbuffered); `settle_memory` keeps it counted.
                let buffer = sink.ctx.spill_buffer_bytes(PARTITIONS, Holder::Worker);
                let (w, reserved) = sink.ctx.spill_writer(
                    &sink.spec.state_schema,
                    &mut self.reservation,
                    buffer,
                    Holder::Worker,
                )?;
                self.writer_bytes += reserved;
                slot.insert(w)
            }
        })
    }

    /// Appends a state batch to the per-partition spill files, one partition at a time.
    fn write_state(&mut self, state: &RecordBatch, hashes: &[u64]) -> Result<()> {
        for part in split_by_partition(state, hashes, 0, PARTITIONS) {
            let (p, batch) = part?;
            self.writer(p)?.write(&batch)?;
        }
        Ok(())
    }

    /// Moves the table's groups into the in-memory partitioned state and starts an
    /// empty table of the same capacity. A table that reduced its rows poorly is
    /// allowed to grow 4× before the next flush.
    fn flush(&mut self) -> Result<()> {
        let groups = self.table.num_groups() as f64;
        if (self.rows_since_spill as f64) < GOOD_REDUCTION * groups {
            self.flush_groups = self.flush_groups.saturating_mul(4);
        } else if groups > RUN_MODE_RATIO * self.probes_since_flush as f64 {
            self.run_mode = true;
        }
        self.rows_since_spill = 0;
        self.probes_since_flush = 0;
        self.stash_table()
    }

    /// Run mode: folds each run of equal consecutive keys of the morsel into one
    /// partial state row, stashed by partition like a flushed table. A morsel whose runs
    /// reduce it by less than half returns the worker to the table.
    fn fold_runs(&mut self, morsel: &Morsel, keys: &EncodedKeys) -> Result<()> {
        let n = morsel.batch.num_rows();
        self.ids.clear();
        let mut heads: Vec<u32> = vec![];
        for i in 0..n {
            let repeat =
                i > 0 && self.hashes[i] == self.hashes[i - 1] && keys.key(i) == keys.key(i - 1);
            if !repeat {
                heads.push(i as u32);
            }
            self.ids.push(heads.len() as u32 - 1);
        }
        if heads.len() * 2 > n {
            self.run_mode = false;
        }
        let head_keys = heads.iter().map(|&i| keys.key(i as usize));
        let state = morsel_state(&self.sink.spec, morsel, head_keys, &self.ids, heads.len())?;
        let hashes: Vec<u64> = heads.iter().map(|&i| self.hashes[i as usize]).collect();
        self.stash(&state, &hashes)
    }

    /// Drains the table's groups into `flushed`, split by partition.
    fn stash_table(&mut self) -> Result<()> {
        let (state, hashes) = drain_state(&mut self.table, &self.sink.spec)?;
        self.stash(&state, &hashes)
    }

    /// Adds partial states to `flushed`, split by partition.
    fn stash(&mut self, state: &RecordBatch, hashes: &[u64]) -> Result<()> {
        if self.flushed.is_empty() {
            self.flushed = vec![vec![]; PARTITIONS];
        }
        for part in split_by_partition(state, hashes, 0, PARTITIONS) {
            let (p, batch) = part?;
            self.flushed_bytes += crate::memory::batch_memory_size(&batch);
            self.flushed[p].push(batch);
        }
        Ok(())
    }

    /// Writes the flushed state and the table's groups to the partition spill files
    /// and empties both.
    fn spill(&mut self) -> Result<()> {
        let spec = Arc::clone(&self.sink.spec);
        let groups = self.table.num_groups();
        if !spec.keys.is_empty()
            && groups as f64 > PASS_THROUGH_RATIO * self.rows_since_spill as f64
        {
            self.pass_through = true;
        }
        self.rows_since_spill = 0;
        let flushed = std::mem::take(&mut self.flushed);
        for (p, batches) in flushed.into_iter().enumerate() {
            for batch in batches {
                self.writer(p)?.write(&batch)?;
            }
        }
        self.flushed_bytes = 0;
        let (state, hashes) = drain_state(&mut self.table, &spec)?;
        self.write_state(&state, &hashes)?;
        self.table.shrink();
        // What an emptied table keeps is tiny; failing to hold even that is an error.
        self.sink
            .ctx
            .resize(&mut self.reservation, self.table.size() + self.writer_bytes)?;
        Ok(())
    }

    /// Pass-through: every row becomes its own one-row partial state.
    fn pass_through(&mut self, morsel: &Morsel, keys: &EncodedKeys) -> Result<()> {
        let n = morsel.batch.num_rows();
        self.ids.clear();
        self.ids.extend(0..n as u32);
        let all_keys = (0..n).map(|i| keys.key(i));
        let state = morsel_state(&self.sink.spec, morsel, all_keys, &self.ids, n)?;
        let hashes = std::mem::take(&mut self.hashes);
        let result = self.write_state(&state, &hashes);
        self.hashes = hashes;
        result
    }
}

impl PartialAggregate<'_> {
    /// Reserves what the table and the flushed states hold, or spills them.
    fn settle_memory(&mut self) -> Result<SinkStatus> {
        let size = self.table.size() + self.flushed_bytes + self.writer_bytes;
        if self
            .sink
            .ctx
            .resize_or_spill(&mut self.reservation, size, Holder::Worker)
            == Decision::Spill
        {
            self.sink.ctx.metrics.record_reserved(size);
            self.spill()?;
        }
        Ok(SinkStatus::NeedMore)
    }
}

impl LocalSink for PartialAggregate<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let spec = Arc::clone(&self.sink.spec);
        let batch = &morsel.batch;
        let n = batch.num_rows();
        match encode_keys(&spec, &self.codec, batch)? {
            Some(keys) => {
                hash_keys((0..n).map(|i| keys.key(i)), &mut self.hashes);
                if self.pass_through {
                    self.pass_through(&morsel, &keys)?;
                    return Ok(SinkStatus::NeedMore);
                }
                if self.run_mode {
                    self.fold_runs(&morsel, &keys)?;
                    return self.settle_memory();
                }
                self.probes_since_flush +=
                    self.table
                        .intern((0..n).map(|i| keys.key(i)), &self.hashes, &mut self.ids);
            }
            None => {
                self.hashes.clear();
                self.hashes.push(0);
                self.table
                    .intern(std::iter::once(&[][..]), &self.hashes, &mut self.ids);
                self.ids.resize(n, 0);
            }
        }
        self.rows_since_spill += n;
        let order = row_order(&spec, &morsel);
        let groups = self.table.num_groups();
        for (acc, call) in self.table.accumulators.iter_mut().zip(&spec.calls) {
            acc.update(&call_inputs(call, batch)?, &self.ids, groups, &order)?;
        }
        if !spec.keys.is_empty() && groups >= self.flush_groups {
            self.flush()?;
        }
        self.settle_memory()
    }

    fn combine(mut self: Box<Self>) -> Result<()> {
        let sink = self.sink;
        if self.writers.is_some() {
            self.spill()?;
            let writers = self.writers.take().unwrap_or_default();
            let mut files = vec![];
            for (p, w) in writers.into_iter().enumerate() {
                if let Some(w) = w {
                    let f = w.finish()?;
                    sink.ctx.metrics.add_spill(f.bytes(), 1);
                    files.push((p, f));
                }
            }
            let mut c = sink
                .collected
                .lock()
                .map_err(|_| Error::Internal("aggregate state poisoned".into()))?;
            for (p, f) in files {
                c.spilled[p].push(f);
            }
            return Ok(());
        }
        if self.table.num_groups() > 0 {
            // Not `flush`: the table is dropped, so its growth rule does not matter.
            self.stash_table()?;
        }
        let parts = std::mem::take(&mut self.flushed);
        let bytes = self.flushed_bytes;
        let mut c = sink
            .collected
            .lock()
            .map_err(|_| Error::Internal("aggregate state poisoned".into()))?;
        let reservation = c
            .reservation
            .get_or_insert_with(|| sink.ctx.reservation("HashAggregate"));
        // Hand this worker's bytes over, then settle on the batches' real size.
        let before = reservation.size();
        let local = std::mem::replace(&mut self.reservation, sink.ctx.reservation("HashAggregate"));
        reservation.absorb(local);
        // At most half the budget stays in memory to the final phase: its merge
        // tasks and their output need the other half.
        let keep = if before + bytes > sink.ctx.cap(Holder::Operator) / 2 {
            Decision::Spill
        } else {
            sink.ctx
                .resize_or_spill(reservation, before + bytes, Holder::Operator)
        };
        if keep == Decision::Keep {
            for (p, batches) in parts.into_iter().enumerate() {
                c.in_memory[p].extend(batches);
            }
        } else {
            reservation.shrink(reservation.size().saturating_sub(before));
            drop(c);
            for (p, batches) in parts.into_iter().enumerate() {
                if batches.is_empty() {
                    continue;
                }
                let f = sink
                    .ctx
                    .spill
                    .spill_batches(&sink.spec.state_schema, batches.iter())?;
                sink.ctx.metrics.add_spill(f.bytes(), 1);
                let mut c = sink
                    .collected
                    .lock()
                    .map_err(|_| Error::Internal("aggregate state poisoned".into()))?;
                c.spilled[p].push(f);
            }
        }
        Ok(())
    }
}
