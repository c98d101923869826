//! The join's key index: each distinct build key → the newest build row with that key
//! (the head of its chain in [`super::table::JoinTable`]).
//!
//! Open addressing with linear probing over 8-byte slots, sized once for the build
//! rows (two slots per row, so the load is at most one half):
//!
//! ```text
//!  slot (u64): [ salt: 32 bits of the mixed hash | head row + 1 ]   0 = empty
//!  start slot: the mixed hash's top bits scaled to the slot count ("fastrange")
//! ```
//!
//! Beside the slots, a byte per slot holds 7 more hash bits (0 = empty): a 2.3M-row
//! build's tags take 4.6 MiB and stay in the L3 cache where its slots (37 MiB) do not.
//! A probe scans tags first and reads a slot only on a tag match, so a probe key that
//! is not in the table, the common case of a selective join, usually touches no slot
//! at all; a match compares key bytes only when the slot's salt matches too. Key bytes
//! live in a store indexed by build row, fixed-width (no offsets) while every key has
//! the same length as the first, as one-column integer keys always do. This is DuckDB's layout (pointer and
//! salt in one word); hashbrown with a separate group id and heads array took three
//! dependent misses per probe.
//!
//! The hash given for a key is the join's 64-bit key hash, whose top bits pick the
//! radix partition and are constant within one; it is mixed before use.
//!
//! Memory: [`KeyIndex::bytes_for`] per row — 16 bytes of slots, 2 of tags, the key
//! bytes, and 8 bytes of offsets when key lengths vary.

/// Slots per build row.
const SLOTS_PER_ROW: usize = 2;

/// The row half of a slot (row + 1; the salt is the other half).
const ROW_BITS: u64 = 0xffff_ffff;

/// The build row a non-empty slot points at.
#[inline]
fn slot_row(slot: u64) -> usize {
    (slot & ROW_BITS) as usize - 1
}

