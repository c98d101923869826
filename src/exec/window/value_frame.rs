//! RANGE frames with value offsets (`RANGE BETWEEN 3 PRECEDING AND 2 FOLLOWING`,
//! `RANGE INTERVAL 7 DAYS PRECEDING`): where each row's frame starts and ends in the
//! buffer.
//!
//! Algorithm: the planner computes, per row, the order key's value at each value
//! bound (`key - 3`, `key + INTERVAL ..`, mirrored for a descending key), as the
//! call's `start_key`/`end_key`. Over the sorted key those bound values never move
//! backwards, so two pointers find every row's frame in one pass over the buffer: the
//! start is the first row not before the start value, the end the first row past the
//! end value. Rows with a NULL key form their own peer group, which is their frame,
//! and no other frame reaches them (SQL's rule, and DuckDB's). A bound is *found*
//! when the buffer holds a row past it (or the key's non-NULL stretch has visibly
//! ended): only rows whose bounds are found are evaluated before the partition ends,
//! and the buffer keeps rows from the first unevaluated row's start.
//!
//! Memory: two positions and a flag per buffered row, while one chunk is evaluated.

use std::cmp::Ordering;
use std::ops::Range;

use arrow::array::{make_comparator, Array, ArrayRef, RecordBatch};
use arrow::compute::SortOptions;

use super::WindowSpec;
use crate::error::{Error, Result};
use crate::expr::cast::cast_array;
use crate::expr::eval::evaluate;
use crate::expr::window::WindowCall;

/// One call's value-bound frame edges for buffer rows `from..`, in absolute positions.
pub(super) struct ValueFrames {
    pub from: usize,
    pub start: Vec<usize>,
    pub end: Vec<usize>,
    /// Whether both edges are settled by the rows buffered so far.
    pub found: Vec<bool>,
}

impl ValueFrames {
    /// The frame edge of buffer row `j` (which must be at or after `from`).
    pub fn start_of(&self, j: usize) -> usize {
        self.start[j - self.from]
    }
    pub fn end_of(&self, j: usize) -> usize {
        self.end[j - self.from]
    }
}

/// The edges of `call`'s value bounds for buffer rows `from..` of `buf` (its rows
/// `[lo, lo + len)` of the partition; `ended` when the partition's last row is in),
/// with `peers` the buffer's peer groups (NULL keys' frames), or `None` when the call
/// has no value bound.
pub(super) fn value_frames(
    spec: &WindowSpec,
    call: &WindowCall,
    buf: &RecordBatch,
    lo: usize,
    from: usize,
    ended: bool,
    peer_of: &dyn Fn(usize) -> Range<usize>,
) -> Result<Option<ValueFrames>> {
    if call.start_key.is_none() && call.end_key.is_none() {
        return Ok(None);
    }
    let [order] = spec.order_by.as_slice() else {
        return Err(Error::Plan(format!(
            "{call}: a RANGE frame with an offset needs exactly one ORDER BY key"
        )));
    };
    let key = evaluate(&order.expr, buf)?;
    let len = buf.num_rows();
    // The key's non-NULL stretch of the buffer (NULLs sort together at one end).
    let nulls = key.null_count();
    let region = if order.nulls_first {
        nulls..len
    } else {
        0..len - nulls
    };
    // A row past the stretch (a trailing NULL) or the partition's end settles a bound.
    let closed = ended || region.end < len;
    let n = len - from;
    let mut out = ValueFrames {
        from,
        start: vec![0; n],
        end: vec![0; n],
        found: vec![true; n],
    };
    // Key row `t` against bound `j`, in the window's order (Less: `t` comes first).
    let ordering = |bound: &ArrayRef| -> Result<Box<dyn Fn(usize, usize) -> Ordering>> {
        let key = cast_array(&key, bound.data_type())?;
        let cmp = make_comparator(key.as_ref(), bound.as_ref(), SortOptions::default())?;
        let descending = order.descending;
        Ok(Box::new(move |t, j| {
            let o = cmp(t, j);
            if descending {
                o.reverse()
            } else {
                o
            }
        }))
    };
    for (edge, bound_expr) in [(0, &call.start_key), (1, &call.end_key)] {
        let Some(bound_expr) = bound_expr else {
            continue;
        };
        let bound = evaluate(bound_expr, buf)?;
        let cmp = ordering(&bound)?;
        let mut p = region.start;
        for j in from..len {
            let k = j - from;
            let (at, settled) = if key.is_null(j) {
                let g = peer_of(j);
                (if edge == 0 { g.start } else { g.end }, true)
            } else if bound.is_null(j) {
                // The bound overflowed its type: the stretch's edge.
                let e = if edge == 0 { region.start } else { region.end };
                (lo + e, closed)
            } else if edge == 0 {
                // The first row not before the start value.
                while p < region.end && cmp(p, j) == Ordering::Less {
                    p += 1;
                }
                (lo + p, p < region.end || closed)
            } else {
                // The first row past the end value.
                while p < region.end && cmp(p, j) != Ordering::Greater {
                    p += 1;
                }
                (lo + p, p < region.end || closed)
            };
            if edge == 0 {
                out.start[k] = at;
            } else {
                out.end[k] = at;
            }
            out.found[k] &= settled;
        }
    }
    Ok(Some(out))
}
