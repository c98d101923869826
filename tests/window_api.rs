//! Window expressions through the LazyFrame API (`over`, `over_ordered`, rankings,
//! `shift`, `diff`, `cum_*`, `rolling_*`, windows in `filter`), checked against
//! values computed by hand on a small frame, at an unlimited budget and with every
//! operator forced to spill; and the plan-time errors. The same calls over the
//! shipped sensor data are compared with DuckDB in `tests/golden.rs` (`api_04`..).

mod common;

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::cells;
use floe::prelude::*;

/// g, t, x: a = (1, 10) (2, NULL) (3, 30); b = (1, 5) (2, 7); rows shuffled.
fn frame(s: &Session) -> LazyFrame {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, false),
        Field::new("t", DataType::Int64, false),
        Field::new("x", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["b", "a", "a", "b", "a"])),
            Arc::new(Int64Array::from(vec![2, 3, 1, 1, 2])),
            Arc::new(Int64Array::from(vec![
                Some(7),
                Some(30),
                Some(10),
                Some(5),
                None,
            ])),
        ],
    )
    .unwrap();
    DataFrame::new(schema, vec![batch]).lazy(s)
}

fn sessions() -> Vec<(&'static str, Session)> {
    let plain = Session::builder()
        .threads(2)
        .chunk_rows(2)
        .force_spill(false)
        .build()
        .unwrap();
    let spilling = Session::builder()
        .threads(2)
        .chunk_rows(1)
        .force_spill(true)
        .build()
        .unwrap();
    vec![("unlimited", plain), ("forced spill", spilling)]
}

/// The result's rows, sorted.
fn sorted(frame: LazyFrame) -> Vec<Vec<String>> {
    let mut rows = cells(&frame.collect().unwrap());
    rows.sort();
    rows
}

fn expect(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect()
}

fn by_g_t() -> Vec<SortExpr> {
    vec![col("t").sort_asc()]
}

#[test]
fn window_expressions_match_hand_computed_values() {
    for (config, s) in sessions() {
        let got = sorted(
            frame(&s)
                .select([
                    col("g"),
                    col("t"),
                    col("x").sum().over([col("g")]).alias("sum_g"),
                    (col("x") - col("x").mean()).over([col("g")]).alias("dev"),
                    len().over([col("g")]).alias("n"),
                    col("x")
                        .shift(1)
                        .over_ordered([col("g")], by_g_t())
                        .alias("prev"),
                    col("x")
                        .shift(-1)
                        .over_ordered([col("g")], by_g_t())
                        .alias("next"),
                    col("x")
                        .diff(1)
                        .over_ordered([col("g")], by_g_t())
                        .alias("diff"),
                    col("x")
                        .cum_sum()
                        .over_ordered([col("g")], by_g_t())
                        .alias("cum"),
                    col("x")
                        .cum_max()
                        .over_ordered([col("g")], by_g_t())
                        .alias("cmax"),
                    col("x")
                        .rolling_sum(2)
                        .over_ordered([col("g")], by_g_t())
                        .alias("roll2"),
                    col("x")
                        .rolling_mean(1)
                        .over_ordered([col("g")], by_g_t())
                        .alias("roll1"),
                    rank()
                        .over_ordered([col("g")], [col("x").sort_desc()])
                        .alias("rank_x"),
                ])
                .unwrap(),
        );
        #[rustfmt::skip]
        let want = expect(&[
            //  g    t    sum_g dev    n    prev  next  diff  cum   cmax  roll2 roll1  rank_x
            &["a", "1", "40", "-10.0", "3", "",   "",   "",   "10", "10", "",   "10.0", "2"],
            &["a", "2", "40", "",      "3", "10", "30", "",   "10", "10", "",   "",     "3"],
            &["a", "3", "40", "10.0",  "3", "",   "",   "",   "40", "30", "",   "30.0", "1"],
            &["b", "1", "12", "-1.0",  "2", "",   "7",  "",   "5",  "5",  "",   "5.0",  "2"],
            &["b", "2", "12", "1.0",   "2", "5",  "",   "2",  "12", "7",  "12", "7.0",  "1"],
        ]);
        assert_eq!(got, want, "{config}");
    }
}

