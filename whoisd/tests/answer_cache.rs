//! The answer cache across generation switches, against a simple oracle: random sequences
//! of publications (domains, contacts and hosts put, updated and deleted; a host renamed;
//! names created that were cached as "no match"; merges and folds) interleaved with
//! queries. The worker side follows the real `LiveDb` (its watcher's diff, its history),
//! sometimes only every few switches; after each step every query answered through the
//! cache must be byte for byte (and stats for stats) what a fresh rendering on the same
//! generation gives.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile};
use mkdb::compact::{self, Kind};
use mkdb::delta::{publish_changes, record_version};
use mkdb::render::{AnswerOptions, render_answer_stats};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use whoisd::cache::AnswerCache;
use whoisd::live::LiveDb;

const NAMES: [&str; 8] = [
    "a.coop", "b.coop", "ab.coop", "ba.coop", "abc.coop", "new.coop", "x.coop", "xy.coop",
];
const CONTACTS: [&str; 4] = ["C-1", "C-2", "C-3", "C-4"];
const HOSTS: [&str; 3] = ["ns1.host.coop", "ns2.host.coop", "ns3.host.coop"];

fn domain(name: &str, registrant: usize, ns: usize, status: usize) -> String {
    format!(
        "Domain-ID: D1-COOP\nDomain-Name: {name}\nSponsoring-Registrar: REG-1\n\
         Domain-Status: {}\nRegistrant-ID: {}\nAdmin-ID: C-1\nName-Server: {}\n\
         Created-Date: 2001-05-05T00:00:00Z\nExpiry-Date: 2001-05-05T00:00:00Z\n",
        ["ok", "clientHold", "serverHold"][status % 3],
        CONTACTS[registrant % CONTACTS.len()],
        HOSTS[ns % HOSTS.len()]
    )
}

fn contact(id: &str, name: usize) -> String {
    format!(
        "Contact-ID: {id}\nContact-ROID: C1-COOP\nName: Person {name}\nCity: X\n\
         Country-Code: GB\nEmail: a@b.example\nContact-Status: ok\n\
         Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n"
    )
}

fn host(name: &str, ip: usize) -> String {
    format!(
        "Host-ID: H1-COOP\nHost-Name: {name}\nHost-Status: ok\nIP-Address: 192.0.2.{}\n\
         Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n",
        ip % 200 + 1
    )
}

fn write_tree(src: &Path) {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mkdb/schemas");
    fs::create_dir_all(src.join("schema")).unwrap();
    for c in ["contact", "domain", "nameserver", "registrar"] {
        let name = format!("{c}.schema");
        fs::copy(schemas.join(&name), src.join("schema").join(&name)).unwrap();
        fs::create_dir_all(src.join("data").join(c)).unwrap();
    }
    fs::write(
        src.join("data/registrar/r.txt"),
        "Registrar-ID: REG-1\nRegistrar-Name: Sample\nRegistrar-Status: ok\nCity: X\n\
         Country-Code: GB\nEmail: a@b.example\nCreated-Date: 2001-05-05T00:00:00Z\n",
    )
    .unwrap();
    // C-4 is referenced by nothing at first (its "Currently Associated" is false).
    let contacts: String = CONTACTS.iter().map(|c| contact(c, 0) + "---\n").collect();
    fs::write(src.join("data/contact/c.txt"), contacts).unwrap();
    let hosts: String = HOSTS[..2].iter().map(|h| host(h, 0) + "---\n").collect();
    fs::write(src.join("data/nameserver/h.txt"), hosts).unwrap();
    let domains: String = NAMES[..4]
        .iter()
        .enumerate()
        .map(|(i, n)| domain(n, i % 3, i % 2, 0) + "---\n")
        .collect();
    fs::write(src.join("data/domain/d.txt"), domains).unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    /// Put a domain (create or update): name, registrant, host, status.
    PutDomain(usize, usize, usize, usize),
    DeleteDomain(usize),
    /// Put a contact (create or rename the person).
    PutContact(usize, usize),
    /// Delete a contact (refused while referenced: a publication that changes nothing).
    DeleteContact(usize),
    /// Put a host (create or change its address).
    PutHost(usize, usize),
    /// Rename host `from` to `to` in one transaction: create `to`, move every domain of
    /// `from` to it, delete `from`.
    RenameHost(usize, usize),
    Compact(bool),
    /// The worker takes the switches published since it last looked.
    Switch,
    /// Every query, through the cache and fresh.
    Query,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NAMES.len(), 0..4usize, 0..3usize, 0..3usize)
            .prop_map(|(n, r, h, s)| Op::PutDomain(n, r, h, s)),
        2 => (0..NAMES.len()).prop_map(Op::DeleteDomain),
        2 => (0..CONTACTS.len(), 0..3usize).prop_map(|(c, n)| Op::PutContact(c, n)),
        1 => (0..CONTACTS.len()).prop_map(Op::DeleteContact),
        2 => (0..HOSTS.len(), 0..3usize).prop_map(|(h, ip)| Op::PutHost(h, ip)),
        1 => (0..HOSTS.len(), 0..HOSTS.len()).prop_map(|(a, b)| Op::RenameHost(a, b)),
        1 => any::<bool>().prop_map(Op::Compact),
        3 => Just(Op::Switch),
        4 => Just(Op::Query),
    ]
}

