//! The life of a database: compile, hand-edit, recompile, tamper, collect garbage.
//! Uses the sample tree in `tests/golden/sample`, copied to a scratch directory.

use std::fs;
use std::path::{Path, PathBuf};

use mkdb::render::{AnswerOptions, render_answer};
use mkdb::{CompileError, CompileOptions, Generation};

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    src: PathBuf,
    db: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let db = dir.path().join("db");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample"),
        &src,
    );
    Fixture { _dir: dir, src, db }
}

fn compile(f: &Fixture) -> Result<mkdb::CompileReport, CompileError> {
    mkdb::compile(
        &f.src,
        &f.db,
        &CompileOptions {
            threads: 2,
            ..Default::default()
        },
        &|_, _| {},
    )
}

fn answer(g: &Generation, q: &str) -> String {
    let mut out = Vec::new();
    let _ = render_answer(
        g,
        q,
        AnswerOptions {
            limit: 20,
            banner: false,
        },
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

fn edit(path: &Path, from: &str, to: &str) {
    let t = fs::read_to_string(path).unwrap();
    assert!(t.contains(from), "{from:?} not in {}", path.display());
    fs::write(path, t.replacen(from, to, 1)).unwrap();
}

#[test]
fn hand_edit_then_recompile_serves_only_the_new_value() {
    let f = fixture();
    let r1 = compile(&f).unwrap();
    assert_eq!(r1.generation, 1);
    assert_eq!(r1.reused, 0);
    let g1 = Generation::open(&f.db).unwrap();
    assert!(answer(&g1, "popdot.coop").contains("Registrant Name: Łucja Spółdzielcza"));

    // An operator renames a domain and fixes a contact's name in a text editor.
    let domains = f.src.join("data/domain/domains.txt");
    edit(
        &domains,
        "Domain-Name: popdot.coop",
        "Domain-Name: popdot-renamed.coop",
    );
    let contacts = f.src.join("data/contact/contacts.txt");
    edit(&contacts, "Name: Łucja Spółdzielcza", "Name: Łucja Nowak");
    let r2 = compile(&f).unwrap();
    assert_eq!(r2.generation, 2);
    // Only the two edited files were rebuilt.
    assert_eq!(r2.reused, r2.files - 2, "{r2:?}");

    let g2 = Generation::open(&f.db).unwrap();
    assert!(answer(&g2, "popdot.coop").starts_with("No match"));
    let new = answer(&g2, "popdot-renamed.coop");
    assert!(new.contains("Registrant Name: Łucja Nowak"), "{new}");
    assert!(!new.contains("Spółdzielcza"), "{new}");
    for q in [
        "popd*",
        "*dot.coop",
        "*tdot*",
        "domain registrant-id=CNT-1010",
    ] {
        let a = answer(&g2, q);
        assert!(!a.contains("Domain Name: popdot.coop"), "{q}: {a}");
    }
    assert!(answer(&g2, "*renamed.coop").contains("popdot-renamed.coop"));

    // The old generation, still held, answers as before even after later publications
    // garbage-collect its files.
    edit(
        &domains,
        "Registrar-Remark: Managed",
        "Registrar-Remark: Still managed",
    );
    compile(&f).unwrap();
    edit(
        &domains,
        "Registrar-Remark: Still managed",
        "Registrar-Remark: Now managed",
    );
    compile(&f).unwrap();
    edit(
        &domains,
        "Registrar-Remark: Now managed",
        "Registrar-Remark: Finally managed",
    );
    let r5 = compile(&f).unwrap();
    assert_eq!(r5.generation, 5);
    assert!(
        !f.db.join("generations/0000000001").exists(),
        "generation 1 collected"
    );
    assert!(answer(&g1, "popdot.coop").contains("Registrant Name: Łucja Spółdzielcza"));
    let g5 = Generation::open(&f.db).unwrap();
    assert!(answer(&g5, "poptel.coop").contains("Registrar Remark: Finally managed"));
    // Segments no kept generation lists are gone; the kept ones are all present.
    let kept = fs::read_dir(f.db.join("generations")).unwrap().count();
    assert_eq!(kept, 3);
}

#[test]
fn a_broken_edit_publishes_nothing_and_says_where() {
    let f = fixture();
    compile(&f).unwrap();
    let domains = f.src.join("data/domain/domains.txt");
    edit(
        &domains,
        "Registrant-ID: CNT-1010",
        "Registrant-ID: CNT-4040",
    );
    edit(
        &domains,
        "Expiry-Date: 2026-02-02T00:00:00Z",
        "Expiry-Date: Feb 2, 2026",
    );
    let e = compile(&f).unwrap_err();
    let CompileError::Source(problems) = e else {
        panic!("{e}")
    };
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|p| p.starts_with("data/domain/domains.txt:") && p.contains("Expiry-Date")),
        "{text:?}"
    );
    // Fix the date: the dangling reference is then reported with its line.
    edit(
        &domains,
        "Expiry-Date: Feb 2, 2026",
        "Expiry-Date: 2026-02-02T00:00:00Z",
    );
    let CompileError::Source(problems) = compile(&f).unwrap_err() else {
        panic!()
    };
    let line = fs::read_to_string(&domains)
        .unwrap()
        .lines()
        .position(|l| l.contains("CNT-4040"))
        .unwrap()
        + 1;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, "data/domain/domains.txt");
    assert_eq!(problems[0].line as usize, line);
    assert!(problems[0].problem.contains("does not exist"));
    // Still generation 1, still serving the old data.
    assert_eq!(mkdb::generation::current_number(&f.db).unwrap(), 1);
    let g = Generation::open(&f.db).unwrap();
    assert!(answer(&g, "popdot.coop").contains("Registrant ID: CNT-1010"));
}

