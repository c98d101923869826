//! Window fuzz: every window function over every frame kind floe runs (ROWS, RANGE
//! with peers or value offsets, GROUPS), on random partitions with ordering ties and
//! NULLs, against a naive reference (sort each partition, then evaluate every row's
//! frame by brute force). Each data set runs at
//! three budgets: unlimited (no spill), medium with spilling forced and small chunks,
//! and tiny without forcing, where one partition is far larger than the budget (the
//! sort and the window's two-pass partition spill on their own). After every run the
//! pool is back at zero and the spill dir is empty.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use floe::prelude::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One input row: id (unique), g (partition key, NULLs), o (order key, ties and
/// NULLs), v (value, NULLs).
#[derive(Clone, Copy, Debug)]
struct Row {
    id: i64,
    g: Option<i64>,
    o: Option<i64>,
    v: Option<i64>,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `groups == 0`: no partition key values at all (g NULL everywhere, one partition).
fn rows(seed: u64, n: usize, groups: u64, order_domain: u64) -> Vec<Row> {
    let mut r = Rng(seed);
    (0..n)
        .map(|i| {
            let g = if groups == 0 || r.below(50) == 0 {
                None
            } else {
                Some(r.below(groups) as i64)
            };
            let o = (r.below(10) != 0).then(|| r.below(order_domain) as i64);
            let v = (r.below(6) != 0).then(|| r.below(2001) as i64 - 1000);
            Row {
                id: i as i64,
                g,
                o,
                v,
            }
        })
        .collect()
}

fn batches(rows: &[Row], per_batch: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("g", DataType::Int64, true),
        Field::new("o", DataType::Int64, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let out = rows
        .chunks(per_batch)
        .map(|c| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter_values(c.iter().map(|r| r.id))),
                    Arc::new(Int64Array::from_iter(c.iter().map(|r| r.g))),
                    Arc::new(Int64Array::from_iter(c.iter().map(|r| r.o))),
                    Arc::new(Int64Array::from_iter(c.iter().map(|r| r.v))),
                ],
            )
            .unwrap()
        })
        .collect();
    (schema, out)
}

/// A frame bound, in rows relative to the current row or the partition's ends.
#[derive(Clone, Copy)]
enum Bound {
    UnboundedPreceding,
    Preceding(usize),
    CurrentRow,
    Following(usize),
    UnboundedFollowing,
}

#[derive(Clone, Copy)]
enum Frame {
    Rows(Bound, Bound),
    /// RANGE from the partition's start to the current row's last peer (the default
    /// with ORDER BY).
    RangeToPeers,
    /// RANGE from the current row's first peer to the partition's end.
    RangeFromPeers,
    /// RANGE with value offsets (`Preceding(k)`: the order key k before the row's).
    RangeValues(Bound, Bound),
    /// GROUPS: offsets count peer groups.
    Groups(Bound, Bound),
}

impl Frame {
    fn sql(self) -> String {
        let b = |b: Bound| match b {
            Bound::UnboundedPreceding => "UNBOUNDED PRECEDING".to_string(),
            Bound::Preceding(n) => format!("{n} PRECEDING"),
            Bound::CurrentRow => "CURRENT ROW".to_string(),
            Bound::Following(n) => format!("{n} FOLLOWING"),
            Bound::UnboundedFollowing => "UNBOUNDED FOLLOWING".to_string(),
        };
        match self {
            Frame::Rows(s, e) => format!("ROWS BETWEEN {} AND {}", b(s), b(e)),
            Frame::RangeToPeers => String::new(),
            Frame::RangeFromPeers => "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING".into(),
            Frame::RangeValues(s, e) => format!("RANGE BETWEEN {} AND {}", b(s), b(e)),
            Frame::Groups(s, e) => format!("GROUPS BETWEEN {} AND {}", b(s), b(e)),
        }
    }

