//! SQL joins, set operations, DISTINCT, ORDER BY and quantiles, on small in-memory
//! tables with hand-computed answers. ORDER BY is checked on the plan's shape (the
//! sort operator is merged separately); `order_by_executes` runs it once it lands.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::tests::rows;
use crate::error::Error;
use crate::frame::DataFrame;
use crate::plan::explain::format_plan;
use crate::session::Session;

/// ```text
/// a: id k    x      b: id k    y      c: k  z
///    1  10   a1        10 10   1.5       10 c10
///    2  20   a2        11 20   2.5       50 c50
///    3  null a3        12 20   3.5
///    4  40   a4        13 null 4.5
///                      14 50   5.5
/// ```
fn session() -> Session {
    let s = Session::builder().threads(2).build().unwrap();
    let table = |name: &str, fields: Vec<Field>, cols: Vec<ArrayRef>| {
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols).unwrap();
        let frame = DataFrame::new(schema, vec![batch]).lazy(&s);
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
        vec![int("k", false), Field::new("z", DataType::Utf8, false)],
        vec![
            Arc::new(Int64Array::from(vec![10, 50])),
            Arc::new(StringArray::from(vec!["c10", "c50"])),
        ],
    );
    s
}

fn collect(sql: &str) -> DataFrame {
    session()
        .sql(sql)
        .and_then(|f| f.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn strings(want: &[&[&str]]) -> Vec<Vec<String>> {
    want.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// The rows of `sql`, in any order.
fn expect(sql: &str, want: &[&[&str]]) {
    let mut got = rows(&collect(sql));
    got.sort();
    let mut want = strings(want);
    want.sort();
    assert_eq!(got, want, "{sql}");
}

fn names(sql: &str) -> Vec<String> {
    let df = collect(sql);
    df.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn plan(sql: &str) -> String {
    let f = session().sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    format_plan(f.plan())
}

fn optimized(sql: &str) -> String {
    let f = session().sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    format_plan(&f.optimized_plan().unwrap())
}

fn err(sql: &str) -> Error {
    match session().sql(sql).and_then(|f| f.collect()) {
        Ok(df) => panic!("{sql}: expected an error, got\n{df}"),
        Err(e) => e,
    }
}

fn plan_err(sql: &str, needle: &str) {
    match err(sql) {
        Error::Plan(m) => assert!(m.contains(needle), "{sql}: {m}"),
        e => panic!("{sql}: expected a plan error about {needle}, got {e:?}"),
    }
}

#[test]
fn inner_and_outer_joins_on() {
    let q = |kind: &str| format!("SELECT a.id, b.id FROM a {kind} JOIN b ON a.k = b.k");
    let matched: &[&[&str]] = &[&["1", "10"], &["2", "11"], &["2", "12"]];
    expect(&q(""), matched);
    expect(&q("INNER"), matched);
    let left: &[&[&str]] = &[&["3", "null"], &["4", "null"]];
    let right: &[&[&str]] = &[&["null", "13"], &["null", "14"]];
    expect(&q("LEFT"), &[matched, left].concat());
    expect(&q("LEFT OUTER"), &[matched, left].concat());
    expect(&q("RIGHT"), &[matched, right].concat());
    expect(&q("FULL OUTER"), &[matched, left, right].concat());
    expect(&q("FULL"), &[matched, left, right].concat());
    // Two `id` columns: the second is made unique.
    assert_eq!(names(&q("")), ["id", "id_1"]);
    // NULL keys never match, on either side.
    expect("SELECT count(*) FROM a JOIN b ON a.k = b.k", &[&["3"]]);
    // The ON equality becomes a hash-join key.
    assert!(
        optimized(&q("LEFT")).contains("Join: Left on=[k = b.k]"),
        "{}",
        optimized(&q("LEFT"))
    );
}

#[test]
fn outer_join_conditions_stay_in_the_join() {
    // `b.y > 3` decides what matches; it must not filter the preserved left side.
    expect(
        "SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k AND b.y > 3",
        &[&["1", "null"], &["2", "12"], &["3", "null"], &["4", "null"]],
    );
    expect(
        "SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k AND a.id > 1",
        &[
            &["1", "null"],
            &["2", "11"],
            &["2", "12"],
            &["3", "null"],
            &["4", "null"],
        ],
    );
    // A WHERE on the outer join's result is applied after it.
    expect(
        "SELECT a.id FROM a LEFT JOIN b ON a.k = b.k WHERE b.id IS NULL",
        &[&["3"], &["4"]],
    );
}

#[test]
fn non_equi_outer_join() {
    expect(
        "SELECT a.id, c.z FROM a LEFT JOIN c ON a.k < c.k",
        &[&["1", "c50"], &["2", "c50"], &["3", "null"], &["4", "c50"]],
    );
    expect(
        "SELECT a.id, c.z FROM a FULL JOIN c ON a.k > c.k",
        &[
            &["1", "null"],
            &["2", "c10"],
            &["3", "null"],
            &["4", "c10"],
            &["null", "c50"],
        ],
    );
    expect(
        "SELECT id FROM a SEMI JOIN c ON a.k > c.k",
        &[&["2"], &["4"]],
    );
    expect(
        "SELECT id FROM a ANTI JOIN c ON a.k > c.k",
        &[&["1"], &["3"]],
    );
}

#[test]
fn using_joins() {
    expect(
        "SELECT * FROM a JOIN b USING (k)",
        &[
            &["1", "10", "a1", "10", "1.5"],
            &["2", "20", "a2", "11", "2.5"],
            &["2", "20", "a2", "12", "3.5"],
        ],
    );
    assert_eq!(
        names("SELECT * FROM a JOIN b USING (k)"),
        ["id", "k", "x", "id_1", "y"]
    );
    // FULL: the key is coalesce(a.k, b.k), still shown once.
    expect(
        "SELECT k, a.id, b.id FROM a FULL JOIN b USING (k)",
        &[
            &["10", "1", "10"],
            &["20", "2", "11"],
            &["20", "2", "12"],
            &["null", "3", "null"],
            &["40", "4", "null"],
            &["null", "null", "13"],
            &["50", "null", "14"],
        ],
    );
    assert_eq!(
        names("SELECT * FROM a FULL JOIN b USING (k)"),
        ["id", "k", "x", "id_1", "y"]
    );
    // RIGHT: the key is the right side's.
    expect(
        "SELECT k, x, y FROM a RIGHT JOIN b USING (k)",
        &[
            &["10", "a1", "1.5"],
            &["20", "a2", "2.5"],
            &["20", "a2", "3.5"],
            &["null", "null", "4.5"],
            &["50", "null", "5.5"],
        ],
    );
    // Each side's copy is still reachable qualified; `t.*` is one item's columns.
    expect(
        "SELECT c.*, a.k, a.id FROM a JOIN c USING (k)",
        &[&["10", "c10", "10", "1"]],
    );
    // Chained USING on the merged key.
    expect(
        "SELECT k, a.id, b.id, z FROM a JOIN b USING (k) JOIN c USING (k)",
        &[&["10", "1", "10", "c10"]],
    );
    plan_err("SELECT * FROM a JOIN b USING (z)", "USING column 'z'");
}

#[test]
fn comma_cross_and_three_way_joins() {
    let sql = "SELECT a.x, c.z FROM a, c WHERE a.k = c.k";
    expect(sql, &[&["a1", "c10"]]);
    let p = optimized(sql);
    assert!(p.contains("Join: Inner on=[k = c.k]"), "{p}");
    assert!(!p.contains("CrossJoin"), "{p}");
    expect(
        "SELECT a.id, c.z FROM a CROSS JOIN c WHERE a.id <= 2",
        &[&["1", "c10"], &["1", "c50"], &["2", "c10"], &["2", "c50"]],
    );
    expect(
        "SELECT a.id, b.id, c.z FROM a JOIN b ON a.k = b.k JOIN c ON b.k = c.k",
        &[&["1", "10", "c10"]],
    );
    expect(
        "SELECT b.id, z, a.x FROM b LEFT JOIN c ON b.k = c.k JOIN a ON a.k = b.k",
        &[
            &["10", "c10", "a1"],
            &["11", "null", "a2"],
            &["12", "null", "a2"],
        ],
    );
    expect(
        "SELECT a.id, b.id, c.z FROM a, b, c WHERE a.k = b.k AND b.k = c.k",
        &[&["1", "10", "c10"]],
    );
}

#[test]
fn qualified_names_aliases_and_errors() {
    // Self-join with aliases.
    expect(
        "SELECT l.id, r.id AS next FROM a AS l JOIN a r ON l.id + 1 = r.id",
        &[&["1", "2"], &["2", "3"], &["3", "4"]],
    );
    assert_eq!(
        names("SELECT l.id, r.id FROM a AS l JOIN a r ON l.id = r.id"),
        ["id", "id_1"]
    );
    // Unambiguous unqualified names need no qualifier.
    expect(
        "SELECT x, y FROM a JOIN b ON a.k = b.k WHERE y > 3",
        &[&["a2", "3.5"]],
    );
    // Derived tables on both sides.
    expect(
        "SELECT s.k, s.n, t.z FROM (SELECT k, count(*) AS n FROM b GROUP BY k) AS s \
         JOIN (SELECT * FROM c) t ON s.k = t.k",
        &[&["10", "1", "c10"], &["50", "1", "c50"]],
    );
    // GROUP BY over a join.
    expect(
        "SELECT a.x, sum(b.y) AS total FROM a JOIN b ON a.k = b.k GROUP BY a.x",
        &[&["a1", "1.5"], &["a2", "6.0"]],
    );
    plan_err("SELECT id FROM a JOIN b ON a.k = b.k", "ambiguous");
    plan_err("SELECT * FROM a JOIN b ON k = b.k", "ambiguous");
    plan_err("SELECT q.id FROM a", "'q'");
    plan_err("SELECT a.nope FROM a", "nope");
    plan_err("SELECT * FROM a JOIN a ON a.id = a.id", "more than once");
    plan_err("SELECT t.id FROM a AS s", "'t'");
}

#[test]
fn semi_and_anti_joins() {
    expect(
        "SELECT * FROM a SEMI JOIN b ON a.k = b.k",
        &[&["1", "10", "a1"], &["2", "20", "a2"]],
    );
    expect(
        "SELECT id FROM a ANTI JOIN b ON a.k = b.k",
        &[&["3"], &["4"]],
    );
    // The right side's columns are gone after a semi join.
    plan_err("SELECT b.y FROM a SEMI JOIN b ON a.k = b.k", "'b'");
}

#[test]
fn unions() {
    expect(
        "SELECT k FROM a UNION ALL SELECT k FROM c",
        &[&["10"], &["20"], &["null"], &["40"], &["10"], &["50"]],
    );
    expect(
        "SELECT k FROM a UNION SELECT k FROM b",
        &[&["10"], &["20"], &["null"], &["40"], &["50"]],
    );
    // By position, named after the first input.
    let sql = "SELECT id, x FROM a WHERE id = 1 UNION ALL SELECT k, z FROM c";
    expect(sql, &[&["1", "a1"], &["10", "c10"], &["50", "c50"]]);
    assert_eq!(names(sql), ["id", "x"]);
    let chained = "SELECT k FROM c UNION ALL SELECT k FROM c UNION ALL SELECT k FROM c";
    expect(
        chained,
        &[&["10"], &["50"], &["10"], &["50"], &["10"], &["50"]],
    );
    assert!(
        plan(chained).contains("Union: 3 inputs"),
        "{}",
        plan(chained)
    );
    // UNION ALL then UNION: distinct over all three.
    expect(
        "SELECT k FROM c UNION ALL SELECT k FROM c UNION SELECT 10",
        &[&["10"], &["50"]],
    );
    assert!(matches!(
        err("SELECT id, k FROM a UNION SELECT k FROM c"),
        Error::Schema(_)
    ));
}

#[test]
fn select_distinct() {
    expect(
        "SELECT DISTINCT k FROM b",
        &[&["10"], &["20"], &["null"], &["50"]],
    );
    expect(
        "SELECT DISTINCT a.x FROM a JOIN b ON a.k = b.k",
        &[&["a1"], &["a2"]],
    );
    expect(
        "SELECT DISTINCT count(*) AS n FROM b GROUP BY k",
        &[&["1"], &["2"]],
    );
    // SELECT DISTINCT then ORDER BY: the sort is above the distinct aggregation.
    let p = plan("SELECT DISTINCT k FROM b ORDER BY k DESC");
    assert!(
        p.starts_with("Sort: [k DESC]\n  Aggregate: keys=[k]"),
        "{p}"
    );
    plan_err("SELECT DISTINCT k FROM b ORDER BY id", "DISTINCT");
}

#[test]
fn median_and_quantiles() {
    expect(
        "SELECT median(id), quantile_cont(id, 0.25), quantile(id, 0.75) FROM a",
        &[&["2.5", "1.75", "3.25"]],
    );
    expect(
        "SELECT k, median(y) AS m FROM b GROUP BY k",
        &[
            &["10", "1.5"],
            &["20", "3.0"],
            &["null", "4.5"],
            &["50", "5.5"],
        ],
    );
    assert!(matches!(
        err("SELECT quantile_cont(id, k) FROM a"),
        Error::NotSupported(_)
    ));
    assert!(matches!(
        err("SELECT quantile_cont(id, 1.5) FROM a"),
        Error::Plan(_)
    ));
}

#[test]
fn order_by_plans() {
    // Keys over output columns: Sort right above the projection.
    let p = plan("SELECT id, k FROM a ORDER BY k DESC NULLS FIRST, id");
    assert!(
        p.starts_with("Sort: [k DESC NULLS FIRST, id ASC]\n  Project: id, k"),
        "{p}"
    );
    // Alias, ordinal, ASC NULLS LAST (the default).
    let p = plan("SELECT id AS i, x FROM a ORDER BY i DESC, 2 ASC NULLS LAST");
    assert!(p.starts_with("Sort: [i DESC, x ASC]"), "{p}");
    // An expression equal to a select item sorts by that item.
    let p = plan("SELECT id + 1 AS n FROM a ORDER BY id + 1");
    assert!(p.starts_with("Sort: [n ASC]"), "{p}");
    // A hidden key: computed, sorted by, projected away above the Limit.
    let p = plan("SELECT x FROM a ORDER BY k * 2 DESC LIMIT 2");
    let want = "Project: x\n  Limit: skip=0 fetch=2\n    Sort: [#order0 DESC]\n      Project: x, (k * 2) AS #order0";
    assert!(p.starts_with(want), "{p}");
    assert!(optimized("SELECT x FROM a ORDER BY k LIMIT 2").contains("TopK: k=2"));
    let p = plan("SELECT id FROM a ORDER BY id LIMIT 3 OFFSET 1");
    assert!(
        p.starts_with("Limit: skip=1 fetch=3\n  Sort: [id ASC]"),
        "{p}"
    );
    // GROUP BY: output columns, aggregates in the select list, or hidden aggregates.
    let p = plan("SELECT k, count(*) AS n FROM b GROUP BY k ORDER BY n DESC, k");
    assert!(p.starts_with("Sort: [n DESC, k ASC]"), "{p}");
    let p = plan("SELECT k, count(*) FROM b GROUP BY k ORDER BY count(*)");
    assert!(p.starts_with("Sort: [count(*) ASC]"), "{p}");
    let p = plan("SELECT k FROM b GROUP BY k ORDER BY sum(y) DESC");
    assert!(p.starts_with("Project: k\n  Sort: [#order0 DESC]"), "{p}");
    plan_err("SELECT k FROM b GROUP BY k ORDER BY y", "GROUP BY");
    // ORDER BY ALL, over a join, after a UNION.
    let p = plan("SELECT k, id FROM b ORDER BY ALL DESC");
    assert!(p.starts_with("Sort: [k DESC, id DESC]"), "{p}");
    let p = plan("SELECT a.id, b.id FROM a JOIN b ON a.k = b.k ORDER BY b.id");
    assert!(p.starts_with("Sort: [id_1 ASC]"), "{p}");
    let p = plan("SELECT k FROM a UNION ALL SELECT k FROM c ORDER BY 1 DESC LIMIT 2");
    assert!(
        p.starts_with("Limit: skip=0 fetch=2\n  Sort: [k DESC]\n    Union: 2 inputs"),
        "{p}"
    );
    plan_err("SELECT id FROM a ORDER BY 3", "ORDER BY position 3");
    assert!(matches!(
        err("SELECT id FROM a ORDER BY id USING <"),
        Error::NotSupported(_) | Error::Sql(_)
    ));
}

/// Executes ORDER BY; enable once the sort operator is merged into this branch.
#[test]
fn order_by_executes() {
    let ordered = |sql: &str, want: &[&[&str]]| {
        assert_eq!(rows(&collect(sql)), strings(want), "{sql}");
    };
    ordered(
        "SELECT id, k FROM a ORDER BY k",
        &[&["1", "10"], &["2", "20"], &["4", "40"], &["3", "null"]],
    );
    ordered(
        "SELECT id FROM a ORDER BY k DESC",
        &[&["4"], &["2"], &["1"], &["3"]],
    );
    ordered(
        "SELECT id FROM a ORDER BY k NULLS FIRST",
        &[&["3"], &["1"], &["2"], &["4"]],
    );
    ordered(
        "SELECT x FROM a ORDER BY k DESC LIMIT 2",
        &[&["a4"], &["a2"]],
    );
    ordered(
        "SELECT k, count(*) AS n FROM b GROUP BY k ORDER BY n DESC, k LIMIT 2",
        &[&["20", "2"], &["10", "1"]],
    );
}

#[test]
fn still_unsupported() {
    let not_supported = |sql: &str, what: &str| match err(sql) {
        Error::NotSupported(m) => assert!(m.contains(what), "{sql}: {m}"),
        e => panic!("{sql}: expected NotSupported({what}), got {e:?}"),
    };
    not_supported("SELECT * FROM a NATURAL JOIN b", "NATURAL");
    not_supported("SELECT DISTINCT ON (k) k FROM b", "DISTINCT ON");
    not_supported("SELECT k FROM a UNION BY NAME SELECT k FROM c", "BY NAME");
    not_supported(
        "SELECT * FROM a, LATERAL (SELECT * FROM c WHERE c.k = a.k)",
        "LATERAL",
    );
}

/// INTERSECT ALL keeps min(m, n) copies of a row that is m times on the left and n
/// times on the right, EXCEPT ALL max(m - n, 0); NULLs are equal. b.k is
/// {10, 20, 20, NULL, 50}, a.k {10, 20, NULL, 40}.
#[test]
fn intersect_all_and_except_all() {
    expect(
        "SELECT k FROM b INTERSECT ALL SELECT k FROM a",
        &[&["10"], &["20"], &["null"]],
    );
    expect(
        "SELECT k FROM b EXCEPT ALL SELECT k FROM a",
        &[&["20"], &["50"]],
    );
    expect(
        "SELECT k FROM b INTERSECT ALL SELECT k FROM b",
        &[&["10"], &["20"], &["20"], &["50"], &["null"]],
    );
    expect("SELECT k FROM b EXCEPT ALL SELECT k FROM b", &[]);
    expect("SELECT k FROM a EXCEPT ALL SELECT k FROM b", &[&["40"]]);
    // Several columns; names from the left input.
    expect(
        "SELECT k, k * 2 AS d FROM b INTERSECT ALL SELECT k, k + k FROM b WHERE id > 10",
        &[
            &["20", "40"],
            &["20", "40"],
            &["50", "100"],
            &["null", "null"],
        ],
    );
}

/// INTERSECT and EXCEPT keep distinct rows and treat NULLs as equal (unlike a join);
/// INTERSECT binds tighter than UNION and EXCEPT, as in the SQL standard and DuckDB.
#[test]
fn intersect_and_except() {
    expect(
        "SELECT k FROM a INTERSECT SELECT k FROM b",
        &[&["10"], &["20"], &["null"]],
    );
    expect("SELECT k FROM a EXCEPT SELECT k FROM b", &[&["40"]]);
    expect(
        "SELECT k FROM b EXCEPT SELECT k FROM c",
        &[&["20"], &["null"]],
    );
    expect(
        "SELECT k FROM b INTERSECT SELECT k FROM b",
        &[&["10"], &["20"], &["50"], &["null"]],
    );
    // (a INTERSECT b) EXCEPT c, left to right.
    expect(
        "SELECT k FROM a INTERSECT SELECT k FROM b EXCEPT SELECT k FROM c",
        &[&["20"], &["null"]],
    );
    // a EXCEPT (c INTERSECT b): INTERSECT first.
    expect(
        "SELECT k FROM a EXCEPT SELECT k FROM c INTERSECT SELECT k FROM b",
        &[&["20"], &["40"], &["null"]],
    );
    // Several columns, named after the left input, matched by position.
    let df = collect("SELECT k, id FROM a INTERSECT SELECT k, id - 9 AS j FROM b ORDER BY k");
    assert_eq!(
        names("SELECT k, id FROM a INTERSECT SELECT k, id - 9 AS j FROM b"),
        ["k", "id"]
    );
    assert_eq!(
        super::tests::rows(&df),
        strings(&[&["10", "1"], &["20", "2"]])
    );
    // EXCEPT of everything is empty; a column count mismatch is an error.
    expect("SELECT k FROM a EXCEPT SELECT k FROM a", &[]);
    assert!(matches!(
        err("SELECT k, id FROM a INTERSECT SELECT k FROM b"),
        Error::Schema(_)
    ));
}
