//! `whois-load`: load generator for the port-43 whois service. Parses arguments, builds the
//! query pool and client settings, runs [`bench::load`] and prints the report.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::load::answer::{DEFAULT_LIMITED_MARKERS, Markers};
use bench::load::baseline::{BaselineServer, fixed_answer};
use bench::load::client::{self, ClientConfig, Limit, Mode};
use bench::load::mix::{DEFAULT_MIX, Mix, QueryPool};
use bench::load::server_latency;
use bench::load::stats::Report;
use bench::load::watch::Watcher;
use bench::load::{compare, probe_answer_bytes, rendered_answer_bytes};
use clap::{Parser, ValueEnum};
use serde_json::json;

/// Exit code when the error rate is above `--max-error-rate`.
const EXIT_ERRORS: u8 = 3;
/// Answers fetched from the target to size the baseline's answer (the mix's sizes vary a
/// lot: a prefix search returns 20 records, a miss one line).
const PROBE_ANSWERS: usize = 1000;
/// Answers rendered from --db for the same purpose, when there is no target.
const RENDERED_ANSWERS: usize = 2000;
/// How often --watch-pid samples.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Action {
    /// Load the server at --target.
    Run,
    /// Load an in-process trivial server (fixed answers, no work): the machine's ceiling.
    Baseline,
    /// Baseline and target alternately, --rounds times each, and their ratio.
    Compare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// One connection per query, read until the server closes.
    Connect,
    /// `-holdconnect on`, then many queries per connection (see --pipeline).
    Hold,
}

