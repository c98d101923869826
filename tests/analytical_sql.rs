//! Window functions, GROUPING SETS / CUBE / ROLLUP and INTERSECT / EXCEPT against
//! naive references computed here, in memory and under forced spills with tiny
//! budgets (the pool back at zero and the spill dir empty afterwards).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::prelude::*;

const ROWS: usize = 12_000;

type Row = (Option<String>, i64, Option<i64>);

/// A CUBE group: (a, b) with the left-out keys NULL.
type GroupKey = (Option<String>, Option<i64>);
/// count(*), sum(w), count(a), min(w), max(w).
type Totals = (i64, Option<i64>, i64, Option<i64>, Option<i64>);

/// Deterministic rows `a` (strings with NULLs), `b` (a small int domain), `w` (ints
/// with NULLs).
fn data() -> (Arc<Schema>, RecordBatch, Vec<Row>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int64, false),
        Field::new("w", DataType::Int64, true),
    ]));
    let mut s = 11u64;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let rows: Vec<Row> = (0..ROWS)
        .map(|_| {
            let a = match next(300) {
                0..=9 => None,
                x => Some(format!("a{}", x % 150)),
            };
            let b = next(30) as i64;
            let w = (next(8) != 0).then(|| next(1000) as i64 - 300);
            (a, b, w)
        })
        .collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    (schema, batch, rows)
}

fn text<T: ToString>(v: Option<T>) -> String {
    v.map_or("null".to_string(), |x| x.to_string())
}

/// Every row of `df` as strings, sorted.
fn rows_of(df: &DataFrame) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("null");
    let mut out = vec![];
    for b in df.batches() {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out.sort();
    out
}

const CUBE: &str = "SELECT a, b, grouping(a, b) AS g, count(*) AS n, sum(w) AS s, count(a) AS ca, \
                    min(w) AS mn, max(w) AS mx FROM t GROUP BY CUBE (a, b)";

/// CUBE (a, b) by brute force: each of the four sets grouped separately.
fn naive_cube(rows: &[Row]) -> Vec<Vec<String>> {
    let mut out = vec![];
    for (keep_a, keep_b) in [(true, true), (true, false), (false, true), (false, false)] {
        let g = (!keep_a as i64) * 2 + (!keep_b as i64);
        let mut groups: BTreeMap<GroupKey, Totals> = BTreeMap::new();
        for (a, b, w) in rows {
            let key = (if keep_a { a.clone() } else { None }, keep_b.then_some(*b));
            let e = groups.entry(key).or_insert((0, None, 0, None, None));
            e.0 += 1;
            if let Some(w) = *w {
                e.1 = Some(e.1.unwrap_or(0) + w);
                e.3 = Some(e.3.map_or(w, |m: i64| m.min(w)));
                e.4 = Some(e.4.map_or(w, |m: i64| m.max(w)));
            }
            e.2 += a.is_some() as i64;
        }
        for ((a, b), (n, s, ca, mn, mx)) in groups {
            out.push(vec![
                text(a),
                text(b),
                g.to_string(),
                n.to_string(),
                text(s),
                ca.to_string(),
                text(mn),
                text(mx),
            ]);
        }
    }
    out.sort();
    out
}

/// The distinct (a, b) of rows whose `w` passes `keep` (NULLs equal, as in SQL sets).
fn pairs(rows: &[Row], keep: impl Fn(i64) -> bool) -> BTreeSet<(Option<String>, i64)> {
    rows.iter()
        .filter(|r| r.2.is_some_and(&keep))
        .map(|r| (r.0.clone(), r.1))
        .collect()
}

fn as_rows(set: impl IntoIterator<Item = (Option<String>, i64)>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = set
        .into_iter()
        .map(|(a, b)| vec![text(a), b.to_string()])
        .collect();
    out.sort();
    out
}

/// Row numbers, a sliding sum and partition sizes; `id` (the row's position) makes
/// the order total, so the ROWS frame is well defined.
const WINDOWS: &str = "SELECT id, row_number() OVER (PARTITION BY a ORDER BY b, id) AS rn, \
     sum(w) OVER (PARTITION BY a ORDER BY b, id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s3, \
     count(*) OVER (PARTITION BY a) AS n, \
     max(w) OVER (PARTITION BY a ORDER BY b, id) AS running_max FROM t";

