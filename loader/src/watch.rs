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
//!
//! The disk may fail the loader: a full file system or quota, a directory it may not
//! write, a read-only mount, an I/O error. Nothing it publishes is then half done (a
//! generation becomes current by one rename of `CURRENT`, after everything it lists is
//! durable; what a failed publication staged is removed, or collected by the next one),
//! so whoisd goes on serving the last good generation. The loop logs what failed, where
//! and what to do, once (then a reminder every `remind`), retries with a bounded
//! backoff (`crate::fault::Retry`), and when the disk lets it, publishes every pending
//! change, in order, exactly once (the position is `applied` in the manifest, which only
//! a published generation moves). A change file it cannot read (permissions, an I/O
//! error) is waited for, never skipped; only a file whose content is unusable is refused.
//! Compaction and the write-back to the source tree back off the same way, each on its
//! own schedule.

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
use mkdb::generation::{DbError, current_manifest, current_number};

use crate::fault::{self, Retry};

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
    /// Longest wait between two attempts while the disk fails (the wait starts at
    /// `interval`, at least 100 ms, and doubles up to this).
    pub retry_max: Duration,
    /// While the same failure lasts, it is logged again this often.
    pub remind: Duration,
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
            retry_max: Duration::from_secs(5),
            remind: Duration::from_secs(60),
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
    /// Backoff and reports of publication, compaction and the source tree's write-back
    /// while they fail.
    publishing: Retry,
    compacting: Retry,
    writing_back: Retry,
    /// A fold was published whose records are not written back to the source tree yet
    /// (or the loop just started: check).
    write_back_pending: bool,
}

/// Why a [`Watcher::step`] failed: what it was doing, and the error (nothing was
/// published; the step is to be retried).
#[derive(Debug)]
pub struct StepError {
    /// What failed (`cannot publish changes 3-7`).
    pub what: String,
    /// The cause.
    pub error: DbError,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl std::error::Error for StepError {}

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
    /// Change files `first..=last` were published as `generation` (it is current), but
    /// what comes after the switch failed (removing old generations, say): collected by
    /// the next publication.
    Untidy {
        /// First sequence number of the batch.
        first: u64,
        /// Last sequence number of the batch.
        last: u64,
        /// The generation now current.
        generation: u64,
        /// What failed after the switch.
        error: DbError,
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
        let first = opts.interval.max(Duration::from_millis(100));
        let retry = Retry::new(first, opts.retry_max.max(first), opts.remind);
        Ok(Watcher {
            db: db.to_path_buf(),
            spool: Spool::open(changes)?,
            rejected: rejected.to_path_buf(),
            current: None,
            building: None,
            fold_after: None,
            publishing: retry.clone(),
            compacting: retry.clone(),
            writing_back: retry,
            write_back_pending: opts.src.is_some(),
            opts,
        })
    }

    /// The directories the loader writes or reads, for advice on errors in them.
    fn roots(&self) -> Vec<&Path> {
        let mut r = vec![self.db.as_path(), self.spool.dir(), self.rejected.as_path()];
        r.extend(self.opts.src.as_deref());
        r
    }

    /// `; whoisd keeps serving generation N` (or nothing when that cannot be read).
    fn serving(&self) -> String {
        current_number(&self.db).map_or(String::new(), |n| {
            format!("; whoisd keeps serving generation {n}")
        })
    }

    /// Writes back the folded records a fold left to write (see
    /// [`Self::repair_source_tree`]), on its retry schedule.
    fn tend_write_back(&mut self, log: &dyn Fn(&str)) {
        if !self.write_back_pending || !self.writing_back.due(Instant::now()) {
            return;
        }
        match self.repair_source_tree(log) {
            Ok(()) => {
                self.write_back_pending = false;
                if let Some(r) = self.writing_back.succeeded(Instant::now()) {
                    log(&format!("source tree: write-back {r}"));
                }
            }
            Err(e) => {
                let msg = format!(
                    "{}; the database is not affected (deltas go on being published, folds \
                     wait); retrying, at most every {}",
                    fault::explain(
                        "source tree: cannot write folded records back",
                        &e,
                        &self.roots()
                    ),
                    fault::human(self.writing_back.max)
                );
                let key = fault::failure_key(&e);
                if let Some(l) = self.writing_back.failed(Instant::now(), &key, &msg).log {
                    log(&l);
                }
            }
        }
    }

    /// A compaction failed (built or published): logged per the retry policy, and none is
    /// started before its wait is over.
    fn compaction_failed(&mut self, kind: Kind, what: &str, e: &CompactError, log: &dyn Fn(&str)) {
        let msg = format!(
            "{}{}; deltas go on being published; compaction is retried, at most every {}",
            fault::explain_compact(&format!("compaction ({kind:?}) {what}"), e, &self.roots()),
            self.serving(),
            fault::human(self.compacting.max)
        );
        let key = fault::compact_failure_key(e);
        if let Some(l) = self.compacting.failed(Instant::now(), &key, &msg).log {
            log(&l);
        }
    }

