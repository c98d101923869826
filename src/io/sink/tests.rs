//! Tests of the file sinks: round trips from two threads, hive partitions, writer
//! eviction, memory pressure, atomicity (drop, failure, existing destinations) and
//! error mapping.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

use super::writer::{FileWriter, Format, Payload};
use super::*;
use crate::exec::pipeline::{run_pipeline, ExecContext, MemorySource};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("year", DataType::Int32, true),
    ]))
}

/// Rows `start..start + n`; `year` cycles over three values and is null for `id % 11 == 0`.
fn batch(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let names: StringArray = ids
        .iter()
        .map(|i| (i % 7 != 3).then(|| format!("n{i}")))
        .collect();
    let years: Int32Array = ids
        .iter()
        .map(|i| (i % 11 != 0).then_some(2020 + (i % 3) as i32))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(names),
            Arc::new(years),
        ],
    )
    .unwrap()
}

/// `tasks` tasks of `per_task` morsels of `rows` rows each, ids ascending in seq order.
fn morsels(tasks: u64, per_task: u64, rows: usize) -> Vec<Morsel> {
    let mut out = Vec::new();
    for task in 0..tasks {
        for b in 0..per_task {
            let start = ((task * per_task + b) as usize * rows) as i64;
            out.push(Morsel {
                batch: batch(start, rows),
                seq: Seq { task, batch: b },
            });
        }
    }
    out
}

/// Pushes the morsels from two threads (even tasks on one, odd on the other),
/// reporting finished tasks, then finalizes. Both workers register before either
/// starts, as pipeline workers do before they take their first task (a static task
/// split would otherwise break the driver's "tasks are handed out in order").
fn write_two_threads(sink: &FileSink, morsels: Vec<Morsel>) -> Result<()> {
    let (even, odd): (Vec<_>, Vec<_>) = morsels.into_iter().partition(|m| m.seq.task % 2 == 0);
    let locals = [sink.local_state()?, sink.local_state()?];
    std::thread::scope(|s| {
        let handles: Vec<_> = [even, odd]
            .into_iter()
            .zip(locals)
            .map(|(ms, mut local)| {
                s.spawn(move || -> Result<()> {
                    let mut current = None;
                    for m in ms {
                        if let Some(t) = current.filter(|t| *t != m.seq.task) {
                            local.task_done(t)?;
                        }
                        current = Some(m.seq.task);
                        local.sink(m)?;
                    }
                    if let Some(t) = current {
                        local.task_done(t)?;
                    }
                    local.combine()
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| Error::Internal("thread panicked".into()))?
        })
    })?;
    sink.finalize().map(drop)
}

fn read_parquet(path: &Path) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let schema = Arc::clone(builder.schema());
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

fn read_csv(path: &Path, schema: SchemaRef) -> RecordBatch {
    let reader = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_header(true)
        .build(File::open(path).unwrap())
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

fn input(morsels: &[Morsel]) -> RecordBatch {
    let batches: Vec<_> = morsels.iter().map(|m| m.batch.clone()).collect();
    concat_batches(&schema(), &batches).unwrap()
}

fn ids(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// Every entry under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn setup() -> (tempfile::TempDir, Arc<MemoryPool>, Arc<OperatorMetrics>) {
    (
        tempfile::tempdir().unwrap(),
        MemoryPool::new(256 << 20),
        OperatorMetrics::new("sink"),
    )
}

#[test]
fn parquet_two_threads_round_trip_in_source_order() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out.parquet");
    let options = ParquetSinkOptions::default().with_row_group_rows(300);
    let sink = parquet_sink(
        &out,
        schema(),
        options,
        Arc::clone(&pool),
        Arc::clone(&metrics),
    )
    .unwrap();
    let ms = morsels(12, 3, 100);
    let expected = input(&ms);
    write_two_threads(&sink, ms).unwrap();

    assert_eq!(sink.files(), vec![out.clone()]);
    assert_eq!(sink.rows_written(), 3600);
    assert_eq!(metrics.rows_out(), 3600);
    assert!(
        metrics.note().starts_with("1 file, source order"),
        "{}",
        metrics.note()
    );
    assert!(sink.preserved_order());
    assert_eq!(tree(dir.path()), vec!["out.parquet"]);
    assert_eq!(read_parquet(&out), expected);

    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 12);
    for rg in meta.row_groups() {
        for col in rg.columns() {
            assert!(
                matches!(col.compression(), Compression::ZSTD(_)),
                "{:?}",
                col.compression()
            );
        }
    }
    drop(sink);
    assert_eq!(pool.used(), 0);
}

#[test]
fn csv_two_threads_round_trip() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out.csv");
    let options = CsvSinkOptions::default().with_delimiter(b';');
    let sink = csv_sink(&out, schema(), options, pool, metrics).unwrap();
    let ms = morsels(9, 2, 50);
    let expected = input(&ms);
    write_two_threads(&sink, ms).unwrap();
    assert_eq!(sink.rows_written(), 900);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("id;name;year\n0;n0;\n1;n1;2021\n"),
        "{}",
        &text[..40]
    );
    let reader = arrow::csv::ReaderBuilder::new(schema())
        .with_header(true)
        .with_delimiter(b';')
        .build(File::open(&out).unwrap())
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(concat_batches(&schema(), &batches).unwrap(), expected);
    assert_eq!(tree(dir.path()), vec!["out.csv"]);
}

