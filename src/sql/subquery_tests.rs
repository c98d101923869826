//! Subqueries and CTEs on small in-memory tables with hand-computed answers: NULLs on
//! either side of [NOT] IN, correlated [NOT] EXISTS, scalar subqueries (correlated,
//! uncorrelated, in HAVING, the COUNT bug), CTEs, and what is declined.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Error;
use crate::frame::DataFrame;
use crate::session::Session;

/// ```text
/// a: id k    x      b: id k    y      c: k     e: k (no rows)
///    1  10   a1        10 10   1.5       10
///    2  20   a2        11 20   2.5       50
///    3  null a3        12 20   3.5
///    4  40   a4        13 null 4.5
///                      14 50   5.5
/// ```
fn session() -> Session {
    let s = Session::builder().threads(2).build().unwrap();
    let table = |name: &str, fields: Vec<Field>, cols: Vec<ArrayRef>| {
        let schema = Arc::new(Schema::new(fields));
        let batches = if cols[0].is_empty() {
            vec![]
        } else {
            vec![RecordBatch::try_new(Arc::clone(&schema), cols).unwrap()]
        };
        let frame = DataFrame::new(schema, batches).lazy(&s);
        s.register(name, &frame).unwrap();
    };
    let int = |n: &str, nullable| Field::new(n, DataType::Int64, nullable);
    table(
        "a",
        vec![
            int("id", false),
            int("k", true),
            Field::new("x", DataType::Utf8, false),
        ],
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(Int64Array::from(vec![Some(10), Some(20), None, Some(40)])),
            Arc::new(StringArray::from(vec!["a1", "a2", "a3", "a4"])),
        ],
    );
    table(
        "b",
        vec![
            int("id", false),
            int("k", true),
            Field::new("y", DataType::Float64, false),
        ],
        vec![
            Arc::new(Int64Array::from(vec![10, 11, 12, 13, 14])),
            Arc::new(Int64Array::from(vec![
                Some(10),
                Some(20),
                Some(20),
                None,
                Some(50),
            ])),
            Arc::new(Float64Array::from(vec![1.5, 2.5, 3.5, 4.5, 5.5])),
        ],
    );
    table(
        "c",
        vec![int("k", false)],
        vec![Arc::new(Int64Array::from(vec![10, 50]))],
    );
    table(
        "e",
        vec![int("k", true)],
        vec![Arc::new(Int64Array::from(Vec::<i64>::new()))],
    );
    s
}

