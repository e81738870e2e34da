//! `visibility-probe`, as a library: how long a change made over EPP takes to be answered by
//! **every** whois clone (`eppd` -> change file -> `loader watch` -> delta generation ->
//! each `whoisd` follows `CURRENT`).
//!
//! - EPP sessions (the bench crate's [`crate::epp::Client`], one registrar) send `changes`
//!   transactions **open loop** at `rate` per second: change *k* is due at `start + k/rate`
//!   and goes out on the next free session (its lateness is reported as `send_lag`). The mix
//!   is domain creates, updates (`clientHold` added: visible in whois as `Domain Status:
//!   clientHold`) and deletes; an update or delete only touches a domain whose previous
//!   change every clone already answers, so each change has one new state to wait for.
//! - One poller thread per clone, each with one held whois connection (`-holdconnect on`)
//!   to that clone's **own** address. Every `poll` interval it asks for the oldest change
//!   acknowledged and not yet seen on that clone (`domain NAME`); every answer names the
//!   generation it was rendered from (`>>> Last update ... (generation N)`), and when that
//!   generation differs from the one of the clone's last full check (or `recheck` has
//!   passed) it asks, pipelined, for every other such change too (at most `max_batch`),
//!   and checks each answer for the new state ([`visible`]). Answers are a function of the
//!   generation, so between switches one query a round per clone finds everything a query
//!   per pending change would, at a small fraction of the load (which would otherwise
//!   compete for the cores with the loader and the clones being measured).
//!   Clones that share a port (`SO_REUSEPORT`) cannot be told apart through it: give each
//!   clone a private address too (`whoisd --listen SHARED --listen 127.0.0.1:0`).
//! - A change's **visibility** is the time from reading its EPP success response to reading
//!   the first answer showing the new state, on the last clone to show it (an upper bound:
//!   the state appeared between the previous poll of that clone and this one, so the error
//!   is at most one poll round). A change not seen on every clone within `timeout` counts
//!   as **never visible**.
//! - With the database directory (`db`), a thread reads `CURRENT` every millisecond, so
//!   each change's time splits into **published** (acknowledgement to `CURRENT` naming the
//!   first generation a clone showed it in) and the clones' switch after that.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::epp::run::Registrar;
use crate::epp::{Client, xml};
use crate::load::mix::Rng;

/// The kinds of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `<domain:create>`: the domain is answered.
    Create,
    /// `<domain:update>` adding `clientHold`: answered with `Domain Status: clientHold`.
    Update,
    /// `<domain:delete>`: `No match`.
    Delete,
}

impl Kind {
    /// Every kind, in order.
    pub const ALL: [Kind; 3] = [Kind::Create, Kind::Update, Kind::Delete];

    /// Name in mixes and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Delete => "delete",
        }
    }
}

/// Weights of the kinds (`create=70,update=20,delete=10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix(pub [u64; 3]);

/// The default mix.
pub const DEFAULT_MIX: &str = "create=70,update=20,delete=10";

impl Mix {
    /// Parses `kind=weight,...` (a kind without `=weight` weighs 1); creates are needed.
    pub fn parse(s: &str) -> Result<Mix, String> {
        let mut w = [0u64; 3];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, v) = match part.split_once('=') {
                Some((n, v)) => (
                    n.trim(),
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("bad weight in {part:?}"))?,
                ),
                None => (part, 1),
            };
            let i = Kind::ALL
                .iter()
                .position(|k| k.name() == name)
                .ok_or_else(|| format!("unknown kind {name:?} (create, update, delete)"))?;
            w[i] = v;
        }
        if w[0] == 0 {
            return Err(
                "the mix needs creates (updates and deletes work on created domains)".into(),
            );
        }
        Ok(Mix(w))
    }

    fn draw(&self, rng: &mut Rng) -> Kind {
        let total: u64 = self.0.iter().sum();
        let mut x = rng.below(total.max(1));
        for (k, w) in Kind::ALL.iter().zip(self.0) {
            if x < w {
                return *k;
            }
            x -= w;
        }
        Kind::Create
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = Kind::ALL
            .iter()
            .zip(self.0)
            .filter(|(_, w)| *w > 0)
            .map(|(k, w)| format!("{}={w}", k.name()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `<domain:update>` adding the status `clientHold` (shown by whois).
pub fn domain_hold(name: &str, trid: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{}"><command><update><domain:update xmlns:domain="{}"><domain:name>{name}</domain:name><domain:add><domain:status s="clientHold"/></domain:add></domain:update></update><clTRID>{trid}</clTRID></command></epp>"#,
        xml::EPP,
        xml::DOMAIN
    )
}

/// `<domain:delete>`.
pub fn domain_delete(name: &str, trid: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{}"><command><delete><domain:delete xmlns:domain="{}"><domain:name>{name}</domain:name></domain:delete></delete><clTRID>{trid}</clTRID></command></epp>"#,
        xml::EPP,
        xml::DOMAIN
    )
}

/// How many domain records named `name` a whois answer holds (`Domain Name: NAME` lines).
pub fn domain_records(answer: &str, name: &str) -> usize {
    answer
        .lines()
        .filter(|l| {
            l.strip_prefix("Domain Name:")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(name))
        })
        .count()
}