/// A row of a partition in window order: (b, id, w).
type Ordered = (i64, usize, Option<i64>);

/// [`WINDOWS`] by brute force: sort each partition, then look back.
fn naive_windows(rows: &[Row]) -> Vec<Vec<String>> {
    let mut parts: BTreeMap<Option<String>, Vec<Ordered>> = BTreeMap::new();
    for (id, (a, b, w)) in rows.iter().enumerate() {
        parts.entry(a.clone()).or_default().push((*b, id, *w));
    }
    let mut out = vec![];
    for (_, mut part) in parts {
        part.sort();
        for (i, (_, id, _)) in part.iter().enumerate() {
            let frame = &part[i.saturating_sub(2)..=i];
            let s3 = frame
                .iter()
                .filter_map(|r| r.2)
                .fold(None, |acc: Option<i64>, x| Some(acc.unwrap_or(0) + x));
            let running_max = part[..=i].iter().filter_map(|r| r.2).max();
            out.push(vec![
                id.to_string(),
                (i + 1).to_string(),
                text(s3),
                part.len().to_string(),
                text(running_max),
            ]);
        }
    }
    out.sort();
    out
}

const INTERSECT: &str =
    "SELECT a, b FROM t WHERE w > 200 INTERSECT SELECT a, b FROM t WHERE w < 400";
const EXCEPT: &str = "SELECT a, b FROM t WHERE w > 200 EXCEPT SELECT a, b FROM t WHERE w < 400";

