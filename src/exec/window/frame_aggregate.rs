//! Aggregates over window frames, for rows held in a buffer that may be only a stretch
//! of their partition.
//!
//! Algorithm: every frame is a range `[start, end)` of absolute row positions in the
//! partition, and both ends never move backwards from one row to the next. `count`
//! and `sum` are differences of prefix sums: integers in `i128`, floats in
//! double-double (an error-free running sum, so `prefix[end] − prefix[start]` keeps
//! the precision of summing the frame itself), with infinities and NaNs counted
//! apart. `avg` is the float sum over the count. `min`/`max` use a monotonic queue of
//! row indices, each row pushed and popped at most once, so a sliding frame of any
//! width costs O(rows).
//!
//! The buffer holds rows `[lo, lo + len)`. What lies before it is a [`Carry`], the
//! aggregate of rows `[0, lo)`: the prefix sums at `lo` and the best value so far.
//! A frame starts at 0 or inside the buffer and ends inside it, or at the partition's
//! end, whose aggregate (a [`Carry`] of every row, counted in a first pass over a
//! spilled partition) is then given. So the answers are the same whether a partition
//! is evaluated whole or stretch by stretch.
//!
//! Memory: a prefix entry per buffered row, for the caller to reserve with the buffer.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{make_comparator, Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::array::{new_null_array, UInt32Array};
use arrow::compute::{concat, take, SortOptions};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::suffix_best::{SuffixBest, SUFFIX_BLOCK_ROWS};
use crate::error::{Error, Result};
use crate::expr::cast::cast_array;
use crate::expr::AggFunc;

/// `a · b` exactly, as the rounded product and its error.
fn two_product(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// The sample variance `(Σx² − (Σx)²/n) / (n − 1)` from double-double sums, in
/// double-double arithmetic, so that the subtraction does not cancel the digits a
/// double would (values far from zero with a small spread).
fn variance(s1: (f64, f64), s2: (f64, f64), n: f64, divisor: f64) -> f64 {
    // (Σx)², to double-double precision.
    let (p, e) = two_product(s1.0, s1.0);
    let square = two_sum(p, e + 2.0 * s1.0 * s1.1);
    // (Σx)² / n: a quotient and the correction from its remainder.
    let q = square.0 / n;
    let (m, me) = two_product(q, n);
    let rest = ((square.0 - m) - me + square.1) / n;
    // Σx² − (Σx)²/n.
    let (d, de) = two_sum(s2.0, -q);
    let diff = d + (de + s2.1 - rest);
    (diff / divisor).max(0.0)
}

/// A float sum without rounding loss: double-double, with non-finite values counted.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FloatSum {
    hi: f64,
    lo: f64,
    pos_inf: u64,
    neg_inf: u64,
    nan: u64,
}

/// `a + b` exactly, as the rounded sum and its error.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

impl FloatSum {
    fn add(&mut self, x: f64) {
        if x.is_nan() {
            self.nan += 1;
        } else if x == f64::INFINITY {
            self.pos_inf += 1;
        } else if x == f64::NEG_INFINITY {
            self.neg_inf += 1;
        } else {
            let (s, e) = two_sum(self.hi, x);
            let (hi, lo) = two_sum(s, e + self.lo);
            self.hi = hi;
            self.lo = lo;
        }
    }

    /// Adds `x²` exactly: the rounded square and its rounding error.
    fn add_square(&mut self, x: f64) {
        let (p, e) = two_product(x, x);
        self.add(p);
        if p.is_finite() {
            self.add(e);
        }
    }

    /// The sum of the values added after `earlier` as a double-double `(hi, lo)`, or
    /// `None` when an infinity or NaN was among them.
    fn since_exact(&self, earlier: &FloatSum) -> Option<(f64, f64)> {
        if self.nan != earlier.nan
            || self.pos_inf != earlier.pos_inf
            || self.neg_inf != earlier.neg_inf
            || !self.hi.is_finite()
            || !earlier.hi.is_finite()
        {
            return None;
        }
        let (s, e) = two_sum(self.hi, -earlier.hi);
        Some(two_sum(s, e + (self.lo - earlier.lo)))
    }