/// The generation a whois answer was rendered from (its `>>> Last update` line).
pub fn answer_generation(answer: &str) -> Option<u64> {
    let line = answer
        .lines()
        .rev()
        .find(|l| l.starts_with(">>> Last update"))?;
    let i = line.find("(generation ")? + "(generation ".len();
    let rest = &line[i..];
    rest[..rest.find(')')?].trim().parse().ok()
}

/// Does a complete whois answer to `domain NAME` show the state change `kind` made?
pub fn visible(kind: Kind, name: &str, answer: &str) -> bool {
    let found = domain_records(answer, name) > 0;
    match kind {
        Kind::Create => found,
        Kind::Update => {
            found
                && answer.lines().any(|l| {
                    l.strip_prefix("Domain Status:")
                        .is_some_and(|v| v.trim() == "clientHold")
                })
        }
        Kind::Delete => !found && answer.contains("No match for"),
    }
}

/// A held whois connection (`-holdconnect on`) answering pipelined queries.
#[derive(Debug)]
pub struct WhoisConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    out: Vec<u8>,
}

impl WhoisConn {
    /// Connects, sends `-holdconnect on` and waits for `%ok` (after the banner).
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<WhoisConn> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        let mut c = WhoisConn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            out: Vec::with_capacity(4096),
        };
        c.writer.write_all(b"-holdconnect on\r\n")?;
        let mut line = String::new();
        loop {
            line.clear();
            if c.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before answering -holdconnect on",
                ));
            }
            if line.starts_with("%ok") {
                return Ok(c);
            }
            if line.starts_with("%error") {
                return Err(io::Error::other(format!(
                    "-holdconnect on refused: {}",
                    line.trim_end()
                )));
            }
        }
    }

    /// Sends every query at once (CRLF appended to each) and reads their answers in order;
    /// `each(i, answer)` is called as soon as answer `i` is complete (its `>>> Last update`
    /// line, or an `%error` line).
    pub fn query_all(
        &mut self,
        queries: &[String],
        mut each: impl FnMut(usize, &str),
    ) -> io::Result<()> {
        self.out.clear();
        for q in queries {
            self.out.extend_from_slice(q.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&self.out)?;
        let mut answer = String::new();
        let mut line = String::new();
        for i in 0..queries.len() {
            answer.clear();
            loop {
                line.clear();
                if self.reader.read_line(&mut line)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the held connection",
                    ));
                }
                answer.push_str(&line);
                if line.starts_with(">>> Last update") || line.starts_with("%error") {
                    break;
                }
            }
            each(i, &answer);
        }
        Ok(())
    }

    /// One query; the answer.
    pub fn query(&mut self, q: &str) -> io::Result<String> {
        let mut out = String::new();
        self.query_all(&[q.to_string()], |_, a| out = a.to_string())?;
        Ok(out)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The EPP server.
    pub epp: SocketAddr,
    /// The registrar the sessions log in as.
    pub registrar: Registrar,
    /// One whois address per clone (each reaching that clone only).
    pub clones: Vec<SocketAddr>,
    /// Changes to make.
    pub changes: usize,
    /// Changes per second (open loop).
    pub rate: f64,
    /// EPP sessions sending them.
    pub sessions: usize,
    /// Kinds of change.
    pub mix: Mix,
    /// Interval between two poll rounds of a clone.
    pub poll: Duration,
    /// Queries per poll round and clone, at most (the oldest changes first).
    pub max_batch: usize,
    /// Every pending change is asked for again at least this often, generation switch or
    /// not.
    pub recheck: Duration,
    /// The database directory, to time publications (`CURRENT`), when on this machine.
    pub db: Option<std::path::PathBuf>,
    /// A change not on every clone after this is never visible.
    pub timeout: Duration,
    /// Timeout of connecting and of each EPP response and whois answer.
    pub io_timeout: Duration,
    /// Unique per run: names `vis-TOKEN-K.coop`, contacts `vTOKENa`.
    pub token: String,
    /// Seed of the mix.
    pub seed: u64,
}

/// One change, seen on every clone (or not).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its number in the schedule.
    pub index: usize,
    /// Kind.
    pub kind: Kind,
    /// Domain.
    pub name: String,
    /// When it was acknowledged, from the start of the schedule.
    pub acked_at: Duration,
    /// EPP round trip (request written to response read).
    pub epp: Duration,
    /// From the acknowledgement to the first answer with the new state, per clone (`None`:
    /// not within the timeout).
    pub per_clone: Vec<Option<Duration>>,
    /// The generation each clone first showed it in.
    pub generation: Vec<Option<u64>>,
    /// From the acknowledgement to `CURRENT` naming the first generation a clone showed it
    /// in (`None` without `db`; zero when published before the response was read).
    pub published: Option<Duration>,
}

