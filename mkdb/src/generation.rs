//! Generations: a published, immutable set of segments plus the schema they were built with.
//!
//! On disk (`DB_DIR`):
//! ```text
//! CURRENT                          number of the generation readers open ("17\n")
//! LOCK                             held (flock) by the one process publishing
//! generations/0000000017/MANIFEST  text: segments in order, with sizes and hashes, checksummed
//! generations/0000000017/schema/   the class schema files the segments were compiled with
//! segments/<name>/data.txt         verbatim MKDB text
//! segments/<name>/index.mkdb       the compiled index (see `segment`)
//! ```
//! Publication writes everything under temporary names, syncs files, renames them into place,
//! syncs directories, and finally replaces `CURRENT` the same way, so a reader sees the old
//! generation or the new one, never a mix. Segments are shared between generations when
//! unchanged. Old generations are removed by [`gc`]; a reader that still maps their files keeps
//! them valid (an unlinked file stays readable while mapped).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::key;
use crate::keydir::{self, KeyDirectory};
use crate::query::RecordRef;
use crate::schema::{Schema, SchemaError};
use crate::segment::{Segment, SegmentError, Verify};

/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// Errors opening or publishing a database, each naming the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// No generation has been published in this directory.
    #[error(
        "{path}: no MKDB database here (no CURRENT file); create one with `loader compile SRC_DIR {path}`"
    )]
    NoDatabase {
        /// The database directory.
        path: PathBuf,
    },
    /// A manifest or CURRENT file is malformed.
    #[error("{path}: {problem}; rebuild with `loader compile SRC_DIR DB_DIR`")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A segment was refused.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The stored schema is invalid.
    #[error("stored schema: {0}")]
    Schema(#[from] SchemaError),
    /// Another process is publishing.
    #[error(
        "{path}: another process is publishing to this database (it holds the lock); wait for it to finish"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One segment as listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// Class name.
    pub class: String,
    /// Directory name under `segments/`.
    pub name: String,
    /// Live records.
    pub records: u32,
    /// Data file size.
    pub data_bytes: u64,
    /// Data file xxh3.
    pub data_hash: u64,
    /// Source file it was compiled from, relative to the source tree (for messages); for
    /// a delta, the change files it holds.
    pub source: String,
    /// A delta segment: a few changed records published on top of the base segments (see
    /// [`Generation`]); listed after every base segment.
    pub delta: bool,
    /// A base segment made by compaction (`mkdb::compact`): the data hash of the source
    /// file it replaced. Until that file in the source tree is rewritten with this
    /// segment's data, it still has this hash, which tells an interrupted write-back from
    /// a hand edit (manifest property `folded-from=`).
    pub folded_from: Option<u64>,
}

/// A primary key deleted by a delta (manifest line `tombstone: CLASS AFTER KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Class name.
    pub class: String,
    /// How many delta segments precede the deletion (it hides records in those, and in the
    /// base; a later delta may put the key back).
    pub after: usize,
    /// The normalised exact key (as [`crate::key::exact_key`] makes it).
    pub key: String,
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Generation number.
    pub generation: u64,
    /// RFC 3339 creation time.
    pub created: String,
    /// Segments in order: base segments, then delta segments.
    pub segments: Vec<SegmentEntry>,
    /// Keys deleted by deltas, in order.
    pub tombstones: Vec<Tombstone>,
    /// Sequence number of the last change file this generation includes (0: none).
    pub applied: u64,
}

