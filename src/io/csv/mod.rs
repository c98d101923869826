//! The CSV reader: one large file parses on all cores.
//!
//! ```text
//!  file (mmap, read-only, private)
//!  ├── chunk 0 ──┼── chunk 1 ──┼── chunk 2 ──┤   fixed 16 MiB chunks; task j counts chunk j's
//!  │range 0   │     range 1   │    range 2  │   quotes and newlines, then waits for the counts
//!  └──────────┴───────────────┴─────────────┘   of chunks < j: the prefix parity says whether
//!             ^ first newline at even quote parity   chunk j starts inside quotes
//! ```
//!
//! * `split`: the file is mapped and cut into fixed chunks of `range_bytes`. Task `j`
//!   (handed out in file order) counts its own chunk's quote characters and newlines —
//!   in parallel with the other workers' tasks — and publishes the counts. The prefix
//!   sums of the earlier chunks give the quote parity and the absolute line number at
//!   the chunk start; the range boundary is the first newline at even parity, so a
//!   quoted field containing newlines never straddles two ranges. An escape character
//!   other than the quote breaks the parity argument, so then each file is one range.
//!   Nothing is counted before a task needs it, so `head(5)` touches one chunk.
//! * `range`: each range is decoded lazily, one batch of `chunk_rows` rows per
//!   `next()`, by arrow's push decoder (projection applied while parsing; the header is
//!   skipped on range 0 only). The range's bytes are reserved in the memory pool while
//!   it is parsed, and its pages are released (`MADV_DONTNEED`) when it is done, so RSS
//!   does not grow with the file.
//! * `repair`: the slow path, only when a batch fails to decode: the batch's bytes are
//!   re-read record by record with the `csv` crate to find the exact line and column,
//!   then the bad-row policy applies (error, skip, or null the bad fields).
//!
//! Schema inference (`infer_file_schema`) samples the first `infer_rows` records.

pub(crate) mod compressed;
pub(crate) mod range;
pub(crate) mod repair;
pub(crate) mod sniff;
pub(crate) mod split;

use std::io::{BufRead as _, Read as _};
use std::path::Path;

use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use regex::Regex;

use super::options::CsvOptions;
use crate::error::{Error, Result};

/// Default size of the byte ranges one large file is cut into.
pub(crate) const DEFAULT_RANGE_BYTES: usize = 16 << 20;

/// Most records decoded into one batch: arrow's decoder preallocates field offsets
/// for a whole batch, so an unbounded `chunk_rows` must not reach it.
pub(crate) const MAX_BATCH_ROWS: usize = 1 << 20;

/// Bytes of field offsets a CSV decoder may preallocate: arrow's decoder reserves
/// `batch rows × columns` offsets up front, so a 10,000-column file decoded in batches
/// of the usual row count reserved gigabytes (OOM-killed under a 4 GiB cap).
const DECODER_OFFSET_BYTES: usize = 32 << 20;

/// Rows per decoded batch for a file of `columns` columns: `chunk_rows`, fewer for wide
/// files so that the decoder's offsets stay within [`DECODER_OFFSET_BYTES`].
pub(crate) fn batch_rows(chunk_rows: usize, columns: usize) -> usize {
    let per_row = columns.max(1) * std::mem::size_of::<usize>();
    chunk_rows
        .min(MAX_BATCH_ROWS)
        .min(DECODER_OFFSET_BYTES / per_row)
        .max(1)
}

/// The parsing settings shared by inference, the fast decoder and the slow path.
#[derive(Debug, Clone)]
pub(crate) struct Dialect {
    pub has_header: bool,
    pub delimiter: u8,
    /// `None`: quoting is off.
    pub quote: Option<u8>,
    /// An escape character other than the quote (`None`: quotes are doubled).
    pub escape: Option<u8>,
    /// Matches the empty field and every `null_values` entry.
    pub null_regex: Regex,
    /// Lines skipped at the start of each file.
    pub skip_lines: usize,
}

impl Dialect {
    pub fn try_new(o: &CsvOptions) -> Result<Self> {
        let mut alternatives = vec![String::new()];
        alternatives.extend(o.null_values.iter().map(|v| regex::escape(v)));
        let pattern = format!("^(?:{})$", alternatives.join("|"));
        let null_regex = Regex::new(&pattern)
            .map_err(|e| Error::Config(format!("CSV null_values do not form a pattern: {e}")))?;
        Ok(Dialect {
            has_header: o.has_header,
            delimiter: o.delimiter,
            quote: o.quote,
            escape: o.escape.filter(|e| Some(*e) != o.quote),
            null_regex,
            skip_lines: o.skip_lines,
        })
    }

    /// The quote byte handed to the parsers. With quoting off it is NUL, a byte that
    /// text files do not contain, because arrow's decoder cannot turn quoting off.
    pub fn quote_byte(&self) -> u8 {
        self.quote.unwrap_or(0)
    }

    /// Whether quote parity finds record boundaries (no separate escape character).
    pub fn splittable(&self) -> bool {
        self.escape.is_none()
    }

    /// The arrow format (header off; callers set it per range).
    pub fn arrow_format(&self) -> Format {
        let f = Format::default()
            .with_delimiter(self.delimiter)
            .with_quote(self.quote_byte())
            .with_null_regex(self.null_regex.clone());
        match self.escape {
            Some(e) => f.with_escape(e),
            None => f,
        }
    }

