//! Logical plans: what to compute, as data.
//!
//! A [`LogicalPlan`] is a tree of enum nodes. Every node's output schema is resolved
//! when the node is built (the `try_*` constructors), so type errors surface while the
//! query is being written, not at `collect()`. The [`optimizer`] rewrites trees; the
//! physical planner ([`physical_planner`]) lowers them to the pipelines of a
//! [`PhysicalPlan`](crate::exec::physical::PhysicalPlan).
//!
//! Plans are data: they serialize ([`LogicalPlan::to_bytes`], [`LogicalPlan::to_json`])
//! with their datasets described by file lists, so a plan (or a fragment of it, see
//! [`fragment`]) can be planned and run in another process.

pub mod aggregate;
pub mod distribute;
pub mod estimate;
pub mod explain;
pub mod fragment;
pub mod grouping_sets;
pub mod join;
pub mod operator_estimate;
pub mod optimizer;
pub mod physical_planner;
mod runtime_filter_links;
pub mod sampled_stats;
pub mod stats;
pub mod window;

pub use join::{BuildSide, JoinType};
pub use physical_planner::{plan_physical, plan_physical_into};

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::expr::window::{WindowCall, WindowFunc};
use crate::expr::{types, AggFunc, Expr, SortExpr};
use crate::io::Dataset;

/// What sampling measured of an aggregate's groups (annotation after the optimizer sets
/// it; the physical plan's estimates read it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupEstimate {
    /// Distinct key combinations.
    pub groups: f64,
    /// Mean bytes of one encoded key.
    pub key_bytes: f64,
}

/// A scan of a dataset, with what the optimizer pushed into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanNode {
    pub dataset: Arc<Dataset>,
    /// Columns to produce (dataset order); `None` = all.
    pub projection: Option<Vec<String>>,
    /// Predicates the scan applies (and uses for pruning).
    pub filters: Vec<Expr>,
    /// At most this many rows are needed, in order.
    pub limit: Option<usize>,
    pub schema: SchemaRef,
    /// Rows after the filters, as sampling measured them (set by the optimizer's last
    /// rule, for estimates only).
    pub estimated_rows: Option<f64>,
}

/// A node of a logical plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogicalPlan {
    Scan(ScanNode),
    /// Batches already in memory (a collected `DataFrame`).
    Values {
        schema: SchemaRef,
        #[serde(with = "crate::serialize::batches")]
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
        /// Measured by sampling (set by annotation, for estimates only).
        groups: Option<GroupEstimate>,
    },
    Limit {
        input: Arc<LogicalPlan>,
        skip: usize,
        fetch: usize,
    },
    /// Rows ordered by `keys` (stable); with `fetch`, only the first `fetch` are needed
    /// (top-k). A Limit above it still applies skip/fetch.
    Sort {
        input: Arc<LogicalPlan>,
        keys: Vec<SortExpr>,
        fetch: Option<usize>,
    },
    /// An equi-join on `on` (left key, right key) pairs, with `filter` applied to
    /// matching pairs. No keys is a cross join.
    Join {
        left: Arc<LogicalPlan>,
        right: Arc<LogicalPlan>,
        join_type: JoinType,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
        schema: SchemaRef,
        /// Which input the hash table is built on, when the join-order rule knows
        /// (from its cardinality estimates); `None`: the planner compares sizes.
        build_hint: Option<BuildSide>,
        /// Output rows measured by annotation (for `explain`'s estimates only; no
        /// decision reads it). `None` on every plan that is not annotated.
        #[serde(default)]
        estimated_rows: Option<f64>,
    },
    /// Every input row once per projection (each a full output row): the input of a
    /// GROUPING SETS / ROLLUP / CUBE aggregate, read in one pass.
    Expand {
        input: Arc<LogicalPlan>,
        projections: Vec<Vec<Expr>>,
        schema: SchemaRef,
    },
    /// The input's rows and columns, plus one column per window function call, all
    /// over the same partitioning and order (`exec/window.rs`).
    Window {
        input: Arc<LogicalPlan>,
        partition_by: Vec<Expr>,
        order_by: Vec<SortExpr>,
        calls: Vec<WindowCall>,
        schema: SchemaRef,
    },
    /// The rows of every input, in input order (UNION ALL); columns matched by name.
    Union {
        inputs: Vec<Arc<LogicalPlan>>,
        schema: SchemaRef,
    },
}

