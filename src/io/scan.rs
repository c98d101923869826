//! The scan: a [`Source`] over a dataset's files, with projection, filters, hive
//! partition pruning and limit hints pushed into it.
//!
//! ```text
//!  files (sorted) ─▶ partition pruning ─▶ units: CSV file │ Parquet file + kept row groups
//!                                            │
//!  next_task (in order, task index = position) ▼
//!     CSV: chunk j of the file ──▶ RangeReader ─┐
//!     Parquet: row group g ─────▶ RowGroupReader ┴▶ decoded file columns
//!           ─▶ assemble (partition constants, nulls for missing columns, dataset types)
//!           ─▶ filters (all must hold) ─▶ projection ─▶ batch of `scan_schema`
//! ```
//!
//! Tasks are handed out in file order, then range / row-group order, with increasing
//! [`Task::index`], so order-sensitive sinks can restore the files' order. Each task
//! decodes lazily, one batch per `next()`. Only the columns needed by the projection or
//! the filters are decoded.
//!
//! * **Assembly** (`super::assemble`): partition constants, nulls for the columns a
//!   file lacks, casts to the dataset's types, then the filters, then the projection.
//! * **Partition pruning**: a filter that reads only partition columns is evaluated on
//!   a one-row batch of each file's partition values; files where it is not true are
//!   skipped.
//! * **Row-group pruning**: see `super::parquet::prune`. Filters are always applied
//!   exactly afterwards; pruning only saves I/O.
//! * **Limit**: with a limit and no filters, Parquet tasks stop being handed out once
//!   the row groups handed out hold enough rows. CSV row counts are unknown up front,
//!   but ranges are small and decode lazily, so a consumer that stops early stops
//!   the scan after a few batches.
//!
//! Memory: each running task reserves the bytes it holds resident (a CSV range, a
//! Parquet row group's compressed columns) through a `ScanReservation`; an exhausted
//! pool fails the task with [`Error::ResourcesExhausted`]. [`ScanStats`] carries the
//! counters (malformed rows, pruned files and row groups) and writes them into the
//! operator's metrics note.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::assemble::{file_layout, partitions_may_match, AssembledIter, Assembler, ColumnSource};
use super::csv::range::{CsvFileScan, RangeReader};
use super::csv::split::CsvFile;
use super::csv::{Dialect, DEFAULT_RANGE_BYTES, MAX_BATCH_ROWS};
use super::dataset::{Dataset, FileFormat, FileSlice};
use super::dictionary_filter::dictionary_read_columns;
use super::json::JsonReader;
use super::options::BadRowPolicy;
use super::parquet::prune::keep_row_groups;
use super::parquet::{
    with_dictionary_reads, JoinKeyStats, ParquetFileScan, RowGroupReader, TopKStats,
};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::memory::{MemoryPool, Reservation};
use crate::metrics::OperatorMetrics;
use crate::stream::{BatchIter, Source, Task};

/// What a scan should produce.
pub struct ScanRequest {
    /// Output columns, in this order, from `dataset.schema` (`None` = all).
    pub projection: Option<Vec<String>>,
    /// Predicates over `dataset.schema`; all must hold for an output row.
    pub filters: Vec<Expr>,
    /// Hint: the consumer needs at most this many rows, in order (used without filters).
    pub limit: Option<usize>,
    /// Maximum rows per output batch.
    pub chunk_rows: usize,
    /// Budget for the buffers the scan holds.
    pub pool: Arc<MemoryPool>,
    /// The scan operator's counters.
    pub metrics: Arc<OperatorMetrics>,
    /// A top-k's running bound: Parquet row groups that cannot reach it are skipped.
    pub topk_bound: Option<Arc<crate::runtime_filter::TopKBound>>,
    /// The build keys of the joins above: Parquet row groups and rows whose key cannot
    /// match are skipped (see `crate::runtime_filter::join_keys`).
    pub join_keys: Vec<Arc<crate::runtime_filter::JoinKeyFilter>>,
    /// Where a compressed CSV file is decompressed (the query's spill directory);
    /// `None`: the system temp dir.
    pub spill: Option<Arc<crate::spill::SpillManager>>,
}

