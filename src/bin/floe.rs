//! The `floe` command line: run SQL over CSV/Parquet files within a memory limit.
//!
//! ```text
//! floe sql [--memory-limit 2GiB] [--threads N] [--spill-dir DIR] [--format table|csv|json]
//!          [--output FILE.csv|FILE.parquet] [--table name=path ...] "SELECT ..."
//! floe explain [--analyze] [...same options] "SELECT ..."
//! ```
//! Results go to stdout (with `--format csv`: a header row and the rows, nothing else);
//! statistics, progress and errors go to stderr. On failure the exit code is 1 and
//! stderr ends with one `error: ...` line.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// glibc's malloc keeps freed large buffers in its arenas (its mmap threshold grows
/// with use), which on a long sort or join left the process's RSS near twice the
/// pool's limit; mimalloc returns them to the system. It is built without transparent
/// huge pages (`no_thp`): every freshly touched 2 MiB page was zeroed by the kernel,
/// and the churn of join and aggregate buffers made that up to a fifth of TPC-H Q9's
/// time; without them Q9 at SF10 ran about 10% faster with a lower peak RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use floe::exec::render::ExplainFormat;
use floe::exec::{LocalSink, Morsel, Sink, SinkStatus};
use floe::metrics::human_bytes;
use floe::prelude::*;

#[derive(Parser)]
#[command(
    name = "floe",
    version,
    about = "Out-of-core SQL over CSV and Parquet files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a query and print or write its result.
    Sql {
        #[command(flatten)]
        common: Common,
        /// Output format on stdout.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the result to FILE.csv or FILE.parquet instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Codec of a Parquet --output: zstd (default, level 3), zstd:LEVEL, snappy,
        /// lz4 or none.
        #[arg(long)]
        compression: Option<String>,
        /// The query (it may start with a `--` comment).
        #[arg(allow_hyphen_values = true)]
        query: String,
    },
    /// Show the optimized plan, its pipelines and each operator's estimated rows,
    /// memory and spill (with --analyze: run it and show the actuals beside them).
    Explain {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        analyze: bool,
        /// text, dot (Graphviz) or svg (a picture, no Graphviz needed).
        #[arg(long, default_value = "text")]
        format: String,
        #[arg(allow_hyphen_values = true)]
        query: String,
    },
}

#[derive(Args)]
struct Common {
    /// Memory budget, e.g. 2GiB (default: 80% of the cgroup limit or of RAM).
    #[arg(long)]
    memory_limit: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Directory for spill files (default: the system temp dir).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Cap on spilled bytes, e.g. 50GiB.
    #[arg(long)]
    max_spill: Option<String>,
    /// Rows per chunk.
    #[arg(long)]
    chunk_rows: Option<usize>,
    /// Spill file compression: none (default) or lz4 (half the bytes, more CPU).
    #[arg(long)]
    spill_compression: Option<String>,
    /// Register a table: --table name=path, or name=read_csv('path', types={...}, ...)
    /// with read_csv's options (repeatable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// Print statistics (time, peak memory, spill) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => {}
        // A closed stdout (`floe ... | head`) ends the output; it is not a failure.
        Err(e) if is_broken_pipe(&e) => {}
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            std::process::exit(if matches!(e, Error::Cancelled) {
                130
            } else {
                1
            });
        }
    }
}

fn is_broken_pipe(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::BrokenPipe,
        Error::Arrow(arrow::error::ArrowError::IoError(_, io)) => {
            io.kind() == std::io::ErrorKind::BrokenPipe
        }
        _ => false,
    }
}

