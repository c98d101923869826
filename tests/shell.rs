//! The `floe` shell and scripts: the interactive shell driven through tmux, `floe sql`
//! with several statements, `-f` and stdin, the bounded table output, the streaming
//! formats, partitioned `--output`, the ETL example against DuckDB's answer, and
//! messages in SQL words.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn floe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
    c.current_dir(root());
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// `floe sql` with the script on stdin.
fn piped(args: &[&str], stdin: &str) -> Output {
    let mut child = floe()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn several_statements_from_an_argument_a_file_and_stdin() {
    let script = "CREATE VIEW s AS SELECT * FROM 'data/sensors/*.csv';\n\
                  -- a comment; with a semicolon\n\
                  SELECT count(*) AS n FROM s;\n\
                  SELECT 'a;b' AS t";
    let expected = "n\n34560\nt\na;b\n";
    let from_arg = ok(floe()
        .args(["sql", "--format", "csv", script])
        .output()
        .unwrap());
    assert_eq!(from_arg, expected);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), script).unwrap();
    let from_file = ok(floe()
        .args(["sql", "--format", "csv", "-f"])
        .arg(file.path())
        .output()
        .unwrap());
    assert_eq!(from_file, expected);
    assert_eq!(ok(piped(&["sql", "--format", "csv"], script)), expected);
    // The shell reads a piped script the same way, and fails when a statement does.
    assert_eq!(
        ok(piped(&["shell"], &format!(".mode csv\n{script};\n"))),
        expected
    );
    let err = failed(piped(&[], "SELECT nope FROM 'data/sites.csv';\n"));
    assert!(err.contains("column 'nope' not found"), "{err}");
}

/// The table shows the first and last halves of --max-rows around a `…` row, then
/// the count. The data holds every minute of 2024-01-01 and 2024-01-02: 2,880.
#[test]
fn table_output_shows_head_tail_and_count() {
    let out = ok(floe()
        .args([
            "sql",
            "--max-rows",
            "4",
            "SELECT DISTINCT \"timestamp\" AS t FROM 'data/sensors/*.csv' ORDER BY t",
        ])
        .output()
        .unwrap());
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| l.trim_matches(|c| c == '|' || c == ' '))
        .collect();
    assert_eq!(
        rows,
        [
            "t",
            "2024-01-01T00:00:00",
            "2024-01-01T00:01:00",
            "…",
            "2024-01-02T23:58:00",
            "2024-01-02T23:59:00"
        ],
        "{out}"
    );
    assert!(out.contains("2880 rows (4 shown"), "{out}");
    // A result that fits is shown whole, without a count line.
    let small = ok(floe()
        .args(["sql", "SELECT site FROM 'data/sites.csv' ORDER BY site"])
        .output()
        .unwrap());
    assert!(
        small.contains("| Ridge    |") && !small.contains("rows"),
        "{small}"
    );
}

/// JSON and NDJSON stream the rows (values from data/sites.csv).
#[test]
fn json_and_ndjson_formats() {
    let q = "SELECT sensor_id, site FROM 'data/sites.csv' WHERE region = 'south' ORDER BY 1";
    let nd = ok(floe()
        .args(["sql", "--format", "ndjson", q])
        .output()
        .unwrap());
    assert_eq!(
        nd,
        "{\"sensor_id\":\"C\",\"site\":\"Old Town\"}\n{\"sensor_id\":\"D\",\"site\":\"Ridge\"}\n"
    );
    let json = ok(floe()
        .args(["sql", "--format", "json", q])
        .output()
        .unwrap());
    assert_eq!(
        json.trim(),
        "[{\"sensor_id\":\"C\",\"site\":\"Old Town\"},{\"sensor_id\":\"D\",\"site\":\"Ridge\"}]"
    );
    let none = ok(floe()
        .args([
            "sql",
            "--format",
            "json",
            "SELECT site FROM 'data/sites.csv' WHERE false",
        ])
        .output()
        .unwrap());
    assert_eq!(none.trim(), "[]");
}