#[derive(Debug, Parser)]
#[command(
    name = "whois-load",
    version,
    about = "Load generator for the port-43 whois service",
    after_help = "Examples:\n  \
        whois-load --target 127.0.0.1:4343 --db /tmp/wl/db --mode hold --pipeline 8 -c 32 -d 10\n  \
        whois-load baseline --mode connect -c 16 --answer-bytes 3000\n  \
        whois-load compare --target 127.0.0.1:4343 --db /tmp/wl/db --rounds 3 --json\n  \
        whois-load --target 127.0.0.1:4343 --db /tmp/wl/db --mode hold -c 4 --pipeline 16 \
        --rate 30000 --watch-pid $(pidof whoisd)\n\n\
        Exit status: 0 ok, 1 could not run, 3 error rate above --max-error-rate."
)]
struct Cli {
    /// What to do.
    #[arg(value_enum, default_value_t = Action::Run)]
    action: Action,
    /// Same as the `baseline` action.
    #[arg(long)]
    baseline: bool,
    /// The server, HOST:PORT (default 127.0.0.1:43 for `run`; required for `compare`).
    #[arg(long)]
    target: Option<String>,
    /// How queries use connections.
    #[arg(long, value_enum, default_value_t = ModeArg::Connect)]
    mode: ModeArg,
    /// Queries in flight per connection (hold mode).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Connections open at once.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Seconds to measure (after the warm-up), per run.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Send this many measured queries instead of running for --duration.
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// Seconds of load before measuring starts, per run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Client threads, each an event loop over its share of the connections.
    #[arg(long, short = 't', default_value_t = 1)]
    threads: usize,
    /// MKDB database directory (as `loader compile` makes) to draw real queries from.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Query mix with --db: kind=weight,... Kinds: exact, miss, prefix, suffix, infix, and,
    /// or, contact, nameserver, ns-ip, registrar. `--mix exact` sends full domain records
    /// only.
    #[arg(long, default_value = DEFAULT_MIX, requires = "db")]
    mix: String,
    /// One fixed query to send (without --db).
    #[arg(long, conflicts_with = "db")]
    query: Option<String>,
    /// Distinct queries sampled per kind from --db.
    #[arg(long, default_value_t = 4096)]
    sample: usize,
    /// Bind connections to N source addresses 127.0.0.2, 127.0.0.3, ... (loopback targets).
    #[arg(long, default_value_t = 0, value_name = "N")]
    source_spread: u32,
    /// First source address of --source-spread (another load generator can use another
    /// range, e.g. a flooding source at 127.0.1.2 beside sources from 127.0.0.2).
    #[arg(long, default_value = "127.0.0.2", value_name = "IPV4")]
    source_base: std::net::Ipv4Addr,
    /// Seconds to wait for a connection, or for progress on an answer, before failing it.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Exit with status 3 when errors / (answers + errors) exceeds this.
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Size of the baseline's fixed answer (default: measured from --target, else rendered
    /// from --db, else 2048).
    #[arg(long)]
    answer_bytes: Option<usize>,
    /// Threads of the baseline server (use the target's number of workers).
    #[arg(long, default_value_t = 1)]
    baseline_threads: usize,
    /// Rounds of `compare` (baseline then target each round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Text in a `%` line that marks a rate-limited answer (repeatable; case-insensitive).
    #[arg(long, value_name = "TEXT")]
    limited_marker: Vec<String>,
    /// Seed of query sampling and choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Open loop: send this many queries per second in all, on a fixed schedule spread over
    /// the connections (latency then runs from when each query was due, so queueing shows).
    /// --concurrency (x --pipeline in hold mode) bounds the queries in flight.
    #[arg(long, value_name = "QPS")]
    rate: Option<f64>,
    /// With --rate: wait for the next due query by polling without sleeping (costs a client
    /// core; timer wake-ups on a VM can be late by milliseconds, which would count as
    /// latency).
    #[arg(long, requires = "rate")]
    spin: bool,
    /// Sample this process from /proc each second of the measured window: memory (VmRSS,
    /// RssAnon), CPU (cores used), threads, open fds; repeatable (`run` and `baseline`).
    #[arg(long, value_name = "PID")]
    watch_pid: Vec<u32>,
    /// Same as --watch-pid, comma-separated.
    #[arg(long, value_name = "PID,...", value_delimiter = ',')]
    watch_pids: Vec<u32>,
    /// Scrape this whoisd metrics port (`whoisd --metrics ADDR`) when the measured window
    /// opens and when the load ends, and report the server's own answer latency over the
    /// window (read to written, bucket bounds; `run` only).
    #[arg(long, value_name = "ADDR")]
    server_metrics: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("whois-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if !(0.0..=1e7).contains(&v) {
        bail!("--{name} must be a number of seconds between 0 and 10^7, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

fn resolve(target: &str) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .with_context(|| format!("--target {target:?}: give HOST:PORT, e.g. 127.0.0.1:43"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("--target {target:?} resolves to no address"))
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let action = if cli.baseline {
        Action::Baseline
    } else {
        cli.action
    };
    let mode = match cli.mode {
        ModeArg::Connect => Mode::Connect,
        ModeArg::Hold => Mode::Hold,
    };
    if !(0.0..=1.0).contains(&cli.max_error_rate) {
        bail!("--max-error-rate must be between 0 and 1");
    }
    let limit = match cli.count {
        Some(0) => bail!("--count must be at least 1"),
        Some(n) => Limit::Count(n),
        None => {
            let d = seconds("duration", cli.duration)?;
            if d.is_zero() {
                bail!("--duration must be above 0");
            }
            Limit::Duration(d)
        }
    };
    let target = match (&cli.target, action) {
        (Some(t), _) => Some(resolve(t)?),
        (None, Action::Run) => Some(resolve("127.0.0.1:43")?),
        (None, Action::Compare) => bail!("compare needs --target HOST:PORT"),
        (None, Action::Baseline) => None,
    };

    // Queries.
    let mut generation = None;
    let pool = match &cli.db {
        Some(db) => {
            let mix = Mix::parse(&cli.mix)?;
            let g = mkdb::Generation::open(db)
                .with_context(|| format!("opening database {}", db.display()))?;
            let pool = QueryPool::from_generation(&g, &mix, cli.sample, cli.seed)?;
            let sizes: Vec<String> = pool
                .sizes()
                .iter()
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect();
            eprintln!(
                "whois-load: {} queries sampled from generation {} ({}): mix {mix}",
                sizes.join(", "),
                g.number,
                db.display()
            );
            generation = Some(g);
            pool
        }
        None => QueryPool::fixed(cli.query.as_deref().unwrap_or("example.coop")),
    };
    let pool = Arc::new(pool);
    let markers = if cli.limited_marker.is_empty() {
        Markers::new(DEFAULT_LIMITED_MARKERS)
    } else {
        Markers::new(&cli.limited_marker)
    };
    let timeout = seconds("timeout", cli.timeout)?;
    let mut cfg = ClientConfig {
        target: target.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 43))),
        mode,
        pipeline: if mode == Mode::Hold { cli.pipeline } else { 1 },
        concurrency: cli.concurrency,
        threads: cli.threads,
        limit,
        warmup: seconds("warmup", cli.warmup)?,
        timeout,
        source_spread: cli.source_spread,
        source_base: cli.source_base,
        markers,
        seed: cli.seed,
        rate: cli.rate,
        spin: cli.spin,
    };
    let watch_pids: Vec<u32> = cli
        .watch_pid
        .iter()
        .chain(&cli.watch_pids)
        .copied()
        .collect();
    if !watch_pids.is_empty() && action == Action::Compare {
        bail!(
            "--watch-pid goes with `run` (compare alternates the baseline and the target, so \
             the target's CPU use over the whole would mean little)"
        );
    }
    if cli.server_metrics.is_some() && action != Action::Run {
        bail!("--server-metrics goes with `run` (the whoisd it scrapes is the one measured)");
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    let config_json = json!({
        "action": format!("{action:?}").to_lowercase(),
        "mode": mode.name(),
        "concurrency": cfg.concurrency,
        "pipeline": cfg.pipeline,
        "threads": cfg.threads,
        "duration_s": match limit { Limit::Duration(d) => json!(d.as_secs_f64()), Limit::Count(_) => json!(null) },
        "count": match limit { Limit::Count(n) => json!(n), Limit::Duration(_) => json!(null) },
        "warmup_s": cfg.warmup.as_secs_f64(),
        "timeout_s": timeout.as_secs_f64(),
        "source_spread": cfg.source_spread,
        "mix": if cli.db.is_some() { json!(cli.mix) } else { json!(null) },
        "query": if cli.db.is_none() { json!(cli.query.as_deref().unwrap_or("example.coop")) } else { json!(null) },
        "db": cli.db.as_ref().map(|d| d.display().to_string()),
        "rate": cli.rate,
        "spin": cli.spin,
        "watch_pids": watch_pids,
        "server_metrics": cli.server_metrics.map(|a| a.to_string()),
    });

    // The baseline server, when one is needed.
    let server = if action == Action::Run {
        None
    } else {
        let bytes = match (cli.answer_bytes, target, &generation) {
            (Some(n), _, _) => {
                eprintln!("whois-load: baseline answer {n} bytes (--answer-bytes)");
                n as u64
            }
            (None, Some(t), _) => {
                let n = probe_answer_bytes(t, mode, &pool, PROBE_ANSWERS, timeout).with_context(
                    || format!("fetching answers from {t} to size the baseline's answer"),
                )?;
                eprintln!(
                    "whois-load: baseline answer {n} bytes (mean of {PROBE_ANSWERS} answers from {t})"
                );
                n
            }
            (None, None, Some(g)) => {
                let n = rendered_answer_bytes(g, &pool, mode, RENDERED_ANSWERS);
                eprintln!(
                    "whois-load: baseline answer {n} bytes (mean of {RENDERED_ANSWERS} rendered answers)"
                );
                n
            }
            (None, None, None) => {
                eprintln!(
                    "whois-load: baseline answer 2048 bytes (no --answer-bytes, --target or --db)"
                );
                2048
            }
        };
        let s = BaselineServer::start(cli.baseline_threads, fixed_answer(bytes as usize))
            .context("starting the baseline server")?;
        eprintln!(
            "whois-load: baseline server on {} with {} thread(s)",
            s.addr(),
            cli.baseline_threads.max(1)
        );
        Some((s, bytes))
    };

    let mut failed_rate = false;
    let mut check = |r: &Report| {
        if r.error_rate > cli.max_error_rate {
            failed_rate = true;
            eprintln!(
                "whois-load: {}: error rate {:.4} above --max-error-rate {}",
                r.label, r.error_rate, cli.max_error_rate
            );
        }
    };
    match action {
        Action::Run | Action::Baseline => {
            if let Some((s, _)) = &server {
                cfg.target = s.addr();
            }
            let label = match action {
                Action::Baseline => format!("baseline {}", cfg.target),
                _ => format!("target {}", cfg.target),
            };
            let watcher = if watch_pids.is_empty() {
                None
            } else {
                // Sampling starts with the measured window.
                let from = Instant::now() + cfg.warmup;
                Some(Watcher::start(&watch_pids, from, WATCH_EVERY)?)
            };
            let window = match cli.server_metrics {
                None => None,
                Some(addr) => Some(
                    server_latency::Window::open(addr, Instant::now() + cfg.warmup)
                        .map_err(|e| anyhow::anyhow!("--server-metrics: {e}"))?,
                ),
            };
            let stats = client::run(&cfg, &pool);
            let watched = watcher.map(Watcher::stop);
            let server_said = window
                .map(server_latency::Window::close)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--server-metrics: {e}"))?;
            let stats = stats.with_context(|| format!("load on {}", cfg.target))?;
            let report = stats.report(&label);
            if cli.json {
                let mut o = json!({"config": config_json, "result": report.to_json()});
                if let Some((_, bytes)) = &server {
                    o["config"]["answer_bytes"] = json!(bytes);
                }
                if let Some(w) = &watched {
                    o["watch"] = w.to_json(report.queries_per_sec);
                }
                if let Some(h) = &server_said {
                    o["server_latency"] = h.to_json();
                }
                println!("{o}");
            } else {
                print!("{}", header(&cfg, cli));
                print!("{}", report.table());
                if let Some(w) = &watched {
                    print!("{}", w.table(report.queries_per_sec));
                }
                if let Some(h) = &server_said {
                    print!("{}", h.table());
                }
            }
            if let Some(p) = &report.pacing
                && p.target_qps > 0.0
                && (p.sent_qps < 0.95 * p.target_qps || p.behind_ms > 100.0)
            {
                eprintln!(
                    "whois-load: the schedule was not kept: {:.0} of {:.0} queries/s sent, {} \
                     queries ({:.1} ms) behind at the end; raise --concurrency or --pipeline, or \
                     lower --rate",
                    p.sent_qps, p.target_qps, p.behind, p.behind_ms
                );
            }
            check(&report);
        }
        Action::Compare => {
            let (s, bytes) = server.as_ref().context("baseline server")?;
            let json_out = cli.json;
            if !json_out {
                print!("{}", header(&cfg, cli));
            }
            let c = compare(&cfg, s.addr(), &pool, cli.rounds, &mut |_, b, t| {
                if !json_out {
                    print!("{}{}", b.table(), t.table());
                }
            })?;
            let b = c.baseline.report("baseline (all rounds)");
            let t = c
                .target
                .report(&format!("target {} (all rounds)", cfg.target));
            if json_out {
                let mut o = json!({
                    "config": config_json,
                    "baseline": b.to_json(),
                    "target": t.to_json(),
                    "ratio": {
                        "queries_per_sec": c.qps_ratio(),
                        "p99": c.p99_ratio(),
                    },
                    "rounds": c.rounds.iter().map(|(b, t)| json!({
                        "baseline": b.to_json(), "target": t.to_json()
                    })).collect::<Vec<_>>(),
                });
                o["config"]["answer_bytes"] = json!(bytes);
                o["config"]["rounds"] = json!(cli.rounds);
                o["config"]["baseline_threads"] = json!(cli.baseline_threads);
                println!("{o}");
            } else {
                print!("{}{}", b.table(), t.table());
                println!(
                    "== ratio target/baseline: queries/s {:.3}  p99 {:.2}",
                    c.qps_ratio(),
                    c.p99_ratio()
                );
            }
            check(&b);
            check(&t);
        }
    }
    Ok(if failed_rate {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

fn header(cfg: &ClientConfig, cli: &Cli) -> String {
    let limit = match cfg.limit {
        Limit::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
        Limit::Count(n) => format!("{n} queries"),
    };
    let queries = match &cli.db {
        Some(db) => format!("mix {} from {}", cli.mix, db.display()),
        None => format!("query {:?}", cli.query.as_deref().unwrap_or("example.coop")),
    };
    format!(
        "whois-load: mode {} pipeline {} concurrency {} threads {} {limit} (+{:.1} s warm-up), {queries}{}\n",
        cfg.mode.name(),
        cfg.pipeline,
        cfg.concurrency,
        cfg.threads,
        cfg.warmup.as_secs_f64(),
        if cfg.source_spread > 0 {
            format!(", {} source addresses", cfg.source_spread)
        } else {
            String::new()
        }
    )
}