#[test]
fn pipeline_run_writes_every_row() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out.parquet");
    let sink = parquet_sink(&out, schema(), ParquetSinkOptions::default(), pool, metrics).unwrap();
    let batches: Vec<RecordBatch> = (0..40).map(|i| batch(i * 25, 25)).collect();
    let expected = concat_batches(&schema(), &batches).unwrap();
    let source = MemorySource::new(schema(), batches);
    let ctx = ExecContext {
        pool: Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        ),
        threads: 2,
        cancel: Default::default(),
        rows_scanned: Default::default(),
    };
    run_pipeline(
        &ctx,
        &source,
        &[],
        sink.as_ref(),
        &OperatorMetrics::new("src"),
    )
    .unwrap();
    sink.finalize().unwrap();
    assert_eq!(read_parquet(&out), expected);
}

#[test]
fn reorder_buffer_restores_source_order() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out.parquet");
    let sink = parquet_sink(&out, schema(), ParquetSinkOptions::default(), pool, metrics).unwrap();
    let mut a = sink.local_state().unwrap();
    let mut b = sink.local_state().unwrap();
    let at = |task, b, start| Morsel {
        batch: batch(start, 10),
        seq: Seq { task, batch: b },
    };
    // Worker b runs ahead on task 1 while a still holds task 0.
    b.sink(at(1, 0, 20)).unwrap();
    b.sink(at(1, 2, 30)).unwrap(); // a filtered batch left a gap at (1, 1)
    a.sink(at(0, 0, 0)).unwrap();
    a.sink(at(0, 1, 10)).unwrap();
    a.task_done(0).unwrap();
    b.task_done(1).unwrap();
    b.sink(at(3, 0, 50)).unwrap(); // task 2 produced nothing
    a.sink(at(4, 0, 60)).unwrap();
    a.combine().unwrap();
    b.combine().unwrap();
    sink.finalize().unwrap();
    let got = ids(&read_parquet(&out));
    let want: Vec<i64> = [0..40, 50..70].into_iter().flatten().collect();
    assert_eq!(got, want);
}

#[test]
fn parquet_partitioned_by_year() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out");
    let options = ParquetSinkOptions::default().partition_by(["year"]);
    let sink = parquet_sink(&out, schema(), options, pool, Arc::clone(&metrics)).unwrap();
    let ms = morsels(6, 2, 100);
    let expected = input(&ms);
    write_two_threads(&sink, ms).unwrap();

    assert_eq!(
        tree(&out),
        vec![
            "year=2020",
            "year=2020/part-0.parquet",
            "year=2021",
            "year=2021/part-0.parquet",
            "year=2022",
            "year=2022/part-0.parquet",
            "year=__HIVE_DEFAULT_PARTITION__",
            "year=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
        ]
    );
    assert_eq!(
        tree(dir.path()).len(),
        9,
        "no temp dir left: {:?}",
        tree(dir.path())
    );
    let mut files = sink.files();
    files.sort();
    assert_eq!(files.len(), 4);
    assert!(files[0].starts_with(&out));
    assert!(metrics.note().starts_with("4 files"));

    let years = expected
        .column(2)
        .as_primitive::<arrow::datatypes::Int32Type>();
    let all_ids = ids(&expected);
    let mut total = 0;
    for (dir_name, year) in [
        ("2020", Some(2020)),
        ("2021", Some(2021)),
        ("2022", Some(2022)),
        (HIVE_DEFAULT_PARTITION, None),
    ] {
        let part = read_parquet(&out.join(format!("year={dir_name}/part-0.parquet")));
        assert_eq!(part.schema().fields().len(), 2, "partition column dropped");
        assert!(part.schema().field_with_name("year").is_err());
        let want: Vec<i64> = (0..expected.num_rows())
            .filter(|&i| years.is_valid(i).then(|| years.value(i)) == year)
            .map(|i| all_ids[i])
            .collect();
        assert_eq!(ids(&part), want, "partition {dir_name}, in source order");
        total += part.num_rows();
    }
    assert_eq!(total, 1200);
}

