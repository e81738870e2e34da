//! `whoisd`: serves a compiled MKDB database on port 43 and RWhois until SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use ipnet::IpNet;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use whoisd::auth::Operators;
use whoisd::limits::{Limiter, Policy};
use whoisd::live::LiveDb;
use whoisd::server::{Server, ServerConfig};
use whoisd::session::SessionConfig;

/// The public whois service: port 43 (RFC 3912 and the Public Whois Specification) and
/// RWhois (RFC 2167), answering from the MKDB generation published in DB_DIR and switching
/// to each newly published generation by itself.
///
/// Several whoisd processes may listen on the same ports (SO_REUSEPORT): they are the
/// clones of one machine. On start, one line per listening socket is printed on standard
/// output (`listening whois 127.0.0.1:43`); logs go to standard error. SIGTERM or SIGINT
/// stops accepting, lets open connections finish (up to --shutdown-grace), then exits 0.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Example:\n  whoisd --listen 127.0.0.1:4343 --rwhois 127.0.0.1:4321 --metrics 127.0.0.1:9143 db/\n  whois -h 127.0.0.1 -p 4343 test.coop\n  curl http://127.0.0.1:9143/metrics"
)]
struct Args {
    /// The database directory (as written by `loader compile SRC_DIR DB_DIR`).
    #[arg(required_unless_present = "hash_password")]
    db: Option<PathBuf>,
    /// Read a password on standard input, print its argon2id hash (a line for the
    /// --operators file is `NAME:HASH`) and exit.
    #[arg(long, exclusive = true)]
    hash_password: bool,
    /// Operators who may authenticate with `-security on request password NAME PASSWORD`:
    /// a file of `NAME:HASH` lines (hashes from --hash-password).
    #[arg(long, value_name = "FILE")]
    operators: Option<PathBuf>,
    /// The change spool (the directory `loader watch --changes` follows and `eppd --spool`
    /// writes): operators authenticated with -security may then -register (add, mod, del)
    /// records. Each registration becomes a change file, sequenced by eppd when it runs
    /// (else appended under SPOOL/WRITER.LOCK), answered once durable, and shown by whois
    /// once the loader publishes it. Without it (or without --operators) -register is not
    /// offered.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Health-check address for a load balancer (`ok` and close; closed at once on SIGTERM).
    #[arg(long, value_name = "ADDR")]
    health: Vec<SocketAddr>,
    /// Serve Prometheus metrics (text format 0.0.4) at http://ADDR/metrics (repeatable).
    /// Keep it on loopback or a management network, e.g. 127.0.0.1:9143.
    #[arg(long, value_name = "ADDR")]
    metrics: Vec<SocketAddr>,
    /// On SIGTERM, keep serving this long with the health port closed, so the balancer
    /// marks this clone down before it stops accepting.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = whoisd::parse_duration)]
    drain_delay: Duration,
    /// Port-43 address to listen on (repeatable; port 0 picks a free port).
    #[arg(long = "listen", value_name = "ADDR", default_value = "0.0.0.0:43")]
    listen: Vec<SocketAddr>,
    /// RWhois address to listen on (repeatable).
    #[arg(long = "rwhois", value_name = "ADDR", default_value = "0.0.0.0:4321")]
    rwhois: Vec<SocketAddr>,
    /// Do not serve RWhois.
    #[arg(long, conflicts_with = "rwhois")]
    no_rwhois: bool,
    /// Worker threads, each its own event loop [default: one per core].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Most connections open at once; more are told to retry and closed.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_connections: usize,
    /// Close a connection that makes no progress for this long (e.g. 30s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = whoisd::parse_duration)]
    idle_timeout: Duration,
    /// After a directive with nothing more sent (no -holdconnect), close after this long.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = whoisd::parse_duration)]
    directive_wait: Duration,
    /// On SIGTERM, how long open connections may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = whoisd::parse_duration)]
    shutdown_grace: Duration,
    /// How often to look for a newly published generation.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = whoisd::parse_duration)]
    reload_interval: Duration,
    /// Longest accepted query or directive line, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = whoisd::session::DEFAULT_MAX_LINE)]
    max_line: usize,
    /// Hit limit at the start of a session.
    #[arg(long, value_name = "N", default_value_t = mkdb::query::DEFAULT_LIMIT)]
    limit: usize,
    /// Highest hit limit a client may set with -limit.
    #[arg(long, value_name = "N", default_value_t = whoisd::session::DEFAULT_MAX_LIMIT)]
    max_limit: usize,
    /// Network allowed to mirror the database with -xfer (repeatable; e.g. 192.0.2.0/24).
    #[arg(long, value_name = "PREFIX")]
    xfer_allow: Vec<IpNet>,
    /// A load balancer's network (repeatable): connections from it must begin with a
    /// PROXY protocol header (v1 or v2) naming the real client.
    #[arg(long, value_name = "PREFIX")]
    proxy_from: Vec<IpNet>,
    /// Abuse countermeasures policy file (see `whoisd::limits`; SIGHUP reloads it).
    /// Without it nothing is limited or counted.
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
    /// The authority area served (-soa, -class, -schema, -xfer).
    #[arg(long, value_name = "AREA", default_value = "coop")]
    authority: String,
    /// This server's public host:port, shown by -soa.
    #[arg(long, value_name = "HOST:PORT", default_value = "whois.nic.coop:43")]
    primary: String,
    /// The hostmaster's address, shown by -soa and -status.
    #[arg(long, value_name = "EMAIL", default_value = "hostmaster@nic.coop")]
    hostmaster: String,
    /// MiB of rendered port-43 answers each worker keeps for queries asked again, from the
    /// generation it serves (emptied on every switch); 0: render every answer.
    #[arg(long, value_name = "MIB", default_value_t = whoisd::server::DEFAULT_ANSWER_CACHE >> 20)]
    answer_cache: usize,
}

