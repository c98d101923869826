//! Dataset discovery: which files a location names, and their hive partition values.
//!
//! * A **file** is itself; its parent is the root (so it has no partitions).
//! * A **glob** (`data/*.csv`, `data/**/part-*.parquet`) matches files; its root is
//!   the static prefix before the first component with a wildcard.
//! * A **directory** is walked recursively and keeps the files with the format's
//!   extension (`.csv`/`.tsv`; `.parquet`/`.parq`/`.pq`).
//!
//! Hidden (`.`) and `_`-prefixed files and directories below the root are skipped
//! (temp files of in-progress writes, `_SUCCESS` markers). Files are sorted by path so
//! scans are deterministic. Directory components `key=value` between the root and the
//! file are hive partitions; a key's type is inferred over all files (Int64, Float64,
//! Date32 for `YYYY-MM-DD`, else Utf8) and `__HIVE_DEFAULT_PARTITION__` is null.
//! A path that reads as a stream (stdin, a pipe, a size-0 `/proc` file) is copied once
//! ([`super::stream_input`]) and has its copy's size.
//! Memory: one path per file.

use std::path::{Component, Path, PathBuf};

use arrow::datatypes::{DataType, Field};

use super::dataset::FileFormat;
use crate::error::{Error, Result};
use crate::expr::ScalarValue;

/// The files of a location, sorted by path.
pub(crate) struct Listing {
    /// Partition directories are read relative to this.
    pub root: PathBuf,
    /// Path and size of each file.
    pub files: Vec<(PathBuf, u64)>,
}

/// Typed hive partitions of a listing.
pub(crate) struct Partitions {
    pub fields: Vec<Field>,
    /// One row of values per file, in `fields` order.
    pub values: Vec<Vec<ScalarValue>>,
}

const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lists the files that `location` names.
pub(crate) fn list_files(location: &str, format: &FileFormat) -> Result<Listing> {
    let mut files = vec![];
    let root;
    if is_glob(location) {
        root = glob_root(location);
        let pattern = glob::Pattern::new(location)
            .map_err(|e| Error::Plan(format!("invalid glob '{location}': {e}")))?;
        let depth = glob_depth(location, &root);
        let mut walker = Walker::default();
        let matches = |path: &Path| {
            pattern.matches_path_with(path, GLOB_OPTIONS) && !is_hidden_below(&root, path)
        };
        let listed = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &root
        };
        if std::fs::metadata(listed).is_ok_and(|m| m.is_dir()) {
            walker.walk(&root, depth, &matches, &mut files)?;
        }
    } else {
        let path = PathBuf::from(location);
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            let matches = |p: &Path| has_extension(p, format);
            Walker::default().walk(&path, usize::MAX, &matches, &mut files)?;
            root = path;
        } else {
            root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let size = super::stream_input::size_of(&path, &meta)?;
            files.push((path, size));
        }
    }
    if files.is_empty() {
        return Err(Error::NoFiles(location.to_string()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(Listing { root, files })
}

/// The static prefix of a glob: the components before the first wildcard.
fn glob_root(pattern: &str) -> PathBuf {
    let mut root = PathBuf::new();
    for c in Path::new(pattern).components() {
        if is_glob(&c.as_os_str().to_string_lossy()) {
            break;
        }
        root.push(c.as_os_str());
    }
    root
}

fn hidden_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn is_hidden_below(root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().any(|c| match c {
        Component::Normal(n) => hidden_name(&n.to_string_lossy()),
        _ => false,
    })
}

fn has_extension(path: &Path, format: &FileFormat) -> bool {
    let path = super::csv::compressed::inner_name(path);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match format {
        FileFormat::Csv(_) => matches!(ext.as_str(), "csv" | "tsv"),
        FileFormat::Parquet(_) => matches!(ext.as_str(), "parquet" | "parq" | "pq"),
        FileFormat::Json(_) => matches!(ext.as_str(), "json" | "ndjson" | "jsonl"),
    }
}

/// A wildcard matches within one path component; `**` alone spans directories.
const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// How many directory levels below `root` a glob can reach (`usize::MAX` with `**`).
fn glob_depth(pattern: &str, root: &Path) -> usize {
    let all = Path::new(pattern).components().count();
    let fixed = root.components().count();
    if Path::new(pattern)
        .components()
        .any(|c| c.as_os_str() == "**")
    {
        usize::MAX
    } else {
        all.saturating_sub(fixed)
    }
}

/// A recursive directory walk that follows symlinks but enters each real directory
/// once (by its canonical path), so a link back up the tree (`sub/back -> ..`) or to
/// itself neither repeats files nor loops. Entries are visited in name order, so the
/// first path to reach a directory is always the same one.
#[derive(Default)]
struct Walker {
    seen: std::collections::HashSet<PathBuf>,
}

impl Walker {
    /// Adds the files below `dir`, at most `depth` levels down, that `keep` accepts.
    fn walk(
        &mut self,
        dir: &Path,
        depth: usize,
        keep: &dyn Fn(&Path) -> bool,
        out: &mut Vec<(PathBuf, u64)>,
    ) -> Result<()> {
        // A glob without a directory part (`*.csv`) has an empty root: the current one.
        let listed = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let real = std::fs::canonicalize(listed).map_err(|e| Error::io(dir, e))?;
        if !self.seen.insert(real) || depth == 0 {
            return Ok(());
        }
        let mut entries = std::fs::read_dir(listed)
            .map_err(|e| Error::io(dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io(dir, e))?;
        entries.sort();
        for name in entries {
            let path = dir.join(&name);
            if hidden_name(&name.to_string_lossy()) {
                continue;
            }
            // Follows symlinks, like `metadata` on the root. A dangling link is skipped.
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&path, e)),
            };
            if meta.is_dir() {
                self.walk(&path, depth - 1, keep, out)?;
            } else if meta.is_file() && keep(&path) {
                let size = super::stream_input::size_of(&path, &meta)?;
                out.push((path, size));
            }
        }
        Ok(())
    }
}

