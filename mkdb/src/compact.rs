//! Compaction: the delta segments and tombstones that `loader watch` publishes on top of
//! the base segments are folded away in the background, without pausing publication or
//! queries.
//!
//! Two kinds, both built from a *snapshot* (the generation current when they start) off
//! to the side, in `DB_DIR/compacting/`, while deltas go on being published:
//! - [`Kind::Merge`]: all the snapshot's delta segments become one delta segment per class
//!   (the newest version of each changed key) and its tombstones one tombstone per deleted
//!   key that the base holds. Costs what the deltas cost, not the database; keeps the
//!   number of segments every search visits small.
//! - [`Kind::Fold`]: the changes go into the base. Each base segment that holds a changed
//!   or deleted record is rebuilt from its data file with the record replaced in place (or
//!   removed); new records are appended to the class's last data file. The rebuilt data
//!   file is also written back to the source tree (`SRC_DIR/data/...`), so that the tree
//!   says what the database serves and a later `loader compile` does not resurrect old
//!   records. Costs the size of the affected files.
//!
//! Publication ([`publish`]) takes the publisher lock, checks that the current generation
//! still starts with the snapshot's base segments, deltas and tombstones (only compaction
//! removes them), and publishes a generation whose manifest has the compacted segments in
//! their place and, after them, the deltas published since the snapshot, untouched. The
//! change files included (`applied`) do not change: a change is never applied twice or
//! lost, whatever is killed when.
//!
//! Write-back comes after publication: a folded base segment records in the manifest the
//! hash its source file had (`folded-from`); [`write_back`] rewrites every source file
//! that still has that hash (interrupted before it was written) and leaves alone, with a
//! warning, one edited by hand since. It runs after each fold, when `loader watch` starts,
//! and before `loader compile`. A fold refuses to start when an affected source file was
//! edited by hand (its hash is neither the segment's nor the one it replaced): folding
//! would overwrite the edit.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::compile::{BuildError, build_segment};
use crate::generation::{
    DbError, Generation, Layout, Publisher, SegmentEntry, Tombstone, atomic_write, keydir_file,
    segment_dir, sync_dir,
};
use crate::query::RecordRef;
use crate::record::{self, SyntaxError};
use crate::segment::{DATA_FILE, Segment, Verify};

/// When compaction is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Merge the deltas when there are more delta segments than this.
    pub merge_after_segments: usize,
    /// Fold into the base when the deltas hold more records and tombstones than this.
    pub fold_after_records: u64,
    /// Fold into the base when the delta segments' data exceeds this many bytes.
    pub fold_after_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            merge_after_segments: 32,
            fold_after_records: 20_000,
            fold_after_bytes: 32 << 20,
        }
    }
}

/// What the deltas of a generation amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeltaLoad {
    /// Delta segments.
    pub segments: usize,
    /// Records in delta segments.
    pub records: u64,
    /// Tombstones.
    pub tombstones: usize,
    /// Bytes of delta data.
    pub bytes: u64,
}

/// The deltas of `g`.
pub fn delta_load(g: &Generation) -> DeltaLoad {
    let mut l = DeltaLoad {
        tombstones: g.tombstones.len(),
        ..Default::default()
    };
    for e in g.entries.iter().filter(|e| e.delta) {
        l.segments += 1;
        l.records += u64::from(e.records);
        l.bytes += e.data_bytes;
    }
    l
}

/// A kind of compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The deltas into one delta segment per class (cheap).
    Merge,
    /// The deltas into the base segments and the source tree.
    Fold,
}

impl Policy {
    /// The compaction `g` is due for, if any. Folding needs the source tree (`can_fold`).
    pub fn due(&self, g: &Generation, can_fold: bool) -> Option<Kind> {
        let l = delta_load(g);
        if l.segments == 0 && l.tombstones == 0 {
            return None;
        }
        if can_fold
            && (l.records + l.tombstones as u64 > self.fold_after_records
                || l.bytes > self.fold_after_bytes)
        {
            return Some(Kind::Fold);
        }
        (l.segments > self.merge_after_segments.max(1)).then_some(Kind::Merge)
    }
}

