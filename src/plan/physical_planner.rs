//! The physical planner: an optimized [`LogicalPlan`] and the session's settings in,
//! a [`PhysicalPlan`] out. It reads no data and runs nothing; every construction
//! error (an unsupported key type, a bad output path or codec) surfaces here, before
//! any work starts.
//!
//! ```text
//!  Scan/Values ─▶ new pipeline source       Filter/Project ─▶ appended to every open pipeline
//!  Aggregate, Sort, TopK, Limit ─▶ close the open pipelines into the breaker's sink;
//!                                  its output is the source of one new open pipeline
//!  Join ─▶ build side's pipelines close into the join (build); the probe side's open
//!          pipelines get the join as an operator (probe), plus one open pipeline whose
//!          source is the join (tail: unmatched build rows, spilled partitions)
//!  Union ─▶ the inputs' open pipelines, one after another, into the same sink
//!  an Aggregate or Window subtree seen twice ─▶ runs once into a Materialize sink; every
//!          occurrence is a pipeline reading it
//! ```
//!
//! Pipelines are emitted in the order the old recursive executor ran them, which is
//! an order in which everything a pipeline reads is finished before it starts.
//!
//! **Memory budgets.** A join's build side stays resident while its probe side runs,
//! so a join's build gets at most half of the budget of its subtree, and the probe
//! subtree keeps the rest less what the build is expected to hold (three times its
//! estimated bytes, at least 1 MiB), so a chain of small dimension builds does not
//! halve the budget at every level. Aggregates, sorts and shared results get the
//! pool's limit; the workers of their sinks leave the scans feeding them a set-aside
//! ([`worker_budget`](crate::memory::worker_budget)). The pool stays the hard limit for
//! all of them.
//!
//! **Runtime filters** are wired here as links: a top-k whose first key is a column of
//! a Parquet scan reaching it through filters and projections publishes its bound to
//! that scan, and a join that drops unmatched probe rows, for each key that is a scan
//! column reaching the probe side through filters, projections and other joins (that
//! output the column's side: dropping such a row drops only output rows holding its
//! key, or turns them into rows whose key is NULL, which the join drops as well),
//! hands that key's build values to that scan. Several joins may feed one scan.
//! Where each link may go is decided in `runtime_filter_links`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;

use super::explain::describe;
use super::operator_estimate::Estimator;
use super::runtime_filter_links::{join_keys_link, routed, topk_link};
use super::{estimate, BuildSide, JoinType, LogicalPlan};
use crate::config::SessionConfig;
use crate::error::Result;
use crate::exec::aggregate::AggregateSpec;
use crate::exec::join::{JoinSides, JoinSpec, Roles};
use crate::exec::physical::{
    JoinKeysLink, OperatorId, OperatorKind, OutputSpec, PhysicalOperator, PhysicalPlan, Pipeline,
    PlanSettings, ScanSpec, TopKLink, ValuesSpec,
};
use crate::exec::window::WindowSpec;
use crate::expr::scalar::ScalarValue;
use crate::expr::window::WindowCall;
use crate::expr::{BinaryOp, Expr, SortExpr};

/// Runs more sort runs than this at once only in several merge passes.
pub const SORT_FAN_IN: usize = 64;

/// The physical plan of `plan`, collecting its rows (a limit at the root is applied by
/// the collecting output itself).
pub fn plan_physical(plan: &LogicalPlan, config: &SessionConfig) -> Result<PhysicalPlan> {
    plan_physical_into(plan, config, OutputSpec::Collect { limit: None })
}

