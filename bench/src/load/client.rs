//! The load-generating client: per thread one mio event loop driving many connections, each
//! an explicit state machine (`State`), so that the generator costs little CPU beside the
//! server it measures.
//!
//! - `connect` mode: per query, connect (optionally from a chosen source address), send the
//!   query line, read until the server closes. Latency runs from writing the query to the
//!   answer's `>>> Last update` line.
//! - `hold` mode: connect, send `-holdconnect on`, wait for `%ok`, then keep `pipeline`
//!   queries in flight, answers delimited by [`AnswerReader`]; each query's latency runs
//!   from its write to the end of its answer. The queries that replace the answers of one
//!   read leave in one write, so the generator's system calls per query stay below the
//!   server's.
//!
//! - `rate` (open loop, either mode): queries are due on a fixed schedule ([`Pacer`]) and
//!   go out on whichever connection is free; a query's latency runs from when it was *due*,
//!   so time spent waiting for a connection counts (no coordinated omission). Without a
//!   rate, each connection sends its next query as soon as the previous one is answered
//!   (closed loop).
//!
//! Every wait has a deadline (`timeout`); a run stops at its duration (in-flight queries are
//! then "unfinished") or when its query count is done. Queries sent during the warm-up are
//! neither counted nor timed. Answer parsing is in [`super::answer`], counting in
//! [`super::stats`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::answer::{AnswerKind, AnswerReader, Event, Markers};
use super::mix::{QueryPool, Rng};
use super::pace::Pacer;
use super::stats::{ErrorKind, Stats};

/// How queries use connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One connection per query (RFC 3912).
    Connect,
    /// `-holdconnect on`, then many (optionally pipelined) queries per connection.
    Hold,
}

impl Mode {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Connect => "connect",
            Mode::Hold => "hold",
        }
    }
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Measure for this long (after the warm-up).
    Duration(Duration),
    /// Send this many measured queries, then wait for their answers.
    Count(u64),
}

/// Settings of a client run.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server.
    pub target: SocketAddr,
    /// Connection use.
    pub mode: Mode,
    /// Queries in flight per connection (hold mode).
    pub pipeline: usize,
    /// Connections open at once (over all threads).
    pub concurrency: usize,
    /// Client threads, each with its own event loop.
    pub threads: usize,
    /// End of the run.
    pub limit: Limit,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// Longest wait for a connection or for progress on an answer.
    pub timeout: Duration,
    /// Bind connections to this many source addresses from `source_base` on (0: any).
    pub source_spread: u32,
    /// The first source address of the spread (127.0.0.2 by default).
    pub source_base: Ipv4Addr,
    /// Limiter markers for answer classification.
    pub markers: Markers,
    /// Seed of query choice.
    pub seed: u64,
    /// Open-loop pacing: queries per second over all threads (`None`: as fast as answered).
    pub rate: Option<f64>,
    /// Paced: between due queries, poll without sleeping instead of napping (a core stays
    /// busy, but no timer wake-up, late on a busy or virtual machine, delays a query).
    pub spin: bool,
}

impl ClientConfig {
    /// Checks settings that would otherwise fail at run time.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1".into());
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0 && r <= 1e8)
        {
            return Err(format!("--rate must be above 0 and at most 10^8, got {r}"));
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be above 0".into());
        }
        if self.source_spread > 0 && !matches!(self.target.ip(), IpAddr::V4(ip) if ip.is_loopback())
        {
            return Err(format!(
                "--source-spread binds to 127.0.0.x source addresses: the target must be an \
                 IPv4 loopback address, not {}",
                self.target
            ));
        }
        if self.source_spread > 16_000_000 {
            return Err("--source-spread: at most 16,000,000 addresses in 127.0.0.0/8".into());
        }
        Ok(())
    }
}

/// The default first source address of a spread.
pub const SOURCE_BASE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The source address of connection slot `i` (`None`: let the system choose).
pub fn source_address(spread: u32, i: usize) -> Option<Ipv4Addr> {
    source_address_from(SOURCE_BASE, spread, i)
}

