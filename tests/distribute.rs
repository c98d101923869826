//! Distribution (`floe::plan::distribute`): a plan run stage by stage, as `floe.dask`
//! runs it on workers, here in one process. Each query's answer with distribution
//! (scans cut into small slices, partial aggregates merged in a tree, stage results
//! put back into the plan) must equal its answer without.

mod common;

use arrow::array::RecordBatch;
use common::{cell_eq, cells};
use floe::plan::distribute::{next_stage, Split};
use floe::plan::{plan_physical, LogicalPlan};
use floe::prelude::*;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(session: &Session, plan: &LogicalPlan) -> Vec<RecordBatch> {
    let df = session
        .collect(&plan_physical(plan, session.config()).unwrap())
        .unwrap();
    df.batches().to_vec()
}

/// Runs `sql` stage by stage; returns the result and the number of stages cut.
fn distributed(session: &Session, sql: &str, split: Split) -> (DataFrame, usize) {
    let mut plan = session.sql(sql).unwrap().optimized_plan().unwrap();
    let mut stages = 0;
    while let Some(stage) = next_stage(&plan, split).unwrap() {
        stages += 1;
        assert!(stage.fragments.len() >= 2);
        let parts: Vec<Vec<RecordBatch>> =
            stage.fragments.iter().map(|f| run(session, f)).collect();
        // A tree: the first half merged, the second half merged, then the two merges.
        let merge = |rows: Vec<RecordBatch>| match stage.merge_plan(rows.clone()).unwrap() {
            Some(p) => run(session, &p),
            None => rows,
        };
        let half = parts.len() / 2;
        let a = merge(parts[..half].concat());
        let b = merge(parts[half..].concat());
        let merged = merge([a, b].concat());
        let done = run(session, &stage.finish_plan(merged).unwrap());
        let out = stage.output_batches(done).unwrap();
        plan = stage.substitute(&plan, out).unwrap();
    }
    let batches = run(session, &plan);
    let schema = plan.schema();
    (DataFrame::new(schema, batches), stages)
}

fn check(sql: &str, ordered: bool, want_stages: usize) {
    let session = Session::builder().threads(2).build().unwrap();
    std::env::set_current_dir(root()).unwrap();
    let want = session.sql(sql).unwrap().collect().unwrap();
    // Both ways of splitting: small slices of bytes, and a number of slices.
    for split in [Split::Bytes(16 << 10), Split::Pieces(5)] {
        let (got, stages) = distributed(&session, sql, split);
        compare(&want, &got, (stages, want_stages), sql, ordered);
    }
}

fn compare(
    want: &DataFrame,
    got: &DataFrame,
    (stages, want_stages): (usize, usize),
    sql: &str,
    ordered: bool,
) {
    assert_eq!(stages, want_stages, "{sql}: stages");
    let (mut w, mut g) = (cells(want), cells(got));
    if !ordered {
        w.sort();
        g.sort();
    }
    assert_eq!(w.len(), g.len(), "{sql}: rows");
    for (a, b) in w.iter().zip(&g) {
        assert!(
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| cell_eq(x, y)),
            "{sql}: {b:?}, expected {a:?}"
        );
    }
    assert_eq!(
        want.schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect::<Vec<_>>(),
        got.schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect::<Vec<_>>(),
        "{sql}: schema"
    );
}

const S: &str = "'data/sensors/*.csv'";

#[test]
fn grouped_aggregates_merge_in_a_tree() {
    check(
        &format!(
            "SELECT sensor_id, count(*) AS n, count(humidity) AS nh, sum(temperature) AS t, \
             avg(humidity) AS h, min(pressure) AS lo, max(timestamp) AS last \
             FROM {S} GROUP BY sensor_id ORDER BY sensor_id"
        ),
        true,
        1,
    );
}

#[test]
fn global_aggregate_over_no_rows() {
    check(
        &format!("SELECT count(*) AS n, avg(temperature) AS t, sum(pressure) AS p FROM {S} WHERE temperature > 1e9"),
        true,
        1,
    );
}

#[test]
fn aggregate_over_a_broadcast_join_then_having_and_order() {
    check(
        &format!(
            "SELECT s.region, count(*) AS n, avg(r.temperature) AS t FROM {S} r \
             JOIN 'data/sites.csv' s ON r.sensor_id = s.sensor_id \
             GROUP BY s.region HAVING count(*) > 10 ORDER BY n DESC"
        ),
        true,
        1,
    );
}

#[test]
fn two_aggregates_two_stages() {
    // The scalar subquery's aggregate is cut first, then the outer one.
    check(
        &format!(
            "SELECT sensor_id, count(*) AS n FROM {S} \
             WHERE temperature > (SELECT avg(temperature) FROM {S}) GROUP BY sensor_id"
        ),
        false,
        2,
    );
}

#[test]
fn top_k_rows_stage() {
    check(
        &format!("SELECT timestamp, sensor_id, temperature FROM {S} WHERE humidity > 50 ORDER BY temperature DESC, timestamp LIMIT 7"),
        true,
        1,
    );
}

#[test]
fn aggregates_that_do_not_decompose_run_whole() {
    // count(DISTINCT) and median are not cut; the query still answers the same.
    check(
        &format!("SELECT sensor_id, count(DISTINCT humidity) AS d, median(temperature) AS m FROM {S} GROUP BY sensor_id"),
        false,
        0,
    );
}

#[test]
fn a_distinct_count_beside_decomposable_aggregates_cuts_its_inner_group_by() {
    // count(DISTINCT) beside sum runs as two group-bys: the inner one (by sensor_id and
    // humidity, with partial sums) is cut, the outer one runs on its merged result.
    check(
        &format!("SELECT sensor_id, count(DISTINCT humidity) AS d, sum(temperature) AS t, count(*) AS n FROM {S} GROUP BY sensor_id"),
        false,
        1,
    );
    check(
        &format!(
            "SELECT count(DISTINCT sensor_id) AS d, count(*) AS n FROM {S} WHERE humidity > 50"
        ),
        false,
        1,
    );
}

#[test]
fn rollup_and_filter_clause_and_left_join() {
    check(
        &format!(
            "SELECT sensor_id, hour(timestamp) AS h, count(*) AS n, \
             sum(temperature) FILTER (WHERE humidity > 55) AS t \
             FROM {S} GROUP BY ROLLUP (sensor_id, h)"
        ),
        false,
        1,
    );
    check(
        &format!(
            "SELECT s.site, count(*) AS n, max(r.pressure) AS p FROM {S} r \
             LEFT JOIN (SELECT * FROM 'data/sites.csv' WHERE region = 'north') s \
             ON r.sensor_id = s.sensor_id GROUP BY s.site"
        ),
        false,
        1,
    );
}
