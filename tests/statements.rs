//! Statements a session keeps (`Session::execute`, `Session::run_script`): views,
//! tables made by a query, DROP, DESCRIBE, SUMMARIZE, SHOW TABLES and COPY. Expected
//! values are computed by hand from the small inputs written here.

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use floe::prelude::*;
use floe::StatementResult;

fn session(spill: &std::path::Path) -> Session {
    Session::builder()
        .threads(2)
        .spill_dir(spill)
        .force_spill(std::env::var("FLOE_FORCE_SPILL").is_ok())
        .build()
        .unwrap()
}

fn rows(s: &Session, statement: &str) -> DataFrame {
    match s.execute(statement).unwrap() {
        StatementResult::Rows(f) => f.collect().unwrap(),
        StatementResult::Done(m) => panic!("{statement}: no rows ({m})"),
    }
}

fn strings(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    let a = df.column(column).unwrap();
    let a = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

fn ints(df: &DataFrame, column: &str) -> Vec<Option<i64>> {
    let a = df.column(column).unwrap();
    let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn error(s: &Session, statement: &str) -> String {
    match s.execute(statement) {
        Ok(_) => panic!("{statement}: expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A CSV with a NULL: (k, v) = (a, 1), (b, NULL), (a, 4), (c, 7).
fn write_input(dir: &std::path::Path) -> String {
    let path = dir.join("in.csv");
    std::fs::write(&path, "k,v\na,1\nb,\na,4\nc,7\n").unwrap();
    path.display().to_string()
}

#[test]
fn views_tables_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let s = session(spill.path());
    let input = write_input(dir.path());
    let script = format!(
        "CREATE VIEW raw AS SELECT * FROM '{input}';\n\
         CREATE TABLE sums AS SELECT k, sum(v) AS total FROM raw GROUP BY k;\n\
         SHOW TABLES;"
    );
    let results = s.run_script(&script).unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(&results[1], StatementResult::Done(m) if m.contains("3 rows")));
    // The table is materialized: it stays when its input file goes; the view does not.
    std::fs::remove_file(&input).unwrap();
    let df = rows(&s, "SELECT k, total FROM sums ORDER BY k");
    assert_eq!(
        strings(&df, "k"),
        [Some("a".into()), Some("b".into()), Some("c".into())]
    );
    assert_eq!(ints(&df, "total"), [Some(5), None, Some(7)]);
    assert!(s.sql("SELECT * FROM raw").unwrap().collect().is_err());
    let names = rows(&s, "SHOW TABLES");
    assert_eq!(
        strings(&names, "name"),
        [Some("raw".into()), Some("sums".into())]
    );

    let e = error(&s, "CREATE VIEW sums AS SELECT 1");
    assert!(e.contains("'sums' already exists"), "{e}");
    assert!(matches!(
        s.execute("CREATE VIEW IF NOT EXISTS sums AS SELECT 1")
            .unwrap(),
        StatementResult::Done(_)
    ));
    // OR REPLACE may read the table it replaces.
    s.execute(
        "CREATE OR REPLACE TABLE sums AS SELECT k, total * 10 AS total FROM sums WHERE total > 5",
    )
    .unwrap();
    assert_eq!(
        ints(&rows(&s, "SELECT total FROM sums"), "total"),
        [Some(70)]
    );
    s.execute("DROP TABLE sums").unwrap();
    s.execute("DROP VIEW IF EXISTS sums").unwrap();
    let e = error(&s, "DROP VIEW sums");
    assert!(e.contains("no such table or view"), "{e}");
    let e = error(&s, "CREATE TABLE t (a INT)");
    assert!(
        e.contains("not supported") && e.contains("CREATE TABLE without AS"),
        "{e}"
    );
    let e = error(&s, "INSERT INTO raw VALUES (1)");
    assert!(e.contains("not supported"), "{e}");
    // The session's table files go with it (the results hold clones of it).
    drop(results);
    drop(s);
    let left: Vec<_> = std::fs::read_dir(spill.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn describe_and_summarize() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let s = session(spill.path());
    let input = write_input(dir.path());
    s.execute(&format!("CREATE VIEW raw AS SELECT * FROM '{input}'"))
        .unwrap();
    let d = rows(&s, "DESCRIBE raw");
    assert_eq!(
        strings(&d, "column_name"),
        [Some("k".into()), Some("v".into())]
    );
    assert_eq!(
        strings(&d, "column_type"),
        [Some("VARCHAR".into()), Some("BIGINT".into())]
    );
    let d = rows(
        &s,
        "DESCRIBE SELECT v / 2 AS half, CAST(k AS DATE) AS day FROM raw",
    );
    assert_eq!(
        strings(&d, "column_type"),
        [Some("DOUBLE".into()), Some("DATE".into())]
    );
    let e = error(&s, "DESCRIBE rwa");
    assert!(e.contains("did you mean 'raw'?"), "{e}");

    let sm = rows(&s, "SUMMARIZE raw");
    assert_eq!(
        strings(&sm, "column_name"),
        [Some("k".into()), Some("v".into())]
    );
    assert_eq!(strings(&sm, "min"), [Some("a".into()), Some("1".into())]);
    assert_eq!(strings(&sm, "max"), [Some("c".into()), Some("7".into())]);
    assert_eq!(ints(&sm, "approx_unique"), [Some(3), Some(3)]);
    assert_eq!(ints(&sm, "count"), [Some(4), Some(3)]);
    assert_eq!(ints(&sm, "null_count"), [Some(0), Some(1)]);
    let avg = sm.column("avg").unwrap();
    let avg = avg.as_any().downcast_ref::<Float64Array>().unwrap();
    assert!(avg.is_null(0));
    assert!((avg.value(1) - 4.0).abs() < 1e-12);
    // SUMMARIZE of a query.
    let q = rows(&s, "SUMMARIZE SELECT v FROM raw WHERE k = 'a'");
    assert_eq!(strings(&q, "max"), [Some("4".into())]);
}

#[test]
fn copy_writes_files_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let s = session(spill.path());
    let input = write_input(dir.path());
    let out = dir.path().join("made/by/copy");
    let script = format!(
        "CREATE VIEW raw AS SELECT * FROM '{input}';\n\
         COPY (SELECT k, v FROM raw WHERE v IS NOT NULL) TO '{0}' (FORMAT parquet, PARTITION_BY (k));\n\
         COPY raw TO '{0}.csv' (HEADER, DELIMITER ';');",
        out.display()
    );
    let results = s.run_script(&script).unwrap();
    assert!(
        matches!(&results[1], StatementResult::Done(m) if m.starts_with("3 rows written") && m.contains("(2 files)"))
    );
    assert!(out.join("k=a").is_dir() && out.join("k=c").is_dir() && !out.join("k=b").exists());
    let back = rows(
        &s,
        &format!(
            "SELECT k, sum(v) AS total FROM '{}/*/*.parquet' GROUP BY k ORDER BY k",
            out.display()
        ),
    );
    assert_eq!(ints(&back, "total"), [Some(5), Some(7)]);
    let csv = std::fs::read_to_string(format!("{}.csv", out.display())).unwrap();
    assert_eq!(csv, "k;v\na;1\nb;\na;4\nc;7\n");
    let e = error(
        &s,
        &format!(
            "COPY raw TO '{}/x.json' (FORMAT json)",
            dir.path().display()
        ),
    );
    assert!(e.contains("COPY format 'json'"), "{e}");
    let e = error(&s, "COPY raw 'x.csv'");
    assert!(e.contains("missing TO"), "{e}");
}

/// `collect()` keeps its result in memory; over the limit, the error says what to do
/// instead. (The same rows stream through the CLI's table output in bounded memory.)
#[test]
fn collect_over_the_limit_names_the_alternatives() {
    let s = Session::builder()
        .threads(2)
        .memory_limit("2MiB")
        .build()
        .unwrap();
    let frame = s
        .sql("SELECT * FROM 'data/sensors/*.csv' a CROSS JOIN 'data/sites.csv' b")
        .unwrap();
    let e = frame.collect().unwrap_err().to_string();
    assert!(
        e.contains("resources exhausted in Collect") && e.contains("sink_parquet"),
        "{e}"
    );
}
