//! Reading and writing files: dataset discovery (files, globs, directories, hive
//! partitions), the CSV and Parquet scans, and the atomic file sinks.

pub mod csv;
pub mod dataset;
pub mod options;
pub mod parquet;
pub mod sink;

pub use dataset::{DataFile, Dataset, FileFormat};
pub use options::{BadRowPolicy, CsvOptions, CsvSinkOptions, ParquetOptions, ParquetSinkOptions};
