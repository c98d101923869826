//! Tests of the read side: discovery, CSV and Parquet scans. Each test writes its own
//! small files into a temporary directory.

mod csv_tests;
mod dataset_tests;
mod parquet_tests;

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::scan::{scan_source_with, ScanRequest, ScanSource};
use super::Dataset;
use crate::error::Result;
use crate::expr::Expr;
use crate::memory::MemoryPool;
use crate::metrics::OperatorMetrics;
use crate::stream::Source;

/// Writes `content` to `dir/rel`, creating directories.
pub(super) fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A request with a generous pool.
pub(super) fn request(
    projection: Option<&[&str]>,
    filters: Vec<Expr>,
    chunk_rows: usize,
) -> ScanRequest {
    ScanRequest {
        topk_bound: None,
        join_keys: vec![],
        spill: None,
        projection: projection.map(|p| p.iter().map(|s| s.to_string()).collect()),
        filters,
        limit: None,
        chunk_rows,
        pool: MemoryPool::new(1 << 30),
        metrics: OperatorMetrics::new("Scan"),
    }
}

/// Runs a scan source on `threads` threads and returns its batches in task order.
pub(super) fn run(source: &ScanSource, threads: usize) -> Result<Vec<RecordBatch>> {
    let out = std::sync::Mutex::new(vec![]);
    let first_err = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let work = || -> Result<()> {
                    while let Some(task) = source.next_task()? {
                        for (i, b) in task.batches.enumerate() {
                            let b = b?;
                            assert_eq!(b.schema(), source.schema());
                            out.lock().unwrap().push(((task.index, i), b));
                        }
                    }
                    Ok(())
                };
                if let Err(e) = work() {
                    first_err.lock().unwrap().get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().unwrap() {
        return Err(e);
    }
    let mut out = out.into_inner().unwrap();
    out.sort_by_key(|(k, _)| *k);
    Ok(out.into_iter().map(|(_, b)| b).collect())
}

/// Scans with a given CSV range size on `threads` threads.
pub(super) fn scan_with(
    dataset: &Arc<Dataset>,
    req: ScanRequest,
    range_bytes: usize,
    threads: usize,
) -> Result<Vec<RecordBatch>> {
    let source = scan_source_with(dataset, req, range_bytes)?;
    run(&source, threads)
}

/// Every row as `v1|v2|..` (nulls as `null`).
pub(super) fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let mut out = vec![];
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let row: Vec<String> = formatters.iter().map(|f| f.value(r).to_string()).collect();
            out.push(row.join("|"));
        }
    }
    out
}

/// Total rows.
pub(super) fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}
