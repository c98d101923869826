//! Holistic aggregates over window frames: those that no prefix sum or monotonic
//! queue can give (`median`, `quantile_cont`, `count`/`sum`/`avg(DISTINCT)`,
//! `string_agg`, `arg_min`/`arg_max`, `any_value`, `corr`, `approx_count_distinct`).
//! Their frames must lie in the buffer: `reach.rs` makes such a call hold its
//! partition unless its frame is a ROWS frame with offsets at both ends.
//!
//! Algorithm:
//! - **Sliding** (median, quantiles and the distinct aggregates). A frame's two ends
//!   only move forward from one row to the next, so one window slides along the
//!   buffer, each row entering and leaving it once (a jump to a disjoint frame empties
//!   and refills it). The buffer's values are sorted once. A quantile keeps a Fenwick
//!   tree of which sorted positions are in the window and finds the k-th by descent,
//!   O(log n) per step; a distinct aggregate keeps a count per distinct value (equal
//!   values share an id from the sort, so no hashing) and the sum of the values whose
//!   count is non-zero. So a frame of any width costs O(n log n) per buffer.
//! - **Per frame** (the others). Each distinct frame is a group of the hash aggregate's
//!   own accumulators (`exec/aggregate/accumulator`): its rows are gathered by index
//!   and folded in, a batch of frames at a time, and every row takes its frame's value.
//!   The work is the sum of the frame widths: O(rows) when every row shares the whole
//!   partition (no ORDER BY, or UNBOUNDED at both ends), O(rows × width) for a sliding
//!   frame, quadratic for a running one.
//!
//! Memory: a few words per buffered row (sort order, ranks, counts); the per-frame
//! path gathers at most [`GATHER_ROWS`] rows at once. The caller reserves the buffer.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{make_comparator, Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::array::{Int64Builder, UInt32Array};
use arrow::compute::{concat, sort_to_indices, take, SortOptions};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::error::{Error, Result};
use crate::exec::aggregate::accumulator::{arg_input_type, create_accumulator, input_type};
use crate::expr::cast::cast_array;
use crate::expr::float_keys::canonical_floats;
use crate::expr::AggFunc;

/// The most rows the per-frame path gathers for one batch of frames.
const GATHER_ROWS: usize = 1 << 20;

/// Whether `func` over frames is evaluated here rather than by prefix sums and queues.
pub(super) fn is_holistic(func: AggFunc) -> bool {
    use AggFunc::*;
    !matches!(
        func,
        CountStar | Count | Sum | Mean | Min | Max | Std | Var | StdPop | VarPop
    )
}

/// `func(args)` over each frame (absolute positions) of the buffer, whose first row
/// is at `lo`. Every frame must lie within the buffer.
pub(super) fn holistic_aggregate(
    func: AggFunc,
    args: &[ArrayRef],
    lo: usize,
    frames: &[Range<usize>],
) -> Result<ArrayRef> {
    let len = args.first().map_or(0, |a| a.len());
    let local = frames
        .iter()
        .map(|f| {
            if f.is_empty() {
                return Ok(0..0);
            }
            if f.start < lo || f.end > lo + len {
                return Err(Error::Internal(format!(
                    "{}() frame {}..{} outside the buffered rows {lo}..{}",
                    func.name(),
                    f.start,
                    f.end,
                    lo + len
                )));
            }
            Ok(f.start - lo..f.end - lo)
        })
        .collect::<Result<Vec<_>>>()?;
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let output = func.return_type(&types)?;
    let x = args.first().ok_or_else(|| {
        Error::Internal(format!("{}() over a window without arguments", func.name()))
    })?;
    match func {
        AggFunc::Median | AggFunc::QuantileCont(_) => {
            quantiles(x, func.fraction().unwrap_or(0.5), &local)
        }
        AggFunc::CountDistinct | AggFunc::SumDistinct | AggFunc::MeanDistinct => {
            distinct(func, x, &output, &local)
        }
        _ => per_frame(func, args, &output, &local),
    }
}