/// The source address of connection slot `i` in a spread starting at `base`.
pub fn source_address_from(base: Ipv4Addr, spread: u32, i: usize) -> Option<Ipv4Addr> {
    if spread == 0 {
        return None;
    }
    let k = (i as u64 % u64::from(spread)) as u32;
    Some(Ipv4Addr::from(u32::from(base).wrapping_add(k)))
}

/// Runs the load; returns the merged counters with `elapsed` set to the measured window.
pub fn run(cfg: &ClientConfig, pool: &Arc<QueryPool>) -> io::Result<Stats> {
    cfg.validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let threads = cfg.threads.min(cfg.concurrency);
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let results: Vec<io::Result<(Stats, Instant)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let first = cfg.concurrency * t / threads;
                let last = cfg.concurrency * (t + 1) / threads;
                let budget = match cfg.limit {
                    Limit::Count(n) => {
                        Some(n * (t as u64 + 1) / threads as u64 - n * t as u64 / threads as u64)
                    }
                    Limit::Duration(_) => None,
                };
                let pool = Arc::clone(pool);
                std::thread::Builder::new()
                    .name(format!("whois-load-{t}"))
                    .spawn_scoped(s, move || {
                        let pacer = cfg.rate.map(|r| Pacer::new(start, r, t, threads));
                        let mut w =
                            Worker::new(cfg, pool, first..last, budget, start, t as u64, pacer)?;
                        w.run()?;
                        w.finish_pacing();
                        Ok((w.stats, w.ended))
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("client thread panicked"))),
                Err(e) => Err(e),
            })
            .collect()
    });
    let mut total = Stats::new();
    let mut ended = measure_start;
    for r in results {
        let (s, e) = r?;
        total.merge(&s);
        ended = ended.max(e);
    }
    total.elapsed = ended.saturating_duration_since(measure_start);
    total.target_rate = cfg.rate;
    Ok(total)
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Non-blocking connect under way.
    Connecting,
    /// `-holdconnect on` sent, waiting for `%ok`.
    Handshake,
    /// Sending queries and reading answers.
    Open,
    /// Connect mode: the answer is complete; waiting for the server to close.
    Draining,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    state: State,
    reader: AnswerReader,
    out: Vec<u8>,
    out_pos: usize,
    /// Queries written and not answered: (start of their latency, when written, measured?).
    inflight: VecDeque<(Instant, Instant, bool)>,
    /// Connect mode: the query waiting for the connection.
    pending_query: Option<Ticket>,
    deadline: Option<Instant>,
    /// When the connection was started.
    opened: Instant,
    /// The server no longer takes input (broken pipe); reading goes on.
    write_closed: bool,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    source: Option<Ipv4Addr>,
}

/// A query allowed out by [`Worker::take_query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    /// Paced: when it was due (its latency runs from there). Else latency runs from its write.
    due: Option<Instant>,
    /// In the measured window.
    measured: bool,
}

impl Ticket {
    fn start(self, now: Instant) -> Instant {
        self.due.unwrap_or(now)
    }
}

const BACKOFF: Duration = Duration::from_millis(10);
/// Paced: with the next query due sooner than this, sleep in short naps instead of waiting in
/// `poll` (whose timeout has millisecond granularity).
const NAP_BELOW: Duration = Duration::from_millis(1);
/// Longest nap: bounds how late an answer read or a due query can be through napping.
const NAP_MAX: Duration = Duration::from_micros(50);
const SCAN_EVERY: Duration = Duration::from_millis(10);
/// Reads per readiness event before other connections get a turn.
const READS_PER_EVENT: usize = 16;

#[cfg(target_os = "linux")]
const EINPROGRESS: i32 = 115;
#[cfg(not(target_os = "linux"))]
const EINPROGRESS: i32 = 36;

