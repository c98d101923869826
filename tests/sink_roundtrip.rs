//! `sink_parquet` / `sink_csv` through the API: hive-partitioned output read back as a
//! dataset gives the same rows; outputs are atomic.

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, Int64Type};
use floe::prelude::*;

fn session() -> Session {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    Session::builder().threads(2).build().unwrap()
}

fn totals(f: &LazyFrame) -> (i64, f64) {
    let b = f
        .select([len().alias("n"), col("temperature").sum().alias("t")])
        .unwrap()
        .collect()
        .unwrap()
        .to_batch()
        .unwrap();
    (
        b.column(0).as_primitive::<Int64Type>().value(0),
        b.column(1).as_primitive::<Float64Type>().value(0),
    )
}

#[test]
fn partitioned_parquet_round_trip() {
    let s = session();
    let src = s
        .scan_csv("data/sensors/*.csv", CsvOptions::default())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("by_sensor");
    let report = src
        .filter(col("temperature").gt(lit(20)))
        .unwrap()
        .sink_parquet(
            &out,
            ParquetSinkOptions::default().partition_by(["sensor_id"]),
        )
        .unwrap();
    let mut parts: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        ["sensor_id=A", "sensor_id=B", "sensor_id=C", "sensor_id=D"]
    );
    let back = s
        .scan_parquet(out.to_str().unwrap(), ParquetOptions::default())
        .unwrap();
    let expected = totals(&src.filter(col("temperature").gt(lit(20))).unwrap());
    let got = totals(&back);
    assert_eq!(report.rows as i64, expected.0);
    assert_eq!(got.0, expected.0);
    assert!((got.1 - expected.1).abs() < 1e-6 * expected.1.abs());
    // The partition column comes back from the directory names, and prunes.
    let b_only = totals(&back.filter(col("sensor_id").eq(lit("B"))).unwrap());
    let b_src = totals(
        &src.filter(
            col("temperature")
                .gt(lit(20))
                .and(col("sensor_id").eq(lit("B"))),
        )
        .unwrap(),
    );
    assert_eq!(b_only.0, b_src.0);
}

#[test]
fn csv_sink_writes_header_and_rows_in_order() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("head.csv");
    s.scan_csv("data/sensors/sensors_00.csv", CsvOptions::default())
        .unwrap()
        .select([col("timestamp"), col("sensor_id")])
        .unwrap()
        .head(3)
        .sink_csv(&out, CsvSinkOptions::default())
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "timestamp,sensor_id");
    assert!(lines[1].starts_with("2024-01-01T00:00:00"), "{text}");
    assert!(lines[3].starts_with("2024-01-01T00:02:00"), "{text}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the output file remains"
    );
}

#[test]
fn failed_query_leaves_no_output_file() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.parquet");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n3,x\n").unwrap();
    let err = s
        .scan_csv(
            bad.to_str().unwrap(),
            CsvOptions::default().with_column_type("b", arrow::datatypes::DataType::Int64),
        )
        .unwrap()
        .sink_parquet(&out, ParquetSinkOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("bad.csv:3"), "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bad.csv")]);
}
