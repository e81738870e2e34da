//! The operator's socket: registry functions that are not EPP commands.
//!
//! eppd listens on a Unix-domain socket (`--admin-socket`, mode 0600: whoever can open it
//! is an operator, as with HAProxy's admin socket) and serves one command per line,
//! answered with one line:
//!
//! | command | effect |
//! |---|---|
//! | `set-state CONTACT STATE` | a .coop registrant's verification state (`verified`, `pendingVerification`, `ableToAppeal`, `underInvestigation`, `refused`): its domains leave or enter `serverHold` and its sponsor gets a `stateChange` poll message |
//! | `submit LEN` + LEN bytes | a change file written by an operator tool (`mkdb edit`, `loader import` through `mkdb::change::Spool::submit`): checked as the loader checks it (compare-and-swap on every `Base-Version`, schema, references), applied to eppd's objects and made durable under eppd's next sequence number; answered `ok N` |
//! | `ping` | `ok pong` |
//! | `help` | the command list |
//!
//! An answer is `ok TEXT` or `error CODE TEXT` (`CODE` an EPP result code when the registry
//! refused, `500` for a malformed line). A change goes through the writer like a
//! registrar's command, so it is durable (change file and journal) before `ok` is sent.
//! `eppd admin --socket PATH COMMAND...` is the client.
//!
//! Limits: lines of at most [`MAX_LINE`] bytes, change files of at most [`MAX_SUBMIT`]
//! bytes (a bad `submit` line is answered `error 500` and the connection closed: the
//! framing is lost), [`MAX_CLIENTS`] connections at once, and an idle connection is closed
//! after [`IDLE`].
//!
//! eppd is the one sequencer of the spool while it runs: it holds `SPOOL/WRITER.LOCK` and
//! names this socket in `SPOOL/WRITER` ([`announce`]), so operator tools send their change
//! files here instead of appending them under numbers eppd is about to use.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mkdb::change::{ChangeFile, Spool};

use crate::command::VerificationState;
use crate::writer::{Job, Logins};

/// Largest change file `submit` takes, bytes.
pub const MAX_SUBMIT: usize = mkdb::change::MAX_SUBMIT;

/// Longest command line, bytes.
pub const MAX_LINE: usize = 1024;
/// Connections served at once.
pub const MAX_CLIENTS: usize = 8;
/// An operator connection idle this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);

const HELP: &str = "commands: set-state CONTACT STATE | submit LEN (then LEN bytes of change file) | ping | help \
                    (STATE: verified, pendingVerification, ableToAppeal, underInvestigation, refused)";

/// Binds the admin socket at `path`, mode 0600. A socket file left by a process that is
/// gone is replaced; one that answers belongs to a running eppd, which is an error.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{} answers: another eppd is running on it (stop it, or choose another --admin-socket)",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves operators on `listener` forever (call from its own thread), one thread per
/// connection, sending changes to the writer through `jobs`; registrar records changed
/// by a submitted file refresh `logins` (when given).
pub fn serve(listener: &UnixListener, jobs: &SyncSender<Job>, logins: Option<&Arc<Mutex<Logins>>>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(b"error 500 too many operator connections\n");
            continue;
        }
        let jobs = jobs.clone();
        let logins = logins.cloned();
        let active = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("eppd-admin".into())
            .spawn(move || {
                let _ = serve_one(stream, &jobs, logins.as_ref());
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            eprintln!("eppd: cannot start an operator thread");
        }
    }
}

fn serve_one(
    stream: UnixStream,
    jobs: &SyncSender<Job>,
    logins: Option<&Arc<Mutex<Logins>>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            if line.len() > MAX_LINE {
                out.write_all(b"error 500 line too long\n")?;
            }
            return Ok(());
        }
        let text = std::str::from_utf8(&line).map(str::trim);
        if let Ok(rest) = text
            && let Some(len) = rest.strip_prefix("submit")
        {
            let len = match len.trim().parse::<usize>() {
                Ok(n) if n <= MAX_SUBMIT && !len.is_empty() => n,
                _ => {
                    out.write_all(
                        format!("error 500 usage: submit LEN (at most {MAX_SUBMIT} bytes), then LEN bytes\n")
                            .as_bytes(),
                    )?;
                    return Ok(());
                }
            };
            let mut body = Vec::with_capacity(len.min(1 << 20));
            reader.by_ref().take(len as u64).read_to_end(&mut body)?;
            if body.len() != len {
                return Ok(());
            }
            let answer = one_line(&submit(&body, jobs, logins));
            out.write_all(answer.as_bytes())?;
            out.write_all(b"\n")?;
            continue;
        }
        let answer = match text {
            Ok(text) => answer(text, jobs),
            Err(_) => "error 500 the line is not UTF-8".to_string(),
        };
        out.write_all(answer.as_bytes())?;
        out.write_all(b"\n")?;
    }
}

