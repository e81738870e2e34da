//! `registry up`, the one-machine runner, as an operator starts it: on free ports in a
//! scratch directory it generates, compiles, provisions registrars and starts the loader,
//! three whoisd clones sharing one whois port, rdapd and eppd. Debian's `whois` and raw
//! sockets query the shared port, curl the RDAP service, an independent EPP client
//! (`Net::EPP::Client`, libnet-epp-perl) creates a domain that whois then answers, and
//! SIGINT stops every process it started, with exit status 0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::{binary, curl, exchange};

/// An EPP client: ClientX logs in, creates the contacts and the domain ARGV[4].
/// Arguments: HOST PORT CERTDIR PASSWORD DOMAIN. Prints "LABEL CODE" lines.
const CLIENT: &str = r#"
use strict; use warnings; use Net::EPP::Client;
my ($host, $port, $certs, $pw, $name) = @ARGV;
my $E = 'urn:ietf:params:xml:ns:epp-1.0';
my $D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"';
my $C = 'xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"';
my $COOP = 'http://www.nic.coop/contactCoopExt-1.0';
my $epp = Net::EPP::Client->new(host => $host, port => $port, ssl => 1);
my $greeting = $epp->connect(SSL_cert_file => "$certs/ClientX.pem",
    SSL_key_file => "$certs/ClientX.key", SSL_ca_file => "$certs/ca.pem",
    SSL_verify_mode => 1, SSL_verifycn_name => 'localhost',
    SSL_verifycn_scheme => 'default', Timeout => 20);
print "greeting ", ($greeting =~ /<greeting>/ ? 'yes' : 'no'), "\n";
my $trid = 0;
sub cmd {
    my ($label, $inner, $ext) = @_;
    $trid++;
    my $x = defined($ext) ? "<extension>$ext</extension>" : '';
    my $a = $epp->request(qq{<?xml version="1.0" encoding="UTF-8"?><epp xmlns="$E"><command>$inner$x<clTRID>U-$trid</clTRID></command></epp>});
    die "$label: no answer\n" unless defined($a);
    my ($code) = $a =~ /<result code="(\d{4})"/;
    print "$label ", ($code // 'none'), "\n";
}
sub contact {
    my ($label, $id, $ext) = @_;
    cmd($label, qq{<create><contact:create $C><contact:id>$id</contact:id><contact:postalInfo type="int"><contact:name>Test $id</contact:name><contact:org>Up Co-operative</contact:org><contact:addr><contact:street>1 Holyoake Way</contact:street><contact:city>Manchester</contact:city><contact:pc>M1 1AA</contact:pc><contact:cc>GB</contact:cc></contact:addr></contact:postalInfo><contact:voice>+44.1612345678</contact:voice><contact:email>$id\@example.coop</contact:email><contact:authInfo><contact:pw>c0ntact-$id</contact:pw></contact:authInfo></contact:create></create>}, $ext);
}
cmd('login', qq{<login><clID>ClientX</clID><pw>$pw</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI><objURI>urn:ietf:params:xml:ns:host-1.0</objURI><svcExtension><extURI>$COOP</extURI></svcExtension></svcs></login>});
contact('sp1', 'up-sp1');
contact('sp2', 'up-sp2');
contact('reg', 'up-reg', qq{<coop:create xmlns:coop="$COOP"><coop:sponsor>up-sp1</coop:sponsor><coop:sponsor>up-sp2</coop:sponsor></coop:create>});
cmd('create', qq{<create><domain:create $D><domain:name>$name</domain:name><domain:period unit="y">2</domain:period><domain:registrant>up-reg</domain:registrant><domain:contact type="admin">up-sp1</domain:contact><domain:contact type="tech">up-sp2</domain:contact><domain:authInfo><domain:pw>d0main-Secret</domain:pw></domain:authInfo></domain:create></create>});
cmd('logout', q{<logout/>});
"#;

/// `registry up` and the processes it started; everything is killed when dropped (also
/// when the test fails).
struct Up {
    child: Child,
    /// Every line it printed so far.
    out: Arc<Mutex<Vec<String>>>,
    /// Its children, once known.
    children: Vec<i32>,
}

impl Up {
    fn output(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        for &pid in &self.children {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(n) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            v.push(n);
        }
    }
    v.sort_unstable();
    v
}

fn alive(pid: i32) -> bool {
    // A zombie still has /proc/PID; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Starts `registry up` on free ports in `work`; returns it once it printed its `ready`
/// line (the line's `key=value` part).
fn start(work: &Path) -> (Up, String) {
    // The processes `registry up` starts are found next to it.
    let registry = binary("registry");
    for b in ["loader", "whoisd", "rdapd", "eppd"] {
        binary(b);
    }
    let mut child = Command::new(&registry)
        .args(["up", "--domains", "300", "--workers", "1"])
        .arg("--dir")
        .arg(work)
        .args(["--whois", "127.0.0.1:0", "--rwhois", "127.0.0.1:0"])
        .args(["--health", "127.0.0.1:0", "--rdap", "127.0.0.1:0"])
        .args(["--metrics", "127.0.0.1:0"])
        .args(["--epp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start registry up");
    let out = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let (out, tx) = (Arc::clone(&out), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Some(r) = line.split_once("| ready ") {
                    let _ = tx.send(r.1.to_string());
                }
                out.lock().unwrap().push(line);
            }
        });
    }
    let mut up = Up {
        child,
        out,
        children: Vec::new(),
    };
    let ready = rx
        .recv_timeout(Duration::from_secs(25))
        .unwrap_or_else(|_| {
            panic!("registry up did not become ready:\n{}", up.output());
        });
    up.children = children_of(up.child.id());
    assert_eq!(
        up.children.len(),
        6,
        "loader, 3 whoisd, rdapd, eppd:\n{}",
        up.output()
    );
    (up, ready)
}

