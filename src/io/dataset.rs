//! Datasets: the files behind a scan, and the one schema they are read as.
//!
//! [`Dataset::try_new`] runs once, when a plan is built:
//!
//! 1. **Discovery** (`super::discovery`): a file, a glob or a directory (recursive)
//!    becomes a sorted list of files; hive `key=value` directories below the dataset
//!    root become typed partition values.
//! 2. **Per-file schemas**, read in parallel: a CSV file's header plus a type
//!    inference over its first `infer_rows` records; a Parquet file's footer, parsed
//!    once and kept in [`DataFile::parquet`] so that scans never re-read it.
//! 3. **Union by name**: a column that is missing from a file reads as nulls there;
//!    types must agree, except that CSV widens Int64 and Float64 to Float64 (a column
//!    that is all empty in a sample takes the other files' type). Any other mismatch
//!    is an [`Error::Schema`] naming both files and the column.
//!
//! Memory: only schemas and Parquet footers are held, never data.
//!
//! A dataset serializes as its file list (paths, sizes, partition values, schemas,
//! and the [`FileSlice`] a plan fragment reads); reading it back re-opens the Parquet
//! footers, so a file the reading process cannot open is an error naming it.
//! [`Dataset::fragment`] makes the dataset of one slice of the input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::discovery;
use super::options::{CsvOptions, JsonOptions, ParquetOptions};
use crate::error::{Error, Result};
use crate::expr::ScalarValue;

/// The format of a dataset's files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FileFormat {
    Csv(CsvOptions),
    Parquet(ParquetOptions),
    /// Newline-delimited JSON.
    Json(JsonOptions),
}

/// One file of a dataset.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    pub size: u64,
    /// Values of the dataset's hive partition columns for this file, in `partition_fields` order.
    pub partition_values: Vec<ScalarValue>,
    /// The file's own columns, in the file's order. CSV: typed as the dataset reads
    /// them (so a scan decodes straight into the dataset type). Parquet: as stored.
    pub schema: SchemaRef,
    /// The parsed Parquet footer (`None` for CSV).
    pub parquet: Option<ArrowReaderMetadata>,
    /// The part of the file a plan fragment reads (`None`: all of it).
    pub slice: Option<FileSlice>,
}

/// The part of a file a plan fragment reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileSlice {
    /// These Parquet row groups.
    RowGroups(Vec<usize>),
    /// The CSV records that start in bytes `start..end` of the file.
    Bytes { start: u64, end: u64 },
}

/// A set of files read as one table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "DatasetDescription", try_from = "DatasetDescription")]
pub struct Dataset {
    /// What the user gave: a path, a glob or a directory.
    pub location: String,
    pub format: FileFormat,
    pub files: Vec<DataFile>,
    /// Columns stored in the files (the union by name over all files).
    pub file_schema: SchemaRef,
    /// Hive partition columns, typed.
    pub partition_fields: Vec<FieldRef>,
    /// `file_schema` followed by `partition_fields`.
    pub schema: SchemaRef,
}

/// A file's schema as read from the file, before the union.
struct FileSchema {
    schema: Schema,
    parquet: Option<ArrowReaderMetadata>,
}

