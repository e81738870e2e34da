//! Change files: how changes travel from their writers (eppd, `mkdb edit`, `loader import`,
//! whoisd's `-register`) to the loader, which applies them in sequence order.
//!
//! A change file is MKDB text, readable and greppable like any data file. Its first record
//! is a header; every further record is one change: a `Change:` line naming the action, the
//! class and the primary key, an optional `Base-Version:` (the [`Version`] of the record the
//! writer saw, for compare-and-swap), then, for `put`, the whole new record:
//!
//! ```text
//! # MKDB change file: applied by the loader in sequence order. Do not edit.
//! Change-File: 42
//! Origin: eppd
//! Time: 2026-11-23T06:00:00Z
//! ---
//! Change: put domain example.coop
//! Base-Version: 5d88fa0d0d36cd98
//! Domain-Name: example.coop
//! Sponsoring-Registrar: REG-42
//! ---
//! Change: delete domain old.coop
//! Base-Version: 0f3b6d0e9a1c2b47
//! ---
//! ```
//!
//! A record's version is the xxh3 of its canonical text (`Tag: value` lines as written, in
//! order, LF-terminated; comments and blank lines ignored), so it needs no stored counter:
//! any writer can compute the version of what it read, and a racing writer's change is
//! detected because the record no longer has the version its change was based on.
//!
//! The spool ([`Spool`]) is a directory of files named by their zero-padded sequence number
//! (`00000000000000000042.chg`). [`Spool::append`] makes a file durable before it returns
//! (written to a temporary name, fsync'd, renamed, directory fsync'd), so a writer may
//! acknowledge the change once `append` returns, and a reader never sees half a file.
//! Sequence numbers have no gaps; the loader remembers the last one it published.
//!
//! One process assigns the numbers at a time: the holder of `SPOOL/WRITER.LOCK` (flock).
//! eppd holds it while it runs and names its admin socket in `SPOOL/WRITER`; operator
//! tools write through [`Spool::submit`], which appends under the lock when it is free
//! and otherwise hands the file to eppd, which checks it, applies it to its own state and
//! writes it under its next number (so eppd never collides with an operator's number,
//! and never works on records an operator changed behind its back).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::record::{self, RawRecord, SyntaxError};

/// What a change does to the record with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create the record, or replace it whole.
    Put,
    /// Remove the record.
    Delete,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Put => "put",
            Action::Delete => "delete",
        }
    }
}

/// A record's version: the xxh3 of its canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u64);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Version, String> {
        if s.len() != 16 {
            return Err(format!("a version is 16 hex digits, found {s:?}"));
        }
        u64::from_str_radix(s, 16)
            .map(Version)
            .map_err(|_| format!("a version is 16 hex digits, found {s:?}"))
    }
}

/// The canonical text of a record: its fields as `Tag: value` lines, LF-terminated.
pub fn canonical(rec: &RawRecord<'_>) -> String {
    let mut s = String::with_capacity(rec.end.saturating_sub(rec.start));
    for f in &rec.fields {
        let _ = writeln!(s, "{}: {}", f.tag, f.value);
    }
    s
}

/// The version of a record's canonical text.
pub fn version_of(canonical_text: &str) -> Version {
    Version(xxhash_rust::xxh3::xxh3_64(canonical_text.as_bytes()))
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Put or delete.
    pub action: Action,
    /// The class name, as in the schema (`domain`, `contact`, ...).
    pub class: String,
    /// The primary key of the record changed.
    pub key: String,
    /// The version the writer based the change on; `None` for a record it believes new.
    pub base: Option<Version>,
    /// For a put, the new record's canonical text (`Tag: value` lines); empty for a delete.
    pub record: String,
}

/// A whole change file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFile {
    /// Its place in the sequence.
    pub sequence: u64,
    /// Who wrote it: `eppd`, `mkdb edit`, `loader import`, `whoisd`.
    pub origin: String,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// The changes, applied in order.
    pub changes: Vec<Change>,
}

/// A change file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ChangeError {
    /// The file.
    pub file: String,
    /// 1-based line (0: the file as a whole).
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

