//! Read-only byte storage for segments: a memory-mapped published file, or an owned buffer.
//!
//! [`MappedFile`] is the one type in the workspace that owns the `unsafe` of memory mapping.
//! Everything else reads through [`Bytes`], which is cheap to clone (an `Arc`) and hands out
//! sub-slices ([`Bytes::slice`]) that fst maps can own (`fst::Map<Bytes>`).

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// A whole file mapped read-only into memory.
///
/// Published MKDB files are immutable: they are written to a temporary name, synced, renamed
/// into place and never modified again. Removing a published file (generation garbage
/// collection) leaves existing mappings valid on Linux, so a reader keeps an old generation
/// usable for as long as it holds it.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Maps `file` read-only. A zero-length file is represented without a mapping
    /// (mapping zero bytes is an error on Linux).
    pub fn map(file: &File) -> std::io::Result<MappedFile> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: the mapping is read-only and MKDB never modifies a published file in place
        // (files are written under a temporary name and renamed; see `generation::publish`).
        // A file that an operator edits in place anyway is detected by the size and hash
        // checks that `Segment::open` performs before any byte is interpreted; a concurrent
        // in-place truncation could still fault, which is why publication never does that.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        Ok(MappedFile { map: Some(map) })
    }

    /// Opens and maps the file at `path`.
    pub fn open(path: &Path) -> std::io::Result<MappedFile> {
        let file = File::open(path)?;
        MappedFile::map(&file)
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

#[derive(Debug)]
enum Backing {
    Mapped(MappedFile),
    Owned(Vec<u8>),
}

/// Shared, immutable bytes with a window: a mapped file or an owned buffer.
#[derive(Debug, Clone)]
pub struct Bytes {
    backing: Arc<Backing>,
    range: Range<usize>,
}

impl Bytes {
    /// Bytes backed by a mapped file.
    pub fn from_mapped(file: MappedFile) -> Bytes {
        let len = file.as_slice().len();
        Bytes {
            backing: Arc::new(Backing::Mapped(file)),
            range: 0..len,
        }
    }

    /// Bytes backed by an owned buffer (tests, in-memory segments).
    pub fn from_vec(v: Vec<u8>) -> Bytes {
        let len = v.len();
        Bytes {
            backing: Arc::new(Backing::Owned(v)),
            range: 0..len,
        }
    }

    /// A sub-window of these bytes; `range` is relative to this window.
    ///
    /// # Panics
    /// If `range` is out of bounds: callers validate ranges against `len()` first.
    pub fn slice(&self, range: Range<usize>) -> Bytes {
        assert!(
            range.start <= range.end && range.end <= self.len(),
            "Bytes::slice out of range"
        );
        Bytes {
            backing: Arc::clone(&self.backing),
            range: self.range.start + range.start..self.range.start + range.end,
        }
    }

    /// Length of the window.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// True when the window is empty.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        let all = match &*self.backing {
            Backing::Mapped(m) => m.as_slice(),
            Backing::Owned(v) => v.as_slice(),
        };
        &all[self.range.clone()]
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_files_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        File::create(&p).unwrap().write_all(b"hello").unwrap();
        let b = Bytes::from_mapped(MappedFile::open(&p).unwrap());
        assert_eq!(&*b, b"hello");
        assert_eq!(&*b.slice(1..3), b"el");
        assert_eq!(&*b.slice(1..3).slice(1..2), b"l");
        let e = dir.path().join("e");
        File::create(&e).unwrap();
        assert!(Bytes::from_mapped(MappedFile::open(&e).unwrap()).is_empty());
    }

    #[test]
    fn mapping_survives_unlink() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"still here").unwrap();
        let b = Bytes::from_mapped(MappedFile::open(&p).unwrap());
        std::fs::remove_file(&p).unwrap();
        assert_eq!(&*b, b"still here");
    }
}
