//! Segments: one data file (verbatim MKDB text) plus its compiled index file.
//!
//! A segment is immutable once published. Its index file (`index.mkdb`) holds, after a fixed
//! header and a section directory:
//! - the record table: for every live record, its byte range in the data file, its first line
//!   and the position of its fields in the field table;
//! - the field table: for every field, its attribute id and the value's position relative to
//!   the record start, so rendering never re-parses the text;
//! - postings: record-number lists for keys shared by several records (a name server IP used
//!   by many hosts, a contact referenced by many domains);
//! - per indexed attribute an fst map from normalised key to record number or postings list,
//!   and for `index: ALL` attributes a second fst over byte-reversed keys (suffix lookups).
//!
//! The header carries a magic number, the format version, the size and xxh3 hash of the data
//! file, the fingerprint of the class schema, and xxh3 hashes of the header and body. A stale
//! (data edited after compiling), truncated or corrupt segment is refused by [`Segment::open`].
//!
//! All integers are little-endian. Field values are limited to records of at most 64 KiB.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use fst::{IntoStreamer, Map, MapBuilder, Streamer};

use crate::bloom::{self, BloomBuilder};
use crate::bytes::{Bytes, MappedFile};
use crate::key;
use crate::record::RawRecord;
use crate::schema::{ClassDef, Field, IndexKind};

/// Magic number at the start of every index file.
pub const INDEX_MAGIC: [u8; 8] = *b"MKDB-IX\0";
/// The index format version this library reads and writes.
pub const INDEX_VERSION: u32 = 1;
/// Name of the data file inside a segment directory.
pub const DATA_FILE: &str = "data.txt";
/// Name of the index file inside a segment directory.
pub const INDEX_FILE: &str = "index.mkdb";
/// Largest record, in bytes (field offsets are 16-bit).
pub const MAX_RECORD_BYTES: usize = 65_535;

const HEADER_LEN: usize = 64;
const DIR_ENTRY_LEN: usize = 32;
const REC_ENTRY_LEN: usize = 16;
const FIELD_ENTRY_LEN: usize = 8;
const MULTI: u64 = 1 << 63;

const SEC_RECORDS: u16 = 1;
const SEC_FIELDS: u16 = 2;
const SEC_POSTINGS: u16 = 3;
const SEC_EXACT: u16 = 4;
const SEC_REVERSED: u16 = 5;
const SEC_BLOOM: u16 = 6;

/// A record number within a segment.
pub type RecNo = u32;

/// Sorted, growable list of (key, record) pairs stored in one arena.
#[derive(Debug, Default)]
struct KeyList {
    arena: Vec<u8>,
    entries: Vec<(u32, u32, RecNo)>,
}

impl KeyList {
    fn push(&mut self, key: &[u8], rec: RecNo) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(key);
        self.entries.push((start, key.len() as u32, rec));
    }

    fn key(&self, e: &(u32, u32, RecNo)) -> &[u8] {
        &self.arena[e.0 as usize..(e.0 + e.1) as usize]
    }

    fn sort(&mut self) {
        let arena = &self.arena;
        let k = |e: &(u32, u32, RecNo)| &arena[e.0 as usize..(e.0 + e.1) as usize];
        self.entries
            .sort_unstable_by(|a, b| k(a).cmp(k(b)).then(a.2.cmp(&b.2)));
        self.entries.dedup_by(|a, b| a.2 == b.2 && k(a) == k(b));
    }
}

/// Builds the index of one segment from validated records.
#[derive(Debug)]
pub struct SegmentBuilder<'s> {
    class: &'s ClassDef,
    fingerprint: u64,
    records: Vec<u8>,
    fields: Vec<u8>,
    record_count: u32,
    field_count: u32,
    exact: Vec<Option<KeyList>>,
    reversed: Vec<Option<KeyList>>,
    scratch: Vec<u8>,
}