struct Worker<'c> {
    cfg: &'c ClientConfig,
    pool: Arc<QueryPool>,
    rng: Rng,
    poll: Poll,
    slots: Vec<Slot>,
    /// Slots to connect now, and later (after a back-off).
    to_open: VecDeque<usize>,
    delayed: Vec<(Instant, usize)>,
    /// Slots whose readable event was cut short by [`READS_PER_EVENT`].
    again: Vec<usize>,
    /// Measured queries still to send (count mode).
    budget: Option<u64>,
    measure_start: Instant,
    stop_at: Option<Instant>,
    stats: Stats,
    ended: Instant,
    buf: Vec<u8>,
    events: Vec<Event>,
    /// Open-loop schedule (`--rate`).
    pacer: Option<Pacer>,
    /// Hold mode, paced: where the next due query looks for a free connection.
    cursor: usize,
    /// Paced hold mode: connections given queries in this turn, to write once at its end.
    touched: Vec<usize>,
}

impl std::fmt::Debug for Worker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<'c> Worker<'c> {
    fn new(
        cfg: &'c ClientConfig,
        pool: Arc<QueryPool>,
        slots: std::ops::Range<usize>,
        budget: Option<u64>,
        start: Instant,
        thread: u64,
        pacer: Option<Pacer>,
    ) -> io::Result<Worker<'c>> {
        let measure_start = start + cfg.warmup;
        let stop_at = match cfg.limit {
            Limit::Duration(d) => Some(measure_start + d),
            Limit::Count(_) => None,
        };
        let n = slots.len();
        Ok(Worker {
            cfg,
            pool,
            rng: Rng::new(cfg.seed.wrapping_add(thread.wrapping_mul(0x9e37_79b9))),
            poll: Poll::new()?,
            slots: slots
                .map(|i| Slot {
                    conn: None,
                    source: source_address_from(cfg.source_base, cfg.source_spread, i),
                })
                .collect(),
            to_open: (0..n).collect(),
            delayed: Vec::new(),
            again: Vec::new(),
            budget,
            measure_start,
            stop_at,
            stats: Stats::new(),
            ended: start,
            buf: vec![0; 64 * 1024],
            events: Vec::with_capacity(16),
            pacer,
            cursor: 0,
            touched: Vec::new(),
        })
    }

    fn measuring(&self, now: Instant) -> bool {
        now >= self.measure_start
    }

    /// May another query be sent now? Paced, only one that is due. Takes it from the budget
    /// when measured.
    fn take_query(&mut self, now: Instant) -> Option<Ticket> {
        let due = match &self.pacer {
            Some(p) => Some(Some(p.next_at()).filter(|&at| at <= now)?),
            None => None,
        };
        let measured = self.measuring(due.unwrap_or(now));
        if measured {
            if let Some(b) = &mut self.budget {
                if *b == 0 {
                    return None;
                }
                *b -= 1;
            }
            self.stats.attempted += 1;
        }
        if let (Some(p), Some(due)) = (&mut self.pacer, due) {
            p.take(now);
            if measured {
                self.stats.send_lag(now.saturating_duration_since(due));
            }
        }
        Some(Ticket { due, measured })
    }

    /// Paced and in connect mode: no query due, so idle slots stay idle.
    fn nothing_due(&self, now: Instant) -> bool {
        self.cfg.mode == Mode::Connect && self.pacer.as_ref().is_some_and(|p| !p.has_due(now))
    }

    /// Paced hold mode: hands the queries due now to the open connection with the fewest in
    /// flight, as many as its pipeline has room for (then the next such connection, while
    /// queries are due), then writes each connection's new queries at once (one system call
    /// per connection, not per query). True if queries are still due (no room left).
    fn dispatch(&mut self, now: Instant) -> bool {
        let n = self.slots.len();
        if !self.budget_left() {
            // Count mode, budget spent: idle connections are done.
            for slot in &mut self.slots {
                if slot
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.state == State::Open && c.inflight.is_empty())
                    && let Some(mut c) = slot.conn.take()
                {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                }
            }
            return false;
        }
        while self.budget_left() && self.pacer.as_ref().is_some_and(|p| p.has_due(now)) {
            // The open connection with room and the fewest queries in flight, looking from
            // the cursor on so that equally idle connections take turns.
            let pipeline = self.cfg.pipeline;
            let best = (0..n)
                .map(|k| (self.cursor + k) % n)
                .filter_map(|i| {
                    let c = self.slots[i].conn.as_ref()?;
                    let room =
                        c.state == State::Open && !c.write_closed && c.inflight.len() < pipeline;
                    room.then_some((c.inflight.len(), i))
                })
                .min_by_key(|&(inflight, _)| inflight);
            let Some((_, i)) = best else {
                break;
            };
            self.cursor = (i + 1) % n;
            // Every query due now goes out on it, up to its pipeline: one write, and the
            // server reads them in one go, as a pipelining client's would be.
            let added = self.refill_up_to(i, now, pipeline, false);
            if !self.touched.contains(&i) {
                self.touched.push(i);
            }
            if added == 0 {
                // Nothing could be taken after all: never spin here.
                break;
            }
        }
        for i in std::mem::take(&mut self.touched) {
            self.flush(i, now);
        }
        self.pacer.as_ref().is_some_and(|p| p.has_due(now)) && self.budget_left()
    }

    /// Records how the schedule went in the measured window (after the run).
    fn finish_pacing(&mut self) {
        let Some(p) = &self.pacer else {
            return;
        };
        let mut scheduled = p
            .due_by(self.ended)
            .saturating_sub(p.due_by(self.measure_start));
        if let Some(b) = self.budget {
            scheduled = scheduled.min(self.stats.attempted + b);
        }
        self.stats.scheduled += scheduled;
        self.stats.behind += scheduled.saturating_sub(self.stats.attempted);
    }

    fn budget_left(&self) -> bool {
        self.budget != Some(0)
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_scan = Instant::now() + SCAN_EVERY;
        loop {
            let now = Instant::now();
            if self.stop_at.is_some_and(|s| now >= s) {
                self.ended = now;
                break;
            }
            while !self.to_open.is_empty() && !self.nothing_due(now) {
                let i = self.to_open.pop_front().expect("not empty");
                self.open(i, now);
            }
            let starved = match (&self.pacer, self.cfg.mode) {
                (Some(_), Mode::Hold) => self.dispatch(now),
                (Some(p), Mode::Connect) => p.has_due(now),
                (None, _) => false,
            };
            if !self.budget_left()
                && self.slots.iter().all(|s| s.conn.is_none())
                && self.to_open.is_empty()
            {
                self.ended = now;
                break;
            }
            let mut wait = next_scan.saturating_duration_since(now);
            if let Some(s) = self.stop_at {
                wait = wait.min(s.saturating_duration_since(now));
            }
            if !self.again.is_empty() || (!self.to_open.is_empty() && !self.nothing_due(now)) {
                wait = Duration::ZERO;
            }
            // Paced: be up in time for the next due query. `poll` sleeps whole milliseconds,
            // so the last one is spent in short naps between non-blocking polls.
            let mut nap = None;
            if let Some(p) = &self.pacer
                && !starved
                && self.budget_left()
            {
                let due_in = p.next_at().saturating_duration_since(now);
                if due_in < NAP_BELOW {
                    nap = Some(if self.cfg.spin {
                        Duration::ZERO
                    } else {
                        due_in.min(NAP_MAX)
                    });
                    wait = Duration::ZERO;
                } else {
                    wait = wait.min(due_in - NAP_BELOW);
                }
            }
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Some(d) = nap
                && events.is_empty()
                && self.again.is_empty()
                && !d.is_zero()
            {
                std::thread::sleep(d);
            }
            for i in std::mem::take(&mut self.again) {
                self.on_ready(i, true, false, true);
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if i < self.slots.len() {
                    let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    let writable = ev.is_writable() || ev.is_error();
                    let closed = ev.is_read_closed() || ev.is_error();
                    self.on_ready(i, readable, writable, closed);
                }
            }
            let now = Instant::now();
            if now >= next_scan {
                next_scan = now + SCAN_EVERY;
                self.scan(now);
            }
        }
        Ok(())
    }

    /// Timeouts and back-offs that are due.
    fn scan(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let due = self.slots[i]
                .conn
                .as_ref()
                .is_some_and(|c| c.deadline.is_some_and(|d| now >= d));
            if !due {
                continue;
            }
            let state = self.slots[i].conn.as_ref().map(|c| c.state);
            if state == Some(State::Draining) {
                // The answer is counted; the server just did not close in time.
                self.close(i, now, Duration::ZERO);
                continue;
            }
            let what = match state {
                Some(State::Connecting) => "connect",
                Some(State::Handshake) => "-holdconnect on",
                _ => "answer",
            };
            let timeout = self.cfg.timeout;
            self.fail(i, now, ErrorKind::Timeout, || {
                format!("no {what} within {timeout:?}")
            });
        }
        let mut k = 0;
        while k < self.delayed.len() {
            if self.delayed[k].0 <= now {
                let (_, i) = self.delayed.swap_remove(k);
                self.to_open.push_back(i);
            } else {
                k += 1;
            }
        }
    }

    fn connect(&self, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
        let target = self.cfg.target;
        let s = Socket::new(
            Domain::for_address(target),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        s.set_nonblocking(true)?;
        if let Some(src) = source {
            s.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())
                .map_err(|e| io::Error::new(e.kind(), format!("bind {src}: {e}")))?;
        }
        match s.connect(&target.into()) {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let std: std::net::TcpStream = s.into();
        std.set_nodelay(true)?;
        Ok(TcpStream::from_std(std))
    }

    fn open(&mut self, i: usize, now: Instant) {
        if !self.budget_left() {
            return;
        }
        let pending_query = match self.cfg.mode {
            Mode::Connect => match self.take_query(now) {
                Some(t) => Some(t),
                // Paced, nothing due: the slot waits for the next due query.
                None if self.pacer.is_some() && self.budget_left() => {
                    return self.to_open.push_front(i);
                }
                None => return,
            },
            Mode::Hold => None,
        };
        let mut stream = match self.connect(self.slots[i].source) {
            Ok(s) => s,
            Err(e) => {
                // A failed connection costs the query it was for (hold mode: one query too,
                // so that a count run against a dead server ends).
                let failed = match pending_query {
                    Some(t) => u64::from(t.measured),
                    None => self.take_query(now).map_or(0, |t| u64::from(t.measured)),
                };
                self.count_error(now, ErrorKind::of(&e), failed, || format!("connect: {e}"));
                self.delayed.push((now + BACKOFF, i));
                return;
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            let failed = pending_query.map_or(0, |t| u64::from(t.measured));
            self.count_error(now, ErrorKind::Io, failed, || format!("register: {e}"));
            self.delayed.push((now + BACKOFF, i));
            return;
        }
        let mut out = Vec::with_capacity(256);
        if pending_query.is_some() {
            out.extend_from_slice(self.pool.draw(&mut self.rng));
        }
        self.slots[i].conn = Some(Conn {
            stream,
            state: State::Connecting,
            reader: AnswerReader::new(self.cfg.markers.clone()),
            out,
            out_pos: 0,
            inflight: VecDeque::with_capacity(self.cfg.pipeline),
            pending_query,
            deadline: Some(now + self.cfg.timeout),
            opened: now,
            write_closed: false,
        });
    }

    fn count_error(
        &mut self,
        now: Instant,
        kind: ErrorKind,
        failed: u64,
        msg: impl FnOnce() -> String,
    ) {
        if self.measuring(now) || failed > 0 {
            self.stats.error(kind, failed, msg);
        }
    }

    /// Ends slot `i`'s connection with an error: its unanswered queries fail.
    fn fail(&mut self, i: usize, now: Instant, kind: ErrorKind, msg: impl FnOnce() -> String) {
        let Some(c) = self.slots[i].conn.as_ref() else {
            return;
        };
        if c.state == State::Draining {
            // Connect mode, answer already counted: how the server closes is its business.
            return self.close(i, now, Duration::ZERO);
        }
        let measured_inflight = c.inflight.iter().filter(|(_, _, m)| *m).count() as u64;
        let mut failed = measured_inflight + c.pending_query.map_or(0, |t| u64::from(t.measured));
        if self.cfg.mode == Mode::Hold && c.inflight.is_empty() && c.state != State::Open {
            // A connection that never got to carry a query costs one, as in connect mode
            // (paced: one that is due, if any).
            failed += self.take_query(now).map_or(0, |t| u64::from(t.measured));
        }
        let delay = match kind {
            ErrorKind::Refused | ErrorKind::Holdconnect | ErrorKind::Io => BACKOFF,
            _ => Duration::ZERO,
        };
        self.count_error(now, kind, failed, msg);
        self.close(i, now, delay);
    }

    fn close(&mut self, i: usize, now: Instant, delay: Duration) {
        if let Some(mut c) = self.slots[i].conn.take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        self.again.retain(|&j| j != i);
        if delay.is_zero() {
            self.to_open.push_back(i);
        } else {
            self.delayed.push((now + delay, i));
        }
    }

    /// `drain`: read on to `WouldBlock` or the end of input even after a short read (the
    /// peer's FIN or an error was already signalled, so no further event will come).
    fn on_ready(&mut self, i: usize, readable: bool, writable: bool, drain: bool) {
        let now = Instant::now();
        let Some(c) = self.slots[i].conn.as_mut() else {
            return;
        };
        if c.state == State::Connecting {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    let kind = ErrorKind::of(&e);
                    return self.fail(i, now, kind, || format!("connect: {e}"));
                }
            }
            match c.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let kind = ErrorKind::of(&e);
                    return self.fail(i, now, kind, || format!("connect: {e}"));
                }
            }
            self.stats.connections += u64::from(c.opened >= self.measure_start);
            let c = self.slots[i].conn.as_mut().expect("checked above");
            c.deadline = Some(now + self.cfg.timeout);
            match self.cfg.mode {
                Mode::Connect => {
                    c.state = State::Open;
                    if let Some(t) = c.pending_query.take() {
                        c.inflight.push_back((t.start(now), now, t.measured));
                    }
                }
                Mode::Hold => {
                    c.state = State::Handshake;
                    c.out.extend_from_slice(b"-holdconnect on\r\n");
                    c.reader.expect_ok(true);
                }
            }
            self.flush(i, now);
        } else if writable {
            self.flush(i, now);
        }
        if readable {
            self.read(i, now, drain);
        }
    }

    /// Writes what is buffered until done or the socket is full.
    fn flush(&mut self, i: usize, now: Instant) {
        let measuring = self.measuring(now);
        let Some(c) = self.slots[i].conn.as_mut() else {
            return;
        };
        if c.write_closed {
            c.out.clear();
            c.out_pos = 0;
            return;
        }
        while c.out_pos < c.out.len() {
            match c.stream.write(&c.out[c.out_pos..]) {
                Ok(0) => {
                    return self.fail(i, now, ErrorKind::Reset, || "write returned 0".into());
                }
                Ok(n) => {
                    c.out_pos += n;
                    if measuring {
                        self.stats.bytes_out += n as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe && c.state != State::Connecting => {
                    // The server closed (after a limiter's message, say): what it sent
                    // before closing is still to be read, and decides how this ends.
                    c.write_closed = true;
                    c.out.clear();
                    c.out_pos = 0;
                    return self.read(i, now, true);
                }
                Err(e) => {
                    let kind = ErrorKind::of(&e);
                    return self.fail(i, now, kind, || format!("write: {e}"));
                }
            }
        }
        c.out.clear();
        c.out_pos = 0;
    }

    /// Reads and handles what arrived. A read shorter than the buffer emptied the socket, so
    /// it is not followed by one that would only say `WouldBlock` (new input raises a new
    /// edge), unless `drain` (the end of input is signalled and raises no further event).
    fn read(&mut self, i: usize, mut now: Instant, drain: bool) {
        let measuring = self.measuring(now);
        for _ in 0..READS_PER_EVENT {
            let Some(c) = self.slots[i].conn.as_mut() else {
                return;
            };
            match c.stream.read(&mut self.buf) {
                Ok(0) => return self.eof(i, Instant::now()),
                Ok(n) => {
                    // The clock of this read: answers are stamped when they arrive, and a
                    // query sent while handling this read's answers (hold mode refills at
                    // once) may come back within this same loop, so a time taken before
                    // the loop would make it look instantaneous.
                    now = Instant::now();
                    if measuring {
                        self.stats.bytes_in += n as u64;
                    }
                    c.deadline = Some(now + self.cfg.timeout);
                    let mut events = std::mem::take(&mut self.events);
                    c.reader.feed(&self.buf[..n], &mut |e| events.push(e));
                    for e in events.drain(..) {
                        self.on_event(i, now, e);
                    }
                    self.events = events;
                    if self.slots[i]
                        .conn
                        .as_ref()
                        .is_some_and(|c| c.out_pos < c.out.len())
                    {
                        self.flush(i, now);
                    }
                    if n < self.buf.len() && !drain {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = ErrorKind::of(&e);
                    return self.fail(i, now, kind, || format!("read: {e}"));
                }
            }
        }
        if self.slots[i].conn.is_some() {
            self.again.push(i);
        }
    }

    fn on_event(&mut self, i: usize, now: Instant, e: Event) {
        let Some(c) = self.slots[i].conn.as_mut() else {
            return;
        };
        match e {
            Event::HoldOk => {
                if c.state == State::Handshake {
                    c.state = State::Open;
                    self.refill(i, now);
                }
            }
            Event::HoldRefused { limited: true } => {
                // The server's limiter turned the connection away: in connect mode that is
                // the limited answer of its query, so here too (one query's worth).
                let opened = c.opened;
                if let Some(t) = self.take_query(now)
                    && t.measured
                {
                    let since = t.due.unwrap_or(opened);
                    self.stats
                        .answer(AnswerKind::Limited, now.saturating_duration_since(since));
                }
                self.close(i, now, BACKOFF);
            }
            Event::HoldRefused { limited: false } => {
                self.fail(i, now, ErrorKind::Holdconnect, || {
                    "the server answered -holdconnect on with %error".into()
                })
            }
            Event::Answer { kind, .. } => {
                // An answer nobody asked for (a stray banner terminator) is ignored.
                let Some((sent, written, measured)) = c.inflight.pop_front() else {
                    return;
                };
                if measured {
                    self.stats.answer(kind, now.saturating_duration_since(sent));
                    self.stats
                        .from_write(now.saturating_duration_since(written));
                }
                match self.cfg.mode {
                    Mode::Connect => c.state = State::Draining,
                    // Written once the whole read is handled (`read`): one system call for
                    // all the answers a read brought, not one per answer.
                    Mode::Hold => {
                        self.refill_up_to(i, now, self.cfg.pipeline, false);
                    }
                }
            }
        }
    }

    /// Hold mode: tops up the queries in flight; closes a connection with nothing left to do.
    fn refill(&mut self, i: usize, now: Instant) {
        self.refill_up_to(i, now, self.cfg.pipeline, true);
    }

    /// Hold mode: adds up to `most` queries in flight, within the pipeline (paced: those
    /// due), and writes them if `write` (else the caller flushes); closes a connection with
    /// nothing left to do.
    fn refill_up_to(&mut self, i: usize, now: Instant, most: usize, write: bool) -> usize {
        let pipeline = self.cfg.pipeline;
        let timeout = self.cfg.timeout;
        let mut added = 0;
        while added < most
            && self.slots[i]
                .conn
                .as_ref()
                .is_some_and(|c| c.inflight.len() < pipeline && !c.write_closed)
        {
            let Some(t) = self.take_query(now) else {
                break;
            };
            added += 1;
            let line = self.pool.draw(&mut self.rng);
            let c = self.slots[i].conn.as_mut().expect("checked in the loop");
            c.out.extend_from_slice(line);
            c.inflight.push_back((t.start(now), now, t.measured));
        }
        let Some(c) = self.slots[i].conn.as_mut() else {
            return added;
        };
        if c.inflight.is_empty() && c.write_closed {
            // The server stopped listening and owes nothing: start afresh.
            self.close(i, now, Duration::ZERO);
            return added;
        }
        if c.inflight.is_empty() && self.pacer.is_some() && self.budget != Some(0) {
            // Paced, nothing due: idle until a query is; idleness is no timeout.
            c.deadline = None;
            return added;
        }
        if c.inflight.is_empty() {
            // Count mode, budget spent.
            if let Some(mut c) = self.slots[i].conn.take() {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            return added;
        }
        if c.inflight.len() == 1 || c.deadline.is_none() {
            c.deadline = Some(now + timeout);
        }
        if write {
            self.flush(i, now);
        }
        added
    }

    fn eof(&mut self, i: usize, now: Instant) {
        let Some(c) = self.slots[i].conn.as_mut() else {
            return;
        };
        let partial = c.reader.pending_bytes() > 0;
        let kind = c.reader.finish();
        match (c.state, c.inflight.pop_front()) {
            (State::Draining, _) => self.close(i, now, Duration::ZERO),
            (State::Open, Some((sent, written, measured))) => {
                if let Some(kind) = kind {
                    // A limiter or error message, then close: an answer all the same.
                    if measured {
                        self.stats.answer(kind, now.saturating_duration_since(sent));
                        self.stats
                            .from_write(now.saturating_duration_since(written));
                    }
                    if self.slots[i]
                        .conn
                        .as_ref()
                        .is_some_and(|c| c.inflight.is_empty())
                    {
                        return self.close(i, now, self.limited_delay(kind));
                    }
                    return self.fail(i, now, ErrorKind::Dropped, || {
                        "connection closed with pipelined queries unanswered".into()
                    });
                }
                let c = self.slots[i].conn.as_mut().expect("checked above");
                c.inflight.push_front((sent, written, measured));
                let what = if partial { "part of" } else { "no" };
                self.fail(i, now, ErrorKind::Short, || {
                    format!("the server closed after {what} an answer")
                });
            }
            (State::Handshake, _) => self.fail(i, now, ErrorKind::Holdconnect, || {
                "the server closed before answering -holdconnect on".into()
            }),
            // Hold mode, nothing asked: the server closed an idle connection.
            _ => self.close(i, now, Duration::ZERO),
        }
    }

    fn limited_delay(&self, kind: AnswerKind) -> Duration {
        if kind == AnswerKind::Limited {
            BACKOFF
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_spread_over_loopback() {
        assert_eq!(source_address(0, 5), None);
        assert_eq!(source_address(3, 0), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source_address(3, 4), Some(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(source_address(300, 299), Some(Ipv4Addr::new(127, 0, 1, 45)));
        let other = Ipv4Addr::new(127, 0, 1, 2);
        assert_eq!(
            source_address_from(other, 2, 3),
            Some(Ipv4Addr::new(127, 0, 1, 3))
        );
    }

    #[test]
    fn validate_rejects_spread_to_a_remote_target() {
        let cfg = ClientConfig {
            target: "192.0.2.1:43".parse().unwrap(),
            mode: Mode::Connect,
            pipeline: 1,
            concurrency: 1,
            threads: 1,
            limit: Limit::Count(1),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            source_spread: 4,
            source_base: SOURCE_BASE,
            markers: Markers::default(),
            seed: 1,
            rate: None,
            spin: false,
        };
        assert!(cfg.validate().unwrap_err().contains("loopback"));
    }

    #[test]
    fn refused_connections_fail_their_queries_and_the_run_ends() {
        // A port with nothing listening: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for mode in [Mode::Connect, Mode::Hold] {
            let cfg = ClientConfig {
                target: SocketAddr::from(([127, 0, 0, 1], port)),
                mode,
                pipeline: 2,
                concurrency: 3,
                threads: 1,
                limit: Limit::Count(20),
                warmup: Duration::ZERO,
                timeout: Duration::from_secs(2),
                source_spread: 0,
                source_base: SOURCE_BASE,
                markers: Markers::default(),
                seed: 1,
                rate: None,
                spin: false,
            };
            let pool = Arc::new(QueryPool::fixed("x.coop"));
            let s = run(&cfg, &pool).unwrap();
            assert_eq!(s.attempted, 20, "{mode:?}");
            assert_eq!(s.failed, 20, "{mode:?}");
            // Hold mode: connections already under way when the budget ran out fail too.
            let refused = s.errors[ErrorKind::Refused as usize];
            assert!((20..=22).contains(&refused), "{mode:?} {refused}");
            assert_eq!(s.answered(), 0);
        }
    }
}
