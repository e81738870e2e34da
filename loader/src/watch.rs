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
//!
//! Compaction (`mkdb::compact`) runs beside the loop: when the deltas pass the policy's
//! thresholds, a thread builds the merged (or folded) segments from a snapshot while the
//! loop goes on publishing deltas; when it is done, the loop publishes the compaction
//! between two batches, keeping the deltas published meanwhile on top, and (for a fold)
//! writes the folded records back to the source tree (`--src`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mkdb::Generation;
use mkdb::change::{ChangeFile, Spool};
use mkdb::compact::{self, CompactError, Kind, Outcome, Policy, Prepared};
use mkdb::delta::{DeltaReport, publish_changes_then};
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
    /// When to compact (`None`: never; deltas accumulate).
    pub compact: Option<Policy>,
    /// The source tree that folds write back to (`None`: deltas are merged, never folded).
    pub src: Option<PathBuf>,
    /// [`Watcher::once`] folds every delta.
    pub fold_now: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_millis(100),
            keep: 3,
            max_batch: 1000,
            compact: Some(Policy::default()),
            src: None,
            fold_now: false,
        }
    }
}

/// The compaction options of `loader watch`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompactArgs {
    /// The source tree (schema/ and data/) the database was compiled from: folds write the
    /// changed records back into its data files, so a later `loader compile` agrees with
    /// what is served. Without it, deltas are merged but never folded.
    #[arg(long, value_name = "DIR")]
    pub src: Option<PathBuf>,
    /// Merge the deltas into one segment per class when there are more than N delta
    /// segments (costs what the deltas cost).
    #[arg(long, value_name = "N", default_value_t = Policy::default().merge_after_segments)]
    pub compact_after: usize,
    /// Fold the deltas into the base segments and the source tree when they hold more than
    /// N records and tombstones (costs the size of the data files they touch).
    #[arg(long, value_name = "N", default_value_t = Policy::default().fold_after_records)]
    pub fold_after_records: u64,
    /// Fold also when the delta segments hold more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Policy::default().fold_after_bytes)]
    pub fold_after_bytes: u64,
    /// Never compact: deltas accumulate.
    #[arg(long)]
    pub no_compact: bool,
    /// With --once: fold every delta into the base and the source tree (needs --src), so
    /// that `loader compile` can run.
    #[arg(long)]
    pub fold_now: bool,
}

impl CompactArgs {
    /// `opts` with these settings.
    pub fn apply(self, mut opts: WatchOptions) -> WatchOptions {
        opts.compact = (!self.no_compact).then_some(Policy {
            merge_after_segments: self.compact_after.max(1),
            fold_after_records: self.fold_after_records,
            fold_after_bytes: self.fold_after_bytes,
        });
        opts.src = self.src;
        opts.fold_now = self.fold_now;
        opts
    }
}

/// A compaction being built in its thread.
type Building = JoinHandle<Result<Option<Prepared>, CompactError>>;