/// A record that cannot go into a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// 1-based line of the offending record.
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl<'s> SegmentBuilder<'s> {
    /// A builder for records of `class`; `fingerprint` is the class schema fingerprint.
    pub fn new(class: &'s ClassDef, fingerprint: u64) -> SegmentBuilder<'s> {
        let exact = class
            .attrs
            .iter()
            .map(|a| (a.index != IndexKind::None).then(KeyList::default))
            .collect();
        let reversed = class
            .attrs
            .iter()
            .map(|a| (a.index == IndexKind::All).then(KeyList::default))
            .collect();
        SegmentBuilder {
            class,
            fingerprint,
            records: Vec::new(),
            fields: Vec::new(),
            record_count: 0,
            field_count: 0,
            exact,
            reversed,
            scratch: Vec::new(),
        }
    }

    /// Adds a validated record (fields from [`ClassDef::validate`]).
    pub fn add(&mut self, rec: &RawRecord<'_>, fields: &[Field<'_>]) -> Result<(), BuildError> {
        let len = rec.end - rec.start;
        if len > MAX_RECORD_BYTES {
            return Err(BuildError {
                line: rec.first_line,
                problem: format!("record is {len} bytes; the limit is {MAX_RECORD_BYTES}"),
            });
        }
        let start = u32::try_from(rec.start).map_err(|_| BuildError {
            line: rec.first_line,
            problem: "data file larger than 4 GiB: split it into several files".into(),
        })?;
        let recno = self.record_count;
        self.records.extend_from_slice(&start.to_le_bytes());
        self.records.extend_from_slice(&(len as u32).to_le_bytes());
        self.records
            .extend_from_slice(&self.field_count.to_le_bytes());
        self.records
            .extend_from_slice(&rec.first_line.to_le_bytes());
        for f in fields {
            let rel = (f.value_offset - rec.start) as u16;
            let line_delta = u16::try_from(f.line - rec.first_line).unwrap_or(u16::MAX);
            self.fields.extend_from_slice(&f.attr.to_le_bytes());
            self.fields.extend_from_slice(&rel.to_le_bytes());
            self.fields
                .extend_from_slice(&(f.value.len() as u16).to_le_bytes());
            self.fields.extend_from_slice(&line_delta.to_le_bytes());
            self.field_count += 1;
            let a = self.class.attr(f.attr);
            let ty = a.ty;
            let (ex, rv) = (
                &mut self.exact[usize::from(f.attr)],
                &mut self.reversed[usize::from(f.attr)],
            );
            if let Some(list) = ex {
                let scratch = &mut self.scratch;
                key::for_each_key(ty, f.value, |k| {
                    list.push(k, recno);
                    if let Some(r) = rv.as_mut() {
                        scratch.clear();
                        scratch.extend(k.iter().rev());
                        r.push(scratch, recno);
                    }
                });
            }
        }
        self.record_count += 1;
        Ok(())
    }

    /// Number of records added.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    fn first_line(&self, rec: RecNo) -> u32 {
        let o = rec as usize * REC_ENTRY_LEN + 12;
        u32::from_le_bytes(self.records[o..o + 4].try_into().expect("4 bytes"))
    }

    /// Builds the index file bytes for `data` (the data file's exact content).
    /// Fails if two records share a primary key.
    pub fn finish(mut self, data: &[u8]) -> Result<Vec<u8>, BuildError> {
        // Sentinel record entry so that every record's field range is [first, next.first).
        self.records
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.records.extend_from_slice(&0u32.to_le_bytes());
        self.records
            .extend_from_slice(&self.field_count.to_le_bytes());
        self.records.extend_from_slice(&0u32.to_le_bytes());

        let mut postings: Vec<u8> = Vec::new();
        let mut sections: Vec<(u16, u16, Vec<u8>)> = Vec::new();
        let pk = self.class.primary_key;
        for (attr, kinds) in [
            (SEC_EXACT, std::mem::take(&mut self.exact)),
            (SEC_REVERSED, std::mem::take(&mut self.reversed)),
        ]
        .into_iter()
        .flat_map(|(kind, lists)| {
            lists
                .into_iter()
                .enumerate()
                .map(move |(a, l)| (a, (kind, l)))
        }) {
            let (kind, Some(mut list)) = kinds else {
                continue;
            };
            list.sort();
            let mut bloom = (kind == SEC_EXACT).then(|| {
                let distinct = 1 + list
                    .entries
                    .windows(2)
                    .filter(|w| list.key(&w[0]) != list.key(&w[1]))
                    .count();
                BloomBuilder::new(distinct)
            });
            let mut b = MapBuilder::memory();
            let mut i = 0;
            while i < list.entries.len() {
                let k = list.key(&list.entries[i]);
                let mut j = i + 1;
                while j < list.entries.len() && list.key(&list.entries[j]) == k {
                    j += 1;
                }
                if j - i > 1 && attr as u16 == pk && kind == SEC_EXACT {
                    let (a, b) = (list.entries[i].2, list.entries[i + 1].2);
                    return Err(BuildError {
                        line: self.first_line(b),
                        problem: format!(
                            "duplicate {} {:?}: also at line {}",
                            self.class.pk().name,
                            String::from_utf8_lossy(k),
                            self.first_line(a)
                        ),
                    });
                }
                let value = if j - i == 1 {
                    u64::from(list.entries[i].2)
                } else {
                    let off = (postings.len() / 4) as u64;
                    for e in &list.entries[i..j] {
                        postings.extend_from_slice(&e.2.to_le_bytes());
                    }
                    MULTI | (((j - i) as u64) << 32) | off
                };
                b.insert(k, value).expect("keys are sorted and unique");
                if let Some(bloom) = bloom.as_mut() {
                    bloom.insert(k);
                }
                i = j;
            }
            if let Some(bloom) = bloom {
                sections.push((SEC_BLOOM, attr as u16, bloom.into_bytes()));
            }
            sections.push((kind, attr as u16, b.into_inner().expect("in-memory fst")));
        }
        let mut all = vec![
            (SEC_RECORDS, 0, self.records),
            (SEC_FIELDS, 0, self.fields),
            (SEC_POSTINGS, 0, postings),
        ];
        all.extend(sections);

        let dir_len = all.len() * DIR_ENTRY_LEN;
        let mut out = vec![0u8; HEADER_LEN + dir_len];
        let mut entries = Vec::new();
        for (kind, attr, bytes) in &all {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            entries.push((*kind, *attr, out.len() as u64, bytes.len() as u64));
            out.extend_from_slice(bytes);
        }
        for (i, (kind, attr, off, len)) in entries.iter().enumerate() {
            let p = HEADER_LEN + i * DIR_ENTRY_LEN;
            out[p..p + 2].copy_from_slice(&kind.to_le_bytes());
            out[p + 2..p + 4].copy_from_slice(&attr.to_le_bytes());
            out[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            out[p + 16..p + 24].copy_from_slice(&len.to_le_bytes());
        }
        out[0..8].copy_from_slice(&INDEX_MAGIC);
        out[8..12].copy_from_slice(&INDEX_VERSION.to_le_bytes());
        out[12..14].copy_from_slice(&self.class.id.to_le_bytes());
        out[14..16].copy_from_slice(&(all.len() as u16).to_le_bytes());
        out[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
        out[24..32].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(data).to_le_bytes());
        out[32..40].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[40..44].copy_from_slice(&self.record_count.to_le_bytes());
        out[44..48].copy_from_slice(&self.field_count.to_le_bytes());
        let body = xxhash_rust::xxh3::xxh3_64(&out[HEADER_LEN..]);
        out[48..56].copy_from_slice(&body.to_le_bytes());
        let head = xxhash_rust::xxh3::xxh3_64(&out[..56]);
        out[56..64].copy_from_slice(&head.to_le_bytes());
        Ok(out)
    }
}