fn run(session: &Session, schema: &Arc<Schema>, batch: &RecordBatch, sql: &str) -> DataFrame {
    let frame = DataFrame::new(Arc::clone(schema), vec![batch.clone()]).lazy(session);
    session.register("t", &frame).unwrap();
    session
        .sql(sql)
        .and_then(|f| f.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn expected(rows: &[Row]) -> Vec<(&'static str, Vec<Vec<String>>)> {
    let (l, r) = (pairs(rows, |w| w > 200), pairs(rows, |w| w < 400));
    vec![
        (CUBE, naive_cube(rows)),
        (INTERSECT, as_rows(l.intersection(&r).cloned())),
        (EXCEPT, as_rows(l.difference(&r).cloned())),
    ]
}

/// The window's sort spills runs (forced, at several chunk sizes); each partition is
/// then evaluated in memory.
#[test]
fn windows_match_naive_reference_in_memory_and_with_spilled_sorts() {
    let (schema, batch, rows) = data();
    let want = naive_windows(&rows);
    let unlimited = Session::builder()
        .threads(2)
        .force_spill(false)
        .build()
        .unwrap();
    assert_eq!(rows_of(&run(&unlimited, &schema, &batch, WINDOWS)), want);
    assert_eq!(unlimited.spilled().0, 0, "the unlimited run must not spill");
    for &(limit, chunk) in &[(2usize << 20, 7usize), (4 << 20, 1000)] {
        let spill_dir = tempfile::tempdir().unwrap();
        let session = Session::builder()
            .threads(2)
            .memory_limit_bytes(limit)
            .chunk_rows(chunk)
            .force_spill(true)
            .spill_dir(spill_dir.path())
            .build()
            .unwrap();
        let got = rows_of(&run(&session, &schema, &batch, WINDOWS));
        assert_eq!(got, want, "limit {limit} chunk {chunk}");
        assert!(
            session.spilled().0 > 0,
            "limit {limit} chunk {chunk}: expected a spill"
        );
        assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

#[test]
fn grouping_sets_and_set_operations_match_naive_references() {
    let (schema, batch, rows) = data();
    let session = Session::builder()
        .threads(2)
        .force_spill(false)
        .build()
        .unwrap();
    for (sql, want) in expected(&rows) {
        assert!(!want.is_empty(), "{sql}: the reference is empty");
        assert_eq!(rows_of(&run(&session, &schema, &batch, sql)), want, "{sql}");
    }
    assert_eq!(session.memory_pool().used(), 0);
    assert_eq!(session.spilled().0, 0, "the unlimited run must not spill");
}

#[test]
fn grouping_sets_and_set_operations_spill_with_tiny_budgets() {
    let (schema, batch, rows) = data();
    let expected = expected(&rows);
    for &(limit, chunk, force) in &[(300usize << 10, 7usize, false), (1 << 20, 1000, true)] {
        let spill_dir = tempfile::tempdir().unwrap();
        let session = Session::builder()
            .threads(2)
            .memory_limit_bytes(limit)
            .chunk_rows(chunk)
            .force_spill(force)
            .spill_dir(spill_dir.path())
            .build()
            .unwrap();
        for (sql, want) in &expected {
            let before = session.spilled().0;
            let got = rows_of(&run(&session, &schema, &batch, sql));
            assert_eq!(&got, want, "limit {limit} chunk {chunk}: {sql}");
            assert!(
                session.spilled().0 > before,
                "limit {limit} chunk {chunk} force {force}: expected a spill for {sql}"
            );
        }
        assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

/// A ROLLUP over keys from a 30-row dimension joined to `t` is pre-aggregated (the
/// input grouped by both keys first, then the groups expanded); with a distinct count
/// beside it, which does not combine, the rows themselves are expanded. Both give the
/// same sums, counts, extremes and averages (integer sums this small are exact either
/// way), in memory and forced to spill.
#[test]
fn rollup_is_the_same_with_and_without_pre_aggregation() {
    let (schema, batch, _) = data();
    let dim: Vec<String> = (0..30).map(|b| format!("({b}, 'd{}')", b % 7)).collect();
    let from = format!(
        "FROM t JOIN (VALUES {}) AS d(b2, label) ON t.b = d.b2",
        dim.join(", ")
    );
    let aggs = "count(*) AS n, sum(w) AS s, count(w) AS cw, min(w) AS mn, max(w) AS mx, \
                avg(w) AS av, avg(b) AS ab";
    let on = format!("SELECT label, b2, {aggs} {from} GROUP BY ROLLUP (label, b2)");
    let off = format!(
        "SELECT label, b2, n, s, cw, mn, mx, av, ab FROM (SELECT label, b2, {aggs}, \
         count(DISTINCT w) AS d {from} GROUP BY ROLLUP (label, b2))"
    );
    for force in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::builder()
            .threads(2)
            .memory_limit_bytes(if force { 1 << 20 } else { 256 << 20 })
            .chunk_rows(500)
            .force_spill(force)
            .spill_dir(dir.path())
            .build()
            .unwrap();
        let (on_rows, off_rows) = (
            rows_of(&run(&session, &schema, &batch, &on)),
            rows_of(&run(&session, &schema, &batch, &off)),
        );
        let aggregates = |sql: &str| {
            let plan = session.sql(sql).unwrap().explain().unwrap();
            let logical = plan
                .split("Pipelines:")
                .next()
                .unwrap_or_default()
                .to_string();
            logical
                .lines()
                .filter(|l| l.trim_start().starts_with("Aggregate:"))
                .count()
        };
        assert_eq!(aggregates(&on), 2, "pre-aggregated");
        assert_eq!(aggregates(&off), 1, "expanded rows");
        // 30 (label, b2) groups, 7 labels and the grand total.
        assert_eq!(on_rows.len(), 38);
        assert_eq!(on_rows, off_rows, "force_spill {force}");
        assert_eq!(
            session.spilled().0 > 0,
            force,
            "force_spill {force}: spilled?"
        );
        assert_eq!(session.memory_pool().used(), 0);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

/// `grouping()` tells the NULL of a rolled-up key from a NULL in the data.
#[test]
fn rollup_keeps_data_nulls_apart() {
    let (schema, batch, rows) = data();
    let session = Session::builder().threads(2).build().unwrap();
    let df = run(
        &session,
        &schema,
        &batch,
        "SELECT a, grouping(a) AS g, count(*) AS n FROM t GROUP BY ROLLUP (a) \
         HAVING a IS NULL",
    );
    let data_nulls = rows.iter().filter(|r| r.0.is_none()).count();
    assert!(data_nulls > 0);
    assert_eq!(
        rows_of(&df),
        vec![
            vec!["null".to_string(), "0".into(), data_nulls.to_string()],
            vec!["null".to_string(), "1".into(), ROWS.to_string()],
        ]
    );
}

/// A partition larger than the window's memory is a clear error naming the operator
/// (partitions are evaluated in memory), never a wrong answer or a crash.
/// One partition (no PARTITION BY) far larger than the budget streams through the
/// window; a call that needs the whole partition in memory (a non-literal offset)
/// gives the right answer when the partition fits, or fails with a clear error
/// naming it.
#[test]
fn a_partition_larger_than_memory_streams_or_is_a_clear_error() {
    let (schema, batch, rows) = data();
    let spill_dir = tempfile::tempdir().unwrap();
    let session = Session::builder()
        .threads(2)
        .memory_limit_bytes(1 << 20)
        .chunk_rows(500)
        .spill_dir(spill_dir.path())
        .build()
        .unwrap();
    let frame = DataFrame::new(Arc::clone(&schema), vec![batch]).lazy(&session);
    session.register("t", &frame).unwrap();
    // A checksum of max over the rest of the partition, so that the result is small.
    let got = session
        .sql(
            "SELECT sum((id % 97 + 1) * m) FROM (SELECT id, max(w) OVER (ORDER BY id \
             ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS m FROM t)",
        )
        .and_then(|f| f.collect())
        .unwrap();
    let mut want = 0i64;
    for (id, _) in rows.iter().enumerate() {
        if let Some(m) = rows[id + 1..].iter().filter_map(|r| r.2).max() {
            want += (id as i64 % 97 + 1) * m;
        }
    }
    assert_eq!(rows_of(&got), vec![vec![want.to_string()]]);
    assert!(session.spilled().0 > 0, "expected a spill");

    // Whether this partition fits depends on how small the sort's batches are (they
    // are sized to the budget): either the right answer or the clear error.
    let got = session
        .sql("SELECT id, lag(w, b - b + 2) OVER (ORDER BY id) FROM t")
        .and_then(|f| f.collect());
    match got {
        Ok(df) => {
            let mut want: Vec<Vec<String>> = (0..rows.len())
                .map(|id| {
                    let lag = id
                        .checked_sub(2)
                        .and_then(|i| rows[i].2)
                        .map_or("null".to_string(), |v| v.to_string());
                    vec![id.to_string(), lag]
                })
                .collect();
            want.sort();
            assert_eq!(rows_of(&df), want);
        }
        Err(Error::ResourcesExhausted { operator, .. }) => {
            assert!(
                operator.contains("Window") && operator.contains("lag("),
                "{operator}"
            )
        }
        Err(other) => panic!("expected the answer or ResourcesExhausted, got {other}"),
    }
    assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
    let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "spill dir not empty: {left:?}");
}

/// stddev / variance over sliding frames of values far from zero with a small spread:
/// the sums of squares are ~10¹⁸ per row, so `Σx² − (Σx)²/n` in doubles would keep
/// no correct digit; each frame {10⁹, 10⁹+1, 10⁹+2} has variance 1 exactly.
#[test]
fn window_variance_keeps_its_digits_far_from_zero() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
    ]));
    let n = 10_000i64;
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(arrow::array::Float64Array::from_iter_values(
                (0..n).map(|i| 1e9 + (i % 3) as f64),
            )),
        ],
    )
    .unwrap();
    let session = Session::builder().threads(2).build().unwrap();
    let got = run(
        &session,
        &schema,
        &batch,
        "SELECT i, stddev(x) OVER w, var_samp(x) OVER w FROM t \
         WINDOW w AS (ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) ORDER BY i",
    );
    let mut seen = 0;
    for b in got.batches() {
        let i = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        for c in 1..=2 {
            let v = b
                .column(c)
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap();
            for r in 0..b.num_rows() {
                match i.value(r) {
                    0 => assert!(v.is_null(r), "one value has no sample variance"),
                    1 => assert!(
                        (v.value(r) - if c == 1 { 0.5f64.sqrt() } else { 0.5 }).abs() < 1e-6
                    ),
                    _ => assert!(
                        (v.value(r) - 1.0).abs() < 1e-6,
                        "row {}: {}",
                        i.value(r),
                        v.value(r)
                    ),
                }
            }
        }
        seen += b.num_rows();
    }
    assert_eq!(seen, n as usize);
}

