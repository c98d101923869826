//! One partition's window functions, evaluated over a buffer that slides along the
//! partition's sorted rows.
//!
//! Algorithm: rows arrive in order and are appended to the buffer, which holds rows
//! `[lo, hi)` of the partition (absolute positions). Every function states its
//! [`Reach`]: how many rows before and after a row its answer looks at (`lag(x, 3)`
//! looks 3 back; `ROWS BETWEEN 10 PRECEDING AND 2 FOLLOWING` 10 back and 2 ahead),
//! whether it needs the row's whole peer group (`rank`, `RANGE ... CURRENT ROW`), and
//! whether it needs the partition's end (`UNBOUNDED FOLLOWING`, `ntile`,
//! `percent_rank`, `cume_dist`). When no function needs the end, rows whose reach is
//! buffered are evaluated and emitted a chunk at a time, and rows that no later answer
//! looks at leave the buffer: what they contribute to frames that start at the
//! partition's first row goes into a running [`Carry`] (prefix sums, the best
//! min/max), the first rows are kept for `first_value`/`nth_value`, and the peer
//! group's start and dense rank are carried for `rank`/`dense_rank`. So memory is
//! bounded by the reach, not the partition. A function that needs the end gets the
//! partition's row count and whole aggregates from [`PartitionFacts`], a first pass
//! over a spilled partition (see `mod.rs`), or waits for the end with every row
//! buffered. A partition held whole is the same evaluation with one stretch.
//!
//! Memory: the buffer (`buffered_bytes`, which the operator reserves), plus the
//! answers of one chunk while it is built.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{concat, concat_batches, is_not_null, partition, take};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};

use super::frame_aggregate::{frame_aggregate, Carry, FrameBase};
use super::holistic::{holistic_aggregate, is_holistic};
use super::reach::{effective_frame, spec_reach, Reach};
use super::suffix_best::SuffixBest;
use super::value_frame::{value_frames, ValueFrames};
use super::WindowSpec;
use crate::error::{Error, Result};
use crate::expr::cast::cast_array;
use crate::expr::eval::evaluate;
use crate::expr::window::{FrameBound, FrameUnits, WindowCall, WindowFrame, WindowFunc};
use crate::expr::AggFunc;
use crate::memory::batch_memory_size;

/// What one partition's first pass learnt: its row count and, per call, the
/// aggregate of all its rows, and for min/max over frames that run to its end from
/// later than its start, the best value from each block boundary to the end.
pub(super) struct PartitionFacts {
    pub rows: usize,
    pub totals: Vec<Carry>,
    pub suffixes: Vec<Option<SuffixBest>>,
}

impl PartitionFacts {
    pub fn new(spec: &WindowSpec) -> Self {
        let ordered = !spec.order_by.is_empty();
        PartitionFacts {
            rows: 0,
            totals: vec![Carry::default(); spec.calls.len()],
            suffixes: (spec.calls.iter())
                .map(|c| {
                    let f = effective_frame(c, ordered);
                    let later_to_end = f.end == FrameBound::UnboundedFollowing
                        && f.start != FrameBound::UnboundedPreceding;
                    let min_max =
                        matches!(c.func, WindowFunc::Aggregate(AggFunc::Min | AggFunc::Max));
                    (later_to_end && min_max).then(SuffixBest::default)
                })
                .collect(),
        }
    }

    /// Bytes held (what grows with the partition: a value per block for min/max).
    pub fn bytes(&self) -> usize {
        self.suffixes.iter().flatten().map(SuffixBest::bytes).sum()
    }

    /// The partition has ended: completes what needs its end.
    pub fn seal(&mut self, spec: &WindowSpec) -> Result<()> {
        for (call, suffix) in spec.calls.iter().zip(&mut self.suffixes) {
            if let Some(s) = suffix {
                s.seal(aggregate_of(call.func))?;
            }
        }
        Ok(())
    }

    /// Counts a batch of the partition's rows.
    pub fn add(&mut self, spec: &WindowSpec, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        self.rows += n;
        for (call, total) in spec.calls.iter().zip(&mut self.totals) {
            if !needs_totals(call) {
                continue;
            }
            let x = match call.args.first() {
                Some(a) => evaluate(a, batch)?,
                None => new_null_array(&DataType::Null, n),
            };
            total.add(aggregate_of(call.func), &x, 0..n)?;
        }
        for (call, suffix) in spec.calls.iter().zip(&mut self.suffixes) {
            if let (Some(s), Some(a)) = (suffix, call.args.first()) {
                s.add(aggregate_of(call.func), &evaluate(a, batch)?)?;
            }
        }
        Ok(())
    }
}

