//! The CSV splitter, record parser, type inference and decoder on arbitrary bytes:
//! each input is written to a file and read as a whole, with inferred types and then
//! with every column as text, single- and multi-threaded with small chunks (so that
//! ranges split inside quotes and records). Any outcome but a panic, an abort or a
//! hang is fine: an error is the expected answer to most inputs. floe turns a panic at
//! its query boundary into an error (`Error::is_panic`); `check` turns it back into a
//! crash here, so libFuzzer reports it.
#![no_main]

use std::sync::OnceLock;

use floe::prelude::*;
use libfuzzer_sys::fuzz_target;

fn sessions() -> &'static [Session; 2] {
    static S: OnceLock<[Session; 2]> = OnceLock::new();
    S.get_or_init(|| {
        let one = Session::builder().threads(1).chunk_rows(3).build();
        let two = Session::builder().threads(2).chunk_rows(64).build();
        [one.expect("session"), two.expect("session")]
    })
}

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("temp dir"))
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("input.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let path = path.to_string_lossy().into_owned();
    for s in sessions() {
        if let Ok(lf) = s.scan_csv(&path, CsvOptions::default()) {
            check(lf.collect());
        }
        let headerless = CsvOptions::default().with_header(false);
        if let Ok(lf) = s.scan_csv(&path, headerless) {
            check(lf.collect());
        }
    }
});

/// Fails the run on a panic that floe caught and returned as an error.
fn check<T>(r: floe::Result<T>) {
    if let Err(e) = r {
        assert!(!e.is_panic(), "{e}");
    }
}
