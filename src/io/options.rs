//! Options of the scans and sinks, as plain structs with `with_*` builders.

use arrow::datatypes::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

/// What a CSV scan does with a row that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BadRowPolicy {
    /// Fail with the file, line and column (the default).
    #[default]
    Error,
    /// Drop the row, and count it.
    Skip,
    /// Keep the row with nulls in the fields that do not parse, and count it.
    Null,
}

/// How to read CSV files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CsvOptions {
    pub has_header: bool,
    pub delimiter: u8,
    /// `None` disables quoting.
    pub quote: Option<u8>,
    /// Escape character inside quoted fields (`None`: quotes are escaped by doubling).
    pub escape: Option<u8>,
    /// Field values read as NULL (the empty field always is).
    pub null_values: Vec<String>,
    /// The full schema, skipping inference.
    pub schema: Option<SchemaRef>,
    /// Types for some columns, overriding inference.
    pub column_types: Vec<(String, DataType)>,
    /// Rows sampled per file for type inference.
    pub infer_rows: usize,
    pub on_bad_row: BadRowPolicy,
    /// Pick the delimiter (`,` `|` `;` or tab) from the first file's head instead of
    /// using `delimiter` (what SQL's `read_csv` does when no `delim` is given).
    #[serde(default)]
    pub sniff_delimiter: bool,
    /// Lines skipped at the start of each file, before the header (DuckDB's `skip`).
    #[serde(default)]
    pub skip_lines: usize,
    /// Most columns a file may have, and so most bytes its header line may take
    /// ([`CsvOptions::max_header_bytes`]): a runaway header (a binary file, a missing
    /// newline) is an error naming the limit, not minutes of inference.
    #[serde(default = "default_max_columns")]
    pub max_columns: usize,
}

fn default_max_columns() -> usize {
    CsvOptions::DEFAULT_MAX_COLUMNS
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: b',',
            quote: Some(b'"'),
            escape: None,
            null_values: vec![],
            schema: None,
            column_types: vec![],
            infer_rows: 1000,
            on_bad_row: BadRowPolicy::Error,
            sniff_delimiter: false,
            skip_lines: 0,
            max_columns: Self::DEFAULT_MAX_COLUMNS,
        }
    }
}

impl CsvOptions {
    /// The default of [`CsvOptions::max_columns`] (DuckDB reads at most 2^31 columns;
    /// real files rarely pass a few thousand).
    pub const DEFAULT_MAX_COLUMNS: usize = 100_000;

    /// Most bytes a header line may take: 1 KiB per allowed column.
    pub fn max_header_bytes(&self) -> usize {
        self.max_columns.saturating_mul(1024)
    }

    /// Sets [`CsvOptions::max_columns`].
    pub fn with_max_columns(mut self, n: usize) -> Self {
        self.max_columns = n;
        self
    }

    /// Skips the first `n` lines of each file (before the header).
    pub fn with_skip_lines(mut self, n: usize) -> Self {
        self.skip_lines = n;
        self
    }
    pub fn with_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }
    pub fn with_delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
    pub fn with_quote(mut self, q: Option<u8>) -> Self {
        self.quote = q;
        self
    }
    pub fn with_escape(mut self, e: Option<u8>) -> Self {
        self.escape = e;
        self
    }
    pub fn with_null_values(mut self, v: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.null_values = v.into_iter().map(Into::into).collect();
        self
    }
    pub fn with_schema(mut self, s: SchemaRef) -> Self {
        self.schema = Some(s);
        self
    }
    pub fn with_column_type(mut self, name: impl Into<String>, t: DataType) -> Self {
        self.column_types.push((name.into(), t));
        self
    }
    pub fn with_infer_rows(mut self, n: usize) -> Self {
        self.infer_rows = n;
        self
    }
    pub fn with_bad_rows(mut self, p: BadRowPolicy) -> Self {
        self.on_bad_row = p;
        self
    }
    pub fn with_sniffed_delimiter(mut self, sniff: bool) -> Self {
        self.sniff_delimiter = sniff;
        self
    }
}

/// How to read Parquet files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ParquetOptions {
    /// The schema to read as, skipping footer merging.
    pub schema: Option<SchemaRef>,
}

/// How to read newline-delimited JSON files (one object per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonOptions {
    /// The schema to read as, skipping inference.
    pub schema: Option<SchemaRef>,
    /// Records sampled per file to infer the schema.
    pub infer_rows: usize,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            schema: None,
            infer_rows: 20_480,
        }
    }
}

impl JsonOptions {
    pub fn with_schema(mut self, s: SchemaRef) -> Self {
        self.schema = Some(s);
        self
    }
    pub fn with_infer_rows(mut self, n: usize) -> Self {
        self.infer_rows = n;
        self
    }
}

/// The zstd level of `ParquetCompression::default()` and of a bare `zstd`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The codec of Parquet output's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParquetCompression {
    /// zstd at a level from 1 to 22: the smallest files (floe's default, at level 3).
    Zstd(i32),
    /// Snappy: DuckDB's default; faster to write, larger files.
    Snappy,
    /// LZ4 (the Parquet `LZ4_RAW` codec).
    Lz4,
    /// No compression.
    Uncompressed,
}

impl std::str::FromStr for ParquetCompression {
    type Err = crate::error::Error;
    /// `zstd`, `zstd:LEVEL`, `snappy`, `lz4` or `none`.
    fn from_str(s: &str) -> crate::error::Result<Self> {
        let lower = s.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "zstd" => ParquetCompression::Zstd(DEFAULT_ZSTD_LEVEL),
            "snappy" => ParquetCompression::Snappy,
            "lz4" => ParquetCompression::Lz4,
            "none" | "uncompressed" => ParquetCompression::Uncompressed,
            other => match other.strip_prefix("zstd:").map(str::parse) {
                Some(Ok(level)) => ParquetCompression::Zstd(level),
                _ => {
                    return Err(crate::error::Error::Config(format!(
                        "unknown Parquet compression '{s}' (zstd, zstd:LEVEL, snappy, lz4, none)"
                    )))
                }
            },
        })
    }
}

/// How to write Parquet output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParquetSinkOptions {
    /// Columns that become hive `key=value` directories.
    pub partition_by: Vec<String>,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// The pages' codec (default zstd level 3).
    pub compression: ParquetCompression,
}

impl Default for ParquetSinkOptions {
    fn default() -> Self {
        ParquetSinkOptions {
            partition_by: vec![],
            row_group_rows: 1 << 20,
            compression: ParquetCompression::Zstd(DEFAULT_ZSTD_LEVEL),
        }
    }
}

impl ParquetSinkOptions {
    pub fn partition_by(mut self, cols: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.partition_by = cols.into_iter().map(Into::into).collect();
        self
    }
    pub fn with_row_group_rows(mut self, n: usize) -> Self {
        self.row_group_rows = n;
        self
    }
    pub fn with_compression(mut self, compression: ParquetCompression) -> Self {
        self.compression = compression;
        self
    }
}

/// How to write CSV output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CsvSinkOptions {
    pub partition_by: Vec<String>,
    pub has_header: bool,
    pub delimiter: u8,
}

impl Default for CsvSinkOptions {
    fn default() -> Self {
        CsvSinkOptions {
            partition_by: vec![],
            has_header: true,
            delimiter: b',',
        }
    }
}

impl CsvSinkOptions {
    pub fn partition_by(mut self, cols: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.partition_by = cols.into_iter().map(Into::into).collect();
        self
    }
    pub fn with_header(mut self, h: bool) -> Self {
        self.has_header = h;
        self
    }
    pub fn with_delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
}