/// RANGE offsets that cannot be evaluated and GROUPS without ORDER BY are plan-time
/// errors naming the frame; IGNORE NULLS on a ranking function is `NotSupported`.
#[test]
fn window_frame_mistakes_are_clear_errors() {
    let (schema, batch, _) = data();
    let session = Session::builder().build().unwrap();
    let frame = DataFrame::new(Arc::clone(&schema), vec![batch]).lazy(&session);
    session.register("t", &frame).unwrap();
    let err = |sql: &str| match session.sql(sql).and_then(|f| f.collect()) {
        Ok(_) => panic!("{sql}: expected an error"),
        Err(e) => e,
    };
    let two_keys = err("SELECT sum(w) OVER (ORDER BY id, w RANGE 2 PRECEDING) FROM t");
    assert!(
        matches!(&two_keys, Error::Plan(m) if m.contains("exactly one ORDER BY key")),
        "{two_keys}"
    );
    let negative =
        err("SELECT sum(w) OVER (ORDER BY id RANGE BETWEEN -2 PRECEDING AND CURRENT ROW) FROM t");
    assert!(negative.to_string().contains("-2"), "{negative}");
    let groups = err("SELECT sum(w) OVER (PARTITION BY a GROUPS 2 PRECEDING) FROM t");
    assert!(
        matches!(&groups, Error::Plan(m) if m.contains("GROUPS frame needs ORDER BY")),
        "{groups}"
    );
    let ntile = err("SELECT ntile(2) IGNORE NULLS OVER (ORDER BY id) FROM t");
    assert!(
        matches!(&ntile, Error::NotSupported(m) if m.contains("IGNORE NULLS")),
        "{ntile}"
    );
}