/// The output schema of a scan of `dataset` with `projection`.
pub fn scan_schema(dataset: &Dataset, projection: Option<&[String]>) -> Result<SchemaRef> {
    let Some(columns) = projection else {
        return Ok(Arc::clone(&dataset.schema));
    };
    let fields = columns
        .iter()
        .map(|c| field_of(&dataset.schema, c).cloned())
        .collect::<Result<Vec<Field>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Starts a scan of `dataset`.
pub fn scan(dataset: &Arc<Dataset>, request: ScanRequest) -> Result<Box<dyn Source>> {
    Ok(Box::new(scan_source(dataset, request)?))
}

/// Like [`scan`], keeping the concrete source (for its [`ScanStats`]).
pub fn scan_source(dataset: &Arc<Dataset>, request: ScanRequest) -> Result<ScanSource> {
    // Ranges stay small next to the budget: a worker holds one at a time.
    let range_bytes = (request.pool.limit() / 64).clamp(1 << 20, DEFAULT_RANGE_BYTES);
    scan_source_with(dataset, request, range_bytes)
}

fn field_of<'a>(schema: &'a Schema, name: &str) -> Result<&'a Field> {
    schema.field_with_name(name).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Error::Plan(format!(
            "column '{name}' not found; available columns: [{}]",
            names.join(", ")
        ))
    })
}

/// Counters of one scan, mirrored into its operator's metrics note.
#[derive(Debug)]
pub struct ScanStats {
    metrics: Arc<OperatorMetrics>,
    policy: BadRowPolicy,
    bad_rows: Arc<AtomicU64>,
    files: u64,
    files_pruned: u64,
    row_groups: u64,
    row_groups_pruned: u64,
    reserved: AtomicUsize,
    /// Held while the note is rebuilt, so that of two workers counting bad rows at
    /// once, the later note reads the later count (it could write a stale one).
    note_lock: Mutex<()>,
}

impl ScanStats {
    /// Malformed CSV rows skipped or nulled so far.
    pub fn bad_rows(&self) -> u64 {
        self.bad_rows.load(Ordering::Relaxed)
    }
    /// The live counter behind [`ScanStats::bad_rows`].
    pub fn bad_rows_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bad_rows)
    }
    /// Files skipped by hive partition pruning.
    pub fn files_pruned(&self) -> u64 {
        self.files_pruned
    }
    /// Parquet row groups skipped by statistics.
    pub fn row_groups_pruned(&self) -> u64 {
        self.row_groups_pruned
    }
    pub(crate) fn add_bad_rows(&self, n: u64) {
        self.bad_rows.fetch_add(n, Ordering::Relaxed);
        self.refresh_note();
    }
    fn refresh_note(&self) {
        let _serial = self.note_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut parts = vec![];
        if self.files_pruned > 0 {
            parts.push(format!(
                "pruned {}/{} files by partition",
                self.files_pruned, self.files
            ));
        }
        if self.row_groups_pruned > 0 {
            parts.push(format!(
                "pruned {}/{} row groups by statistics",
                self.row_groups_pruned, self.row_groups
            ));
        }
        let bad = self.bad_rows();
        if bad > 0 {
            let verb = match self.policy {
                BadRowPolicy::Null => "nulled fields of",
                _ => "skipped",
            };
            parts.push(format!("{verb} {bad} malformed rows"));
        }
        if !parts.is_empty() {
            self.metrics.set_note(parts.join("; "));
        }
    }
}

/// Bytes a scan task holds resident, counted in the pool and the scan's metrics.
pub(crate) struct ScanReservation {
    reservation: Reservation,
    stats: Arc<ScanStats>,
}

impl ScanReservation {
    fn try_new(pool: &Arc<MemoryPool>, stats: &Arc<ScanStats>, bytes: usize) -> Result<Self> {
        let mut reservation = pool.reservation(stats.metrics.name.clone());
        reservation.try_grow(bytes)?;
        let now = stats.reserved.fetch_add(bytes, Ordering::Relaxed) + bytes;
        stats.metrics.record_reserved(now);
        Ok(ScanReservation {
            reservation,
            stats: Arc::clone(stats),
        })
    }
}

