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

/// A session whose explain text does not depend on the machine: the estimates are
/// made for its memory limit.
fn session() -> Session {
    Session::builder()
        .threads(2)
        .memory_limit("1GiB")
        .build()
        .unwrap()
}

fn explain(sql: &str) -> String {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    session().sql(sql).unwrap().explain().unwrap()
}

/// The lines of operator `#id <prefix>...` in an explain text: its header, estimate
/// and (after a run) actual line.
fn operator_block<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            l.starts_with('#')
                && l.split_once(' ')
                    .is_some_and(|(_, rest)| rest.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no operator '{prefix}' in:\n{text}"));
    lines[start..]
        .iter()
        .take_while(|l| l.starts_with("    ") || l.starts_with('#'))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with("    "))
        .map(|(_, l)| *l)
        .collect()
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

fn sensors(s: &Session) -> LazyFrame {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    s.scan_csv("data/sensors/*.csv", CsvOptions::default())
        .unwrap()
}

/// A join whose probe feeds an aggregate and a sort: one pipeline per breaker.
fn join_sort(s: &Session) -> LazyFrame {
    let r = sensors(s);
    let peak = r
        .group_by([col("sensor_id")])
        .agg([col("temperature").max().alias("t_max")])
        .unwrap();
    r.join(
        &peak,
        [col("sensor_id")],
        [col("sensor_id")],
        JoinType::Inner,
    )
    .unwrap()
    .group_by([col("sensor_id"), col("t_max")])
    .agg([len().alias("n"), col("humidity").median().alias("h_med")])
    .unwrap()
    .sort([col("t_max").sort_desc(), col("sensor_id").sort_asc()])
    .unwrap()
}

#[test]
fn join_aggregate_sort_pipelines_are_marked() {
    let s = session();
    check("join_sort", &join_sort(&s).explain().unwrap());
    let top = sensors(&s)
        .top_k(3, [col("temperature").sort_desc()])
        .unwrap()
        .explain()
        .unwrap();
    check("topk", &top);
}

#[test]
fn explain_analyze_shows_spills_of_join_and_sort() {
    let dir = tempfile::tempdir().unwrap();
    let s = Session::builder()
        .threads(2)
        .force_spill(true)
        .memory_limit_bytes(4 << 20)
        .spill_dir(dir.path())
        .build()
        .unwrap();
    let text = join_sort(&s).explain_analyze().unwrap();
    // The join ran as a grace hash join and says how much it spilled, beside what the
    // plan estimated.
    let join = operator_block(&text, "HashJoin: Inner");
    assert_eq!(join.len(), 3, "{join:?}");
    assert!(join[1].starts_with("    estimate: rows ~"), "{join:?}");
    assert!(join[2].starts_with("    actual:   rows "), "{join:?}");
    assert!(join[2].contains("hybrid grace"), "{join:?}");
    assert!(
        join[2].contains("spilled") && join[2].contains("files)"),
        "{join:?}"
    );
    let sort = operator_block(&text, "ExternalSort:");
    assert!(sort[2].contains("spilled"), "{sort:?}\n{text}");
    assert!(
        text.contains("total: ") && !text.contains("spilled 0 B in 0 files"),
        "{text}"
    );
}

/// The DOT and SVG pictures draw the same plan object: one node per operator, one
/// edge per input, the join's edges named build and probe, breakers double-bordered;
/// after a run, the actuals are in the nodes too.
#[test]
fn dot_and_svg_draw_every_operator_and_edge() {
    use floe::exec::render::ExplainFormat;
    use floe::exec::OperatorKind;
    let s = session();
    let frame = join_sort(&s);
    let plan = frame.physical_plan().unwrap();
    let edges: usize = plan.operators.iter().map(|o| o.inputs.len()).sum();
    let breakers = plan
        .operators
        .iter()
        .filter(|o| {
            matches!(
                o.kind,
                OperatorKind::HashAggregate(_)
                    | OperatorKind::Sort { .. }
                    | OperatorKind::TopK { .. }
                    | OperatorKind::Limit { .. }
                    | OperatorKind::HashJoin(_)
                    | OperatorKind::Materialize { .. }
            )
        })
        .count();
    assert!(breakers >= 4, "{breakers}");

    let dot = frame.explain_as(ExplainFormat::Dot, false).unwrap();
    assert!(dot.starts_with("digraph floe {") && dot.trim_end().ends_with('}'));
    for o in &plan.operators {
        assert!(
            dot.contains(&format!("  op{} [label=\"#{} ", o.id, o.id)),
            "{dot}"
        );
    }
    assert_eq!(dot.matches(" -> op").count(), edges, "{dot}");
    assert_eq!(dot.matches("peripheries=2").count(), breakers, "{dot}");
    assert!(
        dot.contains("[label=\"build") && dot.contains("[label=\"probe"),
        "{dot}"
    );
    assert!(
        dot.contains("est: rows ~") && !dot.contains("actual:"),
        "{dot}"
    );

    let svg = frame.explain_as(ExplainFormat::Svg, false).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<line ").count(), edges);
    assert_eq!(
        svg.matches("<rect x=").count(),
        plan.operators.len() + breakers,
        "a box per operator and an inner border per breaker"
    );
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    // Label text is escaped: no raw '<' inside a text element.
    for t in svg.split("<text").skip(1) {
        let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
        assert!(!body.contains('<'), "{body}");
    }

    let analyzed = frame.explain_as(ExplainFormat::Dot, true).unwrap();
    assert!(analyzed.contains("actual: rows"), "{analyzed}");
}
