//! What each physical operator is expected to do before it runs: output rows, peak
//! memory, and bytes spilled at the session's memory limit.
//!
//! Rows come from [`estimate::rows`] (exact Parquet footer counts, scan rows and
//! aggregate groups measured by sampling where the optimizer annotated them, simple
//! heuristics elsewhere). Bytes of a row come from the schema ([`estimate::row_width`]).
//! Memory and spill follow each operator's algorithm:
//!
//! * **Hash aggregate.** `G` groups of `s` bytes each (the encoded key, the partial
//!   states, and a table slot of 32 bytes at 3/4 load) need `G·s`. If that exceeds
//!   the budget, each worker's table holds `C = budget / threads / s` groups, and with
//!   `G` groups spread over the input, filling it takes `−G·ln(1 − C/G)` rows (the
//!   coupon collector); every fill writes `C` state rows. So `N·x / −ln(1 − x)` of the
//!   `N` input rows are spilled as states, with `x = C / G` (all of them when groups
//!   are nearly unique).
//! * **External sort.** Input bytes plus encoded keys; beyond the budget everything is
//!   written as LZ4 runs (about half the bytes).
//! * **Hash join.** Build rows plus keys, hash and table; beyond its share, the same
//!   fraction of the build and of the probe rows goes to partition files.
//! * **Shared result, limit, collect, top-k**: the bytes of the rows they hold.
//!
//! Spill bytes are halved when spill files are LZ4-compressed. The numbers are
//! estimates for `explain`; no decision while running depends on them.

use arrow::datatypes::{DataType, Field, Schema};

use super::{estimate, LogicalPlan};
use crate::config::{SessionConfig, SpillCompression};
use crate::exec::aggregate::AggregateSpec;
use crate::exec::join::JoinSpec;
use crate::exec::physical::{Estimate, OperatorKind};
use crate::io::FileFormat;
use crate::memory::worker_budget;

/// Bytes of one group table slot at its 3/4 load.
const SLOT_BYTES: f64 = 32.0 / 0.75;

/// Estimates operators for one session's settings.
pub struct Estimator<'a> {
    config: &'a SessionConfig,
}

/// Estimated bytes of one value of `f` in memory.
fn field_bytes(f: &Field) -> f64 {
    match f.data_type() {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => 24.0,
        DataType::Boolean => 1.0,
        DataType::Null => 0.0,
        t => t.primitive_width().unwrap_or(8) as f64,
    }
}

fn schema_bytes(schema: &Schema) -> f64 {
    schema
        .fields()
        .iter()
        .map(|f| field_bytes(f))
        .sum::<f64>()
        .max(1.0)
}

impl<'a> Estimator<'a> {
    pub fn new(config: &'a SessionConfig) -> Self {
        Estimator { config }
    }

    fn spilled(&self, bytes: f64) -> u64 {
        let factor = match self.config.spill_compression {
            SpillCompression::Lz4 => 0.5,
            SpillCompression::None => 1.0,
        };
        (bytes * factor) as u64
    }

    fn threads(&self) -> f64 {
        self.config.threads.max(1) as f64
    }

    /// The query's output (collected in memory, or written), at most `fetch` rows.
    pub fn output(&self, plan: &LogicalPlan, fetch: Option<usize>) -> Estimate {
        let rows = estimate::rows(plan).min(fetch.map_or(f64::INFINITY, |f| f.max(1) as f64));
        Estimate {
            rows,
            memory: (rows * schema_bytes(&plan.schema())) as u64,
            spill: 0,
        }
    }

