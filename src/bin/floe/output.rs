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
    let out = || BufWriter::with_capacity(1 << 20, std::io::stdout());
    let writer = match mode {
        Mode::Table => Writer::Table(Preview::new(max_rows)),
        Mode::Csv => Writer::Csv(Box::new(
            arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out()),
        )),
        Mode::Json => Writer::Json(arrow::json::ArrayWriter::new(out())),
        Mode::Ndjson => Writer::Ndjson(arrow::json::LineDelimitedWriter::new(out())),
    };
    let sink = StdoutSink {
        schema: Arc::clone(&schema),
        state: Mutex::new((Some(writer), 0)),
    };
    frame.sink_into(&sink)?;
    sink.finish()
}

enum Writer {
    Table(Preview),
    Csv(Box<arrow::csv::Writer<BufWriter<Stdout>>>),
    Json(arrow::json::ArrayWriter<BufWriter<Stdout>>),
    Ndjson(arrow::json::LineDelimitedWriter<BufWriter<Stdout>>),
}

struct StdoutSink {
    schema: SchemaRef,
    state: Mutex<(Option<Writer>, usize)>,
}

impl StdoutSink {
    fn finish(&self) -> Result<usize> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| Error::Internal("stdout poisoned".into()))?;
        let rows = g.1;
        let flush = |w: BufWriter<Stdout>| -> Result<()> {
            w.into_inner()
                .map_err(|e| Error::io("<stdout>", e.into_error()))?
                .flush()
                .map_err(|e| Error::io("<stdout>", e))
        };
        match g.0.take() {
            Some(Writer::Table(p)) => {
                let text = p.render(&self.schema)?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}")
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("<stdout>", e))?;
            }
            Some(Writer::Csv(mut w)) => {
                if rows == 0 {
                    // No rows: still print the header.
                    w.write(&RecordBatch::new_empty(Arc::clone(&self.schema)))?;
                }
                flush((*w).into_inner())?;
            }
            Some(Writer::Json(mut w)) => {
                w.finish()?;
                let mut inner = w.into_inner();
                inner
                    .write_all(b"\n")
                    .map_err(|e| Error::io("<stdout>", e))?;
                flush(inner)?;
            }
            Some(Writer::Ndjson(mut w)) => {
                w.finish()?;
                flush(w.into_inner())?;
            }
            None => {}
        }
        Ok(rows)
    }
}

struct StdoutLocal<'a>(&'a StdoutSink);

impl LocalSink for StdoutLocal<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let mut g = self
            .0
            .state
            .lock()
            .map_err(|_| Error::Internal("stdout poisoned".into()))?;
        let batch = &morsel.batch;
        match g.0.as_mut() {
            Some(Writer::Table(p)) => p.push(batch)?,
            Some(Writer::Csv(w)) => w.write(batch)?,
            Some(Writer::Json(w)) => w.write(batch)?,
            Some(Writer::Ndjson(w)) => w.write(batch)?,
            None => {}
        }
        g.1 += batch.num_rows();
        Ok(SinkStatus::NeedMore)
    }
    fn combine(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Sink for StdoutSink {
    type Output = ();

    fn name(&self) -> String {
        "Stdout".into()
    }
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(StdoutLocal(self)))
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
            &self.tail.iter().cloned().collect::<Vec<_>>(),
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
fn cells(
    batches: &[RecordBatch],
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