/// The physical plan of `plan` writing its rows to `output`.
pub fn plan_physical_into(
    plan: &LogicalPlan,
    config: &SessionConfig,
    output: OutputSpec,
) -> Result<PhysicalPlan> {
    config.validate()?;
    let (plan, output) = match (plan, output) {
        (LogicalPlan::Limit { input, skip, fetch }, OutputSpec::Collect { limit: None }) => (
            input.as_ref(),
            OutputSpec::Collect {
                limit: Some((*skip, *fetch)),
            },
        ),
        (p, o) => (p, o),
    };
    let mut planner = Planner::new(plan, config);
    let built = planner.build(plan, config.memory_limit, &Links::default())?;
    let schema = plan.schema();
    match &output {
        OutputSpec::Parquet { path, options } => {
            crate::io::sink::validate_parquet(path, &schema, options)?
        }
        OutputSpec::Csv { path, options } => crate::io::sink::validate_csv(path, &schema, options)?,
        OutputSpec::Collect { .. } | OutputSpec::External { .. } => {}
    }
    let label = match &output {
        OutputSpec::Collect { limit: None } => "Collect".to_string(),
        OutputSpec::Collect {
            limit: Some((skip, fetch)),
        } => format!("Collect: skip={skip} fetch={fetch}"),
        OutputSpec::Parquet { path, .. } => format!("ParquetSink: {}", path.display()),
        OutputSpec::Csv { path, .. } => format!("CsvSink: {}", path.display()),
        OutputSpec::External { name } => name.clone(),
    };
    let fetch = match &output {
        OutputSpec::Collect {
            limit: Some((_, fetch)),
        } => Some(*fetch),
        _ => None,
    };
    let estimate = planner.estimator.output(plan, fetch);
    let out = planner.push(PhysicalOperator {
        id: 0,
        kind: OperatorKind::Output(output),
        label,
        schema,
        inputs: vec![built.top],
        budget: config.memory_limit,
        estimate,
    });
    planner.close(built.parts, out);
    let mut physical = PhysicalPlan {
        operators: planner.ops,
        pipelines: planner.pipelines,
        settings: PlanSettings {
            memory_limit: config.memory_limit,
            threads: config.threads,
            chunk_rows: config.chunk_rows,
        },
    };
    renumber(&mut physical, out);
    Ok(physical)
}

/// Numbers the operators in data-flow order (each after its inputs, the build side
/// of a join before its probe side, the output last), so explain reads bottom-up.
fn renumber(plan: &mut PhysicalPlan, root: OperatorId) {
    fn visit(
        ops: &[PhysicalOperator],
        id: OperatorId,
        order: &mut Vec<OperatorId>,
        seen: &mut [bool],
    ) {
        if id >= ops.len() || seen[id] {
            return;
        }
        seen[id] = true;
        for &i in &ops[id].inputs {
            visit(ops, i, order, seen);
        }
        order.push(id);
    }
    let n = plan.operators.len();
    let mut order = vec![];
    let mut seen = vec![false; n];
    visit(&plan.operators, root, &mut order, &mut seen);
    for id in 0..n {
        visit(&plan.operators, id, &mut order, &mut seen);
    }
    let mut new_id = vec![0; n];
    for (new, &old) in order.iter().enumerate() {
        new_id[old] = new;
    }
    let mut ops: Vec<Option<PhysicalOperator>> = std::mem::take(&mut plan.operators)
        .into_iter()
        .map(Some)
        .collect();
    for &old in &order {
        if let Some(mut op) = ops[old].take() {
            op.id = new_id[old];
            for i in &mut op.inputs {
                *i = new_id[*i];
            }
            if let OperatorKind::Scan(scan) = &mut op.kind {
                if let Some(l) = &mut scan.topk_bound {
                    l.topk = new_id[l.topk];
                }
                for l in &mut scan.join_keys {
                    l.join = new_id[l.join];
                }
            }
            plan.operators.push(op);
        }
    }
    for p in &mut plan.pipelines {
        p.source = new_id[p.source];
        p.sink = new_id[p.sink];
        for o in &mut p.operators {
            *o = new_id[*o];
        }
    }
}

/// A pipeline still open: its source and the operators after it.
struct Open {
    source: OperatorId,
    operators: Vec<OperatorId>,
}

/// What planning a subtree gives: its open pipelines and the operator that produces
/// its rows (for the plan's edges).
struct Built {
    parts: Vec<Open>,
    top: OperatorId,
}

