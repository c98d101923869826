//! The Parquet reader: one task per (file, row group), in file then row-group order.
//!
//! * The footer is parsed once, at discovery, and kept in the dataset
//!   ([`crate::io::DataFile::parquet`]); tasks reuse it and never re-read it.
//! * Row groups whose statistics prove that a pushed filter cannot hold are never
//!   handed out (`prune`); the filters are still applied exactly to what is read.
//! * A task decodes lazily: its file is opened and its reader built on the first
//!   `next()`, and each `next()` decodes one batch of `chunk_rows` rows of the
//!   projected root columns only.
//!
//! * Under a top-k with a known bound (`crate::runtime_filter::topk_bound`), a row group
//!   whose statistics cannot beat it is skipped; one that stays has its key column
//!   decoded first, and the other columns only for the rows that may still make the
//!   top k (a `RowSelection`), or not at all when none may.
//!
//! * Under joins that drop unmatched probe rows (`crate::runtime_filter::join_keys`),
//!   a row group whose key statistics lie outside a finished build's key range, or
//!   hold none of its keys when it has few, is skipped; in the others, where builds
//!   have few keys, the key columns are decoded first and the other columns only for
//!   rows whose keys are among them.
//!
//! Memory: while a row group is decoded, its compressed size (projected columns only)
//! is reserved in the pool — the reader holds column-chunk pages of about that size —
//! and returned when the row group is done or the task is dropped.

pub(crate) mod prune;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};
use crate::io::scan::ScanReservation;
use crate::runtime_filter::JoinKeyFilter;
use crate::runtime_filter::TopKBound;

/// Reads and parses the footer of `path`.
///
/// String and binary columns are read as `Utf8`/`Binary` even when the file's embedded
/// Arrow schema asks for the view types: a view array's rows point into the whole
/// page's data buffers, so a few rows kept by a top-k heap, a sort run or a join table
/// would pin (and spill) every buffer they came from.
pub(crate) fn load_metadata(path: &Path) -> Result<ArrowReaderMetadata> {
    use arrow::datatypes::DataType;
    let file = crate::io::stream_input::open(path)?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| Error::parquet(path, None, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    check_chunk_ranges(path, &meta, file_len)?;
    retyped(path, &meta, |_, t| match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    })
}

