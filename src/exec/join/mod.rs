//! Hash join: in memory when the build side fits, hybrid grace hash join when not.
//!
//! ```text
//!  pipeline 1 (build side)            pipeline 2 (probe side)                  pipeline 3
//!  morsel ─▶ keys+hash ─▶ JoinBuildSink   morsel ─▶ keys+hash ─▶ HashJoinProbe ─▶ …     JoinTailSource ─▶ …
//!   buffered in memory under a           partition in memory? probe the table      unmatched build rows;
//!   reservation; when it cannot grow:    partition spilled?  append the row to     each spilled partition:
//!   hash-partition (64 ways) and spill   that partition's probe spill file         load build file, build a
//!   the largest partitions (hybrid)                                                table, stream its probe
//!                                                                                  file (re-partition with
//!                                                                                  the next hash bits if the
//!                                                                                  build is still too large)
//! ```
//!
//! The join is one operator seen three ways (DuckDB's model): [`JoinBuildSink`] is
//! its sink, whose `finalize` hands on the [`BuiltJoin`] (the table and the spilled
//! partitions); [`HashJoinProbe`] is the streaming operator of the probe pipelines;
//! [`JoinTailSource`] is the source of the pipeline that runs after them.
//!
//! *Roles.* The planner picks the build side by estimated size, so a logical join type
//! maps to physical roles ([`Roles`]): whether matched pairs are emitted, whether probe
//! or build rows without a match are emitted null-extended, and which side's rows a
//! semi or anti join keeps. Output columns are always left then right.
//!
//! *Keys.* Key expressions are evaluated on both sides and cast to a common type, then
//! encoded by [`KeyCodec`] (one byte string per row) and hashed once; the hash picks
//! the radix partition (top bits) and the bucket. A row with a NULL key never matches.
//! No keys at all is a cross join: every row has the empty key, so the whole build side
//! is one partition and must fit in memory.
//!
//! *Extra conditions* (`filter`) are evaluated on each candidate pair before a pair
//! counts as a match, so outer, semi and anti joins see only surviving matches.
//!
//! *Memory.* Build rows (input columns + key columns + hash) and the table (chains and
//! the key → group map) are reserved against the pool, capped at the budget (the
//! share of the limit) the planner gives this join, so operators running above the
//! probe keep memory too; [`OperatorContext::reserve_or_spill`] decides when a
//! partition goes to disk. Spill files (Arrow IPC) hold whole partitions: one build and one probe
//! file per spilled partition. Output order is unspecified.

mod build;
mod key_index;
mod probe;
mod table;
mod tail;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

pub use self::build::{BuiltJoin, JoinBuildSink};
pub use self::probe::HashJoinProbe;
pub use self::tail::JoinTailSource;

use serde::{Deserialize, Serialize};

use super::context::{Holder, OperatorContext};
use super::group_table::hash_keys;
use super::keys::{EncodedKeys, KeyCodec};
use crate::error::Result;
use crate::expr::eval::evaluate;
use crate::expr::Expr;

/// What the join emits, in terms of its build and probe sides (the physical planner
/// maps a logical join type and the build side to these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// Matched (probe, build) pairs are output rows.
    pub pairs: bool,
    /// Probe rows without a match are output with null build columns.
    pub probe_unmatched: bool,
    /// Build rows without a match are output with null probe columns.
    pub build_unmatched: bool,
    /// Probe rows with a match are output once (semi join, build = right).
    pub probe_semi: bool,
    /// Probe rows without a match are output (anti join, build = right).
    pub probe_anti: bool,
    /// Build rows with a match are output once (semi join, build = left).
    pub build_semi: bool,
    /// Build rows without a match are output (anti join, build = left).
    pub build_anti: bool,
}

impl Roles {
    /// Whether build rows must remember that they matched.
    pub fn tracks_build_matches(&self) -> bool {
        self.build_unmatched || self.build_semi || self.build_anti
    }

    /// Whether probe rows must remember that they matched.
    pub fn tracks_probe_matches(&self) -> bool {
        self.probe_unmatched || self.probe_semi || self.probe_anti
    }
}

/// The inputs of a join as the logical plan resolved them.
pub struct JoinSides {
    pub left: SchemaRef,
    pub right: SchemaRef,
    /// (left key, right key) pairs; none is a cross join.
    pub on: Vec<(Expr, Expr)>,
    /// The type each key pair is compared at.
    pub key_types: Vec<DataType>,
    /// Extra condition on matching pairs, over left then right columns.
    pub filter: Option<Expr>,
    pub output_schema: SchemaRef,
}

