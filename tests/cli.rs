//! The `floe` binary: output formats, errors and exit codes.

use std::process::Command;

fn floe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn csv_format_prints_header_and_rows_only() {
    let out = floe()
        .args([
            "sql",
            "--threads",
            "2",
            "--format",
            "csv",
            "SELECT sensor_id, count(*) AS n FROM 'data/sensors/sensors_00.csv' WHERE sensor_id = 'A' GROUP BY sensor_id",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "sensor_id,n");
    assert!(lines[1].starts_with("A,"), "{stdout}");
    let n: u64 = lines[1][2..].parse().unwrap();
    assert!(n > 500 && n < 1000, "{stdout}");
}

/// `--table name=read_csv(...)` takes read_csv's options; a plain `--table name=x.csv`
/// sniffs the delimiter. Expected values by hand from `tests/golden/data`.
#[test]
fn table_option_takes_read_csv_with_options() {
    let out = floe()
        .args([
            "sql",
            "--format",
            "csv",
            "--table",
            "c=read_csv('tests/golden/data/customers_semicolon.csv', types={'zip': 'VARCHAR'})",
            "--table",
            "t=tests/golden/data/tabbed.csv",
            "SELECT (SELECT min(zip) FROM c) AS z, (SELECT sum(pop) FROM t) AS p",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read as integers, the smallest zip would print as 42.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "z,p\n00042,1150977\n"
    );

    // A query may start with a `--` comment (not taken for an option).
    let out = floe()
        .args(["sql", "--format", "csv", "-- the answer\nSELECT 6 * 7 AS x"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n42\n");

    let out = floe()
        .args([
            "sql",
            "--table",
            "c=read_csv('tests/golden/data/customers_semicolon.csv', dateformat='%d/%m/%Y')",
            "SELECT * FROM c",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("read_csv() option dateformat"), "{stderr}");
}

#[test]
fn failure_is_one_error_line_and_nonzero_exit() {
    let out = floe()
        .args(["sql", "SELECT nope FROM 'data/sensors/*.csv'"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(last.contains("nope"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = floe()
        .args([
            "sql",
            "SELECT DISTINCT ON (sensor_id) sensor_id FROM 'data/sensors/*.csv'",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported"));
}

#[test]
fn output_file_is_written_atomically_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.parquet");
    let out = floe()
        .args([
            "sql",
            "--memory-limit",
            "256MiB",
            "--output",
            target.to_str().unwrap(),
            "SELECT sensor_id, avg(temperature) AS t FROM 'data/sensors/*.csv' GROUP BY sensor_id",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["out.parquet".to_string()], "no temp files left");
    let out = floe()
        .args([
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{}'", target.display()),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "n\n4\n");
}

/// `--compression` picks the codec of a Parquet output; without a Parquet output, or
/// with an unknown codec, it is a clear error and nothing is written.
#[test]
fn compression_applies_to_parquet_output_only() {
    let dir = tempfile::tempdir().unwrap();
    let q = "SELECT sensor_id FROM 'data/sensors/*.csv'";
    let run = |args: &[&str]| floe().args(args).output().unwrap();
    let target = dir.path().join("s.parquet");
    let out = run(&[
        "sql",
        "--compression",
        "snappy",
        "--output",
        target.to_str().unwrap(),
        q,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::File::open(&target).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    let codec = reader.metadata().row_group(0).column(0).compression();
    assert_eq!(codec, parquet::basic::Compression::SNAPPY);
    let csv = dir.path().join("s.csv");
    let out = run(&[
        "sql",
        "--compression",
        "snappy",
        "--output",
        csv.to_str().unwrap(),
        q,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Parquet --output only"));
    assert!(!csv.exists());
    let bad = dir.path().join("b.parquet");
    let out = run(&[
        "sql",
        "--compression",
        "brotli",
        "--output",
        bad.to_str().unwrap(),
        q,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown Parquet compression"));
    assert!(!bad.exists());
}

#[test]
fn explain_shows_plan_and_pipelines_and_analyze_shows_metrics() {
    let q = "SELECT sensor_id, max(pressure) FROM 'data/sensors/*.csv' WHERE humidity > 70 GROUP BY sensor_id";
    let out = floe().args(["explain", q]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Aggregate"), "{text}");
    assert!(text.contains("Pipeline 2"), "{text}");
    assert!(
        text.contains("filters=["),
        "predicate pushed into the scan: {text}"
    );
    assert!(text.contains("estimate: rows ~"), "{text}");
    for (format, start) in [("dot", "digraph floe {"), ("svg", "<svg ")] {
        let out = floe()
            .args(["explain", "--format", format, q])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with(start), "{format}: {text}");
    }
    let out = floe()
        .args(["explain", "--format", "png", q])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown explain format 'png'"));
    let out = floe().args(["explain", "--analyze", q]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("estimate: rows ~")
            && text.contains("actual:   rows 4")
            && text.contains("spilled"),
        "{text}"
    );
}

/// SIGTERM (what a scheduler or `kill` sends) cancels a spilling query like Ctrl-C:
/// the process exits with an error and its spill directory is removed.
#[test]
fn sigterm_cancels_and_removes_spill_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("big.csv");
    let mut text = String::from("k,v\n");
    for i in 0..400_000u64 {
        text.push_str(&format!("{},{}\n", (i * 7919) % 400_009, i % 1000));
    }
    std::fs::write(&data, text).unwrap();
    let spill = dir.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let sql = format!("SELECT k, v FROM '{}' ORDER BY k, v", data.display());
    let mut child = floe()
        .args([
            "sql",
            "--memory-limit",
            "2MiB",
            "--chunk-rows",
            "1024",
            "--spill-dir",
            spill.to_str().unwrap(),
            "--format",
            "csv",
            &sql,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the query has spilled something (its spill directory is not empty).
    let has_files = |d: &std::path::Path| walk(d).iter().any(|p| p.is_file());
    let start = std::time::Instant::now();
    while !has_files(&spill) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("query ended ({status}) before it spilled; make the input larger");
        }
        assert!(start.elapsed().as_secs() < 60, "no spill file after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a cancelled query exits non-zero");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cancel"),
        "stderr names the cancel: {stderr}"
    );
    let left = walk(&spill);
    assert!(left.is_empty(), "spill files left after SIGTERM: {left:?}");
}

/// Every path under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}
