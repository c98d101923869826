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
//! and holds nothing. The same memory bound holds with one set or many.
//!
//! **Pre-aggregation.** When every aggregate combines from partial results (`sum`,
//! `count`, `min`, `max`, and `avg` of integers or floats as a float sum and a count),
//! there are several sets, and the keys' source tables bound the groups at a quarter
//! of the input rows or fewer (`pre_aggregation_reduces`), the input is first aggregated by all the keys, and the
//! Expand and the grouping-set aggregate run over those groups: `sum` of the partial
//! sums, `sum` of the counts, `min` of the minima, `sum / sum` for `avg`, each cast
//! back to the type the plain aggregate has. A ROLLUP of four keys over ten million
//! rows then expands the groups five times, not the rows. Other aggregates (distinct,
//! ordered, statistical, decimal averages) expand the rows themselves, as above.

use std::sync::Arc;

use super::aggregate::{build_aggregate_parts, replace_children};
use super::LogicalPlan;
use crate::error::{Error, Result};
use arrow::datatypes::DataType;

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
    if sets.len() > 1 && pre_aggregation_reduces(&input, &keys) {
        if let Some(pre) = PreAggregate::try_new(&input, &keys, &select, having.as_ref())? {
            return build_expanded(Arc::new(pre.plan), pre.keys, sets, pre.select, pre.having);
        }
    }
    build_expanded(input, keys, sets, select, having)
}

/// The grouping sets over an Expand of `input` itself (see the module doc).
fn build_expanded(
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
    let grouping_id = |set: &[usize]| -> i64 {
        (0..n)
            .filter(|i| !set.contains(i))
            .map(|i| 1i64 << (n - 1 - i))
            .sum()
    };
    // A set listed twice (`ROLLUP (a, a)` has (a, a) and (a)) outputs its groups
    // twice, as in DuckDB: each repeat gets its own id, the repeat number above the
    // key bits (`grouping()` reads the set, not the id).
    let mut ids: Vec<i64> = Vec::with_capacity(sets.len());
    for set in &sets {
        let base = grouping_id(set);
        let repeats = ids
            .iter()
            .filter(|&&id| id & ((1i64 << n) - 1) == base)
            .count() as i64;
        if repeats > 0 && (repeats >> (62 - n)) != 0 {
            return Err(Error::NotSupported(format!(
                "a grouping set repeated {repeats} times over {n} keys"
            )));
        }
        ids.push(base | (repeats << n));
    }

    let projections = sets
        .iter()
        .zip(&ids)
        .map(|(set, &id)| {
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
            p.push(lit(id).alias(gid_name.clone()));
            Ok(p)
        })
        .collect::<Result<Vec<_>>>()?;
    let expand = LogicalPlan::try_expand(input, projections)?;

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

/// The key values of the grand-total row that an aggregate over `input` grouped by
/// `keys` outputs even when `input` has no rows: `Some` when `input` is the Expand of
/// grouping sets (built above) with the empty set among them. That set's projection
/// sets every key to a NULL constant and the set id to the one with every key bit set;
/// those constants are the row's keys. SQL (and DuckDB) outputs the grand total of
/// `ROLLUP`/`CUBE`/`GROUPING SETS (..., ())` over no rows as one row (count 0, sum
/// NULL), as it does for an aggregate without GROUP BY.
pub fn grand_total_keys(input: &LogicalPlan, keys: &[Expr]) -> Option<Vec<ScalarValue>> {
    let LogicalPlan::Expand {
        projections,
        schema,
        ..
    } = input
    else {
        return None;
    };
    let n = keys.len().checked_sub(1)?;
    let all_left_out = (1i64 << n) - 1;
    let constant = |e: &Expr| -> Option<ScalarValue> {
        match e.unalias() {
            Expr::Literal(v) => Some(v.clone()),
            Expr::Cast { expr, .. } => match expr.as_ref() {
                Expr::Literal(ScalarValue::Null) => Some(ScalarValue::Null),
                _ => None,
            },
            _ => None,
        }
    };
    projections.iter().find_map(|p| {
        let values = keys
            .iter()
            .map(|k| {
                let Expr::Column(name) = k else { return None };
                let i = schema.index_of(name).ok()?;
                constant(p.get(i)?)
            })
            .collect::<Option<Vec<_>>>()?;
        let (gid, key_values) = values.split_last()?;
        let grand = matches!(gid, ScalarValue::Int64(id) if *id == all_left_out)
            && key_values.iter().all(|v| matches!(v, ScalarValue::Null));
        grand.then_some(values)
    })
}

/// Whether aggregating `input` by all `keys` first is expected to cut its rows at
/// least fourfold. Each key is a function of the rows of the tables its columns come
/// from, so there are at most as many groups as the product of those tables' rows
/// (plan-only estimates: footer counts, halved per filter); a key computed above the
/// tables (an aggregate, a window, a union) gives no bound. Keys that all come from
/// one dimension (TPC-DS q22's item attributes over inventory) bound the groups by
/// its rows; keys from several (q67's item, date and store) bound nothing useful, and
/// there pre-aggregating would only add a pass.
fn pre_aggregation_reduces(input: &LogicalPlan, keys: &[Expr]) -> bool {
    let mut sources: Vec<(usize, f64)> = vec![];
    for k in keys {
        for c in k.column_refs() {
            match source_table(input, &c) {
                Some(s) if !sources.iter().any(|(id, _)| *id == s.0) => sources.push(s),
                Some(_) => {}
                None => return false,
            }
        }
    }
    let bound: f64 = sources.iter().map(|(_, rows)| rows).product();
    bound * 4.0 <= super::estimate::rows(input)
}

/// The scan `column` of `plan` comes from (its address, to tell scans apart) and its
/// plan-only row estimate, through filters, sorts, limits, renaming projections and
/// joins; `None` for a column computed on the way.
fn source_table(plan: &LogicalPlan, column: &str) -> Option<(usize, f64)> {
    match plan {
        LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => {
            plan.schema().index_of(column).ok()?;
            Some((
                plan as *const LogicalPlan as usize,
                super::estimate::rows(plan),
            ))
        }
        _ => {
            let (input, name) = super::column_input(plan, column)?;
            source_table(input, &name)
        }
    }
}

/// The input aggregated once by every key before it is expanded (see the module doc),
/// with the select list and HAVING rewritten to combine the partial results.
struct PreAggregate {
    plan: LogicalPlan,
    keys: Vec<Expr>,
    select: Vec<Expr>,
    having: Option<Expr>,
}

impl PreAggregate {
    /// `None` when an aggregate does not combine from partial results (distinct,
    /// ordered, statistical, decimal averages) or the select list reads a column
    /// outside both the keys and the aggregates (left for the plain path to report).
    fn try_new(
        input: &Arc<LogicalPlan>,
        keys: &[Expr],
        select: &[Expr],
        having: Option<&Expr>,
    ) -> Result<Option<Self>> {
        let schema = input.schema();
        let taken = |name: &str| schema.field_with_name(name).is_ok();
        let mut suffix = String::new();
        while (0..keys.len()).any(|i| taken(&format!("#pk{i}{suffix}"))) {
            suffix.push('_');
        }
        let mut cx = Rewrite {
            keys,
            key_names: (0..keys.len()).map(|i| format!("#pk{i}{suffix}")).collect(),
            schema: &schema,
            partials: vec![],
            prefix: format!("#pa{suffix}"),
        };
        let mut new_select = vec![];
        for e in select {
            let name = e.output_name();
            let Some(r) = cx.rewrite(e)? else {
                return Ok(None);
            };
            new_select.push(if r.output_name() == name {
                r
            } else {
                r.alias(name)
            });
        }
        let new_having = match having {
            Some(h) => match cx.rewrite(h)? {
                Some(r) => Some(r),
                None => return Ok(None),
            },
            None => None,
        };
        let named_keys: Vec<Expr> = keys
            .iter()
            .zip(&cx.key_names)
            .map(|(k, n)| k.clone().alias(n.clone()))
            .collect();
        let plan = LogicalPlan::try_aggregate(Arc::clone(input), named_keys, cx.partials)?;
        Ok(Some(PreAggregate {
            plan,
            keys: cx.key_names.iter().map(|n| col(n.clone())).collect(),
            select: new_select,
            having: new_having,
        }))
    }
}

/// Rewrites select expressions over the pre-aggregate: keys read its key columns,
/// aggregates combine its partial columns.
struct Rewrite<'a> {
    keys: &'a [Expr],
    key_names: Vec<String>,
    schema: &'a arrow::datatypes::Schema,
    /// Partial aggregates, aliased `{prefix}{i}`.
    partials: Vec<Expr>,
    prefix: String,
}

