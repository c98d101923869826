//! Datasets: the files behind a scan.
//!
//! (Discovery is being written: file / glob / recursive directory, hive partitions,
//! schema inference and union by name.)

use std::path::PathBuf;

use arrow::datatypes::{FieldRef, SchemaRef};

use super::options::{CsvOptions, ParquetOptions};
use crate::error::{Error, Result};
use crate::expr::ScalarValue;

/// The format of a dataset's files.
#[derive(Debug, Clone)]
pub enum FileFormat {
    Csv(CsvOptions),
    Parquet(ParquetOptions),
}

/// One file of a dataset.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    pub size: u64,
    /// Values of the dataset's hive partition columns for this file, in `partition_fields` order.
    pub partition_values: Vec<ScalarValue>,
}

/// A set of files read as one table.
#[derive(Debug)]
pub struct Dataset {
    /// What the user gave: a path, a glob or a directory.
    pub location: String,
    pub format: FileFormat,
    pub files: Vec<DataFile>,
    /// Columns stored in the files (the union by name over all files).
    pub file_schema: SchemaRef,
    /// Hive partition columns, typed.
    pub partition_fields: Vec<FieldRef>,
    /// `file_schema` followed by `partition_fields`.
    pub schema: SchemaRef,
}

impl Dataset {
    /// Finds the files at `location` and resolves their schema.
    pub fn try_new(location: &str, format: FileFormat) -> Result<Dataset> {
        let _ = format;
        Err(Error::NoFiles(location.to_string()))
    }
}
