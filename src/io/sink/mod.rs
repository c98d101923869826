//! The file sinks: streaming, atomic Parquet and CSV output, optionally split into
//! hive partitions (`dir/year=2024/part-0.parquet`).
//!
//! ```text
//!  worker 0 ─ conform ▶ split by partition ▶ encode (CSV) ─┐            ┌▶ out.parquet / out.csv
//!  worker 1 ─ conform ▶ split by partition ▶ encode (CSV) ─┼▶ Mutex ─▶ reorder ─▶ writer(s)
//!  worker N ─ ...                                         ─┘  (seq)     └▶ dir/k=v/part-N.<ext> (≤ 64 open)
//! ```
//!
//! Algorithm: every worker prepares its morsel outside the lock (checks it against
//! the schema, splits it by partition, and for CSV formats it as text, so the costly
//! part of CSV runs in parallel). It then takes the sink's one lock, puts the pieces
//! into a reorder buffer keyed by the morsel's [`Seq`], and writes every buffered
//! morsel that no worker can still precede. Parquet encoding happens under the lock,
//! through one `ArrowWriter` per open file.
//!
//! Output order: source order. The driver hands out tasks in increasing order and a
//! worker runs its tasks one at a time, so a worker that last delivered `(task t,
//! batch b)` can only deliver later sequence numbers, one that reported task `t`
//! done ([`LocalSink::task_done`]) only tasks after `t`, and one that registers later
//! only tasks not handed out yet. A morsel is written once it is below the smallest
//! next-possible `Seq` of all running workers (a registered worker that has reported
//! nothing yet holds everything back until it does). A partitioned write keeps
//! source order within each partition. The one exception is memory: if the reorder
//! buffer outgrows a quarter of the pool, or the pool refuses it, the buffered
//! morsels are written at once in `Seq` order. From then on only the order within
//! each source task is kept; [`FileSink::preserved_order`] and the metrics note say so.
//!
//! Buffers: the reorder buffer (morsels that wait for an earlier one), and one
//! Parquet row group per open writer (CSV writers buffer nothing that grows). Both
//! are held in one [`Reservation`], resized after every morsel. When the pool
//! refuses, the largest writer flushes its row group early (a short row group), and
//! as a last resort the reorder buffer is written out of order, as above.
//!
//! Atomicity: a single file is written as `.floe-tmp-<random>-<name>` in the
//! destination's directory; `finalize` writes the footer, fsyncs and renames it onto
//! the destination, replacing an existing file. A partitioned write goes to a
//! temporary sibling directory, renamed onto the destination at the end; the
//! destination must not exist or must be an empty directory (checked at creation,
//! and again by the rename). If the sink fails, or is dropped without `finalize`
//! (error, cancel), the temporary file or directory is deleted, so no partial output
//! ever appears under the final name. The parent directory must exist.

mod output;
mod partition;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::io::options::{CsvSinkOptions, ParquetCompression, ParquetSinkOptions};
use crate::memory::{MemoryPool, Reservation};
use crate::metrics::OperatorMetrics;
use crate::reorder::Reorder;
use crate::stream::{LocalSink, Morsel, Seq, Sink, SinkStatus};

use output::Output;
use partition::Partitioner;
pub use partition::{hive_escape, HIVE_DEFAULT_PARTITION, MAX_OPEN_WRITERS};
use writer::{Format, Payload};

/// The reorder buffer may hold at most `1 / REORDER_SHARE` of the pool's limit
/// before the sink gives up source order, so that waiting for a slow task never
/// starves the operators that feed the sink.
const REORDER_SHARE: usize = 4;

/// A streaming Parquet sink: `path` is the output file, or with `partition_by` the
/// output directory. See the module docs for order, memory and atomicity.
pub fn parquet_sink(
    path: impl Into<PathBuf>,
    schema: SchemaRef,
    options: ParquetSinkOptions,
    pool: Arc<MemoryPool>,
    metrics: Arc<OperatorMetrics>,
) -> Result<Arc<FileSink>> {
    FileSink::try_new(
        path.into(),
        schema,
        parquet_format(&options)?,
        &options.partition_by,
        pool,
        metrics,
    )
}

