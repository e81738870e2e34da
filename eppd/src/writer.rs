//! Durability: the one writer thread, the journal, and the handles sessions use.
//!
//! - **Change files.** Each transaction that changed records becomes one change file in
//!   the spool (`mkdb::change::Spool`), sequence-numbered, the loader's input.
//! - **Journal** (`eppd.journal` in the state directory): what the record classes cannot
//!   hold, poll messages, acks and transfer records, as tab-separated lines, each tagged
//!   with the sequence number of its transaction's change file (0: none). At start, lines
//!   tagged with a sequence that never became durable are dropped (that transaction was
//!   never acknowledged) and the journal is rewritten, compacted, atomically.
//! - **Write-ahead log** (`eppd.wal.N` beside the journal, N the first sequence number it
//!   holds): the change files of each batch, appended as `SEQ LEN XXH3\n` + the file's
//!   text, made durable with **one** fsync per batch. Writing each change file into the
//!   spool durably costs an fsync per file (and a directory fsync), several milliseconds a
//!   batch on a virtual disk: too slow to wait for, so that happens behind the replies.
//! - **Group commit.** The writer takes every job queued while it was busy (up to
//!   [`MAX_BATCH`]), executes them in order against the [`Core`] (memory first), then
//!   makes the batch durable: journal lines written and fsync'd (when there are any), the
//!   change files appended to the log and fsync'd; only then are the replies released. A
//!   failed write stops the process (memory is ahead of the disk; a restart rebuilds what
//!   was acknowledged).
//! - **Materializer** (a thread): takes the logged batches in order and writes their
//!   change files into the spool: each written whole under a temporary name, then claimed
//!   with a hard link (as [`Spool::append`] does), so the loader only ever sees complete
//!   files, but without an fsync each: the log holds them. A log segment past
//!   [`WAL_SEGMENT_BYTES`] is closed; once every file in it is in the spool, a `syncfs` of
//!   the spool's file system makes them durable (one call per segment, on its own thread)
//!   and the segment is deleted. The writer waits when the materializer is
//!   [`WAL_BACKLOG`] batches behind.
//! - **Foreign change files.** While eppd runs it is the spool's one sequencer (it holds
//!   `SPOOL/WRITER.LOCK`, see [`crate::admin`]): operator tools send their change files
//!   to the admin socket, which queues a [`Job::Foreign`]; the writer checks it with the
//!   loader's compare-and-swap rule ([`Core::apply_foreign`]), applies it to the objects
//!   and commits it under its own next number like any transaction, before `ok N`.
//! - **Restart.** [`open_state`] first writes into the spool every logged change file it
//!   lacks or holds damaged (a torn record at a log's end was never acknowledged and is
//!   dropped), makes the spool durable and deletes the logs, then loads the current
//!   generation, the spool's change files after its `applied` number, then the journal.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mkdb::change::{ChangeFile, Spool, version_of};

use crate::auth::{hash_password, verify_password};
use crate::command::{Command, VerificationState};
use crate::core::{
    Committed, Core, CoreConfig, Event, ForeignApplied, PollMessage, PollPayload, TransferKind,
    TransferRecord,
};
use crate::response::{Reply, Timestamp, TransferStatus};
use crate::result::{EppError, ResultCode};
use crate::session::{Client, LoginCheck, Registrars, Registry};
use crate::store::{Loaded, parse_rfc3339, rfc3339};

/// Most jobs in one group commit.
pub const MAX_BATCH: usize = 512;

/// A write-ahead log segment is closed past this size (and deleted once materialized).
pub const WAL_SEGMENT_BYTES: u64 = 8 << 20;

/// Batches logged but not yet in the spool before the writer waits for the materializer.
pub const WAL_BACKLOG: usize = 256;

// ---------------------------------------------------------------------------------------
// Journal

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unesc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn status_str(s: TransferStatus) -> &'static str {
    s.as_str()
}