/// Why a segment was refused.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The index does not describe the data file next to it, or is damaged.
    #[error(
        "{path}: {problem}; the segment is not served. Rebuild the database with `loader compile SRC_DIR DB_DIR`"
    )]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// How much of a segment to verify when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Header, sizes, structure, and the xxh3 hashes of the whole data and index files
    /// (read with ordinary reads, so the check does not grow the process's mapped memory).
    Full,
    /// Header, sizes and structure only (for files this process verified before).
    Quick,
}

/// An opened, verified segment.
#[derive(Debug)]
pub struct Segment {
    class: u16,
    data: Bytes,
    records: Bytes,
    fields: Bytes,
    postings: Bytes,
    exact: Vec<Option<Map<Bytes>>>,
    reversed: Vec<Option<Map<Bytes>>>,
    blooms: Vec<Option<Bytes>>,
    record_count: u32,
    data_hash: u64,
}

fn le_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn le_u64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Streams a file through xxh3 with ordinary reads, skipping its first `skip` bytes.
/// Returns (bytes hashed, hash). Reads go through the page cache, not this process's
/// mappings, so verifying a large database does not make it resident in the process.
pub fn hash_file(path: &Path, skip: u64) -> std::io::Result<(u64, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(skip))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, h.digest()))
}

impl Segment {
    /// Opens the segment in `dir` for `class`, whose schema fingerprint must be `fingerprint`.
    pub fn open(
        dir: &Path,
        class: &ClassDef,
        fingerprint: u64,
        verify: Verify,
    ) -> Result<Segment, SegmentError> {
        let data_path = dir.join(DATA_FILE);
        let index_path = dir.join(INDEX_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SegmentError::Io { path, source }
        };
        let invalid = |path: &Path, problem: &str| SegmentError::Invalid {
            path: path.to_path_buf(),
            problem: problem.into(),
        };
        let data = Bytes::from_mapped(MappedFile::open(&data_path).map_err(io(&data_path))?);
        let index = Bytes::from_mapped(MappedFile::open(&index_path).map_err(io(&index_path))?);
        let seg = Segment::from_parts(data, &index, class, fingerprint)
            .map_err(|problem| invalid(&index_path, &problem))?;
        if verify == Verify::Full {
            // Streamed reads, not the mapping: verification must not make the whole database
            // resident in this process.
            let (_, body) = hash_file(&index_path, HEADER_LEN as u64).map_err(io(&index_path))?;
            if body != le_u64(&index, 48) {
                return Err(invalid(
                    &index_path,
                    "index checksum mismatch (the index file is corrupt)",
                ));
            }
            let (len, hash) = hash_file(&data_path, 0).map_err(io(&data_path))?;
            if len != seg.data_len() || hash != seg.data_hash {
                return Err(invalid(
                    &data_path,
                    "the data file changed after it was indexed (its hash differs)",
                ));
            }
        }
        Ok(seg)
    }

