//! The group hash table: encoded keys mapped to dense group ids. The hash aggregate
//! keeps accumulators per group; the hash join chains its build rows per group.
//!
//! Keys of all key columns are encoded by `arrow-row` into one byte string per row, so
//! one table handles any mix of key types. The table stores each group's key bytes
//! contiguously (`keys` + `offsets`) and its hash; the `hashbrown::HashTable` holds only
//! the `u32` group id. Accumulators ([`super::accumulator`]) keep per-group state in
//! vectors indexed by that id.
//!
//! Hashing: one fixed-seed hash of the key bytes decides both the radix partition (its
//! top bits, see [`partition_of`]) and, after mixing, the bucket in the table; the mix
//! keeps the partition bits, constant within a partition, from degrading the table.
//!
//! Memory: [`GroupTable::size`] counts keys, hashes, offsets, buckets and accumulator
//! state; the owner holds a reservation of that size.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use hashbrown::HashTable;

use super::aggregate::accumulator::GroupsAccumulator;
use crate::error::Result;

/// Radix bits of the first partitioning level.
pub const RADIX_BITS: u32 = 6;
/// Partitions of the first level.
pub const PARTITIONS: usize = 1 << RADIX_BITS;
/// Radix bits of each re-partitioning level.
pub const SUB_RADIX_BITS: u32 = 4;

const HASH_SEEDS: (u64, u64, u64, u64) = (
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// The hasher of group keys; fixed seeds make partitioning deterministic.
pub fn key_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(HASH_SEEDS.0, HASH_SEEDS.1, HASH_SEEDS.2, HASH_SEEDS.3)
}

/// The partition of `hash` at re-partitioning `depth` (0 = first level).
pub fn partition_of(hash: u64, depth: u32) -> usize {
    if depth == 0 {
        (hash >> (64 - RADIX_BITS)) as usize
    } else {
        let shift = 64 - RADIX_BITS - SUB_RADIX_BITS * depth;
        ((hash >> shift) & ((1 << SUB_RADIX_BITS) - 1)) as usize
    }
}

/// Deepest re-partitioning level the hash bits allow.
pub fn max_depth() -> u32 {
    (64 - RADIX_BITS) / SUB_RADIX_BITS - 1
}

#[inline]
fn bucket_hash(hash: u64) -> u64 {
    (hash ^ (hash >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Keys up to this many bytes are compared inside the hash table's bucket, without
/// touching the key store (a cache miss saved per probe on the common short keys).
const INLINE: usize = 16;

/// One bucket: the full hash and, for short keys, the key itself.
#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    group: u32,
    len: u32,
    inline: [u8; INLINE],
}

#[inline]
fn padded(key: &[u8]) -> [u8; INLINE] {
    let mut out = [0u8; INLINE];
    if key.len() <= INLINE {
        out[..key.len()].copy_from_slice(key);
    }
    out
}

/// Hashes every key; a global aggregate (no keys) has one group with hash 0.
pub fn hash_keys<'k>(keys: impl Iterator<Item = &'k [u8]>, out: &mut Vec<u64>) {
    let hasher = key_hasher();
    out.clear();
    out.extend(keys.map(|k| hasher.hash_one(k)));
}

/// Splits `batch` into per-partition batches by `partition_of(hash, depth)`, lazily:
/// each partition's rows are copied out only when the iterator reaches it, so a caller
/// that writes and drops them one at a time holds one partition's copy, not all.
pub fn split_by_partition<'a>(
    batch: &'a RecordBatch,
    hashes: &[u64],
    depth: u32,
    partitions: usize,
) -> impl Iterator<Item = Result<(usize, RecordBatch)>> + 'a {
    let mut indices: Vec<Vec<u32>> = vec![vec![]; partitions];
    for (i, &h) in hashes.iter().enumerate() {
        indices[partition_of(h, depth)].push(i as u32);
    }
    indices
        .into_iter()
        .enumerate()
        .filter(|(_, idx)| !idx.is_empty())
        .map(move |(p, idx)| {
            let idx = arrow::array::UInt32Array::from(idx);
            Ok((p, arrow::compute::take_record_batch(batch, &idx)?))
        })
}

/// Group keys → group ids, plus the groups' accumulators.
pub struct GroupTable {
    map: HashTable<Entry>,
    hashes: Vec<u64>,
    keys: Vec<u8>,
    offsets: Vec<usize>,
    pub accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

impl GroupTable {
    pub fn new(accumulators: Vec<Box<dyn GroupsAccumulator>>) -> Self {
        GroupTable {
            map: HashTable::new(),
            hashes: vec![],
            keys: vec![],
            offsets: vec![0],
            accumulators,
        }
    }

