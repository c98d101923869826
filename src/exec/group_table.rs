//! The group hash table: encoded keys mapped to dense group ids, for the hash
//! aggregate, which keeps accumulators per group.
//!
//! Keys of all key columns are encoded by `arrow-row` into one byte string per row, so
//! one table handles any mix of key types. The table stores each group's key bytes
//! contiguously (`keys` + `offsets`) and its hash. Accumulators
//! ([`super::aggregate::accumulator`]) keep per-group state in vectors indexed by the
//! group id.
//!
//! The index is open addressing with linear probing over 32-byte slots that hold the
//! full hash, the group id and, for keys of up to 16 bytes, the key itself, so a probe
//! touches one slot and not the key store. `intern` prefetches the home slot of the key
//! 16 rows ahead: in a table larger than the cache (the final merge of millions of
//! groups) the probes' cache misses overlap instead of queueing, and that miss was
//! nearly all of a probe's cost. Each slot carries the table's epoch, so emptying the
//! table after a flush is one increment, not a pass over the slots. The slots double
//! at 3/4 load.
//!
//! Hashing: one fixed-seed hash of the key bytes decides both the radix partition (its
//! top bits, see [`partition_of`]) and, after mixing, the home slot (the top bits of a
//! multiplicative mix, which the partition bits, constant within a partition, do not
//! degrade).
//!
//! Memory: [`GroupTable::size`] counts keys, hashes, offsets, slots and accumulator
//! state; the owner holds a reservation of that size.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

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

/// One slot: the full hash, the group, and for short keys the key itself.
#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    group: u32,
    /// The key's length, saturated at `u16::MAX` (longer keys compare in the store).
    len: u16,
    /// The table's epoch when the slot was filled; any other value means empty.
    epoch: u16,
    inline: [u8; INLINE],
}

const VACANT: Entry = Entry {
    hash: 0,
    group: 0,
    len: 0,
    epoch: 0,
    inline: [0; INLINE],
};

/// The slots grow (doubling) when more than this share is in use.
const MAX_LOAD: (usize, usize) = (3, 4);
/// The smallest number of slots.
const MIN_SLOTS: usize = 64;
/// How many rows ahead `intern` prefetches home slots.
const PREFETCH_AHEAD: usize = 16;
/// Tables with fewer slots (32 KiB) stay in the L1 cache and skip the prefetch.
const PREFETCH_MIN_SLOTS: usize = 1024;

#[inline]
fn short_len(key: &[u8]) -> u16 {
    u16::try_from(key.len()).unwrap_or(u16::MAX)
}

#[inline]
fn padded(key: &[u8]) -> [u8; INLINE] {
    let mut out = [0u8; INLINE];
    if key.len() <= INLINE {
        out[..key.len()].copy_from_slice(key);
    }
    out
}

/// Asks the CPU to load the cache line at `p`, so that work on the rows ahead overlaps
/// its miss instead of waiting for it.
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing into the
    // program, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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
    slots: Vec<Entry>,
    /// Slots whose `epoch` differs are empty, so emptying the table is one increment.
    epoch: u16,
    hashes: Vec<u64>,
    keys: Vec<u8>,
    offsets: Vec<usize>,
    pub accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

impl GroupTable {
    pub fn new(accumulators: Vec<Box<dyn GroupsAccumulator>>) -> Self {
        GroupTable {
            slots: vec![],
            epoch: 1,
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
        self.slots.capacity() * std::mem::size_of::<Entry>()
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
        for (i, (key, &hash)) in keys.zip(hashes).enumerate() {
            if let Some(&ahead) = hashes.get(i + PREFETCH_AHEAD) {
                self.prefetch(ahead);
            }
            if let Some((h, k, g)) = previous {
                if h == hash && k == key {
                    ids.push(g);
                    continue;
                }
            }
            probes += 1;
            let id = self.find_or_insert(key, hash);
            previous = Some((hash, key, id));
            ids.push(id);
        }
        probes
    }

    /// The first slot of `hash`'s probe sequence (the top bits of its mixed hash).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (bucket_hash(hash) >> (64 - bits)) as usize
    }

    /// Asks the CPU to load the home slot of `hash`: probes a few rows ahead overlap
    /// their cache misses instead of waiting for each in turn.
    #[inline]
    fn prefetch(&self, hash: u64) {
        if self.slots.len() < PREFETCH_MIN_SLOTS {
            return;
        }
        prefetch(self.slots.as_ptr().wrapping_add(self.home(hash)));
    }

