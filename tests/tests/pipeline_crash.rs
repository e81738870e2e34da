//! The whole change pipeline with the real binaries (eppd -> spool -> `loader watch` ->
//! delta generations -> whoisd), under crashes and across clones:
//!
//! - a stream of EPP domain creates (the bench crate's client, `bench::epp`) while the
//!   loader is killed with SIGKILL and restarted, then a whoisd likewise (restarted on the
//!   same port): at the end the generation has applied exactly the spool's last change,
//!   nothing was refused, the domain count is the base plus the acknowledged creates
//!   (nothing applied twice, nothing lost), and whois answers every acknowledged create
//!   with exactly one record;
//! - an EPP create, update and delete, each answered by all three whoisd clones sharing one
//!   port, each clone asked on its own private address (`--listen SHARED --listen
//!   127.0.0.1:0`).
//!
//! eppd's own `kill -9` is `epp_crash.rs`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::epp::provision::{self, DEFAULT_PASSWORD};
use bench::epp::{Client, tls_config, xml};
use bench::visibility::{Kind, domain_delete, domain_hold, domain_records, visible};
use mkdb::Generation;
use mkdb::change::Spool;
use tests::{KillOnDrop, Registry, binary, exchange};

/// The scratch registry with one EPP registrar (EppLoad1), certificates and a spool.
struct Setup {
    reg: Registry,
    certs: PathBuf,
    spool: PathBuf,
    log: PathBuf,
}

fn setup(domains: u64) -> Setup {
    let reg = Registry::new(domains);
    let certs = reg.dir.path().join("certs");
    provision::provision(&reg.src, &certs, &provision::names(1), DEFAULT_PASSWORD)
        .expect("provision a registrar");
    reg.compile();
    let spool = reg.dir.path().join("changes");
    std::fs::create_dir_all(&spool).unwrap();
    let log = reg.dir.path().join("processes.log");
    Setup {
        reg,
        certs,
        spool,
        log,
    }
}

