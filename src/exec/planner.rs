//! The physical planner: cuts an optimized [`LogicalPlan`] into pipelines at its
//! breakers (aggregate, limit, and the final sink) and runs them bottom-up.
//!
//! Scan, Filter and Project stream: they become the source and operators of the
//! current pipeline. An Aggregate or a Limit ends the pipeline below it in its sink;
//! once that pipeline has run, the sink's `finalize` is the source of the next one.

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::aggregate::{AggregateContext, AggregateSpec, HashAggregateSink};
use super::collect::CollectSink;
use super::filter::FilterOperator;
use super::pipeline::{run_pipeline, ExecContext, MemorySource, MeteredOperator, Sink, Source};
use super::project::ProjectOperator;
use crate::config::SessionConfig;
use crate::error::Result;
use crate::io::scan::{scan, ScanRequest};
use crate::memory::MemoryPool;
use crate::metrics::{OperatorMetrics, QueryMetrics};
use crate::plan::explain::describe;
use crate::plan::LogicalPlan;
use crate::spill::SpillManager;

/// Everything one running query shares.
#[derive(Clone)]
pub struct QueryContext {
    pub exec: ExecContext,
    pub pool: Arc<MemoryPool>,
    pub spill: Arc<SpillManager>,
    pub config: SessionConfig,
    pub metrics: QueryMetrics,
}

/// A pipeline under construction: its source and the operators after it.
pub struct PipelineParts {
    pub source: Box<dyn Source>,
    pub source_metrics: Arc<OperatorMetrics>,
    pub operators: Vec<MeteredOperator>,
}

impl PipelineParts {
    /// Runs the pipeline into `sink`.
    pub fn run_into(self, ctx: &QueryContext, sink: &dyn Sink) -> Result<()> {
        run_pipeline(
            &ctx.exec,
            self.source.as_ref(),
            &self.operators,
            sink,
            &self.source_metrics,
        )
    }
}

/// Builds (and runs every pipeline below) the pipeline that produces `plan`'s output.
pub fn build(plan: &LogicalPlan, ctx: &QueryContext) -> Result<PipelineParts> {
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
                },
            )?;
            Ok(PipelineParts {
                source,
                source_metrics: metrics,
                operators: vec![],
            })
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
            Ok(PipelineParts {
                source: Box::new(MemorySource::new(Arc::clone(schema), chunks)),
                source_metrics: metrics,
                operators: vec![],
            })
        }
        LogicalPlan::Filter { input, predicate } => {
            let mut parts = build(input, ctx)?;
            let op = FilterOperator {
                predicate: predicate.clone(),
            };
            parts.operators.push(MeteredOperator {
                metrics: ctx.metrics.register(describe(plan)),
                op: Arc::new(op),
            });
            Ok(parts)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let mut parts = build(input, ctx)?;
            let op = ProjectOperator {
                exprs: exprs.clone(),
                schema: Arc::clone(schema),
            };
            parts.operators.push(MeteredOperator {
                metrics: ctx.metrics.register(describe(plan)),
                op: Arc::new(op),
            });
            Ok(parts)
        }
        LogicalPlan::Aggregate {
            input, keys, aggs, ..
        } => {
            let parts = build(input, ctx)?;
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
                    metrics: Arc::clone(&metrics),
                },
            );
            parts.run_into(ctx, &sink)?;
            Ok(PipelineParts {
                source: sink.finalize()?,
                source_metrics: metrics,
                operators: vec![],
            })
        }
        LogicalPlan::Limit { input, skip, fetch } => {
            let parts = build(input, ctx)?;
            let metrics = ctx.metrics.register(describe(plan));
            let sink = CollectSink::new(
                input.schema(),
                Arc::clone(&ctx.pool),
                Some((*skip, *fetch)),
                Arc::clone(&metrics),
            );
            parts.run_into(ctx, &sink)?;
            Ok(PipelineParts {
                source: sink.finalize()?,
                source_metrics: ctx.metrics.register("Limit (output)"),
                operators: vec![],
            })
        }
    }
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
    parts.run_into(ctx, &sink)?;
    let batches = sink.take_batches()?;
    // The caller owns the result now; its bytes leave the query's accounting.
    drop(sink.take_reservations());
    Ok(batches)
}

/// Runs `plan` into `sink` (a file sink, or any other breaker).
pub fn run_into(plan: &LogicalPlan, ctx: &QueryContext, sink: &dyn Sink) -> Result<()> {
    let parts = build(plan, ctx)?;
    parts.run_into(ctx, sink)?;
    sink.finalize()?;
    Ok(())
}

/// The pipelines `plan` runs as, in execution order, for `explain()`.
pub fn describe_pipelines(plan: &LogicalPlan) -> String {
    let mut pipelines: Vec<Vec<String>> = vec![];
    // As in `collect`: a limit at the root is applied by the collecting sink itself.
    let mut last = match plan {
        LogicalPlan::Limit { input, skip, fetch } => {
            let mut parts = describe_parts(input, &mut pipelines);
            parts.push(format!(
                "Collect skip={skip} fetch={fetch} (sink) [stops the pipeline early]"
            ));
            parts
        }
        other => {
            let mut parts = describe_parts(other, &mut pipelines);
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

fn describe_parts(plan: &LogicalPlan, pipelines: &mut Vec<Vec<String>>) -> Vec<String> {
    match plan {
        LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => {
            vec![format!("{} [streaming]", describe(plan))]
        }
        LogicalPlan::Filter { input, .. } | LogicalPlan::Project { input, .. } => {
            let mut parts = describe_parts(input, pipelines);
            parts.push(format!("{} [streaming]", describe(plan)));
            parts
        }
        LogicalPlan::Aggregate { input, .. } => {
            let mut parts = describe_parts(input, pipelines);
            parts.push("HashAggregate partial (sink) [in memory, spills radix partitions when the budget is short]".into());
            pipelines.push(parts);
            vec!["HashAggregate final (source: one task per partition, re-partitions when too large)".into()]
        }
        LogicalPlan::Limit { input, skip, fetch } => {
            let mut parts = describe_parts(input, pipelines);
            parts.push(format!(
                "Limit skip={skip} fetch={fetch} (sink) [in memory, stops the pipeline early]"
            ));
            pipelines.push(parts);
            vec!["Limit (source)".into()]
        }
    }
}