fn hash_password() -> Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input (try: echo 'secret' | whoisd --hash-password)");
    }
    println!("{}", whoisd::auth::hash_password(password));
    Ok(())
}

fn run(args: Args) -> Result<()> {
    if args.hash_password {
        return hash_password();
    }
    let Some(db) = args.db.clone() else {
        bail!("give the database directory (see --help)");
    };
    if args.listen.is_empty() {
        bail!("nothing to serve: give at least one --listen address");
    }
    let live = LiveDb::open(&db).with_context(|| "cannot open the database".to_string())?;
    let (g, _) = live.current();
    whoisd::log(&format!(
        "serving generation {} from {}",
        g.number,
        db.display()
    ));
    drop(g);
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
    let operators = match &args.operators {
        Some(path) => {
            let ops = Operators::load(path).context("cannot load the operators file")?;
            whoisd::log(&format!("{} operators may authenticate", ops.len()));
            Some(Arc::new(ops))
        }
        None => None,
    };
    match (&args.spool, &operators) {
        (Some(spool), Some(_)) => whoisd::log(&format!(
            "operators may -register changes into the spool {}",
            spool.display()
        )),
        (Some(_), None) => {
            whoisd::log(
                "--spool without --operators: -register is not offered (nobody may use it)",
            );
        }
        _ => {}
    }
    let rwhois_primary = args.rwhois.first().map(|a| {
        let host = args
            .primary
            .rsplit_once(':')
            .map_or(args.primary.as_str(), |(h, _)| h);
        format!("{host}:{}", a.port())
    });
    let config = ServerConfig {
        whois: args.listen,
        rwhois: if args.no_rwhois {
            Vec::new()
        } else {
            args.rwhois
        },
        health: args.health,
        metrics: args.metrics,
        drain_delay: args.drain_delay,
        rwhois_primary,
        answer_cache: args.answer_cache.min(1 << 20) << 20,
        spool: args.spool.filter(|_| operators.is_some()),
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
        directive_wait: args.directive_wait,
        shutdown_grace: args.shutdown_grace,
        xfer_allow: args.xfer_allow,
        proxy_from: args.proxy_from,
        limiter: limiter.clone(),
        session: SessionConfig {
            max_line: args.max_line,
            default_limit: args.limit,
            max_limit: args.max_limit,
            authority: args.authority,
            primary: args.primary,
            hostmaster: args.hostmaster,
            operators,
            ..SessionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::bind(config, Arc::clone(&live)).context(
        "cannot listen (ports below 1024 need root or CAP_NET_BIND_SERVICE; \
         another program may hold the port without SO_REUSEPORT)",
    )?;
    {
        let mut out = std::io::stdout().lock();
        for (proto, addr) in server.local_addrs() {
            let name = match proto {
                whoisd::Protocol::Whois => "whois",
                whoisd::Protocol::Rwhois => "rwhois",
                whoisd::Protocol::Health => "health",
                whoisd::Protocol::Metrics => "metrics",
            };
            // Best effort: whoever started us may have stopped reading.
            let _ = writeln!(out, "listening {name} {addr}");
        }
        let _ = out.flush();
    }
    let handle = server.handle();
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).context("cannot install signal handlers")?;
    let limits_file = args.limits.clone();
    std::thread::Builder::new()
        .name("whoisd-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    reload(limits_file.as_deref(), limiter.as_deref());
                    continue;
                }
                seen += 1;
                if seen > 1 {
                    whoisd::log("second signal: exiting at once");
                    std::process::exit(128 + sig);
                }
                whoisd::log("shutting down: no new connections; finishing open ones");
                handle.shutdown();
            }
        })?;
    let watcher = live.spawn_watcher(args.reload_interval);
    let handle = server.handle();
    server.run()?;
    live.stop();
    watcher.thread().unpark();
    let _ = watcher.join();
    let s = handle.stats();
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    whoisd::log(&format!(
        "stopped: {} connections served, {} queries, {} refused at the connection limit, {} closed idle",
        n(&s.accepted),
        s.totals().queries,
        n(&s.refused_busy),
        n(&s.idle_closed),
    ));
    Ok(())
}

/// SIGHUP: reads the limits policy again; a bad file keeps the old policy.
fn reload(file: Option<&std::path::Path>, limiter: Option<&Limiter>) {
    let (Some(file), Some(limiter)) = (file, limiter) else {
        whoisd::log("SIGHUP: no --limits file to reload");
        return;
    };
    match Policy::load(file) {
        Ok(p) => {
            whoisd::log(&format!("limits reloaded: {}", p.summary()));
            limiter.set_policy(p);
        }
        Err(e) => whoisd::log(&format!(
            "limits NOT reloaded (the previous policy stays): {e}"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whoisd: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        use whoisd::parse_duration;
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
