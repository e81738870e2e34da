//! The baseline: a trivial whois server that does no work, so that a measurement of the
//! real server can be read as a ratio to "what this machine and this client can do at all".
//!
//! [`BaselineServer`] listens on `127.0.0.1:0` with `threads` mio event loops, each with its
//! own `SO_REUSEPORT` listening socket on the one port, so the kernel spreads connections
//! over the threads exactly as it does over whoisd's workers. Like whoisd, accepted sockets
//! inherit `TCP_NODELAY` from the listener, and a read that comes back short is not followed
//! by one that would only say `WouldBlock` (so both make the same system calls per query:
//! one read, one write). Per connection it reads lines: `-holdconnect on` (any directive, in fact) is
//! answered `%ok`; every other non-blank line gets the same fixed answer ([`fixed_answer`]:
//! `n` bytes ending in the `>>> Last update` line). Without `-holdconnect on` the connection
//! closes after the first answer, as a port-43 server does. Nothing is parsed beyond the
//! line ends, nothing is allocated per query.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

const LAST: &str =
    "\r\n>>> Last update of whois database: 1970-01-01T00:00:00Z (generation 0) <<<\r\n";
const HEAD: &str = "% baseline answer\r\n";
/// Longest line the baseline buffers before giving up on a connection.
const MAX_LINE: usize = 4096;

/// A `Hit` answer of exactly `n` bytes (at least the size of its first and last lines).
pub fn fixed_answer(n: usize) -> Vec<u8> {
    let min = HEAD.len() + LAST.len();
    let n = n.max(min);
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(HEAD.as_bytes());
    let mut fill = n - min;
    while fill > 0 {
        // Lines of at most 72 bytes: "Filler: xxx...\r\n"; a last short run may be bare.
        let line = fill.min(72);
        if line >= 10 {
            out.extend_from_slice(b"Filler: ");
            out.extend(std::iter::repeat_n(b'x', line - 10));
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend(std::iter::repeat_n(b' ', line));
        }
        fill -= line;
    }
    out.extend_from_slice(LAST.as_bytes());
    debug_assert_eq!(out.len(), n);
    out
}

/// A running baseline server; stopped (and its threads joined) on drop.
#[derive(Debug)]
pub struct BaselineServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    threads: Vec<JoinHandle<()>>,
}

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

