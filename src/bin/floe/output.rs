//! Printing a query's rows on stdout as they stream out of the engine: a bounded
//! table preview, CSV, a JSON array or newline-delimited JSON.
//!
//! Memory: CSV and JSON write each morsel as it arrives and keep nothing. The table
//! keeps the first `max_rows` rows and a ring of the last `max_rows / 2`, copied out of
//! their morsels so that no morsel stays alive for a few of its rows, and counts the
//! rest; it prints the first half and the last half around a `…` row, then the total
//! (DuckDB's layout). `max_rows = 0` keeps every row, as asked.

use std::collections::VecDeque;
use std::io::{BufWriter, Stdout, Write};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::exec::{LocalSink, Morsel, Sink, SinkStatus};
use floe::prelude::*;
use floe::reorder::Reorder;

/// How rows are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Table,
    Csv,
    Json,
    Ndjson,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "box" | "duckbox" => Ok(Mode::Table),
            "csv" => Ok(Mode::Csv),
            "json" => Ok(Mode::Json),
            "ndjson" | "jsonlines" => Ok(Mode::Ndjson),
            other => Err(Error::Config(format!(
                "unknown output mode '{other}'; expected table, csv, json or ndjson"
            ))),
        }
    }
}

/// Runs `frame` and prints its rows on stdout; returns how many there were.
pub fn print(frame: &LazyFrame, mode: Mode, max_rows: usize) -> Result<usize> {
    let schema = frame.schema();
    let out = BufWriter::with_capacity(1 << 20, std::io::stdout());
    let writer = match mode {
        Mode::Table => Writer::Table(Preview::new(max_rows)),
        Mode::Json => Writer::Json(
            arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(out),
        ),
        Mode::Csv | Mode::Ndjson => Writer::Bytes(out),
    };
    let sink = StdoutSink {
        schema: Arc::clone(&schema),
        mode,
        state: Mutex::new(State {
            writer: Some(writer),
            rows: 0,
            pending: Reorder::default(),
            pending_bytes: 0,
            ordered: true,
        }),
    };
    if mode == Mode::Csv {
        // The header, also for no rows.
        let header = encode(
            Mode::Csv,
            &RecordBatch::new_empty(Arc::clone(&schema)),
            true,
        )?;
        sink.with_state(|st| st.write(Piece::Bytes(header)))?;
    }
    frame.sink_into(&sink)?;
    sink.finish()
}

/// Most bytes that wait for an earlier morsel before order is given up (a note on
/// stderr says so).
const REORDER_BYTES: usize = 64 << 20;

enum Writer {
    Table(Preview),
    Json(arrow::json::ArrayWriter<BufWriter<Stdout>>),
    /// CSV and NDJSON, encoded by the workers.
    Bytes(BufWriter<Stdout>),
}

/// One morsel, as its writer takes it.
enum Piece {
    Batch(RecordBatch),
    Bytes(Vec<u8>),
}

impl Piece {
    fn size(&self) -> usize {
        match self {
            Piece::Batch(b) => b.get_array_memory_size(),
            Piece::Bytes(b) => b.len(),
        }
    }
}

struct State {
    writer: Option<Writer>,
    rows: usize,
    /// Morsels that wait for an earlier one: output keeps the source order.
    pending: Reorder<Piece>,
    pending_bytes: usize,
    ordered: bool,
}

impl State {
    fn write(&mut self, piece: Piece) -> Result<()> {
        let io = |e| Error::io("<stdout>", e);
        match (self.writer.as_mut(), piece) {
            (Some(Writer::Table(p)), Piece::Batch(b)) => p.push(&b)?,
            (Some(Writer::Json(w)), Piece::Batch(b)) => w.write(&b)?,
            (Some(Writer::Bytes(w)), Piece::Bytes(b)) => w.write_all(&b).map_err(io)?,
            (None, _) => {}
            _ => return Err(Error::Internal("stdout writer got the wrong piece".into())),
        }
        Ok(())
    }

    /// Writes what is in order, and everything when too much waits.
    fn drain(&mut self) -> Result<()> {
        while let Some(piece) = self.pending.pop_ready() {
            self.pending_bytes -= piece.size();
            self.write(piece)?;
        }
        if self.pending_bytes > REORDER_BYTES {
            if self.ordered {
                eprintln!(
                    "note: output order relaxed: a slow part of the input held back over 64 MiB"
                );
            }
            self.ordered = false;
            while let Some(piece) = self.pending.pop_first() {
                self.write(piece)?;
            }
            self.pending_bytes = 0;
        }
        Ok(())
    }
}

/// CSV rows (with the header line when asked) or NDJSON lines of `batch`.
fn encode(mode: Mode, batch: &RecordBatch, header: bool) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(batch.get_array_memory_size());
    if mode == Mode::Csv {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(header)
            .build(&mut bytes);
        // CSV has no nested form: structs, lists and maps as JSON text.
        w.write(&floe::io::json_text::nested_as_json(batch)?)?;
    } else {
        // NULL values as `null`, not left out.
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut bytes);
        w.write(batch)?;
        w.finish()?;
    }
    Ok(bytes)
}

struct StdoutSink {
    schema: SchemaRef,
    mode: Mode,
    state: Mutex<State>,
}