impl Manifest {
    /// The manifest text, with its checksum line.
    pub fn to_text(&self) -> String {
        let mut t =
            String::from("# MKDB generation manifest, written by the loader; do not edit.\n");
        t.push_str(&format!(
            "format: {MANIFEST_VERSION}\ngeneration: {}\ncreated: {}\n",
            self.generation, self.created
        ));
        if self.applied > 0 {
            t.push_str(&format!("applied: {}\n", self.applied));
        }
        let mut deltas = 0;
        let mut tombs = self.tombstones.iter().peekable();
        for s in &self.segments {
            while let Some(ts) = tombs.next_if(|ts| ts.after <= deltas) {
                t.push_str(&format!(
                    "tombstone: {} {} {}\n",
                    ts.class, ts.after, ts.key
                ));
            }
            let role = if s.delta { " role=delta" } else { "" };
            let folded = s
                .folded_from
                .map_or(String::new(), |h| format!(" folded-from={h:016x}"));
            t.push_str(&format!(
                "segment: {} {} records={} data-bytes={} data-xxh3={:016x}{role}{folded} source={}\n",
                s.class, s.name, s.records, s.data_bytes, s.data_hash, s.source
            ));
            deltas += usize::from(s.delta);
        }
        for ts in tombs {
            t.push_str(&format!(
                "tombstone: {} {} {}\n",
                ts.class, ts.after, ts.key
            ));
        }
        let sum = xxhash_rust::xxh3::xxh3_64(t.as_bytes());
        t.push_str(&format!("checksum: {sum:016x}\n"));
        t
    }

    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let Some(pos) = text.rfind("checksum: ") else {
            return Err("manifest has no checksum line".into());
        };
        let want =
            u64::from_str_radix(text[pos + 10..].trim(), 16).map_err(|_| "bad checksum line")?;
        if xxhash_rust::xxh3::xxh3_64(&text.as_bytes()[..pos]) != want {
            return Err("manifest checksum mismatch (edited or truncated)".into());
        }
        let mut m = Manifest {
            generation: 0,
            created: String::new(),
            segments: Vec::new(),
            tombstones: Vec::new(),
            applied: 0,
        };
        for line in text[..pos]
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (tag, value) = line
                .split_once(": ")
                .ok_or_else(|| format!("bad manifest line {line:?}"))?;
            match tag {
                "format" if value == MANIFEST_VERSION.to_string() => {}
                "format" => {
                    return Err(format!(
                        "manifest format {value}; this mkdb reads {MANIFEST_VERSION}"
                    ));
                }
                "generation" => {
                    m.generation = value.parse().map_err(|_| "bad generation number")?
                }
                "created" => m.created = value.to_string(),
                "applied" => m.applied = value.parse().map_err(|_| "bad applied number")?,
                "tombstone" => {
                    let mut parts = value.splitn(3, ' ');
                    let (Some(class), Some(after), Some(key)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(format!("bad tombstone line {line:?}"));
                    };
                    let after: usize = after.parse().map_err(|_| "bad tombstone position")?;
                    let deltas = m.segments.iter().filter(|s| s.delta).count();
                    if after > deltas || m.tombstones.last().is_some_and(|t| t.after > after) {
                        return Err(format!("tombstone out of order: {line:?}"));
                    }
                    m.tombstones.push(Tombstone {
                        class: class.to_string(),
                        after,
                        key: key.to_string(),
                    });
                }
                "segment" => {
                    let mut parts = value.splitn(3, ' ');
                    let class = parts.next().unwrap_or_default().to_string();
                    let name = parts.next().unwrap_or_default().to_string();
                    let mut e = SegmentEntry {
                        class,
                        name,
                        records: 0,
                        data_bytes: 0,
                        data_hash: 0,
                        source: String::new(),
                        delta: false,
                        folded_from: None,
                    };
                    let rest = parts.next().unwrap_or_default();
                    let (kv, source) = rest.split_once(" source=").unwrap_or((rest, ""));
                    e.source = source.to_string();
                    for p in kv.split(' ') {
                        let (k, v) = p.split_once('=').ok_or("bad segment line")?;
                        match k {
                            "records" => e.records = v.parse().map_err(|_| "bad records")?,
                            "data-bytes" => {
                                e.data_bytes = v.parse().map_err(|_| "bad data-bytes")?
                            }
                            "data-xxh3" => {
                                e.data_hash = u64::from_str_radix(v, 16).map_err(|_| "bad hash")?
                            }
                            "role" if v == "delta" => e.delta = true,
                            "folded-from" => {
                                e.folded_from = Some(
                                    u64::from_str_radix(v, 16).map_err(|_| "bad folded-from")?,
                                )
                            }
                            _ => return Err(format!("unknown segment property {k}")),
                        }
                    }
                    if e.name.is_empty() || e.name.contains(['/', '\\']) || e.name.starts_with('.')
                    {
                        return Err(format!("bad segment name {:?}", e.name));
                    }
                    if !e.delta && m.segments.last().is_some_and(|s| s.delta) {
                        return Err(format!("base segment {} after a delta", e.name));
                    }
                    m.segments.push(e);
                }
                _ => return Err(format!("unknown manifest line {line:?}")),
            }
        }
        Ok(m)
    }
}

/// Directory of a generation.
pub fn generation_dir(db: &Path, number: u64) -> PathBuf {
    db.join("generations").join(format!("{number:010}"))
}

/// File name of a class's key directory inside a generation directory.
pub fn keydir_file(class: &str) -> String {
    format!("keys-{class}.mkdb")
}

/// Directory of a segment.
pub fn segment_dir(db: &Path, name: &str) -> PathBuf {
    db.join("segments").join(name)
}