/// Runtime filters a scan below may receive.
#[derive(Default, Clone)]
struct Links {
    topk: Option<TopKLink>,
    join_keys: Vec<JoinKeysLink>,
    /// A filter right above a Window reads only rows ranking within this many of
    /// their partition.
    keep_top: Option<usize>,
}

struct Planner<'a> {
    config: &'a SessionConfig,
    estimator: Estimator<'a>,
    ops: Vec<PhysicalOperator>,
    pipelines: Vec<Pipeline>,
    /// Fingerprints of the aggregate and window subtrees that occur more than once.
    shared: HashMap<Vec<u8>, Option<OperatorId>>,
}

impl<'a> Planner<'a> {
    fn new(plan: &LogicalPlan, config: &'a SessionConfig) -> Self {
        Planner {
            config,
            estimator: Estimator::new(config),
            ops: vec![],
            pipelines: vec![],
            shared: shared_subtrees(plan),
        }
    }

    fn push(&mut self, mut op: PhysicalOperator) -> OperatorId {
        op.id = self.ops.len();
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// An operator of `kind` made from logical node `plan`.
    fn add(
        &mut self,
        plan: &LogicalPlan,
        kind: OperatorKind,
        label: String,
        inputs: Vec<OperatorId>,
        budget: usize,
    ) -> OperatorId {
        let estimate = self.estimator.operator(plan, &kind, budget);
        self.push(PhysicalOperator {
            id: 0,
            kind,
            label,
            schema: plan.schema(),
            inputs,
            budget,
            estimate,
        })
    }

    fn close(&mut self, parts: Vec<Open>, sink: OperatorId) {
        for p in parts {
            self.pipelines.push(Pipeline {
                source: p.source,
                operators: p.operators,
                sink,
            });
        }
    }

    /// What aggregates, sorts and shared results may hold: the pool. (Their workers
    /// leave the scans beside them a set-aside: `Holder::Worker`.)
    fn breaker_budget(&self) -> usize {
        self.config.memory_limit
    }

    /// Whether a top-k of `k` rows of `input` fits in memory: each worker and the
    /// shared state hold up to twice k rows with their sort keys while compacting, and
    /// that may take at most half the memory limit. Rows are sized from the schema
    /// (32 bytes for a string or other variable-width value).
    fn topk_fits(&self, k: usize, input: &LogicalPlan) -> bool {
        let copies = 2 * 2 * (self.config.threads.max(1) + 1);
        Self::row_bytes(input)
            .saturating_mul(k)
            .saturating_mul(copies)
            <= self.config.memory_limit / 2
    }

    /// Whether a limit's `rows` rows of `input`, collected as they arrive (whole
    /// morsels, so up to twice the rows), fit in half the memory limit.
    fn rows_fit(&self, rows: usize, input: &LogicalPlan) -> bool {
        Self::row_bytes(input)
            .saturating_mul(rows)
            .saturating_mul(2)
            <= self.config.memory_limit / 2
    }

    /// Estimated bytes of one row of `input` (32 for a value of variable width).
    fn row_bytes(input: &LogicalPlan) -> usize {
        input
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().primitive_width().unwrap_or(32) + 1)
            .sum()
    }

    fn build(&mut self, plan: &LogicalPlan, budget: usize, links: &Links) -> Result<Built> {
        let key = match plan {
            LogicalPlan::Aggregate { .. } | LogicalPlan::Window { .. }
                if !self.shared.is_empty() =>
            {
                fingerprint(plan).filter(|k| self.shared.contains_key(k))
            }
            _ => None,
        };
        let Some(key) = key else {
            return self.build_node(plan, budget, links);
        };
        let materialize = match self.shared.get(&key).copied().flatten() {
            Some(m) => {
                if let OperatorKind::Materialize { readers } = &mut self.ops[m].kind {
                    *readers += 1;
                }
                m
            }
            None => {
                let inner = self.build_node(plan, budget, &Links::default())?;
                let budget = self.breaker_budget();
                let m = self.add(
                    plan,
                    OperatorKind::Materialize { readers: 1 },
                    format!("Materialize (shared): {}", describe(plan)),
                    vec![inner.top],
                    budget,
                );
                self.close(inner.parts, m);
                self.shared.insert(key, Some(m));
                m
            }
        };
        Ok(single(materialize))
    }

