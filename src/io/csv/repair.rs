//! The slow path of the CSV reader: runs only for a batch that failed to decode.
//!
//! The failed batch's bytes are read again record by record with the `csv` crate, which
//! knows each record's position. Every record is checked the way arrow's decoder parses
//! it (field count, UTF-8, and each projected field against its column type with the
//! same parse functions). A bad record is then, by [`BadRowPolicy`]:
//! * `Error`: an [`Error::Csv`] with the absolute line and the column;
//! * `Skip`: dropped and counted;
//! * `Null`: kept with its bad fields (and missing trailing fields) set to null, counted.
//!
//! The good and repaired records are written back as CSV into a small buffer and
//! decoded by a fresh arrow decoder, so values are built by exactly one code path.
//! Memory: one batch of records (at most `chunk_rows`) as text, then as arrow arrays.

use arrow::array::timezone::Tz;
use arrow::array::RecordBatch;
use arrow::compute::kernels::cast_utils::{parse_decimal, string_to_datetime, Parser};
use arrow::datatypes::*;
use arrow::error::ArrowError;

use super::csv_error;
use super::range::CsvFileScan;
use crate::error::Result;
use crate::io::options::BadRowPolicy;

/// What the slow path made of the failed batch.
pub(crate) struct Repaired {
    /// The records that could be read (after the policy), if any.
    pub batch: Option<RecordBatch>,
    /// Bytes of input consumed (whole records).
    pub consumed: usize,
    /// Records that were malformed (skipped or nulled).
    pub bad_rows: u64,
}

/// Re-reads up to `max_records` records of `data`, whose first byte is on line
/// `first_line`, applying the bad-row policy. `fast_error` is the decoder's error,
/// reported if the slow path finds nothing wrong but the data still does not decode.
pub(crate) fn repair_batch(
    scan: &CsvFileScan,
    data: &[u8],
    first_line: u64,
    skip_header: bool,
    max_records: usize,
    fast_error: ArrowError,
) -> Result<Repaired> {
    let path = &scan.file.path;
    let schema = &scan.schema;
    let n_fields = schema.fields().len();
    let mut reader = scan.dialect.record_reader(data);
    let mut writer = scan.dialect.record_writer();
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(data, first_line);
    let mut bad_rows = 0u64;
    let mut kept = 0usize;
    let mut records = 0usize;
    let read_err = |line: u64, e: csv::Error| csv_error(path, line, None, e);

    if skip_header {
        reader
            .read_byte_record(&mut record)
            .map_err(|e| read_err(first_line, e))?;
    }
    while records < max_records {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| read_err(lines.line_at(reader.position().byte() as usize), e))?;
        if !more {
            break;
        }
        records += 1;
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let line = lines.line_at(start);
        let problem = check_record(scan, &record);
        let Some((column, message)) = problem else {
            writer
                .write_byte_record(&record)
                .map_err(|e| csv_error(path, line, None, e))?;
            kept += 1;
            continue;
        };
        match scan.policy {
            BadRowPolicy::Error => return Err(csv_error(path, line, column, message)),
            BadRowPolicy::Skip => bad_rows += 1,
            BadRowPolicy::Null => {
                bad_rows += 1;
                let fields: Vec<&[u8]> = (0..n_fields)
                    .map(|i| {
                        let value = record.get(i).unwrap_or(b"");
                        let ok = field_problem(scan, i, value).is_none();
                        if ok {
                            value
                        } else {
                            b""
                        }
                    })
                    .collect();
                writer
                    .write_record(&fields)
                    .map_err(|e| csv_error(path, line, None, e))?;
                kept += 1;
            }
        }
    }
    let consumed = (reader.position().byte() as usize).min(data.len());
    let text = writer
        .into_inner()
        .map_err(|e| csv_error(path, first_line, None, e.error()))?;
    let batch = if kept == 0 {
        None
    } else {
        let mut decoder = scan.decoder(false, kept);
        let decoded = (|| {
            let mut pos = 0;
            loop {
                let n = decoder.decode(&text[pos..])?;
                if n == 0 {
                    break;
                }
                pos += n;
            }
            decoder.flush()
        })();
        match decoded {
            Ok(b) => b,
            // The checks below mirror arrow's parser; if they ever disagree, report
            // the decoder's own error at the batch's first line.
            Err(_) => return Err(csv_error(path, first_line, None, fast_error)),
        }
    };
    Ok(Repaired {
        batch,
        consumed,
        bad_rows,
    })
}

