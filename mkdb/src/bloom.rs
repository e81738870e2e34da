//! Blocked Bloom filters over the keys of an exact index.
//!
//! A generation has several segments per class, and a lookup by primary key (every contact
//! and name server joined into a domain record) would otherwise walk the fst of each segment
//! in turn, most of them to find nothing. Each exact index therefore carries a Bloom filter:
//! 512-bit blocks (one cache line), one block chosen per key, 7 bits set in it, about 10 bits
//! per distinct key (roughly 1% false positives). A miss then costs one cache line.

/// Bits per distinct key.
const BITS_PER_KEY: usize = 10;
/// Bits set per key.
const PROBES: u32 = 7;
/// Bytes per block (one cache line).
pub const BLOCK_BYTES: usize = 64;

fn hashes(key: &[u8]) -> (u64, u64) {
    let h = xxhash_rust::xxh3::xxh3_64(key);
    (h, h.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (h >> 29))
}

fn block_of(h: u64, nblocks: usize) -> usize {
    (((h & 0xffff_ffff) * nblocks as u64) >> 32) as usize
}

/// Builds a filter for a known number of distinct keys.
#[derive(Debug)]
pub struct BloomBuilder {
    words: Vec<u64>,
}

impl BloomBuilder {
    /// A filter sized for `keys` distinct keys.
    pub fn new(keys: usize) -> BloomBuilder {
        let nblocks = (keys * BITS_PER_KEY).div_ceil(BLOCK_BYTES * 8).max(1);
        BloomBuilder {
            words: vec![0; nblocks * BLOCK_BYTES / 8],
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: &[u8]) {
        let (h1, h2) = hashes(key);
        let block = block_of(h1, self.words.len() / 8) * 8;
        for i in 0..PROBES {
            let bit = (h2 >> (i * 9)) & 511;
            self.words[block + (bit >> 6) as usize] |= 1 << (bit & 63);
        }
    }

    /// The filter's bytes (little-endian words).
    pub fn into_bytes(self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// May `key` be in the filter stored in `bytes`? An empty or malformed filter says yes
/// (it never hides a key).
pub fn may_contain(bytes: &[u8], key: &[u8]) -> bool {
    let nblocks = bytes.len() / BLOCK_BYTES;
    if nblocks == 0 || !bytes.len().is_multiple_of(BLOCK_BYTES) {
        return true;
    }
    let (h1, h2) = hashes(key);
    let block = &bytes[block_of(h1, nblocks) * BLOCK_BYTES..][..BLOCK_BYTES];
    (0..PROBES).all(|i| {
        let bit = ((h2 >> (i * 9)) & 511) as usize;
        let word = u64::from_le_bytes(block[(bit >> 6) * 8..][..8].try_into().expect("8 bytes"));
        word & (1 << (bit & 63)) != 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("cnt-{i}")).collect();
        let mut b = BloomBuilder::new(keys.len());
        for k in &keys {
            b.insert(k.as_bytes());
        }
        let bytes = b.into_bytes();
        assert!(keys.iter().all(|k| may_contain(&bytes, k.as_bytes())));
        let fp = (0..20_000)
            .filter(|i| may_contain(&bytes, format!("other-{i}").as_bytes()))
            .count();
        assert!(fp < 600, "{fp} false positives in 20000");
        assert!(may_contain(&[], b"anything"));
        assert!(may_contain(&bytes[..10], b"anything"));
    }
}
