//! The interactive shell (`floe` with no arguments, or `floe shell`): a line editor
//! with history (`rustyline`; `~/.floe_history`), statements of several lines ended by
//! `;`, several statements per line, and dot commands:
//!
//! ```text
//! .help              this list
//! .tables            the registered tables and views
//! .schema [NAME]     their columns and types
//! .timer on|off      print each statement's time
//! .mode MODE         table, csv, json or ndjson
//! .maxrows N         rows a table shows (0: all)
//! .read FILE         run the statements of a SQL file
//! .quit, .exit       leave (Ctrl-D too)
//! ```
//!
//! Ctrl-C while a query runs cancels it (its spill files go) and returns to the
//! prompt; at the prompt it drops the statement being typed. When stdin is not a
//! terminal, the same loop reads statements from it without editing.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use floe::prelude::*;
use floe::statement::{is_complete, split_statements};
use floe::StatementResult;
use rustyline::error::ReadlineError;

use crate::output::{self, Mode};

/// What the dot commands change.
pub struct Settings {
    pub mode: Mode,
    pub max_rows: usize,
    pub timer: bool,
}

const HELP: &str = "\
Statements end with ';' and may span lines. Besides queries: CREATE [OR REPLACE] VIEW|TABLE
name AS query, DROP VIEW|TABLE name, DESCRIBE name|query, SUMMARIZE name|query, SHOW TABLES,
COPY name|(query) TO 'path' (FORMAT parquet|csv, PARTITION_BY (col, ...)).
Files are tables too: SELECT * FROM 'data/*.csv'.

.help              this list
.tables            the registered tables and views
.schema [NAME]     their columns and types
.timer on|off      print each statement's time
.mode MODE         table, csv, json or ndjson
.maxrows N         rows a table shows (0: all)
.read FILE         run the statements of a SQL file
.quit, .exit       leave (Ctrl-D too)";

/// Runs the shell until `.quit` or end of input.
pub fn run(session: &Session, mut settings: Settings) -> Result<()> {
    let config = rustyline::Config::builder().auto_add_history(false).build();
    let mut editor = rustyline::DefaultEditor::with_config(config)
        .map_err(|e| Error::Config(format!("cannot start the line editor: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".floe_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        println!(
            "floe {}: out-of-core SQL. Enter .help for help.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    let mut failed = false;
    loop {
        let prompt = if buffer.is_empty() {
            "floe> "
        } else {
            "  ..> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim_start().starts_with('.') {
                    let _ = editor.add_history_entry(line.trim());
                    match dot_command(session, &mut settings, line.trim()) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            eprintln!("Error: {e}");
                            failed = true;
                        }
                    }
                    continue;
                }
                if buffer.is_empty() && line.trim().is_empty() {
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if is_complete(&buffer) {
                    let _ = editor.add_history_entry(buffer.trim());
                    failed |= !run_statements(session, &settings, &buffer);
                    buffer.clear();
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => {
                // Input that ends without a final ';' still runs (a piped script).
                if !buffer.trim().is_empty() {
                    failed |= !run_statements(session, &settings, &buffer);
                }
                break;
            }
            Err(e) => return Err(Error::Config(format!("line editor: {e}"))),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    // A script piped in fails as a whole when one of its statements did.
    if failed && !interactive {
        return Err(Error::InvalidInput(
            "a statement of the script failed (its error is above)".into(),
        ));
    }
    Ok(())
}

/// Runs the statements of `text`, printing each result; an error is printed and
/// stops the rest of `text`, as in DuckDB's shell. False if one failed.
fn run_statements(session: &Session, settings: &Settings, text: &str) -> bool {
    for statement in split_statements(text) {
        let started = Instant::now();
        let result = run_statement(session, settings, statement);
        // A Ctrl-C cancelled this statement only.
        session.cancel_flag().store(false, Ordering::Relaxed);
        if settings.timer {
            println!("Run Time: {:.3} s", started.elapsed().as_secs_f64());
        }
        if let Err(e) = result {
            eprintln!("Error: {}", e.to_string().replace('\n', " "));
            return false;
        }
    }
    true
}

fn run_statement(session: &Session, settings: &Settings, statement: &str) -> Result<()> {
    match session.execute(statement)? {
        StatementResult::Rows(frame) => {
            output::print(&frame, settings.mode, settings.max_rows)?;
        }
        StatementResult::Done(message) if !message.is_empty() => println!("{message}"),
        StatementResult::Done(_) => {}
    }
    Ok(())
}

/// Runs a dot command; false ends the shell.
fn dot_command(session: &Session, settings: &mut Settings, line: &str) -> Result<bool> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or("");
    let arg = words.collect::<Vec<_>>().join(" ");
    match command {
        ".quit" | ".exit" | ".q" => return Ok(false),
        ".help" => println!("{HELP}"),
        ".tables" => println!("{}", session.table_names().join("  ")),
        ".schema" => {
            let names = if arg.is_empty() {
                session.table_names()
            } else {
                vec![arg.clone()]
            };
            for name in names {
                let plan = session.table(&name).ok_or_else(|| {
                    Error::Plan(format!(
                        "no table '{name}'{}",
                        floe::error::did_you_mean(&name, &session.table_names())
                    ))
                })?;
                let columns: Vec<String> = plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f.name(),
                            floe::expr::types::sql_name(f.data_type())
                        )
                    })
                    .collect();
                println!("{name}({});", columns.join(", "));
            }
        }
        ".timer" => {
            settings.timer = match arg.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(Error::Config(".timer takes on or off".into())),
            }
        }
        ".mode" => settings.mode = arg.parse()?,
        ".maxrows" => {
            settings.max_rows = arg
                .parse()
                .map_err(|_| Error::Config(format!(".maxrows takes a number, got '{arg}'")))?
        }
        ".read" => {
            let text = std::fs::read_to_string(&arg).map_err(|e| Error::io(&arg, e))?;
            if !run_statements(session, settings, &text) {
                return Err(Error::InvalidInput(format!("{arg} stopped at an error")));
            }
        }
        other => {
            return Err(Error::Config(format!(
                "unknown command {other}{}; .help lists them",
                floe::error::did_you_mean(
                    other,
                    &[
                        ".help", ".tables", ".schema", ".timer", ".mode", ".maxrows", ".read",
                        ".quit", ".exit"
                    ]
                )
            )))
        }
    }
    Ok(true)
}
