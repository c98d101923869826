//! Plan fragments: a plan cut along one scan into slices of its input (files, Parquet
//! row groups, CSV byte windows), each shipped as bytes and run on its own. Together
//! the fragments' rows are the whole plan's rows, exactly once each.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use floe::io::FileSlice;
use floe::plan::fragment::{scans, split_scan};
use floe::plan::{plan_physical, LogicalPlan};
use floe::prelude::*;

/// (id, name) rows of a frame, sorted by id.
fn rows(df: &DataFrame) -> Vec<(i64, String)> {
    let mut out = vec![];
    for b in df.batches() {
        let id = b.column(0).as_primitive::<Int64Type>();
        let name = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((id.value(i), name.value(i).to_string()));
        }
    }
    out.sort();
    out
}

/// Runs every fragment through bytes and back, and gathers their rows.
fn run_fragments(session: &Session, fragments: &[LogicalPlan]) -> Vec<(i64, String)> {
    let mut all = vec![];
    for f in fragments {
        let shipped = LogicalPlan::from_bytes(&f.to_bytes().unwrap()).unwrap();
        let physical = plan_physical(&shipped, session.config()).unwrap();
        all.extend(rows(&session.collect(&physical).unwrap()));
    }
    all.sort();
    all
}

fn query(session: &Session, frame: &LazyFrame) -> LogicalPlan {
    let _ = session;
    frame
        .filter(col("id").rem(lit(3i64)).neq(lit(0i64)))
        .unwrap()
        .select([col("id"), col("name")])
        .unwrap()
        .optimized_plan()
        .unwrap()
}

#[test]
fn parquet_fragments_by_file_and_row_group_cover_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    // Two files of 5 row groups each, and a small third file.
    for (f, n) in [(0i64, 5000i64), (1, 5000), (2, 300)] {
        let ids: Vec<i64> = (0..n).map(|i| f * 10_000 + i).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let file = std::fs::File::create(dir.path().join(format!("part-{f}.parquet"))).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let session = Session::builder().threads(2).build().unwrap();
    let frame = session
        .scan_parquet(dir.path().to_str().unwrap(), ParquetOptions::default())
        .unwrap();
    let plan = query(&session, &frame);
    let whole = rows(&session.frame(plan.clone()).collect().unwrap());
    assert_eq!(whole.len(), 6867);
    let dataset = &scans(&plan)[0].dataset;
    // Slices of about two row groups: the large files split by row group, the small
    // file whole.
    let target = dataset.files[0].size / 3;
    let fragments = split_scan(&plan, 0, target).unwrap();
    assert!(fragments.len() >= 5, "{} fragments", fragments.len());
    let sliced = fragments
        .iter()
        .flat_map(|f| scans(f)[0].dataset.files.clone())
        .filter(|f| matches!(f.slice, Some(FileSlice::RowGroups(_))))
        .count();
    assert!(sliced >= 4, "row-group slices: {sliced}");
    assert_eq!(run_fragments(&session, &fragments), whole);
}

#[test]
fn csv_fragments_by_byte_window_cover_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "id,name").unwrap();
    let mut want: BTreeMap<i64, String> = BTreeMap::new();
    for i in 0..20_000i64 {
        // Every seventh name is quoted and holds a newline and a doubled quote, so a
        // window boundary often falls inside a quoted field.
        let name = if i % 7 == 0 {
            format!("line one {i}\nline \"\"two\"\"")
        } else {
            format!("n{i}")
        };
        if i % 7 == 0 {
            writeln!(f, "{i},\"{name}\"").unwrap();
            want.insert(i, name.replace("\"\"", "\""));
        } else {
            writeln!(f, "{i},{name}").unwrap();
            want.insert(i, name);
        }
    }
    drop(f);
    let session = Session::builder().threads(2).build().unwrap();
    let frame = session
        .scan_csv(path.to_str().unwrap(), CsvOptions::default())
        .unwrap();
    let plan = query(&session, &frame);
    let whole = rows(&session.frame(plan.clone()).collect().unwrap());
    let expected: Vec<(i64, String)> = want.into_iter().filter(|(i, _)| i % 3 != 0).collect();
    assert_eq!(whole, expected);
    for target in [1000u64, 4096, 77_777] {
        let fragments = split_scan(&plan, 0, target).unwrap();
        let size = scans(&plan)[0].dataset.files[0].size;
        assert_eq!(
            fragments.len() as u64,
            size.div_ceil(target),
            "target {target}"
        );
        assert_eq!(
            run_fragments(&session, &fragments),
            whole,
            "target {target}"
        );
    }
}

#[test]
fn a_fragment_naming_a_missing_file_fails_when_read_back_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int64Array::from(vec![1, 2]))],
    )
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let session = Session::builder().threads(1).build().unwrap();
    let plan = session
        .scan_parquet(path.to_str().unwrap(), ParquetOptions::default())
        .unwrap()
        .optimized_plan()
        .unwrap();
    let bytes = plan.to_bytes().unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = LogicalPlan::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("t.parquet"), "{err}");
    assert_eq!(
        session
            .collect(&plan_physical(&plan, session.config()).unwrap())
            .err()
            .map(|e| e.to_string().contains("t.parquet")),
        Some(true)
    );
}
