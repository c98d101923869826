//! Hash join fuzz tests: random inputs with nulls, duplicates and a skewed hot key,
//! every join type, one and two keys (strings included), an extra condition, random
//! chunk sizes, and tiny / medium / unlimited budgets, each compared with a naive
//! nested-loop join written here. Tiny budgets must spill (grace hash join), unlimited
//! ones must not; afterwards the pool is at zero and the spill dir empty.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::array_value_to_string;
use floe::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Row = (Option<i64>, Option<String>, i64);

fn gen(rng: &mut StdRng, n: usize, keys: i64, hot: bool) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let k = if rng.gen_bool(0.05) {
                None
            } else if hot && rng.gen_bool(0.08) {
                Some(7)
            } else {
                Some(rng.gen_range(0..keys))
            };
            let s = if rng.gen_bool(0.05) {
                None
            } else {
                Some(format!("s{}", rng.gen_range(0..3)))
            };
            (k, s, i as i64)
        })
        .collect()
}

fn frame(session: &Session, rows: &[Row], prefix: &str) -> LazyFrame {
    let schema = Arc::new(Schema::new(vec![
        Field::new(format!("{prefix}k"), DataType::Int64, true),
        Field::new(format!("{prefix}s"), DataType::Utf8, true),
        Field::new(format!("{prefix}v"), DataType::Int64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    DataFrame::new(schema, vec![batch]).lazy(session)
}

fn show(r: Option<&Row>) -> String {
    match r {
        None => "NULL|NULL|NULL".into(),
        Some((k, s, v)) => format!(
            "{}|{}|{v}",
            k.map_or("NULL".into(), |k| k.to_string()),
            s.clone().unwrap_or_else(|| "NULL".into())
        ),
    }
}

/// The naive join: every pair, NULL keys never equal.
fn naive(left: &[Row], right: &[Row], how: JoinType, two_keys: bool, cond: bool) -> Vec<String> {
    let matches = |l: &Row, r: &Row| {
        let k = matches!((l.0, r.0), (Some(a), Some(b)) if a == b);
        let s = !two_keys || matches!((&l.1, &r.1), (Some(a), Some(b)) if a == b);
        k && s && (!cond || l.2 % 3 != r.2 % 3)
    };
    let mut out = vec![];
    let mut right_hit = vec![false; right.len()];
    for l in left {
        let mut hit = false;
        for (j, r) in right.iter().enumerate() {
            if matches(l, r) {
                hit = true;
                right_hit[j] = true;
                if matches!(
                    how,
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full
                ) {
                    out.push(format!("{}|{}", show(Some(l)), show(Some(r))));
                }
            }
        }
        match how {
            JoinType::Left | JoinType::Full if !hit => {
                out.push(format!("{}|{}", show(Some(l)), show(None)))
            }
            JoinType::Semi if hit => out.push(show(Some(l))),
            JoinType::Anti if !hit => out.push(show(Some(l))),
            _ => {}
        }
    }
    if matches!(how, JoinType::Right | JoinType::Full) {
        for (j, r) in right.iter().enumerate() {
            if !right_hit[j] {
                out.push(format!("{}|{}", show(None), show(Some(r))));
            }
        }
    }
    out.sort();
    out
}

fn rows_of(df: &DataFrame) -> Vec<String> {
    let mut out = vec![];
    for b in df.batches() {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        "NULL".into()
                    } else {
                        array_value_to_string(c, i).unwrap()
                    }
                })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

fn run_case(
    seed: u64,
    left_rows: usize,
    right_rows: usize,
    limit: Option<usize>,
    expect_spill: Option<bool>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let keys = rng.gen_range(5..2000);
    let hot = rng.gen_bool(0.5);
    let left = gen(&mut rng, left_rows, keys, hot);
    let right = gen(&mut rng, right_rows, keys, true);
    let chunk = [1usize, 7, 100, 1000, 65536][rng.gen_range(0..5)];
    let chunk = if chunk == 1 && left_rows + right_rows > 3000 {
        7
    } else {
        chunk
    };
    for how in [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Right,
        JoinType::Full,
        JoinType::Semi,
        JoinType::Anti,
    ] {
        let two_keys = rng.gen_bool(0.5);
        let cond = rng.gen_bool(0.3);
        let spill_dir = tempfile::tempdir().unwrap();
        let mut b = Session::builder()
            .threads(rng.gen_range(1..=2))
            .chunk_rows(chunk)
            .spill_dir(spill_dir.path());
        match limit {
            Some(l) => b = b.memory_limit_bytes(l),
            // The unlimited run must not spill, even under FLOE_FORCE_SPILL.
            None => b = b.force_spill(false),
        }
        let session = b.build().unwrap();
        let l = frame(&session, &left, "l");
        let r = frame(&session, &right, "r");
        let (lk, rk) = if two_keys {
            (vec![col("lk"), col("ls")], vec![col("rk"), col("rs")])
        } else {
            (vec![col("lk")], vec![col("rk")])
        };
        let condition = cond.then(|| (col("lv") % lit(3i64)).neq(col("rv") % lit(3i64)));
        let joined = l.join_where(&r, lk, rk, how, condition).unwrap();
        let ctx = format!(
            "seed {seed} {how} two_keys {two_keys} cond {cond} chunk {chunk} limit {limit:?}"
        );
        // The output may exceed a tiny budget: stream it to a file, read it back.
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("out.parquet");
        joined
            .sink_parquet(&out, ParquetSinkOptions::default())
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let reader = Session::builder().build().unwrap();
        let df = reader
            .scan_parquet(out.to_str().unwrap(), ParquetOptions::default())
            .unwrap()
            .collect()
            .unwrap();
        let got = rows_of(&df);
        let want = naive(&left, &right, how, two_keys, cond);
        if got != want {
            let g: std::collections::BTreeMap<&String, usize> =
                got.iter().fold(Default::default(), |mut m, r| {
                    *m.entry(r).or_default() += 1;
                    m
                });
            let w: std::collections::BTreeMap<&String, usize> =
                want.iter().fold(Default::default(), |mut m, r| {
                    *m.entry(r).or_default() += 1;
                    m
                });
            for (k, n) in &w {
                if g.get(k) != Some(n) {
                    eprintln!("want {n} got {:?}: {k}", g.get(k));
                }
            }
            for (k, n) in &g {
                if !w.contains_key(k) {
                    eprintln!("extra {n}: {k}");
                }
            }
        }
        assert_eq!(got.len(), want.len(), "{ctx}: row count");
        assert_eq!(got, want, "{ctx}");
        if let Some(spill) = expect_spill {
            assert_eq!(session.spilled().0 > 0, spill, "{ctx}: spilled?");
        }
        drop(df);
        assert_eq!(session.memory_pool().used(), 0, "{ctx}: pool back to zero");
        let left_over: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(
            left_over.is_empty(),
            "{ctx}: spill dir not empty: {left_over:?}"
        );
    }
}

#[test]
fn join_unlimited_matches_naive() {
    for seed in 0..4 {
        run_case(seed, 2000, 600, None, Some(false));
        run_case(seed + 100, 500, 1800, None, Some(false));
        // A left side under a quarter of the right: semi and anti joins build on it.
        run_case(seed + 200, 300, 2000, None, Some(false));
    }
}

#[test]
fn join_tiny_budget_spills_and_matches_naive() {
    for seed in 10..14 {
        run_case(seed, 2000, 1500, Some(64 << 10), Some(true));
        run_case(seed + 100, 1500, 2000, Some(64 << 10), Some(true));
    }
}

#[test]
fn join_medium_budget_matches_naive() {
    for seed in 20..24 {
        run_case(seed, 2500, 2000, Some(1 << 20), None);
        run_case(seed + 200, 300, 2500, Some(1 << 20), None);
    }
}

#[test]
fn cross_join_small_inputs() {
    let session = Session::builder().threads(2).chunk_rows(5).build().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let left = gen(&mut rng, 30, 5, false);
    let right = gen(&mut rng, 20, 5, false);
    let l = frame(&session, &left, "l");
    let r = frame(&session, &right, "r");
    let df = l.cross_join(&r).unwrap().collect().unwrap();
    let mut want = vec![];
    for a in &left {
        for b in &right {
            want.push(format!("{}|{}", show(Some(a)), show(Some(b))));
        }
    }
    want.sort();
    assert_eq!(rows_of(&df), want);
}

#[test]
fn join_on_same_named_keys_shows_the_key_once() {
    let session = Session::builder().build().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let rows = gen(&mut rng, 50, 10, false);
    let a = frame(&session, &rows, "x");
    let b = frame(&session, &rows, "x");
    let j = a.join_on(&b, &["xk"], JoinType::Inner).unwrap();
    let names: Vec<String> = j
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["xk", "xs", "xv", "xs_right", "xv_right"]);
    let df = j.collect().unwrap();
    let expected: usize = rows
        .iter()
        .map(|r| rows.iter().filter(|s| r.0.is_some() && r.0 == s.0).count())
        .sum();
    assert_eq!(df.num_rows(), expected);
}

/// A join build stays resident while an aggregate above its probe builds and a sort
/// above that: at every budget the query finishes with the same answer (a larger
/// budget never fails where a smaller one succeeds) and the pool ends at zero.
#[test]
fn join_aggregate_and_sort_share_the_pool_at_every_limit() {
    let mut rng = StdRng::seed_from_u64(77);
    let left = gen(&mut rng, 20_000, 3_000, true);
    let right = gen(&mut rng, 8_000, 3_000, false);
    let query = |s: &Session| {
        frame(s, &left, "l")
            .join(
                &frame(s, &right, "r"),
                [col("lk")],
                [col("rk")],
                JoinType::Inner,
            )
            .unwrap()
            .group_by([col("lk")])
            .agg([len().alias("n"), col("rv").sum().alias("sum_rv")])
            .unwrap()
            .sort([col("n").sort_desc(), col("lk").sort_asc()])
            .unwrap()
    };
    let reference = {
        let s = Session::builder().force_spill(false).build().unwrap();
        rows_of(&query(&s).collect().unwrap())
    };
    // Too small a budget may fail, with ResourcesExhausted; once a budget succeeds,
    // every larger one must too, with the same answer.
    let mut limit = 128 << 10;
    let mut first_success = None;
    while limit <= 64 << 20 {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::builder()
            .threads(2)
            .chunk_rows(2048)
            .memory_limit_bytes(limit)
            .spill_dir(dir.path())
            .build()
            .unwrap();
        match query(&s).collect() {
            Ok(got) => {
                first_success.get_or_insert(limit);
                assert_eq!(rows_of(&got), reference, "limit {limit}");
            }
            Err(Error::ResourcesExhausted { .. }) if first_success.is_none() => {}
            Err(e) => panic!("limit {limit} failed after {first_success:?} succeeded: {e}"),
        }
        assert_eq!(s.memory_pool().used(), 0);
        assert!(s.memory_pool().peak() <= limit);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        limit *= 2;
    }
    assert!(
        first_success.is_some_and(|l| l <= 2 << 20),
        "should succeed from 2 MiB on, first success at {first_success:?}"
    );
}