#[inline]
fn mix(hash: u64) -> u64 {
    (hash ^ (hash >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The tag of a mixed hash: 7 bits the start slot and the salt do not use, and the
/// high bit set so that no tag is 0 (empty).
#[inline]
fn tag(mixed: u64) -> u8 {
    ((mixed >> 32) as u8 >> 1) | 0x80
}

/// Key equality; keys of 8 to 16 bytes (one-column integer keys are 9) compare as two
/// overlapping words instead of through `memcmp`.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

/// Build-row key bytes, by row number.
enum KeyStore {
    /// Every key has `width` bytes; row `r`'s key is at `r * width`.
    Fixed { width: usize, bytes: Vec<u8> },
    /// Row `r`'s key is `bytes[offsets[r]..offsets[r + 1]]`.
    Varying { bytes: Vec<u8>, offsets: Vec<usize> },
}

impl KeyStore {
    /// Appends the key of row `stored` (the number of keys stored before it: with
    /// zero-width keys, such as an empty string's, the bytes cannot tell).
    fn push(&mut self, key: &[u8], stored: usize) {
        match self {
            KeyStore::Fixed { width, bytes } if key.len() == *width => bytes.extend_from_slice(key),
            KeyStore::Fixed { width, bytes } => {
                let offsets = (0..=stored).map(|r| r * *width).collect();
                *self = KeyStore::Varying {
                    bytes: std::mem::take(bytes),
                    offsets,
                };
                self.push(key, stored);
            }
            KeyStore::Varying { bytes, offsets } => {
                bytes.extend_from_slice(key);
                offsets.push(bytes.len());
            }
        }
    }

    #[inline]
    fn key(&self, row: usize) -> &[u8] {
        match self {
            KeyStore::Fixed { width, bytes } => &bytes[row * width..(row + 1) * width],
            KeyStore::Varying { bytes, offsets } => &bytes[offsets[row]..offsets[row + 1]],
        }
    }
}

/// Distinct key → head row.
pub struct KeyIndex {
    slots: Vec<u64>,
    /// `tag` of each occupied slot's key; 0 where the slot is empty.
    tags: Vec<u8>,
    keys: KeyStore,
    /// Rows pushed so far (rows with a null key included: they keep a store entry).
    rows: usize,
}

impl KeyIndex {
    /// An index for up to `rows` build rows. The key store takes its width from the
    /// first key pushed.
    pub fn with_capacity(rows: usize) -> Self {
        KeyIndex {
            slots: vec![0; (rows * SLOTS_PER_ROW).max(1)],
            tags: vec![0; (rows * SLOTS_PER_ROW).max(1)],
            keys: KeyStore::Fixed {
                width: 0,
                bytes: vec![],
            },
            rows: 0,
        }
    }

    /// Estimated bytes of an index over `rows` rows with `key_bytes` of keys in all.
    pub fn bytes_for(rows: usize, key_bytes: usize) -> usize {
        rows * (SLOTS_PER_ROW * 9 + 8) + key_bytes
    }

    #[inline]
    fn start(&self, mixed: u64) -> usize {
        ((mixed as u128 * self.slots.len() as u128) >> 64) as usize
    }

    /// Records the next build row (rows are numbered in push order). Returns the
    /// previous head of its key's chain, or `None` when the key is new. A row that
    /// `joins` is false for (a null key) gets a row number but no slot.
    pub fn push(&mut self, key: &[u8], hash: u64, joins: bool) -> Option<u32> {
        let row = self.rows;
        if row == 0 {
            let capacity = self.slots.len() / SLOTS_PER_ROW;
            self.keys = KeyStore::Fixed {
                width: key.len(),
                bytes: Vec::with_capacity(capacity * key.len()),
            };
        }
        self.rows += 1;
        self.keys.push(key, row);
        if !joins {
            return None;
        }
        let mixed = mix(hash);
        let slot = (mixed << 32) | (row as u64 + 1);
        match self.locate(key, mixed, self.start(mixed)) {
            Ok(i) => {
                let previous = slot_row(self.slots[i]);
                self.slots[i] = slot;
                Some(previous as u32)
            }
            Err(i) => {
                self.slots[i] = slot;
                self.tags[i] = tag(mixed);
                None
            }
        }
    }

    /// The newest build row whose key equals `key(i)`, for each row `i` of a probe
    /// batch (`None` where `joins(i)` is false), into `out`.
    ///
    /// Two passes: the first only loads each row's first tag. Its loads do not depend
    /// on one another, so the CPU keeps many cache misses in flight at once; the second
    /// pass then finds those tags in cache (TPC-H Q5 at SF10: `lineitem ⋈ orders`,
    /// 60M probes into a 2.3M-row build, is miss-bound without it).
    pub fn find_all<'a>(
        &self,
        rows: usize,
        key: impl Fn(usize) -> &'a [u8],
        hashes: &[u64],
        joins: impl Fn(usize) -> bool,
        out: &mut Vec<u32>,
        none: u32,
    ) {
        let first: Vec<(u8, u32)> = hashes[..rows]
            .iter()
            .map(|&h| {
                let mixed = mix(h);
                let start = self.start(mixed);
                (self.tags[start], start as u32)
            })
            .collect();
        out.clear();
        out.extend(
            first
                .iter()
                .zip(hashes)
                .enumerate()
                .map(|(i, (&(first_tag, start), &h))| {
                    if first_tag == 0 || !joins(i) {
                        return none;
                    }
                    match self.locate(key(i), mix(h), start as usize) {
                        Ok(slot) => slot_row(self.slots[slot]) as u32,
                        Err(_) => none,
                    }
                }),
        );
    }

    /// The slot holding `key` (`Ok`), or the empty slot that ends its probe sequence
    /// (`Err`), scanning from `start`: tags first, the slot only on a tag match.
    #[inline]
    fn locate(&self, key: &[u8], mixed: u64, start: usize) -> Result<usize, usize> {
        let salt = mixed << 32;
        let want = tag(mixed);
        let len = self.tags.len();
        let mut i = start;
        loop {
            let t = self.tags[i];
            if t == 0 {
                return Err(i);
            }
            if t == want {
                let slot = self.slots[i];
                if slot & !ROW_BITS == salt && same_key(self.keys.key(slot_row(slot)), key) {
                    return Ok(i);
                }
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Against a `HashMap` of key → newest row, with colliding hashes, varying key
    /// lengths (the store switches layout mid-way) and null rows.
    #[test]
    fn chains_and_lookups_match_a_hash_map() {
        check_against_hash_map(false);
    }

    /// The first keys are empty (an empty string's key has no bytes), so the store
    /// starts fixed-width with width 0 and must still know how many rows it holds when
    /// a longer key switches it to offsets (it panicked with an index out of bounds).
    #[test]
    fn zero_width_first_keys_then_longer_ones() {
        check_against_hash_map(true);
    }

    fn check_against_hash_map(empty_first: bool) {
        let mut index = KeyIndex::with_capacity(1000);
        let mut naive: HashMap<Vec<u8>, u32> = HashMap::new();
        let key_of = |i: u32| -> Vec<u8> {
            let k = i % 97;
            if empty_first && i < 50 {
                vec![]
            } else if k.is_multiple_of(10) {
                format!("long-key-{k}").into_bytes()
            } else {
                format!("{k:03}").into_bytes()
            }
        };
        // A weak hash (many collisions on purpose): the salt and the key compare decide.
        let hash_of = |k: &[u8]| -> u64 {
            (k.len() as u64) << 58 | (k.last().copied().unwrap_or(0) as u64 % 3)
        };
        for row in 0..1000u32 {
            let key = key_of(row);
            let joins = row % 13 != 0;
            let prev = index.push(&key, hash_of(&key), joins);
            if joins {
                assert_eq!(prev, naive.get(&key).copied(), "row {row}");
                naive.insert(key, row);
            } else {
                assert_eq!(prev, None);
            }
        }
        let mut probes: Vec<Vec<u8>> = (0..200u32).map(key_of).collect();
        probes.push(b"absent".to_vec());
        probes.push(b"".to_vec());
        let hashes: Vec<u64> = probes.iter().map(|k| hash_of(k)).collect();
        let mut out = vec![];
        const NONE: u32 = u32::MAX;
        // Row 3 does not join (a null key): no match whatever its bytes.
        index.find_all(
            probes.len(),
            |i| &probes[i],
            &hashes,
            |i| i != 3,
            &mut out,
            NONE,
        );
        for (i, k) in probes.iter().enumerate() {
            let expected = if i == 3 { None } else { naive.get(k).copied() };
            assert_eq!(out[i], expected.unwrap_or(NONE), "probe {i}");
        }
    }
}
