//! The physical plan: the pipelines a query runs as, as data.
//!
//! ```text
//!  PhysicalPlan
//!   ├─ operators: [PhysicalOperator]     what each operator computes, its output
//!   │                                    schema, budget and estimates, its inputs
//!   └─ pipelines: [Pipeline]             in execution order:
//!          source ──▶ operators … ──▶ sink   (operator ids)
//! ```
//!
//! A plan is made by the physical planner (`plan/physical_planner.rs`) from an
//! optimized logical plan and the session's settings, without reading data; every
//! construction error surfaces there. The executor (`exec/executor.rs`) runs it, and
//! explain renders it ([`super::render`]): the same object, so what explain shows is
//! what runs.
//!
//! One operator can play three roles, told apart by where a pipeline names it
//! (DuckDB's model):
//!
//! | operator      | as a pipeline's sink     | as an operator | as a pipeline's source            |
//! |---------------|--------------------------|----------------|-----------------------------------|
//! | Scan, Values  |                          |                | reads the data                    |
//! | Filter, Project, Expand |                | streams        |                                   |
//! | HashAggregate | partial phase            |                | final phase (one task/partition)  |
//! | Sort, TopK    | buffers, spills runs     |                | the merge / the k rows            |
//! | Window        | buffers, spills runs     |                | the merge, windowed per partition |
//! | Limit         | keeps rows skip..fetch   |                | those rows                        |
//! | HashJoin      | build                    | probe          | tail: unmatched build rows and spilled partitions |
//! | Materialize   | collects a shared result |                | one reader per occurrence         |
//! | Output        | the query's output       |                |                                   |
//!
//! Several pipelines may feed one sink, one after the other (the inputs of a union; a
//! join's probe pipelines and then its tail); the sink is finalized after the last.
//! A pipeline runs once every operator it reads from (its source, and the builds its
//! probes use) has been finalized: the pipeline order guarantees it.
//!
//! Plans serialize ([`PhysicalPlan::to_bytes`], [`PhysicalPlan::to_json`]): a scan
//! names its files (and row groups or byte ranges), not in-memory handles, so a plan
//! fragment can run in another process.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use super::aggregate::AggregateSpec;
use super::join::JoinSpec;
use crate::error::{Error, Result};
use crate::expr::{Expr, SortExpr};
use crate::io::{CsvSinkOptions, Dataset, ParquetSinkOptions};

/// Position of an operator in [`PhysicalPlan::operators`].
pub type OperatorId = usize;

/// A query's pipelines and the operators they are made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhysicalPlan {
    pub operators: Vec<PhysicalOperator>,
    /// In execution order.
    pub pipelines: Vec<Pipeline>,
    /// The memory limit and thread count the budgets and estimates were made for.
    pub settings: PlanSettings,
}

/// The settings a plan was made for. Budgets scale with the memory limit of the
/// session that runs it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PlanSettings {
    pub memory_limit: usize,
    pub threads: usize,
    pub chunk_rows: usize,
}

/// One operator of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhysicalOperator {
    pub id: OperatorId,
    pub kind: OperatorKind,
    /// One line for explain: what the operator computes.
    pub label: String,
    /// Output schema.
    pub schema: SchemaRef,
    /// The operators whose output this one reads (a join: build side first).
    pub inputs: Vec<OperatorId>,
    /// Bytes of the memory limit this operator may hold (0 for streaming ones).
    pub budget: usize,
    pub estimate: Estimate,
}

/// What the planner expects of an operator before anything runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Output rows.
    pub rows: f64,
    /// Peak bytes of state it holds in memory.
    pub memory: u64,
    /// Bytes it is expected to write to spill files at the plan's memory limit (0: it
    /// stays in memory).
    pub spill: u64,
}

impl Estimate {
    /// Whether the operator is expected to spill.
    pub fn spills(&self) -> bool {
        self.spill > 0
    }
}

/// What an operator computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OperatorKind {
    /// Reads a dataset (or the slice of it a fragment names).
    Scan(ScanSpec),
    /// Batches given with the plan.
    Values(ValuesSpec),
    Filter {
        predicate: Expr,
    },
    Project {
        exprs: Vec<Expr>,
    },
    /// Each input row once per projection (the input of grouping sets).
    Expand {
        projections: Vec<Vec<Expr>>,
    },
    /// Two-phase, spilling hash aggregate.
    HashAggregate(Arc<AggregateSpec>),
    /// External sort (runs and a k-way merge).
    Sort {
        keys: Vec<SortExpr>,
        /// Most runs merged at once.
        fan_in: usize,
        /// Only the sorted rows `skip..skip + fetch` (a top-k, or an OFFSET over one,
        /// whose rows do not fit in memory runs as the external sort; the merge stops
        /// after them).
        #[serde(default)]
        skip: usize,
        #[serde(default)]
        fetch: Option<usize>,
    },
    /// Window functions: sorts by partition and order (spilling runs), then
    /// evaluates each partition in order.
    Window(Arc<crate::exec::window::WindowSpec>),
    /// The first `k` rows by `keys`.
    TopK {
        keys: Vec<SortExpr>,
        k: usize,
    },
    /// Rows `skip .. skip + fetch` in source order.
    Limit {
        skip: usize,
        fetch: usize,
    },
    /// Hash join: build sink, probe operator, tail source.
    HashJoin(Arc<JoinSpec>),
    /// A subtree that occurs more than once, run once and read by every occurrence.
    Materialize {
        readers: usize,
    },
    /// The rows of every input in turn (no work of its own: each input is a pipeline
    /// into the consumer's sink).
    Union,
    /// Where the query's rows go.
    Output(OutputSpec),
}

