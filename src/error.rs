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
    #[error("resources exhausted in {operator}: requested {requested} bytes, {reserved} bytes reserved by it, pool limit {limit} bytes ({used} in use){}", exhaustion_hint(.operator))]
    ResourcesExhausted {
        operator: String,
        requested: usize,
        reserved: usize,
        used: usize,
        limit: usize,
    },
    /// Spilling would exceed `max_spill_bytes`.
    #[error("spill limit reached: the query has spilled {written} bytes, and {requested} more would exceed max_spill_bytes = {limit}; raise the limit (--max-spill) or give the query more memory")]
    SpillLimit {
        requested: u64,
        written: u64,
        limit: u64,
    },
    /// The spill directory's disk is full.
    #[error("disk full writing {}", path.display())]
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
    /// The same error again, for each later caller that runs into a failure already
    /// reported once (a file sink tells every worker its first error, not "failed
    /// earlier"). A wrapped I/O or Arrow error keeps its kind and message.
    pub fn duplicate(&self) -> Error {
        use Error as E;
        match self {
            E::Plan(s) => E::Plan(s.clone()),
            E::Schema(s) => E::Schema(s.clone()),
            E::Io { path, source } => E::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            E::Csv {
                path,
                line,
                column,
                message,
            } => E::Csv {
                path: path.clone(),
                line: *line,
                column: column.clone(),
                message: message.clone(),
            },
            E::Parquet {
                path,
                row_group,
                message,
            } => E::Parquet {
                path: path.clone(),
                row_group: *row_group,
                message: message.clone(),
            },
            E::NoFiles(s) => E::NoFiles(s.clone()),
            E::ResourcesExhausted {
                operator,
                requested,
                reserved,
                used,
                limit,
            } => E::ResourcesExhausted {
                operator: operator.clone(),
                requested: *requested,
                reserved: *reserved,
                used: *used,
                limit: *limit,
            },
            E::SpillLimit {
                requested,
                written,
                limit,
            } => E::SpillLimit {
                requested: *requested,
                written: *written,
                limit: *limit,
            },
            E::DiskFull { path } => E::DiskFull { path: path.clone() },
            E::NotSupported(s) => E::NotSupported(s.clone()),
            E::Sql(s) => E::Sql(s.clone()),
            E::InvalidInput(s) => E::InvalidInput(s.clone()),
            E::Cancelled => E::Cancelled,
            E::Config(s) => E::Config(s.clone()),
            E::Serialization(s) => E::Serialization(s.clone()),
            E::Arrow(e) => E::Arrow(arrow::error::ArrowError::ExternalError(
                e.to_string().into(),
            )),
            E::Internal(s) => E::Internal(s.clone()),
        }
    }

    /// Wraps an I/O error with the path it happened on, turning a full disk into [`Error::DiskFull`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull {
            return Error::DiskFull { path };
        }
        Error::Io { path, source }
    }

    /// The error for a panic caught at the query boundary (a bug in floe or in a
    /// library it calls): the query fails with this instead of taking the process down.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        Error::Internal(format!("{PANIC_PREFIX}{message} (a bug: please report it)"))
    }

    /// Whether this error is a caught panic ([`Error::from_panic`]).
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Internal(m) if m.starts_with(PANIC_PREFIX))
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

/// How [`Error::from_panic`] messages start.
const PANIC_PREFIX: &str = "panicked: ";

/// Runs `f`, turning a panic into [`Error::from_panic`]. The query boundaries (planning
/// SQL, executing a plan) run under it; unwinding still drops every reservation and
/// spill file on the way.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::from_panic(p)))
}

/// What to do when `operator` ran out of memory and cannot spill, for the message.
fn exhaustion_hint(operator: &str) -> &'static str {
    if operator.starts_with("Collect") {
        "; collect() keeps the whole result in memory: write it with sink_parquet / sink_csv \
         (--output or --format csv in the CLI), keep fewer rows with limit(n), or stream it \
         through sink_into"
    } else {
        ""
    }
}

/// `"; did you mean 'x'?"` naming the candidate closest to `name` (case-insensitive
/// edit distance at most a third of its length, and at least 1), or `""`.
pub fn did_you_mean<S: AsRef<str>>(name: &str, candidates: &[S]) -> String {
    let name = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| {
            (
                edit_distance(&name, &c.as_ref().to_ascii_lowercase()),
                c.as_ref(),
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

/// Edit distance over chars where swapping two neighbours counts one edit (optimal
/// string alignment), so `sties` is one edit from `sites`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod suggestion_tests {
    use super::did_you_mean;

    #[test]
    fn suggests_the_closest_name_within_reach() {
        let names = ["lineitem", "orders", "customer"];
        assert_eq!(
            did_you_mean("lineitme", &names),
            "; did you mean 'lineitem'?"
        );
        assert_eq!(did_you_mean("ORDER", &names), "; did you mean 'orders'?");
        assert_eq!(did_you_mean("xyz", &names), "");
        assert_eq!(did_you_mean("sties", &["sites"]), "; did you mean 'sites'?");
    }
}

#[cfg(test)]
mod duplicate_tests {
    use super::Error;

    /// A sink that failed tells each later worker its first error again: a full disk
    /// stays `DiskFull` naming the file (it was "internal error: .. failed earlier").
    #[test]
    fn duplicates_keep_the_variant_and_message() {
        let disk = Error::io(
            "out/.floe-tmp-1-x.parquet",
            std::io::Error::from_raw_os_error(28),
        );
        let again = disk.duplicate();
        assert!(matches!(again, Error::DiskFull { .. }), "{again}");
        assert_eq!(again.to_string(), disk.to_string());
        let io = Error::io("f.csv", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(io.duplicate().to_string(), io.to_string());
        let arrow = Error::Arrow(arrow::error::ArrowError::ComputeError("x".into()));
        assert!(arrow.duplicate().to_string().contains("Compute error: x"));
    }
}
