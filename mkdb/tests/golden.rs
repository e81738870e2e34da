//! Golden answers: the sample source tree in `tests/golden/sample` (the Public Whois
//! Specification's objects, hand-edited with aliases, odd spacing, comments, CRLF, UTF-8 and
//! a record deleted in place) is compiled, and every query in `tests/golden/queries.txt` must
//! produce exactly `tests/golden/expected/<name>.txt`. Run with `UPDATE_GOLDEN=1` to rewrite
//! the expected files after an intended change, and review the diff.

use std::path::Path;

use mkdb::render::{AnswerOptions, render_answer};

fn compile_sample(db: &Path) -> mkdb::Generation {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample");
    let opts = mkdb::CompileOptions {
        threads: 2,
        ..Default::default()
    };
    mkdb::compile(&src, db, &opts, &|_, _| {}).expect("sample compiles");
    mkdb::Generation::open(db).expect("opens")
}

/// The footer carries the publication time: replace it with a fixed text.
fn normalise(answer: &str) -> String {
    answer
        .lines()
        .map(|l| {
            if l.starts_with(">>> Last update") {
                ">>> Last update of whois database: (time) <<<"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn golden_answers() {
    let dir = tempfile::tempdir().unwrap();
    let g = compile_sample(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for line in std::fs::read_to_string(root.join("queries.txt"))
        .unwrap()
        .lines()
    {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let (name, limit, query) = (parts[0], parts[1].parse().unwrap(), parts[2]);
        let mut out = Vec::new();
        let _ = render_answer(
            &g,
            query,
            AnswerOptions {
                limit,
                banner: true,
            },
            &mut out,
        );
        let raw = String::from_utf8(out).unwrap();
        assert!(
            raw.lines().all(|l| !l.contains('\n')) && raw.split("\r\n").count() > 1,
            "CRLF line ends"
        );
        assert!(
            !raw.contains("never-shown") && !raw.contains("s3cret") && !raw.contains("argon2"),
            "private data leaked in {name}"
        );
        let got = normalise(&raw.replace("\r\n", "\n"));
        let path = root.join("expected").join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
        } else {
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != got {
                failures.push(format!(
                    "--- {name}: query {query:?}\n--- expected\n{want}--- got\n{got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sample_schemas_are_the_shipped_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (class, text) in mkdb::schema::SHIPPED_SCHEMAS {
        let copy = root.join(format!("tests/golden/sample/schema/{class}.schema"));
        let copy = std::fs::read_to_string(&copy).unwrap();
        assert_eq!(
            &copy, text,
            "tests/golden/sample/schema/{class}.schema differs from mkdb/schemas: copy it again"
        );
    }
}