impl Sample {
    /// On every clone: the slowest clone's time; `None` if a clone never showed it.
    pub fn all(&self) -> Option<Duration> {
        self.per_clone
            .iter()
            .try_fold(Duration::ZERO, |m, c| c.map(|c| m.max(c)))
    }

    /// On the first clone that showed it.
    pub fn first(&self) -> Option<Duration> {
        self.per_clone.iter().flatten().min().copied()
    }
}

/// A change acknowledged and not yet on every clone.
struct Pending {
    index: usize,
    kind: Kind,
    name: String,
    query: String,
    acked: Instant,
    epp: Duration,
    seen: Vec<Option<(Instant, Option<u64>)>>,
}

#[derive(Default)]
struct Pools {
    /// Created domains every clone answers (may be updated or deleted).
    fresh: VecDeque<String>,
    /// Domains whose `clientHold` every clone answers (may be deleted).
    held: VecDeque<String>,
}

struct Shared {
    pending: Mutex<Vec<Pending>>,
    done: Mutex<Vec<Sample>>,
    pools: Mutex<Pools>,
    sending_done: AtomicBool,
    next: AtomicUsize,
    queries: AtomicU64,
    rounds: AtomicU64,
    reconnects: AtomicU64,
    first_whois_error: Mutex<Option<String>>,
}

/// Per EPP session: what it saw.
#[derive(Default)]
struct SenderStats {
    /// Failed transactions by result code (`io` for transport errors).
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    /// How late each change left after it was due (µs).
    lag_us: Vec<u64>,
    sent: BTreeMap<Kind, u64>,
}

/// The result of a probe run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every acknowledged change, in schedule order.
    pub samples: Vec<Sample>,
    /// Changes sent, by kind (what the schedule asked, after a kind without a domain to
    /// work on became a create).
    pub sent: BTreeMap<Kind, u64>,
    /// Failed EPP transactions by code.
    pub epp_errors: BTreeMap<String, u64>,
    /// The first of them, with the response.
    pub first_epp_error: Option<String>,
    /// Send lag p50/p99/max (µs): how late changes left after they were due.
    pub send_lag_us: [u64; 3],
    /// Whois queries the pollers sent.
    pub queries: u64,
    /// Poll rounds (all clones).
    pub rounds: u64,
    /// Whois connections re-made after an error.
    pub reconnects: u64,
    /// The first whois error.
    pub first_whois_error: Option<String>,
    /// From the first change due to the last change settled.
    pub elapsed: Duration,
    /// The configuration (for the report).
    pub clones: usize,
}

/// Nearest-rank percentile `q` (0..=1) of sorted values.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn summary_ms(sorted_us: &[u64]) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "count": sorted_us.len(),
        "p50": ms(percentile(sorted_us, 0.50)),
        "p90": ms(percentile(sorted_us, 0.90)),
        "p99": ms(percentile(sorted_us, 0.99)),
        "max": ms(sorted_us.last().copied().unwrap_or(0)),
        "mean": ms(if sorted_us.is_empty() { 0 } else { sorted_us.iter().sum::<u64>() / sorted_us.len() as u64 }),
    })
}

impl Report {
    /// Every-clone visibility of the changes seen everywhere, sorted (µs).
    pub fn all_us(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .samples
            .iter()
            .filter_map(Sample::all)
            .map(micros)
            .collect();
        v.sort_unstable();
        v
    }

    /// Changes some clone never showed within the timeout.
    pub fn never_visible(&self) -> usize {
        self.samples.iter().filter(|s| s.all().is_none()).count()
    }

    /// p99 of the every-clone visibility, counting a change never visible as infinitely
    /// late (so it can only make the figure worse).
    pub fn p99_all(&self) -> Option<Duration> {
        let mut v = self.all_us();
        v.extend(std::iter::repeat_n(u64::MAX, self.never_visible()));
        v.sort_unstable();
        let p = percentile(&v, 0.99);
        (p != u64::MAX && !v.is_empty()).then(|| Duration::from_micros(p))
    }

    /// Does the run meet the bar: every change on every clone, p99 under `bar`, no EPP
    /// error?
    pub fn passes(&self, bar: Duration) -> bool {
        !self.samples.is_empty()
            && self.never_visible() == 0
            && self.epp_errors.is_empty()
            && self.p99_all().is_some_and(|p| p < bar)
    }