fn status_parse(s: &str) -> Option<TransferStatus> {
    use TransferStatus::*;
    [
        ClientApproved,
        ClientCancelled,
        ClientRejected,
        Pending,
        ServerApproved,
        ServerCancelled,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
}

fn transfer_fields(t: &TransferRecord) -> Vec<String> {
    vec![
        match t.kind {
            TransferKind::Domain => "domain".into(),
            TransferKind::Contact => "contact".into(),
        },
        t.name.clone(),
        status_str(t.status).into(),
        t.re_id.clone(),
        rfc3339(t.re_date),
        t.ac_id.clone(),
        rfc3339(t.ac_date),
        t.months.to_string(),
        t.ex_date.map_or("-".into(), rfc3339),
    ]
}

fn parse_transfer(f: &[String]) -> Option<TransferRecord> {
    let [
        kind,
        name,
        status,
        re_id,
        re_date,
        ac_id,
        ac_date,
        months,
        ex,
    ] = f
    else {
        return None;
    };
    Some(TransferRecord {
        kind: match kind.as_str() {
            "domain" => TransferKind::Domain,
            "contact" => TransferKind::Contact,
            _ => return None,
        },
        name: name.clone(),
        status: status_parse(status)?,
        re_id: re_id.clone(),
        re_date: parse_rfc3339(re_date)?,
        ac_id: ac_id.clone(),
        ac_date: parse_rfc3339(ac_date)?,
        months: months.parse().ok()?,
        ex_date: parse_rfc3339(ex),
    })
}

/// One journal line (with its newline) for `e` in the transaction of change file `seq`.
pub fn journal_line(seq: u64, e: &Event) -> String {
    let mut f: Vec<String> = vec![seq.to_string()];
    match e {
        Event::Poll(m) => {
            f.extend([
                "poll".into(),
                m.id.to_string(),
                m.cl_id.clone(),
                rfc3339(m.q_date),
                m.msg.clone(),
            ]);
            match &m.payload {
                PollPayload::None => f.push("none".into()),
                PollPayload::StateChange { id, state } => {
                    f.extend(["state".into(), id.clone(), state.as_str().into()]);
                }
                PollPayload::Transfer(t) => {
                    f.push("transfer".into());
                    f.extend(transfer_fields(t));
                }
            }
        }
        Event::Ack { cl_id, id } => f.extend(["ack".into(), cl_id.clone(), id.to_string()]),
        Event::Transfer(t) => {
            f.push("transfer".into());
            f.extend(transfer_fields(t));
        }
    }
    let mut line = f.iter().map(|x| esc(x)).collect::<Vec<_>>().join("\t");
    line.push('\n');
    line
}

/// Reads a journal line: its sequence tag and event (`None`: malformed).
pub fn parse_journal_line(line: &str) -> Option<(u64, Event)> {
    let f: Vec<String> = line.split('\t').map(unesc).collect();
    let seq = f.first()?.parse().ok()?;
    let e = match f.get(1)?.as_str() {
        "poll" => {
            let payload = match f.get(6)?.as_str() {
                "none" => PollPayload::None,
                "state" => PollPayload::StateChange {
                    id: f.get(7)?.clone(),
                    state: VerificationState::parse(f.get(8)?)?,
                },
                "transfer" => PollPayload::Transfer(parse_transfer(f.get(7..)?)?),
                _ => return None,
            };
            Event::Poll(PollMessage {
                id: f.get(2)?.parse().ok()?,
                cl_id: f.get(3)?.clone(),
                q_date: parse_rfc3339(f.get(4)?)?,
                msg: f.get(5)?.clone(),
                payload,
            })
        }
        "ack" => Event::Ack {
            cl_id: f.get(2)?.clone(),
            id: f.get(3)?.parse().ok()?,
        },
        "transfer" => Event::Transfer(parse_transfer(f.get(2..)?)?),
        _ => return None,
    };
    Some((seq, e))
}

/// Reads the journal's events whose transaction is durable (tag 0 or at most `last`);
/// a torn last line is ignored.
pub fn read_journal(path: &Path, last: u64) -> std::io::Result<Vec<Event>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    Ok(complete
        .lines()
        .filter_map(parse_journal_line)
        .filter(|(seq, _)| *seq <= last)
        .map(|(_, e)| e)
        .collect())
}

// ---------------------------------------------------------------------------------------
// Write-ahead log

/// Path of the log segment whose first change is `first`.
fn wal_segment(prefix: &Path, first: u64) -> PathBuf {
    let mut name = prefix.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{first:020}"));
    prefix.with_file_name(name)
}