impl Setup {
    fn log_file(&self) -> Stdio {
        Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap(),
        )
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn eppd(&self) -> (KillOnDrop, SocketAddr) {
        let mut child = Command::new(binary("eppd"))
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(&self.reg.db)
            .arg("--spool")
            .arg(&self.spool)
            .arg("--ca")
            .arg(self.certs.join("ca.pem"))
            .arg("--cert")
            .arg(self.certs.join("server.pem"))
            .arg("--key")
            .arg(self.certs.join("server.key"))
            .stdout(Stdio::piped())
            .stderr(self.log_file())
            .spawn()
            .expect("start eppd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        std::thread::spawn(move || lines.for_each(drop));
        let p = KillOnDrop(child);
        // "eppd listening on ADDR (N domains, next change S)"
        let addr = first
            .strip_prefix("eppd listening on ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("eppd did not start: {first:?}\n{}", self.logs()));
        (p, addr)
    }

    fn loader(&self) -> KillOnDrop {
        Command::new(binary("loader"))
            .args(["watch", "--interval-ms", "10", "--changes"])
            .arg(&self.spool)
            .arg(&self.reg.db)
            .stdout(self.log_file())
            .stderr(self.log_file())
            .spawn()
            .map(KillOnDrop)
            .expect("start loader watch")
    }

    /// A whoisd listening on every address of `listen` (port 0: a free one); the
    /// addresses it bound, in order.
    fn whoisd(&self, listen: &[&str]) -> (KillOnDrop, Vec<SocketAddr>) {
        let mut cmd = Command::new(binary("whoisd"));
        for l in listen {
            cmd.args(["--listen", l]);
        }
        let mut child = cmd
            .args(["--no-rwhois", "--workers", "1", "--reload-interval", "10ms"])
            .arg(&self.reg.db)
            .stdout(Stdio::piped())
            .stderr(self.log_file())
            .spawn()
            .expect("start whoisd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addrs = Vec::new();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("listening whois ") {
                addrs.push(a.trim().parse().expect("an address"));
                if addrs.len() == listen.len() {
                    break;
                }
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let p = KillOnDrop(child);
        assert_eq!(
            addrs.len(),
            listen.len(),
            "whoisd did not start:\n{}",
            self.logs()
        );
        (p, addrs)
    }

    /// A logged-in EPP session of EppLoad1 with a registrant `{prefix}r` (sponsored by
    /// `{prefix}a` and `{prefix}t`) and those two contacts created.
    fn session(&self, epp: SocketAddr, prefix: &str) -> Client {
        let tls = tls_config(
            &self.certs.join("ca.pem"),
            &self.certs.join("EppLoad1.pem"),
            &self.certs.join("EppLoad1.key"),
        )
        .unwrap();
        let (mut c, _) = Client::connect(epp, &tls, Duration::from_secs(10), prefix).unwrap();
        assert_eq!(c.login("EppLoad1", DEFAULT_PASSWORD).unwrap(), 1000);
        let ids = ["a", "t", "r"].map(|k| format!("{prefix}{k}"));
        for (i, id) in ids.iter().enumerate() {
            let sponsors: Vec<&str> = if i == 2 {
                vec![&ids[0], &ids[1]]
            } else {
                Vec::new()
            };
            let (code, answer) = c
                .command(|t| xml::contact_create(id, &sponsors, t))
                .unwrap();
            assert_eq!(code, 1000, "contact {id}: {answer}");
        }
        c
    }

    fn domain_count(&self) -> u64 {
        let g = Generation::open(&self.reg.db).unwrap();
        let class = g.schema.class("domain").unwrap();
        g.record_count(class.id)
    }
}

fn create(c: &mut Client, name: &str, prefix: &str) -> u16 {
    let (r, a, t) = (
        format!("{prefix}r"),
        format!("{prefix}a"),
        format!("{prefix}t"),
    );
    c.command(|tr| xml::domain_create(name, &r, &a, &t, tr))
        .map(|(code, _)| code)
        .unwrap_or(0)
}

fn wait_until(
    what: &str,
    timeout: Duration,
    detail: impl Fn() -> String,
    mut f: impl FnMut() -> bool,
) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}\n{}",
            detail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    t.elapsed()
}

fn whois(addr: SocketAddr, name: &str) -> String {
    exchange(addr, format!("domain {name}\r\n").as_bytes())
}

#[test]
fn acknowledged_creates_are_answered_once_across_loader_and_whoisd_kills() {
    let started = Instant::now();
    let s = setup(200);
    let base = s.domain_count();
    let (_eppd, epp) = s.eppd();
    let mut loader = s.loader();
    let (mut whoisd, addrs) = s.whoisd(&["127.0.0.1:0"]);
    let whois_addr = addrs[0];

    // The stream: creates one after another until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(Mutex::new(Vec::<(String, u16)>::new()));
    let mut client = s.session(epp, "pc");
    let stream = {
        let (stop, acked, failed) = (stop.clone(), acked.clone(), failed.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 2000 {
                i += 1;
                let name = format!("pc-{i}.coop");
                match create(&mut client, &name, "pc") {
                    1000 => acked.lock().unwrap().push(name),
                    code => failed.lock().unwrap().push((name, code)),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = client.logout();
        })
    };
    let acked_now = || acked.lock().unwrap().len();
    let grow = |by: usize| {
        let from = acked_now();
        wait_until(
            "the stream of creates",
            Duration::from_secs(10),
            || s.logs(),
            || acked_now() >= from + by,
        );
    };

    // The pipeline works before the kills.
    grow(20);
    let first = acked.lock().unwrap()[0].clone();
    wait_until(
        "whois to answer the first create",
        Duration::from_secs(5),
        || s.logs(),
        || visible(Kind::Create, &first, &whois(whois_addr, &first)),
    );

    // kill -9 the loader mid-stream; changes pile up in the spool meanwhile.
    loader.kill();
    grow(30);
    loader = s.loader();
    grow(30);

    // kill -9 the whoisd; restart it on the same port while creates go on.
    whoisd.kill();
    grow(20);
    let (w2, addrs2) = s.whoisd(&[&whois_addr.to_string()]);
    whoisd = w2;
    assert_eq!(addrs2[0], whois_addr);
    grow(30);
    stop.store(true, Ordering::Relaxed);
    stream.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "creates refused: {failed:?}");

    // Everything in the spool applied, exactly once.
    let last = Spool::open(&s.spool).unwrap().last().unwrap();
    wait_until(
        "the loader to apply the whole spool",
        Duration::from_secs(15),
        || s.logs(),
        || {
            mkdb::generation::current_manifest(&s.reg.db)
                .ok()
                .flatten()
                .is_some_and(|m| m.applied >= last)
        },
    );
    loader.kill();
    let applied = mkdb::generation::current_manifest(&s.reg.db)
        .unwrap()
        .unwrap()
        .applied;
    assert_eq!(applied, last, "applied past the spool's last change file?");
    let rejected: Vec<_> = std::fs::read_dir(s.reg.dir.path().join("rejected"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        rejected.is_empty(),
        "refused change files: {rejected:?}\n{}",
        s.logs()
    );
    assert_eq!(
        s.domain_count(),
        base + acked.len() as u64,
        "domains: base {base} + {} acknowledged creates",
        acked.len()
    );

    // whois (the restarted clone) answers each acknowledged create with one record.
    let newest = acked.last().unwrap().clone();
    wait_until(
        "whois to reach the last generation",
        Duration::from_secs(5),
        || s.logs(),
        || visible(Kind::Create, &newest, &whois(whois_addr, &newest)),
    );
    let mut conn = bench::visibility::WhoisConn::connect(whois_addr, Duration::from_secs(10))
        .expect("held whois connection");
    let queries: Vec<String> = acked.iter().map(|n| format!("domain {n}")).collect();
    let mut wrong = Vec::new();
    for (names, qs) in acked.chunks(50).zip(queries.chunks(50)) {
        conn.query_all(qs, |i, answer| {
            let n = domain_records(answer, &names[i]);
            if n != 1 {
                wrong.push((names[i].clone(), n));
            }
        })
        .expect("whois answers");
    }
    assert!(wrong.is_empty(), "not answered exactly once: {wrong:?}");
    drop(whoisd);
    eprintln!(
        "{} creates acknowledged, {} change files, all answered once; {:?}",
        acked.len(),
        last,
        started.elapsed()
    );
}

#[test]
fn create_update_delete_reach_every_clone() {
    let s = setup(100);
    let (_eppd, epp) = s.eppd();
    let _loader = s.loader();
    // Three clones on one shared port, each with a private port too.
    let (c1, a1) = s.whoisd(&["127.0.0.1:0", "127.0.0.1:0"]);
    let shared = a1[0].to_string();
    let (c2, a2) = s.whoisd(&[&shared, "127.0.0.1:0"]);
    let (c3, a3) = s.whoisd(&[&shared, "127.0.0.1:0"]);
    let _clones = (c1, c2, c3);
    let private = [a1[1], a2[1], a3[1]];
    assert_eq!(a2[0], a1[0]);
    assert_eq!(a3[0], a1[0]);

    let name = "cud-every-clone.coop";
    let mut c = s.session(epp, "cud");
    for kind in [Kind::Create, Kind::Update, Kind::Delete] {
        let (code, answer) = c
            .command(|t| match kind {
                Kind::Create => xml::domain_create(name, "cudr", "cuda", "cudt", t),
                Kind::Update => domain_hold(name, t),
                Kind::Delete => domain_delete(name, t),
            })
            .unwrap();
        assert_eq!(code, 1000, "{kind:?}: {answer}");
        let acked = Instant::now();
        for a in private {
            wait_until(
                &format!("clone {a} to answer the {kind:?}"),
                Duration::from_secs(10),
                || format!("{}\n{}", whois(a, name), s.logs()),
                || visible(kind, name, &whois(a, name)),
            );
        }
        eprintln!(
            "{kind:?} on every clone {:?} after the response",
            acked.elapsed()
        );
        // And through the shared port, whichever clone takes it.
        for _ in 0..6 {
            assert!(visible(kind, name, &whois(a1[0], name)));
        }
    }
    assert_eq!(c.logout().unwrap(), 1500);
}
