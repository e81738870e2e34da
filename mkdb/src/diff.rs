//! What changed between two generations, for readers that keep results across a switch.
//!
//! whoisd keeps rendered answers in a cache; `loader watch` publishes a generation every
//! ~100 ms, and emptying the cache on each switch would keep it cold. An answer to an exact
//! primary-key query depends only on a few records, so [`between`] tells a reader which
//! records a switch may have changed, and each cached answer remembers which records it
//! read ([`Dependencies`], filled by [`crate::render::render_answer_deps`]); an answer that
//! read none of them is still byte for byte what the new generation would render (except
//! the last-update line, which names the generation and which the cache writes afresh).
//!
//! Both sides speak in [`dep_hash`]es of (kind, class, normalised key):
//! - [`DepKind::Record`]: the live record of a primary key (its text, its presence);
//! - [`DepKind::Linked`]: whether any live record refers to a key (the computed `LINKED`
//!   attribute of a contact, "Currently Associated").
//!
//! A hash collision can only make a reader drop an answer it could have kept.
//!
//! **Why the changed set is sound.** The live record of key `K` is found through the
//! overlay (the last delta segment holding `K`, or a tombstone) and then the base segments'
//! key directory. If no segment that only one of the two generations lists holds a record
//! of `K`, no tombstone of either names `K`, and the segments both list (same name, same
//! data hash: same bytes) keep their relative order, then `K` resolves to the same bytes
//! in both. So the *candidates* are the keys of every record of the segments that differ
//! and the keys of the tombstones that differ (a publication that only appends deltas and
//! tombstones: only the new ones; anything else, such as a compaction: all tombstones of
//! both). For each candidate the live records in the old and the new generation give
//! every spelling of their key (A-label and U-label) and, for `LINKED`, every key they
//! refer to: a change of "is `X` referenced" needs a live referrer to appear or vanish,
//! and that referrer's key is a candidate.
//!
//! [`between`] answers [`Diff::Unknown`] (the reader must forget everything) when the
//! generation number does not grow, the schema changed, a segment name is reused for
//! other bytes, shared segments are reordered, or the candidates exceed
//! [`MAX_CANDIDATE_RECORDS`] (a fold rewriting whole base files: cheaper to start over).

use std::collections::HashMap;

use crate::generation::Generation;
use crate::key;
use crate::query::RecordRef;
use crate::schema::AttrType;

/// Above this many records in the segments that differ (plus tombstones), [`between`]
/// gives up with [`Diff::Unknown`]: the work stays bounded and the changed set small.
pub const MAX_CANDIDATE_RECORDS: u64 = 100_000;

/// What an answer depends on, and what a switch may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// The live record of a primary key, or its absence.
    Record = 1,
    /// Whether any live record refers to a key (a `LINKED` attribute).
    Linked = 2,
}

/// The hash naming one dependency: `key` is normalised as [`key::exact_key`] does (for
/// [`DepKind::Linked`], with the referring attribute's type).
pub fn dep_hash(kind: DepKind, class: u16, key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, ((kind as u64) << 16) | u64::from(class))
}

/// What a rendered answer read: filled while rendering, kept beside a cached answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// The answer came from a search over many keys (a pattern, an attribute, a boolean
    /// query) or an error: any change of data may change it.
    pub scan: bool,
    /// [`dep_hash`]es of the records (and `LINKED` states) it read, possibly repeated.
    pub hashes: Vec<u64>,
}

impl Dependencies {
    /// Empties it for the next answer (keeps the allocation).
    pub fn clear(&mut self) {
        self.scan = false;
        self.hashes.clear();
    }

    /// Records one dependency.
    pub fn add(&mut self, kind: DepKind, class: u16, key: &[u8]) {
        self.hashes.push(dep_hash(kind, class, key));
    }
}

/// The [`dep_hash`]es a switch may have changed: sorted, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedKeys {
    hashes: Box<[u64]>,
}

impl ChangedKeys {
    /// A set of the given hashes.
    pub fn from_hashes(mut hashes: Vec<u64>) -> ChangedKeys {
        hashes.sort_unstable();
        hashes.dedup();
        ChangedKeys {
            hashes: hashes.into_boxed_slice(),
        }
    }

    /// May the dependency with this hash have changed?
    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.binary_search(&hash).is_ok()
    }

    /// Does any of `deps` appear?
    pub fn any_of(&self, deps: &[u64]) -> bool {
        !self.hashes.is_empty() && deps.iter().any(|&h| self.contains(h))
    }

    /// No data changed (a switch to the same content, say a compaction of nothing).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hashes held.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }
}

/// The difference between two generations, as [`between`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diff {
    /// Not provably a change of a few keys: forget everything read from the old one.
    Unknown(String),
    /// Everything read from the old generation is unchanged except what these name.
    Changed(ChangedKeys),
}

