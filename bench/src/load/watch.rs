//! `--watch-pid`: what the measured server costs, sampled from `/proc` once a second while
//! the load runs: resident memory (VmRSS, and RssAnon apart, since the mapped database files
//! count in VmRSS as RssFile), CPU time (utime + stime, hence cores used), threads and open
//! file descriptors. Parsing is separate from reading, so it is tested on fixed text.

use std::fmt::Write as _;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ): 100 in the Linux ABI on x86 and
/// arm (the kernel converts its internal HZ), which `getconf CLK_TCK` confirms.
pub const CLOCK_TICKS: f64 = 100.0;

/// Memory and threads from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// VmRSS, kB.
    pub rss_kb: u64,
    /// RssAnon, kB (heap, stacks: what the process allocated).
    pub anon_kb: u64,
    /// RssFile, kB (mapped files: the database, the binary).
    pub file_kb: u64,
    /// Threads.
    pub threads: u64,
}

/// Parses the fields of [`Status`] from the text of `/proc/PID/status`.
pub fn parse_status(text: &str) -> Result<Status, String> {
    let mut s = Status::default();
    let mut seen = 0;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let field = match key {
            "VmRSS" => &mut s.rss_kb,
            "RssAnon" => &mut s.anon_kb,
            "RssFile" => &mut s.file_kb,
            "Threads" => &mut s.threads,
            _ => continue,
        };
        let number = rest.split_whitespace().next().unwrap_or("");
        *field = number
            .parse()
            .map_err(|_| format!("/proc status: {key}: not a number: {rest:?}"))?;
        seen += 1;
    }
    if seen < 4 {
        return Err(
            "/proc status: VmRSS, RssAnon, RssFile or Threads missing (a zombie, or \
                    a kernel older than 4.5?)"
                .into(),
        );
    }
    Ok(s)
}

/// Parses `/proc/PID/stat`: (command name, utime + stime in clock ticks).
pub fn parse_stat(text: &str) -> Result<(String, u64), String> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so split at the last ')'.
    let open = text.find('(').ok_or("/proc stat: no '('")?;
    let close = text.rfind(')').ok_or("/proc stat: no ')'")?;
    if close < open {
        return Err("/proc stat: malformed command name".into());
    }
    let comm = text[open + 1..close].to_string();
    // After ')': field 3 (state) onwards; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or_else(|| format!("/proc stat: field {n} missing"))?
            .parse()
            .map_err(|_| format!("/proc stat: field {n} is not a number"))
    };
    Ok((comm, field(14)? + field(15)?))
}

/// One observation of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time since the watch started.
    pub at: Duration,
    /// Memory and threads.
    pub status: Status,
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Reads one [`Sample`] of `pid` (and its command name).
pub fn sample(pid: u32, at: Duration) -> io::Result<(String, Sample)> {
    let base = format!("/proc/{pid}");
    let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, format!("pid {pid}: {e}"));
    let status = parse_status(&std::fs::read_to_string(format!("{base}/status"))?).map_err(bad)?;
    let (comm, cpu_ticks) =
        parse_stat(&std::fs::read_to_string(format!("{base}/stat"))?).map_err(bad)?;
    let fds = std::fs::read_dir(format!("{base}/fd"))?.count() as u64;
    Ok((
        comm,
        Sample {
            at,
            status,
            cpu_ticks,
            fds,
        },
    ))
}

/// first / last / min / max of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First value.
    pub first: u64,
    /// Last value.
    pub last: u64,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
}

impl Span {
    fn of(values: impl Iterator<Item = u64>) -> Option<Span> {
        let mut s: Option<Span> = None;
        for v in values {
            s = Some(match s {
                None => Span {
                    first: v,
                    last: v,
                    min: v,
                    max: v,
                },
                Some(s) => Span {
                    first: s.first,
                    last: v,
                    min: s.min.min(v),
                    max: s.max.max(v),
                },
            });
        }
        s
    }

    /// last - first (negative when it shrank).
    pub fn growth(&self) -> i64 {
        self.last as i64 - self.first as i64
    }

    fn to_json(self) -> Value {
        json!({"first": self.first, "last": self.last, "min": self.min, "max": self.max,
               "growth": self.growth()})
    }
}

/// The samples of one watched process.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    /// Process id.
    pub pid: u32,
    /// Command name (empty when it could never be read).
    pub comm: String,
    /// Samples, oldest first.
    pub samples: Vec<Sample>,
    /// The first failure to read it (e.g. it exited).
    pub error: Option<String>,
}

impl Watched {
    /// Wall time covered by the samples.
    pub fn seconds(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => (b.at - a.at).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// CPU seconds (user + system) used between the first and last samples.
    pub fn cpu_seconds(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / CLOCK_TICKS,
            _ => 0.0,
        }
    }

    /// Average cores used over the samples (CPU seconds / wall seconds).
    pub fn cores(&self) -> f64 {
        let s = self.seconds();
        if s > 0.0 { self.cpu_seconds() / s } else { 0.0 }
    }