impl Dataset {
    /// Finds the files at `location` and resolves their schema.
    ///
    /// Errors: [`Error::NoFiles`] when nothing matches, [`Error::Io`] for a missing
    /// path, [`Error::Parquet`] for an unreadable footer, [`Error::Csv`] for a CSV
    /// sample that cannot be read, [`Error::Schema`] for files that disagree.
    pub fn try_new(location: &str, mut format: FileFormat) -> Result<Dataset> {
        let listing = discovery::list_files(location, &format)?;
        if let FileFormat::Csv(o) = &mut format {
            if o.sniff_delimiter {
                if let Some((path, _)) = listing.files.iter().find(|(_, size)| *size > 0) {
                    o.delimiter = super::csv::sniff::sniff_delimiter(path, o.quote, o.skip_lines)?;
                }
                o.sniff_delimiter = false;
            }
        }
        let partitions = discovery::hive_partitions(&listing)?;

        let per_file: Vec<FileSchema> = listing
            .files
            .par_iter()
            .map(|(path, size)| read_file_schema(path, *size, &format))
            .collect::<Result<_>>()?;

        // Inferred types (CSV, JSON) may widen across files.
        let csv = !matches!(format, FileFormat::Parquet(_));
        let given = match &format {
            FileFormat::Csv(o) => o.schema.clone(),
            FileFormat::Parquet(o) => o.schema.clone(),
            FileFormat::Json(o) => o.schema.clone(),
        };
        // Only empty CSV files (0 bytes): no columns to read, unless they are given.
        let only_empty_csv = match &format {
            FileFormat::Csv(o) if listing.files.iter().all(|(_, size)| *size == 0) => {
                if given.is_none() && o.column_types.is_empty() {
                    let path = listing
                        .files
                        .first()
                        .map(|(p, _)| p.clone())
                        .unwrap_or_default();
                    return Err(super::csv::csv_error(
                        &path,
                        1,
                        None,
                        "the file is empty (no header, no rows), so it has no columns; give \
                         them (a schema, or types= in read_csv) to read it as an empty table",
                    ));
                }
                Some(&o.column_types)
            }
            _ => None,
        };
        let file_schema: SchemaRef = match given {
            Some(s) => s,
            None if only_empty_csv.is_some() => Arc::new(Schema::new(
                only_empty_csv
                    .into_iter()
                    .flatten()
                    .map(|(n, t)| Field::new(n.clone(), t.clone(), true))
                    .collect::<Vec<_>>(),
            )),
            None => {
                let named: Vec<(&Path, &Schema)> = listing
                    .files
                    .iter()
                    .zip(&per_file)
                    .map(|((p, _), f)| (p.as_path(), &f.schema))
                    .collect();
                let mut merged = union_by_name(&named, csv)?;
                if let FileFormat::Csv(o) = &format {
                    merged = apply_overrides(merged, o)?;
                }
                Arc::new(merged)
            }
        };

        // Hive keys that are also stored columns would be ambiguous.
        if let Some(f) = partitions
            .fields
            .iter()
            .find(|f| file_schema.field_with_name(f.name()).is_ok())
        {
            return Err(Error::Schema(format!(
                "hive partition key '{}' in '{location}' is also a column stored in the files",
                f.name()
            )));
        }

        let files = listing
            .files
            .into_iter()
            .zip(per_file)
            .zip(partitions.values)
            .map(|(((path, size), fs), partition_values)| {
                let schema = match &format {
                    // CSV files decode straight into the dataset's types.
                    FileFormat::Csv(o) if o.schema.is_some() => Arc::clone(&file_schema),
                    FileFormat::Csv(_) => Arc::new(retype(&fs.schema, &file_schema)),
                    FileFormat::Parquet(_) => Arc::new(fs.schema),
                    // JSON records decode by name into the dataset's columns.
                    FileFormat::Json(_) => Arc::clone(&file_schema),
                };
                DataFile {
                    path,
                    size,
                    partition_values,
                    schema,
                    parquet: fs.parquet,
                    slice: None,
                }
            })
            .collect();

        let partition_fields: Vec<FieldRef> = partitions.fields.into_iter().map(Arc::new).collect();
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.extend(partition_fields.iter().cloned());
        Ok(Dataset {
            location: location.to_string(),
            format,
            files,
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            partition_fields,
        })
    }

