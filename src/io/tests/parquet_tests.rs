//! The Parquet scan: row-group pruning, union by name, limits, corrupt files.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::{count, request, rows, run, scan_with};
use crate::error::Error;
use crate::expr::{col, lit, Expr};
use crate::io::scan::scan_source;
use crate::io::{Dataset, FileFormat, ParquetOptions};

/// Writes `columns` to `path` in row groups of `group_rows`.
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, group_rows: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// ids 0..1000 in 10 row groups; `name` is null for multiples of 100.
fn ids_file(path: &Path) {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
    let names: ArrayRef = Arc::new(StringArray::from_iter(
        (0..1000).map(|i| (i % 100 != 0).then(|| format!("n{:04}", i))),
    ));
    write_parquet(path, vec![("id", ids), ("name", names)], 100);
}

fn parquet() -> FileFormat {
    FileFormat::Parquet(ParquetOptions::default())
}

#[test]
fn row_group_pruning_skips_groups_and_keeps_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.parquet");
    ids_file(&path);
    let ds = Arc::new(Dataset::try_new(path.to_str().unwrap(), parquet()).unwrap());
    assert_eq!(
        ds.files[0]
            .parquet
            .as_ref()
            .unwrap()
            .metadata()
            .num_row_groups(),
        10
    );

    // (filter, row groups pruned, expected ids)
    let cases: Vec<(Vec<Expr>, u64, Vec<i64>)> = vec![
        (vec![col("id").gt_eq(lit(950))], 9, (950..1000).collect()),
        (vec![lit(250).gt(col("id"))], 7, (0..250).collect()),
        (
            vec![col("id").gt(lit(420)).and(col("id").lt_eq(lit(433)))],
            9,
            (421..434).collect(),
        ),
        (
            vec![col("id").is_in(vec![lit(5), lit(777)])],
            8,
            vec![5, 777],
        ),
        (
            vec![col("id").eq(lit(10)).or(col("id").eq(lit(999)))],
            8,
            vec![10, 999],
        ),
        (
            vec![col("name").gt_eq(lit("n0900"))],
            9,
            (901..1000).collect(),
        ),
        (
            vec![col("name").is_null(), col("id").lt(lit(300))],
            7,
            vec![0, 100, 200],
        ),
        (vec![col("id").add(lit(1)).eq(lit(10))], 0, vec![9]),
        (vec![col("id").gt(lit(5000))], 10, vec![]),
    ];
    for (filters, pruned, expected) in cases {
        let what = format!("{filters:?}");
        let req = request(Some(&["id"]), filters.clone(), 64);
        let metrics = Arc::clone(&req.metrics);
        let source = scan_source(&ds, req).unwrap();
        assert_eq!(source.stats().row_groups_pruned(), pruned, "{what}");
        let out = run(&source, 3).unwrap();
        let ids: Vec<String> = expected.iter().map(|i| i.to_string()).collect();
        assert_eq!(rows(&out), ids, "{what}");
        if pruned > 0 {
            assert_eq!(
                metrics.note(),
                format!("pruned {pruned}/10 row groups by statistics")
            );
        }

        // The same filters applied to an unpruned read of everything.
        let all = scan_with(&ds, request(None, vec![], 1000), 1, 1).unwrap();
        let reference = scan_with(&ds, request(Some(&["id"]), vec![], 1000), 1, 1).unwrap();
        assert_eq!(count(&all), 1000);
        let mask_rows: Vec<String> = rows(&all)
            .iter()
            .zip(rows(&reference))
            .filter(|(full, _)| {
                let (id, name) = full.split_once('|').unwrap();
                let batch = RecordBatch::try_from_iter(vec![
                    (
                        "id",
                        Arc::new(Int64Array::from(vec![id.parse::<i64>().unwrap()])) as ArrayRef,
                    ),
                    (
                        "name",
                        Arc::new(StringArray::from(vec![(name != "null").then_some(name)]))
                            as ArrayRef,
                    ),
                ])
                .unwrap();
                filters.iter().all(|f| {
                    let m = crate::expr::eval::evaluate_predicate(f, &batch).unwrap();
                    m.is_valid(0) && m.value(0)
                })
            })
            .map(|(_, id)| id)
            .collect();
        assert_eq!(mask_rows, ids, "{what}");
    }
}

