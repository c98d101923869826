//! Larger-than-memory benchmark (`harness = false`): the h2o group-bys under a memory
//! limit far below the input, each in a fresh `floe` process under a hard kernel cap.
//!
//! ```text
//! cargo bench --bench larger_than_memory
//! FLOE_H2O_CSV=/path/G1_1e8_1e2_0_0.csv FLOE_LIMIT=1GiB FLOE_CAP=2G cargo bench --bench larger_than_memory
//! ```
//!
//! Without `FLOE_H2O_CSV` it generates an h2o-style table of `FLOE_BENCH_ROWS` rows
//! (default 10M, ~0.5 GB) deterministically under `target/bench-data/` if missing.
//! Each query is the h2o query reduced to a checksum (as `../shared/peers/run_one.py`
//! does for the peers), so the group-by is fully computed but not printed. For each it
//! prints the wall time, the peak RSS (from `../shared/tools/memcap` when present,
//! else `/usr/bin/time`), the bytes spilled, and the answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const QUERIES: [(&str, &str); 3] = [
    ("q1 id1 (100 groups)", "SELECT count(*) AS n, sum(v1) AS s1 FROM (SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1)"),
    (
        "q3 id3 (1M groups at 1e8)",
        "SELECT count(*) AS n, sum(v1) AS s1, sum(v3) AS s3 FROM (SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3)",
    ),
    (
        "q10 id1..id6 (~1 group/row)",
        "SELECT count(*) AS n, sum(v3) AS s3, sum(cnt) AS c FROM (SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS cnt FROM x GROUP BY id1, id2, id3, id4, id5, id6)",
    ),
];

fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    writeln!(w, "id1,id2,id3,id4,id5,id6,v1,v2,v3")?;
    let groups = (rows as u64 / 100).max(1);
    let mut s = 108u64;
    let mut next = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % n) + 1
    };
    for _ in 0..rows {
        let (a, b, c) = (next(100), next(100), next(groups));
        let (d, e, f) = (next(100), next(100), next(groups));
        let (v1, v2, v3) = (next(5), next(15), next(100_000_000) as f64 / 1e6);
        writeln!(
            w,
            "id{a:03},id{b:03},id{c:010},{d},{e},{f},{v1},{v2},{v3:.6}"
        )?;
    }
    w.flush()?;
    std::fs::rename(tmp, path)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let input = match std::env::var("FLOE_H2O_CSV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let rows: usize = std::env::var("FLOE_BENCH_ROWS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000_000);
            let p = root.join(format!("target/bench-data/h2o-{rows}.csv"));
            if !p.exists() {
                eprintln!("generating {} ...", p.display());
                generate(&p, rows).expect("generate bench data");
            }
            p
        }
    };
    let limit = std::env::var("FLOE_LIMIT").unwrap_or_else(|_| "256MiB".into());
    let cap = std::env::var("FLOE_CAP").unwrap_or_else(|_| "1G".into());
    let memcap = root.join("../shared/tools/memcap");
    let size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    println!(
        "input {} ({:.2} GB); floe --memory-limit {limit}; hard cap {cap}",
        input.display(),
        size as f64 / 1e9
    );
    println!("| query | time (s) | peak RSS (MiB) | spilled | answer |");
    println!("|---|---|---|---|---|");
    for (name, sql) in QUERIES {
        let sql = sql.replace("FROM x", &format!("FROM '{}'", input.display()));
        let floe = env!("CARGO_BIN_EXE_floe");
        let mut cmd = if memcap.exists() {
            let mut c = Command::new(&memcap);
            c.args([cap.as_str(), "--", floe]);
            c
        } else {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-v", floe]);
            c
        };
        cmd.args([
            "sql",
            "-v",
            "--memory-limit",
            &limit,
            "--format",
            "csv",
            &sql,
        ]);
        let started = Instant::now();
        let out = cmd.output().expect("run floe");
        let secs = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = stderr
            .split_whitespace()
            .find_map(|w| {
                w.strip_prefix("peak_rss=")
                    .map(|v| v.trim_end_matches("MiB").to_string())
            })
            .or_else(|| {
                stderr
                    .lines()
                    .find(|l| l.contains("Maximum resident set size"))
                    .and_then(|l| {
                        l.rsplit(' ')
                            .next()
                            .and_then(|kb| kb.trim().parse::<u64>().ok())
                            .map(|kb| (kb / 1024).to_string())
                    })
            })
            .unwrap_or_else(|| "?".into());
        let spilled = stderr
            .lines()
            .find_map(|l| {
                l.split("spilled ")
                    .nth(1)
                    .map(|s| s.split(" in ").next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| "?".into());
        let answer = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let status = if out.status.success() {
            answer
        } else {
            format!("FAILED: {}", stderr.lines().last().unwrap_or(""))
        };
        println!("| {name} | {secs:.1} | {rss} | {spilled} | {status} |");
    }
}
