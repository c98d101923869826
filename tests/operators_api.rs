//! Sort, top-k, union, distinct and median/quantile through the `LazyFrame` API, each
//! checked against a naive reference computed here over random data (nulls, duplicates,
//! skew), random chunk sizes and unlimited / medium / tiny budgets (tiny ones must
//! spill, except top-k, which never does; unlimited ones must not), with the pool back
//! at zero and the spill dir empty afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use floe::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data(rows: usize, seed: u64) -> (Arc<Schema>, RecordBatch) {
    let mut rng = StdRng::seed_from_u64(seed);
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, true),
        Field::new("x", DataType::Int64, true),
        Field::new("id", DataType::Int64, false),
    ]));
    let g: StringArray = (0..rows)
        .map(|_| (!rng.gen_bool(0.05)).then(|| format!("g{}", rng.gen_range(0..20))))
        .collect();
    let x: Int64Array = (0..rows)
        .map(|_| (!rng.gen_bool(0.1)).then(|| rng.gen_range(-500..500)))
        .collect();
    let id = Int64Array::from_iter_values(0..rows as i64);
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(g), Arc::new(x), Arc::new(id)]).unwrap();
    (schema, batch)
}

fn session(limit: Option<usize>, dir: &std::path::Path) -> Session {
    session_with(limit, 1000, dir)
}

fn session_with(limit: Option<usize>, chunk: usize, dir: &std::path::Path) -> Session {
    let mut b = Session::builder()
        .threads(2)
        .chunk_rows(chunk)
        .spill_dir(dir);
    match limit {
        Some(l) => b = b.memory_limit_bytes(l),
        // The unlimited runs must not spill, even under FLOE_FORCE_SPILL.
        None => b = b.force_spill(false),
    }
    b.build().unwrap()
}

fn ids(df: &DataFrame) -> Vec<i64> {
    let mut out = vec![];
    for b in df.batches() {
        let c = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        out.extend(c.values().iter().copied());
    }
    out
}

/// The naive answer to `ORDER BY x DESC NULLS FIRST, g ASC NULLS LAST` (stable).
fn naive_order(batch: &RecordBatch) -> Vec<i64> {
    let g = batch.column(0).as_string::<i32>();
    let x = batch.column(1).as_primitive::<Int64Type>();
    let mut rows: Vec<usize> = (0..batch.num_rows()).collect();
    rows.sort_by(|&a, &b| {
        let xa = x.is_valid(a).then(|| x.value(a));
        let xb = x.is_valid(b).then(|| x.value(b));
        // DESC NULLS FIRST: None first, then larger values.
        let by_x = match (xa, xb) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Less,
            (_, None) => std::cmp::Ordering::Greater,
            (Some(p), Some(q)) => q.cmp(&p),
        };
        let ga = g.is_valid(a).then(|| g.value(a));
        let gb = g.is_valid(b).then(|| g.value(b));
        let by_g = match (ga, gb) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
            (Some(p), Some(q)) => p.cmp(q),
        };
        by_x.then(by_g)
    });
    rows.into_iter().map(|r| r as i64).collect()
}

fn keys() -> Vec<SortExpr> {
    vec![
        col("x").sort_desc().with_nulls_first(true),
        col("g").sort_asc(),
    ]
}

