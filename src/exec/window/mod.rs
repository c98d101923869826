//! Window: evaluates window functions over partitions of sorted rows.
//!
//! Algorithm: the operator's sink is the external sort (`exec/sort`), by the
//! PARTITION BY keys and then the ORDER BY keys, so its input may be far larger than
//! memory: the sort spills runs and merges them. Its source reads the merged stream in
//! order (one sequential task) and cuts it at partition boundaries (found by comparing
//! the partition keys in `arrow-row` form). Each partition's rows go through a
//! [`partition::PartitionWindows`], a buffer that slides along the partition: rows
//! are evaluated and leave it as soon as every row their answers look at has arrived,
//! with running state (prefix sums, best values, peer-group ranks) carried past it.
//! Aggregates over frames are prefix-sum differences and monotonic queues
//! (`frame_aggregate.rs`), O(rows) for any frame width.
//!
//! Memory and spill: the sort holds and spills as it always does. The window holds
//! the buffer, reserved against the pool. Functions that look a bounded distance
//! around a row (rankings, lag/lead, ROWS frames with offsets, frames from the
//! partition's start) keep only that reach, so one partition of any size streams
//! through. Functions that need the partition's end (`UNBOUNDED FOLLOWING`, `ntile`,
//! `percent_rank`, `cume_dist`) hold the partition while it fits the operator's
//! budget; when it does not (or spilling is forced), the partition is written to a
//! spill file while its row count and whole aggregates are counted (for min/max over
//! frames that run to the end from later than the start, the best value from every
//! block of 1024 rows to the end), then read back and streamed with those facts
//! known. RANGE frames with value offsets keep the rows between the frame edges that
//! the order key's values give (`value_frame.rs`). Only a non-literal offset
//! (lag/lead's, nth_value's, ntile's), `IGNORE NULLS`, or min/max/nth_value from a
//! value offset to the partition's end, needs the partition in memory: over the budget
//! that fails with `ResourcesExhausted` naming the call. Output goes out in chunks of
//! `chunk_rows`, fewer when rows are so wide that a streaming buffer of that many
//! would pass a quarter of the budget (the sort's final merge holds up to half).
//!
//! Top-k per partition: when the plan above keeps only rows whose `row_number` or
//! `rank` is at most k (`WindowSpec::keep_top`), each worker's sink first drops rows
//! that already have k better rows in their partition (`top_per_partition.rs`).

mod frame_aggregate;
mod holistic;
mod partition;
mod reach;
mod suffix_best;
mod top_per_partition;
mod value_frame;

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_row::{OwnedRow, RowConverter, SortField};
use serde::{Deserialize, Serialize};

use self::partition::PartitionFacts;
use self::partition::PartitionWindows;
use self::reach::{needs_two_passes, whole_partition_construct};
use self::top_per_partition::TopPerPartition;
use super::context::{Decision, Holder, OperatorContext};
use super::sort::ExternalSortSink;
use crate::error::{Error, Result};
use crate::expr::eval::evaluate;
use crate::expr::window::WindowCall;
use crate::expr::{Expr, SortExpr};
use crate::memory::{batch_memory_size, Reservation};
use crate::spill::SpillWriter;
use crate::stream::{BatchIter, LocalSink, MemorySource, Sink, Source, TaskListSource};

/// The fewest rows a window evaluates per step, however small the budget.
const MIN_CHUNK_ROWS: usize = 64;

/// What a Window operator computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowSpec {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortExpr>,
    pub calls: Vec<WindowCall>,
    /// The most sorted runs merged at once.
    pub fan_in: usize,
    /// When the plan above reads only the rows ranking within the first `k` of their
    /// partition (every call is `row_number` or `rank`): rows that cannot are dropped
    /// before the sort (`top_per_partition.rs`).
    #[serde(default)]
    pub keep_top: Option<usize>,
}

impl WindowSpec {
    /// The sort that groups partitions and orders each: partition keys, then order.
    pub fn sort_keys(&self) -> Vec<SortExpr> {
        self.partition_by
            .iter()
            .map(|e| SortExpr::asc(e.clone()))
            .chain(self.order_by.iter().cloned())
            .collect()
    }
}

/// The window operator's sink (the sort) and the evaluation of its output.
pub struct WindowSink {
    sort: ExternalSortSink,
    spec: Arc<WindowSpec>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    ctx: OperatorContext,
}

impl WindowSink {
    pub fn try_new(
        input_schema: SchemaRef,
        output_schema: SchemaRef,
        spec: Arc<WindowSpec>,
        ctx: OperatorContext,
    ) -> Result<Self> {
        let sort = ExternalSortSink::try_new(
            Arc::clone(&input_schema),
            spec.sort_keys(),
            ctx.clone(),
            spec.fan_in,
        )?;
        Ok(WindowSink {
            sort,
            spec,
            input_schema,
            output_schema,
            ctx,
        })
    }
}