/// The number in `CURRENT`.
pub fn current_number(db: &Path) -> Result<u64, DbError> {
    let p = db.join("CURRENT");
    match fs::read_to_string(&p) {
        Ok(t) => t.trim().parse().map_err(|_| DbError::Corrupt {
            path: p,
            problem: "CURRENT does not hold a generation number".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DbError::NoDatabase {
            path: db.to_path_buf(),
        }),
        Err(e) => Err(DbError::Io { path: p, source: e }),
    }
}

/// The manifest of the current generation, if there is one.
pub fn current_manifest(db: &Path) -> Result<Option<Manifest>, DbError> {
    let n = match current_number(db) {
        Ok(n) => n,
        Err(DbError::NoDatabase { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let path = generation_dir(db, n).join("MANIFEST");
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    Manifest::parse(&text)
        .map(Some)
        .map_err(|problem| DbError::Corrupt { path, problem })
}

/// An opened generation: the unit a reader queries.
#[derive(Debug)]
pub struct Generation {
    /// Generation number.
    pub number: u64,
    /// When it was published (RFC 3339).
    pub created: String,
    /// The schema it was compiled with.
    pub schema: Schema,
    /// Segments in manifest order.
    pub segments: Vec<Arc<Segment>>,
    /// Manifest entries, parallel to `segments`.
    pub entries: Vec<SegmentEntry>,
    /// For each class id, the indices into `segments` of its segments, in order.
    pub by_class: Vec<Vec<u32>>,
    /// For each class id, its primary-key directory over the base segments (absent:
    /// lookups use the fsts).
    pub keydirs: Vec<Option<Arc<KeyDirectory>>>,
    /// Deltas: per class, the primary keys changed by delta segments and tombstones, with
    /// where each now lives (`None`: deleted). Consulted before the key directory.
    pub overlay: Vec<HashMap<Box<[u8]>, Option<RecordRef>>>,
    /// Records superseded or deleted by a later delta: no query returns them.
    pub hidden: HashSet<RecordRef>,
    /// Per class, how many of its records are hidden.
    pub hidden_counts: Vec<u64>,
    /// Keys deleted by deltas, as listed in the manifest.
    pub tombstones: Vec<Tombstone>,
    /// Sequence number of the last change file included (0: none).
    pub applied: u64,
    /// Per class, the identity of its key directory file (device, inode, size) as opened:
    /// a later generation that hard-links the same file reuses the verification.
    keydir_ids: Vec<Option<(u64, u64, u64)>>,
}

/// (device, inode, size) of a file: hard links share it; published files never change.
fn file_id(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path)?;
    Ok((m.dev(), m.ino(), m.size()))
}

impl Generation {
    /// Opens the current generation of `db`, verifying every segment fully.
    pub fn open(db: &Path) -> Result<Generation, DbError> {
        Generation::open_reusing(db, None)
    }

    /// Opens the current generation, reusing already-verified segments of `previous` that the
    /// new one shares (a cheap switch when only a few segments changed). A generation removed
    /// by garbage collection while being opened is retried with the newer `CURRENT`.
    pub fn open_reusing(db: &Path, previous: Option<&Generation>) -> Result<Generation, DbError> {
        let mut last = None;
        for _ in 0..5 {
            let n = current_number(db)?;
            match Generation::open_number(db, n, previous) {
                Err(DbError::Io { source, path })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    last = Some(DbError::Io { source, path });
                    if current_number(db)? == n {
                        break;
                    }
                }
                other => return other,
            }
        }
        Err(last.unwrap_or(DbError::NoDatabase {
            path: db.to_path_buf(),
        }))
    }

    /// Opens generation `number`.
    pub fn open_number(
        db: &Path,
        number: u64,
        previous: Option<&Generation>,
    ) -> Result<Generation, DbError> {
        let gdir = generation_dir(db, number);
        let mpath = gdir.join("MANIFEST");
        let text = fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
        let manifest = Manifest::parse(&text).map_err(|problem| DbError::Corrupt {
            path: mpath.clone(),
            problem,
        })?;
        let sdir = gdir.join("schema");
        let mut files = Vec::new();
        for e in fs::read_dir(&sdir).map_err(io_err(&sdir))? {
            let e = e.map_err(io_err(&sdir))?;
            let p = e.path();
            if p.extension().is_some_and(|x| x == "schema") {
                let t = fs::read_to_string(&p).map_err(io_err(&p))?;
                files.push((p.display().to_string(), t));
            }
        }
        // The same schema files as the previous generation's (delta generations link
        // them): its parsed schema is reused, regexes and labels included.
        let same_schema = previous.is_some_and(|p| {
            p.schema.classes.len() == files.len()
                && files
                    .iter()
                    .all(|(_, t)| p.schema.classes.iter().any(|c| c.source == *t))
        });
        let schema = match previous {
            Some(p) if same_schema => p.schema.clone(),
            _ => Schema::parse(files)?,
        };
        let reuse: HashMap<&str, &Arc<Segment>> = previous
            .into_iter()
            .flat_map(|g| g.entries.iter().map(|e| e.name.as_str()).zip(&g.segments))
            .collect();
        // Classes first, then open (and fully verify) the new segments on all cores.
        let mut classes = Vec::with_capacity(manifest.segments.len());
        for e in &manifest.segments {
            let Some(class) = schema.class(&e.class) else {
                return Err(DbError::Corrupt {
                    path: mpath,
                    problem: format!("segment of unknown class {}", e.class),
                });
            };
            classes.push(class);
        }
        let open_one = |i: usize| -> Result<Arc<Segment>, DbError> {
            let (e, class) = (&manifest.segments[i], classes[i]);
            if let Some(s) = reuse.get(e.name.as_str())
                && s.class() == class.id
                && s.data_hash() == e.data_hash
                && previous.is_some_and(|p| same_class_schema(&p.schema, &schema, class.id))
            {
                return Ok(Arc::clone(s));
            }
            let fp = schema.class_fingerprint(class.id);
            Ok(Arc::new(Segment::open(
                &segment_dir(db, &e.name),
                class,
                fp,
                Verify::Full,
            )?))
        };
        let opened = crate::parallel::map(
            crate::parallel::default_threads(),
            manifest.segments.len(),
            open_one,
        );
        let mut segments = Vec::with_capacity(opened.len());
        let mut by_class = vec![Vec::new(); schema.classes.len()];
        for (i, seg) in opened.into_iter().enumerate() {
            let (e, class) = (&manifest.segments[i], classes[i]);
            let seg = seg?;
            if seg.data_hash() != e.data_hash || seg.record_count() != e.records {
                return Err(DbError::Corrupt {
                    path: mpath,
                    problem: format!("segment {} does not match the manifest", e.name),
                });
            }
            by_class[usize::from(class.id)].push(segments.len() as u32);
            segments.push(seg);
        }
        let mut keydirs = Vec::with_capacity(schema.classes.len());
        let mut keydir_ids = Vec::with_capacity(schema.classes.len());
        for c in &schema.classes {
            let path = gdir.join(keydir_file(&c.name));
            if !path.exists() {
                keydirs.push(None);
                keydir_ids.push(None);
                continue;
            }
            // The directory covers the base segments; deltas are in the overlay.
            let fp = keydir::segments_fingerprint(
                by_class[usize::from(c.id)]
                    .iter()
                    .map(|&i| &manifest.segments[i as usize])
                    .filter(|e| !e.delta)
                    .map(|e| e.name.as_str()),
            );
            let id = file_id(&path).map_err(io_err(&path))?;
            // A delta generation hard-links the key directories of the one before: the
            // same file (immutable once published) was verified already, so only its
            // header is checked again. Publication and switching then cost the same on a
            // database of any size.
            let verified = previous.is_some_and(|p| {
                p.schema.class(&c.name).is_some_and(|pc| {
                    p.keydir_ids.get(usize::from(pc.id)) == Some(&Some(id))
                        && same_class_schema(&p.schema, &schema, c.id)
                })
            });
            // Over the same base segments, the previous generation's mapping is shared
            // too: readers switching generations take no new page faults on it.
            let reused = previous
                .filter(|p| {
                    let bases = |g_entries: &mut dyn Iterator<Item = &SegmentEntry>| {
                        g_entries
                            .filter(|e| !e.delta && e.class == c.name)
                            .map(|e| e.name.clone())
                            .collect::<Vec<_>>()
                    };
                    bases(&mut p.entries.iter()) == bases(&mut manifest.segments.iter())
                })
                .and_then(|p| {
                    let pc = p.schema.class(&c.name)?;
                    p.keydirs.get(usize::from(pc.id))?.clone()
                });
            let dir = if let (true, Some(dir)) = (verified, reused) {
                dir
            } else if verified {
                let bytes = crate::bytes::Bytes::from_mapped(
                    crate::bytes::MappedFile::open(&path).map_err(io_err(&path))?,
                );
                Arc::new(
                    KeyDirectory::open(&bytes, c.id, fp, false).map_err(|problem| {
                        DbError::Corrupt {
                            path: path.clone(),
                            problem,
                        }
                    })?,
                )
            } else {
                Arc::new(
                    KeyDirectory::open_file(&path, c.id, fp).map_err(|e| match e {
                        keydir::OpenError::Io(source) => DbError::Io {
                            path: path.clone(),
                            source,
                        },
                        keydir::OpenError::Invalid(problem) => DbError::Corrupt {
                            path: path.clone(),
                            problem,
                        },
                    })?,
                )
            };
            keydirs.push(Some(dir));
            keydir_ids.push(Some(id));
        }
        let mut g = Generation {
            number: manifest.generation,
            created: manifest.created,
            schema,
            segments,
            entries: manifest.segments,
            by_class,
            keydirs,
            overlay: Vec::new(),
            hidden: HashSet::new(),
            hidden_counts: Vec::new(),
            tombstones: manifest.tombstones,
            applied: manifest.applied,
            keydir_ids,
        };
        g.apply_deltas().map_err(|problem| DbError::Corrupt {
            path: mpath,
            problem,
        })?;
        Ok(g)
    }

    /// A generation held in memory only (tests, fuzzing): `segments` in order, no key
    /// directories, no deltas.
    pub fn in_memory(schema: Schema, segments: Vec<Arc<Segment>>) -> Generation {
        let mut by_class = vec![Vec::new(); schema.classes.len()];
        let mut entries = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            by_class[usize::from(s.class())].push(i as u32);
            entries.push(SegmentEntry {
                class: schema.class_by_id(s.class()).name.clone(),
                name: format!("memory-{i}"),
                records: s.record_count(),
                data_bytes: s.data_len(),
                data_hash: s.data_hash(),
                source: String::new(),
                delta: false,
                folded_from: None,
            });
        }
        let classes = schema.classes.len();
        Generation {
            number: 1,
            created: "2001-05-05T00:00:00Z".into(),
            schema,
            segments,
            entries,
            keydirs: (0..classes).map(|_| None).collect(),
            by_class,
            overlay: vec![HashMap::new(); classes],
            hidden: HashSet::new(),
            hidden_counts: vec![0; classes],
            tombstones: Vec::new(),
            applied: 0,
            keydir_ids: vec![None; classes],
        }
    }

    /// Does this generation carry deltas (changes not yet folded into base segments)?
    pub fn has_deltas(&self) -> bool {
        !self.tombstones.is_empty() || self.entries.iter().any(|e| e.delta)
    }

    /// Builds the overlay and the hidden set from the delta segments and tombstones, in
    /// the order they were published: each record of a delta, and each tombstone, hides
    /// the record that held its key until then.
    fn apply_deltas(&mut self) -> Result<(), String> {
        let tombstones = std::mem::take(&mut self.tombstones);
        let r = self.apply_deltas_of(&tombstones);
        self.tombstones = tombstones;
        r
    }

    fn apply_deltas_of(&mut self, tombstones: &[Tombstone]) -> Result<(), String> {
        let classes = self.schema.classes.len();
        self.overlay = vec![HashMap::new(); classes];
        self.hidden_counts = vec![0; classes];
        let deltas: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&i| self.entries[i as usize].delta)
            .collect();
        let mut tombs = tombstones.iter().peekable();
        for step in 0..=deltas.len() {
            while let Some(t) = tombs.next_if(|t| t.after <= step) {
                let Some(c) = self.schema.class(&t.class) else {
                    return Err(format!("tombstone of unknown class {}", t.class));
                };
                let id = c.id;
                self.supersede(id, t.key.as_bytes(), None);
            }
            let Some(&s) = deltas.get(step) else {
                break;
            };
            let seg = Arc::clone(&self.segments[s as usize]);
            let class = self.schema.class_by_id(seg.class());
            let (id, pk) = (class.id, class.pk().clone());
            for rec in 0..seg.record_count() {
                let Some(v) = seg.record(rec).first_raw(pk.id) else {
                    continue;
                };
                let k = key::exact_key(pk.ty, &String::from_utf8_lossy(v));
                self.supersede(id, k.as_bytes(), Some(RecordRef { seg: s, rec }));
            }
        }
        Ok(())
    }

    /// `key` of `class` now lives at `to` (or nowhere): the record holding it is hidden.
    fn supersede(&mut self, class: u16, key: &[u8], to: Option<RecordRef>) {
        if let Some(old) = self.find_key(class, key)
            && self.hidden.insert(old)
        {
            self.hidden_counts[usize::from(class)] += 1;
        }
        self.overlay[usize::from(class)].insert(key.into(), to);
    }

    /// Is the record visible (not superseded or deleted by a delta)?
    pub fn is_live(&self, r: RecordRef) -> bool {
        self.hidden.is_empty() || !self.hidden.contains(&r)
    }

    /// Total live records of a class.
    pub fn record_count(&self, class: u16) -> u64 {
        let all: u64 = self.by_class[usize::from(class)]
            .iter()
            .map(|&s| u64::from(self.segments[s as usize].record_count()))
            .sum();
        all - self
            .hidden_counts
            .get(usize::from(class))
            .copied()
            .unwrap_or(0)
    }
}

