//! The physical planner: cuts an optimized [`LogicalPlan`] into pipelines at its
//! breakers (aggregate, sort, limit, join build, and the final sink) and runs them
//! bottom-up.
//!
//! Scan, Filter and Project stream: they become the source and operators of the
//! current pipeline. An Aggregate, Sort or Limit ends the pipeline below it in its
//! sink; once that pipeline has run, the sink's `finalize` is the source of the next.
//!
//! A plan node may produce its output through several pipelines that feed the same
//! sink one after another ([`build`] returns a list): a union yields its inputs' in
//! turn, and a hash join yields its probe pipeline (the probe operator appended to the
//! probe side's pipelines) followed by its tail (unmatched build rows and spilled
//! partitions). Operators above apply to each.
//!
//! Memory shares: a join's build side stays resident while its probe side runs, so
//! the planner gives the build at most half of the budget of its subtree, and the
//! probe subtree keeps the rest less what the build is expected to hold (three times
//! its estimated bytes, for the table and keys), so a chain of small dimension builds
//! does not halve the budget at every level. The pool stays the hard limit: a build
//! larger than its estimate can only take what the pool still has. Other breakers draw
//! from the pool as it stands and spill when it is short.

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::aggregate::{AggregateContext, AggregateSpec, HashAggregateSink};
use super::collect::CollectSink;
use super::filter::FilterOperator;
use super::join::key_filter::JoinKeyFilter;
use super::join::{HashJoinProbe, JoinBuildSink, JoinContext, JoinSpec, JoinTailSource};
use super::pipeline::{
    run_pipeline_at, ExecContext, MemorySource, MeteredOperator, Operator, Sink, Source,
};
use super::project::ProjectOperator;
use super::runtime_filter;
use super::shared::{MaterializeSink, SharedResults};
use super::sort::{ExternalSortSink, SortContext, SortKey, TopKSink};
use super::topk_bound::TopKBound;
use crate::config::SessionConfig;
use crate::error::Result;
use crate::io::scan::{scan, ScanRequest};
use crate::memory::MemoryPool;
use crate::metrics::{OperatorMetrics, QueryMetrics};
use crate::plan::explain::describe;
use crate::plan::{estimate, BuildSide, LogicalPlan};
use crate::spill::SpillManager;

/// Everything one running query shares.
#[derive(Clone)]
pub struct QueryContext {
    pub exec: ExecContext,
    pub pool: Arc<MemoryPool>,
    pub spill: Arc<SpillManager>,
    pub config: SessionConfig,
    pub metrics: QueryMetrics,
    /// The bound of a top-k directly above the scan being planned (see
    /// [`super::topk_bound`]); set only while planning that top-k's input.
    pub topk_bound: Option<Arc<TopKBound>>,
    /// Subtrees that occur more than once in the query, and their results once run
    /// (see [`super::shared`]).
    pub shared: Arc<SharedResults>,
    /// The keys of a finished inner-join build, for the probe side's scan (see
    /// [`super::join::key_filter`]); set only while planning that probe side.
    pub join_keys: Option<Arc<JoinKeyFilter>>,
}

/// A pipeline under construction: its source and the operators after it.
pub struct PipelineParts {
    pub source: Box<dyn Source>,
    pub source_metrics: Arc<OperatorMetrics>,
    pub operators: Vec<MeteredOperator>,
}

impl PipelineParts {
    fn single(source: Box<dyn Source>, source_metrics: Arc<OperatorMetrics>) -> Vec<Self> {
        vec![PipelineParts {
            source,
            source_metrics,
            operators: vec![],
        }]
    }
}

/// Runs `parts` one after another into `sink` (not finalizing it). Stops early once
/// the sink has what it needs.
pub fn run_parts(parts: Vec<PipelineParts>, ctx: &QueryContext, sink: &dyn Sink) -> Result<()> {
    let mut base = 0u64;
    for part in parts {
        let run = run_pipeline_at(
            &ctx.exec,
            part.source.as_ref(),
            &part.operators,
            sink,
            &part.source_metrics,
            base,
        )?;
        base += run.tasks;
        if run.finished {
            break;
        }
    }
    Ok(())
}

