//! Distribution: running one plan as many independent tasks (Dask workers), one
//! [`Stage`] at a time.
//!
//! A stage is a subtree of the (optimized) plan that can be cut along one of its scans:
//!
//! * **Which scans can be cut.** Walking down from the subtree's top, a scan may be
//!   split when every node on the way streams row by row: filters, projections,
//!   grouping-set expansion, and joins entered on a side whose rows are independent
//!   (either side of an inner join, the preserved side of a left/right join, the left
//!   side of a semi/anti join). Every other input of those joins is read whole by each
//!   fragment (a broadcast). The largest such scan (in bytes) is split ([`Split`]:
//!   slices of about so many bytes, or about so many slices;
//!   [`super::fragment::split_scan`]); a stage needs two slices or more. Every
//!   fragment builds the broadcast sides again, so a fixed number of slices (a few per
//!   worker thread) keeps that cost from growing with the input.
//! * **Aggregate stages** (tried first, lowest in the plan first): an Aggregate whose
//!   functions all decompose (`count`, `sum`, `min`, `max`, `avg`). Each fragment
//!   computes partial aggregates of its slice ([`Stage::fragments`]); partials merge
//!   with the same plan shape any number of times ([`Stage::merge_plan`], a tree
//!   reduction), and [`Stage::finish_plan`] turns the merged partials into the Aggregate's
//!   exact output schema (an `avg` is `sum / count`). Other aggregates (distinct,
//!   median, variance, ...) are not cut: they run inside a later stage or the last
//!   task, whole.
//! * **Row stages**: when no aggregate is left to cut, the streaming subtree under the
//!   root's final order and limit (if any) is cut and the fragments' rows are concatenated. A top-k (Sort with a fetch)
//!   or a limit right above it is applied in each fragment too, and again on the
//!   concatenation.
//!
//! The stage's result replaces its subtree as an in-memory Values node
//! ([`Stage::substitute`]), and the next stage is found in the new plan, until none is
//! left: the rest of the plan then runs as one task. Every stage and fragment is a
//! plain serializable plan; the executor, its memory limit and its spilling are the
//! ones a single process uses.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::{fragment, JoinType, LogicalPlan};
use crate::error::{Error, Result};
use crate::expr::{col, lit, null, when, AggFunc, Expr};

/// One distributable subtree of a plan; see the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    /// Where the subtree is: input indices from the root ([`LogicalPlan::inputs`]).
    pub path: Vec<usize>,
    /// One plan per slice of the cut scan; each runs alone, anywhere.
    pub fragments: Vec<LogicalPlan>,
    /// How the fragments' results come together.
    pub combine: Combine,
    /// The schema of each fragment's (and each merge's) result.
    pub partial_schema: SchemaRef,
    /// The schema of the subtree's result (what [`Stage::finish_plan`] returns).
    pub output_schema: SchemaRef,
}

/// How a stage's fragment results become the subtree's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Combine {
    /// Partial aggregates: regrouped by the key columns with `merge` (sums of counts
    /// and sums, min of mins, ...), then `finish` (one expression per output column)
    /// computes the Aggregate's columns.
    Aggregate {
        keys: Vec<String>,
        merge: Vec<Expr>,
        finish: Vec<Expr>,
    },
    /// Rows, concatenated.
    Rows,
}

/// How a cut scan is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Slices of about this many bytes of input.
    Bytes(u64),
    /// About this many slices (of equal bytes).
    Pieces(u64),
}

impl Split {
    fn target_bytes(self, scan_bytes: u64) -> u64 {
        match self {
            Split::Bytes(b) => b.max(1),
            Split::Pieces(n) => scan_bytes.div_ceil(n.max(1)).max(1),
        }
    }
}

/// The next stage of `plan`, cutting scans as `split` says; `None` when nothing is
/// left to cut (the rest runs as one task).
pub fn next_stage(plan: &LogicalPlan, split: Split) -> Result<Option<Stage>> {
    let mut path = vec![];
    if let Some(stage) = aggregate_stage(plan, &mut path, split)? {
        return Ok(Some(stage));
    }
    rows_stage(plan, split)
}

