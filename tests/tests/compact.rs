//! Compaction in `loader watch` with the real binaries: deltas are merged and folded into
//! the base and the source tree while changes keep arriving and whoisd keeps answering
//! (no query fails), a loader killed with SIGKILL in the middle of compactions resumes
//! with every change applied exactly once, and afterwards the source tree compiles into
//! what was served.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use std::ffi::OsStr;

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Spool, Version, canonical, version_of};
use tests::{KillOnDrop, Registry, Whoisd, binary, loader_watch};

/// Starts `loader watch --src SRC EXTRA...` on the registry, appending its log to `log`.
fn start_loader(reg: &Registry, spool: &Path, log: &Path, extra: &[&str]) -> KillOnDrop {
    let mut args: Vec<&OsStr> = vec![OsStr::new("--src"), reg.src.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    loader_watch(&reg.db, spool, log, &args)
}

/// The canonical text of a live record.
fn text_of(g: &Generation, r: mkdb::RecordRef) -> String {
    let mut text = String::new();
    mkdb::record::for_each_record(g.record(r).text(), |rec| {
        text = canonical(rec);
        Ok::<_, mkdb::record::SyntaxError>(())
    })
    .unwrap();
    text
}

/// `n` domains of the registry: name -> (canonical text, version).
fn pool(db: &Path, n: usize) -> BTreeMap<String, (String, Version)> {
    let g = Generation::open(db).unwrap();
    let c = g.schema.class("domain").unwrap();
    let seg = g.by_class[usize::from(c.id)][0];
    (0..n as u32)
        .map(|rec| {
            let r = mkdb::RecordRef { seg, rec };
            let name = g.record(r).first(c.primary_key).unwrap().to_owned();
            let text = text_of(&g, r);
            let v = version_of(&text);
            (name, (text, v))
        })
        .collect()
}

fn flipped(text: &str, i: u64) -> String {
    let statuses = ["ok", "clientHold", "serverHold", "clientTransferProhibited"];
    text.lines()
        .map(|l| {
            if l.starts_with("Domain-Status:") {
                format!("Domain-Status: {}\n", statuses[(i % 4) as usize])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// The writer's side: chained puts over a pool (each based on the version the previous
/// change of the same record made: a change applied twice, or lost, is refused as a
/// conflict), and creations and deletions of extra domains.
struct Writer {
    spool: Spool,
    pool: BTreeMap<String, (String, Version)>,
    names: Vec<String>,
    template: String,
    /// Extra domains created and not yet deleted, with their versions.
    extra: BTreeMap<String, Version>,
    seq: u64,
}

impl Writer {
    fn new(spool: Spool, pool: BTreeMap<String, (String, Version)>) -> Writer {
        let names = pool.keys().cloned().collect();
        let template = pool.values().next().unwrap().0.clone();
        Writer {
            spool,
            pool,
            names,
            template,
            extra: BTreeMap::new(),
            seq: 0,
        }
    }

    fn append(&mut self, change: Change) {
        self.seq += 1;
        let f = ChangeFile {
            sequence: self.seq,
            origin: "test".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes: vec![change],
        };
        self.spool.append(&f).unwrap();
    }

    /// One more change file.
    fn next(&mut self) {
        let i = self.seq + 1;
        if i.is_multiple_of(7) {
            // Create an extra domain, or delete the oldest one.
            let name = format!("extra-{i}.coop");
            let first = self.names[0].clone();
            let record = self.template.replace(&first, &name);
            if i.is_multiple_of(2) || self.extra.is_empty() {
                self.extra.insert(name.clone(), version_of(&record));
                self.append(Change {
                    action: Action::Put,
                    class: "domain".into(),
                    key: name,
                    base: None,
                    record,
                });
            } else {
                let (name, v) = self.extra.pop_first().unwrap();
                self.append(Change {
                    action: Action::Delete,
                    class: "domain".into(),
                    key: name,
                    base: Some(v),
                    record: String::new(),
                });
            }
            return;
        }
        let name = self.names[(i as usize) % self.names.len()].clone();
        let (text, base) = self.pool[&name].clone();
        let record = flipped(&text, i);
        self.pool
            .insert(name.clone(), (record.clone(), version_of(&record)));
        self.append(Change {
            action: Action::Put,
            class: "domain".into(),
            key: name,
            base: Some(base),
            record,
        });
    }

    /// The database holds exactly what was written.
    fn check(&self, g: &Generation, when: &str) {
        let c = g.schema.class("domain").unwrap().id;
        for (name, (text, _)) in &self.pool {
            let r = g
                .find(c, name)
                .unwrap_or_else(|| panic!("{when}: {name} lost"));
            assert_eq!(&text_of(g, r), text, "{when}: {name}");
        }
        for name in self.extra.keys() {
            assert!(g.find(c, name).is_some(), "{when}: {name} not created");
        }
        let deleted = (1..=self.seq)
            .filter(|i| i.is_multiple_of(7))
            .map(|i| format!("extra-{i}.coop"))
            .filter(|n| !self.extra.contains_key(n));
        for name in deleted {
            assert!(g.find(c, &name).is_none(), "{when}: {name} not deleted");
            let q = mkdb::query::parse(&g.schema, &format!("domain {}*", &name[..9])).unwrap();
            let hits = g.execute(&q, 1000).unwrap();
            assert!(
                hits.records
                    .iter()
                    .all(|&r| g.record(r).first(g.schema.class_by_id(c).primary_key)
                        != Some(name.as_str())),
                "{when}: {name} still found by prefix"
            );
        }
    }
}

fn wait_applied(reg: &Registry, last: u64, log: &Path, timeout: Duration) {
    let t = Instant::now();
    while mkdb::generation::current_manifest(&reg.db)
        .ok()
        .flatten()
        .is_none_or(|m| m.applied < last)
    {
        if t.elapsed() > timeout {
            panic!(
                "timed out waiting for change {last}; loader log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn no_refusals(reg: &Registry, log: &Path) {
    let rejected = reg.dir.path().join("rejected");
    let refused: Vec<_> = std::fs::read_dir(&rejected)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        refused.is_empty(),
        "refused (applied twice or lost?): {refused:?}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Folds what is left with `loader watch --once --fold-now`, then `loader compile`s the
/// source tree: it must rebuild nothing and serve what the writer wrote.
fn fold_and_compile(reg: &Registry, spool: &Path, w: &Writer) {
    let out = Command::new(binary("loader"))
        .args(["watch", "--once", "--fold-now", "--changes"])
        .arg(spool)
        .arg("--src")
        .arg(&reg.src)
        .arg(&reg.db)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let g = Generation::open(&reg.db).unwrap();
    assert!(!g.has_deltas(), "{err}");
    w.check(&g, "folded");
    drop(g);
    let out = Command::new(binary("loader"))
        .arg("compile")
        .arg(&reg.src)
        .arg(&reg.db)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "(N files, N reused, ...)": every segment reused, the tree is what was folded.
    let counts: Vec<u64> = said
        .split_once('(')
        .map(|(_, r)| r)
        .unwrap_or_default()
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .take(2)
        .collect();
    assert!(counts.len() == 2 && counts[0] == counts[1], "{said}");
    w.check(&Generation::open(&reg.db).unwrap(), "recompiled");
    // And from scratch, into another database.
    let fresh = reg.dir.path().join("fresh");
    let opts = mkdb::CompileOptions {
        threads: 1,
        ..Default::default()
    };
    mkdb::compile(&reg.src, &fresh, &opts, &|_, _| {}).unwrap();
    w.check(&Generation::open(&fresh).unwrap(), "compiled from scratch");
}

#[test]
fn compaction_while_changes_arrive_and_whois_answers() {
    let reg = Registry::new(300);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let log = reg.dir.path().join("loader.log");
    let whoisd = Arc::new(Whoisd::start(
        &reg.db,
        &["--reload-interval", "10ms", "--no-rwhois"],
    ));
    let mut w = Writer::new(spool, pool(&reg.db, 24));
    let _loader = start_loader(
        &reg,
        &spool_dir,
        &log,
        &["--compact-after", "2", "--fold-after-records", "40"],
    );
    // Queries all along: every pool domain always exists, and test.coop is never touched.
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let names = w.names.clone();
    let querier = {
        let (stop, asked, failed, whoisd) = (
            Arc::clone(&stop),
            Arc::clone(&asked),
            Arc::clone(&failed),
            Arc::clone(&whoisd),
        );
        thread::spawn(move || {
            let mut i = 0;
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let q = if i % 3 == 0 {
                    "test.coop".to_owned()
                } else {
                    names[i % names.len()].clone()
                };
                let a = whoisd.query(&q);
                asked.fetch_add(1, Ordering::Relaxed);
                if !a.contains("Domain Status:") {
                    failed.fetch_add(1, Ordering::Relaxed);
                    bad.push((q, a));
                }
                i += 1;
            }
            bad
        })
    };
    for _ in 0..400 {
        w.next();
        thread::sleep(Duration::from_millis(5));
    }
    wait_applied(&reg, w.seq, &log, Duration::from_secs(60));
    // Let whoisd catch up, then stop querying.
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let bad = querier.join().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        bad.is_empty(),
        "failed answers: {:?}",
        &bad[..bad.len().min(3)]
    );
    assert!(asked.load(Ordering::Relaxed) > 100, "{asked:?}");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    let merges = text.matches("compaction (Merge) of generation").count();
    let folds = text.matches("compaction (Fold) of generation").count();
    // Which kind runs depends on how changes fall into batches; folds (the kind that
    // rewrites base segments and the tree) must have happened while changes arrived.
    assert!(
        folds >= 1 && merges + folds >= 2,
        "merges {merges}, folds {folds}:\n{text}"
    );
    assert!(
        text.contains("source tree: wrote the folded records"),
        "{text}"
    );
    no_refusals(&reg, &log);
    w.check(&Generation::open(&reg.db).unwrap(), "after the stream");
    // whoisd serves the last version too.
    let (name, (text, _)) = w.pool.iter().next().unwrap();
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix("Domain-Status: "))
        .unwrap();
    assert!(
        whoisd
            .query(name)
            .contains(&format!("Domain Status: {status}\r\n"))
    );
    drop(_loader);
    fold_and_compile(&reg, &spool_dir, &w);
}

#[test]
fn kill_9_during_compaction_loses_and_repeats_nothing() {
    let reg = Registry::new(3000);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let log = reg.dir.path().join("loader.log");
    let mut w = Writer::new(spool, pool(&reg.db, 40));
    let args = ["--compact-after", "2", "--fold-after-records", "12"];
    // Compactions under way, from the log: started minus ended.
    let open = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let s = text
            .lines()
            .filter(|l| l.contains("started: DeltaLoad"))
            .count();
        let e = text
            .lines()
            .filter(|l| {
                l.contains("compaction (")
                    && !l.contains("started: DeltaLoad")
                    && (l.contains("published generation")
                        || l.contains("dropped")
                        || l.contains("not done")
                        || l.contains("not published")
                        || l.contains("failed"))
            })
            .count();
        s.saturating_sub(e)
    };
    let mut kills = 0;
    let t = Instant::now();
    while kills < 4 && t.elapsed() < Duration::from_secs(90) {
        let before = open();
        let mut loader = start_loader(&reg, &spool_dir, &log, &args);
        // Changes keep coming until a compaction is under way, then SIGKILL.
        let started = Instant::now();
        let mut caught = false;
        while started.elapsed() < Duration::from_secs(10) {
            w.next();
            thread::sleep(Duration::from_millis(2));
            if open() > before {
                caught = true;
                break;
            }
        }
        loader.kill();
        kills += usize::from(caught);
        // A valid generation is served, whatever was interrupted.
        let g = Generation::open(&reg.db).expect("the served generation opens after kill -9");
        drop(g);
    }
    assert!(kills >= 1, "never caught a compaction under way");
    let _loader = start_loader(&reg, &spool_dir, &log, &args);
    for _ in 0..20 {
        w.next();
    }
    wait_applied(&reg, w.seq, &log, Duration::from_secs(60));
    drop(_loader);
    no_refusals(&reg, &log);
    w.check(&Generation::open(&reg.db).unwrap(), "after the kills");
    fold_and_compile(&reg, &spool_dir, &w);
}
