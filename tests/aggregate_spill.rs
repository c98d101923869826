//! The hash aggregate under memory pressure: forced spills with tiny budgets and
//! several chunk sizes must give the same answer as the unlimited run and as a naive
//! reference computed here, and must leave the pool at zero and the spill dir empty.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use floe::config::SpillCompression;
use floe::prelude::*;

const ROWS: usize = 20_000;

/// Deterministic data: string keys with nulls and skew, int keys, float/int values with nulls.
fn data() -> (Arc<Schema>, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k1", DataType::Utf8, true),
        Field::new("k2", DataType::Int64, false),
        Field::new("v", DataType::Float64, true),
        Field::new("w", DataType::Int64, true),
    ]));
    let mut s = 7u64;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let mut k1 = vec![];
    let mut k2 = vec![];
    let mut v = vec![];
    let mut w = vec![];
    for _ in 0..ROWS {
        let skew = next(4) == 0;
        k1.push(match next(50) {
            0 => None,
            x if skew => Some(format!("hot{}", x % 2)),
            x => Some(format!("key{x}")),
        });
        k2.push(next(40) as i64);
        v.push((next(10) != 0).then(|| next(100_000) as f64 / 100.0 - 300.0));
        w.push((next(7) != 0).then(|| next(1000) as i64 - 500));
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(k1)),
            Arc::new(Int64Array::from(k2)),
            Arc::new(Float64Array::from(v)),
            Arc::new(Int64Array::from(w)),
        ],
    )
    .unwrap();
    (schema, batch)
}

#[derive(Debug, Default, Clone)]
struct Naive {
    n: i64,
    sum_w: Option<i64>,
    count_v: i64,
    sum_v: f64,
    min_v: Option<f64>,
    max_k2w: Option<i64>,
    distinct_w: std::collections::BTreeSet<i64>,
    sq_v: Vec<f64>,
    first_v: Option<Option<f64>>,
}

type Key = (Option<String>, i64);

fn naive(batch: &RecordBatch) -> BTreeMap<Key, Naive> {
    let k1 = batch.column(0).as_string::<i32>();
    let k2 = batch.column(1).as_primitive::<Int64Type>();
    let v = batch.column(2).as_primitive::<Float64Type>();
    let w = batch.column(3).as_primitive::<Int64Type>();
    let mut out: BTreeMap<Key, Naive> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let key = (k1.is_valid(i).then(|| k1.value(i).to_string()), k2.value(i));
        let g = out.entry(key).or_default();
        g.n += 1;
        let vi = v.is_valid(i).then(|| v.value(i));
        if g.first_v.is_none() {
            g.first_v = Some(vi);
        }
        if let Some(x) = vi {
            g.count_v += 1;
            g.sum_v += x;
            g.min_v = Some(g.min_v.map_or(x, |m| m.min(x)));
            g.sq_v.push(x);
        }
        if w.is_valid(i) {
            let x = w.value(i);
            g.sum_w = Some(g.sum_w.unwrap_or(0) + x);
            g.distinct_w.insert(x);
            g.max_k2w = Some(g.max_k2w.map_or(x, |m| m.max(x)));
        }
    }
    out
}

