//! Cutting one mapped CSV file into byte ranges at record boundaries, lazily.
//!
//! The file is split into fixed chunks of `range_bytes`. Range `j` runs from the first
//! record boundary at or after chunk `j`'s start to the first one at or after chunk
//! `j + 1`'s start. A record boundary is a byte just after a `\n` that lies outside
//! quotes, i.e. at an even count of quote characters since the start of the file
//! (doubled quotes `""` keep the parity right).
//!
//! The parity at a chunk start needs the quote counts of every earlier chunk. Task `j`
//! counts its own chunk ([`CsvFile::count_chunk`], called as the task is handed out)
//! and publishes the count; [`CsvFile::range`] then waits for the counts of chunks
//! `0..j`. Tasks are handed out in order and every handed-out task counts before it
//! waits, so the wait is short (the earlier tasks are counting right now on other
//! workers) and cannot deadlock. The same pass counts newlines, which gives each range
//! its absolute first line number for error messages.
//!
//! Limit: parity assumes RFC 4180 quoting. A stray quote inside an unquoted field
//! (`ab"c`), which the parser reads literally, flips the parity; later boundaries then
//! fall at the next even-parity newline, which is usually just a less even split, but
//! can cut a later quoted field that contains newlines. Such files read correctly with
//! `escape` set (one range per file).
//!
//! A fragment may read only the records that start in a byte window `[start, end)` of
//! the file (a plan fragment's slice, see `DataFile::slice`): the chunks then cover the
//! window, the quotes before it are counted once (a SIMD scan of the prefix) to know
//! the parity at its start, the first range starts at the first record boundary at or
//! after `start`, and the last ends at the first one at or after `end`. Windows that
//! tile a file read every record exactly once.
//!
//! Memory: the mapping costs address space, not memory; pages become resident as they
//! are read and are released by the range reader when its range is done.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use memmap2::{Mmap, MmapOptions};

use super::Dialect;
use crate::error::{Error, Result};

/// Quote and newline counts of one chunk.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    quotes: u64,
}

/// One byte range of a file, at record boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub start: usize,
    pub end: usize,
    /// Bytes this range's task touched (its chunk and the tail it read past it), to
    /// release when done.
    pub touched_start: usize,
    pub touched_end: usize,
}

/// A mapped CSV file and the chunk counts published so far.
pub(crate) struct CsvFile {
    pub path: PathBuf,
    /// Names the file if it is truncated while mapped (declared before `mmap` so it is
    /// unregistered before the mapping goes).
    _guard: crate::io::mapped_guard::MappedRange,
    mmap: Mmap,
    /// Bytes of the mapping that are read: the file's size when the query was planned.
    len: usize,
    /// The decompressed copy of a compressed file, deleted with the scan.
    _decompressed: Option<tempfile::NamedTempFile>,
    /// First byte after a UTF-8 byte order mark and the skipped lines.
    data_start: usize,
    /// Lines skipped before `data_start` (for line numbers).
    skipped_lines: u64,
    /// The byte window whose records this scan reads (the whole file by default).
    window_start: usize,
    window_end: usize,
    /// Quote characters before `window_start`.
    prefix_quotes: u64,
    chunk_bytes: usize,
    chunks: usize,
    quote: Option<u8>,
    delimiter: u8,
    escape: Option<u8>,
    counts: Mutex<Vec<Option<Counts>>>,
    published: Condvar,
}

impl std::fmt::Debug for CsvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("chunks", &self.chunks)
            .finish()
    }
}