impl Stage {
    /// The stage without its fragments: what merge and finish tasks need (a stage
    /// with many fragments is large).
    pub fn combiner(&self) -> Stage {
        Stage {
            fragments: vec![],
            ..self.clone()
        }
    }

    /// The plan that merges partial results (the rows of `partials`, any number of
    /// fragment or merge results) into one partial result; `None` for a row stage.
    pub fn merge_plan(&self, partials: Vec<RecordBatch>) -> Result<Option<LogicalPlan>> {
        let Combine::Aggregate { keys, merge, .. } = &self.combine else {
            return Ok(None);
        };
        let input = Arc::new(self.values(partials)?);
        let keys = keys.iter().map(|k| col(k.as_str())).collect();
        Ok(Some(LogicalPlan::try_aggregate(
            input,
            keys,
            merge.clone(),
        )?))
    }

    /// The subtree's result from the merged partial result (or, for a row stage, the
    /// fragments' rows), cast to [`Stage::output_schema`]: the plan that computes it.
    pub fn finish_plan(&self, merged: Vec<RecordBatch>) -> Result<LogicalPlan> {
        let input = Arc::new(self.values(merged)?);
        match &self.combine {
            Combine::Rows => Ok(Arc::unwrap_or_clone(input)),
            Combine::Aggregate { finish, .. } => {
                let exprs = finish
                    .iter()
                    .zip(self.output_schema.fields())
                    .map(|(e, f)| e.clone().cast(f.data_type().clone()).alias(f.name()))
                    .collect();
                LogicalPlan::try_project(input, exprs)
            }
        }
    }

    /// `batches` (the finished result) as the stage's output: columns cast to the
    /// subtree's types and names.
    pub fn output_batches(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        conform(batches, &self.output_schema)
    }

    /// `plan` with this stage's subtree replaced by its result.
    pub fn substitute(&self, plan: &LogicalPlan, result: Vec<RecordBatch>) -> Result<LogicalPlan> {
        let values = LogicalPlan::Values {
            schema: Arc::clone(&self.output_schema),
            batches: conform(result, &self.output_schema)?,
        };
        replace_at(plan, &self.path, values)
    }

    /// Partial rows as a Values node of the partial schema, every column nullable
    /// (a merged count may be null where a fragment's is not).
    fn values(&self, batches: Vec<RecordBatch>) -> Result<LogicalPlan> {
        let schema = nullable(&self.partial_schema);
        Ok(LogicalPlan::Values {
            batches: conform(batches, &schema)?,
            schema,
        })
    }
}

fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// `batches` with their columns (by position) cast to `schema`'s types.
fn conform(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            if b.num_columns() != schema.fields().len() {
                return Err(Error::Plan(format!(
                    "a distributed result has {} columns; expected {}",
                    b.num_columns(),
                    schema.fields().len()
                )));
            }
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(Arc::clone(c))
                    } else {
                        cast(c, f.data_type()).map_err(Error::from)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            RecordBatch::try_new(Arc::clone(schema), columns).map_err(Error::from)
        })
        .collect()
}

fn replace_at(plan: &LogicalPlan, path: &[usize], with: LogicalPlan) -> Result<LogicalPlan> {
    let Some((&first, rest)) = path.split_first() else {
        return Ok(with);
    };
    let mut inputs: Vec<Arc<LogicalPlan>> = plan.inputs().into_iter().cloned().collect();
    let child = inputs
        .get(first)
        .ok_or_else(|| Error::Internal(format!("distribution path: no input {first}")))?;
    let replaced = replace_at(child, rest, with)?;
    inputs[first] = Arc::new(replaced);
    plan.with_inputs(inputs)
}