fn same_class_schema(a: &Schema, b: &Schema, class: u16) -> bool {
    a.classes.len() == b.classes.len() && a.class_fingerprint(class) == b.class_fingerprint(class)
}

/// Current time as RFC 3339 UTC (seconds).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Writes `bytes` to `path` durably: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), DbError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy())
    ));
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io_err(&tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io_err(path)));
    if let Err(e) = written {
        // A full disk or a failed write leaves no temporary file behind.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// fsync of a directory, making renames in it durable.
pub fn sync_dir(dir: &Path) -> Result<(), DbError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Writes a file and syncs it (no rename: used inside a staging directory).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DbError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// The exclusive right to publish generations into a database directory.
///
/// A publisher dropped without having made its generation current (an error on the way:
/// a full disk, an unwritable directory) removes what it wrote: its staged segments, the
/// segments it moved into `segments/`, its generation directory. Nothing it leaves can be
/// served (only `CURRENT` names what is served); what it cannot remove is collected by
/// the next publication's [`gc`].
#[derive(Debug)]
pub struct Publisher {
    db: PathBuf,
    _lock: File,
    number: u64,
    /// Directories this publisher created under `segments/` (staged, or moved into place).
    made: std::sync::Mutex<Vec<PathBuf>>,
    /// Has this publisher started writing (staging or publishing)?
    began: bool,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !self.began && made.is_empty() {
            return;
        }
        // Only when CURRENT says another generation (or there is none yet) is what this
        // publisher made unused; published (the error came after the switch), or CURRENT
        // unreadable: keep everything (the next gc collects what is unused).
        match current_number(&self.db) {
            Ok(n) if n != self.number => {}
            Err(DbError::NoDatabase { .. }) => {}
            _ => return,
        }
        // Best effort: a read-only or failing disk leaves them to the next gc.
        for d in made {
            let _ = fs::remove_dir_all(d);
        }
        let gens = self.db.join("generations");
        let _ = fs::remove_dir_all(gens.join(format!(".staging-{:010}", self.number)));
        // Numbers are never reused (see `lock`): a directory of this number was made by
        // this publisher, and CURRENT does not name it.
        let _ = fs::remove_dir_all(generation_dir(&self.db, self.number));
    }
}