/// State that a window slides over: rows (buffer indices) enter and leave it.
trait Sliding {
    fn enter(&mut self, i: usize);
    fn leave(&mut self, i: usize);
}

/// Moves `state`'s window over each frame in turn and records `answer` of each.
fn slide<S: Sliding, T>(
    state: &mut S,
    frames: &[Range<usize>],
    mut answer: impl FnMut(&S) -> T,
) -> Vec<T> {
    let mut cur = 0..0;
    let mut out = Vec::with_capacity(frames.len());
    for f in frames {
        if f.start >= cur.end || f.end <= cur.start {
            cur.clone().for_each(|i| state.leave(i));
            f.clone().for_each(|i| state.enter(i));
        } else {
            (cur.start..f.start).for_each(|i| state.leave(i));
            (f.start..cur.start).for_each(|i| state.enter(i));
            (cur.end..f.end).for_each(|i| state.enter(i));
            (f.end..cur.end).for_each(|i| state.leave(i));
        }
        cur = f.clone();
        out.push(answer(state));
    }
    out
}

/// The non-null values of `x` in sort order (`total_cmp` for floats, as the hash
/// aggregate's quantiles, after making -0.0 and NaNs canonical), and each row's
/// position in it (`u32::MAX` for a NULL).
fn sorted_positions(x: &ArrayRef) -> Result<(UInt32Array, Vec<u32>)> {
    let x = canonical_floats(x);
    let order = sort_to_indices(
        x.as_ref(),
        Some(SortOptions {
            descending: false,
            nulls_first: false,
        }),
        None,
    )?;
    let valid = x.len() - x.null_count();
    let order = order.slice(0, valid);
    let mut position = vec![u32::MAX; x.len()];
    for (p, &i) in order.values().iter().enumerate() {
        position[i as usize] = p as u32;
    }
    Ok((order, position))
}

/// A Fenwick tree of which sorted positions are in the window.
struct QuantileWindow {
    tree: Vec<u32>,
    position: Vec<u32>,
    count: usize,
}

impl QuantileWindow {
    fn update(&mut self, i: usize, add: bool) {
        let p = self.position[i];
        if p == u32::MAX {
            return;
        }
        if add {
            self.count += 1;
        } else {
            self.count -= 1;
        }
        let mut k = p as usize + 1;
        while k < self.tree.len() {
            if add {
                self.tree[k] += 1;
            } else {
                self.tree[k] -= 1;
            }
            k += k & k.wrapping_neg();
        }
    }

    /// The sorted position of the window's `k`-th smallest value (0-based).
    fn kth(&self, k: usize) -> usize {
        let n = self.tree.len() - 1;
        let mut pos = 0;
        let mut rest = k as u32;
        let mut step = n.checked_ilog2().map_or(0, |b| 1usize << b);
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= rest {
                pos = next;
                rest -= self.tree[next];
            }
            step >>= 1;
        }
        pos
    }
}

impl Sliding for QuantileWindow {
    fn enter(&mut self, i: usize) {
        self.update(i, true);
    }
    fn leave(&mut self, i: usize) {
        self.update(i, false);
    }
}