/// Batches that travel with the plan (a collected `DataFrame` queried again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValuesSpec {
    pub schema: SchemaRef,
    #[serde(with = "crate::serialize::batches")]
    pub batches: Vec<arrow::array::RecordBatch>,
}

/// A scan and what the planner pushed into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSpec {
    pub dataset: Arc<Dataset>,
    /// Output columns (dataset order); `None` = all.
    pub projection: Option<Vec<String>>,
    /// Predicates the scan applies (and prunes with).
    pub filters: Vec<Expr>,
    /// At most this many rows are needed, in order.
    pub limit: Option<usize>,
    /// The top-k whose running bound this scan skips by.
    pub topk_bound: Option<TopKLink>,
    /// The joins whose build keys this scan keeps rows by.
    pub join_keys: Vec<JoinKeysLink>,
}

/// A runtime filter from a top-k to the scan below it (`runtime_filter::TopKBound`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopKLink {
    pub topk: OperatorId,
    pub column: String,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A runtime filter from a finished join build to its probe side's scan
/// (`runtime_filter::JoinKeyFilter`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinKeysLink {
    pub join: OperatorId,
    /// Which of the join's keys (each key filters on its own: a probe row whose value
    /// of one key column no build row has cannot match).
    #[serde(default)]
    pub key: usize,
    pub column: String,
}

/// Where a query's result goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OutputSpec {
    /// Collected in memory, optionally rows `skip .. skip + fetch` only.
    Collect { limit: Option<(usize, usize)> },
    /// An atomic Parquet file (or hive-partitioned directory).
    Parquet {
        path: std::path::PathBuf,
        options: ParquetSinkOptions,
    },
    /// An atomic CSV file (or hive-partitioned directory).
    Csv {
        path: std::path::PathBuf,
        options: CsvSinkOptions,
    },
    /// A sink the caller hands the executor (a streaming writer).
    External { name: String },
}

/// One pipeline: a source, streaming operators, a sink (operator ids; see the
/// module doc for the roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub source: OperatorId,
    pub operators: Vec<OperatorId>,
    pub sink: OperatorId,
}

impl PhysicalPlan {
    /// The operator `id`.
    pub fn operator(&self, id: OperatorId) -> Result<&PhysicalOperator> {
        self.operators
            .get(id)
            .ok_or_else(|| Error::Internal(format!("physical plan has no operator {id}")))
    }

    /// The operator the query's rows end in.
    pub fn output(&self) -> Result<&PhysicalOperator> {
        self.operators
            .iter()
            .rev()
            .find(|o| matches!(o.kind, OperatorKind::Output(_)))
            .ok_or_else(|| Error::Internal("physical plan without an output".into()))
    }

    /// The schema of the query's result.
    pub fn output_schema(&self) -> Result<SchemaRef> {
        Ok(Arc::clone(&self.output()?.schema))
    }

    /// A compact binary form (MessagePack), for shipping a plan to another process.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::serialize::to_bytes(self)
    }

    /// Reads [`PhysicalPlan::to_bytes`] back; a Parquet file it names is opened again
    /// (and must be readable here).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        crate::serialize::from_bytes(bytes)
    }

    /// JSON, for reading and debugging.
    pub fn to_json(&self) -> Result<String> {
        crate::serialize::to_json(self)
    }

    /// Reads [`PhysicalPlan::to_json`] back.
    pub fn from_json(text: &str) -> Result<Self> {
        crate::serialize::from_json(text)
    }

    /// Fresh metrics, one entry per operator (by id), named by their labels.
    pub fn new_metrics(&self) -> crate::metrics::QueryMetrics {
        crate::metrics::QueryMetrics::with_operators(self.operators.iter().map(|o| o.label.clone()))
    }

    /// How many pipelines feed each operator's sink role.
    pub(crate) fn feeders(&self) -> Vec<usize> {
        let mut n = vec![0; self.operators.len()];
        for p in &self.pipelines {
            if let Some(c) = n.get_mut(p.sink) {
                *c += 1;
            }
        }
        n
    }
}
