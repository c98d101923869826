//! How far around a row each window call looks ([`Reach`]), from its function and
//! frame: the rows before and after it, its peer group, the partition's first rows or
//! its end (row count, totals), or RANGE value bounds. `partition.rs` slides its buffer
//! by the union over a spec's calls; a call with no reach (a non-literal offset, IGNORE
//! NULLS, min/max/nth_value from a value offset to the end, a holistic aggregate such
//! as `median` over any frame but ROWS offsets) holds its partition.
//!
//! Memory: none; this is analysis of the plan.

use super::holistic::is_holistic;
use super::suffix_best::SUFFIX_BLOCK_ROWS;
use super::WindowSpec;
use crate::expr::scalar::ScalarValue;
use crate::expr::window::{FrameBound, FrameUnits, WindowCall, WindowFrame, WindowFunc};
use crate::expr::{AggFunc, Expr};

/// How far around a row its answer looks, to evaluate it before the partition ends.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Reach {
    /// Rows before the row.
    pub(super) before: usize,
    /// Rows after the row.
    pub(super) after: usize,
    /// The row's peer group from its start.
    pub(super) peer_start: bool,
    /// The row's peer group to its end.
    pub(super) peer_end: bool,
    /// The partition's first rows (`first_value`, `nth_value` from its start).
    pub(super) head: usize,
    /// The partition's row count or whole aggregate.
    pub(super) facts: bool,
    /// A RANGE value offset at the frame's start: rows back to where it starts.
    pub(super) value_start: bool,
    /// A RANGE value offset at the frame's end: rows up to a row past it.
    pub(super) value_end: bool,
}

impl Reach {
    fn union(self, o: Reach) -> Reach {
        Reach {
            before: self.before.max(o.before),
            after: self.after.max(o.after),
            peer_start: self.peer_start || o.peer_start,
            peer_end: self.peer_end || o.peer_end,
            head: self.head.max(o.head),
            facts: self.facts || o.facts,
            value_start: self.value_start || o.value_start,
            value_end: self.value_end || o.value_end,
        }
    }
}

/// A call's frame as evaluated: without ORDER BY every row is a peer of every other,
/// so RANGE ... CURRENT ROW reaches the partition's ends.
pub(super) fn effective_frame(call: &WindowCall, ordered: bool) -> WindowFrame {
    let mut f = call.frame;
    if !ordered && f.units == FrameUnits::Range {
        if f.start == FrameBound::CurrentRow {
            f.start = FrameBound::UnboundedPreceding;
        }
        if f.end == FrameBound::CurrentRow {
            f.end = FrameBound::UnboundedFollowing;
        }
    }
    f
}

/// A literal integer argument.
fn literal_int(call: &WindowCall, i: usize, default: i64) -> Option<i64> {
    match call.args.get(i) {
        None => Some(default),
        Some(Expr::Literal(ScalarValue::Int64(v))) => Some(*v),
        _ => None,
    }
}

fn offset(k: u64) -> Option<usize> {
    usize::try_from(k).ok()
}

