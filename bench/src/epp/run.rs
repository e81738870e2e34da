//! The load: N registrar sessions, a thread each (EPP sessions are few and long-lived, and
//! every command waits for the server's group commit), logged in and given their own
//! contacts (two sponsors and a .coop registrant), then
//!
//! 1. optionally the **baseline**: the same sessions sending `<hello/>` (answered with the
//!    greeting: TLS, framing and XML, no registry work, no disk), a warm-up then a measured
//!    window: the ceiling of this transport on this machine;
//! 2. the **mix**: create / info / update / renew / transfer request, chosen at random by
//!    weight, a warm-up then a measured window.
//!
//! A transaction counts in a window when it started and finished inside it; latency runs
//! from writing the request to reading the whole response (HDR histogram, µs). Every create
//! uses a unique name (`el-TOKEN-SESSION-N.coop`, the token unique per run); a create
//! answered 1000 is appended to `--acked` (one line, written at once) whatever the phase.
//! A session whose connection fails stops (an `io` error): under `kill -9` of the server
//! the run ends early instead of hanging. [`verify`] and [`check_spool`] check afterwards
//! that every acknowledged create is in the registry exactly once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rustls::ClientConfig;
use serde_json::{Value, json};

use super::{Client, element, xml};
use crate::load::mix::Rng;
use crate::load::stats::MAX_LATENCY_US;

/// The kinds of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<domain:create>`.
    Create,
    /// `<domain:info>` of a domain the session created.
    Info,
    /// `<domain:update>` (authInfo) of a domain the session created.
    Update,
    /// `<domain:renew>` by a year of a domain the session created.
    Renew,
    /// `<transfer op="request">` of a domain another registrar created.
    Transfer,
    /// `<hello/>` (the baseline).
    Hello,
}

impl Op {
    /// The mix's kinds, in order.
    pub const MIX: [Op; 5] = [Op::Create, Op::Info, Op::Update, Op::Renew, Op::Transfer];

    /// Name in mixes and reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Info => "info",
            Op::Update => "update",
            Op::Renew => "renew",
            Op::Transfer => "transfer",
            Op::Hello => "hello",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The default mix.
pub const DEFAULT_MIX: &str = "create=40,info=30,update=15,renew=10,transfer=5";

/// Weights of the mix's kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u64; 5],
}