#[test]
fn csv_partitioned_by_two_columns_with_escaping() {
    let (dir, pool, metrics) = setup();
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("year", DataType::Int32, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec![
                Some("eu/west"),
                Some("us"),
                None,
                Some("us"),
                Some(""),
            ])),
            Arc::new(Int32Array::from(vec![2024, 2024, 2023, 2023, 2024])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
        ],
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap(); // an empty destination is allowed
    let options = CsvSinkOptions::default().partition_by(["region", "year"]);
    let sink = csv_sink(&out, Arc::clone(&schema), options, pool, metrics).unwrap();
    let mut local = sink.local_state().unwrap();
    local
        .sink(Morsel {
            batch: b,
            seq: Seq::default(),
        })
        .unwrap();
    local.combine().unwrap();
    sink.finalize().unwrap();
    let files: Vec<String> = tree(&out)
        .into_iter()
        .filter(|p| p.ends_with(".csv"))
        .collect();
    assert_eq!(
        files,
        vec![
            "region=__HIVE_DEFAULT_PARTITION__/year=2023/part-0.csv",
            "region=__HIVE_DEFAULT_PARTITION__/year=2024/part-0.csv",
            "region=eu%2Fwest/year=2024/part-0.csv",
            "region=us/year=2023/part-0.csv",
            "region=us/year=2024/part-0.csv",
        ]
    );
    let text = std::fs::read_to_string(out.join("region=us/year=2024/part-0.csv")).unwrap();
    assert_eq!(text, "v\n2\n");
    let file_schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let nulls = read_csv(
        &out.join("region=__HIVE_DEFAULT_PARTITION__/year=2024/part-0.csv"),
        file_schema,
    );
    assert_eq!(ids_of(&nulls, "v"), vec![5]);
    assert_eq!(sink.rows_written(), 5);
}

fn ids_of(b: &RecordBatch, col: &str) -> Vec<i64> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[test]
fn many_partitions_evict_writers_and_continue_in_new_parts() {
    let (dir, pool, metrics) = setup();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let keys = 100i64;
    let round = |r: i64| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..keys)),
                Arc::new(Int64Array::from_iter_values(
                    (0..keys).map(|k| r * 1000 + k),
                )),
            ],
        )
        .unwrap()
    };
    let out = dir.path().join("out");
    let options = ParquetSinkOptions::default().partition_by(["k"]);
    let sink = parquet_sink(&out, Arc::clone(&schema), options, pool, metrics).unwrap();
    let mut local = sink.local_state().unwrap();
    for r in 0..3 {
        local
            .sink(Morsel {
                batch: round(r),
                seq: Seq {
                    task: r as u64,
                    batch: 0,
                },
            })
            .unwrap();
    }
    local.combine().unwrap();
    sink.finalize().unwrap();
    let files = sink.files();
    assert!(
        files.len() > keys as usize,
        "evicted writers reopen as new parts: {}",
        files.len()
    );
    assert!(files.iter().any(|f| f.ends_with("part-1.parquet")));
    for k in 0..keys {
        let mut parts: Vec<&PathBuf> = files
            .iter()
            .filter(|f| f.parent().unwrap().ends_with(format!("k={k}")))
            .collect();
        parts.sort_by_key(|p| p.display().to_string());
        let values: Vec<i64> = parts
            .iter()
            .flat_map(|p| ids_of(&read_parquet(p), "v"))
            .collect();
        assert_eq!(
            values,
            vec![k, 1000 + k, 2000 + k],
            "partition {k}, part files in order"
        );
    }
}

#[test]
fn memory_pressure_flushes_row_groups_early_and_returns_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pool = MemoryPool::new(64 << 10);
    let out = dir.path().join("out.parquet");
    let sink = parquet_sink(
        &out,
        schema(),
        ParquetSinkOptions::default(),
        Arc::clone(&pool),
        OperatorMetrics::new("s"),
    )
    .unwrap();
    let ms = morsels(20, 2, 500);
    let expected = input(&ms);
    write_two_threads(&sink, ms).unwrap();
    assert!(pool.peak() <= 64 << 10);
    assert_eq!(pool.used(), 0);
    let mut got = read_parquet(&out);
    assert_eq!(got.num_rows(), 20_000);
    let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    assert!(
        meta.metadata().num_row_groups() > 1,
        "row groups flushed early"
    );
    if !sink.preserved_order() {
        // Order may be relaxed under pressure; the content must not be.
        let idx = arrow::compute::sort_to_indices(got.column(0), None, None).unwrap();
        got = arrow::compute::take_record_batch(&got, &idx).unwrap();
    }
    assert_eq!(got, expected);
}

#[test]
fn tight_reorder_buffer_relaxes_order_but_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let pool = MemoryPool::new(16 << 10); // reorder cap: 4 KiB
    let out = dir.path().join("out.csv");
    let sink = csv_sink(
        &out,
        schema(),
        CsvSinkOptions::default(),
        pool,
        OperatorMetrics::new("s"),
    )
    .unwrap();
    let _idle = sink.local_state().unwrap(); // holds everything back
    let mut busy = sink.local_state().unwrap();
    for m in morsels(10, 1, 100).into_iter().rev() {
        busy.sink(m).unwrap();
    }
    assert!(!sink.preserved_order());
    busy.combine().unwrap();
    drop(_idle);
    sink.finalize().unwrap();
    let mut got = ids(&read_csv(&out, schema()));
    got.sort_unstable();
    assert_eq!(got, (0..1000).collect::<Vec<i64>>());
}

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
    let bad_level = ParquetSinkOptions {
        zstd_level: 99,
        ..Default::default()
    };
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
    let nested = Arc::new(Schema::new(vec![Field::new(
        "l",
        DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
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