/// Whether a call reads the whole partition's aggregate (or last value).
fn needs_totals(call: &WindowCall) -> bool {
    match call.func {
        WindowFunc::Aggregate(f) => !is_holistic(f),
        f => f == WindowFunc::LastValue,
    }
}

/// The aggregate a call's carry keeps (value functions keep only the last value).
fn aggregate_of(func: WindowFunc) -> AggFunc {
    match func {
        WindowFunc::Aggregate(a) => a,
        _ => AggFunc::CountStar,
    }
}

/// One partition's rows in a sliding buffer, and the state carried past it.
pub(super) struct PartitionWindows {
    spec: Arc<WindowSpec>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    frames: Vec<WindowFrame>,
    /// What the calls reach, when rows can be emitted before the partition's end.
    reach: Option<Reach>,
    facts: Option<PartitionFacts>,
    rows: Vec<RecordBatch>,
    /// Absolute positions: the buffer holds `[lo, hi)`; rows before `next` are out.
    lo: usize,
    hi: usize,
    next: usize,
    /// The start of the peer group of row `lo`, and its dense rank (0-based).
    peer_lo_start: usize,
    dense_lo: usize,
    /// Per call: the aggregate of rows `[0, lo)`, and the partition's first rows.
    carries: Vec<Carry>,
    heads: Vec<Option<ArrayRef>>,
    chunk_rows: usize,
}

impl PartitionWindows {
    /// A partition's evaluation; `facts` when a first pass over it was made.
    pub fn new(
        spec: Arc<WindowSpec>,
        input_schema: SchemaRef,
        output_schema: SchemaRef,
        chunk_rows: usize,
        facts: Option<PartitionFacts>,
    ) -> Self {
        let ordered = !spec.order_by.is_empty();
        let frames = spec
            .calls
            .iter()
            .map(|c| effective_frame(c, ordered))
            .collect();
        let reach = spec_reach(&spec).filter(|r| !r.facts || facts.is_some());
        let calls = spec.calls.len();
        PartitionWindows {
            spec,
            input_schema,
            output_schema,
            frames,
            reach,
            facts,
            rows: vec![],
            lo: 0,
            hi: 0,
            next: 0,
            peer_lo_start: 0,
            dense_lo: 0,
            carries: vec![Carry::default(); calls],
            heads: vec![None; calls],
            chunk_rows: chunk_rows.max(1),
        }
    }

    /// Whether rows leave the buffer before the partition ends.
    pub fn streams(&self) -> bool {
        self.reach.is_some()
    }

    /// Rows seen so far.
    pub fn rows_seen(&self) -> usize {
        self.hi
    }

    /// The bytes the buffer holds (its rows' share of shared buffers: rows read back
    /// from a spill file are slices of the file's mapping).
    pub fn buffered_bytes(&self) -> usize {
        self.rows.iter().map(batch_memory_size).sum()
    }

    /// Bytes held by the first pass's facts.
    pub fn facts_bytes(&self) -> usize {
        self.facts.as_ref().map_or(0, PartitionFacts::bytes)
    }

    /// The buffered rows, before any was emitted (to spill them for a first pass).
    pub fn into_rows(self) -> Vec<RecordBatch> {
        self.rows
    }

    /// Appends the partition's next rows, emitting every chunk whose reach is in.
    pub fn push(&mut self, batch: RecordBatch, out: &mut VecDeque<RecordBatch>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.hi += batch.num_rows();
        self.rows.push(batch);
        if let Some(r) = self.reach {
            if self.hi - self.next >= self.chunk_rows + r.after {
                self.emit(false, out)?;
            }
        }
        Ok(())
    }

    /// The partition has ended: emits every row left.
    pub fn finish(mut self, out: &mut VecDeque<RecordBatch>) -> Result<()> {
        self.emit(true, out)
    }