fn rows(sql: &str) -> Vec<Vec<String>> {
    let df = session()
        .sql(sql)
        .and_then(|f| f.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = super::tests::rows(&df);
    out.sort();
    out
}

fn expect(sql: &str, want: &[&[&str]]) {
    let mut want: Vec<Vec<String>> = want
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    want.sort();
    assert_eq!(rows(sql), want, "{sql}");
}

fn not_supported(sql: &str) {
    match session().sql(sql).and_then(|f| f.collect()) {
        Err(Error::NotSupported(_)) => {}
        other => panic!("{sql}: expected NotSupported, got {other:?}"),
    }
}

#[test]
fn in_subquery() {
    // a.k NULL never matches.
    expect(
        "SELECT id FROM a WHERE k IN (SELECT k FROM b)",
        &[&["1"], &["2"]],
    );
    expect(
        "SELECT id FROM a WHERE k IN (SELECT k FROM b WHERE k IN (SELECT k FROM c))",
        &[&["1"]],
    );
    expect(
        "SELECT id FROM a WHERE NOT (k IN (SELECT k + 10 FROM c)) AND id > 1",
        &[&["4"]],
    );
}

#[test]
fn not_in_follows_null_semantics() {
    // The subquery holds a NULL: no row passes.
    expect("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b)", &[]);
    // No NULL in the subquery: a NULL x still fails.
    expect(
        "SELECT id FROM a WHERE k NOT IN (SELECT k FROM c)",
        &[&["2"], &["4"]],
    );
    // An empty subquery: every row passes, a NULL x too.
    let all: &[&[&str]] = &[&["1"], &["2"], &["3"], &["4"]];
    expect("SELECT id FROM a WHERE k NOT IN (SELECT k FROM e)", all);
    expect(
        "SELECT id FROM a WHERE k NOT IN (SELECT k FROM b WHERE y > 100)",
        all,
    );
    // Correlated: per outer row, over the rows with b.k = a.k.
    expect(
        "SELECT id FROM a WHERE id NOT IN (SELECT b.id - 9 FROM b WHERE b.k = a.k)",
        &[&["3"], &["4"]],
    );
}

#[test]
fn exists_and_not_exists() {
    expect(
        "SELECT id FROM a WHERE EXISTS (SELECT * FROM b WHERE b.k = a.k AND b.y > 2)",
        &[&["2"]],
    );
    expect(
        "SELECT id FROM a WHERE NOT EXISTS (SELECT * FROM b WHERE b.k = a.k)",
        &[&["3"], &["4"]],
    );
    // A non-equi correlation predicate stays in the join's filter.
    expect(
        "SELECT id FROM a WHERE EXISTS (SELECT * FROM b WHERE b.k = a.k AND b.id <> a.id + 9)",
        &[&["2"]],
    );
    // Uncorrelated.
    let all: &[&[&str]] = &[&["1"], &["2"], &["3"], &["4"]];
    expect(
        "SELECT id FROM a WHERE EXISTS (SELECT * FROM c WHERE k > 40)",
        all,
    );
    expect(
        "SELECT id FROM a WHERE NOT EXISTS (SELECT * FROM c WHERE k > 40)",
        &[],
    );
    expect("SELECT id FROM a WHERE EXISTS (SELECT * FROM e)", &[]);
    expect("SELECT id FROM a WHERE NOT EXISTS (SELECT k FROM e)", all);
}

#[test]
fn scalar_subqueries() {
    // Uncorrelated: avg(y) = 3.5; the inner `b` shadows the outer one.
    expect(
        "SELECT id FROM b WHERE y > (SELECT avg(y) FROM b)",
        &[&["13"], &["14"]],
    );
    expect(
        "SELECT id FROM b WHERE y * 2 >= 2 * (SELECT max(y) FROM b) - 2",
        &[&["13"], &["14"]],
    );
    // Correlated on equality: sum(y) per k is 1.5 (k 10) and 6.0 (k 20).
    expect(
        "SELECT id, x FROM a WHERE (SELECT sum(y) FROM b WHERE b.k = a.k) > 3",
        &[&["2", "a2"]],
    );
    expect(
        "SELECT id FROM a WHERE k * 0.1 < (SELECT 0.5 * sum(y) FROM b WHERE k = a.k)",
        &[&["2"]],
    );
    // The COUNT bug: count over no rows is 0, not NULL.
    expect(
        "SELECT id FROM a WHERE (SELECT count(*) FROM b WHERE b.k = a.k) = 0",
        &[&["3"], &["4"]],
    );
    expect(
        "SELECT id FROM a WHERE (SELECT count(*) FROM b WHERE b.k = a.k) = 2",
        &[&["2"]],
    );
}

#[test]
fn having_with_scalar_subquery() {
    expect(
        "SELECT k, sum(y) AS t FROM b GROUP BY k HAVING sum(y) > (SELECT avg(y) FROM b)",
        &[&["20", "6.0"], &["null", "4.5"], &["50", "5.5"]],
    );
}

#[test]
fn ctes() {
    let sums = "WITH s AS (SELECT k, sum(y) AS t FROM b WHERE k IS NOT NULL GROUP BY k) ";
    // Used twice: in FROM and in a subquery.
    expect(
        &format!("{sums} SELECT k, t FROM s WHERE t = (SELECT max(t) FROM s)"),
        &[&["20", "6.0"]],
    );
    expect(
        &format!("{sums}, u AS (SELECT * FROM s WHERE t > 2) SELECT count(*) FROM u"),
        &[&["2"]],
    );
    expect(
        "WITH s(kk, n) AS (SELECT k, count(*) FROM b GROUP BY k) \
         SELECT kk FROM s WHERE n > 1",
        &[&["20"]],
    );
    // A CTE shadows a table, also inside a derived table.
    expect(
        "WITH a AS (SELECT 7 AS id) SELECT id FROM (SELECT id FROM a) AS d",
        &[&["7"]],
    );
    not_supported("WITH RECURSIVE r AS (SELECT 1 AS n) SELECT n FROM r");
}

#[test]
fn misplaced_subqueries_are_not_supported() {
    not_supported("SELECT count(*), (SELECT max(k) FROM c) FROM a");
    not_supported("SELECT id FROM a WHERE id = 1 OR EXISTS (SELECT * FROM b WHERE b.k > a.k)");
    // Correlation the plan cannot decorrelate.
    not_supported("SELECT id FROM a WHERE id > (SELECT y FROM b WHERE b.k = a.k)");
    not_supported("SELECT id FROM a WHERE 1 < (SELECT sum(y) FROM b WHERE b.k > a.k)");
}

/// Correlated aggregate scalar subqueries in the select list and under OR are
/// left-joined on their correlation columns: NULL where no inner row matches (0 for a
/// count), never a dropped or repeated outer row.
#[test]
fn correlated_scalar_subqueries_in_the_select_list_and_under_or() {
    expect(
        "SELECT id, (SELECT max(y) FROM b WHERE b.k = a.k) FROM a",
        &[&["1", "1.5"], &["2", "3.5"], &["3", "null"], &["4", "null"]],
    );
    expect(
        "SELECT id, (SELECT count(*) FROM b WHERE b.k = a.k) AS n FROM a",
        &[&["1", "1"], &["2", "2"], &["3", "0"], &["4", "0"]],
    );
    expect(
        "SELECT id FROM a WHERE id = 1 OR id > (SELECT max(y) FROM b WHERE b.k = a.k)",
        &[&["1"]],
    );
    expect(
        "SELECT id FROM a WHERE id = 4 OR 1 < (SELECT count(*) FROM b WHERE b.k = a.k)",
        &[&["2"], &["4"]],
    );
}

/// An uncorrelated scalar subquery that is not an aggregate: its one row, NULL for no
/// rows, and an error at run time for several (DuckDB's rule).
#[test]
fn scalar_subqueries_of_any_row_count() {
    expect(
        "SELECT id FROM a WHERE k = (SELECT k FROM c WHERE k < 20)",
        &[&["1"]],
    );
    expect(
        "SELECT id FROM a WHERE k = (SELECT DISTINCT k FROM b WHERE id BETWEEN 11 AND 12)",
        &[&["2"]],
    );
    expect("SELECT id FROM a WHERE k = (SELECT k FROM e)", &[]);
    expect(
        "SELECT id FROM a WHERE k BETWEEN (SELECT min(k) FROM c) + 5 AND (SELECT k FROM c WHERE k < 20) * 3",
        &[&["2"]],
    );
    expect(
        "SELECT id FROM a WHERE k + 10 <= (SELECT k FROM c ORDER BY k LIMIT 1) + 10",
        &[&["1"]],
    );
    let several = session()
        .sql("SELECT id FROM a WHERE k = (SELECT k FROM c)")
        .and_then(|f| f.collect());
    match several {
        Err(Error::InvalidInput(m)) => assert!(m.contains("more than one row"), "{m}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// Uncorrelated scalar subqueries in the select list, also inside CASE and beside
/// GROUP BY (a constant key).
#[test]
fn scalar_subqueries_in_the_select_list() {
    expect(
        "SELECT id, (SELECT max(y) FROM b) AS m FROM a WHERE id <= 2",
        &[&["1", "5.5"], &["2", "5.5"]],
    );
    expect(
        "SELECT id, CASE WHEN (SELECT count(*) FROM b) > 3 THEN (SELECT min(y) FROM b) \
         ELSE 0 END AS c FROM a WHERE id <= 2",
        &[&["1", "1.5"], &["2", "1.5"]],
    );
    expect(
        "SELECT k, count(*) * (SELECT count(*) FROM c) AS n FROM b GROUP BY k",
        &[&["10", "2"], &["20", "4"], &["null", "2"], &["50", "2"]],
    );
    expect(
        "SELECT id, (SELECT k FROM e) AS v FROM a WHERE id = 1",
        &[&["1", "null"]],
    );
    let several = session()
        .sql("SELECT id, (SELECT k FROM c) FROM a")
        .and_then(|f| f.collect());
    assert!(
        matches!(several, Err(Error::InvalidInput(_))),
        "{several:?}"
    );
}

/// EXISTS and IN (subquery) under OR, NOT and CASE and in the select list, as marks:
/// SQL's three-valued IN (NULL left, NULL in the subquery, empty subquery), correlated
/// marks, and scalar subqueries under OR.
#[test]
fn subqueries_inside_expressions() {
    // b.k = {10, 20, 20, NULL, 50}: 10 and 20 match, NULL and 40 are unknown.
    expect(
        "SELECT id FROM a WHERE id = 1 OR k IN (SELECT k FROM b)",
        &[&["1"], &["2"]],
    );
    expect(
        "SELECT id, k IN (SELECT k FROM b) AS m FROM a",
        &[
            &["1", "true"],
            &["2", "true"],
            &["3", "null"],
            &["4", "null"],
        ],
    );
    // c.k = {10, 50}, no NULL: only a NULL left side is unknown.
    expect(
        "SELECT id, k IN (SELECT k FROM c) AS m FROM a",
        &[
            &["1", "true"],
            &["2", "false"],
            &["3", "null"],
            &["4", "false"],
        ],
    );
    // An empty subquery: false even for NULL.
    expect(
        "SELECT id, k NOT IN (SELECT k FROM e) AS m FROM a WHERE id >= 3",
        &[&["3", "true"], &["4", "true"]],
    );
    expect(
        "SELECT id FROM a WHERE id = 4 OR NOT (k IN (SELECT k FROM c))",
        &[&["2"], &["4"]],
    );
    // Correlated.
    expect(
        "SELECT id FROM a WHERE id = 4 OR EXISTS (SELECT * FROM b WHERE b.k = a.k AND b.y > 2)",
        &[&["2"], &["4"]],
    );
    expect(
        "SELECT id FROM a WHERE id = 1 OR NOT EXISTS (SELECT * FROM b WHERE b.k = a.k)",
        &[&["1"], &["3"], &["4"]],
    );
    expect(
        "SELECT id, k IN (SELECT b.k FROM b WHERE b.id = a.id + 10) AS m FROM a",
        &[
            &["1", "false"],
            &["2", "true"],
            &["3", "null"],
            &["4", "false"],
        ],
    );
    expect(
        "SELECT id, CASE WHEN EXISTS (SELECT * FROM c WHERE c.k = a.k) THEN 'y' ELSE 'n' END \
         AS f FROM a",
        &[&["1", "y"], &["2", "n"], &["3", "n"], &["4", "n"]],
    );
    expect(
        "SELECT id FROM a WHERE CASE WHEN EXISTS (SELECT * FROM e) THEN true ELSE id < 3 END",
        &[&["1"], &["2"]],
    );
    // An uncorrelated scalar subquery under OR.
    expect(
        "SELECT id FROM a WHERE id = 4 OR id < (SELECT count(*) FROM c)",
        &[&["1"], &["4"]],
    );
    // A correlation repeated in every branch of an OR comes out of it (TPC-DS q41).
    expect(
        "SELECT id FROM a WHERE (SELECT count(*) FROM b WHERE (b.k = a.k AND b.y < 2) \
         OR (b.k = a.k AND b.y > 5)) > 0",
        &[&["1"]],
    );
}