    /// The sum of the values added after `earlier`, rounded once.
    fn since(&self, earlier: &FloatSum) -> f64 {
        let nan = self.nan - earlier.nan;
        let pos = self.pos_inf - earlier.pos_inf;
        let neg = self.neg_inf - earlier.neg_inf;
        if nan > 0 || (pos > 0 && neg > 0) {
            return f64::NAN;
        }
        if pos > 0 {
            return f64::INFINITY;
        }
        if neg > 0 {
            return f64::NEG_INFINITY;
        }
        if !self.hi.is_finite() || !earlier.hi.is_finite() {
            return self.hi - earlier.hi;
        }
        let (s, e) = two_sum(self.hi, -earlier.hi);
        s + (e + (self.lo - earlier.lo))
    }
}

/// The aggregate of a run of rows: what a window aggregate needs of the rows before
/// its buffer (or of a whole partition).
#[derive(Debug, Clone, Default)]
pub(super) struct Carry {
    count: i64,
    int_sum: i128,
    float_sum: FloatSum,
    /// The sum of squares (stddev, variance).
    square_sum: FloatSum,
    /// The best (least for min, greatest for max) non-null value, one row.
    best: Option<ArrayRef>,
    /// The last value (NULL or not), one row.
    last: Option<ArrayRef>,
}

