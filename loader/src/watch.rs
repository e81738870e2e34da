//! `loader watch`: follows the change spool and publishes each batch of new change files as
//! a delta generation (`mkdb::delta`), every interval.
//!
//! Where it stands is stored in the database itself: each generation records the last
//! change file it includes (`applied` in its manifest), and publication is atomic, so a
//! loader killed at any point resumes, on restart, right after the last published file:
//! every change is applied exactly once, and whoisd never sees a half-published batch.
//!
//! Change files are taken in sequence order and only while the sequence has no gap (a
//! writer makes each file durable under its number before acknowledging it, so a gap means
//! a file not yet renamed into place: wait for it). A file that cannot be read or applied
//! (a compare-and-swap conflict, say) is not applied: it is copied to the rejected
//! directory with its problems as comments, so the operator can act, and the stream goes
//! on.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mkdb::Generation;
use mkdb::change::{ChangeFile, Spool};
use mkdb::delta::{DeltaReport, publish_changes};
use mkdb::generation::{DbError, current_manifest};

/// Settings of the watch loop.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long to wait between looks at the spool when there was nothing to do.
    pub interval: Duration,
    /// Generations to keep.
    pub keep: usize,
    /// Most change files published in one generation.
    pub max_batch: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_millis(100),
            keep: 3,
            max_batch: 1000,
        }
    }
}

/// The follower: the spool, where rejected files go, and the last generation it opened.
#[derive(Debug)]
pub struct Watcher {
    db: PathBuf,
    spool: Spool,
    rejected: PathBuf,
    opts: WatchOptions,
    current: Option<Generation>,
}

/// What one [`Watcher::step`] did.
#[derive(Debug)]
pub enum Step {
    /// No new change file.
    Idle,
    /// Change files `first..=last` handled.
    Published {
        /// First sequence number of the batch.
        first: u64,
        /// Last sequence number of the batch.
        last: u64,
        /// What the publication did.
        report: DeltaReport,
    },
}

impl Watcher {
    /// A watcher publishing the changes of `changes` into `db`; refused files are copied to
    /// `rejected`.
    pub fn new(
        db: &Path,
        changes: &Path,
        rejected: &Path,
        opts: WatchOptions,
    ) -> std::io::Result<Watcher> {
        fs::create_dir_all(rejected)?;
        Ok(Watcher {
            db: db.to_path_buf(),
            spool: Spool::open(changes)?,
            rejected: rejected.to_path_buf(),
            opts,
            current: None,
        })
    }

    /// Publishes the change files that follow the current generation's, if any.
    pub fn step(&mut self) -> Result<Step, DbError> {
        let applied = current_manifest(&self.db)?.map_or(0, |m| m.applied);
        let io = |e: std::io::Error| DbError::Io {
            path: self.spool.dir().to_path_buf(),
            source: e,
        };
        let pending: Vec<u64> = self
            .spool
            .sequences()
            .map_err(io)?
            .into_iter()
            .filter(|&n| n > applied)
            .collect();
        // Contiguous from applied + 1 only.
        let batch: Vec<u64> = pending
            .iter()
            .copied()
            .enumerate()
            .take_while(|&(i, n)| n == applied + 1 + i as u64)
            .map(|(_, n)| n)
            .take(self.opts.max_batch)
            .collect();
        let (Some(&first), Some(&last)) = (batch.first(), batch.last()) else {
            return Ok(Step::Idle);
        };
        let mut files = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for n in batch {
            match self.spool.read(n) {
                Ok(f) => files.push(f),
                Err(e) => {
                    // Unreadable: refused like a conflict, and skipped so the stream goes on.
                    unreadable.push((n, e.to_string()));
                    files.push(ChangeFile {
                        sequence: n,
                        origin: String::new(),
                        time: String::new(),
                        changes: Vec::new(),
                    });
                }
            }
        }
        let report = publish_changes(&self.db, self.current.as_ref(), &files, self.opts.keep)?;
        for (n, problem) in &unreadable {
            self.reject(*n, std::slice::from_ref(problem));
        }
        for r in &report.rejected {
            self.reject(r.sequence, &r.problems);
        }
        if report.generation.is_some() {
            // Keep the new generation open, so the next step verifies only its new deltas.
            self.current = Some(Generation::open_reusing(&self.db, self.current.as_ref())?);
        }
        Ok(Step::Published {
            first,
            last,
            report,
        })
    }

    /// Copies change file `n` to the rejected directory with `problems` as comments.
    fn reject(&self, n: u64, problems: &[String]) {
        let mut text = String::new();
        let _ = writeln!(text, "# Change file {n} was NOT applied:");
        for p in problems {
            let _ = writeln!(text, "#   {p}");
        }
        let _ = writeln!(
            text,
            "# Fix the cause, then submit the change again (for example with mkdb edit)."
        );
        let original = self.spool.dir().join(format!("{n:020}.chg"));
        text.push_str(&fs::read_to_string(&original).unwrap_or_default());
        let _ = fs::write(self.rejected.join(format!("{n:020}.chg")), text);
    }

    /// Steps until `stop` is set, waiting `interval` whenever there is nothing to do; a
    /// failed step (a full disk, say) is reported through `log` and retried after the
    /// interval, and nothing is published meanwhile.
    pub fn run(&mut self, stop: &AtomicBool, log: &dyn Fn(&str)) {
        let mut failing: Option<String> = None;
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            match self.step() {
                Ok(Step::Idle) => std::thread::sleep(self.opts.interval),
                Ok(Step::Published {
                    first,
                    last,
                    report,
                }) => {
                    failing = None;
                    let published = report
                        .generation
                        .map_or("no generation".to_owned(), |g| format!("generation {g}"));
                    log(&format!(
                        "changes {first}-{last}: {} applied ({} records put, {} deleted), {} refused; {published} in {:.1} ms",
                        report.applied_files,
                        report.puts,
                        report.deletes,
                        report.rejected.len(),
                        t.elapsed().as_secs_f64() * 1000.0
                    ));
                    for r in &report.rejected {
                        log(&format!(
                            "change {} refused: {}",
                            r.sequence,
                            r.problems.join("; ")
                        ));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if failing.as_deref() != Some(msg.as_str()) {
                        log(&format!(
                            "cannot publish (will retry; whoisd keeps the last good generation): {msg}"
                        ));
                        failing = Some(msg);
                    }
                    self.current = None;
                    std::thread::sleep(self.opts.interval.max(Duration::from_millis(500)));
                }
            }
        }
    }
}
