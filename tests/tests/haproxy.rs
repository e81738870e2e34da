//! Three `whoisd` clones behind Debian's HAProxy, run with the shipped configuration
//! (`deploy/haproxy/whois.cfg`) on free loopback ports: real client addresses through the
//! PROXY protocol, a clone killed under load, a rolling restart, a flooding source.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tests::{Registry, Whoisd, exchange_from};

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::new(1_000))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn from(last: u8) -> Option<std::net::IpAddr> {
    Some(std::net::IpAddr::from([127, 0, 0, last]))
}

/// HAProxy in front of three clones.
struct Cluster {
    front: SocketAddr,
    clones: Vec<Whoisd>,
    ports: Vec<(u16, u16)>,
    extra: Vec<String>,
    haproxy: Child,
    stats: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.sock");
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let clones = ports
            .iter()
            .map(|&(p, h)| start_clone(p, h, &extra))
            .collect();
        let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/whois.cfg");
        let mut cmd = Command::new("haproxy");
        cmd.args(["-db", "-f"])
            .arg(&config)
            .env("WHOIS_BIND", front.to_string())
            .env("STATS_SOCKET", &stats)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (i, (p, h)) in ports.iter().enumerate() {
            cmd.env(format!("CLONE{}", i + 1), format!("127.0.0.1:{p}"))
                .env(format!("HEALTH{}", i + 1), h.to_string());
        }
        let haproxy = cmd
            .spawn()
            .expect("run haproxy (apt-get install haproxy; tools/run-tests does)");
        let c = Cluster {
            front,
            clones,
            ports,
            extra,
            haproxy,
            stats,
            _dir: dir,
        };
        for i in 0..3 {
            c.wait_status(i, "UP");
        }
        c
    }

    /// HAProxy's view of clone `i` (0-based): `UP`, `DOWN`, `UP 1/2`...
    fn status(&self, i: usize) -> Option<String> {
        let mut s = UnixStream::connect(&self.stats).ok()?;
        s.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        s.read_to_string(&mut csv).ok()?;
        let name = format!("clone{}", i + 1);
        csv.lines().find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.first() == Some(&"clones") && f.get(1) == Some(&name.as_str()))
                .then(|| f.get(17).map(|s| (*s).to_owned()))
                .flatten()
        })
    }

    fn wait_status(&self, i: usize, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let st = self.status(i);
            if st.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clone{} is {st:?}, not {want}; ports {:?}; its log:\n{}",
                i + 1,
                self.ports[i],
                self.clones[i].log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn query_from(&self, last: u8, q: &str) -> String {
        exchange_from(from(last), self.front, format!("{q}\r\n").as_bytes())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

fn start_clone(port: u16, health: u16, extra: &[String]) -> Whoisd {
    let mut args: Vec<&str> = vec!["--no-rwhois", "--proxy-from", "127.0.0.1/32"];
    let health = format!("127.0.0.1:{health}");
    args.extend(["--health", &health, "--drain-delay", "1500ms"]);
    args.extend(extra.iter().map(String::as_str));
    Whoisd::start_on(&registry().db, &format!("127.0.0.1:{port}"), &args)
}

/// Clients querying through the balancer until stopped; failures are recorded with time.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<(Instant, String)>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(front: SocketAddr, clients: u8) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|i| {
                let (stop, answered, failures) = (
                    Arc::clone(&stop),
                    Arc::clone(&answered),
                    Arc::clone(&failures),
                );
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match try_query(front, from(10 + i)) {
                            Ok(()) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push((Instant::now(), e)),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            failures,
            threads,
        }
    }

    fn finish(self) -> (u64, Vec<(Instant, String)>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.answered.load(Ordering::Relaxed), failures)
    }
}

/// One query through the balancer; an error describes what went wrong.
fn try_query(front: SocketAddr, local: Option<std::net::IpAddr>) -> Result<(), String> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| e.to_string())?;
    if let Some(ip) = local {
        sock.bind(&SocketAddr::new(ip, 0).into())
            .map_err(|e| e.to_string())?;
    }
    sock.connect(&front.into())
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"test.coop\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut a = Vec::new();
    s.read_to_end(&mut a).map_err(|e| format!("read: {e}"))?;
    let a = String::from_utf8_lossy(&a);
    if a.contains("Domain Name: test.coop") && a.trim_end().ends_with("<<<") {
        Ok(())
    } else {
        Err(format!("bad answer ({} bytes): {a:.200}", a.len()))
    }
}

