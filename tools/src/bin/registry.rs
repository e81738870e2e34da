//! `registry`: runs the registry on one machine with embedded defaults.
//!
//! Today `registry demo` generates a synthetic registry, compiles it into an MKDB database and
//! answers sample whois queries from it; the network services (whoisd, eppd, loader watch)
//! join it as they are built.

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
    /// Generate demo data (once), compile it into a database and answer sample queries.
    Demo {
        /// Working directory for the demo source tree and database.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Number of synthetic domains.
        #[arg(long, default_value_t = 10_000)]
        domains: u64,
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
    let Command::Demo { dir, domains } = cli.command;
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
    let (src, db) = (src.display(), db.display());
    println!("\nTry more queries:   {bin}mkdb query {db} 'pop*'");
    println!("                    {bin}mkdb query {db} 'contact CNT-1002'");
    println!("Edit a record:      $EDITOR {src}/data/domain/domain-0000.txt");
    println!("Check and publish:  {bin}mkdb check {src} && {bin}loader compile {src} {db}");
    Ok(())
}