impl Drop for ScanReservation {
    fn drop(&mut self) {
        self.stats
            .reserved
            .fetch_sub(self.reservation.size(), Ordering::Relaxed);
    }
}

/// An iterator that keeps a reservation until it is dropped.
struct Held<I> {
    inner: I,
    _reservation: ScanReservation,
}

impl<I: Iterator> Iterator for Held<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }
}

/// What one JSON task holds: a batch being decoded and the reader's buffer.
const JSON_TASK_BYTES: usize = 8 << 20;

enum UnitKind {
    Csv,
    Json,
    Parquet {
        scan: Arc<ParquetFileScan>,
        row_groups: Vec<usize>,
    },
}

/// One file that survived partition pruning.
struct Unit {
    file: usize,
    layout: Arc<Vec<ColumnSource>>,
    /// Indices of the file's own columns to decode, ascending.
    projection: Vec<usize>,
    kind: UnitKind,
}

#[derive(Default)]
struct Cursor {
    unit: usize,
    sub: usize,
    csv: Option<Arc<CsvFileScan>>,
    next_index: u64,
    rows_handed: u64,
    rows_unknown: bool,
}

enum Work {
    Csv(Arc<CsvFileScan>, usize),
    /// A whole newline-delimited JSON file: (unit index).
    Json(usize),
    Parquet(Arc<ParquetFileScan>, usize),
}

/// A task's index, its work, and how to assemble its batches.
type NextWork = (u64, Work, Arc<Vec<ColumnSource>>);

/// The scan's [`Source`]: hands out one task per CSV range or Parquet row group.
pub struct ScanSource {
    dataset: Arc<Dataset>,
    schema: SchemaRef,
    units: Vec<Unit>,
    assembler: Arc<Assembler>,
    state: Mutex<Cursor>,
    limit: Option<u64>,
    chunk_rows: usize,
    range_bytes: usize,
    dialect: Option<Arc<Dialect>>,
    pool: Arc<MemoryPool>,
    stats: Arc<ScanStats>,
    spill: Option<Arc<crate::spill::SpillManager>>,
}

impl ScanSource {
    /// The scan's counters (malformed rows, pruning).
    pub fn stats(&self) -> Arc<ScanStats> {
        Arc::clone(&self.stats)
    }

    fn open_csv(&self, unit: &Unit) -> Result<Option<Arc<CsvFileScan>>> {
        let file = &self.dataset.files[unit.file];
        let FileFormat::Csv(options) = &self.dataset.format else {
            return Err(Error::Internal("CSV unit in a non-CSV dataset".into()));
        };
        let dialect = match &self.dialect {
            Some(d) => Arc::clone(d),
            None => return Err(Error::Internal("CSV scan without a dialect".into())),
        };
        let window = match &file.slice {
            Some(FileSlice::Bytes { start, end }) => Some((*start, *end)),
            _ => None,
        };
        let scratch = match &self.spill {
            Some(s) => s.scratch_dir()?,
            None => std::env::temp_dir(),
        };
        let Some(mapped) = CsvFile::open(
            &file.path,
            &dialect,
            self.range_bytes,
            window,
            Some(file.size),
            &scratch,
        )?
        else {
            return Ok(None);
        };
        Ok(Some(Arc::new(CsvFileScan {
            file: mapped,
            schema: Arc::clone(&file.schema),
            projection: unit.projection.clone(),
            dialect,
            chunk_rows: super::csv::batch_rows(self.chunk_rows, file.schema.fields().len()),
            policy: options.on_bad_row,
            stats: Arc::clone(&self.stats),
        })))
    }