/// `--output DIR --partition-by col` writes hive folders, making missing parents, and
/// says what it wrote on stderr.
#[test]
fn partitioned_output_into_a_new_folder() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("new/sites");
    let out = floe()
        .args(["sql", "--output"])
        .arg(&target)
        .args(["--partition-by", "region", "SELECT * FROM 'data/sites.csv'"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(
        stderr.contains("wrote 4 rows") && stderr.contains("2 files"),
        "{stderr}"
    );
    for region in ["north", "south"] {
        assert!(target.join(format!("region={region}")).is_dir());
    }
    let back = ok(floe()
        .args(["sql", "--format", "csv"])
        .arg(format!(
            "SELECT region, count(*) AS n FROM '{}/*/*.parquet' GROUP BY 1 ORDER BY 1",
            target.display()
        ))
        .output()
        .unwrap());
    assert_eq!(back, "region,n\nnorth,2\nsouth,2\n");
}

/// examples/etl.sql (views over CSV, cleaning, a join, CREATE TABLE AS, COPY to
/// partitioned Parquet) writes what DuckDB's run of the same script writes
/// (tests/golden/answers/etl_daily.csv, by tests/golden/make_golden.py).
#[test]
fn etl_example_script_matches_duckdb() {
    let out = floe()
        .args(["sql", "-f", "examples/etl.sql"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let summary = ok(out);
    assert!(
        summary.contains("| north  | 4         | 17253    |"),
        "{summary}"
    );
    assert!(
        stderr.contains("8 rows written to target/etl/daily (2 files)"),
        "{stderr}"
    );
    let got = ok(floe()
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT region, site, day, readings, avg_temperature, max_temperature, avg_pressure \
             FROM 'target/etl/daily/*/*.parquet' ORDER BY site, day",
        ])
        .output()
        .unwrap());
    let expected =
        std::fs::read_to_string(root().join("tests/golden/answers/etl_daily.csv")).unwrap();
    let (got, expected): (Vec<&str>, Vec<&str>) =
        (got.lines().collect(), expected.lines().collect());
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(&expected) {
        for (a, b) in g.split(',').zip(e.split(',')) {
            let same = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                _ => a == b,
            };
            assert!(same, "{g} vs DuckDB {e}");
        }
    }
}

/// Messages in SQL words: SQL type names, a suggestion for a misspelt function or
/// table, and `--table` for a table the CLI does not know.
#[test]
fn messages_use_sql_words_and_suggest_names() {
    let run = |q: &str| failed(floe().args(["sql", q]).output().unwrap());
    let e = run("SELECT site > 1 FROM 'data/sites.csv'");
    assert!(e.contains("cannot apply '>' to VARCHAR and BIGINT"), "{e}");
    let e = run("SELECT upper(1)");
    assert!(e.contains("must be a string, got BIGINT"), "{e}");
    let e = run("SELECT summ(1)");
    assert!(
        e.contains("unknown function summ(); did you mean 'sum'?"),
        "{e}"
    );
    let e = run("SELECT * FROM sites");
    assert!(e.contains("--table sites=PATH"), "{e}");
    let e = failed(
        floe()
            .args([
                "sql",
                "--table",
                "sites=data/sites.csv",
                "SELECT * FROM sties",
            ])
            .output()
            .unwrap(),
    );
    assert!(e.contains("did you mean 'sites'?"), "{e}");
}

/// A tmux session with `floe shell` in it.
struct Tmux {
    socket: String,
    _home: tempfile::TempDir,
}