    /// A compaction was published (or had nothing to do): ends a failure episode.
    fn compaction_succeeded(&mut self, log: &dyn Fn(&str)) {
        if let Some(r) = self.compacting.succeeded(Instant::now()) {
            log(&format!("compaction {r}"));
        }
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
                Ok(Ok(None)) => self.compaction_succeeded(log),
                Ok(Err(e @ CompactError::Source(_))) => {
                    log(&format!("compaction ({kind:?}) not done: {e}"));
                    if kind == Kind::Fold {
                        // Retried later (the operator has to undo a hand edit first);
                        // deltas are still merged meanwhile.
                        self.fold_after = Some(Instant::now() + Duration::from_secs(60));
                    }
                }
                Ok(Err(e)) => self.compaction_failed(kind, "not built", &e, log),
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
        if force.is_none() && !self.compacting.due(Instant::now()) {
            return;
        }
        if self.current.is_none() {
            match Generation::open(&self.db) {
                Ok(g) => self.current = Some(g),
                Err(_) => return,
            }
        }
        let g = self.current.as_ref().expect("opened");
        // Not while the last fold's records are not written back yet: the source file
        // must be the one the folded segment replaced, or the next fold could not tell
        // it from a hand edit.
        let can_fold = self.opts.src.is_some()
            && !self.write_back_pending
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
        // The write-back to the source tree is done after, on its own retry schedule
        // (`tend_write_back`): a source tree that cannot be written does not undo the
        // publication.
        match compact::publish(&self.db, None, p, self.current.as_ref(), self.opts.keep) {
            Ok(Outcome::Published {
                generation,
                written,
                kept,
            }) => {
                self.compaction_succeeded(log);
                if kind == Kind::Fold {
                    self.fold_after = None;
                    self.write_back_pending = true;
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
                self.tend_write_back(log);
            }
            Ok(Outcome::Stale) => log(&format!(
                "compaction ({kind:?}) of generation {snapshot} dropped: the database changed \
                 under it"
            )),
            Err(e) => self.compaction_failed(kind, "not published", &e, log),
        }
    }

    /// `--once`: repairs the source tree, publishes what is pending, then compacts in
    /// this thread if the policy calls for it (or `fold_now`: fold every delta).
    pub fn once(&mut self, log: &dyn Fn(&str)) -> Result<Step, StepError> {
        let fold_now = self.opts.fold_now;
        self.repair_source_tree(log).map_err(|error| StepError {
            what: "cannot write folded records back to the source tree".into(),
            error,
        })?;
        self.write_back_pending = false;
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
                Ok(Err(e)) => log(&fault::explain_compact(
                    &format!("compaction ({kind:?}) not done"),
                    &e,
                    &self.roots(),
                )),
                Err(_) => log("compaction failed: its thread panicked"),
            }
        }
        if self.write_back_pending {
            self.repair_source_tree(log).map_err(|error| StepError {
                what: "published the fold, but cannot write its records back to the source \
                       tree (the next start does it)"
                    .into(),
                error,
            })?;
        }
        Ok(step)
    }

    /// Reads change file `n`: `Ok(Err(problem))` when its content is unusable (it is
    /// refused), `Err` when it cannot be read now (it is retried, never skipped).
    fn read_change(&self, n: u64) -> Result<Result<ChangeFile, String>, DbError> {
        let path = self.spool.dir().join(format!("{n:020}.chg"));
        let bytes = fs::read(&path).map_err(|source| DbError::Io {
            path: path.clone(),
            source,
        })?;
        let name = path.display().to_string();
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(Err(format!("{name}: not UTF-8 text")));
        };
        Ok(match ChangeFile::parse(&text, &name) {
            Ok(f) if f.sequence == n => Ok(f),
            Ok(f) => Err(format!(
                "{name}: holds change {} under the name of {n}",
                f.sequence
            )),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Publishes the change files that follow the current generation's, if any. A file
    /// that cannot be read now ends the batch before it (it is retried, never skipped);
    /// an error publishes nothing.
    pub fn step(&mut self) -> Result<Step, StepError> {
        let fail = |what: &str| {
            let what = what.to_owned();
            move |error| StepError { what, error }
        };
        let applied = current_manifest(&self.db)
            .map_err(fail("cannot read the current generation"))?
            .map_or(0, |m| m.applied);
        let pending: Vec<u64> = self
            .spool
            .sequences()
            .map_err(|source| DbError::Io {
                path: self.spool.dir().to_path_buf(),
                source,
            })
            .map_err(fail("cannot list the change spool"))?
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
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        let mut files = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for n in batch {
            match self.read_change(n) {
                Ok(Ok(f)) => files.push(f),
                Ok(Err(problem)) => {
                    // Unusable: refused like a conflict, and skipped so the stream goes on.
                    unreadable.push((n, problem));
                    files.push(ChangeFile {
                        sequence: n,
                        origin: String::new(),
                        time: String::new(),
                        changes: Vec::new(),
                    });
                }
                // Cannot be read now: publish what comes before it; retried next step.
                Err(e) if files.is_empty() => {
                    return Err(StepError {
                        what: format!("cannot read change file {n}"),
                        error: e,
                    });
                }
                Err(_) => break,
            }
        }
        let (first, last) = (files[0].sequence, files[files.len() - 1].sequence);
        // Refused files are recorded before the generation that skips them is current:
        // a writer waiting for its change (`mkdb edit`) then finds the refusal. If they
        // cannot be recorded, nothing is published (retried).
        let mut recorded = false;
        let published = publish_changes_then(
            &self.db,
            self.current.as_ref(),
            &files,
            self.opts.keep,
            &mut |rejected| {
                for (n, problem) in &unreadable {
                    self.reject(*n, std::slice::from_ref(problem))?;
                }
                for r in rejected {
                    self.reject(r.sequence, &r.problems)?;
                }
                recorded = true;
                Ok(())
            },
        );
        let report = match published {
            Ok(report) => report,
            Err(error) => {
                // Made current after all? (The error came after the switch: removing
                // old generations, say.) Then it is done: `applied` says so.
                if let Ok(Some(m)) = current_manifest(&self.db)
                    && m.applied >= last
                {
                    self.current = None;
                    return Ok(Step::Untidy {
                        first,
                        last,
                        generation: m.generation,
                        error,
                    });
                }
                return Err(StepError {
                    what: format!("cannot publish changes {first}-{last}"),
                    error,
                });
            }
        };
        if !recorded {
            let refused = unreadable
                .iter()
                .map(|(n, p)| (*n, std::slice::from_ref(p)))
                .chain(
                    report
                        .rejected
                        .iter()
                        .map(|r| (r.sequence, &r.problems[..])),
                );
            for (n, problems) in refused {
                self.reject(n, problems)
                    .map_err(fail("cannot record a refused change"))?;
            }
        }
        if report.generation.is_some() {
            // Keep the new generation open, so the next step verifies only its new
            // deltas (opened again from scratch next time if that fails).
            self.current = Generation::open_reusing(&self.db, self.current.as_ref()).ok();
        }
        Ok(Step::Published {
            first,
            last,
            report,
        })
    }

    /// Copies change file `n` to the rejected directory with `problems` as comments.
    fn reject(&self, n: u64, problems: &[String]) -> Result<(), DbError> {
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
        mkdb::generation::atomic_write(&self.rejected.join(format!("{n:020}.chg")), text.as_bytes())
    }

    /// Steps until `stop` is set, waiting `interval` whenever there is nothing to do.
    /// Never gives up: a failed step (a full disk, an unwritable directory) publishes
    /// nothing, is logged once with what to do (then reminded every `remind`), and is
    /// retried with a backoff doubling up to `retry_max`; `recovered after ...` is logged
    /// when it succeeds again, and everything pending is then published in order.
    pub fn run(&mut self, stop: &AtomicBool, log: &dyn Fn(&str)) {
        while !stop.load(Ordering::Relaxed) {
            self.tend_write_back(log);
            self.tend_compaction(None, log);
            let t = Instant::now();
            let step = self.step();
            if step.is_ok()
                && let Some(r) = self.publishing.succeeded(Instant::now())
            {
                log(&format!("publication {r}"));
            }
            match step {
                Ok(Step::Idle) => pause(stop, self.opts.interval),
                Ok(Step::Published {
                    first,
                    last,
                    report,
                }) => {
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
                Ok(Step::Untidy {
                    first,
                    last,
                    generation,
                    error,
                }) => log(&format!(
                    "changes {first}-{last}: published as generation {generation}; {} \
                     (collected by the next publication)",
                    fault::explain("cleaning up after it failed", &error, &self.roots())
                )),
                Err(e) => {
                    let msg = format!(
                        "{}{}; nothing is skipped: the loader retries, at most every {}, and \
                         then publishes every pending change in order",
                        fault::explain(&e.what, &e.error, &self.roots()),
                        self.serving(),
                        fault::human(self.publishing.max)
                    );
                    let key = fault::failure_key(&e.error);
                    let failed = self.publishing.failed(Instant::now(), &key, &msg);
                    if let Some(l) = failed.log {
                        log(&l);
                    }
                    // Nothing is kept from the failed attempt but the open generation
                    // (immutable; the next attempt reads CURRENT again).
                    pause(stop, failed.wait);
                }
            }
        }
    }
}

/// Sleeps `d`, or less if `stop` is set meanwhile.
fn pause(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end || stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}