#[test]
fn sort_larger_than_memory_streams_to_parquet_in_order() {
    let (schema, batch) = data(40_000, 1);
    let want = naive_order(&batch);
    for limit in [None, Some(600 << 10)] {
        let dir = tempfile::tempdir().unwrap();
        let s = session(limit, dir.path());
        let out = dir.path().join("sorted.parquet");
        let lf = DataFrame::new(schema.clone(), vec![batch.clone()]).lazy(&s);
        lf.sort(keys())
            .unwrap()
            .sink_parquet(&out, ParquetSinkOptions::default())
            .unwrap();
        assert_eq!(
            s.spilled().0 > 0,
            limit.is_some(),
            "limit {limit:?}: spilled?"
        );
        assert_eq!(s.memory_pool().used(), 0);
        let reader = Session::builder().build().unwrap();
        let got = reader
            .scan_parquet(out.to_str().unwrap(), ParquetOptions::default())
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(ids(&got), want, "limit {limit:?}");
        std::fs::remove_file(&out).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

#[test]
fn top_k_is_a_bounded_heap_and_matches_the_full_sort() {
    let (schema, batch) = data(30_000, 2);
    let want = naive_order(&batch);
    let dir = tempfile::tempdir().unwrap();
    let s = session(Some(4 << 20), dir.path());
    let lf = DataFrame::new(schema, vec![batch]).lazy(&s);
    for k in [0usize, 1, 10, 500] {
        let top = lf.top_k(k, keys()).unwrap();
        assert!(top.explain().unwrap().contains("TopK"), "plan uses top-k");
        let got = top.collect().unwrap();
        assert_eq!(ids(&got), want[..k].to_vec(), "k {k}");
    }
    assert_eq!(s.spilled().0, 0, "top-k never spills");
    assert_eq!(s.memory_pool().used(), 0);
}

/// Budgets of the fuzz loops: unlimited (must not spill), medium, tiny (must spill).
const BUDGETS: [(Option<usize>, Option<bool>); 3] = [
    (None, Some(false)),
    (Some(4 << 20), None),
    (Some(256 << 10), Some(true)),
];

#[test]
fn union_and_distinct_match_a_set() {
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (schema, a) = data(rng.gen_range(1_000..6_000), seed * 2 + 3);
        let (_, b) = data(rng.gen_range(1_000..6_000), seed * 2 + 4);
        let chunk = [7usize, 100, 1000, 65536][rng.gen_range(0..4)];
        for (limit, expect_spill) in BUDGETS {
            let dir = tempfile::tempdir().unwrap();
            let s = session_with(limit, chunk, dir.path());
            let fa = DataFrame::new(schema.clone(), vec![a.clone()]).lazy(&s);
            let fb = DataFrame::new(schema.clone(), vec![b.clone()]).lazy(&s);
            let both = fa.union(&fb).unwrap().select([col("g"), col("x")]).unwrap();
            let all = both.collect().unwrap();
            assert_eq!(all.num_rows(), a.num_rows() + b.num_rows());
            let distinct = both.distinct().unwrap().collect().unwrap();
            let mut want = BTreeSet::new();
            for batch in [&a, &b] {
                let g = batch.column(0).as_string::<i32>();
                let x = batch.column(1).as_primitive::<Int64Type>();
                for i in 0..batch.num_rows() {
                    want.insert((
                        g.is_valid(i).then(|| g.value(i).to_string()),
                        x.is_valid(i).then(|| x.value(i)),
                    ));
                }
            }
            let mut got = BTreeSet::new();
            for batch in distinct.batches() {
                let g = batch.column(0).as_string::<i32>();
                let x = batch.column(1).as_primitive::<Int64Type>();
                for i in 0..batch.num_rows() {
                    assert!(got.insert((
                        g.is_valid(i).then(|| g.value(i).to_string()),
                        x.is_valid(i).then(|| x.value(i)),
                    )));
                }
            }
            assert_eq!(got, want, "seed {seed} chunk {chunk} limit {limit:?}");
            if let Some(spill) = expect_spill {
                assert_eq!(
                    s.spilled().0 > 0,
                    spill,
                    "seed {seed} limit {limit:?}: spilled?"
                );
            }
            assert_eq!(s.memory_pool().used(), 0);
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "spill dir not empty: {left:?}");
        }
    }
}

#[test]
fn median_and_quantile_per_group_match_naive() {
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed + 50);
        let (schema, batch) = data(rng.gen_range(2_000..20_000), seed + 5);
        let chunk = [7usize, 100, 1000, 65536][rng.gen_range(0..4)];
        let g = batch.column(0).as_string::<i32>();
        let x = batch.column(1).as_primitive::<Int64Type>();
        let mut groups: BTreeMap<Option<String>, Vec<f64>> = BTreeMap::new();
        for i in 0..batch.num_rows() {
            let v = groups
                .entry(g.is_valid(i).then(|| g.value(i).to_string()))
                .or_default();
            if x.is_valid(i) {
                v.push(x.value(i) as f64);
            }
        }
        let cont = |v: &mut Vec<f64>, q: f64| {
            v.sort_by(|a, b| a.total_cmp(b));
            let pos = q * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
        };
        for (limit, expect_spill) in BUDGETS {
            let dir = tempfile::tempdir().unwrap();
            let s = session_with(limit, chunk, dir.path());
            let df = DataFrame::new(schema.clone(), vec![batch.clone()])
                .lazy(&s)
                .group_by([col("g")])
                .agg([
                    col("x").median().alias("med"),
                    col("x").quantile(0.9).unwrap().alias("p90"),
                ])
                .unwrap()
                .collect()
                .unwrap();
            let mut seen = 0;
            for out in df.batches() {
                let og = out.column(0).as_string::<i32>();
                let med = out.column(1).as_primitive::<Float64Type>();
                let p90 = out.column(2).as_primitive::<Float64Type>();
                for i in 0..out.num_rows() {
                    let key = og.is_valid(i).then(|| og.value(i).to_string());
                    let mut v = groups[&key].clone();
                    assert_eq!(med.value(i), cont(&mut v, 0.5), "median of {key:?}");
                    assert!(
                        (p90.value(i) - cont(&mut v, 0.9)).abs() < 1e-9,
                        "p90 of {key:?}"
                    );
                    seen += 1;
                }
            }
            assert_eq!(seen, groups.len());
            if let Some(spill) = expect_spill {
                assert_eq!(
                    s.spilled().0 > 0,
                    spill,
                    "seed {seed} limit {limit:?}: spilled?"
                );
            }
            assert_eq!(s.memory_pool().used(), 0);
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "spill dir not empty: {left:?}");
        }
    }
}