/// Waits for `registry` to exit (at most 25 s).
fn wait_exit(up: &mut Up) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = up.child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(25),
            "registry did not stop:\n{}",
            up.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn registry_up_serves_whois_rdap_and_epp_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let (mut up, ready) = start(&work);
    let addr = |key: &str| -> SocketAddr {
        ready
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in {ready:?}"))
    };
    let (whois, rdap, epp) = (addr("whois"), addr("rdap"), addr("epp"));
    let health: Vec<SocketAddr> = ready
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("health="))
        .unwrap()
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(health.len(), 3, "{ready}");
    for h in &health {
        assert!(exchange(*h, b"").starts_with("ok"), "health {h}");
    }

    // The shared whois port, many times (the kernel spreads connections over the clones),
    // with raw sockets and with Debian's whois client.
    for _ in 0..20 {
        let a = exchange(whois, b"test.coop\r\n");
        assert!(a.contains("Domain Name: test.coop"), "{a}");
    }
    for _ in 0..3 {
        let o = Command::new("whois")
            .args([
                "-h",
                &whois.ip().to_string(),
                "-p",
                &whois.port().to_string(),
            ])
            .arg("test.coop")
            .output()
            .expect("run whois (apt-get install whois)");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Domain Name: test.coop"), "{text}");
    }
    // Each clone's metrics page; together they timed every answer above.
    let metrics: Vec<SocketAddr> = ready
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("metrics="))
        .unwrap_or_else(|| panic!("no metrics= in {ready:?}"))
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(metrics.len(), 3, "{ready}");
    let mut timed = 0;
    for m in &metrics {
        let r = curl(&format!("http://{m}/metrics"), &[]);
        assert_eq!(r.status, 200, "{m}: {}", r.body);
        timed += r
            .body
            .lines()
            .find_map(|l| l.strip_prefix("whoisd_answer_duration_seconds_count "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{m}: no answer latency:\n{}", r.body));
    }
    assert_eq!(timed, 23, "20 raw queries and 3 by whois(1)");
    let r = curl(&format!("http://{rdap}/domain/test.coop"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"ldhName\":\"test.coop\""), "{}", r.body);

    // EPP with the printed credentials; the new domain reaches whois through the loader.
    let certs = work.join("certs");
    let o = Command::new("perl")
        .args(["-e", CLIENT])
        .arg(epp.ip().to_string())
        .arg(epp.port().to_string())
        .arg(&certs)
        .args(["x-Demo-pw1", "up-new.coop"])
        .output()
        .expect("run perl (apt-get install libnet-epp-perl)");
    let t = String::from_utf8_lossy(&o.stdout);
    for want in [
        "greeting yes",
        "login 1000",
        "reg 1000",
        "create 1000",
        "logout 1500",
    ] {
        assert!(
            t.lines().any(|l| l == want),
            "{want:?} missing:\n{t}\n{}\n{}",
            String::from_utf8_lossy(&o.stderr),
            up.output()
        );
    }
    // Each clone follows the database by itself (within its 100 ms reload interval):
    // wait until 20 answers in a row, spread by the kernel over the clones, hold it.
    let t0 = Instant::now();
    let mut in_a_row = 0;
    while in_a_row < 20 {
        let a = exchange(whois, b"up-new.coop\r\n");
        if a.contains("Domain Name: up-new.coop") {
            in_a_row += 1;
            continue;
        }
        in_a_row = 0;
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "whois never answered the EPP domain:\n{a}\n{}",
            up.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // SIGINT: everything stops, exit 0, no process left behind.
    let pid = rustix::process::Pid::from_raw(up.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = wait_exit(&mut up);
    assert!(status.success(), "{status}:\n{}", up.output());
    let left: Vec<i32> = up.children.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "still running: {left:?}\n{}", up.output());
    let log = std::fs::read_to_string(work.join("registry.log")).unwrap();
    for name in [
        "loader", "whoisd-1", "whoisd-2", "whoisd-3", "rdapd", "eppd",
    ] {
        assert!(
            log.lines().any(|l| l.starts_with(&format!("{name:<9} | "))),
            "no {name} lines in the log"
        );
        assert!(
            log.contains(&format!("registry  | {name} stopped")),
            "{log}"
        );
    }
}

#[test]
fn a_process_that_dies_stops_everything_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut up, _) = start(&dir.path().join("demo"));
    // Kill one whois clone.
    let victim = *up
        .children
        .iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "whoisd")
        })
        .expect("a whoisd child");
    let pid = rustix::process::Pid::from_raw(victim).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let status = wait_exit(&mut up);
    assert_eq!(status.code(), Some(1), "{}", up.output());
    let out = up.output();
    assert!(out.contains("exited unexpectedly"), "{out}");
    let left: Vec<i32> = up.children.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "still running: {left:?}\n{out}");
}