/// Everything about one join that does not change while it runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinSpec {
    /// The logical join type, for display.
    pub name: String,
    pub build_is_left: bool,
    pub roles: Roles,
    pub build_keys: Vec<Expr>,
    pub probe_keys: Vec<Expr>,
    pub key_types: Vec<DataType>,
    /// The extra condition's conjuncts over both sides, evaluated on candidate pairs.
    pub filter: Option<Expr>,
    /// Its conjuncts over probe columns only, evaluated once per probe row: a row that
    /// fails them matches nothing, so its candidate pairs are never made (`t1 FULL
    /// JOIN t2 ON t1.a = t2.x AND t1.id < 200` over few distinct keys walked every
    /// pair of the key's chain).
    #[serde(default)]
    pub probe_filter: Option<Expr>,
    /// Its conjuncts over build columns only, evaluated once per build row as the
    /// table is made: a row that fails them is left out of the key index (it can still
    /// be output unmatched).
    #[serde(default)]
    pub build_filter: Option<Expr>,
    /// The build and probe inputs' schemas.
    pub build_schema: SchemaRef,
    pub probe_schema: SchemaRef,
    /// Input columns plus key columns plus the hash: the layout of buffered and
    /// spilled rows of each side.
    pub build_keyed_schema: SchemaRef,
    pub probe_keyed_schema: SchemaRef,
    /// Left columns then right columns, all nullable: what `filter` is evaluated on.
    pub pair_schema: SchemaRef,
    pub output_schema: SchemaRef,
}

impl JoinSpec {
    /// Resolves a join of `sides` with `build_is_left` choosing the build side and
    /// `roles` what is emitted.
    pub fn try_new(
        sides: JoinSides,
        roles: Roles,
        build_is_left: bool,
        name: String,
    ) -> Result<Self> {
        let JoinSides {
            left,
            right,
            on,
            key_types,
            filter,
            output_schema,
        } = sides;
        let (lk, rk): (Vec<Expr>, Vec<Expr>) = on.into_iter().unzip();
        let pair_fields: Vec<Field> = left
            .fields()
            .iter()
            .chain(right.fields())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let (build_schema, probe_schema, build_keys, probe_keys) = if build_is_left {
            (left, right, lk, rk)
        } else {
            (right, left, rk, lk)
        };
        let keyed = |s: &Schema| -> SchemaRef {
            let mut fields: Vec<Field> = s.fields().iter().map(|f| f.as_ref().clone()).collect();
            for (i, t) in key_types.iter().enumerate() {
                fields.push(Field::new(format!("__key{i}"), t.clone(), true));
            }
            fields.push(Field::new("__hash", DataType::UInt64, false));
            Arc::new(Schema::new(fields))
        };
        let (filter, probe_filter, build_filter) =
            split_by_side(filter, &probe_schema, &build_schema);
        Ok(JoinSpec {
            probe_filter,
            build_filter,
            name,
            build_is_left,
            roles,
            build_keyed_schema: keyed(&build_schema),
            probe_keyed_schema: keyed(&probe_schema),
            build_keys,
            probe_keys,
            key_types,
            filter,
            build_schema,
            probe_schema,
            pair_schema: Arc::new(Schema::new(pair_fields)),
            output_schema,
        })
    }

    /// The key encoding both sides share.
    pub fn codec(&self) -> Result<Option<KeyCodec>> {
        if self.key_types.is_empty() {
            return Ok(None);
        }
        KeyCodec::try_new(&self.key_types).map(Some)
    }

    /// Appends key columns and the hash to a batch of one side.
    pub fn keyed(&self, batch: &RecordBatch, build: bool) -> Result<RecordBatch> {
        Ok(self.keyed_with_keys(batch, build)?.0)
    }

    /// [`JoinSpec::keyed`], and the batch's keys ready for lookups (encoded once).
    pub fn keyed_with_keys(
        &self,
        batch: &RecordBatch,
        build: bool,
    ) -> Result<(RecordBatch, BatchKeys)> {
        let (exprs, schema) = if build {
            (&self.build_keys, &self.build_keyed_schema)
        } else {
            (&self.probe_keys, &self.probe_keyed_schema)
        };
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        let mut keys = vec![];
        for (e, t) in exprs.iter().zip(&self.key_types) {
            let a = evaluate(e, batch)?;
            keys.push(crate::expr::cast::cast_array(&a, t)?);
        }
        let codec = self.codec()?;
        let (encoded, hashes) = match &codec {
            None => (None, vec![0u64; batch.num_rows()]),
            Some(c) => {
                let encoded = c.encode(&keys)?;
                let mut h = vec![];
                hash_keys((0..batch.num_rows()).map(|i| encoded.key(i)), &mut h);
                (Some(encoded), h)
            }
        };
        let inputs = batch.num_columns();
        cols.extend(keys);
        let hashes = ScalarBuffer::from(hashes);
        cols.push(Arc::new(UInt64Array::new(hashes.clone(), None)));
        let keyed = RecordBatch::try_new(Arc::clone(schema), cols)?;
        let valid = key_validity(&keyed, inputs, self);
        Ok((
            keyed,
            BatchKeys {
                encoded,
                valid,
                hashes,
            },
        ))
    }
}

