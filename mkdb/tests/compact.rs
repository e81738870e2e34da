//! Compaction against an oracle: random sequences of puts and deletes published as deltas,
//! with merges and folds at random points (some built from a snapshot while more deltas
//! are published, as `loader watch` does), checked after every step against a `BTreeMap`
//! of the records expected: exact, prefix, suffix and inverse queries, record counts, and,
//! after each fold, the source tree itself (compiled from scratch into another database).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, canonical, version_of};
use mkdb::compact::{self, Kind, Outcome};
use mkdb::delta::publish_changes;
use mkdb::query;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

const REGISTRAR: &str = "Registrar-ID: REG-1\nRegistrar-Name: Sample\nRegistrar-Status: ok\n\
    City: X\nCountry-Code: GB\nEmail: a@b.example\nCreated-Date: 2001-05-05T00:00:00Z\n";
const CONTACTS: [&str; 3] = ["C-1", "C-2", "C-3"];
const HOSTS: [&str; 2] = ["ns1.host.coop", "ns2.host.coop"];
const STATUSES: [&str; 3] = ["ok", "clientHold", "serverHold"];

/// Domain names: every string of 1 to 4 letters over {a, b}, so prefixes and suffixes
/// collide often.
fn names() -> Vec<String> {
    let mut out = Vec::new();
    for len in 1..=4u32 {
        for bits in 0..(1u32 << len) {
            let s: String = (0..len)
                .map(|i| if bits >> i & 1 == 1 { 'b' } else { 'a' })
                .collect();
            out.push(format!("{s}.coop"));
        }
    }
    out
}

fn domain(name: &str, registrant: usize, ns: usize, status: usize) -> String {
    format!(
        "Domain-ID: D1-COOP\nDomain-Name: {name}\nSponsoring-Registrar: REG-1\n\
         Domain-Status: {}\nRegistrant-ID: {}\nName-Server: {}\n\
         Created-Date: 2001-05-05T00:00:00Z\nExpiry-Date: 2001-05-05T00:00:00Z\n",
        STATUSES[status % 3],
        CONTACTS[registrant % 3],
        HOSTS[ns % 2]
    )
}

/// Writes the source tree: the shipped schemas, one registrar, the contacts and hosts, and
/// the initial domains over two files (with a comment, as operators write them).
fn write_tree(src: &Path, initial: &BTreeMap<String, String>) {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    fs::create_dir_all(src.join("schema")).unwrap();
    for c in ["contact", "domain", "nameserver", "registrar"] {
        let name = format!("{c}.schema");
        fs::copy(schemas.join(&name), src.join("schema").join(&name)).unwrap();
        fs::create_dir_all(src.join("data").join(c)).unwrap();
    }
    fs::write(src.join("data/registrar/r.txt"), REGISTRAR).unwrap();
    let contacts: String = CONTACTS
        .iter()
        .map(|id| {
            format!(
                "Contact-ID: {id}\nContact-ROID: C1-COOP\nName: A\nCity: X\nCountry-Code: GB\n\
                 Email: a@b.example\nContact-Status: ok\nSponsoring-Registrar: REG-1\n\
                 Created-Date: 2001-05-05T00:00:00Z\n---\n"
            )
        })
        .collect();
    fs::write(src.join("data/contact/c.txt"), contacts).unwrap();
    let hosts: String = HOSTS
        .iter()
        .map(|h| {
            format!(
                "Host-ID: H1-COOP\nHost-Name: {h}\nHost-Status: ok\nIP-Address: 192.0.2.1\n\
                 Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n---\n"
            )
        })
        .collect();
    fs::write(src.join("data/nameserver/h.txt"), hosts).unwrap();
    let mut files = [
        String::from("# domains, first half\n"),
        String::from("# domains, second half\n"),
    ];
    for (i, text) in initial.values().enumerate() {
        files[i % 2].push_str(text);
        files[i % 2].push_str("---\n");
    }
    fs::write(src.join("data/domain/a.txt"), &files[0]).unwrap();
    fs::write(src.join("data/domain/b.txt"), &files[1]).unwrap();
}

fn compile(src: &Path, db: &Path) -> mkdb::CompileReport {
    let opts = mkdb::CompileOptions {
        threads: 1,
        keep_generations: 2,
        ..Default::default()
    };
    match mkdb::compile(src, db, &opts, &|_, _| {}) {
        Ok(r) => r,
        Err(mkdb::CompileError::Source(e)) => panic!("compile: {e:?}"),
        Err(e) => panic!("compile: {e}"),
    }
}