fn session(common: &Common) -> Result<Session> {
    let mut b = Session::builder();
    if let Some(m) = &common.memory_limit {
        b = b.memory_limit(m);
    }
    if let Some(t) = common.threads {
        b = b.threads(t);
    }
    if let Some(d) = &common.spill_dir {
        b = b.spill_dir(d);
    }
    if let Some(m) = &common.max_spill {
        b = b.max_spill_bytes(floe::config::parse_byte_size(m)? as u64);
    }
    if let Some(c) = common.chunk_rows {
        b = b.chunk_rows(c);
    }
    if let Some(c) = &common.spill_compression {
        b = b.spill_compression(c.parse()?);
    }
    let session = b.build()?;
    // Ctrl-C (and SIGTERM or SIGHUP, through ctrlc's `termination` feature) cancels the
    // query, so its spill files and partial outputs are removed before exiting; a
    // second signal exits at once.
    let cancel = session.cancel_flag();
    let _ = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
    });
    for t in &common.tables {
        let (name, path) = t
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--table expects name=path, got '{t}'")))?;
        let lower = path.trim_start().to_ascii_lowercase();
        if lower.starts_with("read_") || lower.starts_with("parquet_scan") {
            // A table function with options: --table 'x=read_csv(\'x.csv\', types={..})'.
            let f = session.sql(&format!("SELECT * FROM {path}"))?;
            session.register(name, &f)?;
        } else if lower.ends_with(".parquet") || lower.ends_with(".parq") || lower.ends_with(".pq")
        {
            session.register_parquet(name, path, ParquetOptions::default())?;
        } else if lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".txt") {
            let options = CsvOptions::default().with_sniffed_delimiter(true);
            session.register_csv(name, path, options)?;
        } else {
            let f = session.sql(&format!("SELECT * FROM '{}'", path.replace('\'', "''")))?;
            session.register(name, &f)?;
        }
    }
    Ok(session)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Sql {
            common,
            format,
            output,
            compression,
            query,
        } => {
            let parquet_output = output
                .as_ref()
                .and_then(|p| p.extension())
                .and_then(|e| e.to_str())
                .is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "parquet" | "pq" | "parq")
                });
            if compression.is_some() && !parquet_output {
                return Err(Error::Config(
                    "--compression applies to a Parquet --output only".into(),
                ));
            }
            let session = session(&common)?;
            let frame = session.sql(&query)?;
            let started = Instant::now();
            let progress = Progress::start(&session);
            let rows = match (&output, format) {
                (Some(path), _) => {
                    let ext = path
                        .extension()
                        .and_then(|e| e.to_str())
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    let report = match ext.as_str() {
                        "parquet" | "pq" | "parq" => {
                            let mut options = ParquetSinkOptions::default();
                            if let Some(codec) = &compression {
                                options = options.with_compression(codec.parse()?);
                            }
                            frame.sink_parquet(path, options)?
                        }
                        "csv" => frame.sink_csv(path, CsvSinkOptions::default())?,
                        other => {
                            return Err(Error::Config(format!(
                                "--output must end in .csv or .parquet, got '.{other}'"
                            )))
                        }
                    };
                    report.rows as usize
                }
                (None, Format::Csv) => {
                    let sink = StdoutCsv::new(frame.schema());
                    frame.sink_into(&sink)?;
                    sink.finish()?
                }
                (None, Format::Table) => {
                    let df = frame.collect()?;
                    progress.stop();
                    println!("{df}");
                    df.num_rows()
                }
                (None, Format::Json) => {
                    let df = frame.collect()?;
                    progress.stop();
                    let stdout = std::io::stdout();
                    let mut w = arrow::json::ArrayWriter::new(stdout.lock());
                    let refs: Vec<&arrow::array::RecordBatch> = df.batches().iter().collect();
                    w.write_batches(&refs)?;
                    w.finish()?;
                    println!();
                    df.num_rows()
                }
            };
            progress.stop();
            if common.verbose {
                let (spilled, files) = session.spilled();
                eprintln!(
                    "{rows} rows in {:.3} s; memory pool peak {} of {}; spilled {} in {files} files",
                    started.elapsed().as_secs_f64(),
                    human_bytes(session.memory_pool().peak() as u64),
                    human_bytes(session.memory_pool().limit() as u64),
                    human_bytes(spilled),
                );
            }
            Ok(())
        }
        Command::Explain {
            common,
            analyze,
            format,
            query,
        } => {
            let format: ExplainFormat = format.parse()?;
            let session = session(&common)?;
            let frame = session.sql(&query)?;
            let progress = analyze.then(|| Progress::start(&session));
            let text = frame.explain_as(format, analyze);
            if let Some(p) = progress {
                p.stop();
            }
            print!("{}", text?);
            Ok(())
        }
    }
}

/// A spinner on stderr, shown only on a terminal and only after the first second.
struct Progress {
    done: Arc<AtomicBool>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Progress {
    fn start(session: &Session) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let handle = std::io::stderr().is_terminal().then(|| {
            let done = Arc::clone(&done);
            let session = session.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(1) {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                while !done.load(Ordering::Relaxed) {
                    bar.set_message(format!(
                        "{} rows scanned, memory {} of {}",
                        session.rows_scanned(),
                        human_bytes(session.memory_pool().used() as u64),
                        human_bytes(session.memory_pool().limit() as u64)
                    ));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
        });
        Progress {
            done,
            handle: Mutex::new(handle),
        }
    }

    fn stop(&self) {
        self.done.store(true, Ordering::Relaxed);
        if let Ok(mut h) = self.handle.lock() {
            if let Some(h) = h.take() {
                let _ = h.join();
            }
        }
    }
}

/// Streams CSV to stdout as morsels arrive: the header, then rows, nothing else.
struct StdoutCsv {
    schema: arrow::datatypes::SchemaRef,
    out: Mutex<(
        Option<arrow::csv::Writer<std::io::BufWriter<std::io::Stdout>>>,
        usize,
    )>,
}

impl StdoutCsv {
    fn new(schema: arrow::datatypes::SchemaRef) -> Self {
        let w = arrow::csv::WriterBuilder::new().with_header(true).build(
            std::io::BufWriter::with_capacity(1 << 20, std::io::stdout()),
        );
        StdoutCsv {
            schema,
            out: Mutex::new((Some(w), 0)),
        }
    }

    fn finish(&self) -> Result<usize> {
        let mut g = self
            .out
            .lock()
            .map_err(|_| Error::Internal("stdout poisoned".into()))?;
        let rows = g.1;
        if let Some(mut w) = g.0.take() {
            if rows == 0 {
                // No rows: still print the header.
                w.write(&arrow::array::RecordBatch::new_empty(self.schema.clone()))?;
            }
            w.into_inner()
                .flush()
                .map_err(|e| Error::io("<stdout>", e))?;
        }
        Ok(rows)
    }
}

struct StdoutLocal<'a>(&'a StdoutCsv);

impl LocalSink for StdoutLocal<'_> {
    fn sink(&mut self, morsel: Morsel) -> Result<SinkStatus> {
        let mut g = self
            .0
            .out
            .lock()
            .map_err(|_| Error::Internal("stdout poisoned".into()))?;
        if let Some(w) = g.0.as_mut() {
            w.write(&morsel.batch)?;
        }
        g.1 += morsel.batch.num_rows();
        Ok(SinkStatus::NeedMore)
    }
    fn combine(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Sink for StdoutCsv {
    type Output = ();

    fn name(&self) -> String {
        "CsvStdout".into()
    }
    fn local_state(&self) -> Result<Box<dyn LocalSink + '_>> {
        Ok(Box::new(StdoutLocal(self)))
    }
    fn finalize(&self) -> Result<()> {
        Ok(())
    }
}
