//! What the loader does when the disk fails it: a full file system, a quota, a directory
//! it may not write, a read-only mount, an I/O error.
//!
//! [`explain`] turns such an error into one line for operators: what failed, where, and
//! what to do ("free space on the file system holding DIR", "make DIR writable by uid N").
//! [`Retry`] is the bounded backoff of `loader watch` and decides what of a failure
//! episode is logged: the failure once, a reminder every so often while it lasts (not a
//! line per retry), a new line when the failure changes, and `recovered after ...` when
//! it is over.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mkdb::compact::CompactError;
use mkdb::generation::DbError;
use mkdb::segment::SegmentError;

/// What kind of trouble an I/O error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// ENOSPC or EDQUOT: the file system (or the quota) is full.
    NoSpace,
    /// EACCES or EPERM: the loader's user may not write (or read) there.
    NotWritable,
    /// EROFS: the file system is mounted read-only.
    ReadOnly,
    /// EIO: the device failed.
    DeviceError,
    /// Anything else.
    Other,
}

/// Linux's EIO (no `std::io::ErrorKind` names it).
const EIO: i32 = 5;

impl Cause {
    /// The cause of `e`.
    pub fn of(e: &std::io::Error) -> Cause {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::StorageFull | K::QuotaExceeded => Cause::NoSpace,
            K::PermissionDenied => Cause::NotWritable,
            K::ReadOnlyFilesystem => Cause::ReadOnly,
            _ if e.raw_os_error() == Some(EIO) => Cause::DeviceError,
            _ => Cause::Other,
        }
    }
}

/// The I/O error inside a database error, with its path.
pub fn io_error(e: &DbError) -> Option<(&Path, &std::io::Error)> {
    match e {
        DbError::Io { path, source } | DbError::Segment(SegmentError::Io { path, source }) => {
            Some((path.as_path(), source))
        }
        _ => None,
    }
}

/// The I/O error inside a compaction error.
pub fn compact_io_error(e: &CompactError) -> Option<(&Path, &std::io::Error)> {
    match e {
        CompactError::Db(e) => io_error(e),
        _ => None,
    }
}

/// The directory to name for `path`: the nearest one that exists (a file being created,
/// or a staging directory, is named by where it was being made), preferring one of
/// `roots` (the database, the spool, the source tree) that holds it when the advice is
/// about the whole file system.
fn place(path: &Path, roots: &[&Path], whole_fs: bool) -> PathBuf {
    if whole_fs && let Some(r) = roots.iter().find(|r| path.starts_with(r)) {
        return r.to_path_buf();
    }
    let mut p = path;
    if !p.is_dir() {
        p = p.parent().unwrap_or(p);
    }
    while !p.exists() {
        match p.parent() {
            Some(up) => p = up,
            None => break,
        }
    }
    p.to_path_buf()
}

/// The user id the process runs as (for "writable by uid N"), from `/proc/self/status`.
fn uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2).map(str::to_owned)
}

/// What the operator should do about `e` at `path`; `None` for causes without advice.
pub fn advice(path: &Path, e: &std::io::Error, roots: &[&Path]) -> Option<String> {
    let cause = Cause::of(e);
    let whole_fs = matches!(cause, Cause::NoSpace | Cause::ReadOnly | Cause::DeviceError);
    let at = place(path, roots, whole_fs);
    let at = at.display();
    Some(match cause {
        Cause::NoSpace => {
            format!("free space on the file system holding {at} (or raise the disk quota)")
        }
        Cause::NotWritable => format!(
            "make {at} writable (and what is in it readable) by the loader's user{}",
            uid().map_or(String::new(), |u| format!(" (uid {u})"))
        ),
        Cause::ReadOnly => format!("remount the file system holding {at} read-write"),
        Cause::DeviceError => {
            format!("check the device holding {at}: it reported an I/O error (see the kernel log)")
        }
        Cause::Other => return None,
    })
}

/// `what failed: the error. Advice.` for a database error.
pub fn explain(what: &str, e: &DbError, roots: &[&Path]) -> String {
    explain_io(what, &e.to_string(), io_error(e), roots)
}

/// [`explain`] for a compaction error.
pub fn explain_compact(what: &str, e: &CompactError, roots: &[&Path]) -> String {
    explain_io(what, &e.to_string(), compact_io_error(e), roots)
}

