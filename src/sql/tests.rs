//! SQL front end tests: in-memory tables queried end to end, values computed by hand.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::frame::DataFrame;
use crate::session::Session;

fn days(y: i32, m: u32, d: u32) -> i32 {
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (date - epoch).num_days() as i32
}

/// Table `t`, in two batches:
///
/// | id | name    | v    | k    | d          | Grp |
/// |----|---------|------|------|------------|-----|
/// | 1  | apple   | 1.5  | 10   | 2024-01-01 | x   |
/// | 2  | banana  | 2.5  | null | 2024-02-15 | y   |
/// | 3  | cherry  | 3.0  | 30   | 2024-03-10 | x   |
/// | 4  | apple   | 4.0  | 40   | 2024-01-20 | y   |
/// | 5  | avocado | null | 50   | 2024-05-05 | x   |
/// | 6  | banana  | 6.0  | 60   | 2023-12-31 | x   |
fn session() -> Session {
    let session = Session::builder().threads(2).build().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("v", DataType::Float64, true),
        Field::new("k", DataType::Int64, true),
        Field::new("d", DataType::Date32, false),
        Field::new("Grp", DataType::Utf8, false),
    ]));
    let batch = |ids: Vec<i64>,
                 names: Vec<&str>,
                 v: Vec<Option<f64>>,
                 k: Vec<Option<i64>>,
                 d: Vec<i32>,
                 g: Vec<&str>| {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(v)),
            Arc::new(Int64Array::from(k)),
            Arc::new(Date32Array::from(d)),
            Arc::new(StringArray::from(g)),
        ];
        RecordBatch::try_new(Arc::clone(&schema), cols).unwrap()
    };
    let b1 = batch(
        vec![1, 2, 3, 4],
        vec!["apple", "banana", "cherry", "apple"],
        vec![Some(1.5), Some(2.5), Some(3.0), Some(4.0)],
        vec![Some(10), None, Some(30), Some(40)],
        vec![
            days(2024, 1, 1),
            days(2024, 2, 15),
            days(2024, 3, 10),
            days(2024, 1, 20),
        ],
        vec!["x", "y", "x", "y"],
    );
    let b2 = batch(
        vec![5, 6],
        vec!["avocado", "banana"],
        vec![None, Some(6.0)],
        vec![Some(50), Some(60)],
        vec![days(2024, 5, 5), days(2023, 12, 31)],
        vec!["x", "x"],
    );
    let frame = DataFrame::new(Arc::clone(&schema), vec![b1, b2]).lazy(&session);
    session.register("t", &frame).unwrap();
    session
}

fn run(sql: &str) -> Result<DataFrame> {
    session().sql(sql)?.collect()
}