/// The answer to one command line (without its newline).
pub fn answer(line: &str, jobs: &SyncSender<Job>) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => "error 500 empty line (try help)".into(),
        ["ping"] => "ok pong".into(),
        ["help"] => format!("ok {HELP}"),
        ["set-state", contact, state] => {
            let Some(state) = VerificationState::parse(state) else {
                return format!("error 500 unknown state {state:?}; {HELP}");
            };
            set_state(contact, state, jobs)
        }
        ["set-state", ..] => "error 500 usage: set-state CONTACT STATE".into(),
        [other, ..] => format!("error 500 unknown command {other:?}; {HELP}"),
    }
}

fn set_state(contact: &str, state: VerificationState, jobs: &SyncSender<Job>) -> String {
    let (tx, rx) = sync_channel(1);
    let job = Job::SetState {
        id: contact.to_string(),
        state,
        reply: tx,
    };
    if jobs.send(job).is_err() {
        return "error 500 the writer has stopped".into();
    }
    match rx.recv() {
        Ok(Ok(())) => format!("ok {contact} is {} (durable)", state.as_str()),
        Ok(Err(e)) => format!("error {} {}", e.code.code(), e.message),
        Err(_) => "error 500 the writer has stopped".into(),
    }
}

/// An answer kept on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The answer to `submit`: the change file's text in `body`.
pub fn submit(body: &[u8], jobs: &SyncSender<Job>, logins: Option<&Arc<Mutex<Logins>>>) -> String {
    let Ok(text) = std::str::from_utf8(body) else {
        return "error 500 the change file is not UTF-8".into();
    };
    let file = match ChangeFile::parse(text, "submitted change file") {
        Ok(f) => f,
        Err(e) => return format!("error 500 {e}"),
    };
    let (tx, rx) = sync_channel(1);
    let job = Job::Foreign {
        file: Box::new(file),
        reply: tx,
    };
    if jobs.send(job).is_err() {
        return "error 500 the writer has stopped".into();
    }
    match rx.recv() {
        Ok(Ok(done)) => {
            if let Some(logins) = logins {
                let mut l = logins.lock().unwrap_or_else(|p| p.into_inner());
                for (id, r) in &done.registrars {
                    l.update_registrar(id, r.as_ref());
                }
            }
            let mut s = format!("ok {} (durable)", done.sequence);
            if done.rewritten > 0 {
                s.push_str(&format!(
                    "; {} domain(s) rewritten for their registrant's state",
                    done.rewritten
                ));
            }
            s
        }
        Ok(Err(e)) => format!("error {} {}", e.code.code(), e.message),
        Err(_) => "error 500 the writer has stopped".into(),
    }
}

