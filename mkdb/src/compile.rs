//! Compiling a source tree into a generation, and checking one.
//!
//! A source tree is what operators edit:
//! ```text
//! SRC_DIR/schema/<class>.schema     one schema file per class
//! SRC_DIR/data/<class>/*.txt        data files (editor backups and dot-files are ignored)
//! ```
//! Each data file becomes one segment. Files are parsed, validated and indexed in parallel;
//! then the whole set is checked (primary keys unique across files, every reference resolves)
//! and only then published. A file whose bytes and schema are unchanged since the current
//! generation reuses its published segment, so recompiling after a small hand edit rebuilds
//! only the edited file. `check` runs the same pipeline into a scratch directory that is
//! never published.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fst::Streamer;
use fst::map::OpBuilder;

use crate::generation::{DbError, Generation, Publisher, SegmentEntry, segment_dir};
use crate::record::{SyntaxError, check_utf8, for_each_record};
use crate::schema::{Problem, Schema};
use crate::segment::{DATA_FILE, INDEX_FILE, Segment, SegmentBuilder, Verify};

/// Problems reported per file before the rest are summarised.
const MAX_PROBLEMS_PER_FILE: usize = 50;
/// Cross-file problems reported before the rest are summarised.
const MAX_CROSS_PROBLEMS: usize = 100;

/// A problem in the source tree: `file:line: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// Path of the file, relative to the source tree when possible.
    pub file: String,
    /// 1-based line (0: the file as a whole).
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

/// Why a compile or check failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The source tree has errors; nothing was published.
    #[error("{} problem(s) in the source tree; nothing was published", .0.len())]
    Source(Vec<SourceError>),
    /// The database could not be written or read.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The current generation carries changes published as deltas that the source tree
    /// may not hold yet: compiling it would silently undo them.
    #[error(
        "the current generation carries changes published by `loader watch` (through change \
         file {applied}) that are not folded into the source tree yet; compiling now would undo \
         them. Fold them into the source tree first: `loader watch --src SRC_DIR --changes SPOOL \
         --once --fold-now DB_DIR`"
    )]
    UnfoldedDeltas {
        /// The last change file the current generation includes.
        applied: u64,
    },
}

/// Compile settings.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Worker threads (default: available cores).
    pub threads: usize,
    /// Generations kept after publication (the current one included).
    pub keep_generations: usize,
    /// Reuse published segments of unchanged files.
    pub reuse: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            threads: crate::parallel::default_threads(),
            keep_generations: 3,
            reuse: true,
        }
    }
}

/// What a compile did.
#[derive(Debug, Clone)]
pub struct CompileReport {
    /// Generation published (0 for a check).
    pub generation: u64,
    /// (class, live records) in class order.
    pub records: Vec<(String, u64)>,
    /// Data files read.
    pub files: usize,
    /// Segments reused from the previous generation.
    pub reused: usize,
    /// Bytes of data read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Wall time of each phase: (phase, duration).
    pub phases: Vec<(&'static str, Duration)>,
}

impl CompileReport {
    /// Record counts for people: `1364456 contact, 1000000 domain, ...`.
    pub fn counts(&self) -> String {
        let parts: Vec<String> = self
            .records
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        parts.join(", ")
    }
}

/// Progress callback: (bytes done, bytes total).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

struct SourceFile {
    class: u16,
    path: PathBuf,
    rel: String,
    len: u64,
}

/// Reads `SRC_DIR/schema/*.schema`.
pub fn load_schema(src: &Path) -> Result<Schema, CompileError> {
    let dir = src.join("schema");
    let entries = fs::read_dir(&dir).map_err(|e| {
        CompileError::Source(vec![SourceError {
            file: dir.display().to_string(),
            line: 0,
            problem: format!("cannot read the schema directory ({e}); a source tree has schema/ and data/ (see `mkdb gen`)"),
        }])
    })?;
    let mut files = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "schema") {
            let t = fs::read_to_string(&p).map_err(|e| DbError::Io {
                path: p.clone(),
                source: e,
            })?;
            files.push((rel_name(src, &p), t));
        }
    }
    files.sort();
    Schema::parse(files).map_err(|e| {
        CompileError::Source(vec![SourceError {
            file: e.file,
            line: e.line,
            problem: e.problem,
        }])
    })
}

fn rel_name(src: &Path, p: &Path) -> String {
    p.strip_prefix(src).unwrap_or(p).display().to_string()
}

