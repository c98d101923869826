//! The CSV scan: range splitting, quoted newlines, bad rows, edge-case files.

use std::sync::Arc;

use arrow::datatypes::DataType;

use super::{count, request, rows, scan_with, write};
use crate::error::Error;
use crate::expr::{col, lit};
use crate::io::scan::scan_source_with;
use crate::io::{BadRowPolicy, CsvOptions, Dataset, FileFormat};

fn dataset(path: &std::path::Path, options: CsvOptions) -> Arc<Dataset> {
    Arc::new(Dataset::try_new(path.to_str().unwrap(), FileFormat::Csv(options)).unwrap())
}

/// `n` rows whose text column has quoted newlines, quotes, commas and nulls.
fn quoted_csv(n: usize) -> String {
    let mut s = String::from("id,text,value\n");
    for i in 0..n {
        let text = match i % 5 {
            0 => format!("\"line {i}\nnext \"\"quoted\"\", end\""),
            1 => format!("plain{i}"),
            2 => String::new(),
            3 => "\"a,b\"".to_string(),
            _ => "\"\n\n\"".to_string(),
        };
        s.push_str(&format!("{i},{text},{}\n", i as f64 * 0.5));
    }
    s
}

#[test]
fn quoted_newlines_split_into_tiny_ranges_match_one_range() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "q.csv", &quoted_csv(200));
    let ds = dataset(&dir.path().join("q.csv"), CsvOptions::default());
    assert_eq!(ds.schema.field(1).data_type(), &DataType::Utf8);
    let whole = scan_with(&ds, request(None, vec![], 1000), 1 << 30, 1).unwrap();
    let expected = rows(&whole);
    assert_eq!(expected.len(), 200);
    assert_eq!(expected[0], "0|line 0\nnext \"quoted\", end|0.0");
    assert_eq!(expected[2], "2|null|1.0");
    assert_eq!(expected[3], "3|a,b|1.5");
    assert_eq!(expected[4], "4|\n\n|2.0");
    for range_bytes in [1, 2, 3, 7, 16, 100, 1000] {
        for threads in [1, 4] {
            for chunk_rows in [1, 7, 1000] {
                let out = scan_with(&ds, request(None, vec![], chunk_rows), range_bytes, threads)
                    .unwrap();
                assert!(out.iter().all(|b| b.num_rows() <= chunk_rows));
                assert_eq!(
                    rows(&out),
                    expected,
                    "range_bytes {range_bytes}, threads {threads}"
                );
            }
        }
    }
}

fn bad_file(dir: &std::path::Path) -> std::path::PathBuf {
    let content = "a,b,c\n1,\"x\ny\",1.5\n2,z,2.5\n3,w,oops\n4,v,4.5\n";
    write(dir, "bad.csv", content);
    dir.join("bad.csv")
}

#[test]
fn malformed_value_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = bad_file(dir.path());
    let options = CsvOptions::default().with_column_type("c", DataType::Float64);
    let ds = dataset(&path, options);
    for range_bytes in [1 << 20, 5, 1] {
        let err = scan_with(&ds, request(None, vec![], 1024), range_bytes, 2).unwrap_err();
        match &err {
            Error::Csv {
                path,
                line,
                column,
                message,
            } => {
                assert!(path.ends_with("bad.csv"));
                assert_eq!(*line, 5, "{err}");
                assert_eq!(column.as_deref(), Some("c"));
                assert!(message.contains("oops"), "{message}");
            }
            other => panic!("expected a CSV error, got {other}"),
        }
        assert!(err.to_string().contains("bad.csv:5 column 'c'"), "{err}");
    }
    // Not decoding the bad column, the file reads fine.
    let out = scan_with(&ds, request(Some(&["a"]), vec![], 1024), 1 << 20, 1).unwrap();
    assert_eq!(rows(&out), vec!["1", "2", "3", "4"]);

    write(dir.path(), "ragged.csv", "a,b,c\n1,2,3\n\n4,5\n");
    let ds = dataset(&dir.path().join("ragged.csv"), CsvOptions::default());
    let err = scan_with(&ds, request(None, vec![], 1024), 1 << 20, 1).unwrap_err();
    assert!(
        matches!(&err, Error::Csv { line: 4, column: Some(c), message, .. } if c == "c" && message.contains("expected 3 fields, found 2")),
        "{err}"
    );
}

#[test]
fn skip_and_null_policies_count_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let content = "a,b,c\n1,x,1.5\n2,y,bad\n3,z\n4,w,4.5,extra\n5,v,5.5\n";
    write(dir.path(), "p.csv", content);
    let path = dir.path().join("p.csv");
    let options = |p| {
        CsvOptions::default()
            .with_column_type("c", DataType::Float64)
            .with_bad_rows(p)
    };
    for range_bytes in [1 << 20, 4] {
        let ds = dataset(&path, options(BadRowPolicy::Skip));
        let req = request(None, vec![], 1024);
        let metrics = Arc::clone(&req.metrics);
        let source = scan_source_with(&ds, req, range_bytes).unwrap();
        let out = super::run(&source, 2).unwrap();
        assert_eq!(rows(&out), vec!["1|x|1.5", "5|v|5.5"]);
        assert_eq!(source.stats().bad_rows(), 3);
        assert_eq!(metrics.note(), "skipped 3 malformed rows");

        let ds = dataset(&path, options(BadRowPolicy::Null));
        let req = request(None, vec![], 1024);
        let metrics = Arc::clone(&req.metrics);
        let source = scan_source_with(&ds, req, range_bytes).unwrap();
        let out = super::run(&source, 1).unwrap();
        assert_eq!(
            rows(&out),
            vec!["1|x|1.5", "2|y|null", "3|z|null", "4|w|4.5", "5|v|5.5"]
        );
        assert_eq!(
            source
                .stats()
                .bad_rows_counter()
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        assert_eq!(metrics.note(), "nulled fields of 3 malformed rows");
    }
}

