//! The `floe` command line: run SQL over CSV/Parquet files within a memory limit.
//!
//! ```text
//! floe                                   the interactive shell (also `floe shell`)
//! floe sql [options] "SELECT ..."        one or more statements; also -f FILE or stdin
//!          [--format table|csv|json|ndjson] [--max-rows N]
//!          [--output FILE.csv|FILE.parquet|DIR/ [--partition-by COL]] [--table name=path ...]
//! floe explain [--analyze] [...same options] "SELECT ..."
//! ```
//! Results go to stdout, streamed as they come (a table shows the first and last rows
//! and the count); statistics, progress and errors go to stderr. On failure the exit
//! code is 1 and stderr ends with one `error: ...` line.

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

use clap::{Args, Parser, Subcommand};
use floe::exec::render::ExplainFormat;
use floe::metrics::human_bytes;
use floe::prelude::*;
use floe::statement::split_statements;
use floe::StatementResult;

mod output;
mod shell;

use output::Mode;

#[derive(Parser)]
#[command(
    name = "floe",
    version,
    about = "Out-of-core SQL over CSV and Parquet files"
)]
struct Cli {
    /// With no command, the interactive shell starts.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run statements and print or write their results.
    Sql {
        #[command(flatten)]
        common: Common,
        /// Output format on stdout.
        #[arg(long, value_enum, default_value_t = Mode::Table)]
        format: Mode,
        /// Rows a table shows: the first and last halves of them (0: all).
        #[arg(long, default_value_t = 40)]
        max_rows: usize,
        /// Write the result to FILE.csv, FILE.parquet or (with --partition-by) DIR/
        /// instead of stdout; missing folders are made.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Columns whose values name the hive folders (`col=value/`) of --output
        /// (repeatable, or comma-separated).
        #[arg(long = "partition-by", value_delimiter = ',')]
        partition_by: Vec<String>,
        /// Codec of a Parquet --output: zstd (default, level 3), zstd:LEVEL, snappy,
        /// lz4 or none.
        #[arg(long)]
        compression: Option<String>,
        /// Read the statements from a SQL file.
        #[arg(long, short = 'f', conflicts_with = "query")]
        file: Option<PathBuf>,
        /// The statements, separated by `;` (they may start with a `--` comment);
        /// without them and without -f, they are read from stdin.
        #[arg(allow_hyphen_values = true)]
        query: Option<String>,
    },
    /// The interactive shell (the default command).
    Shell {
        #[command(flatten)]
        common: Common,
        /// Rows a table shows (0: all).
        #[arg(long, default_value_t = 40)]
        max_rows: usize,
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

#[derive(Args, Default)]
struct Common {
    /// Memory budget, e.g. 2GiB (default: 60% of the cgroup limit, or 80% of RAM).
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
    /// Spill early by what the process holds outside the memory pool (freed pages the
    /// allocator keeps), so RSS stays near the limit: on (default) or off.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    resident_guard: String,
    /// Register a table: --table name=path, or name=read_csv('path', types={...}, ...)
    /// with read_csv's options (repeatable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// Print statistics (time, peak memory, spill) to stderr.
    #[arg(long, short)]
    verbose: bool,
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
    // One session per process: the pool may read the process's RSS as its own.
    b = b.resident_guard(common.resident_guard == "on");
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
        } else if [".csv", ".tsv", ".txt"].iter().any(|e| {
            [
                lower.as_str(),
                lower.trim_end_matches(".gz"),
                lower.trim_end_matches(".zst"),
            ]
            .iter()
            .any(|l| l.ends_with(e))
        }) {
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
    let command = cli.command.unwrap_or(Command::Shell {
        common: Common::default(),
        max_rows: 40,
    });
    match command {
        Command::Sql {
            common,
            format,
            max_rows,
            output,
            partition_by,
            compression,
            file,
            query,
        } => {
            let script = match (query, file) {
                (Some(q), _) => q,
                (None, Some(f)) => std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?,
                (None, None) if !std::io::stdin().is_terminal() => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                        .map_err(|e| Error::io("<stdin>", e))?;
                    text
                }
                (None, None) => {
                    return Err(Error::Config(
                        "no statements: give them as an argument, with -f FILE, or on stdin \
                         (`floe` alone opens the shell)"
                            .into(),
                    ))
                }
            };
            if output.is_none() && (!partition_by.is_empty() || compression.is_some()) {
                return Err(Error::Config(
                    "--partition-by and --compression apply to an --output only".into(),
                ));
            }
            let target = output.map(|path| Target {
                path,
                partition_by,
                compression,
                format,
            });
            if let Some(t) = &target {
                t.check()?;
            }
            let statements = split_statements(&script);
            if statements.is_empty() {
                return Err(Error::Sql("empty query".into()));
            }
            let session = session(&common)?;
            let mut written = false;
            for statement in statements {
                let frame = match session.execute(statement)? {
                    StatementResult::Rows(frame) => frame,
                    StatementResult::Done(message) => {
                        if !message.is_empty() {
                            eprintln!("{message}");
                        }
                        continue;
                    }
                };
                let started = Instant::now();
                let progress = Progress::start(&session);
                let rows = match &target {
                    Some(_) if written => {
                        progress.stop();
                        return Err(Error::Config(
                            "--output takes the result of one query; this script has several \
                             (COPY (query) TO 'path' writes each)"
                                .into(),
                        ));
                    }
                    Some(t) => {
                        written = true;
                        let result = t.write(&frame, started);
                        progress.stop();
                        result?
                    }
                    None => {
                        let result = output::print(&frame, format, max_rows);
                        progress.stop();
                        result?
                    }
                };
                if common.verbose {
                    let (spilled, files) = session.spilled();
                    eprintln!(
                        "{rows} rows in {:.3} s; memory pool peak {} of {}; spilled {} in {files} files{}",
                        started.elapsed().as_secs_f64(),
                        human_bytes(session.memory_pool().peak() as u64),
                        human_bytes(session.memory_pool().limit() as u64),
                        human_bytes(spilled),
                        match session.memory_pool().resident_refusals() {
                            0 => String::new(),
                            n => format!("; {n} early spills for resident memory"),
                        }
                    );
                }
            }
            Ok(())
        }
        Command::Shell { common, max_rows } => shell::run(
            &session(&common)?,
            shell::Settings {
                mode: Mode::Table,
                max_rows,
                timer: false,
            },
        ),
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

/// Where `--output` writes.
struct Target {
    path: PathBuf,
    partition_by: Vec<String>,
    compression: Option<String>,
    format: Mode,
}

impl Target {
    /// Parquet for `.parquet`, `.pq`, `.parq`, and for a folder unless --format csv.
    fn parquet(&self) -> Result<bool> {
        let ext = self
            .path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" | "parq" => Ok(true),
            "csv" => Ok(false),
            _ if !self.partition_by.is_empty() => Ok(self.format != Mode::Csv),
            other => Err(Error::Config(format!(
                "--output must end in .csv or .parquet (or be a folder with --partition-by), \
                 got '{}'{}",
                self.path.display(),
                if other.is_empty() {
                    String::new()
                } else {
                    format!(" ('.{other}')")
                }
            ))),
        }
    }

    fn check(&self) -> Result<()> {
        if self.compression.is_some() && !self.parquet()? {
            return Err(Error::Config(
                "--compression applies to a Parquet --output only".into(),
            ));
        }
        Ok(())
    }

    /// Writes `frame`, then prints one line: rows, files, bytes and time.
    fn write(&self, frame: &LazyFrame, started: Instant) -> Result<usize> {
        let parent = if self.partition_by.is_empty() {
            self.path.parent().map(|p| p.to_path_buf())
        } else {
            Some(self.path.clone())
        };
        if let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let report = if self.parquet()? {
            let mut options = ParquetSinkOptions::default().partition_by(self.partition_by.clone());
            if let Some(codec) = &self.compression {
                options = options.with_compression(codec.parse()?);
            }
            frame.sink_parquet(&self.path, options)?
        } else {
            frame.sink_csv(
                &self.path,
                CsvSinkOptions::default().partition_by(self.partition_by.clone()),
            )?
        };
        let bytes: u64 = report
            .files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let files = report.files.len();
        eprintln!(
            "wrote {} rows to {} in {files} file{} ({}) in {:.3} s",
            report.rows,
            self.path.display(),
            if files == 1 { "" } else { "s" },
            human_bytes(bytes),
            started.elapsed().as_secs_f64()
        );
        Ok(report.rows as usize)
    }
}