impl ChangeFile {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str("# MKDB change file: applied by the loader in sequence order. Do not edit.\n");
        let _ = writeln!(s, "Change-File: {}", self.sequence);
        let _ = writeln!(s, "Origin: {}", self.origin);
        let _ = writeln!(s, "Time: {}", self.time);
        s.push_str("---\n");
        for c in &self.changes {
            let _ = writeln!(s, "Change: {} {} {}", c.action.word(), c.class, c.key);
            if let Some(v) = c.base {
                let _ = writeln!(s, "Base-Version: {v}");
            }
            s.push_str(&c.record);
            s.push_str("---\n");
        }
        s
    }

    /// Reads a change file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ChangeFile, ChangeError> {
        let err = |line: u32, problem: String| ChangeError {
            file: file.to_owned(),
            line,
            problem,
        };
        let mut header: Option<(u64, String, String)> = None;
        let mut changes = Vec::new();
        let res = record::for_each_record(text, |rec| -> Result<(), ChangeError> {
            if header.is_none() {
                let get = |tag: &str| {
                    rec.fields
                        .iter()
                        .find(|f| f.tag.eq_ignore_ascii_case(tag))
                        .map(|f| f.value)
                };
                let seq = get("Change-File")
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| {
                        err(
                            rec.first_line,
                            "the header needs `Change-File: <sequence number>`".into(),
                        )
                    })?;
                header = Some((
                    seq,
                    get("Origin").unwrap_or("").to_owned(),
                    get("Time").unwrap_or("").to_owned(),
                ));
                return Ok(());
            }
            let Some((first, rest)) = rec.fields.split_first() else {
                return Ok(());
            };
            if !first.tag.eq_ignore_ascii_case("Change") {
                return Err(err(
                    first.line,
                    format!(
                        "a change starts with `Change: put|delete CLASS KEY`, not {:?}",
                        first.tag
                    ),
                ));
            }
            let mut words = first.value.split_whitespace();
            let (Some(action), Some(class), Some(key), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(err(
                    first.line,
                    format!("`Change: put|delete CLASS KEY`, not {:?}", first.value),
                ));
            };
            let action = match action.to_ascii_lowercase().as_str() {
                "put" => Action::Put,
                "delete" => Action::Delete,
                _ => {
                    return Err(err(
                        first.line,
                        format!("unknown action {action:?} (put or delete)"),
                    ));
                }
            };
            let (base, fields) = match rest.split_first() {
                Some((b, more)) if b.tag.eq_ignore_ascii_case("Base-Version") => {
                    let v = b.value.parse::<Version>().map_err(|e| err(b.line, e))?;
                    (Some(v), more)
                }
                _ => (None, rest),
            };
            if action == Action::Delete && !fields.is_empty() {
                return Err(err(
                    fields[0].line,
                    "a delete carries no record fields".into(),
                ));
            }
            if action == Action::Put && fields.is_empty() {
                return Err(err(first.line, "a put carries the whole new record".into()));
            }
            let mut record = String::new();
            for f in fields {
                let _ = writeln!(record, "{}: {}", f.tag, f.value);
            }
            changes.push(Change {
                action,
                class: class.to_owned(),
                key: key.to_owned(),
                base,
                record,
            });
            Ok(())
        });
        res.map_err(|mut e: ChangeError| {
            if e.file.is_empty() {
                e.file = file.to_owned();
            }
            e
        })?;
        let Some((sequence, origin, time)) = header else {
            return Err(err(0, "empty change file (no header)".into()));
        };
        Ok(ChangeFile {
            sequence,
            origin,
            time,
            changes,
        })
    }
}

impl From<SyntaxError> for ChangeError {
    fn from(e: SyntaxError) -> ChangeError {
        ChangeError {
            file: String::new(),
            line: e.line,
            problem: e.problem,
        }
    }
}

/// The writer lock's file name in the spool.
pub const WRITER_LOCK: &str = "WRITER.LOCK";
/// The file naming the lock holder's admin socket.
pub const WRITER_FILE: &str = "WRITER";
/// How long [`Spool::submit`] waits for a lock holder that does not answer.
pub const SUBMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest change file the admin protocol carries (`submit LEN`).
pub const MAX_SUBMIT: usize = 16 << 20;

