//! Plan snapshots: `explain()` text for a few queries, stored in tests/snapshots/.
//! Re-bless after an intended change with `UPDATE_GOLDEN=1 cargo test --test explain`.

use std::path::PathBuf;

use floe::prelude::*;

fn check(name: &str, text: &str) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(
        text, expected,
        "explain of {name} changed; re-bless with UPDATE_GOLDEN=1 if intended"
    );
}

fn explain(sql: &str) -> String {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let s = Session::builder().threads(2).build().unwrap();
    s.sql(sql).unwrap().explain().unwrap()
}

#[test]
fn filter_and_projection_are_pushed_into_the_scan() {
    check(
        "pushdown",
        &explain("SELECT sensor_id, temperature * 2 AS t2 FROM 'data/sensors/*.csv' WHERE humidity > 70 AND sensor_id = 'A'"),
    );
}

#[test]
fn aggregate_with_having_cuts_two_pipelines() {
    check(
        "aggregate",
        &explain(
            "SELECT sensor_id, avg(temperature) AS t FROM 'data/sensors_parquet/**/*.parquet' \
             WHERE sensor_id IN ('A', 'B') GROUP BY sensor_id HAVING count(*) > 10",
        ),
    );
}

#[test]
fn limit_reaches_the_scan() {
    check(
        "limit",
        &explain("SELECT timestamp, pressure FROM 'data/sensors/sensors_00.csv' LIMIT 3"),
    );
}