    /// Builds a segment over in-memory data and index bytes, verifying everything including
    /// both hashes (tests and in-memory use).
    pub fn from_memory(
        data: Vec<u8>,
        index: Vec<u8>,
        class: &ClassDef,
        fingerprint: u64,
    ) -> Result<Segment, String> {
        if index.len() >= HEADER_LEN
            && xxhash_rust::xxh3::xxh3_64(&index[HEADER_LEN..]) != le_u64(&index, 48)
        {
            return Err("index checksum mismatch (the index file is corrupt)".into());
        }
        let seg = Segment::from_parts(
            Bytes::from_vec(data),
            &Bytes::from_vec(index),
            class,
            fingerprint,
        )?;
        if xxhash_rust::xxh3::xxh3_64(&seg.data) != seg.data_hash {
            return Err("the data file changed after it was indexed (its hash differs)".into());
        }
        Ok(seg)
    }

    /// Structural checks that need no full read: header, sizes, section bounds, fsts.
    fn from_parts(
        data: Bytes,
        index: &Bytes,
        class: &ClassDef,
        fingerprint: u64,
    ) -> Result<Segment, String> {
        let ix: &[u8] = index;
        if ix.len() < HEADER_LEN {
            return Err(format!("index file is truncated ({} bytes)", ix.len()));
        }
        if ix[0..8] != INDEX_MAGIC {
            return Err("not an MKDB index file (bad magic number)".into());
        }
        let version = le_u32(ix, 8);
        if version != INDEX_VERSION {
            return Err(format!(
                "index format version {version}; this mkdb reads version {INDEX_VERSION}"
            ));
        }
        if xxhash_rust::xxh3::xxh3_64(&ix[..56]) != le_u64(ix, 56) {
            return Err("index header checksum mismatch (the index file is corrupt)".into());
        }
        if le_u16(ix, 12) != class.id || le_u64(ix, 32) != fingerprint {
            return Err(format!(
                "index was built for another schema of class {}",
                class.name
            ));
        }
        let data_len = le_u64(ix, 16);
        if data_len != data.len() as u64 {
            return Err(format!(
                "the data file is {} bytes but was {data_len} bytes when indexed: it was edited or truncated after compiling",
                data.len()
            ));
        }
        let data_hash = le_u64(ix, 24);
        let record_count = le_u32(ix, 40);
        let field_count = le_u32(ix, 44);
        let nsec = usize::from(le_u16(ix, 14));
        if HEADER_LEN + nsec * DIR_ENTRY_LEN > ix.len() {
            return Err("index directory is truncated".into());
        }
        let mut seg = Segment {
            class: class.id,
            data,
            records: Bytes::from_vec(Vec::new()),
            fields: Bytes::from_vec(Vec::new()),
            postings: Bytes::from_vec(Vec::new()),
            exact: (0..class.attrs.len()).map(|_| None).collect(),
            reversed: (0..class.attrs.len()).map(|_| None).collect(),
            blooms: (0..class.attrs.len()).map(|_| None).collect(),
            record_count,
            data_hash,
        };
        for i in 0..nsec {
            let p = HEADER_LEN + i * DIR_ENTRY_LEN;
            let (kind, attr) = (le_u16(ix, p), usize::from(le_u16(ix, p + 2)));
            let (off, len) = (le_u64(ix, p + 8), le_u64(ix, p + 16));
            let end = off.checked_add(len).filter(|&e| e <= ix.len() as u64);
            let Some(end) = end else {
                return Err(format!(
                    "index section {i} lies outside the file (truncated?)"
                ));
            };
            let bytes = index.slice(off as usize..end as usize);
            match kind {
                SEC_RECORDS => seg.records = bytes,
                SEC_FIELDS => seg.fields = bytes,
                SEC_POSTINGS => seg.postings = bytes,
                SEC_EXACT | SEC_REVERSED => {
                    if attr >= class.attrs.len() {
                        return Err(format!(
                            "index section {i} names attribute {attr}, unknown to the schema"
                        ));
                    }
                    let map =
                        Map::new(bytes).map_err(|e| format!("fst for attribute {attr}: {e}"))?;
                    if kind == SEC_EXACT {
                        seg.exact[attr] = Some(map);
                    } else {
                        seg.reversed[attr] = Some(map);
                    }
                }
                SEC_BLOOM => {
                    if attr >= class.attrs.len() || !bytes.len().is_multiple_of(bloom::BLOCK_BYTES)
                    {
                        return Err(format!("index section {i}: malformed Bloom filter"));
                    }
                    seg.blooms[attr] = Some(bytes);
                }
                _ => return Err(format!("unknown index section kind {kind}")),
            }
        }
        if seg.records.len() != (record_count as usize + 1) * REC_ENTRY_LEN {
            return Err("record table size does not match the record count".into());
        }
        if seg.fields.len() != field_count as usize * FIELD_ENTRY_LEN {
            return Err("field table size does not match the field count".into());
        }
        if !seg.postings.len().is_multiple_of(4) {
            return Err("postings section is not a whole number of entries".into());
        }
        for (a, def) in class.attrs.iter().enumerate() {
            if (def.index != IndexKind::None) != seg.exact[a].is_some()
                || (def.index == IndexKind::All) != seg.reversed[a].is_some()
            {
                return Err(format!(
                    "index sections do not match the schema for {}",
                    def.name
                ));
            }
        }
        Ok(seg)
    }