/// The scans of `plan` that a stage rooted at `plan` may cut, as (index in
/// [`fragment::scans`] order, bytes).
fn cuttable_scans(plan: &LogicalPlan) -> Vec<(usize, u64)> {
    let mut out = vec![];
    let mut counter = 0;
    walk_scans(plan, true, &mut counter, &mut out);
    out
}

fn walk_scans(
    plan: &LogicalPlan,
    cuttable: bool,
    counter: &mut usize,
    out: &mut Vec<(usize, u64)>,
) {
    if let LogicalPlan::Scan(s) = plan {
        if cuttable && s.limit.is_none() {
            out.push((*counter, s.dataset.total_bytes()));
        }
        *counter += 1;
    }
    let sides: Vec<bool> = match plan {
        LogicalPlan::Filter { .. } | LogicalPlan::Project { .. } | LogicalPlan::Expand { .. } => {
            vec![cuttable]
        }
        LogicalPlan::Join { join_type, .. } => {
            let (left, right) = match join_type {
                JoinType::Inner => (true, true),
                JoinType::Left | JoinType::Semi | JoinType::Anti => (true, false),
                JoinType::Right => (false, true),
                JoinType::Full => (false, false),
            };
            vec![cuttable && left, cuttable && right]
        }
        other => vec![false; other.inputs().len()],
    };
    for (input, side) in plan.inputs().into_iter().zip(sides) {
        walk_scans(input, side, counter, out);
    }
}

/// Fragments of `plan` along its largest cuttable scan, when it splits in two or more.
fn cut(plan: &LogicalPlan, split: Split) -> Result<Option<Vec<LogicalPlan>>> {
    let Some(&(index, bytes)) = cuttable_scans(plan).iter().max_by_key(|(_, bytes)| *bytes) else {
        return Ok(None);
    };
    let fragments = fragment::split_scan(plan, index, split.target_bytes(bytes))?;
    Ok((fragments.len() >= 2).then_some(fragments))
}

/// The lowest Aggregate (post-order) whose functions decompose and whose input cuts.
fn aggregate_stage(
    plan: &LogicalPlan,
    path: &mut Vec<usize>,
    split: Split,
) -> Result<Option<Stage>> {
    for (i, input) in plan.inputs().into_iter().enumerate() {
        path.push(i);
        let found = aggregate_stage(input, path, split)?;
        path.pop();
        if found.is_some() {
            return Ok(found);
        }
    }
    let LogicalPlan::Aggregate {
        input,
        keys,
        aggs,
        schema,
        ..
    } = plan
    else {
        return Ok(None);
    };
    let Some(parts) = decompose(keys, aggs, schema)? else {
        return Ok(None);
    };
    let Some(inputs) = cut(input, split)? else {
        return Ok(None);
    };
    let fragments = inputs
        .into_iter()
        .map(|i| LogicalPlan::try_aggregate(Arc::new(i), parts.keys.clone(), parts.partial.clone()))
        .collect::<Result<Vec<_>>>()?;
    let partial_schema = fragments
        .first()
        .map(|f| f.schema())
        .ok_or_else(|| Error::Internal("a stage without fragments".into()))?;
    Ok(Some(Stage {
        path: path.clone(),
        fragments,
        combine: Combine::Aggregate {
            keys: parts.key_names,
            merge: parts.merge,
            finish: parts.finish,
        },
        partial_schema,
        output_schema: Arc::clone(schema),
    }))
}

/// An Aggregate split into its partial, merge and finish expressions.
struct Decomposed {
    keys: Vec<Expr>,
    key_names: Vec<String>,
    partial: Vec<Expr>,
    merge: Vec<Expr>,
    finish: Vec<Expr>,
}