#[test]
fn a_window_in_filter_keeps_the_top_row_per_group() {
    for (config, s) in sessions() {
        let top = frame(&s)
            .filter(
                row_number()
                    .over_ordered([col("g")], [col("x").sort_desc()])
                    .eq(lit(1)),
            )
            .unwrap();
        assert!(
            top.explain().unwrap().contains("top 1 per partition"),
            "{config}: {}",
            top.explain().unwrap()
        );
        assert_eq!(
            top.schema().fields().len(),
            3,
            "{config}: the filter keeps the frame's columns"
        );
        assert_eq!(
            sorted(top),
            expect(&[&["a", "3", "30"], &["b", "2", "7"]]),
            "{config}"
        );
    }
}

#[test]
fn order_dependent_calls_take_the_order_of_a_sorted_frame() {
    for (config, s) in sessions() {
        let sorted_frame = frame(&s)
            .sort([col("t").sort_asc(), col("g").sort_asc()])
            .unwrap();
        // t, g order: (a,1,10) (b,1,5) (a,2,NULL) (b,2,7) (a,3,30).
        let got = sorted(
            sorted_frame
                .with_columns([col("x").cum_count().alias("cc"), row_number().alias("rn")])
                .unwrap(),
        );
        let want = expect(&[
            &["a", "1", "10", "1", "1"],
            &["a", "2", "", "2", "3"],
            &["a", "3", "30", "4", "5"],
            &["b", "1", "5", "2", "2"],
            &["b", "2", "7", "3", "4"],
        ]);
        assert_eq!(got, want, "{config}");
    }
}

#[test]
fn window_mistakes_are_plan_time_errors() {
    let s = Session::builder().build().unwrap();
    let f = frame(&s);
    let unordered = f
        .with_columns([col("x").shift(1).alias("prev")])
        .unwrap_err()
        .to_string();
    assert!(unordered.contains("depends on the order"), "{unordered}");
    let text = f
        .with_columns([col("g").sum().over([col("t")]).alias("s")])
        .unwrap_err()
        .to_string();
    assert!(text.contains("numeric"), "{text}");
    let mixed = f
        .select([col("x").sum(), col("x").sum().over([col("g")])])
        .unwrap_err()
        .to_string();
    assert!(mixed.contains("group_by"), "{mixed}");
    let in_agg = f
        .group_by([col("g")])
        .agg([col("x").sum().over([col("t")]).alias("w")]);
    assert!(in_agg.is_err(), "a window inside agg() is refused");
    let nested = f
        .with_columns([col("x").shift(1).shift(1).over_ordered([], by_g_t())])
        .unwrap_err()
        .to_string();
    assert!(nested.contains("window call inside"), "{nested}");
}

/// The holistic aggregates over windows through the API: a median and a distinct count
/// per group, a running median and a running `str_join` (hand-computed).
#[test]
fn holistic_aggregates_over_windows() {
    for (config, s) in sessions() {
        let got = sorted(
            frame(&s)
                .select([
                    col("g"),
                    col("t"),
                    col("x").median().over([col("g")]).alias("med"),
                    col("x").n_unique().over([col("g")]).alias("uniq"),
                    col("x")
                        .median()
                        .over_ordered([col("g")], by_g_t())
                        .alias("run_med"),
                    col("x")
                        .cast(DataType::Utf8)
                        .str_join("+")
                        .over_ordered([col("g")], by_g_t())
                        .alias("joined"),
                ])
                .unwrap(),
        );
        #[rustfmt::skip]
        let want = expect(&[
            //  g    t    med     uniq run_med joined
            &["a", "1", "20.0", "2", "10.0", "10"],
            &["a", "2", "20.0", "2", "10.0", "10"],
            &["a", "3", "20.0", "2", "20.0", "10+30"],
            &["b", "1", "6.0",  "2", "5.0",  "5"],
            &["b", "2", "6.0",  "2", "6.0",  "5+7"],
        ]);
        assert_eq!(got, want, "{config}");
    }
}
