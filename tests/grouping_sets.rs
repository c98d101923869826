//! GROUPING SETS / CUBE / ROLLUP and INTERSECT / EXCEPT against naive references
//! computed here, in memory and under forced spills with tiny budgets (the pool back
//! at zero and the spill dir empty afterwards).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::prelude::*;

const ROWS: usize = 12_000;

type Row = (Option<String>, i64, Option<i64>);

/// A CUBE group: (a, b) with the left-out keys NULL.
type GroupKey = (Option<String>, Option<i64>);
/// count(*), sum(w), count(a).
type Totals = (i64, Option<i64>, i64);

/// Deterministic rows `a` (strings with NULLs), `b` (a small int domain), `w` (ints
/// with NULLs).
fn data() -> (Arc<Schema>, RecordBatch, Vec<Row>) {
    let schema = Arc::new(Schema::new(vec![
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

const CUBE: &str = "SELECT a, b, grouping(a, b) AS g, count(*) AS n, sum(w) AS s, count(a) AS ca \
                    FROM t GROUP BY CUBE (a, b)";

/// CUBE (a, b) by brute force: each of the four sets grouped separately.
fn naive_cube(rows: &[Row]) -> Vec<Vec<String>> {
    let mut out = vec![];
    for (keep_a, keep_b) in [(true, true), (true, false), (false, true), (false, false)] {
        let g = (!keep_a as i64) * 2 + (!keep_b as i64);
        let mut groups: BTreeMap<GroupKey, Totals> = BTreeMap::new();
        for (a, b, w) in rows {
            let key = (if keep_a { a.clone() } else { None }, keep_b.then_some(*b));
            let e = groups.entry(key).or_insert((0, None, 0));
            e.0 += 1;
            if let Some(w) = w {
                e.1 = Some(e.1.unwrap_or(0) + w);
            }
            e.2 += a.is_some() as i64;
        }
        for ((a, b), (n, s, ca)) in groups {
            out.push(vec![
                text(a),
                text(b),
                g.to_string(),
                n.to_string(),
                text(s),
                ca.to_string(),
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