/// The log segments next to `prefix` (`eppd.wal.`), in order.
fn wal_segments(prefix: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = match prefix.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut v: Vec<(u64, PathBuf)> = match fs::read_dir(&dir) {
        Ok(d) => d
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name.strip_prefix(&stem)?;
                (n.len() == 20)
                    .then(|| n.parse().ok())
                    .flatten()
                    .map(|n: u64| (n, e.path()))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

/// One log record: `SEQ LEN XXH3` (hex), a newline, then the change file's text.
pub fn wal_record(file: &ChangeFile, out: &mut Vec<u8>) {
    let text = file.to_text();
    let _ = writeln!(
        out,
        "{} {} {:016x}",
        file.sequence,
        text.len(),
        version_of(&text).0
    );
    out.extend_from_slice(text.as_bytes());
}

/// The change files of a log segment, in order; reading stops at the first record that
/// is torn or does not check out (the batch being written when the process died: never
/// acknowledged).
pub fn read_wal(bytes: &[u8]) -> Vec<ChangeFile> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let Ok(header) = std::str::from_utf8(&rest[..nl]) else {
            break;
        };
        let mut w = header.split(' ');
        let (Some(seq), Some(len), Some(hash), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            break;
        };
        let (Ok(seq), Ok(len), Ok(hash)) = (
            seq.parse::<u64>(),
            len.parse::<usize>(),
            u64::from_str_radix(hash, 16),
        ) else {
            break;
        };
        let body = &rest[nl + 1..];
        let Some(text) = body.get(..len).and_then(|t| std::str::from_utf8(t).ok()) else {
            break;
        };
        if version_of(text).0 != hash {
            break;
        }
        match ChangeFile::parse(text, "write-ahead log") {
            Ok(f) if f.sequence == seq => out.push(f),
            _ => break,
        }
        rest = &body[len..];
    }
    out
}

/// `syncfs` of the file system holding `dir`: everything written there is durable.
fn sync_file_system(dir: &Path) -> std::io::Result<()> {
    let d = fs::File::open(dir)?;
    rustix::fs::syncfs(&d).map_err(std::io::Error::from)
}

/// Name of change file `n` in the spool (as [`Spool`] names them).
fn spool_path(spool: &Spool, n: u64) -> PathBuf {
    spool.dir().join(format!("{n:020}.chg"))
}

/// Writes `file` whole under a temporary name and claims its number with a hard link
/// (an error when the number is taken); no fsync.
fn materialize(spool: &Spool, file: &ChangeFile) -> std::io::Result<()> {
    let path = spool_path(spool, file.sequence);
    let tmp = spool.dir().join(format!(
        ".{:020}.{}.wal.tmp",
        file.sequence,
        std::process::id()
    ));
    fs::write(&tmp, file.to_text())?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    linked
}