fn list_sources(src: &Path, schema: &Schema) -> Result<Vec<SourceFile>, CompileError> {
    let data = src.join("data");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| CompileError::Db(DbError::Io { path: p, source: e })
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(&data).map_err(io(&data))?.flatten().collect();
    dirs.sort_by_key(|e| e.file_name());
    for d in dirs {
        let name = d.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !d.path().is_dir() {
            continue;
        }
        let Some(class) = schema.classes.iter().find(|c| c.name == name) else {
            errors.push(SourceError {
                file: rel_name(src, &d.path()),
                line: 0,
                problem: format!(
                    "no schema for class {name:?}; add schema/{name}.schema or rename the directory"
                ),
            });
            continue;
        };
        let mut files: Vec<_> = fs::read_dir(d.path())
            .map_err(io(&d.path()))?
            .flatten()
            .collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let fname = f.file_name().to_string_lossy().into_owned();
            let p = f.path();
            if fname.starts_with('.') || !fname.ends_with(".txt") || !p.is_file() {
                continue;
            }
            let len = f.metadata().map_err(io(&p))?.len();
            out.push(SourceFile {
                class: class.id,
                rel: rel_name(src, &p),
                path: p,
                len,
            });
        }
    }
    if !errors.is_empty() {
        return Err(CompileError::Source(errors));
    }
    Ok(out)
}

/// Outcome of building one file: its segment, or its problems.
type FileResult = Result<Built, BuildError>;

/// Why a segment was not built: problems in its text, or the database directory could not
/// be written (a full disk, say), which is no problem of the text.
#[derive(Debug)]
pub(crate) enum BuildError {
    /// Problems in the records.
    Source(Vec<SourceError>),
    /// Writing the segment failed.
    Db(DbError),
}

impl From<Vec<SourceError>> for BuildError {
    fn from(e: Vec<SourceError>) -> Self {
        BuildError::Source(e)
    }
}

enum Built {
    New(SegmentEntry),
    Reused(SegmentEntry),
}

fn build_one(
    schema: &Schema,
    f: &SourceFile,
    publisher: &Publisher,
    seg_name: String,
    previous: Option<&Generation>,
    progress: &(dyn Fn(u64) + Sync),
    written: &(dyn Fn(PathBuf) + Sync),
) -> Result<Built, BuildError> {
    let err = |line: u32, problem: String| SourceError {
        file: f.rel.clone(),
        line,
        problem,
    };
    let bytes = fs::read(&f.path).map_err(|e| vec![err(0, format!("cannot read: {e}"))])?;
    let text = check_utf8(&bytes).map_err(|e| vec![err(e.line, e.problem)])?;
    let class = schema.class_by_id(f.class);
    let fp = schema.class_fingerprint(class.id);
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    if let Some(prev) = previous {
        for (e, s) in prev.entries.iter().zip(&prev.segments) {
            if e.source == f.rel
                && e.data_hash == hash
                && e.data_bytes == bytes.len() as u64
                && e.class == class.name
                && prev
                    .schema
                    .class(&class.name)
                    .is_some_and(|c| prev.schema.class_fingerprint(c.id) == fp)
                && s.class() == class.id
            {
                progress(bytes.len() as u64);
                return Ok(Built::Reused(e.clone()));
            }
        }
    }
    let entry = build_segment(
        class,
        fp,
        &bytes,
        text,
        &f.rel,
        &|n| publisher.stage_segment(n),
        seg_name,
        progress,
        written,
    )?;
    Ok(Built::New(entry))
}