/// Reads and types the hive `key=value` directories of every file.
pub(crate) fn hive_partitions(listing: &Listing) -> Result<Partitions> {
    let mut keys: Vec<String> = vec![];
    let mut raw: Vec<Vec<(String, Option<String>)>> = Vec::with_capacity(listing.files.len());
    for (path, _) in &listing.files {
        let rel = path.strip_prefix(&listing.root).unwrap_or(Path::new(""));
        let mut pairs: Vec<(String, Option<String>)> = vec![];
        let dirs = rel
            .parent()
            .map(|p| p.components().collect::<Vec<_>>())
            .unwrap_or_default();
        for c in dirs {
            let Component::Normal(n) = c else { continue };
            let n = n.to_string_lossy();
            let Some((k, v)) = n.split_once('=') else {
                continue;
            };
            if k.is_empty() {
                continue;
            }
            let value = percent_decode(v);
            let value = (value != HIVE_NULL).then_some(value);
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), value));
            if !keys.iter().any(|key| key == k) {
                keys.push(k.to_string());
            }
        }
        raw.push(pairs);
    }
    let column = |key: &str| -> Vec<Option<&str>> {
        raw.iter()
            .map(|pairs| {
                pairs
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, v)| v.as_deref())
            })
            .collect()
    };
    let mut fields = vec![];
    let mut values: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(keys.len()); raw.len()];
    for key in &keys {
        let col = column(key);
        let data_type = infer_partition_type(col.iter().flatten().copied());
        for (row, v) in values.iter_mut().zip(&col) {
            row.push(match v {
                None => ScalarValue::Null,
                Some(s) => parse_partition_value(s, &data_type)?,
            });
        }
        fields.push(Field::new(key, data_type, true));
    }
    Ok(Partitions { fields, values })
}

fn parse_date(s: &str) -> Option<i32> {
    if s.len() != 10 {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

fn parse_float(s: &str) -> Option<f64> {
    // Rust also parses "inf" and "NaN"; a partition named that is text.
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn infer_partition_type<'a>(values: impl Iterator<Item = &'a str> + Clone) -> DataType {
    let mut any = values.clone().peekable();
    if any.peek().is_none() {
        DataType::Utf8
    } else if values.clone().all(|v| v.parse::<i64>().is_ok()) {
        DataType::Int64
    } else if values.clone().all(|v| parse_float(v).is_some()) {
        DataType::Float64
    } else if values.clone().all(|v| parse_date(v).is_some()) {
        DataType::Date32
    } else {
        DataType::Utf8
    }
}

fn parse_partition_value(s: &str, t: &DataType) -> Result<ScalarValue> {
    let bad = || {
        Error::Internal(format!(
            "partition value '{s}' does not parse as inferred {t}"
        ))
    };
    Ok(match t {
        DataType::Int64 => ScalarValue::Int64(s.parse().map_err(|_| bad())?),
        DataType::Float64 => ScalarValue::Float64(parse_float(s).ok_or_else(bad)?),
        DataType::Date32 => ScalarValue::Date32(parse_date(s).ok_or_else(bad)?),
        _ => ScalarValue::Utf8(s.to_string()),
    })
}

/// Decodes `%XX` escapes, as hive writers escape `/`, `=`, `%` and the like.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_and_types() {
        assert_eq!(percent_decode("a%2Fb%3D1"), "a/b=1");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(
            infer_partition_type(["1", "-2"].into_iter()),
            DataType::Int64
        );
        assert_eq!(
            infer_partition_type(["1", "2.5"].into_iter()),
            DataType::Float64
        );
        assert_eq!(
            infer_partition_type(["2024-01-31"].into_iter()),
            DataType::Date32
        );
        assert_eq!(infer_partition_type(["inf"].into_iter()), DataType::Utf8);
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(glob_root("data/x=*/y/*.csv"), PathBuf::from("data"));
    }
}
