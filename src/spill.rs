//! Spilling: the one module that owns the spill file format, the lifetime of temp
//! files, the spill byte cap and the spill metrics. Operators decide only *what* to
//! spill and when.
//!
//! * Format: an Arrow IPC stream written in large batches, uncompressed or with LZ4
//!   frames as the session's `spill_compression` says (see its doc for the trade-off).
//! * Place: a per-query [`QueryDir`] under the session's `spill_dir`, made on the first
//!   spill. Each [`SpillFile`] deletes itself on drop, and the directory goes when the
//!   [`SpillManager`] drops, so files vanish on success, on error and on cancel; after a
//!   `kill -9` the next query under the same root removes them ([`crate::spill_dir`]).
//! * Cap: `max_spill_bytes` bounds the bytes one query writes; passing it is
//!   [`Error::SpillLimit`], and a full disk is [`Error::DiskFull`], both distinct from
//!   running out of RAM.
//! * Reading back streams one batch at a time through a buffered reader: LZ4
//!   decompression copies every buffer anyway, so a memory map would save nothing and
//!   would make the file's pages count towards the process's RSS.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;

use crate::config::SpillCompression;
use crate::error::{Error, Result};
use crate::spill_dir::QueryDir;

/// Read and write buffer of a spill file unless the operator picks its own.
pub const IO_BUFFER_BYTES: usize = 1 << 20;

/// Owns one query's spill directory and counts what is spilled.
#[derive(Debug)]
pub struct SpillManager {
    parent: PathBuf,
    dir: Mutex<Option<Arc<QueryDir>>>,
    max_bytes: u64,
    compression: SpillCompression,
    bytes_written: AtomicU64,
    files_written: AtomicUsize,
    buffer_bytes: usize,
}

impl SpillManager {
    /// A manager that will put its files under `parent` and write at most `max_bytes`.
    pub fn new(
        parent: impl Into<PathBuf>,
        max_bytes: u64,
        compression: SpillCompression,
    ) -> Arc<Self> {
        Self::with_write_buffer(parent, max_bytes, compression, 1 << 20)
    }

    /// [`SpillManager::new`] with writers that buffer `buffer_bytes` each (the session
    /// scales it with the memory limit, so small budgets keep small buffers).
    pub fn with_write_buffer(
        parent: impl Into<PathBuf>,
        max_bytes: u64,
        compression: SpillCompression,
        buffer_bytes: usize,
    ) -> Arc<Self> {
        Arc::new(SpillManager {
            buffer_bytes: buffer_bytes.max(4096),
            parent: parent.into(),
            dir: Mutex::new(None),
            max_bytes,
            compression,
            bytes_written: AtomicU64::new(0),
            files_written: AtomicUsize::new(0),
        })
    }

    /// Bytes each open writer buffers; operators that keep many writers open reserve
    /// this much per writer.
    pub fn write_buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// Bytes written to spill files so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Spill files written so far.
    pub fn files_written(&self) -> usize {
        self.files_written.load(Ordering::Relaxed)
    }

    /// The spill directory, if a spill has happened.
    pub fn dir_path(&self) -> Option<PathBuf> {
        self.dir
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|d| d.path().to_path_buf()))
    }

    /// The query's spill directory (made now if no spill made it yet), for other
    /// temporary files of the query, such as a decompressed CSV copy.
    pub fn scratch_dir(&self) -> Result<PathBuf> {
        Ok(self.dir()?.path().to_path_buf())
    }

    fn dir(&self) -> Result<Arc<QueryDir>> {
        let mut guard = self
            .dir
            .lock()
            .map_err(|_| Error::Internal("spill directory lock poisoned".into()))?;
        if let Some(d) = guard.as_ref() {
            return Ok(Arc::clone(d));
        }
        let d = Arc::new(QueryDir::create(&self.parent, "floe-spill-")?);
        *guard = Some(Arc::clone(&d));
        Ok(d)
    }

    /// Starts a new spill file for batches of `schema`, compressed as the session says.
    pub fn create_writer(self: &Arc<Self>, schema: &SchemaRef) -> Result<SpillWriter> {
        self.create_writer_with(schema, self.compression, self.buffer_bytes)
    }

    /// Starts a new spill file, compressed as the session says, with a write buffer
    /// of `buffer_bytes` (an operator with many files open at once keeps them small).
    pub fn create_writer_buffered(
        self: &Arc<Self>,
        schema: &SchemaRef,
        buffer_bytes: usize,
    ) -> Result<SpillWriter> {
        self.create_writer_with(schema, self.compression, buffer_bytes)
    }

    /// Starts a new spill file with its own compression and write buffer size, for an
    /// operator that picks them itself (the external sort's LZ4 runs, whose merge
    /// accounts every open file's buffer against its reservation).
    pub fn create_writer_with(
        self: &Arc<Self>,
        schema: &SchemaRef,
        compression: SpillCompression,
        buffer_bytes: usize,
    ) -> Result<SpillWriter> {
        let dir = self.dir()?;
        let file = tempfile::Builder::new()
            .prefix("run-")
            .suffix(".arrows")
            .tempfile_in(dir.path())
            .map_err(|e| Error::io(dir.path(), e))?;
        let path = file.path().to_path_buf();
        let counting = CountingWriter {
            inner: BufWriter::with_capacity(
                buffer_bytes,
                file.reopen().map_err(|e| Error::io(&path, e))?,
            ),
            manager: Arc::clone(self),
            written: 0,
        };
        let options = IpcWriteOptions::default().try_with_compression(match compression {
            SpillCompression::Lz4 => Some(CompressionType::LZ4_FRAME),
            SpillCompression::None => None,
        })?;
        let writer = StreamWriter::try_new_with_options(counting, schema, options)
            .map_err(|e| self.map_write_error(e, &path))?;
        Ok(SpillWriter {
            writer,
            file: Some(file),
            _dir: dir,
            schema: Arc::clone(schema),
            rows: 0,
            path,
        })
    }

    /// Writes `batches` to one new spill file.
    pub fn spill_batches<'a>(
        self: &Arc<Self>,
        schema: &SchemaRef,
        batches: impl IntoIterator<Item = &'a RecordBatch>,
    ) -> Result<SpillFile> {
        let mut w = self.create_writer(schema)?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()
    }

    fn map_write_error(&self, e: arrow::error::ArrowError, path: &Path) -> Error {
        match e {
            arrow::error::ArrowError::IoError(msg, io) => {
                if let Some(requested) = spill_limit_request(&msg, &io) {
                    Error::SpillLimit {
                        requested,
                        written: self.bytes_written.load(Ordering::Relaxed),
                        limit: self.max_bytes,
                    }
                } else {
                    Error::io(path, io)
                }
            }
            other => Error::Arrow(other),
        }
    }
}