impl Publisher {
    /// Creates the database layout if needed and takes the publication lock (without waiting).
    pub fn lock(db: &Path) -> Result<Publisher, DbError> {
        for d in [
            db.to_path_buf(),
            db.join("generations"),
            db.join("segments"),
        ] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let lp = db.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lp)
            .map_err(io_err(&lp))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DbError::Locked { path: lp }),
            Err(fs::TryLockError::Error(e)) => {
                return Err(DbError::Io {
                    path: lp,
                    source: e,
                });
            }
        }
        let mut number = match current_number(db) {
            Ok(n) => n + 1,
            Err(DbError::NoDatabase { .. }) => 1,
            Err(e) => return Err(e),
        };
        // Never reuse the number of a generation directory left by an interrupted publication.
        let gens = db.join("generations");
        for e in fs::read_dir(&gens).map_err(io_err(&gens))?.flatten() {
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                number = number.max(n + 1);
            }
        }
        Ok(Publisher {
            db: db.to_path_buf(),
            _lock: lock,
            number,
            made: std::sync::Mutex::new(Vec::new()),
            began: false,
        })
    }

    /// The database directory.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Number of the generation being prepared.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Records a segment directory this publisher creates (removed if it fails).
    fn made_dir(&mut self, dir: &Path) {
        self.made
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.to_path_buf());
    }

    /// A fresh staging directory for a new segment named `name`; published by [`Self::publish`].
    pub fn stage_segment(&self, name: &str) -> Result<PathBuf, DbError> {
        let d = self.db.join("segments").join(format!(".staging-{name}"));
        if d.exists() {
            fs::remove_dir_all(&d).map_err(io_err(&d))?;
        }
        self.made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d.clone());
        fs::create_dir_all(&d).map_err(io_err(&d))?;
        Ok(d)
    }

    /// Publishes a generation made of `segments` (new ones staged with [`Self::stage_segment`],
    /// or existing published ones reused), `schema` and extra generation `files` (name,
    /// bytes; the key directories), then makes it current and collects
    /// garbage, keeping the `keep` newest generations. Returns the generation number.
    pub fn publish(
        mut self,
        schema: &Schema,
        segments: Vec<SegmentEntry>,
        files: &[(String, Vec<u8>)],
        keep: usize,
    ) -> Result<u64, DbError> {
        self.began = true;
        let segs = self.db.join("segments");
        for e in &segments {
            let staged = segs.join(format!(".staging-{}", e.name));
            if staged.exists() {
                let fin = segs.join(&e.name);
                self.made_dir(&fin);
                replace_dir(&staged, &fin)?;
                sync_dir(&fin)?;
            } else if !segs.join(&e.name).is_dir() {
                return Err(DbError::Corrupt {
                    path: segs.join(&e.name),
                    problem: "segment to publish does not exist".into(),
                });
            }
        }
        sync_dir(&segs)?;
        let gdir = generation_dir(&self.db, self.number);
        let tmp = self
            .db
            .join("generations")
            .join(format!(".staging-{:010}", self.number));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(tmp.join("schema")).map_err(io_err(&tmp))?;
        for c in &schema.classes {
            write_synced(
                &tmp.join("schema").join(format!("{}.schema", c.name)),
                c.source.as_bytes(),
            )?;
        }
        sync_dir(&tmp.join("schema"))?;
        for (name, bytes) in files {
            write_synced(&tmp.join(name), bytes)?;
        }
        let manifest = Manifest {
            generation: self.number,
            created: rfc3339_now(),
            segments,
            tombstones: Vec::new(),
            applied: 0,
        };
        write_synced(&tmp.join("MANIFEST"), manifest.to_text().as_bytes())?;
        sync_dir(&tmp)?;
        fs::rename(&tmp, &gdir).map_err(io_err(&gdir))?;
        sync_dir(&self.db.join("generations"))?;
        atomic_write(
            &self.db.join("CURRENT"),
            format!("{}\n", self.number).as_bytes(),
        )?;
        gc(&self.db, keep)?;
        Ok(self.number)
    }
}

