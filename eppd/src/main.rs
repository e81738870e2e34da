//! `eppd`: the EPP server (see the library docs), and `eppd gen-dev-certs DIR` for tests
//! and the demo.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};

use eppd::core::CoreConfig;
use eppd::session::SessionConfig;
use eppd::writer::{Logins, StatePaths, open_state, spawn_writer};

#[derive(Parser)]
#[command(version, about = "EPP server (RFC 5730-5734) of the .coop registry")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:700")]
    listen: String,
    /// The MKDB database directory.
    #[arg(long)]
    db: Option<PathBuf>,
    /// The change spool (written here, read by `loader watch`).
    #[arg(long)]
    spool: Option<PathBuf>,
    /// The journal of poll messages and transfers (default: SPOOL/../eppd.journal).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// The registry CA (PEM) that signs registrar certificates.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The server certificate chain (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The server key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Seconds before a pending transfer is approved by the server.
    #[arg(long, default_value_t = 5 * 86_400)]
    transfer_after: i64,
    /// Sessions per registrar.
    #[arg(long, default_value_t = 10)]
    max_sessions: usize,
    /// Idle timeout, seconds.
    #[arg(long, default_value_t = 600)]
    idle: u64,
    /// The operators' Unix socket (`eppd admin`; operator tools send change files here).
    /// Default: `eppd.admin` beside the journal.
    #[arg(long, value_name = "PATH")]
    admin_socket: Option<PathBuf>,
    /// Seconds to wait at start for `SPOOL/WRITER.LOCK` while an operator tool holds it.
    #[arg(long, default_value_t = 60)]
    lock_wait: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a development CA, server and client certificates into DIR.
    GenDevCerts {
        /// Output directory.
        dir: PathBuf,
        /// Client (registrar) names.
        #[arg(default_values_t = ["ClientX".to_string(), "ClientY".to_string()])]
        clients: Vec<String>,
    },
    /// Sends an operator command to a running eppd and prints the answer (exit 0: `ok`,
    /// 1: `error`, 2: eppd unreachable). `eppd admin help` lists the commands.
    Admin {
        /// The admin socket (default: the one named in SPOOL/WRITER, with --spool).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The spool whose running eppd to ask (reads SPOOL/WRITER).
        #[arg(long, value_name = "DIR")]
        spool: Option<PathBuf>,
        /// The command and its arguments (`set-state CONTACT STATE`, `ping`, `help`).
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
}

/// `eppd admin`: one command, its answer printed.
fn admin(socket: Option<&PathBuf>, spool: Option<&PathBuf>, command: &[String]) -> ExitCode {
    let socket = match (socket, spool) {
        (Some(s), _) => s.clone(),
        (None, Some(dir)) => {
            match mkdb::change::Spool::open(dir)
                .ok()
                .and_then(|s| s.writer_socket())
            {
                Some(s) => s,
                None => {
                    eprintln!(
                        "eppd admin: {} names no running eppd (no WRITER file)",
                        dir.display()
                    );
                    return ExitCode::from(2);
                }
            }
        }
        (None, None) => {
            eprintln!("eppd admin: give --socket PATH or --spool DIR");
            return ExitCode::from(2);
        }
    };
    match eppd::admin::request(&socket, &command.join(" ")) {
        Ok(answer) => {
            println!("{answer}");
            if answer == "ok" || answer.starts_with("ok ") {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("eppd admin: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Cmd::GenDevCerts { dir, clients }) => {
            let names: Vec<&str> = clients.iter().map(String::as_str).collect();
            for (name, fp) in eppd::certs::generate(dir, &names)? {
                println!("{name} {fp}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Admin {
            socket,
            spool,
            command,
        }) => {
            let spool = spool.as_ref().or(cli.spool.as_ref());
            return Ok(admin(socket.as_ref(), spool, command));
        }
        None => {}
    }
    let need = |p: &Option<PathBuf>, what: &str| {
        p.clone()
            .ok_or_else(|| anyhow::anyhow!("--{what} is required"))
    };
    let spool = need(&cli.spool, "spool")?;
    let journal = cli.journal.clone().unwrap_or_else(|| {
        spool
            .parent()
            .map_or_else(|| PathBuf::from("eppd.journal"), |p| p.join("eppd.journal"))
    });
    let paths = StatePaths {
        db: need(&cli.db, "db")?,
        spool,
        journal,
    };
    let tls = eppd::server::tls_config(
        &need(&cli.ca, "ca")?,
        &need(&cli.cert, "cert")?,
        &need(&cli.key, "key")?,
    )?;
    let cfg = CoreConfig {
        transfer_after: cli.transfer_after,
        ..CoreConfig::default()
    };
    // The one sequencer: the writer lock first (held until the process ends), so no
    // operator tool appends to the spool between loading it and taking over.
    let spool_dir = mkdb::change::Spool::open(&paths.spool)?;
    let _writer_lock = eppd::admin::lock_spool(&spool_dir, Duration::from_secs(cli.lock_wait))?;
    let admin_path = cli.admin_socket.clone().unwrap_or_else(|| {
        paths
            .journal
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("eppd.admin"), |p| p.join("eppd.admin"))
    });
    let (core, durable) = open_state(&paths, cfg)?;
    let sessions = Arc::new(SessionConfig {
        idle_timeout: Duration::from_secs(cli.idle),
        max_sessions_per_registrar: cli.max_sessions,
        ..SessionConfig::default()
    });
    let listener = TcpListener::bind(&cli.listen)?;
    let (count, next) = (core.domain_count(), core.next_sequence());
    // Logins are read before the core moves into the writer thread.
    let registrars = core.registrars().clone();
    let jobs = spawn_writer(core, durable);
    let logins = Arc::new(Mutex::new(Logins::from_registrars(
        &registrars,
        cli.max_sessions,
        jobs.clone(),
    )));
    let admin_listener = eppd::admin::bind(&admin_path)?;
    let announced = eppd::admin::announce(&spool_dir, &admin_path)?;
    {
        let logins = Arc::clone(&logins);
        std::thread::Builder::new()
            .name("eppd-admin-accept".into())
            .spawn(move || eppd::admin::serve(&admin_listener, &jobs, Some(&logins)))?;
    }
    eprintln!(
        "eppd: operators: {} (named in {})",
        announced.display(),
        spool_dir.writer_path().display()
    );
    println!(
        "eppd listening on {} ({count} domains, next change {next})",
        listener.local_addr()?
    );
    eppd::server::serve(&listener, &tls, &sessions, &logins);
    Ok(ExitCode::SUCCESS)
}
