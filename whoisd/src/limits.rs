//! Abuse countermeasures: per-source query rate, concurrent connections, a daily budget of
//! contact records, allow- and deny-lists, in one policy file that can be replaced while
//! the server runs (SIGHUP).
//!
//! The Public Whois Specification keeps the right to "activate abuse countermeasures"
//! against "excessive numbers of queries from one source" but not to restrict unless needed,
//! so the [`Mode`] is `off`, `detect` (count and log what would be limited, limit nothing)
//! or `enforce`. A limited client is told in the answer which limit it hit and when to
//! retry; then the connection closes. Nothing hangs.
//!
//! A *source* is an address masked to a prefix: IPv4 per /32 and IPv6 per /64 by default
//! (one IPv6 customer holds a whole /64). One [`Limiter`] is shared by all workers of a
//! process: its table is split into shards, each behind its own mutex, so workers rarely
//! meet. The table is bounded ([`Policy::max_sources`]): when a shard is full, sources with
//! nothing to remember (bucket refilled, no connection open, no budget used) are dropped;
//! if none can be, a new source is served untracked rather than growing the table, so a
//! flood of distinct addresses costs bounded memory.
//!
//! The policy file uses the registry's own `Tag: value` syntax:
//!
//! ```text
//! # whoisd abuse countermeasures (whoisd --limits FILE; kill -HUP reloads it)
//! Mode: enforce                 # off | detect | enforce
//! Query-Rate: 10/s              # sustained queries per source (also /m, /h)
//! Query-Burst: 100              # queries a source may send at once
//! Connections-Per-Source: 20    # open at the same time
//! Contact-Budget: 5000/day      # contact records returned per source and day (0: none)
//! IPv4-Prefix: 32
//! IPv6-Prefix: 64
//! Allow: 192.0.2.0/24           # never limited (repeatable): registrars, monitoring, mirrors
//! Deny: 203.0.113.0/24          # always refused (repeatable)
//! Max-Tracked-Sources: 100000   # memory bound of the table
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Shards of the source table (a power of two).
const SHARDS: usize = 64;

/// Whether limits are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No accounting at all.
    Off,
    /// Account and log what would be limited; limit nothing.
    Detect,
    /// Limit.
    Enforce,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::Detect => "detect",
            Mode::Enforce => "enforce",
        })
    }
}

/// The limits, as read from the policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Off, detect or enforce.
    pub mode: Mode,
    /// Sustained queries per second per source.
    pub query_rate: f64,
    /// Queries a source may send at once (the bucket size).
    pub query_burst: u32,
    /// Connections one source may hold open at once (0: no limit).
    pub connections_per_source: u32,
    /// Contact records returned per source per UTC day (0: no limit).
    pub contact_budget: u32,
    /// IPv4 addresses are grouped per this prefix length.
    pub ipv4_prefix: u8,
    /// IPv6 addresses are grouped per this prefix length.
    pub ipv6_prefix: u8,
    /// Never limited.
    pub allow: Vec<IpNet>,
    /// Always refused.
    pub deny: Vec<IpNet>,
    /// Most sources remembered at once.
    pub max_sources: usize,
}

impl Default for Policy {
    /// The built-in policy: detect only, 10 queries/s with bursts of 100, 20 connections.
    fn default() -> Self {
        Policy {
            mode: Mode::Detect,
            query_rate: 10.0,
            query_burst: 100,
            connections_per_source: 20,
            contact_budget: 0,
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            allow: Vec::new(),
            deny: Vec::new(),
            max_sources: 100_000,
        }
    }
}