/// Where a submitted change file went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The sequence number it was given.
    pub sequence: u64,
    /// The admin socket of the writer (eppd) that took it; `None`: appended directly.
    pub via: Option<PathBuf>,
}

/// The writer (eppd) refused a submitted change file; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by eppd ({code}): {text}")]
pub struct Refused {
    /// The result code (an EPP code, 2xxx, or 500 for a protocol problem).
    pub code: u32,
    /// Why (compare-and-swap conflicts name the keys).
    pub text: String,
}

enum SocketError {
    /// Nobody answers on the socket (a stale `SPOOL/WRITER`): retry.
    Unreachable(std::io::Error),
    /// The writer answered, or failed after taking the file: final.
    Io(std::io::Error),
}

/// Sends `file` with the admin protocol (`submit LEN`, the text, one answer line).
fn submit_to_socket(socket: &Path, file: &ChangeFile) -> Result<u64, SocketError> {
    use std::io::{BufRead, Read};
    let mut stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(SocketError::Unreachable)?;
    let io = SocketError::Io;
    let text = file.to_text();
    // eppd answers once the change is durable: a slow disk, a long queue.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .map_err(io)?;
    let mut msg = format!("submit {}\n", text.len()).into_bytes();
    msg.extend_from_slice(text.as_bytes());
    stream.write_all(&msg).map_err(SocketError::Io)?;
    let mut answer = String::new();
    std::io::BufReader::new(stream.take(64 * 1024))
        .read_line(&mut answer)
        .map_err(SocketError::Io)?;
    let answer = answer.trim_end();
    let mut words = answer.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("ok"), Some(n), _) => n.parse().map_err(|_| {
            SocketError::Io(std::io::Error::other(format!(
                "{}: unexpected answer {answer:?}",
                socket.display()
            )))
        }),
        (Some("error"), Some(code), text) => Err(SocketError::Io(std::io::Error::other(Refused {
            code: code.parse().unwrap_or(500),
            text: text.unwrap_or("").to_string(),
        }))),
        _ => Err(SocketError::Io(std::io::Error::other(format!(
            "{}: the writer answered {answer:?}",
            socket.display()
        )))),
    }
}

/// A directory of change files.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// File name of sequence `n`.
fn file_name(n: u64) -> String {
    format!("{n:020}.chg")
}

impl Spool {
    /// The spool in `dir` (created if missing).
    pub fn open(dir: &Path) -> std::io::Result<Spool> {
        fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence numbers present, in order.
    pub fn sequences(&self) -> std::io::Result<Vec<u64>> {
        let mut v: Vec<u64> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                let n = name.strip_suffix(".chg")?;
                (n.len() == 20).then(|| n.parse().ok()).flatten()
            })
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// The highest sequence number written (0 when empty).
    pub fn last(&self) -> std::io::Result<u64> {
        Ok(self.sequences()?.last().copied().unwrap_or(0))
    }

