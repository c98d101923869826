//! Execution: the physical planner, the pipeline driver and one file per operator.

pub mod pipeline;

pub use pipeline::{ExecContext, LocalSink, Morsel, Operator, Seq, Sink, SinkStatus, Source, Task};