impl Sink for WindowSink {
    type Output = Box<dyn Source>;

    fn name(&self) -> String {
        "Window".into()
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        let sort = self.sort.local_state()?;
        match self.spec.keep_top {
            Some(k) => Ok(Box::new(TopPerPartition::try_new(
                sort,
                &self.spec,
                k,
                &self.input_schema,
                self.ctx.reservation("Window(top per partition)"),
                self.ctx.budget,
            )?)),
            _ => Ok(sort),
        }
    }

    fn finalize(&self) -> Result<Box<dyn Source>> {
        let sorted = self.sort.finalize()?;
        let Some(task) = sorted.next_task()? else {
            return Ok(Box::new(MemorySource::new(
                Arc::clone(&self.output_schema),
                vec![],
            )));
        };
        let partition_fields = self
            .spec
            .partition_by
            .iter()
            .map(|e| {
                Ok(SortField::new(crate::expr::types::data_type(
                    e,
                    &self.input_schema,
                )?))
            })
            .collect::<Result<Vec<_>>>()?;
        let windows = WindowStream {
            input: task.batches,
            spec: Arc::clone(&self.spec),
            input_schema: Arc::clone(&self.input_schema),
            output_schema: Arc::clone(&self.output_schema),
            chunk_rows: None,
            keys: RowConverter::new(partition_fields)?,
            current_key: None,
            current: Current::None,
            two_passes: needs_two_passes(&self.spec),
            reservation: self.ctx.reservation("Window(partition)"),
            ctx: self.ctx.clone(),
            out: VecDeque::new(),
            out_rows: 0,
            counted: 0,
            done: false,
        };
        Ok(Box::new(TaskListSource::single(
            Arc::clone(&self.output_schema),
            Box::new(windows) as BatchIter,
        )))
    }
}

/// The partition being read.
enum Current {
    None,
    /// Rows in a sliding buffer (the whole partition, while it fits and must be whole).
    Buffer(PartitionWindows),
    /// A partition that needs its end and outgrew the budget: written out while its
    /// facts are counted, then streamed back.
    Spilled {
        writer: SpillWriter,
        facts: PartitionFacts,
    },
}

/// The sorted rows cut into partitions, each streamed through its windows.
struct WindowStream {
    input: BatchIter,
    spec: Arc<WindowSpec>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    keys: RowConverter,
    /// The partition key of the rows in `current`.
    current_key: Option<OwnedRow>,
    current: Current,
    /// Whether a partition over the budget can be streamed in two passes (`Some(true)`)
    /// or one (`Some(false)`), or must be held whole (`None`).
    two_passes: Option<bool>,
    /// Rows evaluated per step, sized to the budget from the first rows' width.
    chunk_rows: Option<usize>,
    reservation: Reservation,
    ctx: OperatorContext,
    out: VecDeque<RecordBatch>,
    /// Rows in `out`, counted up to its first `counted` batches.
    out_rows: usize,
    counted: usize,
    done: bool,
}

impl Iterator for WindowStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            // Small partitions give small batches: they go out together, a chunk at
            // a time, so the operators above see few batches, not one per partition.
            for b in self.out.iter().skip(self.counted) {
                self.out_rows += b.num_rows();
            }
            self.counted = self.out.len();
            let chunk = self.chunk_rows.unwrap_or(self.ctx.chunk_rows).max(1);
            if !self.out.is_empty() && (self.out_rows >= chunk || self.done) {
                // The batches up to a chunk's rows: a batch of a chunk or more (a large
                // partition's) goes out alone, uncopied.
                let mut take = 0;
                let mut rows = 0;
                while take < self.out.len() && rows < chunk {
                    rows += self.out[take].num_rows();
                    take += 1;
                }
                let batches: Vec<RecordBatch> = self.out.drain(..take).collect();
                self.out_rows -= rows;
                self.counted -= take;
                return Some(match batches.as_slice() {
                    [one] => Ok(one.clone()),
                    _ => arrow::compute::concat_batches(&self.output_schema, &batches)
                        .map_err(Into::into),
                });
            }
            if self.done {
                return None;
            }
            let step = match self.input.next() {
                None => {
                    self.done = true;
                    self.finish_partition()
                }
                Some(Err(e)) => Err(e),
                Some(Ok(batch)) => self.push(batch),
            };
            if let Err(e) = step {
                self.done = true;
                self.current = Current::None;
                return Some(Err(e));
            }
        }
    }
}

