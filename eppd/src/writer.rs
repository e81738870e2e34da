//! Durability: the one writer thread, the journal, and the handles sessions use.
//!
//! - **Change files.** Each transaction that changed records becomes one change file in
//!   the spool (`mkdb::change::Spool`), sequence-numbered, the loader's input.
//! - **Journal** (`eppd.journal` in the state directory): what the record classes cannot
//!   hold, poll messages, acks and transfer records, as tab-separated lines, each tagged
//!   with the sequence number of its transaction's change file (0: none). At start, lines
//!   tagged with a sequence that never became durable are dropped (that transaction was
//!   never acknowledged) and the journal is rewritten, compacted, atomically.
//! - **Group commit.** The writer takes every job queued while it was busy (up to
//!   [`MAX_BATCH`]), executes them in order against the [`Core`] (memory first), then
//!   makes the batch durable: journal lines written and fsync'd, change files written and
//!   fsync'd, renamed, one directory fsync ([`Spool::append_batch`]); only then are the
//!   replies released. A failed write stops the process (memory is ahead of the disk; a
//!   restart rebuilds what was acknowledged).
//! - **Restart.** [`open_state`] loads the current generation, the spool's change files
//!   after its `applied` number, then the journal.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mkdb::change::{ChangeFile, Spool};

use crate::auth::{hash_password, verify_password};
use crate::command::{Command, VerificationState};
use crate::core::{
    Committed, Core, CoreConfig, Event, PollMessage, PollPayload, TransferKind, TransferRecord,
};
use crate::response::{Reply, Timestamp, TransferStatus};
use crate::result::{EppError, ResultCode};
use crate::session::{Client, LoginCheck, Registrars, Registry};
use crate::store::{Loaded, parse_rfc3339, rfc3339};

/// Most jobs in one group commit.
pub const MAX_BATCH: usize = 512;

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

/// The durable side: the spool and the journal.
#[derive(Debug)]
pub struct Durable {
    spool: Spool,
    journal: fs::File,
}

impl Durable {
    /// Makes a batch of transactions durable (see the module docs).
    pub fn commit(&mut self, batch: &[Committed]) -> std::io::Result<()> {
        let mut lines = String::new();
        for c in batch {
            let seq = c.file.as_ref().map_or(0, |f| f.sequence);
            for e in &c.events {
                lines.push_str(&journal_line(seq, e));
            }
        }
        if !lines.is_empty() {
            self.journal.write_all(lines.as_bytes())?;
            self.journal.sync_data()?;
        }
        let files: Vec<&ChangeFile> = batch.iter().filter_map(|c| c.file.as_ref()).collect();
        self.spool.append_batch(&files)
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

/// Loads the state (generation, spool files after its `applied`, journal), compacts the
/// journal, and returns the core and its durable side.
pub fn open_state(paths: &StatePaths, cfg: CoreConfig) -> anyhow::Result<(Core, Durable)> {
    let spool = Spool::open(&paths.spool)?;
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
    Ok((core, Durable { spool, journal }))
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
}

enum Pending {
    Reply(SyncSender<Reply>, Box<Reply>),
    Bool(SyncSender<bool>, bool),
    State(SyncSender<Result<(), EppError>>, Result<(), EppError>),
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
    /// The job queue.
    pub fn jobs(&self) -> SyncSender<Job> {
        self.jobs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
