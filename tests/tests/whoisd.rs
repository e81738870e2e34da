//! The whois service as the public meets it: the real `whoisd` binary on loopback over a
//! compiled `mkdb gen` database, asked by Debian's `whois` client and by raw sockets.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tests::{Registry, Whoisd, exchange};

/// One database for the read-only tests (compiling is the slow part).
fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::new(2_000))
}

/// Debian's whois client (installed by `tools/run-tests`).
fn whois(server: &Whoisd, args: &[&str]) -> String {
    let out = Command::new("whois")
        .args(["-h", "127.0.0.1", "-p", &server.whois.port().to_string()])
        .args(args)
        .output()
        .expect("run Debian's whois client (apt-get install whois; tools/run-tests does)");
    assert!(out.status.success(), "whois {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 answer")
}

fn assert_complete(answer: &str) {
    assert!(
        answer.trim_end().ends_with("<<<"),
        "answer does not end with the last-update line:\n{answer}"
    );
}

#[test]
fn debian_whois_client_gets_full_records() {
    let s = Whoisd::start(&registry().db, &[]);
    let a = whois(&s, &["test.coop"]);
    assert!(a.starts_with("% .coop registry whois service"), "{a}");
    for line in [
        "Domain Name: test.coop",
        "Sponsoring Registrar: REG-42",
        "Registrant ID: CNT-1002",
        "Name Server: dns0.nic.coop",
        "Name Server IP Address: 10.10.10.10",
        "Created On: 2001-05-05T00:00:00Z",
    ] {
        assert!(a.contains(line), "missing {line:?} in\n{a}");
    }
    assert!(!a.contains("authInfo") && !a.to_lowercase().contains("auth info"));
    assert_complete(&a);

    let a = whois(&s, &["contact CNT-1002"]);
    assert!(a.contains("Contact ID: CNT-1002"), "{a}");
    let a = whois(&s, &["nameserver dns0.nic.coop"]);
    assert!(
        a.to_lowercase().contains("nameserver name: dns0.nic.coop"),
        "{a}"
    );
    let by_ip = whois(&s, &["nameserver 10.10.10.10"]);
    assert!(by_ip.to_lowercase().contains("dns0.nic.coop"), "{by_ip}");
    let a = whois(&s, &["registrar SAMPLE"]);
    assert!(a.contains("REG-42"), "{a}");
    let a = whois(&s, &["TEST.COOP"]);
    assert!(
        a.contains("Domain Name: test.coop"),
        "case-insensitive: {a}"
    );
    let a = whois(&s, &["nosuch-domain.coop"]);
    assert!(a.contains("No match for \"nosuch-domain.coop\""), "{a}");
    assert_complete(&a);
}