/// A streaming CSV sink: `path` is the output file, or with `partition_by` the
/// output directory. See the module docs for order, memory and atomicity.
pub fn csv_sink(
    path: impl Into<PathBuf>,
    schema: SchemaRef,
    options: CsvSinkOptions,
    pool: Arc<MemoryPool>,
    metrics: Arc<OperatorMetrics>,
) -> Result<Arc<FileSink>> {
    FileSink::try_new(
        path.into(),
        schema,
        csv_format(&options),
        &options.partition_by,
        pool,
        metrics,
    )
}

/// Checks a Parquet output of `schema` to `path` without creating anything: the
/// options, the partition columns and the destination (what [`parquet_sink`] would
/// refuse). The physical planner calls it, so a bad output fails before any work.
pub fn validate_parquet(
    path: &Path,
    schema: &SchemaRef,
    options: &ParquetSinkOptions,
) -> Result<()> {
    validate(
        path,
        schema,
        &parquet_format(options)?,
        &options.partition_by,
    )
}

/// [`validate_parquet`] for a CSV output.
pub fn validate_csv(path: &Path, schema: &SchemaRef, options: &CsvSinkOptions) -> Result<()> {
    validate(path, schema, &csv_format(options), &options.partition_by)
}

fn parquet_format(options: &ParquetSinkOptions) -> Result<Format> {
    if options.row_group_rows == 0 {
        return Err(Error::Config("row_group_rows must be at least 1".into()));
    }
    let compression = match options.compression {
        ParquetCompression::Zstd(level) => Compression::ZSTD(
            ZstdLevel::try_new(level)
                .map_err(|e| Error::Config(format!("zstd level {level}: {e}")))?,
        ),
        ParquetCompression::Snappy => Compression::SNAPPY,
        ParquetCompression::Lz4 => Compression::LZ4_RAW,
        ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
    };
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .build();
    Ok(Format::Parquet(Box::new(props)))
}

fn csv_format(options: &CsvSinkOptions) -> Format {
    Format::Csv {
        header: options.has_header,
        delimiter: options.delimiter,
    }
}

fn validate(
    dest: &Path,
    schema: &SchemaRef,
    format: &Format,
    partition_by: &[String],
) -> Result<()> {
    let partitioner = if partition_by.is_empty() {
        None
    } else {
        Some(Partitioner::try_new(schema, partition_by)?)
    };
    format.check_schema(partitioner.as_ref().map_or(schema, |p| p.file_schema()))?;
    output::check_destination(dest, partitioner.is_some())
}

/// An atomic file sink (Parquet or CSV, single file or hive partitions).
pub struct FileSink {
    shared: Arc<Shared>,
}

/// What the sink and its worker-local parts share.
struct Shared {
    name: String,
    /// The input schema.
    schema: SchemaRef,
    format: Format,
    partitioner: Option<Partitioner>,
    metrics: Arc<OperatorMetrics>,
    /// Most bytes the reorder buffer may hold before order is given up.
    reorder_cap: usize,
    rows_written: AtomicU64,
    files: Mutex<Vec<PathBuf>>,
    state: Mutex<State>,
}

/// One partition's share of a morsel (the whole morsel when not partitioned).
struct Piece {
    partition: Option<String>,
    payload: Payload,
}

#[derive(Debug)]
enum Phase {
    Open,
    /// With the first error, which every later call reports again.
    Failed(Error),
    Finalized,
}

struct State {
    phase: Phase,
    /// `None` once failed or committed; dropping it deletes temporary output.
    output: Option<Output>,
    /// Morsels waiting for an earlier one.
    pending: Reorder<Vec<Piece>>,
    pending_bytes: usize,
    reservation: Reservation,
    ordered: bool,
}

impl FileSink {
    fn try_new(
        dest: PathBuf,
        schema: SchemaRef,
        format: Format,
        partition_by: &[String],
        pool: Arc<MemoryPool>,
        metrics: Arc<OperatorMetrics>,
    ) -> Result<Arc<FileSink>> {
        let partitioner = if partition_by.is_empty() {
            None
        } else {
            Some(Partitioner::try_new(&schema, partition_by)?)
        };
        let file_schema = partitioner.as_ref().map_or(&schema, |p| p.file_schema());
        format.check_schema(file_schema)?;
        let output = match &partitioner {
            None => Output::create_file(&dest, &format, file_schema)?,
            Some(p) => Output::create_dir(&dest, p.file_schema())?,
        };
        let name = format!(
            "{}Sink({})",
            if matches!(format, Format::Parquet(_)) {
                "Parquet"
            } else {
                "Csv"
            },
            dest.display()
        );
        let state = State {
            phase: Phase::Open,
            output: Some(output),
            pending: Reorder::default(),
            pending_bytes: 0,
            reservation: pool.reservation(name.clone()),
            ordered: true,
        };
        Ok(Arc::new(FileSink {
            shared: Arc::new(Shared {
                name,
                schema,
                format,
                partitioner,
                metrics,
                reorder_cap: pool.limit() / REORDER_SHARE,
                rows_written: AtomicU64::new(0),
                files: Mutex::new(Vec::new()),
                state: Mutex::new(state),
            }),
        }))
    }

