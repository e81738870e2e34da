//! `-register` end to end: the real whoisd with `--operators` and `--spool`, a real
//! `loader watch` on the same spool, an operator on a raw RWhois socket. A registration is
//! answered once its change file is durable in the spool and shows in whois once the loader
//! has published it; `mod` and `del` are compare-and-swap on the record the client saw;
//! refusals (not authenticated, outdated, malformed) change nothing. With eppd running the
//! change is sequenced by eppd (and EPP `<info>` sees it), and eppd's conflict is 325.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{Eppd, KillOnDrop, Registry, Whoisd, binary, loader_watch};

const PASSWORD: &str = "register-test-operator-password";

/// A raw RWhois client: one line per command, answers read up to `%ok` or `%error`.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    banner: String,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect to RWhois");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut banner = String::new();
        reader.read_line(&mut banner).expect("banner");
        Client {
            reader,
            writer: s,
            banner,
        }
    }

    /// Sends `text` (lines, LF-terminated) and reads the answer to its last line.
    fn send(&mut self, text: &str) -> String {
        self.writer.write_all(text.as_bytes()).expect("send");
        let mut answer = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read the answer");
            assert!(n > 0, "the server closed; so far: {answer}");
            answer.push_str(&line);
            if line.starts_with("%ok") || line.starts_with("%error") {
                return answer;
            }
        }
    }

    fn login(&mut self) {
        let a = self.send(&format!("-security on request password alice {PASSWORD}\n"));
        assert_eq!(a, "%ok\r\n");
    }

    /// A whole registration: `-register on OP`, the lines, `-register off`.
    fn register(&mut self, op: &str, lines: &str) -> String {
        let on = self.send(&format!("-register on {op} hostmaster@nic.coop\n"));
        assert_eq!(on, "%ok\r\n", "-register on {op}");
        self.send(&format!("{lines}-register off\n"))
    }

    /// The object's dump display (`class:Attribute:value` lines, LF), or `None`.
    fn dump(&mut self, query: &str) -> Option<String> {
        let a = self.send(&format!("{query}\n"));
        if a.starts_with("%error 230") {
            return None;
        }
        assert!(a.ends_with("%ok\r\n"), "{a}");
        Some(a.trim_end_matches("%ok\r\n").replace("\r\n", "\n"))
    }
}

fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spool_files(spool: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".chg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// An operators file with `alice` (hash made by `whoisd --hash-password`).
fn operators_file(dir: &Path) -> std::path::PathBuf {
    let mut child = Command::new(binary("whoisd"))
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let path = dir.join("operators");
    let hash = String::from_utf8(out.stdout).unwrap();
    std::fs::write(&path, format!("alice:{}", hash.trim())).unwrap();
    path
}

/// A new contact from CNT-1002's dump display, under `id`.
fn new_contact(c: &mut Client, id: &str) -> String {
    let d = c.dump("contact CNT-1002").expect("CNT-1002 is served");
    d.replace(
        "contact:Contact-ID:CNT-1002",
        &format!("contact:Contact-ID:{id}"),
    )
}

/// A `loader watch` on `spool` (logging to `loader.log` in the registry's directory) and
/// a whoisd on the registry's database that takes registrations from alice into `spool`.
/// Keep the loader alive as long as the whoisd.
fn loader_and_registering_whoisd(reg: &Registry, spool: &Path) -> (KillOnDrop, Whoisd) {
    let ops = operators_file(reg.dir.path());
    let loader = loader_watch(&reg.db, spool, &reg.dir.path().join("loader.log"), &[]);
    let whoisd = Whoisd::start(
        &reg.db,
        &[
            "--operators",
            ops.to_str().unwrap(),
            "--spool",
            spool.to_str().unwrap(),
            "--reload-interval",
            "10ms",
        ],
    );
    (loader, whoisd)
}

#[test]
fn register_add_mod_del_through_the_spool() {
    let reg = Registry::new(50);
    let spool = reg.dir.path().join("changes");
    std::fs::create_dir_all(&spool).unwrap();
    let (_loader, whoisd) = loader_and_registering_whoisd(&reg, &spool);
    let rw = whoisd.rwhois.expect("RWhois served");
    let mut c = Client::connect(rw);
    // Offered: bit 0x100 of the capability ID, and listed.
    let cap = c.banner.split(':').nth(1).unwrap();
    let cap = u32::from_str_radix(cap, 16).unwrap();
    assert_eq!(cap & 0x100, 0x100, "{}", c.banner);
    assert!(c.send("-directive register\n").ends_with("%ok\r\n"));

    // Not authenticated: 401, nothing written.
    let a = c.send("-register on add hostmaster@nic.coop\n");
    assert_eq!(last_line(&a), "%error 401 Not Authorized For Directive");
    assert!(spool_files(&spool).is_empty());

    c.login();
    // add
    let contact = new_contact(&mut c, "CNT-REG-1");
    let a = c.register("add", &contact);
    assert!(a.contains("%register ID:CNT-REG-1\r\n%ok\r\n"), "{a}");
    assert!(a.contains("is recorded in the change spool"), "{a}");
    let files = spool_files(&spool);
    assert_eq!(files.len(), 1, "durable before the answer");
    let text = std::fs::read_to_string(spool.join(&files[0])).unwrap();
    assert!(
        text.contains("Origin: whoisd -register by operator alice"),
        "{text}"
    );
    assert!(text.contains("Change: put contact CNT-REG-1"), "{text}");
    wait_for("the added contact in whois", || {
        c.dump("contact CNT-REG-1").is_some()
    });
    // Port 43 answers it as well ("No match" would echo the handle, not the label).
    assert!(
        whoisd
            .query("contact CNT-REG-1")
            .contains("Contact ID: CNT-REG-1")
    );

    // mod with the record as read: accepted.
    let seen = c.dump("contact CNT-REG-1").expect("served");
    let city = seen
        .lines()
        .find_map(|l| l.strip_prefix("contact:City:"))
        .unwrap()
        .to_string();
    let new = seen.replace(&format!("contact:City:{city}"), "contact:City:Registerton");
    let a = c.register("mod", &format!("{seen}_NEW_\n{new}"));
    assert!(a.contains("%register Updated:"), "{a}");
    assert_eq!(last_line(&a), "%ok");
    wait_for("the modified contact in whois", || {
        c.dump("contact CNT-REG-1")
            .is_some_and(|d| d.contains("contact:City:Registerton"))
    });

    // mod with the stale record: 325, nothing changes.
    let before = spool_files(&spool);
    let stale = seen.replace(&format!("contact:City:{city}"), "contact:City:Elsewhere");
    let a = c.register("mod", &format!("{seen}_NEW_\n{stale}"));
    assert_eq!(
        last_line(&a),
        "%error 325 Failed To Update Outdated Object",
        "{a}"
    );
    assert_eq!(spool_files(&spool), before);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        c.dump("contact CNT-REG-1")
            .unwrap()
            .contains("contact:City:Registerton")
    );

    // Malformed blocks: clear errors, nothing written.
    let a = c.register("add", "Class-Name:contact\nColour:blue\n");
    assert_eq!(last_line(&a), "%error 320 Invalid Attribute", "{a}");
    assert!(a.contains("no attribute \"Colour\""), "{a}");
    let a = c.register("add", "Contact-ID:CNT-X\n");
    assert_eq!(
        last_line(&a),
        "%error 322 Required Attribute Missing",
        "{a}"
    );
    let a = c.register("mod", &seen);
    assert_eq!(last_line(&a), "%error 338 Invalid Directive Syntax", "{a}");
    let a = c.send("-register off\n");
    assert_eq!(last_line(&a), "%error 338 Invalid Directive Syntax", "{a}");
    let a = c.register("add", &contact);
    assert_eq!(last_line(&a), "%error 324 Primary Key Not Unique", "{a}");
    assert_eq!(spool_files(&spool), before);

    // del of the current record: gone from whois.
    let current = c.dump("contact CNT-REG-1").unwrap();
    let a = c.register("del", &current);
    assert_eq!(last_line(&a), "%ok", "{a}");
    wait_for("the deleted contact gone", || {
        c.dump("contact CNT-REG-1").is_none()
    });
    let a = c.register("del", &current);
    assert_eq!(last_line(&a), "%error 336 Object Not Found", "{a}");

    // Port 43 speaks it too (directive-style answers).
    let mut s = TcpStream::connect(whoisd.whois).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let port43 = format!(
        "-holdconnect on\n-security on request password alice {PASSWORD}\n\
         -register on add hostmaster@nic.coop\n{}-register off\n-quit\n",
        new_contact(&mut c, "CNT-REG-43")
    );
    s.write_all(port43.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    assert!(
        answer.contains("% register ID:CNT-REG-43\r\n%ok\r\n"),
        "{answer}"
    );
    wait_for("the port-43 registration in whois", || {
        c.dump("contact CNT-REG-43").is_some()
    });
}

#[test]
fn register_with_eppd_is_sequenced_by_eppd() {
    let reg = Registry::new(20);
    let certs = reg.dir.path().join("certs");
    let out = Command::new(binary("eppd"))
        .arg("gen-dev-certs")
        .arg(&certs)
        .arg("ClientX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let spool = reg.dir.path().join("changes");
    let admin = reg.dir.path().join("eppd.admin");
    let _eppd = Eppd::start(
        &reg.db,
        &certs,
        &spool,
        &["--admin-socket", admin.to_str().unwrap()],
    );
    let (_loader, whoisd) = loader_and_registering_whoisd(&reg, &spool);
    let mut c = Client::connect(whoisd.rwhois.unwrap());
    c.login();
    let seen = c.dump("contact CNT-1002").expect("served");
    let new = seen.replace("contact:Email:", "contact:Email:x");
    let a = c.register("mod", &format!("{seen}_NEW_\n{new}"));
    assert!(a.contains("(sequenced by eppd)"), "{a}");
    assert_eq!(last_line(&a), "%ok", "{a}");
    // eppd holds the new record now: a mod based on the old version it no longer has is a
    // conflict if it reaches eppd before the loader publishes (else whoisd's own check).
    let again = seen.replace("contact:Email:", "contact:Email:y");
    let a = c.register("mod", &format!("{seen}_NEW_\n{again}"));
    assert_eq!(
        last_line(&a),
        "%error 325 Failed To Update Outdated Object",
        "{a}"
    );
    wait_for("the change published", || {
        c.dump("contact CNT-1002")
            .is_some_and(|d| d.lines().any(|l| l.starts_with("contact:Email:x")))
    });
    // Nothing was refused by the loader (eppd and the loader agree).
    let rejected = reg.dir.path().join("rejected");
    let n = std::fs::read_dir(&rejected).map_or(0, Iterator::count);
    assert_eq!(n, 0, "files in {}", rejected.display());
}
