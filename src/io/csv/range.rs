//! Decoding one byte range of a CSV file, lazily, one batch per `next()`.
//!
//! The range is resolved on the first `next()` (which may wait briefly for the quote
//! counts of earlier chunks, see [`super::split`]). Each `next()` feeds the range's
//! bytes to arrow's push decoder until it holds `chunk_rows` records, then flushes them
//! to a batch of the projected columns. A batch that fails to decode goes to the slow
//! path ([`super::repair`]) and decoding resumes after it with a fresh decoder.
//!
//! Memory: the range's bytes are reserved in the pool for as long as the reader lives
//! (they are resident while parsed). When the range is finished, or the reader dropped
//! early (a satisfied limit), its pages are released with `MADV_DONTNEED` and the
//! reservation is returned.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::csv::reader::Decoder;
use arrow::csv::ReaderBuilder;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use memmap2::UncheckedAdvice;

use super::repair::repair_batch;
use super::split::{ByteRange, CsvFile};
use super::Dialect;
use crate::error::{Error, Result};
use crate::io::options::BadRowPolicy;
use crate::io::scan::{ScanReservation, ScanStats};

/// How one CSV file is decoded by a scan; shared by the file's range readers.
#[derive(Debug)]
pub(crate) struct CsvFileScan {
    pub file: Arc<CsvFile>,
    /// The file's columns, in file order, typed as the dataset reads them.
    pub schema: SchemaRef,
    /// Indices into `schema` of the columns to decode, ascending.
    pub projection: Vec<usize>,
    pub dialect: Arc<Dialect>,
    pub chunk_rows: usize,
    pub policy: BadRowPolicy,
    pub stats: Arc<ScanStats>,
}

impl CsvFileScan {
    /// A fresh arrow decoder for this file's columns.
    pub fn decoder(&self, header: bool, batch_rows: usize) -> Decoder {
        ReaderBuilder::new(Arc::clone(&self.schema))
            .with_format(self.dialect.arrow_format())
            .with_header(header)
            .with_batch_size(batch_rows.max(1))
            .with_projection(self.projection.clone())
            .build_decoder()
    }
}

/// The batches of one range (chunk `chunk` of the file).
pub(crate) struct RangeReader {
    scan: Arc<CsvFileScan>,
    chunk: usize,
    range: Option<ByteRange>,
    pos: usize,
    header_pending: bool,
    decoder: Option<Decoder>,
    reservation: Option<ScanReservation>,
    done: bool,
}

impl RangeReader {
    /// A reader of chunk `chunk`, whose counts the caller has already published; it
    /// holds `reservation` until the range is done.
    pub fn new(scan: Arc<CsvFileScan>, chunk: usize, reservation: ScanReservation) -> Self {
        RangeReader {
            scan,
            chunk,
            range: None,
            pos: 0,
            header_pending: false,
            decoder: None,
            reservation: Some(reservation),
            done: false,
        }
    }

    fn resolve(&mut self) -> Result<ByteRange> {
        if let Some(r) = self.range {
            return Ok(r);
        }
        let r = self.scan.file.range(self.chunk)?;
        self.pos = r.start;
        self.header_pending =
            self.scan.file.starts_file(self.chunk) && self.scan.dialect.has_header;
        self.decoder = Some(self.scan.decoder(self.header_pending, self.scan.chunk_rows));
        self.range = Some(r);
        Ok(r)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let range = self.resolve()?;
        let file = Arc::clone(&self.scan.file);
        let data = file.data();
        loop {
            let batch_start = self.pos;
            let decoder = self
                .decoder
                .as_mut()
                .ok_or_else(|| Error::Internal("CSV range decoder missing".into()))?;
            match fill_and_flush(decoder, data, &mut self.pos, range.end) {
                Ok(Some(batch)) => {
                    self.header_pending = false;
                    return Ok(Some(batch));
                }
                Ok(None) => {
                    if self.pos >= range.end || self.pos == batch_start {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    let first_line = file.line_at(batch_start);
                    let repaired = repair_batch(
                        &self.scan,
                        &data[batch_start..range.end],
                        first_line,
                        self.header_pending && batch_start == range.start,
                        self.scan.chunk_rows.max(1),
                        e,
                    )?;
                    self.pos = batch_start + repaired.consumed;
                    self.header_pending = false;
                    self.decoder = Some(self.scan.decoder(false, self.scan.chunk_rows));
                    if repaired.bad_rows > 0 {
                        self.scan.stats.add_bad_rows(repaired.bad_rows);
                    }
                    match repaired.batch {
                        Some(b) if b.num_rows() > 0 => return Ok(Some(b)),
                        _ if repaired.consumed == 0 => return Ok(None),
                        _ => {}
                    }
                }
            }
        }
    }

    /// Releases the range's pages and its reservation.
    fn finish(&mut self) {
        self.done = true;
        if let Some(r) = self.range {
            let len = r.touched_end.saturating_sub(r.touched_start);
            if len > 0 {
                // SAFETY: the mapping is private and read-only and nothing ever writes
                // through it, so MADV_DONTNEED only drops clean page-cache copies: a
                // later read (another range sharing a boundary page) refaults the same
                // bytes from the file. No Rust reference can observe changed contents.
                // A failure only means the pages stay resident until reclaimed.
                let _ = unsafe {
                    self.scan.file.mmap().unchecked_advise_range(
                        UncheckedAdvice::DontNeed,
                        r.touched_start,
                        len,
                    )
                };
            }
        }
        self.decoder = None;
        self.reservation = None;
    }
}

/// Feeds `data[pos..end]` to the decoder until a batch is full or the range ends.
fn fill_and_flush(
    decoder: &mut Decoder,
    data: &[u8],
    pos: &mut usize,
    end: usize,
) -> std::result::Result<Option<RecordBatch>, ArrowError> {
    while decoder.capacity() > 0 {
        // An empty slice at the end tells the decoder that the input is over, which
        // completes a last record without a trailing newline.
        let n = decoder.decode(&data[*pos..end])?;
        if n == 0 {
            break;
        }
        *pos += n;
    }
    decoder.flush()
}

impl Iterator for RangeReader {
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

impl Drop for RangeReader {
    fn drop(&mut self) {
        if !self.done {
            self.finish();
        }
    }
}