    /// Rows written so far (all of them once `finalize` returned).
    pub fn rows_written(&self) -> u64 {
        self.shared.rows_written.load(Ordering::Relaxed)
    }

    /// The final paths of the files written; empty until `finalize` has committed.
    pub fn files(&self) -> Vec<PathBuf> {
        self.shared
            .files
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Whether the output kept source order (see the module docs): false only if
    /// memory pressure forced the reorder buffer out early.
    pub fn preserved_order(&self) -> bool {
        self.shared.state.lock().map(|s| s.ordered).unwrap_or(false)
    }
}

impl Sink for FileSink {
    type Output = ();

    fn name(&self) -> String {
        self.shared.name.clone()
    }

    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        let worker = self.shared.with_state(|_, st| Ok(st.pending.register()))?;
        Ok(Box::new(FileSinkLocal {
            shared: Arc::clone(&self.shared),
            worker,
        }))
    }

    /// Writes what is still buffered, closes the files and renames them to their
    /// final names; returns an empty source of the input schema.
    fn finalize(&self) -> Result<()> {
        let files = self.shared.with_state(|sh, st| {
            st.pending.finish_all();
            sh.drain(st)?;
            let output = st
                .output
                .take()
                .ok_or_else(|| Error::Internal("file sink has no output".into()))?;
            let files = output.commit()?;
            st.reservation.free();
            st.phase = Phase::Finalized;
            Ok(files)
        })?;
        let ordered = self.preserved_order();
        self.shared.metrics.set_note(format!(
            "{} file{}, {}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            if ordered {
                "source order"
            } else {
                "order relaxed under memory pressure"
            }
        ));
        if let Ok(mut f) = self.shared.files.lock() {
            *f = files;
        }
        Ok(())
    }
}

/// One worker's handle on the sink: no private buffers, only its place in the
/// reorder bookkeeping.
struct FileSinkLocal {
    shared: Arc<Shared>,
    worker: usize,
}

impl LocalSink for FileSinkLocal {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let started = Instant::now();
        let pieces = self.shared.prepare(morsel.batch)?;
        let worker = self.worker;
        self.shared
            .with_state(|sh, st| sh.accept(st, worker, morsel.seq, pieces))?;
        self.shared.metrics.add_time(started.elapsed());
        Ok(SinkStatus::NeedMore)
    }

    /// A finished task lets the reorder buffer release the morsels that wait for
    /// it, even if its last morsels were filtered away.
    fn task_done(&mut self, task: u64) -> Result<SinkStatus> {
        let worker = self.worker;
        self.shared.with_state(|sh, st| {
            st.pending.task_done(worker, task)?;
            sh.drain(st)?;
            sh.account(st)
        })?;
        Ok(SinkStatus::NeedMore)
    }

    fn combine(self: Box<Self>) -> Result<()> {
        let worker = self.worker;
        self.shared.with_state(|sh, st| {
            st.pending.finish(worker)?;
            sh.drain(st)?;
            sh.account(st)
        })
    }
}

