//! `tools/replicate-generation`: generations of a primary database copied with rsync to a
//! replica's database directory that a whoisd serves under a continuous query loop. Every
//! query is answered across each switch; the replica answers the new data after it; a copy
//! killed halfway (rsync slowed down with `--bwlimit`, then the whole tool killed) and a
//! damaged copy (a staged file truncated, then `mkdb publish`) both leave the replica
//! serving its previous complete generation, and the next run completes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mkdb::change::{Action, Change, ChangeFile, Spool};
use tests::{Registry, Whoisd, binary, exchange};

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/replicate-generation")
}

fn replicate(src: &Path, dest: &Path, extra: &[&str]) -> Output {
    Command::new(tool())
        .env("MKDB", binary("mkdb"))
        .args(extra)
        .arg(src)
        .arg(dest)
        .output()
        .expect("run tools/replicate-generation (needs bash and rsync)")
}

fn current(db: &Path) -> u64 {
    mkdb::generation::current_number(db).unwrap()
}

/// Appends a change file (puts based on the live versions) and publishes it with
/// `loader watch --once`: a delta generation of the primary.
fn publish_change(reg: &Registry, changes: Vec<Change>) {
    let spool = Spool::open(&reg.dir.path().join("changes")).unwrap();
    let mut f = ChangeFile {
        sequence: 0,
        origin: "test".into(),
        time: mkdb::generation::rfc3339_now(),
        changes,
    };
    spool.append_next(&mut f).unwrap();
    let o = Command::new(binary("loader"))
        .args(["watch", "--once", "--changes"])
        .arg(spool.dir())
        .arg(&reg.db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let rejected = reg.dir.path().join("rejected");
    assert!(
        std::fs::read_dir(&rejected).map_or(true, |mut d| d.next().is_none()),
        "the loader refused the test's change: {o:?}"
    );
}

/// test.coop with `status`, based on the primary's live record.
fn status_change(db: &Path, status: &str) -> Change {
    let g = mkdb::Generation::open(db).unwrap();
    let c = g.schema.class("domain").unwrap();
    let r = g.find(c.id, "test.coop").unwrap();
    let mut text = String::new();
    mkdb::record::for_each_record(g.record(r).text(), |rec| {
        text = mkdb::change::canonical(rec);
        Ok::<_, mkdb::record::SyntaxError>(())
    })
    .unwrap();
    let record = text
        .lines()
        .map(|l| {
            if l.starts_with("Domain-Status:") {
                format!("Domain-Status: {status}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    Change {
        action: Action::Put,
        class: "domain".into(),
        key: "test.coop".into(),
        base: Some(mkdb::delta::record_version(&g, r)),
        record,
    }
}

/// `n` new domains (a delta segment of some size).
fn bulk(prefix: &str, n: usize) -> Vec<Change> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}-{i}.coop");
            Change {
                action: Action::Put,
                class: "domain".into(),
                key: name.clone(),
                base: None,
                record: format!(
                    "Domain-ID: {}-COOP\nDomain-Name: {name}\nSponsoring-Registrar: REG-42\n\
                     Domain-Status: ok\nRegistrant-ID: CNT-1002\nAdmin-ID: CNT-1003\n\
                     Tech-ID: CNT-1004\nBilling-ID: CNT-1005\nName-Server: dns0.nic.coop\n\
                     Name-Server: dns1.nic.coop\n\
                     Created-Date: 2026-11-23T00:00:00Z\nExpiry-Date: 2027-11-23T00:00:00Z\n",
                    9_000_000 + i + if prefix == "bulk" { 0 } else { 100_000 }
                ),
            }
        })
        .collect()
}

/// Queries test.coop on `whois` in a loop until stopped: (answered, failed, last failure).
struct QueryLoop {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl QueryLoop {
    fn start(whois: std::net::SocketAddr) -> QueryLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let (s, o) = (Arc::clone(&stop), Arc::clone(&ok));
        let handle = std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let a = exchange(whois, b"test.coop\r\n");
                if a.contains("Domain Name: test.coop") {
                    o.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(a);
                }
            }
            failures
        });
        QueryLoop { stop, ok, handle }
    }

    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.handle.join().unwrap();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