    /// The frame of the row at `i` in a sorted partition of `n` rows whose peer group
    /// spans `peers`, as a half-open range (empty when it is).
    fn rows(self, i: usize, part: &[Row], order: Order, peers: (usize, usize)) -> (usize, usize) {
        let n = part.len();
        let at = |b: Bound| -> i64 {
            match b {
                Bound::UnboundedPreceding => 0,
                Bound::Preceding(k) => i as i64 - k as i64,
                Bound::CurrentRow => i as i64,
                Bound::Following(k) => i as i64 + k as i64,
                Bound::UnboundedFollowing => n as i64 - 1,
            }
        };
        let (lo, hi) = match self {
            Frame::Rows(s, e) => (at(s), at(e) + 1),
            Frame::RangeToPeers => (0, peers.1 as i64),
            Frame::RangeFromPeers => (peers.0 as i64, n as i64),
            Frame::RangeValues(s, e) => {
                let (lo, hi) = value_frame(i, part, order, peers, s, e);
                (lo as i64, hi as i64)
            }
            Frame::Groups(s, e) => {
                // Peer groups by brute force: where the order key changes.
                let same = |a: &Row, b: &Row| match order {
                    Order::Total => false,
                    Order::None => true,
                    Order::PeersDesc | Order::PeersAsc => a.o == b.o,
                };
                let starts: Vec<usize> = (0..n)
                    .filter(|&t| t == 0 || !same(&part[t - 1], &part[t]))
                    .collect();
                let g = starts.iter().rposition(|&s| s <= i).unwrap_or(0) as i64;
                let count = starts.len() as i64;
                let start_of = |h: i64| -> i64 {
                    if h < 0 {
                        0
                    } else if h >= count {
                        n as i64
                    } else {
                        starts[h as usize] as i64
                    }
                };
                let end_of = |h: i64| -> i64 {
                    if h < 0 {
                        0
                    } else {
                        start_of(h + 1)
                    }
                };
                let lo = match s {
                    Bound::UnboundedPreceding => 0,
                    Bound::Preceding(k) => start_of((g - k as i64).max(0)),
                    Bound::CurrentRow => start_of(g),
                    Bound::Following(k) => start_of(g + k as i64),
                    Bound::UnboundedFollowing => n as i64,
                };
                let hi = match e {
                    Bound::UnboundedPreceding => 0,
                    Bound::Preceding(k) => end_of(g - k as i64),
                    Bound::CurrentRow => end_of(g),
                    Bound::Following(k) => end_of((g + k as i64).min(count - 1)),
                    Bound::UnboundedFollowing => n as i64,
                };
                (lo, hi)
            }
        };
        let lo = lo.clamp(0, n as i64) as usize;
        let hi = hi.clamp(0, n as i64) as usize;
        (lo, hi.max(lo))
    }
}

/// A RANGE frame with value offsets, as DuckDB defines it: a row with a NULL key
/// frames its peers (NULLs); for the others, an offset bound is searched among the
/// rows with a key (an edge of that stretch when no row qualifies), and UNBOUNDED
/// reaches the partition's ends, NULLs included.
fn value_frame(
    i: usize,
    part: &[Row],
    order: Order,
    peers: (usize, usize),
    s: Bound,
    e: Bound,
) -> (usize, usize) {
    let n = part.len();
    let Some(x) = part[i].o else {
        let lo = if matches!(s, Bound::UnboundedPreceding) {
            0
        } else {
            peers.0
        };
        let hi = if matches!(e, Bound::UnboundedFollowing) {
            n
        } else {
            peers.1
        };
        return (lo, hi);
    };
    // Position along the window's order; the rows with a key are `rs..re`.
    let pos = |v: i64| if order == Order::PeersDesc { -v } else { v };
    let (rs, re) = if order == Order::PeersDesc {
        (part.partition_point(|r| r.o.is_none()), n)
    } else {
        (0, part.partition_point(|r| r.o.is_some()))
    };
    let keyed = &part[rs..re];
    let first = |ok: &dyn Fn(i64) -> bool| rs + keyed.partition_point(|r| !ok(pos(r.o.unwrap())));
    let target = |b: Bound| match b {
        Bound::Preceding(k) => pos(x) - k as i64,
        Bound::Following(k) => pos(x) + k as i64,
        _ => unreachable!(),
    };
    let lo = match s {
        Bound::UnboundedPreceding => 0,
        Bound::CurrentRow => peers.0,
        b => first(&|p| p >= target(b)),
    };
    let hi = match e {
        Bound::UnboundedFollowing => n,
        Bound::CurrentRow => peers.1,
        b => first(&|p| p > target(b)),
    };
    (lo, hi.max(lo))
}

/// What a call computes, for the reference.
#[derive(Clone, Copy)]
enum Func {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    Ntile(usize),
    /// lag/lead by a signed offset (negative looks back), with a default.
    Shift(i64, Option<i64>),
    /// The same, IGNORE NULLS: the offset counts non-NULL values only.
    ShiftNonNull(i64),
    /// first_value / last_value IGNORE NULLS.
    FirstNonNull,
    LastNonNull,
    First,
    Last,
    Nth(usize),
    /// nth_value IGNORE NULLS: the k-th non-NULL value of the frame.
    NthNonNull(usize),
    Sum,
    Count,
    CountStar,
    Avg,
    Min,
    Max,
    Std,
    Var,
    StdPop,
    VarPop,
    /// The holistic aggregates: each frame's rows themselves.
    CountDistinct,
    SumDistinct,
    AvgDistinct,
    /// quantile_cont by its fraction (median is 0.5).
    Quantile(f64),
    /// `arg_max(id, v * 100000 + id)`: the id of the row with the largest v (ties
    /// broken by id, so the answer is unique).
    ArgMax,
    /// any_value(v): the first non-NULL v of the frame.
    AnyValue,
}

