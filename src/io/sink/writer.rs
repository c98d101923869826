//! One output file of the file sink: its format writer, the temp-name guard that
//! deletes it unless it is committed, and the mapping of writer errors.
//!
//! * Parquet: a [`parquet::arrow::ArrowWriter`] on the file. It buffers the current
//!   row group in memory (encoded pages plus dictionaries) until `row_group_rows`
//!   rows are in, or until the sink flushes it early under memory pressure.
//! * CSV: morsels are encoded to bytes by the workers (outside the sink's lock), so
//!   the writer only appends bytes through a small `BufWriter`; it buffers nothing
//!   that grows.
//!
//! Closing a file writes the footer (Parquet), flushes, and `fsync`s it, so that the
//! rename which publishes it never exposes a file whose data is not on disk.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// The output format and its settings.
pub(super) enum Format {
    Parquet(Box<WriterProperties>),
    Csv { header: bool, delimiter: u8 },
}

impl Format {
    pub(super) fn extension(&self) -> &'static str {
        match self {
            Format::Parquet(_) => "parquet",
            Format::Csv { .. } => "csv",
        }
    }

    /// Turns a batch (already in the file schema) into what the writer takes.
    pub(super) fn payload(&self, batch: RecordBatch) -> Result<Payload> {
        match self {
            Format::Parquet(_) => Ok(Payload::Batch(batch)),
            Format::Csv { delimiter, .. } => Ok(Payload::Csv {
                rows: batch.num_rows(),
                bytes: encode_csv(&batch, *delimiter, false)?,
            }),
        }
    }

    /// Rejects schemas the format cannot write, before any file is created. CSV writes
    /// nested values (structs, lists, maps) as JSON text ([`crate::io::json_text`]);
    /// what arrow's CSV writer cannot write at all (a union, a dictionary of nested
    /// values) is refused here.
    pub(super) fn check_schema(&self, schema: &SchemaRef) -> Result<()> {
        if let Format::Csv { .. } = self {
            let unwritable = |t: &arrow::datatypes::DataType| {
                t.is_nested() && !crate::io::json_text::is_nested(t)
            };
            if let Some(f) = schema.fields().iter().find(|f| unwritable(f.data_type())) {
                return Err(Error::NotSupported(format!(
                    "CSV output of nested column '{}' ({})",
                    f.name(),
                    f.data_type()
                )));
            }
        }
        Ok(())
    }
}

/// Rows ready for a file writer.
pub(super) enum Payload {
    /// Parquet input: the ArrowWriter encodes it.
    Batch(RecordBatch),
    /// CSV text, encoded by the worker that produced it.
    Csv { bytes: Vec<u8>, rows: usize },
}

impl Payload {
    pub(super) fn rows(&self) -> usize {
        match self {
            Payload::Batch(b) => b.num_rows(),
            Payload::Csv { rows, .. } => *rows,
        }
    }

    /// Bytes this payload keeps alive while it waits in the reorder buffer.
    pub(super) fn memory_size(&self) -> usize {
        match self {
            // A morsel is often a slice of a larger decoded batch: count the slice.
            Payload::Batch(b) => b
                .columns()
                .iter()
                .map(|c| {
                    c.to_data()
                        .get_slice_memory_size()
                        .unwrap_or_else(|_| c.get_array_memory_size())
                })
                .sum(),
            Payload::Csv { bytes, .. } => bytes.capacity(),
        }
    }
}

/// CSV text of `batch` (and the header line when `header`).
pub(super) fn encode_csv(batch: &RecordBatch, delimiter: u8, header: bool) -> Result<Vec<u8>> {
    // Writing into a Vec cannot fail, so `into_inner` (which unwraps a flush) is safe.
    let capacity = batch
        .num_rows()
        .saturating_mul(8 * batch.num_columns() + 1)
        .max(256);
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(header)
        .with_delimiter(delimiter)
        .build(Vec::with_capacity(capacity));
    writer.write(&crate::io::json_text::nested_as_json(batch)?)?;
    Ok(writer.into_inner())
}

