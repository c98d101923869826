//! Reading and writing files: dataset discovery (files, globs, directories, hive
//! partitions), the CSV and Parquet scans, and the atomic file sinks.
//!
//! The read side: [`Dataset::try_new`] lists the files and resolves one schema;
//! [`scan()`] turns a dataset plus a [`ScanRequest`] (projection, filters, limit hint)
//! into a pipeline [`Source`](crate::stream::Source) with one task per CSV byte range or
//! Parquet row group.

pub(crate) mod assemble;
pub mod csv;
pub mod dataset;
pub(crate) mod dictionary_filter;
pub(crate) mod discovery;
pub(crate) mod json;
pub mod json_text;
pub(crate) mod mapped_guard;
pub mod options;
pub mod parquet;
pub mod scan;
pub mod sink;
pub(crate) mod stream_input;

#[cfg(test)]
mod tests;

pub use dataset::{DataFile, Dataset, FileFormat, FileSlice};

/// `path` without a `.gz` / `.zst` extension (`x.csv.gz` → `x.csv`).
pub(crate) fn csv_inner_name(path: &std::path::Path) -> &std::path::Path {
    csv::compressed::inner_name(path)
}
pub use options::{
    BadRowPolicy, CsvOptions, CsvSinkOptions, JsonOptions, ParquetCompression, ParquetOptions,
    ParquetSinkOptions,
};
pub use scan::{scan, scan_schema, scan_source, ScanRequest, ScanSource, ScanStats};
