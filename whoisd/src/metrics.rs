//! What operators see of a running clone: a [`Snapshot`] of the process-wide counters
//! ([`crate::server::Stats`]) and of the limiter ([`crate::limits::LimitCounters`]),
//! written as `-status` lines for authenticated operators ([`ProcessReport`]) and as a
//! Prometheus text exposition (format 0.0.4, [`exposition`]) on the metrics port.
//!
//! The metrics port speaks just enough HTTP/1.1, sans-I/O like [`crate::session`]: the
//! server ([`crate::server`], `Protocol::Metrics`) collects the request head (at most
//! [`MAX_REQUEST`] bytes, under the idle timeout), [`parse_request`] says when it is complete
//! and what it asks, and [`response`] is sent before the connection closes
//! (`Connection: close`; no keep-alive, no body read). `GET /metrics` and `HEAD /metrics`
//! are answered; another path gets 404, another method 405, a malformed head 400, an
//! over-long one 431. Bind it to loopback or a management network: it tells anyone who
//! connects how busy the service is.
//!
//! Reading the counters takes no lock but the limiter's table size ([`Limiter::sources`]),
//! which visits its shards one at a time.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::limits::Limiter;
use crate::server::Stats;
use crate::session::StatusReport;

/// Longest request head the metrics port reads; longer ones get 431.
pub const MAX_REQUEST: usize = 8 * 1024;

/// Upper bounds of the answer-latency buckets, in microseconds; a last bucket (+Inf) holds
/// the rest. Fine around a millisecond (the service's own target), and up to the 2 s round
/// trip of ICANN's RDDS service level.
pub const LATENCY_BOUNDS_US: [u64; 14] = [
    25, 50, 100, 250, 500, 750, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000, 2_000_000,
];
/// Buckets of [`LatencyHistogram`]: one per bound, and +Inf.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// How long answers took inside the server: from the read that received the query to the
/// write that handed the answer's last byte to the kernel (answers written together count
/// from the read of the first of them). One per worker, bumped only by its worker (Relaxed
/// atomics, once per write that completes answers, not per answer), added up by readers.
/// Time in the socket buffers either side, and on the network, is not in it.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: [AtomicU64; LATENCY_BUCKETS],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Records `answers` answers that each took `took`.
    pub fn record(&self, took: Duration, answers: u64) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = bucket_of(us);
        self.counts[bucket].fetch_add(answers, Relaxed);
        self.sum_us.fetch_add(us.saturating_mul(answers), Relaxed);
    }

    /// Adds this histogram's counts to `to`.
    pub fn add_to(&self, to: &mut LatencySnapshot) {
        for (sum, c) in to.counts.iter_mut().zip(&self.counts) {
            *sum += c.load(Relaxed);
        }
        to.sum_us += self.sum_us.load(Relaxed);
    }
}

/// The bucket of a latency of `us` microseconds: the first whose bound is at least `us`.
fn bucket_of(us: u64) -> usize {
    LATENCY_BOUNDS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(LATENCY_BOUNDS_US.len())
}

/// The counts of one or more [`LatencyHistogram`]s at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Answers per bucket (not cumulative), the last one +Inf.
    pub counts: [u64; LATENCY_BUCKETS],
    /// The sum of all latencies, microseconds.
    pub sum_us: u64,
}

impl LatencySnapshot {
    /// Answers timed.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bound of the bucket that holds quantile `q` (0 to 1) of the answers: at least
    /// that share of them took no longer. `None` with no answers timed, or when the quantile
    /// falls in the +Inf bucket (over the last bound).
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the quantile (1-based), as Prometheus' histogram_quantile counts it.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return LATENCY_BOUNDS_US.get(i).copied();
            }
        }
        None
    }

    /// The `-status` summary: `p50 <= 100 us, p99 <= 750 us, p99.9 <= 2500 us (N answers)`.
    pub fn summary(&self) -> String {
        let total = self.count();
        if total == 0 {
            return "no answers timed yet".into();
        }
        let bound = |q: f64| match self.quantile_bound_us(q) {
            Some(b) => format!("<= {b} us"),
            None => format!("> {} us", LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1]),
        };
        format!(
            "p50 {}, p99 {}, p99.9 {} ({total} answers, mean {} us)",
            bound(0.5),
            bound(0.99),
            bound(0.999),
            self.sum_us / total
        )
    }
}