fn explain_io(
    what: &str,
    error: &str,
    io: Option<(&Path, &std::io::Error)>,
    roots: &[&Path],
) -> String {
    match io.and_then(|(p, e)| advice(p, e, roots)) {
        Some(a) => format!("{what}: {error}; {a}"),
        None => format!("{what}: {error}"),
    }
}

/// A key that stays the same while the same failure repeats (the paths and numbers in
/// the message may change from one retry to the next: a growing batch, say).
pub fn failure_key(e: &DbError) -> String {
    match io_error(e) {
        Some((_, io)) => format!("{:?}/{:?}", Cause::of(io), io.kind()),
        None => e.to_string().replace(|c: char| c.is_ascii_digit(), ""),
    }
}

/// [`failure_key`] for a compaction error.
pub fn compact_failure_key(e: &CompactError) -> String {
    match e {
        CompactError::Db(e) => failure_key(e),
        other => other.to_string(),
    }
}

/// The retry schedule and the log policy of one kind of work (publishing, compacting,
/// writing the source tree back) while it fails.
#[derive(Debug, Clone)]
pub struct Retry {
    /// First wait after a failure.
    pub first: Duration,
    /// Longest wait (the wait doubles up to it).
    pub max: Duration,
    /// While the same failure lasts, it is logged again this often.
    pub remind: Duration,
    episode: Option<Episode>,
}

#[derive(Debug, Clone)]
struct Episode {
    since: Instant,
    failures: u64,
    delay: Duration,
    key: String,
    logged: Instant,
    next: Instant,
}

/// What to do after a failure: the line to log (if any) and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The line to log; `None` while the same failure repeats between two reminders.
    pub log: Option<String>,
    /// How long to wait before retrying.
    pub wait: Duration,
}

impl Retry {
    /// A schedule waiting `first`, doubling up to `max`, reminding every `remind`.
    pub fn new(first: Duration, max: Duration, remind: Duration) -> Retry {
        Retry {
            first: first.min(max),
            max,
            remind,
            episode: None,
        }
    }

    /// Is the work failing (an episode not yet over)?
    pub fn failing(&self) -> bool {
        self.episode.is_some()
    }

    /// May the work be tried at `now` (not failing, or its wait is over)?
    pub fn due(&self, now: Instant) -> bool {
        self.episode.as_ref().is_none_or(|e| now >= e.next)
    }

    /// The work failed at `now` with `message`; `key` tells one failure from another
    /// (see [`failure_key`]).
    pub fn failed(&mut self, now: Instant, key: &str, message: &str) -> Failed {
        match &mut self.episode {
            None => {
                self.episode = Some(Episode {
                    since: now,
                    failures: 1,
                    delay: self.first,
                    key: key.to_owned(),
                    logged: now,
                    next: now + self.first,
                });
                Failed {
                    log: Some(message.to_owned()),
                    wait: self.first,
                }
            }
            Some(e) => {
                e.failures += 1;
                e.delay = (e.delay * 2).min(self.max);
                e.next = now + e.delay;
                let log = if e.key != key {
                    e.key = key.to_owned();
                    e.logged = now;
                    Some(message.to_owned())
                } else if now.duration_since(e.logged) >= self.remind {
                    e.logged = now;
                    Some(format!(
                        "still failing after {} ({} attempts): {message}",
                        human(now.duration_since(e.since)),
                        e.failures
                    ))
                } else {
                    None
                };
                Failed { log, wait: e.delay }
            }
        }
    }

    /// The work succeeded at `now`: ends a failure episode, returning the line to log
    /// (`recovered after ...`).
    pub fn succeeded(&mut self, now: Instant) -> Option<String> {
        let e = self.episode.take()?;
        Some(format!(
            "recovered after {} ({} failed attempt{})",
            human(now.duration_since(e.since)),
            e.failures,
            if e.failures == 1 { "" } else { "s" }
        ))
    }
}