    fn build_node(&mut self, plan: &LogicalPlan, budget: usize, links: &Links) -> Result<Built> {
        match plan {
            LogicalPlan::Scan(node) => {
                let spec = ScanSpec {
                    dataset: Arc::clone(&node.dataset),
                    projection: node.projection.clone(),
                    filters: node.filters.clone(),
                    limit: node.limit,
                    topk_bound: links.topk.clone(),
                    join_keys: links.join_keys.clone(),
                };
                let op = self.add(plan, OperatorKind::Scan(spec), describe(plan), vec![], 0);
                Ok(single(op))
            }
            LogicalPlan::Values { schema, batches } => {
                let spec = ValuesSpec {
                    schema: Arc::clone(schema),
                    batches: batches.clone(),
                };
                let op = self.add(plan, OperatorKind::Values(spec), describe(plan), vec![], 0);
                Ok(single(op))
            }
            LogicalPlan::Filter { input, predicate } => {
                let mut links = links.clone();
                links.keep_top = match input.as_ref() {
                    LogicalPlan::Window { calls, .. } => rank_bound(predicate, calls),
                    _ => None,
                };
                let b = self.build(input, budget, &links)?;
                let kind = OperatorKind::Filter {
                    predicate: predicate.clone(),
                };
                Ok(self.stream(plan, b, kind))
            }
            LogicalPlan::Project { input, exprs, .. } => {
                // Join-key filters follow their column through renames.
                let mut links = links.clone();
                links.join_keys = links
                    .join_keys
                    .iter()
                    .flat_map(|l| routed(plan, l))
                    .map(|(_, l)| l)
                    .collect();
                let b = self.build(input, budget, &links)?;
                let kind = OperatorKind::Project {
                    exprs: exprs.clone(),
                };
                Ok(self.stream(plan, b, kind))
            }
            LogicalPlan::Window {
                input,
                partition_by,
                order_by,
                calls,
                ..
            } => {
                let spec = WindowSpec {
                    partition_by: partition_by.clone(),
                    order_by: order_by.clone(),
                    calls: calls.clone(),
                    fan_in: SORT_FAN_IN,
                    keep_top: links.keep_top,
                };
                let budget_here = self.breaker_budget();
                let label = match links.keep_top {
                    Some(k) => format!("{} top {k} per partition", describe(plan)),
                    None => describe(plan),
                };
                let kind = OperatorKind::Window(Arc::new(spec));
                let op = self.add(plan, kind, label, vec![], budget_here);
                let b = self.build(input, budget, &Links::default())?;
                self.ops[op].inputs = vec![b.top];
                self.close(b.parts, op);
                Ok(single(op))
            }
            LogicalPlan::Expand {
                input, projections, ..
            } => {
                let b = self.build(input, budget, &Links::default())?;
                let kind = OperatorKind::Expand {
                    projections: projections.clone(),
                };
                Ok(self.stream(plan, b, kind))
            }
            LogicalPlan::Aggregate {
                input, keys, aggs, ..
            } => {
                let b = self.build(input, budget, &Links::default())?;
                let spec = Arc::new(
                    AggregateSpec::try_new(&input.schema(), keys, aggs, plan.schema())?
                        .with_empty_input_keys(crate::plan::grouping_sets::grand_total_keys(
                            input, keys,
                        )),
                );
                let label = format!("Hash{}", describe(plan));
                let budget = self.breaker_budget();
                let op = self.add(
                    plan,
                    OperatorKind::HashAggregate(spec),
                    label,
                    vec![b.top],
                    budget,
                );
                self.close(b.parts, op);
                Ok(single(op))
            }
            LogicalPlan::Limit { input, skip, fetch } => {
                // An OFFSET over a top-k too large for memory: the external sort
                // outputs just the rows asked for, so no limit collects them.
                if let LogicalPlan::Sort {
                    input: sorted,
                    keys,
                    fetch: Some(k),
                } = input.as_ref()
                {
                    if !self.topk_fits(*k, sorted) && skip.saturating_add(*fetch) <= *k {
                        return self.external_rows(input, sorted, keys, *skip, *fetch, budget);
                    }
                }
                // A limit collects its rows in memory (and stops its input once it has
                // them); when they cannot fit, the external sort with no keys (source
                // order) spills them and outputs just the rows asked for.
                if !self.rows_fit(skip.saturating_add(*fetch), input) {
                    return self.external_rows(plan, input, &[], *skip, *fetch, budget);
                }
                let b = self.build(input, budget, &Links::default())?;
                let kind = OperatorKind::Limit {
                    skip: *skip,
                    fetch: *fetch,
                };
                let limit = self.config.memory_limit;
                let op = self.add(plan, kind, describe(plan), vec![b.top], limit);
                self.close(b.parts, op);
                Ok(single(op))
            }
            LogicalPlan::Sort { input, keys, fetch } => {
                self.sort(plan, input, keys, *fetch, budget)
            }
            LogicalPlan::Union { inputs, .. } => {
                let mut parts = vec![];
                let mut tops = vec![];
                // A top-k bound may pass; join-key filters are never routed here.
                let links = Links {
                    join_keys: vec![],
                    ..links.clone()
                };
                for input in inputs {
                    let b = self.build(input, budget, &links)?;
                    parts.extend(b.parts);
                    tops.push(b.top);
                }
                let op = self.add(plan, OperatorKind::Union, describe(plan), tops, 0);
                Ok(Built { parts, top: op })
            }
            LogicalPlan::Join {
                left,
                right,
                join_type,
                on,
                filter,
                ..
            } => self.join(
                plan,
                (left, right),
                *join_type,
                (on, filter),
                budget,
                &links.join_keys,
            ),
        }
    }