/// A default session, spilling when the test command forces it.
fn env_session() -> Session {
    Session::builder()
        .force_spill(std::env::var("FLOE_FORCE_SPILL").is_ok())
        .build()
        .unwrap()
}

/// nth_value IGNORE NULLS takes the k-th non-NULL row of each frame. Expected values
/// from DuckDB 2.0.1 (`nth_value(v, 2 IGNORE NULLS) OVER ..`, its spelling; NULL as
/// `null`).
#[test]
fn nth_value_ignore_nulls_matches_duckdb() {
    let session = env_session();
    let df = session
        .sql(
            "SELECT g, t,
               nth_value(v, 2) IGNORE NULLS OVER (PARTITION BY g ORDER BY t) AS a,
               nth_value(v, 2) IGNORE NULLS OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING) AS b,
               nth_value(v, 1) IGNORE NULLS OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS c,
               nth_value(v, 3) OVER (PARTITION BY g ORDER BY t) AS d
             FROM (VALUES (1, 1, NULL), (1, 2, 10), (1, 3, NULL), (1, 4, 30), (1, 5, 40),
                          (1, 6, NULL), (2, 1, 5), (2, 2, NULL), (2, 3, NULL), (2, 4, 8)) x(g, t, v)
             ORDER BY g, t",
        )
        .unwrap()
        .collect()
        .unwrap();
    let got: Vec<String> = rows_of(&df).iter().map(|r| r[2..].join(",")).collect();
    // DuckDB's own spelling, inside the parentheses, gives the same rows.
    let spelled = session
        .sql(
            "SELECT g, t,
               nth_value(v, 2 IGNORE NULLS) OVER (PARTITION BY g ORDER BY t) AS a,
               nth_value(v, 2 IGNORE NULLS) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING) AS b,
               nth_value(v, 1 IGNORE NULLS) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS c,
               nth_value(v, 3) OVER (PARTITION BY g ORDER BY t) AS d
             FROM (VALUES (1, 1, NULL), (1, 2, 10), (1, 3, NULL), (1, 4, 30), (1, 5, 40),
                          (1, 6, NULL), (2, 1, 5), (2, 2, NULL), (2, 3, NULL), (2, 4, 8)) x(g, t, v)",
        )
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(rows_of(&spelled), rows_of(&df));
    let duckdb = [
        "null,null,10,null",
        "null,30,10,null",
        "null,30,10,null",
        "30,40,10,null",
        "30,40,10,null",
        "30,null,10,null",
        "null,null,5,null",
        "null,8,5,null",
        "null,null,5,null",
        "8,null,5,null",
    ];
    assert_eq!(got, duckdb);
}