/// A policy file problem, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct PolicyError {
    /// The file (or `<text>`).
    pub file: String,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong and what to write instead.
    pub problem: String,
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.display().to_string(),
            line: 0,
            problem: format!("cannot read: {e}"),
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// Parses policy text; unset settings keep their defaults ([`Policy::default`]).
    pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        for (i, raw) in text.lines().enumerate() {
            let err = |problem: String| PolicyError {
                file: file.to_owned(),
                line: i + 1,
                problem,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((tag, value)) = line.split_once(':') else {
                return Err(err(format!("expected `Tag: value`, found {line:?}")));
            };
            let value = value.trim();
            match tag.trim().to_ascii_lowercase().as_str() {
                "mode" => {
                    p.mode = match value.to_ascii_lowercase().as_str() {
                        "off" => Mode::Off,
                        "detect" => Mode::Detect,
                        "enforce" => Mode::Enforce,
                        _ => {
                            return Err(err(format!(
                                "Mode is off, detect or enforce, not {value:?}"
                            )));
                        }
                    }
                }
                "query-rate" => p.query_rate = parse_rate(value).map_err(err)?,
                "query-burst" => p.query_burst = parse_num(value, 1, u32::MAX).map_err(err)?,
                "connections-per-source" => {
                    p.connections_per_source = parse_num(value, 0, u32::MAX).map_err(err)?;
                }
                "contact-budget" => {
                    let v = value.strip_suffix("/day").unwrap_or(value).trim();
                    p.contact_budget = parse_num(v, 0, u32::MAX).map_err(err)?;
                }
                "ipv4-prefix" => p.ipv4_prefix = parse_num(value, 8, 32).map_err(err)? as u8,
                "ipv6-prefix" => p.ipv6_prefix = parse_num(value, 16, 128).map_err(err)? as u8,
                "allow" => p.allow.push(parse_net(value).map_err(err)?),
                "deny" => p.deny.push(parse_net(value).map_err(err)?),
                "max-tracked-sources" => {
                    p.max_sources =
                        parse_num(value, SHARDS as u32, u32::MAX).map_err(err)? as usize;
                }
                other => {
                    return Err(err(format!(
                        "unknown setting {other:?} (known: Mode, Query-Rate, Query-Burst, \
                         Connections-Per-Source, Contact-Budget, IPv4-Prefix, IPv6-Prefix, \
                         Allow, Deny, Max-Tracked-Sources)"
                    )));
                }
            }
        }
        Ok(p)
    }

    /// One line describing the limits, for logs and `-status`.
    pub fn summary(&self) -> String {
        let budget = if self.contact_budget == 0 {
            "no contact budget".to_owned()
        } else {
            format!("{} contact records/day", self.contact_budget)
        };
        format!(
            "mode {}; {} queries/s (burst {}); {} connections; {budget}; per IPv4 /{} and IPv6 /{}; {} allowed and {} denied prefixes",
            self.mode,
            self.query_rate,
            self.query_burst,
            self.connections_per_source,
            self.ipv4_prefix,
            self.ipv6_prefix,
            self.allow.len(),
            self.deny.len()
        )
    }
}

fn parse_num(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {min} to {max}, found {v:?}"
        )),
    }
}

fn parse_rate(v: &str) -> Result<f64, String> {
    let (n, per) = v.split_once('/').unwrap_or((v, "s"));
    let secs = match per.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        _ => return Err(format!("rate unit is /s, /m or /h, found {v:?}")),
    };
    match n.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x / secs),
        _ => Err(format!(
            "expected a rate such as 10/s or 300/m, found {v:?}"
        )),
    }
}

fn parse_net(v: &str) -> Result<IpNet, String> {
    v.parse::<IpNet>()
        .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("expected an address or prefix such as 192.0.2.0/24, found {v:?}"))
}

/// What the limiter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse: tell the client `reason`, and that it may retry after `retry_after`.
    Limit {
        /// Which limit, in words.
        reason: String,
        /// When the limit lifts (zero: never, for a deny-list entry).
        retry_after: Duration,
    },
}

impl Verdict {
    /// The answer for a limited client (whois comment lines and an RWhois error), or
    /// `None` when allowed.
    pub fn message(&self) -> Option<String> {
        match self {
            Verdict::Allow => None,
            Verdict::Limit {
                reason,
                retry_after,
            } => {
                let retry = if retry_after.is_zero() {
                    "contact the registry if you believe this is a mistake".to_owned()
                } else {
                    format!(
                        "retry after {} seconds",
                        retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
                    )
                };
                Some(format!(
                    "% Error: {reason}; {retry}. Limits are documented at https://www.nic.coop/whois\r\n\
                     %error 501 Service Not Available\r\n"
                ))
            }
        }
    }
}