/// What may differ between `old` and `new` (published after it); see the module doc.
/// Costs what the segments that differ hold (bounded by [`MAX_CANDIDATE_RECORDS`]), not
/// the database: call it off any latency-sensitive loop all the same.
pub fn between(old: &Generation, new: &Generation) -> Diff {
    let unknown = |why: &str| Diff::Unknown(why.to_string());
    if new.number <= old.number {
        return unknown("the generation number did not grow");
    }
    let (oc, nc) = (&old.schema.classes, &new.schema.classes);
    if oc.len() != nc.len()
        || oc
            .iter()
            .zip(nc)
            .any(|(a, b)| a.id != b.id || a.name != b.name || a.source != b.source)
    {
        return unknown("the schema changed");
    }
    // Segments both list must be the same bytes, in the same relative order.
    let old_at: HashMap<&str, usize> = old
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    let mut shared_in_old = vec![false; old.entries.len()];
    let mut new_only = Vec::new();
    let mut last_shared = None;
    for (i, e) in new.entries.iter().enumerate() {
        let Some(&j) = old_at.get(e.name.as_str()) else {
            new_only.push(i);
            continue;
        };
        let o = &old.entries[j];
        if (&o.class, o.data_hash, o.data_bytes, o.records, o.delta)
            != (&e.class, e.data_hash, e.data_bytes, e.records, e.delta)
        {
            return unknown("a segment name was reused for other data");
        }
        if last_shared.is_some_and(|l| l >= j) {
            return unknown("shared segments were reordered");
        }
        last_shared = Some(j);
        shared_in_old[j] = true;
    }
    let old_only: Vec<usize> = (0..old.entries.len())
        .filter(|&j| !shared_in_old[j])
        .collect();
    // A plain publication appends deltas and tombstones: only the new tombstones count.
    let appended = old_only.is_empty()
        && new.entries.starts_with(&old.entries)
        && new.tombstones.starts_with(&old.tombstones);
    let tombstones: Vec<_> = if appended {
        new.tombstones[old.tombstones.len()..].iter().collect()
    } else {
        old.tombstones.iter().chain(&new.tombstones).collect()
    };
    let records: u64 = new_only
        .iter()
        .map(|&i| u64::from(new.entries[i].records))
        .chain(old_only.iter().map(|&j| u64::from(old.entries[j].records)))
        .sum::<u64>()
        + tombstones.len() as u64;
    if records > MAX_CANDIDATE_RECORDS {
        return unknown("too many records differ");
    }
    // Candidate keys (class, exact key).
    let mut candidates: Vec<(u16, Vec<u8>)> = Vec::new();
    for (g, segs) in [(new, &new_only), (old, &old_only)] {
        for &i in segs.iter() {
            let seg = &g.segments[i];
            let class = g.schema.class_by_id(seg.class());
            let pk = class.pk();
            for rec in 0..seg.record_count() {
                if let Some(v) = seg.record(rec).first_raw(pk.id) {
                    let k = key::exact_key(pk.ty, &String::from_utf8_lossy(v));
                    candidates.push((class.id, k.into_bytes()));
                }
            }
        }
    }
    for t in tombstones {
        let Some(c) = new.schema.class(&t.class) else {
            return unknown("a tombstone of an unknown class");
        };
        candidates.push((c.id, t.key.as_bytes().to_vec()));
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut hashes = Vec::with_capacity(candidates.len() * 4);
    for (class, k) in &candidates {
        hashes.push(dep_hash(DepKind::Record, *class, k));
        for g in [old, new] {
            if let Some(r) = g.find_key(*class, k).filter(|&r| g.is_live(r)) {
                record_dependencies(g, r, &mut hashes);
            }
        }
    }
    Diff::Changed(ChangedKeys::from_hashes(hashes))
}

/// Everything a live record `r` of `g` is part of: every spelling of its primary key, and
/// for each reference it holds to a class with a `LINKED` attribute, the referred key.
fn record_dependencies(g: &Generation, r: RecordRef, hashes: &mut Vec<u64>) {
    let class = g.class_of(r);
    let rec = g.record(r);
    let pk = class.pk();
    if let Some(v) = rec.first_raw(pk.id) {
        let v = String::from_utf8_lossy(v);
        hashes.push(dep_hash(
            DepKind::Record,
            class.id,
            key::exact_key(pk.ty, &v).as_bytes(),
        ));
        key::for_each_key(pk.ty, &v, |k| {
            hashes.push(dep_hash(DepKind::Record, class.id, k));
        });
    }
    let mut fields = Vec::new();
    rec.sorted_raw(&mut fields);
    for (id, v) in fields {
        let Some(a) = class.attrs.get(usize::from(id)) else {
            continue;
        };
        let Some(target) = a.references.as_deref().and_then(|t| g.schema.class(t)) else {
            continue;
        };
        if !target.attrs.iter().any(|t| t.ty == AttrType::Linked) {
            continue;
        }
        key::for_each_key(a.ty, &String::from_utf8_lossy(v), |k| {
            hashes.push(dep_hash(DepKind::Linked, target.id, k));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Action, Change, ChangeFile};
    use crate::delta::{publish_changes, record_version};
    use std::path::Path;

    fn sample() -> (tempfile::TempDir, Generation) {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample");
        crate::compile(
            &src,
            dir.path(),
            &crate::CompileOptions::default(),
            &|_, _| {},
        )
        .unwrap();
        let g = Generation::open(dir.path()).unwrap();
        (dir, g)
    }

    fn has(set: &ChangedKeys, g: &Generation, kind: DepKind, class: &str, key: &str) -> bool {
        set.contains(dep_hash(
            kind,
            g.schema.class(class).unwrap().id,
            key.as_bytes(),
        ))
    }

    /// Publishes `changes` as change file `seq` and opens the result.
    fn publish(db: &Path, g: &Generation, seq: u64, changes: Vec<Change>) -> Generation {
        let f = ChangeFile {
            sequence: seq,
            origin: "test".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes,
        };
        let r = publish_changes(db, Some(g), &[f], 3).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        Generation::open_reusing(db, Some(g)).unwrap()
    }

    #[test]
    fn a_delta_changes_its_keys_and_what_they_refer_to() {
        let (dir, g1) = sample();
        let domain = g1.schema.class("domain").unwrap().id;
        let r = g1.find(domain, "poptel.coop").unwrap();
        let text = g1.record(r).text().replace("CNT-1014", "CNT-1002");
        let put = Change {
            action: Action::Put,
            class: "domain".into(),
            key: "poptel.coop".into(),
            base: Some(record_version(&g1, r)),
            record: text,
        };
        let g2 = publish(dir.path(), &g1, 1, vec![put]);
        let Diff::Changed(set) = between(&g1, &g2) else {
            panic!("a delta is a known change");
        };
        assert!(has(&set, &g2, DepKind::Record, "domain", "poptel.coop"));
        // The billing contact it dropped and the one it took: their "associated" state.
        assert!(has(&set, &g2, DepKind::Linked, "contact", "cnt-1014"));
        assert!(has(&set, &g2, DepKind::Linked, "contact", "cnt-1002"));
        assert!(!has(&set, &g2, DepKind::Record, "domain", "test.coop"));
        assert!(!has(&set, &g2, DepKind::Record, "contact", "cnt-1002"));

        // A delete: a tombstone.
        let r = g2.find(domain, "popdot.coop").unwrap();
        let del = Change {
            action: Action::Delete,
            class: "domain".into(),
            key: "popdot.coop".into(),
            base: Some(record_version(&g2, r)),
            record: String::new(),
        };
        let g3 = publish(dir.path(), &g2, 2, vec![del]);
        let Diff::Changed(set) = between(&g2, &g3) else {
            panic!("a tombstone is a known change");
        };
        assert!(has(&set, &g3, DepKind::Record, "domain", "popdot.coop"));
        assert!(!has(&set, &g3, DepKind::Record, "domain", "poptel.coop"));

        // Two steps at once, and a merge: known, and they name the keys.
        let Diff::Changed(set) = between(&g1, &g3) else {
            panic!("two deltas are a known change");
        };
        assert!(has(&set, &g3, DepKind::Record, "domain", "poptel.coop"));
        assert!(has(&set, &g3, DepKind::Record, "domain", "popdot.coop"));
        crate::compact::compact(dir.path(), None, crate::compact::Kind::Merge, 3)
            .unwrap()
            .unwrap();
        let g4 = Generation::open_reusing(dir.path(), Some(&g3)).unwrap();
        let Diff::Changed(set) = between(&g3, &g4) else {
            panic!("a merge rewrites only deltas");
        };
        assert!(has(&set, &g4, DepKind::Record, "domain", "poptel.coop"));
        assert!(!has(&set, &g4, DepKind::Record, "domain", "test.coop"));

        // Backwards, or the same generation: not known.
        assert!(matches!(between(&g4, &g1), Diff::Unknown(_)));
        assert!(matches!(between(&g4, &g4), Diff::Unknown(_)));
    }

    #[test]
    fn a_recompiled_generation_is_compared_by_its_segments() {
        let (dir, g1) = sample();
        // The same sources compiled again: every segment reused, nothing changed.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample");
        crate::compile(
            &src,
            dir.path(),
            &crate::CompileOptions::default(),
            &|_, _| {},
        )
        .unwrap();
        let g2 = Generation::open_reusing(dir.path(), Some(&g1)).unwrap();
        match between(&g1, &g2) {
            Diff::Changed(set) => assert!(set.is_empty(), "{set:?}"),
            Diff::Unknown(why) => panic!("{why}"),
        }
    }
}
