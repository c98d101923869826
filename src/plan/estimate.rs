//! Size estimates for planning decisions (which join input builds the hash table).
//!
//! Deliberately simple, DuckDB-style heuristics over what the plan knows without
//! reading data: a scan is its files' bytes, scaled by the share of columns read (CSV
//! text is about the size of its Arrow form; Parquet is compressed, so ×3); a filter
//! keeps half; an aggregate keeps a tenth, or one row without keys; a limit is at most
//! its rows; a join is its larger input, a semi or anti join half its left input. Values are exact. Only the comparison of two
//! estimates matters, so consistent bias is harmless.

use crate::io::FileFormat;
use crate::memory::batch_memory_size;
use crate::plan::LogicalPlan;

/// Estimated bytes of `plan`'s output.
pub fn bytes(plan: &LogicalPlan) -> u64 {
    match plan {
        LogicalPlan::Scan(s) => {
            let files: u64 = s.dataset.files.iter().map(|f| f.size).sum();
            let all = s.dataset.schema.fields().len().max(1) as u64;
            let read = s.schema.fields().len().max(1) as u64;
            let factor = match s.dataset.format {
                FileFormat::Csv(_) => 1,
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
        LogicalPlan::Sort { input, .. } => bytes(input),
        // A semi or anti join keeps some of its left rows.
        LogicalPlan::Join {
            left,
            join_type: crate::plan::JoinType::Semi | crate::plan::JoinType::Anti,
            ..
        } => bytes(left) / 2,
        LogicalPlan::Join { left, right, .. } => bytes(left).max(bytes(right)),
        LogicalPlan::Union { inputs, .. } => inputs.iter().map(|i| bytes(i)).sum(),
    }
}