impl Carry {
    /// Adds rows `range` of `x` (the argument of `func`).
    pub(super) fn add(&mut self, func: AggFunc, x: &ArrayRef, range: Range<usize>) -> Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        let last = range.end - 1;
        self.last = Some(copy_row(x, last)?);
        if func == AggFunc::CountStar {
            return Ok(());
        }
        for i in range.clone() {
            self.count += x.is_valid(i) as i64;
        }
        match func {
            AggFunc::Sum if x.data_type().is_integer() => {
                let v = cast_array(x, &DataType::Int64)?;
                let v = v.as_primitive::<Int64Type>();
                for i in range {
                    if v.is_valid(i) {
                        self.int_sum += v.value(i) as i128;
                    }
                }
            }
            AggFunc::Sum
            | AggFunc::Mean
            | AggFunc::Std
            | AggFunc::Var
            | AggFunc::StdPop
            | AggFunc::VarPop => {
                let v = cast_array(x, &DataType::Float64)?;
                let v = v.as_primitive::<Float64Type>();
                let squares = matches!(
                    func,
                    AggFunc::Std | AggFunc::Var | AggFunc::StdPop | AggFunc::VarPop
                );
                for i in range {
                    if v.is_valid(i) {
                        self.float_sum.add(v.value(i));
                        if squares {
                            self.square_sum.add_square(v.value(i));
                        }
                    }
                }
            }
            AggFunc::Min | AggFunc::Max => {
                let cand = self.candidates(x)?;
                let c = cand.len() - x.len();
                let mut best = None;
                let cmp = comparator(func, &cand)?;
                let rows = (0..c).chain(range.start + c..range.end + c);
                for i in rows {
                    if cand.is_valid(i) && best.is_none_or(|b| cmp(b, i).is_gt()) {
                        best = Some(i);
                    }
                }
                if let Some(b) = best {
                    self.best = Some(copy_row(&cand, b)?);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The last value added, if any.
    pub(super) fn last(&self) -> Option<&ArrayRef> {
        self.last.as_ref()
    }

    /// `x` behind the best value so far (zero or one row).
    fn candidates(&self, x: &ArrayRef) -> Result<ArrayRef> {
        Ok(match &self.best {
            Some(b) => concat(&[b.as_ref(), x.as_ref()])?,
            None => Arc::clone(x),
        })
    }
}

/// Row `i` of `x`, copied (a slice would keep the whole buffer alive).
pub(super) fn copy_row(x: &ArrayRef, i: usize) -> Result<ArrayRef> {
    Ok(take(x.as_ref(), &UInt32Array::from(vec![i as u32]), None)?)
}

/// Orders candidates best first: ascending for min, descending for max.
pub(super) fn comparator(func: AggFunc, x: &ArrayRef) -> Result<arrow::array::DynComparator> {
    // NaN above every number and -0.0 equal to 0.0 (`float_keys`), as the hash
    // aggregate's min/max.
    let x = crate::expr::float_keys::canonical_floats(x);
    Ok(make_comparator(
        x.as_ref(),
        x.as_ref(),
        SortOptions {
            descending: func == AggFunc::Max,
            nulls_first: false,
        },
    )?)
}

/// Where the frames of one evaluation may end: the buffer and, past it, the end of
/// the partition.
pub(super) struct FrameBase<'a> {
    /// The absolute position of the buffer's first row.
    pub lo: usize,
    /// The aggregate of rows `[0, lo)`.
    pub carry: &'a Carry,
    /// The partition's row count and aggregate of all its rows, when known.
    pub total: Option<(usize, &'a Carry)>,
    /// min/max from each block boundary to the partition's end, when known.
    pub suffix: Option<&'a SuffixBest>,
}

/// Prefix values at the positions frames can start or end at.
struct Prefixes<'a, T> {
    base: &'a FrameBase<'a>,
    len: usize,
    buffer: Vec<T>,
    zero: T,
    total: Option<T>,
}

impl<T: Copy> Prefixes<'_, T> {
    fn at(&self, p: usize) -> Result<T> {
        if p == 0 {
            return Ok(self.zero);
        }
        if p >= self.base.lo && p <= self.base.lo + self.len {
            return Ok(self.buffer[p - self.base.lo]);
        }
        match (self.base.total, self.total) {
            (Some((n, _)), Some(t)) if p == n => Ok(t),
            _ => Err(Error::Internal(format!(
                "window frame edge {p} outside the buffered rows {}..{}",
                self.base.lo,
                self.base.lo + self.len
            ))),
        }
    }
}

fn prefixes<'a, T: Copy>(
    base: &'a FrameBase<'a>,
    len: usize,
    zero: T,
    start: T,
    of: impl Fn(&Carry) -> T,
    mut step: impl FnMut(T, usize) -> T,
) -> Prefixes<'a, T> {
    let mut buffer = Vec::with_capacity(len + 1);
    let mut acc = start;
    buffer.push(acc);
    for i in 0..len {
        acc = step(acc, i);
        buffer.push(acc);
    }
    Prefixes {
        base,
        len,
        buffer,
        zero,
        total: base.total.map(|(_, t)| of(t)),
    }
}

/// Prefix float sums of the buffer's values `v` (each added with `add`), from the
/// carried sum `of(carry)`.
fn float_prefixes<'a>(
    base: &'a FrameBase<'a>,
    v: &arrow::array::Float64Array,
    of: impl Fn(&Carry) -> FloatSum,
    add: fn(&mut FloatSum, f64),
) -> Prefixes<'a, FloatSum> {
    let start = of(base.carry);
    prefixes(base, v.len(), FloatSum::default(), start, of, |mut a, i| {
        if v.is_valid(i) {
            add(&mut a, v.value(i));
        }
        a
    })
}

