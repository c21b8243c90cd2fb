//! Bloom filters: "certainly not here" answers that let a lookup skip most blocks.
//!
//! A filter never gives a false negative: every key added answers `true`. It is stored as bytes
//! (`docs/format.md`, "Bloom filters"), so the hash is fixed here, not `std`'s (which may change
//! between Rust releases): 64-bit FNV-1a of the key's bytes, finished with splitmix64's mixer;
//! probe `i` of `k` sets bit `(h1 + i * h2) mod bits` where `h1` and `h2` are the halves of the
//! hash (double hashing). This module must never know what its keys mean.

/// A filter being filled or read. Bytes: `k` (1 byte), then the bit array, little-endian bit
/// order (bit `b` is bit `b % 8` of byte `b / 8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    probes: u8,
    bits: Vec<u8>,
}

/// The stable 64-bit hash every filter uses.
pub(crate) fn hash(key: &[u8]) -> u64 {
    hash_parts(&[key])
}

/// [`hash`] of the concatenation of `parts`, without building it. Eight bytes at a time: each
/// little-endian 8-byte word `w` of the input (the last one zero-padded) is absorbed as
/// `h = rotl(h ^ (w * C1), 31) * C2`, starting from `h = 0x9e3779b97f4a7c15`; then the input
/// length is XORed in and splitmix64's mixer finishes.
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    const C1: u64 = 0xbf58_476d_1ce4_e5b9;
    const C2: u64 = 0x94d0_49bb_1331_11eb;
    let absorb = |h: u64, w: u64| (h ^ w.wrapping_mul(C1)).rotate_left(31).wrapping_mul(C2);
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut word, mut filled, mut len) = (0u64, 0u32, 0u64);
    for part in parts {
        len += part.len() as u64;
        let mut bytes = *part;
        if filled == 0 {
            let mut words = bytes.chunks_exact(8);
            for chunk in &mut words {
                h = absorb(h, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            }
            bytes = words.remainder();
        }
        for &byte in bytes {
            word |= u64::from(byte) << (8 * filled);
            filled += 1;
            if filled == 8 {
                h = absorb(h, word);
                (word, filled) = (0, 0);
            }
        }
    }
    if filled > 0 {
        h = absorb(h, word);
    }
    mix(h ^ len)
}

/// splitmix64's finaliser: spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Bloom {
    /// An empty filter sized for `keys` distinct keys at `bits_per_key` bits each, with the
    /// number of probes that minimises false positives for that size.
    pub fn with_capacity(keys: usize, bits_per_key: usize) -> Bloom {
        let bytes = (keys.max(1) * bits_per_key).div_ceil(8).max(8);
        // k = ln 2 * bits per key is optimal.
        let probes = ((bits_per_key as f64) * 0.69).round().clamp(1.0, 16.0) as u8;
        Bloom {
            probes,
            bits: vec![0; bytes],
        }
    }

    /// Builds a filter holding the hashes `hashes` (duplicates cost nothing but time).
    pub fn from_hashes(hashes: &[u64], distinct: usize, bits_per_key: usize) -> Bloom {
        let mut bloom = Bloom::with_capacity(distinct, bits_per_key);
        for &h in hashes {
            bloom.insert_hash(h);
        }
        bloom
    }

    fn probe_bits(&self, h: u64) -> impl Iterator<Item = usize> + use<> {
        let bits = (self.bits.len() * 8) as u64;
        let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
        (0..u64::from(self.probes))
            .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    pub fn insert_hash(&mut self, h: u64) {
        for bit in self.probe_bits(h) {
            self.bits[bit / 8] |= 1 << (bit % 8);
        }
    }

    #[cfg(test)]
    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(hash(key));
    }

    pub fn may_contain_hash(&self, h: u64) -> bool {
        self.probe_bits(h)
            .all(|bit| self.bits[bit / 8] & (1 << (bit % 8)) != 0)
    }

    #[cfg(test)]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(hash(key))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.bits.len());
        out.push(self.probes);
        out.extend_from_slice(&self.bits);
        out
    }

    /// Reads what [`Bloom::encode`] wrote; `None` when the bytes cannot be a filter.
    pub fn decode(bytes: &[u8]) -> Option<Bloom> {
        let (&probes, bits) = bytes.split_first()?;
        ((1..=16).contains(&probes) && !bits.is_empty()).then(|| Bloom {
            probes,
            bits: bits.to_vec(),
        })
    }

    /// Size in bytes of the encoded filter.
    pub fn encoded_len(&self) -> usize {
        1 + self.bits.len()
    }
}

/// Filters read so far, by the block they belong to, up to a byte budget past which the cache
/// starts over. A block's filter never changes while the block exists, so a cached one stays
/// right; one whose block is gone is simply never asked for again.
pub(crate) struct FilterCache<K, F> {
    filters: std::sync::Mutex<(std::collections::HashMap<K, F>, usize)>,
    budget: usize,
}

impl<K: std::hash::Hash + Eq, F: Clone> FilterCache<K, F> {
    pub fn new(budget: usize) -> FilterCache<K, F> {
        FilterCache {
            filters: std::sync::Mutex::new((std::collections::HashMap::new(), 0)),
            budget,
        }
    }

    pub fn get(&self, key: &K) -> Option<F> {
        let guard = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(key).cloned()
    }

    /// Keeps `filter`, which costs `bytes` of memory.
    pub fn put(&self, key: K, filter: F, bytes: usize) {
        let mut guard = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        let size = bytes + 64;
        if guard.1 + size > self.budget {
            guard.0.clear();
            guard.1 = 0;
        }
        guard.1 += size;
        guard.0.insert(key, filter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_hash_is_fixed() {
        // These values are on disk: changing them needs a new format version.
        assert_eq!(hash(b""), mix(0x9e37_79b9_7f4a_7c15));
        assert_eq!(hash(b"frontend"), 0x2306_17f2_9920_f05b);
        assert_eq!(hash(b"frontend"), hash(b"frontend"));
        assert_ne!(hash(b"frontend"), hash(b"frontenD"));
        assert_eq!(hash_parts(&[b"front", b"", b"end"]), hash(b"frontend"));
        let long = b"service.name=checkout-service-7";
        for split in 0..long.len() {
            let (a, b) = long.split_at(split);
            assert_eq!(hash_parts(&[a, b]), hash(long), "split at {split}");
        }
    }

    #[test]
    fn false_positives_stay_near_the_design_rate() {
        let mut bloom = Bloom::with_capacity(10_000, 10);
        for i in 0..10_000u32 {
            bloom.insert(&i.to_le_bytes());
        }
        let false_positives = (10_000..110_000u32)
            .filter(|i| bloom.may_contain(&i.to_le_bytes()))
            .count();
        // 10 bits per key: about 0.8 %.
        assert!(false_positives < 2_000, "{false_positives} of 100000");
    }

    proptest! {
        #[test]
        fn no_false_negatives_after_a_round_trip(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..200),
            bits_per_key in 1usize..24,
        ) {
            let mut bloom = Bloom::with_capacity(keys.len(), bits_per_key);
            for key in &keys {
                bloom.insert(key);
            }
            let bloom = Bloom::decode(&bloom.encode()).unwrap();
            for key in &keys {
                prop_assert!(bloom.may_contain(key));
            }
        }
    }
}
