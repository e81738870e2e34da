//! The generation every worker serves, and the watcher that switches it.
//!
//! [`LiveDb`] holds the current [`Generation`] behind an `Arc` and a version counter. A worker
//! keeps its own `Arc` and, once per event-loop turn, compares the counter (one atomic load)
//! with the version it holds; when they differ it takes the new `Arc`. A query runs to the
//! end on the one generation its worker held when it started, so no answer ever mixes two
//! generations, and a retired generation is unmapped as soon as the last worker lets go of it.
//!
//! The watcher thread ([`LiveDb::spawn_watcher`]) reads the database's `CURRENT` file every
//! interval (a tiny read; no inotify so it works the same on any file system, including a
//! replica updated by rsync), opens a newly published generation off the event loops (reusing
//! unchanged segments of the current one), stores it and wakes every worker so the switch
//! happens within one interval even on an idle server. A generation that fails to open is
//! reported once and retried; the old one keeps being served.
//!
//! The watcher also works out, off the event loops, what each switch changed
//! ([`mkdb::diff::between`] the generation served and the new one) and keeps it for the last
//! [`HISTORY`] versions, so that a worker switching from version `a` to `b`
//! ([`LiveDb::changes`]) keeps the cached answers that cannot have changed, even across
//! switches it did not see one by one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use mkdb::Generation;
use mkdb::diff::{ChangedKeys, Diff};
use mkdb::generation::current_number;

/// Switches whose changed sets are kept ([`LiveDb::changes`]).
pub const HISTORY: usize = 64;

/// Something to call after a switch: a worker's mio waker.
pub type Notify = Box<dyn Fn() + Send + Sync>;

/// The current generation of one database directory, shared by all workers.
pub struct LiveDb {
    dir: PathBuf,
    current: Mutex<Arc<Generation>>,
    version: AtomicU64,
    /// What the switch to each recent version changed: (version, set; `None`: unknown),
    /// oldest first. Written under `current`'s lock, before the version is bumped.
    history: Mutex<VecDeque<(u64, Option<Arc<ChangedKeys>>)>>,
    notify: Mutex<Vec<Notify>>,
    stop: AtomicBool,
}

impl std::fmt::Debug for LiveDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveDb")
            .field("dir", &self.dir)
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LiveDb {
    /// Opens the generation `CURRENT` names in `dir`.
    pub fn open(dir: &Path) -> Result<Arc<LiveDb>, mkdb::generation::DbError> {
        let g = Generation::open(dir)?;
        Ok(Arc::new(LiveDb {
            dir: dir.to_path_buf(),
            current: Mutex::new(Arc::new(g)),
            version: AtomicU64::new(1),
            history: Mutex::new(VecDeque::new()),
            notify: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        }))
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version of the current generation: changes on every switch.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current generation and its version.
    pub fn current(&self) -> (Arc<Generation>, u64) {
        let g = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        // Read under the lock: the version always matches the generation returned.
        (Arc::clone(&g), self.version.load(Ordering::Acquire))
    }

    /// Registers a callback run after every switch (workers register their waker).
    pub fn on_switch(&self, f: Notify) {
        self.notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
    }

    /// What the switches from version `from` to version `to` changed, one set per switch in
    /// order; `None` when that is not known (a switch that was not a small change, or one
    /// too old to be remembered): forget everything read from version `from`.
    pub fn changes(&self, from: u64, to: u64) -> Option<Vec<Arc<ChangedKeys>>> {
        if to < from || to - from > HISTORY as u64 {
            return None;
        }
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        (from + 1..=to)
            .map(|v| {
                history
                    .iter()
                    .find(|(at, _)| *at == v)
                    .and_then(|(_, set)| set.clone())
            })
            .collect()
    }

    /// Makes `g` current and wakes every registered worker. What changed since the
    /// generation served ([`mkdb::diff::between`]) is worked out here, on the caller's
    /// thread (the watcher's), before the switch.
    pub fn switch(&self, g: Generation) {
        let before = self.current().0;
        let diff = mkdb::diff::between(&before, &g);
        {
            let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            // Only a diff from the generation actually replaced means anything.
            let changed = match diff {
                Diff::Changed(set) if Arc::ptr_eq(&cur, &before) => Some(Arc::new(set)),
                _ => None,
            };
            *cur = Arc::new(g);
            let version = self.version.load(Ordering::Acquire) + 1;
            {
                let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
                history.push_back((version, changed));
                while history.len() > HISTORY {
                    history.pop_front();
                }
            }
            self.version.store(version, Ordering::Release);
        }
        for f in self
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f();
        }
    }

    /// Checks `CURRENT` once; opens and switches to a newer generation. Returns the number
    /// of the generation switched to, if any.
    pub fn check(&self) -> Result<Option<u64>, mkdb::generation::DbError> {
        let serving = self.current().0;
        let n = current_number(&self.dir)?;
        if n == serving.number {
            return Ok(None);
        }
        let g = Generation::open_reusing(&self.dir, Some(&serving))?;
        let number = g.number;
        drop(serving);
        self.switch(g);
        Ok(Some(number))
    }

    /// Starts the thread that follows `CURRENT` every `interval` until [`LiveDb::stop`].
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> thread::JoinHandle<()> {
        let live = Arc::clone(self);
        thread::Builder::new()
            .name("whoisd-watch".into())
            .spawn(move || {
                let mut failing: Option<String> = None;
                while !live.stop.load(Ordering::Acquire) {
                    thread::park_timeout(interval);
                    if live.stop.load(Ordering::Acquire) {
                        break;
                    }
                    match live.check() {
                        Ok(Some(n)) => {
                            crate::log(&format!("serving generation {n}"));
                            failing = None;
                        }
                        Ok(None) => failing = None,
                        Err(e) => {
                            let msg = e.to_string();
                            if failing.as_deref() != Some(msg.as_str()) {
                                crate::log(&format!(
                                    "cannot switch generation (still serving the previous one): {msg}"
                                ));
                                failing = Some(msg);
                            }
                        }
                    }
                }
            })
            .expect("spawn the generation watcher thread")
    }

    /// Asks the watcher to stop (it ends within one interval; unpark it to end at once).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkdb::compile::{CompileOptions, compile};

    #[test]
    fn check_switches_to_a_new_generation_and_notifies() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let db = tmp.path().join("db");
        mkdb::synth::generate(
            &src,
            &mkdb::synth::GenOptions {
                domains: 50,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        compile(&src, &db, &CompileOptions::default(), &|_, _| {}).unwrap();
        let live = LiveDb::open(&db).unwrap();
        let (g1, v1) = live.current();
        assert_eq!(live.check().unwrap(), None);
        let woke = Arc::new(AtomicU64::new(0));
        let w = Arc::clone(&woke);
        live.on_switch(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        compile(&src, &db, &CompileOptions::default(), &|_, _| {}).unwrap();
        let n = live.check().unwrap().expect("switched");
        assert_eq!(n, g1.number + 1);
        let (g2, v2) = live.current();
        assert_ne!(v1, v2);
        assert_eq!(g2.number, n);
        assert_eq!(woke.load(Ordering::SeqCst), 1);
        // The old generation stays usable by whoever still holds it.
        let mut out = Vec::new();
        let opts = mkdb::render::AnswerOptions {
            limit: 1,
            banner: false,
        };
        mkdb::render::render_answer(&g1, "test.coop", opts, &mut out).unwrap();
        assert!(String::from_utf8_lossy(&out).contains("Domain Name: test.coop"));
    }
}
