//! Execution: the physical plan ([`physical`]), the executor that runs it
//! (`executor`), the pipeline driver (`pipeline`), the operators' memory contract
//! (`context`) and one file (or folder) per operator.
//!
//! This layer knows nothing of logical plans: the physical planner
//! (`plan/physical_planner.rs`) lowers a logical plan to a [`PhysicalPlan`], and this
//! layer runs it over the scans and sinks of `io/`.
//!
//! Public: the physical plan (to show, estimate, serialize and ship it) and the
//! streaming traits, for custom sinks and sources; the operators are internal.

pub(crate) mod aggregate;
pub(crate) mod collect;
pub(crate) mod context;
pub(crate) mod executor;
pub(crate) mod expand;
pub(crate) mod filter;
pub(crate) mod group_table;
pub(crate) mod join;
pub(crate) mod keys;
pub mod physical;
pub(crate) mod pipeline;
pub(crate) mod project;
pub mod render;
pub(crate) mod shared;
pub(crate) mod sort;
pub(crate) mod window;

pub use crate::stream::{
    BatchIter, LocalSink, MemorySource, Morsel, Operator, Seq, Sink, SinkStatus, Source, Task,
};
pub use physical::{Estimate, OperatorId, OperatorKind, PhysicalOperator, PhysicalPlan, Pipeline};