/// Names of the domains a query returns.
fn hits(g: &Generation, q: &str) -> BTreeSet<String> {
    let parsed = query::parse(&g.schema, q).unwrap();
    let class = g.schema.class_by_id(parsed.class);
    g.execute(&parsed, 10_000)
        .unwrap()
        .records
        .iter()
        .map(|&r| g.record(r).first(class.primary_key).unwrap().to_owned())
        .collect()
}

/// Every domain record of a generation, by name, as canonical text.
fn all_domains(g: &Generation) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in names() {
        let c = g.schema.class("domain").unwrap();
        if let Some(r) = g.find(c.id, &n) {
            let mut text = String::new();
            mkdb::record::for_each_record(g.record(r).text(), |rec| {
                text = canonical(rec);
                Ok::<_, mkdb::record::SyntaxError>(())
            })
            .unwrap();
            out.insert(n, text);
        }
    }
    out
}

/// Checks every kind of query against the oracle.
fn check(g: &Generation, oracle: &BTreeMap<String, String>, when: &str) {
    let domain = g.schema.class("domain").unwrap().id;
    assert_eq!(g.record_count(domain), oracle.len() as u64, "{when}: count");
    assert_eq!(&all_domains(g), oracle, "{when}: exact lookups");
    let expect = |f: &dyn Fn(&str, &str) -> bool| -> BTreeSet<String> {
        oracle
            .iter()
            .filter(|(n, t)| f(n, t))
            .map(|(n, _)| n.clone())
            .collect()
    };
    for n in names() {
        let q = format!("domain {n}");
        assert_eq!(
            hits(g, &q),
            expect(&|m, _| m == n),
            "{when}: {q} (generation {})",
            g.number
        );
    }
    for p in ["a", "b", "ab", "ba", "bab", "aaaa"] {
        let q = format!("domain {p}*");
        assert_eq!(hits(g, &q), expect(&|n, _| n.starts_with(p)), "{when}: {q}");
        let q = format!("domain *{p}.coop");
        assert_eq!(
            hits(g, &q),
            expect(&|n, _| n.ends_with(&format!("{p}.coop"))),
            "{when}: {q}"
        );
    }
    for c in CONTACTS {
        let q = format!("domain registrant-id={c}");
        let line = format!("Registrant-ID: {c}\n");
        assert_eq!(
            hits(g, &q),
            expect(&|_, t| t.contains(&line)),
            "{when}: {q}"
        );
    }
    for h in HOSTS {
        let q = format!("domain ns={h}");
        let line = format!("Name-Server: {h}\n");
        assert_eq!(
            hits(g, &q),
            expect(&|_, t| t.contains(&line)),
            "{when}: {q}"
        );
    }
    for s in STATUSES {
        let q = format!("domain status={s}");
        let line = format!("Domain-Status: {s}\n");
        assert_eq!(
            hits(g, &q),
            expect(&|_, t| t.contains(&line)),
            "{when}: {q}"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Put a record for name `n` (create or replace).
    Put(usize, usize, usize, usize),
    /// Delete name `n` if it exists.
    Delete(usize),
    /// Compact; `interleave` more changes are published between the snapshot and the
    /// compaction's publication.
    Compact { fold: bool, interleave: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..30usize, 0..3usize, 0..2usize, 0..3usize).prop_map(|(n, r, h, s)| Op::Put(n, r, h, s)),
        3 => (0..30usize).prop_map(Op::Delete),
        2 => (any::<bool>(), 0..3usize).prop_map(|(fold, interleave)| Op::Compact { fold, interleave }),
    ]
}

struct World {
    src: std::path::PathBuf,
    db: std::path::PathBuf,
    oracle: BTreeMap<String, String>,
    seq: u64,
}

impl World {
    /// Publishes one change as one change file (a delete of a missing record is skipped).
    fn apply(&mut self, op: &Op) {
        let names = names();
        let (change, next) = match *op {
            Op::Put(n, r, h, s) => {
                let name = &names[n];
                let text = domain(name, r, h, s);
                (
                    Change {
                        action: Action::Put,
                        class: "domain".into(),
                        key: name.clone(),
                        base: self.oracle.get(name).map(|t| version_of(t)),
                        record: text.clone(),
                    },
                    Some(text),
                )
            }
            Op::Delete(n) => {
                let name = &names[n];
                let Some(t) = self.oracle.get(name) else {
                    return;
                };
                (
                    Change {
                        action: Action::Delete,
                        class: "domain".into(),
                        key: name.clone(),
                        base: Some(version_of(t)),
                        record: String::new(),
                    },
                    None,
                )
            }
            Op::Compact { .. } => return,
        };
        self.seq += 1;
        let key = change.key.clone();
        let f = ChangeFile {
            sequence: self.seq,
            origin: "test".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes: vec![change],
        };
        let r = publish_changes(&self.db, None, &[f], 2).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        match next {
            Some(t) => self.oracle.insert(key, t),
            None => self.oracle.remove(&key),
        };
    }

    /// After a fold with nothing published meanwhile: the source tree compiled from
    /// scratch holds exactly the oracle's records.
    fn check_tree(&self, scratch: &Path) {
        let fresh = scratch.join(format!("fresh-{}", self.seq));
        compile(&self.src, &fresh);
        let g = Generation::open(&fresh).unwrap();
        assert_eq!(all_domains(&g), self.oracle, "the source tree after a fold");
        drop(g);
        fs::remove_dir_all(&fresh).unwrap();
    }
}

fn run(initial: Vec<(usize, usize, usize, usize)>, ops: &[Op]) {
    let tmp = tempfile::tempdir().unwrap();
    let names = names();
    let mut oracle = BTreeMap::new();
    for (n, r, h, s) in initial {
        oracle.insert(names[n].clone(), domain(&names[n], r, h, s));
    }
    let mut w = World {
        src: tmp.path().join("src"),
        db: tmp.path().join("db"),
        oracle,
        seq: 0,
    };
    write_tree(&w.src, &w.oracle);
    compile(&w.src, &w.db);
    check(&Generation::open(&w.db).unwrap(), &w.oracle, "compiled");
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        let Op::Compact { fold, interleave } = *op else {
            w.apply(op);
            check(
                &Generation::open(&w.db).unwrap(),
                &w.oracle,
                &format!("{op:?}"),
            );
            continue;
        };
        let kind = if fold { Kind::Fold } else { Kind::Merge };
        let snapshot = Generation::open(&w.db).unwrap();
        let Some(prepared) = compact::prepare(&w.db, Some(&w.src), &snapshot, kind).unwrap() else {
            assert!(!snapshot.has_deltas());
            continue;
        };
        // Changes published while the compaction is built stay on top of it.
        let mut between = 0;
        while between < interleave && i < ops.len() {
            if !matches!(ops[i], Op::Compact { .. }) {
                w.apply(&ops[i]);
                between += 1;
            }
            i += 1;
        }
        let before = Generation::open(&w.db).unwrap();
        let later = compact::delta_load(&before).segments - compact::delta_load(&snapshot).segments;
        let out = compact::publish(&w.db, Some(&w.src), prepared, None, 2).unwrap();
        let Outcome::Published { kept, .. } = out else {
            panic!("a compaction with nothing in its way was dropped");
        };
        assert!(kept.is_empty(), "{kept:?}");
        let g = Generation::open(&w.db).unwrap();
        let load = compact::delta_load(&g);
        match kind {
            Kind::Fold => assert_eq!(load.segments, later, "only the later deltas remain"),
            Kind::Merge => assert!(load.segments <= later + 1, "{load:?}"),
        }
        check(&g, &w.oracle, &format!("{op:?}"));
        if kind == Kind::Fold && !g.has_deltas() {
            w.check_tree(tmp.path());
        }
    }
    // Finally everything is folded: the tree says what the database serves, and a full
    // compile of it (refused while deltas remain) reuses every segment and changes nothing.
    if let Some(Outcome::Published { .. }) =
        compact::compact(&w.db, Some(&w.src), Kind::Fold, 2).unwrap()
    {
        w.check_tree(tmp.path());
    }
    let g = Generation::open(&w.db).unwrap();
    assert!(!g.has_deltas());
    drop(g);
    let r = compile(&w.src, &w.db);
    assert_eq!(
        r.reused, r.files,
        "a compile after the fold rebuilds nothing"
    );
    check(&Generation::open(&w.db).unwrap(), &w.oracle, "recompiled");
    // Retired segments were collected: only the kept generations' segments remain.
    let listed: BTreeSet<String> = (0..2)
        .filter_map(|back| {
            let n = mkdb::generation::current_number(&w.db).ok()? - back;
            let t = fs::read_to_string(mkdb::generation::generation_dir(&w.db, n).join("MANIFEST"))
                .ok()?;
            Some(mkdb::generation::Manifest::parse(&t).ok()?.segments)
        })
        .flatten()
        .map(|e| e.name)
        .collect();
    let on_disk: BTreeSet<String> = fs::read_dir(w.db.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk, listed,
        "segments no kept generation lists are removed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn deltas_and_compactions_agree_with_the_oracle(
        initial in prop::collection::vec((0..30usize, 0..3usize, 0..2usize, 0..3usize), 1..12),
        ops in prop::collection::vec(op(), 1..28),
    ) {
        run(initial, &ops);
    }
}