/// Writes `batch` to a Parquet file at `path`.
fn write_parquet(
    path: &std::path::Path,
    batch: &RecordBatch,
    props: Option<parquet::file::properties::WriterProperties>,
) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), props).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Writes `batch` to `path` in row groups of `rows` rows.
fn write_parquet_in_groups(path: &std::path::Path, batch: &RecordBatch, rows: usize) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    write_parquet(path, batch, Some(props));
}

/// Whether `line` heads an operator whose label starts with `prefix` (`#3 Scan ...`).
fn is_operator(line: &str, prefix: &str) -> bool {
    line.starts_with('#')
        && line
            .split_once(' ')
            .is_some_and(|(_, label)| label.starts_with(prefix))
}

/// Rows out of the (first) Parquet scan in an `explain_analyze` report: the number
/// after `rows` on its `actual:` line.
fn parquet_scan_rows(report: &str) -> usize {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| is_operator(l, "Scan parquet"))
        .unwrap_or_else(|| panic!("no scan operator in {report}"));
    actual_rows(&lines, at, report)
}

/// The actual rows of the operator headed at line `at` of an `explain_analyze` report.
fn actual_rows(lines: &[&str], at: usize, report: &str) -> usize {
    lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim_start().strip_prefix("actual:"))
        .and_then(|a| a.trim_start().strip_prefix("rows "))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no actual rows of the scan in {report}"))
}

/// The ids of `ORDER BY x ASC NULLS LAST, id ASC`.
fn naive_ascending(batch: &RecordBatch) -> Vec<i64> {
    let x = batch.column(1).as_primitive::<Int64Type>();
    let mut rows: Vec<usize> = (0..batch.num_rows()).collect();
    rows.sort_by_key(|&r| (x.is_null(r), x.is_valid(r).then(|| x.value(r)), r));
    rows.into_iter().map(|r| r as i64).collect()
}

/// A top-k over a Parquet file of many small row groups: the scan skips row groups
/// by statistics and decodes the other columns only for rows whose key may beat the
/// running bound. Both directions, NULLs first and last, against the naive order.
#[test]
fn top_k_over_parquet_reads_only_rows_that_may_win() {
    let (_, batch) = data(40_000, 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(700))
        .set_data_page_row_count_limit(100)
        .set_write_batch_size(100)
        .build();
    write_parquet(&path, &batch, Some(props));
    let cases: [(Vec<SortExpr>, Vec<i64>); 2] = [
        (keys(), naive_order(&batch)),
        (
            vec![col("x").sort_asc(), col("id").sort_asc()],
            naive_ascending(&batch),
        ),
    ];
    for (keys, want) in cases {
        for k in [1usize, 10, 300] {
            let s = session(Some(4 << 20), dir.path());
            let top = s
                .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
                .unwrap()
                .top_k(k, keys.clone())
                .unwrap();
            let got = top.collect().unwrap();
            assert_eq!(ids(&got), want[..k].to_vec(), "k {k}");
            assert_eq!(s.memory_pool().used(), 0);
        }
    }
    // With nulls last and a small k, most rows are never decoded beyond their key.
    let s = session(None, dir.path());
    let report = s
        .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
        .unwrap()
        .top_k(5, vec![col("x").sort_asc(), col("id").sort_asc()])
        .unwrap()
        .explain_analyze()
        .unwrap();
    let scan_rows = parquet_scan_rows(&report);
    assert!(
        scan_rows < 10_000,
        "scan read {scan_rows} of 40000 rows:\n{report}"
    );
}

