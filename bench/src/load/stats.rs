//! What a load run counted ([`Stats`], one per client thread, merged at the end) and what it
//! reports ([`Report`]: rates, answer and error counts, latency percentiles from an HDR
//! histogram), as a human-readable table or one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::answer::AnswerKind;

/// Highest latency the histogram tracks, in microseconds (larger values are clamped).
pub const MAX_LATENCY_US: u64 = 600_000_000;

/// Why a query (or a connection) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection was refused (nothing listening, or a full backlog).
    Refused,
    /// The connection was reset or aborted.
    Reset,
    /// No progress within `--timeout` (connecting, or waiting for an answer).
    Timeout,
    /// The server closed before the answer's `>>> Last update` line.
    Short,
    /// A pipelined query was still waiting when its connection closed.
    Dropped,
    /// The server refused `-holdconnect on`.
    Holdconnect,
    /// Any other I/O error (e.g. no free source port).
    Io,
}

impl ErrorKind {
    /// All kinds, in report order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Refused,
        ErrorKind::Reset,
        ErrorKind::Timeout,
        ErrorKind::Short,
        ErrorKind::Dropped,
        ErrorKind::Holdconnect,
        ErrorKind::Io,
    ];

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Short => "short_answer",
            ErrorKind::Dropped => "dropped",
            ErrorKind::Holdconnect => "holdconnect_refused",
            ErrorKind::Io => "io",
        }
    }

    /// The kind of an I/O error.
    pub fn of(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ErrorKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        }
    }
}

/// Counters of one client thread (or of several, merged).
#[derive(Debug, Clone)]
pub struct Stats {
    /// Queries sent (connect mode: connections started) in the measured window.
    pub attempted: u64,
    /// Answers by [`AnswerKind`].
    pub answers: [u64; 4],
    /// Error events by [`ErrorKind`].
    pub errors: [u64; 7],
    /// The first message of each error kind, for diagnosis.
    pub first_error: [Option<String>; 7],
    /// Queries that got no answer because of an error (a subset of `attempted`).
    pub failed: u64,
    /// Connections established.
    pub connections: u64,
    /// Bytes received and sent.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Latency from sending a query to the end of its answer, microseconds.
    pub latency: Histogram<u64>,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Paced runs: the target rate, queries/s over all threads.
    pub target_rate: Option<f64>,
    /// Paced runs: queries due in the measured window.
    pub scheduled: u64,
    /// Paced runs: queries due in the measured window and never sent.
    pub behind: u64,
    /// Paced runs: how late each measured query left after it was due, microseconds.
    pub send_lag: Histogram<u64>,
    /// Latency from the query's write (not from when it was due) to the end of its answer,
    /// microseconds: in paced runs, the server's and the network's share without the
    /// generator's own lateness (`send_lag`). The same as `latency` when not paced.
    pub from_write: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Stats {
        Stats {
            attempted: 0,
            answers: [0; 4],
            errors: [0; 7],
            first_error: Default::default(),
            failed: 0,
            connections: 0,
            bytes_in: 0,
            bytes_out: 0,
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            elapsed: Duration::ZERO,
            target_rate: None,
            scheduled: 0,
            behind: 0,
            send_lag: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            from_write: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
        }
    }