/// Appends a streaming operator to every pipeline of `parts`.
fn append(parts: &mut [PipelineParts], op: Arc<dyn Operator>, metrics: Arc<OperatorMetrics>) {
    for p in parts {
        p.operators.push(MeteredOperator {
            op: Arc::clone(&op),
            metrics: Arc::clone(&metrics),
        });
    }
}

/// Builds (and runs every pipeline below) the pipelines that produce `plan`'s output;
/// Whether a join builds its hash table on the left input: the join-order rule's
/// hint when it gave one, else the input with fewer estimated bytes.
fn builds_left(join: &LogicalPlan, left: &LogicalPlan, right: &LogicalPlan) -> bool {
    match join.build_hint() {
        Some(side) => side == BuildSide::Left,
        None => estimate::bytes(left) < estimate::bytes(right),
    }
}

/// `budget` is the memory the subtree may count on (see the module doc).
pub fn build(plan: &LogicalPlan, ctx: &QueryContext) -> Result<Vec<PipelineParts>> {
    let mut ctx = ctx.clone();
    ctx.shared = Arc::new(SharedResults::for_plan(plan));
    build_with(plan, &ctx, ctx.pool.limit())
}

fn build_with(plan: &LogicalPlan, ctx: &QueryContext, budget: usize) -> Result<Vec<PipelineParts>> {
    let Some(key) = ctx.shared.key(plan) else {
        return build_node(plan, ctx, budget);
    };
    let metrics = ctx
        .metrics
        .register(format!("Materialize (shared): {}", describe(plan)));
    let result = match ctx.shared.take(&key)? {
        Some(result) => result,
        None => {
            let parts = build_node(plan, ctx, budget)?;
            let sink = MaterializeSink::new(
                plan.schema(),
                &ctx.pool,
                Arc::clone(&ctx.spill),
                ctx.config.force_spill,
                Arc::clone(&metrics),
            );
            run_parts(parts, ctx, &sink)?;
            let result = sink.finish()?;
            ctx.shared.insert(key, Arc::clone(&result))?;
            result
        }
    };
    Ok(PipelineParts::single(result.source(), metrics))
}

