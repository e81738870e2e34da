//! Delta generations against a full recompilation: changes published as deltas must answer
//! every kind of query exactly like a database compiled from scratch from the source tree
//! with the same changes made by hand; conflicting changes are refused whole.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use mkdb::change::{Action, Change, ChangeFile, Version};
use mkdb::delta::{publish_changes, record_version};
use mkdb::render::{AnswerOptions, render_answer};
use mkdb::{CompileError, CompileOptions, Generation};

fn compile(src: &Path, db: &Path) {
    let opts = CompileOptions {
        threads: 2,
        ..Default::default()
    };
    mkdb::compile(src, db, &opts, &|_, _| {}).expect("compiles");
}

/// The answer to `q`, without the last-update line (generations differ in time and number).
fn answer(g: &Generation, q: &str) -> String {
    let mut out = Vec::new();
    let opts = AnswerOptions {
        limit: 2000,
        banner: false,
    };
    let _ = render_answer(g, q, opts, &mut out);
    let s = String::from_utf8(out).unwrap();
    s.lines()
        .filter(|l| !l.starts_with(">>> Last update"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The records an answer shows, as a set of their first lines (order-insensitive: a delta
/// segment lists its records after the base segments).
fn records(g: &Generation, q: &str) -> BTreeSet<String> {
    answer(g, q)
        .split("\n\n")
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

/// The text of the record of `class` with primary key `value` in the source tree.
fn record_text(src: &Path, class: &str, key_tag: &str, value: &str) -> Option<String> {
    for e in fs::read_dir(src.join("data").join(class)).unwrap() {
        let text = fs::read_to_string(e.unwrap().path()).unwrap();
        for rec in text.split("\n---") {
            let rec = rec.trim_start_matches(['-', '\n']);
            if rec
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("{key_tag}: {value}")))
            {
                let fields: String = rec
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                return Some(fields);
            }
        }
    }
    None
}

/// Makes the change in the source tree by hand: the oracle's side.
fn edit_tree(src: &Path, class: &str, key_tag: &str, value: &str, new: Option<&str>) {
    let dir = src.join("data").join(class);
    let mut done = false;
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for (i, rec) in text.split("\n---\n").enumerate() {
            let holds = rec
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("{key_tag}: {value}")));
            if i > 0 {
                out.push_str("\n---\n");
            }
            if holds {
                done = true;
                if let Some(n) = new {
                    out.push_str(n.trim_end());
                }
            } else {
                out.push_str(rec);
            }
        }
        fs::write(&path, out).unwrap();
    }
    if !done && let Some(n) = new {
        let path = dir.join("zz-new.txt");
        let mut t = fs::read_to_string(&path).unwrap_or_default();
        t.push_str(n);
        t.push_str("---\n");
        fs::write(&path, t).unwrap();
    }
}

fn put(class: &str, key: &str, base: Option<Version>, record: &str) -> Change {
    Change {
        action: Action::Put,
        class: class.into(),
        key: key.into(),
        base,
        record: record.into(),
    }
}

fn delete(class: &str, key: &str, base: Option<Version>) -> Change {
    Change {
        action: Action::Delete,
        class: class.into(),
        key: key.into(),
        base,
        record: String::new(),
    }
}

fn file(sequence: u64, changes: Vec<Change>) -> ChangeFile {
    ChangeFile {
        sequence,
        origin: "test".into(),
        time: "2026-11-23T06:00:00Z".into(),
        changes,
    }
}

fn version(g: &Generation, class: &str, key: &str) -> Version {
    let c = g.schema.class(class).unwrap();
    record_version(g, g.find(c.id, key).expect("the record exists"))
}

