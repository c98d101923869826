//! The best (min or max) value from every block boundary of a partition to its end,
//! for min/max over frames that run to the partition's end from later than its start.
//!
//! Algorithm: during the first pass over a spilled partition, the best value of each
//! block of [`SUFFIX_BLOCK_ROWS`] rows is kept; at the partition's end a backward scan
//! over the blocks turns them into the best from each block to the end. A frame
//! `[start, end)` then reads the rest of `start`'s block from the window's buffer and
//! the blocks after it from here.
//!
//! Memory: one value per block (a partition of 10⁸ rows keeps about 10⁵), in arrays of
//! 1024 blocks, reported by [`SuffixBest::bytes`] for the window to reserve. Nothing
//! spills here.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::DataType;

use super::frame_aggregate::{comparator, copy_row};
use crate::error::Result;
use crate::expr::AggFunc;

/// Rows per block of a [`SuffixBest`]. A frame that runs to the partition's end from
/// inside a block reads the rest of that block from the buffer, so the buffer reaches
/// this many rows past the frame's start.
pub(super) const SUFFIX_BLOCK_ROWS: usize = 1024;

/// min/max of the rows from every block boundary to the partition's end: counted in
/// the first pass over a spilled partition, one value per [`SUFFIX_BLOCK_ROWS`] rows
/// (a partition of 10⁸ rows keeps about 10⁵ values).
#[derive(Debug, Clone, Default)]
pub(super) struct SuffixBest {
    rows: usize,
    /// The best non-null value of each closed block (NULL when none), a value per
    /// block in arrays of 1024 blocks.
    closed: Vec<ArrayRef>,
    /// The same for the latest blocks, one row each; the last may be open.
    blocks: Vec<ArrayRef>,
    /// After [`SuffixBest::seal`]: by block `b`, the best of rows `[b·B, n)`, and a
    /// NULL past the last block.
    from: Option<ArrayRef>,
}

impl SuffixBest {
    /// Adds the partition's next rows.
    pub(super) fn add(&mut self, func: AggFunc, x: &ArrayRef) -> Result<()> {
        let cmp = comparator(func, x)?;
        let mut i = 0;
        while i < x.len() {
            let in_block = (self.rows + i) % SUFFIX_BLOCK_ROWS;
            let end = x.len().min(i + SUFFIX_BLOCK_ROWS - in_block);
            let mut best: Option<usize> = None;
            for j in i..end {
                if x.is_valid(j) && best.is_none_or(|b| cmp(b, j).is_gt()) {
                    best = Some(j);
                }
            }
            let row = match best {
                Some(j) => copy_row(x, j)?,
                None => new_null_array(x.data_type(), 1),
            };
            let row = match self.blocks.pop() {
                Some(open) if in_block != 0 => better(func, &open, &row)?,
                Some(closed) => {
                    self.blocks.push(closed);
                    row
                }
                None => row,
            };
            self.blocks.push(row);
            if self.blocks.len() > 1024 {
                let open = self.blocks.split_off(1024);
                let rows: Vec<&dyn Array> = self.blocks.iter().map(|b| b.as_ref()).collect();
                self.closed.push(concat(&rows)?);
                self.blocks = open;
            }
            i = end;
        }
        self.rows += x.len();
        Ok(())
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        (self.closed.iter().chain(&self.blocks))
            .map(|a| a.get_array_memory_size())
            .sum()
    }

    /// The partition has ended: the best from each block to the end.
    pub(super) fn seal(&mut self, func: AggFunc) -> Result<()> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let blocks: Vec<&dyn Array> = (self.closed.iter().chain(&self.blocks))
            .map(|b| b.as_ref())
            .collect();
        let all = concat(&blocks)?;
        let cmp = comparator(func, &all)?;
        let mut from: Vec<Option<u32>> = vec![None; all.len() + 1];
        for b in (0..all.len()).rev() {
            from[b] = match from[b + 1] {
                Some(k) if !all.is_valid(b) || cmp(b, k as usize).is_gt() => Some(k),
                _ if all.is_valid(b) => Some(b as u32),
                _ => None,
            };
        }
        self.from = Some(take(all.as_ref(), &UInt32Array::from(from), None)?);
        self.blocks.clear();
        self.closed.clear();
        Ok(())
    }

    /// The best from block `b` to the end, for blocks `b` in `blocks` (NULL when none).
    pub(super) fn best_from_blocks(&self, blocks: Range<usize>, data_type: &DataType) -> ArrayRef {
        match &self.from {
            Some(f) if blocks.end <= f.len() => f.slice(blocks.start, blocks.len()),
            _ => new_null_array(data_type, blocks.len()),
        }
    }
}

/// The better of two one-row values (a NULL loses).
fn better(func: AggFunc, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
    if a.is_null(0) {
        return Ok(Arc::clone(b));
    }
    if b.is_null(0) {
        return Ok(Arc::clone(a));
    }
    let both = concat(&[a.as_ref(), b.as_ref()])?;
    let cmp = comparator(func, &both)?;
    Ok(if cmp(0, 1).is_gt() {
        Arc::clone(b)
    } else {
        Arc::clone(a)
    })
}