/// The counters at one moment (each read on its own; Relaxed, so figures taken together
/// may be a few events apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Query and directive lines received (each costs one token of the rate limit).
    pub queries: u64,
    /// Answers that found records.
    pub hits: u64,
    /// Answers that found nothing.
    pub no_match: u64,
    /// Refused queries and rejected lines.
    pub errors: u64,
    /// Directive answers.
    pub directives: u64,
    /// Records answered.
    pub records: u64,
    /// Contact records answered (personal data).
    pub contacts: u64,
    /// Connections accepted (whois and RWhois).
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Refused at the process's connection cap.
    pub refused_busy: u64,
    /// Closed for idleness.
    pub idle_closed: u64,
    /// Closed for a bad or unexpected PROXY header.
    pub proxy_refused: u64,
    /// Answer bytes written to clients.
    pub bytes_sent: u64,
    /// The generation served.
    pub generation: u64,
    /// Answers served from the workers' answer caches.
    pub answer_cache_hits: u64,
    /// Answers the workers rendered (their cache had none, or a switch changed it).
    pub answer_cache_misses: u64,
    /// Cached answers dropped because a generation switch changed what they read.
    pub answer_cache_invalidated: u64,
    /// How long answers took inside the server ([`LatencyHistogram`]).
    pub latency: LatencySnapshot,
    /// The limiter's figures, when the process has one.
    pub limits: Option<LimitSnapshot>,
}

/// The limiter's policy and counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitSnapshot {
    /// [`crate::limits::Policy::summary`].
    pub summary: String,
    /// Queries refused for rate.
    pub rate: u64,
    /// Connections refused for the per-source cap.
    pub connections: u64,
    /// Answers refused for the contact budget.
    pub contacts: u64,
    /// Connections refused by the deny-list.
    pub deny: u64,
    /// Limits that would have applied (detect mode).
    pub detected: u64,
    /// New sources served untracked (table full).
    pub untracked: u64,
    /// Sources tracked now.
    pub sources: u64,
}

impl Snapshot {
    /// Reads the counters.
    pub fn take(stats: &Stats, limiter: Option<&Limiter>) -> Snapshot {
        let totals = stats.totals();
        Snapshot {
            queries: totals.queries,
            hits: totals.hits,
            no_match: totals.no_match,
            errors: totals.errors,
            directives: totals.directives,
            records: totals.records,
            contacts: totals.contacts,
            accepted: stats.accepted.load(Relaxed),
            open: stats.open.load(Relaxed) as u64,
            refused_busy: stats.refused_busy.load(Relaxed),
            idle_closed: stats.idle_closed.load(Relaxed),
            proxy_refused: stats.proxy_refused.load(Relaxed),
            bytes_sent: totals.bytes_sent,
            generation: stats.generation.load(Relaxed),
            answer_cache_hits: totals.answer_cache_hits,
            answer_cache_misses: totals.answer_cache_misses,
            answer_cache_invalidated: totals.answer_cache_invalidated,
            latency: totals.latency,
            limits: limiter.map(|l| {
                let c = &l.counters;
                LimitSnapshot {
                    summary: l.policy().summary(),
                    rate: c.queries_limited.load(Relaxed),
                    connections: c.connections_limited.load(Relaxed),
                    contacts: c.contacts_limited.load(Relaxed),
                    deny: c.denied.load(Relaxed),
                    detected: c.detected.load(Relaxed),
                    untracked: c.untracked.load(Relaxed),
                    sources: l.sources() as u64,
                }
            }),
        }
    }