impl CsvFile {
    /// Maps `path` and plans its chunks over the records starting in `window` (all
    /// of them for `None`); `None` for an empty file or window. `planned_len`, the
    /// file's size when the query was planned, bounds what is read.
    pub fn open(
        path: &Path,
        dialect: &Dialect,
        range_bytes: usize,
        window: Option<(u64, u64)>,
        planned_len: Option<u64>,
        scratch: &Path,
    ) -> Result<Option<Arc<CsvFile>>> {
        let decompressed = match super::compressed::codec_of(path) {
            Some(_) if window.is_some() => {
                return Err(Error::NotSupported(format!(
                    "a byte range of the compressed file {}; read it whole",
                    path.display()
                )))
            }
            Some(_) => Some(super::compressed::decompress(path, scratch)?),
            None => None,
        };
        let file = match &decompressed {
            Some(copy) => copy.reopen().map_err(|e| Error::io(path, e)),
            None => crate::io::stream_input::open(path),
        }?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(None);
        }
        // SAFETY: a private, read-only mapping. floe never writes through it. A file
        // truncated by another process while it is read faults (SIGBUS); the mapping's
        // guard turns that into an error message naming the file and exit status 1.
        let mmap = unsafe { MmapOptions::new().map_copy_read_only(&file) }
            .map_err(|e| Error::io(path, e))?;
        let bom = if mmap.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        // Skipped lines are outside the data: parity, ranges and the header start after.
        let mut data_start = bom;
        for _ in 0..dialect.skip_lines {
            match memchr::memchr(b'\n', &mmap[data_start..]) {
                Some(p) => data_start += p + 1,
                None => data_start = mmap.len(),
            }
        }
        // The file as it was planned: bytes appended since are not read (a torn last
        // line), and a file that shrank since is an error, not a shorter answer.
        let len = match (planned_len, &decompressed) {
            (Some(planned), None) => {
                let planned = usize::try_from(planned).unwrap_or(usize::MAX);
                if mmap.len() < planned {
                    return Err(Error::io(
                        path,
                        std::io::Error::other(format!(
                            "the file was truncated or replaced by another process while \
                             floe read it ({} bytes; {planned} when the query was planned)",
                            mmap.len()
                        )),
                    ));
                }
                planned
            }
            _ => mmap.len(),
        };
        let (window_start, window_end) = match window {
            None => (data_start, len),
            Some((s, e)) => {
                let clamp =
                    |v: u64| (usize::try_from(v).unwrap_or(usize::MAX)).clamp(data_start, len);
                (clamp(s), clamp(e))
            }
        };
        if window.is_some() && !dialect.splittable() && window_start > data_start {
            return Err(Error::NotSupported(format!(
                "a byte range of {} starting inside the file: its dialect (an escape \
                 character) cannot be split, read the whole file",
                path.display()
            )));
        }
        let body = window_end.saturating_sub(window_start);
        if body == 0 {
            return Ok(None);
        }
        let prefix_quotes = match dialect.quote {
            Some(q) if window_start > data_start => count_byte(&mmap[data_start..window_start], q),
            _ => 0,
        };
        let chunk_bytes = if dialect.splittable() {
            range_bytes.max(1)
        } else {
            body
        };
        let chunks = body.div_ceil(chunk_bytes);
        Ok(Some(Arc::new(CsvFile {
            path: path.to_path_buf(),
            _guard: crate::io::mapped_guard::MappedRange::register(path, &mmap),
            mmap,
            len,
            _decompressed: decompressed,
            data_start,
            skipped_lines: dialect.skip_lines as u64,
            window_start,
            window_end,
            prefix_quotes,
            chunk_bytes,
            chunks,
            quote: dialect.quote,
            delimiter: dialect.delimiter,
            escape: dialect.escape,
            counts: Mutex::new(vec![None; chunks]),
            published: Condvar::new(),
        })))
    }

    /// Number of chunks, which is the number of ranges (some may be empty).
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// The mapped bytes that are read (the file as it was planned).
    pub fn data(&self) -> &[u8] {
        &self.mmap[..self.len]
    }

    /// The mapping, for releasing pages.
    pub fn mmap(&self) -> &Mmap {
        &self.mmap
    }

    fn chunk_start(&self, j: usize) -> usize {
        (self.window_start + j * self.chunk_bytes).min(self.window_end)
    }

    /// Whether range `j` starts at the file's first record (where a header is).
    pub fn starts_file(&self, j: usize) -> bool {
        j == 0 && self.window_start == self.data_start
    }

    /// Counts chunk `j` and publishes the counts. Call exactly once per chunk, before
    /// anything that can fail, so that later chunks waiting on it are never stranded.
    pub fn count_chunk(&self, j: usize) {
        let bytes = &self.mmap[self.chunk_start(j)..self.chunk_start(j + 1)];
        // Only quotes: line numbers are needed for error messages alone, and are
        // counted then ([`CsvFile::line_at`]), keeping this pass to one SIMD scan.
        let counts = Counts {
            quotes: self.quote.map_or(0, |q| count_byte(bytes, q)),
        };
        // A poisoned lock means a panic elsewhere; the waiter reports it.
        if let Ok(mut slots) = self.counts.lock() {
            if let Some(slot) = slots.get_mut(j) {
                *slot = Some(counts);
            }
        }
        self.published.notify_all();
    }

    /// The byte range of chunk `j`, waiting until chunks `0..=j` are counted.
    pub fn range(&self, j: usize) -> Result<ByteRange> {
        let poisoned = || {
            Error::Internal(format!(
                "CSV chunk counts of {} poisoned",
                self.path.display()
            ))
        };
        let (before, own) = {
            let mut slots = self.counts.lock().map_err(|_| poisoned())?;
            while slots.iter().take(j + 1).any(Option::is_none) {
                slots = self.published.wait(slots).map_err(|_| poisoned())?;
            }
            let mut before = Counts {
                quotes: self.prefix_quotes,
            };
            for c in slots.iter().take(j).flatten() {
                before.quotes += c.quotes;
            }
            let own = slots.get(j).copied().flatten().unwrap_or_default();
            (before, own)
        };
        let chunk_start = self.chunk_start(j);
        let start = if self.starts_file(j) {
            self.data_start
        } else {
            self.boundary(chunk_start, before.quotes)
        };
        let end = if j + 1 >= self.chunks && self.window_end >= self.len {
            // The last range: an odd number of quotes in the file may be a quoted field
            // left open, which the parser would read to the end of the file as one value.
            if !(before.quotes + own.quotes).is_multiple_of(2) {
                if let Some(opened) = self.unclosed_quote() {
                    return Err(super::csv_error(
                        &self.path,
                        self.line_at(opened),
                        None,
                        "a quoted field opened here is never closed (the file ends inside \
                         quotes)",
                    ));
                }
            }
            self.len
        } else {
            self.boundary(self.chunk_start(j + 1), before.quotes + own.quotes)
        };
        let end = end.max(start);
        Ok(ByteRange {
            start,
            end,
            touched_start: chunk_start.min(start),
            touched_end: self.chunk_start(j + 1).max(end),
        })
    }

    /// 1-based line number of the byte at `offset` (a scan from the start of the
    /// file; used only to report errors).
    pub fn line_at(&self, offset: usize) -> u64 {
        let end = offset.min(self.len);
        1 + self.skipped_lines + count_byte(&self.mmap[self.data_start.min(end)..end], b'\n')
    }

    /// Where the quoted field that the file ends inside was opened; `None` when the
    /// file ends outside quotes. A sequential RFC 4180 scan from the first record: a
    /// quote opens a field only at its start (elsewhere it is a literal, as the parser
    /// reads it), a doubled quote or the escape character inside quotes is a literal.
    /// Run only when the file's quote count is odd, so it costs nothing on good files.
    fn unclosed_quote(&self) -> Option<usize> {
        let q = self.quote?;
        let data = self.data();
        let (mut i, mut field_start, mut opened) = (self.data_start, true, None);
        while i < data.len() {
            let b = data[i];
            match opened {
                Some(_) if Some(b) == self.escape => i += 1,
                Some(_) if b == q => {
                    if data.get(i + 1) == Some(&q) {
                        i += 1;
                    } else {
                        opened = None;
                    }
                }
                Some(_) => {}
                None => {
                    if b == q && field_start {
                        opened = Some(i);
                    }
                    field_start = b == self.delimiter || b == b'\n' || b == b'\r';
                }
            }
            i += 1;
        }
        opened
    }

    /// The first record boundary at or after `from`, where `quote_count` quote
    /// characters precede `from`.
    fn boundary(&self, from: usize, quotes_before: u64) -> usize {
        let data = self.data();
        let mut even = quotes_before.is_multiple_of(2);
        if from >= data.len() {
            return data.len();
        }
        if from > self.data_start && data[from - 1] == b'\n' && even {
            return from;
        }
        for (i, &b) in data[from..].iter().enumerate() {
            if Some(b) == self.quote {
                even = !even;
            } else if b == b'\n' && even {
                return from + i + 1;
            }
        }
        data.len()
    }
}

/// Occurrences of `needle` (memchr's SIMD search: near memory speed for rare bytes).
pub(crate) fn count_byte(bytes: &[u8], needle: u8) -> u64 {
    memchr::memchr_iter(needle, bytes).count() as u64
}