/// The first problem of a record: (column, message), or `None` if it decodes.
fn check_record(scan: &CsvFileScan, record: &csv::ByteRecord) -> Option<(Option<String>, String)> {
    let fields = scan.schema.fields();
    if record.len() != fields.len() {
        let column = fields.get(record.len()).map(|f| f.name().clone());
        return Some((
            column,
            format!("expected {} fields, found {}", fields.len(), record.len()),
        ));
    }
    // Arrow validates UTF-8 for the whole record, projected or not.
    for (i, value) in record.iter().enumerate() {
        if std::str::from_utf8(value).is_err() {
            return Some((Some(fields[i].name().clone()), "invalid UTF-8".to_string()));
        }
    }
    for &i in &scan.projection {
        let value = record.get(i).unwrap_or(b"");
        if let Some(message) = field_problem(scan, i, value) {
            return Some((Some(fields[i].name().clone()), message));
        }
    }
    None
}

/// Why field `i` with `value` does not parse as its column's type, if it does not.
fn field_problem(scan: &CsvFileScan, i: usize, value: &[u8]) -> Option<String> {
    let Ok(s) = std::str::from_utf8(value) else {
        return Some("invalid UTF-8".to_string());
    };
    let field = scan.schema.fields().get(i)?;
    if !scan.projection.contains(&i) || scan.dialect.null_regex.is_match(s) {
        return None;
    }
    let t = field.data_type();
    (!parses_as(s, t)).then(|| {
        format!(
            "value '{s}' does not parse as {}",
            crate::expr::types::sql_name(t)
        )
    })
}

/// Whether arrow's CSV decoder parses `s` (not null) as type `t`.
fn parses_as(s: &str, t: &DataType) -> bool {
    fn p<T: Parser>(s: &str) -> bool {
        T::parse(s).is_some()
    }
    match t {
        DataType::Boolean => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
        DataType::Int8 => p::<Int8Type>(s),
        DataType::Int16 => p::<Int16Type>(s),
        DataType::Int32 => p::<Int32Type>(s),
        DataType::Int64 => p::<Int64Type>(s),
        DataType::UInt8 => p::<UInt8Type>(s),
        DataType::UInt16 => p::<UInt16Type>(s),
        DataType::UInt32 => p::<UInt32Type>(s),
        DataType::UInt64 => p::<UInt64Type>(s),
        DataType::Float16 => p::<Float16Type>(s),
        DataType::Float32 => p::<Float32Type>(s),
        DataType::Float64 => p::<Float64Type>(s),
        DataType::Date32 => p::<Date32Type>(s),
        DataType::Date64 => p::<Date64Type>(s),
        DataType::Time32(TimeUnit::Second) => p::<Time32SecondType>(s),
        DataType::Time32(TimeUnit::Millisecond) => p::<Time32MillisecondType>(s),
        DataType::Time64(TimeUnit::Microsecond) => p::<Time64MicrosecondType>(s),
        DataType::Time64(TimeUnit::Nanosecond) => p::<Time64NanosecondType>(s),
        DataType::Timestamp(unit, tz) => {
            let parsed = match tz {
                Some(tz) => match tz.parse::<Tz>() {
                    Ok(tz) => string_to_datetime(&tz, s).map(|d| d.naive_utc()),
                    Err(_) => return false,
                },
                None => string_to_datetime(&chrono::Utc, s).map(|d| d.naive_utc()),
            };
            match parsed {
                Ok(d) => {
                    *unit != TimeUnit::Nanosecond || d.and_utc().timestamp_nanos_opt().is_some()
                }
                Err(_) => false,
            }
        }
        DataType::Decimal32(pr, sc) => parse_decimal::<Decimal32Type>(s, *pr, *sc).is_ok(),
        DataType::Decimal64(pr, sc) => parse_decimal::<Decimal64Type>(s, *pr, *sc).is_ok(),
        DataType::Decimal128(pr, sc) => parse_decimal::<Decimal128Type>(s, *pr, *sc).is_ok(),
        DataType::Decimal256(pr, sc) => parse_decimal::<Decimal256Type>(s, *pr, *sc).is_ok(),
        // Text (and types arrow's CSV reader builds without parsing) always decode.
        _ => true,
    }
}

/// Absolute line numbers of byte offsets, counted incrementally (offsets only grow).
struct LineCounter<'a> {
    data: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(data: &'a [u8], first_line: u64) -> Self {
        LineCounter {
            data,
            offset: 0,
            line: first_line,
        }
    }

    /// The line of the first non-blank byte at or after `offset`: a record's position
    /// can sit before the line break that ended the previous record (`\r|\n`) or
    /// before blank lines, which the parser skips.
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut target = offset.min(self.data.len());
        while target < self.data.len() && matches!(self.data[target], b'\r' | b'\n') {
            target += 1;
        }
        if target > self.offset {
            self.line += super::split::count_byte(&self.data[self.offset..target], b'\n');
            self.offset = target;
        }
        self.line
    }
}
