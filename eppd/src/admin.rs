//! The operator's socket: registry functions that are not EPP commands.
//!
//! eppd listens on a Unix-domain socket (`--admin-socket`, mode 0600: whoever can open it
//! is an operator, as with HAProxy's admin socket) and serves one command per line,
//! answered with one line:
//!
//! | command | effect |
//! |---|---|
//! | `set-state CONTACT STATE` | a .coop registrant's verification state (`verified`, `pendingVerification`, `ableToAppeal`, `underInvestigation`, `refused`): its domains leave or enter `serverHold` and its sponsor gets a `stateChange` poll message |
//! | `ping` | `ok pong` |
//! | `help` | the command list |
//!
//! An answer is `ok TEXT` or `error CODE TEXT` (`CODE` an EPP result code when the registry
//! refused, `500` for a malformed line). A change goes through the writer like a
//! registrar's command, so it is durable (change file and journal) before `ok` is sent.
//! `eppd admin --socket PATH COMMAND...` is the client.
//!
//! Limits: lines of at most [`MAX_LINE`] bytes, [`MAX_CLIENTS`] connections at once, and
//! an idle connection is closed after [`IDLE`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use crate::command::VerificationState;
use crate::writer::Job;

/// Longest command line, bytes.
pub const MAX_LINE: usize = 1024;
/// Connections served at once.
pub const MAX_CLIENTS: usize = 8;
/// An operator connection idle this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);

const HELP: &str = "commands: set-state CONTACT STATE | ping | help \
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
/// connection, sending changes to the writer through `jobs`.
pub fn serve(listener: &UnixListener, jobs: &SyncSender<Job>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(b"error 500 too many operator connections\n");
            continue;
        }
        let jobs = jobs.clone();
        let active = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("eppd-admin".into())
            .spawn(move || {
                let _ = serve_one(stream, &jobs);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            eprintln!("eppd: cannot start an operator thread");
        }
    }
}

fn serve_one(stream: UnixStream, jobs: &SyncSender<Job>) -> io::Result<()> {
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
        let answer = match std::str::from_utf8(&line) {
            Ok(text) => answer(text.trim(), jobs),
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
        std::thread::spawn(move || serve(&listener, &jobs));
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
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eppd.admin");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = bind(&path).unwrap();
        drop(listener);
    }
}