    /// The report as JSON (times in milliseconds).
    pub fn to_json(&self) -> Value {
        let sorted = |it: &mut dyn Iterator<Item = Duration>| {
            let mut v: Vec<u64> = it.map(micros).collect();
            v.sort_unstable();
            v
        };
        let first = sorted(&mut self.samples.iter().filter_map(Sample::first));
        let epp = sorted(&mut self.samples.iter().map(|s| s.epp));
        let mut by_kind = serde_json::Map::new();
        for k in Kind::ALL {
            let v = sorted(
                &mut self
                    .samples
                    .iter()
                    .filter(|s| s.kind == k)
                    .filter_map(Sample::all),
            );
            by_kind.insert(k.name().into(), summary_ms(&v));
        }
        let per_clone: Vec<Value> = (0..self.clones)
            .map(|c| {
                summary_ms(&sorted(
                    &mut self.samples.iter().filter_map(|s| s.per_clone[c]),
                ))
            })
            .collect();
        let published = sorted(&mut self.samples.iter().filter_map(|s| s.published));
        let after = sorted(
            &mut self
                .samples
                .iter()
                .filter_map(|s| Some(s.all()?.saturating_sub(s.published?))),
        );
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        json!({
            "every_clone_ms": summary_ms(&self.all_us()),
            "published_ms": summary_ms(&published),
            "every_clone_after_published_ms": summary_ms(&after),
            "first_clone_ms": summary_ms(&first),
            "by_kind_every_clone_ms": by_kind,
            "per_clone_ms": per_clone,
            "epp_response_ms": summary_ms(&epp),
            "acknowledged": self.samples.len(),
            "never_visible": self.never_visible(),
            "p99_every_clone_ms_counting_never_visible_as_infinite":
                self.p99_all().map(|d| d.as_micros() as f64 / 1000.0),
            "sent": self.sent.iter().map(|(k, n)| (k.name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "epp_errors": self.epp_errors,
            "first_epp_error": self.first_epp_error,
            "send_lag_us": {"p50": self.send_lag_us[0], "p99": self.send_lag_us[1], "max": self.send_lag_us[2]},
            "whois_queries": self.queries,
            "whois_queries_per_sec": (self.queries as f64 / secs).round(),
            "poll_rounds": self.rounds,
            "whois_reconnects": self.reconnects,
            "first_whois_error": self.first_whois_error,
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            // [index, kind, acked_at_ms, epp_ms, published_ms, every_clone_ms, per clone ms...]
            // (null: not measured, or never visible)
            "samples": self.samples.iter().map(|s| {
                let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1000.0;
                let mut row = vec![json!(s.index), json!(s.kind.name()), json!(ms(s.acked_at)), json!(ms(s.epp)), json!(s.published.map(ms)), json!(s.all().map(ms))];
                row.extend(s.per_clone.iter().map(|c| json!(c.map(ms))));
                Value::Array(row)
            }).collect::<Vec<_>>(),
        })
    }

    /// A few lines for people.
    pub fn table(&self) -> String {
        let all = self.all_us();
        let ms = |us: u64| us as f64 / 1000.0;
        let mut first: Vec<u64> = self
            .samples
            .iter()
            .filter_map(Sample::first)
            .map(micros)
            .collect();
        first.sort_unstable();
        let mut epp: Vec<u64> = self.samples.iter().map(|s| micros(s.epp)).collect();
        epp.sort_unstable();
        let line = |label: &str, v: &[u64]| {
            format!(
                "  {label:<22} n={:<5} p50 {:>8.1} ms  p90 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms\n",
                v.len(),
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.9)),
                ms(percentile(v, 0.99)),
                ms(v.last().copied().unwrap_or(0))
            )
        };
        let mut s = String::new();
        s.push_str(&line("EPP -> every clone", &all));
        s.push_str(&line("EPP -> first clone", &first));
        for k in Kind::ALL {
            let mut v: Vec<u64> = self
                .samples
                .iter()
                .filter(|x| x.kind == k)
                .filter_map(Sample::all)
                .map(micros)
                .collect();
            v.sort_unstable();
            s.push_str(&line(&format!("  {} (every clone)", k.name()), &v));
        }
        let mut published: Vec<u64> = self
            .samples
            .iter()
            .filter_map(|x| x.published)
            .map(micros)
            .collect();
        published.sort_unstable();
        if !published.is_empty() {
            let mut after: Vec<u64> = self
                .samples
                .iter()
                .filter_map(|x| Some(micros(x.all()?.saturating_sub(x.published?))))
                .collect();
            after.sort_unstable();
            s.push_str(&line("EPP -> CURRENT", &published));
            s.push_str(&line("CURRENT -> every clone", &after));
        }
        s.push_str(&line("EPP response", &epp));
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        s.push_str(&format!(
            "  acknowledged {}, never visible {}, EPP errors {:?}; send lag p99 {:.1} ms; \
             whois polls {} ({:.0}/s, {} rounds, {} reconnects)\n",
            self.samples.len(),
            self.never_visible(),
            self.epp_errors,
            self.send_lag_us[1] as f64 / 1000.0,
            self.queries,
            self.queries as f64 / secs,
            self.rounds,
            self.reconnects
        ));
        if let Some(e) = &self.first_epp_error {
            s.push_str(&format!("  first EPP error: {e}\n"));
        }
        if let Some(e) = &self.first_whois_error {
            s.push_str(&format!("  first whois error: {e}\n"));
        }
        s
    }
}