/// A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> std::io::Error {
        std::io::Error::from_raw_os_error(code)
    }

    #[test]
    fn causes_of_the_errnos_that_matter() {
        // Linux numbers: ENOSPC 28, EDQUOT 122, EACCES 13, EPERM 1, EROFS 30, EIO 5.
        assert_eq!(Cause::of(&os(28)), Cause::NoSpace);
        assert_eq!(Cause::of(&os(122)), Cause::NoSpace);
        assert_eq!(Cause::of(&os(13)), Cause::NotWritable);
        assert_eq!(Cause::of(&os(1)), Cause::NotWritable);
        assert_eq!(Cause::of(&os(30)), Cause::ReadOnly);
        assert_eq!(Cause::of(&os(5)), Cause::DeviceError);
        assert_eq!(Cause::of(&os(2)), Cause::Other);
    }

    #[test]
    fn advice_names_the_place_and_the_remedy() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("db");
        std::fs::create_dir_all(db.join("segments")).unwrap();
        // A file that was being written in a staging directory that is gone already.
        let staged = db.join("segments/.staging-g1-delta-domain/index.mkdb");
        let e = DbError::Io {
            path: staged.clone(),
            source: os(28),
        };
        let line = explain("cannot publish changes 3-7", &e, &[&db]);
        assert!(line.starts_with("cannot publish changes 3-7: "), "{line}");
        assert!(line.contains("No space left on device"), "{line}");
        assert!(
            line.contains(&format!(
                "free space on the file system holding {}",
                db.display()
            )),
            "{line}"
        );
        // Permission: the directory the file was to be made in.
        let e = DbError::Io {
            path: db.join(".tmp-1-CURRENT"),
            source: os(13),
        };
        let line = explain("cannot publish", &e, &[&db]);
        assert!(
            line.contains(&format!("make {} writable", db.display())),
            "{line}"
        );
        let e = DbError::Io {
            path: staged,
            source: os(30),
        };
        assert!(explain("x", &e, &[&db]).contains("read-write"));
        // No advice for what it cannot help with.
        let e = DbError::Io {
            path: db.clone(),
            source: os(2),
        };
        assert_eq!(
            explain("x", &e, &[&db]),
            format!("x: {}: {}", db.display(), os(2))
        );
    }

    #[test]
    fn failure_keys_ignore_paths_and_numbers() {
        let a = DbError::Io {
            path: "/db/segments/.staging-g0000000009-delta-domain/data.txt".into(),
            source: os(28),
        };
        let b = DbError::Io {
            path: "/db/generations/.staging-0000000010/MANIFEST".into(),
            source: os(28),
        };
        let c = DbError::Io {
            path: "/db/.tmp-1-CURRENT".into(),
            source: os(13),
        };
        assert_eq!(failure_key(&a), failure_key(&b));
        assert_ne!(failure_key(&a), failure_key(&c));
    }

    #[test]
    fn backoff_doubles_up_to_the_bound_and_logs_once_then_reminds() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Retry::new(ms(100), ms(1000), Duration::from_secs(30));
        assert!(!r.failing() && r.due(t0));
        let f = r.failed(t0, "k", "disk full");
        assert_eq!(f.log.as_deref(), Some("disk full"));
        assert_eq!(f.wait, ms(100));
        assert!(r.failing() && !r.due(t0 + ms(50)) && r.due(t0 + ms(100)));
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            now += r.failed(now, "k", "disk full").wait;
            waits.push(r.episode.as_ref().unwrap().delay);
        }
        assert_eq!(
            waits,
            [ms(200), ms(400), ms(800), ms(1000), ms(1000), ms(1000)]
        );
        // Repeats are quiet until the reminder is due.
        assert_eq!(r.failed(t0 + ms(29_000), "k", "disk full").log, None);
        let reminder = r.failed(t0 + ms(30_000), "k", "disk full").log.unwrap();
        assert!(
            reminder.starts_with("still failing after 30.0 s (9 attempts): disk full"),
            "{reminder}"
        );
        assert_eq!(r.failed(t0 + ms(31_000), "k", "disk full").log, None);
        // A different failure is logged at once.
        assert_eq!(
            r.failed(t0 + ms(31_500), "other", "not writable")
                .log
                .as_deref(),
            Some("not writable")
        );
        let rec = r.succeeded(t0 + ms(32_000)).unwrap();
        assert_eq!(rec, "recovered after 32.0 s (11 failed attempts)");
        assert!(!r.failing() && r.succeeded(t0 + ms(33_000)).is_none());
        r.failed(t0 + ms(34_000), "k", "disk full");
        assert_eq!(
            r.succeeded(t0 + ms(34_500)).unwrap(),
            "recovered after 500 ms (1 failed attempt)"
        );
        // A new episode starts from the first wait again.
        assert_eq!(r.failed(t0 + ms(40_000), "k", "disk full").wait, ms(100));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(4_200)), "4.2 s");
        assert_eq!(human(Duration::from_secs(185)), "3 min 5 s");
    }
}