/// Writes every logged change file the spool lacks (or holds damaged) into it, makes the
/// spool durable, then deletes the logs. A logged number the spool holds with a
/// complete file of another origin (another writer took the number before the
/// materializer) is appended under the next free number instead, with a warning.
fn recover_wal(prefix: &Path, spool: &Spool) -> anyhow::Result<usize> {
    let segments = wal_segments(prefix)?;
    if segments.is_empty() {
        return Ok(0);
    }
    let mut written = 0;
    for seg in &segments {
        let bytes = fs::read(seg)?;
        for mut f in read_wal(&bytes) {
            let path = spool_path(spool, f.sequence);
            let text = f.to_text();
            match fs::read_to_string(&path) {
                Ok(t) if t == text => {}
                Ok(t) => {
                    let other = ChangeFile::parse(&t, "spool").is_ok_and(|o| o.origin != f.origin);
                    if other {
                        let was = f.sequence;
                        let now = spool.append_next(&mut f)?;
                        eprintln!(
                            "eppd: logged change {was} is taken in the spool by another \
                             writer; written as {now}"
                        );
                    } else {
                        // Damaged (the machine stopped before it was durable): rewrite.
                        let tmp = spool.dir().join(format!(".{:020}.recover.tmp", f.sequence));
                        let mut out = fs::File::create(&tmp)?;
                        out.write_all(text.as_bytes())?;
                        out.sync_all()?;
                        fs::rename(&tmp, &path)?;
                    }
                    written += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    spool.append(&f)?;
                    written += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    // Files the materializer wrote before the stop may not be durable yet.
    sync_file_system(spool.dir())?;
    for seg in &segments {
        fs::remove_file(seg)?;
    }
    Ok(written)
}

/// Work for the materializer.
enum Materialize {
    /// Change files to write into the spool, in order.
    Files(Vec<ChangeFile>),
    /// A closed log segment: delete it once the spool is durable (everything logged in it
    /// is in the spool by now).
    Retire(PathBuf),
}

fn run_materializer(spool: &Spool, rx: &Receiver<Materialize>) {
    // Retirements wait for a syncfs, which can take long on a busy machine: their own
    // thread, so materializing goes on meanwhile.
    let (retire_tx, retire_rx) = std::sync::mpsc::channel::<PathBuf>();
    let dir = spool.dir().to_path_buf();
    let retirer = std::thread::Builder::new()
        .name("eppd-wal-retire".into())
        .spawn(move || {
            while let Ok(first) = retire_rx.recv() {
                let mut segments = vec![first];
                segments.extend(retire_rx.try_iter());
                if let Err(e) = sync_file_system(&dir) {
                    eprintln!(
                        "eppd: syncfs of the spool failed: {e}; stopping (the logs are kept)"
                    );
                    std::process::abort();
                }
                for p in segments {
                    if let Err(e) = fs::remove_file(&p) {
                        eprintln!("eppd: cannot delete {}: {e}", p.display());
                    }
                }
            }
        });
    if retirer.is_err() {
        eprintln!("eppd: cannot start the log retirement thread; logs are kept until restart");
    }
    while let Ok(m) = rx.recv() {
        match m {
            Materialize::Files(files) => {
                for f in &files {
                    if let Err(e) = materialize(spool, f) {
                        eprintln!(
                            "eppd: cannot write change {} into the spool: {e}; stopping (the \
                             write-ahead log has it: a restart writes it)",
                            f.sequence
                        );
                        std::process::abort();
                    }
                }
            }
            Materialize::Retire(p) => {
                let _ = retire_tx.send(p);
            }
        }
    }
}

/// The open log segment.
#[derive(Debug)]
struct Wal {
    prefix: PathBuf,
    path: PathBuf,
    file: fs::File,
    size: u64,
}

impl Wal {
    fn create(prefix: &Path, first: u64) -> std::io::Result<Wal> {
        let path = wal_segment(prefix, first);
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        // The segment's name must survive a crash before anything in it counts.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::File::open(dir)?.sync_all()?;
        }
        let size = file.metadata()?.len();
        Ok(Wal {
            prefix: prefix.to_path_buf(),
            path,
            file,
            size,
        })
    }
}

/// The durable side: the write-ahead log, the materializer's queue, and the journal.
#[derive(Debug)]
pub struct Durable {
    wal: Wal,
    materialize: SyncSender<Materialize>,
    journal: fs::File,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Materialize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Materialize::Files(v) => write!(f, "Files({})", v.len()),
            Materialize::Retire(p) => write!(f, "Retire({})", p.display()),
        }
    }
}

impl Durable {
    /// Makes a batch of transactions durable (see the module docs): journal lines and
    /// the log, each with one fsync; the change files then go to the materializer.
    pub fn commit(&mut self, batch: &[Committed]) -> std::io::Result<()> {
        let mut lines = String::new();
        for c in batch {
            let seq = c.file.as_ref().map_or(0, |f| f.sequence);
            for e in &c.events {
                lines.push_str(&journal_line(seq, e));
            }
        }
        // The journal first: its lines are tagged with their change file's number and
        // dropped at restart unless that file is durable, so a crash between the two
        // fsyncs leaves no half transaction.
        if !lines.is_empty() {
            self.journal.write_all(lines.as_bytes())?;
            self.journal.sync_data()?;
        }
        self.buf.clear();
        let mut files = Vec::new();
        for f in batch.iter().filter_map(|c| c.file.as_ref()) {
            wal_record(f, &mut self.buf);
            files.push(f.clone());
        }
        if !self.buf.is_empty() {
            self.wal.file.write_all(&self.buf)?;
            self.wal.size += self.buf.len() as u64;
            self.wal.file.sync_data()?;
        }
        if let Some(last) = files.last().map(|f| f.sequence) {
            let stopped = || std::io::Error::other("the materializer stopped");
            self.materialize
                .send(Materialize::Files(files))
                .map_err(|_| stopped())?;
            if self.wal.size >= WAL_SEGMENT_BYTES {
                let next = Wal::create(&self.wal.prefix, last + 1)?;
                let old = std::mem::replace(&mut self.wal, next);
                self.materialize
                    .send(Materialize::Retire(old.path))
                    .map_err(|_| stopped())?;
            }
        }
        Ok(())
    }
}

/// Where eppd keeps its state.
#[derive(Debug, Clone)]
pub struct StatePaths {
    /// The MKDB database directory (generations).
    pub db: PathBuf,
    /// The change spool.
    pub spool: PathBuf,
    /// The journal file.
    pub journal: PathBuf,
}

impl StatePaths {
    /// The write-ahead log's segments are this path followed by a 20-digit number
    /// (`eppd.wal.` beside `eppd.journal`).
    pub fn wal_prefix(&self) -> PathBuf {
        let stem = self
            .journal
            .file_stem()
            .map_or_else(|| "eppd".into(), |s| s.to_string_lossy().into_owned());
        self.journal.with_file_name(format!("{stem}.wal."))
    }
}

/// Loads the state (logged change files written into the spool first, then the
/// generation, spool files after its `applied`, journal), compacts the journal, starts
/// the materializer, and returns the core and its durable side.
pub fn open_state(paths: &StatePaths, cfg: CoreConfig) -> anyhow::Result<(Core, Durable)> {
    let spool = Spool::open(&paths.spool)?;
    let prefix = paths.wal_prefix();
    let recovered = recover_wal(&prefix, &spool)?;
    if recovered > 0 {
        eprintln!("eppd: {recovered} logged change file(s) written into the spool");
    }
    let mut loaded = match mkdb::Generation::open(&paths.db) {
        Ok(g) => Loaded::from_generation(&g),
        Err(e) => anyhow::bail!("cannot open the database {}: {e}", paths.db.display()),
    };
    for n in spool.sequences()? {
        if n > loaded.last_sequence {
            let f = spool.read(n)?;
            loaded.apply_file(&f);
        }
    }
    let last = loaded.last_sequence;
    let events = read_journal(&paths.journal, last)?;
    let core = Core::new(cfg, loaded, &events);
    // Compact: the current state only, every line tagged 0 (durable already).
    let text: String = core
        .snapshot_events()
        .iter()
        .map(|e| journal_line(0, e))
        .collect();
    mkdb::generation::atomic_write(&paths.journal, text.as_bytes())?;
    let journal = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&paths.journal)?;
    let wal = Wal::create(&prefix, core.next_sequence())?;
    let (tx, rx) = sync_channel(WAL_BACKLOG);
    std::thread::Builder::new()
        .name("eppd-spool".into())
        .spawn(move || run_materializer(&spool, &rx))?;
    Ok((
        core,
        Durable {
            wal,
            materialize: tx,
            journal,
            buf: Vec::new(),
        },
    ))
}

