//! Logical plans: what to compute, as data.
//!
//! A [`LogicalPlan`] is a tree of enum nodes. Every node's output schema is resolved
//! when the node is built (the `try_*` constructors), so type errors surface while the
//! query is being written, not at `collect()`. The [`optimizer`] rewrites trees; the
//! physical planner (`exec/planner.rs`) cuts them into pipelines.

pub mod aggregate;
pub mod explain;
pub mod optimizer;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::exec::aggregate::AggregateSpec;
use crate::expr::{types, Expr};
use crate::io::Dataset;

/// A scan of a dataset, with what the optimizer pushed into it.
#[derive(Debug, Clone)]
pub struct ScanNode {
    pub dataset: Arc<Dataset>,
    /// Columns to produce (dataset order); `None` = all.
    pub projection: Option<Vec<String>>,
    /// Predicates the scan applies (and uses for pruning).
    pub filters: Vec<Expr>,
    /// At most this many rows are needed, in order.
    pub limit: Option<usize>,
    pub schema: SchemaRef,
}

/// A node of a logical plan.
#[derive(Debug, Clone)]
pub enum LogicalPlan {
    Scan(ScanNode),
    /// Batches already in memory (a collected `DataFrame`).
    Values {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    Filter {
        input: Arc<LogicalPlan>,
        predicate: Expr,
    },
    Project {
        input: Arc<LogicalPlan>,
        exprs: Vec<Expr>,
        schema: SchemaRef,
    },
    Aggregate {
        input: Arc<LogicalPlan>,
        keys: Vec<Expr>,
        aggs: Vec<Expr>,
        schema: SchemaRef,
    },
    Limit {
        input: Arc<LogicalPlan>,
        skip: usize,
        fetch: usize,
    },
}

impl LogicalPlan {
    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        match self {
            LogicalPlan::Scan(s) => Arc::clone(&s.schema),
            LogicalPlan::Values { schema, .. }
            | LogicalPlan::Project { schema, .. }
            | LogicalPlan::Aggregate { schema, .. } => Arc::clone(schema),
            LogicalPlan::Filter { input, .. } | LogicalPlan::Limit { input, .. } => input.schema(),
        }
    }

    /// The inputs of this node.
    pub fn inputs(&self) -> Vec<&Arc<LogicalPlan>> {
        match self {
            LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => vec![],
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Limit { input, .. } => vec![input],
        }
    }

    /// A scan of all of `dataset`.
    pub fn scan(dataset: Arc<Dataset>) -> Self {
        let schema = Arc::clone(&dataset.schema);
        LogicalPlan::Scan(ScanNode {
            dataset,
            projection: None,
            filters: vec![],
            limit: None,
            schema,
        })
    }

    /// Keeps rows where `predicate` is true; it must be boolean.
    pub fn try_filter(input: Arc<LogicalPlan>, predicate: Expr) -> Result<Self> {
        if predicate.contains_aggregate() {
            return Err(Error::Plan(format!(
                "aggregate in filter {predicate}; use HAVING or filter after agg()"
            )));
        }
        let t = types::data_type(&predicate, &input.schema())?;
        if !matches!(
            t,
            arrow::datatypes::DataType::Boolean | arrow::datatypes::DataType::Null
        ) {
            return Err(Error::Schema(format!(
                "filter predicate {predicate} has type {t}, not boolean"
            )));
        }
        Ok(LogicalPlan::Filter { input, predicate })
    }

    /// Computes `exprs`; output names must be unique.
    pub fn try_project(input: Arc<LogicalPlan>, exprs: Vec<Expr>) -> Result<Self> {
        let in_schema = input.schema();
        let mut fields: Vec<Field> = vec![];
        for e in &exprs {
            if e.contains_aggregate() {
                return Err(Error::Plan(format!(
                    "aggregate {e} outside agg(); use group_by(..).agg(..)"
                )));
            }
            let f = types::field(e, &in_schema)?;
            // Computed columns may produce nulls the type rules cannot see (failed casts, x/0).
            let f = if matches!(e.unalias(), Expr::Column(_)) {
                f
            } else {
                f.with_nullable(true)
            };
            if fields.iter().any(|x| x.name() == f.name()) {
                return Err(Error::Plan(format!(
                    "duplicate output column '{}'; use alias()",
                    f.name()
                )));
            }
            fields.push(f);
        }
        Ok(LogicalPlan::Project {
            input,
            exprs,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// Groups by `keys` and computes `aggs` (each an aggregate, optionally aliased).
    pub fn try_aggregate(
        input: Arc<LogicalPlan>,
        keys: Vec<Expr>,
        aggs: Vec<Expr>,
    ) -> Result<Self> {
        let spec = AggregateSpec::try_new(&input.schema(), &keys, &aggs)?;
        let schema = Arc::clone(&spec.output_schema);
        let mut seen = std::collections::HashSet::new();
        for f in schema.fields() {
            if !seen.insert(f.name().clone()) {
                return Err(Error::Plan(format!(
                    "duplicate output column '{}' in aggregation; use alias()",
                    f.name()
                )));
            }
        }
        Ok(LogicalPlan::Aggregate {
            input,
            keys,
            aggs,
            schema,
        })
    }

    /// Rows `skip .. skip + fetch`.
    pub fn limit(input: Arc<LogicalPlan>, skip: usize, fetch: usize) -> Self {
        LogicalPlan::Limit { input, skip, fetch }
    }

    /// Rebuilds this node over new inputs (same order as [`LogicalPlan::inputs`]).
    pub fn with_inputs(&self, mut inputs: Vec<Arc<LogicalPlan>>) -> Result<Self> {
        let mut next = || {
            inputs
                .pop()
                .ok_or_else(|| Error::Internal("with_inputs: missing input".into()))
        };
        Ok(match self {
            LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => self.clone(),
            LogicalPlan::Filter { predicate, .. } => LogicalPlan::Filter {
                input: next()?,
                predicate: predicate.clone(),
            },
            LogicalPlan::Project { exprs, schema, .. } => LogicalPlan::Project {
                input: next()?,
                exprs: exprs.clone(),
                schema: Arc::clone(schema),
            },
            LogicalPlan::Aggregate {
                keys, aggs, schema, ..
            } => LogicalPlan::Aggregate {
                input: next()?,
                keys: keys.clone(),
                aggs: aggs.clone(),
                schema: Arc::clone(schema),
            },
            LogicalPlan::Limit { skip, fetch, .. } => LogicalPlan::Limit {
                input: next()?,
                skip: *skip,
                fetch: *fetch,
            },
        })
    }
}