    /// A streaming operator appended to every open pipeline of `b`.
    fn stream(&mut self, plan: &LogicalPlan, mut b: Built, kind: OperatorKind) -> Built {
        let op = self.add(plan, kind, describe(plan), vec![b.top], 0);
        for p in &mut b.parts {
            p.operators.push(op);
        }
        b.top = op;
        b
    }

    /// Rows `skip .. skip + fetch` of `input` ordered by `keys` (then source order;
    /// with no keys, source order) through the external sort, which spills: a top-k or
    /// a limit whose rows are too many for memory.
    fn external_rows(
        &mut self,
        plan: &LogicalPlan,
        input: &LogicalPlan,
        keys: &[SortExpr],
        skip: usize,
        fetch: usize,
        budget: usize,
    ) -> Result<Built> {
        let kind = OperatorKind::Sort {
            keys: keys.to_vec(),
            fan_in: SORT_FAN_IN,
            skip,
            fetch: Some(fetch),
        };
        let label = format!(
            "External{} rows {skip}..{} ({} too large for memory)",
            describe(plan),
            skip.saturating_add(fetch),
            if keys.is_empty() { "limit" } else { "top-k" }
        );
        let op = self.add(plan, kind, label, vec![], self.breaker_budget());
        let b = self.build(input, budget, &Links::default())?;
        self.ops[op].inputs = vec![b.top];
        self.close(b.parts, op);
        Ok(single(op))
    }

    fn sort(
        &mut self,
        plan: &LogicalPlan,
        input: &LogicalPlan,
        keys: &[SortExpr],
        fetch: Option<usize>,
        budget: usize,
    ) -> Result<Built> {
        let budget_here = self.breaker_budget();
        // A top-k keeps its k rows in memory (per worker, while compacting); when they
        // cannot fit, the external sort (which spills) runs and a limit takes the first k.
        if let Some(k) = fetch.filter(|&k| !self.topk_fits(k, input)) {
            return self.external_rows(plan, input, keys, 0, k, budget);
        }
        let (kind, label) = match fetch {
            Some(k) => (
                OperatorKind::TopK {
                    keys: keys.to_vec(),
                    k,
                },
                describe(plan),
            ),
            None => (
                OperatorKind::Sort {
                    keys: keys.to_vec(),
                    fan_in: SORT_FAN_IN,
                    skip: 0,
                    fetch: None,
                },
                format!("External{}", describe(plan)),
            ),
        };
        let op = self.add(plan, kind, label, vec![], budget_here);
        let links = Links {
            topk: fetch.and_then(|_| topk_link(op, input, keys)),
            join_keys: vec![],
            keep_top: None,
        };
        let b = self.build(input, budget, &links)?;
        self.ops[op].inputs = vec![b.top];
        self.close(b.parts, op);
        Ok(single(op))
    }

