//! The shipped deployment files are valid as shipped: HAProxy accepts its configuration,
//! and whoisd starts with the example limits policy.

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::{Registry, Whoisd};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

#[test]
fn haproxy_accepts_the_shipped_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(deploy("haproxy/whois.cfg"))
        .env("STATS_SOCKET", dir.path().join("stats.sock"))
        .output()
        .expect("run haproxy (apt-get install haproxy; tools/run-tests does)");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn whoisd_starts_with_the_example_limits() {
    let reg = Registry::new(20);
    let policy = deploy("whoisd/limits");
    let s = Whoisd::start(&reg.db, &["--limits", policy.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s.log().contains("limits from") {
        assert!(std::time::Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(s.log().contains("mode detect"), "{}", s.log());
    assert!(s.query("test.coop").contains("Domain Name: test.coop"));
}