// ---------------------------------------------------------------------------------------
// The writer thread

/// Work for the writer.
#[derive(Debug)]
pub enum Job {
    /// Execute a command for a registrar.
    Execute {
        /// The registrar.
        cl_id: String,
        /// Its login's object URIs.
        obj_uris: Vec<String>,
        /// Its login's extension URIs.
        ext_uris: Vec<String>,
        /// The command.
        command: Box<Command>,
        /// When.
        now: Timestamp,
        /// Where the reply goes (after the batch is durable).
        reply: SyncSender<Reply>,
    },
    /// Store a new password hash.
    SetPassword {
        /// The registrar.
        cl_id: String,
        /// The PHC hash.
        phc: String,
        /// Done.
        reply: SyncSender<bool>,
    },
    /// Operator: change a registrant's verification state.
    SetState {
        /// The contact.
        id: String,
        /// The state.
        state: VerificationState,
        /// Done.
        reply: SyncSender<Result<(), EppError>>,
    },
    /// Operator: a change file written by another tool (`mkdb edit`, `loader import`),
    /// checked and applied as the loader would ([`Core::apply_foreign`]), then made
    /// durable under eppd's next number.
    Foreign {
        /// The file (its sequence number is replaced).
        file: Box<ChangeFile>,
        /// Its number once durable, or why it was refused.
        reply: SyncSender<Result<ForeignApplied, EppError>>,
    },
}

type ForeignReply = SyncSender<Result<ForeignApplied, EppError>>;

enum Pending {
    Reply(SyncSender<Reply>, Box<Reply>),
    Bool(SyncSender<bool>, bool),
    State(SyncSender<Result<(), EppError>>, Result<(), EppError>),
    Foreign(ForeignReply, Result<ForeignApplied, EppError>),
}