    /// A `csv` crate reader over raw bytes, for the slow path: no header handling,
    /// ragged rows allowed (the caller checks field counts).
    pub fn record_reader<'a>(&self, data: &'a [u8]) -> csv::Reader<&'a [u8]> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote_byte())
            .escape(self.escape)
            .from_reader(data)
    }

    /// A `csv` crate writer that the fast decoder reads back identically.
    pub fn record_writer(&self) -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote_byte())
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(vec![])
    }
}

/// The columns of one CSV file: header names (or `column_1..n`) and types inferred from
/// its first `infer_rows` records, with `column_types` applied.
pub(crate) fn infer_file_schema(path: &Path, size: u64, o: &CsvOptions) -> Result<Schema> {
    if size == 0 {
        // Adds no columns; a dataset whose files are all empty is an error
        // ([`super::Dataset::try_new`]) unless its columns are given.
        return Ok(Schema::empty());
    }
    let dialect = Dialect::try_new(o)?;
    let mut input = std::io::BufReader::new(compressed::open(path)?);
    skip_lines(&mut input, o.skip_lines).map_err(|e| Error::io(path, e))?;
    let first = first_line(&mut input, path, o)?;
    let input = std::io::Cursor::new(first).chain(input);
    let format = dialect
        .arrow_format()
        .with_header(o.has_header)
        .with_truncated_rows(true);
    let (schema, _) = format
        .infer_schema(input, Some(o.infer_rows.max(1)))
        .map_err(|e| {
            let message = e.to_string();
            csv_error(path, line_in(&message).unwrap_or(1), None, message)
        })?;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut name = f.name().clone();
            if i == 0 {
                name = name.trim_start_matches('\u{feff}').to_string();
            }
            // An empty header name gets DuckDB's generated one.
            if name.is_empty() {
                name = format!("column{i}");
            }
            let overridden = o.column_types.iter().find(|(n, _)| *n == name);
            let t = match overridden {
                Some((_, t)) => t.clone(),
                None => normalize_inferred(f.data_type()),
            };
            Field::new(name, t, true)
        })
        .collect();
    Ok(Schema::new(fields))
}

/// The first line of `input` (the header), after checking it against the column limit:
/// at most [`CsvOptions::max_header_bytes`] long and [`CsvOptions::max_columns`] fields
/// (delimiters outside quotes, plus one).
fn first_line(input: &mut impl std::io::BufRead, path: &Path, o: &CsvOptions) -> Result<Vec<u8>> {
    let limit = o.max_header_bytes();
    let mut line = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| Error::io(path, e))?;
    let line_no = 1 + o.skip_lines as u64;
    if line.len() > limit && !line.ends_with(b"\n") {
        return Err(csv_error(
            path,
            line_no,
            None,
            format!(
                "the first line is longer than {limit} bytes (1 KiB per column of \
                 max_columns = {}); is this a CSV file? Raise max_columns to read it",
                o.max_columns
            ),
        ));
    }
    let mut in_quotes = false;
    let mut fields = 1usize;
    for &b in &line {
        if Some(b) == o.quote {
            in_quotes = !in_quotes;
        } else if b == o.delimiter && !in_quotes {
            fields += 1;
        }
    }
    if fields > o.max_columns {
        return Err(csv_error(
            path,
            line_no,
            None,
            format!(
                "the first line has {fields} fields, more than max_columns = {}; raise \
                 max_columns to read it",
                o.max_columns
            ),
        ));
    }
    Ok(line)
}

/// Reads past the first `n` lines of `input`.
pub(crate) fn skip_lines(input: &mut impl std::io::BufRead, n: usize) -> std::io::Result<()> {
    let mut line = Vec::new();
    for _ in 0..n {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
    }
    Ok(())
}

/// The line number in a `csv` crate message ("... at line 7"), if any.
fn line_in(message: &str) -> Option<u64> {
    let rest = &message[message.rfind(" at line ")? + " at line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Second and millisecond timestamps read as microseconds, floe's timestamp unit.
fn normalize_inferred(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
        }
        t => t.clone(),
    }
}

/// A CSV error at `line` of `path`.
pub(crate) fn csv_error(
    path: &Path,
    line: u64,
    column: Option<String>,
    message: impl std::fmt::Display,
) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message: message.to_string(),
    }
}

/// Rows of the CSV files of `dataset`, estimated from the mean line length of up to
/// the first 1 MiB of up to three files (the header counted out); `None` for other
/// datasets or when nothing could be read. Reads at most 3 MiB.
pub fn estimate_rows(dataset: &super::Dataset) -> Option<f64> {
    use std::io::Read;
    let super::FileFormat::Csv(o) = &dataset.format else {
        return None;
    };
    let (mut bytes, mut lines) = (0u64, 0u64);
    for f in dataset.files.iter().take(3) {
        let mut buf = vec![];
        crate::io::stream_input::open(&f.path)
            .ok()?
            .take(1 << 20)
            .read_to_end(&mut buf)
            .ok()?;
        let full = buf.len() as u64 == f.size;
        let mut n = memchr::memchr_iter(b'\n', &buf).count() as u64;
        if full && !buf.is_empty() && buf.last() != Some(&b'\n') {
            n += 1;
        }
        let mut read = buf.len() as u64;
        if o.has_header && n > 0 {
            let header = memchr::memchr(b'\n', &buf).map_or(buf.len(), |i| i + 1) as u64;
            read -= header;
            n -= 1;
        }
        bytes += read;
        lines += n;
    }
    if lines == 0 || bytes == 0 {
        return None;
    }
    let per_line = bytes as f64 / lines as f64;
    let total: u64 = dataset.files.iter().map(|f| f.size).sum();
    Some((total as f64 / per_line).max(1.0))
}
