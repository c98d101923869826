//! A group-by over generated data with `memory_limit` far below the input size.
//!
//! ```text
//! cargo run --release --example larger_than_memory [-- ROWS [MEMORY_LIMIT]]
//! ```
//! Generates an h2o-style table (id1..id6, v1..v3; default 10M rows, ~0.5 GB of CSV)
//! deterministically into the temp dir if missing, then groups it by `id3` (ROWS/100
//! groups) and by all six ids (about one group per row) under a small memory limit
//! (default 64MiB), printing the time, the pool's and the process's peak memory, and
//! the bytes spilled.

/// glibc's malloc keeps freed large buffers in its arenas (its mmap threshold grows
/// with use), which on a long sort or join left the process's RSS near twice the
/// pool's limit; mimalloc returns them to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use floe::metrics::human_bytes;
use floe::prelude::*;

fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    writeln!(w, "id1,id2,id3,id4,id5,id6,v1,v2,v3")?;
    let k = 100u64;
    let groups = (rows as u64 / k).max(1);
    let mut s = 108u64;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % n) + 1
    };
    for _ in 0..rows {
        let (a, b, c) = (next(k), next(k), next(groups));
        let (d, e, f) = (next(k), next(k), next(groups));
        let (v1, v2, v3) = (next(5), next(15), next(100_000_000) as f64 / 1e6);
        writeln!(
            w,
            "id{a:03},id{b:03},id{c:010},{d},{e},{f},{v1},{v2},{v3:.6}"
        )?;
    }
    w.flush()?;
    std::fs::rename(tmp, path)
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let limit = args.get(1).cloned().unwrap_or_else(|| "64MiB".into());
    let path = std::env::temp_dir().join(format!("floe-h2o-{rows}.csv"));
    if !path.exists() {
        eprintln!("generating {} ...", path.display());
        generate(&path, rows).map_err(|e| Error::io(&path, e))?;
    }
    let size = std::fs::metadata(&path)
        .map_err(|e| Error::io(&path, e))?
        .len();
    let session = Session::builder().memory_limit(&limit).build()?;
    println!(
        "input {} ({}), memory limit {limit}",
        path.display(),
        human_bytes(size)
    );
    let queries = [
        ("id3: sum(v1), avg(v3)", "SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3"),
        (
            "id1..id6: sum(v3), count(*)",
            "SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS cnt FROM x GROUP BY id1, id2, id3, id4, id5, id6",
        ),
    ];
    session.register_csv("x", &path.to_string_lossy(), CsvOptions::default())?;
    for (name, sql) in queries {
        session.memory_pool().reset_peak();
        let started = Instant::now();
        // Count the groups instead of collecting them: only the group-by is measured.
        let frame = session.sql(sql)?;
        let (df, metrics) = frame
            .select([len().alias("groups")])
            .and_then(|f| f.collect_with_metrics())?;
        println!(
            "{name:<30} groups {:>10}  time {:>7.2} s  pool peak {:>10}  process peak RSS {:>12}  spilled {:>10} in {} files",
            df.column("groups").map(|a| arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(&a).value(0)).unwrap_or(0),
            started.elapsed().as_secs_f64(),
            human_bytes(session.memory_pool().peak() as u64),
            peak_rss(),
            human_bytes(metrics.spilled_bytes()),
            metrics.spill_files()
        );
    }
    Ok(())
}
