//! Window: evaluates window functions over partitions of sorted rows.
//!
//! Algorithm: the operator's sink is the external sort (`exec/sort`), by the
//! PARTITION BY keys and then the ORDER BY keys, so its input may be far larger than
//! memory: the sort spills runs and merges them. Its source reads the merged stream in
//! order (one sequential task) and cuts it at partition boundaries (found by comparing
//! the partition keys in `arrow-row` form). Each partition is gathered, its peer
//! groups (rows equal on the ORDER BY keys) found with `arrow::compute::partition`,
//! and every call evaluated over the whole partition: rankings from the peer groups;
//! `lag`/`lead` and the value functions by index; aggregates over each row's frame,
//! with prefix sums for count/sum/avg and a running or scanned best row for min/max.
//!
//! Memory: the sort holds and spills as it always does. The window holds one
//! partition at a time, reserved against the pool; a single partition larger than the
//! operator's budget fails with `ResourcesExhausted` naming the operator (a partition
//! is never spilled yet). Output goes out in chunks of `chunk_rows`.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    make_comparator, Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, UInt32Array,
};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{concat_batches, is_not_null, partition, take, SortOptions};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use arrow_row::{OwnedRow, RowConverter, SortField};
use serde::{Deserialize, Serialize};

use super::context::OperatorContext;
use super::sort::ExternalSortSink;
use crate::error::{Error, Result};
use crate::expr::cast::cast_array;
use crate::expr::eval::evaluate;
use crate::expr::window::{FrameBound, FrameUnits, WindowCall, WindowFrame, WindowFunc};
use crate::expr::{AggFunc, Expr, SortExpr};
use crate::memory::Reservation;
use crate::stream::{BatchIter, LocalSink, MemorySource, Sink, Source, TaskListSource};

/// What a Window operator computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowSpec {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortExpr>,
    pub calls: Vec<WindowCall>,
    /// The most sorted runs merged at once.
    pub fan_in: usize,
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
        self.sort.local_state()
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
            keys: RowConverter::new(partition_fields)?,
            current: None,
            pending: vec![],
            reservation: self.ctx.reservation("Window(partition)"),
            ctx: self.ctx.clone(),
            out: VecDeque::new(),
            done: false,
        };
        Ok(Box::new(TaskListSource::single(
            Arc::clone(&self.output_schema),
            Box::new(windows) as BatchIter,
        )))
    }
}

/// The sorted rows cut into partitions, each evaluated whole.
struct WindowStream {
    input: BatchIter,
    spec: Arc<WindowSpec>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    keys: RowConverter,
    /// The partition key of the rows in `pending`.
    current: Option<OwnedRow>,
    pending: Vec<RecordBatch>,
    reservation: Reservation,
    ctx: OperatorContext,
    out: VecDeque<RecordBatch>,
    done: bool,
}

impl Iterator for WindowStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(Ok(b));
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
            return self.buffer(batch);
        }
        let key_columns = self
            .spec
            .partition_by
            .iter()
            .map(|e| evaluate(e, &batch))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.keys.convert_columns(&key_columns)?;
        let mut start = 0;
        for i in 0..batch.num_rows() {
            let same = match &self.current {
                Some(k) => k.row() == rows.row(i),
                None => false,
            };
            if same {
                continue;
            }
            if i > start {
                self.buffer(batch.slice(start, i - start))?;
            }
            if self.current.is_some() {
                self.finish_partition()?;
            }
            self.current = Some(rows.row(i).owned());
            start = i;
        }
        self.buffer(batch.slice(start, batch.num_rows() - start))
    }

    fn buffer(&mut self, rows: RecordBatch) -> Result<()> {
        let bytes: usize = self
            .pending
            .iter()
            .chain(std::iter::once(&rows))
            .map(|b| b.get_array_memory_size())
            .sum();
        self.ctx.resize(&mut self.reservation, bytes)?;
        self.pending.push(rows);
        Ok(())
    }

    fn finish_partition(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if pending.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let rows = concat_batches(&self.input_schema, &pending)?;
        drop(pending);
        let out = evaluate_partition(&self.spec, &rows, &self.output_schema)?;
        let chunk = self.ctx.chunk_rows.max(1);
        let mut offset = 0;
        while offset < out.num_rows() {
            let n = chunk.min(out.num_rows() - offset);
            self.out.push_back(out.slice(offset, n));
            offset += n;
        }
        self.ctx.resize(&mut self.reservation, 0)
    }
}