#[test]
fn truncated_parquet_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    ids_file(&path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Dataset::try_new(path.to_str().unwrap(), parquet()).unwrap_err();
    match &err {
        Error::Parquet {
            path, row_group, ..
        } => {
            assert!(path.ends_with("t.parquet"));
            assert_eq!(*row_group, None);
        }
        other => panic!("expected a Parquet error, got {other}"),
    }
    assert!(err.to_string().contains("t.parquet"));

    // A footer that survives but data pages that do not: the error names the row group.
    let good = dir.path().join("g.parquet");
    ids_file(&good);
    let mut bytes = std::fs::read(&good).unwrap();
    for b in &mut bytes[4..200] {
        *b = 0xAB;
    }
    std::fs::write(&good, &bytes).unwrap();
    let ds = Arc::new(Dataset::try_new(good.to_str().unwrap(), parquet()).unwrap());
    let err = scan_with(&ds, request(None, vec![], 64), 1, 1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Parquet {
                row_group: Some(0),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn union_by_name_partitions_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..300));
    let s: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..300).map(|i| format!("s{i}")),
    ));
    write_parquet(
        &dir.path().join("part=1/a.parquet"),
        vec![("a", a.clone()), ("s", s)],
        100,
    );
    let b: ArrayRef = Arc::new(Int64Array::from_iter_values(1000..1050));
    write_parquet(
        &dir.path().join("part=2/b.parquet"),
        vec![("b", b), ("a", a.slice(0, 50))],
        100,
    );
    let ds = Arc::new(Dataset::try_new(dir.path().to_str().unwrap(), parquet()).unwrap());
    let names: Vec<&str> = ds
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, vec!["a", "s", "b", "part"]);

    let out = scan_with(
        &ds,
        request(Some(&["part", "b", "s"]), vec![col("a").eq(lit(7))], 64),
        1,
        2,
    )
    .unwrap();
    assert_eq!(rows(&out), vec!["1|null|s7", "2|1007|null"]);

    // A limit without filters stops handing out row groups once they hold enough rows.
    let mut req = request(Some(&["a"]), vec![], 64);
    req.limit = Some(150);
    let source = scan_source(&ds, req).unwrap();
    let out = run(&source, 1).unwrap();
    assert_eq!(count(&out), 200, "two row groups of 100 rows");
    assert_eq!(rows(&out)[..3], ["0", "1", "2"]);

    // Partition pruning applies to Parquet too; zero-column scans count rows.
    let source = scan_source(&ds, request(Some(&[]), vec![col("part").eq(lit(2))], 64)).unwrap();
    assert_eq!(source.stats().files_pruned(), 1);
    assert_eq!(count(&run(&source, 1).unwrap()), 50);

    // Conflicting types are an error naming both files.
    let c: ArrayRef = Arc::new(StringArray::from_iter_values((0..3).map(|i| i.to_string())));
    write_parquet(&dir.path().join("part=3/c.parquet"), vec![("a", c)], 100);
    let err = Dataset::try_new(dir.path().to_str().unwrap(), parquet()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("'a'") && msg.contains("a.parquet") && msg.contains("c.parquet"),
        "{msg}"
    );

    // A given schema skips merging; absent columns read as nulls, types are cast.
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("zz", DataType::Utf8, true),
    ]));
    let options = ParquetOptions {
        schema: Some(schema),
    };
    let loc = format!("{}/part=1/*.parquet", dir.path().display());
    let ds = Arc::new(Dataset::try_new(&loc, FileFormat::Parquet(options)).unwrap());
    let out = scan_with(&ds, request(None, vec![col("a").lt(lit(2))], 64), 1, 1).unwrap();
    assert_eq!(rows(&out), vec!["0.0|null", "1.0|null"]);
}

/// Filters over a dictionary-encoded string column run on its distinct strings
/// (`dictionary_filter`); the rows must equal those of the same data written without
/// dictionaries, and those of a naive filter, for predicates of every kind.
#[test]
fn filters_on_dictionary_strings_match_plain_strings() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5000i64;
    let modes = ["AIR", "MAIL", "SHIP", "RAIL", "TRUCK"];
    let mode_of = |i: i64| (i % 7 != 3).then(|| modes[(i * 31 % 5) as usize]);
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
    let mode: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(mode_of)));
    let batch = RecordBatch::try_from_iter(vec![("id", ids), ("mode", mode)]).unwrap();
    for (name, dictionary) in [("dict", true), ("plain", false)] {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(700))
            .set_dictionary_enabled(dictionary)
            .build();
        let path = dir.path().join(name).join("t.parquet");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let open = |name: &str| {
        let loc = dir.path().join(name);
        Arc::new(Dataset::try_new(loc.to_str().unwrap(), parquet()).unwrap())
    };
    let (dict, plain) = (open("dict"), open("plain"));
    let chosen = |d: &Dataset| {
        let meta = d.files[0].parquet.as_ref().unwrap();
        crate::io::dictionary_filter::dictionary_read_columns(
            meta,
            &[0, 1],
            &[col("mode").eq(lit("AIR"))],
        )
    };
    assert_eq!(
        chosen(&dict),
        vec![1],
        "the dictionary file reads mode as keys"
    );
    assert!(
        chosen(&plain).is_empty(),
        "plain pages are decoded as strings"
    );

    type Naive = fn(Option<&str>, i64) -> bool;
    let cases: Vec<(Vec<Expr>, Naive)> = vec![
        (vec![col("mode").eq(lit("SHIP"))], |m, _| m == Some("SHIP")),
        (
            vec![col("mode").is_in(vec![lit("MAIL"), lit("SHIP")])],
            |m, _| matches!(m, Some("MAIL" | "SHIP")),
        ),
        (vec![col("mode").eq(lit("AIR")).not()], |m, _| {
            m.is_some_and(|m| m != "AIR")
        }),
        (vec![col("mode").is_null()], |m, _| m.is_none()),
        (vec![col("mode").like("%AI%")], |m, _| {
            m.is_some_and(|m| m.contains("AI"))
        }),
        (
            vec![col("mode").neq(lit("RAIL")), col("id").lt(lit(3000i64))],
            |m, i| m.is_some_and(|m| m != "RAIL") && i < 3000,
        ),
        (vec![col("mode").eq(lit("BOAT"))], |_, _| false),
    ];
    for (filters, naive) in cases {
        let want: Vec<String> = (0..n)
            .filter(|&i| naive(mode_of(i), i))
            .map(|i| format!("{i}|{}", mode_of(i).unwrap_or("null")))
            .collect();
        for (d, name) in [(&dict, "dict"), (&plain, "plain")] {
            let req = request(None, filters.clone(), 256);
            let got = rows(&scan_with(d, req, 1 << 20, 2).unwrap());
            assert_eq!(got, want, "{name}: {filters:?}");
        }
    }
}
