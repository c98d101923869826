//! Size estimates for planning decisions (which join input builds the hash table).
//!
//! Deliberately simple, DuckDB-style heuristics over what the plan knows without
//! reading data: a scan is its files' bytes, scaled by the share of columns read (CSV
//! text is about the size of its Arrow form; Parquet is compressed, so ×3); a filter
//! keeps half; an aggregate keeps a tenth, or one row without keys; a limit is at most
//! its rows; a join is its larger input, a semi or anti join half its left input. Values
//! are exact. [`bytes`] never reads what annotation measured, so the decisions it
//! feeds are the same with and without sampling. Only the comparison of two
//! estimates matters, so consistent bias is harmless.
//!
//! [`rows`] estimates a row count for join ordering: a scan, aggregate or join that
//! annotation measured (by sampling; only plans shown by `explain`) gives that;
//! otherwise a Parquet scan counts the rows in its footers (exact), a CSV scan divides
//! its bytes by the schema's row width ([`row_width`]); filters halve, limits and
//! top-k cap, in-memory values are exact, an aggregate keeps a tenth of its input's
//! rows (one without keys), a join its larger input's (a semi or anti join half its
//! left input's); anything else (a union) is [`bytes`] divided by its row width.

use crate::io::FileFormat;
use crate::memory::batch_memory_size;
use crate::plan::{LogicalPlan, ScanNode};
use arrow::datatypes::{DataType, Schema};

/// Estimated bytes per row of `schema`: 24 per string or binary column, 8 for any
/// other (numbers, dates, booleans).
pub fn row_width(schema: &Schema) -> f64 {
    let w: usize = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => 24,
            _ => 8,
        })
        .sum();
    w.max(8) as f64
}

/// Estimated rows of `plan`'s output (at least 1).
pub fn rows(plan: &LogicalPlan) -> f64 {
    let r = match plan {
        LogicalPlan::Scan(ScanNode {
            estimated_rows: Some(r),
            ..
        }) => *r,
        LogicalPlan::Scan(s) => {
            let footers: Option<i64> = s
                .dataset
                .files
                .iter()
                .map(|f| {
                    f.parquet
                        .as_ref()
                        .map(|m| m.metadata().file_metadata().num_rows())
                })
                .sum();
            let mut r = match footers {
                Some(n) => n as f64,
                None => {
                    let files: u64 = s.dataset.files.iter().map(|f| f.size).sum();
                    files as f64 / row_width(&s.dataset.schema)
                }
            };
            for _ in &s.filters {
                r /= 2.0;
            }
            if let Some(l) = s.limit {
                r = r.min(l as f64);
            }
            r
        }
        LogicalPlan::Values { batches, .. } => {
            batches.iter().map(|b| b.num_rows()).sum::<usize>() as f64
        }
        LogicalPlan::Filter { input, .. } => rows(input) / 2.0,
        LogicalPlan::Project { input, .. } | LogicalPlan::Window { input, .. } => rows(input),
        LogicalPlan::Expand {
            input, projections, ..
        } => rows(input) * projections.len() as f64,
        LogicalPlan::Limit { input, fetch, .. } => rows(input).min(*fetch as f64),
        LogicalPlan::Sort {
            input,
            fetch: Some(k),
            ..
        } => rows(input).min(*k as f64),
        LogicalPlan::Sort { input, .. } => rows(input),
        LogicalPlan::Aggregate {
            input,
            keys,
            groups,
            ..
        } => match (keys.is_empty(), groups) {
            (true, _) => 1.0,
            (false, Some(g)) => g.groups,
            (false, None) => rows(input) / 10.0,
        },
        LogicalPlan::Join {
            estimated_rows: Some(r),
            ..
        } => *r,
        LogicalPlan::Join {
            left,
            join_type: crate::plan::JoinType::Semi | crate::plan::JoinType::Anti,
            ..
        } => rows(left) / 2.0,
        // An equi-join with a side of at most one row (a scalar subquery) is an
        // equality filter on the other side.
        LogicalPlan::Join {
            left,
            right,
            on,
            join_type: crate::plan::JoinType::Inner,
            ..
        } if !on.is_empty() && rows(left).min(rows(right)) <= 1.0 => {
            rows(left).max(rows(right)) / 2.0
        }
        LogicalPlan::Join { left, right, .. } => rows(left).max(rows(right)),
        other => bytes(other) as f64 / row_width(&other.schema()),
    };
    r.max(1.0)
}

/// Estimated bytes of `plan`'s output.
pub fn bytes(plan: &LogicalPlan) -> u64 {
    match plan {
        LogicalPlan::Scan(s) => {
            let files: u64 = s.dataset.files.iter().map(|f| f.size).sum();
            let all = s.dataset.schema.fields().len().max(1) as u64;
            let read = s.schema.fields().len().max(1) as u64;
            let factor = match s.dataset.format {
                FileFormat::Csv(_) => 1,
                FileFormat::Json(_) => 1,
                FileFormat::Parquet(_) => 3,
            };
            let mut b = files * factor * read / all;
            for _ in &s.filters {
                b /= 2;
            }
            if let Some(l) = s.limit {
                b = b.min(l as u64 * 8 * read);
            }
            b
        }
        LogicalPlan::Values { batches, .. } => {
            batches.iter().map(|b| batch_memory_size(b) as u64).sum()
        }
        LogicalPlan::Filter { input, .. } => bytes(input) / 2,
        LogicalPlan::Project { input, exprs, .. } => {
            let n = input.schema().fields().len().max(1) as u64;
            bytes(input) * (exprs.len() as u64).min(n) / n
        }
        LogicalPlan::Aggregate { input, keys, .. } => {
            if keys.is_empty() {
                64
            } else {
                bytes(input) / 10
            }
        }
        LogicalPlan::Limit { input, fetch, .. } => {
            bytes(input).min(*fetch as u64 * 8 * input.schema().fields().len() as u64)
        }
        LogicalPlan::Sort {
            input,
            fetch: Some(k),
            ..
        } => bytes(input).min(*k as u64 * 8 * input.schema().fields().len() as u64),
        LogicalPlan::Sort { input, .. } => bytes(input),
        // A semi or anti join keeps some of its left rows.
        LogicalPlan::Join {
            left,
            join_type: crate::plan::JoinType::Semi | crate::plan::JoinType::Anti,
            ..
        } => bytes(left) / 2,
        LogicalPlan::Join { left, right, .. } => bytes(left).max(bytes(right)),
        LogicalPlan::Union { inputs, .. } => inputs.iter().map(|i| bytes(i)).sum(),
        LogicalPlan::Window { input, calls, .. } => {
            let n = input.schema().fields().len().max(1) as u64;
            bytes(input) * (n + calls.len() as u64) / n
        }
        LogicalPlan::Expand {
            input, projections, ..
        } => bytes(input).saturating_mul(projections.len() as u64),
    }
}
