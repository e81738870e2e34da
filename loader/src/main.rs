//! `loader`: compiles MKDB source trees into published generations.
//! Argument parsing and terminal output only; the work is in `mkdb::compile`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

mod import;

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
    /// Follow a change spool (as eppd and `mkdb edit` write it) and publish each batch of new
    /// change files as a delta generation of DB_DIR, until SIGTERM or SIGINT. Resumes after
    /// the last change the current generation includes.
    ///
    /// When the disk fails it (a full file system or quota, a directory it may not write, a
    /// read-only mount, an I/O error), nothing is published half: whoisd keeps serving the
    /// last good generation. The loader logs what failed, where and what to do once (then
    /// a reminder every minute), retries with a backoff doubling up to --retry-max-ms, and
    /// publishes every pending change, in order and exactly once, when it can; it then
    /// logs "recovered after ...". It does not exit. A change file it cannot read is waited
    /// for, never skipped.
    Watch {
        /// Database directory (compiled once with `loader compile`).
        db_dir: PathBuf,
        /// The change spool directory.
        #[arg(long, value_name = "DIR")]
        changes: PathBuf,
        /// Where refused change files are copied, with their problems
        /// [default: CHANGES/../rejected].
        #[arg(long, value_name = "DIR")]
        rejected: Option<PathBuf>,
        /// How often to look for new change files, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 100)]
        interval_ms: u64,
        /// Generations to keep, the new one included.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// Publish what is pending once and exit (exit 2, nothing published, when the disk
        /// fails it).
        #[arg(long)]
        once: bool,
        /// Longest wait, in milliseconds, between two attempts while the disk fails it.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        retry_max_ms: u64,
        #[command(flatten)]
        compact: loader::watch::CompactArgs,
    },
    /// Submit what differs between whole data files (the source tree's format) and the
    /// current generation as one change file through the spool (`loader watch` publishes
    /// it): changed records as puts based on their versions (a record changed meanwhile
    /// refuses the whole file as a conflict), new records as puts. Every record is
    /// validated first; any problem is listed as `file:line: problem` and nothing is
    /// submitted. Prints `N changed, N new, N unchanged, N deleted`.
    Import {
        /// Compiled database directory.
        #[arg(long, value_name = "DIR")]
        db: PathBuf,
        /// The change spool `loader watch` follows.
        #[arg(long, value_name = "DIR")]
        changes: PathBuf,
        /// The class of the files [default: each file's directory name, as in
        /// data/<class>/file.txt].
        #[arg(long)]
        class: Option<String>,
        /// Also delete the live records of the files' class that no file holds (the files
        /// must then hold the whole class).
        #[arg(long)]
        delete_missing: bool,
        /// Validate and compare only; submit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds to wait for the change to be published and report its outcome (0: do
        /// not wait).
        #[arg(long, default_value_t = 10)]
        wait: u64,
        /// The data files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn log(message: &str) {
    eprintln!(
        "{} loader[{}]: {message}",
        mkdb::generation::rfc3339_now(),
        std::process::id()
    );
}

/// `; generation N is still served` (or nothing when there is none).
fn serving(db: &std::path::Path) -> String {
    mkdb::generation::current_number(db).map_or(String::new(), |n| {
        format!("; generation {n} is still served")
    })
}

fn watch(
    db_dir: &std::path::Path,
    changes: &std::path::Path,
    rejected: Option<PathBuf>,
    opts: loader::watch::WatchOptions,
    once: bool,
) -> ExitCode {
    let rejected = rejected.unwrap_or_else(|| {
        changes
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("rejected")
    });
    let mut w = match loader::watch::Watcher::new(db_dir, changes, &rejected, opts) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("loader: {}: {e}", changes.display());
            return ExitCode::from(2);
        }
    };
    if once {
        return match w.once(&log) {
            Ok(s) => {
                log(&format!("{s:?}"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "loader: {}; nothing more was published{}",
                    loader::fault::explain(&e.what, &e.error, &[db_dir, changes, &rejected]),
                    serving(db_dir)
                );
                ExitCode::from(2)
            }
        };
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, std::sync::Arc::clone(&stop)) {
            eprintln!("loader: cannot install a signal handler: {e}");
            return ExitCode::from(2);
        }
    }
    log(&format!(
        "watching {} for {} (refused changes go to {})",
        changes.display(),
        db_dir.display(),
        rejected.display()
    ));
    w.run(&stop, &log);
    log("stopped");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Import {
            db,
            changes,
            class,
            delete_missing,
            dry_run,
            wait,
            files,
        } => {
            let opts = import::ImportOptions {
                files,
                class,
                delete_missing,
            };
            import::run(&db, &changes, &opts, dry_run, wait)
        }
        Command::Watch {
            db_dir,
            changes,
            rejected,
            interval_ms,
            keep,
            once,
            retry_max_ms,
            compact,
        } => {
            let opts = compact.apply(loader::watch::WatchOptions {
                interval: std::time::Duration::from_millis(interval_ms.max(1)),
                keep: keep.max(1),
                retry_max: std::time::Duration::from_millis(retry_max_ms.max(1)),
                ..Default::default()
            });
            watch(&db_dir, &changes, rejected, opts, once)
        }
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
                Err(mkdb::CompileError::Db(e)) => {
                    eprintln!(
                        "loader: {}; nothing was published{}",
                        loader::fault::explain(
                            "cannot compile",
                            &e,
                            &[db_dir.as_path(), src_dir.as_path()]
                        ),
                        serving(&db_dir)
                    );
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("loader: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