/// The order a call's window uses.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Order {
    /// `o NULLS LAST, id`: no ties, so ROWS frames and value functions are exact.
    Total,
    /// `o DESC NULLS FIRST`: ties, for peer-aware functions.
    PeersDesc,
    /// `o` (ascending, NULLs last): ties.
    PeersAsc,
    /// No ORDER BY: every row is a peer of every other.
    None,
}

struct Call {
    sql: String,
    func: Func,
    order: Order,
    frame: Frame,
    partitioned: bool,
}

impl Call {
    /// Whether the call's answer needs its frame's rows themselves (no running state).
    fn holistic(&self) -> bool {
        matches!(
            self.func,
            Func::CountDistinct
                | Func::SumDistinct
                | Func::AvgDistinct
                | Func::Quantile(_)
                | Func::ArgMax
                | Func::AnyValue
        )
    }

    /// Whether the call holds its whole partition in memory (IGNORE NULLS: how far
    /// the k-th non-NULL value lies depends on the data; a holistic aggregate over
    /// any frame but ROWS offsets).
    fn holds_partition(&self) -> bool {
        let offset = |b: Bound| {
            matches!(
                b,
                Bound::Preceding(_) | Bound::CurrentRow | Bound::Following(_)
            )
        };
        let holistic = self.holistic();
        let rows_offsets = matches!(self.frame, Frame::Rows(s, e) if offset(s) && offset(e));
        matches!(
            self.func,
            Func::ShiftNonNull(_) | Func::FirstNonNull | Func::LastNonNull | Func::NthNonNull(_)
        ) || matches!(self.frame, Frame::Groups(..))
            || (holistic && !rows_offsets)
    }
}