    fn join(
        &mut self,
        plan: &LogicalPlan,
        (left, right): (&LogicalPlan, &LogicalPlan),
        join_type: JoinType,
        (on, filter): (&[(Expr, Expr)], &Option<Expr>),
        budget: usize,
        from_above: &[JoinKeysLink],
    ) -> Result<Built> {
        let build_is_left = builds_left(plan, left, right);
        let (ls, rs) = (left.schema(), right.schema());
        let key_types = on
            .iter()
            .map(|(l, r)| super::join::key_type(l, r, &ls, &rs))
            .collect::<Result<Vec<DataType>>>()?;
        let spec = Arc::new(JoinSpec::try_new(
            JoinSides {
                left: ls,
                right: rs,
                on: on.to_vec(),
                key_types,
                filter: filter.clone(),
                output_schema: plan.schema(),
            },
            roles(join_type, build_is_left),
            build_is_left,
            join_type.to_string(),
        )?);
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
        // The key filters of the joins above go to the sides whose scans they reach.
        let from_above: Vec<(&LogicalPlan, JoinKeysLink)> =
            from_above.iter().flat_map(|l| routed(plan, l)).collect();
        let to_side = |side: &LogicalPlan| -> Vec<JoinKeysLink> {
            from_above
                .iter()
                .filter(|(s, _)| std::ptr::eq(*s, side))
                .map(|(_, l)| l.clone())
                .collect()
        };
        let build_links = Links {
            join_keys: to_side(build_side),
            ..Links::default()
        };
        let built = self.build(build_side, budget, &build_links)?;
        let label = format!(
            "Hash{} (build = {})",
            describe(plan),
            if build_is_left { "left" } else { "right" }
        );
        let op = self.add(
            plan,
            OperatorKind::HashJoin(Arc::clone(&spec)),
            label,
            vec![built.top],
            share,
        );
        self.close(built.parts, op);
        let mut join_keys = to_side(probe_side);
        join_keys.extend(join_keys_link(op, &spec, probe_side));
        let links = Links {
            topk: None,
            join_keys,
            keep_top: None,
        };
        let mut probe = self.build(probe_side, budget - held, &links)?;
        self.ops[op].inputs.push(probe.top);
        for p in &mut probe.parts {
            p.operators.push(op);
        }
        probe.parts.push(Open {
            source: op,
            operators: vec![],
        });
        probe.top = op;
        Ok(probe)
    }
}

/// The most rows per partition that `predicate` (over a Window's output) keeps, when
/// one of its conjuncts bounds a `row_number`/`rank` call (`#win <= k`, `< k`, `= k`,
/// mirrored) and every call of the Window is one: the Window may then drop rows that
/// rank after `k` before sorting.
fn rank_bound(predicate: &Expr, calls: &[WindowCall]) -> Option<usize> {
    use crate::expr::window::WindowFunc;
    let ranks = |name: &str| calls.iter().any(|c| c.name == name);
    if !calls
        .iter()
        .all(|c| matches!(c.func, WindowFunc::RowNumber | WindowFunc::Rank))
    {
        return None;
    }
    let bound = |e: &Expr| -> Option<i64> {
        let Expr::Binary { left, op, right } = e else {
            return None;
        };
        let (column, op, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(ScalarValue::Int64(v))) => (c, *op, *v),
            // `k >= #win` is `#win <= k`.
            (Expr::Literal(ScalarValue::Int64(v)), Expr::Column(c)) => {
                let op = match op {
                    BinaryOp::GtEq => BinaryOp::LtEq,
                    BinaryOp::Gt => BinaryOp::Lt,
                    BinaryOp::Eq => BinaryOp::Eq,
                    _ => return None,
                };
                (c, op, *v)
            }
            _ => return None,
        };
        if !ranks(column) {
            return None;
        }
        match op {
            BinaryOp::LtEq | BinaryOp::Eq => Some(value),
            BinaryOp::Lt => Some(value - 1),
            _ => None,
        }
    };
    let k = predicate
        .clone()
        .split_conjunction()
        .iter()
        .filter_map(bound)
        .min()?;
    usize::try_from(k).ok().filter(|&k| k >= 1)
}

