//! # floe: an out-of-core dataframe engine
//!
//! floe runs lazy query plans over partitioned CSV and Parquet datasets. Data flows
//! through the engine as fixed-size chunks (Arrow record batches, "morsels") pushed by
//! parallel workers through pipelines, and operators whose state grows with the data
//! spill to temporary files when the session's memory budget runs short — so an input
//! much larger than RAM is processed within a fixed, user-chosen memory limit.
//!
//! ## A guided tour
//!
//! * [`Session`] ([`session`]) holds the configuration ([`config::SessionConfig`]: memory
//!   limit, threads, chunk size, spill directory), the one [`memory::MemoryPool`] and the
//!   worker thread pool. `scan_csv` / `scan_parquet` / `sql` start queries.
//! * [`LazyFrame`] ([`frame`]) builds a [`plan::LogicalPlan`] with Polars-style methods
//!   (`filter`, `select`, `with_columns`, `group_by(..).agg(..)`, `head`); type errors are
//!   reported as the plan is built. [`expr`] holds the expressions (`col("x").gt(lit(3))`).
//! * [`plan::optimizer`] pushes projections, predicates and limits into the scans and
//!   orders joins, asking a [`plan::stats::Statistics`] (sampled by the session).
//! * [`plan::physical_planner`] lowers the optimized plan to an
//!   [`exec::PhysicalPlan`]: pipelines (source → streaming operators → sink) cut at
//!   breakers, with each operator's memory budget and estimates (rows, memory, spill),
//!   without reading data. `explain` renders that object ([`exec::render`]: text,
//!   Graphviz DOT, SVG), and it serializes, so a fragment can run elsewhere.
//! * The executor (`exec/executor.rs`) runs a physical plan; the pipeline driver
//!   (`exec/pipeline.rs`) runs each pipeline morsel-by-morsel on the worker pool.
//!   Operators live one per file (or folder) in `exec/`; their one memory contract is
//!   `exec/context.rs`. The streaming traits they share with the scans are
//!   [`stream`].
//! * [`io`] finds dataset files (globs, directories, hive partitions), scans CSV (split
//!   into byte ranges so one file parses on all cores) and Parquet (by row group, with
//!   pruning), and writes atomic Parquet/CSV outputs.
//! * [`memory`] and [`spill`] are the memory model: every buffer that grows with the data
//!   holds a [`memory::Reservation`]; when one cannot grow, the operator spills Arrow IPC
//!   (LZ4) files to a per-query temporary directory, removed on success, error or cancel.
//! * Everything fails with the one [`Error`] type; running out of memory is
//!   [`Error::ResourcesExhausted`], never a crash.
//!
//! ## Example
//!
//! ```no_run
//! use floe::prelude::*;
//!
//! let session = Session::builder().memory_limit("2GiB").threads(2).build()?;
//! let out = session
//!     .scan_csv("data/sensors/*.csv", CsvOptions::default())?
//!     .filter(col("temperature").gt(lit(30.0)))?
//!     .group_by([col("sensor_id")])
//!     .agg([col("temperature").mean().alias("mean_temp"), len().alias("n")])?
//!     .collect()?;
//! println!("{out}");
//! # Ok::<(), floe::Error>(())
//! ```

#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cgroup;
pub mod config;
pub mod error;
pub mod exec;
pub mod expr;
pub mod frame;
pub mod io;
pub mod memory;
pub mod metrics;
pub mod plan;
pub mod reorder;
pub mod runtime_filter;
pub mod serialize;
pub mod session;
pub mod spill;
pub mod spill_dir;
pub mod sql;
pub mod statement;
pub mod stream;

pub use error::{Error, Result};
pub use frame::{DataFrame, GroupBy, LazyFrame, SinkReport};
pub use session::{Session, SessionBuilder};
pub use statement::StatementResult;

/// The names most programs need.
pub mod prelude {
    pub use crate::config::SessionConfig;
    pub use crate::error::{Error, Result};
    pub use crate::expr::SortExpr;
    pub use crate::expr::{
        col, concat_str, corr, cume_dist, dense_rank, len, lit, max_horizontal, min_horizontal,
        ntile, null, percent_rank, rank, row_number, when, Expr,
    };
    pub use crate::frame::{DataFrame, LazyFrame};
    pub use crate::io::{
        BadRowPolicy, CsvOptions, CsvSinkOptions, JsonOptions, ParquetCompression, ParquetOptions,
        ParquetSinkOptions,
    };
    pub use crate::plan::JoinType;
    pub use crate::session::Session;
    pub use crate::statement::StatementResult;
}
