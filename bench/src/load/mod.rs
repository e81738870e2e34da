//! `whois-load`, the load generator of the port-43 whois service, as a library; the command
//! (`src/bin/whois-load.rs`) only parses arguments and prints.
//!
//! - [`answer`]: where answers end in the byte stream and what they said (sans I/O).
//! - [`mix`]: the query mix and real queries sampled from an MKDB generation.
//! - [`client`]: the non-blocking mio client, connect and hold (pipelined) modes.
//! - [`stats`]: counters, the HDR latency histogram, reports (table and JSON).
//! - [`baseline`]: the trivial in-process server that the real one is compared with.
//! - [`pace`]: the open-loop send schedule of `--rate`.
//! - [`watch`]: `--watch-pid`, the measured server's memory and CPU from `/proc`.
//! - [`server_latency`]: `--server-metrics`, the server's own answer-latency histogram over
//!   the measured window.
//!
//! This module adds what spans them: the size of a real answer ([`probe_answer_bytes`],
//! [`rendered_answer_bytes`]) for the baseline, and [`compare`], which alternates baseline and
//! target runs with identical settings.

pub mod answer;
pub mod baseline;
pub mod client;
pub mod mix;
pub mod pace;
pub mod server_latency;
pub mod stats;
pub mod watch;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use answer::{AnswerReader, Event, Markers};
use client::{ClientConfig, Mode};
use mix::{QueryPool, Rng};
use stats::{Report, Stats};

/// Mean size of `n` answers of `target` to queries drawn from `pool`, as the client sees them
/// in `mode` (connect: banner included; hold: the answer alone). Blocking, with timeouts.
pub fn probe_answer_bytes(
    target: SocketAddr,
    mode: Mode,
    pool: &QueryPool,
    n: usize,
    timeout: Duration,
) -> io::Result<u64> {
    let mut rng = Rng::new(0x5eed);
    let n = n.max(1);
    let connect = || -> io::Result<TcpStream> {
        let s = TcpStream::connect_timeout(&target, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(s)
    };
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    match mode {
        Mode::Connect => {
            for _ in 0..n {
                let mut s = connect()?;
                s.write_all(pool.draw(&mut rng))?;
                let mut got = 0u64;
                loop {
                    match s.read(&mut buf)? {
                        0 => break,
                        k => got += k as u64,
                    }
                }
                total += got;
            }
        }
        Mode::Hold => {
            let mut s = connect()?;
            s.write_all(b"-holdconnect on\r\n")?;
            let mut reader = AnswerReader::new(Markers::default());
            reader.expect_ok(true);
            let mut ok = false;
            let mut sizes = Vec::new();
            let mut asked = 0;
            while sizes.len() < n {
                if ok && asked == sizes.len() {
                    s.write_all(pool.draw(&mut rng))?;
                    asked += 1;
                }
                let k = s.read(&mut buf)?;
                if k == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{target} closed the held connection"),
                    ));
                }
                let mut refused = false;
                reader.feed(&buf[..k], &mut |e| match e {
                    Event::HoldOk => ok = true,
                    Event::HoldRefused { .. } => refused = true,
                    Event::Answer { bytes, .. } => sizes.push(bytes),
                });
                if refused {
                    return Err(io::Error::other(format!(
                        "{target} refused -holdconnect on"
                    )));
                }
            }
            total = sizes.iter().sum();
        }
    }
    Ok(total / n as u64)
}

/// Mean size of the answers the database gives to `n` queries drawn from `pool`, rendered
/// in-process as `whoisd` would send them (banner included in connect mode).
pub fn rendered_answer_bytes(g: &mkdb::Generation, pool: &QueryPool, mode: Mode, n: usize) -> u64 {
    let mut rng = Rng::new(0x5eed);
    let n = n.max(1);
    let mut out = Vec::with_capacity(8192);
    let mut total = 0u64;
    for _ in 0..n {
        let line = pool.draw(&mut rng);
        let q = String::from_utf8_lossy(line);
        out.clear();
        let opts = mkdb::render::AnswerOptions {
            banner: mode == Mode::Connect,
            ..Default::default()
        };
        let _ = mkdb::render::render_answer(g, q.trim_end(), opts, &mut out);
        total += out.len() as u64;
    }
    total / n as u64
}

/// Results of [`compare`].
#[derive(Debug, Clone)]
pub struct Comparison {
    /// All baseline rounds merged (`elapsed` added up).
    pub baseline: Stats,
    /// All target rounds merged.
    pub target: Stats,
    /// Each round's (baseline, target) reports.
    pub rounds: Vec<(Report, Report)>,
}