/// An open output file.
pub(super) enum FileWriter {
    Parquet {
        writer: Box<ArrowWriter<File>>,
        /// The file's final name, for error messages.
        path: PathBuf,
    },
    Csv {
        out: BufWriter<File>,
        path: PathBuf,
    },
}

impl FileWriter {
    /// Starts a file of `format` on `file`; `path` is its final name (for errors).
    pub(super) fn create(
        format: &Format,
        file: File,
        schema: &SchemaRef,
        path: PathBuf,
    ) -> Result<Self> {
        match format {
            Format::Parquet(props) => {
                let writer = ArrowWriter::try_new(
                    file,
                    Arc::clone(schema),
                    Some(WriterProperties::clone(props)),
                )
                .map_err(|e| parquet_error(&path, e))?;
                Ok(FileWriter::Parquet {
                    writer: Box::new(writer),
                    path,
                })
            }
            Format::Csv { header, delimiter } => {
                let mut out = BufWriter::with_capacity(64 * 1024, file);
                if *header {
                    let line = encode_csv(
                        &RecordBatch::new_empty(Arc::clone(schema)),
                        *delimiter,
                        true,
                    )?;
                    out.write_all(&line).map_err(|e| Error::io(&path, e))?;
                }
                Ok(FileWriter::Csv { out, path })
            }
        }
    }

    pub(super) fn write(&mut self, payload: Payload) -> Result<()> {
        match (self, payload) {
            (FileWriter::Parquet { writer, path }, Payload::Batch(batch)) => {
                writer.write(&batch).map_err(|e| parquet_error(path, e))
            }
            (FileWriter::Csv { out, path }, Payload::Csv { bytes, .. }) => {
                out.write_all(&bytes).map_err(|e| Error::io(&*path, e))
            }
            _ => Err(Error::Internal(
                "file sink payload does not match its format".into(),
            )),
        }
    }

    /// Bytes held in memory for the row group in progress.
    pub(super) fn buffered_bytes(&self) -> usize {
        match self {
            // `memory_size` is what the column writers hold now; `in_progress_size` is
            // the encoded size of the row group. Take the larger to stay conservative.
            FileWriter::Parquet { writer, .. } => {
                writer.memory_size().max(writer.in_progress_size())
            }
            FileWriter::Csv { .. } => 0,
        }
    }

    /// Writes out what is buffered (a Parquet row group, possibly a short one).
    pub(super) fn flush_buffered(&mut self) -> Result<()> {
        match self {
            FileWriter::Parquet { writer, path } => {
                writer.flush().map_err(|e| parquet_error(path, e))
            }
            FileWriter::Csv { .. } => Ok(()),
        }
    }

    /// Writes the footer, flushes and fsyncs the file.
    pub(super) fn close(self) -> Result<()> {
        match self {
            FileWriter::Parquet { mut writer, path } => {
                // `finish` writes the footer; `into_inner` would write it a second time,
                // so flush the internal buffer with `sync` and fsync through `inner`.
                writer.finish().map_err(|e| parquet_error(&path, e))?;
                writer.sync().map_err(|e| Error::io(&path, e))?;
                writer.inner().sync_all().map_err(|e| Error::io(&path, e))
            }
            FileWriter::Csv { mut out, path } => {
                out.flush().map_err(|e| Error::io(&path, e))?;
                out.get_ref().sync_all().map_err(|e| Error::io(&path, e))
            }
        }
    }
}

/// Maps a Parquet writer error, keeping I/O errors (and so a full disk) as such.
pub(super) fn parquet_error(path: &Path, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::io(path, *io),
            Err(other) => Error::parquet(path, None, other),
        },
        other => Error::parquet(path, None, other),
    }
}

/// A file or directory under a temporary name, deleted on drop unless committed.
#[derive(Debug)]
pub(super) struct TempGuard {
    path: PathBuf,
    is_dir: bool,
    armed: bool,
    /// An open handle holding an exclusive lock on the temporary, which tells a later
    /// run that its owner is alive ([`crate::spill_dir::remove_stale`]).
    _lock: Option<File>,
}

