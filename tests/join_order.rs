//! Join ordering by estimated cardinality, on hand-made in-memory tables shaped like
//! TPC-H Q5: a cycle `supp.s_nk = cust.c_nk` (5 distinct values) closes the chain
//! `li → ord → cust`, and `cust` is smaller than `ord`.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use floe::plan::LogicalPlan;
use floe::prelude::*;

/// A column: its name and its value at row i.
type Column<'a> = (&'a str, fn(i64) -> i64);

/// An in-memory table of `n` rows whose columns are `f(i)` for row i.
fn table(s: &Session, name: &str, n: i64, cols: &[Column]) {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(c, _)| Field::new(*c, DataType::Int64, false))
            .collect::<Vec<_>>(),
    ));
    let arrays = cols
        .iter()
        .map(|(_, f)| Arc::new(Int64Array::from_iter_values((0..n).map(f))) as _)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    let frame = DataFrame::new(schema, vec![batch]).lazy(s);
    s.register(name, &frame).unwrap();
}

fn session() -> Session {
    let s = Session::builder().threads(2).build().unwrap();
    table(
        &s,
        "li",
        12000,
        &[("l_ok", |i| i % 3000), ("l_sk", |i| i % 100)],
    );
    table(&s, "ord", 3000, &[("o_ok", |i| i), ("o_ck", |i| i % 1000)]);
    table(&s, "cust", 1000, &[("c_ck", |i| i), ("c_nk", |i| i % 5)]);
    table(&s, "supp", 100, &[("s_sk", |i| i), ("s_nk", |i| i % 5)]);
    table(&s, "nat", 5, &[("n_nk", |i| i)]);
    s
}

/// The tables of the left-deep join region under `plan`, probe side first, each by
/// the prefix of its first column (`l`, `o`, …).
fn join_order(plan: &LogicalPlan) -> Vec<String> {
    fn leaf(plan: &LogicalPlan) -> String {
        let name = plan.schema().field(0).name().clone();
        name.split('_').next().unwrap().to_string()
    }
    fn spine(plan: &LogicalPlan, out: &mut Vec<String>) {
        match plan {
            LogicalPlan::Join { left, right, .. } => {
                spine(left, out);
                out.push(leaf(right));
            }
            other => out.push(leaf(other)),
        }
    }
    let mut p = plan;
    while !matches!(p, LogicalPlan::Join { .. }) {
        p = p.inputs()[0];
    }
    let mut out = vec![];
    spine(p, &mut out);
    out
}

const Q5_LIKE: &str = "SELECT count(*) AS n FROM li, ord, cust, supp, nat \
     WHERE l_ok = o_ok AND o_ck = c_ck AND l_sk = s_sk AND c_nk = s_nk AND s_nk = n_nk";

#[test]
fn cycle_takes_the_key_edge_before_the_low_ndv_edge() {
    let s = session();
    let q = s.sql(Q5_LIKE).unwrap();
    let order = join_order(&q.optimized_plan().unwrap());
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(
        order[0], "l",
        "the largest input is the probe stream: {order:?}"
    );
    let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
    // `cust` joins on its key `c_ck` after `ord`, not on `c_nk = s_nk` before it.
    assert!(pos("o") < pos("c"), "{order:?}\n{}", q.explain().unwrap());
    // explain shows the same order as runs.
    let text = q.explain().unwrap();
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap();
    assert!(line("c_ck") < line("o_ok"), "{text}");
    // And the answer is right: every `li` row matches exactly one row of each table.
    let df = q.collect().unwrap();
    assert_eq!(
        df.column("n")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        12000
    );
}

