//! The Parquet reader on arbitrary bytes: the footer (metadata length, Thrift
//! metadata, schema), row-group statistics as pruning reads them, and the pages of
//! whatever the footer points at. Each input is written to a file, scanned whole and
//! with a filter (which consults the statistics). Any outcome but a panic, an abort or
//! a hang is fine. floe turns a panic at its query boundary into an error
//! (`Error::is_panic`); `check` turns it back into a crash here.
#![no_main]

use std::sync::OnceLock;

use floe::prelude::*;
use libfuzzer_sys::fuzz_target;

fn session() -> &'static Session {
    static S: OnceLock<Session> = OnceLock::new();
    S.get_or_init(|| Session::builder().threads(1).build().expect("session"))
}

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("temp dir"))
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("input.parquet");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let path = path.to_string_lossy().into_owned();
    let s = session();
    if let Ok(lf) = s.scan_parquet(&path, ParquetOptions::default()) {
        check(lf.collect());
    }
    check(
        s.sql(&format!(
            "SELECT count(*) FROM read_parquet('{path}') WHERE 1 = 1"
        ))
        .and_then(|lf| lf.collect()),
    );
    if let Ok(lf) = s.scan_parquet(&path, ParquetOptions::default()) {
        if let Some(first) = lf.schema().fields().first() {
            let name = first.name().replace('"', "\"\"");
            let _ = s.register("t", &lf);
            check(
                s.sql(&format!("SELECT * FROM t WHERE \"{name}\" IS NOT NULL"))
                    .and_then(|lf| lf.collect()),
            );
        }
    }
});

/// Fails the run on a panic that floe caught and returned as an error.
fn check<T>(r: floe::Result<T>) {
    if let Err(e) = r {
        assert!(!e.is_panic(), "{e}");
    }
}