/// `filter`'s conjuncts as (over both sides, over probe columns only, over build
/// columns only). A conjunct without columns stays with the pairs.
fn split_by_side(
    filter: Option<Expr>,
    probe: &Schema,
    build: &Schema,
) -> (Option<Expr>, Option<Expr>, Option<Expr>) {
    let Some(filter) = filter else {
        return (None, None, None);
    };
    let (mut both, mut probe_only, mut build_only) = (vec![], vec![], vec![]);
    for c in filter.split_conjunction() {
        let cols = c.column_refs();
        let all_in =
            |s: &Schema| !cols.is_empty() && cols.iter().all(|n| s.field_with_name(n).is_ok());
        if all_in(probe) {
            probe_only.push(c);
        } else if all_in(build) {
            build_only.push(c);
        } else {
            both.push(c);
        }
    }
    (
        Expr::conjunction(both),
        Expr::conjunction(probe_only),
        Expr::conjunction(build_only),
    )
}

impl JoinSpec {
    /// Which rows of one side pass `predicate` (over that side's columns only): it is
    /// evaluated on pair rows whose other side is all NULL. `inputs` are the side's
    /// input columns. NULL counts as false.
    pub(crate) fn side_mask(
        &self,
        predicate: &Expr,
        inputs: &[ArrayRef],
        probe_side: bool,
        rows: usize,
    ) -> Result<BooleanBuffer> {
        let other = if probe_side {
            &self.build_schema
        } else {
            &self.probe_schema
        };
        let nulls: Vec<ArrayRef> = other
            .fields()
            .iter()
            .map(|f| arrow::array::new_null_array(f.data_type(), rows))
            .collect();
        let (probe, build) = if probe_side {
            (inputs.to_vec(), nulls)
        } else {
            (nulls, inputs.to_vec())
        };
        let (left, right) = if self.build_is_left {
            (build, probe)
        } else {
            (probe, build)
        };
        let pairs = RecordBatch::try_new_with_options(
            Arc::clone(&self.pair_schema),
            left.into_iter().chain(right).collect(),
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        let mask = crate::expr::eval::evaluate_predicate(predicate, &pairs)?;
        Ok(match mask.nulls() {
            Some(n) => mask.values() & n.inner(),
            None => mask.values().clone(),
        })
    }
}

/// The `__hash` column (the last one) of a keyed batch.
pub(crate) fn hash_column(batch: &RecordBatch) -> Result<ScalarBuffer<u64>> {
    batch
        .columns()
        .last()
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .map(|a| a.values().clone())
        .ok_or_else(|| crate::error::Error::Internal("join batch lacks its hash".into()))
}

/// Rows of a keyed batch (with `inputs` input columns) whose keys are all non-null;
/// `None` when every row's are.
pub(crate) fn key_validity(
    batch: &RecordBatch,
    inputs: usize,
    spec: &JoinSpec,
) -> Option<NullBuffer> {
    batch.columns()[inputs..inputs + spec.key_types.len()]
        .iter()
        .fold(None, |valid, k| {
            NullBuffer::union(valid.as_ref(), k.logical_nulls().as_ref())
        })
}

/// A keyed batch with its keys.
pub struct KeyedBatch {
    pub batch: RecordBatch,
    pub keys: BatchKeys,
}

impl KeyedBatch {
    /// Encodes the keys of a keyed batch with `inputs` input columns.
    pub fn of(batch: RecordBatch, inputs: usize, spec: &JoinSpec) -> Result<Self> {
        let keys = BatchKeys::of(&batch, inputs, spec)?;
        Ok(KeyedBatch { batch, keys })
    }
}

/// The keys of a keyed batch, ready for lookups.
pub struct BatchKeys {
    encoded: Option<EncodedKeys>,
    /// Rows whose keys are all non-null (`None`: every row).
    pub valid: Option<NullBuffer>,
    pub hashes: ScalarBuffer<u64>,
}

impl BatchKeys {
    /// Reads the key columns and hash of a keyed batch with `inputs` input columns.
    pub fn of(batch: &RecordBatch, inputs: usize, spec: &JoinSpec) -> Result<Self> {
        let nkeys = spec.key_types.len();
        let keys: Vec<ArrayRef> = batch.columns()[inputs..inputs + nkeys].to_vec();
        let valid = key_validity(batch, inputs, spec);
        let encoded = match spec.codec()? {
            None => None,
            Some(c) => Some(c.encode(&keys)?),
        };
        let hashes = hash_column(batch)?;
        Ok(BatchKeys {
            encoded,
            valid,
            hashes,
        })
    }

    /// The key bytes of row `i` (empty for a cross join).
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        match &self.encoded {
            Some(e) => e.key(i),
            None => &[],
        }
    }

    /// Whether row `i` can match at all.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.valid.as_ref().is_none_or(|v| v.is_valid(i))
    }
}

/// Write buffer of each partition file: up to 64 are open at once, so together they
/// take at most a quarter of the join's budget (the session's buffer size at most).
pub(crate) fn writer_buffer_bytes(ctx: &OperatorContext) -> usize {
    ctx.spill_buffer_bytes(super::group_table::PARTITIONS, Holder::Operator)
}