/// Validates and indexes the records of `text` (the bytes of one data file, or of a delta)
/// as class `class`, and writes the segment `seg_name` into the directory `stage` makes for
/// it. Errors name `rel`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_segment(
    class: &crate::schema::ClassDef,
    fp: u64,
    bytes: &[u8],
    text: &str,
    rel: &str,
    stage: &dyn Fn(&str) -> Result<PathBuf, DbError>,
    seg_name: String,
    progress: &(dyn Fn(u64) + Sync),
    written: &(dyn Fn(PathBuf) + Sync),
) -> Result<SegmentEntry, BuildError> {
    let err = |line: u32, problem: String| SourceError {
        file: rel.to_owned(),
        line,
        problem,
    };
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let mut builder = SegmentBuilder::new(class, fp);
    let mut problems: Vec<Problem> = Vec::new();
    let mut fields = Vec::new();
    let mut since = 0usize;
    let parsed = for_each_record(text, |r| {
        let before = problems.len();
        class.validate(r, &mut fields, &mut problems);
        if problems.len() == before
            && let Err(e) = builder.add(r, &fields)
        {
            problems.push(Problem {
                line: e.line,
                problem: e.problem,
            });
        }
        if r.end - since > (8 << 20) {
            progress((r.end - since) as u64);
            since = r.end;
        }
        if problems.len() > MAX_PROBLEMS_PER_FILE {
            return Err(SyntaxError {
                line: r.first_line,
                problem: "too many problems; stopped reading this file".into(),
            });
        }
        Ok(())
    });
    progress((bytes.len() - since) as u64);
    let mut errors: Vec<SourceError> = problems
        .into_iter()
        .map(|p| err(p.line, p.problem))
        .collect();
    if let Err(e) = parsed {
        errors.push(err(e.line, e.problem));
    }
    if !errors.is_empty() {
        return Err(BuildError::Source(errors));
    }
    let records = builder.record_count();
    let index = builder
        .finish(bytes)
        .map_err(|e| vec![err(e.line, e.problem)])?;
    let dir = stage(&seg_name).map_err(BuildError::Db)?;
    for (name, content) in [(DATA_FILE, bytes), (INDEX_FILE, &index[..])] {
        let path = dir.join(name);
        fs::write(&path, content).map_err(|source| {
            BuildError::Db(DbError::Io {
                path: path.clone(),
                source,
            })
        })?;
        written(path);
    }
    Ok(SegmentEntry {
        class: class.name.clone(),
        name: seg_name,
        records,
        data_bytes: bytes.len() as u64,
        data_hash: hash,
        source: rel.to_owned(),
        delta: false,
        folded_from: None,
    })
}

/// Compiles `src` into a new generation of `db` and publishes it.
pub fn compile(
    src: &Path,
    db: &Path,
    opts: &CompileOptions,
    progress: Progress<'_>,
) -> Result<CompileReport, CompileError> {
    let publisher = Publisher::lock(db)?;
    if let Some(m) = crate::generation::current_manifest(db)? {
        if !m.tombstones.is_empty() || m.segments.iter().any(|e| e.delta) {
            return Err(CompileError::UnfoldedDeltas { applied: m.applied });
        }
        // A fold (`compact`) interrupted before it wrote its records back to the source
        // tree: write them now, or this compile would bring the old records back.
        crate::compact::write_back(db, src, &m.segments)?;
    }
    let previous = if opts.reuse {
        Generation::open(db).ok()
    } else {
        None
    };
    run(src, publisher, previous.as_ref(), opts, progress, true)
}