    /// Records an answer and its latency.
    pub fn answer(&mut self, kind: AnswerKind, latency: Duration) {
        self.answers[kind.index()] += 1;
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Records how late a paced query left after it was due.
    pub fn send_lag(&mut self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        // 0 µs is recorded as 1: the histogram's lowest value.
        self.send_lag.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Records an answer's latency from its query's write.
    pub fn from_write(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.from_write
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Records an error event; `failed` queries went unanswered because of it.
    pub fn error(&mut self, kind: ErrorKind, failed: u64, message: impl FnOnce() -> String) {
        let i = kind as usize;
        self.errors[i] += 1;
        self.failed += failed;
        if self.first_error[i].is_none() {
            self.first_error[i] = Some(message());
        }
    }

    /// Answers of every kind.
    pub fn answered(&self) -> u64 {
        self.answers.iter().sum()
    }

    /// Error events of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Queries neither answered nor failed when the run stopped (still in flight).
    pub fn unfinished(&self) -> u64 {
        self.attempted
            .saturating_sub(self.answered())
            .saturating_sub(self.failed)
    }

    /// Adds another thread's (or round's) counters; windows of parallel threads should
    /// then have `elapsed` set to the common window, rounds add up.
    pub fn merge(&mut self, other: &Stats) {
        self.attempted += other.attempted;
        for (a, b) in self.answers.iter_mut().zip(other.answers) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        for (a, b) in self.first_error.iter_mut().zip(&other.first_error) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        self.failed += other.failed;
        self.connections += other.connections;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        // Same bounds on both sides: cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.send_lag.add(&other.send_lag);
        let _ = self.from_write.add(&other.from_write);
        self.target_rate = self.target_rate.or(other.target_rate);
        self.scheduled += other.scheduled;
        self.behind += other.behind;
    }

    /// The report of these counters.
    pub fn report(&self, label: &str) -> Report {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let answered = self.answered();
        let errors = self.error_count();
        let us = |q: f64| {
            if self.latency.is_empty() {
                0
            } else {
                self.latency.value_at_quantile(q)
            }
        };
        Report {
            label: label.to_string(),
            seconds: self.elapsed.as_secs_f64(),
            attempted: self.attempted,
            answered,
            unfinished: self.unfinished(),
            failed: self.failed,
            connections: self.connections,
            queries_per_sec: answered as f64 / secs,
            bytes_in_per_sec: self.bytes_in as f64 / secs,
            bytes_out_per_sec: self.bytes_out as f64 / secs,
            mean_answer_bytes: if answered == 0 {
                0.0
            } else {
                self.bytes_in as f64 / answered as f64
            },
            answers: AnswerKind::ALL.map(|k| (k.name(), self.answers[k.index()])),
            errors: ErrorKind::ALL.map(|k| (k.name(), self.errors[k as usize])),
            first_errors: ErrorKind::ALL
                .iter()
                .filter_map(|&k| {
                    self.first_error[k as usize]
                        .as_ref()
                        .map(|m| (k.name(), m.clone()))
                })
                .collect(),
            error_rate: if answered + errors == 0 {
                0.0
            } else {
                errors as f64 / (answered + errors) as f64
            },
            pacing: self.target_rate.map(|rate| {
                let lag = |q: f64| {
                    if self.send_lag.is_empty() {
                        0
                    } else {
                        self.send_lag.value_at_quantile(q)
                    }
                };
                let written = |q: f64| {
                    if self.from_write.is_empty() {
                        0
                    } else {
                        self.from_write.value_at_quantile(q)
                    }
                };
                Pacing {
                    target_qps: rate,
                    scheduled: self.scheduled,
                    sent_qps: self.attempted as f64 / secs,
                    behind: self.behind,
                    behind_ms: self.behind as f64 / rate * 1000.0,
                    lag_us: [lag(0.5), lag(0.99), lag(0.999), self.send_lag.max()],
                    from_write_us: [
                        written(0.5),
                        written(0.99),
                        written(0.999),
                        self.from_write.max(),
                    ],
                }
            }),
            latency_us: Latency {
                p50: us(0.5),
                p90: us(0.9),
                p99: us(0.99),
                p999: us(0.999),
                max: self.latency.max(),
                mean: if self.latency.is_empty() {
                    0.0
                } else {
                    self.latency.mean()
                },
            },
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

/// How an open-loop (`--rate`) run kept to its schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// Queries per second asked for.
    pub target_qps: f64,
    /// Queries due in the measured window.
    pub scheduled: u64,
    /// Queries sent per second in the window.
    pub sent_qps: f64,
    /// Queries due in the window and not sent by its end (no free connection in time).
    pub behind: u64,
    /// `behind` in time at the target rate, milliseconds.
    pub behind_ms: f64,
    /// How late queries left after they were due, µs: p50, p99, p99.9, max. (Latency
    /// runs from when they were due, so this is included in it.)
    pub lag_us: [u64; 4],
    /// Latency from each query's write, not from when it was due: p50, p99, p99.9, max, µs.
    pub from_write_us: [u64; 4],
}

/// The outcome of a run, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured (`target 127.0.0.1:43`, `baseline`).
    pub label: String,
    /// Measured window in seconds.
    pub seconds: f64,
    /// Queries sent.
    pub attempted: u64,
    /// Queries answered (any kind).
    pub answered: u64,
    /// Queries still in flight at the end.
    pub unfinished: u64,
    /// Queries lost to errors.
    pub failed: u64,
    /// Connections established.
    pub connections: u64,
    /// Answers per second.
    pub queries_per_sec: f64,
    /// Received bytes per second.
    pub bytes_in_per_sec: f64,
    /// Sent bytes per second.
    pub bytes_out_per_sec: f64,
    /// Received bytes per answer.
    pub mean_answer_bytes: f64,
    /// Answers by kind.
    pub answers: [(&'static str, u64); 4],
    /// Error events by kind.
    pub errors: [(&'static str, u64); 7],
    /// First message of each error kind seen.
    pub first_errors: Vec<(&'static str, String)>,
    /// Error events / (answers + error events).
    pub error_rate: f64,
    /// Latency percentiles (paced runs: from when each query was due).
    pub latency_us: Latency,
    /// Paced runs: how the schedule was kept.
    pub pacing: Option<Pacing>,
}

impl Report {
    /// One JSON object.
    pub fn to_json(&self) -> Value {
        let map = |v: &[(&str, u64)]| {
            Value::Object(v.iter().map(|(k, n)| (k.to_string(), json!(n))).collect())
        };
        let mut o = json!({
            "label": self.label,
            "seconds": self.seconds,
            "attempted": self.attempted,
            "answered": self.answered,
            "unfinished": self.unfinished,
            "failed": self.failed,
            "connections": self.connections,
            "queries_per_sec": self.queries_per_sec,
            "bytes_in_per_sec": self.bytes_in_per_sec,
            "bytes_out_per_sec": self.bytes_out_per_sec,
            "mean_answer_bytes": self.mean_answer_bytes,
            "answers": map(&self.answers),
            "errors": map(&self.errors),
            "first_errors": Value::Object(
                self.first_errors.iter().map(|(k, m)| (k.to_string(), json!(m))).collect()
            ),
            "error_rate": self.error_rate,
            "latency_us": {
                "p50": self.latency_us.p50,
                "p90": self.latency_us.p90,
                "p99": self.latency_us.p99,
                "p999": self.latency_us.p999,
                "max": self.latency_us.max,
                "mean": self.latency_us.mean,
            },
        });
        if let Some(p) = self.pacing {
            o["pacing"] = json!({
                "target_qps": p.target_qps,
                "achieved_qps": self.queries_per_sec,
                "sent_qps": p.sent_qps,
                "scheduled": p.scheduled,
                "behind": p.behind,
                "behind_ms": p.behind_ms,
                "send_lag_us": {
                    "p50": p.lag_us[0], "p99": p.lag_us[1], "p999": p.lag_us[2], "max": p.lag_us[3],
                },
                "from_write_us": {
                    "p50": p.from_write_us[0], "p99": p.from_write_us[1],
                    "p999": p.from_write_us[2], "max": p.from_write_us[3],
                },
            });
        }
        o
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_us;
        let _ = writeln!(s, "== {} ({:.2} s measured)", self.label, self.seconds);
        let _ = writeln!(
            s,
            "  queries/s   {:>12.0}    answered {}  sent {}  failed {}  unfinished {}",
            self.queries_per_sec, self.answered, self.attempted, self.failed, self.unfinished
        );
        let _ = writeln!(
            s,
            "  bytes/s in  {:>12}    out {}/s  answer {:.0} B  connections {}",
            human_bytes(self.bytes_in_per_sec),
            human_bytes(self.bytes_out_per_sec),
            self.mean_answer_bytes,
            self.connections
        );
        let _ = writeln!(
            s,
            "  latency µs  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.0}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        if let Some(p) = &self.pacing {
            let _ = writeln!(
                s,
                "  paced       target {:.0}/s  sent {:.0}/s  answered {:.0}/s  behind at end {} ({:.1} ms)",
                p.target_qps, p.sent_qps, self.queries_per_sec, p.behind, p.behind_ms
            );
            let _ = writeln!(
                s,
                "  send lag µs p50 {}  p99 {}  p99.9 {}  max {}  (latency runs from when due)",
                p.lag_us[0], p.lag_us[1], p.lag_us[2], p.lag_us[3]
            );
            let _ = writeln!(
                s,
                "  from write  p50 {}  p99 {}  p99.9 {}  max {}  (µs, latency from each query's write)",
                p.from_write_us[0], p.from_write_us[1], p.from_write_us[2], p.from_write_us[3]
            );
        }
        let answers: Vec<String> = self
            .answers
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "  answers     {}", answers.join("  "));
        let errors: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "  errors      {} ({:.3}%)",
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join("  ")
            },
            self.error_rate * 100.0
        );
        for (k, m) in &self.first_errors {
            let _ = writeln!(s, "    first {k}: {m}");
        }
        s
    }
}

fn human_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_counts_and_merge() {
        let mut a = Stats::new();
        for us in 1..=1000u64 {
            a.attempted += 1;
            a.answer(AnswerKind::Hit, Duration::from_micros(us));
        }
        let mut b = Stats::new();
        b.attempted = 12;
        b.answer(AnswerKind::NoMatch, Duration::from_secs(2));
        b.error(ErrorKind::Reset, 1, || "reset by peer".into());
        b.error(ErrorKind::Reset, 1, || "second".into());
        b.error(ErrorKind::Refused, 0, || "refused".into());
        a.merge(&b);
        a.elapsed = Duration::from_secs(2);
        let r = a.report("test");
        assert_eq!(r.attempted, 1012);
        assert_eq!(r.answered, 1001);
        assert_eq!(r.failed, 2);
        assert_eq!(r.unfinished, 9);
        assert!((r.queries_per_sec - 500.5).abs() < 1e-9);
        assert_eq!(r.answers[0], ("hit", 1000));
        assert_eq!(r.answers[1], ("no_match", 1));
        assert_eq!(r.errors[1], ("reset", 2));
        assert!((r.error_rate - 3.0 / 1004.0).abs() < 1e-12);
        // Three significant digits.
        assert!(
            (499..=501).contains(&r.latency_us.p50),
            "{:?}",
            r.latency_us
        );
        assert!(
            (988..=992).contains(&r.latency_us.p99),
            "{:?}",
            r.latency_us
        );
        assert!(r.latency_us.max >= 1_999_000, "{:?}", r.latency_us);
        assert_eq!(r.first_errors[0], ("refused", "refused".to_string()));
        assert_eq!(r.first_errors[1], ("reset", "reset by peer".to_string()));

        let j = r.to_json();
        assert_eq!(j["answers"]["hit"], 1000);
        assert_eq!(j["errors"]["reset"], 2);
        assert_eq!(j["latency_us"]["p50"], r.latency_us.p50);
        let t = r.table();
        assert!(t.contains("queries/s") && t.contains("reset 2"), "{t}");
    }

    #[test]
    fn empty_report_has_no_nan() {
        let r = Stats::new().report("empty");
        assert_eq!(r.latency_us.p99, 0);
        assert_eq!(r.error_rate, 0.0);
        let j = r.to_json().to_string();
        assert!(!j.contains("NaN") && !j.contains("null"), "{j}");
    }

    #[test]
    fn huge_latencies_are_clamped() {
        let mut s = Stats::new();
        s.answer(AnswerKind::Hit, Duration::from_secs(100_000));
        s.answer(AnswerKind::Hit, Duration::ZERO);
        assert_eq!(s.latency.len(), 2);
        assert!(s.latency.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 500);
    }
}