    /// VmRSS, kB.
    pub fn rss_kb(&self) -> Option<Span> {
        Span::of(self.samples.iter().map(|s| s.status.rss_kb))
    }

    /// RssAnon, kB.
    pub fn anon_kb(&self) -> Option<Span> {
        Span::of(self.samples.iter().map(|s| s.status.anon_kb))
    }

    /// RssFile, kB.
    pub fn file_kb(&self) -> Option<Span> {
        Span::of(self.samples.iter().map(|s| s.status.file_kb))
    }

    /// Threads.
    pub fn threads(&self) -> Option<Span> {
        Span::of(self.samples.iter().map(|s| s.status.threads))
    }

    /// Open file descriptors.
    pub fn fds(&self) -> Option<Span> {
        Span::of(self.samples.iter().map(|s| s.fds))
    }

    /// JSON, samples included (`[seconds, rss_kb, anon_kb, cpu_ticks, threads, fds]` each).
    pub fn to_json(&self) -> Value {
        let span = |s: Option<Span>| s.map_or(Value::Null, Span::to_json);
        json!({
            "pid": self.pid,
            "comm": self.comm,
            "seconds": self.seconds(),
            "cpu_seconds": self.cpu_seconds(),
            "cores": self.cores(),
            "rss_kb": span(self.rss_kb()),
            "anon_kb": span(self.anon_kb()),
            "file_kb": span(self.file_kb()),
            "threads": span(self.threads()),
            "fds": span(self.fds()),
            "error": self.error,
            "samples_fields": ["seconds", "rss_kb", "anon_kb", "cpu_ticks", "threads", "fds"],
            "samples": self.samples.iter().map(|s| json!([
                (s.at.as_secs_f64() * 1000.0).round() / 1000.0,
                s.status.rss_kb, s.status.anon_kb, s.cpu_ticks, s.status.threads, s.fds
            ])).collect::<Vec<_>>(),
        })
    }
}

/// What all watched processes cost during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchReport {
    /// Per process.
    pub processes: Vec<Watched>,
}

impl WatchReport {
    /// Cores used by all watched processes together.
    pub fn cores(&self) -> f64 {
        self.processes.iter().map(Watched::cores).sum()
    }

    /// `qps` divided by [`cores`](Self::cores) (0 when they used none).
    pub fn per_core(&self, qps: f64) -> f64 {
        let c = self.cores();
        if c > 0.0 { qps / c } else { 0.0 }
    }

    /// JSON object: per process, cores in all and queries/s per core.
    pub fn to_json(&self, qps: f64) -> Value {
        json!({
            "cores": self.cores(),
            "queries_per_sec_per_core": self.per_core(qps),
            "processes": self.processes.iter().map(Watched::to_json).collect::<Vec<_>>(),
        })
    }

    /// Human-readable lines.
    pub fn table(&self, qps: f64) -> String {
        let mut s = String::new();
        let mb = |kb: u64| kb as f64 / 1024.0;
        for p in &self.processes {
            let _ = writeln!(
                s,
                "== watched pid {} ({}): {} samples over {:.1} s",
                p.pid,
                p.comm,
                p.samples.len(),
                p.seconds()
            );
            let _ = writeln!(
                s,
                "  cpu         {:.2} cores ({:.1} s user+sys)",
                p.cores(),
                p.cpu_seconds()
            );
            for (name, span) in [("rss", p.rss_kb()), ("rss anon", p.anon_kb())] {
                if let Some(r) = span {
                    let _ = writeln!(
                        s,
                        "  {name:<11} first {:.1} MB  last {:.1} MB  min {:.1} MB  max {:.1} MB  growth {:+.1} MB",
                        mb(r.first),
                        mb(r.last),
                        mb(r.min),
                        mb(r.max),
                        r.growth() as f64 / 1024.0
                    );
                }
            }
            if let (Some(t), Some(f)) = (p.threads(), p.fds()) {
                let _ = writeln!(
                    s,
                    "  threads     {} (max {})  open fds {} (min {} max {})",
                    t.last, t.max, f.last, f.min, f.max
                );
            }
            if let Some(e) = &p.error {
                let _ = writeln!(s, "  error       {e}");
            }
        }
        let _ = writeln!(
            s,
            "  server      {:.2} cores in all: {:.0} queries/s per server core",
            self.cores(),
            self.per_core(qps)
        );
        s
    }
}

/// Samples processes on a thread, from a given instant, once per `every`, until stopped.
#[derive(Debug)]
pub struct Watcher {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<Vec<Watched>>,
}

