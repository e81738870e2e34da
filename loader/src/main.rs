//! `loader`: compiles MKDB source trees into published generations.
//! Argument parsing and terminal output only; the work is in `mkdb::compile`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// The MKDB loader: turns source trees into generations that whoisd serves.
#[derive(Debug, Parser)]
#[command(name = "loader", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compile a source tree (schema/ and data/) into a new generation of DB_DIR and publish
    /// it atomically. Unchanged files reuse their segments from the current generation.
    Compile {
        /// Source tree.
        src_dir: PathBuf,
        /// Database directory (created if missing).
        db_dir: PathBuf,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Generations to keep, the new one included.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// Rebuild every segment even if its file is unchanged.
        #[arg(long)]
        full: bool,
        /// Also print how long each phase took.
        #[arg(long, short)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Compile {
            src_dir,
            db_dir,
            threads,
            keep,
            full,
            verbose,
        } => {
            let mut opts = mkdb::CompileOptions {
                keep_generations: keep.max(1),
                reuse: !full,
                ..Default::default()
            };
            if let Some(t) = threads {
                opts.threads = t.max(1);
            }
            let pb = std::io::stderr().is_terminal().then(|| {
                let pb = ProgressBar::new(0);
                pb.set_style(
                    ProgressStyle::with_template(
                        "compiling [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                pb
            });
            let tick = |done: u64, total: u64| {
                if let Some(pb) = &pb {
                    pb.set_length(total);
                    pb.set_position(done);
                }
            };
            let r = mkdb::compile(&src_dir, &db_dir, &opts, &tick);
            if let Some(pb) = &pb {
                pb.finish_and_clear();
            }
            match r {
                Ok(rep) => {
                    println!(
                        "published generation {} in {}: {} ({} files, {} reused, {} bytes) in {:.2}s",
                        rep.generation,
                        db_dir.display(),
                        rep.counts(),
                        rep.files,
                        rep.reused,
                        rep.bytes,
                        rep.elapsed.as_secs_f64()
                    );
                    if verbose {
                        for (phase, d) in &rep.phases {
                            println!("  {phase}: {:.2}s", d.as_secs_f64());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(mkdb::CompileError::Source(errors)) => {
                    for e in &errors {
                        println!(
                            "{}:{}: {}",
                            src_dir.join(&e.file).display(),
                            e.line,
                            e.problem
                        );
                    }
                    eprintln!(
                        "loader: {} problem(s) in {}; nothing was published (the current generation is still served)",
                        errors.len(),
                        src_dir.display()
                    );
                    ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("loader: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
