//! Sort keys as arrow-row bytes, shared by the external sort and top-k.
//!
//! A row's key is the [`arrow::row`] encoding of its ORDER BY values (each with its
//! own direction and null placement) followed by its place in source order: the
//! morsel's [`crate::stream::Seq`] (task, batch) and the row's index in the morsel.
//! Comparing two keys is comparing bytes, and because the position makes every key
//! unique, any sort or merge of keys — stable or not, in whatever order the workers
//! saw the morsels — yields the one stable order.
//!
//! Buffered and spilled batches carry the key as an extra trailing `Binary` column
//! ([`KEY_COLUMN`]), so runs read back from disk are merged without re-encoding. The
//! column costs the key's bytes in memory and on disk (about 27 bytes of position per
//! row plus the encoded values) and is dropped from the output.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, RecordBatchOptions, UInt32Array,
    UInt64Array,
};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::expr::eval::evaluate;
use crate::expr::SortExpr;
use crate::expr::{types, Expr};
use crate::stream::Morsel;

/// Name of the trailing key column of buffered and spilled batches.
pub(super) const KEY_COLUMN: &str = "#sort_key";

/// Evaluates and encodes the keys of morsels of one input schema.
pub(super) struct KeyEncoder {
    keys: Vec<(Expr, DataType)>,
    converter: RowConverter,
    input_schema: SchemaRef,
    /// The input's fields plus [`KEY_COLUMN`].
    run_schema: SchemaRef,
}

impl KeyEncoder {
    pub(super) fn try_new(input_schema: &SchemaRef, keys: &[SortExpr]) -> Result<Self> {
        let mut fields = Vec::with_capacity(keys.len() + 3);
        let mut typed = Vec::with_capacity(keys.len());
        for k in keys {
            let data_type = types::data_type(&k.expr, input_schema)?;
            fields.push(SortField::new_with_options(
                data_type.clone(),
                SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                },
            ));
            typed.push((k.expr.clone(), data_type));
        }
        // Source position: task, batch, row.
        fields.push(SortField::new(DataType::UInt64));
        fields.push(SortField::new(DataType::UInt64));
        fields.push(SortField::new(DataType::UInt32));
        let converter = RowConverter::new(fields)?;
        let mut run_fields: Vec<Arc<Field>> = input_schema.fields().iter().cloned().collect();
        run_fields.push(Arc::new(Field::new(KEY_COLUMN, DataType::Binary, false)));
        let run_schema = Arc::new(Schema::new_with_metadata(
            run_fields,
            input_schema.metadata().clone(),
        ));
        Ok(KeyEncoder {
            keys: typed,
            converter,
            input_schema: Arc::clone(input_schema),
            run_schema,
        })
    }

    pub(super) fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    pub(super) fn run_schema(&self) -> &SchemaRef {
        &self.run_schema
    }

    /// The morsel's columns plus its encoded keys, as a batch of the run schema.
    pub(super) fn encode(&self, morsel: &Morsel) -> Result<RecordBatch> {
        let batch = &morsel.batch;
        let n = batch.num_rows();
        if n > u32::MAX as usize {
            return Err(Error::NotSupported(format!(
                "sorting a morsel of {n} rows (at most {} per morsel)",
                u32::MAX
            )));
        }
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.keys.len() + 3);
        for (expr, data_type) in &self.keys {
            let a = evaluate(expr, batch)?;
            let a = crate::expr::cast::cast_array(&a, data_type)?;
            cols.push(crate::expr::float_keys::canonical_floats(&a));
        }
        cols.push(Arc::new(UInt64Array::from_value(morsel.seq.task, n)));
        cols.push(Arc::new(UInt64Array::from_value(morsel.seq.batch, n)));
        cols.push(Arc::new(UInt32Array::from_iter_values(0..n as u32)));
        let keys = self.converter.convert_columns(&cols)?.try_into_binary()?;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(keys));
        with_rows(&self.run_schema, columns, n)
    }
}

/// A batch of `schema` from `columns`, which may be empty.
pub(super) fn with_rows(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// The key column of a batch of the run schema.
pub(super) fn key_column(batch: &RecordBatch) -> Result<&BinaryArray> {
    batch
        .columns()
        .last()
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| Error::Internal("sort batch without its key column".into()))
}