/// The session of the shared-subtree tests: 16 MiB, morsels of 1000 rows.
fn sharing_session(dir: &std::path::Path, force: bool) -> Session {
    Session::builder()
        .threads(2)
        .chunk_rows(1000)
        .spill_dir(dir)
        .memory_limit_bytes(16 << 20)
        .force_spill(force)
        .build()
        .unwrap()
}

/// `q`'s shared subtree (`what`) ran once: one Parquet scan, read through a
/// `Materialize (shared)`.
fn assert_runs_once(q: &LazyFrame, what: &str) {
    let report = q.explain_analyze().unwrap();
    let scans = report
        .lines()
        .filter(|l| is_operator(l, "Scan parquet"))
        .count();
    assert_eq!(scans, 1, "the shared {what} runs once:\n{report}");
    assert!(
        report
            .lines()
            .any(|l| is_operator(l, "Materialize (shared)")),
        "{report}"
    );
}

/// A window view read twice (TPC-DS q47's `v1`, joined with itself on the next rank)
/// runs once: one scan and a shared materialized result, in memory and forced through
/// a spill file, with the answer of a naive reference.
#[test]
fn a_window_view_read_twice_runs_once() {
    let (_, batch) = data(20_000, 5);
    let input = tempfile::tempdir().unwrap();
    let path = input.path().join("t.parquet");
    write_parquet(&path, &batch, None);
    let g = batch.column(0).as_string::<i32>();
    let mut ids: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        if g.is_valid(r) {
            ids.entry(g.value(r).to_string())
                .or_default()
                .push(r as i64);
        }
    }
    let pairs: i64 = ids.values().map(|v| v.len() as i64 - 1).sum();
    let gaps: i64 = ids.values().map(|v| v[v.len() - 1] - v[0]).sum();
    let want = format!("{pairs} {gaps}");
    for force in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let s = sharing_session(dir.path(), force);
        let t = s
            .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
            .unwrap();
        s.register("t", &t).unwrap();
        let q = s
            .sql(
                "WITH v AS (SELECT g, id, row_number() OVER (PARTITION BY g ORDER BY id) AS r \
                 FROM t) SELECT count(*) AS n, sum(b.id - a.id) AS gap \
                 FROM v a JOIN v b ON a.g = b.g AND a.r + 1 = b.r",
            )
            .unwrap();
        assert_runs_once(&q, "window");
        let df = q.collect().unwrap();
        let b = &df.batches()[0];
        let got = format!(
            "{} {}",
            b.column(0).as_primitive::<Int64Type>().value(0),
            b.column(1).as_primitive::<Int64Type>().value(0)
        );
        assert_eq!(got, want, "force_spill {force}");
        assert_eq!(s.memory_pool().used(), 0);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "force_spill {force}: spill files left: {left:?}"
        );
    }
}

/// An aggregate used three times (a `WITH` view read thrice) runs once: one scan in
/// the metrics, a shared materialized result, and rows equal to the naive groups,
/// thrice; forced to spill, the result goes through a file and comes back the same.
#[test]
fn a_subtree_used_three_times_runs_once() {
    let (_, batch) = data(20_000, 9);
    let input = tempfile::tempdir().unwrap();
    let path = input.path().join("t.parquet");
    write_parquet(&path, &batch, None);
    let g = batch.column(0).as_string::<i32>();
    let x = batch.column(1).as_primitive::<Int64Type>();
    let mut naive: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
    for r in 0..batch.num_rows() {
        let e = naive
            .entry(g.is_valid(r).then(|| g.value(r).to_string()))
            .or_default();
        e.0 += if x.is_valid(r) { x.value(r) } else { 0 };
        e.1 += 1;
    }
    let mut want: Vec<String> = naive
        .iter()
        .flat_map(|(k, (s, n))| std::iter::repeat_n(format!("{k:?} {s} {n}"), 3))
        .collect();
    want.sort();
    for force in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let s = sharing_session(dir.path(), force);
        let agg = s
            .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
            .unwrap()
            .group_by([col("g")])
            .agg([col("x").sum().alias("s"), col("id").count().alias("n")])
            .unwrap();
        let q = LazyFrame::concat(&[agg.clone(), agg.clone(), agg]).unwrap();
        assert_runs_once(&q, "aggregate");
        let df = q.collect().unwrap();
        let mut got = vec![];
        for b in df.batches() {
            let (bg, bs, bn) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<Int64Type>(),
                b.column(2).as_primitive::<Int64Type>(),
            );
            for r in 0..b.num_rows() {
                let k = bg.is_valid(r).then(|| bg.value(r).to_string());
                got.push(format!("{k:?} {} {}", bs.value(r), bn.value(r)));
            }
        }
        got.sort();
        assert_eq!(got, want, "force_spill {force}");
        assert_eq!(s.spilled().0 > 0, force, "force_spill {force}: spilled?");
        assert_eq!(s.memory_pool().used(), 0);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

