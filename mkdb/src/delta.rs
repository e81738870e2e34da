//! Publishing change files as a delta generation: the changed records are compiled into
//! one small segment per class and deleted keys become tombstones, on top of the current
//! generation, whose segments and key directories are shared, not rewritten. The cost
//! depends on the size of the change, not of the database.
//!
//! Each change file is one transaction: every change in it is checked against the state
//! the earlier changes left (the current generation, then the files before it in the same
//! batch), and the file is applied whole or not at all:
//! - a put must validate against its class schema, name the key its record holds, and
//!   refer only to records that exist; its `Base-Version` must be the version of the
//!   record it replaces (no base: the key must not exist yet);
//! - a delete must match its `Base-Version` when given, and the record must not be
//!   referenced by any other record.
//!
//! A file that fails is not applied; its problems are reported (compare-and-swap conflicts
//! included) and the batch goes on, so one conflicting hand edit never blocks the stream.
//! The generation records the last change file it includes ([`Generation::applied`]), so a
//! restarted loader resumes after it, applying each change exactly once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::change::{Action, Change, ChangeFile, Version, canonical, version_of};
use crate::compile::{BuildError, build_segment};
use crate::generation::{DbError, Generation, Publisher, Tombstone};
use crate::key;
use crate::record::{self, RawRecord, SyntaxError};
use crate::schema::ClassDef;

/// A change file that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its sequence number.
    pub sequence: u64,
    /// One line per problem, naming the change (`put domain example.coop: ...`).
    pub problems: Vec<String>,
}

/// What [`publish_changes`] did.
#[derive(Debug, Clone)]
pub struct DeltaReport {
    /// The generation published (`None` when nothing was applied and nothing published).
    pub generation: Option<u64>,
    /// Change files applied.
    pub applied_files: usize,
    /// Records put and keys deleted.
    pub puts: usize,
    /// Keys deleted.
    pub deletes: usize,
    /// Files refused, with their problems.
    pub rejected: Vec<Rejected>,
    /// Time taken.
    pub elapsed: Duration,
}

/// The version of a live record (the xxh3 of its canonical text).
pub fn record_version(g: &Generation, r: crate::RecordRef) -> Version {
    let text = g.record(r).text();
    let mut v = version_of("");
    let _ = record::for_each_record(text, |rec| {
        v = version_of(&canonical(rec));
        Ok::<_, SyntaxError>(())
    });
    v
}

/// The state of one key during a batch: its record text (`None`: deleted).
type Pending = HashMap<(u16, Vec<u8>), Option<String>>;

/// Applies `files` (in order; those with a sequence number not above the current
/// generation's `applied` are skipped) to the database in `db` as one delta generation.
/// Takes the publisher lock. `previous`, an open generation of `db` (say the one the last
/// call published), spares verifying its segments again.
pub fn publish_changes(
    db: &Path,
    previous: Option<&Generation>,
    files: &[ChangeFile],
    keep: usize,
) -> Result<DeltaReport, DbError> {
    publish_changes_then(db, previous, files, keep, &mut |_| Ok(()))
}