fn wait_for(whoisd: &Whoisd, q: &str, want: &str) {
    let t0 = Instant::now();
    loop {
        let a = whoisd.query(q);
        if a.contains(want) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the replica never answered {want:?} for {q}:\n{a}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn generations_replicate_atomically_and_interrupted_copies_change_nothing() {
    let reg = Registry::new(300);
    let replica = reg.dir.path().join("replica").join("db");

    // The first copy: the replica is created.
    let o = replicate(&reg.db, &replica, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&replica), current(&reg.db));
    let whoisd = Whoisd::start(&replica, &["--no-rwhois", "--reload-interval", "10ms"]);
    let queries = QueryLoop::start(whoisd.whois);

    // A delta generation: copied, switched, answered.
    publish_change(&reg, vec![status_change(&reg.db, "clientHold")]);
    let o = replicate(&reg.db, &replica, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&replica), current(&reg.db));
    wait_for(&whoisd, "test.coop", "Domain Status: clientHold");
    let before = current(&replica);

    // A big delta (2,000 new domains), copied at 100 KiB/s and killed halfway: the replica
    // still serves the previous generation.
    publish_change(&reg, bulk("bulk", 2000));
    let mut slow = Command::new(tool())
        .env("MKDB", binary("mkdb"))
        .args(["--bwlimit", "100"])
        .arg(&reg.db)
        .arg(&replica)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let stage = replica.join(".replica-incoming/segments");
    let t0 = Instant::now();
    // Until rsync has started writing the new segment (one the replica lacks; the others
    // are hard-linked at once).
    let new_segment_begun = || {
        std::fs::read_dir(&stage).is_ok_and(|d| {
            d.flatten()
                .any(|e| !replica.join("segments").join(e.file_name()).exists())
        })
    };
    while !new_segment_begun() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the copy never began"
        );
        assert!(
            slow.try_wait().unwrap().is_none(),
            "the slow copy ended early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        slow.try_wait().unwrap().is_none(),
        "the slow copy finished before it could be interrupted"
    );
    // The tool and its rsync (its own process group).
    let pgid = rustix::process::Pid::from_raw(slow.id() as i32).unwrap();
    rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL).unwrap();
    let _ = slow.wait();
    assert_eq!(
        current(&replica),
        before,
        "an interrupted copy was published"
    );
    assert!(
        !whoisd
            .query("bulk-7.coop")
            .contains("Domain Name: bulk-7.coop")
    );
    let status = Command::new(binary("mkdb"))
        .arg("query")
        .arg(&replica)
        .arg("test.coop")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the replica does not answer after the interruption"
    );
    // Run again: rsync resumes, the switch happens.
    let o = replicate(&reg.db, &replica, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&replica), current(&reg.db));
    wait_for(&whoisd, "bulk-1999.coop", "Domain Name: bulk-1999.coop");

    // A damaged copy (a staged segment file truncated as a partial copy would leave it):
    // `mkdb publish` verifies before it switches, refuses, and the next copy repairs it.
    publish_change(&reg, bulk("more", 50));
    let before = current(&replica);
    let o = replicate(&reg.db, &replica, &["--mkdb", "/bin/true"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&replica), before, "/bin/true published");
    let seg = std::fs::read_dir(&stage)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            !replica
                .join("segments")
                .join(p.file_name().unwrap())
                .exists()
        })
        .expect("the new segment in the staging directory");
    let data = seg.join("data.txt");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let newest = current(&reg.db);
    let o = Command::new(binary("mkdb"))
        .args(["publish", "--generation", &newest.to_string()])
        .arg(replica.join(".replica-incoming"))
        .arg(&replica)
        .output()
        .unwrap();
    assert!(!o.status.success(), "a damaged copy was published: {o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not verify"),
        "{o:?}"
    );
    assert_eq!(current(&replica), before);
    assert!(
        !whoisd
            .query("more-3.coop")
            .contains("Domain Name: more-3.coop")
    );
    let o = replicate(&reg.db, &replica, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&replica), newest);
    wait_for(&whoisd, "more-49.coop", "Domain Name: more-49.coop");
    assert!(!replica.join(".replica-incoming").exists());

    // To another host: `HOST:DIR` goes through the remote shell (here one that runs the
    // command on this host, as ssh would run it on the other).
    let rsh = reg.dir.path().join("fake-ssh");
    std::fs::write(&rsh, "#!/bin/bash\nshift\nexec bash -c \"$*\"\n").unwrap();
    std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let remote = reg.dir.path().join("other host").join("db");
    let o = replicate(
        &reg.db,
        Path::new(&format!("replica.example:{}", remote.display())),
        &["--rsh", rsh.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(current(&remote), newest);
    assert_eq!(
        mkdb::Generation::open(&remote).unwrap().number,
        newest,
        "the remote replica does not open"
    );

    // Not one query failed across the four switches and the interruptions.
    let (ok, failures) = queries.finish();
    assert!(
        failures.is_empty(),
        "{} of {} queries failed; first: {}",
        failures.len(),
        ok + failures.len() as u64,
        failures[0]
    );
    assert!(ok > 50, "only {ok} queries");
    eprintln!("replica: {ok} queries answered across the switches, none failed");
}