/// An inner or semi join whose build side holds a few keys pushes them into the
/// Parquet scan of its probe side (a dynamic join filter): row groups without any of
/// the keys are skipped and other columns are decoded only for matching rows. The
/// result equals a naive filter; left and anti joins (whose unmatched probe rows are
/// output) are not filtered.
#[test]
fn joins_push_small_build_keys_into_the_probe_scan() {
    let (_, batch) = data(40_000, 12);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.parquet");
    write_parquet_in_groups(&path, &batch, 1000);
    let wanted: Vec<Option<i64>> = vec![
        Some(7),
        Some(7_777),
        Some(12_345),
        None,
        Some(39_999),
        Some(90_000),
    ];
    let build_schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
    let build = RecordBatch::try_new(
        build_schema.clone(),
        vec![Arc::new(Int64Array::from(wanted.clone()))],
    )
    .unwrap();
    let s = session(None, dir.path());
    let probe = s
        .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
        .unwrap();
    let keys = DataFrame::new(build_schema, vec![build]).lazy(&s);
    let inner = probe
        .join(&keys, [col("id")], [col("k")], JoinType::Inner)
        .unwrap();
    let report = inner.explain_analyze().unwrap();
    let scan_rows = parquet_scan_rows(&report);
    assert_eq!(
        scan_rows, 4,
        "only the matching rows are decoded:\n{report}"
    );
    let mut got = ids(&inner.collect().unwrap());
    got.sort();
    assert_eq!(got, vec![7, 7_777, 12_345, 39_999]);
    let semi = probe
        .join(&keys, [col("id")], [col("k")], JoinType::Semi)
        .unwrap();
    let report = semi.explain_analyze().unwrap();
    assert_eq!(parquet_scan_rows(&report), 4, "semi join:\n{report}");
    let mut got = ids(&semi.collect().unwrap());
    got.sort();
    assert_eq!(got, vec![7, 7_777, 12_345, 39_999]);
    let left = probe
        .join(&keys, [col("id")], [col("k")], JoinType::Left)
        .unwrap();
    assert_eq!(
        left.collect().unwrap().num_rows(),
        40_000,
        "a left join keeps every row"
    );
    let anti = probe
        .join(&keys, [col("id")], [col("k")], JoinType::Anti)
        .unwrap();
    let anti_ids = ids(&anti.collect().unwrap());
    assert_eq!(anti_ids.len(), 40_000 - 4, "an anti join keeps the others");
    assert!(!anti_ids.contains(&7) && anti_ids.contains(&8));
    assert_eq!(s.memory_pool().used(), 0);
}

