//! `epp-load`: load generator of the EPP server. Parses arguments, provisions registrars,
//! runs [`bench::epp::run`] and prints the report, or verifies acknowledged creates after a
//! crash test.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bench::epp::provision::{self, DEFAULT_PASSWORD};
use bench::epp::run::{self, Acked, DEFAULT_MIX, LoadConfig, Mix, Registrar};
use bench::epp::tls_config;
use clap::{Args, Parser, Subcommand};
use serde_json::json;

/// Exit code when the error rate is above `--max-error-rate`, or verification failed.
const EXIT_ERRORS: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "epp-load",
    version,
    about = "Load generator of the EPP server (eppd)",
    after_help = "Examples:\n  \
        epp-load provision --src SRC --certs CERTS --registrars 4   # then loader compile SRC DB\n  \
        epp-load run --target 127.0.0.1:7000 --certs CERTS --registrars 4 -s 20 -d 10 --mix create\n  \
        epp-load run --target 127.0.0.1:7000 --certs CERTS --registrars 4 --acked acked.txt --no-baseline\n  \
        epp-load verify --target 127.0.0.1:7000 --certs CERTS --registrars 1 --acked acked.txt --spool SPOOL\n\n\
        Exit status: 0 ok, 1 could not run, 3 error rate above --max-error-rate (run) or \
        acknowledged creates missing (verify)."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Writes development certificates for EppLoad1..N and their registrar records into a
    /// source tree (compile it before starting eppd).
    Provision {
        /// The source tree (`data/registrar/epp-load.txt` is written).
        #[arg(long)]
        src: PathBuf,
        /// Where the certificates go (ca.pem, server.pem/key, NAME.pem/key).
        #[arg(long)]
        certs: PathBuf,
        /// Registrars to provision.
        #[arg(long, default_value_t = 4)]
        registrars: usize,
        /// Their password.
        #[arg(long, default_value = DEFAULT_PASSWORD)]
        password: String,
    },
    /// Loads the server: the `<hello/>` baseline, then the mix.
    Run(RunArgs),
    /// Checks that every name in --acked exists (`<domain:info>`), and with --spool that it
    /// was created in exactly one change file and every change file reads.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// The server, HOST:PORT.
    #[arg(long)]
    target: String,
    /// The certificates directory (ca.pem and NAME.pem/NAME.key per registrar).
    #[arg(long)]
    certs: PathBuf,
    /// Log in as EppLoad1..N (as `provision` made them).
    #[arg(long, default_value_t = 4)]
    registrars: usize,
    /// Log in as this registrar instead (repeatable; NAME or NAME:PASSWORD).
    #[arg(long = "registrar", value_name = "NAME[:PASSWORD]")]
    registrar: Vec<String>,
    /// Password of registrars named without one.
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    password: String,
    /// Seconds to wait for connecting, and for each response.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent registrar sessions (a thread each), spread over the registrars.
    #[arg(long, short = 's', default_value_t = 20)]
    sessions: usize,
    /// Seconds of the measured mix.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load before each window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds of the measured `<hello/>` baseline (before the mix).
    #[arg(long, default_value_t = 5.0)]
    baseline_duration: f64,
    /// No baseline.
    #[arg(long)]
    no_baseline: bool,
    /// The mix: kind=weight,... of create, info, update, renew, transfer (`create`: creates
    /// only). Transfers need two registrars or more.
    #[arg(long, default_value = DEFAULT_MIX)]
    mix: String,
    /// Append every domain whose create was answered 1000 to FILE, a line each, written
    /// at once (crash tests).
    #[arg(long, value_name = "FILE")]
    acked: Option<PathBuf>,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exit with status 3 when errors / transactions exceeds this.
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    /// The names to check, a line each.
    #[arg(long, value_name = "FILE")]
    acked: PathBuf,
    /// The change spool to check too.
    #[arg(long)]
    spool: Option<PathBuf>,
    /// Sessions checking in parallel.
    #[arg(long, short = 's', default_value_t = 4)]
    sessions: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Provision {
            src,
            certs,
            registrars,
            password,
        } => provision_cmd(src, certs, *registrars, password),
        Cmd::Run(a) => run_cmd(a),
        Cmd::Verify(a) => verify_cmd(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("epp-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn provision_cmd(src: &Path, certs: &Path, n: usize, password: &str) -> Result<ExitCode> {
    if n == 0 {
        bail!("--registrars must be at least 1");
    }
    let names = provision::names(n);
    let file = provision::provision(src, certs, &names, password)?;
    eprintln!(
        "epp-load: {} registrar(s) ({}) in {}, certificates in {}",
        names.len(),
        names.join(", "),
        file.display(),
        certs.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if !(0.0..=1e7).contains(&v) {
        bail!("--{name} must be a number of seconds between 0 and 10^7, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

fn resolve(target: &str) -> Result<SocketAddr> {
    target
        .to_socket_addrs()
        .with_context(|| format!("--target {target:?}: give HOST:PORT"))?
        .next()
        .with_context(|| format!("--target {target:?} resolves to no address"))
}

fn registrars(c: &Common) -> Result<Vec<Registrar>> {
    let named: Vec<(String, String)> = if c.registrar.is_empty() {
        if c.registrars == 0 {
            bail!("--registrars must be at least 1");
        }
        provision::names(c.registrars)
            .into_iter()
            .map(|n| (n, c.password.clone()))
            .collect()
    } else {
        c.registrar
            .iter()
            .map(|r| match r.split_once(':') {
                Some((n, p)) => (n.to_string(), p.to_string()),
                None => (r.clone(), c.password.clone()),
            })
            .collect()
    };
    named
        .into_iter()
        .map(|(id, password)| {
            let tls = tls_config(
                &c.certs.join("ca.pem"),
                &c.certs.join(format!("{id}.pem")),
                &c.certs.join(format!("{id}.key")),
            )
            .with_context(|| format!("TLS set-up of registrar {id}"))?;
            Ok(Registrar { id, password, tls })
        })
        .collect()
}

fn run_cmd(a: &RunArgs) -> Result<ExitCode> {
    let mix = Mix::parse(&a.mix).map_err(anyhow::Error::msg)?;
    let regs = registrars(&a.common)?;
    if mix.transfers() && regs.len() < 2 {
        eprintln!("epp-load: one registrar: transfer requests are sent as creates");
    }
    let duration = seconds("duration", a.duration)?;
    if duration.is_zero() {
        bail!("--duration must be above 0");
    }
    let baseline = if a.no_baseline {
        None
    } else {
        Some(seconds("baseline-duration", a.baseline_duration)?).filter(|d| !d.is_zero())
    };
    let acked = match &a.acked {
        Some(p) => Some(Arc::new(
            Acked::open(p).with_context(|| format!("--acked {}", p.display()))?,
        )),
        None => None,
    };
    let cfg = LoadConfig {
        target: resolve(&a.common.target)?,
        registrars: regs,
        sessions: a.sessions,
        duration,
        warmup: seconds("warmup", a.warmup)?,
        baseline,
        mix,
        timeout: seconds("timeout", a.common.timeout)?,
        acked,
        seed: a.seed,
        token: run::run_token(),
    };
    let config_json = json!({
        "target": cfg.target.to_string(),
        "sessions": cfg.sessions,
        "registrars": cfg.registrars.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        "duration_s": duration.as_secs_f64(),
        "warmup_s": cfg.warmup.as_secs_f64(),
        "baseline_s": baseline.map(|d| d.as_secs_f64()),
        "mix": mix.to_string(),
        "token": cfg.token,
        "acked": a.acked.as_ref().map(|p| p.display().to_string()),
    });
    if !a.json {
        println!(
            "epp-load: {} sessions over {} registrar(s) on {}, mix {mix}, {:.1} s (+{:.1} s warm-up){}",
            cfg.sessions,
            cfg.registrars.len(),
            cfg.target,
            duration.as_secs_f64(),
            cfg.warmup.as_secs_f64(),
            baseline.map_or(String::new(), |d| format!(
                ", <hello/> baseline {:.1} s first",
                d.as_secs_f64()
            ))
        );
    }
    let out = run::run(&cfg)?;
    for e in &out.setup_errors {
        eprintln!("epp-load: {e}");
    }
    if out.sessions_ready == 0 {
        bail!("no session could be set up");
    }
    let label = format!("mix {mix} on {}", cfg.target);
    if a.json {
        let mut o = json!({
            "config": config_json,
            "result": out.target.to_json(&label),
            "sessions_ready": out.sessions_ready,
            "setup_errors": out.setup_errors,
            "acked_creates": out.acked,
        });
        if let Some(b) = &out.baseline {
            o["baseline"] = b.to_json("<hello/> baseline");
            o["ratio"] = json!(out.ratio());
        }
        println!("{o}");
    } else {
        if let Some(b) = &out.baseline {
            print!("{}", b.table("<hello/> baseline"));
        }
        print!("{}", out.target.table(&label));
        if let Some(r) = out.ratio() {
            println!("== ratio mix/baseline tx/s: {r:.3}");
        }
        println!(
            "== sessions ready {} of {}, creates acknowledged {}",
            out.sessions_ready, cfg.sessions, out.acked
        );
    }
    let rate = |s: &run::Stats| {
        let errors: u64 = s.errors().values().sum();
        errors as f64 / (s.transactions() + s.io_errors).max(1) as f64
    };
    if rate(&out.target) > a.max_error_rate || !out.setup_errors.is_empty() {
        eprintln!(
            "epp-load: error rate {:.4} above --max-error-rate {} (or sessions not set up)",
            rate(&out.target),
            a.max_error_rate
        );
        return Ok(ExitCode::from(EXIT_ERRORS));
    }
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(a: &VerifyArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.acked)
        .with_context(|| format!("--acked {}", a.acked.display()))?;
    // A torn last line (the generator killed mid-write) is not a name.
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    let names: Vec<String> = complete
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let regs = registrars(&a.common)?;
    let target = resolve(&a.common.target)?;
    let timeout = seconds("timeout", a.common.timeout)?;
    let missing = run::verify(target, &regs[0], &names, a.sessions, timeout)?;
    let spool = match &a.spool {
        Some(s) => Some(run::check_spool(s, &names)?),
        None => None,
    };
    let ok = missing.is_empty() && spool.as_ref().is_none_or(run::SpoolCheck::ok);
    if a.json {
        let mut o = json!({
            "acked": names.len(),
            "missing_by_info": missing.iter().map(|(n, c)| json!({"name": n, "code": c})).collect::<Vec<_>>(),
            "ok": ok,
        });
        if let Some(s) = &spool {
            o["spool"] = json!({
                "change_files": s.files,
                "unreadable": s.unreadable,
                "temporary_files": s.temporary,
                "domain_creates": s.creates,
                "missing": s.missing,
                "duplicated": s.duplicated,
            });
        }
        println!("{o}");
    } else {
        println!(
            "epp-load verify: {} acknowledged creates, {} not found by <domain:info>",
            names.len(),
            missing.len()
        );
        for (n, c) in missing.iter().take(20) {
            println!(
                "  missing {n} ({})",
                c.map_or("io error".into(), |c| c.to_string())
            );
        }
        if let Some(s) = &spool {
            println!(
                "  spool: {} change files ({} unreadable), {} temporary files, {} domain \
                 creates; acknowledged and never created {}, created more than once {}",
                s.files,
                s.unreadable.len(),
                s.temporary,
                s.creates,
                s.missing.len(),
                s.duplicated.len()
            );
            for u in s.unreadable.iter().take(10) {
                println!("  unreadable: {u}");
            }
        }
        println!("{}", if ok { "OK" } else { "FAILED" });
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERRORS)
    })
}
