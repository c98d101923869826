//! Differential SQL fuzzer: random queries (`tests/sqlfuzz/gen.py`) over small tables
//! full of NULLs, NaN, -0.0 and ties, compared with DuckDB's answers stored beside them
//! (`golden.jsonl`). The committed seed (`tests/sqlfuzz/seed1`) runs here in both halves
//! of the test command; `FLOE_SQL_FUZZ=<dir>` runs another set the script wrote (the
//! README gives the command for a long run).
//!
//! Every query runs from CSV and from Parquet, each at the default memory limit, at
//! 16 MiB and with every operator forced to spill: six runs per query. A run fails when
//! its rows differ from DuckDB's (as a multiset, or in order when the query has an
//! ORDER BY over all its columns), when it errors, when it leaves reservations in the
//! pool, or when it takes more than 60 s (a hang). All failures are listed at the end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use common::{row_eq, unmatched};
use floe::prelude::*;

/// How long one run may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(60);

/// One stored query and DuckDB's answer.
struct Case {
    sql: String,
    ordered: bool,
    rows: Vec<Vec<String>>,
}

fn fuzz_dir() -> PathBuf {
    match std::env::var_os("FLOE_SQL_FUZZ") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlfuzz/seed1"),
    }
}

/// A cell as the comparison sees it: NULL as the empty string (as `common` expects),
/// an empty string as `""` so that it never equals NULL.
fn cell(v: Option<&str>) -> String {
    match v {
        None => String::new(),
        Some("") => "\"\"".to_string(),
        Some(s) => s.to_string(),
    }
}

fn cases(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("golden.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let rows = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| cell(c.as_str()))
                        .collect()
                })
                .collect();
            Case {
                sql: v["sql"].as_str().unwrap().to_string(),
                ordered: v["ordered"].as_bool().unwrap(),
                rows,
            }
        })
        .collect()
}

/// The tables' schemas as `schema.json` declares them.
fn schemas(dir: &Path) -> Vec<(String, SchemaRef)> {
    let text = std::fs::read_to_string(dir.join("schema.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = vec![];
    for (table, cols) in v.as_object().unwrap() {
        let fields: Vec<Field> = cols
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let name = c[0].as_str().unwrap();
                let ty = match c[1].as_str().unwrap() {
                    "INTEGER" => DataType::Int32,
                    "BIGINT" => DataType::Int64,
                    "DOUBLE" => DataType::Float64,
                    "VARCHAR" => DataType::Utf8,
                    "DATE" => DataType::Date32,
                    "BOOLEAN" => DataType::Boolean,
                    other => panic!("type {other} in schema.json"),
                };
                Field::new(name, ty, true)
            })
            .collect();
        out.push((table.clone(), Arc::new(Schema::new(fields))));
    }
    out
}

/// A session in configuration `config` with the tables registered from `format`.
fn session(dir: &Path, format: &str, config: &str) -> Session {
    let mut b = Session::builder().threads(2);
    b = match config {
        "16MiB" => b.memory_limit_bytes(16 << 20),
        "spill" => b.force_spill(true),
        _ => b,
    };
    let s = b.build().unwrap();
    for (t, schema) in schemas(dir) {
        let path = dir.join(format!("{t}.{format}"));
        let path = path.to_str().unwrap();
        if format == "csv" {
            let options = CsvOptions {
                schema: Some(schema),
                ..CsvOptions::default()
            };
            s.register_csv(&t, path, options).unwrap();
        } else {
            s.register_parquet(&t, path, ParquetOptions::default())
                .unwrap();
        }
    }
    s
}

/// A result's rows as comparison cells.
fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default();
    let mut rows = vec![];
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| {
                        let text = f.value(i).to_string();
                        cell((!c.is_null(i)).then_some(text.as_str()))
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// `None` when `got` is DuckDB's answer, else why not.
fn check(case: &Case, got: &[Vec<String>]) -> Option<String> {
    let want = &case.rows;
    if got.len() != want.len() {
        let sample = |r: &[Vec<String>]| r.iter().take(3).cloned().collect::<Vec<_>>();
        return Some(format!(
            "{} rows, expected {} (got {:?}, want {:?})",
            got.len(),
            want.len(),
            sample(got),
            sample(want)
        ));
    }
    let extra = unmatched(want, got);
    if !extra.is_empty() {
        return Some(format!(
            "{} rows not in DuckDB's answer, e.g. {:?}; DuckDB has e.g. {:?}",
            extra.len(),
            extra[0],
            unmatched(got, want).first()
        ));
    }
    if case.ordered {
        if let Some(i) = (0..got.len()).find(|&i| !row_eq(&want[i], &got[i])) {
            return Some(format!(
                "same rows, another order: row {} is {:?}, expected {:?}",
                i + 1,
                got[i],
                want[i]
            ));
        }
    }
    None
}

/// Runs one query with a time limit; the session is cancelled on a hang.
fn run(session: &Arc<Session>, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let (tx, rx) = mpsc::channel();
    let (s, q) = (session.clone(), sql.to_string());
    std::thread::spawn(move || {
        let r = s.sql(&q).and_then(|f| f.collect());
        let _ = tx.send(r.map(|df| df.batches().to_vec()).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(HANG) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the query panicked".to_string()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            session
                .cancel_flag()
                .store(true, std::sync::atomic::Ordering::SeqCst);
            Err(format!("no answer after {} s (a hang)", HANG.as_secs()))
        }
    }
}

#[test]
fn differential_sql_fuzz_against_duckdb() {
    let dir = fuzz_dir();
    let cases = cases(&dir);
    assert!(!cases.is_empty(), "no queries in {}", dir.display());
    let mut failures = vec![];
    let mut runs = 0;
    for format in ["csv", "parquet"] {
        for config in ["default", "16MiB", "spill"] {
            let session = Arc::new(session(&dir, format, config));
            for (i, case) in cases.iter().enumerate() {
                runs += 1;
                let why = match run(&session, &case.sql) {
                    Ok(batches) => check(case, &rows_of(&batches)),
                    Err(e) => Some(format!("error: {e}")),
                };
                let used = session.memory_pool().used();
                let why =
                    why.or_else(|| (used != 0).then(|| format!("{used} bytes reserved after")));
                if let Some(why) = why {
                    failures.push(format!(
                        "[{format} {config}] query {}: {why}\n    {}",
                        i + 1,
                        case.sql
                    ));
                    if why.contains("a hang") {
                        break;
                    }
                }
            }
        }
    }
    let shown: Vec<&String> = failures.iter().take(400).collect();
    assert!(
        failures.is_empty(),
        "{} of {runs} runs ({} queries from {}) differ from DuckDB:\n{}",
        failures.len(),
        cases.len(),
        dir.display(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{runs} runs of {} queries from {}: all equal DuckDB's answers",
        cases.len(),
        dir.display()
    );
}