/// [`publish_changes`], calling `before_publish` with the files refused just before the
/// generation that skips them is made current (so that whoever waits for a change to be
/// published finds its refusal recorded by then). An error from it (the refusals could
/// not be recorded) publishes nothing and is returned.
pub fn publish_changes_then(
    db: &Path,
    previous: Option<&Generation>,
    files: &[ChangeFile],
    keep: usize,
    before_publish: &mut dyn FnMut(&[Rejected]) -> Result<(), DbError>,
) -> Result<DeltaReport, DbError> {
    let start = Instant::now();
    let publisher = Publisher::lock(db)?;
    let g = Generation::open_reusing(db, previous)?;
    let mut pending: Pending = HashMap::new();
    let mut report = DeltaReport {
        generation: None,
        applied_files: 0,
        puts: 0,
        deletes: 0,
        rejected: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut applied = g.applied;
    for f in files {
        if f.sequence <= applied {
            continue; // already in the database
        }
        applied = f.sequence;
        let mut tentative = pending.clone();
        let problems = check_file(&g, &mut tentative, f);
        if problems.is_empty() {
            pending = tentative;
            report.applied_files += 1;
        } else {
            report.rejected.push(Rejected {
                sequence: f.sequence,
                problems,
            });
        }
    }
    if applied == g.applied {
        report.elapsed = start.elapsed();
        return Ok(report);
    }
    // Final state per class: records to put (in key order, for a stable segment) and
    // keys to delete.
    let mut puts: BTreeMap<u16, BTreeMap<Vec<u8>, String>> = BTreeMap::new();
    let mut tombstones = Vec::new();
    let mut keys: Vec<_> = pending.into_iter().collect();
    keys.sort();
    for ((class, k), state) in keys {
        match state {
            Some(text) => {
                puts.entry(class).or_default().insert(k, text);
            }
            None => tombstones.push((class, k)),
        }
    }
    let number = publisher.number();
    let deltas_before = g.entries.iter().filter(|e| e.delta).count();
    // The first file that could not be made durable (a failing disk): nothing is published.
    let sync_error = std::sync::Mutex::new(None);
    let mut segments = Vec::new();
    for (class, records) in &puts {
        let c = g.schema.class_by_id(*class);
        let mut text = String::new();
        for r in records.values() {
            text.push_str(r);
            text.push_str("---\n");
        }
        report.puts += records.len();
        let name = format!("g{number:010}-delta-{}", c.name);
        let source = format!("changes to {applied}");
        let fp = g.schema.class_fingerprint(c.id);
        let mut entry = build_segment(
            c,
            fp,
            text.as_bytes(),
            &text,
            &source,
            &|n| publisher.stage_segment(n),
            name,
            &|_| {},
            &|p| {
                if let Err(source) = std::fs::File::open(&p).and_then(|f| f.sync_all()) {
                    let mut first = sync_error.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(DbError::Io { path: p, source });
                }
            },
        )
        .map_err(|e| match e {
            BuildError::Db(e) => e,
            BuildError::Source(errors) => DbError::Corrupt {
                path: db.to_path_buf(),
                problem: format!(
                    "a checked delta did not compile: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            },
        })?;
        if let Some(e) = sync_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(e);
        }
        entry.delta = true;
        segments.push(entry);
    }
    let after = deltas_before + segments.len();
    report.deletes = tombstones.len();
    let tombstones = tombstones
        .into_iter()
        .map(|(class, k)| Tombstone {
            class: g.schema.class_by_id(class).name.clone(),
            after,
            key: String::from_utf8_lossy(&k).into_owned(),
        })
        .collect();
    before_publish(&report.rejected)?;
    report.generation = Some(publisher.publish_delta(&g, segments, tombstones, applied, keep)?);
    report.elapsed = start.elapsed();
    Ok(report)
}

/// The record text of `key` in `class` after the changes so far (`pending`, then `g`).
fn current(g: &Generation, pending: &Pending, class: u16, key: &[u8]) -> Option<(Version, bool)> {
    match pending.get(&(class, key.to_vec())) {
        Some(Some(text)) => Some((version_of(text), true)),
        Some(None) => None,
        None => g
            .find_key(class, key)
            .map(|r| (record_version(g, r), false)),
    }
}

/// Checks one file's changes in order against `g` and `pending` (updated as they apply);
/// returns its problems (none: it applies).
fn check_file(g: &Generation, pending: &mut Pending, f: &ChangeFile) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &f.changes {
        let what = format!(
            "{} {} {}",
            match c.action {
                Action::Put => "put",
                Action::Delete => "delete",
            },
            c.class,
            c.key
        );
        if let Err(p) = check_change(g, pending, c) {
            problems.push(format!("{what}: {p}"));
        }
    }
    // References from the file's puts are checked once all its changes are in place (a
    // transaction may create a contact and the domain that names it, in any order).
    if problems.is_empty() {
        for c in f.changes.iter().filter(|c| c.action == Action::Put) {
            if let Err(p) = check_references(g, pending, c) {
                problems.push(format!("put {} {}: {p}", c.class, c.key));
            }
        }
        for c in f.changes.iter().filter(|c| c.action == Action::Delete) {
            if let Err(p) = check_unreferenced(g, pending, c) {
                problems.push(format!("delete {} {}: {p}", c.class, c.key));
            }
        }
    }
    problems
}

fn class_of<'g>(g: &'g Generation, c: &Change) -> Result<&'g ClassDef, String> {
    g.schema
        .class(&c.class)
        .ok_or_else(|| format!("no class {:?}", c.class))
}