fn calls() -> Vec<Call> {
    use Bound::*;
    let mut out = Vec::new();
    let over = |partitioned: bool, order: Order, frame: Frame| {
        let mut parts = Vec::new();
        if partitioned {
            parts.push("PARTITION BY g".to_string());
        }
        match order {
            Order::Total => parts.push("ORDER BY o NULLS LAST, id".into()),
            Order::PeersDesc => parts.push("ORDER BY o DESC NULLS FIRST".into()),
            Order::PeersAsc => parts.push("ORDER BY o".into()),
            Order::None => {}
        }
        let f = frame.sql();
        if !f.is_empty() {
            parts.push(f);
        }
        format!("OVER ({})", parts.join(" "))
    };
    for partitioned in [true, false] {
        let default = Frame::RangeToPeers;
        for (text, func, order) in [
            ("row_number()", Func::RowNumber, Order::Total),
            ("rank()", Func::Rank, Order::PeersDesc),
            ("dense_rank()", Func::DenseRank, Order::PeersDesc),
            ("percent_rank()", Func::PercentRank, Order::PeersDesc),
            ("cume_dist()", Func::CumeDist, Order::PeersDesc),
            ("ntile(3)", Func::Ntile(3), Order::Total),
            ("lag(v)", Func::Shift(-1, None), Order::Total),
            ("lag(v, 2, 0)", Func::Shift(-2, Some(0)), Order::Total),
            ("lead(v, 3)", Func::Shift(3, None), Order::Total),
            (
                "lag(v, 2) IGNORE NULLS",
                Func::ShiftNonNull(-2),
                Order::Total,
            ),
            ("lead(v) IGNORE NULLS", Func::ShiftNonNull(1), Order::Total),
            ("rank()", Func::Rank, Order::None),
        ] {
            out.push(Call {
                sql: format!("{text} {}", over(partitioned, order, default)),
                func,
                order,
                frame: default,
                partitioned,
            });
        }
        let frames = [
            (Frame::Rows(Preceding(3), CurrentRow), Order::Total),
            (Frame::Rows(Preceding(2), Following(2)), Order::Total),
            (Frame::Rows(UnboundedPreceding, Preceding(1)), Order::Total),
            (Frame::Rows(Following(1), Following(3)), Order::Total),
            (Frame::Rows(CurrentRow, UnboundedFollowing), Order::Total),
            (
                Frame::Rows(UnboundedPreceding, UnboundedFollowing),
                Order::Total,
            ),
            (Frame::RangeToPeers, Order::PeersDesc),
            (Frame::RangeFromPeers, Order::PeersDesc),
            (Frame::RangeToPeers, Order::None),
            (
                Frame::RangeValues(Preceding(3), CurrentRow),
                Order::PeersAsc,
            ),
            (
                Frame::RangeValues(Preceding(2), Following(2)),
                Order::PeersDesc,
            ),
            (
                Frame::RangeValues(Following(1), Following(4)),
                Order::PeersAsc,
            ),
            (
                Frame::RangeValues(UnboundedPreceding, Preceding(2)),
                Order::PeersDesc,
            ),
            (
                Frame::RangeValues(Preceding(5), UnboundedFollowing),
                Order::PeersAsc,
            ),
            (
                Frame::RangeValues(CurrentRow, Following(3)),
                Order::PeersDesc,
            ),
            (Frame::Groups(Preceding(1), CurrentRow), Order::PeersDesc),
            (Frame::Groups(Preceding(2), Following(1)), Order::PeersAsc),
            (
                Frame::Groups(Following(1), UnboundedFollowing),
                Order::PeersAsc,
            ),
            (
                Frame::Groups(UnboundedPreceding, Preceding(1)),
                Order::PeersDesc,
            ),
            (Frame::Groups(Preceding(2), Following(2)), Order::Total),
        ];
        for (k, (frame, order)) in frames.into_iter().enumerate() {
            for (text, func) in [
                ("first_value(v)", Func::First),
                ("last_value(v)", Func::Last),
                ("first_value(v) IGNORE NULLS", Func::FirstNonNull),
                ("last_value(v) IGNORE NULLS", Func::LastNonNull),
                ("nth_value(v, 2)", Func::Nth(2)),
                ("nth_value(v, 2) IGNORE NULLS", Func::NthNonNull(2)),
                ("sum(v)", Func::Sum),
                ("count(v)", Func::Count),
                ("count(*)", Func::CountStar),
                ("avg(v)", Func::Avg),
                ("min(v)", Func::Min),
                ("max(v)", Func::Max),
                ("stddev(v)", Func::Std),
                ("var_samp(v)", Func::Var),
                ("stddev_pop(v)", Func::StdPop),
                ("var_pop(v)", Func::VarPop),
                ("count(DISTINCT v)", Func::CountDistinct),
                ("sum(DISTINCT v)", Func::SumDistinct),
                ("avg(DISTINCT v)", Func::AvgDistinct),
                ("median(v)", Func::Quantile(0.5)),
                ("quantile_cont(v, 0.25)", Func::Quantile(0.25)),
                ("arg_max(id, v * 100000 + id)", Func::ArgMax),
                ("any_value(v)", Func::AnyValue),
            ] {
                // Value functions over ties would depend on the order among peers.
                if order != Order::Total
                    && matches!(
                        func,
                        Func::First
                            | Func::Last
                            | Func::Nth(_)
                            | Func::NthNonNull(_)
                            | Func::FirstNonNull
                            | Func::LastNonNull
                            | Func::AnyValue
                    )
                {
                    continue;
                }
                // A value start to the partition's end holds the partition for min/max
                // (and fails over budget); the tiny-budget run has one partition.
                let value_to_end = matches!(
                    frame,
                    Frame::RangeValues(Preceding(_) | Following(_), UnboundedFollowing)
                );
                if value_to_end && matches!(func, Func::Min | Func::Max) {
                    continue;
                }
                // The holistic aggregates over every other frame kind, and over both
                // ROWS frames with offsets at both ends (they stream).
                let call = Call {
                    sql: format!("{text} {}", over(partitioned, order, frame)),
                    func,
                    order,
                    frame,
                    partitioned,
                };
                if call.holistic() && k % 2 == 1 && k != 1 {
                    continue;
                }
                out.push(call);
            }
        }
    }
    out
}