/// TPC-H Q7's shape: an OR over two copies of a dimension, `(n1 = a AND n2 = b) OR
/// (n1 = b AND n2 = a)`, implies `n1 IN (a, b)` and `n2 IN (a, b)`, which must reach
/// each copy below the joins (the OR itself stays on the join).
#[test]
fn disjunction_over_two_tables_filters_each_below_the_join() {
    let s = session();
    let q = s
        .sql(
            "SELECT count(*) AS n FROM supp, cust, nat n1, nat n2 \
             WHERE s_nk = n1.n_nk AND c_nk = n2.n_nk \
             AND ((n1.n_nk = 1 AND n2.n_nk = 2) OR (n1.n_nk = 2 AND n2.n_nk = 1))",
        )
        .unwrap();
    let text = q.explain().unwrap();
    let implied = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("Filter:") && l.contains(" OR ") && !l.contains(" AND ")
        })
        .count();
    assert_eq!(implied, 2, "{text}");
    // 20 suppliers and 200 customers per nation key; two ordered pairs qualify.
    let df = q.collect().unwrap();
    let n = df.column("n").unwrap();
    let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(n.value(0), 2 * 20 * 200, "{text}");
}

/// TPC-H Q3's shape: `cust` (filtered) links only to `ord` and cuts it to a fifth, so
/// it folds into `ord` as a bushy subtree below the `li` join, instead of `li ⋈ ord`
/// carrying every order first.
#[test]
fn filtering_satellite_joins_its_partner_first() {
    let s = session();
    table(&s, "seg", 1000, &[("g_ck", |i| i), ("g_seg", |i| i % 5)]);
    let q = s
        .sql(
            "SELECT count(*) AS n FROM li, ord, seg \
             WHERE l_ok = o_ok AND o_ck = g_ck AND g_seg = 1",
        )
        .unwrap();
    let text = q.explain().unwrap();
    let depth = |needle: &str| {
        let line = text.lines().find(|l| l.contains(needle)).unwrap();
        line.len() - line.trim_start().len()
    };
    assert!(
        depth("o_ck = g_ck") > depth("l_ok = o_ok"),
        "the satellite join sits under the stream's join:\n{text}"
    );
    // 200 customers have g_seg = 1, 600 orders belong to them, 4 line items each.
    let df = q.collect().unwrap();
    let n = df.column("n").unwrap();
    let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(n.value(0), 2400, "{text}");
}

/// TPC-H Q17's shape: a correlated `avg` per part, decorrelated into an aggregate
/// grouped by part and joined back. Only the selected parts' groups matter, so the
/// aggregate's input is first semi-joined with the selected part keys (`#keyset`);
/// the answer must equal a naive per-row evaluation.
#[test]
fn correlated_aggregate_reads_only_the_outer_keys() {
    let s = Session::builder().threads(2).build().unwrap();
    let pk: fn(i64) -> i64 = |i| i % 100;
    let v: fn(i64) -> i64 = |i| i * 37 % 11;
    table(&s, "items", 1200, &[("i_pk", pk), ("i_v", v)]);
    table(&s, "parts", 100, &[("p_pk", |i| i), ("p_sel", |i| i % 10)]);
    let q = s
        .sql(
            "SELECT count(*) AS n FROM items, parts \
             WHERE i_pk = p_pk AND p_sel = 1 \
             AND i_v < (SELECT avg(i2.i_v) FROM items i2 WHERE i2.i_pk = p_pk)",
        )
        .unwrap();
    let text = q.explain().unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("Join: Semi") && l.contains("#keyset")),
        "{text}"
    );
    // Naive: for each selected part, the items of that part below its average.
    let mut expected = 0;
    for p in (0..100).filter(|p| p % 10 == 1) {
        let vs: Vec<i64> = (0..1200).filter(|&i| pk(i) == p).map(v).collect();
        let avg = vs.iter().sum::<i64>() as f64 / vs.len() as f64;
        expected += vs.iter().filter(|&&x| (x as f64) < avg).count() as i64;
    }
    let df = q.collect().unwrap();
    let n = df.column("n").unwrap();
    let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(n.value(0), expected, "{text}");
}