fn queries() -> Vec<String> {
    let mut q = Vec::new();
    for n in NAMES {
        q.push(n.to_string());
        q.push(format!("domain {}", n.to_uppercase()));
    }
    for c in CONTACTS {
        q.push(format!("contact {c}"));
    }
    for h in HOSTS {
        q.push(format!("nameserver {h}"));
    }
    q.extend(
        [
            "a*",
            "*b.coop",
            "domain registrant-id=C-2",
            "domain ns=ns3.host.coop",
            "a* or x*",
            "contact *",
            "registrar REG-1",
            "*a*b*",
        ]
        .map(String::from),
    );
    q
}

struct World {
    src: PathBuf,
    db: PathBuf,
    live: Arc<LiveDb>,
    seq: u64,
    /// The worker's generation and version, and its cache.
    serving: (Arc<Generation>, u64),
    cache: AnswerCache,
}

impl World {
    /// The compiled database `db` (from the tree `src`) served live, the worker on its
    /// current generation, an empty 1 MiB cache, no change published yet.
    fn open(src: PathBuf, db: PathBuf) -> World {
        let live = LiveDb::open(&db).unwrap();
        let serving = live.current();
        World {
            src,
            db,
            live,
            seq: 0,
            serving,
            cache: AnswerCache::new(1 << 20),
        }
    }

    fn change(&self, action: Action, class: &str, key: &str, record: String) -> Change {
        let g = self.live.current().0;
        let c = g.schema.class(class).unwrap();
        Change {
            action,
            class: class.into(),
            key: key.into(),
            base: g.find(c.id, key).map(|r| record_version(&g, r)),
            record,
        }
    }

    /// Publishes one change file (refusals are fine: they publish nothing new) and lets
    /// the watcher switch.
    fn publish(&mut self, changes: Vec<Change>) {
        self.seq += 1;
        let f = ChangeFile {
            sequence: self.seq,
            origin: "test".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes,
        };
        publish_changes(&self.db, None, &[f], 3).unwrap();
        self.live.check().unwrap();
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::PutDomain(n, r, h, s) => {
                let c = self.change(Action::Put, "domain", NAMES[n], domain(NAMES[n], r, h, s));
                self.publish(vec![c]);
            }
            Op::DeleteDomain(n) => {
                let c = self.change(Action::Delete, "domain", NAMES[n], String::new());
                self.publish(vec![c]);
            }
            Op::PutContact(i, name) => {
                let c = self.change(
                    Action::Put,
                    "contact",
                    CONTACTS[i],
                    contact(CONTACTS[i], name),
                );
                self.publish(vec![c]);
            }
            Op::DeleteContact(i) => {
                let c = self.change(Action::Delete, "contact", CONTACTS[i], String::new());
                self.publish(vec![c]);
            }
            Op::PutHost(h, ip) => {
                let c = self.change(Action::Put, "nameserver", HOSTS[h], host(HOSTS[h], ip));
                self.publish(vec![c]);
            }
            Op::RenameHost(from, to) => {
                let g = self.live.current().0;
                let dom = g.schema.class("domain").unwrap().id;
                let ns = g.schema.class("nameserver").unwrap().id;
                if from == to || g.find(ns, HOSTS[from]).is_none() {
                    return;
                }
                let mut changes = Vec::new();
                if g.find(ns, HOSTS[to]).is_none() {
                    changes.push(self.change(
                        Action::Put,
                        "nameserver",
                        HOSTS[to],
                        host(HOSTS[to], 7),
                    ));
                }
                for n in NAMES {
                    let Some(r) = g.find(dom, n) else { continue };
                    let text = g.record(r).text().to_string();
                    let line = format!("Name-Server: {}\n", HOSTS[from]);
                    if text.contains(&line) {
                        let moved = text.replace(&line, &format!("Name-Server: {}\n", HOSTS[to]));
                        let moved = moved.trim_end_matches("---\n").to_string();
                        changes.push(self.change(Action::Put, "domain", n, moved));
                    }
                }
                changes.push(self.change(Action::Delete, "nameserver", HOSTS[from], String::new()));
                self.publish(changes);
            }
            Op::Compact(fold) => {
                let kind = if fold { Kind::Fold } else { Kind::Merge };
                compact::compact(&self.db, Some(&self.src), kind, 3).unwrap();
                self.live.check().unwrap();
            }
            Op::Switch => {
                let from = self.serving.1;
                self.serving = self.live.current();
                let changes = self.live.changes(from, self.serving.1);
                self.cache.switch(&self.serving.0, changes.as_deref());
            }
            Op::Query => self.check_queries(),
        }
    }

    /// Every query (twice, so the second is a hit) at two limits: the cached answer is the
    /// fresh one on the generation the worker serves.
    fn check_queries(&mut self) {
        let g = Arc::clone(&self.serving.0);
        for q in queries() {
            for limit in [1, 20] {
                for _ in 0..2 {
                    let mut cached = Vec::new();
                    let s = self.cache.answer(&g, &q, limit, &mut cached);
                    let mut fresh = Vec::new();
                    let opts = AnswerOptions {
                        limit,
                        banner: false,
                    };
                    let fs = render_answer_stats(&g, &q, opts, &mut fresh);
                    assert_eq!(
                        String::from_utf8_lossy(&cached),
                        String::from_utf8_lossy(&fresh),
                        "{q:?} limit {limit} on generation {}",
                        g.number
                    );
                    assert_eq!(s, fs, "{q:?}");
                }
            }
        }
    }
}