/// The size of a write that [`CountingWriter`] refused, from its error.
fn spill_limit_request(msg: &str, io: &std::io::Error) -> Option<u64> {
    let text = io.to_string();
    [msg, text.as_str()].iter().find_map(|m| {
        let at = m.find("spill limit:")?;
        let digits: String = m[at + "spill limit:".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Counts bytes into the manager's total and enforces `max_spill_bytes`.
struct CountingWriter {
    inner: BufWriter<File>,
    manager: Arc<SpillManager>,
    written: u64,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let total = self
            .manager
            .bytes_written
            .fetch_add(buf.len() as u64, Ordering::Relaxed)
            + buf.len() as u64;
        if total > self.manager.max_bytes {
            self.manager
                .bytes_written
                .fetch_sub(buf.len() as u64, Ordering::Relaxed);
            // The size of the refused write travels in the message (see map_write_error).
            return Err(std::io::Error::other(format!("spill limit:{}", buf.len())));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if n < buf.len() {
            self.manager
                .bytes_written
                .fetch_sub((buf.len() - n) as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An open spill file being written.
pub struct SpillWriter {
    writer: StreamWriter<CountingWriter>,
    file: Option<tempfile::NamedTempFile>,
    _dir: Arc<QueryDir>,
    schema: SchemaRef,
    rows: usize,
    path: PathBuf,
}

impl SpillWriter {
    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        let manager = Arc::clone(&self.writer.get_ref().manager);
        self.writer
            .write(batch)
            .map_err(|e| manager.map_write_error(e, &self.path))
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes the file; it stays on disk until the returned [`SpillFile`] drops.
    pub fn finish(mut self) -> Result<SpillFile> {
        let manager = Arc::clone(&self.writer.get_ref().manager);
        self.writer
            .finish()
            .map_err(|e| manager.map_write_error(e, &self.path))?;
        self.writer
            .get_mut()
            .flush()
            .map_err(|e| Error::io(&self.path, e))?;
        let bytes = self.writer.get_ref().written;
        manager.files_written.fetch_add(1, Ordering::Relaxed);
        let file = self
            .file
            .take()
            .ok_or_else(|| Error::Internal("spill file finished twice".into()))?;
        Ok(SpillFile {
            file: Arc::new(file.into_temp_path()),
            _dir: Arc::clone(&self._dir),
            schema: Arc::clone(&self.schema),
            rows: self.rows,
            bytes,
        })
    }
}

/// A finished spill file; deleted when the last clone drops.
#[derive(Debug, Clone)]
pub struct SpillFile {
    file: Arc<tempfile::TempPath>,
    _dir: Arc<QueryDir>,
    schema: SchemaRef,
    rows: usize,
    bytes: u64,
}

impl SpillFile {
    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Compressed bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Path on disk.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Streams the batches back, one at a time.
    pub fn read(&self) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        self.read_with_buffer(IO_BUFFER_BYTES)
    }

    /// Streams the batches back through a read buffer of `buffer_bytes`.
    pub fn read_with_buffer(
        &self,
        buffer_bytes: usize,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        let path = self.path().to_path_buf();
        let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let reader = StreamReader::try_new(BufReader::with_capacity(buffer_bytes, f), None)?;
        let keep_alive = self.clone();
        Ok(reader.map(move |b| {
            let _ = &keep_alive;
            b.map_err(Error::from)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 3 != 0).then(|| format!("v{i}"))),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_cleanup() {
        let parent = tempfile::tempdir().unwrap();
        let m = SpillManager::new(parent.path(), u64::MAX, SpillCompression::Lz4);
        let b = batch(1000);
        let f = m.spill_batches(&b.schema(), [&b, &b]).unwrap();
        assert_eq!(f.rows(), 2000);
        assert!(m.bytes_written() > 0);
        assert_eq!(m.files_written(), 1);
        let back: Vec<_> = f.read().unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(back, vec![b.clone(), b]);
        let path = f.path().to_path_buf();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists());
        drop(m);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }

    #[test]
    fn byte_cap_is_spill_limit() {
        let parent = tempfile::tempdir().unwrap();
        let m = SpillManager::new(parent.path(), 100, SpillCompression::None);
        let b = batch(10_000);
        let err = m.spill_batches(&b.schema(), [&b]).unwrap_err();
        assert!(matches!(err, Error::SpillLimit { .. }), "{err}");
        drop(m);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }
}