    fn emit(&mut self, ended: bool, out: &mut VecDeque<RecordBatch>) -> Result<()> {
        if self.next >= self.hi {
            return Ok(());
        }
        let buf = concat_batches(&self.input_schema, &self.rows)?;
        self.rows = vec![buf.clone()];
        let len = buf.num_rows();
        let peers: Vec<Range<usize>> = if self.spec.order_by.is_empty() {
            std::iter::once(0..len).collect()
        } else {
            let keys = self
                .spec
                .order_by
                .iter()
                .map(|k| {
                    Ok(crate::expr::float_keys::canonical_floats(&evaluate(
                        &k.expr, &buf,
                    )?))
                })
                .collect::<Result<Vec<_>>>()?;
            partition(&keys)?.ranges()
        };
        let reach = self.reach.unwrap_or_default();
        let mut limit = self.hi;
        if !ended {
            limit = limit.saturating_sub(reach.after);
            if reach.peer_end {
                let last = peers.last().map_or(0, |r| r.start);
                limit = limit.min(self.lo + last);
            }
        }
        if limit <= self.next {
            return Ok(());
        }
        let mut group_of = vec![0usize; len];
        for (g, r) in peers.iter().enumerate() {
            group_of[r.clone()].fill(g);
        }
        let (lo, peer_lo_start) = (self.lo, self.peer_lo_start);
        let peer_of = |j: usize| {
            let g = group_of[j];
            let start = if g == 0 {
                peer_lo_start
            } else {
                lo + peers[g].start
            };
            start..lo + peers[g].end
        };
        let from = self.next - self.lo;
        let values = (self.spec.calls.iter())
            .map(|call| value_frames(&self.spec, call, &buf, lo, from, ended, &peer_of))
            .collect::<Result<Vec<_>>>()?;
        for v in values.iter().flatten() {
            // Rows are evaluated up to the first whose frame is not settled yet.
            if let Some(k) = v.found.iter().position(|f| !f) {
                limit = limit.min(self.lo + from + k);
            }
        }
        if limit <= self.next {
            return Ok(());
        }
        let view = View {
            lo: self.lo,
            hi: self.hi,
            n: if ended {
                Some(self.hi)
            } else {
                self.facts.as_ref().map(|f| f.rows)
            },
            len,
            peers: &peers,
            group_of: &group_of,
            peer_lo_start: self.peer_lo_start,
            dense_lo: self.dense_lo,
        };
        let rows = (self.next - self.lo)..(limit - self.lo);
        let mut columns: Vec<ArrayRef> = buf
            .columns()
            .iter()
            .map(|c| c.slice(rows.start, rows.len()))
            .collect();
        let mut all_args = Vec::with_capacity(self.spec.calls.len());
        for (c, call) in self.spec.calls.iter().enumerate() {
            let args = call
                .args
                .iter()
                .map(|a| evaluate(a, &buf))
                .collect::<Result<Vec<_>>>()?;
            let field = self.output_schema.field(buf.num_columns() + c);
            let value = self.evaluate_call(c, &args, &view, rows.clone(), values[c].as_ref())?;
            columns.push(cast_array(&value, field.data_type())?);
            all_args.push(args);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.output_schema), columns)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let n = self.chunk_rows.min(batch.num_rows() - offset);
            out.push_back(batch.slice(offset, n));
            offset += n;
        }
        self.next = limit;
        if !ended {
            // The value-bound frame edges of the rows still to come lie no earlier
            // than the next row's (an end too: the prefix sums read it).
            let next = (limit - self.lo).min(len - 1);
            let value_start = (values.iter().zip(&self.frames))
                .filter_map(|(v, f)| {
                    let v = v.as_ref()?;
                    let start = f.start.is_value().then(|| v.start_of(next));
                    let end = f.end.is_value().then(|| v.end_of(next));
                    start.into_iter().chain(end).min()
                })
                .min();
            self.trim(&buf, &view, &all_args, reach, value_start)?;
        }
        Ok(())
    }

    /// Drops the rows no later answer looks at, carrying what they contribute.
    fn trim(
        &mut self,
        buf: &RecordBatch,
        view: &View<'_>,
        args: &[Vec<ArrayRef>],
        reach: Reach,
        value_start: Option<usize>,
    ) -> Result<()> {
        let mut new_lo = self.next.saturating_sub(reach.before).max(self.lo);
        if reach.peer_start {
            let j = self.next.min(self.hi - 1) - self.lo;
            new_lo = new_lo.min(view.group_start(view.group_of[j]));
        }
        if let Some(v) = value_start {
            new_lo = new_lo.min(v);
        }
        // Keep the last row: it carries the peer group into the next rows.
        new_lo = new_lo.min(self.hi - 1).max(self.lo);
        if new_lo <= self.lo {
            return Ok(());
        }
        let cut = new_lo - self.lo;
        use WindowFunc::{FirstValue, NthValue};
        if self.lo == 0 && reach.head > 0 {
            for (c, call) in self.spec.calls.iter().enumerate() {
                if let (Some(x), FirstValue | NthValue) = (args[c].first(), call.func) {
                    let head = reach.head.min(x.len());
                    self.heads[c] = Some(concat(&[x.slice(0, head).as_ref()])?);
                }
            }
        }
        for (c, call) in self.spec.calls.iter().enumerate() {
            if let (WindowFunc::Aggregate(f), Some(x)) = (call.func, args[c].first()) {
                if is_holistic(f) {
                    continue;
                }
                self.carries[c].add(f, x, 0..cut)?;
            }
        }
        let g = view.group_of[cut];
        self.peer_lo_start = view.group_start(g);
        self.dense_lo += g;
        self.rows = vec![buf.slice(cut, buf.num_rows() - cut)];
        self.lo = new_lo;
        Ok(())
    }

    /// Call `c`'s answers for buffer rows `rows`.
    fn evaluate_call(
        &self,
        c: usize,
        args: &[ArrayRef],
        view: &View<'_>,
        rows: Range<usize>,
        values: Option<&ValueFrames>,
    ) -> Result<ArrayRef> {
        use WindowFunc::*;
        let call = &self.spec.calls[c];
        let lo = view.lo;
        let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(rows.clone().map(f)))
        };
        let n = || {
            view.n.ok_or_else(|| {
                Error::Internal(format!("{}() before its partition's size is known", call))
            })
        };
        Ok(match call.func {
            RowNumber => ints(&|j| (lo + j) as i64 + 1),
            Rank => ints(&|j| view.group_start(view.group_of[j]) as i64 + 1),
            DenseRank => ints(&|j| (view.dense_lo + view.group_of[j]) as i64 + 1),
            PercentRank => {
                let n = n()?;
                Arc::new(Float64Array::from_iter_values(rows.map(|j| {
                    if n <= 1 {
                        0.0
                    } else {
                        view.group_start(view.group_of[j]) as f64 / (n - 1) as f64
                    }
                })))
            }
            CumeDist => {
                let n = n()?;
                Arc::new(Float64Array::from_iter_values(rows.map(|j| {
                    (lo + view.peers[view.group_of[j]].end) as f64 / n as f64
                })))
            }
            Ntile => {
                let n = n()?;
                let k = constant_int(call, args, 0, 1)?;
                if k <= 0 {
                    return Err(Error::Plan(
                        "ntile(): the bucket count must be positive".into(),
                    ));
                }
                let k = k as usize;
                let (base, extra) = (n / k, n % k);
                ints(&|j| {
                    let i = lo + j;
                    let big = extra * (base + 1);
                    let bucket = if i < big {
                        i / (base + 1)
                    } else {
                        extra + (i - big) / base.max(1)
                    };
                    bucket as i64 + 1
                })
            }
            Lag | Lead if call.ignore_nulls => {
                // The partition is whole in the buffer (IGNORE NULLS has no reach).
                let offset = usize::try_from(constant_int(call, args, 1, 1)?)
                    .map_err(|_| Error::Plan(format!("{call}: the offset must not be negative")))?;
                let x = &args[0];
                let valid: Vec<usize> = (0..x.len()).filter(|&t| x.is_valid(t)).collect();
                let index = rows
                    .clone()
                    .map(|j| {
                        if offset == 0 {
                            return Some(j as u32);
                        }
                        let t = if call.func == Lag {
                            let before = valid.partition_point(|&t| t < j);
                            before.checked_sub(offset).map(|i| valid[i])
                        } else {
                            let upto = valid.partition_point(|&t| t <= j);
                            valid.get(upto + offset - 1).copied()
                        };
                        t.map(|t| t as u32)
                    })
                    .collect::<UInt32Array>();
                let moved = take(x.as_ref(), &index, None)?;
                match args.get(2) {
                    Some(default) => {
                        let default = cast_array(default, x.data_type())?;
                        let default = default.slice(rows.start, rows.len());
                        zip(&is_not_null(&index)?, &moved, &default)?
                    }
                    None => moved,
                }
            }
            Lag | Lead => {
                let offset = constant_int(call, args, 1, 1)?;
                let shift = if call.func == Lag { -offset } else { offset };
                let end = view.n.unwrap_or(view.hi) as i64;
                let index = rows
                    .clone()
                    .map(|j| {
                        let t = (lo + j) as i64 + shift;
                        if !(0..end).contains(&t) {
                            return Ok(None);
                        }
                        view.buffer_index(t as usize).map(Some)
                    })
                    .collect::<Result<UInt32Array>>()?;
                let moved = take(args[0].as_ref(), &index, None)?;
                match args.get(2) {
                    Some(default) => {
                        let default = cast_array(default, args[0].data_type())?;
                        let default = default.slice(rows.start, rows.len());
                        zip(&is_not_null(&index)?, &moved, &default)?
                    }
                    None => moved,
                }
            }
            FirstValue | LastValue | NthValue => {
                self.value_in_frame(c, args, view, rows, values)?
            }
            Aggregate(func) if is_holistic(func) => {
                let frames = self.frames_of(c, view, rows.clone(), values);
                holistic_aggregate(func, args, lo, &frames)?
            }
            Aggregate(func) => {
                let frames = self.frames_of(c, view, rows.clone(), values);
                let x = match args.first() {
                    Some(x) => Arc::clone(x),
                    None => new_null_array(&DataType::Null, view.len),
                };
                let base = FrameBase {
                    lo,
                    carry: &self.carries[c],
                    total: self.facts.as_ref().map(|f| (f.rows, &f.totals[c])),
                    suffix: self.facts.as_ref().and_then(|f| f.suffixes[c].as_ref()),
                };
                frame_aggregate(func, &x, &base, &frames)?
            }
        })
    }

    /// The frames (absolute positions) of buffer rows `rows` for call `c`.
    fn frames_of(
        &self,
        c: usize,
        view: &View<'_>,
        rows: Range<usize>,
        values: Option<&ValueFrames>,
    ) -> Vec<Range<usize>> {
        let frame = &self.frames[c];
        let n = view.n.unwrap_or(view.hi);
        let value_start = |j: usize| values.map_or(0, |v| v.start_of(j));
        let value_end = |j: usize| values.map_or(n, |v| v.end_of(j));
        if frame.units == FrameUnits::Groups {
            // The partition is whole in the view (GROUPS has no reach): peer group `g`
            // is rows `lo + peers[g]`.
            let groups = view.peers.len();
            let start_of = |g: usize| view.group_start(g);
            let end_of = |g: usize| view.lo + view.peers[g].end;
            return rows
                .map(|j| {
                    let g = view.group_of[j];
                    let start = match frame.start {
                        FrameBound::UnboundedPreceding => 0,
                        FrameBound::Preceding(k) => start_of(g.saturating_sub(k as usize)),
                        FrameBound::Following(k) => match g.checked_add(k as usize) {
                            Some(h) if h < groups => start_of(h),
                            _ => n,
                        },
                        FrameBound::UnboundedFollowing => n,
                        _ => start_of(g),
                    };
                    let end = match frame.end {
                        FrameBound::UnboundedPreceding => 0,
                        FrameBound::Preceding(k) => g.checked_sub(k as usize).map_or(0, end_of),
                        FrameBound::Following(k) => {
                            end_of(g.saturating_add(k as usize).min(groups - 1))
                        }
                        FrameBound::UnboundedFollowing => n,
                        _ => end_of(g),
                    };
                    start..end.max(start)
                })
                .collect();
        }
        rows.map(|j| {
            let i = view.lo + j;
            let g = view.group_of[j];
            let start = match frame.start {
                FrameBound::UnboundedPreceding => 0,
                FrameBound::Preceding(k) => i.saturating_sub(k as usize),
                FrameBound::CurrentRow if frame.units == FrameUnits::Range => view.group_start(g),
                FrameBound::CurrentRow => i,
                FrameBound::Following(k) => i.saturating_add(k as usize).min(n),
                FrameBound::UnboundedFollowing => n,
                FrameBound::ValuePreceding | FrameBound::ValueFollowing => value_start(j),
            };
            let end = match frame.end {
                FrameBound::UnboundedPreceding => 0,
                FrameBound::Preceding(k) => (i + 1).saturating_sub(k as usize),
                FrameBound::CurrentRow if frame.units == FrameUnits::Range => {
                    view.lo + view.peers[g].end
                }
                FrameBound::CurrentRow => i + 1,
                FrameBound::Following(k) => i.saturating_add(k as usize + 1).min(n),
                FrameBound::UnboundedFollowing => n,
                FrameBound::ValuePreceding | FrameBound::ValueFollowing => value_end(j),
            };
            start..end.max(start)
        })
        .collect()
    }

    /// first_value / last_value / nth_value: a row of the frame, taken from the buffer,
    /// the partition's first rows, or (the frame reaching the partition's end) its last.
    fn value_in_frame(
        &self,
        c: usize,
        args: &[ArrayRef],
        view: &View<'_>,
        rows: Range<usize>,
        values: Option<&ValueFrames>,
    ) -> Result<ArrayRef> {
        let call = &self.spec.calls[c];
        let k = if call.func == WindowFunc::NthValue {
            constant_int(call, args, 1, 1)?
        } else {
            1
        };
        let x = &args[0];
        if call.ignore_nulls {
            // The partition is whole in the buffer (IGNORE NULLS has no reach).
            let valid: Vec<usize> = (0..x.len()).filter(|&t| x.is_valid(t)).collect();
            let index = self
                .frames_of(c, view, rows, values)
                .into_iter()
                .map(|f| {
                    let (start, end) = (
                        f.start.saturating_sub(view.lo),
                        f.end.saturating_sub(view.lo),
                    );
                    let t = if call.func == WindowFunc::FirstValue {
                        let i = valid.partition_point(|&t| t < start);
                        valid.get(i).copied().filter(|&t| t < end)
                    } else if call.func == WindowFunc::NthValue {
                        // The k-th non-NULL row of the frame.
                        let i = valid.partition_point(|&t| t < start);
                        usize::try_from(k - 1)
                            .ok()
                            .and_then(|d| valid.get(i + d).copied())
                            .filter(|&t| t < end)
                    } else {
                        let i = valid.partition_point(|&t| t < end);
                        i.checked_sub(1).map(|i| valid[i]).filter(|&t| t >= start)
                    };
                    t.map(|t| t as u32)
                })
                .collect::<UInt32Array>();
            return Ok(take(x.as_ref(), &index, None)?);
        }
        let head = self.heads[c].clone().unwrap_or_else(|| x.slice(0, 0));
        let last = self
            .facts
            .as_ref()
            .and_then(|f| f.totals[c].last().cloned())
            .unwrap_or_else(|| new_null_array(x.data_type(), 1));
        let source = concat(&[x.as_ref(), head.as_ref(), last.as_ref()])?;
        let head_at = x.len();
        let last_at = x.len() + head.len();
        // Row `t` (absolute) as an index into `source`.
        let at = |t: usize| -> Result<u32> {
            if t < view.lo {
                if t < head.len() {
                    return Ok((head_at + t) as u32);
                }
                return Err(Error::Internal(format!(
                    "{call}: row {t} left the window buffer"
                )));
            }
            view.buffer_index(t)
        };
        let index = self
            .frames_of(c, view, rows, values)
            .into_iter()
            .map(|f| {
                if f.is_empty() {
                    return Ok(None);
                }
                match call.func {
                    WindowFunc::FirstValue => at(f.start).map(Some),
                    WindowFunc::LastValue if f.end > view.hi => Ok(Some(last_at as u32)),
                    WindowFunc::LastValue => at(f.end - 1).map(Some),
                    _ => {
                        let t = f.start as i64 + k - 1;
                        if k < 1 || t >= f.end as i64 {
                            return Ok(None);
                        }
                        at(t as usize).map(Some)
                    }
                }
            })
            .collect::<Result<UInt32Array>>()?;
        Ok(take(source.as_ref(), &index, None)?)
    }
}

/// The buffer's rows and peer groups during one evaluation.
struct View<'a> {
    lo: usize,
    hi: usize,
    /// The partition's row count, when known.
    n: Option<usize>,
    len: usize,
    /// Peer groups, in buffer positions; the first may have started before `lo`.
    peers: &'a [Range<usize>],
    group_of: &'a [usize],
    peer_lo_start: usize,
    dense_lo: usize,
}

impl View<'_> {
    /// The absolute start of peer group `g`.
    fn group_start(&self, g: usize) -> usize {
        if g == 0 {
            self.peer_lo_start
        } else {
            self.lo + self.peers[g].start
        }
    }

    /// Absolute row `t` as a buffer index.
    fn buffer_index(&self, t: usize) -> Result<u32> {
        if t < self.lo || t >= self.lo + self.len {
            return Err(Error::Internal(format!(
                "window row {t} outside the buffered rows {}..{}",
                self.lo,
                self.lo + self.len
            )));
        }
        Ok((t - self.lo) as u32)
    }
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