/// The partition's rows with one column per call appended.
fn evaluate_partition(
    spec: &WindowSpec,
    rows: &RecordBatch,
    output_schema: &SchemaRef,
) -> Result<RecordBatch> {
    let n = rows.num_rows();
    let peers: Vec<Range<usize>> = if spec.order_by.is_empty() {
        std::iter::once(0..n).collect()
    } else {
        let keys = spec
            .order_by
            .iter()
            .map(|k| evaluate(&k.expr, rows))
            .collect::<Result<Vec<_>>>()?;
        partition(&keys)?.ranges()
    };
    // The peer group of every row.
    let mut group_of = vec![0usize; n];
    for (g, r) in peers.iter().enumerate() {
        for i in r.clone() {
            group_of[i] = g;
        }
    }
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    for (call, field) in spec
        .calls
        .iter()
        .zip(output_schema.fields().iter().skip(rows.num_columns()))
    {
        let args = call
            .args
            .iter()
            .map(|a| evaluate(a, rows))
            .collect::<Result<Vec<_>>>()?;
        let value = evaluate_call(call, &args, n, &peers, &group_of)?;
        columns.push(cast_array(&value, field.data_type())?);
    }
    Ok(RecordBatch::try_new(Arc::clone(output_schema), columns)?)
}

/// A constant integer argument (ntile's bucket count, lag's offset, nth_value's k).
fn constant_int(call: &WindowCall, args: &[ArrayRef], i: usize, default: i64) -> Result<i64> {
    let Some(a) = args.get(i) else {
        return Ok(default);
    };
    let a = cast_array(a, &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    if a.is_empty() || a.is_null(0) {
        return Err(Error::Plan(format!(
            "{}(): argument {} must not be NULL",
            call.func.name(),
            i + 1
        )));
    }
    let v = a.value(0);
    if a.iter().any(|x| x != Some(v)) {
        return Err(Error::NotSupported(format!(
            "{}() with a non-constant argument {}",
            call.func.name(),
            i + 1
        )));
    }
    Ok(v)
}

fn evaluate_call(
    call: &WindowCall,
    args: &[ArrayRef],
    n: usize,
    peers: &[Range<usize>],
    group_of: &[usize],
) -> Result<ArrayRef> {
    use WindowFunc::*;
    let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values((0..n).map(f)))
    };
    Ok(match call.func {
        RowNumber => ints(&|i| i as i64 + 1),
        Rank => ints(&|i| peers[group_of[i]].start as i64 + 1),
        DenseRank => ints(&|i| group_of[i] as i64 + 1),
        PercentRank => Arc::new(Float64Array::from_iter_values((0..n).map(|i| {
            if n <= 1 {
                0.0
            } else {
                peers[group_of[i]].start as f64 / (n - 1) as f64
            }
        }))),
        CumeDist => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| peers[group_of[i]].end as f64 / n as f64),
        )),
        Ntile => {
            let k = constant_int(call, args, 0, 1)?;
            if k <= 0 {
                return Err(Error::Plan(
                    "ntile(): the bucket count must be positive".into(),
                ));
            }
            let k = k as usize;
            let (base, extra) = (n / k, n % k);
            ints(&|i| {
                let big = extra * (base + 1);
                let bucket = if i < big {
                    i / (base + 1)
                } else {
                    extra + (i - big) / base.max(1)
                };
                bucket as i64 + 1
            })
        }
        Lag | Lead => {
            let offset = constant_int(call, args, 1, 1)?;
            let shift = if call.func == Lag { -offset } else { offset };
            let index: UInt32Array = (0..n)
                .map(|i| {
                    let j = i as i64 + shift;
                    (0..n as i64).contains(&j).then_some(j as u32)
                })
                .collect();
            let moved = take(args[0].as_ref(), &index, None)?;
            match args.get(2) {
                Some(default) => {
                    let default = cast_array(default, args[0].data_type())?;
                    zip(&is_not_null(&index)?, &moved, &default)?
                }
                None => moved,
            }
        }
        FirstValue | LastValue | NthValue => {
            let k = if call.func == NthValue {
                constant_int(call, args, 1, 1)?
            } else {
                1
            };
            let index: UInt32Array = (0..n)
                .map(|i| {
                    let f = frame_of(&call.frame, i, n, peers, group_of);
                    if f.is_empty() {
                        return None;
                    }
                    match call.func {
                        FirstValue => Some(f.start as u32),
                        LastValue => Some(f.end as u32 - 1),
                        _ => {
                            let j = f.start as i64 + k - 1;
                            (k >= 1 && j < f.end as i64).then_some(j as u32)
                        }
                    }
                })
                .collect();
            take(args[0].as_ref(), &index, None)?
        }
        Aggregate(func) => aggregate(call, func, args, n, peers, group_of)?,
    })
}

