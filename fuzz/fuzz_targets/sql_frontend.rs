//! The SQL front end on arbitrary text: parsing, name resolution, type checking,
//! decorrelation, the optimizer and physical planning (`explain`), over a few
//! registered tables. Queries are planned, never run (a valid random query could run
//! for ever). Any outcome but a panic, an abort or a hang is fine. floe turns a panic at
//! its query boundary into an error (`Error::is_panic`); `check` turns it back into a
//! crash here.
#![no_main]

use std::sync::OnceLock;

use floe::prelude::*;
use libfuzzer_sys::fuzz_target;

fn session() -> &'static Session {
    static S: OnceLock<Session> = OnceLock::new();
    S.get_or_init(|| {
        let s = Session::builder().threads(1).build().expect("session");
        for (name, sql) in [
            (
                "t",
                "SELECT 1 AS a, 'x' AS b, 2.5 AS c, DATE '2020-01-01' AS d",
            ),
            ("u", "SELECT 2 AS a, NULL AS e, true AS f"),
        ] {
            let lf = s.sql(sql).expect("table");
            s.register(name, &lf).expect("register");
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Planning reads a table function's file to learn its schema: keep the fuzzer
    // away from endless streams.
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let planned = session().sql(text);
    if let Err(e) = &planned {
        assert!(!e.is_panic(), "{e}");
    }
    if let Ok(lf) = planned {
        check(lf.explain());
    }
});

/// Fails the run on a panic that floe caught and returned as an error.
fn check<T>(r: floe::Result<T>) {
    if let Err(e) = r {
        assert!(!e.is_panic(), "{e}");
    }
}