fn run(ops: &[Op]) -> (u64, u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let (src, db) = (tmp.path().join("src"), tmp.path().join("db"));
    write_tree(&src);
    let opts = mkdb::CompileOptions {
        threads: 1,
        keep_generations: 3,
        ..Default::default()
    };
    mkdb::compile(&src, &db, &opts, &|_, _| {}).unwrap();
    let mut w = World::open(src, db);
    w.check_queries();
    for op in ops {
        w.apply(op);
    }
    w.apply(&Op::Switch);
    w.check_queries();
    let c = w.cache.stats();
    (c.hits, c.misses, c.invalidated)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cached_answers_equal_fresh_ones_across_switches(ops in prop::collection::vec(op(), 1..30)) {
        run(&ops);
    }
}

/// The cases the brief names, in order: a cached domain whose joined contact changes, a
/// host renamed, a cached "no match" created, a compaction; answers kept where nothing
/// they read changed.
#[test]
fn named_cases_and_answers_kept() {
    let ops = [
        Op::Query,
        Op::PutContact(0, 2), // C-1: the admin of every domain
        Op::Switch,
        Op::Query,
        Op::RenameHost(0, 2),
        Op::Switch,
        Op::Query,
        Op::PutDomain(5, 3, 1, 0), // new.coop, cached as "no match"; C-4 becomes associated
        Op::Switch,
        Op::Query,
        Op::PutDomain(6, 1, 1, 0),
        Op::PutDomain(7, 1, 1, 0),
        Op::Compact(false),
        Op::Switch,
        Op::Query,
        Op::Compact(true),
        Op::Switch,
        Op::Query,
        Op::PutHost(1, 9),
        Op::Switch,
        Op::Query,
        Op::Query,
    ];
    let (hits, _, invalidated) = run(&ops);
    assert!(invalidated > 0, "changes dropped entries");
    assert!(hits > 0);
}

/// An answer that read nothing a switch changed stays cached: a switch that changes one
/// domain leaves the others' answers hits.
#[test]
fn unrelated_answers_survive_a_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, db) = (tmp.path().join("src"), tmp.path().join("db"));
    write_tree(&src);
    mkdb::compile(&src, &db, &mkdb::CompileOptions::default(), &|_, _| {}).unwrap();
    let mut w = World::open(src, db);
    let ask = |w: &mut World, q: &str| {
        let g = Arc::clone(&w.serving.0);
        w.cache.answer(&g, q, 20, &mut Vec::new());
    };
    ask(&mut w, "b.coop");
    ask(&mut w, "a.coop");
    w.apply(&Op::PutDomain(0, 0, 0, 1)); // a.coop changes
    w.apply(&Op::Switch);
    let before = w.cache.stats();
    ask(&mut w, "b.coop");
    let after = w.cache.stats();
    assert_eq!(after.hits, before.hits + 1, "b.coop kept");
    ask(&mut w, "a.coop");
    let last = w.cache.stats();
    assert_eq!(last.invalidated, after.invalidated + 1, "a.coop dropped");
    assert_eq!(last.misses, after.misses + 1);
    w.check_queries();
}