    /// The operator of `kind` made from logical node `plan`, with `budget` bytes.
    pub fn operator(&self, plan: &LogicalPlan, kind: &OperatorKind, budget: usize) -> Estimate {
        let rows = estimate::rows(plan);
        let out_bytes = rows * schema_bytes(&plan.schema());
        let budget = budget as f64;
        let (memory, spill) = match (kind, plan) {
            (OperatorKind::Scan(_), LogicalPlan::Scan(s)) => {
                let files: u64 = s.dataset.files.iter().map(|f| f.size).sum();
                let per_task = match s.dataset.format {
                    FileFormat::Csv(_) => ((self.config.memory_limit / 64).clamp(1 << 20, 16 << 20)
                        as f64)
                        .min(files as f64),
                    FileFormat::Json(_) => (8u64 << 20).min(files) as f64,
                    FileFormat::Parquet(_) => {
                        let groups: usize = s
                            .dataset
                            .files
                            .iter()
                            .filter_map(|f| f.parquet.as_ref())
                            .map(|m| m.metadata().num_row_groups())
                            .sum();
                        let read = s.schema.fields().len().max(1) as f64
                            / s.dataset.schema.fields().len().max(1) as f64;
                        files as f64 / groups.max(1) as f64 * read
                    }
                };
                (per_task * self.threads(), 0.0)
            }
            (OperatorKind::HashAggregate(spec), LogicalPlan::Aggregate { input, groups, .. }) => {
                self.aggregate(spec, input, *groups, budget)
            }
            (OperatorKind::Sort { .. }, LogicalPlan::Sort { input, .. })
            | (OperatorKind::Window(_), LogicalPlan::Window { input, .. }) => {
                // A window sorts its input by its partition and order keys first.
                let keys = match kind {
                    OperatorKind::Sort { keys, .. } => keys.len(),
                    OperatorKind::Window(spec) => spec.sort_keys().len(),
                    _ => 0,
                };
                let key_bytes: f64 = keys as f64 * 9.0 + 16.0;
                let needed = out_bytes + estimate::rows(input) * key_bytes;
                let buffers = (worker_budget(self.config.memory_limit, self.config.threads) as f64)
                    .min(budget / self.threads())
                    * self.threads();
                if needed <= buffers {
                    (needed, 0.0)
                } else {
                    (buffers, needed * 0.5)
                }
            }
            (OperatorKind::TopK { k, .. }, _) => {
                let held = rows.min(*k as f64 + 1024.0) * schema_bytes(&plan.schema()) * 2.0;
                (held, 0.0)
            }
            (OperatorKind::Limit { .. }, _) | (OperatorKind::Output(_), _) => (out_bytes, 0.0),
            (OperatorKind::HashJoin(spec), LogicalPlan::Join { left, right, .. }) => {
                self.join(spec, left, right, budget)
            }
            (OperatorKind::Materialize { .. }, _) => {
                if out_bytes <= budget {
                    (out_bytes, 0.0)
                } else {
                    (0.0, out_bytes)
                }
            }
            _ => (0.0, 0.0),
        };
        Estimate {
            rows,
            memory: memory as u64,
            spill: self.spilled(spill),
        }
    }

    fn aggregate(
        &self,
        spec: &AggregateSpec,
        input: &LogicalPlan,
        measured: Option<super::GroupEstimate>,
        budget: f64,
    ) -> (f64, f64) {
        let input_rows = estimate::rows(input);
        let key_bytes: f64 = match measured {
            Some(m) => m.key_bytes,
            None => spec.key_fields.iter().map(|f| field_bytes(f) + 1.0).sum(),
        };
        let groups = match (measured, spec.keys.is_empty()) {
            (_, true) => 1.0,
            (Some(m), false) => m.groups,
            (None, false) => input_rows / 10.0,
        }
        .clamp(1.0, input_rows.max(1.0));
        // The key bytes, their offset, and the accumulators' state fields.
        let states: f64 = spec
            .state_schema
            .fields()
            .iter()
            .skip(1)
            .map(|f| field_bytes(f))
            .sum();
        let state_row = key_bytes + 4.0 + states;
        let per_group = state_row + SLOT_BYTES;
        let needed = groups * per_group;
        // The partial tables of all workers, beside the scans' set-aside.
        let partial = (worker_budget(self.config.memory_limit, self.config.threads) as f64)
            .min(budget / self.threads());
        if spec.keys.is_empty() || needed <= partial * self.threads() {
            return (needed, 0.0);
        }
        let held = (partial / per_group).max(1.0);
        let x = (held / groups).min(0.999_999);
        let fraction = if x <= 1e-9 { 1.0 } else { x / -(1.0 - x).ln() };
        (budget, input_rows * fraction.min(1.0) * state_row)
    }

    fn join(
        &self,
        spec: &JoinSpec,
        left: &LogicalPlan,
        right: &LogicalPlan,
        share: f64,
    ) -> (f64, f64) {
        let (build, probe) = if spec.build_is_left {
            (left, right)
        } else {
            (right, left)
        };
        let keys: f64 = spec.key_types.len() as f64 * 9.0 + 8.0;
        let build_rows = estimate::rows(build);
        let build_bytes = build_rows * (schema_bytes(&build.schema()) + keys);
        let needed = build_bytes + build_rows * 16.0;
        if needed <= share || spec.key_types.is_empty() {
            return (needed, 0.0);
        }
        let fraction = 1.0 - share / needed;
        let probe_bytes = estimate::rows(probe) * (schema_bytes(&probe.schema()) + keys);
        (share, (build_bytes + probe_bytes) * fraction)
    }
}
