//! `registry`: runs the registry on one machine with embedded defaults.
//!
//! Today `registry demo` generates a synthetic registry, compiles it into an MKDB database,
//! answers sample whois queries from it, then serves it with `whoisd` on loopback (port 43
//! and RWhois) until Ctrl-C; eppd and `loader watch` join it as they are built.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mkdb::render::{AnswerOptions, render_answer};

/// The .coop registry on one machine.
#[derive(Debug, Parser)]
#[command(name = "registry", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate demo data (once), compile it into a database, answer sample queries, then
    /// serve it with whoisd on loopback until Ctrl-C.
    Demo {
        /// Working directory for the demo source tree and database.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Number of synthetic domains.
        #[arg(long, default_value_t = 10_000)]
        domains: u64,
        /// Port-43 whois address to serve on.
        #[arg(long, default_value = "127.0.0.1:4343")]
        whois: String,
        /// RWhois address to serve on.
        #[arg(long, default_value = "127.0.0.1:4321")]
        rwhois: String,
        /// Stop after the sample queries instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Command::Demo {
        dir,
        domains,
        whois,
        rwhois,
        no_serve,
    } = cli.command;
    let src = dir.join("src");
    let db = dir.join("db");
    if !src.join("data").exists() {
        let t = Instant::now();
        let opts = mkdb::synth::GenOptions {
            domains,
            ..Default::default()
        };
        let s = mkdb::synth::generate(&src, &opts, &mut |_| {}).context("generating demo data")?;
        println!(
            "generated {} domains, {} contacts, {} nameservers, {} registrars in {} ({:.1}s)",
            s.domains,
            s.contacts,
            s.nameservers,
            s.registrars,
            src.display(),
            t.elapsed().as_secs_f64()
        );
    } else {
        println!("using the existing source tree {}", src.display());
    }
    let rep = mkdb::compile(&src, &db, &mkdb::CompileOptions::default(), &|_, _| {})
        .map_err(|e| match e {
            mkdb::CompileError::Source(p) => {
                anyhow::anyhow!(
                    "{}",
                    p.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            }
            e => e.into(),
        })
        .context("compiling")?;
    println!(
        "published generation {} in {}: {} in {:.2}s ({} of {} files reused)",
        rep.generation,
        db.display(),
        rep.counts(),
        rep.elapsed.as_secs_f64(),
        rep.reused,
        rep.files
    );
    let g = mkdb::Generation::open(&db)?;
    for q in [
        "domain test.coop",
        "nameserver 10.10.10.10",
        "registrar SAMPLE",
    ] {
        println!("\n$ mkdb query {} '{q}'", db.display());
        let mut out = Vec::new();
        let _ = render_answer(
            &g,
            q,
            AnswerOptions {
                limit: 3,
                banner: false,
            },
            &mut out,
        );
        print!("{}", String::from_utf8_lossy(&out).replace("\r\n", "\n"));
    }
    // The binaries next to this one (target/release after `tools/registry`).
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string() + "/"))
        .unwrap_or_default();
    let (src_s, db_s) = (src.display(), db.display());
    println!("\nTry more queries:   {bin}mkdb query {db_s} 'pop*'");
    println!("                    {bin}mkdb query {db_s} 'contact CNT-1002'");
    println!("Edit a record:      $EDITOR {src_s}/data/domain/domain-0000.txt");
    println!("Check and publish:  {bin}mkdb check {src_s} && {bin}loader compile {src_s} {db_s}");
    if no_serve {
        return Ok(());
    }
    let (host, port) = whois.rsplit_once(':').unwrap_or((&whois, "43"));
    println!("\nServing whois on {whois} and RWhois on {rwhois} (Ctrl-C stops):");
    println!("  whois -h {host} -p {port} test.coop");
    println!("  whois -h {host} -p {port} 'pop*'");
    println!("  printf -- '-holdconnect on\\r\\ntest.coop\\r\\n-quit\\r\\n' | nc {host} {port}");
    println!("A newly published generation (loader compile) is served within 100 ms.\n");
    // Its own process group, so a terminal's Ctrl-C reaches it once, through us.
    let mut child = std::process::Command::new(format!("{bin}whoisd"))
        .process_group(0)
        .args(["--listen", &whois, "--rwhois", &rwhois])
        .arg(&db)
        .spawn()
        .context("starting whoisd (build it with `cargo build --release -p whoisd`)")?;
    // Ctrl-C or SIGTERM here is passed on as SIGTERM: whoisd finishes open connections.
    let pid = rustix::process::Pid::from_raw(child.id() as i32);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
    });
    let status = child.wait()?;
    if !status.success() {
        anyhow::bail!("whoisd exited with {status}");
    }
    Ok(())
}