impl Comparison {
    /// target / baseline queries per second (1 = as fast as doing nothing).
    pub fn qps_ratio(&self) -> f64 {
        let b = self.baseline.report("baseline").queries_per_sec;
        let t = self.target.report("target").queries_per_sec;
        if b > 0.0 { t / b } else { 0.0 }
    }

    /// target / baseline p99 latency.
    pub fn p99_ratio(&self) -> f64 {
        let b = self.baseline.report("baseline").latency_us.p99;
        let t = self.target.report("target").latency_us.p99;
        if b > 0 { t as f64 / b as f64 } else { 0.0 }
    }
}

/// Runs `rounds` times the baseline at `baseline` then the target at `cfg.target`, with
/// otherwise identical settings; `progress` is told each round's reports.
pub fn compare(
    cfg: &ClientConfig,
    baseline: SocketAddr,
    pool: &Arc<QueryPool>,
    rounds: usize,
    progress: &mut dyn FnMut(usize, &Report, &Report),
) -> io::Result<Comparison> {
    let mut b_all = Stats::new();
    let mut t_all = Stats::new();
    let mut reports = Vec::new();
    let b_cfg = ClientConfig {
        target: baseline,
        ..cfg.clone()
    };
    for r in 0..rounds.max(1) {
        let b = client::run(&b_cfg, pool)?;
        let t = client::run(cfg, pool)?;
        let (br, tr) = (
            b.report(&format!("baseline {baseline}, round {}", r + 1)),
            t.report(&format!("target {}, round {}", cfg.target, r + 1)),
        );
        progress(r, &br, &tr);
        reports.push((br, tr));
        let (be, te) = (b_all.elapsed + b.elapsed, t_all.elapsed + t.elapsed);
        b_all.merge(&b);
        t_all.merge(&t);
        b_all.elapsed = be;
        t_all.elapsed = te;
    }
    Ok(Comparison {
        baseline: b_all,
        target: t_all,
        rounds: reports,
    })
}

#[cfg(test)]
mod tests {
    use super::baseline::{BaselineServer, fixed_answer};
    use super::client::Limit;
    use super::*;

    fn config(target: SocketAddr, mode: Mode, limit: Limit) -> ClientConfig {
        ClientConfig {
            target,
            mode,
            pipeline: 4,
            concurrency: 8,
            threads: 2,
            limit,
            warmup: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            source_spread: 0,
            source_base: client::SOURCE_BASE,
            markers: Markers::default(),
            seed: 3,
            rate: None,
            spin: false,
        }
    }

    fn check_consistent(s: &Stats, answer: u64, in_flight: u64) {
        let r = s.report("t");
        assert!(r.answered > 0, "{}", r.table());
        assert_eq!(r.error_rate, 0.0, "{}", r.table());
        assert_eq!(s.attempted, s.answered() + s.failed + s.unfinished());
        assert_eq!(r.answers[0].1, r.answered, "all hits: {}", r.table());
        assert_eq!(s.latency.len(), r.answered);
        // Bytes: at least every answer, at most answers plus those in flight at either end of
        // the window (answers to warm-up queries read after it started).
        assert!(s.bytes_in >= r.answered * answer - answer, "{}", r.table());
        assert!(
            s.bytes_in <= (r.answered + r.unfinished + in_flight) * (answer + 5),
            "{}",
            r.table()
        );
        assert!(r.latency_us.p50 > 0 && r.latency_us.p50 <= r.latency_us.p99);
    }

    #[test]
    fn load_against_the_baseline_on_loopback() {
        let answer = 700;
        let server = BaselineServer::start(1, fixed_answer(answer)).unwrap();
        let pool = Arc::new(QueryPool::fixed("example.coop"));
        for mode in [Mode::Connect, Mode::Hold] {
            assert_eq!(
                probe_answer_bytes(server.addr(), mode, &pool, 3, Duration::from_secs(5)).unwrap(),
                answer as u64
            );
            let cfg = config(
                server.addr(),
                mode,
                Limit::Duration(Duration::from_millis(450)),
            );
            let s = client::run(&cfg, &pool).unwrap();
            check_consistent(&s, answer as u64, (cfg.concurrency * cfg.pipeline) as u64);
            assert!(
                (0.4..1.0).contains(&s.elapsed.as_secs_f64()),
                "{:?}",
                s.elapsed
            );
            if mode == Mode::Connect {
                // Connections started in the window; some still connecting at its end.
                assert!(s.connections <= s.attempted);
                assert!(s.attempted - s.connections <= s.failed + cfg.concurrency as u64);
            }
        }
        // A counted run ends with everything answered.
        let cfg = config(server.addr(), Mode::Hold, Limit::Count(5000));
        let s = client::run(&cfg, &pool).unwrap();
        assert_eq!((s.attempted, s.answered(), s.unfinished()), (5000, 5000, 0));
    }