fn build_node(plan: &LogicalPlan, ctx: &QueryContext, budget: usize) -> Result<Vec<PipelineParts>> {
    match plan {
        LogicalPlan::Scan(node) => {
            let metrics = ctx.metrics.register(describe(plan));
            let source = scan(
                &node.dataset,
                ScanRequest {
                    projection: node.projection.clone(),
                    filters: node.filters.clone(),
                    limit: node.limit,
                    chunk_rows: ctx.config.chunk_rows,
                    pool: Arc::clone(&ctx.pool),
                    metrics: Arc::clone(&metrics),
                    topk_bound: ctx.topk_bound.clone(),
                    join_keys: ctx.join_keys.clone(),
                },
            )?;
            Ok(PipelineParts::single(source, metrics))
        }
        LogicalPlan::Values { schema, batches } => {
            let metrics = ctx.metrics.register(describe(plan));
            let rows = ctx.config.chunk_rows.max(1);
            let mut chunks = vec![];
            for b in batches {
                let mut off = 0;
                while off < b.num_rows() {
                    let len = rows.min(b.num_rows() - off);
                    chunks.push(b.slice(off, len));
                    off += len;
                }
            }
            Ok(PipelineParts::single(
                Box::new(MemorySource::new(Arc::clone(schema), chunks)),
                metrics,
            ))
        }
        LogicalPlan::Filter { input, predicate } => {
            let mut parts = build_with(input, ctx, budget)?;
            let op = FilterOperator {
                predicate: predicate.clone(),
            };
            append(
                &mut parts,
                Arc::new(op),
                ctx.metrics.register(describe(plan)),
            );
            Ok(parts)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let mut parts = build_with(input, ctx, budget)?;
            let op = ProjectOperator {
                exprs: exprs.clone(),
                schema: Arc::clone(schema),
            };
            append(
                &mut parts,
                Arc::new(op),
                ctx.metrics.register(describe(plan)),
            );
            Ok(parts)
        }
        LogicalPlan::Aggregate {
            input, keys, aggs, ..
        } => {
            let parts = build_with(input, ctx, budget)?;
            let spec = Arc::new(AggregateSpec::try_new(&input.schema(), keys, aggs)?);
            let metrics = ctx
                .metrics
                .register(format!("HashAggregate: {}", describe(plan)));
            let sink = HashAggregateSink::new(
                spec,
                AggregateContext {
                    pool: Arc::clone(&ctx.pool),
                    spill: Arc::clone(&ctx.spill),
                    chunk_rows: ctx.config.chunk_rows,
                    threads: ctx.config.threads,
                    force_spill: ctx.config.force_spill,
                    flush_groups: ctx.config.partial_aggregate_groups,
                    metrics: Arc::clone(&metrics),
                },
            );
            run_parts(parts, ctx, &sink)?;
            Ok(PipelineParts::single(sink.finalize()?, metrics))
        }
        LogicalPlan::Limit { input, skip, fetch } => {
            let parts = build_with(input, ctx, budget)?;
            let metrics = ctx.metrics.register(describe(plan));
            let sink = CollectSink::new(
                input.schema(),
                Arc::clone(&ctx.pool),
                Some((*skip, *fetch)),
                Arc::clone(&metrics),
            );
            run_parts(parts, ctx, &sink)?;
            Ok(PipelineParts::single(
                sink.finalize()?,
                ctx.metrics.register("Limit (output)"),
            ))
        }
        LogicalPlan::Sort { input, keys, fetch } => {
            let bound = fetch.and_then(|_| runtime_filter::topk_bound(input, keys));
            let parts = match &bound {
                Some(b) => {
                    let mut sub = ctx.clone();
                    sub.topk_bound = Some(Arc::clone(b));
                    build_with(input, &sub, budget)?
                }
                None => build_with(input, &ctx.without_bound(), budget)?,
            };
            let metrics = ctx.metrics.register(describe(plan));
            let sink = sort_sink(&input.schema(), keys, *fetch, ctx, &metrics, bound)?;
            run_parts(parts, ctx, sink.as_ref())?;
            Ok(PipelineParts::single(sink.finalize()?, metrics))
        }
        LogicalPlan::Union { inputs, .. } => {
            let mut parts = vec![];
            for input in inputs {
                parts.extend(build_with(input, ctx, budget)?);
            }
            Ok(parts)
        }
        LogicalPlan::Join {
            left,
            right,
            join_type,
            on,
            filter,
            ..
        } => {
            let build_is_left = builds_left(plan, left, right);
            let spec = Arc::new(JoinSpec::try_new(
                left.schema(),
                right.schema(),
                *join_type,
                on,
                filter.clone(),
                build_is_left,
            )?);
            let metrics = ctx.metrics.register(format!(
                "HashJoin: {} (build = {})",
                describe(plan),
                if build_is_left { "left" } else { "right" }
            ));
            let share = budget / 2;
            let (build_side, probe_side) = if build_is_left {
                (left, right)
            } else {
                (right, left)
            };
            let held = share.min(
                usize::try_from(estimate::bytes(build_side).saturating_mul(3))
                    .unwrap_or(usize::MAX)
                    .max(1 << 20),
            );
            let sink = JoinBuildSink::new(
                Arc::clone(&spec),
                JoinContext {
                    pool: Arc::clone(&ctx.pool),
                    spill: Arc::clone(&ctx.spill),
                    threads: ctx.config.threads,
                    chunk_rows: ctx.config.chunk_rows,
                    force_spill: ctx.config.force_spill,
                    share,
                    metrics: Arc::clone(&metrics),
                },
            );
            run_parts(build_with(build_side, ctx, budget)?, ctx, &sink)?;
            sink.finalize()?;
            let shared = sink.shared()?;
            let mut probe_ctx = ctx.clone();
            probe_ctx.join_keys = runtime_filter::join_key_filter(&spec, &shared, probe_side)?;
            let mut parts = build_with(probe_side, &probe_ctx, budget - held)?;
            append(
                &mut parts,
                Arc::new(HashJoinProbe {
                    shared: Arc::clone(&shared),
                }),
                Arc::clone(&metrics),
            );
            parts.extend(PipelineParts::single(
                Box::new(JoinTailSource::new(shared)),
                ctx.metrics
                    .register("HashJoin tail (unmatched build rows, spilled partitions)"),
            ));
            Ok(parts)
        }
    }
}