/// `quantile_cont(x, q)` over each frame: DuckDB's interpolation between the values
/// at ranks ⌊q·(n−1)⌋ and ⌈q·(n−1)⌉.
fn quantiles(x: &ArrayRef, q: f64, frames: &[Range<usize>]) -> Result<ArrayRef> {
    let v = cast_array(x, &DataType::Float64)?;
    let (order, position) = sorted_positions(&v)?;
    let sorted = take(v.as_ref(), &order, None)?;
    let sorted = sorted.as_primitive::<Float64Type>().values();
    let mut w = QuantileWindow {
        tree: vec![0; order.len() + 1],
        position,
        count: 0,
    };
    let out: Float64Array = slide(&mut w, frames, |w| {
        if w.count == 0 {
            return None;
        }
        let pos = q * (w.count - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let lo_v = sorted[w.kth(lo)];
        if hi == lo {
            return Some(lo_v);
        }
        let hi_v = sorted[w.kth(hi)];
        Some(lo_v + (pos - lo as f64) * (hi_v - lo_v))
    })
    .into_iter()
    .collect();
    Ok(Arc::new(out))
}

/// A double-double sum that values leave as well as enter, with the non-finite
/// values counted apart.
#[derive(Default)]
struct RemovableSum {
    hi: f64,
    lo: f64,
    pos_inf: u64,
    neg_inf: u64,
    nan: u64,
}

impl RemovableSum {
    fn add(&mut self, x: f64, sign: i64) {
        let counter = if x.is_nan() {
            &mut self.nan
        } else if x == f64::INFINITY {
            &mut self.pos_inf
        } else if x == f64::NEG_INFINITY {
            &mut self.neg_inf
        } else {
            let y = if sign > 0 { x } else { -x };
            let s = self.hi + y;
            let bb = s - self.hi;
            let err = (self.hi - (s - bb)) + (y - bb);
            self.hi = s;
            self.lo += err;
            return;
        };
        if sign > 0 {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    fn value(&self) -> f64 {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            f64::NAN
        } else if self.pos_inf > 0 {
            f64::INFINITY
        } else if self.neg_inf > 0 {
            f64::NEG_INFINITY
        } else {
            self.hi + self.lo
        }
    }
}

/// A count per distinct value in the window, and the sum of the distinct values.
struct DistinctWindow {
    /// Each row's value id (`u32::MAX` for a NULL).
    id: Vec<u32>,
    counts: Vec<u32>,
    distinct: i64,
    /// Per value id, for integer sums.
    ints: Option<Vec<i64>>,
    int_sum: i128,
    /// Per value id, for float sums.
    floats: Option<Vec<f64>>,
    float_sum: RemovableSum,
}

impl DistinctWindow {
    fn update(&mut self, i: usize, sign: i64) {
        let id = self.id[i];
        if id == u32::MAX {
            return;
        }
        let c = &mut self.counts[id as usize];
        let was = *c;
        *c = if sign > 0 { was + 1 } else { was - 1 };
        // A value enters the set on its first copy and leaves with its last.
        if (sign > 0 && was == 0) || (sign < 0 && was == 1) {
            self.distinct += sign;
            if let Some(v) = &self.ints {
                self.int_sum += sign as i128 * v[id as usize] as i128;
            }
            if let Some(v) = &self.floats {
                self.float_sum.add(v[id as usize], sign);
            }
        }
    }
}

impl Sliding for DistinctWindow {
    fn enter(&mut self, i: usize) {
        self.update(i, 1);
    }
    fn leave(&mut self, i: usize) {
        self.update(i, -1);
    }
}

/// `count`/`sum`/`avg(DISTINCT x)` over each frame.
fn distinct(
    func: AggFunc,
    x: &ArrayRef,
    output: &DataType,
    frames: &[Range<usize>],
) -> Result<ArrayRef> {
    let target = match func {
        AggFunc::CountDistinct => crate::expr::value_type(x.data_type()),
        _ => output.clone(),
    };
    let x = canonical_floats(&cast_array(x, &target)?);
    let (order, position) = sorted_positions(&x)?;
    // Equal neighbours in sort order share an id.
    let cmp = make_comparator(x.as_ref(), x.as_ref(), SortOptions::default())?;
    let mut id_of_position = Vec::with_capacity(order.len());
    let mut next = 0u32;
    for (p, &i) in order.values().iter().enumerate() {
        if p > 0 && cmp(order.value(p - 1) as usize, i as usize).is_ne() {
            next += 1;
        }
        id_of_position.push(next);
    }
    let ids = if order.is_empty() {
        0
    } else {
        next as usize + 1
    };
    let id: Vec<u32> = position
        .iter()
        .map(|&p| id_of_position.get(p as usize).copied().unwrap_or(u32::MAX))
        .collect();
    let per_id = |f: &mut dyn FnMut(usize, usize)| {
        for (p, &i) in order.values().iter().enumerate() {
            f(id_of_position[p] as usize, i as usize);
        }
    };
    let (mut ints, mut floats) = (None, None);
    if func != AggFunc::CountDistinct {
        if x.data_type() == &DataType::Int64 {
            let a = x.as_primitive::<Int64Type>();
            let mut v = vec![0i64; ids];
            per_id(&mut |d, i| v[d] = a.value(i));
            ints = Some(v);
        } else {
            let a = x.as_primitive::<Float64Type>();
            let mut v = vec![0f64; ids];
            per_id(&mut |d, i| v[d] = a.value(i));
            floats = Some(v);
        }
    }
    let mut w = DistinctWindow {
        id,
        counts: vec![0; ids],
        distinct: 0,
        ints,
        int_sum: 0,
        floats,
        float_sum: RemovableSum::default(),
    };
    Ok(match func {
        AggFunc::CountDistinct => Arc::new(Int64Array::from(slide(&mut w, frames, |w| w.distinct))),
        AggFunc::SumDistinct if w.ints.is_some() => {
            let sums = slide(&mut w, frames, |w| (w.distinct > 0).then_some(w.int_sum));
            let mut out = Int64Builder::with_capacity(sums.len());
            for s in sums {
                match s {
                    None => out.append_null(),
                    Some(s) => out.append_value(i64::try_from(s).map_err(|_| {
                        Error::InvalidInput(format!(
                            "sum(DISTINCT) over a window overflows Int64 ({s})"
                        ))
                    })?),
                }
            }
            Arc::new(out.finish())
        }
        _ => {
            let mean = func == AggFunc::MeanDistinct;
            let out: Float64Array = slide(&mut w, frames, |w| {
                (w.distinct > 0).then(|| {
                    let s = w.float_sum.value();
                    if mean {
                        s / w.distinct as f64
                    } else {
                        s
                    }
                })
            })
            .into_iter()
            .collect();
            Arc::new(out)
        }
    })
}

/// Any aggregate over each frame, by the hash aggregate's accumulators: each distinct
/// frame is one group.
fn per_frame(
    func: AggFunc,
    args: &[ArrayRef],
    output: &DataType,
    frames: &[Range<usize>],
) -> Result<ArrayRef> {
    let first = args[0].data_type().clone();
    let inputs = args
        .iter()
        .enumerate()
        .map(|(i, a)| match arg_input_type(func, i, &first) {
            Some(t) => cast_array(a, &t),
            None => Ok(Arc::clone(a)),
        })
        .collect::<Result<Vec<_>>>()?;
    // Rows with the same frame as the row before share its group.
    let mut unique: Vec<Range<usize>> = vec![];
    let mut group_of = Vec::with_capacity(frames.len());
    for f in frames {
        if unique.last() != Some(f) {
            unique.push(f.clone());
        }
        group_of.push(unique.len() as u32 - 1);
    }
    let mut parts = vec![];
    let mut i = 0;
    while i < unique.len() {
        let mut width = 0;
        let mut j = i;
        while j < unique.len() && (j == i || width + unique[j].len() <= GATHER_ROWS) {
            width += unique[j].len();
            j += 1;
        }
        let mut rows = Vec::with_capacity(width);
        let mut ids = Vec::with_capacity(width);
        for (g, f) in unique[i..j].iter().enumerate() {
            rows.extend(f.clone().map(|r| r as u32));
            ids.extend(std::iter::repeat_n(g as u32, f.len()));
        }
        let rows = UInt32Array::from(rows);
        let gathered = inputs
            .iter()
            .map(|a| Ok(take(a.as_ref(), &rows, None)?))
            .collect::<Result<Vec<_>>>()?;
        let order: Vec<i64> = rows.values().iter().map(|&r| r as i64).collect();
        let mut acc = create_accumulator(func, &input_type(func, &first), output)?;
        acc.update(&gathered, &ids, j - i, &order)?;
        parts.push(acc.evaluate()?);
        i = j;
    }
    let values = match parts.len() {
        0 => arrow::array::new_empty_array(output),
        1 => parts.remove(0),
        _ => concat(&parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>())?,
    };
    let values = cast_array(&values, output)?;
    Ok(take(values.as_ref(), &UInt32Array::from(group_of), None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    /// Brute force over each frame, for the sliding paths.
    #[test]
    fn sliding_quantiles_and_distinct_counts_equal_each_frame_by_itself() {
        let x = ints(&[
            Some(5),
            None,
            Some(3),
            Some(5),
            Some(-2),
            Some(3),
            Some(9),
            None,
            Some(5),
            Some(0),
        ]);
        let n = x.len();
        // Running, sliding, shrinking to the end, a jump, and empty frames.
        let frames: Vec<Range<usize>> = vec![
            0..1,
            0..3,
            1..4,
            2..6,
            2..6,
            4..9,
            9..10,
            10..10,
            3..3,
            0..n,
        ];
        let values = |f: &Range<usize>| -> Vec<i64> {
            let a = x.as_primitive::<Int64Type>();
            f.clone()
                .filter(|&i| a.is_valid(i))
                .map(|i| a.value(i))
                .collect()
        };
        let run = |f: AggFunc| holistic_aggregate(f, std::slice::from_ref(&x), 0, &frames).unwrap();
        let median = run(AggFunc::Median);
        let q1 = run(AggFunc::quantile(0.25).unwrap());
        let count = run(AggFunc::CountDistinct);
        let sum = run(AggFunc::SumDistinct);
        let mean = run(AggFunc::MeanDistinct);
        for (k, f) in frames.iter().enumerate() {
            let mut v = values(f);
            v.sort();
            let quantile = |q: f64| {
                (!v.is_empty()).then(|| {
                    let pos = q * (v.len() - 1) as f64;
                    let (lo, hi) = (v[pos.floor() as usize], v[pos.ceil() as usize]);
                    lo as f64 + (pos - pos.floor()) * (hi - lo) as f64
                })
            };
            let f64_at = |a: &ArrayRef| {
                let a = a.as_primitive::<Float64Type>();
                a.is_valid(k).then(|| a.value(k))
            };
            assert_eq!(f64_at(&median), quantile(0.5), "median of {f:?}");
            assert_eq!(f64_at(&q1), quantile(0.25), "quantile 0.25 of {f:?}");
            let mut d = v.clone();
            d.dedup();
            let c = count.as_primitive::<Int64Type>();
            assert_eq!(c.value(k), d.len() as i64, "count distinct of {f:?}");
            let s = sum.as_primitive::<Int64Type>();
            let want = (!d.is_empty()).then(|| d.iter().sum::<i64>());
            assert_eq!(
                s.is_valid(k).then(|| s.value(k)),
                want,
                "sum distinct of {f:?}"
            );
            let want = want.map(|s| s as f64 / d.len() as f64);
            assert_eq!(f64_at(&mean), want, "avg distinct of {f:?}");
        }
    }

    #[test]
    fn per_frame_aggregates_use_the_accumulators() {
        let arg = ints(&[Some(10), Some(20), Some(30), Some(40)]);
        let val = ints(&[Some(3), Some(7), None, Some(1)]);
        let frames = [0..2, 0..4, 1..4, 2..3];
        let got = holistic_aggregate(
            AggFunc::ArgMax,
            &[arg, val],
            100,
            &[100..102, 100..104, 101..104, 102..103],
        )
        .unwrap();
        let got = got.as_primitive::<Int64Type>();
        let want = [Some(20), Some(20), Some(20), None];
        for (k, w) in want.iter().enumerate() {
            assert_eq!(got.is_valid(k).then(|| got.value(k)), *w, "{:?}", frames[k]);
        }
        // A frame outside the buffer is an internal error, not a wrong answer.
        let x = ints(&[Some(1)]);
        let outside = [Range { start: 0, end: 6 }];
        assert!(holistic_aggregate(AggFunc::Median, &[x], 5, &outside).is_err());
    }
}