    /// Picks the next piece of work under the lock (cheap), with its task index.
    fn next_work(&self) -> Result<Option<NextWork>> {
        let mut cur = self
            .state
            .lock()
            .map_err(|_| Error::Internal("scan cursor poisoned".into()))?;
        loop {
            if let Some(limit) = self.limit {
                if !cur.rows_unknown && cur.rows_handed >= limit {
                    return Ok(None);
                }
            }
            let Some(unit) = self.units.get(cur.unit) else {
                return Ok(None);
            };
            let work = match &unit.kind {
                UnitKind::Parquet { scan, row_groups } => match row_groups.get(cur.sub) {
                    Some(&rg) => {
                        cur.rows_handed += scan.row_group_rows(rg);
                        Some(Work::Parquet(Arc::clone(scan), rg))
                    }
                    None => None,
                },
                UnitKind::Json if cur.sub == 0 => {
                    cur.rows_unknown = true;
                    Some(Work::Json(cur.unit))
                }
                UnitKind::Json => None,
                UnitKind::Csv => {
                    if cur.csv.is_none() && cur.sub == 0 {
                        cur.csv = self.open_csv(unit)?;
                    }
                    match cur.csv.clone() {
                        Some(scan) if cur.sub < scan.file.chunks() => {
                            cur.rows_unknown = true;
                            Some(Work::Csv(scan, cur.sub))
                        }
                        _ => None,
                    }
                }
            };
            match work {
                Some(w) => {
                    cur.sub += 1;
                    let index = cur.next_index;
                    cur.next_index += 1;
                    return Ok(Some((index, w, Arc::clone(&unit.layout))));
                }
                None => {
                    cur.unit += 1;
                    cur.sub = 0;
                    cur.csv = None;
                }
            }
        }
    }
}