    /// The figures as `-status` lines (`key`, `value`).
    pub fn status_lines(&self, line: &mut dyn FnMut(&str, &str)) {
        let mut n = |k: &str, v: u64| line(k, &v.to_string());
        n("queries", self.queries);
        n("answers-hit", self.hits);
        n("answers-no-match", self.no_match);
        n("answers-error", self.errors);
        n("answers-directive", self.directives);
        n("records", self.records);
        n("contact-records", self.contacts);
        n("connections", self.accepted);
        n("connections-open", self.open);
        n("connections-refused-busy", self.refused_busy);
        n("connections-closed-idle", self.idle_closed);
        n("connections-refused-proxy", self.proxy_refused);
        n("bytes-sent", self.bytes_sent);
        n("serving-generation", self.generation);
        n("answer-cache-hits", self.answer_cache_hits);
        n("answer-cache-misses", self.answer_cache_misses);
        n("answer-cache-invalidated", self.answer_cache_invalidated);
        line("answer-latency", &self.latency.summary());
        let Some(l) = &self.limits else {
            line(
                "limits",
                "none (no --limits policy: nothing is limited or counted)",
            );
            return;
        };
        line("limits", &l.summary);
        let mut n = |k: &str, v: u64| line(k, &v.to_string());
        n("limited-rate", l.rate);
        n("limited-connections", l.connections);
        n("limited-contacts", l.contacts);
        n("limited-deny", l.deny);
        n("limits-detected", l.detected);
        n("limiter-sources", l.sources);
        n("limiter-untracked", l.untracked);
    }
}

/// Writes the Prometheus text exposition (format 0.0.4) of `s`.
pub fn exposition(s: &Snapshot, out: &mut String) {
    let l = s.limits.clone().unwrap_or_default();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    family(
        "whoisd_queries_total",
        "counter",
        "Query and directive lines received (each costs one token of the rate limit).",
        &[("", s.queries)],
    );
    family(
        "whoisd_answers_total",
        "counter",
        "Lines answered, by kind of answer.",
        &[
            ("{kind=\"hit\"}", s.hits),
            ("{kind=\"no_match\"}", s.no_match),
            ("{kind=\"error\"}", s.errors),
            ("{kind=\"directive\"}", s.directives),
        ],
    );
    family(
        "whoisd_records_total",
        "counter",
        "Records answered to queries.",
        &[("", s.records)],
    );
    family(
        "whoisd_contact_records_total",
        "counter",
        "Contact records (personal data) answered, joined ones included.",
        &[("", s.contacts)],
    );
    family(
        "whoisd_limited_total",
        "counter",
        "Clients refused by the abuse countermeasures, by limit.",
        &[
            ("{limit=\"rate\"}", l.rate),
            ("{limit=\"connections\"}", l.connections),
            ("{limit=\"contacts\"}", l.contacts),
            ("{limit=\"deny\"}", l.deny),
        ],
    );
    family(
        "whoisd_detected_total",
        "counter",
        "Limits that would have applied in detect mode.",
        &[("", l.detected)],
    );
    family(
        "whoisd_connections_total",
        "counter",
        "Whois and RWhois connections accepted.",
        &[("", s.accepted)],
    );
    family(
        "whoisd_connections_open",
        "gauge",
        "Whois and RWhois connections open now.",
        &[("", s.open)],
    );
    family(
        "whoisd_connections_refused_total",
        "counter",
        "Connections refused or closed by the server, by reason.",
        &[
            ("{reason=\"busy\"}", s.refused_busy),
            ("{reason=\"idle\"}", s.idle_closed),
            ("{reason=\"proxy\"}", s.proxy_refused),
        ],
    );
    family(
        "whoisd_bytes_sent_total",
        "counter",
        "Bytes written to whois and RWhois clients.",
        &[("", s.bytes_sent)],
    );
    family(
        "whoisd_answer_cache_total",
        "counter",
        "Port-43 answers by how the worker's answer cache served them; invalidated: dropped \
         because a generation switch changed what they read (also counted as a miss).",
        &[
            ("{result=\"hit\"}", s.answer_cache_hits),
            ("{result=\"miss\"}", s.answer_cache_misses),
            ("{result=\"invalidated\"}", s.answer_cache_invalidated),
        ],
    );
    family(
        "whoisd_generation",
        "gauge",
        "Number of the database generation served.",
        &[("", s.generation)],
    );
    family(
        "whoisd_limiter_sources",
        "gauge",
        "Sources the limiter tracks now.",
        &[("", l.sources)],
    );
    // The answer latency, as a Prometheus histogram: cumulative buckets, sum in seconds.
    let name = "whoisd_answer_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from the read that received a query to the write that finished \
         its answer (whois and RWhois; socket buffers and network not included)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, c) in s.latency.counts.iter().enumerate() {
        cumulative += c;
        match LATENCY_BOUNDS_US.get(i) {
            Some(&us) => {
                let le = us as f64 / 1e6;
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let _ = writeln!(out, "{name}_sum {}", s.latency.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {cumulative}");
}

/// The `-status` figures for operators: the process's counters and limits.
pub struct ProcessReport {
    stats: Arc<Stats>,
    limiter: Option<Arc<Limiter>>,
}

impl ProcessReport {
    /// Reports `stats` and `limiter`.
    pub fn new(stats: Arc<Stats>, limiter: Option<Arc<Limiter>>) -> ProcessReport {
        ProcessReport { stats, limiter }
    }
}

impl std::fmt::Debug for ProcessReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessReport").finish_non_exhaustive()
    }
}

impl StatusReport for ProcessReport {
    fn report(&self, line: &mut dyn FnMut(&str, &str)) {
        Snapshot::take(&self.stats, self.limiter.as_deref()).status_lines(line);
    }
}

/// What a metrics request asks, once its head is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics` (`head`: `HEAD /metrics`, the same without the body).
    Metrics {
        /// Headers only.
        head: bool,
    },
    /// Another path (404).
    NotFound,
    /// Another method (405).
    BadMethod,
    /// Not an HTTP request line (400).
    Malformed,
    /// No end of head within [`MAX_REQUEST`] bytes (431).
    TooLarge,
}