/// The rows of the frame of row `i`.
fn frame_of(
    frame: &WindowFrame,
    i: usize,
    n: usize,
    peers: &[Range<usize>],
    group_of: &[usize],
) -> Range<usize> {
    let peer = &peers[group_of[i]];
    let start = match frame.start {
        FrameBound::UnboundedPreceding => 0,
        FrameBound::Preceding(k) => i.saturating_sub(k as usize),
        FrameBound::CurrentRow if frame.units == FrameUnits::Range => peer.start,
        FrameBound::CurrentRow => i,
        FrameBound::Following(k) => i.saturating_add(k as usize).min(n),
        FrameBound::UnboundedFollowing => n,
    };
    let end = match frame.end {
        FrameBound::UnboundedPreceding => 0,
        FrameBound::Preceding(k) => (i + 1).saturating_sub(k as usize),
        FrameBound::CurrentRow if frame.units == FrameUnits::Range => peer.end,
        FrameBound::CurrentRow => i + 1,
        FrameBound::Following(k) => i.saturating_add(k as usize + 1).min(n),
        FrameBound::UnboundedFollowing => n,
    };
    start..end.max(start)
}

/// An aggregate over every row's frame.
fn aggregate(
    call: &WindowCall,
    func: AggFunc,
    args: &[ArrayRef],
    n: usize,
    peers: &[Range<usize>],
    group_of: &[usize],
) -> Result<ArrayRef> {
    let frames: Vec<Range<usize>> = (0..n)
        .map(|i| frame_of(&call.frame, i, n, peers, group_of))
        .collect();
    if func == AggFunc::CountStar {
        return Ok(Arc::new(Int64Array::from_iter_values(
            frames.iter().map(|f| f.len() as i64),
        )));
    }
    let x = &args[0];
    // Prefix counts of non-null values.
    let mut count = vec![0i64; n + 1];
    for i in 0..n {
        count[i + 1] = count[i] + x.is_valid(i) as i64;
    }
    let in_frame = |f: &Range<usize>| count[f.end] - count[f.start];
    Ok(match func {
        AggFunc::Count => Arc::new(Int64Array::from_iter_values(frames.iter().map(in_frame))),
        AggFunc::Sum if x.data_type().is_integer() => {
            let v = cast_array(x, &DataType::Int64)?;
            let v = v.as_primitive::<Int64Type>();
            let mut prefix = vec![0i128; n + 1];
            for i in 0..n {
                prefix[i + 1] = prefix[i] + if v.is_valid(i) { v.value(i) as i128 } else { 0 };
            }
            let out = frames
                .iter()
                .map(|f| {
                    if in_frame(f) == 0 {
                        return Ok(None);
                    }
                    let s = prefix[f.end] - prefix[f.start];
                    i64::try_from(s).map(Some).map_err(|_| {
                        Error::InvalidInput(format!("sum() over a window overflows Int64 ({s})"))
                    })
                })
                .collect::<Result<Int64Array>>()?;
            Arc::new(out)
        }
        AggFunc::Sum | AggFunc::Mean => {
            let v = cast_array(x, &DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>();
            // A frame equal to the previous one reuses its sum, one that extends it at
            // the end (a running frame) adds the new rows, any other (a sliding frame)
            // sums its rows: each row is added once per frame it enters.
            let mut last: Option<(Range<usize>, f64)> = None;
            let mut out = Vec::with_capacity(n);
            for f in &frames {
                let (mut s, from) = match &last {
                    Some((pf, ps)) if pf.start == f.start && pf.end <= f.end => (*ps, pf.end),
                    _ => (0.0, f.start),
                };
                for i in from..f.end {
                    if v.is_valid(i) {
                        s += v.value(i);
                    }
                }
                last = Some((f.clone(), s));
                let c = in_frame(f);
                out.push((c > 0).then(|| {
                    if func == AggFunc::Mean {
                        s / c as f64
                    } else {
                        s
                    }
                }));
            }
            Arc::new(Float64Array::from(out))
        }
        AggFunc::Min | AggFunc::Max => {
            let descending = func == AggFunc::Max;
            let cmp = make_comparator(
                x.as_ref(),
                x.as_ref(),
                SortOptions {
                    descending,
                    nulls_first: false,
                },
            )?;
            // The best row of each frame; consecutive frames that only grow at the end
            // (running frames) extend the previous answer.
            let mut best: Vec<Option<u32>> = Vec::with_capacity(n);
            let mut last: Option<(Range<usize>, Option<usize>)> = None;
            for f in &frames {
                let mut b: Option<usize> = None;
                let mut from = f.start;
                if let Some((pf, pb)) = &last {
                    if pf.start == f.start && pf.end <= f.end {
                        b = *pb;
                        from = pf.end;
                    }
                }
                for i in from..f.end {
                    if x.is_null(i) {
                        continue;
                    }
                    b = match b {
                        Some(j) if cmp(j, i).is_le() => Some(j),
                        _ => Some(i),
                    };
                }
                best.push(b.map(|j| j as u32));
                last = Some((f.clone(), b));
            }
            take(x.as_ref(), &UInt32Array::from(best), None)?
        }
        other => {
            return Err(Error::NotSupported(format!(
                "{}() as a window function",
                other.name()
            )))
        }
    })
}
