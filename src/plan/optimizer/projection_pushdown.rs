//! Projection pushdown: walks the plan top-down with the set of columns each node's
//! parent needs, drops projection outputs nobody uses, and narrows every scan to the
//! columns actually read. For CSV this skips building arrays; for Parquet it skips
//! reading and decoding whole column chunks.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::Result;
use crate::expr::Expr;
use crate::io::scan::scan_schema;
use crate::plan::LogicalPlan;

/// Prunes `plan` given the columns its parent needs (`None` = all of them).
pub fn prune(plan: &LogicalPlan, required: Option<&BTreeSet<String>>) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Scan(scan) => {
            let Some(required) = required else {
                return Ok(plan.clone());
            };
            let ds = &scan.dataset.schema;
            let mut cols: Vec<String> = ds
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| required.contains(n))
                .collect();
            if cols.is_empty() {
                // Counting rows still needs one column to count.
                cols.extend(ds.fields().first().map(|f| f.name().clone()));
            }
            let mut scan = scan.clone();
            scan.schema = scan_schema(&scan.dataset, Some(&cols))?;
            scan.projection = Some(cols);
            Ok(LogicalPlan::Scan(scan))
        }
        LogicalPlan::Values { .. } => Ok(plan.clone()),
        LogicalPlan::Filter { input, predicate } => {
            let child = required.map(|r| with_refs(r, [predicate]));
            let input = prune(input, child.as_ref())?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        LogicalPlan::Limit { input, .. } => {
            let input = prune(input, required)?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        LogicalPlan::Project { input, exprs, .. } => {
            let kept: Vec<Expr> = match required {
                Some(r) => exprs
                    .iter()
                    .filter(|e| r.contains(&e.output_name()))
                    .cloned()
                    .collect(),
                None => exprs.clone(),
            };
            let kept = if kept.is_empty() {
                exprs.iter().take(1).cloned().collect()
            } else {
                kept
            };
            let child = with_refs(&BTreeSet::new(), kept.iter());
            let input = prune(input, Some(&child))?;
            // A projection that passes its input through unchanged is dropped.
            let schema = input.schema();
            let identity = kept.len() == schema.fields().len()
                && kept
                    .iter()
                    .zip(schema.fields())
                    .all(|(e, f)| matches!(e, Expr::Column(c) if c == f.name()));
            if identity {
                return Ok(input);
            }
            LogicalPlan::try_project(Arc::new(input), kept)
        }
        LogicalPlan::Expand {
            input, projections, ..
        } => {
            let names: Vec<String> = plan
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let mut kept: Vec<usize> = (0..names.len())
                .filter(|&i| required.is_none_or(|r| r.contains(&names[i])))
                .collect();
            if kept.is_empty() {
                kept.extend((!names.is_empty()).then_some(0));
            }
            let projections: Vec<Vec<Expr>> = projections
                .iter()
                .map(|p| kept.iter().map(|&i| p[i].clone()).collect())
                .collect();
            let child = with_refs(&BTreeSet::new(), projections.iter().flatten());
            let input = prune(input, Some(&child))?;
            LogicalPlan::try_expand(Arc::new(input), projections)
        }
        LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            calls,
            ..
        } => {
            // Every call is kept (a window node is cheap to keep whole); its input
            // needs what the parent reads plus the keys and arguments.
            let used = partition_by
                .iter()
                .chain(order_by.iter().map(|k| &k.expr))
                .chain(calls.iter().flat_map(|c| c.inputs()));
            let child = required.map(|r| {
                let mut need = with_refs(r, used);
                need.retain(|c| !calls.iter().any(|call| &call.name == c));
                need
            });
            let input = prune(input, child.as_ref())?;
            LogicalPlan::try_window(
                Arc::new(input),
                partition_by.clone(),
                order_by.clone(),
                calls.clone(),
            )
        }
        LogicalPlan::Sort { input, keys, .. } => {
            let child = required.map(|r| with_refs(r, keys.iter().map(|k| &k.expr)));
            let input = prune(input, child.as_ref())?;
            plan.with_inputs(vec![Arc::new(input)])
        }
        LogicalPlan::Union { inputs, .. } => {
            let inputs = inputs
                .iter()
                .map(|i| prune(i, required).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            plan.with_inputs(inputs)
        }
        LogicalPlan::Join {
            left,
            right,
            on,
            filter,
            ..
        } => {
            let (ls, rs) = (left.schema(), right.schema());
            let mut needed = match required {
                Some(r) => r.clone(),
                None => plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            };
            for (l, r) in on {
                needed.extend(l.column_refs());
                needed.extend(r.column_refs());
            }
            needed.extend(filter.iter().flat_map(|f| f.column_refs()));
            let of = |s: &arrow::datatypes::Schema| -> BTreeSet<String> {
                needed
                    .iter()
                    .filter(|c| s.field_with_name(c).is_ok())
                    .cloned()
                    .collect()
            };
            let left = prune(left, Some(&of(&ls)))?;
            let right = prune(right, Some(&of(&rs)))?;
            plan.with_inputs(vec![Arc::new(left), Arc::new(right)])
        }
        LogicalPlan::Aggregate {
            input, keys, aggs, ..
        } => {
            let child = with_refs(&BTreeSet::new(), keys.iter().chain(aggs));
            let input = prune(input, Some(&child))?;
            plan.with_inputs(vec![Arc::new(input)])
        }
    }
}