#[test]
fn deltas_answer_like_a_full_recompile() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, db, oracle_db) = (
        tmp.path().join("src"),
        tmp.path().join("db"),
        tmp.path().join("oracle"),
    );
    let opts = mkdb::synth::GenOptions {
        domains: 300,
        ..Default::default()
    };
    mkdb::synth::generate(&src, &opts, &mut |_| {}).unwrap();
    compile(&src, &db);
    let g0 = Generation::open(&db).unwrap();
    let domains = g0.schema.class("domain").unwrap().id;
    let total0 = g0.record_count(domains);

    // A domain to delete: the second one in the file (not the sample test.coop).
    let victim = {
        let text = fs::read_to_string(src.join("data/domain/domain-0000.txt")).unwrap();
        text.split("\n---\n")
            .nth(1)
            .and_then(|r| r.lines().find_map(|l| l.strip_prefix("Domain-Name: ")))
            .unwrap()
            .to_owned()
    };
    let test_coop = record_text(&src, "domain", "Domain-Name", "test.coop").unwrap();
    let changed = test_coop.replace("Domain-Status: ok", "Domain-Status: clientHold");
    assert_ne!(changed, test_coop);
    let brand_new = test_coop
        .replace("test.coop", "brand-new-delta.coop")
        .replace("400032-COOP", "999999-COOP");

    // Batch 1: modify, create, delete, in two transactions.
    let f1 = file(
        1,
        vec![
            put(
                "domain",
                "test.coop",
                Some(version(&g0, "domain", "test.coop")),
                &changed,
            ),
            put("domain", "brand-new-delta.coop", None, &brand_new),
        ],
    );
    let f2 = file(
        2,
        vec![delete(
            "domain",
            &victim,
            Some(version(&g0, "domain", &victim)),
        )],
    );
    let r = publish_changes(&db, None, &[f1, f2], 3).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!((r.applied_files, r.puts, r.deletes), (2, 2, 1));
    edit_tree(&src, "domain", "Domain-Name", "test.coop", Some(&changed));
    edit_tree(
        &src,
        "domain",
        "Domain-Name",
        "brand-new-delta.coop",
        Some(&brand_new),
    );
    edit_tree(&src, "domain", "Domain-Name", &victim, None);

    let g1 = Generation::open(&db).unwrap();
    assert_eq!(g1.applied, 2);
    assert!(g1.has_deltas());
    assert_eq!(g1.record_count(domains), total0, "one created, one deleted");
    // A full compile now would undo the deltas: refused.
    let err = mkdb::compile(&src, &db, &CompileOptions::default(), &|_, _| {}).unwrap_err();
    assert!(
        matches!(err, CompileError::UnfoldedDeltas { applied: 2 }),
        "{err}"
    );

    compile(&src, &oracle_db);
    let oracle = Generation::open(&oracle_db).unwrap();
    let registrant = test_coop
        .lines()
        .find_map(|l| l.strip_prefix("Registrant-ID: "))
        .unwrap();
    let victim_prefix = &victim[..3];
    let victim_suffix = &victim[victim.len() - 7..];
    let queries = [
        "test.coop".to_owned(),
        "brand-new-delta.coop".to_owned(),
        victim.clone(),
        "brand*".to_owned(),
        "*delta.coop".to_owned(),
        "*new-del*".to_owned(),
        format!("{victim_prefix}*"),
        format!("*{victim_suffix}"),
        format!("domain registrant-id={registrant}"),
        "domain ns=dns0.nic.coop".to_owned(),
        format!("contact {registrant}"),
        "test* or brand*".to_owned(),
        format!("{victim_prefix}* and *.coop"),
    ];
    for q in &queries {
        assert_eq!(records(&g1, q), records(&oracle, q), "query {q:?}");
    }
    assert!(answer(&g1, "test.coop").contains("Domain Status: clientHold"));
    assert!(answer(&g1, &victim).contains("No match"));

    // Batch 2, on top: a stale base is refused whole (its other change is not applied),
    // a referenced contact cannot be deleted, and a deleted key can be created again.
    let stale = file(
        3,
        vec![
            put(
                "domain",
                "test.coop",
                Some(version(&g0, "domain", "test.coop")),
                &test_coop,
            ),
            delete("domain", "brand-new-delta.coop", None),
        ],
    );
    let referenced = file(4, vec![delete("contact", registrant, None)]);
    let reborn = record_text(&src, "domain", "Domain-Name", "brand-new-delta.coop")
        .unwrap()
        .replace("brand-new-delta.coop", &victim)
        .replace("999999-COOP", "999998-COOP");
    let recreate = file(5, vec![put("domain", &victim, None, &reborn)]);
    let r = publish_changes(&db, None, &[stale, referenced, recreate], 3).unwrap();
    assert_eq!(r.applied_files, 1);
    let refused: Vec<u64> = r.rejected.iter().map(|x| x.sequence).collect();
    assert_eq!(refused, vec![3, 4]);
    assert!(
        r.rejected[0].problems[0].contains("conflict"),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].problems[0].contains("still refers to it"),
        "{:?}",
        r.rejected
    );
    edit_tree(&src, "domain", "Domain-Name", &victim, Some(&reborn));

    let g2 = Generation::open(&db).unwrap();
    assert_eq!(g2.applied, 5);
    let oracle2_db = tmp.path().join("oracle2");
    compile(&src, &oracle2_db);
    let oracle2 = Generation::open(&oracle2_db).unwrap();
    for q in &queries {
        assert_eq!(
            records(&g2, q),
            records(&oracle2, q),
            "query {q:?} after batch 2"
        );
    }
    // Files already applied are skipped: replaying them changes nothing.
    let again = publish_changes(
        &db,
        None,
        &[file(5, vec![delete("domain", &victim, None)])],
        3,
    )
    .unwrap();
    assert_eq!((again.generation, again.applied_files), (None, 0));
}