impl Rewrite<'_> {
    /// The column of the partial aggregate `call` (added once).
    fn partial(&mut self, call: Expr) -> Expr {
        let name = match self.partials.iter().position(|p| p.unalias() == &call) {
            Some(i) => format!("{}{i}", self.prefix),
            None => {
                let name = format!("{}{}", self.prefix, self.partials.len());
                self.partials.push(call.alias(name.clone()));
                name
            }
        };
        col(name)
    }

    fn rewrite(&mut self, e: &Expr) -> Result<Option<Expr>> {
        if let Some(i) = self.keys.iter().position(|k| k == e) {
            return Ok(Some(col(self.key_names[i].clone())));
        }
        Ok(Some(match e {
            Expr::Aggregate { func, args } => {
                use crate::expr::AggFunc::*;
                let agg = |func, args| Expr::Aggregate { func, args };
                let out_type = types::data_type(e, self.schema)?;
                let combined = match func {
                    Sum | Min | Max => {
                        let p = self.partial(e.clone());
                        agg(*func, vec![p])
                    }
                    // A count over no rows is 0, not the NULL sum of no partial counts
                    // (the grand total over an input without rows).
                    Count | CountStar => {
                        agg(Sum, vec![self.partial(e.clone())]).fill_null(lit(0i64))
                    }
                    Mean => {
                        let arg = &args[0];
                        let t = types::data_type(arg, self.schema)?;
                        if !(t.is_integer() || t.is_floating() || t == DataType::Null) {
                            return Ok(None);
                        }
                        let x = arg.clone().cast(DataType::Float64);
                        let sum = self.partial(agg(Sum, vec![x.clone()]));
                        let count = self.partial(agg(Count, vec![x]));
                        agg(Sum, vec![sum]).div(agg(Sum, vec![count]).cast(DataType::Float64))
                    }
                    _ => return Ok(None),
                };
                combined.cast(out_type)
            }
            Expr::Column(_) => return Ok(None),
            Expr::Literal(_) => e.clone(),
            Expr::Alias(inner, name) => match self.rewrite(inner)? {
                Some(r) => Expr::Alias(Box::new(r), name.clone()),
                None => return Ok(None),
            },
            other => {
                let mut children = vec![];
                for c in other.children() {
                    match self.rewrite(c)? {
                        Some(r) => children.push(r),
                        None => return Ok(None),
                    }
                }
                replace_children(other.clone(), children)
            }
        }))
    }
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
