//! Key directories: per class and generation, a hash table from primary key to the
//! (segment, record) holding it.
//!
//! Joins (every contact and name server of a domain record) and exact primary-key queries
//! are the hot path of whois. Through the fsts alone, each would walk one fst per segment
//! of the class, a chain of dependent memory reads. The directory answers with one probe of
//! an open-addressing table (linear probing, load factor at most one half): each slot holds
//! a 15-bit fingerprint of the key's hash, the segment (by position within the class) and
//! the record number. A fingerprint match is only a candidate: the caller confirms it
//! against the record's own key, so a collision can never return a wrong record.
//!
//! File `generations/N/keys-<class>.mkdb`: a 64-byte header (magic, version, class id, slot
//! count, a fingerprint of the class's segment list, body and header xxh3 hashes), then the
//! slots as little-endian u64. A directory that does not match its generation is refused;
//! a generation without one falls back to the fsts.

use std::path::Path;

use crate::bytes::{Bytes, MappedFile};

/// Magic number of a key directory file.
pub const MAGIC: [u8; 8] = *b"MKDB-KD\0";
/// Format version.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 64;

fn slot_of(h: u64) -> (u64, u64) {
    // The top bit is always set in a used slot, so 0 means empty.
    let fp = (h >> 49) | 0x8000;
    (h, fp)
}

/// Fingerprint of a class's segment list (names in order), stored in the directory so
/// that it is never used with other segments.
pub fn segments_fingerprint<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in names {
        h.update(n.as_bytes());
        h.update(b"\n");
    }
    h.digest()
}

/// Builds a directory file for `keys` (key, segment position in class, record).
pub fn build<'k>(
    class: u16,
    segments_fp: u64,
    count: usize,
    keys: impl IntoIterator<Item = (&'k [u8], u16, u32)>,
) -> Vec<u8> {
    let hashed = keys
        .into_iter()
        .map(|(k, s, r)| (xxhash_rust::xxh3::xxh3_64(k), s, r));
    build_hashed(class, segments_fp, count, hashed)
}

/// Builds a directory file from key hashes (`xxh3_64` of the key), segment positions and
/// record numbers. `count` is the number of entries (it sizes the table).
pub fn build_hashed(
    class: u16,
    segments_fp: u64,
    count: usize,
    entries: impl IntoIterator<Item = (u64, u16, u32)>,
) -> Vec<u8> {
    let slots = (count * 2).next_power_of_two().max(8);
    let mask = (slots - 1) as u64;
    let mut table = vec![0u64; slots];
    for (hash, seg, rec) in entries {
        let (h, fp) = slot_of(hash);
        let mut i = h & mask;
        while table[i as usize] != 0 {
            i = (i + 1) & mask;
        }
        table[i as usize] = (fp << 48) | (u64::from(seg) << 32) | u64::from(rec);
    }
    let mut out = vec![0u8; HEADER_LEN];
    out.reserve(slots * 8);
    for s in &table {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..14].copy_from_slice(&class.to_le_bytes());
    out[16..24].copy_from_slice(&(slots as u64).to_le_bytes());
    out[24..32].copy_from_slice(&segments_fp.to_le_bytes());
    let body = xxhash_rust::xxh3::xxh3_64(&out[HEADER_LEN..]);
    out[48..56].copy_from_slice(&body.to_le_bytes());
    let head = xxhash_rust::xxh3::xxh3_64(&out[..56]);
    out[56..64].copy_from_slice(&head.to_le_bytes());
    out
}

/// Why a directory file could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is not a valid directory for this generation and class.
    Invalid(String),
}

/// An opened key directory.
#[derive(Debug)]
pub struct KeyDirectory {
    slots: Bytes,
    mask: u64,
}

