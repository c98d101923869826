//! Execution: the physical planner, the pipeline driver and one file per operator.

pub mod aggregate;
pub mod collect;
pub mod filter;
pub mod group_table;
pub mod join;
pub mod keys;
pub mod pipeline;
pub mod planner;
pub mod project;
mod runtime_filter;
pub mod sample;
pub mod shared;
pub mod sort;
pub mod topk_bound;

pub use pipeline::{ExecContext, LocalSink, Morsel, Operator, Seq, Sink, SinkStatus, Source, Task};