/// Looks at what was received: `None` while the head is incomplete (no empty line yet and
/// under [`MAX_REQUEST`] bytes), else what it asks. Headers are not interpreted.
pub fn parse_request(input: &[u8]) -> Option<Request> {
    let end = input
        .windows(2)
        .position(|w| w == b"\n\n")
        .into_iter()
        .chain(input.windows(4).position(|w| w == b"\r\n\r\n"))
        .min();
    if end.is_none() {
        return (input.len() >= MAX_REQUEST).then_some(Request::TooLarge);
    }
    let line_end = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let line = input[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&input[..line_end]);
    let Ok(line) = std::str::from_utf8(line) else {
        return Some(Request::Malformed);
    };
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Some(Request::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Some(Request::Malformed);
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Some(Request::BadMethod),
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    Some(if path == "/metrics" {
        Request::Metrics { head }
    } else {
        Request::NotFound
    })
}

/// The whole HTTP response to `req`; `metrics` writes the exposition when it is needed.
pub fn response(req: Request, metrics: impl FnOnce(&mut String)) -> Vec<u8> {
    let (status, body, head, extra) = match req {
        Request::Metrics { head } => {
            let mut body = String::with_capacity(4096);
            metrics(&mut body);
            ("200 OK", body, head, "")
        }
        Request::NotFound => (
            "404 Not Found",
            "not found: try /metrics\n".into(),
            false,
            "",
        ),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "only GET and HEAD\n".into(),
            false,
            "Allow: GET, HEAD\r\n",
        ),
        Request::Malformed => ("400 Bad Request", "bad request\n".into(), false, ""),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large\n".into(),
            false,
            "",
        ),
    };
    let content_type = if matches!(req, Request::Metrics { .. }) {
        "text/plain; version=0.0.4"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_complete_at_the_empty_line() {
        assert_eq!(parse_request(b""), None);
        assert_eq!(parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(parse_request(get), Some(Request::Metrics { head: false }));
        for i in 0..get.len() {
            assert_eq!(parse_request(&get[..i]), None, "{i}");
        }
        assert_eq!(
            parse_request(b"HEAD /metrics?x=1 HTTP/1.0\n\n"),
            Some(Request::Metrics { head: true })
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\n\r\n"),
            Some(Request::NotFound)
        );
        assert_eq!(
            parse_request(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Some(Request::NotFound)
        );
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::BadMethod)
        );
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics SMTP/1.1\r\n\r\n",
            b"GET /m\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_request(bad), Some(Request::Malformed), "{bad:?}");
        }
        let long = vec![b'a'; MAX_REQUEST];
        assert_eq!(parse_request(&long), Some(Request::TooLarge));
        assert_eq!(parse_request(&long[..MAX_REQUEST - 1]), None);
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = String::from_utf8(response(Request::Metrics { head: false }, |b| {
            b.push_str("x 1\n")
        }))
        .unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("Content-Length: 4\r\n"), "{r}");
        assert!(r.contains("Connection: close\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nx 1\n"), "{r}");
        let h = String::from_utf8(response(Request::Metrics { head: true }, |b| {
            b.push_str("x 1\n")
        }))
        .unwrap();
        assert!(
            h.contains("Content-Length: 4\r\n") && h.ends_with("\r\n\r\n"),
            "{h}"
        );
        let nf = String::from_utf8(response(Request::NotFound, |_| unreachable!())).unwrap();
        assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"), "{nf}");
        let m = String::from_utf8(response(Request::BadMethod, |_| unreachable!())).unwrap();
        assert!(m.contains("Allow: GET, HEAD\r\n"), "{m}");
    }

    #[test]
    fn exposition_is_well_formed() {
        let s = Snapshot {
            queries: 7,
            hits: 3,
            generation: 12,
            limits: Some(LimitSnapshot {
                rate: 2,
                sources: 5,
                ..LimitSnapshot::default()
            }),
            ..Snapshot::default()
        };
        let mut text = String::new();
        exposition(&s, &mut text);
        assert!(text.contains("whoisd_queries_total 7\n"), "{text}");
        assert!(text.contains("whoisd_answers_total{kind=\"hit\"} 3\n"));
        assert!(text.contains("whoisd_limited_total{limit=\"rate\"} 2\n"));
        assert!(text.contains("whoisd_generation 12\n"));
        assert!(text.contains("whoisd_limiter_sources 5\n"));
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{l}");
                assert!(typed.insert(name.to_owned()), "TYPE twice: {name}");
            } else if !l.starts_with("# HELP ") {
                let name = l.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|f| typed.contains(*f))
                    .unwrap_or(name);
                assert!(typed.contains(family), "sample before its TYPE: {l}");
            }
        }
        // Without a limiter the families are there, at zero.
        let mut bare = String::new();
        exposition(&Snapshot::default(), &mut bare);
        assert!(bare.contains("whoisd_limited_total{limit=\"deny\"} 0\n"));
    }

    #[test]
    fn latencies_fall_in_the_first_bucket_at_least_as_long() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(25), 0);
        assert_eq!(bucket_of(26), 1);
        assert_eq!(bucket_of(1_000), 6);
        assert_eq!(bucket_of(1_001), 7);
        assert_eq!(bucket_of(2_000_000), LATENCY_BOUNDS_US.len() - 1);
        assert_eq!(bucket_of(2_000_001), LATENCY_BOUNDS_US.len());
        assert_eq!(bucket_of(u64::MAX), LATENCY_BOUNDS_US.len());
        assert!(LATENCY_BOUNDS_US.windows(2).all(|w| w[0] < w[1]));

        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(40), 97);
        h.record(Duration::from_micros(600), 2);
        h.record(Duration::from_secs(3), 1);
        h.record(Duration::MAX, 0);
        let mut s = LatencySnapshot::default();
        h.add_to(&mut s);
        h.add_to(&mut s); // two workers with the same figures
        assert_eq!(s.count(), 200);
        assert_eq!(s.counts[1], 194);
        assert_eq!(s.counts[5], 4);
        assert_eq!(s.counts[LATENCY_BUCKETS - 1], 2);
        assert_eq!(s.sum_us, 2 * (97 * 40 + 2 * 600 + 3_000_000));
    }

    #[test]
    fn quantiles_name_the_bucket_that_holds_them() {
        let mut s = LatencySnapshot::default();
        assert_eq!(s.quantile_bound_us(0.99), None);
        assert_eq!(s.summary(), "no answers timed yet");
        s.counts[2] = 990; // <= 100 us
        s.counts[6] = 9; // <= 1 ms
        s.counts[LATENCY_BUCKETS - 1] = 1; // over 2 s
        s.sum_us = 1_000_000;
        assert_eq!(s.quantile_bound_us(0.0), Some(100));
        assert_eq!(s.quantile_bound_us(0.5), Some(100));
        // Rank 990 of 1,000 is the last answer of the first bucket; 991 is past it.
        assert_eq!(s.quantile_bound_us(0.99), Some(100));
        assert_eq!(s.quantile_bound_us(0.991), Some(1_000));
        assert_eq!(s.quantile_bound_us(0.999), Some(1_000));
        assert_eq!(s.quantile_bound_us(1.0), None);
        assert_eq!(
            s.summary(),
            "p50 <= 100 us, p99 <= 100 us, p99.9 <= 1000 us (1000 answers, mean 1000 us)"
        );
        s.counts[LATENCY_BUCKETS - 1] = 10;
        assert!(
            s.summary().contains("p99.9 > 2000000 us"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn the_latency_histogram_is_cumulative_in_seconds() {
        let mut latency = LatencySnapshot::default();
        latency.counts[0] = 5;
        latency.counts[3] = 2;
        latency.counts[LATENCY_BUCKETS - 1] = 1;
        latency.sum_us = 2_500_000;
        let s = Snapshot {
            latency,
            ..Snapshot::default()
        };
        let mut text = String::new();
        exposition(&s, &mut text);
        let name = "whoisd_answer_duration_seconds";
        for want in [
            format!("# TYPE {name} histogram\n"),
            format!("{name}_bucket{{le=\"0.000025\"}} 5\n"),
            format!("{name}_bucket{{le=\"0.0001\"}} 5\n"),
            format!("{name}_bucket{{le=\"0.00025\"}} 7\n"),
            format!("{name}_bucket{{le=\"0.001\"}} 7\n"),
            format!("{name}_bucket{{le=\"2\"}} 7\n"),
            format!("{name}_bucket{{le=\"+Inf\"}} 8\n"),
            format!("{name}_sum 2.5\n"),
            format!("{name}_count 8\n"),
        ] {
            assert!(text.contains(&want), "{want} in\n{text}");
        }
        assert_eq!(
            text.matches(&format!("{name}_bucket")).count(),
            LATENCY_BUCKETS
        );
    }

    #[test]
    fn status_lines_name_every_figure() {
        let mut lines = Vec::new();
        Snapshot::default().status_lines(&mut |k, v| lines.push(format!("{k}:{v}")));
        assert!(lines.contains(&"queries:0".to_owned()), "{lines:?}");
        assert!(
            lines.last().unwrap().starts_with("limits:none"),
            "{lines:?}"
        );
        let with = Snapshot {
            limits: Some(LimitSnapshot {
                summary: "mode enforce".into(),
                contacts: 4,
                ..LimitSnapshot::default()
            }),
            ..Snapshot::default()
        };
        let mut lines = Vec::new();
        with.status_lines(&mut |k, v| lines.push(format!("{k}:{v}")));
        assert!(
            lines.contains(&"limits:mode enforce".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"limited-contacts:4".to_owned()),
            "{lines:?}"
        );
    }
}
