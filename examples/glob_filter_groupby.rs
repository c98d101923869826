//! Many Parquet files with `name, value, amount`: keep `value < 0`, group by name,
//! mean of amount — through the API and through SQL.
//!
//! ```text
//! cargo run --release --example glob_filter_groupby [-- DIR [FILES [ROWS_PER_FILE]]]
//! ```
//! The files are generated deterministically into DIR (default: a temp dir) first.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe::prelude::*;
use parquet::arrow::ArrowWriter;

const NAMES: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

fn generate(dir: &Path, files: usize, rows: usize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let mut state = 42u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for f in 0..files {
        let path = dir.join(format!("part-{f:03}.parquet"));
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = ArrowWriter::try_new(file, schema.clone(), None)
            .map_err(|e| Error::parquet(&path, None, e))?;
        let mut names = vec![];
        let mut values = vec![];
        let mut amounts = vec![];
        for _ in 0..rows {
            names.push(NAMES[(next() * NAMES.len() as f64) as usize % NAMES.len()]);
            values.push(next() * 200.0 - 100.0);
            amounts.push((next() * 10_000.0).round() / 100.0);
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(values)),
                Arc::new(Float64Array::from(amounts)),
            ],
        )?;
        w.write(&batch)
            .map_err(|e| Error::parquet(&path, None, e))?;
        w.close().map_err(|e| Error::parquet(&path, None, e))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let dir = args
        .first()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("glob"));
    let files = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(64);
    let rows = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(50_000);
    generate(&dir, files, rows)?;

    let session = Session::builder().build()?;
    let glob = format!("{}/*.parquet", dir.display());
    let api = session
        .scan_parquet(&glob, ParquetOptions::default())?
        .filter(col("value").lt(lit(0)))?
        .group_by([col("name")])
        .agg([col("amount").mean().alias("mean_amount"), len().alias("n")])?;
    println!("{}", api.explain()?);
    println!("{}", api.collect()?);
    let sql = session.sql(&format!(
        "SELECT name, avg(amount) AS mean_amount, count(*) AS n FROM '{glob}' WHERE value < 0 GROUP BY name"
    ))?;
    println!("{}", sql.collect()?);
    Ok(())
}
