//! CSV parse throughput, measured like `../shared/peers/csv_parse.py`: every column of
//! the input materialised, the file in page cache, the median of several in-process runs.
//!
//! ```text
//! cargo run --release --example csv_throughput -- 'PATH_GLOB' THREADS [REPEATS]
//! ```

use std::time::Instant;

use floe::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .cloned()
        .ok_or_else(|| Error::Config("usage: csv_throughput PATH_GLOB THREADS [REPEATS]".into()))?;
    let threads: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1);
    let repeats: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(3);
    let session = Session::builder().threads(threads).build()?;
    let frame = session.scan_csv(&path, CsvOptions::default())?;
    let bytes: u64 = glob::glob(&path)
        .map_err(|e| Error::Config(e.to_string()))?
        .filter_map(|p| p.ok())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut times = vec![];
    let mut rows = 0;
    for _ in 0..repeats {
        let started = Instant::now();
        let df = frame.collect()?;
        times.push(started.elapsed().as_secs_f64());
        rows = df.num_rows();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    println!(
        "floe threads={threads} bytes={bytes} rows={rows} s_min={:.2} s_med={median:.2} s_max={:.2} MB/s_med={:.0} MB/s_per_core={:.0}",
        times[0],
        times[times.len() - 1],
        bytes as f64 / 1e6 / median,
        bytes as f64 / 1e6 / median / threads as f64
    );
    Ok(())
}