/// Runs the writer until every sender is gone.
pub fn run_writer(mut core: Core, mut durable: Durable, rx: &Receiver<Job>) {
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(j) => Some(j),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut jobs: Vec<Job> = first.into_iter().collect();
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        core.tick(Timestamp::now());
        let mut pending = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Execute {
                    cl_id,
                    obj_uris,
                    ext_uris,
                    command,
                    now,
                    reply,
                } => {
                    let client = Client {
                        cl_id: &cl_id,
                        obj_uris: &obj_uris,
                        ext_uris: &ext_uris,
                    };
                    let r = core.execute(&client, &command, now);
                    pending.push(Pending::Reply(reply, Box::new(r)));
                }
                Job::SetPassword { cl_id, phc, reply } => {
                    let ok = core.set_password_hash(&cl_id, phc, Timestamp::now());
                    pending.push(Pending::Bool(reply, ok));
                }
                Job::SetState { id, state, reply } => {
                    let r = core.set_verification_state(&id, state, Timestamp::now());
                    pending.push(Pending::State(reply, r));
                }
                Job::Foreign { file, reply } => {
                    let r = core.apply_foreign(*file, Timestamp::now());
                    pending.push(Pending::Foreign(reply, r));
                }
            }
        }
        let batch = core.take_outbox();
        if !batch.is_empty()
            && let Err(e) = durable.commit(&batch)
        {
            eprintln!("eppd: cannot make changes durable: {e}; stopping (nothing acknowledged)");
            std::process::abort();
        }
        for p in pending {
            // A session that went away does not matter.
            let _ = match p {
                Pending::Reply(tx, r) => tx.send(*r).map_err(drop),
                Pending::Bool(tx, r) => tx.send(r).map_err(drop),
                Pending::State(tx, r) => tx.send(r).map_err(drop),
                Pending::Foreign(tx, r) => tx.send(r).map_err(drop),
            };
        }
    }
}

/// Starts the writer thread; returns the job queue (bounded: senders wait when full).
pub fn spawn_writer(core: Core, durable: Durable) -> SyncSender<Job> {
    let (tx, rx) = sync_channel(4 * MAX_BATCH);
    std::thread::Builder::new()
        .name("eppd-writer".into())
        .spawn(move || run_writer(core, durable, &rx))
        .expect("spawn the writer thread");
    tx
}

// ---------------------------------------------------------------------------------------
// Logins

/// A registrar's login data.
#[derive(Debug, Clone)]
struct Login {
    phc: Option<String>,
    certificates: Vec<String>,
    status: String,
}

/// Registrar logins shared by the sessions: password hashes, bound certificates,
/// sessions open.
pub struct Logins {
    registrars: HashMap<String, Login>,
    sessions: HashMap<String, usize>,
    max_sessions: usize,
    dummy: String,
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("registrars", &self.registrars.len())
            .finish()
    }
}

impl Logins {
    /// From the core's registrar objects.
    pub fn new(core: &Core, max_sessions: usize, jobs: SyncSender<Job>) -> Logins {
        Logins::from_registrars(core.registrars(), max_sessions, jobs)
    }

    /// From registrar objects.
    pub fn from_registrars(
        registrars: &std::collections::BTreeMap<String, crate::store::Registrar>,
        max_sessions: usize,
        jobs: SyncSender<Job>,
    ) -> Logins {
        Logins {
            registrars: registrars
                .values()
                .map(|r| {
                    (
                        r.id.clone(),
                        Login {
                            phc: r.password_hash.clone(),
                            certificates: r.certificates.clone(),
                            status: r.status.clone(),
                        },
                    )
                })
                .collect(),
            sessions: HashMap::new(),
            max_sessions,
            dummy: hash_password("no registrar has this password"),
            jobs,
        }
    }
}

/// The per-connection view: the shared logins, the job queue and the certificate the
/// client presented (SHA-256, lower-case hex).
#[derive(Debug, Clone)]
pub struct Handle {
    /// Shared login table.
    pub logins: Arc<Mutex<Logins>>,
    /// The writer's queue.
    pub jobs: SyncSender<Job>,
    /// The client certificate's fingerprint (`None`: not bound, tests without TLS).
    pub fingerprint: Option<String>,
}

impl Registry for Handle {
    fn execute(&mut self, client: &Client<'_>, command: &Command, now: Timestamp) -> Reply {
        let (tx, rx) = sync_channel(1);
        let job = Job::Execute {
            cl_id: client.cl_id.to_string(),
            obj_uris: client.obj_uris.to_vec(),
            ext_uris: client.ext_uris.to_vec(),
            command: Box::new(command.clone()),
            now,
            reply: tx,
        };
        if self.jobs.send(job).is_err() {
            return EppError::new(ResultCode::CommandFailedClosing, "the registry is stopping")
                .into();
        }
        rx.recv().unwrap_or_else(|_| {
            EppError::new(ResultCode::CommandFailedClosing, "the registry is stopping").into()
        })
    }
}