/// The batch without its key column, as a batch of `input_schema`.
pub(super) fn strip_key(batch: &RecordBatch, input_schema: &SchemaRef) -> Result<RecordBatch> {
    let n = input_schema.fields().len();
    let columns = batch.columns().iter().take(n).cloned().collect();
    with_rows(input_schema, columns, batch.num_rows())
}

/// Byte-wise comparison of two encoded keys, eight bytes at a time.
///
/// Encoded keys are short (tens of bytes) and usually differ early; comparing
/// big-endian words inline beats a call to `memcmp` per comparison, which was the
/// largest single cost of sorting and merging.
#[inline]
pub(super) fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_be_bytes(word(a, i));
        let y = u64::from_be_bytes(word(b, i));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

#[inline]
fn word(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    w
}

/// The eight key bytes from `at` as a big-endian word, zero-padded past the end.
#[inline]
fn prefix_at(key: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if at < key.len() {
        let end = key.len().min(at + 8);
        w[..end - at].copy_from_slice(&key[at..end]);
    }
    u64::from_be_bytes(w)
}

/// Positions (batch, row) of every row of `batches` in key order.
///
/// The bytes every key shares with the first (a decimal's high bytes, a constant
/// column) cannot order anything, so each row is sorted by the eight bytes after that
/// common prefix, and only ties compare whole keys.
pub(super) fn sort_order(batches: &[RecordBatch]) -> Result<Vec<(u32, u32)>> {
    let keys = batches.iter().map(key_column).collect::<Result<Vec<_>>>()?;
    let first: &[u8] = keys
        .iter()
        .find(|k| !k.is_empty())
        .map_or(&[], |k| k.value(0));
    let mut common = first.len();
    for k in &keys {
        for r in 0..k.len() {
            let key = k.value(r);
            common = common.min(
                key.iter()
                    .zip(first)
                    .take(common)
                    .position(|(x, y)| x != y)
                    .unwrap_or(common.min(key.len())),
            );
        }
    }
    let mut order: Vec<(u64, u32, u32)> = Vec::with_capacity(keys.iter().map(|k| k.len()).sum());
    for (b, k) in keys.iter().enumerate() {
        order.extend(
            (0..k.len() as u32).map(|r| (prefix_at(k.value(r as usize), common), b as u32, r)),
        );
    }
    // Keys are unique (they end in the source position), so unstable is stable here.
    order.sort_unstable_by(|&(ap, ab, ar), &(bp, bb, br)| {
        ap.cmp(&bp).then_with(|| {
            compare_keys(
                &keys[ab as usize].value(ar as usize)[common..],
                &keys[bb as usize].value(br as usize)[common..],
            )
        })
    });
    Ok(order.into_iter().map(|(_, b, r)| (b, r)).collect())
}

/// Gathers the rows at `indices` ((batch, row) into `batches`) into one batch of
/// `schema`, taking the first `schema.fields().len()` columns of each batch. Only the
/// batches the indices touch are handed to the kernel.
pub(super) fn gather(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    indices: &[(usize, usize)],
) -> Result<RecordBatch> {
    let mut used: Vec<usize> = indices.iter().map(|&(b, _)| b).collect();
    used.sort_unstable();
    used.dedup();
    let local: Vec<(usize, usize)> = indices
        .iter()
        .map(|&(b, r)| {
            used.binary_search(&b)
                .map(|i| (i, r))
                .map_err(|_| Error::Internal("sort gather index out of range".into()))
        })
        .collect::<Result<_>>()?;
    let mut columns = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let arrays = used
            .iter()
            .map(|&b| {
                batches
                    .get(b)
                    .and_then(|batch| batch.columns().get(c))
                    .map(|a| a.as_ref())
                    .ok_or_else(|| Error::Internal("sort gather: missing batch or column".into()))
            })
            .collect::<Result<Vec<&dyn Array>>>()?;
        columns.push(arrow::compute::interleave(&arrays, &local)?);
    }
    with_rows(schema, columns, indices.len())
}