fn decompose(keys: &[Expr], aggs: &[Expr], schema: &Schema) -> Result<Option<Decomposed>> {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let key_names: Vec<String> = names.iter().take(keys.len()).cloned().collect();
    let mut out = Decomposed {
        keys: keys
            .iter()
            .zip(&key_names)
            .map(|(k, n)| k.unalias().clone().alias(n.as_str()))
            .collect(),
        finish: key_names.iter().map(|n| col(n.as_str())).collect(),
        key_names,
        partial: vec![],
        merge: vec![],
    };
    for (i, a) in aggs.iter().enumerate() {
        let Expr::Aggregate { func, args } = a.unalias() else {
            return Err(Error::Internal(format!("{a} in an Aggregate's list")));
        };
        let p = format!("__floe_partial_{i}");
        let partial = |f: AggFunc, name: &str| {
            Expr::Aggregate {
                func: f,
                args: args.clone(),
            }
            .alias(name)
        };
        let merge = |f: AggFunc, name: &str| {
            Expr::Aggregate {
                func: f,
                args: vec![col(name)],
            }
            .alias(name)
        };
        match func {
            AggFunc::CountStar | AggFunc::Count | AggFunc::Sum => {
                out.partial.push(partial(*func, &p));
                out.merge.push(merge(AggFunc::Sum, &p));
                out.finish.push(col(p.as_str()));
            }
            AggFunc::Min | AggFunc::Max => {
                out.partial.push(partial(*func, &p));
                out.merge.push(merge(*func, &p));
                out.finish.push(col(p.as_str()));
            }
            AggFunc::Mean => {
                let (s, n) = (format!("{p}_sum"), format!("{p}_count"));
                let as_f64 = |e: Expr| e.cast(arrow::datatypes::DataType::Float64);
                out.partial.push(
                    Expr::Aggregate {
                        func: AggFunc::Sum,
                        args: args.iter().map(|a| as_f64(a.clone())).collect(),
                    }
                    .alias(s.as_str()),
                );
                out.partial.push(partial(AggFunc::Count, &n));
                out.merge.push(merge(AggFunc::Sum, &s));
                out.merge.push(merge(AggFunc::Sum, &n));
                out.finish.push(
                    when(col(n.as_str()).gt(lit(0i64)))
                        .then(col(s.as_str()) / as_f64(col(n.as_str())))
                        .otherwise(null()),
                );
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// A row stage: the streaming subtree nearest the root that cuts, with a top-k or
/// limit right above it repeated in each fragment.
fn rows_stage(plan: &LogicalPlan, split: Split) -> Result<Option<Stage>> {
    let mut node = plan;
    let mut path = vec![];
    let mut above: Option<&LogicalPlan> = None;
    loop {
        let streams = matches!(
            node,
            LogicalPlan::Scan(_)
                | LogicalPlan::Filter { .. }
                | LogicalPlan::Project { .. }
                | LogicalPlan::Expand { .. }
                | LogicalPlan::Join { .. }
        );
        if streams {
            break;
        }
        // Only the result's own rows pass through the client: descend through
        // nothing but the final order and limit.
        if !matches!(node, LogicalPlan::Sort { .. } | LogicalPlan::Limit { .. }) {
            return Ok(None);
        }
        let inputs = node.inputs();
        if inputs.len() != 1 {
            return Ok(None);
        }
        above = Some(node);
        node = inputs[0];
        path.push(0);
    }
    let Some(fragments) = cut(node, split)? else {
        return Ok(None);
    };
    let fragments = fragments
        .into_iter()
        .map(|f| {
            let f = Arc::new(f);
            Ok(match above {
                Some(LogicalPlan::Sort {
                    keys,
                    fetch: Some(k),
                    ..
                }) => LogicalPlan::Sort {
                    input: f,
                    keys: keys.clone(),
                    fetch: Some(*k),
                },
                Some(LogicalPlan::Limit { skip, fetch, .. }) => {
                    LogicalPlan::limit(f, 0, skip.saturating_add(*fetch))
                }
                _ => Arc::unwrap_or_clone(f),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = node.schema();
    Ok(Some(Stage {
        path,
        fragments,
        combine: Combine::Rows,
        partial_schema: Arc::clone(&schema),
        output_schema: schema,
    }))
}
