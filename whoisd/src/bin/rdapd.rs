//! `rdapd`: serves RDAP (RFC 9082/9083) and the web search page over HTTP from a compiled
//! MKDB database until SIGTERM or SIGINT. The service lives in `whoisd::rdap`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use whoisd::auth::Operators;
use whoisd::limits::{Limiter, Policy};
use whoisd::live::LiveDb;
use whoisd::rdap::http::{self, HttpConfig};
use whoisd::rdap::redaction::RedactionPolicy;
use whoisd::rdap::{RdapConfig, Service};

/// RDAP and the web page of the registry: `/domain/NAME`, `/nameserver/NAME`,
/// `/entity/HANDLE`, searches (`/domains?name=coop*`, ...), `/help`, and a search page for
/// people at `/`, answering from the generation published in DB_DIR and switching to each
/// newly published one by itself, with the same abuse limits file as whoisd.
///
/// On start, one line per listening socket is printed on standard output
/// (`listening http 127.0.0.1:8080`); logs go to standard error. SIGHUP reloads the limits
/// and redaction policies; SIGTERM or SIGINT stops accepting, lets open connections finish
/// (up to --shutdown-grace), then exits 0.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Example:\n  rdapd --listen 127.0.0.1:8080 --base-url http://127.0.0.1:8080/ db/\n  curl http://127.0.0.1:8080/domain/test.coop\n  w3m 'http://127.0.0.1:8080/?type=domain&q=test.coop'"
)]
struct Args {
    /// The database directory (as written by `loader compile SRC_DIR DB_DIR`).
    db: PathBuf,
    /// Address to listen on (repeatable; port 0 picks a free port).
    #[arg(long = "listen", value_name = "ADDR", default_value = "0.0.0.0:8080")]
    listen: Vec<SocketAddr>,
    /// Absolute base URL of the links in answers, e.g. `https://rdap.nic.coop/` [default:
    /// http://HOST/ from the request's Host header].
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// The port-43 server named in answers (empty: none).
    #[arg(long, value_name = "HOST", default_value = "whois.nic.coop")]
    port43: String,
    /// Most results of one search; more are cut with a "result set truncated" notice.
    #[arg(long, value_name = "N", default_value_t = whoisd::rdap::DEFAULT_SEARCH_LIMIT)]
    search_limit: usize,
    /// Abuse countermeasures policy file, the same as whoisd's (see `whoisd::limits`):
    /// rate, connections per source, contact budget, allow/deny. SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
    /// Redaction policy: which contact fields the public and authenticated operators see
    /// (see `whoisd::rdap::redaction`) [default: the public sees organization, state and
    /// country]. SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    redaction: Option<PathBuf>,
    /// Operators who may authenticate with HTTP Basic and see what the redaction policy
    /// shows to authenticated users: a file of `NAME:HASH` lines (whoisd --hash-password).
    #[arg(long, value_name = "FILE")]
    operators: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Most connections open at once; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_connections: usize,
    /// Close a connection whose next request does not arrive within this time.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = whoisd::parse_duration)]
    idle_timeout: Duration,
    /// Answer 408 to a request not answered within this time.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = whoisd::parse_duration)]
    request_timeout: Duration,
    /// On SIGTERM, how long open connections may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = whoisd::parse_duration)]
    shutdown_grace: Duration,
    /// How often to look for a newly published generation.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = whoisd::parse_duration)]
    reload_interval: Duration,
}

fn load_redaction(path: Option<&PathBuf>) -> Result<RedactionPolicy> {
    Ok(match path {
        Some(p) => RedactionPolicy::load(p).context("cannot load the redaction policy")?,
        None => RedactionPolicy::default(),
    })
}