impl Watcher {
    /// Checks that every pid can be read, then samples them from `from` (e.g. the end of the
    /// warm-up) every `every`.
    pub fn start(pids: &[u32], from: Instant, every: Duration) -> io::Result<Watcher> {
        let epoch = Instant::now();
        let mut watched = Vec::new();
        for &pid in pids {
            let (comm, _) = sample(pid, Duration::ZERO)
                .map_err(|e| io::Error::new(e.kind(), format!("--watch-pid {pid}: {e}")))?;
            watched.push(Watched {
                pid,
                comm,
                samples: Vec::new(),
                error: None,
            });
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("whois-load-watch".into())
            .spawn(move || {
                let take = |w: &mut Vec<Watched>| {
                    let at = epoch.elapsed();
                    for p in w.iter_mut().filter(|p| p.error.is_none()) {
                        match sample(p.pid, at) {
                            Ok((_, s)) => p.samples.push(s),
                            Err(e) => p.error = Some(e.to_string()),
                        }
                    }
                };
                let mut next = from;
                loop {
                    let wait = next.saturating_duration_since(Instant::now());
                    match stopped.recv_timeout(wait) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            take(&mut watched);
                            next += every;
                        }
                        // Stopped (or the owner is gone): one last sample, at the end.
                        _ => {
                            take(&mut watched);
                            return watched;
                        }
                    }
                }
            })?;
        Ok(Watcher { stop, handle })
    }

    /// Takes a last sample and returns them all.
    pub fn stop(self) -> WatchReport {
        let _ = self.stop.send(());
        WatchReport {
            processes: self.handle.join().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\twhoisd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n\
        VmPeak:\t 2100000 kB\nVmSize:\t 2000000 kB\nVmHWM:\t  310000 kB\nVmRSS:\t  301234 kB\n\
        RssAnon:\t    5120 kB\nRssFile:\t  296114 kB\nRssShmem:\t       0 kB\n\
        VmData:\t   80000 kB\nThreads:\t3\nSigQ:\t0/95000\n";

    #[test]
    fn status_fields() {
        assert_eq!(
            parse_status(STATUS).unwrap(),
            Status {
                rss_kb: 301_234,
                anon_kb: 5120,
                file_kb: 296_114,
                threads: 3
            }
        );
        let no_anon = STATUS.replace("RssAnon", "Rss_Anon");
        assert!(parse_status(&no_anon).unwrap_err().contains("missing"));
        let bad = STATUS.replace("3\nSigQ", "x\nSigQ");
        assert!(parse_status(&bad).unwrap_err().contains("Threads"));
    }

    #[test]
    fn stat_cpu_ticks_with_an_awkward_command_name() {
        let stat = "4242 (who is) d)) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 3 0 \
                    92406 2000000000 75000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1";
        assert_eq!(parse_stat(stat).unwrap(), ("who is) d)".to_string(), 1801));
        assert!(
            parse_stat("4242 (x) S 1 2")
                .unwrap_err()
                .contains("field 14")
        );
        assert!(parse_stat("no parens").is_err());
    }

    #[test]
    fn spans_cores_and_per_core() {
        let s = |secs: u64, rss: u64, ticks: u64| Sample {
            at: Duration::from_secs(secs),
            status: Status {
                rss_kb: rss,
                anon_kb: rss / 10,
                file_kb: rss - rss / 10,
                threads: 3,
            },
            cpu_ticks: ticks,
            fds: 10,
        };
        let w = Watched {
            pid: 1,
            comm: "whoisd".into(),
            samples: vec![s(1, 1000, 100), s(2, 3000, 250), s(3, 2000, 400)],
            error: None,
        };
        assert_eq!(w.seconds(), 2.0);
        assert_eq!(w.cpu_seconds(), 3.0);
        assert_eq!(w.cores(), 1.5);
        let r = w.rss_kb().unwrap();
        assert_eq!(
            (r.first, r.last, r.min, r.max, r.growth()),
            (1000, 2000, 1000, 3000, 1000)
        );
        assert_eq!(w.anon_kb().unwrap().max, 300);
        let report = WatchReport { processes: vec![w] };
        assert_eq!(report.per_core(30_000.0), 20_000.0);
        let j = report.to_json(30_000.0);
        assert_eq!(j["cores"], 1.5);
        assert_eq!(j["processes"][0]["rss_kb"]["growth"], 1000);
        assert_eq!(j["processes"][0]["samples"][1][1], 3000);
        assert!(
            report
                .table(30_000.0)
                .contains("20000 queries/s per server core")
        );
        let empty = Watched {
            pid: 2,
            comm: String::new(),
            samples: vec![],
            error: Some("gone".into()),
        };
        assert_eq!((empty.cores(), empty.rss_kb()), (0.0, None));
    }

    #[test]
    fn watches_this_process() {
        let pid = std::process::id();
        let w = Watcher::start(&[pid], Instant::now(), Duration::from_millis(20)).unwrap();
        // Burn a little CPU so that the ticks move.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(120) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert_ne!(x, 1);
        let r = w.stop();
        let p = &r.processes[0];
        assert!(p.samples.len() >= 3, "{}", p.samples.len());
        assert!(p.rss_kb().unwrap().min > 0);
        assert!(p.fds().unwrap().min >= 3);
        assert!(p.threads().unwrap().max >= 2);
        assert!(Watcher::start(&[u32::MAX], Instant::now(), Duration::from_secs(1)).is_err());
    }
}