impl Mix {
    /// Parses `kind=weight,...` (a kind without `=weight` weighs 1).
    pub fn parse(s: &str) -> Result<Mix, String> {
        let mut weights = [0u64; 5];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = match part.split_once('=') {
                Some((n, w)) => (
                    n.trim(),
                    w.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("bad weight in {part:?}"))?,
                ),
                None => (part, 1),
            };
            let op = Op::MIX.iter().find(|o| o.name() == name).ok_or_else(|| {
                format!("unknown kind {name:?} (create, info, update, renew, transfer)")
            })?;
            weights[op.index()] = w;
        }
        if weights[Op::Create.index()] == 0 {
            return Err("the mix needs creates (the other kinds work on created domains)".into());
        }
        Ok(Mix { weights })
    }

    /// Does the mix request transfers?
    pub fn transfers(&self) -> bool {
        self.weights[Op::Transfer.index()] > 0
    }

    fn draw(&self, rng: &mut Rng) -> Op {
        let total: u64 = self.weights.iter().sum();
        let mut x = rng.below(total.max(1));
        for (op, w) in Op::MIX.iter().zip(self.weights) {
            if x < w {
                return *op;
            }
            x -= w;
        }
        Op::Create
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = Op::MIX
            .iter()
            .zip(self.weights)
            .filter(|(_, w)| *w > 0)
            .map(|(o, w)| format!("{}={w}", o.name()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A registrar the sessions log in as.
#[derive(Debug, Clone)]
pub struct Registrar {
    /// Client id.
    pub id: String,
    /// Password.
    pub password: String,
    /// TLS with its client certificate.
    pub tls: Arc<ClientConfig>,
}

/// Where acknowledged creates are written, a line each, at once.
#[derive(Debug)]
pub struct Acked(Mutex<std::fs::File>);

impl Acked {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<Acked> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Acked(Mutex::new(f)))
    }

    fn record(&self, name: &str) -> std::io::Result<()> {
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(format!("{name}\n").as_bytes())?;
        f.flush()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub target: SocketAddr,
    /// Registrars; session *i* logs in as registrar *i mod R*.
    pub registrars: Vec<Registrar>,
    /// Sessions (threads).
    pub sessions: usize,
    /// Measured window of the mix.
    pub duration: Duration,
    /// Unmeasured load before each window.
    pub warmup: Duration,
    /// The `<hello/>` baseline's measured window (`None`: no baseline).
    pub baseline: Option<Duration>,
    /// The mix.
    pub mix: Mix,
    /// Bound on connecting and on every read and write.
    pub timeout: Duration,
    /// Acknowledged creates go here.
    pub acked: Option<Arc<Acked>>,
    /// Seed of the random choices.
    pub seed: u64,
    /// Unique per run: in every name and contact id created.
    pub token: String,
}

/// A token unique per run: 6 base-36 characters from the clock and the process id.
pub fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut x = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    x = Rng::new(x).next_u64();
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| {
            let c = digits[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

/// Counters of one window (one session's, or all merged).
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every transaction counted, µs.
    pub latency: Histogram<u64>,
    /// Transactions counted, by [`Op`] and result code.
    pub codes: [BTreeMap<u16, u64>; 6],
    /// Transactions lost to a transport error (the session stopped).
    pub io_errors: u64,
    /// The first transport error.
    pub first_io: Option<String>,
    /// The window.
    pub elapsed: Duration,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty.
    pub fn new() -> Stats {
        Stats {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            codes: Default::default(),
            io_errors: 0,
            first_io: None,
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, op: Op, code: u16, latency: Duration) {
        *self.codes[op.index()].entry(code).or_default() += 1;
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    fn io(&mut self, e: &std::io::Error) {
        self.io_errors += 1;
        if self.first_io.is_none() {
            self.first_io = Some(e.to_string());
        }
    }

    /// Adds another session's counters.
    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        for (a, b) in self.codes.iter_mut().zip(&other.codes) {
            for (code, n) in b {
                *a.entry(*code).or_default() += n;
            }
        }
        self.io_errors += other.io_errors;
        if self.first_io.is_none() {
            self.first_io.clone_from(&other.first_io);
        }
    }

    /// Transactions answered.
    pub fn transactions(&self) -> u64 {
        self.codes.iter().flat_map(|m| m.values()).sum()
    }

    /// Transactions answered with a 1xxx code.
    pub fn successes(&self) -> u64 {
        self.codes
            .iter()
            .flat_map(|m| m.iter())
            .filter(|(c, _)| **c < 2000)
            .map(|(_, n)| n)
            .sum()
    }

    /// Transactions per second in the window.
    pub fn per_sec(&self) -> f64 {
        self.transactions() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A latency percentile, µs (0 when empty).
    pub fn percentile(&self, q: f64) -> u64 {
        if self.latency.is_empty() {
            0
        } else {
            self.latency.value_at_quantile(q)
        }
    }

    /// Errors: result codes 2000 and up, by code, with the transport errors as `io`.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for codes in &self.codes {
            for (c, n) in codes.iter().filter(|(c, _)| **c >= 2000) {
                *m.entry(c.to_string()).or_default() += n;
            }
        }
        if self.io_errors > 0 {
            m.insert("io".into(), self.io_errors);
        }
        m
    }

    /// One JSON object.
    pub fn to_json(&self, label: &str) -> Value {
        let n = self.transactions();
        let errors = self.errors();
        let error_count: u64 = errors.values().sum();
        let ops: serde_json::Map<String, Value> = Op::MIX
            .iter()
            .chain([Op::Hello].iter())
            .filter(|o| !self.codes[o.index()].is_empty())
            .map(|o| {
                let codes: serde_json::Map<String, Value> = self.codes[o.index()]
                    .iter()
                    .map(|(c, n)| (c.to_string(), json!(n)))
                    .collect();
                let count: u64 = self.codes[o.index()].values().sum();
                (
                    o.name().to_string(),
                    json!({"count": count, "codes": codes}),
                )
            })
            .collect();
        json!({
            "label": label,
            "seconds": self.elapsed.as_secs_f64(),
            "transactions": n,
            "transactions_per_sec": self.per_sec(),
            "successes": self.successes(),
            "by_op": ops,
            "errors": errors,
            "first_io_error": self.first_io,
            "error_rate": if n + self.io_errors == 0 { 0.0 } else {
                error_count as f64 / (n + self.io_errors) as f64
            },
            "latency_us": {
                "p50": self.percentile(0.5),
                "p90": self.percentile(0.9),
                "p99": self.percentile(0.99),
                "p999": self.percentile(0.999),
                "max": self.latency.max(),
                "mean": if self.latency.is_empty() { 0.0 } else { self.latency.mean() },
            },
        })
    }

    /// A human-readable table.
    pub fn table(&self, label: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {label} ({:.2} s measured)",
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  tx/s        {:>10.0}    transactions {}  successes {}",
            self.per_sec(),
            self.transactions(),
            self.successes()
        );
        let _ = writeln!(
            s,
            "  latency µs  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.percentile(0.999),
            self.latency.max()
        );
        for op in Op::MIX.iter().chain([Op::Hello].iter()) {
            let m = &self.codes[op.index()];
            if m.is_empty() {
                continue;
            }
            let codes: Vec<String> = m.iter().map(|(c, n)| format!("{c}:{n}")).collect();
            let _ = writeln!(s, "  {:<10}  {}", op.name(), codes.join("  "));
        }
        let errors = self.errors();
        let _ = writeln!(
            s,
            "  errors      {}",
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors
                    .iter()
                    .map(|(k, n)| format!("{k}:{n}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            }
        );
        if let Some(m) = &self.first_io {
            let _ = writeln!(s, "    first io error: {m}");
        }
        s
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The `<hello/>` window, when measured.
    pub baseline: Option<Stats>,
    /// The mix's window.
    pub target: Stats,
    /// Sessions that logged in and were set up.
    pub sessions_ready: usize,
    /// Why the others were not (first message).
    pub setup_errors: Vec<String>,
    /// Creates acknowledged (1000), all phases.
    pub acked: u64,
}

impl Outcome {
    /// Mix transactions/s over `<hello/>` transactions/s.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .map(|b| self.target.per_sec() / b.per_sec().max(1e-9))
    }
}

/// A domain a session owns: its name and expiry date (`YYYY-MM-DD`), renewals so far.
#[derive(Debug, Clone)]
struct Owned {
    name: String,
    exp: String,
    renewals: u32,
}

struct Shared {
    /// Per registrar, domains offered to the others for transfer requests.
    transferable: Vec<Mutex<Vec<String>>>,
    acked: Option<Arc<Acked>>,
    acked_count: std::sync::atomic::AtomicU64,
}

struct Session {
    index: usize,
    registrar: usize,
    client: Client,
    rng: Rng,
    token: String,
    contacts: [String; 3],
    mine: Vec<Owned>,
    created: u64,
}

/// Renewals a domain gets at most (created for a year; the horizon is ten).
const MAX_RENEWALS: u32 = 7;

impl Session {
    fn setup(index: usize, cfg: &LoadConfig) -> Result<Session, String> {
        let registrar = index % cfg.registrars.len();
        let r = &cfg.registrars[registrar];
        let (mut client, _) = Client::connect(
            cfg.target,
            &r.tls,
            cfg.timeout,
            &format!("el-{}-{index}", cfg.token),
        )
        .map_err(|e| format!("session {index}: connect: {e}"))?;
        let code = client
            .login(&r.id, &r.password)
            .map_err(|e| format!("session {index}: login: {e}"))?;
        if code != 1000 {
            return Err(format!(
                "session {index}: login as {} answered {code}",
                r.id
            ));
        }
        // Contact ids: at most 16 characters.
        let contacts = ["a", "b", "r"].map(|k| format!("l{}{index:03}{k}", cfg.token));
        for (i, id) in contacts.iter().enumerate() {
            let sponsors: Vec<&str> = if i == 2 {
                vec![&contacts[0], &contacts[1]]
            } else {
                Vec::new()
            };
            let (code, answer) = client
                .command(|t| xml::contact_create(id, &sponsors, t))
                .map_err(|e| format!("session {index}: contact create: {e}"))?;
            if code != 1000 {
                return Err(format!(
                    "session {index}: contact create {id} answered {code}: {answer:.300}"
                ));
            }
        }
        Ok(Session {
            index,
            registrar,
            client,
            rng: Rng::new(cfg.seed ^ (index as u64).wrapping_mul(0x9e37_79b9)),
            token: cfg.token.clone(),
            contacts,
            mine: Vec::new(),
            created: 0,
        })
    }

    /// One transaction of kind `op` (or a create when `op` has nothing to work on):
    /// the kind done, its result code and latency.
    fn transact(
        &mut self,
        op: Op,
        shared: &Shared,
        transfers: bool,
    ) -> std::io::Result<(Op, u16, Duration)> {
        let registrars = shared.transferable.len();
        let pick = |s: &mut Session, renewable: bool| -> Option<usize> {
            if s.mine.is_empty() {
                return None;
            }
            let i = s.rng.below(s.mine.len() as u64) as usize;
            (!renewable || s.mine[i].renewals < MAX_RENEWALS).then_some(i)
        };
        let renewable = if op == Op::Renew {
            pick(self, true)
        } else {
            None
        };
        let op = match op {
            Op::Info | Op::Update if self.mine.is_empty() => Op::Create,
            Op::Renew if renewable.is_none() => Op::Create,
            Op::Transfer if registrars < 2 => Op::Create,
            o => o,
        };
        let start = Instant::now();
        match op {
            Op::Hello => {
                self.client.send(&xml::hello())?;
                let answer = self.client.read_frame()?;
                // A greeting has no result code; count it as success.
                let code = if answer.contains("<greeting>") {
                    1000
                } else {
                    super::result_code(&answer).unwrap_or(2400)
                };
                Ok((op, code, start.elapsed()))
            }
            Op::Info | Op::Update => {
                let i = pick(self, false).unwrap_or(0);
                let name = self.mine[i].name.clone();
                let (code, _) = self.client.command(|t| {
                    if op == Op::Info {
                        xml::domain_info(&name, t)
                    } else {
                        xml::domain_update(&name, t)
                    }
                })?;
                Ok((op, code, start.elapsed()))
            }
            Op::Renew => {
                let i = renewable.unwrap_or(0);
                let (name, exp) = (self.mine[i].name.clone(), self.mine[i].exp.clone());
                let (code, answer) = self.client.command(|t| xml::domain_renew(&name, &exp, t))?;
                let lat = start.elapsed();
                if code == 1000 {
                    if let Some(d) = element(&answer, "domain:exDate").and_then(|d| d.get(..10)) {
                        self.mine[i].exp = d.to_string();
                    }
                    self.mine[i].renewals += 1;
                } else {
                    // Do not try it again.
                    self.mine[i].renewals = MAX_RENEWALS;
                }
                Ok((op, code, lat))
            }
            Op::Transfer => {
                let mut name = None;
                for k in 1..registrars {
                    let from = (self.registrar + k) % registrars;
                    let mut pool = shared.transferable[from]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if let Some(n) = pool.pop() {
                        name = Some(n);
                        break;
                    }
                }
                let Some(name) = name else {
                    return self.create(shared, transfers, start);
                };
                let start = Instant::now();
                let (code, _) = self
                    .client
                    .command(|t| xml::domain_transfer_request(&name, t))?;
                Ok((op, code, start.elapsed()))
            }
            Op::Create => self.create(shared, transfers, start),
        }
    }

    fn create(
        &mut self,
        shared: &Shared,
        transfers: bool,
        start: Instant,
    ) -> std::io::Result<(Op, u16, Duration)> {
        self.created += 1;
        let name = format!("el-{}-{}-{}.coop", self.token, self.index, self.created);
        let [a, b, r] = &self.contacts;
        let (code, answer) = self
            .client
            .command(|t| xml::domain_create(&name, r, a, b, t))?;
        let lat = start.elapsed();
        if code == 1000 {
            if let Some(acked) = &shared.acked {
                acked.record(&name)?;
            }
            shared
                .acked_count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if transfers && self.created.is_multiple_of(4) {
                shared.transferable[self.registrar]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(name);
            } else {
                let exp = element(&answer, "domain:exDate")
                    .and_then(|d| d.get(..10))
                    .unwrap_or("")
                    .to_string();
                self.mine.push(Owned {
                    name,
                    exp,
                    renewals: 0,
                });
            }
        }
        Ok((Op::Create, code, lat))
    }
}

/// Runs the load (see the module docs). Blocks for the warm-ups and windows.
pub fn run(cfg: &LoadConfig) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!cfg.registrars.is_empty(), "no registrars");
    anyhow::ensure!(cfg.sessions > 0, "no sessions");
    let shared = Arc::new(Shared {
        transferable: (0..cfg.registrars.len())
            .map(|_| Mutex::new(Vec::new()))
            .collect(),
        acked: cfg.acked.clone(),
        acked_count: std::sync::atomic::AtomicU64::new(0),
    });
    let barrier = Arc::new(Barrier::new(cfg.sessions));
    let transfers = cfg.mix.transfers() && cfg.registrars.len() >= 2;
    let mut threads = Vec::new();
    for index in 0..cfg.sessions {
        let (cfg, shared, barrier) = (cfg.clone(), shared.clone(), barrier.clone());
        let t = std::thread::Builder::new()
            .name(format!("epp-load-{index}"))
            .spawn(move || session_thread(index, &cfg, &shared, &barrier, transfers))?;
        threads.push(t);
    }
    let mut baseline = cfg.baseline.map(|_| Stats::new());
    let mut target = Stats::new();
    let mut ready = 0;
    let mut setup_errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok((b, s))) => {
                ready += 1;
                if let Some(all) = &mut baseline {
                    all.merge(&b);
                }
                target.merge(&s);
            }
            Ok(Err(e)) => setup_errors.push(e),
            Err(_) => setup_errors.push("a session thread panicked".into()),
        }
    }
    if let (Some(b), Some(d)) = (&mut baseline, cfg.baseline) {
        b.elapsed = d;
    }
    target.elapsed = cfg.duration;
    Ok(Outcome {
        baseline,
        target,
        sessions_ready: ready,
        setup_errors,
        acked: shared
            .acked_count
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

fn session_thread(
    index: usize,
    cfg: &LoadConfig,
    shared: &Shared,
    barrier: &Barrier,
    transfers: bool,
) -> Result<(Stats, Stats), String> {
    let session = Session::setup(index, cfg);
    // Every thread waits once, ready or not, so nobody waits forever.
    barrier.wait();
    let mut s = session?;
    let t0 = Instant::now();
    let mut windows = Vec::new();
    let mut at = t0;
    if let Some(d) = cfg.baseline {
        windows.push((Some(Op::Hello), at + cfg.warmup, at + cfg.warmup + d));
        at += cfg.warmup + d;
    }
    windows.push((None, at + cfg.warmup, at + cfg.warmup + cfg.duration));
    let mut stats = [Stats::new(), Stats::new()];
    let mut alive = true;
    for (fixed, from, to) in &windows {
        let slot = usize::from(fixed.is_none());
        while alive {
            let now = Instant::now();
            if now >= *to {
                break;
            }
            let op = fixed.unwrap_or_else(|| cfg.mix.draw(&mut s.rng));
            match s.transact(op, shared, transfers) {
                Ok((op, code, lat)) => {
                    if now >= *from && now + lat <= *to {
                        stats[slot].record(op, code, lat);
                    }
                }
                Err(e) => {
                    if now >= *from {
                        stats[slot].io(&e);
                    }
                    alive = false;
                }
            }
        }
    }
    if alive {
        let _ = s.client.logout();
    }
    let [b, t] = stats;
    Ok((b, t))
}

/// Names that `<domain:info>` did not find (by result code; `None`: transport error),
/// checked over `sessions` sessions of `registrar`.
pub fn verify(
    target: SocketAddr,
    registrar: &Registrar,
    names: &[String],
    sessions: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<(String, Option<u16>)>> {
    let sessions = sessions.clamp(1, names.len().max(1));
    let chunk = names.len().div_ceil(sessions).max(1);
    let mut threads = Vec::new();
    for (i, part) in names.chunks(chunk).enumerate() {
        let part = part.to_vec();
        let r = registrar.clone();
        threads.push(std::thread::spawn(
            move || -> anyhow::Result<Vec<(String, Option<u16>)>> {
                let (mut c, _) = Client::connect(target, &r.tls, timeout, &format!("verify-{i}"))?;
                let code = c.login(&r.id, &r.password)?;
                anyhow::ensure!(code == 1000, "login as {} answered {code}", r.id);
                let mut missing = Vec::new();
                for name in part {
                    match c.command(|t| xml::domain_info(&name, t)) {
                        Ok((1000, answer)) if answer.contains(&format!(">{name}<")) => {}
                        Ok((code, _)) => missing.push((name, Some(code))),
                        Err(_) => missing.push((name, None)),
                    }
                }
                let _ = c.logout();
                Ok(missing)
            },
        ));
    }
    let mut missing = Vec::new();
    for t in threads {
        missing.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("a verify thread panicked"))??,
        );
    }
    Ok(missing)
}

/// What [`check_spool`] found.
#[derive(Debug, Clone, Default)]
pub struct SpoolCheck {
    /// Change files read.
    pub files: usize,
    /// Change files that do not parse (name and problem): half-written files.
    pub unreadable: Vec<String>,
    /// Temporary files left over (`.*.tmp`: a batch staged when the writer died; never
    /// claimed, never read).
    pub temporary: usize,
    /// Acknowledged names never created in any change file.
    pub missing: Vec<String>,
    /// Acknowledged names created in more than one change file.
    pub duplicated: Vec<String>,
    /// Domain creations (puts without a base version) in the spool.
    pub creates: usize,
}

impl SpoolCheck {
    /// Nothing wrong?
    pub fn ok(&self) -> bool {
        self.unreadable.is_empty() && self.missing.is_empty() && self.duplicated.is_empty()
    }
}

/// Reads every change file of `spool` (each must parse) and counts, per acknowledged name,
/// the domain creations (put, no base version): each must be exactly one.
pub fn check_spool(spool: &Path, acked: &[String]) -> anyhow::Result<SpoolCheck> {
    let sp = mkdb::change::Spool::open(spool)?;
    let mut out = SpoolCheck::default();
    let mut created: HashMap<String, usize> = HashMap::new();
    for n in sp.sequences()? {
        match sp.read(n) {
            Ok(f) => {
                out.files += 1;
                for c in &f.changes {
                    if c.action == mkdb::change::Action::Put
                        && c.class == "domain"
                        && c.base.is_none()
                    {
                        out.creates += 1;
                        *created.entry(c.key.clone()).or_default() += 1;
                    }
                }
            }
            Err(e) => out.unreadable.push(e.to_string()),
        }
    }
    out.temporary = std::fs::read_dir(spool)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    for name in acked {
        match created.get(name.as_str()).copied().unwrap_or(0) {
            0 => out.missing.push(name.clone()),
            1 => {}
            _ => out.duplicated.push(name.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_draw_by_weight() {
        let m = Mix::parse("create").unwrap();
        assert_eq!(m.to_string(), "create=1");
        assert!(!m.transfers());
        let m = Mix::parse(DEFAULT_MIX).unwrap();
        assert_eq!(m.to_string(), DEFAULT_MIX);
        assert!(m.transfers());
        assert!(Mix::parse("info=3").is_err());
        assert!(Mix::parse("create=1,delete=2").is_err());
        assert!(Mix::parse("create=x").is_err());
        let mut rng = Rng::new(7);
        let mut n = [0u32; 5];
        for _ in 0..10_000 {
            n[m.draw(&mut rng).index()] += 1;
        }
        assert!((3700..4300).contains(&n[0]), "{n:?}");
        assert!((300..700).contains(&n[4]), "{n:?}");
    }

    #[test]
    fn tokens_fit_contact_ids() {
        let t = run_token();
        assert_eq!(t.len(), 6);
        assert!(format!("l{t}{:03}r", 999).len() <= 16);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }

    #[test]
    fn stats_merge_and_report() {
        let mut a = Stats::new();
        a.record(Op::Create, 1000, Duration::from_millis(2));
        a.record(Op::Create, 2302, Duration::from_millis(4));
        let mut b = Stats::new();
        b.record(Op::Info, 1000, Duration::from_millis(1));
        b.io(&std::io::Error::other("gone"));
        a.merge(&b);
        a.elapsed = Duration::from_secs(1);
        assert_eq!(a.transactions(), 3);
        assert_eq!(a.successes(), 2);
        assert_eq!(a.errors().get("2302"), Some(&1));
        assert_eq!(a.errors().get("io"), Some(&1));
        let j = a.to_json("t");
        assert_eq!(j["by_op"]["create"]["codes"]["2302"], 1);
        assert_eq!(j["transactions_per_sec"], 3.0);
        assert!(a.table("t").contains("first io error: gone"));
    }
}
