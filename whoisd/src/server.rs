//! The non-blocking server: N worker threads, each its own mio event loop with its own
//! `SO_REUSEPORT` listening socket per address, so the kernel spreads connections across
//! workers, and across several `whoisd` processes bound to the same port (the clones of one
//! machine), with no lock on the accept path.
//!
//! Each connection is an explicit state machine (`Conn`) driven by edge-triggered readiness:
//! read what the socket has, feed it line by line to the sans-I/O [`Session`], write the
//! answer as far as the socket takes it. Nothing on an event loop blocks: queries run on
//! memory-mapped indexes, and opening a new generation happens on the watcher thread
//! ([`crate::live`]).
//!
//! Bounds, so no client can make the server hold unbounded memory or time:
//! - input: one read buffer per worker; a connection keeps at most one read's worth of
//!   unprocessed input, and the session buffers at most one line (`max_line`);
//! - output: input is only processed while the unsent output is below [`HIGH_WATER`], so a
//!   client that pipelines queries without reading answers stalls itself, not the server;
//! - connections: a process-wide cap; over it a connection gets a one-line refusal;
//! - time: a connection with no progress either way for `idle_timeout` gets `%error 503
//!   Idle Time Exceeded` (when its output is not stuck) and is closed.
//!
//! Accounting ([`Stats`]): the lines received, answers by kind and contact records are
//! counted where a line is fed to the session (Relaxed atomics, nothing allocated); after
//! each answer the client's contact records are charged to its daily budget
//! ([`Limiter::contacts`]) and, over it, the answer is taken back out of the output buffer
//! (none of it was sent yet) and replaced by the limit message before the close. The
//! metrics port ([`Protocol::Metrics`], [`crate::metrics`]) is served by the same event
//! loops: read a bounded request head, write the exposition, close.
//!
//! Port 43 has no end-of-query marker besides the query itself, and whois clients send a
//! line and wait for the close. So a port-43 connection that asked only directives (say
//! `whois -- -status`) and then sends nothing for `directive_wait` (1 s) is closed normally;
//! interactive users who want to type directive after directive say `-holdconnect on`.
//!
//! Shutdown ([`Handle::shutdown`], SIGTERM in the binary): the health-check listeners close
//! at once, so a load balancer marks this clone down, while whois goes on being served for
//! `drain_delay`; then every worker accepts what is already queued on its listener (so no connection the kernel completed is reset), closes
//! the listener, lets every connection finish the answer it is writing or the query it is
//! reading, closes connections waiting between queries, and exits once all are gone or the
//! grace period ends.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use mkdb::Generation;
use slab::Slab;
use socket2::{Domain, Socket, Type};

use crate::cache::AnswerCache;
use crate::limits::Limiter;
use crate::live::LiveDb;
use crate::metrics::{self, LatencyHistogram, LatencySnapshot, ProcessReport, Snapshot};
use crate::register::{self, Registrar};
use crate::session::{Dialect, Session, SessionConfig, StatusReport, Step};

/// Default bytes of answers each worker caches ([`ServerConfig::answer_cache`]).
pub const DEFAULT_ANSWER_CACHE: usize = 16 << 20;
/// Unsent output above which a connection's further input waits.
pub const HIGH_WATER: usize = 256 * 1024;
/// Bytes read from a socket at once (one buffer per worker).
const READ_CHUNK: usize = 16 * 1024;
/// Output capacity a connection keeps between answers; a larger buffer is released.
const KEEP_CAPACITY: usize = 64 * 1024;
/// Metrics connections one worker keeps open at once; more are closed unanswered.
const MAX_METRICS_CONNECTIONS: usize = 16;
/// How long accepting pauses when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENER_BASE - i`; connections use their slab key.
const LISTENER_BASE: usize = usize::MAX - 1;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Port 43: RFC 3912 and the Public Whois Specification.
    Whois,
    /// RWhois (RFC 2167), port 4321 by default.
    Rwhois,
    /// The load balancer's health check: `ok` and close while serving; closed as soon as
    /// shutdown begins, so the balancer stops sending new clients before whois stops.
    Health,
    /// The Prometheus metrics page ([`crate::metrics`]): one HTTP request, one answer.
    Metrics,
}

impl Protocol {
    fn dialect(self) -> Dialect {
        match self {
            Protocol::Whois | Protocol::Health | Protocol::Metrics => Dialect::Whois,
            Protocol::Rwhois => Dialect::Rwhois,
        }
    }
}

/// Everything the server needs besides the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port-43 listening addresses.
    pub whois: Vec<SocketAddr>,
    /// RWhois listening addresses.
    pub rwhois: Vec<SocketAddr>,
    /// Health-check listening addresses (for a load balancer's `check port`).
    pub health: Vec<SocketAddr>,
    /// Metrics addresses (Prometheus text over HTTP; keep them on loopback or a
    /// management network).
    pub metrics: Vec<SocketAddr>,
    /// Worker threads (each its own event loop and listening sockets).
    pub workers: usize,
    /// Most connections open at once in this process.
    pub max_connections: usize,
    /// A connection with no progress for this long is closed.
    pub idle_timeout: Duration,
    /// On port 43, after a directive answer with nothing more received and no
    /// `-holdconnect on`, how long to wait for a query before closing normally: a whois
    /// client asking only a directive (`whois -- -status`) waits for the close.
    pub directive_wait: Duration,
    /// After shutdown is asked, how long to keep serving with the health port closed
    /// (long enough for the balancer to mark this clone down) before closing the listeners.
    pub drain_delay: Duration,
    /// After the listeners close, how long connections may take to finish.
    pub shutdown_grace: Duration,
    /// Listen backlog per socket.
    pub backlog: i32,
    /// Peers allowed to mirror with `-xfer`.
    pub xfer_allow: Vec<IpNet>,
    /// Load balancers: connections from these addresses must start with a PROXY
    /// protocol header (v1 or v2) naming the real client; from anywhere else a PROXY
    /// header is refused.
    pub proxy_from: Vec<IpNet>,
    /// Abuse countermeasures (none: no accounting).
    pub limiter: Option<Arc<Limiter>>,
    /// The session settings shared by every connection (the dialect is set per listener).
    pub session: SessionConfig,
    /// `-soa primary` on the RWhois port (`host:port`); the port-43 value when `None`.
    pub rwhois_primary: Option<String>,
    /// Bytes of rendered port-43 answers each worker keeps for queries asked again
    /// ([`AnswerCache`]; 0: none).
    pub answer_cache: usize,
    /// The change spool (`SPOOL`, as `loader watch --changes` and `eppd --spool` name it):
    /// with it, operators may `-register` ([`crate::register`]); `None`: not offered.
    pub spool: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            whois: vec![SocketAddr::from(([0, 0, 0, 0], 43))],
            rwhois: vec![SocketAddr::from(([0, 0, 0, 0], 4321))],
            health: Vec::new(),
            metrics: Vec::new(),
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(30),
            directive_wait: Duration::from_secs(1),
            drain_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(10),
            backlog: 1024,
            xfer_allow: Vec::new(),
            proxy_from: Vec::new(),
            limiter: None,
            session: SessionConfig::default(),
            rwhois_primary: None,
            answer_cache: DEFAULT_ANSWER_CACHE,
            spool: None,
        }
    }
}