    /// The class id.
    pub fn class(&self) -> u16 {
        self.class
    }

    /// Number of live records.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// The xxh3 hash of the data file.
    pub fn data_hash(&self) -> u64 {
        self.data_hash
    }

    /// Size of the data file.
    pub fn data_len(&self) -> u64 {
        self.data.len() as u64
    }

    fn rec_entry(&self, rec: RecNo) -> (usize, usize, usize, usize, u32) {
        let r: &[u8] = &self.records;
        let o = rec as usize * REC_ENTRY_LEN;
        let start = le_u32(r, o) as usize;
        let len = le_u32(r, o + 4) as usize;
        let first = le_u32(r, o + 8) as usize;
        let line = le_u32(r, o + 12);
        let next = le_u32(r, o + REC_ENTRY_LEN + 8) as usize;
        (start, len, first, next, line)
    }

    /// A record by number. Out-of-range numbers and damaged entries give an empty view.
    pub fn record(&self, rec: RecNo) -> RecordView<'_> {
        let empty = RecordView {
            data: &[],
            fields: &[],
            first_line: 0,
        };
        if rec >= self.record_count {
            return empty;
        }
        let (start, len, first, next, line) = self.rec_entry(rec);
        let data = self.data.get(start..start.saturating_add(len));
        let fields = self
            .fields
            .get(first * FIELD_ENTRY_LEN..next.saturating_mul(FIELD_ENTRY_LEN));
        match (data, fields) {
            (Some(data), Some(fields)) => RecordView {
                data,
                fields,
                first_line: line,
            },
            _ => RecordView {
                first_line: line,
                ..empty
            },
        }
    }

    fn postings(&self, v: u64) -> Postings<'_> {
        if v & MULTI == 0 {
            return Postings {
                single: Some(v as u32),
                list: &[],
            };
        }
        let count = ((v >> 32) & 0x7fff_ffff) as usize;
        let off = (v & 0xffff_ffff) as usize * 4;
        let list = self.postings.get(off..off + count * 4).unwrap_or(&[]);
        Postings { single: None, list }
    }

    /// Records whose `attr` has exactly the key `key` (already normalised).
    pub fn exact(&self, attr: u16, key: &[u8]) -> Postings<'_> {
        let none = Postings {
            single: None,
            list: &[],
        };
        let a = usize::from(attr);
        if let Some(Some(b)) = self.blooms.get(a)
            && !bloom::may_contain(b, key)
        {
            return none;
        }
        match self
            .exact
            .get(a)
            .and_then(Option::as_ref)
            .and_then(|m| m.get(key))
        {
            Some(v) => self.postings(v),
            None => none,
        }
    }

    /// The exact-key fst of an attribute, if indexed.
    pub fn exact_map(&self, attr: u16) -> Option<&Map<Bytes>> {
        self.exact.get(usize::from(attr)).and_then(Option::as_ref)
    }

    /// The reversed-key fst of an attribute, if it has a suffix index.
    pub fn reversed_map(&self, attr: u16) -> Option<&Map<Bytes>> {
        self.reversed
            .get(usize::from(attr))
            .and_then(Option::as_ref)
    }

    /// Decodes an fst value of this segment into record numbers.
    pub fn decode(&self, value: u64) -> Postings<'_> {
        self.postings(value)
    }

    /// Every key of an attribute's exact index with its records (integrity checks).
    pub fn for_each_key(&self, attr: u16, mut f: impl FnMut(&[u8], Postings<'_>)) {
        if let Some(m) = self.exact_map(attr) {
            let mut s = m.into_stream();
            while let Some((k, v)) = s.next() {
                f(k, self.postings(v));
            }
        }
    }
}