impl Shared {
    /// Runs `f` under the lock if the sink is open. An error fails the sink for good
    /// and deletes its temporary output at once.
    fn with_state<T>(&self, f: impl FnOnce(&Shared, &mut State) -> Result<T>) -> Result<T> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Internal("file sink lock poisoned".into()))?;
        match &st.phase {
            Phase::Open => {}
            Phase::Failed(first) => return Err(first.duplicate()),
            Phase::Finalized => {
                return Err(Error::Internal(format!("{} already finalized", self.name)))
            }
        }
        let result = f(self, &mut st);
        if let Err(e) = &result {
            st.phase = Phase::Failed(e.duplicate());
            st.output = None;
            st.pending.clear();
            st.pending_bytes = 0;
            st.reservation.free();
        }
        result
    }

    /// Outside the lock: conform the batch to the schema, split it, encode it.
    fn prepare(&self, batch: RecordBatch) -> Result<Vec<Piece>> {
        let batch = if batch.schema_ref() == &self.schema {
            batch
        } else {
            RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec()).map_err(
                |e| {
                    Error::Schema(format!(
                        "{} got a batch that does not fit its schema: {e}",
                        self.name
                    ))
                },
            )?
        };
        let parts = match &self.partitioner {
            None => vec![(None, batch)],
            Some(p) => p
                .split(&batch)?
                .into_iter()
                .map(|(dir, b)| (Some(dir), b))
                .collect(),
        };
        parts
            .into_iter()
            .map(|(partition, b)| {
                Ok(Piece {
                    partition,
                    payload: self.format.payload(b)?,
                })
            })
            .collect()
    }

    /// Buffers one morsel and writes whatever is now in order.
    fn accept(&self, st: &mut State, worker: usize, seq: Seq, pieces: Vec<Piece>) -> Result<()> {
        st.pending_bytes += pieces
            .iter()
            .map(|p| p.payload.memory_size())
            .sum::<usize>();
        st.pending.insert(worker, seq, pieces)?;
        self.drain(st)?;
        self.account(st)
    }

    /// Writes buffered morsels, in `Seq` order, that no running worker can precede.
    fn drain(&self, st: &mut State) -> Result<()> {
        while let Some(pieces) = st.pending.pop_ready() {
            self.write_pieces(st, pieces)?;
        }
        Ok(())
    }

    /// Writes every buffered morsel now, giving up order across tasks.
    fn drain_all(&self, st: &mut State) -> Result<()> {
        if !st.pending.is_empty() {
            st.ordered = false;
        }
        while let Some(pieces) = st.pending.pop_first() {
            self.write_pieces(st, pieces)?;
        }
        Ok(())
    }

    fn write_pieces(&self, st: &mut State, pieces: Vec<Piece>) -> Result<()> {
        let output = st
            .output
            .as_mut()
            .ok_or_else(|| Error::Internal("file sink has no output".into()))?;
        for piece in pieces {
            let rows = piece.payload.rows();
            st.pending_bytes = st.pending_bytes.saturating_sub(piece.payload.memory_size());
            match (&mut *output, piece.partition) {
                (Output::File { writer, .. }, None) => writer.write(piece.payload)?,
                (Output::Partitioned { files, .. }, Some(dir)) => {
                    files.write(&self.format, &dir, piece.payload)?
                }
                _ => {
                    return Err(Error::Internal(
                        "file sink piece does not match its output".into(),
                    ))
                }
            }
            self.rows_written.fetch_add(rows as u64, Ordering::Relaxed);
            self.metrics.add_rows(rows);
        }
        Ok(())
    }

    /// Resizes the reservation to what is buffered; under pressure, or past a
    /// quarter of the pool (the operators feeding the sink need the rest: a spilling
    /// aggregate's final merge starved behind a row group at a 64 MiB limit), flushes
    /// row groups early, and as a last resort writes the reorder buffer out of order.
    fn account(&self, st: &mut State) -> Result<()> {
        if st.pending_bytes > self.reorder_cap {
            self.drain_all(st)?;
        }
        let share = st.reservation.pool().limit() / 4;
        loop {
            let buffered = st.output.as_ref().map_or(0, Output::buffered_bytes);
            let want = st.pending_bytes + buffered;
            if (buffered == 0 || want <= share) && st.reservation.try_resize(want).is_ok() {
                break;
            }
            let flushed = match st.output.as_mut() {
                Some(output) => output.flush_largest()?,
                None => false,
            };
            if flushed {
                continue;
            }
            if !st.pending.is_empty() {
                self.drain_all(st)?;
                continue;
            }
            // Nothing buffered is left to write out: only reachable if the pool
            // cannot hold even what a writer keeps after a flush.
            return Err(st
                .reservation
                .exhausted(want.saturating_sub(st.reservation.size())));
        }
        self.metrics.record_reserved(st.reservation.size());
        Ok(())
    }
}