/// A logged-in EPP session.
fn session(cfg: &ProbeConfig, i: usize) -> anyhow::Result<Client> {
    let r = &cfg.registrar;
    let (mut c, _) = Client::connect(
        cfg.epp,
        &r.tls,
        cfg.io_timeout,
        &format!("vis-{}-{i}", cfg.token),
    )
    .map_err(|e| anyhow::anyhow!("EPP session {i}: connect to {}: {e}", cfg.epp))?;
    let code = c
        .login(&r.id, &r.password)
        .map_err(|e| anyhow::anyhow!("EPP session {i}: login: {e}"))?;
    anyhow::ensure!(
        code == 1000,
        "EPP session {i}: login as {} answered {code}",
        r.id
    );
    Ok(c)
}

/// Contact ids of the run (registrant, admin, tech), created by the first session.
fn contacts(cfg: &ProbeConfig, c: &mut Client) -> anyhow::Result<[String; 3]> {
    let ids = ["r", "a", "t"].map(|k| format!("v{}{k}", cfg.token));
    for (i, id) in [1usize, 2, 0].into_iter().map(|i| (i, &ids[i])) {
        let sponsors: Vec<&str> = if i == 0 {
            vec![&ids[1], &ids[2]]
        } else {
            Vec::new()
        };
        let (code, answer) = c
            .command(|t| xml::contact_create(id, &sponsors, t))
            .map_err(|e| anyhow::anyhow!("contact create {id}: {e}"))?;
        anyhow::ensure!(
            code == 1000,
            "contact create {id} answered {code}: {answer:.300}"
        );
    }
    Ok(ids)
}

