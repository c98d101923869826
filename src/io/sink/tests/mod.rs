//! Tests of the file sinks: round trips from two threads, source order, memory
//! pressure; hive partitions and writer eviction in `partitions.rs`; atomicity (drop,
//! failure, existing destinations) and error mapping in `atomicity.rs`.

mod atomicity;
mod partitions;

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

/// Each codec of `ParquetSinkOptions::compression` round-trips and is the codec of
/// every column chunk; a codec name the CLI passes parses, a wrong one is an error.
#[test]
fn parquet_codecs_round_trip() {
    let codecs = [
        ("snappy", Compression::SNAPPY),
        ("lz4", Compression::LZ4_RAW),
        ("none", Compression::UNCOMPRESSED),
        (
            "zstd:9",
            Compression::ZSTD(parquet::basic::ZstdLevel::try_new(9).unwrap()),
        ),
    ];
    for (name, want) in codecs {
        let (dir, pool, metrics) = setup();
        let out = dir.path().join("out.parquet");
        let compression: crate::io::ParquetCompression = name.parse().unwrap();
        let options = ParquetSinkOptions::default().with_compression(compression);
        let sink = parquet_sink(&out, schema(), options, Arc::clone(&pool), metrics).unwrap();
        let ms = morsels(3, 2, 50);
        let expected = input(&ms);
        write_two_threads(&sink, ms).unwrap();
        assert_eq!(read_parquet(&out), expected, "{name}");
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
        for rg in reader.metadata().row_groups() {
            for col in rg.columns() {
                // The file records the codec, not zstd's level.
                assert_eq!(
                    std::mem::discriminant(&col.compression()),
                    std::mem::discriminant(&want),
                    "{name}"
                );
            }
        }
        drop(sink);
        assert_eq!(pool.used(), 0);
    }
    assert!("brotli".parse::<crate::io::ParquetCompression>().is_err());
    assert!("zstd:x".parse::<crate::io::ParquetCompression>().is_err());
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