/// Counters, readable by `-status` and the metrics page.
#[derive(Debug, Default)]
pub struct LimitCounters {
    /// Queries refused for rate.
    pub queries_limited: AtomicU64,
    /// Connections refused for the per-source cap.
    pub connections_limited: AtomicU64,
    /// Answers refused for the contact budget.
    pub contacts_limited: AtomicU64,
    /// Connections refused by the deny-list.
    pub denied: AtomicU64,
    /// Limits that would have applied in `detect` mode.
    pub detected: AtomicU64,
    /// New sources served untracked because the table was full.
    pub untracked: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tokens: f64,
    /// Milliseconds since the limiter started, at the last refill.
    refilled_ms: u64,
    connections: u32,
    contacts: u32,
    /// UTC day of `contacts`.
    day: u64,
    /// When a limit on this source was last logged (ms), so a flood logs once a minute.
    logged_ms: u64,
}

/// One shard of the source table.
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u128, Entry>,
    /// When the shard was last swept for forgettable sources (ms), so a full shard under a
    /// flood is swept at most every [`SWEEP_EVERY_MS`], not on every new source.
    swept_ms: Option<u64>,
}

const SWEEP_EVERY_MS: u64 = 100;

/// The process-wide limiter.
pub struct Limiter {
    policy: RwLock<Arc<Policy>>,
    shards: Box<[Mutex<Shard>]>,
    started: Instant,
    /// Counters.
    pub counters: LimitCounters,
    /// Seconds since the epoch now (replaceable in tests).
    now_unix: fn() -> u64,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy())
            .field("sources", &self.sources())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Limiter {
    /// A limiter applying `policy`.
    pub fn new(policy: Policy) -> Limiter {
        Limiter {
            policy: RwLock::new(Arc::new(policy)),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            started: Instant::now(),
            counters: LimitCounters::default(),
            now_unix: unix_now,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the policy (SIGHUP). Sources keep their state; connections stay open.
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    /// The source key of `ip` under `p`: the address masked to its prefix, IPv4 in the
    /// IPv4-mapped IPv6 range (so the two families never share a key).
    fn key(p: &Policy, ip: IpAddr) -> u128 {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(p.ipv4_prefix))
                    .unwrap_or(0);
                0xffff_0000_0000u128 | u128::from(u32::from(v4) & mask)
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(p.ipv6_prefix))
                    .unwrap_or(0);
                u128::from(v6) & mask
            }
        }
    }

    fn shard(&self, key: u128) -> &Mutex<Shard> {
        // Fold the key so neighbouring prefixes spread over shards.
        let h = (key ^ (key >> 64)) as u64;
        let h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Runs `f` on the source's entry (created if there is room), returning its verdict;
    /// in detect mode a limit is counted and logged but allowed.
    fn with_entry(
        &self,
        ip: IpAddr,
        f: impl FnOnce(&Policy, &mut Entry, u64) -> Verdict,
    ) -> Verdict {
        let p = self.policy();
        if p.mode == Mode::Off || p.allow.iter().any(|n| n.contains(&canonical(ip))) {
            return Verdict::Allow;
        }
        let key = Self::key(&p, ip);
        let now = self.now_ms();
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let cap = (p.max_sources / SHARDS).max(1);
        if !shard.map.contains_key(&key) && shard.map.len() >= cap {
            if shard
                .swept_ms
                .is_none_or(|t| now.saturating_sub(t) >= SWEEP_EVERY_MS)
            {
                let today = (self.now_unix)() / 86_400;
                shard.map.retain(|_, e| !is_forgettable(&p, e, now, today));
                shard.swept_ms = Some(now);
            }
            if shard.map.len() >= cap {
                self.counters.untracked.fetch_add(1, Ordering::Relaxed);
                let mut scratch = fresh(&p, now);
                return self.judge(&p, ip, &mut scratch, now, f);
            }
        }
        let e = shard.map.entry(key).or_insert_with(|| fresh(&p, now));
        self.judge(&p, ip, e, now, f)
    }

    fn judge(
        &self,
        p: &Policy,
        ip: IpAddr,
        e: &mut Entry,
        now: u64,
        f: impl FnOnce(&Policy, &mut Entry, u64) -> Verdict,
    ) -> Verdict {
        let v = f(p, e, now);
        if v == Verdict::Allow {
            return v;
        }
        if now.saturating_sub(e.logged_ms) >= 60_000 || e.logged_ms == 0 {
            e.logged_ms = now.max(1);
            if let Verdict::Limit { reason, .. } = &v {
                let what = if p.mode == Mode::Enforce {
                    "limited"
                } else {
                    "would limit (detect mode)"
                };
                crate::log(&format!("{what} {ip}: {reason}"));
            }
        }
        if p.mode == Mode::Detect {
            self.counters.detected.fetch_add(1, Ordering::Relaxed);
            return Verdict::Allow;
        }
        v
    }

    /// A new connection from `ip`. When allowed (in any mode but off), the caller must
    /// call [`Limiter::disconnect`] when it closes.
    pub fn connect(&self, ip: IpAddr) -> Verdict {
        let p = self.policy();
        if p.mode != Mode::Off && p.deny.iter().any(|n| n.contains(&canonical(ip))) {
            let v = Verdict::Limit {
                reason: format!("{ip} is refused by this server's access policy"),
                retry_after: Duration::ZERO,
            };
            if p.mode == Mode::Enforce {
                self.counters.denied.fetch_add(1, Ordering::Relaxed);
                return v;
            }
            self.counters.detected.fetch_add(1, Ordering::Relaxed);
        }
        let v = self.with_entry(ip, |p, e, _| {
            if p.connections_per_source > 0 && e.connections >= p.connections_per_source {
                return Verdict::Limit {
                    reason: format!(
                        "too many connections from your network (at most {} at once)",
                        p.connections_per_source
                    ),
                    retry_after: Duration::from_secs(1),
                };
            }
            Verdict::Allow
        });
        if v != Verdict::Allow {
            self.counters
                .connections_limited
                .fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    /// Marks a connection opened with an allowed [`Limiter::connect`] closed.
    pub fn disconnect(&self, ip: IpAddr) {
        let p = self.policy();
        let key = Self::key(&p, ip);
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = shard.map.get_mut(&key) {
            e.connections = e.connections.saturating_sub(1);
        }
    }

    /// Counts the connection of an allowed [`Limiter::connect`] (split from `connect` so a
    /// refused connection is never counted).
    pub fn connected(&self, ip: IpAddr) {
        let p = self.policy();
        if p.mode == Mode::Off || p.allow.iter().any(|n| n.contains(&canonical(ip))) {
            return;
        }
        let key = Self::key(&p, ip);
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = shard.map.get_mut(&key) {
            e.connections += 1;
        }
    }

    /// One query (or directive) line from `ip`.
    pub fn query(&self, ip: IpAddr) -> Verdict {
        let v = self.with_entry(ip, |p, e, now| {
            refill(p, e, now);
            if e.tokens >= 1.0 {
                e.tokens -= 1.0;
                return Verdict::Allow;
            }
            let wait = (1.0 - e.tokens) / p.query_rate;
            Verdict::Limit {
                reason: format!(
                    "query rate limit exceeded for your network (at most {} queries a second, bursts of {})",
                    p.query_rate, p.query_burst
                ),
                retry_after: Duration::from_secs_f64(wait.max(0.001)),
            }
        });
        if v != Verdict::Allow {
            self.counters
                .queries_limited
                .fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    /// `n` contact records about to be returned to `ip`; refused when over the day's budget.
    pub fn contacts(&self, ip: IpAddr, n: u32) -> Verdict {
        // No budget: no entry to look up (this runs after every answer with contacts).
        if n == 0 || self.policy().contact_budget == 0 {
            return Verdict::Allow;
        }
        let today = (self.now_unix)() / 86_400;
        let secs_left = 86_400 - (self.now_unix)() % 86_400;
        let v = self.with_entry(ip, |p, e, _| {
            if p.contact_budget == 0 || n == 0 {
                return Verdict::Allow;
            }
            if e.day != today {
                e.day = today;
                e.contacts = 0;
            }
            if e.contacts.saturating_add(n) > p.contact_budget {
                return Verdict::Limit {
                    reason: format!(
                        "daily limit of {} contact records reached for your network",
                        p.contact_budget
                    ),
                    retry_after: Duration::from_secs(secs_left),
                };
            }
            e.contacts += n;
            Verdict::Allow
        });
        if v != Verdict::Allow {
            self.counters
                .contacts_limited
                .fetch_add(1, Ordering::Relaxed);
        }
        v
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn fresh(p: &Policy, now: u64) -> Entry {
    Entry {
        tokens: f64::from(p.query_burst),
        refilled_ms: now,
        connections: 0,
        contacts: 0,
        day: 0,
        logged_ms: 0,
    }
}

fn refill(p: &Policy, e: &mut Entry, now: u64) {
    let elapsed = now.saturating_sub(e.refilled_ms) as f64 / 1000.0;
    e.tokens = (e.tokens + elapsed * p.query_rate).min(f64::from(p.query_burst));
    e.refilled_ms = now;
}

/// Nothing to remember: no open connection, bucket full again, no budget used today.
fn is_forgettable(p: &Policy, e: &Entry, now: u64, today: u64) -> bool {
    let elapsed = now.saturating_sub(e.refilled_ms) as f64 / 1000.0;
    e.connections == 0
        && e.tokens + elapsed * p.query_rate >= f64::from(p.query_burst)
        && (e.contacts == 0 || e.day != today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enforce() -> Policy {
        Policy {
            mode: Mode::Enforce,
            query_rate: 2.0,
            query_burst: 5,
            connections_per_source: 2,
            contact_budget: 10,
            ..Policy::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_setting_and_reports_lines() {
        let text = "# comment\nMode: enforce\nQuery-Rate: 120/m\nQuery-Burst: 7\n\
                    Connections-Per-Source: 3\nContact-Budget: 1000/day\nIPv4-Prefix: 24\n\
                    IPv6-Prefix: 48\nAllow: 192.0.2.0/24\nAllow: 2001:db8::1\nDeny: 203.0.113.0/24 # bad\n\
                    Max-Tracked-Sources: 5000\n";
        let p = Policy::parse(text, "limits").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!((p.query_rate - 2.0).abs() < 1e-9);
        assert_eq!(
            (p.query_burst, p.connections_per_source, p.contact_budget),
            (7, 3, 1000)
        );
        assert_eq!(
            (p.ipv4_prefix, p.ipv6_prefix, p.max_sources),
            (24, 48, 5000)
        );
        assert_eq!((p.allow.len(), p.deny.len()), (2, 1));
        for (bad, line) in [
            ("Mode: maybe\n", 1),
            ("\nQuery-Rate: fast\n", 2),
            ("Query-Rate: 10/fortnight\n", 1),
            ("Query-Burst: 0\n", 1),
            ("IPv4-Prefix: 33\n", 1),
            ("Allow: everyone\n", 1),
            ("Colour: blue\n", 1),
            ("no colon here\n", 1),
        ] {
            let e = Policy::parse(bad, "limits").unwrap_err();
            assert_eq!(e.line, line, "{bad:?}: {e}");
            assert!(
                e.to_string().starts_with(&format!("limits:{line}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn token_bucket_allows_the_burst_then_the_rate() {
        let l = Limiter::new(enforce());
        for _ in 0..5 {
            assert_eq!(l.query(ip("192.0.2.1")), Verdict::Allow);
        }
        let v = l.query(ip("192.0.2.1"));
        let msg = v.message().expect("limited");
        assert!(msg.contains("query rate limit exceeded"), "{msg}");
        assert!(msg.contains("retry after 1 seconds"), "{msg}");
        // Another source is not affected.
        assert_eq!(l.query(ip("192.0.2.2")), Verdict::Allow);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(l.query(ip("192.0.2.1")), Verdict::Allow, "refilled at 2/s");
        assert_eq!(l.counters.queries_limited.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn ipv6_sources_are_grouped_per_64() {
        let l = Limiter::new(enforce());
        for i in 0..5 {
            assert_eq!(l.query(ip(&format!("2001:db8:1:2::{i}"))), Verdict::Allow);
        }
        assert_ne!(l.query(ip("2001:db8:1:2:ffff::9")), Verdict::Allow);
        assert_eq!(l.query(ip("2001:db8:1:3::1")), Verdict::Allow);
        // IPv4-mapped addresses count as their IPv4 address.
        for _ in 0..5 {
            assert_eq!(l.query(ip("::ffff:198.51.100.7")), Verdict::Allow);
        }
        assert_ne!(l.query(ip("198.51.100.7")), Verdict::Allow);
    }

    #[test]
    fn connections_per_source() {
        let l = Limiter::new(enforce());
        let a = ip("192.0.2.1");
        for _ in 0..2 {
            assert_eq!(l.connect(a), Verdict::Allow);
            l.connected(a);
        }
        assert_ne!(l.connect(a), Verdict::Allow);
        l.disconnect(a);
        assert_eq!(l.connect(a), Verdict::Allow);
    }

    #[test]
    fn contact_budget_per_day() {
        let l = Limiter::new(enforce());
        let a = ip("192.0.2.1");
        assert_eq!(l.contacts(a, 4), Verdict::Allow);
        assert_eq!(l.contacts(a, 6), Verdict::Allow);
        let v = l.contacts(a, 1);
        assert!(
            v.message()
                .unwrap()
                .contains("daily limit of 10 contact records")
        );
        // A refusal costs nothing: what is left of the budget is still there.
        assert_eq!(l.counters.contacts_limited.load(Ordering::Relaxed), 1);
        assert_eq!(l.contacts(a, 0), Verdict::Allow);
        // Without a budget nothing is tracked for answers.
        let free = Limiter::new(Policy {
            contact_budget: 0,
            ..enforce()
        });
        assert_eq!(free.contacts(a, 1_000_000), Verdict::Allow);
        assert_eq!(free.sources(), 0);
    }

    #[test]
    fn allow_deny_and_modes() {
        let mut p = enforce();
        p.allow.push("192.0.2.0/24".parse().unwrap());
        p.deny.push("203.0.113.0/24".parse().unwrap());
        let l = Limiter::new(p.clone());
        for _ in 0..50 {
            assert_eq!(l.query(ip("192.0.2.9")), Verdict::Allow);
        }
        let v = l.connect(ip("203.0.113.5"));
        assert!(
            v.message()
                .unwrap()
                .contains("refused by this server's access policy")
        );
        // Detect: counted, never limited.
        p.mode = Mode::Detect;
        l.set_policy(p.clone());
        assert_eq!(l.connect(ip("203.0.113.5")), Verdict::Allow);
        for _ in 0..20 {
            assert_eq!(l.query(ip("198.51.100.1")), Verdict::Allow);
        }
        assert!(l.counters.detected.load(Ordering::Relaxed) >= 15);
        // Off: nothing tracked.
        p.mode = Mode::Off;
        let off = Limiter::new(p);
        for _ in 0..20 {
            assert_eq!(off.query(ip("198.51.100.1")), Verdict::Allow);
        }
        assert_eq!(off.sources(), 0);
    }

    #[test]
    fn a_flood_of_distinct_sources_stays_bounded() {
        let p = Policy {
            max_sources: 640,
            ..enforce()
        };
        let l = Limiter::new(p);
        for i in 0..50_000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            // Each new source spends a token, so it cannot be forgotten at once.
            let _ = l.query(a);
        }
        assert!(l.sources() <= 640, "{}", l.sources());
        assert!(l.counters.untracked.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn summary_names_the_limits() {
        let s = enforce().summary();
        assert!(
            s.contains("mode enforce") && s.contains("2 queries/s (burst 5)"),
            "{s}"
        );
    }
}
