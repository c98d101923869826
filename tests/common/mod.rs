//! Helpers shared by the TPC-H and TPC-DS suites: writing generated tables as one CSV
//! and one Parquet file each, formatting results as text cells, and comparing a cell
//! with a reference engine's as the shared kits' checkers do (integers exactly, other
//! numbers within max(1e-9 relative, one unit of the last printed decimal), strings and
//! dates as text, NULL as the empty string).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::prelude::*;

/// Views as plain strings, for the CSV writer.
pub fn plain(batch: &RecordBatch) -> RecordBatch {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(&fields)
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()).unwrap())
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Writes `batches` as `<dir>/csv/<name>/<name>.csv` and
/// `<dir>/parquet/<name>/<name>.parquet`.
pub fn write_table<E: std::fmt::Debug>(
    dir: &Path,
    name: &str,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, E>>,
) {
    let csv_dir = dir.join("csv").join(name);
    let pq_dir = dir.join("parquet").join(name);
    std::fs::create_dir_all(&csv_dir).unwrap();
    std::fs::create_dir_all(&pq_dir).unwrap();
    let csv = std::fs::File::create(csv_dir.join(format!("{name}.csv"))).unwrap();
    let mut csv = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(csv);
    let mut pq: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    for b in batches {
        let b = b.unwrap();
        csv.write(&plain(&b)).unwrap();
        let w = pq.get_or_insert_with(|| {
            let f = std::fs::File::create(pq_dir.join(format!("{name}.parquet"))).unwrap();
            parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap()
        });
        w.write(&b).unwrap();
    }
    if let Some(w) = pq {
        w.close().unwrap();
    }
}

/// A result as text cells, NULL as the empty string.
pub fn cells(df: &DataFrame) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("");
    let mut rows = vec![];
    for b in df.batches() {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    rows
}

/// The header and rows of a reference answer (CSV with a header row).
pub fn read_answer(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(|s| s.to_string()).collect())
        .collect();
    (header, rows)
}

fn is_int(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// One unit of the last decimal place of a cell printed with 2+ fixed decimals.
fn ulp(s: &str) -> f64 {
    match s.split_once('.') {
        Some((_, frac)) if frac.len() >= 2 && frac.bytes().all(|b| b.is_ascii_digit()) => {
            10f64.powi(-(frac.len() as i32))
        }
        _ => 0.0,
    }
}

fn is_null(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("null")
}

/// Whether cell `got` equals reference cell `want`.
pub fn cell_eq(want: &str, got: &str) -> bool {
    let (w, g) = (want.trim(), got.trim());
    if is_null(w) {
        return is_null(g);
    }
    if is_int(w) && is_int(g) {
        return w.trim_start_matches('+') == g.trim_start_matches('+');
    }
    match (w.parse::<f64>(), g.parse::<f64>()) {
        (Ok(a), Ok(b)) if a.is_nan() || b.is_nan() => a.is_nan() && b.is_nan(),
        (Ok(a), Ok(b)) if a.is_infinite() || b.is_infinite() => a == b,
        (Ok(a), Ok(b)) => {
            let tol = (1e-9 * a.abs().max(b.abs()))
                .max(ulp(w))
                .max(ulp(g))
                .max(1e-12);
            (a - b).abs() <= tol
        }
        _ => w == g,
    }
}

/// Whether two rows are equal cell by cell.
pub fn row_eq(want: &[String], got: &[String]) -> bool {
    want.len() == got.len() && want.iter().zip(got).all(|(w, g)| cell_eq(w, g))
}

/// A sort key for a cell: NULL, then numbers by value, then text.
fn sort_key(s: &str) -> (u8, f64, &str) {
    let t = s.trim();
    if is_null(t) {
        return (0, 0.0, "");
    }
    match t.parse::<f64>() {
        Ok(v) if !v.is_nan() => (1, v, ""),
        _ => (2, 0.0, t),
    }
}

fn sorted(rows: &[Vec<String>]) -> Vec<&Vec<String>> {
    let mut v: Vec<&Vec<String>> = rows.iter().collect();
    v.sort_by(|a, b| {
        for (x, y) in a.iter().zip(b.iter()) {
            let (x, y) = (sort_key(x), sort_key(y));
            let o = x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x.2.cmp(y.2));
            if o.is_ne() {
                return o;
            }
        }
        a.len().cmp(&b.len())
    });
    v
}

/// The rows of `got` that no row of `pool` matches, each `pool` row matched at most
/// once (within the cell tolerance).
pub fn unmatched(pool: &[Vec<String>], got: &[Vec<String>]) -> Vec<Vec<String>> {
    let (p, g) = (sorted(pool), sorted(got));
    if p.len() == g.len() && p.iter().zip(&g).all(|(a, b)| row_eq(a, b)) {
        return vec![];
    }
    // Sorting can separate rows equal within the tolerance: match greedily.
    let mut used = vec![false; p.len()];
    let mut extra = vec![];
    for r in g {
        match (0..p.len()).find(|&i| !used[i] && row_eq(p[i], r)) {
            Some(i) => used[i] = true,
            None => extra.push(r.clone()),
        }
    }
    extra
}