impl Registrars for Handle {
    fn check_login(&mut self, cl_id: &str, pw: &str) -> LoginCheck {
        let (login, dummy) = {
            let l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
            (l.registrars.get(cl_id).cloned(), l.dummy.clone())
        };
        // Checked outside the lock: argon2 takes milliseconds.
        let phc = login.as_ref().and_then(|l| l.phc.clone());
        let pw_ok = verify_password(phc.as_deref().unwrap_or(&dummy), pw) && phc.is_some();
        let Some(login) = login.filter(|_| pw_ok) else {
            return LoginCheck::BadCredentials;
        };
        if login.status == "terminated" {
            return LoginCheck::BadCredentials;
        }
        if let Some(fp) = &self.fingerprint
            && !login.certificates.iter().any(|c| c == fp)
        {
            return LoginCheck::BadCredentials;
        }
        let mut l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        let max = l.max_sessions;
        let n = l.sessions.entry(cl_id.to_string()).or_default();
        if *n >= max {
            return LoginCheck::SessionLimit;
        }
        *n += 1;
        LoginCheck::Ok
    }

    fn change_password(&mut self, cl_id: &str, new_pw: &str) -> Result<(), String> {
        let phc = hash_password(new_pw);
        let (tx, rx) = sync_channel(1);
        self.jobs
            .send(Job::SetPassword {
                cl_id: cl_id.to_string(),
                phc: phc.clone(),
                reply: tx,
            })
            .map_err(|_| "the registry is stopping".to_string())?;
        if rx.recv().unwrap_or(false) {
            let mut l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = l.registrars.get_mut(cl_id) {
                r.phc = Some(phc);
            }
            Ok(())
        } else {
            Err(format!("no registrar {cl_id}"))
        }
    }