fn single(op: OperatorId) -> Built {
    Built {
        parts: vec![Open {
            source: op,
            operators: vec![],
        }],
        top: op,
    }
}

/// Whether a join builds its hash table on the left input: the join-order rule's hint
/// when it gave one, else the input with fewer estimated bytes.
fn builds_left(join: &LogicalPlan, left: &LogicalPlan, right: &LogicalPlan) -> bool {
    match join.build_hint() {
        Some(side) => side == BuildSide::Left,
        None => estimate::bytes(left) < estimate::bytes(right),
    }
}

/// What the join emits, in terms of its build and probe sides, for `join_type` when
/// the left input is (or is not) the build side.
pub fn roles(join_type: JoinType, build_is_left: bool) -> Roles {
    let mut r = Roles::default();
    match (join_type, build_is_left) {
        (JoinType::Inner, _) => r.pairs = true,
        (JoinType::Full, _) => {
            r.pairs = true;
            r.probe_unmatched = true;
            r.build_unmatched = true;
        }
        (JoinType::Left, false) | (JoinType::Right, true) => {
            r.pairs = true;
            r.probe_unmatched = true;
        }
        (JoinType::Left, true) | (JoinType::Right, false) => {
            r.pairs = true;
            r.build_unmatched = true;
        }
        (JoinType::Semi, false) => r.probe_semi = true,
        (JoinType::Anti, false) => r.probe_anti = true,
        (JoinType::Semi, true) => r.build_semi = true,
        (JoinType::Anti, true) => r.build_anti = true,
    }
    r
}

/// The fingerprints of aggregate and window subtrees (a `WITH` view computed by either,
/// read several times: TPC-DS q47's `v1`) that occur more than once; the inside of a
/// shared subtree counts once, not once per occurrence.
fn shared_subtrees(plan: &LogicalPlan) -> HashMap<Vec<u8>, Option<OperatorId>> {
    let mut all = HashMap::new();
    count_aggregates(plan, None, &mut all);
    all.retain(|_, n| *n > 1);
    let mut counts = HashMap::new();
    count_aggregates(plan, Some(&all), &mut counts);
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| (k, None))
        .collect()
}

fn count_aggregates(
    plan: &LogicalPlan,
    shared: Option<&HashMap<Vec<u8>, usize>>,
    counts: &mut HashMap<Vec<u8>, usize>,
) {
    if matches!(
        plan,
        LogicalPlan::Aggregate { .. } | LogicalPlan::Window { .. }
    ) {
        if let Some(key) = fingerprint(plan) {
            let seen = counts.get(&key).copied().unwrap_or(0);
            let stop = seen > 0 && shared.is_some_and(|s| s.contains_key(&key));
            counts.insert(key, seen + 1);
            if stop {
                return;
            }
        }
    }
    for input in plan.inputs() {
        count_aggregates(input, shared, counts);
    }
}

/// The structural identity of a subtree (its serialized form); `None` for one that
/// holds in-memory batches, which are never shared.
fn fingerprint(plan: &LogicalPlan) -> Option<Vec<u8>> {
    if holds_values(plan) {
        return None;
    }
    crate::serialize::fingerprint(plan).ok()
}

fn holds_values(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Values { .. }) || plan.inputs().iter().any(|i| holds_values(i))
}