/// The reach of a call, or `None` when it needs the whole partition in memory: a
/// frame to the partition's end that starts at a RANGE value offset, for min/max and
/// nth_value; a non-literal offset; IGNORE NULLS.
fn reach_of(call: &WindowCall, frame: &WindowFrame) -> Option<Reach> {
    use WindowFunc::*;
    // How far the k-th non-NULL value, or the n-th peer group, lies depends on the data.
    if call.ignore_nulls || frame.units == FrameUnits::Groups {
        return None;
    }
    // A holistic aggregate reads its frame's rows themselves: only a frame a fixed
    // number of rows around the row streams.
    if let Aggregate(f) = call.func {
        let rows_offset = |b: FrameBound| {
            matches!(
                b,
                FrameBound::Preceding(_) | FrameBound::CurrentRow | FrameBound::Following(_)
            )
        };
        if is_holistic(f)
            && !(frame.units == FrameUnits::Rows
                && rows_offset(frame.start)
                && rows_offset(frame.end))
        {
            return None;
        }
    }
    let mut r = Reach::default();
    match call.func {
        RowNumber | Rank | DenseRank => {}
        PercentRank | Ntile => r.facts = true,
        CumeDist => {
            r.facts = true;
            r.peer_end = true;
        }
        Lag | Lead => {
            let k = literal_int(call, 1, 1)?;
            let shift = if call.func == Lag { -k } else { k };
            let n = usize::try_from(shift.unsigned_abs()).ok()?;
            if shift < 0 {
                r.before = n;
            } else {
                r.after = n;
            }
        }
        FirstValue | LastValue | NthValue | Aggregate(_) => {
            match frame.start {
                FrameBound::UnboundedPreceding => {
                    r.head = match call.func {
                        FirstValue => 1,
                        NthValue => usize::try_from(literal_int(call, 1, 1)?.max(1)).ok()?,
                        _ => 0,
                    };
                    r.before = r.head;
                }
                FrameBound::Preceding(k) => r.before = offset(k)?,
                FrameBound::CurrentRow if frame.units == FrameUnits::Range => r.peer_start = true,
                FrameBound::CurrentRow => {}
                FrameBound::Following(k) => r.after = offset(k)?,
                FrameBound::UnboundedFollowing => r.facts = true,
                FrameBound::ValuePreceding | FrameBound::ValueFollowing => {
                    // NULL keys' frames are their peer group.
                    r.value_start = true;
                    r.peer_start = true;
                }
            }
            let r_end = match frame.end {
                FrameBound::UnboundedPreceding => Reach::default(),
                FrameBound::Preceding(k) => Reach {
                    before: offset(k)?,
                    ..Reach::default()
                },
                FrameBound::CurrentRow if frame.units == FrameUnits::Range => Reach {
                    peer_end: true,
                    ..Reach::default()
                },
                FrameBound::CurrentRow => Reach::default(),
                FrameBound::Following(k) => Reach {
                    after: offset(k)?,
                    ..Reach::default()
                },
                FrameBound::ValuePreceding | FrameBound::ValueFollowing => Reach {
                    value_end: true,
                    peer_end: true,
                    ..Reach::default()
                },
                FrameBound::UnboundedFollowing => {
                    let from_start = frame.start == FrameBound::UnboundedPreceding;
                    // A value start to the end: min/max and nth_value would need the
                    // rows past a start that is not a row count away.
                    if frame.start.is_value()
                        && matches!(call.func, NthValue | Aggregate(AggFunc::Min | AggFunc::Max))
                    {
                        return None;
                    }
                    // A later start: nth_value reads k - 1 rows past it; min/max the
                    // rest of its block (the blocks after it are in the facts).
                    let past_start = match call.func {
                        _ if from_start => 0,
                        NthValue => usize::try_from(literal_int(call, 1, 1)?.max(1) - 1).ok()?,
                        Aggregate(AggFunc::Min | AggFunc::Max) => SUFFIX_BLOCK_ROWS,
                        _ => 0,
                    };
                    Reach {
                        facts: true,
                        after: r.after.checked_add(past_start)?,
                        ..Reach::default()
                    }
                }
            };
            r = r.union(r_end);
        }
    }
    Some(r)
}

/// What a window spec's calls reach together, or `None` when one needs the whole
/// partition in memory.
pub(super) fn spec_reach(spec: &WindowSpec) -> Option<Reach> {
    let ordered = !spec.order_by.is_empty();
    spec.calls.iter().try_fold(Reach::default(), |acc, call| {
        Some(acc.union(reach_of(call, &effective_frame(call, ordered))?))
    })
}

/// Whether a spec's calls can run over a partition larger than memory: in one pass
/// (`Some(false)`), in two passes over the spilled partition (`Some(true)`), or not
/// at all (`None`).
pub(super) fn needs_two_passes(spec: &WindowSpec) -> Option<bool> {
    spec_reach(spec).map(|r| r.facts)
}

/// A description of what keeps a spec's calls from running over a partition larger
/// than memory.
pub(super) fn whole_partition_construct(spec: &WindowSpec) -> String {
    let ordered = !spec.order_by.is_empty();
    spec.calls
        .iter()
        .find(|c| reach_of(c, &effective_frame(c, ordered)).is_none())
        .map(|c| c.to_string())
        .unwrap_or_default()
}