/// Runs more merge inputs than this at once only in several passes.
const SORT_FAN_IN: usize = 64;

impl QueryContext {
    /// This context for planning an input that no top-k bound may reach.
    fn without_bound(&self) -> QueryContext {
        let mut c = self.clone();
        c.topk_bound = None;
        c
    }
}

/// The sink of a sort: a top-k heap when only the first `fetch` rows are needed.
fn sort_sink(
    schema: &arrow::datatypes::SchemaRef,
    keys: &[crate::plan::SortExpr],
    fetch: Option<usize>,
    ctx: &QueryContext,
    metrics: &Arc<OperatorMetrics>,
    bound: Option<Arc<TopKBound>>,
) -> Result<Box<dyn Sink>> {
    let keys: Vec<SortKey> = keys
        .iter()
        .map(|k| SortKey {
            expr: k.expr.clone(),
            descending: k.descending,
            nulls_first: k.nulls_first,
        })
        .collect();
    let sctx = SortContext {
        pool: Arc::clone(&ctx.pool),
        spill: Arc::clone(&ctx.spill),
        chunk_rows: ctx.config.chunk_rows,
        threads: ctx.config.threads,
        force_spill: ctx.config.force_spill,
        metrics: Arc::clone(metrics),
        fan_in: SORT_FAN_IN,
    };
    Ok(match fetch {
        Some(k) => {
            Box::new(TopKSink::try_new(Arc::clone(schema), keys, k, sctx)?.with_bound(bound))
        }
        None => Box::new(ExternalSortSink::try_new(Arc::clone(schema), keys, sctx)?),
    })
}

/// Runs `plan` and returns its output in memory, in order.
pub fn collect(plan: &LogicalPlan, ctx: &QueryContext) -> Result<Vec<RecordBatch>> {
    let (input, limit) = match plan {
        LogicalPlan::Limit { input, skip, fetch } => (input.as_ref(), Some((*skip, *fetch))),
        other => (other, None),
    };
    let parts = build(input, ctx)?;
    let metrics = ctx.metrics.register(match limit {
        Some((s, f)) => format!("Collect (limit: skip={s} fetch={f})"),
        None => "Collect".to_string(),
    });
    let sink = CollectSink::new(input.schema(), Arc::clone(&ctx.pool), limit, metrics);
    run_parts(parts, ctx, &sink)?;
    let batches = sink.take_batches()?;
    // The caller owns the result now; its bytes leave the query's accounting.
    drop(sink.take_reservations());
    Ok(batches)
}

/// Runs `plan` into `sink` (a file sink, or any other breaker).
pub fn run_into(plan: &LogicalPlan, ctx: &QueryContext, sink: &dyn Sink) -> Result<()> {
    let parts = build(plan, ctx)?;
    run_parts(parts, ctx, sink)?;
    sink.finalize()?;
    Ok(())
}

/// The pipelines `plan` runs as, in execution order, for `explain()`.
pub fn describe_pipelines(plan: &LogicalPlan) -> String {
    let mut pipelines: Vec<Vec<String>> = vec![];
    let mut shared = (
        SharedResults::for_plan(plan),
        std::collections::HashSet::new(),
    );
    // As in `collect`: a limit at the root is applied by the collecting sink itself.
    let mut last = match plan {
        LogicalPlan::Limit { input, skip, fetch } => {
            let mut parts = describe_parts(input, &mut pipelines, &mut shared);
            parts.push(format!(
                "Collect skip={skip} fetch={fetch} (sink) [stops the pipeline early]"
            ));
            parts
        }
        other => {
            let mut parts = describe_parts(other, &mut pipelines, &mut shared);
            parts.push("Collect (sink)".into());
            parts
        }
    };
    pipelines.push(std::mem::take(&mut last));
    let mut out = String::new();
    for (i, p) in pipelines.iter().enumerate() {
        out.push_str(&format!("Pipeline {}: {}\n", i + 1, p.join(" -> ")));
    }
    out
}

