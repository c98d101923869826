//! Atomic output: an empty result is a valid file; dropping, failing or an unusable
//! destination leaves nothing behind; finalize replaces an existing file.

use super::*;

#[test]
fn empty_output_is_a_valid_file() {
    let (dir, pool, metrics) = setup();
    let pq = dir.path().join("empty.parquet");
    let sink = parquet_sink(
        &pq,
        schema(),
        ParquetSinkOptions::default(),
        Arc::clone(&pool),
        Arc::clone(&metrics),
    )
    .unwrap();
    sink.finalize().unwrap();
    let b = read_parquet(&pq);
    assert_eq!((b.num_rows(), b.schema().fields().len()), (0, 3));
    let csv = dir.path().join("empty.csv");
    let sink = csv_sink(
        &csv,
        schema(),
        CsvSinkOptions::default(),
        Arc::clone(&pool),
        Arc::clone(&metrics),
    )
    .unwrap();
    sink.finalize().unwrap();
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "id,name,year\n");
    let part = dir.path().join("parts");
    let sink = parquet_sink(
        &part,
        schema(),
        ParquetSinkOptions::default().partition_by(["year"]),
        pool,
        metrics,
    )
    .unwrap();
    sink.finalize().unwrap();
    assert!(part.is_dir() && tree(&part).is_empty());
    assert!(sink.files().is_empty());
}

#[test]
fn dropping_without_finalize_leaves_nothing() {
    let (dir, pool, metrics) = setup();
    let existing = dir.path().join("keep.parquet");
    std::fs::write(&existing, b"old").unwrap();
    for partition_by in [vec![], vec!["year"]] {
        for (name, csv) in [("keep.parquet", false), ("out.csv", true), ("dir", false)] {
            let path = dir.path().join(if partition_by.is_empty() {
                name
            } else {
                "parts"
            });
            let sink = if csv {
                let o = CsvSinkOptions::default().partition_by(partition_by.clone());
                csv_sink(&path, schema(), o, Arc::clone(&pool), Arc::clone(&metrics)).unwrap()
            } else {
                let o = ParquetSinkOptions::default().partition_by(partition_by.clone());
                parquet_sink(&path, schema(), o, Arc::clone(&pool), Arc::clone(&metrics)).unwrap()
            };
            let mut local = sink.local_state().unwrap();
            local
                .sink(Morsel {
                    batch: batch(0, 100),
                    seq: Seq::default(),
                })
                .unwrap();
            assert!(tree(dir.path()).iter().any(|p| p.starts_with(".floe-tmp-")));
            drop(local);
            drop(sink);
            assert_eq!(tree(dir.path()), vec!["keep.parquet"]);
        }
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"old");
    assert_eq!(pool.used(), 0);
}

#[test]
fn finalize_replaces_an_existing_file() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out.csv");
    std::fs::write(&out, b"old").unwrap();
    let sink = csv_sink(
        &out,
        schema(),
        CsvSinkOptions::default().with_header(false),
        pool,
        metrics,
    )
    .unwrap();
    let mut local = sink.local_state().unwrap();
    local
        .sink(Morsel {
            batch: batch(1, 2),
            seq: Seq::default(),
        })
        .unwrap();
    local.combine().unwrap();
    sink.finalize().unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "1,n1,2021\n2,n2,2022\n"
    );
    assert!(
        matches!(sink.finalize(), Err(Error::Internal(_))),
        "second finalize"
    );
}

#[test]
fn unusable_destinations_fail_without_output() {
    let (dir, pool, metrics) = setup();
    let missing = dir.path().join("no/such/dir/out.parquet");
    let err = parquet_sink(
        &missing,
        schema(),
        ParquetSinkOptions::default(),
        Arc::clone(&pool),
        Arc::clone(&metrics),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let is_dir = csv_sink(
        dir.path(),
        schema(),
        CsvSinkOptions::default(),
        Arc::clone(&pool),
        Arc::clone(&metrics),
    );
    assert!(matches!(is_dir, Err(Error::Io { .. })));

    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let o = ParquetSinkOptions::default().partition_by(["year"]);
    let err = parquet_sink(&full, schema(), o, Arc::clone(&pool), Arc::clone(&metrics))
        .err()
        .unwrap();
    assert!(err.to_string().contains("new or empty directory"), "{err}");
    let file = dir.path().join("file");
    std::fs::write(&file, b"f").unwrap();
    let o = CsvSinkOptions::default().partition_by(["year"]);
    assert!(csv_sink(&file, schema(), o, pool, metrics).is_err());
    assert_eq!(tree(dir.path()), vec!["file", "full", "full/x"]);
}

#[test]
fn a_failing_write_fails_the_sink_and_removes_temp_output() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out");
    let options = ParquetSinkOptions::default().partition_by(["year"]);
    let sink = parquet_sink(&out, schema(), options, Arc::clone(&pool), metrics).unwrap();
    let temp = tree(dir.path())
        .into_iter()
        .find(|p| p.starts_with(".floe-tmp-"))
        .unwrap();
    // A plain file where the partition directory must go makes the write fail.
    std::fs::write(dir.path().join(&temp).join("year=2021"), b"blocker").unwrap();
    let mut local = sink.local_state().unwrap();
    let err = local
        .sink(Morsel {
            batch: batch(0, 30),
            seq: Seq::default(),
        })
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(
        tree(dir.path()).is_empty(),
        "temp dir removed at once: {:?}",
        tree(dir.path())
    );
    assert!(local
        .sink(Morsel {
            batch: batch(0, 3),
            seq: Seq { task: 1, batch: 0 }
        })
        .is_err());
    assert!(sink.finalize().is_err());
    assert!(!out.exists());
    assert_eq!(pool.used(), 0);
}