/// Takes the spool's writer lock (`SPOOL/WRITER.LOCK`) for eppd's whole life: eppd is then
/// the one sequencer of the spool. While an operator tool holds it (one append), waits,
/// saying so, up to `wait`; when another eppd holds it (its socket in `SPOOL/WRITER`
/// answers), fails at once.
pub fn lock_spool(spool: &Spool, wait: Duration) -> io::Result<std::fs::File> {
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        if let Some(f) = spool.try_lock_writer()? {
            return Ok(f);
        }
        if let Some(socket) = spool.writer_socket()
            && request(&socket, "ping").is_ok_and(|a| a == "ok pong")
        {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{} is held by another eppd (admin socket {}): one writer per spool",
                    spool.writer_lock_path().display(),
                    socket.display()
                ),
            ));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is still held after {}s by another process (not an eppd that answers); \
                     stop it and start eppd again",
                    spool.writer_lock_path().display(),
                    wait.as_secs()
                ),
            ));
        }
        if !said {
            eprintln!(
                "eppd: waiting for {} (an operator tool is writing)",
                spool.writer_lock_path().display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Names `socket` as the writer's admin socket in `SPOOL/WRITER` (temporary file, then
/// rename: readers see the old name or the new one). The path is made absolute.
pub fn announce(spool: &Spool, socket: &Path) -> io::Result<PathBuf> {
    let abs = if socket.is_absolute() {
        socket.to_path_buf()
    } else {
        std::env::current_dir()?.join(socket)
    };
    let tmp = spool.dir().join(format!(
        ".{}.{}.tmp",
        mkdb::change::WRITER_FILE,
        std::process::id()
    ));
    std::fs::write(&tmp, format!("{}\n", abs.display()))?;
    std::fs::rename(&tmp, spool.writer_path())?;
    Ok(abs)
}

/// The client: sends one command line to the socket at `path` and returns the answer
/// line; `Err` when the socket cannot be reached.
pub fn request(path: &Path, command: &str) -> io::Result<String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot connect to {}: {e} (is eppd running with --admin-socket {0}?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(IDLE))?;
    stream.write_all(command.as_bytes())?;
    stream.write_all(b"\n")?;
    let mut reader = BufReader::new(stream.take(MAX_LINE as u64 * 4));
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    Ok(answer.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{EppError, ResultCode};
    use std::sync::mpsc::Receiver;

    /// A writer stand-in: knows contact `reg-1` only.
    fn fake_writer(rx: Receiver<Job>) {
        for job in rx {
            if let Job::Foreign { file, reply } = job {
                let r = if file.origin == "mkdb edit" {
                    Ok(crate::core::ForeignApplied {
                        sequence: 9,
                        registrars: Vec::new(),
                        rewritten: 0,
                    })
                } else {
                    Err(EppError::new(
                        ResultCode::ObjectStatusProhibitsOperation,
                        "nothing applied: put domain a.coop: conflict",
                    ))
                };
                let _ = reply.send(r);
                continue;
            }
            if let Job::SetState { id, reply, .. } = job {
                let r = if id == "reg-1" {
                    Ok(())
                } else {
                    Err(EppError::new(
                        ResultCode::ObjectDoesNotExist,
                        format!("no contact {id}"),
                    ))
                };
                let _ = reply.send(r);
            }
        }
    }

    fn jobs() -> SyncSender<Job> {
        let (tx, rx) = sync_channel(4);
        std::thread::spawn(move || fake_writer(rx));
        tx
    }

    #[test]
    fn commands_are_answered_and_bad_lines_refused() {
        let jobs = jobs();
        assert_eq!(answer("ping", &jobs), "ok pong");
        assert_eq!(
            answer("set-state reg-1 verified", &jobs),
            "ok reg-1 is verified (durable)"
        );
        assert_eq!(
            answer("set-state nobody refused", &jobs),
            "error 2303 no contact nobody"
        );
        assert!(answer("set-state reg-1 sleepy", &jobs).starts_with("error 500 unknown state"));
        assert!(answer("set-state reg-1", &jobs).starts_with("error 500 usage"));
        assert!(answer("drop table", &jobs).starts_with("error 500 unknown command"));
        assert!(answer("", &jobs).starts_with("error 500 empty"));
    }

    #[test]
    fn the_socket_serves_operators_and_refuses_a_second_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eppd.admin");
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let jobs = jobs();
        std::thread::spawn(move || serve(&listener, &jobs, None));
        assert_eq!(request(&path, "ping").unwrap(), "ok pong");
        assert_eq!(
            request(&path, "set-state reg-1 pendingVerification").unwrap(),
            "ok reg-1 is pendingVerification (durable)"
        );
        let err = bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // An over-long line is refused and the connection closed.
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "error 500 line too long\n");
    }

    #[test]
    fn change_files_are_submitted_with_their_length_and_bad_framing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eppd.admin");
        let listener = bind(&path).unwrap();
        let jobs = jobs();
        std::thread::spawn(move || serve(&listener, &jobs, None));
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        let _lock = lock_spool(&spool, Duration::ZERO).unwrap();
        assert_eq!(announce(&spool, &path).unwrap(), path);
        assert_eq!(spool.writer_socket().as_deref(), Some(path.as_path()));
        // A second eppd is refused at once: the socket answers.
        let e = lock_spool(&spool, Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("another eppd"), "{e}");
        // Operator tools go through the socket.
        let mut f = ChangeFile {
            sequence: 0,
            origin: "mkdb edit".into(),
            time: "2026-11-23T06:00:00Z".into(),
            changes: vec![mkdb::change::Change {
                action: mkdb::change::Action::Delete,
                class: "domain".into(),
                key: "a.coop".into(),
                base: None,
                record: String::new(),
            }],
        };
        let s = spool.submit(&mut f).unwrap();
        assert_eq!((s.sequence, s.via.as_deref()), (9, Some(path.as_path())));
        f.origin = "loader import".into();
        let e = spool.submit(&mut f).unwrap_err();
        assert!(
            e.to_string().contains("2304") && e.to_string().contains("conflict"),
            "{e}"
        );
        // Framing: a bad length, an over-long one, a body that is no change file.
        for (msg, want) in [
            (b"submit x\n".to_vec(), "error 500 usage"),
            (
                format!("submit {}\n", MAX_SUBMIT + 1).into_bytes(),
                "error 500 usage",
            ),
            (b"submit\n".to_vec(), "error 500 usage"),
            (
                b"submit 5\nhello".to_vec(),
                "error 500 submitted change file",
            ),
            (
                b"submit 2\n\xff\xfe".to_vec(),
                "error 500 the change file is not UTF-8",
            ),
        ] {
            let mut c = UnixStream::connect(&path).unwrap();
            c.write_all(&msg).unwrap();
            let mut answer = String::new();
            BufReader::new(c).read_line(&mut answer).unwrap();
            assert!(answer.starts_with(want), "{msg:?}: {answer}");
            assert!(!answer.trim_end().contains('\n'));
        }
        // A short body: the connection just ends (no panic, the server goes on).
        let mut c = UnixStream::connect(&path).unwrap();
        c.write_all(b"submit 100\nabc").unwrap();
        drop(c);
        assert_eq!(request(&path, "ping").unwrap(), "ok pong");
    }

    #[test]
    fn eppd_waits_for_an_operator_tool_holding_the_lock_but_not_forever() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("changes")).unwrap();
        let held = spool.try_lock_writer().unwrap().unwrap();
        let e = lock_spool(&spool, Duration::from_millis(150)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let lock = lock_spool(&spool, Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert!(spool.try_lock_writer().unwrap().is_none());
        drop(lock);
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eppd.admin");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = bind(&path).unwrap();
        drop(listener);
    }
}
