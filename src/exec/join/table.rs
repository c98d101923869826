//! The join hash table: build rows chained per distinct key.
//!
//! A [`KeyIndex`] maps every distinct build key to its most recent build row, and
//! `next[row]` is the row before it with the same key, so the rows of one key form a
//! chain. Rows are numbered across the build batches in order; [`JoinTable::locate`]
//! turns a row number back into (batch, row) for `interleave`.
//!
//! With roles that need it, `matched` is a bitmap of build rows that found a
//! match, set with atomic ORs by concurrent probes.
//!
//! Memory: the build batches plus [`JoinTable::overhead`], which the owner reserves
//! before building; the index is sized once for the rows, never rehashed.

use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::concat;

use super::key_index::KeyIndex;
use super::probe::batch_of;
use super::{BatchKeys, JoinSpec};
use crate::error::{Error, Result};
use crate::memory::batch_memory_size;

pub(crate) const NONE: u32 = u32::MAX;

/// Build rows of one or more partitions, indexed by key.
pub struct JoinTable {
    index: KeyIndex,
    next: Vec<u32>,
    /// Build rows (input columns only), coalesced into few batches.
    pub batches: Vec<RecordBatch>,
    starts: Vec<usize>,
    matched: Vec<AtomicU64>,
}

impl JoinTable {
    /// Estimated bytes of table structure on top of the batches (index, chain links,
    /// matched bits) for `rows` rows with `key_bytes` of key columns.
    pub fn overhead(rows: usize, key_bytes: usize) -> usize {
        KeyIndex::bytes_for(rows, key_bytes) + rows * 4 + rows / 8
    }

    /// Indexes `batches` (keyed build batches of `spec`).
    pub fn try_new(spec: &JoinSpec, batches: Vec<RecordBatch>) -> Result<Self> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows >= NONE as usize {
            return Err(Error::NotSupported(format!(
                "a join build partition of {rows} rows (at most {} fit one table)",
                NONE - 1
            )));
        }
        let inputs = spec.build_schema.fields().len();
        let mut table = JoinTable {
            index: KeyIndex::with_capacity(rows),
            next: vec![NONE; rows],
            batches: vec![],
            starts: Vec::with_capacity(batches.len()),
            matched: if spec.roles.tracks_build_matches() {
                (0..rows.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
            } else {
                vec![]
            },
        };
        let mut start = 0usize;
        for batch in batches {
            let keys = BatchKeys::of(&batch, inputs, spec)?;
            let n = batch.num_rows();
            // Rows failing the build-side conjuncts of the join condition never match.
            let pass = match &spec.build_filter {
                Some(f) => Some(spec.side_mask(f, &batch.columns()[..inputs], false, n)?),
                None => None,
            };
            for i in 0..n {
                let joins = keys.is_valid(i) && pass.as_ref().is_none_or(|p| p.value(i));
                let previous = table.index.push(keys.key(i), keys.hashes[i], joins);
                table.next[start + i] = previous.unwrap_or(NONE);
            }
            // Keys and hash are indexed now; only the input columns are output.
            table
                .batches
                .push(batch.project(&(0..inputs).collect::<Vec<_>>())?);
            start += n;
        }
        table.batches = coalesce(std::mem::take(&mut table.batches))?;
        let mut start = 0;
        for b in &table.batches {
            table.starts.push(start);
            start += b.num_rows();
        }
        Ok(table)
    }

    /// Build rows in the table.
    pub fn rows(&self) -> usize {
        self.next.len()
    }

    /// The (batch, row) of build row `row`.
    #[inline]
    pub fn locate(&self, row: u32) -> (usize, usize) {
        let row = row as usize;
        let b = self.starts.partition_point(|&s| s <= row) - 1;
        (b, row - self.starts[b])
    }

    /// The first build row whose key equals each probe row's (`NONE` when none, or
    /// when the probe key is null).
    pub fn heads_for(&self, keys: &BatchKeys, rows: usize, out: &mut Vec<u32>) {
        self.index.find_all(
            rows,
            |i| keys.key(i),
            &keys.hashes,
            |i| keys.is_valid(i),
            out,
            NONE,
        );
    }

    /// The next build row with the same key as `row`.
    #[inline]
    pub fn next_row(&self, row: u32) -> Option<u32> {
        let n = self.next[row as usize];
        (n != NONE).then_some(n)
    }

    /// Marks build row `row` as matched.
    #[inline]
    pub fn mark(&self, row: u32) {
        if let Some(w) = self.matched.get(row as usize / 64) {
            w.fetch_or(1 << (row % 64), Ordering::Relaxed);
        }
    }

    /// Whether build row `row` matched.
    pub fn is_matched(&self, row: u32) -> bool {
        self.matched
            .get(row as usize / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (row % 64)) != 0)
    }
}

/// Batches are concatenated in groups of up to this many bytes: few enough groups for
/// a cheap `interleave`, and a bounded copy (far from the 2 GiB that a string
/// column's `i32` offsets allow).
const COALESCE_BYTES: usize = 64 << 20;

/// The build rows as few batches as possible (one for a build under 64 MiB), so that
/// output columns are gathered with `take` from one array, or `interleave` over a
/// handful, instead of `interleave` over hundreds of small batches, whose per-call
/// cost grows with the number of arrays (a tenth of TPC-H Q9's time). Concatenates one
/// column of one group at a time and drops its pieces as it goes.
fn coalesce(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let mut out = vec![];
    let mut group = vec![];
    let mut bytes = 0;
    for b in batches {
        let size = batch_memory_size(&b);
        if !group.is_empty() && bytes + size > COALESCE_BYTES {
            out.push(concat_group(std::mem::take(&mut group))?);
            bytes = 0;
        }
        bytes += size;
        group.push(b);
    }
    if !group.is_empty() {
        out.push(concat_group(group)?);
    }
    Ok(out)
}

/// One batch of a non-empty group's rows, in the pieces' own schema (the plan's may
/// differ in nullability or metadata).
fn concat_group(mut group: Vec<RecordBatch>) -> Result<RecordBatch> {
    if group.len() == 1 {
        return Ok(group.remove(0));
    }
    let schema = group[0].schema();
    let rows: usize = group.iter().map(|b| b.num_rows()).sum();
    let mut pieces: Vec<Vec<Option<ArrayRef>>> = group
        .into_iter()
        .map(|b| b.columns().iter().cloned().map(Some).collect())
        .collect();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let parts: Vec<ArrayRef> = pieces.iter_mut().filter_map(|p| p[c].take()).collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        columns.push(concat(&refs)?);
    }
    batch_of(&schema, columns, rows)
}

/// `NONE` as an option.
#[inline]
pub fn head(row: u32) -> Option<u32> {
    (row != NONE).then_some(row)
}