#[test]
fn debian_whois_client_with_a_directive_only() {
    let s = Whoisd::start(&registry().db, &[]);
    let t = Instant::now();
    let a = whois(&s, &["--", "-X-date"]);
    assert!(a.contains("% X-date 20"), "{a}");
    assert!(a.trim_end().ends_with("%ok"), "{a}");
    // Closed after the directive wait (1 s), not the idle timeout (30 s).
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn wildcards_booleans_and_the_hit_limit() {
    let s = Whoisd::start(&registry().db, &[]);
    let a = s.query("test*");
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    let a = s.query("*est.coop");
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    let a = s.query("*");
    assert_eq!(a.matches("Domain Name:").count(), 20, "default limit 20");
    assert!(a.contains("% More records match"), "{a}");
    let a = s.send(b"-limit 3\r\n*\r\n");
    assert!(a.contains("%ok"), "{a}");
    assert_eq!(a.matches("Domain Name:").count(), 3, "{a}");
    let a = s.query("test.coop or nosuch.coop");
    assert_eq!(a.matches("Domain Name:").count(), 1, "{a}");
    let a = s.query("test* and *.coop");
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    let a = s.query("*a*b*");
    assert!(a.contains("% Error:"), "{a}");
    assert_complete(&a);
}

#[test]
fn every_directive_answers() {
    let s = Whoisd::start(&registry().db, &[]);
    let directives = s.send(b"-directive\r\n-quit\r\n");
    for d in [
        "class",
        "directive",
        "display",
        "forward",
        "holdconnect",
        "limit",
        "notify",
        "quit",
        "schema",
        "soa",
        "status",
        "X-date",
    ] {
        assert!(
            directives
                .to_lowercase()
                .contains(&format!("directive:{}", d.to_lowercase())),
            "-directive does not list {d}:\n{directives}"
        );
    }
    // Not offered here: no operators configured (-security), no mirror allowed (-xfer),
    // -register not connected yet, -rwhois only on the RWhois port.
    for d in ["security", "register", "xfer", "rwhois"] {
        assert!(
            !directives.contains(&format!("directive:{d}\r\n")),
            "-directive lists {d}:\n{directives}"
        );
    }
    for (input, expect) in [
        ("-class\r\n", "%ok"),
        ("-display\r\n", "%ok"),
        ("-forward off\r\n", "%ok"),
        ("-holdconnect off\r\n", "%ok"),
        ("-limit\r\n", "%ok"),
        ("-notify badref CNT-1\r\n", "%ok"),
        ("-schema domain\r\n", "%ok"),
        ("-soa\r\n", "%ok"),
        ("-status\r\n", "%ok"),
        ("-X-date\r\n", "%ok"),
        ("-register\r\n", "%error 401"),
        ("-xfer\r\n", "%error 401"),
        ("-X-pgp\r\n", "%error 400"),
        ("-frobnicate\r\n", "%error 400"),
        ("-quit\r\n", "%ok"),
    ] {
        let a = s.send(format!("{input}-quit\r\n").as_bytes());
        assert!(a.contains(expect), "{input:?} → expected {expect}:\n{a}");
    }
}

#[test]
fn xfer_only_for_allowed_mirrors() {
    let reg = registry();
    let open = Whoisd::start(&reg.db, &["--xfer-allow", "127.0.0.0/8"]);
    let a = open.send(b"-xfer coop registrar\r\n-quit\r\n");
    assert!(a.contains("% xfer registrar:"), "{a}");
    assert!(!a.contains("%error"), "{a}");
    let closed = Whoisd::start(&reg.db, &["--xfer-allow", "192.0.2.0/24"]);
    let a = closed.send(b"-xfer coop registrar\r\n-quit\r\n");
    assert!(a.contains("%error 401"), "{a}");
}

#[test]
fn holdconnect_answers_pipelined_queries_on_one_connection() {
    let s = Whoisd::start(&registry().db, &[]);
    let mut input = b"-holdconnect on\r\n".to_vec();
    for _ in 0..200 {
        input.extend_from_slice(b"test.coop\r\nnosuch.coop\r\n");
    }
    input.extend_from_slice(b"-quit\r\n");
    let a = s.send(&input);
    assert_eq!(a.matches("Domain Name: test.coop").count(), 200);
    assert_eq!(a.matches("No match for").count(), 200);
    assert_eq!(a.matches(">>> Last update").count(), 400);
}

#[test]
fn a_query_sent_byte_by_byte_and_half_closed() {
    let s = Whoisd::start(&registry().db, &[]);
    let mut c = TcpStream::connect(s.whois).unwrap();
    for b in b"test.coop" {
        c.write_all(&[*b]).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    // No line end: the half-close ends the query.
    c.shutdown(Shutdown::Write).unwrap();
    let mut a = String::new();
    c.read_to_string(&mut a).unwrap();
    assert!(a.contains("Domain Name: test.coop"), "{a}");
}

#[test]
fn bad_input_gets_an_error_and_a_close() {
    let s = Whoisd::start(&registry().db, &[]);
    let long = vec![b'a'; 5000];
    let a = s.send(&long);
    assert!(a.contains("longer than 1024 bytes"), "{a}");
    assert!(a.contains("%error 350"), "{a}");
    let a = s.send(b"\x00\x01\x02\xff\xfe\r\n");
    assert!(a.contains("%error 350"), "{a}");
    let a = s.send(b"\xc3\x28.coop\r\n");
    assert!(a.contains("not valid UTF-8"), "{a}");
    // Junk after an over-long line is never read as a query.
    let mut junk = vec![b'x'; 2000];
    junk.extend_from_slice(b"\r\ntest.coop\r\n");
    let a = s.send(&junk);
    assert!(!a.contains("Domain Name"), "{a}");
    // The server is still fine.
    assert!(s.query("test.coop").contains("Domain Name: test.coop"));
}

#[test]
fn idle_connections_are_told_and_closed() {
    let s = Whoisd::start(&registry().db, &["--idle-timeout", "300ms"]);
    let t = Instant::now();
    let a = exchange(s.whois, b"");
    assert!(a.contains("%error 503 Idle Time Exceeded"), "{a}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A held connection that goes quiet too.
    let a = exchange(s.whois, b"-holdconnect on\r\ntest.coop\r\n");
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    assert!(a.contains("%error 503"), "{a}");
}

#[test]
fn a_client_that_never_reads_does_not_hold_the_server() {
    let s = Whoisd::start(&registry().db, &["--idle-timeout", "500ms"]);
    let mut c = TcpStream::connect(s.whois).unwrap();
    let mut input = b"-holdconnect on\r\n-limit 2000\r\n".to_vec();
    for _ in 0..2000 {
        input.extend_from_slice(b"*\r\n");
    }
    // Never read: the server stops reading at its output bound, then times out.
    let _ = c.write_all(&input);
    for _ in 0..20 {
        assert!(s.query("test.coop").contains("Domain Name: test.coop"));
    }
    thread::sleep(Duration::from_millis(1500));
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sink = Vec::new();
    // The server gave up on it: reading ends (EOF or reset), it does not hang.
    let _ = c.read_to_end(&mut sink);
}

#[test]
fn over_the_connection_cap_clients_are_told_to_retry() {
    let s = Whoisd::start(&registry().db, &["--max-connections", "2"]);
    let _a = TcpStream::connect(s.whois).unwrap();
    let _b = TcpStream::connect(s.whois).unwrap();
    thread::sleep(Duration::from_millis(200));
    let a = exchange(s.whois, b"test.coop\r\n");
    assert!(a.contains("%error 501"), "{a}");
    drop(_a);
    drop(_b);
    thread::sleep(Duration::from_millis(200));
    assert!(s.query("test.coop").contains("Domain Name"));
}

#[test]
fn two_clones_share_one_port() {
    let reg = registry();
    let first = Whoisd::start(&reg.db, &["--no-rwhois"]);
    let addr = first.whois.to_string();
    let second = Whoisd::start_on(&reg.db, &addr, &["--no-rwhois"]);
    assert_eq!(first.whois, second.whois);
    for _ in 0..50 {
        assert!(first.query("test.coop").contains("Domain Name: test.coop"));
    }
    // One clone stops; the other keeps serving the port.
    drop(first);
    for _ in 0..50 {
        assert!(second.query("test.coop").contains("Domain Name: test.coop"));
    }
}

#[test]
fn sigterm_finishes_open_connections_then_exits() {
    let mut s = Whoisd::start(&registry().db, &[]);
    // A connection that has sent half a query when the signal comes.
    let mut c = TcpStream::connect(s.whois).unwrap();
    c.write_all(b"test.c").unwrap();
    thread::sleep(Duration::from_millis(100));
    s.terminate();
    thread::sleep(Duration::from_millis(200));
    c.write_all(b"oop\r\n").unwrap();
    let mut a = String::new();
    c.read_to_string(&mut a).unwrap();
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    let status = s.wait(Duration::from_secs(15)).expect("whoisd exits");
    assert!(status.success(), "{status:?}: {}", s.log());
    assert!(TcpStream::connect(s.whois).is_err(), "still accepting");
}

#[test]
fn generation_switch_under_load_fails_no_query() {
    let reg = Registry::new(500);
    let s = Whoisd::start(&reg.db, &["--reload-interval", "20ms"]);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let addr = s.whois;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let answered = Arc::clone(&answered);
            thread::spawn(move || {
                let mut generations = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let a = exchange(addr, b"test.coop\r\n");
                    assert!(a.contains("Domain Name: test.coop"), "failed query: {a}");
                    assert_complete(&a);
                    let g: u64 = a
                        .rsplit("(generation ")
                        .next()
                        .and_then(|t| t.split(')').next())
                        .and_then(|n| n.parse().ok())
                        .expect("generation number");
                    generations.push(g);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                generations
            })
        })
        .collect();
    let mut last = 1;
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(100));
        last = reg.compile();
    }
    // Every worker switches within a fraction of a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = s.query("test.coop");
        if a.contains(&format!("(generation {last})")) {
            break;
        }
        assert!(Instant::now() < deadline, "never switched to {last}: {a}");
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.join().expect("a client saw a failed query"));
    }
    assert!(answered.load(Ordering::Relaxed) > 50);
    assert!(seen.iter().any(|&g| g > 1), "no query saw a new generation");
}