impl WindowStream {
    /// Adds sorted rows, finishing each partition whose end they show.
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Without PARTITION BY every row is in the one partition.
        if self.spec.partition_by.is_empty() {
            return self.add(batch);
        }
        let key_columns = self
            .spec
            .partition_by
            .iter()
            .map(|e| {
                Ok(crate::expr::float_keys::canonical_floats(&evaluate(
                    e, &batch,
                )?))
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = self.keys.convert_columns(&key_columns)?;
        let mut start = 0;
        for i in 0..batch.num_rows() {
            let same = match &self.current_key {
                Some(k) => k.row() == rows.row(i),
                None => false,
            };
            if same {
                continue;
            }
            if i > start {
                self.add(batch.slice(start, i - start))?;
            }
            if self.current_key.is_some() {
                self.finish_partition()?;
            }
            self.current_key = Some(rows.row(i).owned());
            start = i;
        }
        self.add(batch.slice(start, batch.num_rows() - start))
    }

    fn new_partition(&self, facts: Option<PartitionFacts>) -> PartitionWindows {
        PartitionWindows::new(
            Arc::clone(&self.spec),
            Arc::clone(&self.input_schema),
            Arc::clone(&self.output_schema),
            self.chunk_rows.unwrap_or(self.ctx.chunk_rows),
            facts,
        )
    }

    /// Fixes the rows per step from the first rows: a streaming buffer (a step's rows
    /// and the calls' reach) keeps to about a quarter of the budget, since the sort's
    /// final merge holds up to half of it while the window reads.
    fn size_chunks(&mut self, rows: &RecordBatch) {
        if self.chunk_rows.is_some() || rows.num_rows() == 0 {
            return;
        }
        let row_bytes = (batch_memory_size(rows) / rows.num_rows()).max(1);
        let fit = self.ctx.budget / 4 / row_bytes;
        self.chunk_rows = Some(fit.max(MIN_CHUNK_ROWS).min(self.ctx.chunk_rows).max(1));
    }

    /// Adds rows of the current partition.
    fn add(&mut self, rows: RecordBatch) -> Result<()> {
        self.size_chunks(&rows);
        match &mut self.current {
            Current::None => {
                let mut p = self.new_partition(None);
                p.push(rows, &mut self.out)?;
                self.current = Current::Buffer(p);
                self.check_buffer()
            }
            Current::Buffer(p) => {
                p.push(rows, &mut self.out)?;
                self.check_buffer()
            }
            Current::Spilled { writer, facts } => {
                facts.add(&self.spec, &rows)?;
                writer.write(&rows)?;
                self.ctx.resize(&mut self.reservation, facts.bytes())
            }
        }
    }

    /// Reserves the buffer; a partition that must be held until its end and outgrows
    /// the budget is spilled for two passes, or fails.
    fn check_buffer(&mut self) -> Result<()> {
        let Current::Buffer(p) = &self.current else {
            return Ok(());
        };
        let bytes = p.buffered_bytes();
        if p.streams() {
            // The buffer is the calls' reach: it must fit.
            return self.ctx.resize(&mut self.reservation, bytes);
        }
        let decision = self
            .ctx
            .resize_or_spill(&mut self.reservation, bytes, Holder::Operator);
        if decision == Decision::Keep {
            return Ok(());
        }
        if self.two_passes == Some(true) {
            return self.spill_partition();
        }
        // Forced spilling asks to spill what fits: it is kept while the pool allows.
        if self.ctx.force_spill && self.ctx.resize(&mut self.reservation, bytes).is_ok() {
            return Ok(());
        }
        Err(Error::ResourcesExhausted {
            operator: format!(
                "Window: a partition of {} rows does not fit in the operator's budget of \
                     {} bytes, and `{}` needs the whole partition in memory",
                p.rows_seen(),
                self.ctx.budget,
                whole_partition_construct(&self.spec)
            ),
            requested: bytes,
            reserved: self.reservation.size(),
            used: self.ctx.pool.used(),
            limit: self.ctx.pool.limit(),
        })
    }

    /// Moves the buffered partition into a spill file, counting its facts.
    fn spill_partition(&mut self) -> Result<()> {
        let Current::Buffer(p) = std::mem::replace(&mut self.current, Current::None) else {
            return Ok(());
        };
        let mut facts = PartitionFacts::new(&self.spec);
        let (mut writer, _) = self.ctx.spill_writer(
            &self.input_schema,
            &mut self.reservation,
            0,
            Holder::Operator,
        )?;
        for rows in p.into_rows() {
            facts.add(&self.spec, &rows)?;
            writer.write(&rows)?;
        }
        self.ctx.resize(&mut self.reservation, facts.bytes())?;
        self.current = Current::Spilled { writer, facts };
        Ok(())
    }

    fn finish_partition(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::None => {}
            Current::Buffer(p) => p.finish(&mut self.out)?,
            Current::Spilled { writer, mut facts } => {
                facts.seal(&self.spec)?;
                let file = writer.finish()?;
                self.ctx.metrics.add_spill(file.bytes(), 1);
                let mut p = self.new_partition(Some(facts));
                for rows in file.read()? {
                    p.push(rows?, &mut self.out)?;
                    let bytes = p.buffered_bytes() + p.facts_bytes();
                    self.ctx.resize(&mut self.reservation, bytes)?;
                }
                p.finish(&mut self.out)?;
            }
        }
        self.ctx.resize(&mut self.reservation, 0)
    }
}