    fn session_closed(&mut self, cl_id: &str) {
        let mut l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = l.sessions.get_mut(cl_id) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Logins {
    /// Refreshes a registrar's login data after an operator changed its record (`None`:
    /// deleted; its open sessions stay until they end, new logins are refused).
    pub fn update_registrar(&mut self, id: &str, r: Option<&crate::store::Registrar>) {
        match r {
            Some(r) => {
                self.registrars.insert(
                    id.to_string(),
                    Login {
                        phc: r.password_hash.clone(),
                        certificates: r.certificates.clone(),
                        status: r.status.clone(),
                    },
                );
            }
            None => {
                self.registrars.remove(id);
            }
        }
    }

    /// The job queue.
    pub fn jobs(&self) -> SyncSender<Job> {
        self.jobs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_file(sequence: u64, key: &str) -> ChangeFile {
        ChangeFile {
            sequence,
            origin: "eppd".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes: vec![mkdb::change::Change {
                action: mkdb::change::Action::Put,
                class: "domain".into(),
                key: key.into(),
                base: None,
                record: format!("Domain-Name: {key}\nSponsoring-Registrar: R\n"),
            }],
        }
    }

    #[test]
    fn a_registrar_added_by_an_operator_can_log_in() {
        let (jobs, _rx) = sync_channel(1);
        let logins = Arc::new(Mutex::new(Logins::from_registrars(
            &std::collections::BTreeMap::new(),
            2,
            jobs.clone(),
        )));
        let mut h = Handle {
            logins: Arc::clone(&logins),
            jobs,
            fingerprint: Some("ab12".into()),
        };
        assert!(matches!(
            h.check_login("NewReg", "pw-Secret1"),
            LoginCheck::BadCredentials
        ));
        let r = crate::store::Registrar {
            id: "NewReg".into(),
            status: "ok".into(),
            password_hash: Some(hash_password("pw-Secret1")),
            certificates: vec!["ab12".into()],
            ..Default::default()
        };
        logins.lock().unwrap().update_registrar("NewReg", Some(&r));
        assert!(matches!(
            h.check_login("NewReg", "pw-Secret1"),
            LoginCheck::Ok
        ));
        logins.lock().unwrap().update_registrar("NewReg", None);
        assert!(matches!(
            h.check_login("NewReg", "pw-Secret1"),
            LoginCheck::BadCredentials
        ));
    }

    #[test]
    fn the_log_reads_back_up_to_a_torn_or_corrupt_record() {
        let files: Vec<ChangeFile> = (1..=3)
            .map(|n| change_file(n, &format!("d{n}.coop")))
            .collect();
        let mut bytes = Vec::new();
        for f in &files {
            wal_record(f, &mut bytes);
        }
        assert_eq!(read_wal(&bytes), files);
        // Torn anywhere in the last record: the first two.
        let last_start = {
            let mut b = Vec::new();
            wal_record(&files[0], &mut b);
            wal_record(&files[1], &mut b);
            b.len()
        };
        for cut in [last_start + 1, last_start + 10, bytes.len() - 1] {
            assert_eq!(read_wal(&bytes[..cut]), files[..2], "cut at {cut}");
        }
        // A flipped byte in the second record's text: the first only.
        let mut bad = bytes.clone();
        let i = bad.windows(8).position(|w| w == b"d2.coop\n").unwrap();
        bad[i] = b'x';
        assert_eq!(read_wal(&bad), files[..1]);
        assert!(read_wal(b"").is_empty());
        assert!(read_wal(b"garbage\n").is_empty());
    }

    #[test]
    fn recovery_writes_what_the_spool_lacks_and_deletes_the_logs() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        let paths = StatePaths {
            db: dir.path().join("db"),
            spool: spool.dir().to_path_buf(),
            journal: dir.path().join("eppd.journal"),
        };
        let prefix = paths.wal_prefix();
        assert!(prefix.ends_with("eppd.wal."));
        let (a, b, c) = (
            change_file(1, "a.coop"),
            change_file(2, "b.coop"),
            change_file(3, "c.coop"),
        );
        // 1 made it into the spool, 2 and 3 only into the logs (two segments).
        spool.append(&a).unwrap();
        let mut one = Vec::new();
        wal_record(&a, &mut one);
        wal_record(&b, &mut one);
        fs::write(wal_segment(&prefix, 1), &one).unwrap();
        let mut two = Vec::new();
        wal_record(&c, &mut two);
        two.extend_from_slice(b"4 99 00"); // torn: never acknowledged
        fs::write(wal_segment(&prefix, 3), &two).unwrap();
        assert_eq!(wal_segments(&prefix).unwrap().len(), 2);
        assert_eq!(recover_wal(&prefix, &spool).unwrap(), 2);
        assert_eq!(spool.sequences().unwrap(), vec![1, 2, 3]);
        assert_eq!(spool.read(3).unwrap(), c);
        assert!(wal_segments(&prefix).unwrap().is_empty());
        assert_eq!(recover_wal(&prefix, &spool).unwrap(), 0);
    }

    #[test]
    fn journal_lines_round_trip_and_torn_lines_are_ignored() {
        let t = TransferRecord {
            kind: TransferKind::Domain,
            name: "a.coop".into(),
            status: TransferStatus::Pending,
            re_id: "B\tX".into(),
            re_date: Timestamp(100),
            ac_id: "A".into(),
            ac_date: Timestamp(200),
            months: 12,
            ex_date: Some(Timestamp(86_400 * 400)),
        };
        let events = vec![
            Event::Transfer(t.clone()),
            Event::Poll(PollMessage {
                id: 7,
                cl_id: "A".into(),
                q_date: Timestamp(100),
                msg: "Transfer requested.\nreally".into(),
                payload: PollPayload::Transfer(t),
            }),
            Event::Ack {
                cl_id: "A".into(),
                id: 7,
            },
            Event::Poll(PollMessage {
                id: 8,
                cl_id: "A".into(),
                q_date: Timestamp(100),
                msg: "x".into(),
                payload: PollPayload::StateChange {
                    id: "reg".into(),
                    state: VerificationState::Verified,
                },
            }),
        ];
        for e in &events {
            let line = journal_line(3, e);
            assert_eq!(line.matches('\n').count(), 1);
            assert_eq!(
                parse_journal_line(line.trim_end_matches('\n')),
                Some((3, e.clone()))
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let mut text: String = events.iter().map(|e| journal_line(3, e)).collect();
        text.push_str(&journal_line(9, &events[2]));
        text.push_str("0\tpoll\t9"); // torn
        fs::write(&p, text).unwrap();
        assert_eq!(read_journal(&p, 5).unwrap(), events);
        assert_eq!(read_journal(&p, 9).unwrap().len(), 5);
        assert!(
            read_journal(&dir.path().join("none"), 1)
                .unwrap()
                .is_empty()
        );
    }
}
