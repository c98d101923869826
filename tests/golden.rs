//! Golden answers: queries over the shipped data, compared with DuckDB's answers
//! (tests/golden/answers/*.csv, made by tests/golden/make_golden.py).
//!
//! Every `queries/*.sql` runs through floe's SQL; the `api_*` ones also run as the
//! equivalent LazyFrame program. Rows are compared as sets (no ORDER BY yet), floats
//! with a relative tolerance of 1e-9. Each runs in several configurations (DuckDB's
//! and RisingLight's habit): 2 threads and 1, morsels of the default size and of 1
//! and 7 rows; the suite's second half (`FLOE_FORCE_SPILL=1`) adds forced spilling.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The configurations every golden query runs in: (threads, chunk rows).
const CONFIGS: [(usize, Option<usize>); 4] = [(2, None), (1, None), (2, Some(1)), (1, Some(7))];

fn session_with(threads: usize, chunk: Option<usize>) -> Session {
    let mut b = Session::builder().threads(threads);
    if let Some(c) = chunk {
        b = b.chunk_rows(c);
    }
    b.build().unwrap()
}

/// Rows of a result as strings (nulls as empty strings, like the answer files).
fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("");
    let mut out = vec![];
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    out
}

fn read_answer(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn normalize(v: &str) -> String {
    // Timestamps: arrow prints 2024-01-01T12:00:00, Python 2024-01-01 12:00:00.
    let v = if v.len() >= 19 && v.as_bytes()[10] == b'T' {
        v.replacen('T', " ", 1)
    } else {
        v.to_string()
    };
    match v.parse::<f64>() {
        Ok(f) if v.contains('.') || v.contains('e') => format!("{:.6e}", f),
        _ => v,
    }
}

fn same_value(a: &str, b: &str) -> bool {
    if normalize(a) == normalize(b) {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12),
        _ => false,
    }
}

fn compare(name: &str, got: Vec<Vec<String>>, expected: Vec<Vec<String>>) {
    let sort = |mut rows: Vec<Vec<String>>| {
        rows.sort_by_key(|r| r.iter().map(|v| normalize(v)).collect::<Vec<_>>());
        rows
    };
    let (got, expected) = (sort(got), sort(expected));
    assert_eq!(
        got.len(),
        expected.len(),
        "{name}: row count\n got {got:?}\n expected {expected:?}"
    );
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.len(), e.len(), "{name}: column count");
        for (a, b) in g.iter().zip(e) {
            assert!(
                same_value(a, b),
                "{name}: value {a} != {b}\n row {g:?}\n expected {e:?}"
            );
        }
    }
}