/// Every row as strings (nulls as "null"), in output order (shared by the SQL tests).
pub(super) fn rows(df: &DataFrame) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("null");
    let mut out = vec![];
    for b in df.batches() {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

fn sorted_rows(sql: &str) -> Vec<Vec<String>> {
    let df = run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut r = rows(&df);
    r.sort();
    r
}

fn expect(sql: &str, want: &[&[&str]]) {
    let want: Vec<Vec<String>> = {
        let mut w: Vec<Vec<String>> = want
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect();
        w.sort();
        w
    };
    assert_eq!(sorted_rows(sql), want, "{sql}");
}

fn names(sql: &str) -> Vec<String> {
    let df = run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    df.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn err(sql: &str) -> Error {
    match session().sql(sql).and_then(|f| f.collect()) {
        Ok(df) => panic!("{sql}: expected an error, got\n{df}"),
        Err(e) => e,
    }
}

#[test]
fn projection_with_arithmetic_and_aliases() {
    expect(
        "SELECT id, id * 2 + 1 AS x, v / 2, -id AS neg FROM t WHERE id <= 3",
        &[
            &["1", "3", "0.75", "-1"],
            &["2", "5", "1.25", "-2"],
            &["3", "7", "1.5", "-3"],
        ],
    );
    assert_eq!(
        names("SELECT id, id * 2 + 1 AS x, v / 2 FROM t WHERE false"),
        ["id", "x", "v / 2"]
    );
}

#[test]
fn star_and_case_insensitive_names() {
    assert_eq!(
        names("SELECT * FROM t LIMIT 1"),
        ["id", "name", "v", "k", "d", "Grp"]
    );
    // Identifiers match case-insensitively and keep the schema's spelling; qualifiers drop.
    expect("SELECT grp, T.ID FROM t AS T WHERE Id = 2", &[&["y", "2"]]);
    assert_eq!(names("SELECT GRP FROM t WHERE id = 2"), ["Grp"]);
}

#[test]
fn where_predicates() {
    let ids =
        |sql: &str| -> Vec<String> { sorted_rows(sql).into_iter().map(|r| r[0].clone()).collect() };
    assert_eq!(
        ids("SELECT id FROM t WHERE id BETWEEN 2 AND 4"),
        ["2", "3", "4"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE id NOT BETWEEN 2 AND 4"),
        ["1", "5", "6"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE name IN ('apple', 'cherry')"),
        ["1", "3", "4"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE v IS NOT NULL AND id NOT IN (1, 2)"),
        ["3", "4", "6"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE name LIKE 'a%'"),
        ["1", "4", "5"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE name NOT LIKE '%an%'"),
        ["1", "3", "4", "5"]
    );
    assert_eq!(ids("SELECT id FROM t WHERE name ILIKE 'A%O'"), ["5"]);
    assert_eq!(ids("SELECT id FROM t WHERE ilike(name, 'A%O')"), ["5"]);
    assert_eq!(
        ids("SELECT id FROM t WHERE like(name, 'A%O')"),
        Vec::<String>::new()
    );
    assert_eq!(ids("SELECT id FROM t WHERE k IS NULL"), ["2"]);
    assert_eq!(
        ids("SELECT id FROM t WHERE v IS NULL OR (id > 5 AND NOT grp = 'y')"),
        ["5", "6"]
    );
    assert_eq!(ids("SELECT id FROM t WHERE k % 20 = 0 AND k <> 60"), ["4"]);
}

#[test]
fn group_by_name_ordinal_alias_and_having() {
    expect(
        "SELECT name, count(*) AS n, sum(v) FROM t GROUP BY name",
        &[
            &["apple", "2", "5.5"],
            &["avocado", "1", "null"],
            &["banana", "2", "8.5"],
            &["cherry", "1", "3.0"],
        ],
    );
    assert_eq!(
        names("SELECT name, count(*), sum(v), avg(v) FROM t GROUP BY name"),
        ["name", "count(*)", "sum(v)", "avg(v)"]
    );
    expect(
        "SELECT grp, sum(id) FROM t GROUP BY 1",
        &[&["x", "15"], &["y", "6"]],
    );
    expect(
        "SELECT upper(name) AS u, count(*) AS c FROM t GROUP BY u HAVING c > 1",
        &[&["APPLE", "2"], &["BANANA", "2"]],
    );
    expect(
        "SELECT name FROM t GROUP BY name HAVING max(id) >= 4",
        &[&["apple"], &["avocado"], &["banana"]],
    );
    expect(
        "SELECT Grp, sum(id) * 10 / count(*) AS r FROM t GROUP BY GRP",
        &[&["x", "37.5"], &["y", "30.0"]],
    );
    expect(
        "SELECT year(d) AS yr, count(*) FROM t WHERE id > 1 GROUP BY yr",
        &[&["2023", "1"], &["2024", "4"]],
    );
    expect(
        "SELECT grp, count(k) FROM t GROUP BY ALL",
        &[&["x", "4"], &["y", "1"]],
    );
    // A renamed key, and an expression key repeated in the select list.
    expect(
        "SELECT grp AS g, min(id) FROM t GROUP BY grp",
        &[&["x", "1"], &["y", "2"]],
    );
    expect(
        "SELECT id % 2 AS parity, sum(k) FROM t GROUP BY id % 2",
        &[&["0", "100"], &["1", "90"]],
    );
    assert_eq!(
        names("SELECT id % 2, count(*) FROM t GROUP BY id % 2"),
        ["id % 2", "count(*)"]
    );
}

#[test]
fn global_aggregates() {
    expect(
        "SELECT count(*), count(k), sum(id), avg(v), min(name), max(d), count(DISTINCT name) FROM t",
        &[&["6", "5", "21", "3.4", "apple", "2024-05-05", "4"]],
    );
    expect(
        "SELECT max(id) - min(id) AS span FROM t WHERE grp = 'x'",
        &[&["5"]],
    );
}

#[test]
fn case_expressions() {
    expect(
        "SELECT id, CASE WHEN v > 3 THEN 'big' WHEN v IS NULL THEN 'none' ELSE 'small' END AS size, \
         CASE grp WHEN 'x' THEN 1 ELSE 0 END AS is_x FROM t",
        &[
            &["1", "small", "1"],
            &["2", "small", "0"],
            &["3", "small", "1"],
            &["4", "big", "0"],
            &["5", "none", "1"],
            &["6", "big", "1"],
        ],
    );
}

#[test]
fn casts() {
    expect(
        "SELECT CAST(id AS VARCHAR) AS s, v::INTEGER AS vi, CAST('2.5' AS DOUBLE) AS f FROM t WHERE id IN (3, 4)",
        &[&["3", "3", "2.5"], &["4", "4", "2.5"]],
    );
    let df =
        run("SELECT CAST(id AS VARCHAR) AS s, CAST(k AS DOUBLE) AS kd FROM t LIMIT 1").unwrap();
    assert_eq!(df.schema().field(0).data_type(), &DataType::Utf8);
    assert_eq!(df.schema().field(1).data_type(), &DataType::Float64);
}

#[test]
fn dates_and_functions() {
    let ids =
        |sql: &str| -> Vec<String> { sorted_rows(sql).into_iter().map(|r| r[0].clone()).collect() };
    assert_eq!(
        ids("SELECT id FROM t WHERE d >= DATE '2024-02-01'"),
        ["2", "3", "5"]
    );
    assert_eq!(ids("SELECT id FROM t WHERE d < '2024-01-15'"), ["1", "6"]);
    assert_eq!(
        ids("SELECT id FROM t WHERE EXTRACT(year FROM d) = 2023"),
        ["6"]
    );
    assert_eq!(
        ids("SELECT id FROM t WHERE month(d) = 1 AND day(d) > 1"),
        ["4"]
    );
    expect(
        "SELECT id, substring(name, 2, 3), SUBSTRING(name FROM 1 FOR 2) AS p, length(name), \
         coalesce(k, -1) AS kk FROM t WHERE id IN (1, 2)",
        &[
            &["1", "ppl", "ap", "5", "10"],
            &["2", "ana", "ba", "6", "-1"],
        ],
    );
    expect(
        "SELECT date_trunc('month', d) AS m, count(*) FROM t WHERE grp = 'y' GROUP BY 1",
        &[&["2024-01-01", "1"], &["2024-02-01", "1"]],
    );
}

#[test]
fn limit_and_offset() {
    assert_eq!(run("SELECT id FROM t LIMIT 2").unwrap().num_rows(), 2);
    assert_eq!(
        run("SELECT id FROM t LIMIT 10 OFFSET 4")
            .unwrap()
            .num_rows(),
        2
    );
    assert_eq!(
        run("SELECT id FROM t LIMIT 2 OFFSET 5").unwrap().num_rows(),
        1
    );
    assert_eq!(run("SELECT id FROM t OFFSET 3").unwrap().num_rows(), 3);
    assert_eq!(run("SELECT id FROM t LIMIT 0").unwrap().num_rows(), 0);
    let all: Vec<String> = sorted_rows("SELECT id FROM t")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for r in sorted_rows("SELECT id FROM t LIMIT 3 OFFSET 1") {
        assert!(all.contains(&r[0]));
    }
}

#[test]
fn select_without_from() {
    expect(
        "SELECT 1 + 1 AS two, 'a' AS s, DATE '2024-03-01' AS d, TIMESTAMP '2024-03-01 12:30:00' AS ts;",
        &[&["2", "a", "2024-03-01", "2024-03-01T12:30:00"]],
    );
    expect("SELECT 7 / 2, 1.5e1, -3", &[&["3.5", "15.0", "-3"]]);
}

#[test]
fn from_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("a.csv"), "g,x\na,1\nb,2\n").unwrap();
    std::fs::write(p.join("b.csv"), "g,x\na,3\n").unwrap();
    std::fs::create_dir(p.join("tsv")).unwrap();
    std::fs::write(p.join("tsv").join("c.tsv"), "g\tx\nc\t5\n").unwrap();
    std::fs::write(p.join("semi.txt"), "g;x\nd;7\n").unwrap();
    let s = session();
    let q = |sql: String| -> Vec<Vec<String>> {
        let mut r = rows(
            &s.sql(&sql)
                .and_then(|f| f.collect())
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        );
        r.sort();
        r
    };
    let d = p.display();
    assert_eq!(
        q(format!("SELECT g, sum(x) FROM '{d}/*.csv' GROUP BY g")),
        [["a", "4"], ["b", "2"]]
    );
    assert_eq!(
        q(format!("SELECT f.g, x FROM '{d}/tsv' AS f")),
        [["c", "5"]]
    );
    assert_eq!(
        q(format!(
            "SELECT * FROM read_csv('{d}/semi.txt', header = true, delim = ';')"
        )),
        [["d", "7"]]
    );
    assert_eq!(
        q(format!("SELECT count(*) FROM read_csv_auto('{d}/a.csv')")),
        [["2"]]
    );
    // The delimiter is sniffed when not given.
    assert_eq!(
        q(format!("SELECT x + 1 FROM read_csv('{d}/semi.txt')")),
        [["8"]]
    );
    let fails = |sql: String, what: &str| match s.sql(&sql).and_then(|f| f.collect()) {
        Err(e) => assert!(e.to_string().contains(what), "{sql}: {e}"),
        Ok(_) => panic!("{sql}: expected an error naming {what}"),
    };
    fails(
        format!("SELECT * FROM read_csv('{d}/a.csv', types = {{'x': 'NOTATYPE'}})"),
        "NOTATYPE",
    );
    fails(
        format!("SELECT * FROM read_csv('{d}/a.csv', names = ['p', 'q', 'r'])"),
        "names lists 3 columns",
    );
    fails(
        format!("SELECT * FROM read_csv('{d}/a.csv', types = {{'nope': 'INT'}})"),
        "nope",
    );
    fails(
        format!("SELECT * FROM read_csv('{d}/a.csv', dateformat = '%d/%m/%Y')"),
        "option dateformat",
    );
    fails(
        format!("SELECT * FROM read_csv('{d}/a.csv', columns = {{'g': 'DECIMAL(40,2)'}})"),
        "DECIMAL precision",
    );
}

#[test]
fn unsupported_constructs() {
    let not_supported = |sql: &str, what: &str| match err(sql) {
        Error::NotSupported(m) => assert!(m.contains(what), "{sql}: {m}"),
        e => panic!("{sql}: expected NotSupported({what}), got {e:?}"),
    };
    not_supported("SELECT DISTINCT ON (name) name FROM t", "DISTINCT ON");
    not_supported(
        "WITH RECURSIVE a AS (SELECT 1) SELECT * FROM a",
        "WITH RECURSIVE",
    );
    not_supported(
        "SELECT id FROM t t1 WHERE id = 1 OR EXISTS (SELECT * FROM t t2 WHERE t2.id > t1.id)",
        "subquery",
    );
    not_supported("SELECT mode(v) FROM t", "mode");
    not_supported("SELECT median(DISTINCT v) FROM t", "DISTINCT");
    not_supported(
        "SELECT corr(v, v ORDER BY v) FROM t",
        "ORDER BY inside corr",
    );
    not_supported("SELECT string_agg(name, name) FROM t", "separator");
    not_supported("SELECT TRY_CAST(name AS INTEGER) FROM t", "TRY_CAST");
    not_supported("SELECT DISTINCT ON (id) id FROM t", "DISTINCT ON");
}

#[test]
fn errors() {
    assert!(matches!(err("SELEC id FROM t"), Error::Sql(_)));
    assert!(matches!(err("SELECT id FROM t WHERE"), Error::Sql(_)));
    assert!(matches!(err("SELECT id FROM t LIMIT -1"), Error::Sql(_)));
    match err("SELECT nope FROM t") {
        Error::Plan(m) => assert!(m.contains("nope") && m.contains("available columns"), "{m}"),
        e => panic!("{e:?}"),
    }
    match err("SELECT name, sum(v) FROM t GROUP BY grp") {
        Error::Plan(m) => assert!(m.contains("GROUP BY"), "{m}"),
        e => panic!("{e:?}"),
    }
    match err("SELECT name, count(*) FROM t") {
        Error::Plan(m) => assert!(m.contains("name"), "{m}"),
        e => panic!("{e:?}"),
    }
    match err("SELECT frobnicate(id) FROM t") {
        Error::Plan(m) => assert!(m.contains("unknown function frobnicate"), "{m}"),
        e => panic!("{e:?}"),
    }
    match err("SELECT * FROM missing_table") {
        Error::Plan(m) => assert!(
            m.contains("missing_table") && m.contains("does not exist"),
            "{m}"
        ),
        e => panic!("{e:?}"),
    }
    match err("SELECT id FROM t WHERE sum(id) > 1") {
        Error::Plan(m) => assert!(m.contains("aggregate"), "{m}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(err("SELECT id FROM t GROUP BY 3"), Error::Plan(_)));
    assert!(matches!(err("SELECT id + name FROM t"), Error::Schema(_)));
    assert!(matches!(
        err("SELECT id FROM t WHERE d = DATE 'not a date'"),
        Error::Sql(_)
    ));
}

#[test]
fn derived_table_in_from() {
    let s = Session::builder().threads(2).build().unwrap();
    let df = s
        .sql("SELECT count(*) AS groups, sum(n) AS total FROM (SELECT x % 3 AS k, count(*) AS n FROM (SELECT 1 AS x) GROUP BY 1) AS t")
        .unwrap()
        .collect()
        .unwrap();
    let b = df.to_batch().unwrap();
    use arrow::array::AsArray;
    assert_eq!(
        b.column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0),
        1
    );
    assert_eq!(
        b.column(1)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0),
        1
    );
}

/// `||` is NULL when a side is; `concat` skips NULLs; both take any type as text.
#[test]
fn string_concatenation() {
    expect(
        "SELECT name || '-' || Grp FROM t WHERE id <= 2",
        &[&["apple-x"], &["banana-y"]],
    );
    expect(
        "SELECT name || k FROM t WHERE id IN (1, 2)",
        &[&["apple10"], &["null"]],
    );
    expect(
        "SELECT concat(name, k, v) FROM t WHERE id IN (2, 5)",
        &[&["banana2.5"], &["avocado50"]],
    );
    expect("SELECT concat(NULL, NULL) AS c", &[&[""]]);
}

/// `date ± n` shifts by days and `date - date` counts them, on columns as on literals.
#[test]
fn date_plus_days() {
    expect(
        "SELECT d + 1, d - 31, 1 + d FROM t WHERE id = 1",
        &[&["2024-01-02", "2023-12-01", "2024-01-02"]],
    );
    expect(
        "SELECT d - DATE '2024-01-01' FROM t WHERE id = 2",
        &[&["45"]],
    );
    expect(
        "SELECT id FROM t WHERE d + 30 > DATE '2024-05-01'",
        &[&["5"]],
    );
    expect("SELECT d + k FROM t WHERE id = 2", &[&["null"]]);
    assert!(matches!(err("SELECT d * 2 FROM t"), Error::Schema(_)));
    assert!(matches!(err("SELECT 1 - d FROM t"), Error::Schema(_)));
}

/// ROLLUP, CUBE and GROUPING SETS: one row per group of each set, the keys a set
/// leaves out NULL, `grouping()` one bit per key left out (the first the highest).
#[test]
fn grouping_sets() {
    expect(
        "SELECT grp, name, count(*), sum(id), grouping(grp, name) FROM t \
         GROUP BY ROLLUP (grp, name)",
        &[
            &["x", "apple", "1", "1", "0"],
            &["x", "cherry", "1", "3", "0"],
            &["x", "avocado", "1", "5", "0"],
            &["x", "banana", "1", "6", "0"],
            &["y", "banana", "1", "2", "0"],
            &["y", "apple", "1", "4", "0"],
            &["x", "null", "4", "15", "1"],
            &["y", "null", "2", "6", "1"],
            &["null", "null", "6", "21", "3"],
        ],
    );
    // CUBE adds the sets by name alone.
    expect(
        "SELECT name, count(*), sum(id), grouping(grp, name) FROM t \
         GROUP BY CUBE (grp, name) HAVING grouping(grp) = 1 AND grouping(name) = 0",
        &[
            &["apple", "2", "5", "2"],
            &["banana", "2", "8", "2"],
            &["cherry", "1", "3", "2"],
            &["avocado", "1", "5", "2"],
        ],
    );
    expect(
        "SELECT grp, count(*) FROM t GROUP BY GROUPING SETS ((grp), ())",
        &[&["x", "4"], &["y", "2"], &["null", "6"]],
    );
    // Aggregates read the input, not the nulled key.
    expect(
        "SELECT grp, sum(id), count(grp) FROM t GROUP BY ROLLUP (grp)",
        &[&["x", "15", "4"], &["y", "6", "2"], &["null", "21", "6"]],
    );
    // A NULL in the data and a rolled-up NULL differ by grouping().
    expect(
        "SELECT k, grouping(k), count(*) FROM t WHERE id <= 3 GROUP BY ROLLUP (k)",
        &[
            &["10", "0", "1"],
            &["null", "0", "1"],
            &["30", "0", "1"],
            &["null", "1", "3"],
        ],
    );
    // Expressions over keys, a key expression, and an item beside the ROLLUP.
    expect(
        "SELECT coalesce(grp, 'all') AS g, sum(id) FROM t GROUP BY ROLLUP (grp)",
        &[&["x", "15"], &["y", "6"], &["all", "21"]],
    );
    expect(
        "SELECT upper(name) AS u, count(*) FROM t GROUP BY ROLLUP (upper(name))",
        &[
            &["APPLE", "2"],
            &["BANANA", "2"],
            &["CHERRY", "1"],
            &["AVOCADO", "1"],
            &["null", "6"],
        ],
    );
    expect(
        "SELECT count(*) FROM (SELECT grp, name, count(*) FROM t GROUP BY grp, ROLLUP (name))",
        &[&["8"]],
    );
    expect(
        "SELECT grp, grouping(grp) FROM t GROUP BY grp",
        &[&["x", "0"], &["y", "0"]],
    );
    assert!(matches!(err("SELECT grouping(id) FROM t"), Error::Plan(_)));
    assert!(matches!(
        err("SELECT grp, grouping(name) FROM t GROUP BY ROLLUP (grp)"),
        Error::Plan(_)
    ));
}

/// What the differential fuzzer (tests/sql_fuzz.rs) found differing from DuckDB, each
/// with the answer DuckDB gives (checked by hand against DuckDB 2.0).
#[test]
fn differential_fuzzer_findings() {
    // The grand total of grouping sets over no rows is one row, as with no GROUP BY.
    expect(
        "SELECT grp, count(*), sum(id), grouping(grp) FROM t WHERE id > 100 GROUP BY ROLLUP (grp)",
        &[&["null", "0", "null", "1"]],
    );
    expect(
        "SELECT grp, name, count(id) FROM t WHERE id > 100 GROUP BY CUBE (grp, name)",
        &[&["null", "null", "0"]],
    );
    expect(
        "SELECT grp, count(*) FROM t WHERE id > 100 GROUP BY GROUPING SETS ((grp))",
        &[],
    );
    // A grouping set listed twice outputs its groups twice.
    expect(
        "SELECT grp, count(*) FROM t GROUP BY ROLLUP (grp, grp)",
        &[
            &["x", "4"],
            &["x", "4"],
            &["y", "2"],
            &["y", "2"],
            &["null", "6"],
        ],
    );
    // round() on the exact value of the double: 82.55 is 82.5499999...
    expect(
        "SELECT round(CAST(82.55 AS DOUBLE), 1), round(CAST(-82.55 AS DOUBLE), 1), \
         round(CAST(-8.255 AS DOUBLE), 2), round(CAST(2.5 AS DOUBLE)), round(CAST(1235 AS DOUBLE), -1)",
        &[&["82.5", "-82.5", "-8.26", "3.0", "1240.0"]],
    );
    // NaN is the largest value in min/max; it makes the variance NaN; one value
    // varies by 0.
    expect(
        "SELECT max(x), min(x), stddev_samp(x), var_pop(x) FILTER (WHERE x > 2) \
         FROM (VALUES (1.0), ('nan'::DOUBLE), (2.0)) v(x)",
        &[&["NaN", "1.0", "NaN", "0.0"]],
    );
    // greatest/least follow the same rule, for a negated NaN too.
    expect(
        "SELECT least(-x, 651), greatest(-x, 651), least(x, 2) FROM (VALUES ('nan'::DOUBLE)) v(x)",
        &[&["651.0", "NaN", "2.0"]],
    );
    // Floats as text, as DuckDB writes them.
    expect(
        "SELECT concat('a', 'nan'::DOUBLE, '|', 1e20, '|', 0.1, '|', 1e-5), CAST(-0.0 AS VARCHAR)",
        &[&["anan|1e+20|0.1|1e-05", "-0.0"]],
    );
    // `x NOT IN (.., NULL)` can be NULL, also as a group key.
    expect(
        "SELECT (10 NOT IN (1, 5, NULL)) AS k, count(*) FROM t GROUP BY (10 NOT IN (1, 5, NULL))",
        &[&["null", "6"]],
    );
    // NULL-safe comparisons and boolean aggregates.
    expect(
        "SELECT k IS DISTINCT FROM 10, k IS NOT DISTINCT FROM NULL, (k > 15) IS TRUE, \
         (k > 15) IS NOT FALSE FROM t WHERE id <= 3",
        &[
            &["false", "false", "false", "false"],
            &["true", "true", "false", "true"],
            &["true", "false", "true", "true"],
        ],
    );
    expect(
        "SELECT grp, bool_and(id > 1), bool_or(id > 5) FROM t GROUP BY grp",
        &[&["x", "false", "true"], &["y", "true", "false"]],
    );
    // Join keys that start with empty strings, then longer ones (the key store lost
    // count of its zero-width rows and indexed out of bounds).
    for (l, r) in [("a", "b"), ("b", "a")] {
        expect(
            &format!(
                "WITH a AS (SELECT * FROM (VALUES (''), (''), ('abc')) v(s)), \
                 b AS (SELECT * FROM (VALUES (''), ('abc'), ('zz')) v(s)) \
                 SELECT count(*) FROM {l} JOIN {r} ON {l}.s = {r}.s"
            ),
            &[&["3"]],
        );
    }
}

/// Numeric functions, values computed by hand.
#[test]
fn numeric_functions() {
    expect(
        "SELECT floor(v), ceil(v), floor(k) FROM t WHERE id = 2",
        &[&["2.0", "3.0", "null"]],
    );
    expect(
        "SELECT ceiling(-1.5), floor(-1.5), CEIL(2.1), FLOOR(k) FROM t WHERE id = 1",
        &[&["-1.0", "-2.0", "3.0", "10"]],
    );
    expect(
        "SELECT power(2, 10), ln(exp(1)), log10(1000), log2(8), ln(0), sign(-3), sign(0), sign(2.5)",
        &[&["1024.0", "1.0", "3.0", "3.0", "null", "-1", "0", "1"]],
    );
    expect(
        "SELECT greatest(1, 5, 3), least(1, 5, 3), greatest(k, 35) FROM t WHERE id IN (1, 2)",
        &[&["5", "1", "35"], &["5", "1", "35"]],
    );
    expect(
        "SELECT greatest('b', 'a', NULL), least(d, DATE '2024-01-10') FROM t WHERE id = 1",
        &[&["b", "2024-01-01"]],
    );
    assert!(matches!(err("SELECT floor('x')"), Error::Schema(_)));
}

/// String functions, values computed by hand.
#[test]
fn string_functions() {
    expect(
        "SELECT trim('  a b  '), ltrim('xxaxx', 'x'), rtrim('xxaxx', 'x'), \
         TRIM(LEADING 'x' FROM 'xxaxx'), TRIM(BOTH 'x' FROM 'xxaxx')",
        &[&["a b", "axx", "xxa", "axx", "a"]],
    );
    expect(
        "SELECT replace(name, 'an', 'AN') FROM t WHERE id = 2",
        &[&["bANANa"]],
    );
    expect(
        "SELECT lpad('7', 3, '0'), rpad('ab', 5, 'xy'), lpad('abcdef', 3, '0')",
        &[&["007", "abxyx", "abc"]],
    );
    expect(
        "SELECT split_part('a,b,,c', ',', 2), split_part('a,b,,c', ',', 3), \
         split_part('a,b', ',', 5), split_part('a,b,c', ',', -1)",
        &[&["b", "", "", "c"]],
    );
    expect(
        "SELECT strpos('banana', 'na'), strpos('banana', 'x'), position('an' IN 'banana'), \
         instr('héllo', 'l')",
        &[&["3", "0", "2", "3"]],
    );
    expect(
        "SELECT reverse('abc'), repeat('ab', 3), left('hello', 2), right('hello', 3), \
         left('hello', -2)",
        &[&["cba", "ababab", "he", "llo", "hel"]],
    );
    expect("SELECT concat_ws('-', 'a', NULL, 'b', 1)", &[&["a-b-1"]]);
    expect(
        "SELECT id FROM t WHERE regexp_matches(name, '^a.*e$')",
        &[&["1"], &["4"]],
    );
    expect(
        "SELECT regexp_replace('banana', 'a', 'o'), regexp_replace('banana', 'a', 'o', 'g'), \
         regexp_replace('abc', '(b)', '[\\1]'), regexp_extract('abc123def', '[0-9]+'), \
         regexp_extract('key=val', '(\\w+)=(\\w+)', 2), regexp_extract('abc', '[0-9]+')",
        &[&["bonana", "bonono", "a[b]c", "123", "val", ""]],
    );
    expect(
        "SELECT upper(name) FROM t WHERE id = 1 AND lpad(name, 2) = 'ap'",
        &[&["APPLE"]],
    );
    assert!(matches!(
        err("SELECT regexp_matches(name, '(') FROM t"),
        Error::Plan(_)
    ));
    assert!(matches!(
        err("SELECT lpad(name, 'x') FROM t"),
        Error::Schema(_)
    ));
}

/// The same functions through the LazyFrame API (Polars' names) give SQL's answers.
#[test]
fn api_functions_match_sql() {
    use crate::expr::{col, concat_str, lit, max_horizontal, min_horizontal};
    let s = session();
    let api = s
        .sql("SELECT id, name, v, k FROM t WHERE id <= 3")
        .and_then(|f| {
            f.select([
                col("id"),
                concat_str([col("name"), lit("-"), col("k")]).alias("c"),
                col("v").floor().alias("f"),
                col("v").pow(lit(2)).alias("p"),
                max_horizontal([col("k"), lit(20)]).alias("hi"),
                min_horizontal([col("k"), lit(20)]).alias("lo"),
                col("name").str_reverse().alias("r"),
            ])
        })
        .and_then(|f| f.collect())
        .unwrap();
    let mut got = rows(&api);
    got.sort();
    assert_eq!(
        got,
        sorted_rows(
            "SELECT id, name || '-' || k, floor(v), power(v, 2), greatest(k, 20), \
             least(k, 20), reverse(name) FROM t WHERE id <= 3"
        )
    );
    assert_eq!(
        got[0],
        ["1", "apple-10", "1.0", "2.25", "20", "10", "elppa"]
    );
}

/// Date functions, values computed by hand (2024-02-15 is a Thursday in ISO week 7).
#[test]
fn date_functions() {
    expect(
        "SELECT date_diff('day', DATE '2024-01-31', DATE '2024-03-01'), \
         date_diff('month', DATE '2024-01-31', DATE '2024-02-01'), \
         date_diff('year', DATE '2023-12-31', DATE '2024-01-01'), \
         date_diff('quarter', DATE '2024-03-31', DATE '2024-04-01'), \
         datediff('week', DATE '2024-01-01', DATE '2024-01-15')",
        &[&["30", "1", "1", "1", "2"]],
    );
    expect(
        "SELECT date_diff('day', d, DATE '2024-01-31') FROM t WHERE id = 6",
        &[&["31"]],
    );
    expect(
        "SELECT make_date(2024, 2, 29), make_date(2023, 2, 29)",
        &[&["2024-02-29", "null"]],
    );
    expect(
        "SELECT strftime(d, '%Y/%m/%d %a') FROM t WHERE id = 2",
        &[&["2024/02/15 Thu"]],
    );
    expect(
        "SELECT strptime('2024-03-05 10:20:30', '%Y-%m-%d %H:%M:%S'), strptime('x', '%Y')",
        &[&["2024-03-05T10:20:30", "null"]],
    );
    expect(
        "SELECT dayofyear(d), week(d), last_day(d), extract(doy FROM d), date_part('week', d) \
         FROM t WHERE id = 2",
        &[&["46", "7", "2024-02-29", "46", "7"]],
    );
    expect("SELECT week(DATE '2021-01-01')", &[&["53"]]);
    assert!(matches!(
        err("SELECT date_diff('fortnight', d, d) FROM t"),
        Error::NotSupported(_)
    ));
}

/// Window functions, values computed by hand (names sort apple, apple, avocado,
/// banana, banana, cherry; grp x holds ids 1, 3, 5, 6 and y ids 2, 4).
#[test]
fn window_functions() {
    expect(
        "SELECT id, row_number() OVER (PARTITION BY grp ORDER BY id) AS rn, \
         rank() OVER (ORDER BY name) AS r, dense_rank() OVER (ORDER BY name) AS dr FROM t",
        &[
            &["1", "1", "1", "1"],
            &["2", "1", "4", "3"],
            &["3", "2", "6", "4"],
            &["4", "2", "1", "1"],
            &["5", "3", "3", "2"],
            &["6", "4", "4", "3"],
        ],
    );
    expect(
        "SELECT id, sum(id) OVER (PARTITION BY grp) AS s, count(*) OVER () AS n, \
         sum(id) OVER (ORDER BY id) AS run, avg(v) OVER (PARTITION BY grp) AS a FROM t",
        &[
            &["1", "15", "6", "1", "3.5"],
            &["2", "6", "6", "3", "3.25"],
            &["3", "15", "6", "6", "3.5"],
            &["4", "6", "6", "10", "3.25"],
            &["5", "15", "6", "15", "3.5"],
            &["6", "15", "6", "21", "3.5"],
        ],
    );
    expect(
        "SELECT id, lag(id) OVER (ORDER BY id), lead(id, 2, 0) OVER (ORDER BY id) FROM t",
        &[
            &["1", "null", "3"],
            &["2", "1", "4"],
            &["3", "2", "5"],
            &["4", "3", "6"],
            &["5", "4", "0"],
            &["6", "5", "0"],
        ],
    );
    expect(
        "SELECT id, sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), \
         max(v) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t",
        &[
            &["1", "3", "1.5"],
            &["2", "6", "2.5"],
            &["3", "9", "3.0"],
            &["4", "12", "4.0"],
            &["5", "15", "4.0"],
            &["6", "11", "6.0"],
        ],
    );
    // Over an aggregate, and an aggregate of an aggregate.
    expect(
        "SELECT grp, sum(id) AS s, rank() OVER (ORDER BY sum(id) DESC) AS r, \
         sum(sum(id)) OVER () AS total FROM t GROUP BY grp",
        &[&["x", "15", "1", "21"], &["y", "6", "2", "21"]],
    );
    // The default frame with ORDER BY takes the row's peers.
    expect(
        "SELECT name, count(*) OVER (ORDER BY name) FROM t",
        &[
            &["apple", "2"],
            &["apple", "2"],
            &["avocado", "3"],
            &["banana", "5"],
            &["banana", "5"],
            &["cherry", "6"],
        ],
    );
    expect(
        "SELECT id, ntile(4) OVER (ORDER BY id), percent_rank() OVER (ORDER BY id), \
         round(cume_dist() OVER (ORDER BY name) * 6), \
         first_value(name) OVER (PARTITION BY grp ORDER BY id), \
         last_value(id) OVER (PARTITION BY grp ORDER BY id \
         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t",
        &[
            &["1", "1", "0.0", "2.0", "apple", "6"],
            &["2", "1", "0.2", "5.0", "banana", "4"],
            &["3", "2", "0.4", "6.0", "apple", "6"],
            &["4", "2", "0.6", "2.0", "banana", "4"],
            &["5", "3", "0.8", "3.0", "apple", "6"],
            &["6", "4", "1.0", "5.0", "apple", "6"],
        ],
    );
    // Top-n per group through a subquery filter.
    expect(
        "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY grp ORDER BY v DESC NULLS LAST) AS r \
         FROM t) WHERE r = 1",
        &[&["6"], &["4"]],
    );
    // The same with QUALIFY, on the call itself and on its alias; QUALIFY runs before
    // DISTINCT and ORDER BY.
    expect(
        "SELECT id FROM t QUALIFY row_number() OVER (PARTITION BY grp ORDER BY v DESC NULLS LAST) = 1",
        &[&["6"], &["4"]],
    );
    expect(
        "SELECT id, rank() OVER (ORDER BY name) AS r FROM t QUALIFY r >= 4 AND id > 2",
        &[&["3", "6"], &["6", "4"]],
    );
    expect(
        "SELECT DISTINCT grp FROM t QUALIFY count(*) OVER (PARTITION BY grp) > 2",
        &[&["x"]],
    );
    expect(
        "SELECT grp, sum(id) AS s FROM t GROUP BY grp QUALIFY rank() OVER (ORDER BY sum(id)) = 1",
        &[&["y", "6"]],
    );
    // Named windows: OVER w, and OVER (w ORDER BY ..) adding an ordering.
    expect(
        "SELECT id, sum(id) OVER w AS s, row_number() OVER (w ORDER BY id) AS rn FROM t \
         WINDOW w AS (PARTITION BY grp)",
        &[
            &["1", "15", "1"],
            &["2", "6", "1"],
            &["3", "15", "2"],
            &["4", "6", "2"],
            &["5", "15", "3"],
            &["6", "15", "4"],
        ],
    );
    assert!(matches!(
        err("SELECT sum(id) OVER nope FROM t"),
        Error::Plan(_)
    ));
    assert!(matches!(
        err("SELECT id FROM t WHERE row_number() OVER () > 1"),
        Error::NotSupported(_)
    ));
    // GROUPS over unique ids: the row's id plus the previous one (by hand).
    expect(
        "SELECT id, sum(id) OVER (ORDER BY id GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
        &[
            &["1", "1"],
            &["2", "3"],
            &["3", "5"],
            &["4", "7"],
            &["5", "9"],
            &["6", "11"],
        ],
    );
    assert!(matches!(
        err("SELECT rank(id) OVER () FROM t"),
        Error::Plan(_)
    ));
}

#[test]
fn star_options_and_filter_misuse_are_errors() {
    assert!(matches!(
        err("SELECT * EXCLUDE (nope) FROM t"),
        Error::Plan(_)
    ));
    assert!(matches!(
        err("SELECT * REPLACE (id + 1 AS nope) FROM t"),
        Error::Plan(_)
    ));
    assert!(matches!(
        err("SELECT abs(id) FILTER (WHERE id > 1) FROM t"),
        Error::Sql(_)
    ));
}

/// VALUES lists, string_agg in input order and `//`, against hand-computed values.
#[test]
fn values_string_agg_and_integer_division() {
    expect(
        "SELECT * FROM (VALUES (1, 'a'), (2.5, NULL), (NULL, 'c')) AS t(x, y)",
        &[&["1.0", "a"], &["2.5", "null"], &["null", "c"]],
    );
    expect(
        "VALUES (7 // 2, -7 // 2, 7.5 // 2)",
        &[&["3", "-3", "3.75"]],
    );
    // Without ORDER BY the values join in input order (one batch here).
    expect(
        "SELECT string_agg(s), string_agg(s, ' / ') FROM (VALUES ('p'), (NULL), ('q'), ('p')) t(s)",
        &[&["p,q,p", "p / q / p"]],
    );
    expect(
        "SELECT string_agg(s) FROM (VALUES ('p')) t(s) WHERE s = 'x'",
        &[&["null"]],
    );
    let s = session();
    let fails = |sql: &str, what: &str| match s.sql(sql).and_then(|f| f.collect()) {
        Err(e) => assert!(e.to_string().contains(what), "{sql}: {e}"),
        Ok(_) => panic!("{sql}: expected an error naming {what}"),
    };
    fails("VALUES (1, 2), (3)", "row 2 has 1 values");
    fails("VALUES (1), ('a')", "VALUES column 1 mixes");
    fails("SELECT 7 // 0", "division by zero");
    // In SQL words: the operator as written, the types as SQL names them.
    fails(
        "SELECT id // name FROM t",
        "cannot apply '//' to BIGINT and VARCHAR",
    );
    fails("SELECT mode(v) OVER () FROM t", "mode");
    fails("SELECT arg_max(name) FROM t", "arg_max() takes 2");
}