#[test]
fn clones_see_the_real_client_through_the_balancer() {
    // Only 127.0.0.5 may mirror: the clones must see it, not HAProxy's 127.0.0.1.
    let c = Cluster::start(&["--xfer-allow", "127.0.0.5/32"]);
    let a = exchange_from(from(5), c.front, b"-xfer coop registrar\r\n-quit\r\n");
    assert!(a.contains("% xfer registrar:"), "{a}");
    let a = exchange_from(from(6), c.front, b"-xfer coop registrar\r\n-quit\r\n");
    assert!(a.contains("%error 401"), "{a}");
    let a = c.query_from(6, "test.coop");
    assert!(a.contains("Domain Name: test.coop"), "{a}");
}

#[test]
fn rate_limits_apply_per_real_source_behind_the_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("limits");
    std::fs::write(&policy, "Mode: enforce\nQuery-Rate: 1/m\nQuery-Burst: 2\n").unwrap();
    let c = Cluster::start(&["--limits", policy.to_str().unwrap()]);
    // Each clone keeps its own counts: 3 clones × burst 2 = at most 6 answers.
    let answers: Vec<String> = (0..12).map(|_| c.query_from(2, "test.coop")).collect();
    let served = answers.iter().filter(|a| a.contains("Domain Name")).count();
    let limited = answers
        .iter()
        .filter(|a| a.contains("rate limit exceeded"))
        .count();
    assert!((2..=6).contains(&served), "served {served}");
    assert_eq!(served + limited, 12);
    // Another client behind the same balancer is served in full.
    for _ in 0..2 {
        assert!(c.query_from(3, "test.coop").contains("Domain Name"));
    }
}

#[test]
fn a_flooding_source_is_limited_while_another_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("limits");
    std::fs::write(
        &policy,
        "Mode: enforce\nQuery-Rate: 20/s\nQuery-Burst: 20\n",
    )
    .unwrap();
    let c = Cluster::start(&["--limits", policy.to_str().unwrap()]);
    let stop = Arc::new(AtomicBool::new(false));
    let flood_limited = Arc::new(AtomicU64::new(0));
    let front = c.front;
    let flooders: Vec<_> = (0..3)
        .map(|_| {
            let (stop, limited) = (Arc::clone(&stop), Arc::clone(&flood_limited));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let a = exchange_from(from(2), front, b"test.coop\r\n");
                    if a.contains("rate limit exceeded") {
                        limited.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // The other source asks 5 queries a second for 3 seconds: every one answered.
    for _ in 0..15 {
        let a = c.query_from(3, "test.coop");
        assert!(a.contains("Domain Name: test.coop"), "{a}");
        thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(
        flood_limited.load(Ordering::Relaxed) > 100,
        "the flood was not limited"
    );
}

#[test]
fn a_killed_clone_fails_no_query_once_marked_down() {
    let mut c = Cluster::start(&[]);
    let load = Load::start(c.front, 4);
    thread::sleep(Duration::from_millis(500));
    let killed_at = Instant::now();
    c.clones[1].kill();
    c.wait_status(1, "DOWN");
    let down_at = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    let (answered, failures) = load.finish();
    assert!(answered > 200, "only {answered} answered");
    // Only exchanges already under way on the killed clone may fail (HAProxy retries
    // connections, not exchanges that had begun); after it is marked down, none.
    let late: Vec<_> = failures.iter().filter(|(t, _)| *t > down_at).collect();
    assert!(
        late.is_empty(),
        "failures after the clone was marked down: {late:?}"
    );
    let early: Vec<_> = failures.iter().filter(|(t, _)| *t < killed_at).collect();
    assert!(early.is_empty(), "failures before the kill: {early:?}");
    assert!(failures.len() <= 4, "{failures:?}");
}

#[test]
fn rolling_restart_of_all_clones_fails_no_query() {
    let mut c = Cluster::start(&[]);
    let load = Load::start(c.front, 4);
    thread::sleep(Duration::from_millis(300));
    for i in 0..3 {
        c.clones[i].terminate();
        c.wait_status(i, "DOWN");
        let status = c.clones[i]
            .wait(Duration::from_secs(20))
            .expect("clone exits");
        assert!(status.success(), "{status:?}");
        let (p, h) = c.ports[i];
        c.clones[i] = start_clone(p, h, &c.extra);
        c.wait_status(i, "UP");
    }
    thread::sleep(Duration::from_millis(300));
    let (answered, failures) = load.finish();
    assert!(answered > 300, "only {answered} answered");
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
