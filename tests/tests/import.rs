//! `loader import FILE`: an operator edits a whole data file of the source tree and
//! submits what differs from the current generation through the change spool; `loader
//! watch --once` publishes it and whoisd and `mkdb query` answer it. Invalid files submit
//! nothing and name file and line; `--delete-missing` deletes what the file no longer
//! holds; a record changed by another change after the import read it refuses the whole
//! import as a conflict, reported by the import and kept in `rejected/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mkdb::change::{Action, Change, ChangeFile, Spool};
use tests::{Registry, Whoisd, binary};

/// The source tree's domain data file.
fn domain_file(reg: &Registry) -> PathBuf {
    let dir = reg.src.join("data/domain");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

/// The file's records, each with its `---` line.
fn records(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.lines() {
        out.last_mut().unwrap().push_str(line);
        out.last_mut().unwrap().push('\n');
        if line.starts_with("---") {
            out.push(String::new());
        }
    }
    out.retain(|r| !r.trim().is_empty());
    out
}

/// Applies `f` to the record of domain `name` in `text`.
fn edit(text: &str, name: &str, f: impl Fn(&str) -> String) -> String {
    let needle = format!("\nDomain-Name: {name}\n");
    let recs = records(text);
    assert!(
        recs.iter().any(|r| r.contains(&needle)),
        "{name} not in the file"
    );
    recs.iter()
        .map(|r| if r.contains(&needle) { f(r) } else { r.clone() })
        .collect()
}

fn import(reg: &Registry, spool: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(binary("loader"))
        .arg("import")
        .arg("--db")
        .arg(&reg.db)
        .arg("--changes")
        .arg(spool)
        .args(args)
        .arg(file)
        .output()
        .expect("run loader import")
}

fn watch_once(reg: &Registry, spool: &Path) -> String {
    let o = Command::new(binary("loader"))
        .args(["watch", "--once", "--changes"])
        .arg(spool)
        .arg(&reg.db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn query(reg: &Registry, q: &str) -> (i32, String) {
    let o = Command::new(binary("mkdb"))
        .arg("query")
        .arg(&reg.db)
        .arg(q)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o))
}

const NEW_DOMAIN: &str = "Domain-ID: 499999-COOP\nDomain-Name: imported-new.coop\n\
    Sponsoring-Registrar: REG-42\nDomain-Status: ok\nRegistrant-ID: CNT-1002\n\
    Admin-ID: CNT-1003\nTech-ID: CNT-1004\nBilling-ID: CNT-1005\nName-Server: dns0.nic.coop\n\
    Created-Date: 2026-11-23T00:00:00Z\nExpiry-Date: 2027-11-23T00:00:00Z\n---\n";

#[test]
fn an_edited_data_file_is_imported_through_the_spool() {
    let reg = Registry::new(200);
    let spool_dir = reg.dir.path().join("changes");
    let spool = Spool::open(&spool_dir).unwrap();
    let file = domain_file(&reg);
    let original = std::fs::read_to_string(&file).unwrap();
    let total = records(&original).len();
    let whoisd = Whoisd::start(&reg.db, &["--no-rwhois", "--reload-interval", "10ms"]);

    // Unchanged: nothing to submit.
    let o = import(&reg, &spool_dir, &["--wait", "0"], &file);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!("0 changed, 0 new, {total} unchanged, 0 deleted")),
        "{o:?}"
    );
    assert_eq!(spool.last().unwrap(), 0);

    // Invalid records: every problem with file:line, nothing submitted.
    let bad = edit(&original, "test.coop", |r| {
        r.replace("Domain-Status: ok", "Domain-Status: ok\nColour: blue")
            .replace("Registrant-ID: CNT-1002\n", "")
    });
    std::fs::write(&file, &bad).unwrap();
    let o = import(&reg, &spool_dir, &["--wait", "0"], &file);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let colour_line = bad.lines().position(|l| l == "Colour: blue").unwrap() + 1;
    let text = stdout(&o);
    assert!(
        text.contains(&format!("{}:{colour_line}: ", file.display())),
        "{text}"
    );
    assert!(text.contains("Registrant-ID"), "{text}");
    assert_eq!(
        spool.last().unwrap(),
        0,
        "an invalid file submitted changes"
    );

    // One record changed (layout and comments aside), one new: one change file.
    let edited = edit(&original, "test.coop", |r| {
        r.replace(
            "Domain-Status: ok",
            "# on hold\nDomain-Status:    clientHold",
        )
    }) + NEW_DOMAIN;
    std::fs::write(&file, &edited).unwrap();
    let o = import(&reg, &spool_dir, &["--dry-run"], &file);
    assert!(stdout(&o).contains("1 changed, 1 new"), "{o:?}");
    assert_eq!(spool.last().unwrap(), 0, "a dry run submitted");
    let o = import(&reg, &spool_dir, &["--wait", "0"], &file);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!(
            "1 changed, 1 new, {} unchanged, 0 deleted",
            total - 1
        )),
        "{o:?}"
    );
    assert_eq!(spool.last().unwrap(), 1);
    let change = spool.read(1).unwrap();
    assert_eq!(change.origin, "loader import");
    assert_eq!(change.changes.len(), 2);
    watch_once(&reg, &spool_dir);
    let (code, a) = query(&reg, "imported-new.coop");
    assert_eq!(code, 0, "{a}");
    assert!(a.contains("Domain Name: imported-new.coop"), "{a}");
    wait_for_whois(&whoisd, "test.coop", "Domain Status: clientHold");
    wait_for_whois(
        &whoisd,
        "imported-new.coop",
        "Domain Name: imported-new.coop",
    );

    // The same file again: nothing left to submit.
    let o = import(&reg, &spool_dir, &["--wait", "0"], &file);
    assert!(
        stdout(&o).starts_with(&format!("0 changed, 0 new, {} unchanged", total + 1)),
        "{o:?}"
    );
    assert_eq!(spool.last().unwrap(), 1);

    // A record removed from the file: kept, unless --delete-missing.
    let gone = "rivernetworks-dns.coop";
    let fewer: String = records(&edited)
        .into_iter()
        .filter(|r| !r.contains(&format!("\nDomain-Name: {gone}\n")))
        .collect();
    std::fs::write(&file, &fewer).unwrap();
    let o = import(&reg, &spool_dir, &["--wait", "0"], &file);
    assert!(stdout(&o).starts_with("0 changed, 0 new"), "{o:?}");
    assert_eq!(spool.last().unwrap(), 1);
    let o = import(
        &reg,
        &spool_dir,
        &["--wait", "0", "--delete-missing"],
        &file,
    );
    assert!(stdout(&o).contains(", 1 deleted"), "{o:?}");
    watch_once(&reg, &spool_dir);
    assert_eq!(query(&reg, gone).0, 1, "{gone} still answered");
    assert_eq!(query(&reg, "test.coop").0, 0);

    // Conflict: another change to test.coop (an EPP update, say) reaches the spool after
    // the import read the generation; the loader applies it first and refuses the import
    // whole, which the waiting import reports.
    let g = mkdb::Generation::open(&reg.db).unwrap();
    let c = g.schema.class("domain").unwrap();
    let r = g.find(c.id, "test.coop").unwrap();
    let base = mkdb::delta::record_version(&g, r);
    let mut current = String::new();
    mkdb::record::for_each_record(g.record(r).text(), |rec| {
        current = mkdb::change::canonical(rec);
        Ok::<_, mkdb::record::SyntaxError>(())
    })
    .unwrap();
    drop(g);
    let mut other = ChangeFile {
        sequence: 0,
        origin: "eppd".into(),
        time: mkdb::generation::rfc3339_now(),
        changes: vec![Change {
            action: Action::Put,
            class: "domain".into(),
            key: "test.coop".into(),
            base: Some(base),
            record: current.replace("Domain-Status: clientHold", "Domain-Status: serverHold"),
        }],
    };
    let other_seq = spool.append_next(&mut other).unwrap();
    let mine = edit(&fewer, "test.coop", |r| {
        r.replace("Domain-Status:    clientHold", "Domain-Status: ok")
    });
    std::fs::write(&file, &mine).unwrap();
    let waiting = Command::new(binary("loader"))
        .arg("import")
        .arg("--db")
        .arg(&reg.db)
        .arg("--changes")
        .arg(&spool_dir)
        .args(["--wait", "20"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while spool.last().unwrap() == other_seq {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "import submitted nothing"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mine_seq = other_seq + 1;
    let loaded = watch_once(&reg, &spool_dir);
    let o = waiting.wait_with_output().unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}\nloader: {loaded}");
    assert!(
        text.contains(&format!("change {mine_seq} was refused")),
        "{text}"
    );
    assert!(text.contains("test.coop"), "{text}");
    let rejected = reg
        .dir
        .path()
        .join("rejected")
        .join(format!("{mine_seq:020}.chg"));
    assert!(rejected.exists(), "{text}");
    // The other change stands, whole; the import changed nothing.
    wait_for_whois(&whoisd, "test.coop", "Domain Status: serverHold");
}

fn wait_for_whois(whoisd: &Whoisd, q: &str, want: &str) {
    let t0 = Instant::now();
    loop {
        let a = whoisd.query(q);
        if a.contains(want) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "whois {q} never showed {want:?}:\n{a}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