#[test]
fn empty_and_header_only_files_yield_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "");
    write(dir.path(), "b.csv", "x,y\n");
    let ds = dataset(dir.path(), CsvOptions::default());
    let out = scan_with(&ds, request(None, vec![], 16), 1 << 20, 2).unwrap();
    assert_eq!(count(&out), 0);
    assert_eq!(ds.schema.fields().len(), 2);

    write(dir.path(), "c.csv", "x,y\n1,2\n");
    let ds = dataset(dir.path(), CsvOptions::default());
    assert_eq!(ds.schema.field(0).data_type(), &DataType::Int64);
    let out = scan_with(&ds, request(None, vec![], 16), 1 << 20, 1).unwrap();
    assert_eq!(rows(&out), vec!["1|2"]);
}

#[test]
fn crlf_bom_null_values_and_escape() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.csv",
        "\u{feff}id,name\r\n1,NA\r\n2,bob\r\n3,\"c\r\nd\"\r\n",
    );
    let ds = dataset(
        &dir.path().join("w.csv"),
        CsvOptions::default().with_null_values(["NA"]),
    );
    assert_eq!(ds.schema.field(0).name(), "id");
    for range_bytes in [1 << 20, 3] {
        let out = scan_with(&ds, request(None, vec![], 2), range_bytes, 2).unwrap();
        assert_eq!(rows(&out), vec!["1|null", "2|bob", "3|c\r\nd"]);
    }

    // A backslash escape defeats quote parity: the file is read as one range.
    write(dir.path(), "e.csv", "a,b\n1,\"x\\\"y\"\n2,\"p\nq\"\n");
    let ds = dataset(
        &dir.path().join("e.csv"),
        CsvOptions::default().with_escape(Some(b'\\')),
    );
    let out = scan_with(&ds, request(None, vec![], 8), 2, 3).unwrap();
    assert_eq!(rows(&out), vec!["1|x\"y", "2|p\nq"]);

    // Tab-separated, no quoting.
    write(dir.path(), "t.tsv", "a\tb\n1\t\"x\n");
    let options = CsvOptions::default().with_delimiter(b'\t').with_quote(None);
    let ds = dataset(&dir.path().join("t.tsv"), options);
    let out = scan_with(&ds, request(None, vec![], 8), 1, 1).unwrap();
    assert_eq!(rows(&out), vec!["1|\"x"]);
}

#[test]
fn projection_filters_and_row_counts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "q.csv", &quoted_csv(100));
    let ds = dataset(&dir.path().join("q.csv"), CsvOptions::default());
    // Filter on a column that is not projected.
    let filters = vec![col("value").gt_eq(lit(45.0)), col("id").lt(lit(95))];
    let out = scan_with(&ds, request(Some(&["id"]), filters, 3), 16, 3).unwrap();
    assert_eq!(
        rows(&out),
        (90..95).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(out[0].schema().fields().len(), 1);

    // An empty projection still counts rows (count(*)).
    let out = scan_with(&ds, request(Some(&[]), vec![], 7), 64, 2).unwrap();
    assert_eq!(count(&out), 100);

    let err = scan_with(&ds, request(Some(&["nope"]), vec![], 7), 64, 1).unwrap_err();
    assert!(matches!(err, Error::Plan(_)));
    let err = scan_with(&ds, request(None, vec![col("id").add(lit(1))], 7), 64, 1).unwrap_err();
    assert!(matches!(err, Error::Schema(_)));
}

#[test]
fn memory_is_reserved_while_ranges_are_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "q.csv", &quoted_csv(50));
    let ds = dataset(&dir.path().join("q.csv"), CsvOptions::default());
    let req = request(None, vec![], 8);
    let pool = Arc::clone(&req.pool);
    let source = scan_source_with(&ds, req, 64).unwrap();
    let task = crate::stream::Source::next_task(&source).unwrap().unwrap();
    assert_eq!(pool.used(), 64);
    drop(task);
    assert_eq!(pool.used(), 0);
    let out = super::run(&source, 2).unwrap();
    assert!(count(&out) < 50, "the dropped first task's rows are gone");
    assert_eq!(pool.used(), 0);

    // A pool too small for one range fails with ResourcesExhausted.
    let mut req = request(None, vec![], 8);
    req.pool = crate::memory::MemoryPool::new(10);
    let source = scan_source_with(&ds, req, 64).unwrap();
    let err = super::run(&source, 1).unwrap_err();
    assert!(matches!(err, Error::ResourcesExhausted { .. }), "{err}");
}

#[test]
fn a_quote_left_open_is_an_error_at_every_range_size() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "open.csv", "a,b\n1,\"abc\n2,x\n3,y\n");
    let ds = dataset(&dir.path().join("open.csv"), CsvOptions::default());
    for range_bytes in [1 << 20, 7, 3, 1] {
        let err = scan_with(&ds, request(None, vec![], 1024), range_bytes, 2).unwrap_err();
        assert!(
            matches!(&err, Error::Csv { line: 2, message, .. } if message.contains("never closed")),
            "range {range_bytes}: {err}"
        );
    }
}
