//! Hive partitioning for the file sink: splitting a morsel by the values of the
//! `partition_by` columns, naming the `key=value` directories, and keeping at most
//! [`MAX_OPEN_WRITERS`] part files open.
//!
//! Splitting runs in the worker, outside the sink's lock: the partition columns are
//! encoded with `arrow-row`, rows are grouped by their encoded key (with a fast path
//! for a morsel that holds one partition, as sorted or clustered input does), and
//! each group is gathered with `take`, without the partition columns.
//!
//! Writers: one open file per partition, `part-0.<ext>`. When a new partition needs a
//! writer and [`MAX_OPEN_WRITERS`] are open, the least recently written one is closed
//! (footer written, fsynced); if its partition shows up again, it continues in a new
//! file `part-1.<ext>`, and so on. Rows of one partition therefore stay in sink order
//! across its part files, in part-number order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_row::{RowConverter, SortField};

use super::writer::{FileWriter, Format, Payload};
use crate::error::{Error, Result};

/// Directory name used for a null (or empty) partition value, as Hive and Spark do.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Part files open at once in a partitioned write; more partitions evict the least
/// recently written writer. Each open Parquet writer buffers a row group, so this
/// also bounds how many row groups compete for the memory reservation.
pub const MAX_OPEN_WRITERS: usize = 64;

/// Splits morsels by the partition columns.
pub(super) struct Partitioner {
    part_cols: Vec<usize>,
    keep_cols: Vec<usize>,
    /// Escaped `name=` prefixes of the partition columns.
    prefixes: Vec<String>,
    file_schema: SchemaRef,
    converter: RowConverter,
}

impl Partitioner {
    pub(super) fn try_new(schema: &SchemaRef, by: &[String]) -> Result<Self> {
        let mut part_cols = Vec::with_capacity(by.len());
        for name in by {
            let i = schema.index_of(name).map_err(|_| {
                Error::Plan(format!(
                    "partition_by column '{name}' is not in the output schema ({})",
                    column_list(schema)
                ))
            })?;
            if part_cols.contains(&i) {
                return Err(Error::Plan(format!(
                    "partition_by names column '{name}' twice"
                )));
            }
            let field = schema.field(i);
            if field.data_type().is_nested() {
                return Err(Error::NotSupported(format!(
                    "partitioning by nested column '{name}' ({})",
                    field.data_type()
                )));
            }
            part_cols.push(i);
        }
        let keep_cols: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !part_cols.contains(i))
            .collect();
        if keep_cols.is_empty() {
            return Err(Error::Plan(
                "partition_by uses every column: the files would have no columns".into(),
            ));
        }
        let file_schema = Arc::new(schema.project(&keep_cols)?);
        let prefixes = part_cols
            .iter()
            .map(|&i| format!("{}=", hive_escape(schema.field(i).name())))
            .collect();
        let fields = part_cols
            .iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)
            .map_err(|e| Error::NotSupported(format!("partitioning by these column types: {e}")))?;
        Ok(Partitioner {
            part_cols,
            keep_cols,
            prefixes,
            file_schema,
            converter,
        })
    }

    /// The schema of the files: the input schema without the partition columns.
    pub(super) fn file_schema(&self) -> &SchemaRef {
        &self.file_schema
    }

    /// Splits `batch` into `(relative directory, rows without partition columns)`,
    /// one entry per distinct partition, in order of first appearance; rows keep
    /// their order within each part.
    pub(super) fn split(&self, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(Vec::new());
        }
        let key_cols: Vec<ArrayRef> = self
            .part_cols
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let file_batch = batch.project(&self.keep_cols)?;
        let rows = self.converter.convert_columns(&key_cols)?;
        let first = rows.row(0);
        if (1..n).all(|i| rows.row(i) == first) {
            return Ok(vec![(self.directory(&key_cols, 0)?, file_batch)]);
        }
        let mut group_of = hashbrown::HashMap::new();
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        for i in 0..n {
            let g = *group_of.entry(rows.row(i)).or_insert_with(|| {
                groups.push((i, Vec::new()));
                groups.len() - 1
            });
            let index = u32::try_from(i)
                .map_err(|_| Error::Internal("morsel of more than 2^32 rows".into()))?;
            groups[g].1.push(index);
        }
        groups
            .into_iter()
            .map(|(first_row, indices)| {
                let part = take_record_batch(&file_batch, &UInt32Array::from(indices))?;
                Ok((self.directory(&key_cols, first_row)?, part))
            })
            .collect()
    }

    /// `a=1/b=x` for row `row` of the partition columns.
    fn directory(&self, key_cols: &[ArrayRef], row: usize) -> Result<String> {
        let options = FormatOptions::default();
        let mut dir = String::new();
        for (k, (col, prefix)) in key_cols.iter().zip(&self.prefixes).enumerate() {
            if k > 0 {
                dir.push('/');
            }
            dir.push_str(prefix);
            let value = if col.is_null(row) {
                String::new()
            } else {
                ArrayFormatter::try_new(col.as_ref(), &options)?
                    .value(row)
                    .try_to_string()?
            };
            if value.is_empty() {
                dir.push_str(HIVE_DEFAULT_PARTITION);
            } else {
                dir.push_str(&hive_escape(&value));
            }
        }
        Ok(dir)
    }
}

fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Percent-encodes the characters Hive escapes in partition directory names
/// (control characters, `"#%'*/:=?\{[]^` and DEL), so that any value is one path
/// component and `key=value` splits at the first `=`.
pub fn hive_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let escape = c.is_ascii_control()
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            );
        if escape {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Default)]
struct PartState {
    /// Number of the next part file of this partition.
    next_part: u32,
    /// The open writer and its last-use tick.
    open: Option<(FileWriter, u64)>,
}

/// The part files of a partitioned write, under a (temporary) root directory.
pub(super) struct PartitionFiles {
    root: PathBuf,
    dest: PathBuf,
    file_schema: SchemaRef,
    parts: hashbrown::HashMap<String, PartState>,
    /// Open writers by last use, oldest first.
    lru: BTreeMap<u64, String>,
    tick: u64,
    /// Relative paths of every file created, in creation order.
    created: Vec<String>,
}

impl PartitionFiles {
    /// Part files go under `root` now and under `dest` after the commit.
    pub(super) fn new(root: &Path, dest: &Path, file_schema: SchemaRef) -> Self {
        PartitionFiles {
            root: root.to_path_buf(),
            dest: dest.to_path_buf(),
            file_schema,
            parts: hashbrown::HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            created: Vec::new(),
        }
    }

    /// Appends `payload` to partition `dir`, opening (and maybe evicting) a writer.
    pub(super) fn write(&mut self, format: &Format, dir: &str, payload: Payload) -> Result<()> {
        self.tick += 1;
        let tick = self.tick;
        let needs_writer = self.parts.get(dir).is_none_or(|p| p.open.is_none());
        if needs_writer && self.lru.len() >= MAX_OPEN_WRITERS {
            self.evict_oldest()?;
        }
        let state = self.parts.entry_ref(dir).or_default();
        let writer = match &mut state.open {
            Some((writer, last)) => {
                self.lru.remove(last);
                *last = tick;
                writer
            }
            slot @ None => {
                let rel = format!("{dir}/part-{}.{}", state.next_part, format.extension());
                let dir_path = self.root.join(dir);
                std::fs::create_dir_all(&dir_path).map_err(|e| Error::io(&dir_path, e))?;
                let temp_path = self.root.join(&rel);
                let final_path = self.dest.join(&rel);
                let file =
                    std::fs::File::create_new(&temp_path).map_err(|e| Error::io(&final_path, e))?;
                let writer = FileWriter::create(format, file, &self.file_schema, final_path)?;
                state.next_part += 1;
                self.created.push(rel);
                &mut slot.insert((writer, tick)).0
            }
        };
        self.lru.insert(tick, dir.to_owned());
        writer.write(payload)
    }

    fn evict_oldest(&mut self) -> Result<()> {
        let Some((_, dir)) = self.lru.pop_first() else {
            return Ok(());
        };
        match self.parts.get_mut(&dir).and_then(|p| p.open.take()) {
            Some((writer, _)) => writer.close(),
            None => Err(Error::Internal(format!("partition writer '{dir}' missing"))),
        }
    }

    /// Bytes buffered by all open writers.
    pub(super) fn buffered_bytes(&self) -> usize {
        self.open_writers().map(FileWriter::buffered_bytes).sum()
    }

    /// Flushes the open writer that buffers the most; `false` if none buffers anything.
    pub(super) fn flush_largest(&mut self) -> Result<bool> {
        let largest = self
            .parts
            .values_mut()
            .filter_map(|p| p.open.as_mut().map(|(w, _)| w))
            .filter(|w| w.buffered_bytes() > 0)
            .max_by_key(|w| w.buffered_bytes());
        match largest {
            Some(w) => w.flush_buffered().map(|()| true),
            None => Ok(false),
        }
    }

    /// Closes every open writer; returns the relative paths of all files written.
    pub(super) fn close_all(mut self) -> Result<Vec<String>> {
        self.lru.clear();
        for state in self.parts.values_mut() {
            if let Some((writer, _)) = state.open.take() {
                writer.close()?;
            }
        }
        Ok(std::mem::take(&mut self.created))
    }

    fn open_writers(&self) -> impl Iterator<Item = &FileWriter> {
        self.parts
            .values()
            .filter_map(|p| p.open.as_ref().map(|(w, _)| w))
    }
}