#[test]
fn a_batch_that_does_not_fit_the_schema_is_a_schema_error() {
    let (dir, pool, metrics) = setup();
    let sink = parquet_sink(
        dir.path().join("o.parquet"),
        schema(),
        ParquetSinkOptions::default(),
        pool,
        metrics,
    )
    .unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)])),
        vec![Arc::new(Int32Array::from(vec![1]))],
    )
    .unwrap();
    let mut local = sink.local_state().unwrap();
    let err = local
        .sink(Morsel {
            batch: other,
            seq: Seq::default(),
        })
        .unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[test]
fn invalid_options_are_rejected() {
    let (dir, pool, metrics) = setup();
    let p = dir.path().join("o");
    let mk = |o: ParquetSinkOptions| {
        parquet_sink(&p, schema(), o, Arc::clone(&pool), Arc::clone(&metrics)).err()
    };
    assert!(matches!(
        mk(ParquetSinkOptions::default().with_row_group_rows(0)),
        Some(Error::Config(_))
    ));
    let bad_level = ParquetSinkOptions::default().with_compression(ParquetCompression::Zstd(99));
    assert!(matches!(mk(bad_level), Some(Error::Config(_))));
    assert!(matches!(
        mk(ParquetSinkOptions::default().partition_by(["nope"])),
        Some(Error::Plan(_))
    ));
    assert!(matches!(
        mk(ParquetSinkOptions::default().partition_by(["year", "year"])),
        Some(Error::Plan(_))
    ));
    assert!(matches!(
        mk(ParquetSinkOptions::default().partition_by(["id", "name", "year"])),
        Some(Error::Plan(_))
    ));
    // Lists and structs go to CSV as JSON text; a union has no CSV form.
    let nested = Arc::new(Schema::new(vec![Field::new(
        "u",
        DataType::Union(
            arrow::datatypes::UnionFields::empty(),
            arrow::datatypes::UnionMode::Sparse,
        ),
        true,
    )]));
    let err = csv_sink(
        &p,
        nested,
        CsvSinkOptions::default(),
        Arc::clone(&pool),
        Arc::clone(&metrics),
    )
    .err();
    assert!(matches!(err, Some(Error::NotSupported(_))));
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn disk_full_is_reported_as_such() {
    let io = std::io::Error::from_raw_os_error(28);
    let e = writer::parquet_error(
        Path::new("x"),
        parquet::errors::ParquetError::External(Box::new(io)),
    );
    assert!(matches!(e, Error::DiskFull { .. }), "{e}");
    let Ok(dev_full) = File::options().write(true).open("/dev/full") else {
        return; // not Linux
    };
    let csv = Format::Csv {
        header: true,
        delimiter: b',',
    };
    let mut w = FileWriter::create(&csv, dev_full, &schema(), "x.csv".into()).unwrap();
    let bytes = vec![b'x'; 1 << 20];
    let err = w.write(Payload::Csv { bytes, rows: 1 }).unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    let dev_full = File::options().write(true).open("/dev/full").unwrap();
    let props = parquet::file::properties::WriterProperties::default();
    let mut w = FileWriter::create(
        &Format::Parquet(Box::new(props)),
        dev_full,
        &schema(),
        "x.parquet".into(),
    )
    .unwrap();
    w.write(Payload::Batch(batch(0, 10))).unwrap();
    let err = w.close().unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
}

#[test]
fn hive_escaping() {
    assert_eq!(hive_escape("a/b=c"), "a%2Fb%3Dc");
    assert_eq!(hive_escape("2024-01-01 10:00"), "2024-01-01 10%3A00");
    assert_eq!(hive_escape("100%\n"), "100%25%0A");
    assert_eq!(hive_escape("héllo"), "héllo");
}