/// The counters of the query path, one set per worker, each on cache lines of its own: a
/// worker bumps only its own (no line bounces between cores on every query), and readers
/// add them up ([`Stats::totals`]).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    /// Query and directive lines received (blank lines aside); each costs the rate limit
    /// one token.
    pub queries: AtomicU64,
    /// Query answers that found records.
    pub hits: AtomicU64,
    /// Query answers that found nothing.
    pub no_match: AtomicU64,
    /// Refused queries and rejected lines (too long, binary, invalid UTF-8).
    pub errors: AtomicU64,
    /// Directive answers.
    pub directives: AtomicU64,
    /// Records answered.
    pub records: AtomicU64,
    /// Contact records answered (joined ones included).
    pub contacts: AtomicU64,
    /// Bytes written to whois and RWhois clients.
    pub bytes_sent: AtomicU64,
    /// The worker's answer cache: answers served from it, rendered, and dropped because a
    /// generation switch changed what they read (stored once per loop turn).
    pub answer_cache_hits: AtomicU64,
    /// See [`Counters::answer_cache_hits`].
    pub answer_cache_misses: AtomicU64,
    /// See [`Counters::answer_cache_hits`].
    pub answer_cache_invalidated: AtomicU64,
    /// How long the worker's answers took, from read to written.
    pub answer_latency: LatencyHistogram,
}

/// The sums of every worker's [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Totals {
    pub queries: u64,
    pub hits: u64,
    pub no_match: u64,
    pub errors: u64,
    pub directives: u64,
    pub records: u64,
    pub contacts: u64,
    pub bytes_sent: u64,
    pub answer_cache_hits: u64,
    pub answer_cache_misses: u64,
    pub answer_cache_invalidated: u64,
    pub latency: LatencySnapshot,
}

/// Counters of one process, updated with Relaxed atomics (no lock); read by `-status` for
/// operators and the metrics page ([`crate::metrics::Snapshot`]). Connections of the health
/// and metrics ports are not counted.
#[derive(Debug)]
pub struct Stats {
    /// Per worker: queries, answers, records, bytes.
    workers: Box<[Counters]>,
    /// The generation the workers serve (the last one a worker switched to).
    pub generation: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections refused because the process was at its connection cap.
    pub refused_busy: AtomicU64,
    /// Connections closed for idleness.
    pub idle_closed: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections closed for a missing, malformed or unexpected PROXY header.
    pub proxy_refused: AtomicU64,
}

struct Shared {
    shutdown: AtomicBool,
    wakers: Vec<Arc<Waker>>,
    stats: Arc<Stats>,
}

/// Asks a running server to shut down gracefully; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new(1)
    }
}

impl Stats {
    /// Counters for a process of `workers` workers.
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers.max(1)).map(|_| Counters::default()).collect(),
            generation: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused_busy: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            proxy_refused: AtomicU64::new(0),
        }
    }

    /// Worker `i`'s counters (any index is valid: it wraps).
    pub fn worker(&self, i: usize) -> &Counters {
        &self.workers[i % self.workers.len()]
    }

    /// The query counters of all workers added up.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in &self.workers {
            let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
            t.queries += n(&c.queries);
            t.hits += n(&c.hits);
            t.no_match += n(&c.no_match);
            t.errors += n(&c.errors);
            t.directives += n(&c.directives);
            t.records += n(&c.records);
            t.contacts += n(&c.contacts);
            t.bytes_sent += n(&c.bytes_sent);
            t.answer_cache_hits += n(&c.answer_cache_hits);
            t.answer_cache_misses += n(&c.answer_cache_misses);
            t.answer_cache_invalidated += n(&c.answer_cache_invalidated);
            c.answer_latency.add_to(&mut t.latency);
        }
        t
    }
}

impl Handle {
    /// Stops accepting and lets open connections finish (see the module documentation).
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        for w in &self.shared.wakers {
            let _ = w.wake();
        }
    }

    /// The process's connection counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

/// A worker's listening sockets by index (the index makes the token); `None` once closed.
type Listeners = Vec<(Protocol, Option<TcpListener>)>;