/// GROUPS frames count peer groups. Expected rows from DuckDB 2.0.1 on the same query
/// (ties, NULL keys, a descending key, empty frames, no PARTITION BY).
#[test]
fn groups_frames_match_duckdb() {
    let session = env_session();
    let df = session
        .sql(
            "SELECT g, t, v,
               sum(v) OVER (PARTITION BY g ORDER BY t GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) AS a,
               count(*) OVER (PARTITION BY g ORDER BY t GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS b,
               min(v) OVER (PARTITION BY g ORDER BY t DESC GROUPS BETWEEN 2 PRECEDING AND 1 PRECEDING) AS c,
               max(v) OVER (PARTITION BY g ORDER BY t GROUPS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS d,
               first_value(v) OVER (PARTITION BY g ORDER BY t GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS e,
               avg(v) OVER (ORDER BY t NULLS FIRST GROUPS 2 PRECEDING) AS f
             FROM (VALUES (1, 1, 4), (1, 1, 6), (1, 2, NULL), (1, 3, 30), (1, 3, 31), (1, 3, 32),
                          (1, 5, 40), (2, NULL, 5), (2, NULL, 7), (2, 2, 8), (2, 4, 9), (3, 1, 1)) x(g, t, v)",
        )
        .unwrap()
        .collect()
        .unwrap();
    let got: Vec<String> = rows_of(&df).iter().map(|r| r.join(",")).collect();
    let mut duckdb = vec![
        "1,1,4,10,3,30,40,4,4.6",
        "1,1,6,10,3,30,40,4,4.6",
        "1,2,null,10,4,30,40,4,5.166666666666667",
        "1,3,30,93,4,40,40,null,16.0",
        "1,3,31,93,4,40,40,null,16.0",
        "1,3,32,93,4,40,40,null,16.0",
        "1,5,40,133,1,null,null,30,28.4",
        "2,2,8,8,2,9,9,8,5.166666666666667",
        "2,4,9,17,3,null,7,8,22.0",
        "2,null,5,21,2,8,null,9,6.0",
        "2,null,7,21,2,8,null,9,6.0",
        "3,1,1,1,1,null,null,1,4.6",
    ];
    duckdb.sort();
    assert_eq!(got.len(), duckdb.len());
    for (g, d) in got.iter().zip(&duckdb) {
        let same = g.split(',').zip(d.split(',')).all(|(a, b)| {
            a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if (x - y).abs() < 1e-9)
        });
        assert!(same, "{g} vs DuckDB {d}");
    }
}

/// The holistic aggregates over windows (median, quantile_cont, count/sum(DISTINCT),
/// string_agg with its own order, arg_max over strings, any_value), over whole
/// partitions, running, sliding and RANGE frames. Expected rows from DuckDB 2.0.1 on
/// the same query (NULL as `null`).
#[test]
fn holistic_window_aggregates_match_duckdb() {
    let session = env_session();
    let df = session
        .sql(
            "SELECT g, t,
               median(v) OVER (PARTITION BY g) AS a,
               count(DISTINCT s) OVER (PARTITION BY g ORDER BY t) AS b,
               string_agg(s, '|' ORDER BY t DESC) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS c,
               arg_max(s, v) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS d,
               sum(DISTINCT v) OVER (ORDER BY t RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) AS e,
               quantile_cont(v, 0.75) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS f,
               any_value(v) OVER (PARTITION BY g ORDER BY t
                   ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS h
             FROM (VALUES (1, 1, NULL, 'x'), (1, 2, 10, 'y'), (1, 3, 10, NULL), (1, 4, 30, 'x'),
                          (1, 5, 40, 'z'), (1, 6, NULL, 'y'), (2, 1, 5, 'p'), (2, 2, NULL, 'q'),
                          (2, 3, 7, 'p'), (2, 4, 8, NULL)) x(g, t, v, s)
             ORDER BY g, t",
        )
        .unwrap()
        .collect()
        .unwrap();
    let got: Vec<String> = rows_of(&df).iter().map(|r| r[2..].join(",")).collect();
    let duckdb = [
        "20.0,1,y|x,null,5,null,10",
        "20.0,2,y|x,y,15,10.0,10",
        "20.0,2,x|y,y,17,10.0,10",
        "20.0,2,z|x,x,55,20.0,30",
        "20.0,3,y|z|x,z,78,35.0,40",
        "20.0,3,y|z,z,40,37.5,null",
        "7.0,1,q|p,p,5,5.0,5",
        "7.0,2,p|q|p,p,15,5.0,7",
        "7.0,2,p|q,p,17,6.5,7",
        "7.0,2,p,p,55,7.75,8",
    ];
    assert_eq!(got, duckdb);
}

/// A holistic aggregate over a frame that is not a fixed number of rows around the
/// row holds its partition: over a partition larger than the budget it fails with
/// `ResourcesExhausted` naming the call. Over ROWS offsets it streams the same
/// partition and gives the brute-force answer. A wrong-typed argument is a plan error.
#[test]
fn holistic_window_aggregates_stream_or_name_the_call() {
    let n = 200_000i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let batches: Vec<RecordBatch> = (0..n)
        .step_by(10_000)
        .map(|start| {
            let ids: Vec<i64> = (start..start + 10_000).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids.iter().copied())),
                    Arc::new(Int64Array::from_iter_values(
                        ids.iter().map(|i| i * 7919 % 1000),
                    )),
                    Arc::new(arrow::array::StringArray::from_iter_values(
                        ids.iter().map(|i| format!("s{}", i % 13)),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    let spill_dir = tempfile::tempdir().unwrap();
    let session = Session::builder()
        .memory_limit_bytes(2 << 20)
        .spill_dir(spill_dir.path())
        .build()
        .unwrap();
    let frame = DataFrame::new(Arc::clone(&schema), batches).lazy(&session);
    session.register("t", &frame).unwrap();
    let got = session
        .sql(
            "SELECT sum(m), sum(c) FROM (SELECT
               median(v) OVER (ORDER BY id ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS m,
               count(DISTINCT v % 3) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS c
             FROM t)",
        )
        .and_then(|f| f.collect())
        .unwrap();
    let v = |i: i64| i * 7919 % 1000;
    let (mut m_sum, mut c_sum) = (0f64, 0i64);
    for i in 0..n {
        let mut w: Vec<i64> = ((i - 4).max(0)..=i).map(v).collect();
        w.sort();
        let mid = (w.len() - 1) as f64 / 2.0;
        m_sum += (w[mid.floor() as usize] + w[mid.ceil() as usize]) as f64 / 2.0;
        let mut d: Vec<i64> = ((i - 1).max(0)..=(i + 1).min(n - 1))
            .map(|j| v(j) % 3)
            .collect();
        d.sort();
        d.dedup();
        c_sum += d.len() as i64;
    }
    let row = &rows_of(&got)[0];
    assert_eq!(row[0].parse::<f64>().unwrap(), m_sum, "sum of medians");
    assert_eq!(row[1], c_sum.to_string(), "sum of distinct counts");
    assert!(session.spilled().0 > 0, "expected the sort to spill");

    let held = session
        .sql("SELECT max(x) FROM (SELECT string_agg(s, ',') OVER (ORDER BY id) AS x FROM t)")
        .and_then(|f| f.collect());
    match held {
        Err(Error::ResourcesExhausted { operator, .. }) => {
            assert!(operator.contains("string_agg("), "{operator}")
        }
        Ok(_) => panic!("a running string_agg over 200,000 rows fit 2 MiB"),
        Err(other) => panic!("expected ResourcesExhausted, got {other}"),
    }
    assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
    let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "spill dir not empty: {left:?}");

    let typed = session
        .sql("SELECT median(s) OVER (ORDER BY id) FROM t")
        .and_then(|f| f.explain());
    assert!(
        matches!(&typed, Err(Error::Schema(m)) if m.contains("numeric")),
        "{typed:?}"
    );
}