/// Checks `src` exactly as [`compile`] would, building into a scratch directory that is
/// removed afterwards. Nothing is published.
pub fn check(
    src: &Path,
    opts: &CompileOptions,
    progress: Progress<'_>,
) -> Result<CompileReport, CompileError> {
    let scratch = std::env::temp_dir().join(format!(
        "mkdb-check-{}-{}",
        std::process::id(),
        crate::generation::rfc3339_now().replace(':', "")
    ));
    let result = Publisher::lock(&scratch)
        .map_err(CompileError::from)
        .and_then(|p| run(src, p, None, opts, progress, false));
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn run(
    src: &Path,
    publisher: Publisher,
    previous: Option<&Generation>,
    opts: &CompileOptions,
    progress: Progress<'_>,
    publish: bool,
) -> Result<CompileReport, CompileError> {
    let start = Instant::now();
    let mut phases = Vec::new();
    let mut mark = Instant::now();
    let mut phase = |name: &'static str| {
        phases.push((name, mark.elapsed()));
        mark = Instant::now();
    };
    let schema = load_schema(src)?;
    let files = list_sources(src, &schema)?;
    let total: u64 = files.iter().map(|f| f.len).sum();
    let done = AtomicU64::new(0);
    let tick = |n: u64| {
        let d = done.fetch_add(n, Ordering::Relaxed) + n;
        progress(d.min(total), total);
    };
    // Largest files first, so that the workers finish at about the same time.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].len));
    let mut per_class = vec![0usize; schema.classes.len()];
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            let c = &schema.class_by_id(f.class).name;
            let n = per_class[usize::from(f.class)];
            per_class[usize::from(f.class)] += 1;
            format!("g{:010}-{c}-{n:04}", publisher.number())
        })
        .collect();
    // Workers write files; one syncer thread makes them durable, so fsync overlaps with
    // parsing. A check publishes nothing and needs no durability.
    let (to_sync, sync_queue) = std::sync::mpsc::channel::<PathBuf>();
    let sync_error: Mutex<Option<DbError>> = Mutex::new(None);
    let mut results: Vec<(usize, FileResult)> = std::thread::scope(|s| {
        s.spawn(|| {
            for path in sync_queue {
                if let Err(source) = fs::File::open(&path).and_then(|f| f.sync_all()) {
                    sync_error
                        .lock()
                        .expect("syncer lock")
                        .get_or_insert(DbError::Io { path, source });
                }
            }
        });
        let written = |p: PathBuf| {
            if publish {
                let _ = to_sync.send(p);
            }
        };
        let built = crate::parallel::map(opts.threads, order.len(), |k| {
            let i = order[k];
            (
                i,
                build_one(
                    &schema,
                    &files[i],
                    &publisher,
                    names[i].clone(),
                    previous,
                    &tick,
                    &written,
                ),
            )
        });
        drop(to_sync);
        built
    });
    results.sort_by_key(|(i, _)| *i);
    if let Some(e) = sync_error.into_inner().expect("syncer joined") {
        return Err(e.into());
    }
    phase("parse, validate, index, write");
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut reused = 0;
    for (_, r) in results {
        match r {
            Ok(Built::New(e)) => entries.push(e),
            Ok(Built::Reused(e)) => {
                reused += 1;
                entries.push(e);
            }
            Err(BuildError::Source(mut e)) => errors.append(&mut e),
            // The database cannot be written: that is the error, not the text.
            Err(BuildError::Db(e)) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        return Err(CompileError::Source(errors));
    }
    // Open what we built (and what we reuse) to check across files.
    let mut segments = Vec::new();
    for e in &entries {
        let class = schema.class(&e.class).expect("class of a listed file");
        let staged = publisher
            .db()
            .join("segments")
            .join(format!(".staging-{}", e.name));
        let dir = if staged.is_dir() {
            staged
        } else {
            segment_dir(publisher.db(), &e.name)
        };
        segments.push(
            Segment::open(
                &dir,
                class,
                schema.class_fingerprint(class.id),
                Verify::Quick,
            )
            .map_err(DbError::from)?,
        );
    }
    phase("open built segments");
    let problems = cross_check(&schema, &segments, &entries, opts.threads);
    phase("cross-file checks");
    if !problems.is_empty() {
        return Err(CompileError::Source(problems));
    }
    let mut records = vec![0u64; schema.classes.len()];
    for s in &segments {
        records[usize::from(s.class())] += u64::from(s.record_count());
    }
    let bytes = entries.iter().map(|e| e.data_bytes).sum();
    let generation = if publish {
        let dirs = key_directories(&schema, &segments, &entries);
        publisher.publish(&schema, entries, &dirs, opts.keep_generations)?
    } else {
        0
    };
    phase("publish");
    Ok(CompileReport {
        generation,
        records: schema
            .classes
            .iter()
            .map(|c| (c.name.clone(), records[usize::from(c.id)]))
            .collect(),
        files: files.len(),
        reused,
        bytes,
        elapsed: start.elapsed(),
        phases,
    })
}

/// One cross-file check: a class's primary keys, or one referencing attribute.
#[derive(Debug, Clone, Copy)]
enum CrossJob {
    PrimaryKeys(u16),
    References(u16, u16),
}

/// Primary keys unique across files; every reference resolves to an existing record.
/// Jobs run on `threads` threads; problems are reported in job order.
fn cross_check(
    schema: &Schema,
    segs: &[Segment],
    entries: &[SegmentEntry],
    threads: usize,
) -> Vec<SourceError> {
    let mut jobs = Vec::new();
    for c in &schema.classes {
        jobs.push(CrossJob::PrimaryKeys(c.id));
        for a in c.attrs.iter().filter(|a| a.references.is_some()) {
            jobs.push(CrossJob::References(c.id, a.id));
        }
    }
    let mut out: Vec<SourceError> = crate::parallel::map(threads, jobs.len(), |i| {
        cross_job(schema, segs, entries, jobs[i])
    })
    .into_iter()
    .flatten()
    .collect();
    if out.len() > MAX_CROSS_PROBLEMS {
        out.truncate(MAX_CROSS_PROBLEMS);
        out.push(SourceError {
            file: "(source tree)".into(),
            line: 0,
            problem: format!("stopped after {MAX_CROSS_PROBLEMS} problems"),
        });
    }
    out
}