/// Every column chunk's byte range lies inside the file. A corrupt footer can give a
/// negative offset or size, which the parquet crate asserts on (a panic) when it reads
/// the chunk, or a range past the end; either is an error naming the row group and
/// column here, before any read.
fn check_chunk_ranges(path: &Path, meta: &ArrowReaderMetadata, file_len: u64) -> Result<()> {
    for (g, group) in meta.metadata().row_groups().iter().enumerate() {
        for chunk in group.columns() {
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or_else(|| chunk.data_page_offset());
            let len = chunk.compressed_size();
            let inside = start >= 0
                && len >= 0
                && (start as u64)
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(Error::parquet(
                    path,
                    Some(g),
                    format!(
                        "column '{}': its chunk (offset {start}, {len} bytes) is not inside \
                         the file ({file_len} bytes); the file is corrupt or truncated",
                        chunk.column_path().string()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `metadata` with the root columns `roots` read as `Dictionary(Int32, Utf8)` (see
/// [`crate::io::dictionary_filter`]); `metadata` itself when there are none.
pub(crate) fn with_dictionary_reads(
    path: &Path,
    metadata: &ArrowReaderMetadata,
    roots: &[usize],
) -> Result<ArrowReaderMetadata> {
    retyped(path, metadata, |i, _| {
        roots
            .contains(&i)
            .then(crate::io::dictionary_filter::dictionary_type)
    })
}

/// `metadata` reading each root column `i` of type `t` as `retype(i, t)` where that is
/// `Some`; `metadata` itself when no column changes.
fn retyped(
    path: &Path,
    metadata: &ArrowReaderMetadata,
    retype: impl Fn(usize, &arrow::datatypes::DataType) -> Option<arrow::datatypes::DataType>,
) -> Result<ArrowReaderMetadata> {
    use arrow::datatypes::{Field, Schema};
    let schema = metadata.schema();
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match retype(i, f.data_type()) {
            Some(t) => {
                changed = true;
                f.as_ref().clone().with_data_type(t)
            }
            None => f.as_ref().clone(),
        })
        .collect();
    if !changed {
        return Ok(metadata.clone());
    }
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )));
    ArrowReaderMetadata::try_new(Arc::clone(metadata.metadata()), options)
        .map_err(|e| Error::parquet(path, None, e))
}

/// How one Parquet file is read by a scan; shared by its row-group tasks.
#[derive(Debug)]
pub(crate) struct ParquetFileScan {
    pub path: PathBuf,
    pub metadata: ArrowReaderMetadata,
    /// Root (top-level) column indices to decode, ascending.
    pub projection: Vec<usize>,
    pub chunk_rows: usize,
    /// A top-k's bound with this file's row-group statistics of its column.
    pub topk: Option<TopKStats>,
    /// The build keys of the joins above, each with this file's row-group statistics
    /// of its key.
    pub join_keys: Vec<JoinKeyStats>,
}

/// Row-group statistics of a join key column, for a [`JoinKeyFilter`].
#[derive(Debug)]
pub(crate) struct JoinKeyStats {
    filter: Arc<JoinKeyFilter>,
    /// Per row group: min and max of the key, when known.
    ranges: Vec<(Option<i64>, Option<i64>)>,
    /// Root column index of the key in the file's schema.
    key_root: usize,
}

impl JoinKeyStats {
    /// `None` when the file lacks the key column.
    pub fn try_new(filter: Arc<JoinKeyFilter>, metadata: &ArrowReaderMetadata) -> Option<Self> {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{DataType, Int64Type};
        use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
        let key_root = metadata.schema().index_of(&filter.column).ok()?;
        let groups = metadata.metadata().row_groups();
        let as_i64 = |a: arrow::array::ArrayRef| -> Vec<Option<i64>> {
            match crate::expr::cast::cast_array(&a, &DataType::Int64) {
                Ok(a) if a.len() == groups.len() => a.as_primitive::<Int64Type>().iter().collect(),
                _ => vec![None; groups.len()],
            }
        };
        let (mins, maxes) = match StatisticsConverter::try_new(
            &filter.column,
            metadata.schema(),
            metadata.parquet_schema(),
        ) {
            Ok(c) => (
                c.row_group_mins(groups.iter())
                    .map(as_i64)
                    .unwrap_or_default(),
                c.row_group_maxes(groups.iter())
                    .map(as_i64)
                    .unwrap_or_default(),
            ),
            Err(_) => (vec![], vec![]),
        };
        let ranges = (0..groups.len())
            .map(|g| {
                (
                    mins.get(g).copied().flatten(),
                    maxes.get(g).copied().flatten(),
                )
            })
            .collect();
        Some(JoinKeyStats {
            filter,
            ranges,
            key_root,
        })
    }
}

/// Row-group statistics of a top-k's key column, for [`TopKBound::may_contribute`].
#[derive(Debug)]
pub(crate) struct TopKStats {
    bound: Arc<TopKBound>,
    mins: arrow::array::ArrayRef,
    maxes: arrow::array::ArrayRef,
    null_counts: arrow::array::UInt64Array,
    /// Root column index of the key in the file's schema.
    key_root: Option<usize>,
}

/// Which rows of a row group a task decodes.
enum RowGroupRows {
    All,
    None,
    Selected(RowSelection),
}

impl TopKStats {
    /// `None` when the file has no usable statistics for the column.
    pub fn try_new(bound: Arc<TopKBound>, metadata: &ArrowReaderMetadata) -> Option<Self> {
        use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
        let converter = StatisticsConverter::try_new(
            &bound.column,
            metadata.schema(),
            metadata.parquet_schema(),
        )
        .ok()?;
        let groups = metadata.metadata().row_groups();
        Some(TopKStats {
            mins: converter.row_group_mins(groups.iter()).ok()?,
            maxes: converter.row_group_maxes(groups.iter()).ok()?,
            null_counts: converter.row_group_null_counts(groups.iter()).ok()?,
            key_root: metadata.schema().index_of(&bound.column).ok(),
            bound,
        })
    }

    /// Whether row group `rg` may still hold a top-k row.
    fn keeps(&self, rg: usize) -> bool {
        use arrow::array::Array;
        if rg >= self.mins.len() {
            return true;
        }
        let nulls = (!self.null_counts.is_null(rg)).then(|| self.null_counts.value(rg));
        self.bound
            .may_contribute(&self.mins.slice(rg, 1), &self.maxes.slice(rg, 1), nulls)
    }
}

impl ParquetFileScan {
    /// Rows in row group `rg`.
    pub fn row_group_rows(&self, rg: usize) -> u64 {
        self.metadata
            .metadata()
            .row_groups()
            .get(rg)
            .map_or(0, |g| g.num_rows().max(0) as u64)
    }

    /// Compressed bytes of the projected columns of row group `rg`.
    pub fn row_group_bytes(&self, rg: usize) -> usize {
        let schema = self.metadata.parquet_schema();
        let Some(group) = self.metadata.metadata().row_groups().get(rg) else {
            return 0;
        };
        group
            .columns()
            .iter()
            .enumerate()
            .filter(|(leaf, _)| {
                *leaf < schema.num_columns()
                    && self.projection.contains(&schema.get_column_root_idx(*leaf))
            })
            .map(|(_, c)| c.compressed_size().max(0) as usize)
            .sum()
    }

    fn build_reader(
        &self,
        rg: usize,
        roots: &[usize],
        batch_rows: usize,
        selection: Option<RowSelection>,
    ) -> Result<ParquetRecordBatchReader> {
        let file = crate::io::stream_input::open(&self.path)?;
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), roots.iter().copied());
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![rg])
                .with_projection(mask)
                .with_batch_size(batch_rows.max(1));
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        builder
            .build()
            .map_err(|e| Error::parquet(&self.path, Some(rg), e))
    }

    /// The rows of `rg` a task must decode. Join filters may rule the row group out by
    /// its statistics, and those that know their keys select rows by the key columns,
    /// decoded alone first. Else, without a top-k or before its bound is known, all
    /// rows; with one, the statistics may rule the row group out, and else its key
    /// column alone is decoded and compared with the bound.
    fn rows_to_read(&self, rg: usize) -> Result<RowGroupRows> {
        for keys in &self.join_keys {
            let (min, max) = keys.ranges.get(rg).copied().unwrap_or((None, None));
            if !keys.filter.may_contain(min, max) {
                return Ok(RowGroupRows::None);
            }
        }
        let selecting: Vec<&JoinKeyStats> = self
            .join_keys
            .iter()
            .filter(|k| k.filter.selects_rows() && self.projection.contains(&k.key_root))
            .collect();
        if !selecting.is_empty() {
            let mut roots: Vec<usize> = selecting.iter().map(|k| k.key_root).collect();
            roots.sort_unstable();
            roots.dedup();
            return self.select_by_keys(rg, &roots, |batch| {
                let mut mask: Option<arrow::array::BooleanArray> = None;
                for k in &selecting {
                    let column = batch.column_by_name(&k.filter.column)?;
                    let m = k.filter.row_mask(column)?;
                    mask = Some(match mask {
                        Some(prev) => arrow::compute::and(&prev, &m).ok()?,
                        None => m,
                    });
                }
                mask
            });
        }
        let Some(topk) = &self.topk else {
            return Ok(RowGroupRows::All);
        };
        if !topk.keeps(rg) {
            return Ok(RowGroupRows::None);
        }
        let Some(key) = topk.key_root.filter(|k| self.projection.contains(k)) else {
            return Ok(RowGroupRows::All);
        };
        if !topk.bound.is_set() {
            return Ok(RowGroupRows::All);
        }
        self.select_by_keys(rg, &[key], |b| topk.bound.row_mask(b.column(0)))
    }

    /// Decodes root columns `keys` of `rg` alone and selects the rows `mask_of` keeps;
    /// all rows where it cannot tell.
    fn select_by_keys(
        &self,
        rg: usize,
        keys: &[usize],
        mask_of: impl Fn(&RecordBatch) -> Option<arrow::array::BooleanArray>,
    ) -> Result<RowGroupRows> {
        let rows = self.row_group_rows(rg) as usize;
        let mut masks = Vec::new();
        for batch in self.build_reader(rg, keys, rows, None)? {
            let batch = batch.map_err(|e| Error::parquet(&self.path, Some(rg), e))?;
            match mask_of(&batch) {
                Some(mask) => masks.push(mask),
                None => return Ok(RowGroupRows::All),
            }
        }
        let kept: usize = masks.iter().map(|m| m.true_count()).sum();
        Ok(if kept == 0 {
            RowGroupRows::None
        } else if kept == rows {
            RowGroupRows::All
        } else {
            RowGroupRows::Selected(RowSelection::from_filters(&masks))
        })
    }
}