fn cmp_o_nulls_last(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// Rows sorted into a call's partitions and order, and where each id landed.
struct Layout {
    parts: Vec<Vec<Row>>,
    /// By partition and position: the row's peer group, as a half-open range.
    peers: Vec<Vec<(usize, usize)>>,
    /// By id: (partition, position in it).
    at: Vec<(usize, usize)>,
}

fn peer_cmp(order: Order, a: &Row, b: &Row) -> Ordering {
    match order {
        Order::Total => cmp_o_nulls_last(a.o, b.o).then(a.id.cmp(&b.id)),
        // DESC NULLS FIRST is the reverse of ASC NULLS LAST.
        Order::PeersDesc => cmp_o_nulls_last(b.o, a.o),
        Order::PeersAsc => cmp_o_nulls_last(a.o, b.o),
        Order::None => Ordering::Equal,
    }
}

fn layout(rows: &[Row], partitioned: bool, order: Order) -> Layout {
    let mut by_key: std::collections::BTreeMap<Option<i64>, Vec<Row>> = Default::default();
    for r in rows {
        by_key
            .entry(if partitioned { r.g } else { None })
            .or_default()
            .push(*r);
    }
    let mut at = vec![(0, 0); rows.len()];
    let parts: Vec<Vec<Row>> = by_key
        .into_values()
        .enumerate()
        .map(|(p, mut part)| {
            part.sort_by(|a, b| peer_cmp(order, a, b).then(a.id.cmp(&b.id)));
            for (i, r) in part.iter().enumerate() {
                at[r.id as usize] = (p, i);
            }
            part
        })
        .collect();
    let peers = parts
        .iter()
        .map(|part| {
            let mut out = vec![(0, 0); part.len()];
            let mut start = 0;
            for i in 0..=part.len() {
                let ends = i == part.len()
                    || (i > 0 && peer_cmp(order, &part[i - 1], &part[i]) != Ordering::Equal);
                if ends && i > start {
                    out[start..i].fill((start, i));
                    start = i;
                }
            }
            out
        })
        .collect();
    Layout { parts, peers, at }
}

/// The answer of `call` for the row `id`, by brute force over its sorted partition.
fn reference(layout: &Layout, call: &Call, id: usize) -> Option<f64> {
    let (p, i) = layout.at[id];
    let part = &layout.parts[p];
    let n = part.len();
    let (first_peer, end_peer) = layout.peers[p][i];
    let (lo, hi) = call.frame.rows(i, part, call.order, (first_peer, end_peer));
    let frame = &part[lo..hi];
    let values = frame.iter().filter_map(|r| r.v);
    match call.func {
        Func::RowNumber => Some((i + 1) as f64),
        Func::Rank => Some((first_peer + 1) as f64),
        Func::DenseRank => {
            let groups = (1..=first_peer).filter(|&j| layout.peers[p][j].0 == j);
            Some((1 + groups.count()) as f64)
        }
        Func::PercentRank => Some(if n == 1 {
            0.0
        } else {
            first_peer as f64 / (n - 1) as f64
        }),
        Func::CumeDist => Some(end_peer as f64 / n as f64),
        Func::Ntile(k) => {
            let small = n / k;
            let large = n % k;
            let in_large = large * (small + 1);
            Some(if i < in_large {
                1 + i / (small + 1)
            } else {
                1 + large + (i - in_large) / small
            } as f64)
        }
        Func::Shift(by, default) => {
            let j = i as i64 + by;
            if j < 0 || j >= n as i64 {
                default.map(|d| d as f64)
            } else {
                part[j as usize].v.map(|x| x as f64)
            }
        }
        Func::ShiftNonNull(by) => {
            let k = by.unsigned_abs() as usize;
            let found = if by < 0 {
                part[..i].iter().rev().filter_map(|r| r.v).nth(k - 1)
            } else {
                part[i + 1..].iter().filter_map(|r| r.v).nth(k - 1)
            };
            found.map(|x| x as f64)
        }
        Func::FirstNonNull => frame.iter().find_map(|r| r.v).map(|x| x as f64),
        Func::LastNonNull => frame.iter().rev().find_map(|r| r.v).map(|x| x as f64),
        Func::First => frame.first().and_then(|r| r.v).map(|x| x as f64),
        Func::Last => frame.last().and_then(|r| r.v).map(|x| x as f64),
        Func::Nth(k) => frame.get(k - 1).and_then(|r| r.v).map(|x| x as f64),
        Func::NthNonNull(k) => frame
            .iter()
            .filter_map(|r| r.v)
            .nth(k - 1)
            .map(|x| x as f64),
        Func::Sum => values.map(|x| x as f64).reduce(|a, b| a + b),
        Func::Count => Some(values.count() as f64),
        Func::CountStar => Some(frame.len() as f64),
        Func::Avg => {
            let xs: Vec<f64> = values.map(|x| x as f64).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        }
        Func::Std | Func::Var | Func::StdPop | Func::VarPop => {
            let xs: Vec<f64> = values.map(|x| x as f64).collect();
            let n = xs.len() as f64;
            let population = matches!(call.func, Func::StdPop | Func::VarPop);
            (xs.len() >= 2 - population as usize).then(|| {
                let mean = xs.iter().sum::<f64>() / n;
                let divisor = if population { n } else { n - 1.0 };
                let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / divisor;
                if matches!(call.func, Func::Std | Func::StdPop) {
                    var.sqrt()
                } else {
                    var
                }
            })
        }
        Func::Min => values.min().map(|x| x as f64),
        Func::Max => values.max().map(|x| x as f64),
        Func::CountDistinct | Func::SumDistinct | Func::AvgDistinct => {
            let set: std::collections::BTreeSet<i64> = values.collect();
            let sum = set.iter().sum::<i64>() as f64;
            match call.func {
                Func::CountDistinct => Some(set.len() as f64),
                _ if set.is_empty() => None,
                Func::SumDistinct => Some(sum),
                _ => Some(sum / set.len() as f64),
            }
        }
        Func::Quantile(q) => {
            let mut xs: Vec<i64> = values.collect();
            xs.sort();
            (!xs.is_empty()).then(|| {
                let pos = q * (xs.len() - 1) as f64;
                let (lo, hi) = (xs[pos.floor() as usize], xs[pos.ceil() as usize]);
                lo as f64 + (pos - pos.floor()) * (hi - lo) as f64
            })
        }
        Func::ArgMax => (frame.iter())
            .filter_map(|r| r.v.map(|v| (v * 100_000 + r.id, r.id)))
            .max()
            .map(|(_, id)| id as f64),
        Func::AnyValue => values.map(|x| x as f64).next(),
    }
}

fn column_f64(batch: &RecordBatch, i: usize) -> Float64Array {
    cast(batch.column(i), &DataType::Float64)
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .clone()
}

/// Runs `calls` in one SELECT and returns the answers, one vector per call, by id.
fn run(
    session: &Session,
    schema: &Arc<Schema>,
    input: &[RecordBatch],
    calls: &[Call],
) -> Vec<Vec<Option<f64>>> {
    let frame = DataFrame::new(Arc::clone(schema), input.to_vec()).lazy(session);
    session.register("t", &frame).unwrap();
    let list: Vec<String> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS c{i}", c.sql))
        .collect();
    let sql = format!("SELECT id, {} FROM t", list.join(", "));
    // Written to Parquet and read back outside floe: a collected result would be
    // held in memory, and the tiny budget is far smaller than it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    session
        .sql(&sql)
        .and_then(|f| f.sink_parquet(&path, ParquetSinkOptions::default()))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let n: usize = input.iter().map(|b| b.num_rows()).sum();
    let mut out = vec![vec![None; n]; calls.len()];
    let mut seen = 0;
    for batch in reader {
        let batch = batch.unwrap();
        seen += batch.num_rows();
        let ids = column_f64(&batch, 0);
        for (c, answers) in out.iter_mut().enumerate() {
            let col = column_f64(&batch, c + 1);
            for r in 0..batch.num_rows() {
                answers[ids.value(r) as usize] = col.is_valid(r).then(|| col.value(r));
            }
        }
    }
    assert_eq!(seen, n, "{sql}: row count");
    out
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// The reference answers of `calls` for the rows in `sample` (ids): by call, by sample.
fn expected(rows: &[Row], calls: &[Call], sample: &[usize]) -> Vec<Vec<Option<f64>>> {
    let mut layouts: Vec<((bool, u8), Layout)> = Vec::new();
    calls
        .iter()
        .map(|call| {
            let key = (call.partitioned, call.order as u8);
            if !layouts.iter().any(|(k, _)| *k == key) {
                layouts.push((key, layout(rows, call.partitioned, call.order)));
            }
            let l = &layouts.iter().find(|(k, _)| *k == key).unwrap().1;
            sample.iter().map(|&id| reference(l, call, id)).collect()
        })
        .collect()
}

fn check(
    rows: &[Row],
    calls: &[Call],
    want: &[Vec<Option<f64>>],
    got: &[Vec<Option<f64>>],
    sample: &[usize],
    what: &str,
) {
    for ((call, want), answers) in calls.iter().zip(want).zip(got) {
        for (&id, &w) in sample.iter().zip(want) {
            let g = answers[id];
            assert!(
                same(w, g),
                "{what}: {} at id {id} ({:?}): want {w:?}, got {g:?}",
                call.sql,
                rows[id]
            );
        }
    }
}

struct Budget {
    name: &'static str,
    limit: Option<usize>,
    chunk_rows: usize,
    force: bool,
    expect_spill: bool,
}

fn session(b: &Budget, dir: &std::path::Path) -> Session {
    let mut s = Session::builder()
        .threads(2)
        .chunk_rows(b.chunk_rows)
        .force_spill(b.force)
        .spill_dir(dir);
    if let Some(limit) = b.limit {
        s = s.memory_limit_bytes(limit);
    }
    s.build().unwrap()
}

/// `streaming_only`: leave out the calls that hold their partition (the budgets
/// include one far smaller than the one partition).
fn fuzz(
    seed: u64,
    n: usize,
    groups: u64,
    order_domain: u64,
    budgets: &[Budget],
    streaming_only: bool,
) {
    let rows = rows(seed, n, groups, order_domain);
    let (schema, input) = batches(&rows, 173);
    // Every row of small sets; of large ones (whose brute force is quadratic) the
    // first and last rows and a stride through the middle.
    let sample: Vec<usize> = (0..n)
        .filter(|&i| n <= 3000 || i < 300 || i + 300 >= n || i % 41 == 0)
        .collect();
    let mut all: Vec<Call> = (calls().into_iter())
        // The 1 MiB run keeps to the calls it was sized for: the population
        // variants compute as the sample ones do, and are checked at the other budgets.
        .filter(|c| {
            !(streaming_only
                && (c.holds_partition() || matches!(c.func, Func::StdPop | Func::VarPop)))
        })
        .collect();
    // The holistic aggregates go last, in SELECTs of their own.
    all.sort_by_key(|c| c.holistic());
    let want = expected(&rows, &all, &sample);
    for b in budgets {
        // Several SELECTs, so that each holds a manageable number of calls.
        for (part, want) in all.chunks(24).zip(want.chunks(24)) {
            let dir = tempfile::tempdir().unwrap();
            let s = session(b, dir.path());
            let got = run(&s, &schema, &input, part);
            let what = format!("seed {seed} n {n} groups {groups} budget {}", b.name);
            check(&rows, part, want, &got, &sample, &what);
            let spilled = s.spilled().0 > 0;
            assert_eq!(spilled, b.expect_spill, "{what}: spilled {spilled}");
            assert_eq!(s.memory_pool().used(), 0, "{what}: pool back to zero");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{what}: spill dir not empty: {left:?}");
        }
    }
}

const UNLIMITED: Budget = Budget {
    name: "unlimited",
    limit: None,
    chunk_rows: 4096,
    force: false,
    expect_spill: false,
};

#[test]
fn windows_match_brute_force_unlimited_and_forced() {
    let budgets = [
        UNLIMITED,
        Budget {
            name: "medium forced, 7-row chunks",
            limit: Some(8 << 20),
            chunk_rows: 7,
            force: true,
            expect_spill: true,
        },
        Budget {
            name: "medium forced, 100-row chunks",
            limit: Some(8 << 20),
            chunk_rows: 100,
            force: true,
            expect_spill: true,
        },
    ];
    // Many small partitions; a few large ones; one partition (no g values).
    fuzz(1, 900, 40, 20, &budgets, false);
    fuzz(2, 1500, 3, 6, &budgets, false);
    fuzz(3, 1200, 0, 50, &budgets, false);
}

/// One partition far larger than the budget, spilling not forced: the sort spills
/// its runs and the window streams the partition, writing it to a spill file first
/// for the calls that need its end.
#[test]
fn one_partition_larger_than_memory_streams() {
    let budgets = [
        UNLIMITED,
        Budget {
            name: "tiny",
            limit: Some(1 << 20),
            chunk_rows: 256,
            force: false,
            expect_spill: true,
        },
    ];
    fuzz(4, 30_000, 0, 3000, &budgets, true);
}

/// Runs `sql` and returns its rows as sorted `(id, g, o)` triples.
fn triples(
    session: &Session,
    schema: &Arc<Schema>,
    input: &[RecordBatch],
    sql: &str,
) -> Vec<(i64, Option<i64>, Option<i64>)> {
    let frame = DataFrame::new(Arc::clone(schema), input.to_vec()).lazy(session);
    session.register("t", &frame).unwrap();
    let got = session
        .sql(sql)
        .and_then(|f| f.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = vec![];
    for b in got.batches() {
        let col = |i: usize| column_f64(b, i);
        let (id, g, o) = (col(0), col(1), col(2));
        for r in 0..b.num_rows() {
            let opt = |a: &Float64Array| a.is_valid(r).then(|| a.value(r) as i64);
            out.push((id.value(r) as i64, opt(&g), opt(&o)));
        }
    }
    out.sort();
    out
}

/// Top-k per partition: a filter or QUALIFY bounding row_number/rank drops, before
/// the window's sort, rows that cannot rank within k. The answers equal a brute-force
/// ranking, and the same queries with the bound hidden from the planner (`r + 0`),
/// at an unlimited budget and at a small one (where 2000 partitions make the
/// pre-filter give up).
#[test]
fn top_k_per_partition_matches_brute_force() {
    for (seed, groups) in [(5u64, 40u64), (6, 2000), (7, 0)] {
        let rows = rows(seed, 3000, groups, 20);
        let (schema, input) = batches(&rows, 173);
        let layout = layout(&rows, true, Order::PeersDesc);
        // By id: the row's rank in its partition by o DESC NULLS FIRST.
        let mut rank = vec![0usize; rows.len()];
        for (p, part) in layout.parts.iter().enumerate() {
            for (i, r) in part.iter().enumerate() {
                rank[r.id as usize] = layout.peers[p][i].0 + 1;
            }
        }
        let over = "OVER (PARTITION BY g ORDER BY o DESC NULLS FIRST)";
        let sel = |f: &str, cond: &str| {
            format!("SELECT id, g, o FROM (SELECT id, g, o, {f} {over} AS r FROM t) WHERE {cond}")
        };
        let ranked = |keep: &dyn Fn(usize) -> bool| {
            let mut v: Vec<_> = (rows.iter())
                .filter(|r| keep(rank[r.id as usize]))
                .map(|r| (r.id, r.g, r.o))
                .collect();
            v.sort();
            v
        };
        // row_number among ties is arbitrary: compare (g, o) multisets.
        let keys = |v: Vec<(i64, Option<i64>, Option<i64>)>| {
            let mut k: Vec<_> = v.into_iter().map(|(_, g, o)| (g, o)).collect();
            k.sort();
            k
        };
        let mut numbered: Vec<(Option<i64>, Option<i64>)> = vec![];
        for part in &layout.parts {
            numbered.extend(part.iter().take(3).map(|r| (r.g, r.o)));
        }
        numbered.sort();
        for (name, limit) in [("unlimited", None), ("small", Some(512usize << 10))] {
            let dir = tempfile::tempdir().unwrap();
            let mut b = Session::builder()
                .threads(2)
                .chunk_rows(100)
                .spill_dir(dir.path());
            if let Some(l) = limit {
                b = b.memory_limit_bytes(l);
            }
            let s = b.build().unwrap();
            let what = format!("seed {seed} groups {groups} {name}");
            for cond in ["r <= 3", "r < 4", "3 >= r", "r + 0 <= 3"] {
                let got = triples(&s, &schema, &input, &sel("rank()", cond));
                assert_eq!(got, ranked(&|r| r <= 3), "{what}: rank() {cond}");
                let got = triples(&s, &schema, &input, &sel("row_number()", cond));
                assert_eq!(keys(got), numbered, "{what}: row_number() {cond}");
            }
            for cond in ["r = 1", "r + 0 = 1"] {
                let got = triples(&s, &schema, &input, &sel("rank()", cond));
                assert_eq!(got, ranked(&|r| r == 1), "{what}: rank() {cond}");
            }
            let q = format!("SELECT id, g, o FROM t QUALIFY rank() {over} <= 2");
            assert_eq!(
                triples(&s, &schema, &input, &q),
                ranked(&|r| r <= 2),
                "{what}: QUALIFY"
            );
            assert_eq!(s.memory_pool().used(), 0, "{what}: pool back to zero");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{what}: spill dir not empty: {left:?}");
        }
    }
}

/// The pre-filter's second pass: with enough rows that its pending survivors pass the
/// compaction threshold (20,000 partitions of 20 rows, one worker), the rows kept by
/// row_number/rank ≤ 2 equal those of the same query with the bound hidden from the
/// planner (`r + 0`: no pre-filter), unlimited and at a budget small enough to spill.
#[test]
fn top_k_per_partition_filters_again_as_survivors_pile_up() {
    let rows = rows(8, 400_000, 20_000, 1_000_000);
    let (schema, input) = batches(&rows, 4096);
    let over = "OVER (PARTITION BY g ORDER BY o DESC NULLS FIRST)";
    for limit in [None, Some(16usize << 20)] {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Session::builder().threads(1).spill_dir(dir.path());
        if let Some(l) = limit {
            b = b.memory_limit_bytes(l);
        }
        let s = b.build().unwrap();
        for f in ["rank()", "row_number()"] {
            let sel = |cond: &str| {
                format!(
                    "SELECT id, g, o FROM (SELECT id, g, o, {f} {over} AS r FROM t) WHERE {cond}"
                )
            };
            let frame = DataFrame::new(Arc::clone(&schema), input.clone()).lazy(&s);
            s.register("t", &frame).unwrap();
            let plan = s.sql(&sel("r <= 2")).unwrap().explain().unwrap();
            assert!(plan.contains("top 2 per partition"), "{plan}");
            let on = triples(&s, &schema, &input, &sel("r <= 2"));
            let off = triples(&s, &schema, &input, &sel("r + 0 <= 2"));
            if f == "rank()" {
                assert_eq!(on, off, "{f} at {limit:?}");
            } else {
                // row_number among ties is arbitrary: compare (g, o) multisets.
                let keys = |v: &[(i64, Option<i64>, Option<i64>)]| {
                    let mut k: Vec<_> = v.iter().map(|&(_, g, o)| (g, o)).collect();
                    k.sort();
                    k
                };
                assert_eq!(keys(&on), keys(&off), "{f} at {limit:?}");
            }
        }
        assert_eq!(s.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}
