//! The operator commands as a user runs them: `mkdb gen`, `mkdb check`, `loader compile`,
//! `mkdb query`, each a real binary with real files, checked for output and exit codes.

use std::fs;
use std::path::Path;

use tests::run;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn every_command_has_help() {
    for (bin, args) in [
        ("mkdb", vec!["--help"]),
        ("mkdb", vec!["gen", "--help"]),
        ("mkdb", vec!["check", "--help"]),
        ("mkdb", vec!["query", "--help"]),
        ("loader", vec!["--help"]),
        ("loader", vec!["compile", "--help"]),
        ("registry", vec!["--help"]),
    ] {
        let o = run(bin, &args);
        assert!(o.status.success(), "{bin} {args:?}");
        assert!(
            stdout(&o).contains("Usage"),
            "{bin} {args:?}: {}",
            stdout(&o)
        );
    }
    let o = run("mkdb", &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn gen_check_compile_query() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let db = dir.path().join("db");

    let o = run(
        "mkdb",
        &[
            "gen",
            "--domains",
            "3000",
            "--records-per-file",
            "1000",
            p(&src),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3000 domains"), "{}", stdout(&o));
    // Deterministic: the same seed gives the same bytes.
    let src2 = dir.path().join("src2");
    assert!(
        run(
            "mkdb",
            &[
                "gen",
                "--domains",
                "3000",
                "--records-per-file",
                "1000",
                p(&src2)
            ]
        )
        .status
        .success()
    );
    for f in [
        "data/domain/domain-0000.txt",
        "data/contact/contact-0000.txt",
    ] {
        assert_eq!(
            fs::read(src.join(f)).unwrap(),
            fs::read(src2.join(f)).unwrap(),
            "{f}"
        );
    }
    // Refuses to overwrite.
    let o = run("mkdb", &["gen", "--domains", "10", p(&src)]);
    assert!(!o.status.success());

    let o = run("mkdb", &["check", p(&src)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("OK"), "{}", stdout(&o));

    let o = run("loader", &["compile", p(&src), p(&db)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("published generation 1") && out.contains("3000 domain"),
        "{out}"
    );

    let o = run("mkdb", &["query", p(&db), "domain test.coop"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a = stdout(&o);
    assert!(
        a.contains("Domain Name: test.coop\r\n") || a.contains("Domain Name: TEST.COOP\r\n"),
        "{a}"
    );
    assert!(a.contains("Registrant ID: CNT-1002\r\n"), "{a}");
    assert!(
        !a.to_lowercase().contains("auth"),
        "authInfo must never show: {a}"
    );

    let o = run("mkdb", &["query", p(&db), "nosuch-domain-here.coop"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("No match for \"nosuch-domain-here.coop\""));
    let o = run("mkdb", &["query", p(&db), "a*b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("% Error:"));
    let o = run("mkdb", &["query", "--limit", "5", p(&db), "*"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("only the first 5 are shown"));

    // Recompiling unchanged sources reuses every segment.
    let o = run("loader", &["compile", p(&src), p(&db)]);
    assert!(
        stdout(&o).contains("published generation 2"),
        "{}",
        stdout(&o)
    );
    let files = fs::read_dir(src.join("data/domain")).unwrap().count()
        + fs::read_dir(src.join("data/contact")).unwrap().count()
        + fs::read_dir(src.join("data/nameserver")).unwrap().count()
        + fs::read_dir(src.join("data/registrar")).unwrap().count();
    assert!(
        stdout(&o).contains(&format!("{files} reused")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_lists_every_problem_as_file_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let db = dir.path().join("db");
    assert!(
        run("mkdb", &["gen", "--domains", "200", p(&src)])
            .status
            .success()
    );
    assert!(
        run("loader", &["compile", p(&src), p(&db)])
            .status
            .success()
    );
    let f = src.join("data/domain/domain-0000.txt");
    let text = fs::read_to_string(&f).unwrap();
    let broken = text
        .replacen("Domain-Status: ok", "Domain-Status: sleepy", 1)
        .replacen("Expiry-Date:", "Expiry-Dte:", 1);
    fs::write(&f, &broken).unwrap();
    let o = run("mkdb", &["check", p(&src)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let status_line = broken
        .lines()
        .position(|l| l == "Domain-Status: sleepy")
        .unwrap()
        + 1;
    assert!(
        lines.iter().any(
            |l| l.starts_with(&format!("{}:{status_line}: ", f.display())) && l.contains("sleepy")
        ),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unknown attribute \"Expiry-Dte\"")),
        "{out}"
    );
    assert!(stderr(&o).contains("problem(s)"));
    // Compile refuses the same way and publishes nothing: the old generation is still served.
    let o = run("loader", &["compile", p(&src), p(&db)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing was published"));
    assert_eq!(fs::read_to_string(db.join("CURRENT")).unwrap().trim(), "1");
    assert_eq!(
        run("mkdb", &["query", p(&db), "test.coop"]).status.code(),
        Some(0)
    );
}

#[test]
fn query_on_a_missing_database_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let o = run("mkdb", &["query", p(dir.path()), "test.coop"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("loader compile"), "{}", stderr(&o));
}
