//! The crate's one error type.
//!
//! Every failure a user can reach is a variant here, never a panic. Context that the
//! failing layer knows (file, line, row group, column, operator) is attached where it
//! is known, so the one-line message the CLI prints is enough to find the problem.
//! Running out of memory ([`Error::ResourcesExhausted`]) and running out of spill space
//! ([`Error::SpillLimit`], [`Error::DiskFull`]) are kinds of their own, distinct from
//! internal bugs ([`Error::Internal`]).

use std::path::PathBuf;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in floe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plan is invalid: unknown column, wrong argument count, and the like.
    #[error("plan error: {0}")]
    Plan(String),
    /// Types do not fit: a non-boolean filter, adding a string to a number, schemas that disagree.
    #[error("schema error: {0}")]
    Schema(String),
    /// An operating-system I/O error on a named path.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A CSV record that cannot be read, with its place in the file.
    #[error("CSV error in {}:{line}{}: {message}", path.display(), column.as_ref().map(|c| format!(" column '{c}'")).unwrap_or_default())]
    Csv {
        path: PathBuf,
        /// 1-based physical line number of the record.
        line: u64,
        column: Option<String>,
        message: String,
    },
    /// A Parquet file that cannot be read.
    #[error("Parquet error in {}{}: {message}", path.display(), row_group.map(|g| format!(" row group {g}")).unwrap_or_default())]
    Parquet {
        path: PathBuf,
        row_group: Option<usize>,
        message: String,
    },
    /// A dataset path or glob that matches no file.
    #[error("no files found for '{0}'")]
    NoFiles(String),
    /// The memory pool cannot grant a reservation and the operator cannot spill.
    #[error("resources exhausted in {operator}: requested {requested} bytes, {reserved} bytes reserved by it, pool limit {limit} bytes ({used} in use)")]
    ResourcesExhausted {
        operator: String,
        requested: usize,
        reserved: usize,
        used: usize,
        limit: usize,
    },
    /// Spilling would exceed `max_spill_bytes`.
    #[error("spill limit reached: writing {requested} more bytes would exceed max_spill_bytes = {limit}")]
    SpillLimit { requested: u64, limit: u64 },
    /// The spill directory's disk is full.
    #[error("disk full while spilling to {}", path.display())]
    DiskFull { path: PathBuf },
    /// A valid request that floe does not implement (yet); names the construct.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// SQL that does not parse or does not make sense.
    #[error("SQL error: {0}")]
    Sql(String),
    /// Data the query cannot compute with, found while running: a scalar subquery
    /// that returns more than one row.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The query was cancelled.
    #[error("query cancelled")]
    Cancelled,
    /// Bad configuration (a memory limit that does not parse, zero threads, ...).
    #[error("configuration error: {0}")]
    Config(String),
    /// A plan that cannot be written to or read back from bytes.
    #[error("plan serialization error: {0}")]
    Serialization(String),
    /// An error from an arrow kernel.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A bug in floe: an invariant that should hold did not.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on, turning a full disk into [`Error::DiskFull`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull {
            return Error::DiskFull { path };
        }
        Error::Io { path, source }
    }

    /// Wraps a parquet error with its file and row group.
    pub fn parquet(
        path: impl Into<PathBuf>,
        row_group: Option<usize>,
        e: impl std::fmt::Display,
    ) -> Self {
        Error::Parquet {
            path: path.into(),
            row_group,
            message: e.to_string(),
        }
    }
}