    /// Names of the hive partition columns.
    pub fn partition_names(&self) -> Vec<&str> {
        self.partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    /// Total size of the files in bytes (for progress and size estimates).
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The same dataset reading only `parts`: (index of a file, the slice of it to
    /// read, `None` for all). The schema stays the whole dataset's.
    pub fn fragment(&self, parts: &[(usize, Option<FileSlice>)]) -> Result<Dataset> {
        let mut files = vec![];
        for (i, slice) in parts {
            let mut f = self.files.get(*i).cloned().ok_or_else(|| {
                Error::Plan(format!(
                    "'{}' has {} files; no file {i}",
                    self.location,
                    self.files.len()
                ))
            })?;
            f.slice = slice.clone();
            files.push(f);
        }
        Ok(Dataset {
            files,
            ..self.clone()
        })
    }

    /// Splits the dataset into slices of about `target_bytes` of input each: whole
    /// small files, single Parquet row groups (or runs of them), and byte windows of
    /// large CSV files, in file order. Their scans together read every row once.
    pub fn split(&self, target_bytes: u64) -> Vec<Vec<(usize, Option<FileSlice>)>> {
        let target = target_bytes.max(1);
        let mut out: Vec<Vec<(usize, Option<FileSlice>)>> = vec![];
        let mut current: Vec<(usize, Option<FileSlice>)> = vec![];
        let mut current_bytes = 0u64;
        let flush = |current: &mut Vec<_>, bytes: &mut u64, out: &mut Vec<_>| {
            if !current.is_empty() {
                out.push(std::mem::take(current));
                *bytes = 0;
            }
        };
        for (i, f) in self.files.iter().enumerate() {
            if f.size <= target {
                current.push((i, None));
                current_bytes += f.size;
                if current_bytes >= target {
                    flush(&mut current, &mut current_bytes, &mut out);
                }
                continue;
            }
            flush(&mut current, &mut current_bytes, &mut out);
            match &f.parquet {
                Some(meta) => {
                    let groups = meta.metadata().row_groups();
                    let mut run = vec![];
                    let mut run_bytes = 0u64;
                    for (g, rg) in groups.iter().enumerate() {
                        run.push(g);
                        run_bytes += rg.compressed_size().max(0) as u64;
                        if run_bytes >= target {
                            out.push(vec![(
                                i,
                                Some(FileSlice::RowGroups(std::mem::take(&mut run))),
                            )]);
                            run_bytes = 0;
                        }
                    }
                    if !run.is_empty() {
                        out.push(vec![(i, Some(FileSlice::RowGroups(run)))]);
                    }
                }
                // A compressed file decompresses from its start, and a JSON file is
                // read whole: one fragment.
                None if super::csv::compressed::codec_of(&f.path).is_some()
                    || matches!(self.format, FileFormat::Json(_)) =>
                {
                    out.push(vec![(i, None)]);
                }
                None => {
                    let mut start = 0u64;
                    while start < f.size {
                        let end = (start + target).min(f.size);
                        out.push(vec![(i, Some(FileSlice::Bytes { start, end }))]);
                        start = end;
                    }
                }
            }
        }
        flush(&mut current, &mut current_bytes, &mut out);
        out
    }
}

/// How a [`Dataset`] travels: its file list and schemas, no open handles.
#[derive(Serialize, Deserialize)]
struct DatasetDescription {
    location: String,
    format: FileFormat,
    files: Vec<FileDescription>,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    schema: SchemaRef,
}

#[derive(Serialize, Deserialize)]
struct FileDescription {
    path: PathBuf,
    size: u64,
    partition_values: Vec<ScalarValue>,
    schema: SchemaRef,
    slice: Option<FileSlice>,
}

impl From<Dataset> for DatasetDescription {
    fn from(d: Dataset) -> Self {
        DatasetDescription {
            location: d.location,
            format: d.format,
            files: d
                .files
                .into_iter()
                .map(|f| FileDescription {
                    path: f.path,
                    size: f.size,
                    partition_values: f.partition_values,
                    schema: f.schema,
                    slice: f.slice,
                })
                .collect(),
            file_schema: d.file_schema,
            partition_fields: d.partition_fields,
            schema: d.schema,
        }
    }
}

impl TryFrom<DatasetDescription> for Dataset {
    type Error = Error;

    /// Re-opens the Parquet footers of the files.
    fn try_from(d: DatasetDescription) -> Result<Dataset> {
        let parquet = matches!(d.format, FileFormat::Parquet(_));
        let files = d
            .files
            .into_par_iter()
            .map(|f| {
                let meta = if parquet {
                    Some(super::parquet::load_metadata(&f.path)?)
                } else {
                    None
                };
                Ok(DataFile {
                    path: f.path,
                    size: f.size,
                    partition_values: f.partition_values,
                    schema: f.schema,
                    parquet: meta,
                    slice: f.slice,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset {
            location: d.location,
            format: d.format,
            files,
            file_schema: d.file_schema,
            partition_fields: d.partition_fields,
            schema: d.schema,
        })
    }
}

fn read_file_schema(path: &Path, size: u64, format: &FileFormat) -> Result<FileSchema> {
    match format {
        FileFormat::Csv(o) => {
            let schema = match &o.schema {
                Some(s) => s.as_ref().clone(),
                None => super::csv::infer_file_schema(path, size, o)?,
            };
            Ok(FileSchema {
                schema,
                parquet: None,
            })
        }
        FileFormat::Parquet(_) => {
            let meta = super::parquet::load_metadata(path)?;
            Ok(FileSchema {
                schema: meta.schema().as_ref().clone(),
                parquet: Some(meta),
            })
        }
        FileFormat::Json(o) => Ok(FileSchema {
            schema: match &o.schema {
                Some(s) => s.as_ref().clone(),
                None if size == 0 => Schema::empty(),
                None => super::json::infer_file_schema(path, o)?,
            },
            parquet: None,
        }),
    }
}

/// The union by name of the files' schemas, in order of first appearance.
fn union_by_name(files: &[(&Path, &Schema)], csv: bool) -> Result<Schema> {
    // name -> (type, file that set it)
    let mut order: Vec<String> = vec![];
    let mut types: HashMap<String, (DataType, &Path)> = HashMap::new();
    for (path, schema) in files {
        let mut seen = std::collections::HashSet::new();
        for field in schema.fields() {
            let name = field.name();
            if !seen.insert(name.as_str()) {
                return Err(Error::Schema(format!(
                    "column '{name}' appears twice in {}",
                    path.display()
                )));
            }
            match types.get_mut(name) {
                None => {
                    order.push(name.clone());
                    types.insert(name.clone(), (field.data_type().clone(), path));
                }
                Some((current, from)) => {
                    let merged = merge_types(current, field.data_type(), csv).ok_or_else(|| {
                        Error::Schema(format!(
                            "column '{name}' is {current} in {} but {} in {}",
                            from.display(),
                            field.data_type(),
                            path.display()
                        ))
                    })?;
                    if merged != *current {
                        *current = merged;
                        *from = path;
                    }
                }
            }
        }
    }
    let fields: Vec<Field> = order
        .into_iter()
        .map(|name| {
            let t = match types.remove(&name) {
                // A column that is empty in every sample reads as text.
                Some((DataType::Null, _)) if csv => DataType::Utf8,
                Some((t, _)) => t,
                None => DataType::Utf8,
            };
            Field::new(name, t, true)
        })
        .collect();
    Ok(Schema::new(fields))
}

/// The type two files' columns meet at, or `None` for a conflict.
fn merge_types(a: &DataType, b: &DataType, csv: bool) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (Null, t) | (t, Null) => Some(t.clone()),
        (Int64, Float64) | (Float64, Int64) if csv => Some(Float64),
        (Timestamp(u1, None), Timestamp(u2, None)) if csv => Some(Timestamp(finer(*u1, *u2), None)),
        (Date32, Timestamp(u, None)) | (Timestamp(u, None), Date32) if csv => {
            Some(Timestamp(*u, None))
        }
        _ => None,
    }
}

fn finer(a: TimeUnit, b: TimeUnit) -> TimeUnit {
    let rank = |u: TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// Applies `column_types` overrides to the merged CSV schema.
fn apply_overrides(schema: Schema, options: &CsvOptions) -> Result<Schema> {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, t) in &options.column_types {
        let f = fields
            .iter_mut()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                Error::Schema(format!("column_types names '{name}', which no file has"))
            })?;
        *f = Field::new(name, t.clone(), true);
    }
    Ok(Schema::new(fields))
}

/// A file's own column list, typed as in `dataset`.
fn retype(file: &Schema, dataset: &Schema) -> Schema {
    let fields: Vec<Field> = file
        .fields()
        .iter()
        .map(|f| match dataset.field_with_name(f.name()) {
            Ok(d) => Field::new(f.name(), d.data_type().clone(), true),
            Err(_) => f.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
}