impl Tmux {
    fn start(home: tempfile::TempDir) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            return None;
        }
        let socket = format!("floe-test-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "100",
                "-s",
                "t",
            ])
            .arg("-c")
            .arg(root())
            .arg(format!(
                "env HOME={} {} shell --max-rows 6",
                home.path().display(),
                env!("CARGO_BIN_EXE_floe")
            ))
            .status()
            .unwrap();
        assert!(status.success());
        let t = Tmux {
            socket,
            _home: home,
        };
        t.wait_for_prompt("floe>");
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t", "-S", "-1000"])
    }

    /// Waits until the last line is an empty `prompt`.
    fn wait_for_prompt(&self, prompt: &str) {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            let last = screen
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            if last.trim() == prompt {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no '{prompt}' prompt:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line` and Enter, then waits for `prompt`, and returns what appeared
    /// on the screen since.
    fn line(&self, line: &str, prompt: &str) -> String {
        let before = self.screen().trim_end().len();
        // tmux reads a trailing ';' as its own command separator: escape it.
        let typed = match line.strip_suffix(';') {
            Some(l) => format!("{l}\\;"),
            None => line.to_string(),
        };
        self.tmux(&["send-keys", "-t", "t", "-l", &typed]);
        self.tmux(&["send-keys", "-t", "t", "Enter"]);
        // Until the line is echoed, the last line is still the old empty prompt, which
        // `wait_for_prompt` would take for the new one (seen once on a loaded machine:
        // the output of `.tables` was not on the screen yet).
        let started = Instant::now();
        while self.screen().trim_end().len() <= before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "'{line}' was not echoed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_for_prompt(prompt);
        let screen = self.screen();
        screen.get(before..).unwrap_or(&screen).to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The shell, typed into through tmux: a statement over two lines, `.tables`,
/// `CREATE VIEW`, `DESCRIBE`, `SUMMARIZE`, `.mode csv`, `.read`, `.timer`, history.
#[test]
fn shell_through_tmux() {
    let home = tempfile::tempdir().unwrap();
    let history = home.path().join(".floe_history");
    let Some(t) = Tmux::start(home) else {
        eprintln!("tmux is not installed: the shell test did not run");
        return;
    };
    t.line("CREATE VIEW s AS", "..>");
    t.line("SELECT * FROM 'data/sites.csv';", "floe>");
    let tables = t.line(".tables", "floe>");
    assert!(tables.lines().any(|l| l.trim() == "s"), "{tables}");
    let describe = t.line("DESCRIBE s;", "floe>");
    assert!(
        describe.contains("| sensor_id   | VARCHAR     | YES  |"),
        "{describe}"
    );
    assert!(
        describe.contains("| region      | VARCHAR     | YES  |"),
        "{describe}"
    );
    // Hand-computed from data/sites.csv: 4 rows, min 'Airport', max 'Ridge'.
    let summary = t.line("SUMMARIZE s;", "floe>");
    let site = summary.lines().find(|l| l.contains("| site")).unwrap_or("");
    let cells: Vec<&str> = site.split('|').map(str::trim).collect();
    assert_eq!(
        &cells[1..9],
        ["site", "VARCHAR", "Airport", "Ridge", "4", "null", "4", "0"],
        "{summary}"
    );
    t.line(".mode csv", "floe>");
    let csv = t.line(
        "SELECT region, count(*) AS n FROM s GROUP BY 1 ORDER BY 1;",
        "floe>",
    );
    assert!(csv.contains("region,n\nnorth,2\nsouth,2\n"), "{csv}");
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        "SELECT 40 + 2 AS answer;\nSELECT upper(site) AS u FROM s WHERE sensor_id = 'D';\n",
    )
    .unwrap();
    let read = t.line(&format!(".read {}", script.path().display()), "floe>");
    assert!(
        read.contains("answer\n42\n") && read.contains("u\nRIDGE\n"),
        "{read}"
    );
    t.line(".timer on", "floe>");
    let timed = t.line("SELECT 1 AS one;", "floe>");
    assert!(timed.contains("Run Time: "), "{timed}");
    let error = t.line("SELECT nope FROM s;", "floe>");
    assert!(
        error.contains("Error: ") && error.contains("column 'nope' not found"),
        "{error}"
    );
    t.tmux(&["send-keys", "-t", "t", "-l", ".quit"]);
    t.tmux(&["send-keys", "-t", "t", "Enter"]);
    // The shell creates the history file and then writes it: wait for the text, not
    // for the file (a read between the two saw it empty once).
    let started = Instant::now();
    let mut saved = String::new();
    while !saved.contains("DESCRIBE s;") && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        saved = std::fs::read_to_string(&history).unwrap_or_default();
    }
    assert!(saved.contains("DESCRIBE s;"), "history: {saved}");
}

/// Streamed output keeps the source order across files and chunks, as the files
/// hold the rows (12 files read in path order, 100-row chunks on 2 threads).
#[test]
fn streamed_output_keeps_source_order() {
    let out = ok(floe()
        .args([
            "sql",
            "--threads",
            "2",
            "--chunk-rows",
            "100",
            "--format",
            "csv",
            "SELECT \"timestamp\", sensor_id FROM 'data/sensors/*.csv'",
        ])
        .output()
        .unwrap());
    let mut expected = vec!["timestamp,sensor_id".to_string()];
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("data/sensors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().skip(1) {
            let mut cells = line.split(',');
            let (t, id) = (cells.next().unwrap(), cells.next().unwrap());
            expected.push(format!("{},{id}", t.replace(' ', "T")));
        }
    }
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), expected.len());
    assert!(
        got.iter().zip(&expected).all(|(g, e)| g == e),
        "order differs"
    );
}