/// `func` over each frame (absolute positions) of the rows of `x`, the buffer.
pub(super) fn frame_aggregate(
    func: AggFunc,
    x: &ArrayRef,
    base: &FrameBase<'_>,
    frames: &[Range<usize>],
) -> Result<ArrayRef> {
    if func == AggFunc::CountStar {
        return Ok(Arc::new(Int64Array::from_iter_values(
            frames.iter().map(|f| f.len() as i64),
        )));
    }
    let len = x.len();
    let counts = prefixes(
        base,
        len,
        0i64,
        base.carry.count,
        |c| c.count,
        |a, i| a + x.is_valid(i) as i64,
    );
    let count = |f: &Range<usize>| -> Result<i64> { Ok(counts.at(f.end)? - counts.at(f.start)?) };
    Ok(match func {
        AggFunc::Count => Arc::new(
            frames
                .iter()
                .map(count)
                .collect::<Result<Vec<_>>>()
                .map(Int64Array::from)?,
        ),
        AggFunc::Sum if x.data_type().is_integer() => {
            let v = cast_array(x, &DataType::Int64)?;
            let v = v.as_primitive::<Int64Type>();
            let sums = prefixes(
                base,
                len,
                0i128,
                base.carry.int_sum,
                |c| c.int_sum,
                |a, i| a + if v.is_valid(i) { v.value(i) as i128 } else { 0 },
            );
            let out = frames
                .iter()
                .map(|f| {
                    if count(f)? == 0 {
                        return Ok(None);
                    }
                    let s = sums.at(f.end)? - sums.at(f.start)?;
                    i64::try_from(s).map(Some).map_err(|_| {
                        Error::InvalidInput(format!("sum() over a window overflows Int64 ({s})"))
                    })
                })
                .collect::<Result<Int64Array>>()?;
            Arc::new(out)
        }
        AggFunc::Sum | AggFunc::Mean => {
            let v = cast_array(x, &DataType::Float64)?;
            let sums = float_prefixes(base, v.as_primitive(), |c| c.float_sum, FloatSum::add);
            let out = frames
                .iter()
                .map(|f| {
                    let c = count(f)?;
                    if c == 0 {
                        return Ok(None);
                    }
                    let s = sums.at(f.end)?.since(&sums.at(f.start)?);
                    Ok(Some(if func == AggFunc::Mean {
                        s / c as f64
                    } else {
                        s
                    }))
                })
                .collect::<Result<Float64Array>>()?;
            Arc::new(out)
        }
        AggFunc::Std | AggFunc::Var | AggFunc::StdPop | AggFunc::VarPop => {
            let population = matches!(func, AggFunc::StdPop | AggFunc::VarPop);
            let v = cast_array(x, &DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>();
            let sums = float_prefixes(base, v, |c| c.float_sum, FloatSum::add);
            let squares = float_prefixes(base, v, |c| c.square_sum, FloatSum::add_square);
            let out = frames
                .iter()
                .map(|f| {
                    let c = count(f)?;
                    if c < 2 - population as i64 {
                        return Ok(None);
                    }
                    let s1 = sums.at(f.end)?.since_exact(&sums.at(f.start)?);
                    let s2 = squares.at(f.end)?.since_exact(&squares.at(f.start)?);
                    let var = match (s1, s2) {
                        (Some(s1), Some(s2)) => {
                            let n = c as f64;
                            variance(s1, s2, n, if population { n } else { n - 1.0 })
                        }
                        _ => f64::NAN,
                    };
                    Ok(Some(if matches!(func, AggFunc::Std | AggFunc::StdPop) {
                        var.sqrt()
                    } else {
                        var
                    }))
                })
                .collect::<Result<Float64Array>>()?;
            Arc::new(out)
        }
        AggFunc::Min | AggFunc::Max => min_max(func, x, base, frames)?,
        other => {
            return Err(Error::NotSupported(format!(
                "{}() as a window function",
                other.name()
            )))
        }
    })
}

/// min/max over frames with a monotonic queue. Candidates are the carried best value
/// (frames from the partition's start), the buffer, the whole partition's best
/// (frames from its start to its end), and the best from the block boundaries after
/// the frames' starts (frames to its end that start later: the rest of the start's
/// block comes from the buffer, by a backward scan within each block).
fn min_max(
    func: AggFunc,
    x: &ArrayRef,
    base: &FrameBase<'_>,
    frames: &[Range<usize>],
) -> Result<ArrayRef> {
    let running = base.carry.candidates(x)?;
    let c = running.len() - x.len();
    let end_of_buffer = base.lo + x.len();
    let whole = base
        .total
        .and_then(|(_, t)| t.best.clone())
        .unwrap_or_else(|| new_null_array(x.data_type(), 1));
    // Frames to the partition's end that start after its start, past the buffer.
    let to_end = |f: &Range<usize>| f.start != 0 && f.end > end_of_buffer;
    let blocks = frames
        .iter()
        .filter(|f| to_end(f))
        .map(|f| f.start / SUFFIX_BLOCK_ROWS + 1)
        .fold(None, |acc: Option<Range<usize>>, b| match acc {
            None => Some(b..b + 1),
            Some(r) => Some(r.start.min(b)..r.end.max(b + 1)),
        })
        .unwrap_or(0..0);
    let from = match base.suffix {
        Some(s) => s.best_from_blocks(blocks.clone(), x.data_type()),
        None => new_null_array(x.data_type(), blocks.len()),
    };
    let cand = concat(&[running.as_ref(), whole.as_ref(), from.as_ref()])?;
    let whole_at = running.len();
    let from_at = whole_at + 1;
    let cmp = comparator(func, &cand)?;
    let pick = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(a), Some(b)) if cmp(a, b).is_gt() => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    // Within its block, the best of each buffered row and the rows after it.
    let block_rest: Vec<Option<usize>> = if blocks.is_empty() {
        vec![]
    } else {
        let mut rest = vec![None; x.len()];
        let mut current = None;
        for j in (0..x.len()).rev() {
            if (base.lo + j + 1).is_multiple_of(SUFFIX_BLOCK_ROWS) {
                current = None;
            }
            if cand.is_valid(c + j) {
                current = pick(Some(c + j), current);
            }
            rest[j] = current;
        }
        rest
    };
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut pushed = 0;
    let mut best = Vec::with_capacity(frames.len());
    for f in frames {
        if f.is_empty() {
            best.push(None);
            continue;
        }
        if f.end > end_of_buffer {
            if f.start == 0 {
                best.push(Some(whole_at as u32));
                continue;
            }
            let n = match (base.total, base.suffix) {
                (Some((n, _)), Some(_)) if f.end == n => n,
                _ => {
                    return Err(Error::Internal(
                        "min/max over a frame past the buffer without the partition's facts".into(),
                    ))
                }
            };
            let b = f.start / SUFFIX_BLOCK_ROWS + 1;
            let block_end = (b * SUFFIX_BLOCK_ROWS).min(n);
            if f.start < base.lo || block_end > end_of_buffer {
                return Err(Error::Internal(format!(
                    "min/max frame {}..{n}: rows {}..{block_end} are not all buffered ({}..{})",
                    f.start, f.start, base.lo, end_of_buffer
                )));
            }
            let tail = from_at + b - blocks.start;
            let tail = cand.is_valid(tail).then_some(tail);
            best.push(pick(block_rest[f.start - base.lo], tail).map(|i| i as u32));
            continue;
        }
        // Candidate positions of the frame.
        let start = if f.start == 0 {
            0
        } else {
            f.start - base.lo + c
        };
        let end = f.end - base.lo + c;
        while pushed < end {
            if cand.is_valid(pushed) {
                while queue.back().is_some_and(|&b| !cmp(b, pushed).is_lt()) {
                    queue.pop_back();
                }
                queue.push_back(pushed);
            }
            pushed += 1;
        }
        while queue.front().is_some_and(|&q| q < start) {
            queue.pop_front();
        }
        best.push(queue.front().map(|&q| q as u32));
    }
    Ok(take(cand.as_ref(), &UInt32Array::from(best), None)?)
}