fn std_of(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    Some((xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt())
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

fn query(
    session: &Session,
    schema: &Arc<Schema>,
    batch: &RecordBatch,
) -> Result<(DataFrame, floe::metrics::QueryMetrics)> {
    DataFrame::new(schema.clone(), vec![batch.clone()])
        .lazy(session)
        .group_by([col("k1"), col("k2")])
        .agg([
            len().alias("n"),
            col("w").sum().alias("sum_w"),
            col("v").count().alias("count_v"),
            col("v").mean().alias("mean_v"),
            col("v").min().alias("min_v"),
            col("w").max().alias("max_w"),
            col("w").count_distinct().alias("distinct_w"),
            col("v").std().alias("std_v"),
            col("v").first().alias("first_v"),
        ])?
        .collect_with_metrics()
}

fn check(df: &DataFrame, expected: &BTreeMap<Key, Naive>) {
    let b = df.to_batch().unwrap();
    assert_eq!(b.num_rows(), expected.len(), "group count");
    let get_f = |name: &str, i: usize| {
        let a = b.column(b.schema().index_of(name).unwrap());
        let a = a.as_primitive::<Float64Type>();
        a.is_valid(i).then(|| a.value(i))
    };
    let get_i = |name: &str, i: usize| {
        let a = b.column(b.schema().index_of(name).unwrap());
        let a = a.as_primitive::<Int64Type>();
        a.is_valid(i).then(|| a.value(i))
    };
    let k1 = b.column(0).as_string::<i32>();
    let k2 = b.column(1).as_primitive::<Int64Type>();
    for i in 0..b.num_rows() {
        let key = (k1.is_valid(i).then(|| k1.value(i).to_string()), k2.value(i));
        let g = expected
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected group {key:?}"));
        assert_eq!(get_i("n", i), Some(g.n), "{key:?} n");
        assert_eq!(get_i("sum_w", i), g.sum_w, "{key:?} sum_w");
        assert_eq!(get_i("count_v", i), Some(g.count_v), "{key:?} count_v");
        let mean = (g.count_v > 0).then(|| g.sum_v / g.count_v as f64);
        assert!(close(get_f("mean_v", i), mean), "{key:?} mean");
        assert!(close(get_f("min_v", i), g.min_v), "{key:?} min");
        assert_eq!(get_i("max_w", i), g.max_k2w, "{key:?} max");
        assert_eq!(
            get_i("distinct_w", i),
            Some(g.distinct_w.len() as i64),
            "{key:?} distinct"
        );
        assert!(close(get_f("std_v", i), std_of(&g.sq_v)), "{key:?} std");
        assert!(
            close(get_f("first_v", i), g.first_v.flatten()),
            "{key:?} first"
        );
    }
}

#[test]
fn unlimited_run_matches_naive_reference() {
    let (schema, batch) = data();
    let session = Session::builder()
        .threads(2)
        .force_spill(false)
        .build()
        .unwrap();
    let (df, metrics) = query(&session, &schema, &batch).unwrap();
    check(&df, &naive(&batch));
    assert_eq!(
        metrics.spilled_bytes(),
        0,
        "the unlimited run must not spill"
    );
    assert_eq!(session.memory_pool().used(), 0);
}

#[test]
fn forced_spill_with_tiny_limits_and_chunk_sizes() {
    let (schema, batch) = data();
    let expected = naive(&batch);
    for &(limit, chunk, force, compression) in &[
        (400 << 10, 1usize, false, SpillCompression::Lz4),
        (400 << 10, 7, false, SpillCompression::None),
        (1 << 20, 64 * 1024, true, SpillCompression::Lz4),
        (600 << 10, 7, true, SpillCompression::Lz4),
        (64 << 20, 1000, true, SpillCompression::None),
    ] {
        let spill_dir = tempfile::tempdir().unwrap();
        let session = Session::builder()
            .threads(2)
            .memory_limit_bytes(limit)
            .chunk_rows(chunk)
            .force_spill(force)
            .spill_compression(compression)
            .spill_dir(spill_dir.path())
            .build()
            .unwrap();
        let (df, metrics) = query(&session, &schema, &batch)
            .unwrap_or_else(|e| panic!("limit {limit} chunk {chunk}: {e}"));
        check(&df, &expected);
        assert!(
            metrics.spilled_bytes() > 0,
            "limit {limit} chunk {chunk} force {force}: expected a spill"
        );
        drop(df);
        assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

/// Small partial tables flush their groups to partitioned state many times (and grow
/// when a flush reduced its rows poorly); the answer must not change, in memory or
/// when the flushed state has to go to disk.
#[test]
fn flushed_partial_tables_match_naive_reference() {
    let (schema, batch) = data();
    let expected = naive(&batch);
    for &(groups, limit, chunk) in &[
        (1usize, None, 1000usize),
        (5, None, 7),
        (100, None, 4096),
        (5, Some(400usize << 10), 100),
        (100, Some(400 << 10), 1000),
    ] {
        let spill_dir = tempfile::tempdir().unwrap();
        let mut builder = Session::builder()
            .threads(2)
            .chunk_rows(chunk)
            .partial_aggregate_groups(groups)
            .force_spill(false)
            .spill_dir(spill_dir.path());
        if let Some(limit) = limit {
            builder = builder.memory_limit_bytes(limit);
        }
        let session = builder.build().unwrap();
        let (df, metrics) = query(&session, &schema, &batch)
            .unwrap_or_else(|e| panic!("groups {groups} limit {limit:?}: {e}"));
        check(&df, &expected);
        assert_eq!(
            metrics.spilled_bytes() > 0,
            limit.is_some(),
            "groups {groups} limit {limit:?}: spills exactly under the tiny limit"
        );
        drop(df);
        assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

#[test]
fn final_phase_repartitions_an_oversized_partition() {
    // Nearly one group per row and a budget far below the table size: partitions do
    // not fit in the final phase either and must be re-partitioned.
    let n = 200_000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let keys: Vec<i64> = (0..n).map(|i| (i * 7919) % 150_000).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from_iter_values(0..n)),
        ],
    )
    .unwrap();
    let spill_dir = tempfile::tempdir().unwrap();
    let session = Session::builder()
        .threads(2)
        .memory_limit_bytes(256 << 10)
        .chunk_rows(8192)
        .spill_dir(spill_dir.path())
        .build()
        .unwrap();
    let (df, metrics) = DataFrame::new(schema, vec![batch])
        .lazy(&session)
        .group_by([col("k")])
        .agg([col("v").sum().alias("s"), len().alias("c")])
        .unwrap()
        .select([
            col("k").sum().alias("ks"),
            col("s").sum().alias("ss"),
            col("c").sum().alias("cs"),
            len().alias("groups"),
        ])
        .unwrap()
        .collect_with_metrics()
        .unwrap();
    let b = df.to_batch().unwrap();
    let get = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
    let distinct: std::collections::BTreeSet<i64> = keys.iter().copied().collect();
    assert_eq!(get(3), distinct.len() as i64);
    assert_eq!(get(0), distinct.iter().sum::<i64>());
    assert_eq!(get(1), (0..n).sum::<i64>());
    assert_eq!(get(2), n);
    assert!(metrics.spilled_bytes() > 0);
    assert!(
        metrics
            .operators()
            .iter()
            .any(|o| o.note().contains("re-partitioned")),
        "expected a re-partition: {metrics}"
    );
    assert_eq!(session.memory_pool().used(), 0);
    assert_eq!(std::fs::read_dir(spill_dir.path()).unwrap().count(), 0);
}

#[test]
fn global_aggregate_over_no_rows_has_one_row() {
    let (schema, batch) = data();
    let session = Session::builder().threads(2).build().unwrap();
    let df = DataFrame::new(schema, vec![batch])
        .lazy(&session)
        .filter(col("k2").lt(lit(-1)))
        .unwrap()
        .select([
            len().alias("n"),
            col("v").sum().alias("s"),
            col("v").mean().alias("m"),
        ])
        .unwrap()
        .collect()
        .unwrap();
    let b = df.to_batch().unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 0);
    assert!(b.column(1).is_null(0));
    assert!(b.column(2).is_null(0));
}

#[test]
fn cancel_mid_query_cleans_up_spill_files() {
    let (schema, batch) = data();
    let spill_dir = tempfile::tempdir().unwrap();
    let session = Session::builder()
        .threads(2)
        .chunk_rows(1)
        .force_spill(true)
        .spill_dir(spill_dir.path())
        .build()
        .unwrap();
    let cancel = session.cancel_flag();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // Enough work (20 copies of the data, one row per morsel) to still be running at 200 ms.
    let frame = DataFrame::new(schema, vec![batch; 20]).lazy(&session);
    let err = frame
        .group_by([col("k1")])
        .agg([len()])
        .unwrap()
        .collect()
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(session.memory_pool().used(), 0);
    assert_eq!(
        std::fs::read_dir(spill_dir.path()).unwrap().count(),
        0,
        "spill files removed on cancel"
    );
}

/// Input clustered by key (sorted, as `lineitem` is by order) makes a flushed partial
/// table show a group per probe while repeats of the previous row did the reducing:
/// the worker then folds runs without a table ("run mode"), and leaves it when the
/// input stops being clustered (the unsorted copy that follows). The answer must match
/// the naive reference, in memory and under a tiny limit.
#[test]
fn clustered_input_folds_runs_and_matches_naive_reference() {
    let (schema, batch) = data();
    let order = arrow::compute::lexsort_to_indices(
        &[
            arrow::compute::SortColumn {
                values: Arc::clone(batch.column(0)),
                options: None,
            },
            arrow::compute::SortColumn {
                values: Arc::clone(batch.column(1)),
                options: None,
            },
        ],
        None,
    )
    .unwrap();
    let sorted = arrow::compute::take_record_batch(&batch, &order).unwrap();
    let both = arrow::compute::concat_batches(&schema, [&sorted, &batch]).unwrap();
    for input in [&sorted, &both] {
        let expected = naive(input);
        for limit in [None, Some(400usize << 10)] {
            let spill_dir = tempfile::tempdir().unwrap();
            let mut builder = Session::builder()
                .threads(2)
                .chunk_rows(500)
                .partial_aggregate_groups(5)
                .force_spill(false)
                .spill_dir(spill_dir.path());
            if let Some(limit) = limit {
                builder = builder.memory_limit_bytes(limit);
            }
            let session = builder.build().unwrap();
            let (df, _) =
                query(&session, &schema, input).unwrap_or_else(|e| panic!("limit {limit:?}: {e}"));
            check(&df, &expected);
            drop(df);
            assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
            let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
            assert!(left.is_empty(), "spill dir not empty: {left:?}");
        }
    }
}

/// var_pop, sum/avg(DISTINCT), arg_max, ordered string_agg and approx_count_distinct
/// spill their partial states and merge them back: with tiny forced-spill budgets the
/// answers equal a naive reference computed here (the estimate within about four of
/// its standard errors, 1.1% of n at these sizes, plus two).
#[test]
fn everyday_aggregates_spill_and_match_naive_reference() {
    let (_, batch) = data();
    let k1 = batch.column(0).as_string::<i32>();
    let k2 = batch.column(1).as_primitive::<Int64Type>();
    let v = batch.column(2).as_primitive::<Float64Type>();
    let w = batch.column(3).as_primitive::<Int64Type>();
    // The reference: per group the v values, the distinct w values, and the w of the
    // last row (largest id) whose w is not null.
    type Group = (
        Vec<f64>,
        std::collections::BTreeSet<i64>,
        Vec<i64>,
        Option<i64>,
    );
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let key = (k1.is_valid(i).then(|| k1.value(i).to_string()), k2.value(i));
        let g = groups.entry(key).or_default();
        if v.is_valid(i) {
            g.0.push(v.value(i));
        }
        if w.is_valid(i) {
            g.1.insert(w.value(i));
            g.2.push(w.value(i));
            g.3 = Some(w.value(i));
        }
    }
    let ids = Int64Array::from_iter_values(0..batch.num_rows() as i64);
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(ids));
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("id", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let with_ids = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let sql = "SELECT k1, k2, var_pop(v), sum(DISTINCT w), avg(DISTINCT w), arg_max(w, id), \
               string_agg(CAST(w AS VARCHAR), ',' ORDER BY w), approx_count_distinct(w), \
               count(DISTINCT w) FROM t GROUP BY k1, k2";
    for &(limit, chunk, force) in &[
        (usize::MAX, 64 * 1024, false),
        (400 << 10, 7, true),
        (1 << 20, 1000, true),
    ] {
        let spill_dir = tempfile::tempdir().unwrap();
        let mut b = Session::builder()
            .threads(2)
            .chunk_rows(chunk)
            .force_spill(force)
            .spill_dir(spill_dir.path());
        if limit != usize::MAX {
            b = b.memory_limit_bytes(limit);
        }
        let session = b.build().unwrap();
        let frame = DataFrame::new(schema.clone(), vec![with_ids.clone()]).lazy(&session);
        session.register("t", &frame).unwrap();
        let (df, metrics) = session.sql(sql).unwrap().collect_with_metrics().unwrap();
        let out = df.to_batch().unwrap();
        assert_eq!(out.num_rows(), groups.len());
        let ok1 = out.column(0).as_string::<i32>();
        let ok2 = out.column(1).as_primitive::<Int64Type>();
        let var = out.column(2).as_primitive::<Float64Type>();
        let sum = out.column(3).as_primitive::<Int64Type>();
        let avg = out.column(4).as_primitive::<Float64Type>();
        let last = out.column(5).as_primitive::<Int64Type>();
        let joined = out.column(6).as_string::<i32>();
        let approx = out.column(7).as_primitive::<Int64Type>();
        let exact = out.column(8).as_primitive::<Int64Type>();
        for i in 0..out.num_rows() {
            let key = (
                ok1.is_valid(i).then(|| ok1.value(i).to_string()),
                ok2.value(i),
            );
            let (vs, distinct, mut ws, last_w) = groups[&key].clone();
            let var_pop = (!vs.is_empty()).then(|| {
                let m = vs.iter().sum::<f64>() / vs.len() as f64;
                vs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / vs.len() as f64
            });
            assert!(
                close(var.is_valid(i).then(|| var.value(i)), var_pop),
                "{key:?} var_pop"
            );
            let dsum: i64 = distinct.iter().sum();
            assert_eq!(
                sum.is_valid(i).then(|| sum.value(i)),
                (!distinct.is_empty()).then_some(dsum)
            );
            let davg = (!distinct.is_empty()).then(|| dsum as f64 / distinct.len() as f64);
            assert!(
                close(avg.is_valid(i).then(|| avg.value(i)), davg),
                "{key:?} avg distinct"
            );
            assert_eq!(
                last.is_valid(i).then(|| last.value(i)),
                last_w,
                "{key:?} arg_max"
            );
            ws.sort();
            let text: Vec<String> = ws.iter().map(|x| x.to_string()).collect();
            let want = (!ws.is_empty()).then(|| text.join(","));
            assert_eq!(
                joined.is_valid(i).then(|| joined.value(i).to_string()),
                want
            );
            assert_eq!(exact.value(i), distinct.len() as i64);
            let err = (approx.value(i) - exact.value(i)).abs() as f64;
            assert!(
                err <= 0.05 * exact.value(i) as f64 + 2.0,
                "{key:?} approx {}",
                approx.value(i)
            );
        }
        if force {
            assert!(
                metrics.spilled_bytes() > 0,
                "limit {limit}: expected a spill"
            );
        }
        drop(df);
        assert_eq!(session.memory_pool().used(), 0, "pool back to zero");
        let left: Vec<_> = std::fs::read_dir(spill_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spill dir not empty: {left:?}");
    }
}

/// count/sum/avg(DISTINCT w) beside count, sum, min and max run as two group-bys (the
/// optimizer's `distinct_aggregate` rule; with distinct calls over `k1` or `k2` too,
/// through an Expand); adding `var_pop(v)` keeps the per-group sets of the distinct
/// accumulator instead. Both ways, unlimited and under forced
/// spill, grouped and global, give the same answers. (The budgets are larger than in
/// the tests above: the sorted result of the ORDER BY and its collected copy must fit
/// beside each other.)
#[test]
fn distinct_aggregates_as_two_group_bys_equal_the_per_group_sets() {
    let (schema, batch) = data();
    let aggs = "count(DISTINCT w) AS a, sum(DISTINCT w) AS b, avg(DISTINCT w) AS c, \
                count(*) AS d, count(v) AS e, sum(w) AS f, min(v) AS g, max(w) AS h";
    let queries = [
        (
            format!("SELECT k1, k2, {aggs} FROM t GROUP BY k1, k2 ORDER BY k1, k2"),
            format!("SELECT k1, k2, {aggs}, var_pop(v) FROM t GROUP BY k1, k2 ORDER BY k1, k2"),
        ),
        (
            format!("SELECT {aggs} FROM t"),
            format!("SELECT {aggs}, var_pop(v) FROM t"),
        ),
        (
            format!("SELECT {aggs} FROM t WHERE k2 < 0"),
            format!("SELECT {aggs}, var_pop(v) FROM t WHERE k2 < 0"),
        ),
        (
            format!("SELECT k1, {aggs}, count(DISTINCT k2) AS i, sum(DISTINCT k2) AS j FROM t GROUP BY k1 ORDER BY k1"),
            format!("SELECT k1, {aggs}, count(DISTINCT k2) AS i, sum(DISTINCT k2) AS j, var_pop(v) FROM t GROUP BY k1 ORDER BY k1"),
        ),
        (
            format!("SELECT {aggs}, count(DISTINCT k1) AS i FROM t"),
            format!("SELECT {aggs}, count(DISTINCT k1) AS i, var_pop(v) FROM t"),
        ),
        (
            format!("SELECT {aggs}, count(DISTINCT k1) AS i FROM t WHERE k2 < 0"),
            format!("SELECT {aggs}, count(DISTINCT k1) AS i, var_pop(v) FROM t WHERE k2 < 0"),
        ),
    ];
    for &(limit, chunk, force) in &[
        (usize::MAX, 64 * 1024, false),
        (4 << 20, 7, true),
        (2 << 20, 1000, true),
    ] {
        let spill_dir = tempfile::tempdir().unwrap();
        let mut b = Session::builder()
            .threads(2)
            .chunk_rows(chunk)
            .force_spill(force)
            .spill_dir(spill_dir.path());
        if limit != usize::MAX {
            b = b.memory_limit_bytes(limit);
        }
        let session = b.build().unwrap();
        let frame = DataFrame::new(schema.clone(), vec![batch.clone()]).lazy(&session);
        session.register("t", &frame).unwrap();
        for (split, sets) in &queries {
            let plan = |sql: &str| session.sql(sql).unwrap().explain().unwrap();
            assert!(plan(split).contains("#distinct"), "{}", plan(split));
            assert!(!plan(sets).contains("#distinct"), "{}", plan(sets));
            let run = |sql: &str| {
                session
                    .sql(sql)
                    .unwrap()
                    .collect()
                    .unwrap_or_else(|e| panic!("{limit} {chunk}: {sql}: {e}"))
                    .to_batch()
                    .unwrap()
            };
            let sets_out = run(sets);
            let split_out = run(split);
            assert_eq!(split_out.num_rows(), sets_out.num_rows(), "{split}");
            assert!(split_out.num_rows() > 0, "{split}");
            for (i, field) in split_out.schema().fields().iter().enumerate() {
                let (x, y) = (split_out.column(i), sets_out.column(i));
                if field.name() == "c" {
                    let (x, y) = (
                        x.as_primitive::<Float64Type>(),
                        y.as_primitive::<Float64Type>(),
                    );
                    for r in 0..x.len() {
                        let (x, y) = (
                            x.is_valid(r).then(|| x.value(r)),
                            y.is_valid(r).then(|| y.value(r)),
                        );
                        assert!(close(x, y), "{split}: row {r} of c: {x:?} vs {y:?}");
                    }
                } else {
                    assert_eq!(x.as_ref(), y.as_ref(), "{split}: column {}", field.name());
                }
            }
        }
        assert_eq!(session.memory_pool().used(), 0);
    }
}

/// `sum(x + c)` as `sum(x) + c·count(x)` and `avg(x + c)` as `avg(x) + c` (optimizer
/// rule `aggregate_offsets`): the same queries with the constants hidden from the rule
/// (`+ c * one`, `one` a column of 1s) give the same rows, grouped, global and over
/// no rows, unlimited and under forced spill; `explain` shows the shared `#sum`.
#[test]
fn offset_sums_from_one_sum_and_count_equal_the_per_row_sums() {
    let (schema, batch) = data();
    let ones = Arc::new(Int64Array::from(vec![1i64; batch.num_rows()])) as arrow::array::ArrayRef;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("one", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut columns = batch.columns().to_vec();
    columns.push(ones);
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let calls = |hide: bool| {
        let c = |v: &str| {
            if hide {
                format!("{v} * one")
            } else {
                v.to_string()
            }
        };
        format!(
            "sum(w) AS a, sum(w + {}) AS b, sum({} + w) AS c, sum(w - {}) AS d, \
             avg(w + {}) AS e, sum(v + {}) AS f, avg(v - {}) AS g, sum(k2 + {}) AS h",
            c("1"),
            c("7"),
            c("40"),
            c("5"),
            c("0.25"),
            c("1.5"),
            c("3")
        )
    };
    let queries = |hide: bool| {
        [
            format!("SELECT k1, {} FROM t GROUP BY k1 ORDER BY k1", calls(hide)),
            format!("SELECT {} FROM t", calls(hide)),
            format!("SELECT {} FROM t WHERE k2 < 0", calls(hide)),
        ]
    };
    for &(limit, chunk, force) in &[(usize::MAX, 64 * 1024, false), (4 << 20, 7, true)] {
        let spill_dir = tempfile::tempdir().unwrap();
        let mut b = Session::builder()
            .threads(2)
            .chunk_rows(chunk)
            .force_spill(force)
            .spill_dir(spill_dir.path());
        if limit != usize::MAX {
            b = b.memory_limit_bytes(limit);
        }
        let session = b.build().unwrap();
        let frame = DataFrame::new(schema.clone(), vec![batch.clone()]).lazy(&session);
        session.register("t", &frame).unwrap();
        for (on, off) in queries(false).iter().zip(queries(true)) {
            let plan = |sql: &str| session.sql(sql).unwrap().explain().unwrap();
            assert!(plan(on).contains("#sum"), "{}", plan(on));
            assert!(!plan(&off).contains("#sum"), "{}", plan(&off));
            let run = |sql: &str| {
                session
                    .sql(sql)
                    .unwrap()
                    .collect()
                    .unwrap_or_else(|e| panic!("{limit} {chunk}: {sql}: {e}"))
                    .to_batch()
                    .unwrap()
            };
            let (x, y) = (run(on), run(&off));
            assert_eq!(x.schema(), y.schema(), "{on}");
            assert_eq!(x.num_rows(), y.num_rows(), "{on}");
            for (i, field) in x.schema().fields().iter().enumerate() {
                if field.data_type() == &DataType::Float64 {
                    let (p, q) = (
                        x.column(i).as_primitive::<Float64Type>(),
                        y.column(i).as_primitive::<Float64Type>(),
                    );
                    for r in 0..p.len() {
                        let (p, q) = (
                            p.is_valid(r).then(|| p.value(r)),
                            q.is_valid(r).then(|| q.value(r)),
                        );
                        assert!(
                            close(p, q),
                            "{on}: row {r} of {}: {p:?} vs {q:?}",
                            field.name()
                        );
                    }
                } else {
                    assert_eq!(
                        x.column(i).as_ref(),
                        y.column(i).as_ref(),
                        "{on}: {}",
                        field.name()
                    );
                }
            }
        }
        assert_eq!(session.memory_pool().used(), 0);
    }
}
