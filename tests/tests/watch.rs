//! `loader watch` with the real binaries: change files written to the spool (as eppd and
//! `mkdb edit` write them) are answered by a running whoisd within a fraction of a second,
//! and a loader killed with SIGKILL in the middle of a stream resumes with every change
//! applied exactly once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Spool, Version, version_of};
use mkdb::delta::record_version;
use tests::{KillOnDrop, Registry, Whoisd, binary, loader_watch};

/// Starts `loader watch`, appending its log to `log`.
fn start_loader(db: &Path, spool: &Path, log: &Path) -> KillOnDrop {
    loader_watch(db, spool, log, &[])
}

/// The record of test.coop with its status set to `status`, as a put based on `base`.
fn status_change(seq: u64, template: &str, status: &str, base: Version) -> ChangeFile {
    let record: String = template
        .lines()
        .map(|l| {
            if l.starts_with("Domain-Status:") {
                format!("Domain-Status: {status}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    ChangeFile {
        sequence: seq,
        origin: "test".into(),
        time: "2026-11-23T06:00:00Z".into(),
        changes: vec![Change {
            action: Action::Put,
            class: "domain".into(),
            key: "test.coop".into(),
            base: Some(base),
            record,
        }],
    }
}

/// test.coop's record as canonical text, and its version.
fn test_coop(db: &Path) -> (String, Version) {
    let g = Generation::open(db).unwrap();
    let c = g.schema.class("domain").unwrap();
    let r = g.find(c.id, "test.coop").unwrap();
    let mut text = String::new();
    mkdb::record::for_each_record(g.record(r).text(), |rec| {
        text = mkdb::change::canonical(rec);
        Ok::<_, mkdb::record::SyntaxError>(())
    })
    .unwrap();
    (text, record_version(&g, r))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
    t.elapsed()
}

/// Like [`wait_for`], but a timeout panics with the loader's log.
fn wait_for_or_log(log: &Path, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > timeout {
            panic!(
                "timed out; loader log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn changes_reach_whois_quickly_and_exactly_once_across_kills() {
    let reg = Registry::new(300);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let whoisd = Whoisd::start(&reg.db, &["--reload-interval", "10ms"]);
    let log = reg.dir.path().join("loader.log");
    let mut loader = start_loader(&reg.db, &spool_dir, &log);
    let (template, mut base) = test_coop(&reg.db);

    // One change: seen by whois within a second.
    let f = status_change(1, &template, "clientHold", base);
    base = version_of(&f.changes[0].record);
    spool.append(&f).unwrap();
    let took = wait_for("the first change in whois", Duration::from_secs(5), || {
        whoisd
            .query("test.coop")
            .contains("Domain Status: clientHold")
    });
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A stream of 150 chained changes (each based on the version the previous one made:
    // a change applied twice, or skipped, would be refused as a conflict), with the
    // loader killed and restarted three times along the way.
    let statuses = ["clientHold", "serverHold", "ok", "clientTransferProhibited"];
    for seq in 2..=151u64 {
        let f = status_change(seq, &template, statuses[seq as usize % 4], base);
        base = version_of(&f.changes[0].record);
        spool.append(&f).unwrap();
        if seq % 40 == 0 {
            loader.kill();
            loader = start_loader(&reg.db, &spool_dir, &log);
        }
        thread::sleep(Duration::from_millis(1));
    }
    let last = statuses[151 % 4];
    let reached = wait_for_or_log(&log, Duration::from_secs(30), || {
        mkdb::generation::current_manifest(&reg.db)
            .ok()
            .flatten()
            .is_some_and(|m| m.applied == 151)
    });
    assert!(reached);
    loader.kill();
    let rejected = reg.dir.path().join("rejected");
    let refused: Vec<_> = std::fs::read_dir(&rejected)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        refused.is_empty(),
        "refused (applied twice or skipped?): {refused:?}"
    );
    wait_for(
        "whois to show the last change",
        Duration::from_secs(5),
        || {
            whoisd
                .query("test.coop")
                .contains(&format!("Domain Status: {last}\r\n"))
        },
    );
    assert_eq!(test_coop(&reg.db).1, base);
}

#[test]
fn a_conflicting_change_is_refused_and_kept_for_the_operator() {
    let reg = Registry::new(100);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let (template, base) = test_coop(&reg.db);
    // Two writers both based on the same version: the second is a conflict.
    spool
        .append(&status_change(1, &template, "clientHold", base))
        .unwrap();
    spool
        .append(&status_change(2, &template, "serverHold", base))
        .unwrap();
    let out = Command::new(binary("loader"))
        .args(["watch", "--once", "--changes"])
        .arg(&spool_dir)
        .arg(&reg.db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let kept = std::fs::read_to_string(
        reg.dir
            .path()
            .join("rejected")
            .join(format!("{:020}.chg", 2)),
    )
    .expect("the refused change is kept");
    assert!(
        kept.contains("was NOT applied") && kept.contains("conflict"),
        "{kept}"
    );
    assert!(kept.contains("Domain-Status: serverHold"), "{kept}");
    let g = Generation::open(&reg.db).unwrap();
    assert_eq!(g.applied, 2);
    let mut out = Vec::new();
    let _ = mkdb::render::render_answer(&g, "test.coop", Default::default(), &mut out);
    assert!(String::from_utf8_lossy(&out).contains("Domain Status: clientHold"));
}

fn mkdb_edit(reg: &Registry, spool: &Path, editor: &str, key: &str) -> std::process::Output {
    Command::new(binary("mkdb"))
        .args(["edit", "--db"])
        .arg(&reg.db)
        .arg("--changes")
        .arg(spool)
        .args(["domain", key])
        .env("VISUAL", editor)
        .stdin(Stdio::null())
        .output()
        .expect("run mkdb edit")
}

#[test]
fn hand_edits_go_through_the_same_pipeline_and_never_overwrite_a_race() {
    let reg = Registry::new(100);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let log = reg.dir.path().join("loader.log");
    let mut loader = start_loader(&reg.db, &spool_dir, &log);
    let whoisd = Whoisd::start(&reg.db, &["--reload-interval", "10ms"]);

    // A plain edit, as an operator's editor would make it.
    let out = mkdb_edit(
        &reg,
        &spool_dir,
        "sed -i 's/^Domain-Status: ok$/Domain-Status: clientHold/'",
        "test.coop",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("published in generation"), "{err}");
    wait_for("whois to show the edit", Duration::from_secs(5), || {
        whoisd
            .query("test.coop")
            .contains("Domain Status: clientHold")
    });

    // An invalid edit is not submitted, and the text is kept.
    let out = mkdb_edit(
        &reg,
        &spool_dir,
        "sed -i 's/^Domain-Status: .*$/Colour: blue/'",
        "test.coop",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("kept in"), "{err}");
    let before = spool.last().unwrap();

    // A race: while the operator edits, another change (EPP, say) lands on the record.
    let marks = reg.dir.path();
    let editor = format!(
        "touch {0}/editing; while [ ! -e {0}/go ]; do sleep 0.02; done; \
         sed -i 's/^Domain-Status: .*$/Domain-Status: serverHold/'",
        marks.display()
    );
    let child = {
        let (db, sp) = (reg.db.clone(), spool_dir);
        thread::spawn(move || {
            Command::new(binary("mkdb"))
                .args(["edit", "--db"])
                .arg(&db)
                .arg("--changes")
                .arg(&sp)
                .args(["domain", "test.coop"])
                .env("VISUAL", &editor)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
    };
    wait_for("the editor", Duration::from_secs(10), || {
        marks.join("editing").exists()
    });
    let (template, base) = test_coop(&reg.db);
    spool
        .append(&status_change(
            before + 1,
            &template,
            "clientTransferProhibited",
            base,
        ))
        .unwrap();
    wait_for("the competing change", Duration::from_secs(10), || {
        whoisd
            .query("test.coop")
            .contains("Domain Status: clientTransferProhibited")
    });
    std::fs::write(marks.join("go"), "").unwrap();
    let out = child.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let detail = || {
        format!(
            "{err}\nloader log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    assert_eq!(out.status.code(), Some(1), "{}", detail());
    assert!(
        err.contains("refused") && err.contains("conflict"),
        "{}",
        detail()
    );
    // Neither side overwritten silently: the competing change stands.
    assert!(
        whoisd
            .query("test.coop")
            .contains("Domain Status: clientTransferProhibited")
    );
    loader.kill();
}
