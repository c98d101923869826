//! Text rendering of logical plans for `explain()`.

use std::fmt::Write;

use super::LogicalPlan;
use crate::io::FileFormat;

/// An indented tree, one node per line.
pub fn format_plan(plan: &LogicalPlan) -> String {
    let mut out = String::new();
    write_node(plan, 0, &mut out);
    out
}

fn list(items: &[impl std::fmt::Display]) -> String {
    items
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line describing a node (without its inputs).
pub fn describe(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Scan(s) => {
            let format = match s.dataset.format {
                FileFormat::Csv(_) => "csv",
                FileFormat::Json(_) => "ndjson",
                FileFormat::Parquet(_) => "parquet",
            };
            let mut line = format!(
                "Scan {format} '{}' ({} files)",
                s.dataset.location,
                s.dataset.files.len()
            );
            if let Some(p) = &s.projection {
                let _ = write!(line, " projection=[{}]", p.join(", "));
            }
            if !s.filters.is_empty() {
                let _ = write!(line, " filters=[{}]", list(&s.filters));
            }
            if let Some(l) = s.limit {
                let _ = write!(line, " limit={l}");
            }
            line
        }
        LogicalPlan::Values { batches, .. } => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            format!("Values ({rows} rows)")
        }
        LogicalPlan::Filter { predicate, .. } => format!("Filter: {predicate}"),
        LogicalPlan::Project { exprs, .. } => format!("Project: {}", list(exprs)),
        LogicalPlan::Aggregate { keys, aggs, .. } => {
            format!("Aggregate: keys=[{}] aggs=[{}]", list(keys), list(aggs))
        }
        LogicalPlan::Limit { skip, fetch, .. } => format!("Limit: skip={skip} fetch={fetch}"),
        LogicalPlan::Sort { keys, fetch, .. } => match fetch {
            Some(k) => format!("TopK: k={k} keys=[{}]", list(keys)),
            None => format!("Sort: [{}]", list(keys)),
        },
        LogicalPlan::Join {
            join_type,
            on,
            filter,
            ..
        } => {
            let mut line = if on.is_empty() {
                format!("CrossJoin: {join_type}")
            } else {
                let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                format!("Join: {join_type} on=[{}]", keys.join(", "))
            };
            if let Some(f) = filter {
                let _ = write!(line, " filter={f}");
            }
            line
        }
        LogicalPlan::Union { inputs, .. } => format!("Union: {} inputs", inputs.len()),
        LogicalPlan::Window {
            partition_by,
            order_by,
            calls,
            ..
        } => {
            let p: Vec<String> = partition_by.iter().map(|e| e.to_string()).collect();
            let o: Vec<String> = order_by.iter().map(|e| e.to_string()).collect();
            let c: Vec<String> = calls.iter().map(|c| c.to_string()).collect();
            format!(
                "Window: partition_by=[{}] order_by=[{}] [{}]",
                p.join(", "),
                o.join(", "),
                c.join(", ")
            )
        }
        LogicalPlan::Expand { projections, .. } => {
            format!("Expand: {} projections", projections.len())
        }
    }
}

fn write_node(plan: &LogicalPlan, depth: usize, out: &mut String) {
    let _ = writeln!(out, "{}{}", "  ".repeat(depth), describe(plan));
    for input in plan.inputs() {
        write_node(input, depth + 1, out);
    }
}