fn cross_job(
    schema: &Schema,
    segs: &[Segment],
    entries: &[SegmentEntry],
    job: CrossJob,
) -> Vec<SourceError> {
    let mut out = Vec::new();
    let of_class =
        |c: u16| -> Vec<usize> { (0..segs.len()).filter(|&i| segs[i].class() == c).collect() };
    let locate = |seg: usize, rec: u32, attr: Option<(u16, &[u8])>| -> SourceError {
        let view = segs[seg].record(rec);
        let mut line = view.first_line();
        if let Some((attr, key)) = attr {
            let ty = schema.class_by_id(segs[seg].class()).attr(attr).ty;
            for (a, v, l) in view.fields_with_lines() {
                let mut hit = false;
                crate::key::for_each_key(ty, v, |k| hit |= k == key);
                if a == attr && hit {
                    line = l;
                    break;
                }
            }
        }
        SourceError {
            file: entries[seg].source.clone(),
            line,
            problem: String::new(),
        }
    };
    let union_of = |idx: &[usize], attr: u16| {
        let mut op = OpBuilder::new();
        for &i in idx {
            if let Some(m) = segs[i].exact_map(attr) {
                op = op.add(m);
            }
        }
        op.union()
    };
    match job {
        CrossJob::PrimaryKeys(class) => {
            let class = schema.class_by_id(class);
            let idx = of_class(class.id);
            let mut u = union_of(&idx, class.primary_key);
            while let Some((k, vals)) = u.next() {
                if vals.len() < 2 {
                    continue;
                }
                if out.len() > MAX_CROSS_PROBLEMS {
                    break;
                }
                let mut v = vals.to_vec();
                v.sort_by_key(|x| x.index);
                let (a, b) = (idx[v[0].index], idx[v[1].index]);
                let ra = segs[a].decode(v[0].value).next().unwrap_or(0);
                let rb = segs[b].decode(v[1].value).next().unwrap_or(0);
                let first = locate(a, ra, None);
                let mut e = locate(b, rb, None);
                e.problem = format!(
                    "duplicate {} {:?}: also at {}:{}",
                    class.pk().name,
                    String::from_utf8_lossy(k),
                    first.file,
                    first.line
                );
                out.push(e);
            }
        }
        CrossJob::References(class, attr) => {
            let class = schema.class_by_id(class);
            let a = class.attr(attr);
            let target = schema
                .class(a.references.as_deref().unwrap_or_default())
                .expect("checked by Schema::parse");
            let idx = of_class(class.id);
            let tidx = of_class(target.id);
            // Merge join of two sorted key streams.
            let mut refs = union_of(&idx, a.id);
            let mut keys = union_of(&tidx, target.primary_key);
            let mut cur: Option<Vec<u8>> = keys.next().map(|(k, _)| k.to_vec());
            while let Some((k, vals)) = refs.next() {
                while cur.as_deref().is_some_and(|c| c < k) {
                    cur = keys.next().map(|(k, _)| k.to_vec());
                }
                if cur.as_deref() == Some(k) {
                    continue;
                }
                if out.len() > MAX_CROSS_PROBLEMS {
                    break;
                }
                let v = vals
                    .iter()
                    .min_by_key(|x| x.index)
                    .expect("union yields a value");
                let seg = idx[v.index];
                let rec = segs[seg].decode(v.value).next().unwrap_or(0);
                let mut e = locate(seg, rec, Some((a.id, k)));
                e.problem = format!(
                    "{} {:?} refers to a {} that does not exist (no record with {} {:?})",
                    a.name,
                    String::from_utf8_lossy(k),
                    target.name,
                    target.pk().name,
                    String::from_utf8_lossy(k)
                );
                out.push(e);
            }
        }
    }
    out
}

/// Builds each class's primary-key directory (see `keydir`) from the segments' fsts.
fn key_directories(
    schema: &Schema,
    segs: &[Segment],
    entries: &[SegmentEntry],
) -> Vec<(String, Vec<u8>)> {
    let build = |c: &crate::schema::ClassDef| {
        let idx: Vec<usize> = (0..segs.len())
            .filter(|&i| segs[i].class() == c.id)
            .collect();
        let fp = crate::keydir::segments_fingerprint(idx.iter().map(|&i| entries[i].name.as_str()));
        let mut hashed = Vec::new();
        for (pos, &i) in idx.iter().enumerate() {
            segs[i].for_each_key(c.primary_key, |k, recs| {
                let h = xxhash_rust::xxh3::xxh3_64(k);
                hashed.extend(recs.map(|rec| (h, pos as u16, rec)));
            });
        }
        let file = crate::keydir::build_hashed(c.id, fp, hashed.len(), hashed);
        (crate::generation::keydir_file(&c.name), file)
    };
    schema.classes.iter().map(build).collect()
}
