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
        let x = word(a, i);
        let y = word(b, i);
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

/// The eight bytes at `at` as a big-endian word (the caller keeps `at + 8` within the
/// key): a length check and one load, with no call to `memcpy`.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    match bytes
        .get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
    {
        Some(w) => u64::from_be_bytes(w),
        None => 0,
    }
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

/// A row while its buffer is sorted: sixteen bytes of its key that order it (see
/// [`sort_order`]) as two big-endian words, then (batch, row).
pub(super) type SortEntry = (u64, u64, u32, u32);

/// The bytes that decide the order of a buffer's keys.
enum Deciding {
    /// Keys of one length: the byte positions where some key differs from the first.
    /// Bytes equal in every key never decide a comparison, so the keys are in the
    /// order of these bytes alone.
    Positions(Vec<usize>),
    /// Keys of several lengths: everything from the first byte some key differs in.
    From(usize),
}

impl Deciding {
    fn of(keys: &[&BinaryArray]) -> Deciding {
        let first: &[u8] = keys
            .iter()
            .find(|k| !k.is_empty())
            .map_or(&[], |k| k.value(0));
        let mut varies = vec![false; first.len()];
        let (mut shortest, mut longest) = (first.len(), first.len());
        for k in keys {
            for r in 0..k.len() {
                let key = k.value(r);
                shortest = shortest.min(key.len());
                longest = longest.max(key.len());
                for ((v, x), y) in varies.iter_mut().zip(key).zip(first) {
                    *v |= x != y;
                }
            }
        }
        if shortest == longest {
            Deciding::Positions((0..first.len()).filter(|&i| varies[i]).collect())
        } else {
            // The shared head is the same bytes for keys of any length.
            let common = varies.iter().position(|&v| v).unwrap_or(first.len());
            Deciding::From(common.min(shortest))
        }
    }

    /// The first sixteen deciding bytes of `key` as two words (zero-padded).
    fn prefix(&self, key: &[u8]) -> (u64, u64) {
        match self {
            Deciding::Positions(p) => {
                let mut w = [0u8; 16];
                for (o, &i) in w.iter_mut().zip(p) {
                    *o = key.get(i).copied().unwrap_or(0);
                }
                let (hi, lo) = w.split_at(8);
                (
                    u64::from_be_bytes(hi.try_into().unwrap_or([0; 8])),
                    u64::from_be_bytes(lo.try_into().unwrap_or([0; 8])),
                )
            }
            Deciding::From(c) => (prefix_at(key, *c), prefix_at(key, c + 8)),
        }
    }

    /// Whether equal prefixes mean equal keys: every deciding byte is in the prefix.
    fn prefix_is_whole(&self) -> bool {
        matches!(self, Deciding::Positions(p) if p.len() <= 16)
    }

    /// Where comparing the rest of two keys starts.
    fn rest_from(&self) -> usize {
        match self {
            Deciding::Positions(_) => 0,
            Deciding::From(c) => *c,
        }
    }
}

/// Positions (batch, row) of every row of `batches` in key order.
///
/// Each row is sorted first by sixteen of its key's bytes held inline, so that most
/// comparisons touch no key bytes; only ties compare the rest of the keys. When the
/// keys have one length (keys of fixed-width columns: numbers, dates), those are the
/// first sixteen bytes in which keys differ at all, wherever they lie: an `i64`
/// partition key with a few values and an `i64` order key each vary in their last
/// byte or two, so sixteen such bytes usually hold the whole order (the position
/// that ends each key included) and no comparison reads a key. Otherwise they are the
/// sixteen bytes after the head all keys share.
pub(super) fn sort_order(batches: &[RecordBatch]) -> Result<Vec<(u32, u32)>> {
    let keys = batches.iter().map(key_column).collect::<Result<Vec<_>>>()?;
    let deciding = Deciding::of(&keys);
    let mut order: Vec<SortEntry> = Vec::with_capacity(keys.iter().map(|k| k.len()).sum());
    for (b, k) in keys.iter().enumerate() {
        order.extend((0..k.len() as u32).map(|r| {
            let (p, q) = deciding.prefix(k.value(r as usize));
            (p, q, b as u32, r)
        }));
    }
    let whole = deciding.prefix_is_whole();
    let from = deciding.rest_from();
    // Keys are unique (they end in the source position), so unstable is stable here.
    order.sort_unstable_by(|&(ap, aq, ab, ar), &(bp, bq, bb, br)| {
        ap.cmp(&bp).then(aq.cmp(&bq)).then_with(|| {
            if whole {
                return std::cmp::Ordering::Equal;
            }
            let (a, b) = (
                keys[ab as usize].value(ar as usize),
                keys[bb as usize].value(br as usize),
            );
            compare_keys(&a[from.min(a.len())..], &b[from.min(b.len())..])
        })
    });
    Ok(order.into_iter().map(|(_, _, b, r)| (b, r)).collect())
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

#[cfg(test)]
mod sort_order_tests {
    use super::*;

    /// Batches whose last (only) column is `keys`, split in two.
    fn batches(keys: &[Vec<u8>]) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Binary, false)]));
        keys.chunks(keys.len().div_ceil(2).max(1))
            .map(|c| {
                let a = BinaryArray::from_iter_values(c.iter());
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(a)]).unwrap()
            })
            .collect()
    }

    /// The order of `sort_order` equals sorting the key bytes themselves: for keys of
    /// one length that vary in few scattered bytes (the prefix holds them all), in
    /// more than sixteen bytes (ties compare whole keys), and for keys of several
    /// lengths (the prefix after the shared head).
    #[test]
    fn sorted_by_deciding_bytes_equals_sorted_by_whole_keys() {
        let mut s = 11u64;
        let mut next = |n: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % n
        };
        let mut cases: Vec<Vec<Vec<u8>>> = vec![];
        // 24-byte keys varying in bytes 7, 15 and 23 only (three small i64s).
        cases.push(
            (0..500u64)
                .map(|i| {
                    let mut k = vec![1u8; 24];
                    k[7] = next(3) as u8;
                    k[15] = next(5) as u8;
                    k[23] = (i % 251) as u8;
                    k
                })
                .collect(),
        );
        // 30-byte keys varying everywhere, with duplicates of the first 20 bytes.
        cases.push(
            (0..500u64)
                .map(|i| {
                    let mut k: Vec<u8> = (0..30).map(|_| next(2) as u8).collect();
                    k[29] = (i % 256) as u8;
                    k[28] = (i / 256) as u8;
                    k
                })
                .collect(),
        );
        // Lengths 3..12 sharing a two-byte head, some keys prefixes of others.
        cases.push(
            (0..500u64)
                .map(|_| {
                    let mut k = vec![9u8, 9];
                    k.extend((0..1 + next(10)).map(|_| next(3) as u8));
                    k
                })
                .collect(),
        );
        for keys in cases {
            let input = batches(&keys);
            let got: Vec<Vec<u8>> = sort_order(&input)
                .unwrap()
                .into_iter()
                .map(|(b, r)| {
                    key_column(&input[b as usize])
                        .unwrap()
                        .value(r as usize)
                        .to_vec()
                })
                .collect();
            let mut want = keys.clone();
            want.sort();
            assert_eq!(got, want);
        }
    }
}
