//! Probing: the streaming half of the hash join, and the kernels that turn matches
//! into output rows.
//!
//! For each probe morsel: evaluate and hash its keys; rows whose partition was spilled
//! during the build go to that partition's probe spill file (joined later by
//! [`super::JoinTailSource`]); the others look up their key's chain in the table and
//! walk it, collecting (probe row, build row) candidate pairs. Every `chunk_rows`
//! pairs, the extra condition (if any) filters the candidates, survivors mark their
//! probe and build rows as matched, and, if the join outputs pairs, become an output
//! batch. Probe rows that the roles want unmatched (outer, anti) or matched (semi)
//! follow at the end of the morsel.
//!
//! Memory: one morsel's candidate pairs, at most `chunk_rows` at a time, and its
//! output batches, which go straight downstream.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array,
};
use arrow::compute::{filter_record_batch, interleave, take};

use super::build::BuiltJoin;
use super::table::{head, JoinTable};
use super::{hash_column, key_validity, JoinSpec, KeyedBatch};
use crate::error::Result;
use crate::exec::group_table::{partition_of, split_by_partition};
use crate::expr::eval::evaluate_predicate;
use crate::stream::{Emit, Operator, SinkStatus};

/// The probe operator of a hash join (the build side has already run).
pub struct HashJoinProbe {
    pub built: Arc<BuiltJoin>,
}

impl Operator for HashJoinProbe {
    fn name(&self) -> String {
        format!("HashJoinProbe: {}", self.built.spec.name)
    }

    fn execute(&self, batch: RecordBatch, emit: &mut Emit<'_>) -> Result<SinkStatus> {
        let spec = &self.built.spec;
        let (keyed, keys) = spec.keyed_with_keys(&batch, false)?;
        let table = self.built.table()?;
        let chunk_rows = self.built.chunk_rows;
        // Rows of spilled partitions wait in their partition's probe file; rows with a
        // null key can never match and are probed (as unmatched) now.
        let deferred: Vec<bool> = if self.built.any_spilled() {
            let valid = key_validity(&keyed, spec.probe_schema.fields().len(), spec);
            hash_column(&keyed)?
                .iter()
                .enumerate()
                .map(|(i, &h)| {
                    valid.as_ref().is_none_or(|v| v.is_valid(i))
                        && self.built.is_spilled(partition_of(h, 0))
                })
                .collect()
        } else {
            vec![]
        };
        if !deferred.contains(&true) {
            let probe = KeyedBatch { batch: keyed, keys };
            return probe_keyed(spec, &table, &probe, chunk_rows, true, &mut vec![], emit);
        }
        let now = filter_record_batch(
            &keyed,
            &BooleanArray::from(deferred.iter().map(|d| !d).collect::<Vec<_>>()),
        )?;
        let later = filter_record_batch(&keyed, &BooleanArray::from(deferred))?;
        let later_hashes = hash_column(&later)?;
        for part in split_by_partition(
            &later,
            &later_hashes,
            0,
            crate::exec::group_table::PARTITIONS,
        ) {
            let (p, rows) = part?;
            self.built.defer_probe_rows(p, &rows)?;
        }
        if now.num_rows() == 0 {
            return Ok(SinkStatus::NeedMore);
        }
        let inputs = spec.probe_schema.fields().len();
        probe_keyed(
            spec,
            &table,
            &KeyedBatch::of(now, inputs, spec)?,
            self.built.chunk_rows,
            true,
            &mut vec![],
            emit,
        )
    }
}

/// Probes one keyed probe batch against `table`.
///
/// `matched` receives, per probe row, whether it found a surviving match. With
/// `emit_probe_side` false, unmatched/semi/anti probe rows are left to the caller
/// (the chunked fallback emits them after probing every build chunk).
pub fn probe_keyed(
    spec: &JoinSpec,
    table: &JoinTable,
    probe: &KeyedBatch,
    chunk_rows: usize,
    emit_probe_side: bool,
    matched: &mut Vec<bool>,
    emit: &mut Emit<'_>,
) -> Result<SinkStatus> {
    let (keyed, keys) = (&probe.batch, &probe.keys);
    let rows = keyed.num_rows();
    let mut heads = vec![];
    table.heads_for(keys, rows, &mut heads);
    // Probe rows failing the probe-side conjuncts of the join condition match nothing.
    if let Some(f) = &spec.probe_filter {
        let inputs = spec.probe_schema.fields().len();
        let pass = spec.side_mask(f, &keyed.columns()[..inputs], true, rows)?;
        for (h, ok) in heads.iter_mut().zip(pass.iter()) {
            if !ok {
                *h = super::table::NONE;
            }
        }
    }
    matched.clear();
    matched.resize(rows, false);
    let roles = spec.roles;
    let walk = roles.pairs || spec.filter.is_some() || roles.tracks_build_matches();
    if walk {
        let chunk = chunk_rows.max(1);
        let (mut pi, mut bi): (Vec<u32>, Vec<u32>) = (vec![], vec![]);
        for (i, &h) in heads.iter().enumerate() {
            let mut r = head(h);
            while let Some(b) = r {
                pi.push(i as u32);
                bi.push(b);
                if pi.len() >= chunk
                    && flush_pairs(spec, table, keyed, &mut pi, &mut bi, matched, emit)?
                        == SinkStatus::Finished
                {
                    return Ok(SinkStatus::Finished);
                }
                r = table.next_row(b);
            }
        }
        if flush_pairs(spec, table, keyed, &mut pi, &mut bi, matched, emit)? == SinkStatus::Finished
        {
            return Ok(SinkStatus::Finished);
        }
    } else {
        for (m, &h) in matched.iter_mut().zip(&heads) {
            *m = head(h).is_some();
        }
    }
    if !emit_probe_side {
        return Ok(SinkStatus::NeedMore);
    }
    emit_probe_rows(spec, keyed, matched, emit)
}