fn check_change(g: &Generation, pending: &mut Pending, c: &Change) -> Result<(), String> {
    let class = class_of(g, c)?;
    let pk = class.pk();
    let k = key::exact_key(pk.ty, &c.key).into_bytes();
    let now = current(g, pending, class.id, &k);
    match (c.base, now) {
        (Some(base), Some((v, _))) if base != v => {
            return Err(format!(
                "conflict: the record changed since version {base} was read (it is now {v}); \
                 nothing was applied, re-read and edit again"
            ));
        }
        (Some(base), None) if c.action == Action::Put => {
            return Err(format!(
                "conflict: the record (version {base}) was deleted meanwhile"
            ));
        }
        (None, Some(_)) if c.action == Action::Put => {
            return Err(
                "conflict: the record exists already (a put without Base-Version creates)".into(),
            );
        }
        _ => {}
    }
    match c.action {
        Action::Delete => {
            if now.is_none() && c.base.is_none() {
                return Err("no such record".into());
            }
            pending.insert((class.id, k), None);
        }
        Action::Put => {
            let mut recs: Vec<RawRecord<'_>> = Vec::new();
            record::for_each_record(&c.record, |r| {
                recs.push(r.clone());
                Ok::<_, SyntaxError>(())
            })
            .map_err(|e| e.to_string())?;
            let [rec] = recs.as_slice() else {
                return Err(format!("expected one record, found {}", recs.len()));
            };
            let (mut fields, mut probs) = (Vec::new(), Vec::new());
            class.validate(rec, &mut fields, &mut probs);
            if let Some(p) = probs.first() {
                return Err(format!("line {} of the record: {}", p.line, p.problem));
            }
            let holds = fields
                .iter()
                .find(|f| f.attr == pk.id)
                .map(|f| key::exact_key(pk.ty, f.value).into_bytes());
            if holds.as_deref() != Some(&k[..]) {
                return Err(format!("the record's {} is not {:?}", pk.name, c.key));
            }
            pending.insert((class.id, k), Some(canonical(rec)));
        }
    }
    Ok(())
}

/// Every reference of a put record names an existing record.
fn check_references(g: &Generation, pending: &Pending, c: &Change) -> Result<(), String> {
    let class = class_of(g, c)?;
    let mut missing = Vec::new();
    let _ = record::for_each_record(&c.record, |rec| {
        let (mut fields, mut probs) = (Vec::new(), Vec::new());
        class.validate(rec, &mut fields, &mut probs);
        for f in &fields {
            let a = class.attr(f.attr);
            let Some(target) = a.references.as_deref().and_then(|t| g.schema.class(t)) else {
                continue;
            };
            let k = key::exact_key(target.pk().ty, f.value).into_bytes();
            if current(g, pending, target.id, &k).is_none() {
                missing.push(format!("{} {} does not exist", target.name, f.value));
            }
        }
        Ok::<_, SyntaxError>(())
    });
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(", "))
    }
}

/// No live record (after the pending changes) refers to a deleted key.
fn check_unreferenced(g: &Generation, pending: &Pending, c: &Change) -> Result<(), String> {
    let class = class_of(g, c)?;
    let name = class.name.as_str();
    for other in &g.schema.classes {
        for a in other
            .attrs
            .iter()
            .filter(|a| a.references.as_deref() == Some(name))
        {
            let k = key::exact_key(a.ty, &c.key);
            // Records in the generation that still hold the reference and are not replaced.
            for r in g.lookup(other.id, a.id, k.as_bytes()) {
                let opk = other.pk();
                let Some(v) = g.record(r).first(opk.id) else {
                    continue;
                };
                let ok = key::exact_key(opk.ty, v).into_bytes();
                if !pending.contains_key(&(other.id, ok)) {
                    return Err(format!("{} {v} still refers to it", other.name));
                }
            }
            // Records put in this batch that refer to it.
            for ((cid, _), state) in pending.iter().filter(|((cid, _), _)| *cid == other.id) {
                let Some(text) = state else { continue };
                let _ = cid;
                let mut refers = false;
                let _ = record::for_each_record(text, |rec| {
                    let (mut fields, mut probs) = (Vec::new(), Vec::new());
                    other.validate(rec, &mut fields, &mut probs);
                    refers = fields
                        .iter()
                        .any(|f| f.attr == a.id && key::exact_key(a.ty, f.value) == k);
                    Ok::<_, SyntaxError>(())
                });
                if refers {
                    return Err(format!("a changed {} still refers to it", other.name));
                }
            }
        }
    }
    Ok(())
}
