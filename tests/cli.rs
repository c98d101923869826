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
            "SELECT avg(temperature) OVER (PARTITION BY sensor_id) FROM 'data/sensors/*.csv'",
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
    let out = floe().args(["explain", "--analyze", q]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("rows_out") && text.contains("spilled"),
        "{text}"
    );
}