impl BaselineServer {
    /// Starts `threads` server threads on `127.0.0.1:0` answering with `answer`.
    pub fn start(threads: usize, answer: Vec<u8>) -> io::Result<BaselineServer> {
        let first = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(listen(addr)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<[u8]> = answer.into();
        let mut wakers = Vec::new();
        let mut handles = Vec::new();
        for (t, std_listener) in listeners.into_iter().enumerate() {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let mut listener = TcpListener::from_std(std_listener);
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            let stop = Arc::clone(&stop);
            let answer = Arc::clone(&answer);
            wakers.push(waker);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("baseline-{t}"))
                    .spawn(move || serve(poll, &listener, &answer, &stop))?,
            );
        }
        Ok(BaselineServer {
            addr,
            stop,
            wakers,
            threads: handles,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A non-blocking listening socket with `SO_REUSEPORT` and `TCP_NODELAY` (inherited by the
/// sockets it accepts), as whoisd makes them.
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            let _ = w.wake();
        }
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

/// Bytes of a line kept to recognise directives.
const HEAD_KEEP: usize = 32;

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    /// The first bytes of the current line, and the line's length so far.
    head: [u8; HEAD_KEEP],
    head_len: usize,
    line: usize,
    hold: bool,
    closing: bool,
    out: Vec<u8>,
    out_pos: usize,
}

fn serve(mut poll: Poll, listener: &TcpListener, answer: &[u8], stop: &AtomicBool) {
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("baseline server: poll: {e}");
            return;
        }
        for ev in events.iter() {
            match ev.token() {
                WAKER => {}
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            if poll
                                .registry()
                                .register(
                                    &mut stream,
                                    Token(i),
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .is_err()
                            {
                                free.push(i);
                                continue;
                            }
                            conns[i] = Some(Conn {
                                stream,
                                head: [0; HEAD_KEEP],
                                head_len: 0,
                                line: 0,
                                hold: false,
                                closing: false,
                                out: Vec::with_capacity(answer.len() + 64),
                                out_pos: 0,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Out of descriptors, or the connection went away before accept.
                        Err(_) => break,
                    }
                },
                Token(i) => {
                    let Some(Some(c)) = conns.get_mut(i) else {
                        continue;
                    };
                    let mut keep = true;
                    let closed = ev.is_read_closed() || ev.is_error();
                    if ev.is_readable() || closed {
                        keep = on_readable(c, &mut buf, answer, closed);
                    }
                    keep = keep && flush(c);
                    if !keep || (c.closing && c.out.is_empty()) {
                        if let Some(mut c) = conns[i].take() {
                            let _ = poll.registry().deregister(&mut c.stream);
                        }
                        free.push(i);
                    }
                }
            }
        }
    }
}

/// Reads everything available and appends the answers; false to close now. A short read
/// emptied the socket (new input raises a new event), unless the peer already closed:
/// then reading goes on to the end.
fn on_readable(c: &mut Conn, buf: &mut [u8], answer: &[u8], closed: bool) -> bool {
    loop {
        match c.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                let drained = n < buf.len() && !closed;
                if c.closing {
                    // After the answer of a non-held connection: ignore input.
                    if drained {
                        return true;
                    }
                    continue;
                }
                let mut data = &buf[..n];
                loop {
                    let end = data.iter().position(|&b| b == b'\n');
                    let seg = &data[..end.unwrap_or(data.len())];
                    let room = HEAD_KEEP - c.head_len;
                    let take = seg.len().min(room);
                    c.head[c.head_len..c.head_len + take].copy_from_slice(&seg[..take]);
                    c.head_len += take;
                    c.line += seg.len();
                    let Some(end) = end else {
                        if c.line > MAX_LINE {
                            return false;
                        }
                        break;
                    };
                    data = &data[end + 1..];
                    let head = &c.head[..c.head_len];
                    let blank = head.iter().all(u8::is_ascii_whitespace) && c.line <= HEAD_KEEP;
                    let directive = head.first() == Some(&b'-');
                    if directive {
                        if head
                            .get(..12)
                            .is_some_and(|d| d.eq_ignore_ascii_case(b"-holdconnect"))
                        {
                            c.hold = !head.windows(3).any(|w| w.eq_ignore_ascii_case(b"off"));
                        }
                        c.out.extend_from_slice(b"%ok\r\n");
                    } else if !blank {
                        c.out.extend_from_slice(answer);
                        if !c.hold {
                            c.closing = true;
                        }
                    }
                    c.head_len = 0;
                    c.line = 0;
                    if c.closing {
                        break;
                    }
                }
                if drained {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes what is pending until done or the socket is full (a writable event follows).
/// False on error.
fn flush(c: &mut Conn) -> bool {
    while c.out_pos < c.out.len() {
        match c.stream.write(&c.out[c.out_pos..]) {
            Ok(0) => return false,
            Ok(n) => c.out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.out_pos = 0;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn fixed_answers_have_the_asked_size() {
        for n in [0, 10, 100, 101, 3000, 4711] {
            let a = fixed_answer(n);
            assert_eq!(a.len(), n.max(HEAD.len() + LAST.len()));
            assert!(a.ends_with(LAST.as_bytes()));
        }
    }

    #[test]
    fn answers_one_query_and_closes_or_holds() {
        let server = BaselineServer::start(2, fixed_answer(500)).unwrap();
        // Connect mode.
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"example.coop\r\n").unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, fixed_answer(500));
        // Hold mode, pipelined, directive split across writes.
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(b"-holdco").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.write_all(b"nnect on\r\na.coop\r\n\r\nb.coop\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "%ok\r\n");
        let mut answers = 0;
        while answers < 2 {
            line.clear();
            r.read_line(&mut line).unwrap();
            answers += usize::from(line.starts_with(">>> Last update"));
        }
        s.write_all(b"-holdconnect off\r\nc.coop\r\n").unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        let mut want = b"%ok\r\n".to_vec();
        want.extend_from_slice(&fixed_answer(500));
        assert_eq!(rest, want);
    }
}
