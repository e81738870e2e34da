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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use mkdb::Generation;
use mkdb::generation::current_number;

/// Something to call after a switch: a worker's mio waker.
pub type Notify = Box<dyn Fn() + Send + Sync>;

/// The current generation of one database directory, shared by all workers.
pub struct LiveDb {
    dir: PathBuf,
    current: Mutex<Arc<Generation>>,
    version: AtomicU64,
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

    /// Makes `g` current and wakes every registered worker.
    pub fn switch(&self, g: Generation) {
        {
            let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            *cur = Arc::new(g);
            self.version.fetch_add(1, Ordering::AcqRel);
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
