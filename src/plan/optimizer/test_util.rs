//! Small hand-built plans for the optimizer rules' unit tests: in-memory tables of
//! Int64 columns, scans of tiny CSV files, and accessors that take a rewritten plan
//! apart (panicking, with the plan, when it does not have the expected shape).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use crate::io::{CsvOptions, Dataset, FileFormat};
use crate::plan::{LogicalPlan, ScanNode};

/// An in-memory table of `rows` rows with Int64 `columns` (each `0..rows`).
pub fn values(columns: &[&str], rows: usize) -> Arc<LogicalPlan> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(*c, DataType::Int64, false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|_| Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    Arc::new(LogicalPlan::Values {
        schema,
        batches: vec![batch],
    })
}

/// A scan of `dir/name.csv`, written with Int64 `columns` and three rows.
pub fn csv_scan(dir: &Path, name: &str, columns: &[&str]) -> Arc<LogicalPlan> {
    let path = dir.join(format!("{name}.csv"));
    let mut text = columns.join(",") + "\n";
    for row in 1..=3 {
        let cells: Vec<String> = columns.iter().map(|_| row.to_string()).collect();
        text += &(cells.join(",") + "\n");
    }
    std::fs::write(&path, text).unwrap();
    let format = FileFormat::Csv(CsvOptions::default());
    let ds = Dataset::try_new(path.to_str().unwrap(), format).unwrap();
    Arc::new(LogicalPlan::scan(Arc::new(ds)))
}

/// The scan `plan` is.
pub fn as_scan(plan: &LogicalPlan) -> &ScanNode {
    match plan {
        LogicalPlan::Scan(s) => s,
        other => panic!("expected a scan, got {other:?}"),
    }
}

/// The only input of `plan` (a filter, projection, aggregate, limit or sort).
pub fn child(plan: &LogicalPlan) -> &LogicalPlan {
    match plan.inputs()[..] {
        [input] => input,
        _ => panic!("expected one input, got {plan:?}"),
    }
}

/// The (left, right) inputs of the join `plan` is.
pub fn join_inputs(plan: &LogicalPlan) -> (&LogicalPlan, &LogicalPlan) {
    match plan {
        LogicalPlan::Join { left, right, .. } => (left, right),
        other => panic!("expected a join, got {other:?}"),
    }
}

/// `plan`'s output column names.
pub fn names(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}
