//! GROUPING SETS, ROLLUP and CUBE: one aggregate over an Expand of its input.
//!
//! `SELECT a, b, sum(x), grouping(a, b) ... GROUP BY ROLLUP (a, b)` has the grouping
//! sets (a, b), (a) and (). The input is read once; Expand emits each row once per set,
//! with the keys the set leaves out as NULL and the set's id (one bit per key left out,
//! the first key the most significant: DuckDB's `grouping_id`), and one spilling
//! aggregate groups by the keys and the id:
//!
//! ```text
//! Project: #k0 AS a, #k1 AS b, #agg0 AS sum(x), CASE #gid WHEN 0 THEN 0 WHEN 1 THEN 1 WHEN 3 THEN 3 END
//!   Aggregate: keys=[#k0, #k1, #gid] aggs=[sum(x) AS #agg0]
//!     Expand: [x, a AS #k0, b AS #k1, 0 AS #gid], [x, a, NULL, 1], [x, NULL, NULL, 3]
//! ```
//!
//! Aggregate arguments read the input columns, not the nulled keys (`sum(a)` over
//! `ROLLUP (a)` sums every `a`). Memory and spilling are the aggregate's: Expand streams
//! and holds nothing. The same memory bound holds with one set or many; the aggregate's
//! input is as many rows as the input times the sets.

use std::sync::Arc;

use super::aggregate::{build_aggregate_parts, replace_children};
use super::LogicalPlan;
use crate::error::{Error, Result};
use crate::expr::{col, lit, types, Expr, ScalarFunc, ScalarValue};

/// Builds the aggregation of `input` over the grouping `sets` (each the indices of
/// the `keys` it groups by) that outputs `select`, keeping rows where `having` holds.
pub fn build_grouping_sets(
    input: Arc<LogicalPlan>,
    keys: Vec<Expr>,
    sets: Vec<Vec<usize>>,
    select: Vec<Expr>,
    having: Option<Expr>,
) -> Result<LogicalPlan> {
    let (plan, select) = build_grouping_sets_parts(input, keys, sets, select, having)?;
    LogicalPlan::try_project(Arc::new(plan), select)
}

/// [`build_grouping_sets`] without its final projection (see
/// [`super::aggregate::build_aggregate_parts`]).
pub fn build_grouping_sets_parts(
    input: Arc<LogicalPlan>,
    keys: Vec<Expr>,
    sets: Vec<Vec<usize>>,
    select: Vec<Expr>,
    having: Option<Expr>,
) -> Result<(LogicalPlan, Vec<Expr>)> {
    let n = keys.len();
    if n > 62 {
        return Err(Error::NotSupported(format!(
            "grouping sets over {n} keys (at most 62)"
        )));
    }
    if sets.is_empty() || sets.iter().flatten().any(|&i| i >= n) {
        return Err(Error::Internal("grouping sets out of range".into()));
    }
    let in_schema = input.schema();
    // Names no input column has.
    let taken = |name: &str| in_schema.field_with_name(name).is_ok();
    let mut suffix = String::new();
    while (0..n).any(|i| taken(&format!("#k{i}{suffix}"))) || taken(&format!("#gid{suffix}")) {
        suffix.push('_');
    }
    let key_names: Vec<String> = (0..n).map(|i| format!("#k{i}{suffix}")).collect();
    let gid_name = format!("#gid{suffix}");
    let gid = |set: &[usize]| -> i64 {
        (0..n)
            .filter(|i| !set.contains(i))
            .map(|i| 1i64 << (n - 1 - i))
            .sum()
    };

    let projections = sets
        .iter()
        .map(|set| {
            let mut p: Vec<Expr> = in_schema
                .fields()
                .iter()
                .map(|f| Expr::Column(f.name().clone()))
                .collect();
            for (i, k) in keys.iter().enumerate() {
                let value = if set.contains(&i) {
                    k.clone()
                } else {
                    Expr::Cast {
                        expr: Box::new(Expr::Literal(ScalarValue::Null)),
                        to: types::data_type(k, &in_schema)?,
                    }
                };
                p.push(value.alias(key_names[i].clone()));
            }
            p.push(lit(gid(set)).alias(gid_name.clone()));
            Ok(p)
        })
        .collect::<Result<Vec<_>>>()?;
    let expand = LogicalPlan::try_expand(input, projections)?;

    let ids: Vec<i64> = sets.iter().map(|s| gid(s)).collect();
    let rewrite = |e: Expr| -> Result<Expr> {
        let name = e.output_name();
        let out = over_keys(e, &keys, &key_names, &sets, &ids, &gid_name)?;
        Ok(if out.output_name() == name {
            out
        } else {
            out.alias(name)
        })
    };
    let select = select
        .into_iter()
        .map(rewrite)
        .collect::<Result<Vec<_>>>()?;
    let having = having.map(rewrite).transpose()?;
    let mut group_by: Vec<Expr> = key_names.iter().map(|k| col(k.clone())).collect();
    group_by.push(col(gid_name.clone()));
    build_aggregate_parts(Arc::new(expand), group_by, select, having)
}

/// Whether `e` calls `grouping()` outside an aggregate's arguments.
pub fn calls_grouping(e: &Expr) -> bool {
    match e {
        Expr::Function {
            func: ScalarFunc::Grouping,
            ..
        } => true,
        Expr::Aggregate { .. } => false,
        other => other.children().into_iter().any(calls_grouping),
    }
}

/// `e` with each grouping key (outside aggregate arguments) read from its nulled copy
/// and each `grouping(..)` replaced by its value per grouping set.
fn over_keys(
    e: Expr,
    keys: &[Expr],
    key_names: &[String],
    sets: &[Vec<usize>],
    ids: &[i64],
    gid_name: &str,
) -> Result<Expr> {
    if let Some(i) = keys.iter().position(|k| k == &e) {
        return Ok(col(key_names[i].clone()));
    }
    match e {
        Expr::Aggregate { .. } | Expr::Column(_) | Expr::Literal(_) => Ok(e),
        Expr::Alias(inner, name) => Ok(Expr::Alias(
            Box::new(over_keys(*inner, keys, key_names, sets, ids, gid_name)?),
            name,
        )),
        Expr::Function {
            func: ScalarFunc::Grouping,
            args,
        } => {
            let positions = args
                .iter()
                .map(|a| {
                    keys.iter().position(|k| k == a.unalias()).ok_or_else(|| {
                        Error::Plan(format!("grouping() argument {a} is not a GROUP BY key"))
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            let m = positions.len();
            let branches = sets
                .iter()
                .zip(ids)
                .map(|(set, &id)| {
                    let value: i64 = positions
                        .iter()
                        .enumerate()
                        .filter(|(_, i)| !set.contains(i))
                        .map(|(p, _)| 1i64 << (m - 1 - p))
                        .sum();
                    (col(gid_name.to_string()).eq(lit(id)), lit(value))
                })
                .collect();
            Ok(Expr::Case {
                branches,
                otherwise: None,
            })
        }
        other => {
            let children = other
                .children()
                .into_iter()
                .map(|c| over_keys(c.clone(), keys, key_names, sets, ids, gid_name))
                .collect::<Result<Vec<_>>>()?;
            Ok(replace_children(other, children))
        }
    }
}