/// The follower: the spool, where rejected files go, and the last generation it opened.
#[derive(Debug)]
pub struct Watcher {
    db: PathBuf,
    spool: Spool,
    rejected: PathBuf,
    opts: WatchOptions,
    current: Option<Generation>,
    building: Option<(Kind, Building)>,
    /// No fold is started before then (the last one failed: a hand-edited source file).
    fold_after: Option<Instant>,
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
            building: None,
            fold_after: None,
        })
    }

    /// Rewrites the source files a fold published but was interrupted before writing
    /// (`mkdb::compact::write_back`); logs what it did.
    pub fn repair_source_tree(&self, log: &dyn Fn(&str)) -> Result<(), DbError> {
        let Some(src) = &self.opts.src else {
            return Ok(());
        };
        let Some(m) = current_manifest(&self.db)? else {
            return Ok(());
        };
        let (written, kept) = compact::write_back(&self.db, src, &m.segments)?;
        for w in written {
            log(&format!("source tree: wrote the folded records of {w}"));
        }
        for k in kept {
            log(&format!("source tree: {k}"));
        }
        Ok(())
    }

    /// Is a compaction being built?
    pub fn compacting(&self) -> bool {
        self.building.is_some()
    }

    /// Looks after compaction, between two steps: publishes a finished one, and starts one
    /// in a thread when the current generation's deltas call for it (or `force`, a fold
    /// as soon as possible). Logs what happens.
    pub fn tend_compaction(&mut self, force: Option<Kind>, log: &dyn Fn(&str)) {
        if self.building.as_ref().is_some_and(|(_, h)| h.is_finished()) {
            let (kind, h) = self.building.take().expect("checked");
            match h.join() {
                Ok(Ok(Some(p))) => self.publish_compaction(p, log),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    log(&format!("compaction ({kind:?}) not done: {e}"));
                    if kind == Kind::Fold {
                        // Retried later (the operator has to undo a hand edit first);
                        // deltas are still merged meanwhile.
                        self.fold_after = Some(Instant::now() + Duration::from_secs(60));
                    }
                }
                Err(_) => log(&format!(
                    "compaction ({kind:?}) failed: its thread panicked"
                )),
            }
        }
        if self.building.is_some() {
            return;
        }
        let Some(policy) = self.opts.compact else {
            return;
        };
        if self.current.is_none() {
            match Generation::open(&self.db) {
                Ok(g) => self.current = Some(g),
                Err(_) => return,
            }
        }
        let g = self.current.as_ref().expect("opened");
        let can_fold = self.opts.src.is_some()
            && (force.is_some() || self.fold_after.is_none_or(|t| Instant::now() >= t));
        let kind = match force {
            Some(k) if g.has_deltas() && (k == Kind::Merge || can_fold) => Some(k),
            _ => policy.due(g, can_fold),
        };
        let Some(kind) = kind else { return };
        // The snapshot: the current generation, opened again for the thread (its
        // segments are shared, not verified again).
        let snapshot = match Generation::open_reusing(&self.db, Some(g)) {
            Ok(s) => s,
            Err(e) => {
                log(&format!(
                    "compaction: cannot open the current generation: {e}"
                ));
                return;
            }
        };
        let (db, src) = (self.db.clone(), self.opts.src.clone());
        log(&format!(
            "compaction ({kind:?}) of generation {} started: {:?}",
            snapshot.number,
            compact::delta_load(&snapshot)
        ));
        let h = std::thread::Builder::new()
            .name("compact".into())
            .spawn(move || compact::prepare(&db, src.as_deref(), &snapshot, kind));
        match h {
            Ok(h) => self.building = Some((kind, h)),
            Err(e) => log(&format!("compaction: cannot start its thread: {e}")),
        }
    }

    /// Publishes a built compaction on top of the current generation.
    fn publish_compaction(&mut self, p: Prepared, log: &dyn Fn(&str)) {
        let (kind, snapshot, records, rebuilt, build) =
            (p.kind, p.snapshot, p.records, p.rebuilt, p.build_time);
        let t = Instant::now();
        let src = self.opts.src.clone();
        match compact::publish(
            &self.db,
            src.as_deref(),
            p,
            self.current.as_ref(),
            self.opts.keep,
        ) {
            Ok(Outcome::Published {
                generation,
                written,
                kept,
            }) => {
                if kind == Kind::Fold {
                    self.fold_after = None;
                }
                log(&format!(
                    "compaction ({kind:?}) of generation {snapshot}: {rebuilt} segment(s), \
                     {records} records, built in {:.1} ms; published generation \
                     {generation} in {:.1} ms",
                    build.as_secs_f64() * 1000.0,
                    t.elapsed().as_secs_f64() * 1000.0
                ));
                for w in written {
                    log(&format!("source tree: wrote the folded records of {w}"));
                }
                for k in kept {
                    log(&format!("source tree: {k}"));
                }
                match Generation::open_reusing(&self.db, self.current.as_ref()) {
                    Ok(g) => self.current = Some(g),
                    Err(_) => self.current = None,
                }
            }
            Ok(Outcome::Stale) => log(&format!(
                "compaction ({kind:?}) of generation {snapshot} dropped: the database changed \
                 under it"
            )),
            Err(e) => log(&format!("compaction ({kind:?}) not published: {e}")),
        }
    }

    /// `--once`: repairs the source tree, publishes what is pending, then compacts in
    /// this thread if the policy calls for it (or `fold_now`: fold every delta).
    pub fn once(&mut self, log: &dyn Fn(&str)) -> Result<Step, DbError> {
        let fold_now = self.opts.fold_now;
        self.repair_source_tree(log)?;
        let step = self.step()?;
        if fold_now && self.opts.src.is_none() {
            log("--fold-now needs the source tree (--src)");
        }
        let force = fold_now.then_some(Kind::Fold);
        self.tend_compaction(force, log);
        if let Some((kind, h)) = self.building.take() {
            match h.join() {
                Ok(Ok(Some(p))) => self.publish_compaction(p, log),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => log(&format!("compaction ({kind:?}) not done: {e}")),
                Err(_) => log("compaction failed: its thread panicked"),
            }
        }
        Ok(step)
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
        // Refused files are recorded before the generation that skips them is current:
        // a writer waiting for its change (`mkdb edit`) then finds the refusal.
        let mut recorded = false;
        let report = publish_changes_then(
            &self.db,
            self.current.as_ref(),
            &files,
            self.opts.keep,
            &mut |rejected| {
                for (n, problem) in &unreadable {
                    self.reject(*n, std::slice::from_ref(problem));
                }
                for r in rejected {
                    self.reject(r.sequence, &r.problems);
                }
                recorded = true;
            },
        )?;
        if !recorded {
            for (n, problem) in &unreadable {
                self.reject(*n, std::slice::from_ref(problem));
            }
            for r in &report.rejected {
                self.reject(r.sequence, &r.problems);
            }
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
        // Whole or not at all: a reader never sees half the reasons.
        let _ = mkdb::generation::atomic_write(
            &self.rejected.join(format!("{n:020}.chg")),
            text.as_bytes(),
        );
    }

    /// Steps until `stop` is set, waiting `interval` whenever there is nothing to do; a
    /// failed step (a full disk, say) is reported through `log` and retried after the
    /// interval, and nothing is published meanwhile.
    pub fn run(&mut self, stop: &AtomicBool, log: &dyn Fn(&str)) {
        let mut failing: Option<String> = None;
        if let Err(e) = self.repair_source_tree(log) {
            log(&format!(
                "source tree: cannot write folded records back: {e}"
            ));
        }
        while !stop.load(Ordering::Relaxed) {
            self.tend_compaction(None, log);
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