/// The batches of one row group.
pub(crate) struct RowGroupReader {
    scan: Arc<ParquetFileScan>,
    row_group: usize,
    reader: Option<ParquetRecordBatchReader>,
    reservation: Option<ScanReservation>,
    done: bool,
}

impl RowGroupReader {
    /// A lazy reader of `row_group`, holding `reservation` until it is done.
    pub fn new(scan: Arc<ParquetFileScan>, row_group: usize, reservation: ScanReservation) -> Self {
        RowGroupReader {
            scan,
            row_group,
            reader: None,
            reservation: Some(reservation),
            done: false,
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.reader.is_none() {
            // Decided when the row group is reached, so a top-k's bound is as tight
            // as the top-k has made it by then.
            let scan = &self.scan;
            let selection = match scan.rows_to_read(self.row_group)? {
                RowGroupRows::None => return Ok(None),
                RowGroupRows::All => None,
                RowGroupRows::Selected(s) => Some(s),
            };
            self.reader = Some(scan.build_reader(
                self.row_group,
                &scan.projection,
                scan.chunk_rows,
                selection,
            )?);
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        match reader.next() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(Error::parquet(&self.scan.path, Some(self.row_group), e)),
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.reader = None;
        self.reservation = None;
    }
}

impl Iterator for RowGroupReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                self.finish();
                Some(Err(e))
            }
        }
    }
}