impl TempGuard {
    /// Creates `.floe-tmp-<random>-<name>` next to `dest` and opens it for writing.
    pub(super) fn create_file(dest: &Path) -> Result<(TempGuard, File)> {
        crate::spill_dir::remove_stale(parent_dir(dest), TEMP_PREFIX);
        let mut last = None;
        for _ in 0..16 {
            let path = temp_name(dest)?;
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    let mut guard = TempGuard {
                        path,
                        is_dir: false,
                        armed: true,
                        _lock: None,
                    };
                    guard._lock = Some(guard.lock()?);
                    return Ok((guard, file));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(Error::io(dest, e)),
            }
        }
        Err(Error::io(
            dest,
            last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()),
        ))
    }

    /// Creates the directory `.floe-tmp-<random>-<name>` next to `dest`.
    pub(super) fn create_dir(dest: &Path) -> Result<TempGuard> {
        crate::spill_dir::remove_stale(parent_dir(dest), TEMP_PREFIX);
        let mut last = None;
        for _ in 0..16 {
            let path = temp_name(dest)?;
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let mut guard = TempGuard {
                        path,
                        is_dir: true,
                        armed: true,
                        _lock: None,
                    };
                    guard._lock = Some(guard.lock()?);
                    return Ok(guard);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(Error::io(dest, e)),
            }
        }
        Err(Error::io(
            dest,
            last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()),
        ))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the temporary again (a directory too) and locks it; the lock lasts as long
    /// as the handle.
    fn lock(&self) -> Result<File> {
        let handle = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        crate::spill_dir::lock(&handle, &self.path)?;
        Ok(handle)
    }

    /// Renames the temp file or directory to `dest`, which publishes it atomically.
    /// A file replaces an existing file at `dest`; a directory may only replace an
    /// empty directory. On error the guard stays armed and deletes the temp on drop.
    pub(super) fn commit(mut self, dest: &Path) -> Result<()> {
        if let Err(e) = std::fs::rename(&self.path, dest) {
            // POSIX rename replaces an empty directory, other platforms do not:
            // remove the empty destination and retry once.
            let empty_dir = self.is_dir && is_empty_dir(dest).unwrap_or(false);
            if !(empty_dir && std::fs::remove_dir(dest).is_ok()) {
                return Err(Error::io(dest, e));
            }
            std::fs::rename(&self.path, dest).map_err(|e| Error::io(dest, e))?;
        }
        self.armed = false;
        sync_parent(dest);
        Ok(())
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: there is no one to report a failure to during unwinding.
            let _ = if self.is_dir {
                std::fs::remove_dir_all(&self.path)
            } else {
                std::fs::remove_file(&self.path)
            };
        }
    }
}

/// The directory that holds `dest` (`.` for a bare name).
pub(super) fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether `path` is a directory with no entries.
pub(super) fn is_empty_dir(path: &Path) -> std::io::Result<bool> {
    Ok(std::fs::metadata(path)?.is_dir() && std::fs::read_dir(path)?.next().is_none())
}

/// How the temporary names of outputs begin.
const TEMP_PREFIX: &str = ".floe-tmp-";

fn temp_name(dest: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = dest.file_name() else {
        return Err(Error::io(
            dest,
            std::io::Error::new(ErrorKind::InvalidInput, "output path has no file name"),
        ));
    };
    // RandomState is seeded randomly per process; the counter and the clock make
    // names distinct within one. Collisions are retried by the callers anyway.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = RandomState::new().hash_one((
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos,
    ));
    let mut file_name = std::ffi::OsString::from(format!("{TEMP_PREFIX}{random:016x}-"));
    file_name.push(name);
    Ok(parent_dir(dest).join(file_name))
}

/// Makes a rename durable: fsync the directory that holds `dest`. Best effort,
/// because some file systems do not support fsync on directories, and the rename
/// itself has already succeeded.
fn sync_parent(dest: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(parent_dir(dest)) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dest;
}