impl StdoutSink {
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| Error::Internal("stdout poisoned".into()))?;
        f(&mut g)
    }

    fn finish(&self) -> Result<usize> {
        self.with_state(|st| {
            st.pending.finish_all();
            st.drain()?;
            let io = |e| Error::io("<stdout>", e);
            match st.writer.take() {
                Some(Writer::Table(p)) => {
                    let text = p.render(&self.schema)?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{text}")
                        .and_then(|()| out.flush())
                        .map_err(io)?;
                }
                Some(Writer::Json(mut w)) => {
                    w.finish()?;
                    let mut inner = w.into_inner();
                    inner
                        .write_all(b"\n")
                        .and_then(|()| inner.flush())
                        .map_err(io)?;
                }
                Some(Writer::Bytes(mut w)) => w.flush().map_err(io)?,
                None => {}
            }
            Ok(st.rows)
        })
    }
}

struct StdoutLocal<'a> {
    sink: &'a StdoutSink,
    worker: usize,
}

impl LocalSink for StdoutLocal<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let rows = morsel.batch.num_rows();
        // Encoding runs here, in parallel; only the write is under the lock.
        let piece = match self.sink.mode {
            Mode::Csv | Mode::Ndjson => Piece::Bytes(encode(self.sink.mode, &morsel.batch, false)?),
            Mode::Table | Mode::Json => Piece::Batch(morsel.batch),
        };
        self.sink.with_state(|st| {
            st.rows += rows;
            st.pending_bytes += piece.size();
            st.pending.insert(self.worker, morsel.seq, piece)?;
            st.drain()
        })?;
        Ok(SinkStatus::NeedMore)
    }
    fn task_done(&mut self, task: u64) -> Result<SinkStatus> {
        self.sink.with_state(|st| {
            st.pending.task_done(self.worker, task)?;
            st.drain()
        })?;
        Ok(SinkStatus::NeedMore)
    }
    fn combine(self: Box<Self>) -> Result<()> {
        self.sink.with_state(|st| {
            st.pending.finish(self.worker)?;
            st.drain()
        })
    }
}

impl Sink for StdoutSink {
    type Output = ();

    fn name(&self) -> String {
        "Stdout".into()
    }
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        let worker = self.with_state(|st| Ok(st.pending.register()))?;
        Ok(Box::new(StdoutLocal { sink: self, worker }))
    }
    fn finalize(&self) -> Result<()> {
        Ok(())
    }
}

/// The first rows, the last rows and the count of a result.
struct Preview {
    max_rows: usize,
    head: Vec<RecordBatch>,
    head_rows: usize,
    tail: VecDeque<RecordBatch>,
    tail_rows: usize,
    total: usize,
}

impl Preview {
    fn new(max_rows: usize) -> Preview {
        Preview {
            max_rows,
            head: Vec::new(),
            head_rows: 0,
            tail: VecDeque::new(),
            tail_rows: 0,
            total: 0,
        }
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        self.total += n;
        if self.max_rows == 0 {
            self.head.push(batch.clone());
            return Ok(());
        }
        if self.head_rows < self.max_rows {
            let take = n.min(self.max_rows - self.head_rows);
            self.head.push(compact(batch, 0, take)?);
            self.head_rows += take;
        }
        let keep = self.max_rows / 2;
        if keep > 0 {
            let take = n.min(keep);
            self.tail.push_back(compact(batch, n - take, take)?);
            self.tail_rows += take;
            while let Some(front) = self.tail.front() {
                if self.tail_rows - front.num_rows() < keep {
                    break;
                }
                self.tail_rows -= front.num_rows();
                self.tail.pop_front();
            }
        }
        Ok(())
    }

    fn render(&self, schema: &SchemaRef) -> Result<String> {
        if self.max_rows == 0 || self.total <= self.max_rows {
            let df = DataFrame::new(Arc::clone(schema), self.head.clone());
            return Ok(df.to_string());
        }
        let top = self.max_rows - self.max_rows / 2;
        let bottom = self.max_rows / 2;
        let options = FormatOptions::default().with_null("null");
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); schema.fields().len()];
        cells(&self.head, 0, top, &options, &mut columns)?;
        for c in columns.iter_mut() {
            c.push("…".into());
        }
        cells(
            &self.tail,
            self.tail_rows - bottom,
            bottom,
            &options,
            &mut columns,
        )?;
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        let table = arrow::util::pretty::pretty_format_batches(&[batch])?;
        Ok(format!(
            "{table}\n{} rows ({} shown; --max-rows N or .maxrows N shows more, 0 all)",
            self.total, self.max_rows
        ))
    }
}

/// Appends the text of rows `skip..skip + limit` of `batches` to `columns`.
fn cells<'a>(
    batches: impl IntoIterator<Item = &'a RecordBatch>,
    skip: usize,
    limit: usize,
    options: &FormatOptions,
    columns: &mut [Vec<String>],
) -> Result<()> {
    let mut first = 0;
    for b in batches {
        let rows = (skip.max(first)..(skip + limit).min(first + b.num_rows())).map(|i| i - first);
        for (c, out) in columns.iter_mut().enumerate() {
            let f = ArrayFormatter::try_new(b.column(c).as_ref(), options)?;
            out.extend(rows.clone().map(|r| f.value(r).to_string()));
        }
        first += b.num_rows();
    }
    Ok(())
}

/// Rows `offset..offset + len` of `batch` in buffers of their own.
fn compact(batch: &RecordBatch, offset: usize, len: usize) -> Result<RecordBatch> {
    let slice = batch.slice(offset, len);
    Ok(arrow::compute::concat_batches(&slice.schema(), [&slice])?)
}
