//! Runtime filters: what a pipeline breaker learns while it runs, handed to the scan
//! below it so that the scan decodes less (a "dynamic filter").
//!
//! * A top-k publishes its running k-th key ([`TopKBound`]).
//! * A join's finished build hands over its key range, and its keys when few
//!   ([`JoinKeyFilter`]), when probe rows without a match are never output (inner and
//!   semi joins, outer joins that preserve only the build side).
//!
//! The physical planner links a filter to a scan only where the column reaches the
//! breaker unchanged from a Parquet scan through filters, projections and joins that
//! output the column's side (see `plan::physical_planner::scan_path`), so only one
//! scan receives it and skipping rows by their scan value is exact. A scan may receive
//! several join filters (one per join above it), and applies all of them. The executor makes
//! the filters and hands them to the scans; the scans (`io/parquet`) skip row groups
//! and rows by them. This module sits below both, so neither imports the other.
//!
//! Memory: a bound is one value; a key filter is a range and at most
//! [`join_keys::MAX_KEYS`] keys.

pub mod join_keys;
pub mod topk_bound;

pub use join_keys::{supported as join_keys_supported, JoinKeyFilter};
pub use topk_bound::TopKBound;