/// Why a compaction did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The database could not be read or written.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The source tree cannot take the folded records.
    #[error("{0}")]
    Source(String),
    /// Another compaction holds the compaction lock.
    #[error("{0}: another process is compacting this database")]
    Locked(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A compaction built and waiting to be published.
#[derive(Debug)]
pub struct Prepared {
    /// Its kind.
    pub kind: Kind,
    /// The generation it was built from.
    pub snapshot: u64,
    base: Vec<String>,
    folded_deltas: Vec<String>,
    folded_tombstones: Vec<Tombstone>,
    new_base: Vec<SegmentEntry>,
    new_deltas: Vec<SegmentEntry>,
    new_tombstones: Vec<Tombstone>,
    keydirs: Vec<(String, Vec<u8>)>,
    moves: Vec<(PathBuf, String)>,
    /// Records written into new segments.
    pub records: u64,
    /// Base segments rebuilt (fold) or delta segments written (merge).
    pub rebuilt: usize,
    /// Time the build took.
    pub build_time: Duration,
    work: PathBuf,
    _lock: File,
}

/// What [`publish`] did.
#[derive(Debug)]
pub enum Outcome {
    /// Published as this generation; `written` source files were rewritten, `kept` were
    /// left alone (edited by hand since).
    Published {
        /// The generation number.
        generation: u64,
        /// Source files rewritten with folded records.
        written: Vec<String>,
        /// Source files left alone, with why.
        kept: Vec<String>,
    },
    /// The current generation no longer starts with the snapshot (it was replaced by a
    /// compile, say): nothing was published.
    Stale,
}

/// Takes the compaction lock and empties the work directory left by an interrupted one.
fn lock(db: &Path) -> Result<(File, PathBuf), CompactError> {
    let lp = db.join("COMPACT.LOCK");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lp)
        .map_err(io_err(&lp))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(CompactError::Locked(lp)),
        Err(fs::TryLockError::Error(e)) => {
            return Err(DbError::Io {
                path: lp,
                source: e,
            }
            .into());
        }
    }
    let work = db.join("compacting");
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_err(&work))?;
    }
    fs::create_dir_all(&work).map_err(io_err(&work))?;
    Ok((f, work))
}

/// The base record of `class` holding primary key `key` (deltas ignored).
fn base_record(g: &Generation, class: u16, key: &[u8]) -> Option<RecordRef> {
    let pk = g.schema.class_by_id(class).primary_key;
    g.by_class[usize::from(class)]
        .iter()
        .filter(|&&s| !g.entries[s as usize].delta)
        .find_map(|&s| {
            g.segments[s as usize]
                .exact(pk, key)
                .next()
                .map(|rec| RecordRef { seg: s, rec })
        })
}

