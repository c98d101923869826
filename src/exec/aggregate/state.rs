//! Partial state batches: the layout both phases exchange, and how a morsel or a
//! table becomes one.
//!
//! A state batch holds one row per group: the group's encoded key (`#key`, binary),
//! then each accumulator's state columns (see [`super::accumulator::state_fields`]).
//! The partial phase builds them from a drained table, or straight from a morsel in
//! run mode and pass-through; the final phase merges them. Memory: each builder holds
//! one morsel's or one table's states at a time.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};

use super::accumulator::{arg_input_type, create_accumulator, input_type};
use super::{AggregateCall, AggregateSpec};
use crate::error::Result;
use crate::exec::group_table::GroupTable;
use crate::exec::keys::{EncodedKeys, KeyCodec};
use crate::expr::cast::cast_array;
use crate::expr::eval::evaluate;
use crate::stream::Morsel;

/// Evaluates the key columns of `batch` and encodes them, one row per input row.
pub(super) fn encode_keys(
    spec: &AggregateSpec,
    codec: &KeyCodec,
    batch: &RecordBatch,
) -> Result<Option<EncodedKeys>> {
    if spec.keys.is_empty() {
        return Ok(None);
    }
    let cols = spec
        .keys
        .iter()
        .zip(&spec.key_fields)
        .map(|(k, f)| cast_array(&evaluate(k, batch)?, f.data_type()))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(Some(codec.encode(&cols)?))
}

/// The partial states of one morsel folded into `groups` groups without a table: row
/// `i` goes to group `ids[i]`, whose key is the `ids[i]`-th of `group_keys`.
pub(super) fn morsel_state<'k>(
    spec: &AggregateSpec,
    morsel: &Morsel,
    group_keys: impl Iterator<Item = &'k [u8]>,
    ids: &[u32],
    groups: usize,
) -> Result<RecordBatch> {
    let order = row_order(spec, morsel);
    let mut cols: Vec<ArrayRef> = vec![Arc::new(arrow::array::BinaryArray::from_iter_values(
        group_keys,
    ))];
    for call in &spec.calls {
        let mut acc = create_accumulator(
            call.func,
            &input_type(call.func, &call.arg_type),
            call.output.data_type(),
        )?;
        acc.update(&call_inputs(call, &morsel.batch)?, ids, groups, &order)?;
        cols.extend(acc.state()?);
    }
    Ok(RecordBatch::try_new(Arc::clone(&spec.state_schema), cols)?)
}

/// Each row's position in source order (for first/last), or nothing when unneeded.
pub(super) fn row_order(spec: &AggregateSpec, morsel: &Morsel) -> Vec<i64> {
    if !spec.needs_order() {
        return vec![];
    }
    let base = ((morsel.seq.task as i64) << 40) | ((morsel.seq.batch as i64) << 20);
    (0..morsel.batch.num_rows() as i64)
        .map(|i| base | i)
        .collect()
}

/// The arguments of `call` evaluated over `batch`, at the accumulator's input type.
pub(super) fn call_inputs(call: &AggregateCall, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    call.args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let v = evaluate(a, batch)?;
            match arg_input_type(call.func, i, &call.arg_type) {
                Some(t) => cast_array(&v, &t),
                None => Ok(v),
            }
        })
        .collect()
}

/// Drains a table's partial state into one state batch (plus each row's hash).
pub(super) fn drain_state(
    table: &mut GroupTable,
    spec: &AggregateSpec,
) -> Result<(RecordBatch, Vec<u64>)> {
    let drained = table.drain(false)?;
    let mut cols = vec![drained.keys];
    cols.extend(drained.values.into_iter().flatten());
    let batch = RecordBatch::try_new(Arc::clone(&spec.state_schema), cols)?;
    Ok((batch, drained.hashes))
}
