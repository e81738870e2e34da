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
    /// Edit one record as text in $VISUAL / $EDITOR (like visudo) and submit the change
    /// through the change spool that `loader watch` publishes. The edit is based on the
    /// record's current version: if the record changes meanwhile (an EPP update), the
    /// edit is refused as a conflict, never silently overwritten. An invalid edit is
    /// shown with its errors and reopened (or kept aside); nothing is lost. While eppd
    /// runs, the change goes through eppd (the socket named in SPOOL/WRITER), which
    /// refuses a conflict at once.
    Edit {
        /// Compiled database directory.
        #[arg(long, value_name = "DIR")]
        db: PathBuf,
        /// The change spool `loader watch` follows.
        #[arg(long, value_name = "DIR")]
        changes: PathBuf,
        /// Class: domain, contact, nameserver, registrar.
        class: String,
        /// The record's primary key (a new key starts a new record).
        key: String,
        /// Seconds to wait for the change to be published and report its outcome (0: do
        /// not wait).
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Publish a generation copied from another database (replication, see
    /// `tools/replicate-generation`): STAGING holds `generations/N/` and the segments it
    /// lists that DB_DIR lacks (`segments/<name>/`), on DB_DIR's file system. The segments
    /// are moved in, the generation is verified in full (sizes, hashes, checksums), and
    /// only then is `CURRENT` switched, the way every publication switches it; readers see
    /// the old generation or the new one. A partial or damaged copy changes nothing.
    Publish {
        /// Generation number to publish (STAGING/generations/N).
        #[arg(long)]
        generation: u64,
        /// Generations to keep, the new one included.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// The copied generation and segments; removed once published.
        staging: PathBuf,
        /// The database directory to publish into (created if missing).
        db_dir: PathBuf,
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
        Command::Edit {
            db,
            changes,
            class,
            key,
            wait,
        } => edit(&db, &changes, &class, &key, wait),
        Command::Publish {
            generation,
            keep,
            staging,
            db_dir,
        } => publish(&staging, &db_dir, generation, keep),
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

/// `mkdb publish`: a copied generation made current, as a publication does it.
fn publish(
    staging: &std::path::Path,
    db: &std::path::Path,
    number: u64,
    keep: usize,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use mkdb::generation::{
        DbError, Manifest, Publisher, atomic_write, current_number, gc, generation_dir, sync_dir,
    };
    let staged = generation_dir(staging, number);
    let mpath = staged.join("MANIFEST");
    let text = std::fs::read_to_string(&mpath)
        .with_context(|| format!("{}: no copied generation {number}", mpath.display()))?;
    let manifest =
        Manifest::parse(&text).map_err(|p| anyhow::anyhow!("{}: {p}", mpath.display()))?;
    if manifest.generation != number {
        anyhow::bail!(
            "{}: holds generation {}, not {number}",
            mpath.display(),
            manifest.generation
        );
    }
    // The publication lock: no loader (or other publish) writes here meanwhile.
    let _lock = Publisher::lock(db)?;
    match current_number(db) {
        Ok(n) if n == number => {
            println!("{}: generation {number} is current already", db.display());
            let _ = std::fs::remove_dir_all(staging);
            return Ok(ExitCode::SUCCESS);
        }
        Ok(n) if n > number => {
            anyhow::bail!(
                "{}: serves generation {n}, newer than {number}; nothing changed",
                db.display()
            );
        }
        Ok(_) | Err(DbError::NoDatabase { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Segments are immutable and named uniquely, so a segment the current generation
    // lists (verified, served) is kept. Any other one here may be left by an interrupted
    // publish: the copy just made replaces it.
    let serving: std::collections::HashSet<String> = mkdb::generation::current_manifest(db)?
        .map(|m| m.segments.into_iter().map(|e| e.name).collect())
        .unwrap_or_default();
    let segs = db.join("segments");
    let mut moved = Vec::new();
    for e in &manifest.segments {
        let fin = segs.join(&e.name);
        if serving.contains(&e.name) {
            continue;
        }
        let from = staging.join("segments").join(&e.name);
        if !from.is_dir() {
            if fin.is_dir() {
                continue;
            }
            anyhow::bail!(
                "{}: segment {} of generation {number} was not copied; nothing changed",
                from.display(),
                e.name
            );
        }
        if fin.exists() {
            std::fs::remove_dir_all(&fin).with_context(|| fin.display().to_string())?;
        }
        std::fs::rename(&from, &fin).with_context(|| fin.display().to_string())?;
        moved.push((fin, from));
    }
    sync_dir(&segs)?;
    // A generation directory left by an interrupted publish of this number is not current
    // (checked above): replace it.
    let gdir = generation_dir(db, number);
    if gdir.exists() {
        std::fs::remove_dir_all(&gdir).with_context(|| gdir.display().to_string())?;
    }
    std::fs::rename(&staged, &gdir).with_context(|| gdir.display().to_string())?;
    sync_dir(&db.join("generations"))?;
    if let Err(e) = mkdb::Generation::open_number(db, number, None) {
        // Back to the staging directory, where the next copy repairs what is damaged.
        let _ = std::fs::rename(&gdir, &staged);
        for (fin, from) in &moved {
            let _ = std::fs::rename(fin, from);
        }
        anyhow::bail!(
            "generation {number} as copied does not verify: {e}; {} still serves its previous generation",
            db.display()
        );
    }
    atomic_write(&db.join("CURRENT"), format!("{number}\n").as_bytes())?;
    gc(db, keep.max(1))?;
    let _ = std::fs::remove_dir_all(staging);
    println!(
        "{}: published generation {number} ({} segments, {} new)",
        db.display(),
        manifest.segments.len(),
        moved.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `mkdb edit`: the editor loop, the submission and (optionally) the outcome.
fn edit(
    db: &std::path::Path,
    changes: &std::path::Path,
    class: &str,
    key: &str,
    wait: u64,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use mkdb::edit::{Outcome, draft, finish};
    let g = mkdb::Generation::open(db)?;
    let d = draft(&g, class, key).map_err(anyhow::Error::msg)?;
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = std::env::temp_dir().join(format!(
        "mkdb-edit-{}-{safe}-{}.txt",
        d.class,
        std::process::id()
    ));
    std::fs::write(&path, &d.text).with_context(|| format!("writing {}", path.display()))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_owned());
    let change = loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&path)
            .status()
            .with_context(|| format!("running the editor {editor:?}"))?;
        if !status.success() {
            eprintln!(
                "mkdb: the editor exited with {status}; your text is kept in {}",
                path.display()
            );
            return Ok(ExitCode::from(1));
        }
        let edited = std::fs::read_to_string(&path)?;
        match finish(&g, &d, &edited) {
            Ok(Outcome::Unchanged) => {
                let _ = std::fs::remove_file(&path);
                eprintln!("mkdb: no change");
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Outcome::Change(c)) => break c,
            Err(problems) => {
                eprintln!("mkdb: the edited record has problems:");
                for p in &problems {
                    eprintln!("  {p}");
                }
                if !std::io::stdin().is_terminal() {
                    eprintln!(
                        "mkdb: nothing submitted; your text is kept in {}",
                        path.display()
                    );
                    return Ok(ExitCode::from(1));
                }
                eprint!("(e)dit again, (k)eep the text aside, or (q)uit discarding it? [e] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                match answer.trim() {
                    "k" | "K" => {
                        eprintln!(
                            "mkdb: nothing submitted; your text is kept in {}",
                            path.display()
                        );
                        return Ok(ExitCode::from(1));
                    }
                    "q" | "Q" => {
                        let _ = std::fs::remove_file(&path);
                        return Ok(ExitCode::from(1));
                    }
                    _ => continue,
                }
            }
        }
    };
    let spool = mkdb::change::Spool::open(changes)?;
    let mut file = mkdb::change::ChangeFile {
        sequence: 0,
        origin: "mkdb edit".into(),
        time: mkdb::generation::rfc3339_now(),
        changes: vec![change],
    };
    let n = match spool.submit(&mut file) {
        Ok(s) => {
            if let Some(socket) = &s.via {
                eprintln!("mkdb: eppd ({}) took the change", socket.display());
            }
            s.sequence
        }
        Err(e) => {
            if let Some(r) = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<mkdb::change::Refused>())
            {
                eprintln!(
                    "mkdb: the change was refused, nothing applied: {r}; your text is kept in {}",
                    path.display()
                );
                return Ok(ExitCode::from(1));
            }
            return Err(anyhow::Error::new(e).context(format!(
                "submitting the change (your text is kept in {})",
                path.display()
            )));
        }
    };
    let _ = std::fs::remove_file(&path);
    eprintln!("mkdb: submitted as change {n}");
    if wait == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let rejected = changes
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("rejected")
        .join(format!("{n:020}.chg"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    while std::time::Instant::now() < deadline {
        if let Some(m) = mkdb::generation::current_manifest(db)?
            && m.applied >= n
        {
            if let Ok(text) = std::fs::read_to_string(&rejected) {
                eprintln!("mkdb: change {n} was refused:");
                for l in text.lines().take_while(|l| l.starts_with('#')) {
                    eprintln!("{l}");
                }
                return Ok(ExitCode::from(1));
            }
            eprintln!("mkdb: published in generation {}", m.generation);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("mkdb: change {n} is not published yet (is `loader watch` running?)");
    Ok(ExitCode::SUCCESS)
}