/// A bound server, ready to [`Server::run`].
pub struct Server {
    config: ServerConfig,
    live: Arc<LiveDb>,
    /// Per worker: its poll, waker, and one listener per address.
    workers: Vec<(Poll, Listeners)>,
    addrs: Vec<(Protocol, SocketAddr)>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// One listening socket with `SO_REUSEPORT`, non-blocking.
fn listen(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    // Inherited by accepted sockets (Linux): answers go out without Nagle's delay, and
    // without a system call per connection to set it.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

impl Server {
    /// Binds every listening socket (one per address per worker). An address with port 0
    /// gets a free port, shared by all workers.
    pub fn bind(config: ServerConfig, live: Arc<LiveDb>) -> io::Result<Server> {
        let workers = config.workers.max(1);
        let mut addrs = Vec::new();
        let wanted = config
            .whois
            .iter()
            .map(|&a| (Protocol::Whois, a))
            .chain(config.rwhois.iter().map(|&a| (Protocol::Rwhois, a)))
            .chain(config.health.iter().map(|&a| (Protocol::Health, a)))
            .chain(config.metrics.iter().map(|&a| (Protocol::Metrics, a)));
        let mut per_worker: Vec<Listeners> = (0..workers).map(|_| Vec::new()).collect();
        for (proto, addr) in wanted {
            let first = listen(addr, config.backlog)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            let bound = first.local_addr()?;
            addrs.push((proto, bound));
            per_worker[0].push((proto, Some(TcpListener::from_std(first))));
            for list in per_worker.iter_mut().skip(1) {
                let l = listen(bound, config.backlog).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot listen on {bound}: {e}"))
                })?;
                list.push((proto, Some(TcpListener::from_std(l))));
            }
        }
        let mut polls = Vec::new();
        let mut wakers = Vec::new();
        for listeners in per_worker {
            let poll = Poll::new()?;
            wakers.push(Arc::new(Waker::new(poll.registry(), WAKER)?));
            polls.push((poll, listeners));
        }
        for w in &wakers {
            let w = Arc::clone(w);
            live.on_switch(Box::new(move || {
                let _ = w.wake();
            }));
        }
        let stats = Stats::new(workers);
        stats
            .generation
            .store(live.current().0.number, Ordering::Relaxed);
        Ok(Server {
            config,
            live,
            workers: polls,
            addrs,
            shared: Arc::new(Shared {
                shutdown: AtomicBool::new(false),
                wakers,
                stats: Arc::new(stats),
            }),
        })
    }

    /// The bound addresses (ports resolved).
    pub fn local_addrs(&self) -> &[(Protocol, SocketAddr)] {
        &self.addrs
    }

    /// A handle to shut the server down from another thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs every worker until shutdown; returns when all have finished.
    pub fn run(self) -> io::Result<()> {
        let report: Arc<dyn StatusReport> = Arc::new(ProcessReport::new(
            Arc::clone(&self.shared.stats),
            self.config.limiter.clone(),
        ));
        let register = self.config.spool.is_some();
        let whois = Arc::new(SessionConfig {
            dialect: Protocol::Whois.dialect(),
            status_report: Some(Arc::clone(&report)),
            register,
            ..self.config.session.clone()
        });
        let rwhois = Arc::new(SessionConfig {
            dialect: Protocol::Rwhois.dialect(),
            primary: (self.config.rwhois_primary.clone())
                .unwrap_or_else(|| self.config.session.primary.clone()),
            status_report: Some(report),
            register,
            ..self.config.session.clone()
        });
        // Registrations: one completion queue per worker, fed by the registrar thread,
        // which wakes the worker's event loop after each result.
        let (done_tx, mut done_rx): (Vec<_>, Vec<_>) = (0..self.workers.len())
            .map(|_| std::sync::mpsc::channel::<register::Done>())
            .unzip();
        let registrar = match &self.config.spool {
            Some(dir) => {
                let workers = done_tx
                    .into_iter()
                    .zip(&self.shared.wakers)
                    .map(|(tx, waker)| {
                        let waker = Arc::clone(waker);
                        let wake: register::Wake = Arc::new(move || {
                            let _ = waker.wake();
                        });
                        (tx, wake)
                    })
                    .collect();
                Some(Registrar::start(dir, workers, self.config.session.now)?)
            }
            None => None,
        };
        let mut threads = Vec::new();
        for (i, (poll, listeners)) in self.workers.into_iter().enumerate() {
            let mut worker = Worker {
                index: i,
                poll,
                listeners,
                conns: Slab::new(),
                live: Arc::clone(&self.live),
                serving: self.live.current(),
                whois: Arc::clone(&whois),
                rwhois: Arc::clone(&rwhois),
                xfer_allow: self.config.xfer_allow.clone(),
                proxy_from: self.config.proxy_from.clone(),
                limiter: self.config.limiter.clone(),
                max_connections: self.config.max_connections,
                idle_timeout: self.config.idle_timeout,
                directive_wait: self.config.directive_wait,
                drain_delay: self.config.drain_delay,
                shutdown_grace: self.config.shutdown_grace,
                shared: Arc::clone(&self.shared),
                buf: vec![0; READ_CHUNK].into_boxed_slice(),
                cache: AnswerCache::new(self.config.answer_cache),
                metrics_open: 0,
                accept_paused_until: None,
                lame_duck_until: None,
                draining_until: None,
                registrar: registrar.clone(),
                completions: done_rx.remove(0),
                next_ticket: 0,
            };
            threads.push(
                thread::Builder::new()
                    .name(format!("whoisd-w{i}"))
                    .spawn(move || worker.run())?,
            );
        }
        let mut result = Ok(());
        for t in threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("a worker thread panicked")),
            }
        }
        result
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// From a load balancer: reading the PROXY header (nothing sent yet).
    Proxy,
    /// On the metrics port: reading the HTTP request head.
    Http,
    /// Reading input and answering.
    Open,
    /// A registration is out on the registrar thread: nothing is read or fed until its
    /// result comes back through the worker's completion queue ([`register::Done`]).
    Registering,
    /// The session ended: send what is left, then close.
    Closing,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    proto: Protocol,
    /// The TCP peer (a load balancer, for proxied connections).
    peer: SocketAddr,
    /// The real client: the peer, or the source a PROXY header named.
    client: SocketAddr,
    session: Session,
    /// Received input not yet fed to the session, from `in_pos`.
    input: Vec<u8>,
    in_pos: usize,
    /// Answer bytes, sent up to `sent`.
    out: Vec<u8>,
    sent: usize,
    phase: Phase,
    read_eof: bool,
    /// The socket may hold input not read yet: no read has come back short or empty-handed
    /// since the last readable event (edge-triggered: no new event comes for that input).
    may_read: bool,
    last_active: Instant,
    /// The last byte fed ended a line (nothing partial is buffered).
    at_line_start: bool,
    /// An answer has been produced since the greeting.
    answered: bool,
    /// The line being received has a non-blank byte (it will cost a query).
    line_has_content: bool,
    /// The limiter this connection was counted by (released when it closes).
    limiter: Option<Arc<Limiter>>,
    /// The ticket of the registration this connection waits for ([`Phase::Registering`]).
    awaiting: Option<u64>,
    /// When the last read that brought input returned.
    read_at: Instant,
    /// Answers in `out` whose last byte is not written yet ([`Counters::answer_latency`]).
    owed: u64,
    /// When the first of them was read.
    owed_since: Instant,
}

