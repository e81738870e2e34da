//! `loader import FILE...`: an operator edits a whole data file (the source tree's format:
//! `Tag: value` records ending in `---`) and submits what differs from the current
//! generation as one change file, through the spool `mkdb edit` and eppd write to.
//!
//! Every record is validated against its class schema first; any problem is reported as
//! `file:line: problem` and nothing is submitted. Then each record is compared with the
//! live record of the same primary key: the same canonical text is unchanged; a different
//! one becomes a put based on the live record's version (compare-and-swap: if another
//! change reaches the record before the loader applies this file, the whole file is
//! refused as a conflict, never overwriting either); a new key becomes a put with no base
//! (refused if someone creates the key first). With `--delete-missing`, live records of
//! the file's class that no imported file holds become deletes, also based on their
//! versions. The change file is one transaction: `loader watch` applies it whole or
//! refuses it whole.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Spool, canonical};
use mkdb::delta::record_version;
use mkdb::key;
use mkdb::query::RecordRef;
use mkdb::record::{self, RawRecord, SyntaxError};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The data files.
    pub files: Vec<PathBuf>,
    /// The class of every file; `None`: the name of each file's directory
    /// (`data/<class>/file.txt`).
    pub class: Option<String>,
    /// Delete live records of the class that no imported file holds.
    pub delete_missing: bool,
}

/// The outcome of comparing the files with the current generation.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The changes to submit, in file order (puts), then deletes.
    pub changes: Vec<Change>,
    /// Records that differ from the live ones.
    pub changed: usize,
    /// Records with a key not live yet.
    pub new: usize,
    /// Records identical to the live ones.
    pub unchanged: usize,
    /// Live records deleted (`delete_missing`).
    pub deleted: usize,
    /// The generation compared with.
    pub generation: u64,
}

impl Plan {
    /// `N changed, N new, N unchanged, N deleted`.
    pub fn summary(&self) -> String {
        format!(
            "{} changed, {} new, {} unchanged, {} deleted",
            self.changed, self.new, self.unchanged, self.deleted
        )
    }
}

