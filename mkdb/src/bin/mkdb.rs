//! `mkdb`: the operator's command for MKDB source trees and compiled databases.
//! Argument parsing and terminal output only; the work is in the `mkdb` library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mkdb::render::AnswerOptions;

/// MKDB: hand-editable registry records compiled into memory-mapped fst indexes.
#[derive(Debug, Parser)]
#[command(name = "mkdb", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a realistic, deterministic synthetic registry source tree.
    Gen {
        /// Number of domains.
        #[arg(long, default_value_t = 1000)]
        domains: u64,
        /// Random seed: the same seed and size give a byte-identical tree.
        #[arg(long, default_value_t = mkdb::synth::GenOptions::default().seed)]
        seed: u64,
        /// Records per data file.
        #[arg(long, default_value_t = 250_000)]
        records_per_file: usize,
        /// Directory to create (must not already contain data/).
        out_dir: PathBuf,
    },
    /// Validate a source tree against its schemas; exit 1 listing `file:line: problem`.
    Check {
        /// Source tree (schema/ and data/).
        src_dir: PathBuf,
    },
    /// Run a whois query against a compiled database and print what the whois service prints.
    Query {
        /// Compiled database directory.
        db_dir: PathBuf,
        /// The query, e.g. 'domain test.coop', 'pop*', 'contact CNT-1002', 'nameserver 10.10.10.10'.
        query: String,
        /// Hit limit.
        #[arg(long, default_value_t = mkdb::query::DEFAULT_LIMIT)]
        limit: usize,
        /// Leave out the banner lines.
        #[arg(long)]
        no_banner: bool,
    },
}

fn progress_bar(what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {elapsed}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    Some(pb)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mkdb: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Gen {
            domains,
            seed,
            records_per_file,
            out_dir,
        } => {
            let opts = mkdb::synth::GenOptions {
                domains,
                seed,
                records_per_file,
            };
            let pb = std::io::stderr().is_terminal().then(|| {
                let pb = ProgressBar::new(domains);
                pb.set_style(
                    ProgressStyle::with_template(
                        "generating [{bar:40}] {pos}/{len} domains {elapsed}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                pb
            });
            let t = std::time::Instant::now();
            let s = mkdb::synth::generate(&out_dir, &opts, &mut |n| {
                if let Some(pb) = &pb {
                    pb.set_position(n);
                }
            })?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            println!(
                "wrote {}: {} domains, {} contacts, {} nameservers, {} registrars in {} files, {} bytes, {:.1}s",
                out_dir.display(),
                s.domains,
                s.contacts,
                s.nameservers,
                s.registrars,
                s.files.len(),
                s.bytes,
                t.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { src_dir } => {
            let pb = progress_bar("checking");
            let tick = |done: u64, total: u64| {
                if let Some(pb) = &pb {
                    pb.set_length(total);
                    pb.set_position(done);
                }
            };
            let r = mkdb::check(&src_dir, &mkdb::CompileOptions::default(), &tick);
            if let Some(pb) = &pb {
                pb.finish_and_clear();
            }
            match r {
                Ok(rep) => {
                    println!(
                        "{}: OK: {} files, {} ({:.1}s)",
                        src_dir.display(),
                        rep.files,
                        rep.counts(),
                        rep.elapsed.as_secs_f64()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(mkdb::CompileError::Source(errors)) => {
                    let mut out = std::io::stdout().lock();
                    for e in &errors {
                        let file = src_dir.join(&e.file);
                        writeln!(out, "{}:{}: {}", file.display(), e.line, e.problem)?;
                    }
                    eprintln!(
                        "mkdb: {} problem(s); fix them and run `mkdb check` again",
                        errors.len()
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Query {
            db_dir,
            query,
            limit,
            no_banner,
        } => {
            let g = mkdb::Generation::open(&db_dir)?;
            let mut out = Vec::with_capacity(4096);
            let r = mkdb::render::render_answer(
                &g,
                &query,
                AnswerOptions {
                    limit,
                    banner: !no_banner,
                },
                &mut out,
            );
            std::io::stdout().lock().write_all(&out)?;
            Ok(match r {
                Ok(h) if !h.records.is_empty() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(_) => ExitCode::from(2),
            })
        }
    }
}