/// A generation built on top of the current one (by `delta` or `compact`): its whole
/// segment list and tombstones, the new segments to move into `segments/` first, and the
/// key directories written anew (the others are hard-linked from the generation before).
#[derive(Debug, Default)]
pub struct Layout {
    /// Staged segment directories (made durable by their builder) and their final names.
    pub moves: Vec<(PathBuf, String)>,
    /// Every segment of the new generation, base segments first.
    pub segments: Vec<SegmentEntry>,
    /// Its tombstones, in order.
    pub tombstones: Vec<Tombstone>,
    /// The last change file it includes.
    pub applied: u64,
    /// Key directories built for it: (file name, bytes).
    pub keydirs: Vec<(String, Vec<u8>)>,
}

impl Publisher {
    /// Publishes a delta generation on top of `previous` (the current one): its segments
    /// and tombstones, then `new_segments` (staged delta segments) and `new_tombstones`,
    /// with `applied` as the last change file included. The key directories of `previous`
    /// are hard-linked, not copied, so the cost does not grow with the database.
    pub fn publish_delta(
        self,
        previous: &Generation,
        new_segments: Vec<SegmentEntry>,
        new_tombstones: Vec<Tombstone>,
        applied: u64,
        keep: usize,
    ) -> Result<u64, DbError> {
        let segs = self.db.join("segments");
        let moves = new_segments
            .iter()
            .map(|e| (segs.join(format!(".staging-{}", e.name)), e.name.clone()))
            .collect();
        let mut segments = previous.entries.clone();
        segments.extend(new_segments);
        let mut tombstones = previous.tombstones.clone();
        tombstones.extend(new_tombstones);
        self.publish_layout(
            previous,
            Layout {
                moves,
                segments,
                tombstones,
                applied,
                keydirs: Vec::new(),
            },
            keep,
        )
    }