fn queries() -> Vec<(String, String)> {
    let mut out = vec![];
    for entry in std::fs::read_dir(root().join("tests/golden/queries")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "sql") {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            out.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn with_root<T>(f: impl FnOnce() -> T) -> T {
    // Query paths are relative to the repository root.
    std::env::set_current_dir(root()).unwrap();
    f()
}

#[test]
fn sql_matches_duckdb() {
    with_root(|| {
        for (threads, chunk) in CONFIGS {
            sql_matches_duckdb_with(
                &session_with(threads, chunk),
                &format!("{threads} threads, chunk {chunk:?}"),
            );
        }
    });
}

fn sql_matches_duckdb_with(s: &Session, config: &str) {
    {
        let qs = queries();
        assert!(qs.len() >= 10, "golden queries missing");
        for (name, sql) in qs {
            let name = &name;
            let answer = root().join(format!("tests/golden/answers/{name}.csv"));
            let (header, expected) = read_answer(&answer);
            let frame = s
                .sql(&sql)
                .unwrap_or_else(|e| panic!("{name} ({config}): {e}"));
            let df = frame
                .collect()
                .unwrap_or_else(|e| panic!("{name} ({config}): {e}"));
            let names: Vec<String> = df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(
                names.len(),
                header.len(),
                "{name}: columns {names:?} vs {header:?}"
            );
            compare(
                &format!("{name} ({config})"),
                rows_of(df.batches()),
                expected,
            );
        }
    }
}

#[test]
fn api_matches_duckdb() {
    with_root(|| {
        for (threads, chunk) in CONFIGS {
            api_matches_duckdb_with(
                &session_with(threads, chunk),
                &format!("{threads} threads, chunk {chunk:?}"),
            );
        }
    });
}

fn api_matches_duckdb_with(s: &Session, config: &str) {
    {
        let sensors = || {
            s.scan_csv("data/sensors/*.csv", CsvOptions::default())
                .unwrap()
        };
        let frames: Vec<(&str, LazyFrame)> = vec![
            (
                "api_01_filter_groupby",
                sensors()
                    .filter(col("temperature").gt(lit(30)))
                    .unwrap()
                    .group_by([col("sensor_id")])
                    .agg([
                        col("temperature").mean().alias("mean_temp"),
                        len().alias("n"),
                        col("humidity").max().alias("max_h"),
                    ])
                    .unwrap(),
            ),
            (
                "api_09_everyday_aggregates",
                sensors()
                    .group_by([col("sensor_id")])
                    .agg([
                        col("temperature").var_pop().alias("t_var_pop"),
                        col("pressure").std_pop().alias("p_std_pop"),
                        col("temperature")
                            .floor()
                            .sum_distinct()
                            .alias("t_sum_distinct"),
                        col("humidity")
                            .floor()
                            .mean_distinct()
                            .alias("h_avg_distinct"),
                        col("humidity").floor().n_unique().alias("h_distinct"),
                        col("timestamp")
                            .max_by(col("temperature"))
                            .alias("hottest_at"),
                        col("timestamp")
                            .min_by(col("temperature"))
                            .alias("coldest_at"),
                    ])
                    .unwrap(),
            ),
            (
                "api_02_with_columns",
                sensors()
                    .filter(col("sensor_id").neq(lit("D")))
                    .unwrap()
                    .with_columns([
                        col("timestamp").hour().alias("hour"),
                        col("temperature").sub(lit(25)).alias("dev"),
                        when(col("humidity").gt(lit(60)))
                            .then(lit(1))
                            .otherwise(lit(0))
                            .alias("humid"),
                    ])
                    .unwrap()
                    .group_by([col("hour")])
                    .agg([
                        col("dev").sum().alias("dev"),
                        col("humid").sum().alias("humid"),
                    ])
                    .unwrap(),
            ),
            (
                "api_03_parquet_global",
                s.scan_parquet(
                    "data/sensors_parquet/**/*.parquet",
                    ParquetOptions::default(),
                )
                .unwrap()
                .filter(col("sensor_id").is_in(vec![lit("A"), lit("B")]))
                .unwrap()
                .select([
                    len().alias("n"),
                    col("pressure").min().alias("p_min"),
                    col("pressure").max().alias("p_max"),
                    col("humidity").std().alias("h_std"),
                ])
                .unwrap(),
            ),
            ("api_04_windows", api_04_windows(s)),
            (
                "api_05_top_per_group",
                sensors()
                    .filter(
                        row_number()
                            .over_ordered(
                                [col("sensor_id")],
                                [
                                    col("humidity").sort_desc(),
                                    col("timestamp").sort_asc(),
                                    col("temperature").sort_asc(),
                                ],
                            )
                            .lt_eq(lit(3)),
                    )
                    .unwrap()
                    .select([col("sensor_id"), col("timestamp"), col("humidity")])
                    .unwrap(),
            ),
            (
                "api_06_sorted_frame",
                // The order comes from the sort the frame ends with.
                s.scan_csv("data/sensors/sensors_01.csv", CsvOptions::default())
                    .unwrap()
                    .sort([col("timestamp").sort_asc()])
                    .unwrap()
                    .select([
                        col("timestamp"),
                        col("temperature"),
                        col("temperature").cum_max().alias("t_max_so_far"),
                        col("pressure").rolling_sum(3).alias("p_roll3"),
                        col("pressure").rolling_std(3).alias("p_roll3_std"),
                    ])
                    .unwrap(),
            ),
            ("api_07_temp_trend", api_07_temp_trend(s)),
            (
                "api_08_sensor_pct",
                s.scan_csv("data/sensors/sensors_00.csv", CsvOptions::default())
                    .unwrap()
                    .group_by([col("sensor_id")])
                    .agg([len().alias("n")])
                    .unwrap()
                    .select([
                        col("sensor_id"),
                        (lit(100.0) * col("n") / col("n").sum().over([])).alias("pct"),
                    ])
                    .unwrap(),
            ),
        ];
        for (name, frame) in frames {
            let (_, expected) =
                read_answer(&root().join(format!("tests/golden/answers/{name}.csv")));
            let df = frame
                .collect()
                .unwrap_or_else(|e| panic!("{name} ({config}): {e}"));
            compare(
                &format!("{name} ({config})"),
                rows_of(df.batches()),
                expected,
            );
        }
    }
}

/// `api_04_windows.sql` through the window API.
fn api_04_windows(s: &Session) -> LazyFrame {
    let by_time = || [col("timestamp").sort_asc()];
    s.scan_csv("data/sensors/sensors_00.csv", CsvOptions::default())
        .unwrap()
        .select([
            col("timestamp"),
            col("sensor_id"),
            col("temperature")
                .sum()
                .over([col("sensor_id")])
                .alias("t_sum_sensor"),
            (col("temperature") - col("temperature").mean())
                .over([col("sensor_id")])
                .alias("t_dev"),
            rank()
                .over_ordered([col("sensor_id")], [col("humidity").sort_desc()])
                .alias("h_rank"),
            col("temperature")
                .diff(1)
                .over_ordered([], by_time())
                .alias("t_diff"),
            col("pressure")
                .cum_sum()
                .over_ordered([col("sensor_id")], by_time())
                .alias("p_cum"),
            col("temperature")
                .rolling_mean(60)
                .over_ordered([], by_time())
                .alias("t_roll60"),
            col("humidity")
                .shift(-2)
                .over_ordered([col("sensor_id")], by_time())
                .alias("h_lead2"),
        ])
        .unwrap()
}

/// `api_07_temp_trend.sql` through the window API, as `examples/sensor_stats.rs`
/// computes it: the last minus the first value of the 1440-row rolling mean of the
/// time-ordered temperature, beside corr(temperature, pressure).
fn api_07_temp_trend(s: &Session) -> LazyFrame {
    let frame = s
        .scan_csv("data/sensors/sensors_00.csv", CsvOptions::default())
        .unwrap();
    let ts = || col("timestamp");
    let trend = frame
        .with_columns([col("temperature")
            .rolling_mean(1440)
            .over_ordered([], [ts().sort_asc()])
            .alias("rm")])
        .unwrap()
        .filter(col("rm").is_not_null())
        .unwrap()
        .filter(
            ts().eq(ts().min().over([]))
                .or(ts().eq(ts().max().over([]))),
        )
        .unwrap()
        .select([(col("rm")
            * when(ts().eq(ts().max().over([])))
                .then(lit(1.0))
                .otherwise(lit(-1.0)))
        .alias("signed")])
        .unwrap()
        .select([col("signed").sum().alias("temp_trend")])
        .unwrap();
    let corr_t_p = frame
        .select([corr(col("temperature"), col("pressure")).alias("corr_t_p")])
        .unwrap();
    trend.cross_join(&corr_t_p).unwrap()
}