/// Join filters reach the probe scan through other joins, and a build with more keys
/// than a key set holds still pushes its key range: over a Parquet file sorted by `id`
/// in row groups of 1000, `id` joined with 6000 consecutive keys reads 6 row groups,
/// and `m` joined (in another join, whichever the join order puts lower) with 25 keys
/// reads only its rows among them. An outer join in the path passes the filter to
/// either side. Answers equal the same
/// joins over the rows in memory (no runtime filter) and a naive filter.
#[test]
fn join_filters_pass_through_joins_and_keep_key_ranges() {
    let (_, base) = data(40_000, 12);
    let ids_col = base.column_by_name("id").unwrap().clone();
    let m: Int64Array = ids_col
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| v % 50))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("m", DataType::Int64, true),
        Field::new("x", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            ids_col,
            Arc::new(m),
            base.column_by_name("x").unwrap().clone(),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.parquet");
    write_parquet_in_groups(&path, &batch, 1000);
    let s = session(None, dir.path());
    let frame = |name: &str, values: Vec<i64>| {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Int64, true)]));
        let b =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))]).unwrap();
        DataFrame::new(schema, vec![b]).lazy(&s)
    };
    let many = frame("k", (10_000..16_000).collect());
    let few = frame("k2", (0..25).collect());
    let parquet = s
        .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
        .unwrap();
    let in_memory = DataFrame::new(schema, vec![batch]).lazy(&s);
    let expected: Vec<i64> = (10_000..16_000).filter(|i| i % 50 < 25).collect();
    // Inner over inner: `m`'s filter passes the `id` join; `id`'s is a range.
    let nested = |probe: &LazyFrame| {
        probe
            .join(&many, [col("id")], [col("k")], JoinType::Inner)
            .unwrap()
            .join(&few, [col("m")], [col("k2")], JoinType::Inner)
            .unwrap()
    };
    // The probe on the nullable side of a left join that keeps the tiny side.
    let outer = |probe: &LazyFrame| {
        few.join(probe, [col("k2")], [col("m")], JoinType::Left)
            .unwrap()
            .join(&many, [col("id")], [col("k")], JoinType::Inner)
            .unwrap()
    };
    for (name, query) in [
        ("nested", &nested as &dyn Fn(&LazyFrame) -> LazyFrame),
        ("outer", &outer),
    ] {
        let filtered = query(&parquet);
        let report = filtered.explain_analyze().unwrap();
        assert_eq!(
            parquet_scan_rows(&report),
            expected.len(),
            "{name}: only rows of the 6 row groups in range with m < 25 are decoded:\n{report}"
        );
        let mut got = ids(&filtered.collect().unwrap());
        got.sort();
        assert_eq!(got, expected, "{name} with join filters");
        let mut plain = ids(&query(&in_memory).collect().unwrap());
        plain.sort();
        assert_eq!(plain, expected, "{name} without join filters");
    }
    assert_eq!(s.memory_pool().used(), 0);
}

/// Rows of every Parquet scan of an `explain_analyze` report, summed.
fn all_parquet_scan_rows(report: &str) -> usize {
    let lines: Vec<&str> = report.lines().collect();
    (0..lines.len())
        .filter(|&at| is_operator(lines[at], "Scan parquet"))
        .map(|at| actual_rows(&lines, at, report))
        .sum()
}

/// A few keys tested with `IN` against a large subquery: the semi join builds on the
/// few keys (the left side, estimated far smaller), and their filter reaches both
/// scans of the subquery's self-join, through the renaming projections and across the
/// inner join's key equality. Each scan decodes only the matching rows; the answer
/// equals the same query over rows in memory (no runtime filter) and a naive one.
#[test]
fn semi_join_keys_reach_both_sides_of_a_renamed_self_join() {
    let (_, batch) = data(40_000, 12);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet_in_groups(&path, &batch, 1000);
    let s = session(None, dir.path());
    let wanted = vec![7i64, 7_777, 12_345, 39_999, 90_000];
    let key_schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
    let keys = RecordBatch::try_new(
        key_schema.clone(),
        vec![Arc::new(Int64Array::from(wanted.clone()))],
    )
    .unwrap();
    let keys = DataFrame::new(key_schema, vec![keys]).lazy(&s);
    let query = |t: &LazyFrame| {
        let other = t
            .select([col("id").alias("id2"), col("x").alias("x2")])
            .unwrap();
        let pairs = t
            .join(&other, [col("id")], [col("id2")], JoinType::Inner)
            .unwrap()
            .select([col("id").alias("sq")])
            .unwrap();
        keys.join(&pairs, [col("k")], [col("sq")], JoinType::Semi)
            .unwrap()
    };
    let parquet = s
        .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
        .unwrap();
    let filtered = query(&parquet);
    let report = filtered.explain_analyze().unwrap();
    assert!(
        report.contains("Semi on=[k = sq] (build = left)"),
        "{report}"
    );
    assert_eq!(
        all_parquet_scan_rows(&report),
        8,
        "each scan decodes the 4 matching rows:\n{report}"
    );
    let values = |df: &DataFrame| {
        let mut v: Vec<i64> = df
            .batches()
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        v.sort();
        v
    };
    let expected = vec![7, 7_777, 12_345, 39_999];
    assert_eq!(values(&filtered.collect().unwrap()), expected);
    let in_memory = DataFrame::new(batch.schema(), vec![batch]).lazy(&s);
    assert_eq!(values(&query(&in_memory).collect().unwrap()), expected);
    assert_eq!(s.memory_pool().used(), 0);
}