#[test]
fn a_fold_rewrites_records_in_place_and_keeps_the_operators_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, db) = (tmp.path().join("src"), tmp.path().join("db"));
    let names = names();
    let oracle: BTreeMap<String, String> = (0..6)
        .map(|i| (names[i].clone(), domain(&names[i], i, i, 0)))
        .collect();
    write_tree(&src, &oracle);
    compile(&src, &db);
    // Sorted names alternate between the files: a.txt holds a, ab, ba; b.txt aa, b, bb.
    let before_a = fs::read_to_string(src.join("data/domain/a.txt")).unwrap();
    let before_b = fs::read_to_string(src.join("data/domain/b.txt")).unwrap();
    let mut w = World {
        src: src.clone(),
        db: db.clone(),
        oracle,
        seq: 0,
    };
    w.apply(&Op::Put(2, 1, 1, 1)); // aa.coop in b.txt, replaced in place
    w.apply(&Op::Delete(0)); // a.coop, a.txt's first record, removed
    w.apply(&Op::Put(20, 0, 0, 0)); // new: appended to the class's last file
    let g = Generation::open(&db).unwrap();
    assert!(
        compact::prepare(&db, None, &g, Kind::Fold).is_err(),
        "a fold needs the tree"
    );
    drop(g);
    let out = compact::compact(&db, Some(&src), Kind::Fold, 2)
        .unwrap()
        .unwrap();
    let Outcome::Published { written, .. } = out else {
        panic!("dropped")
    };
    assert_eq!(written, vec!["data/domain/a.txt", "data/domain/b.txt"]);
    let after_a = fs::read_to_string(src.join("data/domain/a.txt")).unwrap();
    assert!(after_a.starts_with("# domains, first half\n"), "{after_a}");
    assert_eq!(
        after_a,
        before_a.replace(&format!("{}---\n", domain(&names[0], 0, 0, 0)), "")
    );
    let after_b = fs::read_to_string(src.join("data/domain/b.txt")).unwrap();
    assert_eq!(
        after_b,
        format!(
            "{}{}---\n",
            before_b.replace(&domain(&names[2], 2, 2, 0), &domain(&names[2], 1, 1, 1)),
            domain(&names[20], 0, 0, 0)
        )
    );
    w.check_tree(tmp.path());

    // A hand edit of a file the deltas touch: the fold refuses rather than overwrite it,
    // and a merge still works.
    w.apply(&Op::Put(2, 2, 0, 2));
    fs::write(
        src.join("data/domain/b.txt"),
        format!("{after_b}# an operator's note\n"),
    )
    .unwrap();
    let e = compact::compact(&db, Some(&src), Kind::Fold, 2).unwrap_err();
    assert!(e.to_string().contains("edited by hand"), "{e}");
    assert!(
        compact::compact(&db, Some(&src), Kind::Merge, 2)
            .unwrap()
            .is_some()
    );
    check(&Generation::open(&db).unwrap(), &w.oracle, "merged");
}