/// Emits the probe rows the roles want given which rows matched.
pub fn emit_probe_rows(
    spec: &JoinSpec,
    keyed: &RecordBatch,
    matched: &[bool],
    emit: &mut Emit<'_>,
) -> Result<SinkStatus> {
    let roles = spec.roles;
    let want_matched = if roles.probe_semi {
        true
    } else if roles.probe_unmatched || roles.probe_anti {
        false
    } else {
        return Ok(SinkStatus::NeedMore);
    };
    let idx: Vec<u32> = (0..keyed.num_rows() as u32)
        .filter(|&i| matched[i as usize] == want_matched)
        .collect();
    if idx.is_empty() {
        return Ok(SinkStatus::NeedMore);
    }
    let idx = UInt32Array::from(idx);
    let inputs = spec.probe_schema.fields().len();
    let probe_cols = take_columns(&keyed.columns()[..inputs], &idx)?;
    if roles.probe_unmatched {
        let nulls = null_columns(&spec.build_schema, idx.len());
        emit(output_batch(spec, probe_cols, nulls, idx.len())?)
    } else {
        emit(batch_of(&spec.output_schema, probe_cols, idx.len())?)
    }
}

/// Filters a chunk of candidate pairs, records matches, emits surviving pairs.
fn flush_pairs(
    spec: &JoinSpec,
    table: &JoinTable,
    keyed: &RecordBatch,
    pi: &mut Vec<u32>,
    bi: &mut Vec<u32>,
    matched: &mut [bool],
    emit: &mut Emit<'_>,
) -> Result<SinkStatus> {
    if pi.is_empty() {
        return Ok(SinkStatus::NeedMore);
    }
    let roles = spec.roles;
    let probe_idx = UInt32Array::from(std::mem::take(pi));
    let build_rows = std::mem::take(bi);
    let inputs = spec.probe_schema.fields().len();
    let need_columns = roles.pairs || spec.filter.is_some();
    let (probe_cols, build_cols) = if need_columns {
        (
            take_columns(&keyed.columns()[..inputs], &probe_idx)?,
            build_columns(spec, table, &build_rows)?,
        )
    } else {
        (vec![], vec![])
    };
    let n = probe_idx.len();
    let keep: Option<BooleanArray> = match &spec.filter {
        None => None,
        Some(f) => {
            let (l, r) = ordered(spec, probe_cols.clone(), build_cols.clone());
            let pairs = batch_of(&spec.pair_schema, l.into_iter().chain(r).collect(), n)?;
            let mask = evaluate_predicate(f, &pairs)?;
            // NULL counts as false.
            Some(match mask.nulls() {
                Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
                None => mask,
            })
        }
    };
    for (k, (&p, &b)) in probe_idx.values().iter().zip(&build_rows).enumerate() {
        if keep.as_ref().is_none_or(|m| m.value(k)) {
            matched[p as usize] = true;
            table.mark(b);
        }
    }
    if !roles.pairs {
        return Ok(SinkStatus::NeedMore);
    }
    let out = output_batch(spec, probe_cols, build_cols, n)?;
    let out = match keep {
        Some(m) => filter_record_batch(&out, &m)?,
        None => out,
    };
    if out.num_rows() == 0 {
        return Ok(SinkStatus::NeedMore);
    }
    emit(out)
}

/// The build side's input columns at `rows` (table row numbers).
pub fn build_columns(spec: &JoinSpec, table: &JoinTable, rows: &[u32]) -> Result<Vec<ArrayRef>> {
    let inputs = spec.build_schema.fields().len();
    if let [batch] = &table.batches[..] {
        let idx = UInt32Array::from(rows.to_vec());
        return take_columns(&batch.columns()[..inputs], &idx);
    }
    let locs: Vec<(usize, usize)> = rows.iter().map(|&r| table.locate(r)).collect();
    (0..inputs)
        .map(|c| {
            let arrays: Vec<&dyn Array> =
                table.batches.iter().map(|b| b.column(c).as_ref()).collect();
            Ok(interleave(&arrays, &locs)?)
        })
        .collect()
}

fn take_columns(cols: &[ArrayRef], idx: &UInt32Array) -> Result<Vec<ArrayRef>> {
    cols.iter()
        .map(|c| Ok(take(c.as_ref(), idx, None)?))
        .collect()
}

/// All-null columns of `schema`'s types.
pub fn null_columns(schema: &arrow::datatypes::Schema, rows: usize) -> Vec<ArrayRef> {
    schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), rows))
        .collect()
}

/// (left columns, right columns) from (probe, build) columns.
fn ordered(
    spec: &JoinSpec,
    probe: Vec<ArrayRef>,
    build: Vec<ArrayRef>,
) -> (Vec<ArrayRef>, Vec<ArrayRef>) {
    if spec.build_is_left {
        (build, probe)
    } else {
        (probe, build)
    }
}

/// An output row batch from probe and build columns (either may be null-filled).
pub fn output_batch(
    spec: &JoinSpec,
    probe: Vec<ArrayRef>,
    build: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let (l, r) = ordered(spec, probe, build);
    batch_of(&spec.output_schema, l.into_iter().chain(r).collect(), rows)
}

pub fn batch_of(
    schema: &arrow::datatypes::SchemaRef,
    cols: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        cols,
        &options,
    )?)
}