/// The class a file holds: the option, or its directory's name.
fn class_of<'g>(
    g: &'g Generation,
    file: &Path,
    class: Option<&str>,
) -> Result<&'g mkdb::schema::ClassDef, String> {
    let names = || {
        g.schema
            .classes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = match class {
        Some(c) => c.to_owned(),
        None => file
            .canonicalize()
            .ok()
            .and_then(|p| {
                p.parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_default(),
    };
    g.schema.class(&name).ok_or_else(|| match class {
        Some(c) => format!("no class {c:?} (classes: {})", names()),
        None => format!(
            "{}: cannot tell the class from the directory {name:?}; say --class ({})",
            file.display(),
            names()
        ),
    })
}

/// Compares `opts.files` with generation `g`. Errors are `file:line: problem` lines (all
/// of them); with any error there is no plan.
pub fn plan(g: &Generation, opts: &ImportOptions) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let mut plan = Plan {
        generation: g.number,
        ..Plan::default()
    };
    // Keys seen per class id: (normalised key -> where).
    let mut seen: BTreeMap<u16, BTreeMap<String, String>> = BTreeMap::new();
    for file in &opts.files {
        let c = match class_of(g, file, opts.class.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}: cannot read: {e}"));
                continue;
            }
        };
        let mut recs: Vec<RawRecord<'_>> = Vec::new();
        if let Err(e) = record::for_each_record(&text, |r| {
            recs.push(r.clone());
            Ok::<_, SyntaxError>(())
        }) {
            errors.push(format!("{name}:{}: {}", e.line, e.problem));
            continue;
        }
        let pk = c.pk();
        let keys = seen.entry(c.id).or_default();
        let (mut fields, mut problems) = (Vec::new(), Vec::new());
        for rec in &recs {
            problems.clear();
            c.validate(rec, &mut fields, &mut problems);
            for p in &problems {
                errors.push(format!("{name}:{}: {}", p.line, p.problem));
            }
            if !problems.is_empty() {
                continue;
            }
            let Some(value) = fields.iter().find(|f| f.attr == pk.id).map(|f| f.value) else {
                errors.push(format!(
                    "{name}:{}: no {} (the primary key)",
                    rec.first_line, pk.name
                ));
                continue;
            };
            let k = key::exact_key(pk.ty, value);
            let here = format!("{name}:{}", rec.first_line);
            if let Some(first) = keys.insert(k.clone(), here) {
                errors.push(format!(
                    "{name}:{}: {} {value:?} appears twice (first at {first})",
                    rec.first_line, pk.name
                ));
                continue;
            }
            let text = canonical(rec);
            let base = match g.find_key(c.id, k.as_bytes()) {
                Some(r) => {
                    if live_canonical(g, r) == text {
                        plan.unchanged += 1;
                        continue;
                    }
                    plan.changed += 1;
                    Some(record_version(g, r))
                }
                None => {
                    plan.new += 1;
                    None
                }
            };
            plan.changes.push(Change {
                action: Action::Put,
                class: c.name.clone(),
                key: value.to_owned(),
                base,
                record: text,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if opts.delete_missing {
        for (&class, keys) in &seen {
            let c = g.schema.class_by_id(class);
            let pk = c.pk();
            let mut done = HashSet::new();
            for &s in &g.by_class[usize::from(class)] {
                let seg = &g.segments[s as usize];
                for rec in 0..seg.record_count() {
                    let r = RecordRef { seg: s, rec };
                    if !g.is_live(r) {
                        continue;
                    }
                    let Some(v) = g.record(r).first_raw(pk.id) else {
                        continue;
                    };
                    let v = String::from_utf8_lossy(v).into_owned();
                    let k = key::exact_key(pk.ty, &v);
                    if keys.contains_key(&k) || !done.insert(k) {
                        continue;
                    }
                    plan.deleted += 1;
                    plan.changes.push(Change {
                        action: Action::Delete,
                        class: c.name.clone(),
                        key: v,
                        base: Some(record_version(g, r)),
                        record: String::new(),
                    });
                }
            }
        }
    }
    Ok(plan)
}

/// The canonical text of a live record.
fn live_canonical(g: &Generation, r: RecordRef) -> String {
    let mut text = String::new();
    let _ = record::for_each_record(g.record(r).text(), |rec| {
        text = canonical(rec);
        Ok::<_, SyntaxError>(())
    });
    text
}

/// Does `g` hold every change of the plan (puts with their text, deletes gone)?
fn applied(g: &Generation, plan: &Plan) -> bool {
    plan.changes.iter().all(|c| {
        let Some(class) = g.schema.class(&c.class) else {
            return false;
        };
        match (c.action, g.find(class.id, &c.key)) {
            (Action::Delete, found) => found.is_none(),
            (Action::Put, Some(r)) => live_canonical(g, r) == c.record,
            (Action::Put, None) => false,
        }
    })
}

/// Submits the plan's changes as one change file ([`Spool::submit`]: appended when no
/// eppd runs, else through eppd, which checks and sequences it); returns its number.
pub fn submit(spool: &Spool, plan: &Plan) -> std::io::Result<u64> {
    let mut file = ChangeFile {
        sequence: 0,
        origin: "loader import".into(),
        time: mkdb::generation::rfc3339_now(),
        changes: plan.changes.clone(),
    };
    spool.submit(&mut file).map(|s| s.sequence)
}

/// `loader import`: plans, reports problems or the summary, submits, and with `wait` > 0
/// waits for `loader watch` to publish the change file and reports whether it applied.
/// Exit 0: submitted (and applied, when waited for) or nothing to do; 1: problems in the
/// files, or refused by the loader; 2: system error.
pub fn run(
    db: &Path,
    changes: &Path,
    opts: &ImportOptions,
    dry_run: bool,
    wait: u64,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let g = match Generation::open(db) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("loader: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = match plan(&g, opts) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            eprintln!("loader: {} problem(s); nothing was submitted", errors.len());
            return ExitCode::from(1);
        }
    };
    println!(
        "{} (compared with generation {})",
        plan.summary(),
        plan.generation
    );
    if plan.changes.is_empty() || dry_run {
        if dry_run {
            println!("dry run: nothing submitted");
        }
        return ExitCode::SUCCESS;
    }
    let spool = match Spool::open(changes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loader: {}: {e}", changes.display());
            return ExitCode::from(2);
        }
    };
    let n = match submit(&spool, &plan) {
        Ok(n) => n,
        Err(e) if e.get_ref().is_some_and(|i| i.is::<mkdb::change::Refused>()) => {
            println!("the import was refused, nothing applied: {e}");
            return ExitCode::from(1);
        }
        Err(e) => {
            let advice = loader::fault::advice(changes, &e, &[changes])
                .map_or(String::new(), |a| format!("; {a}"));
            eprintln!(
                "loader: cannot submit the import to {}: {e}{advice}; nothing was submitted",
                changes.display()
            );
            return ExitCode::from(2);
        }
    };
    println!("submitted as change {n} ({} changes)", plan.changes.len());
    if wait == 0 {
        return ExitCode::SUCCESS;
    }
    let rejected = changes
        .parent()
        .unwrap_or(Path::new("."))
        .join("rejected")
        .join(format!("{n:020}.chg"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let refused = |text: String| {
        println!("change {n} was refused:");
        for l in text.lines().take_while(|l| l.starts_with('#')) {
            println!("{l}");
        }
        ExitCode::from(1)
    };
    while std::time::Instant::now() < deadline {
        if let Ok(Some(m)) = mkdb::generation::current_manifest(db)
            && m.applied >= n
        {
            // The loader copies a refused file to rejected/ just after publishing the
            // generation that passed it over: look at the records themselves first.
            if let Ok(text) = std::fs::read_to_string(&rejected) {
                return refused(text);
            }
            if Generation::open(db).is_ok_and(|g| applied(&g, &plan)) {
                println!("published in generation {}", m.generation);
                return ExitCode::SUCCESS;
            }
            let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::time::Instant::now() < until {
                if let Ok(text) = std::fs::read_to_string(&rejected) {
                    return refused(text);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            println!(
                "published by generation {} (some records were changed again since)",
                m.generation
            );
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    println!("change {n} is not published yet (is `loader watch` running?)");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, PathBuf, Generation) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let opts = mkdb::synth::GenOptions {
            domains: 20,
            ..Default::default()
        };
        mkdb::synth::generate(&src, &opts, &mut |_| {}).unwrap();
        let db = dir.path().join("db");
        mkdb::compile(&src, &db, &mkdb::CompileOptions::default(), &|_, _| {}).unwrap();
        let g = Generation::open(&db).unwrap();
        (dir, src, g)
    }

    fn registrar_file(src: &Path) -> PathBuf {
        let dir = src.join("data/registrar");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "txt"))
            .unwrap()
    }

    #[test]
    fn unchanged_changed_new_deleted_and_errors() {
        let (dir, src, g) = db();
        let file = registrar_file(&src);
        let opts = |files: Vec<PathBuf>, delete_missing| ImportOptions {
            files,
            class: None,
            delete_missing,
        };
        let p = plan(&g, &opts(vec![file.clone()], false)).unwrap();
        assert!(p.changes.is_empty() && p.unchanged > 0, "{}", p.summary());
        // One record changed (a comment and spacing do not count), one new.
        let text = std::fs::read_to_string(&file).unwrap();
        let first_city = text.lines().find(|l| l.starts_with("City:")).unwrap();
        let edited = text.replacen(first_city, "City:     Rochdale\n# note", 1)
            + "Registrar-ID: REG-NEW-1\nRegistrar-Name: New Co-op Registrar\nRegistrar-Status: ok\n\
               City: Leeds\nCountry-Code: GB\nEmail: new@example.coop\n\
               Created-Date: 2026-01-01T00:00:00Z\n---\n";
        let copy = src.join("data/registrar/edited.txt");
        std::fs::write(&copy, &edited).unwrap();
        let p = plan(&g, &opts(vec![copy.clone()], false)).unwrap();
        assert_eq!((p.changed, p.new, p.deleted), (1, 1, 0), "{}", p.summary());
        assert!(p.changes[0].base.is_some() && p.changes[1].base.is_none());
        // Only the first record kept, with --delete-missing: the others are deleted.
        let one = text.split("---\n").next().unwrap().to_owned() + "---\n";
        std::fs::write(&copy, &one).unwrap();
        let p = plan(&g, &opts(vec![copy.clone()], true)).unwrap();
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.deleted, p.changes.len());
        assert!(p.deleted > 0 && p.changes.iter().all(|c| c.action == Action::Delete));
        // Problems name file and line; nothing is planned.
        std::fs::write(&copy, text.replacen("City:", "Colour: blue\nCity:", 1)).unwrap();
        let e = plan(&g, &opts(vec![copy.clone()], false)).unwrap_err();
        assert!(e[0].starts_with(&format!("{}:", copy.display())), "{e:?}");
        assert!(e[0].contains("Colour"), "{e:?}");
        std::fs::write(&copy, format!("{text}{text}")).unwrap();
        let e = plan(&g, &opts(vec![copy], false)).unwrap_err();
        assert!(e[0].contains("appears twice"), "{e:?}");
        // The class comes from the directory, or --class.
        let elsewhere = dir.path().join("regs.txt");
        std::fs::write(&elsewhere, &text).unwrap();
        assert!(
            plan(&g, &opts(vec![elsewhere.clone()], false)).unwrap_err()[0].contains("--class")
        );
        let p = plan(
            &g,
            &ImportOptions {
                files: vec![elsewhere],
                class: Some("registrar".into()),
                delete_missing: false,
            },
        )
        .unwrap();
        assert!(p.changes.is_empty());
    }
}