impl Conn {
    fn new(
        stream: TcpStream,
        proto: Protocol,
        peer: SocketAddr,
        session: Session,
        phase: Phase,
        out_capacity: usize,
    ) -> Conn {
        let now = Instant::now();
        Conn {
            stream,
            proto,
            peer,
            client: peer,
            session,
            input: Vec::new(),
            in_pos: 0,
            out: Vec::with_capacity(out_capacity),
            sent: 0,
            phase,
            read_eof: false,
            may_read: true,
            last_active: now,
            at_line_start: true,
            answered: false,
            line_has_content: false,
            limiter: None,
            awaiting: None,
            read_at: now,
            owed: 0,
            owed_since: now,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(l) = &self.limiter {
            l.disconnect(self.client.ip());
        }
    }
}

/// What to do with a connection after driving it.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Keep,
    Drop,
}

impl Conn {
    fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Between queries: nothing unsent, nothing unprocessed, no partial line.
    fn is_quiet(&self) -> bool {
        self.pending() == 0 && self.in_pos == self.input.len() && self.at_line_start
    }

    /// A port-43 session that answered a directive and waits, without `-holdconnect on`,
    /// for a query that may never come.
    fn after_directive(&self) -> bool {
        self.proto == Protocol::Whois
            && self.phase == Phase::Open
            && self.answered
            && !self.session.holdconnect()
            && !self.session.in_register_block()
            && self.is_quiet()
    }