/// The hash of a source file (an absent file counts as empty).
fn source_hash(path: &Path) -> Result<u64, DbError> {
    match fs::read(path) {
        Ok(b) => Ok(xxhash_rust::xxh3::xxh3_64(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(xxhash_rust::xxh3::xxh3_64(b"")),
        Err(e) => Err(DbError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Appends a record's text to a data file's text, with the separators it needs.
fn append_record(out: &mut String, rec: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let last = out.lines().rev().find(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if last.is_some_and(|l| !l.starts_with("---") && l != "_NEW_") {
        out.push_str("---\n");
    }
    out.push_str(rec);
    if !rec.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("---\n");
}

/// Builds a compaction of `g` (the snapshot) off to the side. `src` (the source tree) is
/// needed to fold. Returns `None` when `g` has no deltas. A build that fails (a full
/// disk, say) leaves its work directory empty.
pub fn prepare(
    db: &Path,
    src: Option<&Path>,
    g: &Generation,
    kind: Kind,
) -> Result<Option<Prepared>, CompactError> {
    if !g.has_deltas() {
        return Ok(None);
    }
    if kind == Kind::Fold && src.is_none() {
        return Err(CompactError::Source(
            "folding deltas into the base needs the source tree (--src)".into(),
        ));
    }
    let (lock_file, work) = lock(db)?;
    // The lock stays held (this handle) until the work directory is emptied.
    let held = lock_file
        .try_clone()
        .map_err(io_err(&db.join("COMPACT.LOCK")))?;
    let r = prepare_locked(db, src, g, kind, lock_file, &work);
    if r.is_err() {
        let _ = fs::remove_dir_all(&work);
    }
    drop(held);
    r.map(Some)
}

fn prepare_locked(
    db: &Path,
    src: Option<&Path>,
    g: &Generation,
    kind: Kind,
    lock_file: File,
    work: &Path,
) -> Result<Prepared, CompactError> {
    let start = Instant::now();
    let work = work.to_path_buf();
    let stage = |name: &str| -> Result<PathBuf, DbError> {
        let d = work.join(name);
        if d.exists() {
            fs::remove_dir_all(&d).map_err(io_err(&d))?;
        }
        fs::create_dir_all(&d).map_err(io_err(&d))?;
        Ok(d)
    };
    // The first file that could not be made durable (a failing disk) fails the build.
    let sync_error = std::sync::Mutex::new(None);
    let sync = |p: PathBuf| {
        if let Err(source) = File::open(&p).and_then(|f| f.sync_all()) {
            let mut first = sync_error.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert(DbError::Io { path: p, source });
        }
    };
    let mut p = Prepared {
        kind,
        snapshot: g.number,
        base: g
            .entries
            .iter()
            .filter(|e| !e.delta)
            .map(|e| e.name.clone())
            .collect(),
        folded_deltas: g
            .entries
            .iter()
            .filter(|e| e.delta)
            .map(|e| e.name.clone())
            .collect(),
        folded_tombstones: g.tombstones.clone(),
        new_base: g.entries.iter().filter(|e| !e.delta).cloned().collect(),
        new_deltas: Vec::new(),
        new_tombstones: Vec::new(),
        keydirs: Vec::new(),
        moves: Vec::new(),
        records: 0,
        rebuilt: 0,
        build_time: Duration::ZERO,
        work: work.clone(),
        _lock: lock_file,
    };
    let compiled = |class: &crate::schema::ClassDef, text: &str, rel: &str, name: String| {
        let fp = g.schema.class_fingerprint(class.id);
        build_segment(
            class,
            fp,
            text.as_bytes(),
            text,
            rel,
            &stage,
            name,
            &|_| {},
            &sync,
        )
        .map_err(|e| match e {
            BuildError::Db(e) => CompactError::Db(e),
            BuildError::Source(errors) => CompactError::Db(DbError::Corrupt {
                path: db.to_path_buf(),
                problem: format!(
                    "compacted records did not compile: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
        })
        .and_then(
            |e| match sync_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some(err) => Err(CompactError::Db(err)),
                None => Ok(e),
            },
        )
    };
    for class in &g.schema.classes {
        let overlay = &g.overlay[usize::from(class.id)];
        if overlay.is_empty() {
            continue;
        }
        // The final state of each changed key, in key order.
        let changed: BTreeMap<&[u8], Option<RecordRef>> =
            overlay.iter().map(|(k, v)| (&k[..], *v)).collect();
        match kind {
            Kind::Merge => {
                let mut text = String::new();
                let mut n = 0u64;
                for (k, state) in &changed {
                    match state {
                        Some(r) => {
                            append_record(&mut text, g.record(*r).text());
                            n += 1;
                        }
                        None if base_record(g, class.id, k).is_some() => {
                            p.new_tombstones.push(Tombstone {
                                class: class.name.clone(),
                                after: 0,
                                key: String::from_utf8_lossy(k).into_owned(),
                            });
                        }
                        None => {}
                    }
                }
                if n > 0 {
                    let name = format!("g{:010}-merged-{}", g.number, class.name);
                    let source = format!("changes to {}", g.applied);
                    let mut e = compiled(class, &text, &source, name.clone())?;
                    e.delta = true;
                    p.moves.push((work.join(&name), name));
                    p.new_deltas.push(e);
                    p.records += n;
                    p.rebuilt += 1;
                }
            }
            Kind::Fold => fold_class(db, src, g, class, &changed, &mut p, &compiled)?,
        }
    }
    if kind == Kind::Fold {
        p.keydirs = key_directories(g, &p, &work)?;
    }
    p.build_time = start.elapsed();
    Ok(p)
}

type Compiled<'a> =
    dyn Fn(&crate::schema::ClassDef, &str, &str, String) -> Result<SegmentEntry, CompactError> + 'a;

/// Rebuilds the base segments of `class` that `changed` touches.
fn fold_class(
    db: &Path,
    src: Option<&Path>,
    g: &Generation,
    class: &crate::schema::ClassDef,
    changed: &BTreeMap<&[u8], Option<RecordRef>>,
    p: &mut Prepared,
    compiled: &Compiled<'_>,
) -> Result<(), CompactError> {
    let src = src.expect("checked by prepare");
    // Per base segment: record number -> its new text (None: removed). New keys go to the
    // class's last base segment, or to a new file when the class has none.
    let mut replace: HashMap<u32, HashMap<u32, Option<&str>>> = HashMap::new();
    let mut appended: Vec<&str> = Vec::new();
    for (k, state) in changed {
        let new = state.map(|r| g.record(r).text());
        match base_record(g, class.id, k) {
            Some(b) => {
                replace.entry(b.seg).or_default().insert(b.rec, new);
            }
            None => appended.extend(new),
        }
    }
    let bases: Vec<u32> = g.by_class[usize::from(class.id)]
        .iter()
        .copied()
        .filter(|&s| !g.entries[s as usize].delta)
        .collect();
    let last = bases.last().copied();
    let mut targets: Vec<Option<u32>> = bases
        .iter()
        .copied()
        .filter(|s| replace.contains_key(s) || (Some(*s) == last && !appended.is_empty()))
        .map(Some)
        .collect();
    if last.is_none() && !appended.is_empty() {
        targets.push(None);
    }
    for (k, target) in targets.into_iter().enumerate() {
        let (rel, old_text, old_entry) = match target {
            Some(s) => {
                let e = &g.entries[s as usize];
                let path = segment_dir(db, &e.name).join(DATA_FILE);
                let bytes = fs::read(&path).map_err(io_err(&path))?;
                if xxhash_rust::xxh3::xxh3_64(&bytes) != e.data_hash {
                    return Err(DbError::Corrupt {
                        path,
                        problem: "data file differs from the manifest".into(),
                    }
                    .into());
                }
                let text = String::from_utf8(bytes).map_err(|_| DbError::Corrupt {
                    path: path.clone(),
                    problem: "data file is not UTF-8".into(),
                })?;
                (e.source.clone(), text, Some(e))
            }
            None => (
                format!("data/{}/{}-added.txt", class.name, class.name),
                String::new(),
                None,
            ),
        };
        // The source file must be what the database holds (or what an interrupted fold
        // left): anything else is a hand edit that folding would overwrite.
        let path = src.join(&rel);
        let have = source_hash(&path)?;
        let old_hash = old_entry.map_or(xxhash_rust::xxh3::xxh3_64(b""), |e| e.data_hash);
        if have != old_hash && old_entry.and_then(|e| e.folded_from) != Some(have) {
            return Err(CompactError::Source(format!(
                "{}: edited by hand since it was compiled (its hash differs from the \
                 database's); changes are not folded into it, so as not to overwrite the \
                 edit. Undo the edit and make it with `mkdb edit`, or stop `loader watch`, \
                 fold with `loader watch --once --fold-now` and redo it",
                path.display()
            )));
        }
        let mut text = String::with_capacity(old_text.len() + 1024);
        let mut pos = 0;
        let mut i = 0u32;
        let none = HashMap::new();
        let reps = target.and_then(|s| replace.get(&s)).unwrap_or(&none);
        let mut removed = 0u64;
        let _ = record::for_each_record(&old_text, |r| {
            if let Some(rep) = reps.get(&i) {
                text.push_str(&old_text[pos..r.start]);
                pos = r.end;
                match rep {
                    Some(new) => text.push_str(new),
                    None => {
                        removed += 1;
                        // The separator after a removed record goes with it.
                        let rest = &old_text[pos..];
                        if rest.starts_with("---") {
                            pos += rest.find('\n').map_or(rest.len(), |n| n + 1);
                        }
                    }
                }
            }
            i += 1;
            Ok::<_, SyntaxError>(())
        });
        text.push_str(&old_text[pos..]);
        if target == last || target.is_none() {
            for a in &appended {
                append_record(&mut text, a);
            }
        }
        let name = format!("g{:010}-fold-{}-{k:04}", g.number, class.name);
        let mut e = compiled(class, &text, &rel, name.clone())?;
        let expect = old_entry.map_or(0, |e| u64::from(e.records)) - removed
            + if target == last || target.is_none() {
                appended.len() as u64
            } else {
                0
            };
        if u64::from(e.records) != expect {
            return Err(DbError::Corrupt {
                path,
                problem: format!(
                    "folding gave {} records where {expect} were expected",
                    e.records
                ),
            }
            .into());
        }
        e.folded_from = Some(old_hash);
        p.records += u64::from(e.records);
        p.rebuilt += 1;
        p.moves.push((p.work.join(&name), name));
        match target {
            Some(s) => {
                let pos = p
                    .new_base
                    .iter()
                    .position(|x| x.name == g.entries[s as usize].name)
                    .expect("a base segment of the snapshot");
                p.new_base[pos] = e;
            }
            None => p.new_base.push(e),
        }
    }
    Ok(())
}

/// Key directories of the classes whose base segments a fold replaced.
fn key_directories(
    g: &Generation,
    p: &Prepared,
    work: &Path,
) -> Result<Vec<(String, Vec<u8>)>, CompactError> {
    let by_name: HashMap<&str, &Arc<Segment>> = g
        .entries
        .iter()
        .map(|e| e.name.as_str())
        .zip(&g.segments)
        .collect();
    let mut out = Vec::new();
    for c in &g.schema.classes {
        let entries: Vec<&SegmentEntry> = p.new_base.iter().filter(|e| e.class == c.name).collect();
        if entries
            .iter()
            .all(|e| by_name.contains_key(e.name.as_str()))
        {
            continue; // unchanged: hard-linked
        }
        let fp_schema = g.schema.class_fingerprint(c.id);
        let mut opened: Vec<Arc<Segment>> = Vec::new();
        for e in &entries {
            opened.push(match by_name.get(e.name.as_str()) {
                Some(s) => Arc::clone(s),
                None => Arc::new(
                    Segment::open(&work.join(&e.name), c, fp_schema, Verify::Quick)
                        .map_err(DbError::from)?,
                ),
            });
        }
        let fp = crate::keydir::segments_fingerprint(entries.iter().map(|e| e.name.as_str()));
        let mut hashed = Vec::new();
        for (pos, s) in opened.iter().enumerate() {
            s.for_each_key(c.primary_key, |k, recs| {
                let h = xxhash_rust::xxh3::xxh3_64(k);
                hashed.extend(recs.map(|rec| (h, pos as u16, rec)));
            });
        }
        let file = crate::keydir::build_hashed(c.id, fp, hashed.len(), hashed);
        out.push((keydir_file(&c.name), file));
    }
    Ok(out)
}

/// Publishes a prepared compaction on top of the current generation (`previous`, if
/// open, spares verifying it again), keeping the deltas published since its snapshot, then
/// writes folded records back to the source tree `src`. Takes the publisher lock.
pub fn publish(
    db: &Path,
    src: Option<&Path>,
    prepared: Prepared,
    previous: Option<&Generation>,
    keep: usize,
) -> Result<Outcome, CompactError> {
    let Prepared {
        kind,
        base: snapshot_base,
        folded_deltas,
        folded_tombstones,
        new_base,
        new_deltas,
        new_tombstones,
        keydirs,
        moves,
        work,
        _lock,
        ..
    } = prepared;
    let publisher = Publisher::lock(db)?;
    let g = Generation::open_reusing(db, previous)?;
    let base: Vec<&str> = g
        .entries
        .iter()
        .filter(|e| !e.delta)
        .map(|e| e.name.as_str())
        .collect();
    let deltas: Vec<&SegmentEntry> = g.entries.iter().filter(|e| e.delta).collect();
    let k = folded_deltas.len();
    let t = folded_tombstones.len();
    let same = base == snapshot_base.iter().map(String::as_str).collect::<Vec<_>>()
        && deltas.len() >= k
        && deltas[..k]
            .iter()
            .zip(&folded_deltas)
            .all(|(a, b)| a.name == *b)
        && g.tombstones.len() >= t
        && g.tombstones[..t] == folded_tombstones[..];
    if !same {
        let _ = fs::remove_dir_all(&work);
        return Ok(Outcome::Stale);
    }
    let m = new_deltas.len();
    let mut segments = new_base.clone();
    segments.extend(new_deltas);
    segments.extend(deltas[k..].iter().map(|&e| e.clone()));
    let mut tombstones = new_tombstones;
    tombstones.extend(g.tombstones[t..].iter().map(|ts| Tombstone {
        after: ts.after - k + m,
        ..ts.clone()
    }));
    let layout = Layout {
        moves,
        segments,
        tombstones,
        applied: g.applied,
        keydirs,
    };
    let published = publisher.publish_layout(&g, layout, keep);
    // Published or not, the build is spent (a failed publication is built again).
    let _ = fs::remove_dir_all(&work);
    let generation = published?;
    let (written, kept) = match src {
        Some(src) if kind == Kind::Fold => write_back(db, src, &new_base)?,
        _ => (Vec::new(), Vec::new()),
    };
    Ok(Outcome::Published {
        generation,
        written,
        kept,
    })
}

/// Brings the source tree `src` up to date with the folded base segments among `entries`
/// (a generation's manifest entries): each source file that still has the hash its
/// segment was folded from is rewritten (atomically) with the segment's data. Returns the
/// files rewritten and those left alone because they were edited by hand since.
pub fn write_back(
    db: &Path,
    src: &Path,
    entries: &[SegmentEntry],
) -> Result<(Vec<String>, Vec<String>), DbError> {
    let (mut written, mut kept) = (Vec::new(), Vec::new());
    for e in entries.iter().filter(|e| !e.delta) {
        let Some(from) = e.folded_from else { continue };
        let path = src.join(&e.source);
        let have = source_hash(&path)?;
        if have == e.data_hash {
            continue;
        }
        if have != from {
            kept.push(format!(
                "{}: edited by hand since the fold; left as it is",
                path.display()
            ));
            continue;
        }
        let data = segment_dir(db, &e.name).join(DATA_FILE);
        let bytes = fs::read(&data).map_err(io_err(&data))?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        atomic_write(&path, &bytes)?;
        written.push(e.source.clone());
    }
    if !written.is_empty() {
        sync_dir(src)?;
    }
    Ok((written, kept))
}

/// Compacts `db` now, in the calling thread: prepare from the current generation, then
/// publish. `None` when there are no deltas.
pub fn compact(
    db: &Path,
    src: Option<&Path>,
    kind: Kind,
    keep: usize,
) -> Result<Option<Outcome>, CompactError> {
    let g = Generation::open(db)?;
    let Some(p) = prepare(db, src, &g, kind)? else {
        return Ok(None);
    };
    publish(db, src, p, Some(&g), keep).map(Some)
}