impl Source for ScanSource {
    fn next_task(&self) -> Result<Option<Task>> {
        let Some((index, work, layout)) = self.next_work()? else {
            return Ok(None);
        };
        let inner: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> = match work {
            Work::Csv(scan, chunk) => {
                // Publish the chunk's counts before anything can fail (see csv::split).
                scan.file.count_chunk(chunk);
                let bytes = self.range_bytes.min(scan.file.data().len());
                let reservation = ScanReservation::try_new(&self.pool, &self.stats, bytes)?;
                Box::new(RangeReader::new(scan, chunk, reservation))
            }
            Work::Parquet(scan, rg) => {
                let bytes = scan.row_group_bytes(rg);
                let reservation = ScanReservation::try_new(&self.pool, &self.stats, bytes)?;
                Box::new(RowGroupReader::new(scan, rg, reservation))
            }
            Work::Json(u) => {
                let unit = self
                    .units
                    .get(u)
                    .ok_or_else(|| Error::Internal("JSON unit out of range".into()))?;
                let file = &self.dataset.files[unit.file];
                if matches!(file.slice, Some(FileSlice::Bytes { .. })) {
                    return Err(Error::NotSupported(format!(
                        "a byte range of the JSON file {}; read it whole",
                        file.path.display()
                    )));
                }
                let reservation =
                    ScanReservation::try_new(&self.pool, &self.stats, JSON_TASK_BYTES)?;
                let reader = JsonReader::open(
                    &file.path,
                    &file.schema,
                    unit.projection.clone(),
                    self.chunk_rows.min(MAX_BATCH_ROWS),
                )?;
                Box::new(Held {
                    inner: reader,
                    _reservation: reservation,
                })
            }
        };
        let batches: BatchIter = Box::new(AssembledIter::new(
            inner,
            layout,
            Arc::clone(&self.assembler),
        ));
        Ok(Some(Task { index, batches }))
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// [`scan_source`] with an explicit CSV range size (tests use tiny ranges).
pub(crate) fn scan_source_with(
    dataset: &Arc<Dataset>,
    request: ScanRequest,
    range_bytes: usize,
) -> Result<ScanSource> {
    let output_schema = scan_schema(dataset, request.projection.as_deref())?;
    for f in &request.filters {
        let t = crate::expr::types::data_type(f, &dataset.schema)?;
        if !matches!(t, DataType::Boolean | DataType::Null) {
            return Err(Error::Schema(format!("filter {f} is {t}, not boolean")));
        }
    }
    // Working columns: the output, then whatever else the filters read.
    let mut work_names: Vec<String> = vec![];
    for f in output_schema.fields() {
        if !work_names.contains(f.name()) {
            work_names.push(f.name().clone());
        }
    }
    for f in &request.filters {
        for c in f.column_refs() {
            if !work_names.contains(&c) {
                work_names.push(c);
            }
        }
    }
    let work_fields = work_names
        .iter()
        .map(|n| field_of(&dataset.schema, n).cloned())
        .collect::<Result<Vec<_>>>()?;
    let work_schema = Arc::new(Schema::new(work_fields));
    let output_in_work = output_schema
        .fields()
        .iter()
        .map(|f| work_names.iter().position(|n| n == f.name()).unwrap_or(0))
        .collect();

    let partition_names: Vec<&str> = dataset.partition_names();
    let partition_filters: Vec<&Expr> = request
        .filters
        .iter()
        .filter(|f| {
            f.column_refs()
                .iter()
                .all(|c| partition_names.contains(&c.as_str()))
        })
        .collect();

    let mut units = vec![];
    let (mut files_pruned, mut row_groups, mut row_groups_pruned) = (0u64, 0u64, 0u64);
    for (i, file) in dataset.files.iter().enumerate() {
        if !partitions_may_match(dataset, file, &partition_filters) {
            files_pruned += 1;
            continue;
        }
        let (layout, projection) = file_layout(dataset, file, &work_names);
        let kind = match (&dataset.format, &file.parquet) {
            (FileFormat::Csv(_), _) => UnitKind::Csv,
            (FileFormat::Json(_), _) => UnitKind::Json,
            (FileFormat::Parquet(_), Some(metadata)) => {
                let mut keep = keep_row_groups(metadata, &request.filters);
                // A fragment reads only its row groups; the others are not "pruned".
                let mut considered = keep.len();
                if let Some(FileSlice::RowGroups(groups)) = &file.slice {
                    for (g, k) in keep.iter_mut().enumerate() {
                        *k = *k && groups.contains(&g);
                    }
                    considered = groups.iter().filter(|&&g| g < keep.len()).count();
                }
                let kept = keep.iter().filter(|k| **k).count();
                row_groups += considered as u64;
                row_groups_pruned += considered.saturating_sub(kept) as u64;
                let dictionaries = dictionary_read_columns(metadata, &projection, &request.filters);
                let scan = ParquetFileScan {
                    path: file.path.clone(),
                    metadata: with_dictionary_reads(&file.path, metadata, &dictionaries)?,
                    projection: projection.clone(),
                    chunk_rows: request.chunk_rows.max(1),
                    topk: request
                        .topk_bound
                        .as_ref()
                        .and_then(|b| TopKStats::try_new(Arc::clone(b), metadata)),
                    join_keys: request
                        .join_keys
                        .iter()
                        .filter_map(|f| JoinKeyStats::try_new(Arc::clone(f), metadata))
                        .collect(),
                };
                UnitKind::Parquet {
                    scan: Arc::new(scan),
                    row_groups: (0..keep.len()).filter(|g| keep[*g]).collect(),
                }
            }
            (FileFormat::Parquet(_), None) => {
                return Err(Error::Internal(format!(
                    "Parquet file {} has no footer in the dataset",
                    file.path.display()
                )))
            }
        };
        units.push(Unit {
            file: i,
            layout: Arc::new(layout),
            projection,
            kind,
        });
    }

    let (dialect, policy) = match &dataset.format {
        FileFormat::Csv(o) => (Some(Arc::new(Dialect::try_new(o)?)), o.on_bad_row),
        FileFormat::Parquet(_) | FileFormat::Json(_) => (None, BadRowPolicy::Error),
    };
    let stats = Arc::new(ScanStats {
        metrics: Arc::clone(&request.metrics),
        policy,
        bad_rows: Arc::new(AtomicU64::new(0)),
        files: dataset.files.len() as u64,
        files_pruned,
        row_groups,
        row_groups_pruned,
        reserved: AtomicUsize::new(0),
        note_lock: Mutex::new(()),
    });
    stats.refresh_note();
    let limit = match (&request.limit, request.filters.is_empty()) {
        (Some(l), true) => Some(*l as u64),
        _ => None,
    };
    Ok(ScanSource {
        dataset: Arc::clone(dataset),
        schema: Arc::clone(&output_schema),
        units,
        assembler: Arc::new(Assembler {
            work_schema,
            output_schema,
            output_in_work,
            filters: request.filters,
        }),
        state: Mutex::new(Cursor::default()),
        limit,
        chunk_rows: request.chunk_rows.max(1),
        range_bytes: range_bytes.max(1),
        dialect,
        pool: request.pool,
        stats,
        spill: request.spill,
    })
}
