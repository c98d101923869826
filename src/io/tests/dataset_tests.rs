//! Discovery, hive partitions, union by name and schema conflicts.

use std::sync::Arc;

use arrow::datatypes::DataType;

use super::{request, rows, scan_with, write};
use crate::error::Error;
use crate::expr::{col, lit, ScalarValue};
use crate::io::scan::scan_source;
use crate::io::{CsvOptions, Dataset, FileFormat};

fn csv() -> FileFormat {
    FileFormat::Csv(CsvOptions::default())
}

#[test]
fn hive_partitions_are_typed_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "year=2023/region=eu/dt=2023-05-01/a.csv", "v\n1\n2\n");
    write(d, "year=2024/region=us/dt=2024-01-31/b.csv", "v\n3\n");
    write(
        d,
        "year=2024/region=__HIVE_DEFAULT_PARTITION__/dt=2024-02-01/c.csv",
        "v\n4\n",
    );
    write(d, "year=2024/region=a%2Fb/dt=2024-02-02/d.csv", "v\n5\n");
    write(d, "year=2024/region=eu/dt=2024-02-03/_SUCCESS", "");
    write(
        d,
        "year=2024/region=eu/dt=2024-02-03/.hidden.csv",
        "v\n99\n",
    );
    write(d, "year=2024/region=eu/dt=2024-02-03/notes.txt", "v\n98\n");

    let ds = Arc::new(Dataset::try_new(d.to_str().unwrap(), csv()).unwrap());
    assert_eq!(ds.files.len(), 4);
    let types: Vec<(String, DataType)> = ds
        .schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("v".to_string(), DataType::Int64),
            ("year".to_string(), DataType::Int64),
            ("region".to_string(), DataType::Utf8),
            ("dt".to_string(), DataType::Date32),
        ]
    );
    assert_eq!(
        ds.files[0].partition_values,
        vec![
            ScalarValue::Int64(2023),
            ScalarValue::Utf8("eu".into()),
            ScalarValue::Date32(19478)
        ]
    );
    let all = scan_with(&ds, request(None, vec![], 1024), 1 << 20, 1).unwrap();
    assert_eq!(
        rows(&all),
        vec![
            "1|2023|eu|2023-05-01",
            "2|2023|eu|2023-05-01",
            "4|2024|null|2024-02-01",
            "5|2024|a/b|2024-02-02",
            "3|2024|us|2024-01-31",
        ]
    );

    // A partition-only filter prunes files; a mixed one is applied to the rows.
    let filters = vec![
        col("year").eq(lit(2024)),
        col("v").gt(lit(3)).or(col("region").eq(lit("us"))),
    ];
    let source = scan_source(&ds, request(Some(&["region", "v"]), filters, 1024)).unwrap();
    assert_eq!(source.stats().files_pruned(), 1);
    let out = super::run(&source, 2).unwrap();
    assert_eq!(rows(&out), vec!["null|4", "a/b|5", "us|3"]);

    // A null partition value never satisfies a comparison.
    let source = scan_source(&ds, request(None, vec![col("region").neq(lit("eu"))], 1024)).unwrap();
    assert_eq!(source.stats().files_pruned(), 2);
    assert_eq!(rows(&super::run(&source, 1).unwrap()).len(), 2);
}

#[test]
fn glob_without_match_and_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "data/a.csv", "x\n1\n");
    let pattern = format!("{}/data/*.parquet", dir.path().display());
    let err = Dataset::try_new(&pattern, csv()).unwrap_err();
    assert!(matches!(&err, Error::NoFiles(p) if *p == pattern), "{err}");

    let missing = format!("{}/nope.csv", dir.path().display());
    let err = Dataset::try_new(&missing, csv()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("nope.csv")),
        "{err}"
    );

    let empty_dir = dir.path().join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let err = Dataset::try_new(empty_dir.to_str().unwrap(), csv()).unwrap_err();
    assert!(matches!(err, Error::NoFiles(_)));

    // `**` recurses; the glob root's `key=value` children are partitions.
    write(dir.path(), "data/k=7/b.csv", "x\n2\n");
    let ds = Dataset::try_new(&format!("{}/data/**/*.csv", dir.path().display()), csv()).unwrap();
    assert_eq!(ds.files.len(), 2);
    assert_eq!(ds.partition_names(), vec!["k"]);
    assert_eq!(ds.files[0].partition_values, vec![ScalarValue::Null]);
    assert_eq!(ds.files[1].partition_values, vec![ScalarValue::Int64(7)]);
}

#[test]
fn csv_files_union_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "id,x,y\n1,10,a\n2,20,b\n");
    write(dir.path(), "b.csv", "y,id,z\nc,3.5,true\n");
    let ds = Arc::new(Dataset::try_new(&format!("{}/*.csv", dir.path().display()), csv()).unwrap());
    let names: Vec<&str> = ds
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, vec!["id", "x", "y", "z"]);
    // Int64 in a.csv and Float64 in b.csv widen to Float64.
    assert_eq!(ds.schema.field(0).data_type(), &DataType::Float64);
    assert_eq!(ds.schema.field(3).data_type(), &DataType::Boolean);
    let out = scan_with(&ds, request(None, vec![], 1024), 1 << 20, 2).unwrap();
    assert_eq!(
        rows(&out),
        vec!["1.0|10|a|null", "2.0|20|b|null", "3.5|null|c|true"]
    );

    // A filter on a column one file lacks sees nulls there.
    let out = scan_with(
        &ds,
        request(Some(&["y"]), vec![col("x").is_null()], 1024),
        1 << 20,
        1,
    )
    .unwrap();
    assert_eq!(rows(&out), vec!["c"]);
}

#[test]
fn schema_conflict_names_both_files_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "k,v\n1,10\n");
    write(dir.path(), "b.csv", "k,v\n2,true\n");
    let err = Dataset::try_new(dir.path().to_str().unwrap(), csv()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Schema(_)), "{msg}");
    assert!(
        msg.contains("'v'") && msg.contains("a.csv") && msg.contains("b.csv"),
        "{msg}"
    );
}

#[test]
fn no_header_columns_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "1,x,2024-01-02\n2,y,2024-01-03\n");
    let options = CsvOptions::default()
        .with_header(false)
        .with_column_type("column_1", DataType::Float64);
    let ds = Arc::new(
        Dataset::try_new(
            &format!("{}/a.csv", dir.path().display()),
            FileFormat::Csv(options),
        )
        .unwrap(),
    );
    let types: Vec<String> = ds
        .schema
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        vec!["column_1:Float64", "column_2:Utf8", "column_3:Date32"]
    );
    let out = scan_with(
        &ds,
        request(Some(&["column_3", "column_1"]), vec![], 1024),
        1 << 20,
        1,
    )
    .unwrap();
    assert_eq!(rows(&out), vec!["2024-01-02|1.0", "2024-01-03|2.0"]);

    let bad = CsvOptions::default().with_column_type("nope", DataType::Int64);
    let err = Dataset::try_new(dir.path().to_str().unwrap(), FileFormat::Csv(bad)).unwrap_err();
    assert!(err.to_string().contains("nope"));
}