    /// Makes all the progress the socket allows now: receive and answer as much as the
    /// output bound allows, then send, until the socket would block both ways (or the
    /// connection is done). Answers accumulate before a write, so a pipelining client gets
    /// many answers per system call, and a client that sent its query before we accepted
    /// it gets the banner and the answer in one write.
    ///
    /// System calls: a read that comes back short (less than the buffer) emptied the socket,
    /// so it is not followed by another read that would only say `WouldBlock` (the next
    /// input raises a new edge), unless the peer's FIN was already signalled (`ready.closed`:
    /// then reading goes on to the end of input, which raises no further event); and an
    /// event that only says writable reads nothing unless input may be left over.
    fn drive(
        &mut self,
        g: &Generation,
        buf: &mut [u8],
        stats: &Counters,
        cache: &mut AnswerCache,
        ready: Ready,
    ) -> Fate {
        if ready.readable {
            self.may_read = true;
        }
        let mut can_read = self.may_read || ready.closed;
        loop {
            if self.phase == Phase::Open && self.pending() < HIGH_WATER {
                // 1. Answer what was received, a line at a time, under the output bound.
                if self.in_pos < self.input.len() {
                    self.feed(g, stats, cache);
                    continue;
                }
                // 2. Receive.
                if self.read_eof {
                    if self.line_has_content && !self.charge(stats) {
                        continue;
                    }
                    let before = self.out.len();
                    self.session.finish_cached(g, Some(cache), &mut self.out);
                    self.account(before, stats);
                    self.phase = Phase::Closing;
                    continue;
                }
                if can_read {
                    match self.stream.read(buf) {
                        Ok(0) => self.read_eof = true,
                        Ok(n) => {
                            self.input.clear();
                            self.input.extend_from_slice(&buf[..n]);
                            self.in_pos = 0;
                            self.last_active = Instant::now();
                            self.read_at = self.last_active;
                            if n < buf.len() && !ready.closed {
                                can_read = false;
                                self.may_read = false;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            can_read = false;
                            self.may_read = false;
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return Fate::Drop,
                    }
                    continue;
                }
            }
            // 3. Send.
            let mut write_blocked = false;
            while self.sent < self.out.len() {
                match self.stream.write(&self.out[self.sent..]) {
                    Ok(0) => return Fate::Drop,
                    Ok(n) => {
                        self.sent += n;
                        self.last_active = Instant::now();
                        if self.proto != Protocol::Metrics {
                            stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        write_blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Fate::Drop,
                }
            }
            if self.sent == self.out.len() {
                if self.owed > 0 {
                    // `last_active` is when the write that finished them returned.
                    let took = self.last_active.saturating_duration_since(self.owed_since);
                    stats.answer_latency.record(took, self.owed);
                    self.owed = 0;
                }
                self.out.clear();
                self.sent = 0;
                if self.out.capacity() > KEEP_CAPACITY {
                    self.out = Vec::new();
                }
                if self.phase == Phase::Closing {
                    return self.close_now(buf);
                }
            }
            // Anything left to do before the next readiness event?
            let more_input = can_read || self.in_pos < self.input.len() || self.read_eof;
            if write_blocked || self.phase != Phase::Open || !more_input {
                return Fate::Keep;
            }
        }
    }

    fn feed(&mut self, g: &Generation, stats: &Counters, cache: &mut AnswerCache) {
        if !self.answered && self.at_line_start && self.input[self.in_pos..].starts_with(b"PROXY ")
        {
            // A balancer we were not told about, or a client pretending to be one.
            self.out.extend_from_slice(UNTRUSTED_PROXY.as_bytes());
            self.phase = Phase::Closing;
            self.in_pos = self.input.len();
            return;
        }
        while self.in_pos < self.input.len() && self.pending() < HIGH_WATER {
            let rest = &self.input[self.in_pos..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let completes = rest[end - 1] == b'\n';
            if !self.line_has_content {
                self.line_has_content = rest[..end].iter().any(|b| !b.is_ascii_whitespace());
            }
            if completes && self.line_has_content {
                // The lines of an operator's register block are bounded by the block, not
                // charged as queries.
                if !self.session.in_register_block() && !self.charge(stats) {
                    return;
                }
                self.line_has_content = false;
            }
            // At most one line completes per feed, so `before` is where its answer begins.
            let chunk = &self.input[self.in_pos..self.in_pos + end];
            let before = self.out.len();
            let step = self
                .session
                .feed_cached(chunk, g, Some(&mut *cache), &mut self.out);
            self.at_line_start = chunk.last() == Some(&b'\n');
            self.in_pos += end;
            if self.out.len() > before {
                self.answered = true;
            }
            if !self.account(before, stats) {
                return;
            }
            if step == Step::Close {
                self.phase = Phase::Closing;
                self.in_pos = self.input.len();
                break;
            }
            if self.session.awaiting_registration() {
                // Nothing more is fed (or read) until the registration's result is back.
                self.phase = Phase::Registering;
                return;
            }
        }
        if self.in_pos == self.input.len() {
            self.input.clear();
            self.in_pos = 0;
            if self.input.capacity() > READ_CHUNK {
                self.input = Vec::new();
            }
        }
    }

    /// Counts one more line from this client and asks the limiter for it; when it is
    /// refused, the client is told why and the connection closes.
    fn charge(&mut self, stats: &Counters) -> bool {
        stats.queries.fetch_add(1, Ordering::Relaxed);
        let Some(limiter) = &self.limiter else {
            return true;
        };
        let verdict = limiter.query(self.client.ip());
        let Some(message) = verdict.message() else {
            return true;
        };
        self.out.extend_from_slice(message.as_bytes());
        self.phase = Phase::Closing;
        self.input.clear();
        self.in_pos = 0;
        false
    }

    /// Accounts for what the session answered since `before` (the output length when the
    /// line was fed): charges its contact records to the client's daily budget and counts
    /// the answers. Over the budget, the answer is taken back before any of it is sent,
    /// the client is told why, and the connection closes (returns false).
    fn account(&mut self, before: usize, stats: &Counters) -> bool {
        let t = self.session.take_tally();
        if t.contacts > 0
            && let Some(limiter) = &self.limiter
            && let Some(message) = limiter.contacts(self.client.ip(), t.contacts).message()
        {
            // Nothing after `before` was sent: writing happens after feeding.
            self.out.truncate(before.max(self.sent));
            self.out.extend_from_slice(message.as_bytes());
            self.phase = Phase::Closing;
            self.input.clear();
            self.in_pos = 0;
            return false;
        }
        let answers: u64 = [t.hits, t.no_match, t.errors, t.directives]
            .into_iter()
            .map(u64::from)
            .sum();
        if answers > 0 {
            if self.owed == 0 {
                self.owed_since = self.read_at;
            }
            self.owed += answers;
        }
        for (counter, n) in [
            (&stats.hits, t.hits),
            (&stats.no_match, t.no_match),
            (&stats.errors, t.errors),
            (&stats.directives, t.directives),
            (&stats.records, t.records),
            (&stats.contacts, t.contacts),
        ] {
            if n > 0 {
                counter.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
        true
    }

    /// Everything is sent: close. If the client sent more than was read (input after its
    /// query), read it away first, since closing with unread input resets the connection and
    /// can destroy the answer still in flight to the client.
    fn close_now(&mut self, buf: &mut [u8]) -> Fate {
        // Bounded: a client that keeps sending is not worth more than a few reads.
        for _ in 0..4 {
            match self.stream.read(buf) {
                Ok(0) => return Fate::Drop,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Nothing unread now, so closing sends a FIN, not a reset.
                Err(_) => return Fate::Drop,
            }
        }
        Fate::Drop
    }
}

/// The [`Ctx`] of worker `$w`, borrowed field by field (a macro, not a method, so that it
/// can coexist with a borrow of one of the worker's connections).
macro_rules! ctx {
    ($w:expr) => {
        Ctx {
            serving: &$w.serving.0,
            buf: &mut $w.buf,
            whois: &$w.whois,
            rwhois: &$w.rwhois,
            xfer_allow: &$w.xfer_allow,
            limiter: $w.limiter.as_ref(),
            stats: &$w.shared.stats,
            counters: $w.shared.stats.worker($w.index),
            cache: &mut $w.cache,
            worker: $w.index,
            registrar: $w.registrar.as_ref(),
            next_ticket: &mut $w.next_ticket,
        }
    };
}

/// What driving a connection needs from its worker (borrowed field by field, so the
/// connection itself can be borrowed from the worker's slab at the same time).
struct Ctx<'w> {
    serving: &'w Generation,
    buf: &'w mut [u8],
    whois: &'w SessionConfig,
    rwhois: &'w SessionConfig,
    xfer_allow: &'w [IpNet],
    limiter: Option<&'w Arc<Limiter>>,
    stats: &'w Stats,
    /// This worker's query counters.
    counters: &'w Counters,
    cache: &'w mut AnswerCache,
    /// This worker's index (where registration results come back).
    worker: usize,
    /// Runs registrations off the event loop (with a change spool).
    registrar: Option<&'w Registrar>,
    /// The next registration ticket of this worker.
    next_ticket: &'w mut u64,
}

/// What a readiness event said about a connection (everything, when it is driven without
/// one).
#[derive(Debug, Clone, Copy)]
struct Ready {
    /// New input arrived.
    readable: bool,
    /// The peer closed its side (or the connection failed): read to the end.
    closed: bool,
}

impl Ready {
    /// No event: try everything, read until the socket says `WouldBlock`.
    const ANY: Ready = Ready {
        readable: true,
        closed: true,
    };

    fn of(ev: &mio::event::Event) -> Ready {
        Ready {
            readable: ev.is_readable(),
            closed: ev.is_read_closed() || ev.is_error(),
        }
    }
}

impl Ctx<'_> {
    /// Drives one connection: first its PROXY header, if it owes one, or its HTTP request
    /// on the metrics port; then the session (or the sending of the metrics).
    fn drive(&mut self, key: usize, conn: &mut Conn, ready: Ready) -> Fate {
        loop {
            let fate = self.drive_once(conn, ready);
            if fate == Fate::Drop || conn.phase != Phase::Registering || conn.awaiting.is_some() {
                return fate;
            }
            // The session produced a registration: queue it, or answer "busy" and go on.
            self.dispatch(key, conn);
            if conn.awaiting.is_some() {
                return Fate::Keep;
            }
        }
    }

    /// Hands the connection's registration to the registrar thread (the connection, slab
    /// key `key`, then waits in [`Phase::Registering`]); when the queue is full, answers
    /// that the server is busy at once.
    fn dispatch(&mut self, key: usize, conn: &mut Conn) {
        let Some(submission) = conn.session.take_registration() else {
            // Not reached (only this takes registrations); end the wait all the same.
            let e = register::RegError::busy();
            complete(
                conn,
                register::Outcome::Failed(e),
                self.serving,
                self.counters,
            );
            return;
        };
        let ticket = *self.next_ticket;
        *self.next_ticket += 1;
        if let Some(registrar) = self.registrar {
            let job = register::Job {
                worker: self.worker,
                key,
                ticket,
                submission,
            };
            if registrar.try_submit(job).is_ok() {
                conn.awaiting = Some(ticket);
                return;
            }
        }
        let outcome = register::Outcome::Failed(register::RegError::busy());
        complete(conn, outcome, self.serving, self.counters);
    }

    fn drive_once(&mut self, conn: &mut Conn, ready: Ready) -> Fate {
        if conn.phase == Phase::Http {
            match read_http_request(conn, self.buf) {
                Ok(None) => return Fate::Keep,
                Ok(Some(req)) => {
                    conn.out = metrics::response(req, |body| {
                        let snapshot = Snapshot::take(self.stats, self.limiter.map(|l| &**l));
                        metrics::exposition(&snapshot, body);
                    });
                    conn.sent = 0;
                    conn.phase = Phase::Closing;
                }
                Err(()) => return Fate::Drop,
            }
        }
        if conn.phase == Phase::Proxy {
            match read_proxy_header(conn, self.buf) {
                Ok(None) => return Fate::Keep,
                Ok(Some(client)) => {
                    conn.client = client;
                    let base = match conn.proto {
                        Protocol::Whois | Protocol::Health | Protocol::Metrics => self.whois,
                        Protocol::Rwhois => self.rwhois,
                    };
                    conn.session = new_session(base, contains(self.xfer_allow, client.ip()));
                    conn.phase = Phase::Open;
                    if self.admit_client(conn) {
                        conn.session.greeting(&mut conn.out);
                    }
                }
                Err(why) => {
                    self.stats.proxy_refused.fetch_add(1, Ordering::Relaxed);
                    crate::log(&format!("{}: connection closed: {why}", conn.peer));
                    return Fate::Drop;
                }
            }
        }
        conn.drive(self.serving, self.buf, self.counters, self.cache, ready)
    }

    /// Asks the limiter to admit the connection's (real) client: counts the connection,
    /// or queues the refusal and closes. Returns whether it was admitted.
    fn admit_client(&self, conn: &mut Conn) -> bool {
        let Some(limiter) = self.limiter else {
            return true;
        };
        let ip = conn.client.ip();
        if let Some(message) = limiter.connect(ip).message() {
            conn.out.extend_from_slice(message.as_bytes());
            conn.phase = Phase::Closing;
            return false;
        }
        limiter.connected(ip);
        conn.limiter = Some(Arc::clone(limiter));
        true
    }
}

struct Worker {
    /// Which worker (its counters in [`Stats`]).
    index: usize,
    poll: Poll,
    /// Listeners by index (the token); `None` once closed.
    listeners: Listeners,
    conns: Slab<Conn>,
    live: Arc<LiveDb>,
    /// The generation this worker serves, with its version.
    serving: (Arc<Generation>, u64),
    whois: Arc<SessionConfig>,
    rwhois: Arc<SessionConfig>,
    xfer_allow: Vec<IpNet>,
    proxy_from: Vec<IpNet>,
    limiter: Option<Arc<Limiter>>,
    max_connections: usize,
    idle_timeout: Duration,
    directive_wait: Duration,
    drain_delay: Duration,
    shutdown_grace: Duration,
    shared: Arc<Shared>,
    buf: Box<[u8]>,
    /// Rendered answers of the generation served.
    cache: AnswerCache,
    /// Metrics connections open on this worker (not in [`Stats::open`]).
    metrics_open: usize,
    accept_paused_until: Option<Instant>,
    /// Shutdown asked: health listeners closed, still serving until then.
    lame_duck_until: Option<Instant>,
    /// Listeners closed: connections finish until then.
    draining_until: Option<Instant>,
    /// Runs registrations off the event loop (with a change spool).
    registrar: Option<Registrar>,
    /// Results of this worker's registrations (the registrar wakes the poll after each).
    completions: std::sync::mpsc::Receiver<register::Done>,
    /// The next registration ticket.
    next_ticket: u64,
}

impl Worker {
    /// Makes the answer cache's counters visible to `-status` and the metrics page.
    fn publish_cache_counts(&self) {
        let c = self.cache.stats();
        let mine = self.shared.stats.worker(self.index);
        mine.answer_cache_hits.store(c.hits, Ordering::Relaxed);
        mine.answer_cache_misses.store(c.misses, Ordering::Relaxed);
        mine.answer_cache_invalidated
            .store(c.invalidated, Ordering::Relaxed);
    }

    fn run(&mut self) -> io::Result<()> {
        for (i, (_, l)) in self.listeners.iter_mut().enumerate() {
            if let Some(l) = l {
                self.poll
                    .registry()
                    .register(l, Token(LISTENER_BASE - i), Interest::READABLE)?;
            }
        }
        let mut events = Events::with_capacity(1024);
        let sweep_every = (self.idle_timeout.min(self.directive_wait) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            let wake_at = match self.lame_duck_until {
                Some(t) if self.draining_until.is_none() => t.min(next_sweep),
                _ => next_sweep,
            };
            let timeout = wake_at.saturating_duration_since(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Err(e) if e.kind() != ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
            if self.live.version() != self.serving.1 {
                let from = self.serving.1;
                self.serving = self.live.current();
                // Cached answers that cannot have changed stay (checked when next found).
                let changes = self.live.changes(from, self.serving.1);
                self.cache.switch(&self.serving.0, changes.as_deref());
                (self.shared.stats.generation).store(self.serving.0.number, Ordering::Relaxed);
            }
            self.publish_cache_counts();
            if self.lame_duck_until.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
                self.close_listeners(|p| p == Protocol::Health);
                self.lame_duck_until = Some(Instant::now() + self.drain_delay);
            }
            if self.draining_until.is_none()
                && self.lame_duck_until.is_some_and(|t| Instant::now() >= t)
            {
                self.begin_drain();
            }
            for ev in &events {
                match ev.token() {
                    WAKER => {}
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t);
                    }
                    Token(key) => self.drive(key, Ready::of(ev)),
                }
            }
            self.complete_registrations();
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + sweep_every;
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                for i in 0..self.listeners.len() {
                    self.accept(i);
                }
            }
            if let Some(deadline) = self.draining_until {
                self.close_quiet();
                if self.conns.is_empty() {
                    return Ok(());
                }
                if now >= deadline {
                    let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                    for k in keys {
                        self.remove(k);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn drive(&mut self, key: usize, ready: Ready) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let mut ctx = ctx!(self);
        if ctx.drive(key, conn, ready) == Fate::Drop {
            self.remove(key);
        }
    }

    /// Answers the registrations whose results came back (the registrar woke the poll),
    /// and drives their connections on. A result for a connection that is gone, or whose
    /// key now belongs to another connection (the ticket differs), is dropped.
    fn complete_registrations(&mut self) {
        while let Ok(done) = self.completions.try_recv() {
            let Some(conn) = self.conns.get_mut(done.key) else {
                continue;
            };
            if conn.awaiting != Some(done.ticket) {
                continue;
            }
            let counters = self.shared.stats.worker(self.index);
            complete(conn, done.outcome, &self.serving.0, counters);
            self.drive(done.key, Ready::ANY);
        }
    }

    fn remove(&mut self, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            if conn.proto == Protocol::Metrics {
                self.metrics_open -= 1;
            } else {
                self.shared.stats.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn accept(&mut self, index: usize) {
        if self.accept_paused_until.is_some() || self.draining_until.is_some() {
            return;
        }
        loop {
            let Some((proto, Some(listener))) = self.listeners.get(index) else {
                return;
            };
            let proto = *proto;
            match listener.accept() {
                Ok((stream, peer)) => self.admit(proto, stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_resource_exhaustion(&e) => {
                    crate::log(&format!("accept paused for {ACCEPT_BACKOFF:?}: {e}"));
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                // The peer went away before we accepted it, and the like.
                Err(_) => {}
            }
        }
    }

    fn admit(&mut self, proto: Protocol, mut stream: TcpStream, peer: SocketAddr) {
        if proto == Protocol::Health {
            let _ = stream.write(b"ok\r\n");
            return;
        }
        if proto == Protocol::Metrics {
            self.admit_metrics(stream, peer);
            return;
        }
        let stats = &self.shared.stats;
        if stats.open.load(Ordering::Relaxed) >= self.max_connections {
            stats.refused_busy.fetch_add(1, Ordering::Relaxed);
            let _ = stream.write(BUSY.as_bytes());
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let base = match proto {
            Protocol::Whois | Protocol::Health | Protocol::Metrics => &self.whois,
            Protocol::Rwhois => &self.rwhois,
        };
        let session = new_session(base, contains(&self.xfer_allow, peer.ip()));
        let proxied = contains(&self.proxy_from, peer.ip());
        let mut conn = Conn::new(
            stream,
            proto,
            peer,
            session,
            if proxied { Phase::Proxy } else { Phase::Open },
            4096,
        );
        // Most clients send their query at once: answer it before involving the poller,
        // so a whole exchange can end here without a registration.
        // The slab key the connection will get (nothing is inserted before it is).
        let key = self.conns.vacant_key();
        let mut ctx = ctx!(self);
        if !proxied && ctx.admit_client(&mut conn) {
            conn.session.greeting(&mut conn.out);
        }
        // A short read stops reading: registering afterwards reports input that arrived
        // since (epoll checks readiness when a socket is added).
        let first = Ready {
            readable: true,
            closed: false,
        };
        if ctx.drive(key, &mut conn, first) == Fate::Drop {
            stats.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut conn.stream, token, interest)
            .is_err()
        {
            stats.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        entry.insert(conn);
    }

    /// A metrics connection: read its request (driven once now, like a whois connection),
    /// answer, close. At most [`MAX_METRICS_CONNECTIONS`] per worker; beyond, closed.
    fn admit_metrics(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.metrics_open >= MAX_METRICS_CONNECTIONS {
            return;
        }
        let mut conn = Conn::new(
            stream,
            Protocol::Metrics,
            peer,
            Session::new(&self.whois),
            Phase::Http,
            0,
        );
        let key = self.conns.vacant_key();
        let mut ctx = ctx!(self);
        if ctx.drive(key, &mut conn, Ready::ANY) == Fate::Drop {
            return;
        }
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if (self.poll.registry())
            .register(&mut conn.stream, token, interest)
            .is_ok()
        {
            entry.insert(conn);
            self.metrics_open += 1;
        }
    }

    /// Closes connections idle longer than the timeout, and port-43 connections that asked
    /// only directives and then fell silent.
    fn sweep(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut done = Vec::new();
        let mut stuck = Vec::new();
        for (key, conn) in &self.conns {
            let idle = now.duration_since(conn.last_active);
            if conn.phase == Phase::Registering {
                // The server, not the client, is slow: only a registrar that never answers
                // ends the wait.
                if idle >= register::MAX_WAIT.max(self.idle_timeout) {
                    stuck.push(key);
                }
            } else if conn.after_directive() && idle >= self.directive_wait {
                done.push(key);
            } else if idle >= self.idle_timeout {
                expired.push(key);
            }
        }
        for key in stuck {
            if let Some(conn) = self.conns.get_mut(key) {
                let e = register::RegError::unknown_result();
                let counters = self.shared.stats.worker(self.index);
                complete(
                    conn,
                    register::Outcome::Failed(e),
                    &self.serving.0,
                    counters,
                );
            }
            self.drive(key, Ready::ANY);
        }
        for key in done {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.phase = Phase::Closing;
            }
            self.drive(key, Ready::ANY);
        }
        for key in expired {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.proto != Protocol::Metrics {
                let stats = &self.shared.stats;
                stats.idle_closed.fetch_add(1, Ordering::Relaxed);
            }
            if matches!(conn.phase, Phase::Proxy | Phase::Http) {
                // A balancer that never sent its header; a metrics request never finished.
                self.remove(key);
            } else if conn.phase == Phase::Open && conn.pending() == 0 {
                // Tell the client why, once; then close as usual.
                conn.out.extend_from_slice(IDLE.as_bytes());
                conn.phase = Phase::Closing;
                conn.last_active = now;
                conn.input.clear();
                conn.in_pos = 0;
                self.drive(key, Ready::ANY);
            } else {
                // Its output is stuck (the client does not read) or it already had its
                // chance to close: drop it.
                self.remove(key);
            }
        }
    }

    fn begin_drain(&mut self) {
        // Take what the kernel already queued for us, then stop listening.
        for i in 0..self.listeners.len() {
            self.accept(i);
        }
        self.close_listeners(|_| true);
        self.draining_until = Some(Instant::now() + self.shutdown_grace);
    }

    fn close_listeners(&mut self, which: impl Fn(Protocol) -> bool) {
        for (proto, slot) in &mut self.listeners {
            if which(*proto)
                && let Some(mut l) = slot.take()
            {
                let _ = self.poll.registry().deregister(&mut l);
            }
        }
    }

    /// While draining: closes connections waiting between queries after an answer.
    fn close_quiet(&mut self) {
        let quiet: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                (c.phase == Phase::Open && c.answered && c.is_quiet())
                    || (c.phase == Phase::Http && c.input.is_empty())
            })
            .map(|(k, _)| k)
            .collect();
        for key in quiet {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.phase = Phase::Closing;
            }
            self.drive(key, Ready::ANY);
        }
    }
}

/// Answers a connection's registration with its `outcome` (the session writes it and
/// feeds what it held meanwhile) and lets the connection go on.
fn complete(conn: &mut Conn, outcome: register::Outcome, g: &Generation, counters: &Counters) {
    conn.awaiting = None;
    let before = conn.out.len();
    let step = conn
        .session
        .complete_registration(outcome, g, &mut conn.out);
    conn.phase = Phase::Open;
    if step == Step::Close {
        conn.phase = Phase::Closing;
        conn.in_pos = conn.input.len();
    }
    conn.last_active = Instant::now();
    if conn.out.len() > before {
        conn.answered = true;
    }
    conn.account(before, counters);
}

/// Is `ip` (an IPv4-mapped IPv6 address counting as IPv4) in one of `nets`?
fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    if nets.is_empty() {
        return false;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|net| net.contains(&ip))
}

fn new_session(base: &SessionConfig, xfer_allowed: bool) -> Session {
    if xfer_allowed {
        Session::new(&SessionConfig {
            xfer_allowed: true,
            ..base.clone()
        })
    } else {
        Session::new(base)
    }
}

/// Reads until the PROXY header is complete: `Ok(Some(client))`, `Ok(None)` to wait for
/// more, or why the connection must be closed. Bytes after the header stay in the
/// connection's input for the session.
fn read_proxy_header(conn: &mut Conn, buf: &mut [u8]) -> Result<Option<SocketAddr>, String> {
    const MAX_HEADER: usize = 16 + crate::proxy::MAX_V2_LEN;
    loop {
        match crate::proxy::parse(&conn.input) {
            Ok(crate::proxy::Parsed::Complete(h, used)) => {
                conn.input.drain(..used);
                conn.in_pos = 0;
                return Ok(Some(h.source.unwrap_or(conn.peer)));
            }
            Ok(crate::proxy::Parsed::Incomplete) => {}
            Err(e) => return Err(e.to_string()),
        }
        let room = MAX_HEADER
            .saturating_sub(conn.input.len())
            .clamp(1, buf.len());
        match conn.stream.read(&mut buf[..room]) {
            Ok(0) => return Err("the balancer closed before a whole PROXY header".into()),
            Ok(n) => {
                conn.input.extend_from_slice(&buf[..n]);
                conn.last_active = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the PROXY header: {e}")),
        }
    }
}

/// Reads a metrics request until its head is complete (or too long): `Ok(Some(request))`,
/// `Ok(None)` to wait for more, `Err` when the client went away first.
fn read_http_request(conn: &mut Conn, buf: &mut [u8]) -> Result<Option<metrics::Request>, ()> {
    loop {
        if let Some(req) = metrics::parse_request(&conn.input) {
            conn.input.clear();
            return Ok(Some(req));
        }
        let room = metrics::MAX_REQUEST
            .saturating_sub(conn.input.len())
            .clamp(1, buf.len());
        match conn.stream.read(&mut buf[..room]) {
            Ok(0) => return Err(()),
            Ok(n) => {
                conn.input.extend_from_slice(&buf[..n]);
                conn.last_active = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Sent to a connection over the process's cap, then closed.
const BUSY: &str = "% Error: this server is at its connection limit; try again in a few seconds\r\n%error 501 Service Not Available\r\n";
/// Sent to a PROXY header from an address not configured as a balancer.
const UNTRUSTED_PROXY: &str = "% Error: PROXY protocol header from an address that is not a configured load balancer\r\n%error 401 Not Authorized For Directive\r\n";
/// Sent to a connection closed for idleness.
const IDLE: &str = "% Error: no query received in time; the connection is closed\r\n%error 503 Idle Time Exceeded\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let l = listen(SocketAddr::from(([127, 0, 0, 1], 0)), 16).unwrap();
        l.set_nonblocking(false).unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(s.nodelay().unwrap());
    }

    #[test]
    fn listeners_of_one_port_coexist() {
        let a = listen(SocketAddr::from(([127, 0, 0, 1], 0)), 16).unwrap();
        let b = listen(a.local_addr().unwrap(), 16).unwrap();
        assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    }

    #[test]
    fn prefixes_match_including_mapped_addresses() {
        let nets: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert!(contains(&nets, "192.0.2.7".parse().unwrap()));
        assert!(contains(&nets, "::ffff:192.0.2.7".parse().unwrap()));
        assert!(!contains(&nets, "192.0.3.7".parse().unwrap()));
        assert!(!contains(&nets, "2001:db8::1".parse().unwrap()));
        assert!(!contains(&[], "192.0.2.7".parse().unwrap()));
    }
}
