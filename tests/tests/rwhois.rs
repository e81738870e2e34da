//! The RWhois port (RFC 2167) and operator authentication, over loopback with the real
//! `whoisd` binary: an RWhois client's session, and `-security` with an operators file
//! whose hash came from `whoisd --hash-password`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tests::{Registry, Whoisd, binary};

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::new(500))
}

/// An RWhois client: sends one line, reads response lines up to `%ok` or `%error`.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(s: &Whoisd) -> (Client, String) {
        let w = TcpStream::connect(s.rwhois.expect("RWhois port")).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(w.try_clone().unwrap());
        let mut banner = String::new();
        r.read_line(&mut banner).unwrap();
        (Client { w, r }, banner)
    }

    fn ask(&mut self, line: &str) -> Vec<String> {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n = self.r.read_line(&mut l).unwrap();
            assert!(n > 0, "connection closed after {lines:?}");
            assert!(l.ends_with("\r\n"), "line without CRLF: {l:?}");
            let l = l.trim_end_matches("\r\n").to_owned();
            let end = l == "%ok" || l.starts_with("%error ");
            lines.push(l);
            if end {
                return lines;
            }
        }
    }
}

#[test]
fn an_rwhois_session_per_rfc_2167() {
    let s = Whoisd::start(&registry().db, &[]);
    let (mut c, banner) = Client::connect(&s);
    assert!(banner.starts_with("%rwhois V-1.5:"), "{banner}");
    // The capability id is six hex digits, followed by the host.
    let cap = banner.split(':').nth(1).unwrap();
    assert_eq!(cap.len(), 6, "{banner}");
    assert!(u32::from_str_radix(cap, 16).is_ok(), "{banner}");

    let a = c.ask("test.coop");
    assert!(
        a.contains(&"domain:Domain-Name:test.coop".to_owned()),
        "{a:?}"
    );
    assert_eq!(a.last().unwrap(), "%ok");
    assert!(
        a.iter().all(|l| !l.to_lowercase().contains("auth")),
        "{a:?}"
    );
    // The session stays open: more queries on the same connection.
    let a = c.ask("contact CNT-1002");
    assert!(a.iter().any(|l| l.starts_with("contact:")), "{a:?}");
    let a = c.ask("nosuch-domain.coop");
    assert_eq!(a.last().unwrap(), "%error 230 No Objects Found");
    let a = c.ask("-limit 2");
    assert_eq!(a.last().unwrap(), "%ok");
    let a = c.ask("*");
    assert_eq!(a.last().unwrap(), "%error 330 Exceeded Max Objects Limit");
    assert_eq!(
        a.iter()
            .filter(|l| l.starts_with("domain:Domain-Name:"))
            .count(),
        2
    );
    let a = c.ask("po*p");
    assert!(a.last().unwrap().starts_with("%error 35"), "{a:?}");
    let a = c.ask("-soa");
    assert!(a.iter().any(|l| l.starts_with("%soa authority:")), "{a:?}");
    assert_eq!(a.last().unwrap(), "%ok");
    let a = c.ask("-directive");
    assert!(
        a.iter()
            .any(|l| l.starts_with("%directive directive:rwhois")),
        "{a:?}"
    );
    let a = c.ask("-quit");
    assert_eq!(a.last().unwrap(), "%ok");
}

#[test]
fn operators_authenticate_with_a_hashed_password() {
    // `whoisd --hash-password` makes the operators file line.
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
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operators");
    std::fs::write(
        &file,
        format!("# registry operators\nalice:{}", hash.trim()),
    )
    .unwrap();

    let s = Whoisd::start(&registry().db, &["--operators", file.to_str().unwrap()]);
    // Anonymous: no -xfer.
    let a = s.send(b"-xfer coop registrar\r\n-quit\r\n");
    assert!(a.contains("%error 401"), "{a}");
    // Authenticated: -xfer works, public attributes only.
    let a = s.send(
        b"-security on request password alice correct horse battery staple\r\n\
          -xfer coop registrar\r\n-quit\r\n",
    );
    assert!(a.contains("% xfer registrar:"), "{a}");
    assert!(!a.contains("correct horse"), "the password is echoed: {a}");
    // A wrong password is refused and the connection closed: the -xfer is never read.
    let a = s.send(b"-security on request password alice guess\r\n-xfer coop registrar\r\n");
    assert!(a.contains("%error 353"), "{a}");
    assert!(!a.contains("% xfer"), "{a}");
    // An unknown operator gets the very same answer.
    let b = s.send(b"-security on request password mallory guess\r\n-xfer coop registrar\r\n");
    assert_eq!(
        a.lines()
            .filter(|l| l.starts_with('%') && !l.starts_with("% "))
            .collect::<Vec<_>>(),
        b.lines()
            .filter(|l| l.starts_with('%') && !l.starts_with("% "))
            .collect::<Vec<_>>()
    );
    // Even authenticated, -register changes nothing (not wired to the change pipeline).
    let a = s.send(
        b"-security on request password alice correct horse battery staple\r\n-register\r\n-quit\r\n",
    );
    assert!(a.contains("%error"), "{a}");
    assert!(
        !a.contains("%error 401"),
        "an authenticated operator is not 401: {a}"
    );
}
