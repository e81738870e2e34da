//! `eppd`: the EPP server (see the library docs), and `eppd gen-dev-certs DIR` for tests
//! and the demo.

use std::net::TcpListener;
use std::path::PathBuf;
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::GenDevCerts { dir, clients }) = &cli.command {
        let names: Vec<&str> = clients.iter().map(String::as_str).collect();
        for (name, fp) in eppd::certs::generate(dir, &names)? {
            println!("{name} {fp}");
        }
        return Ok(());
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
        jobs,
    )));
    println!(
        "eppd listening on {} ({count} domains, next change {next})",
        listener.local_addr()?
    );
    eppd::server::serve(&listener, &tls, &sessions, &logins);
    Ok(())
}