fn le_u64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl KeyDirectory {
    /// Checks the header (and, with `verify_body`, the body hash) and opens the directory.
    pub fn open(
        bytes: &Bytes,
        class: u16,
        segments_fp: u64,
        verify_body: bool,
    ) -> Result<KeyDirectory, String> {
        let b: &[u8] = bytes;
        if b.len() < HEADER_LEN || b[0..8] != MAGIC {
            return Err("not an MKDB key directory (bad magic or truncated)".into());
        }
        if u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")) != VERSION {
            return Err("unsupported key directory version".into());
        }
        if xxhash_rust::xxh3::xxh3_64(&b[..56]) != le_u64(b, 56) {
            return Err("key directory header checksum mismatch (corrupt)".into());
        }
        if u16::from_le_bytes([b[12], b[13]]) != class || le_u64(b, 24) != segments_fp {
            return Err("key directory belongs to another generation or class".into());
        }
        let slots = le_u64(b, 16);
        if !slots.is_power_of_two() || HEADER_LEN as u64 + slots * 8 != b.len() as u64 {
            return Err("key directory size does not match its slot count (truncated?)".into());
        }
        if verify_body && xxhash_rust::xxh3::xxh3_64(&b[HEADER_LEN..]) != le_u64(b, 48) {
            return Err("key directory checksum mismatch (corrupt)".into());
        }
        Ok(KeyDirectory {
            slots: bytes.slice(HEADER_LEN..b.len()),
            mask: slots - 1,
        })
    }

    /// Opens a published directory file: the body hash is checked with streamed reads (so
    /// verification does not make the table resident), the header through the mapping.
    pub fn open_file(path: &Path, class: u16, segments_fp: u64) -> Result<KeyDirectory, OpenError> {
        let (_, body) =
            crate::segment::hash_file(path, HEADER_LEN as u64).map_err(OpenError::Io)?;
        let bytes = Bytes::from_mapped(MappedFile::open(path).map_err(OpenError::Io)?);
        let dir =
            KeyDirectory::open(&bytes, class, segments_fp, false).map_err(OpenError::Invalid)?;
        if le_u64(&bytes, 48) != body {
            return Err(OpenError::Invalid(
                "key directory checksum mismatch (corrupt)".into(),
            ));
        }
        Ok(dir)
    }

    /// Candidate (segment position, record) pairs for `key`, to be confirmed by the caller.
    pub fn candidates<'a>(&'a self, key: &[u8]) -> impl Iterator<Item = (u16, u32)> + 'a {
        let (h, fp) = slot_of(xxhash_rust::xxh3::xxh3_64(key));
        let slots: &[u8] = &self.slots;
        let mask = self.mask;
        let mut i = h & mask;
        let mut probes = 0u64;
        std::iter::from_fn(move || {
            loop {
                if probes > mask {
                    return None;
                }
                probes += 1;
                let s = le_u64(slots, i as usize * 8);
                i = (i + 1) & mask;
                if s == 0 {
                    probes = mask + 1;
                    return None;
                }
                if s >> 48 == fp {
                    return Some((((s >> 32) & 0xffff) as u16, s as u32));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_and_rejects_mismatches() {
        let keys: Vec<String> = (0..5000).map(|i| format!("c{i}")).collect();
        let file = build(
            3,
            77,
            keys.len(),
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.as_bytes(), (i % 3) as u16, i as u32)),
        );
        let bytes = Bytes::from_vec(file.clone());
        let d = KeyDirectory::open(&bytes, 3, 77, true).unwrap();
        for (i, k) in keys.iter().enumerate() {
            assert!(
                d.candidates(k.as_bytes())
                    .any(|c| c == ((i % 3) as u16, i as u32)),
                "{k}"
            );
        }
        let stray = (0..5000)
            .filter(|i| d.candidates(format!("x{i}").as_bytes()).next().is_some())
            .count();
        assert!(stray < 50, "{stray} fingerprint collisions");
        assert!(KeyDirectory::open(&bytes, 4, 77, true).is_err());
        assert!(KeyDirectory::open(&bytes, 3, 78, true).is_err());
        assert!(
            KeyDirectory::open(
                &Bytes::from_vec(file[..file.len() - 8].to_vec()),
                3,
                77,
                true
            )
            .is_err()
        );
        let mut bad = file;
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(KeyDirectory::open(&Bytes::from_vec(bad), 3, 77, true).is_err());
    }

    #[test]
    fn full_table_terminates() {
        let file = build(0, 0, 2, [(&b"a"[..], 0, 0), (&b"b"[..], 0, 1)]);
        let d = KeyDirectory::open(&Bytes::from_vec(file), 0, 0, true).unwrap();
        assert_eq!(d.candidates(b"zzz").count(), 0);
    }
}