/// The shared subtrees of the plan, and those already described.
type SharedSeen = (SharedResults, std::collections::HashSet<String>);

fn describe_parts(
    plan: &LogicalPlan,
    pipelines: &mut Vec<Vec<String>>,
    shared: &mut SharedSeen,
) -> Vec<String> {
    if let Some(key) = shared.0.key(plan) {
        let source = vec!["Materialized shared result (source)".to_string()];
        if !shared.1.insert(key) {
            return source;
        }
        let mut parts = describe_node(plan, pipelines, shared);
        parts.push(
            "Materialize (shared) (sink) [in memory; spills to one file when the budget is short]"
                .into(),
        );
        pipelines.push(parts);
        return source;
    }
    describe_node(plan, pipelines, shared)
}

fn describe_node(
    plan: &LogicalPlan,
    pipelines: &mut Vec<Vec<String>>,
    shared: &mut SharedSeen,
) -> Vec<String> {
    match plan {
        LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => {
            vec![format!("{} [streaming]", describe(plan))]
        }
        LogicalPlan::Filter { input, .. } | LogicalPlan::Project { input, .. } => {
            let mut parts = describe_parts(input, pipelines, shared);
            parts.push(format!("{} [streaming]", describe(plan)));
            parts
        }
        LogicalPlan::Aggregate { input, .. } => {
            let mut parts = describe_parts(input, pipelines, shared);
            parts.push("HashAggregate partial (sink) [in memory, spills radix partitions when the budget is short]".into());
            pipelines.push(parts);
            vec!["HashAggregate final (source: one task per partition, re-partitions when too large)".into()]
        }
        LogicalPlan::Limit { input, skip, fetch } => {
            let mut parts = describe_parts(input, pipelines, shared);
            parts.push(format!(
                "Limit skip={skip} fetch={fetch} (sink) [in memory, stops the pipeline early]"
            ));
            pipelines.push(parts);
            vec!["Limit (source)".into()]
        }
        LogicalPlan::Sort { input, fetch, .. } => {
            let mut parts = describe_parts(input, pipelines, shared);
            match fetch {
                Some(k) => parts.push(format!(
                    "{} (sink) [in memory: bounded heap of {k} rows, never spills]",
                    describe(plan)
                )),
                None => parts.push(format!(
                    "ExternalSort {} (sink) [in memory; spills sorted runs when the budget is short]",
                    describe(plan)
                )),
            }
            pipelines.push(parts);
            vec![match fetch {
                Some(_) => "TopK (source)".into(),
                None => "Sort merge (source: k-way merge of runs)".into(),
            }]
        }
        LogicalPlan::Union { inputs, .. } => {
            // Every input but the last is its own pipeline into the same sink.
            let mut last = vec![];
            for (i, input) in inputs.iter().enumerate() {
                let mut parts = describe_parts(input, pipelines, shared);
                parts.push(format!("Union input {} [streaming]", i + 1));
                if i + 1 == inputs.len() {
                    last = parts;
                } else {
                    parts.push("(continues into the same sink)".into());
                    pipelines.push(parts);
                }
            }
            last
        }
        LogicalPlan::Join { left, right, .. } => {
            let build_is_left = builds_left(plan, left, right);
            let (build_side, probe_side) = if build_is_left {
                (left, right)
            } else {
                (right, left)
            };
            let mut parts = describe_parts(build_side, pipelines, shared);
            parts.push(format!(
                "HashJoin build ({} side) (sink) [in memory; hybrid grace hash join when the build exceeds its share]",
                if build_is_left { "left" } else { "right" }
            ));
            pipelines.push(parts);
            let mut parts = describe_parts(probe_side, pipelines, shared);
            parts.push(format!("HashJoinProbe {} [streaming]", describe(plan)));
            parts
        }
    }
}