    /// The group of `key`, created when new (linear probing from its home slot).
    #[inline]
    fn find_or_insert(&mut self, key: &[u8], hash: u64) -> u32 {
        if (self.hashes.len() + 1) * MAX_LOAD.1 > self.slots.len() * MAX_LOAD.0 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let len = short_len(key);
        let inline = padded(key);
        let mut pos = self.home(hash);
        loop {
            let e = &self.slots[pos];
            if e.epoch != self.epoch {
                break;
            }
            let same = e.hash == hash
                && e.len == len
                && if key.len() <= INLINE {
                    e.inline == inline
                } else {
                    let g = e.group as usize;
                    &self.keys[self.offsets[g]..self.offsets[g + 1]] == key
                };
            if same {
                return e.group;
            }
            pos = (pos + 1) & mask;
        }
        let g = self.hashes.len() as u32;
        self.hashes.push(hash);
        self.keys.extend_from_slice(key);
        self.offsets.push(self.keys.len());
        self.slots[pos] = Entry {
            hash,
            group: g,
            len,
            epoch: self.epoch,
            inline,
        };
        g
    }

    /// Makes room for `groups` groups in all, so that the slots need not grow (and
    /// place every group again) while they arrive.
    pub fn reserve(&mut self, groups: usize) {
        let slots = (groups * MAX_LOAD.1 / MAX_LOAD.0 + 1)
            .next_power_of_two()
            .max(MIN_SLOTS);
        if slots > self.slots.len() {
            self.resize(slots);
        }
        self.hashes
            .reserve(groups.saturating_sub(self.hashes.len()));
        self.offsets
            .reserve(groups.saturating_sub(self.hashes.len()));
    }

    /// Doubles the slots.
    fn grow(&mut self) {
        self.resize((self.slots.len() * 2).max(MIN_SLOTS));
    }

    /// Re-creates the slots with `capacity` (a power of two) and places every group
    /// again by its stored hash.
    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, vec![VACANT; capacity]);
        let epoch = self.epoch;
        self.epoch = 1;
        let mask = capacity - 1;
        for mut e in old.into_iter().filter(|e| e.epoch == epoch) {
            let mut pos = self.home(e.hash);
            while self.slots[pos].epoch == self.epoch {
                pos = (pos + 1) & mask;
            }
            e.epoch = self.epoch;
            self.slots[pos] = e;
        }
    }

    /// Empties the slots, keeping their capacity.
    fn clear_slots(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // The epoch wrapped: slots of an old epoch could read as occupied.
            self.slots.fill(VACANT);
            self.epoch = 1;
        }
    }

    /// Takes all groups out: their key bytes, their hashes, and each accumulator's
    /// partial state (or final values when `finalize`). The table is empty afterwards
    /// but keeps its slots' capacity (see [`GroupTable::shrink`]).
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
        self.clear_slots();
        Ok(Drained {
            keys: Arc::new(keys),
            hashes,
            values,
        })
    }

    /// Releases spare capacity after a drain.
    pub fn shrink(&mut self) {
        if self.hashes.is_empty() {
            self.slots = vec![];
            self.epoch = 1;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Against a `HashMap` of key → first-seen index: colliding hashes, short and long
    /// keys (inline and in the store), repeats of the previous row, growth from empty
    /// and from a reservation, and emptying by epoch across many drains.
    #[test]
    fn interned_ids_match_a_hash_map() {
        let keys: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| {
                let k = i % 1700;
                let mut key = k.to_le_bytes().to_vec();
                if k % 3 == 0 {
                    key.extend(std::iter::repeat_n(b'x', 20 + (k % 7) as usize));
                }
                key
            })
            .collect();
        // Every key of the same residue mod 8 shares its hash: long probe chains.
        let hashes: Vec<u64> = keys.iter().map(|k| u64::from(k[0] % 8)).collect();
        for reserve in [0, 10, 4000] {
            let mut table = GroupTable::new(vec![]);
            for round in 0..3 {
                table.reserve(reserve);
                let mut reference: HashMap<&[u8], u32> = HashMap::new();
                let mut ids = vec![];
                for chunk in keys.chunks(777).zip(hashes.chunks(777)) {
                    table.intern(chunk.0.iter().map(|k| k.as_slice()), chunk.1, &mut ids);
                    for (k, &id) in chunk.0.iter().zip(&ids) {
                        let next = reference.len() as u32;
                        let want = *reference.entry(k.as_slice()).or_insert(next);
                        assert_eq!(id, want, "reserve {reserve}, round {round}");
                    }
                }
                assert_eq!(table.num_groups(), 1700);
                let drained = table.drain(false).unwrap();
                assert_eq!(drained.keys.len(), 1700);
                assert_eq!(table.num_groups(), 0);
            }
        }
    }

    /// The epoch wraps after 65,535 drains; slots of old epochs must then read empty.
    #[test]
    fn emptying_survives_the_epoch_wrapping() {
        let mut table = GroupTable::new(vec![]);
        let mut ids = vec![];
        let key = 7u64.to_le_bytes();
        for round in 0..70_000u32 {
            let other = round.to_le_bytes();
            let keys = [&key[..], &other[..]];
            table.intern(keys.into_iter(), &[7, u64::from(round)], &mut ids);
            assert_eq!(ids, vec![0, 1], "round {round}");
            table.drain(false).unwrap();
        }
    }
}
