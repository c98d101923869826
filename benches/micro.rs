//! Criterion micro-benchmarks: CSV parse, Parquet scan, filter and group-by on
//! deterministic in-repo data (the h2o-style table at 1M rows, written to a temp dir).
//!
//! `cargo bench --bench micro`

use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use floe::prelude::*;

fn h2o_csv(rows: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("floe-bench-h2o-{rows}.csv"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("partial");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
    writeln!(w, "id1,id2,id3,id4,id5,id6,v1,v2,v3").unwrap();
    let mut s = 108u64;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % n) + 1
    };
    let groups = (rows as u64 / 100).max(1);
    for _ in 0..rows {
        let (a, b, c, d, e, f) = (
            next(100),
            next(100),
            next(groups),
            next(100),
            next(100),
            next(groups),
        );
        let (v1, v2, v3) = (next(5), next(15), next(100_000_000) as f64 / 1e6);
        writeln!(
            w,
            "id{a:03},id{b:03},id{c:010},{d},{e},{f},{v1},{v2},{v3:.6}"
        )
        .unwrap();
    }
    w.flush().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn h2o_parquet(csv: &Path, session: &Session) -> PathBuf {
    let path = csv.with_extension("parquet");
    if !path.exists() {
        session
            .scan_csv(csv.to_str().unwrap(), CsvOptions::default())
            .unwrap()
            .sink_parquet(
                &path,
                ParquetSinkOptions::default().with_row_group_rows(128 * 1024),
            )
            .unwrap();
    }
    path
}

fn benches(c: &mut Criterion) {
    let rows = 1_000_000;
    let csv = h2o_csv(rows);
    let bytes = std::fs::metadata(&csv).unwrap().len();
    for threads in [1usize, 2] {
        let session = Session::builder().threads(threads).build().unwrap();
        let parquet = h2o_parquet(&csv, &session);
        let mut g = c.benchmark_group(format!("threads={threads}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function("csv_parse_all_columns", |b| {
            b.iter(|| {
                // Every column materialised, as in ../shared/peers/csv_parse.py.
                session
                    .scan_csv(csv.to_str().unwrap(), CsvOptions::default())
                    .unwrap()
                    .collect()
                    .unwrap()
            })
        });
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function("parquet_scan", |b| {
            b.iter(|| {
                session
                    .scan_parquet(parquet.to_str().unwrap(), ParquetOptions::default())
                    .unwrap()
                    .select([col("v3").sum()])
                    .unwrap()
                    .collect()
                    .unwrap()
            })
        });
        g.bench_function("filter", |b| {
            b.iter(|| {
                session
                    .scan_parquet(parquet.to_str().unwrap(), ParquetOptions::default())
                    .unwrap()
                    .filter(col("v3").lt(lit(10.0)).and(col("id4").gt(lit(50))))
                    .unwrap()
                    .select([len()])
                    .unwrap()
                    .collect()
                    .unwrap()
            })
        });
        g.bench_function("group_by_id1", |b| {
            b.iter(|| {
                session
                    .scan_parquet(parquet.to_str().unwrap(), ParquetOptions::default())
                    .unwrap()
                    .group_by([col("id1")])
                    .agg([col("v1").sum()])
                    .unwrap()
                    .collect()
                    .unwrap()
            })
        });
        g.bench_function("group_by_id3_10k_groups", |b| {
            b.iter(|| {
                session
                    .scan_parquet(parquet.to_str().unwrap(), ParquetOptions::default())
                    .unwrap()
                    .group_by([col("id3")])
                    .agg([col("v1").sum(), col("v3").mean()])
                    .unwrap()
                    .collect()
                    .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(micro, benches);
criterion_main!(micro);