impl LogicalPlan {
    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        match self {
            LogicalPlan::Scan(s) => Arc::clone(&s.schema),
            LogicalPlan::Values { schema, .. }
            | LogicalPlan::Project { schema, .. }
            | LogicalPlan::Aggregate { schema, .. }
            | LogicalPlan::Join { schema, .. }
            | LogicalPlan::Expand { schema, .. }
            | LogicalPlan::Window { schema, .. }
            | LogicalPlan::Union { schema, .. } => Arc::clone(schema),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Limit { input, .. }
            | LogicalPlan::Sort { input, .. } => input.schema(),
        }
    }

    /// The inputs of this node.
    pub fn inputs(&self) -> Vec<&Arc<LogicalPlan>> {
        match self {
            LogicalPlan::Scan(_) | LogicalPlan::Values { .. } => vec![],
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Limit { input, .. }
            | LogicalPlan::Expand { input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Sort { input, .. } => vec![input],
            LogicalPlan::Join { left, right, .. } => vec![left, right],
            LogicalPlan::Union { inputs, .. } => inputs.iter().collect(),
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
            estimated_rows: None,
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

    /// Each input row once per projection. Every projection names the same columns in
    /// the same order; a column's type is the one its projections meet at (a typed NULL
    /// in one and a value in another).
    pub fn try_expand(input: Arc<LogicalPlan>, projections: Vec<Vec<Expr>>) -> Result<Self> {
        let in_schema = input.schema();
        let first = projections
            .first()
            .ok_or_else(|| Error::Plan("expand with no projections".into()))?;
        let mut fields: Vec<Field> = vec![];
        for e in first {
            if fields.iter().any(|f| f.name() == &e.output_name()) {
                return Err(Error::Plan(format!(
                    "duplicate output column '{}'",
                    e.output_name()
                )));
            }
            fields.push(types::field(e, &in_schema)?);
        }
        for p in &projections[1..] {
            if p.len() != fields.len() {
                return Err(Error::Plan(format!(
                    "expand projections of {} and {} columns",
                    fields.len(),
                    p.len()
                )));
            }
            for (f, e) in fields.iter_mut().zip(p) {
                let g = types::field(e, &in_schema)?;
                if g.name() != f.name() {
                    return Err(Error::Plan(format!(
                        "expand projections name column '{}' and '{}'",
                        f.name(),
                        g.name()
                    )));
                }
                let t = types::common_type(f.data_type(), g.data_type()).ok_or_else(|| {
                    Error::Schema(format!(
                        "expand column '{}' is {} and {}",
                        f.name(),
                        f.data_type(),
                        g.data_type()
                    ))
                })?;
                *f = Field::new(f.name(), t, f.is_nullable() || g.is_nullable());
            }
        }
        Ok(LogicalPlan::Expand {
            input,
            projections,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The input plus the window function `calls` over `partition_by` and `order_by`.
    pub fn try_window(
        input: Arc<LogicalPlan>,
        partition_by: Vec<Expr>,
        order_by: Vec<SortExpr>,
        calls: Vec<WindowCall>,
    ) -> Result<Self> {
        let in_schema = input.schema();
        let mut fields: Vec<Field> = in_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for e in partition_by.iter().chain(order_by.iter().map(|k| &k.expr)) {
            types::data_type(e, &in_schema)?;
        }
        for c in &calls {
            let arg_types = c
                .args
                .iter()
                .map(|a| types::data_type(a, &in_schema))
                .collect::<Result<Vec<_>>>()?;
            let t = c.func.return_type(&arg_types)?;
            if fields.iter().any(|f| f.name() == &c.name) {
                return Err(Error::Plan(format!("duplicate output column '{}'", c.name)));
            }
            let non_null = matches!(
                c.func,
                WindowFunc::RowNumber
                    | WindowFunc::Rank
                    | WindowFunc::DenseRank
                    | WindowFunc::PercentRank
                    | WindowFunc::CumeDist
                    | WindowFunc::Aggregate(AggFunc::Count | AggFunc::CountStar)
            );
            fields.push(Field::new(&c.name, t, !non_null));
        }
        Ok(LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            calls,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// Groups by `keys` and computes `aggs` (each an aggregate, optionally aliased).
    pub fn try_aggregate(
        input: Arc<LogicalPlan>,
        keys: Vec<Expr>,
        aggs: Vec<Expr>,
    ) -> Result<Self> {
        let schema = aggregate::output_schema(&input.schema(), &keys, &aggs)?;
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
            groups: None,
        })
    }

    /// Rows `skip .. skip + fetch`.
    pub fn limit(input: Arc<LogicalPlan>, skip: usize, fetch: usize) -> Self {
        LogicalPlan::Limit { input, skip, fetch }
    }

    /// Orders by `keys`.
    pub fn try_sort(input: Arc<LogicalPlan>, keys: Vec<SortExpr>) -> Result<Self> {
        let schema = input.schema();
        for k in &keys {
            if k.expr.contains_aggregate() {
                return Err(Error::Plan(format!("aggregate in sort key {}", k.expr)));
            }
            types::data_type(&k.expr, &schema)?;
        }
        if keys.is_empty() {
            return Err(Error::Plan("sort needs at least one key".into()));
        }
        Ok(LogicalPlan::Sort {
            input,
            keys,
            fetch: None,
        })
    }

    /// This join with `hint` as its build side (no effect on other nodes).
    pub fn with_build_hint(mut self, hint: Option<BuildSide>) -> Self {
        if let LogicalPlan::Join { build_hint, .. } = &mut self {
            *build_hint = hint;
        }
        self
    }

    /// This join with `rows` as its measured output rows (no effect on other nodes).
    pub fn with_estimated_rows(mut self, rows: Option<f64>) -> Self {
        if let LogicalPlan::Join { estimated_rows, .. } = &mut self {
            *estimated_rows = rows;
        }
        self
    }

    /// The join's build-side hint (`None` for other nodes).
    pub fn build_hint(&self) -> Option<BuildSide> {
        match self {
            LogicalPlan::Join { build_hint, .. } => *build_hint,
            _ => None,
        }
    }

    /// Joins `left` and `right` on `on` key pairs, keeping `join_type`'s rows, with an
    /// optional extra condition over the joined columns.
    pub fn try_join(
        left: Arc<LogicalPlan>,
        right: Arc<LogicalPlan>,
        join_type: JoinType,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
    ) -> Result<Self> {
        let (ls, rs) = (left.schema(), right.schema());
        for (l, r) in &on {
            join::key_type(l, r, &ls, &rs)?;
        }
        let schema = join::join_schema(&ls, &rs, join_type)?;
        if let Some(f) = &filter {
            // The condition sees both sides, even for semi/anti joins.
            let both = join::join_schema(&ls, &rs, JoinType::Inner)?;
            let t = types::data_type(f, &both)?;
            if !matches!(
                t,
                arrow::datatypes::DataType::Boolean | arrow::datatypes::DataType::Null
            ) {
                return Err(Error::Schema(format!(
                    "join condition {f} has type {t}, not boolean"
                )));
            }
        }
        Ok(LogicalPlan::Join {
            build_hint: None,
            estimated_rows: None,
            left,
            right,
            join_type,
            on,
            filter,
            schema,
        })
    }

    /// Concatenates `inputs`, matching columns by name against the first input.
    pub fn try_union(inputs: Vec<Arc<LogicalPlan>>) -> Result<Self> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::Plan("union of no inputs".into()))?
            .schema();
        let mut aligned = vec![];
        let mut fields: Vec<Field> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
        for input in inputs {
            let s = input.schema();
            if s.fields().len() != first.fields().len() {
                return Err(Error::Schema(format!(
                    "union inputs differ: [{}] vs [{}]",
                    names(&first),
                    names(&s)
                )));
            }
            for (i, f) in first.fields().iter().enumerate() {
                let other = s.field_with_name(f.name()).map_err(|_| {
                    Error::Schema(format!(
                        "union input lacks column '{}'; its columns are [{}]",
                        f.name(),
                        names(&s)
                    ))
                })?;
                let t = types::common_type(fields[i].data_type(), other.data_type()).ok_or_else(
                    || {
                        Error::Schema(format!(
                            "union column '{}' is {} in one input and {} in another",
                            f.name(),
                            fields[i].data_type(),
                            other.data_type()
                        ))
                    },
                )?;
                let nullable = fields[i].is_nullable() || other.is_nullable();
                fields[i] = Field::new(f.name(), t, nullable);
            }
            aligned.push(input);
        }
        // Reorder and cast every input to the union's columns.
        let mut inputs = vec![];
        for input in aligned {
            let s = input.schema();
            let same = s
                .fields()
                .iter()
                .zip(&fields)
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if same {
                inputs.push(input);
                continue;
            }
            let exprs = fields
                .iter()
                .map(|f| {
                    let c = Expr::Column(f.name().clone());
                    let t = s.field_with_name(f.name()).map(|x| x.data_type().clone());
                    match t {
                        Ok(t) if &t == f.data_type() => c,
                        _ => c.cast(f.data_type().clone()).alias(f.name()),
                    }
                })
                .collect();
            inputs.push(Arc::new(LogicalPlan::try_project(input, exprs)?));
        }
        Ok(LogicalPlan::Union {
            inputs,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// A compact binary form (MessagePack), for shipping a plan to another process.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::serialize::to_bytes(self)
    }

    /// Reads [`LogicalPlan::to_bytes`] back; a Parquet file it names is opened again
    /// (and must be readable here).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        crate::serialize::from_bytes(bytes)
    }

    /// JSON, for reading and debugging.
    pub fn to_json(&self) -> Result<String> {
        crate::serialize::to_json(self)
    }

    /// Reads [`LogicalPlan::to_json`] back.
    pub fn from_json(text: &str) -> Result<Self> {
        crate::serialize::from_json(text)
    }

    /// This node over its inputs each rewritten by `f` (how a bottom-up rule
    /// recurses before it looks at the node itself).
    pub fn map_inputs(&self, f: impl Fn(&LogicalPlan) -> Result<LogicalPlan>) -> Result<Self> {
        let inputs = self
            .inputs()
            .into_iter()
            .map(|i| f(i).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        self.with_inputs(inputs)
    }

    /// Rebuilds this node over new inputs (same order as [`LogicalPlan::inputs`]).
    pub fn with_inputs(&self, inputs: Vec<Arc<LogicalPlan>>) -> Result<Self> {
        let expected = self.inputs().len();
        if inputs.len() != expected {
            return Err(Error::Internal(format!(
                "with_inputs: {} inputs for a node with {expected}",
                inputs.len()
            )));
        }
        let mut it = inputs.into_iter();
        let mut next = || {
            it.next()
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
                keys,
                aggs,
                schema,
                groups,
                ..
            } => LogicalPlan::Aggregate {
                input: next()?,
                keys: keys.clone(),
                aggs: aggs.clone(),
                schema: Arc::clone(schema),
                groups: *groups,
            },
            LogicalPlan::Limit { skip, fetch, .. } => LogicalPlan::Limit {
                input: next()?,
                skip: *skip,
                fetch: *fetch,
            },
            LogicalPlan::Sort { keys, fetch, .. } => LogicalPlan::Sort {
                input: next()?,
                keys: keys.clone(),
                fetch: *fetch,
            },
            LogicalPlan::Join {
                join_type,
                on,
                filter,
                build_hint,
                ..
            } => {
                let (left, right) = (next()?, next()?);
                LogicalPlan::try_join(left, right, *join_type, on.clone(), filter.clone())?
                    .with_build_hint(*build_hint)
            }
            LogicalPlan::Expand {
                projections,
                schema,
                ..
            } => LogicalPlan::Expand {
                input: next()?,
                projections: projections.clone(),
                schema: Arc::clone(schema),
            },
            LogicalPlan::Window {
                partition_by,
                order_by,
                calls,
                ..
            } => LogicalPlan::try_window(
                next()?,
                partition_by.clone(),
                order_by.clone(),
                calls.clone(),
            )?,
            LogicalPlan::Union { .. } => {
                let mut all = vec![];
                while let Ok(i) = next() {
                    all.push(i);
                }
                LogicalPlan::try_union(all)?
            }
        })
    }
}

fn names(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The input of a join, filter, sort, limit or renaming projection that `column` of
/// `plan` comes from, and its name there; `None` for a column computed by `plan` (or
/// one both join sides have).
pub(crate) fn column_input<'p>(
    plan: &'p LogicalPlan,
    column: &str,
) -> Option<(&'p LogicalPlan, String)> {
    let has = |p: &LogicalPlan| p.schema().index_of(column).is_ok();
    match plan {
        LogicalPlan::Join { left, right, .. } => {
            let input = match (has(left), has(right)) {
                (true, false) => left,
                (false, true) => right,
                _ => return None,
            };
            Some((input.as_ref(), column.to_string()))
        }
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Limit { input, .. } => {
            has(input).then(|| (input.as_ref(), column.to_string()))
        }
        LogicalPlan::Project { input, exprs, .. } => {
            Some((input.as_ref(), projected_column(exprs, column)?.to_string()))
        }
        _ => None,
    }
}

/// The input column a projection passes through, possibly renamed, as its output
/// `name`; `None` when `name` is computed (or not an output).
pub(crate) fn projected_column<'a>(exprs: &'a [Expr], name: &str) -> Option<&'a str> {
    let e = exprs.iter().find(|e| e.output_name() == name)?;
    match e.unalias() {
        Expr::Column(c) => Some(c.as_str()),
        _ => None,
    }
}