/// Segment directories the process has mapped (from /proc/PID/maps).
fn mapped_segments(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut v: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split("/segments/").nth(1))
        .filter_map(|rest| rest.split('/').next())
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn retired_generations_are_unmapped() {
    let reg = Registry::new(300);
    let s = Whoisd::start(&reg.db, &["--reload-interval", "20ms"]);
    let before = mapped_segments(s.pid());
    assert!(before.iter().any(|n| n.contains("-domain-")), "{before:?}");
    // A hand edit of the domain file: that segment is rebuilt, the others are reused.
    let file = reg.src.join("data/domain/domain-0000.txt");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# edited by hand\n");
    std::fs::write(&file, text).unwrap();
    let g = reg.compile();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.query("test.coop").contains(&format!("(generation {g})")) {
        assert!(Instant::now() < deadline, "never switched");
        thread::sleep(Duration::from_millis(10));
    }
    // Every worker lets go of the old domain segment.
    let old_domain: Vec<&String> = before.iter().filter(|n| n.contains("-domain-")).collect();
    loop {
        let now = mapped_segments(s.pid());
        if !now.iter().any(|n| old_domain.contains(&n)) {
            assert!(now.iter().any(|n| n.contains("-domain-")), "{now:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old segment still mapped: {now:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn proxy_v2(src: [u8; 4], local: bool) -> Vec<u8> {
    let mut v = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v.push(if local { 0x20 } else { 0x21 });
    v.push(0x11);
    v.extend_from_slice(&12u16.to_be_bytes());
    v.extend_from_slice(&src);
    v.extend_from_slice(&[127, 0, 0, 1]);
    v.extend_from_slice(&40000u16.to_be_bytes());
    v.extend_from_slice(&43u16.to_be_bytes());
    v
}

#[test]
fn proxy_headers_from_a_balancer_name_the_real_client() {
    // The real client's address decides -xfer: only 192.0.2.0/24 may mirror.
    let s = Whoisd::start(
        &registry().db,
        &[
            "--proxy-from",
            "127.0.0.0/8",
            "--xfer-allow",
            "192.0.2.0/24",
        ],
    );
    let xfer = b"-xfer coop registrar\r\n-quit\r\n";
    let a = s.send(
        &[
            b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 43\r\n".as_slice(),
            xfer,
        ]
        .concat(),
    );
    assert!(a.contains("% xfer registrar:"), "{a}");
    let a = s.send(
        &[
            b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 43\r\n".as_slice(),
            xfer,
        ]
        .concat(),
    );
    assert!(a.contains("%error 401"), "{a}");
    let a = s.send(&[proxy_v2([192, 0, 2, 10], false).as_slice(), xfer].concat());
    assert!(a.contains("% xfer registrar:"), "{a}");
    // LOCAL (a health check): the balancer itself, not allowed to mirror.
    let a = s.send(&[proxy_v2([192, 0, 2, 10], true).as_slice(), xfer].concat());
    assert!(a.contains("%error 401"), "{a}");
    let a = s.send(&[b"PROXY UNKNOWN\r\n".as_slice(), b"test.coop\r\n"].concat());
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    // The header in fragments.
    let mut c = TcpStream::connect(s.whois).unwrap();
    for part in [
        &b"PROXY TCP4 192.0"[..],
        b".2.9 127.0.0.1 5",
        b"000 43\r\ntest.",
        b"coop\r\n",
    ] {
        c.write_all(part).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let mut a = String::new();
    c.read_to_string(&mut a).unwrap();
    assert!(a.contains("Domain Name: test.coop"), "{a}");
    // No header, a malformed one, or junk: closed without an answer.
    for bad in [
        &b"test.coop\r\n"[..],
        b"PROXY TCP4 999.0.2.9 127.0.0.1 5000 43\r\ntest.coop\r\n",
        b"PROXY TCP4 192.0.2.9 127.0.0.1 5000\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
    ] {
        assert_eq!(s.send(bad), "", "{:?}", String::from_utf8_lossy(bad));
    }
    assert!(s.log().contains("bad PROXY protocol header"), "{}", s.log());
}

#[test]
fn proxy_headers_from_anyone_else_are_refused() {
    let s = Whoisd::start(&registry().db, &["--xfer-allow", "192.0.2.0/24"]);
    let a = s.send(b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 43\r\n-xfer\r\n");
    assert!(a.contains("not a configured load balancer"), "{a}");
    assert!(!a.contains("% xfer"), "{a}");
}

fn from(last: u8) -> Option<std::net::IpAddr> {
    Some(std::net::IpAddr::from([127, 0, 0, last]))
}

#[test]
fn abuse_limits_per_source_told_and_reloadable() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("limits");
    std::fs::write(
        &policy,
        "Mode: enforce\nQuery-Rate: 1/m\nQuery-Burst: 3\nConnections-Per-Source: 2\n\
         Deny: 127.0.0.66\n",
    )
    .unwrap();
    let s = Whoisd::start(&registry().db, &["--limits", policy.to_str().unwrap()]);
    let q = b"test.coop\r\n";
    for _ in 0..3 {
        assert!(tests::exchange_from(from(2), s.whois, q).contains("Domain Name: test.coop"));
    }
    let a = tests::exchange_from(from(2), s.whois, q);
    assert!(a.contains("query rate limit exceeded"), "{a}");
    assert!(a.contains("retry after"), "{a}");
    assert!(!a.contains("Domain Name"), "{a}");
    // Another source is served.
    assert!(tests::exchange_from(from(3), s.whois, q).contains("Domain Name: test.coop"));
    // Pipelined queries on one held connection count one by one.
    let a = tests::exchange_from(
        from(4),
        s.whois,
        b"-holdconnect on\r\ntest.coop\r\ntest.coop\r\ntest.coop\r\n",
    );
    assert_eq!(a.matches("Domain Name: test.coop").count(), 2, "{a}");
    assert!(a.contains("query rate limit exceeded"), "{a}");
    // Connections per source.
    let _c1 = tests::connect_from(from(5), s.whois);
    let _c2 = tests::connect_from(from(5), s.whois);
    thread::sleep(Duration::from_millis(100));
    let a = tests::exchange_from(from(5), s.whois, q);
    assert!(a.contains("too many connections"), "{a}");
    // Deny-list.
    let a = tests::exchange_from(from(66), s.whois, q);
    assert!(a.contains("refused by this server's access policy"), "{a}");
    // Live reload: switch to detect; the limited source is served again.
    std::fs::write(&policy, "Mode: detect\n").unwrap();
    s.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log().contains("limits reloaded") {
        assert!(Instant::now() < deadline, "{}", s.log());
        thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..5 {
        assert!(tests::exchange_from(from(2), s.whois, q).contains("Domain Name: test.coop"));
    }
    // A broken policy file keeps the previous one.
    std::fs::write(&policy, "Mode: sometimes\n").unwrap();
    s.hangup();
    while !s.log().contains("limits NOT reloaded") {
        assert!(Instant::now() < deadline, "{}", s.log());
        thread::sleep(Duration::from_millis(20));
    }
    assert!(tests::exchange_from(from(2), s.whois, q).contains("Domain Name: test.coop"));
}

#[test]
fn limits_apply_to_the_client_a_balancer_names() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("limits");
    std::fs::write(&policy, "Mode: enforce\nQuery-Rate: 1/m\nQuery-Burst: 2\n").unwrap();
    let s = Whoisd::start(
        &registry().db,
        &[
            "--limits",
            policy.to_str().unwrap(),
            "--proxy-from",
            "127.0.0.1/32",
        ],
    );
    let via = |client: &str| {
        let header = format!("PROXY TCP4 {client} 127.0.0.1 5000 43\r\ntest.coop\r\n");
        s.send(header.as_bytes())
    };
    assert!(via("192.0.2.1").contains("Domain Name"));
    assert!(via("192.0.2.1").contains("Domain Name"));
    assert!(via("192.0.2.1").contains("query rate limit exceeded"));
    // Same balancer, another client: served.
    assert!(via("192.0.2.2").contains("Domain Name"));
}

/// A free loopback address for a listener the harness does not report (the metrics port).
fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// One HTTP request with a real client: `curl` if installed, else Python's urllib.
/// Returns the status code, the header lines and the body.
fn http(method: &str, url: &str) -> (u16, Vec<String>, String) {
    let curl = Command::new("curl")
        .args(["-s", "-S", "-i", "--max-time", "10"])
        .args(if method == "HEAD" {
            vec!["-I".to_owned()]
        } else {
            vec!["-X".to_owned(), method.to_owned()]
        })
        .arg(url)
        .output();
    let raw = match curl {
        Ok(out) => String::from_utf8(out.stdout).expect("UTF-8 response"),
        Err(_) => {
            let script = "import sys, urllib.request, urllib.error\n\
                          req = urllib.request.Request(sys.argv[2], method=sys.argv[1])\n\
                          try:\n    r = urllib.request.urlopen(req, timeout=10)\n\
                          except urllib.error.HTTPError as e:\n    r = e\n\
                          sys.stdout.write('HTTP/1.1 %d x\\r\\n' % r.status)\n\
                          for k, v in r.headers.items():\n    sys.stdout.write('%s: %s\\r\\n' % (k, v))\n\
                          sys.stdout.write('\\r\\n' + r.read().decode())\n";
            let out = Command::new("python3")
                .args(["-c", script, method, url])
                .output()
                .expect("neither curl nor python3 to run an HTTP client");
            String::from_utf8(out.stdout).expect("UTF-8 response")
        }
    };
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    (status, lines.map(str::to_owned).collect(), body.to_owned())
}

fn header<'h>(headers: &'h [String], name: &str) -> Option<&'h str> {
    headers.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Parses a Prometheus text exposition strictly: every sample line is
/// `name{label="value",...} value` with an integer value (a histogram's `_sum`, in seconds,
/// excepted: it is returned in microseconds), every metric family has one HELP and one TYPE
/// line before its samples, a histogram's buckets are cumulative and end at `+Inf` with its
/// `_count`. Returns `name{labels}` to value.
fn parse_exposition(text: &str) -> std::collections::BTreeMap<String, u64> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let mut help = HashSet::new();
    let mut typed = HashSet::new();
    let mut histograms = HashSet::new();
    // Per histogram: its buckets' values in order, and whether +Inf was the last.
    let mut buckets: HashMap<String, (Vec<u64>, bool)> = HashMap::new();
    let mut samples = BTreeMap::new();
    let is_name = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
            && !n.as_bytes()[0].is_ascii_digit()
    };
    assert!(text.ends_with('\n'), "no final newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name) && !doc.is_empty(), "{line}");
            assert!(help.insert(name.to_owned()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(help.contains(name), "TYPE before HELP: {line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            if kind == "histogram" {
                histograms.insert(name.to_owned());
            }
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let histogram_of = |suffix: &str| {
            let family = series.split('{').next()?.strip_suffix(suffix)?;
            histograms.contains(family).then(|| family.to_owned())
        };
        let value: u64 = if histogram_of("_sum").is_some() {
            let seconds: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            assert!(seconds.is_finite() && seconds >= 0.0, "{line}");
            (seconds * 1e6).round() as u64
        } else {
            value.parse().unwrap_or_else(|_| panic!("value in {line}"))
        };
        if let Some(family) = histogram_of("_bucket") {
            let (values, ended) = buckets.entry(family).or_default();
            assert!(!*ended, "bucket after +Inf: {line}");
            assert!(
                values.last().is_none_or(|&v| v <= value),
                "not cumulative: {line}"
            );
            values.push(value);
            *ended = series.contains("le=\"+Inf\"");
        }
        if let Some(family) = histogram_of("_count") {
            let (values, ended) = buckets.get(&family).expect("_count after the buckets");
            assert!(*ended && values.last() == Some(&value), "{line}");
        }
        let name = match series.split_once('{') {
            None => series,
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end in }");
                for pair in labels.split(',') {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(is_name(k), "{line}");
                    assert!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                    assert!(!v[1..v.len() - 1].contains(['"', '\\']), "{line}");
                }
                name
            }
        };
        assert!(is_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| histograms.contains(*f))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its TYPE: {line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    for name in &help {
        assert!(typed.contains(name), "HELP without TYPE: {name}");
        assert!(
            samples.keys().any(|k| k == name
                || k.starts_with(&format!("{name}{{"))
                || (histograms.contains(name) && k.starts_with(&format!("{name}_")))),
            "no sample of {name}"
        );
    }
    for name in &histograms {
        assert!(
            buckets.get(name).is_some_and(|b| b.1),
            "{name}: no +Inf bucket"
        );
        for part in ["_sum", "_count"] {
            assert!(
                samples.contains_key(&format!("{name}{part}")),
                "{name}{part} missing"
            );
        }
    }
    samples
}

#[test]
fn metrics_page_counts_queries_answers_and_connections() {
    let metrics = free_addr();
    let s = Whoisd::start(
        &registry().db,
        &["--metrics", &metrics.to_string(), "--no-rwhois"],
    );
    let url = format!("http://{metrics}/metrics");
    // A fresh clone: everything at zero but the generation.
    let (code, headers, body) = http("GET", &url);
    assert_eq!(code, 200, "{headers:?}");
    let m = parse_exposition(&body);
    assert_eq!(m["whoisd_queries_total"], 0, "{body}");
    assert_eq!(m["whoisd_connections_total"], 0, "{body}");

    let mut generation = 0;
    for _ in 0..3 {
        let a = s.query("test.coop");
        assert!(a.contains("Domain Name: test.coop"), "{a}");
        generation = a
            .rsplit("(generation ")
            .next()
            .and_then(|t| t.split(')').next())
            .and_then(|n| n.parse().ok())
            .expect("generation number");
    }
    assert!(s.query("nosuch.coop").contains("No match"));
    assert!(s.query("*a*b*").contains("% Error:"));
    let a = s.send(b"-holdconnect on\r\n-X-date\r\n\r\n-quit\r\n");
    assert_eq!(a.matches("%ok").count(), 3, "{a}");

    let (code, headers, body) = http("GET", &url);
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "Content-Type"),
        Some("text/plain; version=0.0.4"),
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, "Content-Length").and_then(|n| n.parse().ok()),
        Some(body.len()),
        "{headers:?}"
    );
    assert_eq!(header(&headers, "Connection"), Some("close"), "{headers:?}");
    let m = parse_exposition(&body);
    let want = [
        ("whoisd_queries_total", 8),
        ("whoisd_answers_total{kind=\"hit\"}", 3),
        ("whoisd_answers_total{kind=\"no_match\"}", 1),
        ("whoisd_answers_total{kind=\"error\"}", 1),
        ("whoisd_answers_total{kind=\"directive\"}", 3),
        ("whoisd_records_total", 3),
        ("whoisd_contact_records_total", 12),
        ("whoisd_connections_total", 6),
        ("whoisd_connections_open", 0),
        ("whoisd_connections_refused_total{reason=\"busy\"}", 0),
        ("whoisd_connections_refused_total{reason=\"idle\"}", 0),
        ("whoisd_connections_refused_total{reason=\"proxy\"}", 0),
        ("whoisd_limited_total{limit=\"rate\"}", 0),
        ("whoisd_limited_total{limit=\"connections\"}", 0),
        ("whoisd_limited_total{limit=\"contacts\"}", 0),
        ("whoisd_limited_total{limit=\"deny\"}", 0),
        ("whoisd_detected_total", 0),
        ("whoisd_limiter_sources", 0),
        ("whoisd_generation", generation),
    ];
    for (series, value) in want {
        assert_eq!(m.get(series), Some(&value), "{series} in\n{body}");
    }
    assert!(m["whoisd_bytes_sent_total"] > 6 * 200, "{body}");
    // Every answer was timed, each well under 2 s.
    let latency = "whoisd_answer_duration_seconds";
    assert_eq!(m[&format!("{latency}_count")], 8, "{body}");
    assert_eq!(m[&format!("{latency}_bucket{{le=\"2\"}}")], 8, "{body}");
    assert!(m[&format!("{latency}_sum")] < 8 * 2_000_000, "{body}");

    // HEAD: the headers alone; other paths 404, other methods 405.
    let (code, headers, body) = http("HEAD", &url);
    assert_eq!(code, 200);
    assert!(body.is_empty(), "{body}");
    assert!(header(&headers, "Content-Length").is_some(), "{headers:?}");
    assert_eq!(http("GET", &format!("http://{metrics}/")).0, 404);
    assert_eq!(http("GET", &format!("http://{metrics}/metrics/x")).0, 404);
    assert_eq!(http("POST", &url).0, 405);
    // Raw sockets: a request in pieces, an endless head, junk.
    let mut c = TcpStream::connect(metrics).unwrap();
    for part in [&b"GET /metr"[..], b"ics HTTP/1.1\r\nHost: x\r\n", b"\r\n"] {
        c.write_all(part).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let mut a = String::new();
    c.read_to_string(&mut a).unwrap();
    assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
    let mut endless = b"GET /metrics HTTP/1.1\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b'x', 9000));
    let a = exchange(metrics, &endless);
    assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
    let a = exchange(metrics, b"\x16\x03\x01 hello\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    // The scrapes counted no whois connection.
    let (_, _, body) = http("GET", &url);
    assert_eq!(parse_exposition(&body)["whoisd_connections_total"], 6);
    // Whois still answers.
    assert!(s.query("test.coop").contains("Domain Name: test.coop"));
}

#[test]
fn contact_budget_takes_back_the_answer_and_operators_see_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("limits");
    std::fs::write(
        &policy,
        "Mode: enforce\nQuery-Rate: 100/s\nQuery-Burst: 100\nContact-Budget: 6/day\n",
    )
    .unwrap();
    let mut hasher = Command::new(tests::binary("whoisd"))
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    hasher
        .stdin
        .take()
        .unwrap()
        .write_all(b"opensesame\n")
        .unwrap();
    let hash = String::from_utf8(hasher.wait_with_output().unwrap().stdout).unwrap();
    let ops = dir.path().join("operators");
    std::fs::write(&ops, format!("alice:{}", hash.trim())).unwrap();
    let metrics = free_addr();
    let s = Whoisd::start(
        &registry().db,
        &[
            "--limits",
            policy.to_str().unwrap(),
            "--operators",
            ops.to_str().unwrap(),
            "--metrics",
            &metrics.to_string(),
        ],
    );
    let q = |last, input: &[u8]| tests::exchange_from(from(last), s.whois, input);
    // test.coop joins four contacts: 4 of 6.
    assert!(q(7, b"test.coop\r\n").contains("Domain Name: test.coop"));
    // 8 > 6: the whole answer is taken back; the client is told why.
    let a = q(7, b"test.coop\r\n");
    assert!(a.starts_with("% .coop registry whois service"), "{a}");
    assert!(
        !a.contains("Domain Name") && !a.contains("Registrant"),
        "{a}"
    );
    assert!(
        a.contains("daily limit of 6 contact records reached"),
        "{a}"
    );
    assert!(a.contains("retry after"), "{a}");
    assert!(a.ends_with("%error 501 Service Not Available\r\n"), "{a}");
    // A refused answer costs nothing: two more contacts fit (5, 6), a third does not.
    assert!(q(7, b"contact CNT-1002\r\n").contains("Contact ID: CNT-1002"));
    assert!(q(7, b"contact CNT-1003\r\n").contains("Contact ID: CNT-1003"));
    assert!(q(7, b"contact CNT-1002\r\n").contains("daily limit"));
    // Answers without personal data are still served.
    assert!(q(7, b"registrar SAMPLE\r\n").contains("REG-42"));
    assert!(q(7, b"nosuch.coop\r\n").contains("No match"));
    // Another source has its own budget.
    assert!(q(8, b"test.coop\r\n").contains("Domain Name: test.coop"));
    // On a held connection the answers before stay; the one over the budget is replaced.
    let a = q(
        9,
        b"-holdconnect on\r\nregistrar SAMPLE\r\ntest.coop\r\ntest.coop\r\nnosuch.coop\r\n",
    );
    assert!(a.contains("REG-42"), "{a}");
    assert_eq!(a.matches("Domain Name: test.coop").count(), 1, "{a}");
    assert_eq!(a.matches(">>> Last update").count(), 2, "{a}");
    assert!(a.ends_with("%error 501 Service Not Available\r\n"), "{a}");
    assert!(!a.contains("No match"), "closed at the limit: {a}");
    // RWhois counts contact objects.
    let rwhois = s.rwhois.expect("RWhois served");
    let mut input = Vec::new();
    for _ in 0..7 {
        input.extend_from_slice(b"contact CNT-1002\r\n");
    }
    let a = tests::exchange_from(from(10), rwhois, &input);
    assert_eq!(a.matches("contact:Contact-ID:CNT-1002").count(), 6, "{a}");
    assert!(a.contains("daily limit of 6 contact records"), "{a}");

    // Everyone's -status: no counters of other clients.
    let a = q(11, b"-status\r\n");
    assert!(a.contains("% status generation:"), "{a}");
    assert!(!a.contains("queries:") && !a.contains("limits:"), "{a}");
    // An operator's: the process's counters and the limits.
    let a = q(
        11,
        b"-holdconnect on\r\n-security on request password alice opensesame\r\n-status\r\n-quit\r\n",
    );
    assert!(a.contains("% status limits:mode enforce;"), "{a}");
    assert!(a.contains("6 contact records/day"), "{a}");
    assert!(a.contains("% status limited-contacts:4\r\n"), "{a}");
    assert!(a.contains("% status limited-rate:0\r\n"), "{a}");
    assert!(a.contains("% status answers-hit:"), "{a}");
    assert!(a.contains("% status connections-open:"), "{a}");
    assert!(a.contains("% status answer-latency:p50 <= "), "{a}");
    assert!(a.ends_with("%ok\r\n%ok\r\n"), "{a}");
    // The metrics page agrees.
    let (code, _, body) = http("GET", &format!("http://{metrics}/metrics"));
    assert_eq!(code, 200);
    let m = parse_exposition(&body);
    assert_eq!(m["whoisd_limited_total{limit=\"contacts\"}"], 4, "{body}");
    assert!(m["whoisd_limiter_sources"] >= 1, "{body}");
    // Contacts actually sent: 4+1+1 to .7, 4 to .8, 4 to .9, 6 over RWhois.
    assert_eq!(
        m["whoisd_contact_records_total"],
        4 + 2 + 4 + 4 + 6,
        "{body}"
    );
}