    #[test]
    fn paced_runs_keep_the_rate_in_both_modes() {
        let server = BaselineServer::start(1, fixed_answer(500)).unwrap();
        let pool = Arc::new(QueryPool::fixed("example.coop"));
        for mode in [Mode::Connect, Mode::Hold] {
            let mut cfg = config(
                server.addr(),
                mode,
                Limit::Duration(Duration::from_millis(600)),
            );
            cfg.rate = Some(2000.0);
            let s = client::run(&cfg, &pool).unwrap();
            let r = s.report("paced");
            let p = r.pacing.expect("paced report");
            assert_eq!(p.target_qps, 2000.0);
            // 0.6 s at 2,000/s: 1,200 due; all sent but those in flight at the end.
            assert!((1150..=1250).contains(&p.scheduled), "{mode:?} {p:?}");
            assert!(p.behind <= 20, "{mode:?} {p:?}");
            assert!(
                (1800.0..2200.0).contains(&r.queries_per_sec),
                "{mode:?} {}",
                r.table()
            );
            assert_eq!(s.send_lag.len(), s.attempted);
            assert_eq!(r.error_rate, 0.0, "{}", r.table());
            // Every answer has both latencies, and each query's latency from its write is
            // at most its latency from when it was due, so every quantile is too.
            assert_eq!(s.from_write.len(), s.latency.len());
            for q in [0.5, 0.99, 0.999, 1.0] {
                assert!(
                    s.from_write.value_at_quantile(q) <= s.latency.value_at_quantile(q),
                    "{mode:?} {q}"
                );
            }
            assert_eq!(p.from_write_us[3], s.from_write.max());
            let j = r.to_json();
            assert_eq!(j["pacing"]["target_qps"], 2000.0);
            assert_eq!(j["pacing"]["from_write_us"]["p99"], p.from_write_us[1]);
            assert!(r.table().contains("behind at end"));
            assert!(r.table().contains("from write"));
        }
        // A count run ends; in hold mode idle connections are closed at the end.
        for mode in [Mode::Connect, Mode::Hold] {
            let mut cfg = config(server.addr(), mode, Limit::Count(300));
            cfg.rate = Some(5000.0);
            let t = std::time::Instant::now();
            let s = client::run(&cfg, &pool).unwrap();
            assert_eq!((s.attempted, s.answered()), (300, 300), "{mode:?}");
            // 300 at 5,000/s after a 0.1 s warm-up: about 0.16 s, not as fast as possible.
            let took = t.elapsed().as_secs_f64();
            assert!((0.14..2.0).contains(&took), "{mode:?} {took}");
        }
    }

    #[test]
    fn paced_latency_counts_the_wait_for_a_connection() {
        // A rate far above what one connection, one query at a time, can carry leaves a
        // growing backlog, and latency from the due time grows with it.
        let server = BaselineServer::start(1, fixed_answer(200)).unwrap();
        let pool = Arc::new(QueryPool::fixed("example.coop"));
        let mut cfg = config(
            server.addr(),
            Mode::Connect,
            Limit::Duration(Duration::from_millis(400)),
        );
        cfg.concurrency = 1;
        cfg.threads = 1;
        cfg.warmup = Duration::ZERO;
        cfg.rate = Some(1_000_000.0);
        let r = client::run(&cfg, &pool).unwrap().report("overloaded");
        let p = r.pacing.unwrap();
        assert!(p.behind > 10_000, "{p:?}");
        assert!(p.sent_qps < 0.5 * p.target_qps, "{p:?}");
        // Queries answered late in the window were due long before: p99 in the 100 ms.
        assert!(r.latency_us.p99 > 50_000, "{}", r.table());
    }

    #[test]
    fn compare_alternates_and_spreads_sources() {
        let server_b = BaselineServer::start(1, fixed_answer(300)).unwrap();
        let server_t = BaselineServer::start(1, fixed_answer(300)).unwrap();
        let pool = Arc::new(QueryPool::fixed("example.coop"));
        let mut cfg = config(server_t.addr(), Mode::Connect, Limit::Count(300));
        cfg.source_spread = 3;
        let mut seen = 0;
        let c = compare(&cfg, server_b.addr(), &pool, 2, &mut |_, b, t| {
            seen += 1;
            assert_eq!((b.answered, t.answered), (300, 300));
        })
        .unwrap();
        assert_eq!(seen, 2);
        assert_eq!(c.baseline.answered(), 600);
        assert_eq!(c.target.answered(), 600);
        assert!(c.qps_ratio() > 0.0 && c.p99_ratio() > 0.0);
    }
}