/// Record numbers for one key.
#[derive(Debug, Clone)]
pub struct Postings<'a> {
    single: Option<RecNo>,
    list: &'a [u8],
}

impl Iterator for Postings<'_> {
    type Item = RecNo;
    fn next(&mut self) -> Option<RecNo> {
        if let Some(r) = self.single.take() {
            return Some(r);
        }
        let (head, rest) = self.list.split_first_chunk::<4>()?;
        self.list = rest;
        Some(u32::from_le_bytes(*head))
    }
}

/// A record's text and fields, borrowed from the mapped files.
///
/// Values come as `&str` (checked as UTF-8 one by one, cheap for short values) or as raw
/// bytes for output (the data was validated as UTF-8 when compiled and is hash-verified when
/// opened, so copying bytes out needs no second check).
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    data: &'a [u8],
    fields: &'a [u8],
    first_line: u32,
}

impl<'a> RecordView<'a> {
    /// The record's text as stored (tags as written, comments included).
    pub fn text(&self) -> &'a str {
        std::str::from_utf8(self.data).unwrap_or_default()
    }

    /// Line of the record's first field in its data file.
    pub fn first_line(&self) -> u32 {
        self.first_line
    }

    /// Fields in file order as raw bytes: (attribute id, value, line offset).
    pub fn fields_raw(&self) -> impl Iterator<Item = (u16, &'a [u8], u32)> + 'a {
        let data = self.data;
        self.fields
            .chunks_exact(FIELD_ENTRY_LEN)
            .filter_map(move |f| {
                let rel = usize::from(le_u16(f, 2));
                let len = usize::from(le_u16(f, 4));
                Some((
                    le_u16(f, 0),
                    data.get(rel..rel + len)?,
                    u32::from(le_u16(f, 6)),
                ))
            })
    }

    /// Fields in file order: (attribute id, value).
    pub fn fields(&self) -> impl Iterator<Item = (u16, &'a str)> + 'a {
        self.fields_raw()
            .filter_map(|(a, v, _)| Some((a, std::str::from_utf8(v).ok()?)))
    }

    /// Fields with their lines: (attribute id, value, line).
    pub fn fields_with_lines(&self) -> impl Iterator<Item = (u16, &'a str, u32)> + 'a {
        let first = self.first_line;
        self.fields_raw().filter_map(move |(a, v, d)| {
            Some((a, std::str::from_utf8(v).ok()?, first.saturating_add(d)))
        })
    }

    /// Values of one attribute, in file order.
    pub fn values(&self, attr: u16) -> impl Iterator<Item = &'a str> + 'a {
        self.fields()
            .filter(move |&(a, _)| a == attr)
            .map(|(_, v)| v)
    }

    /// The first value of an attribute, as raw bytes.
    pub fn first_raw(&self, attr: u16) -> Option<&'a [u8]> {
        self.fields_raw().find(|f| f.0 == attr).map(|f| f.1)
    }

    /// The first value of an attribute.
    pub fn first(&self, attr: u16) -> Option<&'a str> {
        self.values(attr).next()
    }

    /// All fields as raw bytes, sorted by attribute id (schema order), file order kept
    /// within an attribute: the renderer's single pass.
    pub fn sorted_raw(&self, out: &mut Vec<(u16, &'a [u8])>) {
        out.clear();
        out.reserve(self.fields.len() / FIELD_ENTRY_LEN);
        for f in self.fields.chunks_exact(FIELD_ENTRY_LEN) {
            let rel = usize::from(le_u16(f, 2));
            let len = usize::from(le_u16(f, 4));
            if let Some(v) = self.data.get(rel..rel + len) {
                out.push((le_u16(f, 0), v));
            }
        }
        // Fields are usually already in schema order: check before sorting.
        if !out.is_sorted_by_key(|f| f.0) {
            out.sort_by_key(|f| f.0);
        }
    }

    /// [`Self::sorted_raw`] as spans of the record's text (attribute id, [`FieldSpan`]), so
    /// that a caller can keep the vector (it borrows nothing) from one record to the next;
    /// [`Self::value`] turns a span back into the value.
    pub fn sorted_spans(&self, out: &mut Vec<(u16, FieldSpan)>) {
        out.clear();
        out.reserve(self.fields.len() / FIELD_ENTRY_LEN);
        for f in self.fields.chunks_exact(FIELD_ENTRY_LEN) {
            let rel = le_u16(f, 2);
            let len = le_u16(f, 4);
            if usize::from(rel) + usize::from(len) <= self.data.len() {
                out.push((le_u16(f, 0), FieldSpan { rel, len }));
            }
        }
        if !out.is_sorted_by_key(|f| f.0) {
            out.sort_by_key(|f| f.0);
        }
    }

    /// The value a span of [`Self::sorted_spans`] stands for (empty if it is not in this
    /// record).
    pub fn value(&self, span: FieldSpan) -> &'a [u8] {
        let start = usize::from(span.rel);
        self.data
            .get(start..start + usize::from(span.len))
            .unwrap_or_default()
    }
}