    /// Number of groups.
    pub fn num_groups(&self) -> usize {
        self.hashes.len()
    }

    /// Bytes held by the table and its accumulators.
    pub fn size(&self) -> usize {
        self.map.capacity() * (std::mem::size_of::<Entry>() + 1)
            + self.hashes.capacity() * 8
            + self.offsets.capacity() * 8
            + self.keys.capacity()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
    }

    /// Looks up (inserting when new) the group of every key; writes ids to `ids`.
    /// Returns how many keys probed the table (the others repeated the previous key).
    pub fn intern<'a>(
        &mut self,
        keys: impl Iterator<Item = &'a [u8]>,
        hashes: &[u64],
        ids: &mut Vec<u32>,
    ) -> usize {
        ids.clear();
        let mut probes = 0;
        // Clustered input (TPC-H `lineitem` by order) repeats a key on consecutive rows:
        // such a row takes the previous row's group without probing the table.
        let mut previous: Option<(u64, &[u8], u32)> = None;
        for (key, &hash) in keys.zip(hashes) {
            if let Some((h, k, g)) = previous {
                if h == hash && k == key {
                    ids.push(g);
                    continue;
                }
            }
            probes += 1;
            let bh = bucket_hash(hash);
            let len = key.len() as u32;
            let inline = padded(key);
            let (stored_keys, offsets) = (&self.keys, &self.offsets);
            let found = self.map.find(bh, |e| {
                e.hash == hash
                    && e.len == len
                    && if key.len() <= INLINE {
                        e.inline == inline
                    } else {
                        let g = e.group as usize;
                        &stored_keys[offsets[g]..offsets[g + 1]] == key
                    }
            });
            let id = match found {
                Some(e) => e.group,
                None => {
                    let g = self.hashes.len() as u32;
                    self.hashes.push(hash);
                    self.keys.extend_from_slice(key);
                    self.offsets.push(self.keys.len());
                    let entry = Entry {
                        hash,
                        group: g,
                        len,
                        inline,
                    };
                    self.map.insert_unique(bh, entry, |e| bucket_hash(e.hash));
                    g
                }
            };
            previous = Some((hash, key, id));
            ids.push(id);
        }
        probes
    }

    /// The group of each key, or `None` where the key is not in the table.
    pub fn lookup<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]>,
        hashes: &[u64],
        ids: &mut Vec<Option<u32>>,
    ) {
        ids.clear();
        for (key, &hash) in keys.zip(hashes) {
            let len = key.len() as u32;
            let inline = padded(key);
            let found = self.map.find(bucket_hash(hash), |e| {
                e.hash == hash
                    && e.len == len
                    && if key.len() <= INLINE {
                        e.inline == inline
                    } else {
                        let g = e.group as usize;
                        &self.keys[self.offsets[g]..self.offsets[g + 1]] == key
                    }
            });
            ids.push(found.map(|e| e.group));
        }
    }

    /// Takes all groups out: their key bytes, their hashes, and each accumulator's
    /// partial state (or final values when `finalize`). The table is empty afterwards
    /// but keeps its buckets' capacity (see [`GroupTable::shrink`]).
    pub fn drain(&mut self, finalize: bool) -> Result<Drained> {
        let mut values = Vec::with_capacity(self.accumulators.len());
        for acc in &mut self.accumulators {
            // An accumulator only sees the groups that had input: pad to all groups.
            if finalize {
                values.push(vec![acc.evaluate()?]);
            } else {
                values.push(acc.state()?);
            }
        }
        let offsets: Vec<i32> = self.offsets.iter().map(|&o| o as i32).collect();
        let keys = BinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(std::mem::take(&mut self.keys)),
            None,
        );
        let hashes = std::mem::take(&mut self.hashes);
        self.offsets = vec![0];
        self.map.clear();
        Ok(Drained {
            keys: Arc::new(keys),
            hashes,
            values,
        })
    }

    /// Releases spare capacity after a drain.
    pub fn shrink(&mut self) {
        self.map.shrink_to_fit(|e| bucket_hash(e.hash));
        self.hashes.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.offsets.shrink_to_fit();
    }
}

/// Everything a table held, as arrays.
pub struct Drained {
    pub keys: ArrayRef,
    pub hashes: Vec<u64>,
    /// Per accumulator: its state arrays (or its one final array).
    pub values: Vec<Vec<ArrayRef>>,
}