    /// Publishes `layout` as the next generation, with the schema of `previous` (the
    /// current one) and its key directories hard-linked where `layout` brings none; then
    /// makes it current and collects garbage, keeping the `keep` newest generations.
    pub fn publish_layout(
        mut self,
        previous: &Generation,
        layout: Layout,
        keep: usize,
    ) -> Result<u64, DbError> {
        self.began = true;
        let segs = self.db.join("segments");
        for (staged, name) in &layout.moves {
            // Names carry the number of the generation they were made for: one already
            // listed by the current generation would be a bug, and replacing it fatal.
            if previous.entries.iter().any(|e| &e.name == name) {
                return Err(DbError::Corrupt {
                    path: segs.join(name),
                    problem: "a new segment has the name of a published one".into(),
                });
            }
            let fin = segs.join(name);
            self.made_dir(&fin);
            replace_dir(staged, &fin)?;
            sync_dir(&fin)?;
        }
        sync_dir(&segs)?;
        let prev_dir = generation_dir(&self.db, previous.number);
        let gdir = generation_dir(&self.db, self.number);
        let tmp = self
            .db
            .join("generations")
            .join(format!(".staging-{:010}", self.number));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(tmp.join("schema")).map_err(io_err(&tmp))?;
        for c in &previous.schema.classes {
            // The schema is the previous generation's: its (immutable) files are linked,
            // not written and synced again.
            let name = format!("{}.schema", c.name);
            let (from, to) = (
                prev_dir.join("schema").join(&name),
                tmp.join("schema").join(&name),
            );
            if fs::hard_link(&from, &to).is_err() {
                write_synced(&to, c.source.as_bytes())?;
            }
            let kd = keydir_file(&c.name);
            if let Some((_, bytes)) = layout.keydirs.iter().find(|(n, _)| *n == kd) {
                write_synced(&tmp.join(&kd), bytes)?;
            } else if prev_dir.join(&kd).exists() {
                fs::hard_link(prev_dir.join(&kd), tmp.join(&kd)).map_err(io_err(&tmp.join(&kd)))?;
            }
        }
        sync_dir(&tmp.join("schema"))?;
        let manifest = Manifest {
            generation: self.number,
            created: rfc3339_now(),
            segments: layout.segments,
            tombstones: layout.tombstones,
            applied: layout.applied,
        };
        write_synced(&tmp.join("MANIFEST"), manifest.to_text().as_bytes())?;
        sync_dir(&tmp)?;
        fs::rename(&tmp, &gdir).map_err(io_err(&gdir))?;
        sync_dir(&self.db.join("generations"))?;
        atomic_write(
            &self.db.join("CURRENT"),
            format!("{}\n", self.number).as_bytes(),
        )?;
        gc(&self.db, keep)?;
        Ok(self.number)
    }
}

