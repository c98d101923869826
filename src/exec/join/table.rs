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

use arrow::array::RecordBatch;

use super::key_index::KeyIndex;
use super::{BatchKeys, JoinSpec};
use crate::error::{Error, Result};

const NONE: u32 = u32::MAX;

/// Build rows of one or more partitions, indexed by key.
pub struct JoinTable {
    index: KeyIndex,
    next: Vec<u32>,
    /// Keyed build batches (input columns, key columns, hash).
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
            index: KeyIndex::with_capacity(rows, 0),
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
            if start == 0 && n > 0 {
                table.index = KeyIndex::with_capacity(rows, keys.key(0).len());
            }
            for i in 0..n {
                let previous = table
                    .index
                    .push(keys.key(i), keys.hashes[i], keys.is_valid(i));
                table.next[start + i] = previous.unwrap_or(NONE);
            }
            table.starts.push(start);
            table.batches.push(batch);
            start += n;
        }
        Ok(table)
    }

    /// Build rows in the table.
    pub fn rows(&self) -> usize {
        self.next.len()
    }

    /// Bytes of table structure (not counting the batches).
    pub fn size(&self) -> usize {
        self.index.size() + self.next.capacity() * 4 + self.matched.len() * 8
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

/// `NONE` as an option.
#[inline]
pub fn head(row: u32) -> Option<u32> {
    (row != NONE).then_some(row)
}
