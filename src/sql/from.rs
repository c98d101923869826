//! One FROM item, lowered to the plan that produces it (`join.rs` combines them).
//!
//! * `FROM 'data/*.csv'`: a path, glob or directory in single quotes (DuckDB's
//!   replacement scan). The format comes from the extension (`.csv`/`.tsv`/`.txt` are
//!   CSV, `.tsv` tab-separated; `.parquet`/`.parq`/`.pq` are Parquet); for a glob or a
//!   directory without one, from the first file it holds with a known extension.
//! * `read_csv('…', header=true, delim=',', types={…}, …)` / `read_csv_auto`,
//!   `read_parquet('…')`: `table_function.rs` reads their options.
//! * A CSV's delimiter, when not given, is sniffed from the first file (`,` `|` `;` tab).
//! * A common table expression (`WITH t AS (…)`) in force, else a table registered
//!   with [`Session::register`].
//! * No FROM at all: one row with no columns, so `SELECT 1 + 1` yields one row.
//!
//! Derived tables (`(SELECT …) AS s`) are planned as queries; UNNEST, PIVOT and other
//! table factors are [`Error::NotSupported`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::Schema;
use sqlparser::ast::{self, TableFactor};

use super::context::Cx;
use crate::error::{Error, Result};
use crate::io::{CsvOptions, Dataset, FileFormat, JsonOptions, ParquetOptions};
use crate::plan::LogicalPlan;

/// A single row with no columns, the input of a SELECT without FROM.
pub(super) fn one_empty_row() -> Result<Arc<LogicalPlan>> {
    let schema = Arc::new(Schema::empty());
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    let batch = RecordBatch::try_new_with_options(Arc::clone(&schema), vec![], &options)?;
    Ok(Arc::new(LogicalPlan::Values {
        schema,
        batches: vec![batch],
    }))
}

/// The plan of one FROM item (joins are lowered in `join.rs`).
pub(super) fn relation(cx: &Cx, t: &TableFactor) -> Result<Arc<LogicalPlan>> {
    match t {
        TableFactor::Table {
            name,
            args,
            version,
            sample,
            ..
        } => {
            if version.is_some() {
                return Err(Error::NotSupported(
                    "time travel (FOR SYSTEM_TIME / AT)".into(),
                ));
            }
            if sample.is_some() {
                return Err(Error::NotSupported("TABLESAMPLE".into()));
            }
            match args {
                Some(a) => super::table_function::table_function(name, &a.args),
                None => named_relation(cx, name),
            }
        }
        TableFactor::Derived { lateral: true, .. } => {
            Err(Error::NotSupported("LATERAL subquery".into()))
        }
        // A derived table: the subquery's plan is the relation (its alias only qualifies names).
        TableFactor::Derived { subquery, .. } => {
            Ok(Arc::new(super::plan_query(&cx.uncorrelated(), subquery)?))
        }
        TableFactor::NestedJoin { .. } => {
            Err(Error::Internal("nested join as one FROM item".into()))
        }
        TableFactor::UNNEST { .. } => Err(Error::NotSupported("UNNEST".into())),
        TableFactor::Pivot { .. } => Err(Error::NotSupported("PIVOT".into())),
        TableFactor::Unpivot { .. } => Err(Error::NotSupported("UNPIVOT".into())),
        other => Err(Error::NotSupported(format!("FROM item '{other}'"))),
    }
}

/// A quoted path, or a registered table.
fn named_relation(cx: &Cx, name: &ast::ObjectName) -> Result<Arc<LogicalPlan>> {
    let parts: Vec<&ast::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    if let [id] = parts.as_slice() {
        if id.quote_style == Some('\'') {
            return scan_path(&id.value, None);
        }
        // A common table expression shadows a registered table of the same name.
        if let Some(plan) = cx.cte(&id.value) {
            return Ok(plan);
        }
        if let Some(plan) = cx.catalog.table(&id.value) {
            return Ok(plan);
        }
        // DuckDB also reads `FROM "data.csv"` as a file when no table has that name.
        if id.quote_style == Some('"')
            && has_known_extension(&id.value)
            && Path::new(&id.value).exists()
        {
            return scan_path(&id.value, None);
        }
    }
    let suggestion = crate::error::did_you_mean(&name.to_string(), &cx.catalog.table_names());
    if !suggestion.is_empty() {
        return Err(Error::Plan(format!(
            "table '{name}' does not exist{suggestion}"
        )));
    }
    Err(Error::Plan(format!(
        "table '{name}' does not exist; register it (--table {name}=PATH in the CLI, \
         CREATE VIEW in SQL, Session::register in the API), or read files directly, e.g. \
         FROM 'data/*.csv' or FROM read_parquet('dir/')"
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Tsv,
    Parquet,
    /// Newline-delimited JSON.
    Json,
}

/// A scan of the files at `location`.
pub(super) fn scan(location: &str, format: FileFormat) -> Result<Arc<LogicalPlan>> {
    let dataset = Dataset::try_new(location, format)?;
    Ok(Arc::new(LogicalPlan::scan(Arc::new(dataset))))
}

pub(super) fn scan_path(location: &str, format: Option<Format>) -> Result<Arc<LogicalPlan>> {
    let format = match format {
        Some(f) => f,
        None => detect_format(location)?.ok_or_else(|| {
            Error::Plan(format!(
                "cannot tell the file format of '{location}' from its extension; \
                 use read_csv('{location}'), read_parquet('{location}') or read_json('{location}')"
            ))
        })?,
    };
    match format {
        Format::Csv => scan(
            location,
            FileFormat::Csv(CsvOptions::default().with_sniffed_delimiter(true)),
        ),
        Format::Tsv => scan(
            location,
            FileFormat::Csv(CsvOptions::default().with_delimiter(b'\t')),
        ),
        Format::Parquet => scan(location, FileFormat::Parquet(ParquetOptions::default())),
        Format::Json => scan(location, FileFormat::Json(JsonOptions::default())),
    }
}

fn format_of(path: &Path) -> Option<Format> {
    let inner = crate::io::csv_inner_name(path);
    let compressed = inner != path;
    let ext = inner.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "txt" => Some(Format::Csv),
        "tsv" => Some(Format::Tsv),
        "ndjson" | "jsonl" | "json" => Some(Format::Json),
        "parquet" | "parq" | "pq" if !compressed => Some(Format::Parquet),
        _ => None,
    }
}

fn has_known_extension(location: &str) -> bool {
    format_of(Path::new(location)).is_some()
}

/// The format a location's extension names; for a glob or directory without one, the
/// format of the first matching file (in path order) that has a known extension.
pub(super) fn detect_format(location: &str) -> Result<Option<Format>> {
    let path = Path::new(location);
    if let Some(f) = format_of(path) {
        return Ok(Some(f));
    }
    if location.contains(['*', '?', '[']) {
        let entries = glob::glob(location)
            .map_err(|e| Error::Plan(format!("invalid glob '{location}': {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        return Ok(files.iter().find_map(|p| format_of(p)));
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return first_format_in_dir(path);
    }
    Ok(None)
}

/// Walks `dir` in path order, skipping hidden and `_`-prefixed entries as discovery does.
fn first_format_in_dir(dir: &Path) -> Result<Option<Format>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
        })
        .collect();
    entries.sort();
    for p in &entries {
        if p.is_file() {
            if let Some(f) = format_of(p) {
                return Ok(Some(f));
            }
        }
    }
    for p in entries.iter().filter(|p| p.is_dir()) {
        if let Some(f) = first_format_in_dir(p)? {
            return Ok(Some(f));
        }
    }
    Ok(None)
}