#[test]
fn an_interrupted_write_back_is_finished_and_a_compile_never_resurrects() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, db) = (tmp.path().join("src"), tmp.path().join("db"));
    let names = names();
    let oracle: BTreeMap<String, String> = (0..4)
        .map(|i| (names[i].clone(), domain(&names[i], i, i, 0)))
        .collect();
    write_tree(&src, &oracle);
    compile(&src, &db);
    let mut w = World {
        src: src.clone(),
        db: db.clone(),
        oracle,
        seq: 0,
    };
    w.apply(&Op::Delete(1));
    w.apply(&Op::Put(3, 2, 1, 2));
    let stale: Vec<(std::path::PathBuf, Vec<u8>)> = ["a.txt", "b.txt"]
        .iter()
        .map(|f| {
            let p = src.join("data/domain").join(f);
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    compact::compact(&db, Some(&src), Kind::Fold, 2)
        .unwrap()
        .unwrap();
    // As if killed after publishing and before writing the tree back.
    for (p, b) in &stale {
        fs::write(p, b).unwrap();
    }
    // The next compile writes the folded records back first, so nothing comes back.
    let r = compile(&src, &db);
    assert_eq!(r.reused, r.files);
    check(
        &Generation::open(&db).unwrap(),
        &w.oracle,
        "compiled after the repair",
    );
    w.check_tree(tmp.path());
}