#[test]
fn duplicate_keys_across_files_are_refused() {
    let f = fixture();
    fs::write(
        f.src.join("data/registrar/more.txt"),
        "Registrar-ID: reg-42\nRegistrar-Name: Clash\nRegistrar-Status: ok\nCity: X\nCountry-Code: GB\n\
         Email: a@b.c\nCreated-Date: 2001-01-01T00:00:00Z\n",
    )
    .unwrap();
    let CompileError::Source(p) = compile(&f).unwrap_err() else {
        panic!()
    };
    assert!(
        p[0].to_string()
            .starts_with("data/registrar/registrars.txt:")
            || p[0].to_string().starts_with("data/registrar/more.txt:")
    );
    assert!(p[0].problem.contains("duplicate Registrar-ID"), "{p:?}");
}

fn segment_of(db: &Path, class: &str) -> PathBuf {
    let n = mkdb::generation::current_number(db).unwrap();
    let m = fs::read_to_string(mkdb::generation::generation_dir(db, n).join("MANIFEST")).unwrap();
    let m = mkdb::generation::Manifest::parse(&m).unwrap();
    let e = m.segments.iter().find(|s| s.class == class).unwrap();
    mkdb::generation::segment_dir(db, &e.name)
}

#[test]
fn a_published_file_edited_in_place_is_refused_on_open() {
    let f = fixture();
    compile(&f).unwrap();
    let seg = segment_of(&f.db, "domain");
    // The original MKDB failure: a hand edit of the served file without re-indexing.
    // Same size (offsets unchanged), different bytes.
    edit(&seg.join("data.txt"), "poptel.coop", "poptex.coop");
    let e = Generation::open(&f.db).unwrap_err().to_string();
    assert!(
        e.contains("changed after it was indexed") && e.contains("loader compile"),
        "{e}"
    );
    // A comment inserted (every offset shifts).
    edit(&seg.join("data.txt"), "poptex.coop", "poptel.coop");
    Generation::open(&f.db).unwrap();
    let t = fs::read_to_string(seg.join("data.txt")).unwrap();
    fs::write(seg.join("data.txt"), format!("# note\n{t}")).unwrap();
    let e = Generation::open(&f.db).unwrap_err().to_string();
    assert!(e.contains("edited or truncated"), "{e}");
    // Recompiling from the source fixes it (the segment is rebuilt, not trusted).
    fs::write(seg.join("data.txt"), t).unwrap();
    Generation::open(&f.db).unwrap();
}

#[test]
fn truncated_or_corrupt_index_is_refused_on_open() {
    let f = fixture();
    compile(&f).unwrap();
    let ix = segment_of(&f.db, "contact").join("index.mkdb");
    let good = fs::read(&ix).unwrap();
    for cut in [0, 63, 64, good.len() / 2, good.len() - 1] {
        fs::write(&ix, &good[..cut]).unwrap();
        let e = Generation::open(&f.db).unwrap_err().to_string();
        assert!(e.contains("loader compile"), "cut at {cut}: {e}");
    }
    let mut bad = good.clone();
    let n = bad.len() - 100;
    bad[n] ^= 1;
    fs::write(&ix, &bad).unwrap();
    assert!(
        Generation::open(&f.db)
            .unwrap_err()
            .to_string()
            .contains("corrupt")
    );
    fs::write(&ix, &good).unwrap();
    Generation::open(&f.db).unwrap();
    // A corrupt or truncated key directory is refused.
    let kd = mkdb::generation::generation_dir(&f.db, 1).join("keys-contact.mkdb");
    let good_kd = fs::read(&kd).unwrap();
    let mut bad_kd = good_kd.clone();
    let n = bad_kd.len() - 8;
    bad_kd[n] ^= 0x80;
    fs::write(&kd, &bad_kd).unwrap();
    assert!(
        Generation::open(&f.db)
            .unwrap_err()
            .to_string()
            .contains("key directory")
    );
    fs::write(&kd, &good_kd[..good_kd.len() - 8]).unwrap();
    assert!(
        Generation::open(&f.db)
            .unwrap_err()
            .to_string()
            .contains("key directory")
    );
    fs::write(&kd, &good_kd).unwrap();
    assert!(
        Generation::open(&f.db)
            .unwrap()
            .keydirs
            .iter()
            .all(Option::is_some)
    );
    // A manifest edited by hand is refused too.
    let m = mkdb::generation::generation_dir(&f.db, 1).join("MANIFEST");
    let text = fs::read_to_string(&m).unwrap();
    fs::write(&m, text.replacen("records=", "records=1", 1)).unwrap();
    assert!(
        Generation::open(&f.db)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );
}

#[test]
fn a_second_publisher_is_told_to_wait() {
    let f = fixture();
    let p = mkdb::generation::Publisher::lock(&f.db).unwrap();
    let e = compile(&f).unwrap_err().to_string();
    assert!(e.contains("another process is publishing"), "{e}");
    drop(p);
    compile(&f).unwrap();
}

#[test]
fn opening_reuses_unchanged_segments() {
    let f = fixture();
    compile(&f).unwrap();
    let g1 = Generation::open(&f.db).unwrap();
    edit(
        &f.src.join("data/domain/domains.txt"),
        "Registrar-Remark: Managed",
        "Registrar-Remark: Re-managed",
    );
    compile(&f).unwrap();
    let g2 = Generation::open_reusing(&f.db, Some(&g1)).unwrap();
    let shared = g1
        .segments
        .iter()
        .filter(|a| g2.segments.iter().any(|b| std::sync::Arc::ptr_eq(a, b)))
        .count();
    assert_eq!(shared, g1.segments.len() - 1);
    assert!(answer(&g2, "poptel.coop").contains("Re-managed"));
}