    /// Makes `file` durable under its sequence number: temporary file, fsync, then a hard
    /// link to the final name (which fails if the number is taken: claiming a number is
    /// atomic even with several writers), directory fsync. Errors with
    /// [`std::io::ErrorKind::AlreadyExists`] when the number is taken.
    pub fn append(&self, file: &ChangeFile) -> std::io::Result<PathBuf> {
        let path = self.dir.join(file_name(file.sequence));
        let tmp = self.dir.join(format!(
            ".{}.{}.tmp",
            file_name(file.sequence),
            std::process::id()
        ));
        let written = fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(file.to_text().as_bytes())?;
            f.sync_all()
        });
        if let Err(e) = written {
            // A full disk leaves no partial temporary file behind.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        linked.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "{}: change {} exists already",
                        path.display(),
                        file.sequence
                    ),
                )
            } else {
                e
            }
        })?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// Appends `file` under the next free sequence number (its `sequence` is set), retrying
    /// when another writer takes a number first. Returns the number.
    pub fn append_next(&self, file: &mut ChangeFile) -> std::io::Result<u64> {
        loop {
            file.sequence = self.last()? + 1;
            match self.append(file) {
                Ok(_) => return Ok(file.sequence),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes several files durable with one directory fsync (group commit): each is
    /// written to a temporary name and fsync'd, then all are renamed in order and the
    /// directory is fsync'd once. Refuses existing sequence numbers before writing any.
    /// After a crash a prefix of the batch may be present, never half a file.
    pub fn append_batch(&self, files: &[&ChangeFile]) -> std::io::Result<()> {
        if let [one] = files {
            return self.append(one).map(|_| ());
        }
        let mut staged = Vec::with_capacity(files.len());
        for file in files {
            let path = self.dir.join(file_name(file.sequence));
            let tmp = self.dir.join(format!(
                ".{}.{}.tmp",
                file_name(file.sequence),
                std::process::id()
            ));
            let mut f = fs::File::create(&tmp)?;
            f.write_all(file.to_text().as_bytes())?;
            f.sync_all()?;
            staged.push((tmp, path));
        }
        // Claim each number with a hard link, as `append` does: a number another writer
        // took is an error, never an overwrite.
        let mut result = Ok(());
        for (tmp, path) in &staged {
            if result.is_ok() {
                result = fs::hard_link(tmp, path);
            }
            let _ = fs::remove_file(tmp);
        }
        result?;
        if !staged.is_empty() {
            fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The writer lock (`SPOOL/WRITER.LOCK`): held (flock) by the process that assigns
    /// sequence numbers. eppd holds it for its whole life; operator tools (`mkdb edit`,
    /// `loader import`) hold it for one append when no eppd runs ([`Spool::submit`]).
    pub fn writer_lock_path(&self) -> PathBuf {
        self.dir.join(WRITER_LOCK)
    }

    /// The file naming the admin socket of the process that holds the writer lock
    /// (`SPOOL/WRITER`, written by eppd).
    pub fn writer_path(&self) -> PathBuf {
        self.dir.join(WRITER_FILE)
    }

    /// Takes the writer lock without waiting: `Ok(Some(file))` (the lock lasts as long as
    /// the file is open), `Ok(None)` when another process (or another handle) holds it.
    pub fn try_lock_writer(&self) -> std::io::Result<Option<fs::File>> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.writer_lock_path())?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The admin socket named in `SPOOL/WRITER` (`None`: no such file, or empty).
    pub fn writer_socket(&self) -> Option<PathBuf> {
        let text = fs::read_to_string(self.writer_path()).ok()?;
        let line = text.lines().next()?.trim();
        (!line.is_empty()).then(|| PathBuf::from(line))
    }

    /// Submits a change file the way operator tools must while eppd may be running: when
    /// the writer lock is free, takes it and appends under the next number
    /// ([`Spool::append_next`]); when a process holds it (eppd, the one sequencer while it
    /// runs), sends the file to that process's admin socket (named in `SPOOL/WRITER`),
    /// which checks it (compare-and-swap on every `Base-Version`, as the loader does),
    /// applies it and makes it durable under its own next number. `file.sequence` is set
    /// to the number assigned. A refusal is an error whose inner error is [`Refused`].
    /// Waits up to [`SUBMIT_WAIT`] while the lock is held by a process that does not
    /// answer (another operator tool appending, eppd still loading).
    pub fn submit(&self, file: &mut ChangeFile) -> std::io::Result<Submitted> {
        self.submit_within(file, SUBMIT_WAIT)
    }

    /// [`Spool::submit`] with its own bound on the wait.
    pub fn submit_within(
        &self,
        file: &mut ChangeFile,
        wait: std::time::Duration,
    ) -> std::io::Result<Submitted> {
        let deadline = std::time::Instant::now() + wait;
        let mut last_problem;
        loop {
            if let Some(lock) = self.try_lock_writer()? {
                let n = self.append_next(file);
                drop(lock);
                return n.map(|sequence| Submitted {
                    sequence,
                    via: None,
                });
            }
            if let Some(socket) = self.writer_socket() {
                match submit_to_socket(&socket, file) {
                    Ok(n) => {
                        file.sequence = n;
                        return Ok(Submitted {
                            sequence: n,
                            via: Some(socket),
                        });
                    }
                    Err(SocketError::Unreachable(e)) => {
                        last_problem = format!("{}: {e}", socket.display());
                    }
                    Err(SocketError::Io(e)) => return Err(e),
                }
            } else {
                last_problem = format!("{} names no writer", self.writer_path().display());
            }
            if std::time::Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "{} is held by another process that does not take changes ({last_problem}); \
                         is eppd starting, or stuck?",
                        self.writer_lock_path().display()
                    ),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Reads change `n`.
    pub fn read(&self, n: u64) -> Result<ChangeFile, ChangeError> {
        let path = self.dir.join(file_name(n));
        let name = path.display().to_string();
        let text = fs::read_to_string(&path).map_err(|e| ChangeError {
            file: name.clone(),
            line: 0,
            problem: format!("cannot read: {e}"),
        })?;
        let file = ChangeFile::parse(&text, &name)?;
        if file.sequence != n {
            return Err(ChangeError {
                file: name,
                line: 0,
                problem: format!("holds change {} under the name of {n}", file.sequence),
            });
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChangeFile {
        ChangeFile {
            sequence: 42,
            origin: "eppd".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes: vec![
                Change {
                    action: Action::Put,
                    class: "domain".into(),
                    key: "example.coop".into(),
                    base: Some(Version(0x5d88_fa0d_0d36_cd98)),
                    record: "Domain-Name: example.coop\nSponsoring-Registrar: REG-42\n".into(),
                },
                Change {
                    action: Action::Delete,
                    class: "domain".into(),
                    key: "old.coop".into(),
                    base: None,
                    record: String::new(),
                },
            ],
        }
    }

    #[test]
    fn text_round_trips() {
        let f = sample();
        let text = f.to_text();
        assert!(text.contains("Change: put domain example.coop\nBase-Version: 5d88fa0d0d36cd98\n"));
        assert_eq!(ChangeFile::parse(&text, "x").unwrap(), f);
        // CRLF and comments, as a text editor might leave them, read the same.
        let crlf = text.replace('\n', "\r\n").replace("---", "# note\r\n---");
        assert_eq!(ChangeFile::parse(&crlf, "x").unwrap(), f);
    }

    #[test]
    fn versions_ignore_layout_but_not_content() {
        let a = "Domain-Name: example.coop\nStatus: ok\n";
        let mut recs = Vec::new();
        record::for_each_record("Domain-Name:   example.coop\r\n# c\nStatus: ok\n", |r| {
            recs.push(canonical(r));
            Ok::<_, SyntaxError>(())
        })
        .unwrap();
        assert_eq!(recs[0], a);
        assert_eq!(version_of(&recs[0]), version_of(a));
        assert_ne!(
            version_of(a),
            version_of("Domain-Name: example.coop\nStatus: hold\n")
        );
        let v = version_of(a);
        assert_eq!(v.to_string().parse::<Version>().unwrap(), v);
        assert!("xyz".parse::<Version>().is_err());
    }

    #[test]
    fn malformed_change_files_name_the_line() {
        for (text, line) in [
            ("Origin: x\n---\n", 1),
            ("Change-File: 1\n---\nDomain-Name: x\n---\n", 3),
            ("Change-File: 1\n---\nChange: frobnicate domain x\n---\n", 3),
            ("Change-File: 1\n---\nChange: put domain\n---\n", 3),
            ("Change-File: 1\n---\nChange: put domain x\n---\n", 3),
            (
                "Change-File: 1\n---\nChange: delete domain x\nStatus: ok\n---\n",
                4,
            ),
            (
                "Change-File: 1\n---\nChange: delete domain x\nBase-Version: 12\n---\n",
                4,
            ),
            ("Change-File: 1\n---\nno colon\n", 3),
        ] {
            let e = ChangeFile::parse(text, "f.chg").unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
        assert_eq!(ChangeFile::parse("", "f").unwrap_err().line, 0);
    }

    #[test]
    fn spool_appends_durably_in_order_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        assert_eq!(spool.last().unwrap(), 0);
        let mut f = sample();
        for n in [1, 2, 10] {
            f.sequence = n;
            spool.append(&f).unwrap();
        }
        assert_eq!(spool.sequences().unwrap(), vec![1, 2, 10]);
        assert_eq!(spool.last().unwrap(), 10);
        assert_eq!(spool.read(2).unwrap().sequence, 2);
        assert_eq!(
            spool.append(&f).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists,
            "sequence 10 overwritten"
        );
        assert_eq!(spool.append_next(&mut f).unwrap(), 11);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(spool.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4);
        // A batch: all or an error at the first number taken, never an overwrite.
        let (mut a, mut b) = (sample(), sample());
        a.sequence = 12;
        b.sequence = 13;
        spool.append_batch(&[&a, &b]).unwrap();
        assert_eq!(spool.last().unwrap(), 13);
        let err = spool.append_batch(&[&a, &b]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        // A file under the wrong name is refused.
        fs::copy(
            spool.dir().join(file_name(1)),
            spool.dir().join(file_name(7)),
        )
        .unwrap();
        assert!(
            spool
                .read(7)
                .unwrap_err()
                .problem
                .contains("under the name of 7")
        );
    }

    #[test]
    fn submit_appends_under_the_lock_when_no_writer_runs() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        let mut f = sample();
        let s = spool.submit(&mut f).unwrap();
        assert_eq!(
            s,
            Submitted {
                sequence: 1,
                via: None
            }
        );
        assert_eq!(spool.read(1).unwrap().origin, "eppd");
        // The lock was released: it can be taken again.
        assert!(spool.try_lock_writer().unwrap().is_some());
        // A stale WRITER file (its eppd is gone, the lock is free): appended directly.
        fs::write(spool.writer_path(), "/nonexistent/eppd.admin\n").unwrap();
        assert_eq!(spool.submit(&mut f).unwrap().sequence, 2);
        assert_eq!(spool.sequences().unwrap(), vec![1, 2]);
    }

    /// A stand-in for eppd's admin socket: answers each `submit` with `answer`, returns
    /// the texts received.
    fn fake_writer(path: &Path, answer: &'static str) -> std::thread::JoinHandle<Vec<String>> {
        use std::io::{BufRead, Read};
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut r = std::io::BufReader::new(stream);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let len: usize = line
                .trim()
                .strip_prefix("submit ")
                .unwrap()
                .parse()
                .unwrap();
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            out.write_all(answer.as_bytes()).unwrap();
            vec![String::from_utf8(body).unwrap()]
        })
    }

    #[test]
    fn submit_goes_through_the_writer_that_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        let held = spool.try_lock_writer().unwrap().expect("free");
        // Held by another handle: not free, even in this process.
        assert!(spool.try_lock_writer().unwrap().is_none());
        let socket = dir.path().join("eppd.admin");
        fs::write(spool.writer_path(), format!("{}\n", socket.display())).unwrap();
        let server = fake_writer(&socket, "ok 17\n");
        let mut f = sample();
        let s = spool.submit(&mut f).unwrap();
        assert_eq!(s.sequence, 17);
        assert_eq!(s.via.as_deref(), Some(socket.as_path()));
        assert_eq!(f.sequence, 17);
        let got = server.join().unwrap();
        assert_eq!(ChangeFile::parse(&got[0], "x").unwrap().changes, f.changes);
        assert!(
            spool.sequences().unwrap().is_empty(),
            "nothing appended directly"
        );

        // A refusal carries the writer's text.
        let socket2 = dir.path().join("eppd2.admin");
        fs::write(spool.writer_path(), format!("{}\n", socket2.display())).unwrap();
        let server = fake_writer(
            &socket2,
            "error 2302 conflict: domain example.coop changed\n",
        );
        let e = spool.submit(&mut f).unwrap_err();
        server.join().unwrap();
        let refused = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<Refused>())
            .expect("a Refused");
        assert_eq!(refused.code, 2302);
        assert!(refused.text.contains("example.coop"), "{e}");

        // Held, and nobody answers: a bounded wait, then a clear error.
        fs::remove_file(spool.writer_path()).unwrap();
        let e = spool
            .submit_within(&mut f, std::time::Duration::from_millis(120))
            .unwrap_err();
        assert!(e.to_string().contains("WRITER.LOCK"), "{e}");
        drop(held);
        assert_eq!(spool.submit(&mut f).unwrap().sequence, 1);
    }
}