/// Moves a staged segment directory into place. A directory already there can only be
/// left by a publication of this same generation number that was interrupted before its
/// manifest was published (names carry the generation number), so no reader uses it.
fn replace_dir(staged: &Path, fin: &Path) -> Result<(), DbError> {
    if fin.exists() {
        fs::remove_dir_all(fin).map_err(io_err(fin))?;
    }
    fs::rename(staged, fin).map_err(io_err(fin))
}

/// Removes generations older than the `keep` newest (never the current one), segments no
/// remaining generation lists, and staging left by interrupted publications. Call only while
/// holding the [`Publisher`] lock. Readers that still map removed files keep them valid.
pub fn gc(db: &Path, keep: usize) -> Result<(), DbError> {
    let current = current_number(db)?;
    let gens = db.join("generations");
    let mut numbers = BTreeSet::new();
    for e in fs::read_dir(&gens).map_err(io_err(&gens))?.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".staging-") {
            fs::remove_dir_all(e.path()).map_err(io_err(&e.path()))?;
        } else if let Ok(n) = name.parse::<u64>() {
            numbers.insert(n);
        }
    }
    let kept: Vec<u64> = numbers
        .iter()
        .rev()
        .copied()
        .filter(|&n| n <= current)
        .take(keep.max(1))
        .collect();
    let mut live = BTreeSet::new();
    for &n in &numbers {
        let dir = generation_dir(db, n);
        if kept.contains(&n) {
            let mpath = dir.join("MANIFEST");
            let text = fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
            let m = Manifest::parse(&text).map_err(|problem| DbError::Corrupt {
                path: mpath,
                problem,
            })?;
            live.extend(m.segments.into_iter().map(|s| s.name));
        } else {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
    }
    let segs = db.join("segments");
    for e in fs::read_dir(&segs).map_err(io_err(&segs))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) {
            fs::remove_dir_all(e.path()).map_err(io_err(&e.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_checksum() {
        let m = Manifest {
            generation: 7,
            created: "2026-11-23T03:00:00Z".into(),
            segments: vec![
                SegmentEntry {
                    class: "domain".into(),
                    name: "g0000000007-domain-0000".into(),
                    records: 3,
                    data_bytes: 100,
                    data_hash: 0xabc,
                    source: "data/domain/a file.txt".into(),
                    delta: false,
                    folded_from: Some(0x1234),
                },
                SegmentEntry {
                    class: "domain".into(),
                    name: "g0000000008-delta-domain".into(),
                    records: 1,
                    data_bytes: 10,
                    data_hash: 0xdef,
                    source: "changes 1-2".into(),
                    delta: true,
                    folded_from: None,
                },
            ],
            tombstones: vec![
                Tombstone {
                    class: "domain".into(),
                    after: 0,
                    key: "gone.coop".into(),
                },
                Tombstone {
                    class: "registrar".into(),
                    after: 1,
                    key: "second sample registrar".into(),
                },
            ],
            applied: 2,
        };
        let t = m.to_text();
        let p = Manifest::parse(&t).unwrap();
        assert_eq!(p.segments, m.segments);
        assert_eq!(p.tombstones, m.tombstones);
        assert_eq!(p.applied, 2);
        assert_eq!(p.generation, 7);
        assert!(
            Manifest::parse(&t.replace("records=3", "records=4"))
                .unwrap_err()
                .contains("checksum")
        );
        assert!(Manifest::parse(&t[..t.len() / 2]).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(989_020_800), "2001-05-05T00:00:00Z");
        assert_eq!(rfc3339(1_795_402_800), "2026-11-23T03:00:00Z");
    }

    #[test]
    fn lock_is_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let p = Publisher::lock(d.path()).unwrap();
        assert_eq!(p.number(), 1);
        assert!(matches!(
            Publisher::lock(d.path()),
            Err(DbError::Locked { .. })
        ));
        drop(p);
        Publisher::lock(d.path()).unwrap();
    }

    #[test]
    fn a_publisher_that_fails_leaves_nothing_behind() {
        let d = tempfile::tempdir().unwrap();
        let p = Publisher::lock(d.path()).unwrap();
        let staged = p.stage_segment("g0000000001-domain-0000").unwrap();
        fs::write(staged.join("data.txt"), "x").unwrap();
        // Dropped without publishing (an error on the way): the staging is gone, and the
        // number is not used up.
        drop(p);
        assert!(!staged.exists());
        assert_eq!(fs::read_dir(d.path().join("segments")).unwrap().count(), 0);
        assert_eq!(Publisher::lock(d.path()).unwrap().number(), 1);
        // A publisher that only locks (mkdb publish) removes nothing.
        fs::create_dir_all(generation_dir(d.path(), 1)).unwrap();
        drop(Publisher::lock(d.path()).unwrap());
        assert!(generation_dir(d.path(), 1).exists());
    }

    #[test]
    fn open_without_database_says_what_to_do() {
        let d = tempfile::tempdir().unwrap();
        let e = Generation::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("loader compile"), "{e}");
    }
}