fn with_refs<'a>(
    base: &BTreeSet<String>,
    exprs: impl IntoIterator<Item = &'a Expr>,
) -> BTreeSet<String> {
    let mut out = base.clone();
    for e in exprs {
        out.extend(e.column_refs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, len, lit};
    use crate::plan::optimizer::test_util::{as_scan, child, csv_scan, join_inputs, names};
    use crate::plan::JoinType;

    fn projection(plan: &LogicalPlan) -> Vec<&str> {
        let scan = as_scan(plan);
        assert_eq!(
            names(plan),
            scan.projection.clone().unwrap(),
            "schema follows"
        );
        scan.projection
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn scan_reads_the_projected_and_filtered_columns_only() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a", "b", "c"]);
        let filter = LogicalPlan::try_filter(scan, col("b").gt(lit(1i64))).unwrap();
        let plan = LogicalPlan::try_project(Arc::new(filter), vec![col("a").alias("x")]).unwrap();
        let out = prune(&plan, None).unwrap();
        assert!(matches!(out, LogicalPlan::Project { .. }), "{out:?}");
        let filter = child(&out);
        assert!(matches!(filter, LogicalPlan::Filter { .. }), "{filter:?}");
        assert_eq!(projection(child(filter)), ["a", "b"]);
        assert_eq!(names(&out), ["x"]);
    }

    #[test]
    fn projection_passing_the_narrowed_scan_through_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a", "b", "c"]);
        let plan = LogicalPlan::try_project(scan, vec![col("a"), col("b")]).unwrap();
        let out = prune(&plan, None).unwrap();
        assert_eq!(projection(&out), ["a", "b"]);
    }

    #[test]
    fn aggregate_reads_keys_and_arguments_and_a_count_reads_one_column() {
        let dir = tempfile::tempdir().unwrap();
        let scan = csv_scan(dir.path(), "t", &["a", "b", "c"]);
        let sum =
            LogicalPlan::try_aggregate(Arc::clone(&scan), vec![col("c")], vec![col("a").sum()])
                .unwrap();
        let out = prune(&sum, None).unwrap();
        assert_eq!(projection(child(&out)), ["a", "c"]);
        assert_eq!(names(&out), names(&sum));
        let count = LogicalPlan::try_aggregate(scan, vec![], vec![len().alias("n")]).unwrap();
        assert_eq!(projection(child(&prune(&count, None).unwrap())), ["a"]);
    }

    #[test]
    fn join_sides_read_their_keys_and_the_columns_used_above() {
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = (
            csv_scan(dir.path(), "l", &["a", "b", "x"]),
            csv_scan(dir.path(), "r", &["c", "d", "y"]),
        );
        let join =
            LogicalPlan::try_join(l, r, JoinType::Inner, vec![(col("a"), col("c"))], None).unwrap();
        let plan = LogicalPlan::try_project(Arc::new(join), vec![col("b"), col("d")]).unwrap();
        let out = prune(&plan, None).unwrap();
        let (left, right) = join_inputs(child(&out));
        assert_eq!(projection(left), ["a", "b"]);
        assert_eq!(projection(right), ["c", "d"]);
        assert_eq!(names(&out), ["b", "d"]);
    }
}