fn run(args: &Args) -> Result<()> {
    if args.listen.is_empty() {
        bail!("nothing to serve: give at least one --listen address");
    }
    if let Some(b) = &args.base_url
        && !(b.starts_with("http://") || b.starts_with("https://"))
    {
        bail!("--base-url must be absolute, e.g. https://rdap.nic.coop/");
    }
    let live = LiveDb::open(&args.db).context("cannot open the database")?;
    whoisd::log(&format!(
        "rdapd serving generation {} from {}",
        live.current().0.number,
        args.db.display()
    ));
    let limiter = match &args.limits {
        Some(path) => {
            let policy = Policy::load(path).context("cannot load the limits policy")?;
            whoisd::log(&format!(
                "limits from {}: {}",
                path.display(),
                policy.summary()
            ));
            Some(Arc::new(Limiter::new(policy)))
        }
        None => None,
    };
    let redaction = load_redaction(args.redaction.as_ref())?;
    whoisd::log(&format!("redaction: {}", redaction.summary()));
    let operators = match &args.operators {
        Some(path) => Some(Arc::new(
            Operators::load(path).context("cannot load the operators file")?,
        )),
        None => None,
    };
    let config = RdapConfig {
        base_url: args.base_url.clone(),
        port43: Some(args.port43.clone()).filter(|p| !p.is_empty()),
        search_limit: args.search_limit.max(1),
    };
    let svc = Arc::new(Service::new(
        Arc::clone(&live),
        limiter.clone(),
        config,
        redaction,
    ));
    let http_config = HttpConfig {
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        max_connections: args.max_connections,
        shutdown_grace: args.shutdown_grace,
        operators,
    };
    let mut listeners = Vec::new();
    for addr in &args.listen {
        let l = std::net::TcpListener::bind(addr).with_context(|| {
            format!("cannot listen on {addr} (ports below 1024 need root or CAP_NET_BIND_SERVICE)")
        })?;
        listeners.push(l);
    }
    {
        let mut out = std::io::stdout().lock();
        for l in &listeners {
            // Best effort: whoever started us may have stopped reading.
            let _ = writeln!(out, "listening http {}", l.local_addr()?);
        }
        let _ = out.flush();
    }
    let watcher = live.spawn_watcher(args.reload_interval);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            args.workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
        )
        .thread_name("rdapd-worker")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let router = http::router(Arc::clone(&svc), &http_config);
        let mut servers = Vec::new();
        for l in listeners {
            servers.push(tokio::spawn(http::serve(
                l,
                router.clone(),
                limiter.clone(),
                http_config.clone(),
                stop_rx.clone(),
            )));
        }
        let mut term = signal(SignalKind::terminate()).context("cannot install signal handlers")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot install signal handlers")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot install signal handlers")?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    if let (Some(path), Some(l)) = (&args.limits, &limiter) {
                        match Policy::load(path) {
                            Ok(p) => {
                                whoisd::log(&format!("limits reloaded: {}", p.summary()));
                                l.set_policy(p);
                            }
                            Err(e) => whoisd::log(&format!("limits not reloaded (keeping the previous policy): {e}")),
                        }
                    }
                    if args.redaction.is_some() {
                        match load_redaction(args.redaction.as_ref()) {
                            Ok(p) => {
                                whoisd::log(&format!("redaction reloaded: {}", p.summary()));
                                svc.set_redaction(p);
                            }
                            Err(e) => whoisd::log(&format!("redaction not reloaded (keeping the previous policy): {e:#}")),
                        }
                    }
                }
            }
        }
        whoisd::log("stopping: finishing open connections");
        let _ = stop_tx.send(true);
        for s in servers {
            match s.await {
                Ok(Err(e)) => whoisd::log(&format!("server: {e}")),
                Err(e) => whoisd::log(&format!("server task: {e}")),
                Ok(Ok(())) => {}
            }
        }
        anyhow::Ok(())
    })?;
    live.stop();
    watcher.thread().unpark();
    let _ = watcher.join();
    whoisd::log("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdapd: {e:#}");
            ExitCode::from(2)
        }
    }
}