/// Where a field's value lies in its record's text (see [`RecordView::sorted_spans`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    rel: u16,
    len: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{SyntaxError, for_each_record};
    use crate::schema::Schema;

    pub(crate) fn build(
        schema: &Schema,
        class: &str,
        text: &str,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let c = schema.class(class).unwrap();
        let fp = schema.class_fingerprint(c.id);
        let mut b = SegmentBuilder::new(c, fp);
        let mut problems = Vec::new();
        let mut fields = Vec::new();
        for_each_record(text, |r| {
            c.validate(r, &mut fields, &mut problems);
            b.add(r, &fields).map_err(|e| SyntaxError {
                line: e.line,
                problem: e.problem,
            })
        })
        .map_err(|e| e.to_string())?;
        if !problems.is_empty() {
            return Err(format!("{problems:?}"));
        }
        let ix = b.finish(text.as_bytes()).map_err(|e| e.to_string())?;
        Ok((text.as_bytes().to_vec(), ix))
    }

    const HOSTS: &str = "Host-Name: ns1.a.coop\nHost-ID: H1-COOP\nHost-Status: ok\nIP-Address: 10.0.0.1\n\
        Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n---\n\
        Host-Name: NS2.a.coop\nHost-ID: H2-COOP\nHost-Status: ok\nIP-Address: 10.0.0.1\nIP-Address: 2001:db8::1\n\
        Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n---\n";

    #[test]
    fn build_and_look_up() {
        let s = Schema::shipped();
        let c = s.class("nameserver").unwrap();
        let (d, ix) = build(&s, "nameserver", HOSTS).unwrap();
        let seg = Segment::from_memory(d, ix, c, s.class_fingerprint(c.id)).unwrap();
        assert_eq!(seg.record_count(), 2);
        let name = c.attr_by_tag("Host-Name").unwrap().id;
        let ip = c.attr_by_tag("IP-Address").unwrap().id;
        assert_eq!(seg.exact(name, b"ns2.a.coop").collect::<Vec<_>>(), [1]);
        assert_eq!(seg.exact(ip, b"10.0.0.1").collect::<Vec<_>>(), [0, 1]);
        assert_eq!(seg.exact(ip, b"10.0.0.2").count(), 0);
        let r = seg.record(1);
        assert_eq!(r.first(name), Some("NS2.a.coop"));
        assert_eq!(
            r.values(ip).collect::<Vec<_>>(),
            ["10.0.0.1", "2001:db8::1"]
        );
        assert_eq!(r.first_line(), 8);
        assert!(seg.reversed_map(name).unwrap().contains_key(b"pooc.a.2sn"));
    }

    #[test]
    fn duplicate_primary_key_is_refused() {
        let s = Schema::shipped();
        let dup = format!(
            "{HOSTS}{}",
            HOSTS.replace("NS2", "ns1").split("---\n").nth(1).unwrap()
        );
        let e = build(&s, "nameserver", &dup).unwrap_err();
        assert!(e.contains("duplicate Host-Name"), "{e}");
    }

    #[test]
    fn stale_truncated_and_corrupt_indexes_are_refused() {
        let s = Schema::shipped();
        let c = s.class("nameserver").unwrap();
        let fp = s.class_fingerprint(c.id);
        let (d, ix) = build(&s, "nameserver", HOSTS).unwrap();
        // Same-size edit of the data: hash mismatch.
        let edited = String::from_utf8(d.clone())
            .unwrap()
            .replace("ns1.a", "ns9.a")
            .into_bytes();
        let e = Segment::from_memory(edited, ix.clone(), c, fp).unwrap_err();
        assert!(e.contains("changed after it was indexed"), "{e}");
        // A comment line inserted: size mismatch.
        let mut longer = b"# note\n".to_vec();
        longer.extend_from_slice(&d);
        assert!(
            Segment::from_memory(longer, ix.clone(), c, fp)
                .unwrap_err()
                .contains("edited or truncated")
        );
        // Truncated index.
        for cut in [10, 64, ix.len() / 2, ix.len() - 1] {
            assert!(
                Segment::from_memory(d.clone(), ix[..cut].to_vec(), c, fp).is_err(),
                "cut {cut}"
            );
        }
        // Flipped byte in the body.
        let mut bad = ix.clone();
        let n = bad.len() - 3;
        bad[n] ^= 0x40;
        assert!(
            Segment::from_memory(d.clone(), bad, c, fp)
                .unwrap_err()
                .contains("corrupt")
        );
        // Another schema.
        assert!(
            Segment::from_memory(d.clone(), ix.clone(), c, fp ^ 1)
                .unwrap_err()
                .contains("another schema")
        );
        // Wrong version.
        let mut v2 = ix;
        v2[8] = 2;
        assert!(
            Segment::from_memory(d, v2, c, fp)
                .unwrap_err()
                .contains("version")
        );
    }

    #[test]
    fn open_from_disk_detects_same_size_edit() {
        let s = Schema::shipped();
        let c = s.class("nameserver").unwrap();
        let fp = s.class_fingerprint(c.id);
        let (d, ix) = build(&s, "nameserver", HOSTS).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATA_FILE), &d).unwrap();
        std::fs::write(dir.path().join(INDEX_FILE), &ix).unwrap();
        Segment::open(dir.path(), c, fp, Verify::Full).unwrap();
        let edited = String::from_utf8(d).unwrap().replace("ns1.a", "ns9.a");
        std::fs::write(dir.path().join(DATA_FILE), edited).unwrap();
        // Quick verification cannot see a same-size edit; Full does.
        assert!(Segment::open(dir.path(), c, fp, Verify::Quick).is_ok());
        let e = Segment::open(dir.path(), c, fp, Verify::Full)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("changed after it was indexed") && e.contains("loader compile"),
            "{e}"
        );
    }
}