/// Runs the probe (see the module docs); blocks until every change is on every clone or
/// timed out.
pub fn run(cfg: &ProbeConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(!cfg.clones.is_empty(), "no whois clone to poll");
    anyhow::ensure!(cfg.sessions > 0, "no EPP session");
    anyhow::ensure!(cfg.rate > 0.0, "the rate must be above 0");
    // Every clone answers before we start.
    let mut conns = Vec::new();
    for &a in &cfg.clones {
        let mut c = WhoisConn::connect(a, cfg.io_timeout)
            .map_err(|e| anyhow::anyhow!("whois clone {a}: {e}"))?;
        let probe = c
            .query("domain test.coop")
            .map_err(|e| anyhow::anyhow!("whois clone {a}: {e}"))?;
        anyhow::ensure!(
            probe.contains(">>> Last update"),
            "whois clone {a} answered {probe:.300}"
        );
        conns.push(c);
    }
    let mut clients = Vec::new();
    for i in 0..cfg.sessions {
        clients.push(session(cfg, i)?);
    }
    let ids = Arc::new(contacts(cfg, &mut clients[0])?);
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::new()),
        done: Mutex::new(Vec::new()),
        pools: Mutex::new(Pools::default()),
        sending_done: AtomicBool::new(false),
        next: AtomicUsize::new(0),
        queries: AtomicU64::new(0),
        rounds: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        first_whois_error: Mutex::new(None),
    });
    let start = Instant::now() + Duration::from_millis(50);
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = cfg.db.clone().map(|db| {
        let stop = stop_watch.clone();
        std::thread::spawn(move || watch_current(&db, &stop))
    });
    let mut pollers = Vec::new();
    for (c, conn) in conns.into_iter().enumerate() {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        pollers.push(
            std::thread::Builder::new()
                .name(format!("vis-poll-{c}"))
                .spawn(move || poller(c, conn, &cfg, &shared, start))?,
        );
    }
    let mut senders = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (cfg, shared, ids) = (cfg.clone(), shared.clone(), ids.clone());
        senders.push(
            std::thread::Builder::new()
                .name(format!("vis-epp-{i}"))
                .spawn(move || sender(i, client, &cfg, &shared, &ids, start))?,
        );
    }
    let mut stats = SenderStats::default();
    for s in senders {
        let s = s
            .join()
            .map_err(|_| anyhow::anyhow!("an EPP sender panicked"))?;
        for (k, v) in s.errors {
            *stats.errors.entry(k).or_default() += v;
        }
        stats.first_error = stats.first_error.or(s.first_error);
        stats.lag_us.extend(s.lag_us);
        for (k, v) in s.sent {
            *stats.sent.entry(k).or_default() += v;
        }
    }
    shared.sending_done.store(true, Ordering::SeqCst);
    for p in pollers {
        p.join()
            .map_err(|_| anyhow::anyhow!("a whois poller panicked"))?;
    }
    let elapsed = start.elapsed();
    stop_watch.store(true, Ordering::Relaxed);
    let published = match watcher {
        Some(w) => Some(
            w.join()
                .map_err(|_| anyhow::anyhow!("the CURRENT watcher panicked"))?,
        ),
        None => None,
    };
    let mut samples = std::mem::take(&mut *shared.done.lock().unwrap_or_else(|p| p.into_inner()));
    samples.sort_by_key(|s| s.index);
    if let Some(history) = &published {
        for s in &mut samples {
            let Some(g) = s.generation.iter().flatten().min().copied() else {
                continue;
            };
            if let Some((_, t)) = history.iter().find(|(h, _)| *h >= g) {
                let at = t.saturating_duration_since(start);
                s.published = Some(at.saturating_sub(s.acked_at));
            }
        }
    }
    stats.lag_us.sort_unstable();
    Ok(Report {
        samples,
        sent: stats.sent,
        epp_errors: stats.errors,
        first_epp_error: stats.first_error,
        send_lag_us: [
            percentile(&stats.lag_us, 0.5),
            percentile(&stats.lag_us, 0.99),
            stats.lag_us.last().copied().unwrap_or(0),
        ],
        queries: shared.queries.load(Ordering::Relaxed),
        rounds: shared.rounds.load(Ordering::Relaxed),
        reconnects: shared.reconnects.load(Ordering::Relaxed),
        first_whois_error: shared
            .first_whois_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        elapsed,
        clones: cfg.clones.len(),
    })
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// An EPP session: takes the next change of the schedule, waits until it is due, sends it.
fn sender(
    i: usize,
    mut client: Client,
    cfg: &ProbeConfig,
    shared: &Shared,
    ids: &[String; 3],
    start: Instant,
) -> SenderStats {
    let mut st = SenderStats::default();
    let mut alive = true;
    loop {
        let k = shared.next.fetch_add(1, Ordering::SeqCst);
        if k >= cfg.changes {
            break;
        }
        let due = start + Duration::from_secs_f64(k as f64 / cfg.rate);
        sleep_until(due);
        if !alive {
            // Reconnect once per change; a dead server ends the run with errors.
            match session(cfg, i) {
                Ok(c) => {
                    client = c;
                    alive = true;
                }
                Err(e) => {
                    *st.errors.entry("io".into()).or_default() += 1;
                    st.first_error.get_or_insert_with(|| format!("{e:#}"));
                    continue;
                }
            }
        }
        let mut rng = Rng::new(cfg.seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let want = cfg.mix.draw(&mut rng);
        let picked = {
            let mut p = shared.pools.lock().unwrap_or_else(|p| p.into_inner());
            match want {
                Kind::Update => p.fresh.pop_front().map(|n| (Kind::Update, n)),
                Kind::Delete => p
                    .held
                    .pop_front()
                    .or_else(|| p.fresh.pop_front())
                    .map(|n| (Kind::Delete, n)),
                Kind::Create => None,
            }
        };
        let (kind, name) =
            picked.unwrap_or_else(|| (Kind::Create, format!("vis-{}-{k}.coop", cfg.token)));
        *st.sent.entry(kind).or_default() += 1;
        let sent_at = Instant::now();
        st.lag_us
            .push(micros(sent_at.saturating_duration_since(due)));
        let result = client.command(|t| match kind {
            Kind::Create => xml::domain_create(&name, &ids[0], &ids[1], &ids[2], t),
            Kind::Update => domain_hold(&name, t),
            Kind::Delete => domain_delete(&name, t),
        });
        let acked = Instant::now();
        match result {
            Ok((1000, _)) => {
                let mut p = shared.pending.lock().unwrap_or_else(|p| p.into_inner());
                p.push(Pending {
                    index: k,
                    kind,
                    query: format!("domain {name}"),
                    name,
                    acked,
                    epp: acked - sent_at,
                    seen: vec![None; cfg.clones.len()],
                });
            }
            Ok((code, answer)) => {
                *st.errors.entry(code.to_string()).or_default() += 1;
                st.first_error.get_or_insert_with(|| {
                    format!("{} {name}: {code}: {answer:.300}", kind.name())
                });
            }
            Err(e) => {
                *st.errors.entry("io".into()).or_default() += 1;
                st.first_error
                    .get_or_insert_with(|| format!("{} {name}: {e}", kind.name()));
                alive = false;
            }
        }
    }
    if alive {
        let _ = client.logout();
    }
    st
}

/// Moves changes settled (seen on every clone, or past the timeout) out of `pending`.
fn settle(shared: &Shared, pending: &mut Vec<Pending>, start: Instant, timeout: Duration) {
    let now = Instant::now();
    let mut i = 0;
    while i < pending.len() {
        let p = &pending[i];
        let everywhere = p.seen.iter().all(Option::is_some);
        if !everywhere && now.duration_since(p.acked) < timeout {
            i += 1;
            continue;
        }
        let p = pending.remove(i);
        if everywhere {
            let mut pools = shared.pools.lock().unwrap_or_else(|x| x.into_inner());
            match p.kind {
                Kind::Create => pools.fresh.push_back(p.name.clone()),
                Kind::Update => pools.held.push_back(p.name.clone()),
                Kind::Delete => {}
            }
        }
        let sample = Sample {
            index: p.index,
            kind: p.kind,
            name: p.name,
            acked_at: p.acked.saturating_duration_since(start),
            epp: p.epp,
            per_clone: p
                .seen
                .iter()
                .map(|s| s.map(|(t, _)| t.saturating_duration_since(p.acked)))
                .collect(),
            generation: p.seen.iter().map(|s| s.and_then(|(_, g)| g)).collect(),
            published: None,
        };
        shared
            .done
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .push(sample);
    }
}

/// One clone's poller (see the module docs): every `poll`, the oldest change not yet seen
/// on this clone and any not asked for since the last full check; all of them when the
/// clone's generation changed or `recheck` passed.
fn poller(c: usize, conn: WhoisConn, cfg: &ProbeConfig, shared: &Shared, start: Instant) {
    let addr = cfg.clones[c];
    let mut conn = Some(conn);
    let note = |e: String| {
        let mut f = shared
            .first_whois_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(e);
    };
    // The generation of the last full check, when, and what it asked for.
    let mut last_gen: Option<u64> = None;
    let mut last_full = Instant::now();
    let mut checked: std::collections::HashSet<usize> = std::collections::HashSet::new();
    loop {
        let round = Instant::now();
        let batch: Vec<Ask> = {
            let mut p = shared.pending.lock().unwrap_or_else(|x| x.into_inner());
            settle(shared, &mut p, start, cfg.timeout);
            if p.is_empty()
                && shared.sending_done.load(Ordering::SeqCst)
                && shared.next.load(Ordering::SeqCst) >= cfg.changes
            {
                break;
            }
            p.iter()
                .filter(|x| x.seen[c].is_none())
                .take(cfg.max_batch.max(1))
                .map(|x| (x.index, x.kind, x.name.clone(), x.query.clone()))
                .collect()
        };
        if !batch.is_empty() {
            if conn.is_none() {
                match WhoisConn::connect(addr, cfg.io_timeout) {
                    Ok(x) => conn = Some(x),
                    Err(e) => note(format!("clone {addr}: connect: {e}")),
                }
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(w) = conn.as_mut() {
                let full_due = last_gen.is_none() || last_full.elapsed() >= cfg.recheck;
                // First the oldest and the never asked (everything when a check is due).
                let mut first: Vec<usize> = (0..batch.len())
                    .filter(|&i| full_due || i == 0 || !checked.contains(&batch[i].0))
                    .collect();
                let mut seen = Vec::new();
                let mut gens: Vec<Option<u64>> = Vec::new();
                let mut r = ask(w, &batch, &first, shared, &mut seen, &mut gens);
                let mut full = full_due;
                if r.is_ok() && !full {
                    if gens.first().copied().flatten() != last_gen || gens[0].is_none() {
                        let rest: Vec<usize> =
                            (0..batch.len()).filter(|i| !first.contains(i)).collect();
                        if !rest.is_empty() {
                            r = ask(w, &batch, &rest, shared, &mut seen, &mut gens);
                        }
                        first.extend(rest);
                        full = true;
                    } else {
                        checked.extend(first.iter().map(|&i| batch[i].0));
                    }
                }
                shared.rounds.fetch_add(1, Ordering::Relaxed);
                match r {
                    Err(e) => {
                        note(format!("clone {addr}: {e}"));
                        conn = None;
                        last_gen = None;
                    }
                    Ok(()) if full => {
                        last_gen = gens.iter().flatten().min().copied();
                        last_full = Instant::now();
                        checked = batch.iter().map(|b| b.0).collect();
                    }
                    Ok(()) => {}
                }
                if !seen.is_empty() {
                    let mut p = shared.pending.lock().unwrap_or_else(|x| x.into_inner());
                    for (index, t, g) in seen {
                        if let Some(x) = p.iter_mut().find(|x| x.index == index) {
                            x.seen[c].get_or_insert((t, g));
                        }
                    }
                    settle(shared, &mut p, start, cfg.timeout);
                }
            }
        }
        sleep_until(round + cfg.poll);
    }
}

/// A pending change as a poller holds it: index, kind, name, query.
type Ask = (usize, Kind, String, String);

/// Asks a clone for the changes `which` of `batch`, pipelined: the generation of each
/// answer goes to `gens`, the changes it shows to `seen` (index, when, generation).
fn ask(
    w: &mut WhoisConn,
    batch: &[Ask],
    which: &[usize],
    shared: &Shared,
    seen: &mut Vec<(usize, Instant, Option<u64>)>,
    gens: &mut Vec<Option<u64>>,
) -> io::Result<()> {
    let queries: Vec<String> = which.iter().map(|&i| batch[i].3.clone()).collect();
    shared
        .queries
        .fetch_add(queries.len() as u64, Ordering::Relaxed);
    w.query_all(&queries, |j, answer| {
        let (index, kind, name, _) = &batch[which[j]];
        let g = answer_generation(answer);
        gens.push(g);
        if visible(*kind, name, answer) {
            seen.push((*index, Instant::now(), g));
        }
    })
}

/// Reads `DB/CURRENT` every millisecond until `stop`; the first time each generation was
/// seen.
fn watch_current(db: &std::path::Path, stop: &AtomicBool) -> Vec<(u64, Instant)> {
    let file = db.join("CURRENT");
    let mut seen: Vec<(u64, Instant)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(g) = text.trim().parse::<u64>()
            && seen.last().is_none_or(|&(last, _)| g > last)
        {
            seen.push((g, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse() {
        assert_eq!(Mix::parse(DEFAULT_MIX).unwrap().to_string(), DEFAULT_MIX);
        assert_eq!(Mix::parse("create").unwrap().to_string(), "create=1");
        assert!(Mix::parse("update=1").is_err());
        assert!(Mix::parse("create=1,renew=2").is_err());
        let m = Mix::parse("create=70,update=20,delete=10").unwrap();
        let mut rng = Rng::new(3);
        let mut n = [0u32; 3];
        for _ in 0..10_000 {
            n[m.draw(&mut rng) as usize] += 1;
        }
        assert!((6600..7400).contains(&n[0]), "{n:?}");
        assert!((700..1300).contains(&n[2]), "{n:?}");
    }

    #[test]
    fn answers_are_read_for_the_new_state() {
        let hit = "Domain Name: a.coop\r\nDomain Status: ok\r\n\r\n>>> Last update of whois database: x (generation 3) <<<\r\n";
        let held = "Domain Name: a.coop\r\nDomain Status: clientHold\r\n>>> Last update\r\n";
        let miss = "No match for \"a.coop\".\r\n>>> Last update\r\n";
        assert!(visible(Kind::Create, "a.coop", hit));
        assert!(visible(Kind::Create, "A.coop", hit));
        assert!(!visible(Kind::Create, "b.coop", hit));
        assert!(!visible(Kind::Create, "a.coop", miss));
        assert!(!visible(Kind::Update, "a.coop", hit));
        assert!(visible(Kind::Update, "a.coop", held));
        assert!(visible(Kind::Delete, "a.coop", miss));
        assert!(!visible(Kind::Delete, "a.coop", hit));
        // An error is not a deletion.
        assert!(!visible(Kind::Delete, "a.coop", "%error 501 busy\r\n"));
        assert_eq!(domain_records(&format!("{hit}{hit}"), "a.coop"), 2);
        assert!(domain_delete("a.coop", "T-1").contains("<domain:delete"));
        assert!(domain_hold("a.coop", "T-1").contains(r#"s="clientHold""#));
        assert_eq!(answer_generation(hit), Some(3));
        assert_eq!(answer_generation(miss), None);
    }

    #[test]
    fn percentiles_and_samples() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
        let s = Sample {
            index: 0,
            kind: Kind::Create,
            name: "a.coop".into(),
            acked_at: Duration::ZERO,
            epp: Duration::ZERO,
            per_clone: vec![
                Some(Duration::from_millis(5)),
                Some(Duration::from_millis(9)),
            ],
            generation: vec![Some(4), Some(5)],
            published: Some(Duration::from_millis(3)),
        };
        assert_eq!(s.all(), Some(Duration::from_millis(9)));
        assert_eq!(s.first(), Some(Duration::from_millis(5)));
        let never = Sample {
            per_clone: vec![Some(Duration::from_millis(5)), None],
            ..s.clone()
        };
        assert_eq!(never.all(), None);
        let r = Report {
            samples: vec![s, never],
            sent: BTreeMap::new(),
            epp_errors: BTreeMap::new(),
            first_epp_error: None,
            send_lag_us: [0; 3],
            queries: 0,
            rounds: 0,
            reconnects: 0,
            first_whois_error: None,
            elapsed: Duration::from_secs(1),
            clones: 2,
        };
        assert_eq!(r.never_visible(), 1);
        assert_eq!(r.p99_all(), None);
        assert!(!r.passes(Duration::from_secs(1)));
        let j = r.to_json();
        assert_eq!(j["never_visible"], 1);
        assert_eq!(j["published_ms"]["p50"], 3.0);
        assert_eq!(j["every_clone_after_published_ms"]["max"], 6.0);
    }
}
