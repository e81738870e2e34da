//! `visibility-probe`: how long a change made over EPP takes to be answered by every whois
//! clone. Parses arguments, runs [`bench::visibility::run`], prints the figures and writes
//! them as JSON (see the library module for the method).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bench::epp::run::{Registrar, run_token};
use bench::epp::tls_config;
use bench::visibility::{self, DEFAULT_MIX, Mix, ProbeConfig};
use clap::Parser;
use serde_json::json;

/// Exit status when the bar is missed (p99 above it, a change never visible, EPP errors).
const EXIT_BAR: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "visibility-probe",
    version,
    about = "Time from an EPP change's success response until every whois clone answers it",
    after_help = "Every --whois address must reach one clone only: clones sharing a port \
        (SO_REUSEPORT) each need a private address as well, e.g.\n  \
        whoisd --listen 127.0.0.1:4343 --listen 127.0.0.1:0 --no-rwhois DB   (prints both)\n\n\
        Example (the registrar and password of `registry up`):\n  \
        visibility-probe --epp 127.0.0.1:7000 --certs demo/certs --whois 127.0.0.1:40001 \
        --whois 127.0.0.1:40002 --whois 127.0.0.1:40003\n\n\
        Exit status: 0 bar met, 1 could not run, 3 bar missed (p99 over every clone at or \
        above --bar-ms, a change never visible within --timeout, or EPP errors)."
)]
struct Cli {
    /// The EPP server, HOST:PORT.
    #[arg(long)]
    epp: String,
    /// Certificates directory: ca.pem and REGISTRAR.pem / REGISTRAR.key.
    #[arg(long)]
    certs: PathBuf,
    /// Registrar to log in as.
    #[arg(long, default_value = "ClientX")]
    registrar: String,
    /// Its EPP password.
    #[arg(long, default_value = "x-Demo-pw1")]
    password: String,
    /// A whois clone's own address (repeat once per clone).
    #[arg(long = "whois", value_name = "ADDR", required = true)]
    whois: Vec<String>,
    /// Changes to make.
    #[arg(long, short = 'n', default_value_t = 1000)]
    changes: usize,
    /// Changes per second (open loop: change k is due at k/RATE).
    #[arg(long, short = 'r', default_value_t = 100.0)]
    rate: f64,
    /// EPP sessions sending the changes.
    #[arg(long, short = 's', default_value_t = 4)]
    sessions: usize,
    /// Kinds of change: create, update (adds clientHold), delete, with weights.
    #[arg(long, default_value = DEFAULT_MIX)]
    mix: String,
    /// Milliseconds between two poll rounds of one clone.
    #[arg(long, default_value_t = 2.0)]
    poll_ms: f64,
    /// Whois queries per poll round and clone, at most (oldest changes first).
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Milliseconds after which every pending change is asked for again, even if the
    /// clone's generation did not change (answers are a function of the generation;
    /// this catches one that is not).
    #[arg(long, default_value_t = 100.0)]
    recheck_ms: f64,
    /// The database directory (on this machine): time each publication too (`CURRENT`
    /// read every millisecond), splitting the figure into publication and clone switch.
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Seconds after which a change not on every clone counts as never visible.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Seconds to wait for connecting, each EPP response and each whois answer.
    #[arg(long, default_value_t = 10.0)]
    io_timeout: f64,
    /// Seed of the mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The bar: p99 of the time to every clone below this many milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    bar_ms: f64,
    /// Where the JSON goes (default target/bench-results/visibility-TIMESTAMP.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write no JSON file.
    #[arg(long, conflicts_with = "out")]
    no_out: bool,
    /// Print the JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Extra KEY=VALUE recorded in the JSON's `notes` (repeatable): database size, ...
    #[arg(long, value_name = "KEY=VALUE")]
    note: Vec<String>,
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("visibility-probe: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn addr(s: &str) -> Result<SocketAddr> {
    s.to_socket_addrs()
        .with_context(|| format!("{s:?}: give HOST:PORT"))?
        .next()
        .with_context(|| format!("{s:?} resolves to no address"))
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if !(v > 0.0 && v <= 1e6) {
        bail!("--{name} must be a positive number of seconds, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let mix = Mix::parse(&cli.mix).map_err(anyhow::Error::msg)?;
    if !(cli.rate > 0.0 && cli.rate.is_finite()) {
        bail!("--rate must be above 0");
    }
    if cli.changes == 0 {
        bail!("--changes must be at least 1");
    }
    let clones = cli
        .whois
        .iter()
        .map(|w| addr(w))
        .collect::<Result<Vec<_>>>()?;
    let mut uniq = clones.clone();
    uniq.sort_unstable();
    uniq.dedup();
    if uniq.len() != clones.len() {
        bail!("--whois: the same address twice (each clone needs its own)");
    }
    let tls = tls_config(
        &cli.certs.join("ca.pem"),
        &cli.certs.join(format!("{}.pem", cli.registrar)),
        &cli.certs.join(format!("{}.key", cli.registrar)),
    )
    .with_context(|| format!("TLS set-up of registrar {}", cli.registrar))?;
    let cfg = ProbeConfig {
        epp: addr(&cli.epp)?,
        registrar: Registrar {
            id: cli.registrar.clone(),
            password: cli.password.clone(),
            tls,
        },
        clones,
        changes: cli.changes,
        rate: cli.rate,
        sessions: cli.sessions.max(1),
        mix,
        poll: Duration::from_secs_f64(cli.poll_ms.max(0.0) / 1000.0),
        max_batch: cli.max_batch.max(1),
        recheck: Duration::from_secs_f64(cli.recheck_ms.max(0.0) / 1000.0),
        db: cli.db.clone(),
        timeout: seconds("timeout", cli.timeout)?,
        io_timeout: seconds("io-timeout", cli.io_timeout)?,
        token: run_token(),
        seed: cli.seed,
    };
    let started = mkdb::generation::rfc3339_now();
    let load_start = loadavg();
    if !cli.json {
        eprintln!(
            "visibility-probe: {} changes ({mix}) at {}/s over {} EPP session(s) to {}, \
             {} whois clone(s) polled every {} ms; load average {load_start}",
            cfg.changes,
            cfg.rate,
            cfg.sessions,
            cfg.epp,
            cfg.clones.len(),
            cli.poll_ms
        );
    }
    let report = visibility::run(&cfg)?;
    let load_end = loadavg();
    let bar = Duration::from_secs_f64(cli.bar_ms / 1000.0);
    let pass = report.passes(bar);
    let notes: serde_json::Map<String, serde_json::Value> = cli
        .note
        .iter()
        .map(|n| match n.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (n.clone(), json!(true)),
        })
        .collect();
    let doc = json!({
        "tool": "visibility-probe",
        "started": started,
        "config": {
            "epp": cfg.epp.to_string(),
            "registrar": cfg.registrar.id,
            "whois_clones": cfg.clones.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "changes": cfg.changes,
            "rate_per_sec": cfg.rate,
            "sessions": cfg.sessions,
            "mix": mix.to_string(),
            "poll_ms": cli.poll_ms,
            "max_batch": cfg.max_batch,
            "recheck_ms": cli.recheck_ms,
            "db": cfg.db.as_ref().map(|d| d.display().to_string()),
            "timeout_s": cfg.timeout.as_secs_f64(),
            "seed": cfg.seed,
            "token": cfg.token,
        },
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
        },
        "bar": {
            "figure": "p99 of the time from the EPP success response to every clone answering the new state",
            "below_ms": cli.bar_ms,
            "p99_ms": report.p99_all().map(|d| d.as_micros() as f64 / 1000.0),
            "pass": pass,
        },
        "notes": notes,
        "result": report.to_json(),
    });
    let out = if cli.no_out {
        None
    } else {
        Some(cli.out.clone().unwrap_or_else(|| {
            let stamp: String = started.chars().filter(|c| *c != '-' && *c != ':').collect();
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/bench-results")
                .join(format!("visibility-{stamp}.json"))
        }))
    };
    if let Some(p) = &out {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
        }
        std::fs::write(p, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| p.display().to_string())?;
    }
    if cli.json {
        println!("{doc}");
    } else {
        print!("{}", report.table());
        println!(
            "== bar: p99 EPP -> every clone < {} ms: {} ({}); load average {load_start} -> {load_end}",
            cli.bar_ms,
            report.p99_all().map_or("never visible".into(), |d| format!(
                "{:.1} ms",
                d.as_secs_f64() * 1000.0
            )),
            if pass { "PASS" } else { "FAIL" }
        );
        if let Some(p) = &out {
            println!("== JSON: {}", p.display());
        }
    }
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAR)
    })
}
