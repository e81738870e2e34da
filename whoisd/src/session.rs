//! The sans-I/O protocol core of the whois service: a [`Session`] takes the bytes a client
//! sent (in any fragments) and appends the answer bytes to an output buffer, telling the
//! caller whether to keep reading ([`Step::Continue`]) or to flush and close
//! ([`Step::Close`]). It never touches a socket, a thread or the clock (the time comes from
//! [`SessionConfig::now`]), so the server loop and the tests drive it alike. One core speaks
//! two dialects ([`Dialect`]), chosen per listener.
//!
//! **Port 43** ([`Dialect::Whois`], Public Whois Specification, "Client/Server Session for
//! Query"): the banner ([`Session::greeting`]), then zero or more directive lines (starting
//! with `-`), each answered, then one query line, answered with the `Key: Value` records of
//! [`mkdb::render::render_answer`] (without a second banner), then close. After
//! `-holdconnect on` the session goes on answering directives and queries until `-quit`, a
//! query after `-holdconnect off`, or end of input ([`Session::finish`]). Directive answers
//! are RWhois responses made plain-whois friendly: every data line starts with `% ` (so a
//! whois client shows them as comments) followed by the RWhois response keyword
//! (`% class domain:description:...`), free-text explanations are `% ` lines too, and every
//! directive answer ends with `%ok` or `%error NNN Text`, so a machine client can find its
//! end.
//!
//! **RWhois** ([`Dialect::Rwhois`], RFC 2167, port 4321): the banner is
//! `%rwhois V-1.5:<capability ID>:00 <host> (by whoisd <version>)`, the capability bits
//! being those of the directives this session offers ([`SessionConfig::offers`]); `-rwhois`
//! answers it again. Directive responses are RFC 2167's lines (`%class ...`, `%soa ...`),
//! explanations go in `%info on` / `%info off` blocks, and each response ends in `%ok` or
//! `%error NNN Text`. Queries are answered in the dump format by [`crate::rwhois`]
//! (`class:Attribute:value`, an empty line after each object, `%ok`; `%error 230` when
//! nothing matches; `%error 330` after `limit` objects when more match). Holdconnect starts
//! on: the session stays open after a query until `-quit`, end of input, or a query after an
//! explicit `-holdconnect off`.
//!
//! The record content of `-class`, `-schema`, `-soa`, `-status`, `-directive` and `-xfer`
//! is RFC 2167's in both dialects (time-stamps `YYYYMMDDHHMMSSmmm`, types TEXT/ID, ON/OFF
//! flags); only the line prefix differs. Private attributes never leave the server, in any
//! dialect, to anyone.
//!
//! Authentication: when the server has [`SessionConfig::operators`],
//! `-security on request password <name> <password>` (method also spelt `pw` or `crypt-pw`
//! as rwhoisd does; the data may also be `<name>:<password>`) makes the session an operator
//! session ([`crate::auth`] checks the argon2id hash); a wrong password or unknown name gets
//! `%error 353 Authentication Failed` and closes the connection; `-security off` ends the
//! operator session. Operators may `-xfer` (as may peers with [`SessionConfig::xfer_allowed`]).
//! Operators may `-register` when the server has a change spool ([`SessionConfig::register`];
//! everyone else gets 401, and without a spool it is not offered: 400): the block's lines
//! are collected up to `-register off`, parsed and checked against the served generation
//! ([`crate::register`]), and the change is handed to the caller
//! ([`Session::take_registration`]), which submits it off the event loop and gives the
//! result back with [`Session::complete_registration`]; meanwhile the session takes no
//! input (what arrives is held, bounded). An operator's `-status`
//! adds the process's counters and limits ([`StatusReport`]); nobody else sees other
//! clients' activity.
//!
//! Accounting: every answered line is tallied by kind (hit, no match, error, directive)
//! with its record and contact-record counts ([`Session::take_tally`]), so the server can
//! count answers and charge a client's contact budget before the answer is sent. Passwords are never
//! echoed, stored or logged.
//!
//! Input rules: lines end in LF or CRLF; a line longer than [`SessionConfig::max_line`]
//! bytes, or one holding control characters (NUL, other C0 controls except TAB, DEL) or
//! invalid UTF-8, gets an explanation and `%error 350 Invalid Query Syntax`, then close;
//! at most `max_line + 1` bytes are ever buffered. Empty (or blank) lines are ignored, as
//! rwhoisd does: they neither answer nor close, so a client's stray blank line before or
//! after a query is harmless. Output lines end in CRLF.

use std::sync::Arc;

use mkdb::Generation;
use mkdb::render::{AnswerKind, AnswerOptions, AnswerStats, render_answer_stats};
use mkdb::schema::{AttrType, ClassDef, IndexKind};

use crate::auth::Operators;
use crate::cache::AnswerCache;
use crate::directive::Directive;
use crate::register::{self, RegError};
use crate::rwhois;

/// Default longest accepted input line, in bytes (terminator excluded).
pub const DEFAULT_MAX_LINE: usize = 1024;
/// Default ceiling of `-limit` (rwhoisd's).
pub const DEFAULT_MAX_LIMIT: usize = 2048;
/// Default cap on the records one `-xfer` sends.
pub const DEFAULT_XFER_MAX_RECORDS: usize = 100_000;

/// Start-of-authority timers sent by `-soa`, in seconds.
const SOA_TTL: u64 = 86_400;
const SOA_REFRESH: u64 = 3_600;
const SOA_INCREMENT: u64 = 1_800;
const SOA_RETRY: u64 = 180;

/// Which protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Port 43: the Public Whois Specification's `Key: Value` answers, one query per
    /// connection unless `-holdconnect on`, directive responses as `% ` comment lines.
    #[default]
    Whois,
    /// RWhois 1.5 (RFC 2167, port 4321): `%rwhois` banner, `%keyword` responses, dump-format
    /// answers, the connection held open.
    Rwhois,
}

/// What a session may do; set by the server per connection.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The protocol spoken.
    pub dialect: Dialect,
    /// Longest accepted input line in bytes, without its CR/LF.
    pub max_line: usize,
    /// Hit limit at the start of a session (clamped to `1..=max_limit`).
    pub default_limit: usize,
    /// Highest limit `-limit` accepts.
    pub max_limit: usize,
    /// The peer may mirror the database with `-xfer` without authenticating.
    pub xfer_allowed: bool,
    /// Most records one `-xfer` sends; beyond it the answer ends in `%error 330`.
    pub xfer_max_records: usize,
    /// The operators who may authenticate with `-security`; `None`: no authentication
    /// (`-security` is then not offered).
    pub operators: Option<Arc<Operators>>,
    /// The authority area served (`-soa`, `-class`, `-schema`, `-xfer`).
    pub authority: String,
    /// This server's `host:port`, for `-soa primary`; its host part names the server in the
    /// RWhois banner.
    pub primary: String,
    /// The hostmaster's address, for `-soa` and `-status`.
    pub hostmaster: String,
    /// Current time in seconds since the Unix epoch (UTC): `-X-date` and `-status`.
    pub now: fn() -> u64,
    /// Process-wide figures (counters, limits) that `-status` adds for authenticated
    /// operators; other clients never see them. The server sets it.
    pub status_report: Option<Arc<dyn StatusReport>>,
    /// The server submits registrations to a change spool (`whoisd --spool`): `-register`
    /// is offered (to operators, so only with [`Self::operators`]). The server sets it.
    pub register: bool,
}

/// Figures about the whole process for an operator's `-status`: each is written as one
/// more `status` line, `key:value`, in the session's dialect.
pub trait StatusReport: Send + Sync + std::fmt::Debug {
    /// Calls `line(key, value)` once per figure.
    fn report(&self, line: &mut dyn FnMut(&str, &str));
}

/// What a session answered since the last [`Session::take_tally`]: the caller's
/// accounting (counters, the contact budget). Blank lines answer nothing and count nowhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerTally {
    /// Queries that found records.
    pub hits: u32,
    /// Queries that found nothing.
    pub no_match: u32,
    /// Queries refused (bad syntax, unknown attribute, too broad) and lines rejected
    /// (too long, control characters, invalid UTF-8).
    pub errors: u32,
    /// Directive lines answered (with `%ok` or `%error`).
    pub directives: u32,
    /// Records answered to queries.
    pub records: u32,
    /// Contact records written in query answers ([`AnswerStats::contacts`]).
    pub contacts: u32,
}

impl AnswerTally {
    /// Lines answered.
    pub fn answers(&self) -> u32 {
        self.hits + self.no_match + self.errors + self.directives
    }

    fn add(&mut self, a: AnswerStats) {
        match a.kind {
            AnswerKind::Hit => self.hits += 1,
            AnswerKind::NoMatch => self.no_match += 1,
            AnswerKind::Error => self.errors += 1,
        }
        self.records = self.records.saturating_add(a.records);
        self.contacts = self.contacts.saturating_add(a.contacts);
    }
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            dialect: Dialect::Whois,
            max_line: DEFAULT_MAX_LINE,
            default_limit: mkdb::query::DEFAULT_LIMIT,
            max_limit: DEFAULT_MAX_LIMIT,
            xfer_allowed: false,
            xfer_max_records: DEFAULT_XFER_MAX_RECORDS,
            operators: None,
            authority: "coop".into(),
            primary: "whois.nic.coop:43".into(),
            hostmaster: "hostmaster@nic.coop".into(),
            now: system_now,
            status_report: None,
            register: false,
        }
    }
}

impl SessionConfig {
    /// Does a session with this configuration offer `d`, i.e. list it in `-directive` and
    /// set its bit in the RWhois capability ID? `-rwhois` only in the RWhois dialect,
    /// `-security` only with operators, `-xfer` only when someone on this connection could
    /// use it (an allowed mirror, or an operator after authenticating), `-register` only
    /// with a change spool and operators (who alone may use it).
    pub fn offers(&self, d: Directive) -> bool {
        match d {
            Directive::Rwhois => self.dialect == Dialect::Rwhois,
            Directive::Security => self.operators.is_some(),
            Directive::Xfer => self.xfer_allowed || self.operators.is_some(),
            Directive::Register => self.register && self.operators.is_some(),
            _ => true,
        }
    }

    /// The offered directives, in [`Directive::ALL`]'s order.
    pub fn offered(&self) -> Vec<Directive> {
        Directive::ALL
            .into_iter()
            .filter(|&d| self.offers(d))
            .collect()
    }

    /// The RFC 2167 capability ID of the offered directives.
    pub fn capability_id(&self) -> u32 {
        Directive::ALL
            .into_iter()
            .filter(|&d| self.offers(d))
            .fold(0, |acc, d| acc | d.capability())
    }

    /// The host part of [`SessionConfig::primary`] (without `:port`).
    pub fn host(&self) -> &str {
        match self.primary.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                host
            }
            _ => &self.primary,
        }
    }
}

/// What the caller does after [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the output (if any) and read more input.
    Continue,
    /// Send the output, then close the connection; the session takes no more input.
    Close,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    /// The unfinished line (at most `max_line + 1` bytes: room for a CR).
    buf: Vec<u8>,
    limit: usize,
    holdconnect: bool,
    forward: bool,
    /// The operator this session authenticated as.
    operator: Option<String>,
    closed: bool,
    /// Answers since the last [`Session::take_tally`].
    tally: AnswerTally,
    /// The `-register` block being received.
    block: Option<register::Block>,
    /// A registration ready for the caller ([`Session::take_registration`]).
    submission: Option<register::Submission>,
    /// A registration is out (from `-register off` until its completion): the option and
    /// the key, for the answer.
    awaiting: Option<(register::Op, String)>,
    /// Input received while a registration is out, fed after its completion.
    held: Vec<u8>,
}

/// Most bytes a caller may feed while a registration is out (the server feeds nothing
/// meanwhile; the rest of the input that held the `-register off` is always kept).
const MAX_HELD: usize = 64 * 1024;

/// A directive's failure: RWhois code, its standard text, an optional explanation, and
/// whether the connection closes after it.
struct Fail {
    code: u16,
    text: &'static str,
    detail: Option<String>,
    close: bool,
}

impl Fail {
    fn new(code: u16, text: &'static str) -> Fail {
        Fail {
            code,
            text,
            detail: None,
            close: false,
        }
    }
    fn because(mut self, detail: impl Into<String>) -> Fail {
        self.detail = Some(detail.into());
        self
    }
    fn syntax(usage: &str) -> Fail {
        Fail::new(338, "Invalid Directive Syntax").because(format!("usage: {usage}"))
    }
    fn not_offered(name: &str) -> Fail {
        Fail::new(400, "Directive Not Available").because(format!(
            "-{name} is not offered here; -directive lists those that are"
        ))
    }
}

type Answer = Result<Step, Fail>;

impl From<RegError> for Fail {
    fn from(e: RegError) -> Fail {
        Fail {
            code: e.code,
            text: e.text,
            detail: Some(e.detail),
            close: e.close,
        }
    }
}

/// RFC 2167's maintainer ID is an e-mail address: `local@domain`, one word.
fn is_email(s: &str) -> bool {
    s.len() <= 254
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
}

/// Writes a response line: `% keyword rest` (port 43) or `%keyword rest` (RWhois), without
/// the space and `rest` when `rest` is empty.
fn rec(d: Dialect, out: &mut Vec<u8>, keyword: &str, rest: &str) {
    out.extend_from_slice(match d {
        Dialect::Whois => b"% ",
        Dialect::Rwhois => b"%",
    });
    out.extend_from_slice(keyword.as_bytes());
    if !rest.is_empty() {
        out.push(b' ');
        out.extend_from_slice(rest.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a free-text explanation: a `% text` comment line (port 43) or an `%info` block
/// (RWhois).
fn note(d: Dialect, out: &mut Vec<u8>, text: &str) {
    match d {
        Dialect::Whois => {
            out.extend_from_slice(b"% ");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Dialect::Rwhois => rwhois::info(out, text),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

fn parse_on_off(args: &[&str], usage: &str) -> Result<bool, Fail> {
    match args {
        [v] if v.eq_ignore_ascii_case("on") => Ok(true),
        [v] if v.eq_ignore_ascii_case("off") => Ok(false),
        _ => Err(Fail::syntax(usage)),
    }
}

/// The first whitespace-separated word of `s` and the rest after it (start trimmed).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// `word` without a case-insensitive ASCII `prefix`.
fn strip_prefix_ci<'a>(word: &'a str, prefix: &str) -> Option<&'a str> {
    let head = word.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &word[prefix.len()..])
}

/// RFC 2167's attribute type: ID for a reference to another object, TEXT otherwise.
fn rwhois_type(a: &mkdb::schema::AttrDef) -> &'static str {
    if a.references.is_some() { "ID" } else { "TEXT" }
}

/// The generation's RFC 2167 time-stamp: its creation time, with the generation number
/// (modulo 1000) in the milliseconds so that two generations published within one second
/// still have different serials.
fn serial(g: &Generation) -> String {
    rwhois::time_stamp(&g.created, g.number)
}

impl Session {
    /// A new session at the start of a connection.
    pub fn new(config: &SessionConfig) -> Session {
        let max_limit = config.max_limit.max(1);
        Session {
            config: SessionConfig {
                max_limit,
                ..config.clone()
            },
            buf: Vec::new(),
            limit: config.default_limit.clamp(1, max_limit),
            holdconnect: config.dialect == Dialect::Rwhois,
            forward: false,
            operator: None,
            closed: false,
            tally: AnswerTally::default(),
            block: None,
            submission: None,
            awaiting: None,
            held: Vec::new(),
        }
    }

    /// Writes the banner sent once when the client connects: the whois banner, or the
    /// `%rwhois` line with the capability ID.
    pub fn greeting(&self, out: &mut Vec<u8>) {
        match self.config.dialect {
            Dialect::Whois => out.extend_from_slice(mkdb::render::BANNER.as_bytes()),
            Dialect::Rwhois => {
                rwhois::banner(self.config.capability_id(), self.config.host(), out);
            }
        }
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> Dialect {
        self.config.dialect
    }

    /// The current hit limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Is holdconnect in force (`-holdconnect on`, or an RWhois session by default)?
    pub fn holdconnect(&self) -> bool {
        self.holdconnect
    }

    /// The `-forward` flag (recorded only: referrals are never followed).
    pub fn forward(&self) -> bool {
        self.forward
    }

    /// The operator this session authenticated as with `-security`, if any.
    pub fn operator(&self) -> Option<&str> {
        self.operator.as_deref()
    }

    /// What was answered since the last call (or since the session began), and resets it.
    /// A caller that feeds one line at a time learns each line's answer; the server does,
    /// to count answers and to charge the contact budget before the answer is sent.
    pub fn take_tally(&mut self) -> AnswerTally {
        std::mem::take(&mut self.tally)
    }

    /// Has the session ended (after [`Step::Close`])?
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Consumes `input` (any fragment of the client's byte stream), appends the answers of
    /// the complete lines to `out`, and says whether to read on or to close. Input after the
    /// line that closed the session is ignored.
    pub fn feed(&mut self, input: &[u8], g: &Generation, out: &mut Vec<u8>) -> Step {
        self.feed_cached(input, g, None, out)
    }

    /// [`Self::feed`], port-43 query answers taken from (and kept in) `cache` when given:
    /// the same bytes, the same tallies.
    pub fn feed_cached(
        &mut self,
        input: &[u8],
        g: &Generation,
        mut cache: Option<&mut AnswerCache>,
        out: &mut Vec<u8>,
    ) -> Step {
        if self.closed {
            return Step::Close;
        }
        if self.awaiting.is_some() {
            // A registration is out: nothing is answered before its result.
            if self.held.len() + input.len() > MAX_HELD {
                return self.reject(out, "too much input while a registration is running");
            }
            self.held.extend_from_slice(input);
            return Step::Continue;
        }
        let mut rest = input;
        while !rest.is_empty() {
            if self.awaiting.is_some() {
                // The line just answered handed out a registration: the rest of this input
                // waits for its result.
                self.held.extend_from_slice(rest);
                break;
            }
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if self.buf.len() + rest.len() > self.config.max_line + 1 {
                    return self.reject_too_long(out);
                }
                self.buf.extend_from_slice(rest);
                break;
            };
            let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
            rest = tail;
            let step = if self.buf.is_empty() {
                self.line(head, g, cache.as_deref_mut(), out)
            } else if self.buf.len() + head.len() > self.config.max_line + 1 {
                self.reject_too_long(out)
            } else {
                let mut line = std::mem::take(&mut self.buf);
                line.extend_from_slice(head);
                let step = self.line(&line, g, cache.as_deref_mut(), out);
                line.clear();
                self.buf = line;
                step
            };
            if step == Step::Close {
                return self.close();
            }
        }
        Step::Continue
    }

    /// End of input from the client: an unterminated last line is answered as if it ended
    /// in CRLF (many clients half-close without one), then the session is closed.
    pub fn finish(&mut self, g: &Generation, out: &mut Vec<u8>) -> Step {
        self.finish_cached(g, None, out)
    }

    /// [`Self::finish`] with an answer cache, as [`Self::feed_cached`].
    pub fn finish_cached(
        &mut self,
        g: &Generation,
        cache: Option<&mut AnswerCache>,
        out: &mut Vec<u8>,
    ) -> Step {
        if !self.closed && !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            let _ = self.line(&line, g, cache, out);
        }
        self.close()
    }

    fn close(&mut self) -> Step {
        self.closed = true;
        self.buf = Vec::new();
        self.operator = None;
        self.block = None;
        self.held = Vec::new();
        Step::Close
    }

    /// Is a `-register` block being received (between `-register on` and `-register off`)?
    /// Its lines are record lines, not queries.
    pub fn in_register_block(&self) -> bool {
        self.block.is_some()
    }

    /// Is a registration out (taken or not yet taken, not yet completed)? The session
    /// then answers nothing: input is held until [`Self::complete_registration`].
    pub fn awaiting_registration(&self) -> bool {
        self.awaiting.is_some()
    }

    /// The registration a `-register off` produced, for the caller to submit (off its event
    /// loop) and then to answer with [`Self::complete_registration`].
    pub fn take_registration(&mut self) -> Option<register::Submission> {
        self.submission.take()
    }

    /// Answers the registration that was out with its `outcome`: `%register ID:<key>`
    /// (add) or `%register Updated:<time-stamp>` (mod) and `%ok`, or the error; then feeds
    /// the input held meanwhile. Without a registration out, does nothing.
    pub fn complete_registration(
        &mut self,
        outcome: register::Outcome,
        g: &Generation,
        out: &mut Vec<u8>,
    ) -> Step {
        let Some((op, key)) = self.awaiting.take() else {
            return if self.closed {
                Step::Close
            } else {
                Step::Continue
            };
        };
        self.submission = None;
        let d = self.config.dialect;
        match outcome {
            register::Outcome::Recorded { sequence, via_eppd } => {
                note(
                    d,
                    out,
                    &format!(
                        "change {sequence} is recorded in the change spool{}; whois shows it                          once the loader publishes it (normally within a second)",
                        if via_eppd { " (sequenced by eppd)" } else { "" }
                    ),
                );
                match op {
                    register::Op::Add => rec(d, out, "register", &format!("ID:{key}")),
                    register::Op::Mod => {
                        let now = mkdb::generation::rfc3339((self.config.now)());
                        let stamp = rwhois::time_stamp(&now, 0);
                        rec(d, out, "register", &format!("Updated:{stamp}"));
                    }
                    register::Op::Del => {}
                }
                out.extend_from_slice(b"%ok\r\n");
            }
            register::Outcome::Failed(e) => {
                if self.fail(&Fail::from(e), out) == Step::Close {
                    return self.close();
                }
            }
        }
        let held = std::mem::take(&mut self.held);
        self.feed_cached(&held, g, None, out)
    }

    /// Writes a directive's failure (explanation, `%error` line); whether to close.
    fn fail(&self, f: &Fail, out: &mut Vec<u8>) -> Step {
        if let Some(d) = &f.detail {
            note(self.config.dialect, out, d);
        }
        out.extend_from_slice(format!("%error {} {}\r\n", f.code, f.text).as_bytes());
        if f.close { Step::Close } else { Step::Continue }
    }

    fn reject(&mut self, out: &mut Vec<u8>, why: &str) -> Step {
        match self.config.dialect {
            Dialect::Whois => {
                out.extend_from_slice(b"% Error: ");
                out.extend_from_slice(why.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Dialect::Rwhois => rwhois::info(out, why),
        }
        out.extend_from_slice(b"%error 350 Invalid Query Syntax\r\n");
        self.tally.errors += 1;
        self.close()
    }

    fn reject_too_long(&mut self, out: &mut Vec<u8>) -> Step {
        let why = format!("input line longer than {} bytes", self.config.max_line);
        self.reject(out, &why)
    }

    /// One complete line, without its LF.
    fn line(
        &mut self,
        raw: &[u8],
        g: &Generation,
        cache: Option<&mut AnswerCache>,
        out: &mut Vec<u8>,
    ) -> Step {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > self.config.max_line {
            return self.reject_too_long(out);
        }
        if let Some(&b) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            let why = format!("binary data in input (control character 0x{b:02x})");
            return self.reject(out, &why);
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.reject(out, "input is not valid UTF-8");
        };
        let text = text.trim();
        if text.is_empty() {
            return Step::Continue;
        }
        if self.block.is_some() {
            return self.block_line(text, g, out);
        }
        if let Some(body) = text.strip_prefix('-') {
            self.tally.directives += 1;
            return match self.directive(body, g, out) {
                Ok(step) => step,
                Err(f) => self.fail(&f, out),
            };
        }
        match self.config.dialect {
            Dialect::Whois => {
                let stats = match cache {
                    Some(c) => c.answer(g, text, self.limit, out),
                    None => {
                        let opts = AnswerOptions {
                            limit: self.limit,
                            banner: false,
                        };
                        render_answer_stats(g, text, opts, out)
                    }
                };
                self.tally.add(stats);
            }
            Dialect::Rwhois => {
                let stats = rwhois::dump_answer(g, text, self.limit, out);
                self.tally.add(stats);
            }
        }
        if self.holdconnect {
            Step::Continue
        } else {
            Step::Close
        }
    }

    /// A directive line without its `-`; on success writes the answer including `%ok`.
    fn directive(&mut self, body: &str, g: &Generation, out: &mut Vec<u8>) -> Answer {
        let (name, rest) = split_word(body);
        if name.is_empty() {
            return Err(Fail::syntax("-<directive> [arguments]"));
        }
        let args: Vec<&str> = rest.split_whitespace().collect();
        // `-register` and `-xfer` are known even where not offered: their refusal says
        // why (not authorised) rather than "no such directive".
        let Some(d) = Directive::lookup(name).filter(|&d| {
            self.config.offers(d) || matches!(d, Directive::Register | Directive::Xfer)
        }) else {
            return Err(Fail::not_offered(name));
        };
        let dialect = self.config.dialect;
        let step = match d {
            Directive::Rwhois => self.rwhois(&args, out)?,
            Directive::Class => self.class(&args, g, out)?,
            Directive::Directive => self.directives(&args, out)?,
            Directive::Display => self.display(&args, out)?,
            Directive::Forward => {
                self.forward = parse_on_off(&args, "-forward on|off")?;
                note(dialect, out, "referrals are not followed by this server");
                Step::Continue
            }
            Directive::Holdconnect => {
                self.holdconnect = parse_on_off(&args, "-holdconnect on|off")?;
                Step::Continue
            }
            Directive::Limit => self.set_limit(&args, out)?,
            Directive::Security => self.security(rest)?,
            Directive::Notify => Self::notify(&args)?,
            Directive::Quit => {
                if !args.is_empty() {
                    return Err(Fail::syntax("-quit"));
                }
                Step::Close
            }
            Directive::Register => self.register(&args)?,
            Directive::Schema => self.schema(&args, g, out)?,
            Directive::Soa => self.soa(&args, g, out)?,
            Directive::Status => self.status(&args, g, out)?,
            Directive::Xfer => self.xfer(&args, g, out)?,
            Directive::XDate => {
                if !args.is_empty() {
                    return Err(Fail::syntax("-X-date"));
                }
                let now = mkdb::generation::rfc3339((self.config.now)());
                rec(dialect, out, "X-date", &now);
                Step::Continue
            }
        };
        out.extend_from_slice(b"%ok\r\n");
        Ok(step)
    }

    /// `-rwhois V-1.5 [implementation]`: the banner again (RFC 2167 section 3.2.1).
    fn rwhois(&self, args: &[&str], out: &mut Vec<u8>) -> Answer {
        match args.first() {
            Some(v) if v.eq_ignore_ascii_case(rwhois::VERSION) => {
                rwhois::banner(self.config.capability_id(), self.config.host(), out);
                Ok(Step::Continue)
            }
            Some(v)
                if strip_prefix_ci(v, "V-").is_some_and(|n| {
                    n.split_once('.').is_some_and(|(a, b)| {
                        [a, b]
                            .iter()
                            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                    })
                }) =>
            {
                Err(
                    Fail::new(300, "Not Compatible With Version").because(format!(
                        "this server speaks RWhois {} only",
                        rwhois::VERSION
                    )),
                )
            }
            _ => Err(Fail::syntax("-rwhois V-1.5 [implementation]")),
        }
    }

    /// Classes named in `args` after an optional authority area; all when none is named.
    fn classes<'g>(&self, args: &[&str], g: &'g Generation) -> Result<Vec<&'g ClassDef>, Fail> {
        let args = match args.split_first() {
            Some((aa, rest)) if aa.eq_ignore_ascii_case(&self.config.authority) => rest,
            _ => args,
        };
        if args.is_empty() {
            return Ok(g.schema.classes.iter().collect());
        }
        args.iter()
            .map(|name| {
                g.schema.class(name).ok_or_else(|| {
                    Fail::new(341, "Invalid Class").because(format!("no class {name}"))
                })
            })
            .collect()
    }

    /// `-class`: per class `description`, `version` (RFC 2167 time-stamp of the
    /// generation), aliases and the number of records, then an empty `class` line.
    fn class(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        let d = self.config.dialect;
        let version = serial(g);
        for c in self.classes(args, g)? {
            let n = &c.name;
            rec(
                d,
                out,
                "class",
                &format!("{n}:description:{}", c.description),
            );
            rec(d, out, "class", &format!("{n}:version:{version}"));
            for a in &c.aliases {
                rec(d, out, "class", &format!("{n}:alias:{a}"));
            }
            rec(
                d,
                out,
                "class",
                &format!("{n}:records:{}", g.record_count(c.id)),
            );
            rec(d, out, "class", "");
        }
        Ok(Step::Continue)
    }

    fn directives(&self, args: &[&str], out: &mut Vec<u8>) -> Answer {
        let d = self.config.dialect;
        let list: Vec<Directive> = match args {
            [] => self.config.offered(),
            [name] => {
                let name = name.strip_prefix('-').unwrap_or(name);
                match Directive::lookup(name).filter(|&x| self.config.offers(x)) {
                    Some(x) => vec![x],
                    None => return Err(Fail::not_offered(name)),
                }
            }
            _ => return Err(Fail::syntax("-directive [name]")),
        };
        for x in list {
            rec(d, out, "directive", &format!("directive:{}", x.name()));
            rec(
                d,
                out,
                "directive",
                &format!("description:{}", x.description()),
            );
            rec(d, out, "directive", "");
        }
        Ok(Step::Continue)
    }

    /// `-display`: port 43 has `whois` (`dump` accepted as its alias); RWhois has `dump`.
    fn display(&self, args: &[&str], out: &mut Vec<u8>) -> Answer {
        let d = self.config.dialect;
        let (name, description, aliases): (&str, &str, &[&str]) = match d {
            Dialect::Whois => (
                "whois",
                "Key: Value lines of the Public Whois Specification (alias dump)",
                &["whois", "dump"],
            ),
            Dialect::Rwhois => (
                "dump",
                "class:attribute:value lines (RFC 2167 section 3.4)",
                &["dump"],
            ),
        };
        match args {
            [] => {
                rec(d, out, "display", &format!("name:{name}"));
                rec(d, out, "display", &format!("description:{description}"));
                rec(d, out, "display", "");
                Ok(Step::Continue)
            }
            [x] if aliases.iter().any(|a| a.eq_ignore_ascii_case(x)) => Ok(Step::Continue),
            [x] => Err(Fail::new(436, "Invalid Display Format")
                .because(format!("no display {x}; the only display is {name}"))),
            _ => Err(Fail::syntax("-display [name]")),
        }
    }

    fn set_limit(&mut self, args: &[&str], out: &mut Vec<u8>) -> Answer {
        match args {
            // RFC 2167 has no query form of -limit (-status shows it); port 43 keeps one.
            [] if self.config.dialect == Dialect::Rwhois => {
                Err(Fail::syntax("-limit N (-status shows the limit)"))
            }
            [] => {
                rec(self.config.dialect, out, "limit", &self.limit.to_string());
                Ok(Step::Continue)
            }
            [n] => {
                let Ok(n) = n.parse::<u64>() else {
                    if n.bytes().all(|b| b.is_ascii_digit()) {
                        // Too many digits for u64: a number, but out of range.
                        return Err(self.bad_limit());
                    }
                    return Err(Fail::syntax("-limit [N]"));
                };
                match usize::try_from(n) {
                    Ok(n) if (1..=self.config.max_limit).contains(&n) => {
                        self.limit = n;
                        Ok(Step::Continue)
                    }
                    _ => Err(self.bad_limit()),
                }
            }
            _ => Err(Fail::syntax("-limit [N]")),
        }
    }

    fn bad_limit(&self) -> Fail {
        Fail::new(331, "Invalid Limit").because(format!(
            "the limit must be between 1 and {}",
            self.config.max_limit
        ))
    }

    /// `-security on request password <name> <password>` (also `pw`/`crypt-pw`, and
    /// `<name>:<password>`), or `-security off`. `rest` is the line after `-security`, so a
    /// password keeps its inner spaces. Nothing of the data is ever echoed: an error names
    /// neither the password nor the method word (a client that forgot the method would see
    /// its password there).
    fn security(&mut self, rest: &str) -> Answer {
        const USAGE: &str = "-security on request password <name> <password> | -security off";
        let Some(ops) = self.config.operators.clone() else {
            return Err(Fail::not_offered("security"));
        };
        let (switch, rest) = split_word(rest);
        if switch.eq_ignore_ascii_case("off") && rest.is_empty() {
            self.operator = None;
            return Ok(Step::Continue);
        }
        let (direction, rest) = split_word(rest);
        let (method, data) = split_word(rest);
        let request = direction.eq_ignore_ascii_case("request");
        if !switch.eq_ignore_ascii_case("on")
            || !(request || direction.eq_ignore_ascii_case("response"))
            || method.is_empty()
        {
            return Err(Fail::syntax(USAGE));
        }
        // RFC 2167 names the method `password`; rwhoisd spells it `pw`, or `crypt-pw` when
        // its stored guardian password is crypt()ed. The client sends the cleartext password
        // with all three, and this server stores argon2id hashes whatever the spelling.
        let password_method = ["password", "pw", "crypt-pw"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method));
        if !password_method {
            return Err(Fail::new(352, "Invalid Security Method")
                .because("the only security method offered is password"));
        }
        if !request {
            return Err(Fail::new(352, "Invalid Security Method")
                .because("the password method authenticates requests only"));
        }
        // `<name>:<password>` when the first word holds a `:` (names cannot), else
        // `<name> <password>`; the password is the rest of the line, inner spaces kept.
        let (name, password) = match data.split_once(':') {
            Some((name, password)) if !name.contains(char::is_whitespace) => (name, password),
            _ => split_word(data),
        };
        if name.is_empty() || password.is_empty() {
            return Err(Fail::syntax(USAGE));
        }
        if ops.verify(name, password) {
            self.operator = Some(name.to_string());
            return Ok(Step::Continue);
        }
        // RFC 2167's code for exactly this is 353 Authentication Failed. It is a 3XX
        // ("retry that command") code, but this server then closes the connection, so each
        // guess costs a new connection (and passes the server's per-address limits); no 5XX
        // code means "authentication failed". An unknown name gets the very same answer,
        // after the same work (`Operators::verify`).
        self.operator = None;
        Err(Fail {
            close: true,
            ..Fail::new(353, "Authentication Failed")
                .because("authentication failed; closing the connection")
        })
    }

    /// `-register on add|mod|del <maintainer-id>` (RFC 2167 section 3.3.9): opens a block
    /// (answered `%ok`; the record lines follow, then `-register off`, see
    /// [`Self::block_line`]). Only for authenticated operators (401 otherwise), and only
    /// where offered, i.e. with a change spool (400 otherwise).
    fn register(&mut self, args: &[&str]) -> Answer {
        const USAGE: &str =
            "-register on add|mod|del <maintainer-id>, then the record lines, then -register off";
        if self.operator.is_none() {
            return Err(Fail::new(401, "Not Authorized For Directive").because(
                "registration is for operators authenticated with -security; registrars use EPP",
            ));
        }
        if !self.config.offers(Directive::Register) {
            return Err(Fail::new(400, "Directive Not Available").because(
                "this server has no change spool (whoisd --spool), so -register is not \
                 available here: nothing was changed",
            ));
        }
        match args {
            [on, op, maintainer] if on.eq_ignore_ascii_case("on") => {
                let Some(op) = register::Op::parse(op) else {
                    return Err(Fail::syntax(USAGE));
                };
                if !is_email(maintainer) {
                    return Err(Fail::syntax(USAGE)
                        .because("the maintainer ID is an e-mail address (user@example.coop)"));
                }
                self.block = Some(register::Block::new(op, maintainer));
                Ok(Step::Continue)
            }
            [off] if off.eq_ignore_ascii_case("off") => {
                Err(Fail::syntax(USAGE).because("-register off without -register on"))
            }
            _ => Err(Fail::syntax(USAGE)),
        }
    }

    /// A line inside a `-register` block: `-register off` ends it (the block is checked
    /// against the served generation and the registration handed out, or refused at once),
    /// `-quit` abandons it (nothing changes) and closes; every other line is a record line
    /// (a stray directive makes the block fail at `-register off`).
    fn block_line(&mut self, text: &str, g: &Generation, out: &mut Vec<u8>) -> Step {
        if let Some(body) = text.strip_prefix('-') {
            let (name, rest) = split_word(body);
            let args: Vec<&str> = rest.split_whitespace().collect();
            if name.eq_ignore_ascii_case("register")
                && matches!(args[..], [w] if w.eq_ignore_ascii_case("off"))
            {
                self.tally.directives += 1;
                return self.end_block(g, out);
            }
            if name.eq_ignore_ascii_case("quit") && args.is_empty() {
                self.tally.directives += 1;
                out.extend_from_slice(b"%ok\r\n");
                return Step::Close;
            }
        }
        if let Some(block) = &mut self.block {
            block.push(text);
        }
        Step::Continue
    }

    /// `-register off`: the block parsed and planned; an error or "unchanged" is answered
    /// now, a change is handed out ([`Self::take_registration`]) and answered on completion.
    fn end_block(&mut self, g: &Generation, out: &mut Vec<u8>) -> Step {
        let Some(block) = self.block.take() else {
            return Step::Continue;
        };
        let operator = self.operator.clone().unwrap_or_default();
        let planned = register::parse(&g.schema, &self.config.authority, &block)
            .and_then(|p| register::plan(g, &p, &operator, &block.maintainer));
        match planned {
            Err(e) => self.fail(&Fail::from(e), out),
            Ok(register::Plan::Unchanged) => {
                note(
                    self.config.dialect,
                    out,
                    "the new record is the record served: nothing to change",
                );
                out.extend_from_slice(b"%ok\r\n");
                Step::Continue
            }
            Ok(register::Plan::Submit(s)) => {
                self.awaiting = Some((s.op, s.change.key.clone()));
                self.submission = Some(s);
                Step::Continue
            }
        }
    }

    fn notify(args: &[&str]) -> Answer {
        const KINDS: [&str; 5] = ["badref", "recurref", "update", "inssec", "delsec"];
        match args {
            [kind, _, ..] if KINDS.iter().any(|k| k.eq_ignore_ascii_case(kind)) => {
                Ok(Step::Continue)
            }
            _ => Err(Fail::syntax(
                "-notify badref|recurref|update|inssec|delsec <argument>",
            )),
        }
    }

    /// `-schema`: per attribute RFC 2167's fields (attribute, description, type TEXT/ID,
    /// format, indexed, required, multi-line, repeatable, primary, hierarchical, private),
    /// then this schema's own (alias, display, references), then an empty `schema` line.
    fn schema(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        let d = self.config.dialect;
        for c in self.classes(args, g)? {
            for a in &c.attrs {
                let mut field =
                    |k: &str, v: &str| rec(d, out, "schema", &format!("{}:{k}:{v}", c.name));
                field("attribute", &a.name);
                if !a.description.is_empty() {
                    field("description", &a.description);
                }
                field("type", rwhois_type(a));
                if let Some(f) = &a.format {
                    field("format", &format!("re:{}", f.as_str()));
                }
                field("indexed", on_off(a.index != IndexKind::None));
                field("required", on_off(a.required));
                field("multi-line", on_off(false));
                field("repeatable", on_off(a.repeatable));
                field("primary", on_off(a.primary_key));
                field("hierarchical", on_off(a.ty == AttrType::Domain));
                field("private", on_off(a.private));
                for alias in &a.aliases {
                    field("alias", alias);
                }
                if let Some(x) = &a.display {
                    field("display", x);
                }
                if let Some(r) = &a.references {
                    field("references", r);
                }
                rec(d, out, "schema", "");
            }
        }
        Ok(Step::Continue)
    }

    /// `-soa [area..]`: RFC 2167's SOA record of the one authority area served.
    fn soa(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        let d = self.config.dialect;
        let aa = &self.config.authority;
        if let Some(bad) = args.iter().find(|a| !a.eq_ignore_ascii_case(aa)) {
            return Err(Fail::new(340, "Invalid Authority Area").because(format!(
                "{bad} is not served here; the authority area is {aa}"
            )));
        }
        let hm = &self.config.hostmaster;
        rec(d, out, "soa", &format!("authority:{aa}"));
        rec(d, out, "soa", &format!("ttl:{SOA_TTL}"));
        rec(d, out, "soa", &format!("serial:{}", serial(g)));
        rec(d, out, "soa", &format!("refresh:{SOA_REFRESH}"));
        rec(d, out, "soa", &format!("increment:{SOA_INCREMENT}"));
        rec(d, out, "soa", &format!("retry:{SOA_RETRY}"));
        rec(d, out, "soa", &format!("tech-contact:{hm}"));
        rec(d, out, "soa", &format!("admin-contact:{hm}"));
        rec(d, out, "soa", &format!("hostmaster:{hm}"));
        rec(d, out, "soa", &format!("primary:{}", self.config.primary));
        rec(d, out, "soa", &format!("generation:{}", g.number));
        rec(d, out, "soa", &format!("updated:{}", g.created));
        rec(d, out, "soa", "");
        Ok(Step::Continue)
    }

    /// `-status`: RFC 2167's flags (limit, holdconnect, forward, objects, display,
    /// contact), then per-class counts, the generation and the time; for an authenticated
    /// operator, then the process's figures ([`SessionConfig::status_report`]).
    fn status(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        if !args.is_empty() {
            return Err(Fail::syntax("-status"));
        }
        let d = self.config.dialect;
        let mut line = |k: &str, v: &str| rec(d, out, "status", &format!("{k}:{v}"));
        line("limit", &self.limit.to_string());
        line("holdconnect", on_off(self.holdconnect));
        line("forward", on_off(self.forward));
        let total: u64 = g.schema.classes.iter().map(|c| g.record_count(c.id)).sum();
        line("objects", &total.to_string());
        line(
            "display",
            match d {
                Dialect::Whois => "whois",
                Dialect::Rwhois => "dump",
            },
        );
        line("contact", &self.config.hostmaster);
        for c in &g.schema.classes {
            line(
                &format!("objects-{}", c.name),
                &g.record_count(c.id).to_string(),
            );
        }
        line("generation", &g.number.to_string());
        line("generation-created", &g.created);
        line("time", &mkdb::generation::rfc3339((self.config.now)()));
        // Other clients' activity is for operators only.
        if let (Some(_), Some(report)) = (&self.operator, &self.config.status_report) {
            report.report(&mut line);
        }
        Ok(Step::Continue)
    }

    /// `-xfer [area] [class [attribute..]]`, or RFC 2167's
    /// `-xfer area [class=<class> [attribute=<attr>..]].. [serial]`: `xfer class:Attr:value`
    /// lines, an empty `xfer` line after each record; private attributes never leave the
    /// server. A serial number asks for an incremental transfer, which is not offered:
    /// `332 Nothing To Transfer` when it is current, otherwise `338`.
    fn xfer(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        if !self.config.xfer_allowed && self.operator.is_none() {
            return Err(Fail::new(401, "Not Authorized For Directive").because(
                "bulk transfer is only for authorised mirrors and authenticated operators",
            ));
        }
        const USAGE: &str = "-xfer [area] [class=]<class> [[attribute=]<attribute>..] [serial]";
        let d = self.config.dialect;
        let args = match args.split_first() {
            Some((aa, rest)) if aa.eq_ignore_ascii_case(&self.config.authority) => rest,
            _ => args,
        };
        let class = |name: &str| {
            g.schema
                .class(name)
                .ok_or_else(|| Fail::new(341, "Invalid Class").because(format!("no class {name}")))
        };
        // (class, selected attribute ids: empty for all public ones)
        let mut selection: Vec<(&ClassDef, Vec<u16>)> = Vec::new();
        let mut serial_asked = None;
        for (i, arg) in args.iter().enumerate() {
            if let Some(name) = strip_prefix_ci(arg, "class=") {
                selection.push((class(name)?, Vec::new()));
                continue;
            }
            let is_serial = arg.len() == 17 && arg.bytes().all(|b| b.is_ascii_digit());
            if i + 1 == args.len() && is_serial {
                serial_asked = Some(*arg);
                continue;
            }
            let tag = strip_prefix_ci(arg, "attribute=");
            let Some((c, wanted)) = selection.last_mut() else {
                if tag.is_some() {
                    return Err(Fail::syntax(USAGE));
                }
                selection.push((class(arg)?, Vec::new()));
                continue;
            };
            let tag = tag.unwrap_or(arg);
            let Some(a) = c.attr_by_tag(tag) else {
                return Err(Fail::new(320, "Invalid Attribute")
                    .because(format!("class {} has no attribute {tag}", c.name)));
            };
            if a.private {
                return Err(Fail::new(401, "Not Authorized For Directive")
                    .because(format!("{} is private and never transferred", a.name)));
            }
            wanted.push(a.id);
        }
        if let Some(s) = serial_asked {
            if s >= serial(g).as_str() {
                return Err(
                    Fail::new(332, "Nothing To Transfer").because("the serial number is current")
                );
            }
            return Err(Fail::syntax(USAGE).because(
                "incremental transfer is not offered; omit the serial number for a full transfer",
            ));
        }
        if selection.is_empty() {
            selection = g.schema.classes.iter().map(|c| (c, Vec::new())).collect();
        }
        let mut sent = 0usize;
        for (c, wanted) in selection {
            for &s in g
                .by_class
                .get(usize::from(c.id))
                .map_or(&[][..], Vec::as_slice)
            {
                let Some(seg) = g.segments.get(s as usize) else {
                    continue;
                };
                for rec_no in 0..seg.record_count() {
                    if !g.is_live(mkdb::RecordRef {
                        seg: s,
                        rec: rec_no,
                    }) {
                        continue; // superseded or deleted by a delta
                    }
                    if sent >= self.config.xfer_max_records {
                        return Err(Fail::new(330, "Exceeded Max Objects Limit")
                            .because(format!("transfer stopped after {sent} records")));
                    }
                    let view = seg.record(rec_no);
                    for (id, value, _) in view.fields_raw() {
                        let Some(a) = c.attrs.get(usize::from(id)) else {
                            continue;
                        };
                        if a.private || (!wanted.is_empty() && !wanted.contains(&id)) {
                            continue;
                        }
                        out.extend_from_slice(match d {
                            Dialect::Whois => b"% xfer ",
                            Dialect::Rwhois => b"%xfer ",
                        });
                        out.extend_from_slice(c.name.as_bytes());
                        out.push(b':');
                        out.extend_from_slice(a.name.as_bytes());
                        out.push(b':');
                        out.extend_from_slice(value);
                        out.extend_from_slice(b"\r\n");
                    }
                    rec(d, out, "xfer", "");
                    sent += 1;
                }
            }
        }
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    fn db() -> &'static Generation {
        crate::testutil::golden_db()
    }

    fn fixed_now() -> u64 {
        1_000_000_000 // 2001-09-09T01:46:40Z
    }

    fn config() -> SessionConfig {
        SessionConfig {
            now: fixed_now,
            ..SessionConfig::default()
        }
    }

    /// Feeds `input` in one piece to a fresh session; the output and the last step.
    fn run_with(cfg: &SessionConfig, input: &[u8]) -> (String, Step) {
        let mut s = Session::new(cfg);
        let mut out = Vec::new();
        let step = s.feed(input, db(), &mut out);
        (String::from_utf8(out).expect("output is UTF-8"), step)
    }

    fn run(input: &str) -> (String, Step) {
        run_with(&config(), input.as_bytes())
    }

    /// The password of operator `alice` in [`operator_config`].
    const PASSWORD: &str = "correct horse battery staple";

    /// Operators `alice` and `bob` (hashed once for all tests: hashing is slow).
    fn operators() -> Arc<Operators> {
        static OPS: OnceLock<Arc<Operators>> = OnceLock::new();
        OPS.get_or_init(|| {
            let text = format!(
                "# test operators\nalice:{}\nbob:{}\n",
                crate::auth::hash_password(PASSWORD),
                crate::auth::hash_password("something else entirely")
            );
            Arc::new(Operators::parse("test-operators", &text).expect("parses"))
        })
        .clone()
    }

    fn operator_config() -> SessionConfig {
        SessionConfig {
            operators: Some(operators()),
            ..config()
        }
    }

    fn rwhois_config() -> SessionConfig {
        SessionConfig {
            dialect: Dialect::Rwhois,
            primary: "rwhois.nic.coop:4321".into(),
            ..config()
        }
    }

    fn rw(input: &str) -> (String, Step) {
        run_with(&rwhois_config(), input.as_bytes())
    }

    /// Nothing private ever leaves the server.
    fn assert_no_secrets(out: &str) {
        for secret in [
            "never-shown",
            "2fooBAR",
            "s3cret",
            "$argon2id$",
            "aGFzaGhhc2hoYXNo",
        ] {
            assert!(
                !out.contains(secret),
                "private value {secret} leaked:\n{out}"
            );
        }
    }

    fn last_line(out: &str) -> &str {
        out.trim_end_matches("\r\n")
            .rsplit("\r\n")
            .next()
            .unwrap_or("")
    }

    #[test]
    fn greeting_is_the_banner() {
        let s = Session::new(&config());
        let mut out = Vec::new();
        s.greeting(&mut out);
        assert_eq!(out, mkdb::render::BANNER.as_bytes());
    }

    #[test]
    fn single_query_answers_and_closes() {
        let (out, step) = run("domain test.coop\r\n");
        assert_eq!(step, Step::Close);
        let mut want = Vec::new();
        let opts = AnswerOptions {
            limit: 20,
            banner: false,
        };
        let _ = mkdb::render::render_answer(db(), "domain test.coop", opts, &mut want);
        assert_eq!(out.as_bytes(), want.as_slice());
        assert!(out.contains("Domain Name: TEST.COOP") || out.contains("TEST.COOP"));
        assert!(!out.contains("registry whois service"), "no second banner");
        assert_no_secrets(&out);
    }

    #[test]
    fn lf_and_crlf_give_the_same_answer() {
        let (a, sa) = run("-limit 5\ntest.coop\n");
        let (b, sb) = run("-limit 5\r\ntest.coop\r\n");
        assert_eq!(a, b);
        assert_eq!((sa, sb), (Step::Close, Step::Close));
    }

    #[test]
    fn input_after_the_closing_query_is_ignored() {
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        assert_eq!(
            s.feed(b"test.coop\r\n-status\r\n", db(), &mut out),
            Step::Close
        );
        let len = out.len();
        assert!(!String::from_utf8_lossy(&out).contains("% status"));
        assert_eq!(s.feed(b"-status\r\n", db(), &mut out), Step::Close);
        assert_eq!(out.len(), len);
        assert!(s.is_closed());
    }

    #[test]
    fn every_split_position_gives_the_same_answer() {
        let input = b"-limit 2\r\n-holdconnect on\r\n\r\n-status\n*.coop\r\n-X-date\r\n\
                      -holdconnect off\r\ncontact CNT-1002\r\n";
        let (whole, step) = run_with(&config(), input);
        assert_eq!(step, Step::Close);
        for i in 0..=input.len() {
            let mut s = Session::new(&config());
            let mut out = Vec::new();
            let first = s.feed(&input[..i], db(), &mut out);
            let second = s.feed(&input[i..], db(), &mut out);
            assert_eq!(
                first,
                if i == input.len() {
                    Step::Close
                } else {
                    Step::Continue
                }
            );
            assert_eq!(second, Step::Close, "split at {i}");
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split at {i}");
        }
        // Byte by byte as well.
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        let mut last = Step::Continue;
        for b in input {
            last = s.feed(std::slice::from_ref(b), db(), &mut out);
        }
        assert_eq!(last, Step::Close);
        assert_eq!(String::from_utf8(out).unwrap(), whole);
    }

    #[test]
    fn holdconnect_keeps_answering_until_off_and_a_query() {
        let (out, step) = run(
            "-holdconnect on\r\ntest.coop\r\ncontact CNT-1002\r\n-holdconnect off\r\n\
             popdot.coop\r\nregistrar SAMPLE\r\n",
        );
        assert_eq!(step, Step::Close);
        assert_eq!(out.matches(">>> Last update").count(), 3, "{out}");
        assert!(out.starts_with("%ok\r\n"));
        assert!(
            !out.contains("SAMPLE\r\nRegistrar"),
            "the fourth query is not answered"
        );
        assert_no_secrets(&out);
    }

    #[test]
    fn holdconnect_session_continues_and_eof_closes() {
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        assert_eq!(
            s.feed(b"-holdconnect on\r\n", db(), &mut out),
            Step::Continue
        );
        assert!(s.holdconnect());
        for q in ["test.coop\r\n", "nosuch.coop\r\n", "po*p\r\n"] {
            assert_eq!(s.feed(q.as_bytes(), db(), &mut out), Step::Continue);
        }
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text.matches(">>> Last update").count(), 3);
        assert!(text.contains("No match for \"nosuch.coop\""));
        assert!(text.contains("% Error: "));
        // An unterminated last line is answered at end of input.
        assert_eq!(s.feed(b"popdot.coop", db(), &mut out), Step::Continue);
        assert_eq!(s.finish(db(), &mut out), Step::Close);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches(">>> Last update").count(), 4);
        assert!(s.is_closed());
    }

    #[test]
    fn finish_without_pending_input_just_closes() {
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        assert_eq!(s.feed(b"-status\r\n", db(), &mut out), Step::Continue);
        let len = out.len();
        assert_eq!(s.finish(db(), &mut out), Step::Close);
        assert_eq!(out.len(), len);
    }

    #[test]
    fn quit_acks_and_closes() {
        let (out, step) = run("-quit\r\ntest.coop\r\n");
        assert_eq!((out.as_str(), step), ("%ok\r\n", Step::Close));
        let (out, step) = run("-holdconnect on\r\n-QUIT\r\n");
        assert_eq!((out.as_str(), step), ("%ok\r\n%ok\r\n", Step::Close));
        let (out, step) = run("-quit now\r\n");
        assert!(out.ends_with("%error 338 Invalid Directive Syntax\r\n"));
        assert_eq!(step, Step::Continue);
    }

    #[test]
    fn empty_and_blank_lines_are_ignored() {
        let (out, step) = run("\r\n\n   \r\n\t\r\n");
        assert_eq!((out.as_str(), step), ("", Step::Continue));
        let (a, _) = run("\r\n\r\ntest.coop\r\n");
        let (b, _) = run("test.coop\r\n");
        assert_eq!(a, b);
    }

    #[test]
    fn over_long_line_is_refused_and_closes() {
        let cfg = config();
        let mut long = vec![b'a'; cfg.max_line + 1];
        long.extend_from_slice(b"\r\n");
        let (out, step) = run_with(&cfg, &long);
        assert_eq!(step, Step::Close);
        assert_eq!(
            out,
            "% Error: input line longer than 1024 bytes\r\n%error 350 Invalid Query Syntax\r\n"
        );
        // Exactly max_line bytes is fine (a query that matches nothing).
        let mut ok = vec![b'a'; cfg.max_line];
        ok.extend_from_slice(b"\r\n");
        let (out, _) = run_with(&cfg, &ok);
        assert!(!out.contains("longer than"), "{out}");
        // A line that never ends is refused without buffering it all.
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let mut step = Step::Continue;
        for _ in 0..100 {
            step = s.feed(&[b'x'; 100], db(), &mut out);
            if step == Step::Close {
                break;
            }
            assert!(s.buf.len() <= cfg.max_line + 1);
        }
        assert_eq!(step, Step::Close);
        assert!(s.buf.is_empty());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("longer than 1024 bytes")
        );
        // A small configured maximum applies to directives too.
        let small = SessionConfig {
            max_line: 8,
            ..config()
        };
        let (out, step) = run_with(&small, b"-holdconnect on\r\n");
        assert_eq!(step, Step::Close);
        assert!(out.contains("longer than 8 bytes"));
    }

    #[test]
    fn binary_junk_and_invalid_utf8_are_refused() {
        for junk in [
            &b"test\0.coop\r\n"[..],
            b"\xff\xfe\xfd\r\n",
            b"caf\xc3\r\n",
            b"\x1b[2Jtest.coop\r\n",
            b"-limit\x7f 5\r\n",
            b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            let mut s = Session::new(&config());
            let mut out = Vec::new();
            let mut step = s.feed(junk, db(), &mut out);
            if step == Step::Continue {
                step = s.feed(b"\n", db(), &mut out);
            }
            let out = String::from_utf8(out).unwrap();
            assert_eq!(step, Step::Close, "{junk:?}");
            assert!(out.starts_with("% Error: "), "{out}");
            assert!(
                out.ends_with("%error 350 Invalid Query Syntax\r\n"),
                "{out}"
            );
        }
        let (out, _) = run_with(&config(), b"\xc3\xa9\xff\r\n");
        assert!(out.contains("not valid UTF-8"));
        let (out, _) = run_with(&config(), b"a\0b\r\n");
        assert!(out.contains("control character 0x00"));
        // Valid UTF-8 is a query like any other.
        let (out, step) = run("münchen.coop\r\n");
        assert_eq!(step, Step::Close);
        assert!(out.contains(">>> Last update"));
    }

    #[test]
    fn unknown_directives() {
        for line in [
            "-frobnicate\r\n",
            "-X-foo\r\n",
            "-X-pgp on\r\n",
            "-rwhois V-1.5\r\n",
        ] {
            let (out, step) = run(line);
            assert_eq!(step, Step::Continue);
            assert!(out.starts_with("% -"), "{out}");
            assert_eq!(
                last_line(&out),
                "%error 400 Directive Not Available",
                "{line}"
            );
        }
        let (out, _) = run("-\r\n");
        assert_eq!(last_line(&out), "%error 338 Invalid Directive Syntax");
    }

    #[test]
    fn directive_names_are_case_insensitive() {
        let (a, _) = run("-STATUS\r\n");
        let (b, _) = run("-status\r\n");
        let (c, _) = run("-x-DATE\r\n");
        assert_eq!(a, b);
        assert_eq!(c, "% X-date 2001-09-09T01:46:40Z\r\n%ok\r\n");
    }

    #[test]
    fn directive_lists_exactly_the_offered_ones() {
        let (out, step) = run("-directive\r\n");
        assert_eq!(step, Step::Continue);
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("% directive directive:"))
            .collect();
        let want: Vec<&str> = config().offered().iter().map(|d| d.name()).collect();
        assert_eq!(names, want);
        // No -rwhois on port 43, no -security without operators, no -xfer for a peer that
        // may not mirror, never -register (not connected yet).
        assert_eq!(names.len(), 12);
        for absent in ["pgp", "rwhois", "security", "xfer", "register"] {
            assert!(!names.contains(&absent), "{absent} listed");
        }
        assert!(!out.contains("pgp"));
        assert!(out.contains("% directive description:hold the connection boolean\r\n"));
        assert_eq!(last_line(&out), "%ok");
        let (out, _) = run("-directive LIMIT\r\n");
        assert_eq!(
            out,
            "% directive directive:limit\r\n\
             % directive description:displays and sets record hit limit\r\n\
             % directive\r\n%ok\r\n"
        );
        for absent in ["X-pgp", "register", "security", "xfer", "rwhois"] {
            let (out, _) = run(&format!("-directive {absent}\r\n"));
            assert_eq!(last_line(&out), "%error 400 Directive Not Available");
        }
        // Offered with operators (security, xfer) or to a mirror (xfer).
        let (out, _) = run_with(&operator_config(), b"-directive\r\n");
        assert!(out.contains("% directive directive:security\r\n"));
        assert!(out.contains("% directive directive:xfer\r\n"));
        assert!(!out.contains("directive:register"));
        let mirror = SessionConfig {
            xfer_allowed: true,
            ..config()
        };
        let (out, _) = run_with(&mirror, b"-directive xfer\r\n");
        assert_eq!(last_line(&out), "%ok");
        let (out, _) = run("-directive a b\r\n");
        assert_eq!(last_line(&out), "%error 338 Invalid Directive Syntax");
    }

    #[test]
    fn class_directive() {
        let (out, step) = run("-class\r\n");
        assert_eq!(step, Step::Continue);
        for c in ["contact", "domain", "nameserver", "registrar"] {
            assert!(out.contains(&format!("% class {c}:description:")), "{out}");
            assert!(out.contains(&format!("% class {c}:records:")), "{out}");
        }
        assert_eq!(last_line(&out), "%ok");
        let (out, _) = run("-class coop dom\r\n");
        assert!(out.starts_with("% class domain:description:"));
        assert!(!out.contains("class contact"));
        let g = db();
        let n = g.record_count(g.schema.class("domain").unwrap().id);
        assert!(out.contains(&format!("% class domain:records:{n}\r\n")));
        let (out, _) = run("-class spaceship\r\n");
        assert_eq!(last_line(&out), "%error 341 Invalid Class");
    }

    #[test]
    fn display_directive() {
        let (out, _) = run("-display\r\n");
        assert!(out.starts_with("% display name:whois\r\n"));
        assert_eq!(last_line(&out), "%ok");
        assert_eq!(run("-display whois\r\n").0, "%ok\r\n");
        assert_eq!(run("-display DUMP\r\n").0, "%ok\r\n");
        assert_eq!(
            last_line(&run("-display html\r\n").0),
            "%error 436 Invalid Display Format"
        );
        assert_eq!(
            last_line(&run("-display a b\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
    }

    #[test]
    fn forward_directive() {
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        s.feed(b"-forward on\r\n", db(), &mut out);
        assert!(s.forward());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "% referrals are not followed by this server\r\n%ok\r\n"
        );
        let mut out = Vec::new();
        s.feed(
            b"-forward OFF\r\n-forward maybe\r\n-forward\r\n",
            db(),
            &mut out,
        );
        assert!(!s.forward());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out.matches("%error 338 Invalid Directive Syntax").count(),
            2
        );
    }

    #[test]
    fn holdconnect_directive_syntax() {
        let (out, step) = run("-holdconnect\r\n-holdconnect yes\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(
            out.matches("%error 338 Invalid Directive Syntax").count(),
            2
        );
        // Still a one-query session.
        let (_, step) = run("-holdconnect yes\r\ntest.coop\r\n");
        assert_eq!(step, Step::Close);
    }

    #[test]
    fn limit_directive_and_more_records_notice() {
        assert_eq!(run("-limit\r\n").0, "% limit 20\r\n%ok\r\n");
        assert_eq!(
            run("-limit 7\r\n-limit\r\n").0,
            "%ok\r\n% limit 7\r\n%ok\r\n"
        );
        for bad in ["0", "2049", "99999999999999999999999", "-1"] {
            let (out, step) = run(&format!("-limit {bad}\r\n"));
            assert_eq!(step, Step::Continue);
            let want = if bad == "-1" {
                "%error 338 Invalid Directive Syntax"
            } else {
                "%error 331 Invalid Limit"
            };
            assert_eq!(last_line(&out), want, "{bad}");
        }
        assert_eq!(run("-limit 2048\r\n").0, "%ok\r\n");
        assert_eq!(
            last_line(&run("-limit ten\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
        assert_eq!(
            last_line(&run("-limit 1 2\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
        let small = SessionConfig {
            max_limit: 10,
            ..config()
        };
        assert_eq!(
            last_line(&run_with(&small, b"-limit 11\r\n").0),
            "%error 331 Invalid Limit"
        );
        // The limit cuts the answer and says so.
        let (out, _) = run("-limit 1\r\n*.coop\r\n");
        assert!(
            out.contains("% More records match; only the first 1 are shown."),
            "{out}"
        );
        let (out, _) = run("*.coop\r\n");
        assert!(!out.contains("More records match"), "{out}");
    }

    #[test]
    fn security_is_not_offered_without_operators() {
        for line in [
            "-security on request password alice correct horse\r\n",
            "-security off\r\n",
        ] {
            let (out, step) = run(line);
            assert_eq!(step, Step::Continue);
            assert_eq!(last_line(&out), "%error 400 Directive Not Available");
            assert!(!out.contains("correct horse"));
        }
    }

    #[test]
    fn security_right_password_authenticates() {
        let cfg = operator_config();
        for line in [
            format!("-security on request password alice {PASSWORD}\r\n"),
            format!("-SECURITY ON REQUEST PW alice {PASSWORD}\r\n"),
            format!("-security on request crypt-pw alice:{PASSWORD}\r\n"),
            format!("-security   on  request  password   alice   {PASSWORD}  \r\n"),
        ] {
            let mut s = Session::new(&cfg);
            let mut out = Vec::new();
            assert_eq!(s.feed(line.as_bytes(), db(), &mut out), Step::Continue);
            assert_eq!(out, b"%ok\r\n", "{line}");
            assert_eq!(s.operator(), Some("alice"));
        }
    }

    #[test]
    fn security_wrong_password_closes() {
        let cfg = operator_config();
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let step = s.feed(
            b"-security on request password alice hunter2\r\n-status\r\n",
            db(),
            &mut out,
        );
        assert_eq!(step, Step::Close);
        assert!(s.is_closed());
        assert_eq!(s.operator(), None);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "% authentication failed; closing the connection\r\n\
             %error 353 Authentication Failed\r\n"
        );
        assert!(!text.contains("hunter2"));
        // A session already authenticated loses it on a failed attempt, and closes.
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let login = format!("-security on request password alice {PASSWORD}\r\n");
        s.feed(login.as_bytes(), db(), &mut out);
        assert_eq!(s.operator(), Some("alice"));
        let step = s.feed(
            b"-security on request password alice nope\r\n",
            db(),
            &mut out,
        );
        assert_eq!((step, s.operator()), (Step::Close, None));
    }

    #[test]
    fn security_unknown_user_is_answered_like_a_wrong_password() {
        let cfg = operator_config();
        let (wrong, ws) = run_with(&cfg, b"-security on request password alice hunter2\r\n");
        let (unknown, us) = run_with(&cfg, b"-security on request password mallory hunter2\r\n");
        let known_pw = format!("-security on request password mallory {PASSWORD}\r\n");
        let (unknown2, us2) = run_with(&cfg, known_pw.as_bytes());
        assert_eq!((ws, us, us2), (Step::Close, Step::Close, Step::Close));
        assert_eq!(wrong, unknown);
        assert_eq!(wrong, unknown2);
        assert!(!unknown.contains("mallory"));
    }

    #[test]
    fn security_method_and_syntax_errors() {
        let cfg = operator_config();
        for (line, want) in [
            (
                "-security on request pgp signed\r\n",
                "%error 352 Invalid Security Method",
            ),
            (
                "-security on response password alice x\r\n",
                "%error 352 Invalid Security Method",
            ),
            // A forgotten method: the password is taken for a method and never echoed.
            (
                "-security on request Tr0ub4dor&3\r\n",
                "%error 352 Invalid Security Method",
            ),
            (
                "-security on request password\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            (
                "-security on request password alice\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            (
                "-security on request password alice:\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            (
                "-security on request password :x\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            ("-security on\r\n", "%error 338 Invalid Directive Syntax"),
            (
                "-security on sideways password a b\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            ("-security maybe\r\n", "%error 338 Invalid Directive Syntax"),
            (
                "-security off now\r\n",
                "%error 338 Invalid Directive Syntax",
            ),
            ("-security\r\n", "%error 338 Invalid Directive Syntax"),
        ] {
            let (out, step) = run_with(&cfg, line.as_bytes());
            assert_eq!(step, Step::Continue, "{line}");
            assert_eq!(last_line(&out), want, "{line}");
            assert!(!out.contains("Tr0ub4dor"), "{out}");
        }
    }

    #[test]
    fn security_off_drops_authentication() {
        let cfg = operator_config();
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let script = format!(
            "-security on request password alice {PASSWORD}\r\n-security off\r\n\
             -xfer coop domain\r\n"
        );
        assert_eq!(s.feed(script.as_bytes(), db(), &mut out), Step::Continue);
        assert_eq!(s.operator(), None);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("%ok\r\n%ok\r\n"), "{text}");
        assert_eq!(last_line(&text), "%error 401 Not Authorized For Directive");
        assert!(!text.contains("% xfer domain:"));
    }

    #[test]
    fn xfer_after_authentication() {
        let cfg = operator_config();
        let (out, _) = run_with(&cfg, b"-xfer coop domain\r\n");
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
        let script =
            format!("-security on request password alice {PASSWORD}\r\n-xfer coop domain\r\n");
        let (out, step) = run_with(&cfg, script.as_bytes());
        assert_eq!(step, Step::Continue);
        assert!(out.starts_with("%ok\r\n% xfer domain:"), "{out}");
        assert_eq!(last_line(&out), "%ok");
        let g = db();
        let dom = g.schema.class("domain").unwrap();
        assert_eq!(
            out.matches("% xfer\r\n").count() as u64,
            g.record_count(dom.id)
        );
        // Operators get public data only, like mirrors.
        assert_no_secrets(&out);
        assert!(!out.contains(":Auth-Info:"));
        let script = format!(
            "-security on request password alice {PASSWORD}\r\n-xfer coop domain Auth-Info\r\n"
        );
        let (out, _) = run_with(&cfg, script.as_bytes());
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
    }

    #[test]
    fn register_without_a_spool_is_a_clear_error() {
        let cfg = operator_config();
        let script = format!(
            "-security on request password alice {PASSWORD}\r\n\
             -register on add hostmaster@nic.coop\r\n"
        );
        let (out, step) = run_with(&cfg, script.as_bytes());
        assert_eq!(step, Step::Continue);
        assert!(out.starts_with("%ok\r\n"));
        assert!(out.contains("no change spool (whoisd --spool)"), "{out}");
        assert!(out.contains("nothing was changed"));
        assert_eq!(last_line(&out), "%error 400 Directive Not Available");
        assert_eq!(out.matches("%ok").count(), 1, "no pretended success");
        // Unauthenticated: still 401, with operators configured or not.
        let (out, _) = run_with(&cfg, b"-register on add hostmaster@nic.coop\r\n");
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
    }

    /// Operators, and a change spool: `-register` offered.
    fn register_config(dialect: Dialect) -> SessionConfig {
        SessionConfig {
            dialect,
            register: true,
            operators: Some(operators()),
            ..config()
        }
    }

    fn login() -> String {
        format!("-security on request password alice {PASSWORD}\r\n")
    }

    /// test.coop in the dump display, CRLF lines.
    fn test_coop_dump() -> String {
        let c = db().schema.class("domain").unwrap();
        let r = db().find(c.id, "test.coop").unwrap();
        let mut out = Vec::new();
        rwhois::dump_record(db(), r, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn register_is_offered_with_a_spool_and_operators() {
        let cfg = register_config(Dialect::Whois);
        assert!(cfg.offers(Directive::Register));
        let (out, _) = run_with(&cfg, b"-directive register\r\n");
        assert_eq!(last_line(&out), "%ok");
        // Not without operators (nobody could use it), nor without a spool.
        let no_ops = SessionConfig {
            operators: None,
            ..cfg
        };
        assert!(!no_ops.offers(Directive::Register));
        assert!(!operator_config().offers(Directive::Register));
        let rw = register_config(Dialect::Rwhois);
        assert_eq!(rw.capability_id() & 0x100, 0x100);
        assert_eq!(rwhois_config().capability_id() & 0x100, 0);
    }

    #[test]
    fn register_add_is_handed_out_then_answered() {
        let cfg = register_config(Dialect::Whois);
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let dump = test_coop_dump().replace("TEST.COOP", "NEW-ONE.COOP");
        let script = format!(
            "{}-register on add hostmaster@nic.coop\r\n{dump}-register off\r\n-status\r\n",
            login()
        );
        assert_eq!(s.feed(script.as_bytes(), db(), &mut out), Step::Continue);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text, "%ok\r\n%ok\r\n", "nothing answered before the result");
        assert!(s.awaiting_registration());
        assert!(!s.in_register_block());
        let sub = s.take_registration().expect("a registration");
        assert_eq!(sub.change.key, "NEW-ONE.COOP");
        assert_eq!(sub.operator, "alice");
        assert!(s.take_registration().is_none(), "taken once");
        // More input while it is out is held, not answered.
        assert_eq!(s.feed(b"-X-date\r\n", db(), &mut out), Step::Continue);
        assert_eq!(out.len(), 10);
        let outcome = register::Outcome::Recorded {
            sequence: 7,
            via_eppd: false,
        };
        assert_eq!(
            s.complete_registration(outcome, db(), &mut out),
            Step::Continue
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("% change 7 is recorded in the change spool; whois shows it"),
            "{text}"
        );
        assert!(
            text.contains("% register ID:NEW-ONE.COOP\r\n%ok\r\n% status limit:"),
            "{text}"
        );
        assert!(
            text.ends_with("% X-date 2001-09-09T01:46:40Z\r\n%ok\r\n"),
            "{text}"
        );
        assert!(!s.awaiting_registration());
    }

    #[test]
    fn register_mod_and_del_in_rwhois() {
        let cfg = register_config(Dialect::Rwhois);
        let d = test_coop_dump();
        let new = d.replace("Domain-Status:ok", "Domain-Status:clientHold");
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let script = format!(
            "{}-register on mod m@nic.coop\r\n{d}_NEW_\r\n{new}-register off\r\n",
            login()
        );
        s.feed(script.as_bytes(), db(), &mut out);
        let sub = s.take_registration().expect("a registration");
        assert!(sub.change.base.is_some());
        let outcome = register::Outcome::Recorded {
            sequence: 8,
            via_eppd: true,
        };
        s.complete_registration(outcome, db(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "%info on\r\nchange 8 is recorded in the change spool (sequenced by eppd);"
            ),
            "{text}"
        );
        assert!(
            text.contains("\r\n%register Updated:20010909014640000\r\n%ok\r\n"),
            "{text}"
        );
        // A refusal that comes back (eppd's conflict) is an error, the session goes on.
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        let script = format!(
            "{}-register on del m@nic.coop\r\n{d}-register off\r\n",
            login()
        );
        s.feed(script.as_bytes(), db(), &mut out);
        assert_eq!(
            s.take_registration().unwrap().change.action,
            mkdb::change::Action::Delete
        );
        let refused = register::Outcome::Failed(RegError {
            code: 325,
            text: "Failed To Update Outdated Object",
            detail: "eppd refused".into(),
            close: false,
        });
        assert_eq!(
            s.complete_registration(refused, db(), &mut out),
            Step::Continue
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            last_line(&text),
            "%error 325 Failed To Update Outdated Object"
        );
        // Busy (501) closes.
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        s.feed(script.as_bytes(), db(), &mut out);
        let busy = register::Outcome::Failed(RegError::busy());
        assert_eq!(s.complete_registration(busy, db(), &mut out), Step::Close);
        assert_eq!(
            last_line(&String::from_utf8(out).unwrap()),
            "%error 501 Service Not Available"
        );
    }

    #[test]
    fn register_refusals() {
        let cfg = register_config(Dialect::Whois);
        let d = test_coop_dump();
        let run_reg = |script: &str| {
            let mut s = Session::new(&cfg);
            let mut out = Vec::new();
            let step = s.feed(script.as_bytes(), db(), &mut out);
            assert!(s.take_registration().is_none(), "{script}");
            (String::from_utf8(out).unwrap(), step)
        };
        // Not authenticated: 401, and the record lines that follow are queries.
        let (out, _) = run_reg("-register on add m@nic.coop\r\n");
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
        let l = login();
        for (script, want) in [
            (
                format!("{l}-register off\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!("{l}-register on add\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!("{l}-register on put m@x\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!("{l}-register on add nobody\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!("{l}-register add m@x\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!("{l}-register on add m@x\r\n-status\r\n{d}-register off\r\n"),
                "%error 338 Invalid Directive Syntax",
            ),
            (
                format!(
                    "{l}-register on del m@x\r\n{}-register off\r\n",
                    d.replace("Domain-Status:ok", "Domain-Status:inactive")
                ),
                "%error 325 Failed To Update Outdated Object",
            ),
            (
                format!("{l}-register on add m@x\r\n{d}-register off\r\n"),
                "%error 324 Primary Key Not Unique",
            ),
            (
                format!("{l}-register on mod m@x\r\n{d}_NEW_\r\n{d}-register off\r\n"),
                "%ok",
            ),
        ] {
            let (out, step) = run_reg(&script);
            assert_eq!(step, Step::Continue, "{script}");
            assert_eq!(last_line(&out), want, "{script}:\n{out}");
        }
        // An unchanged mod says so.
        let (out, _) = run_reg(&format!(
            "{l}-register on mod m@x\r\n{d}_NEW_\r\n{d}-register off\r\n"
        ));
        assert!(out.contains("nothing to change"), "{out}");
        // -quit inside a block abandons it and closes.
        let (out, step) = run_reg(&format!("{l}-register on add m@x\r\n{d}-quit\r\n"));
        assert_eq!((last_line(&out), step), ("%ok", Step::Close));
        // Port 43 without holdconnect: record lines are not queries (no close).
        let (out, step) = run_reg(&format!("{l}-register on add m@x\r\nClass-Name:domain\r\n"));
        assert_eq!((out.as_str(), step), ("%ok\r\n%ok\r\n", Step::Continue));
    }

    #[test]
    fn register_blocks_never_panic_and_stay_bounded() {
        let cfg = register_config(Dialect::Rwhois);
        let mut s = Session::new(&cfg);
        let mut out = Vec::new();
        s.feed(
            format!("{}-register on add m@x\r\n", login()).as_bytes(),
            db(),
            &mut out,
        );
        for i in 0..(register::MAX_BLOCK_LINES * 3) {
            s.feed(
                format!("Registrar-Remark:{i}\r\n").as_bytes(),
                db(),
                &mut out,
            );
        }
        let before = out.len();
        s.feed(b"-register off\r\n", db(), &mut out);
        let text = String::from_utf8(out[before..].to_vec()).unwrap();
        assert!(text.contains("at most 512 lines"), "{text}");
        assert_eq!(last_line(&text), "%error 338 Invalid Directive Syntax");
    }

    #[test]
    fn notify_is_acknowledged() {
        assert_eq!(run("-notify badref rwhois://x.coop:4321/\r\n").0, "%ok\r\n");
        assert_eq!(run("-notify UPDATE coop\r\n").0, "%ok\r\n");
        for bad in ["-notify\r\n", "-notify badref\r\n", "-notify gossip x\r\n"] {
            assert_eq!(
                last_line(&run(bad).0),
                "%error 338 Invalid Directive Syntax"
            );
        }
    }

    #[test]
    fn register_is_refused() {
        let (out, step) = run("-register on add hostmaster@nic.coop\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
        assert_eq!(
            last_line(&run("-register\r\n").0),
            "%error 401 Not Authorized For Directive"
        );
    }

    #[test]
    fn schema_directive() {
        let (out, step) = run("-schema domain\r\n");
        assert_eq!(step, Step::Continue);
        assert!(out.starts_with("% schema domain:attribute:"));
        assert!(out.contains("% schema domain:attribute:Auth-Info\r\n"));
        assert!(out.contains("% schema domain:private:ON\r\n"));
        assert!(out.contains("% schema domain:indexed:"));
        assert!(out.contains("% schema domain:required:ON\r\n"));
        assert!(out.contains("% schema domain:repeatable:ON\r\n"));
        assert_eq!(last_line(&out), "%ok");
        assert!(!out.contains("% schema contact:"));
        let (all, _) = run("-schema\r\n");
        for c in ["contact", "domain", "nameserver", "registrar"] {
            assert!(all.contains(&format!("% schema {c}:attribute:")));
        }
        assert_eq!(run("-schema coop\r\n").0, all);
        assert_eq!(
            last_line(&run("-schema nosuch\r\n").0),
            "%error 341 Invalid Class"
        );
        assert_no_secrets(&all);
    }

    #[test]
    fn soa_directive() {
        let g = db();
        let (out, _) = run("-soa\r\n");
        let want = format!(
            "% soa authority:coop\r\n% soa ttl:86400\r\n% soa serial:{}\r\n\
             % soa refresh:3600\r\n% soa increment:1800\r\n% soa retry:180\r\n\
             % soa tech-contact:hostmaster@nic.coop\r\n\
             % soa admin-contact:hostmaster@nic.coop\r\n\
             % soa hostmaster:hostmaster@nic.coop\r\n% soa primary:whois.nic.coop:43\r\n\
             % soa generation:{}\r\n% soa updated:{}\r\n% soa\r\n%ok\r\n",
            rwhois::time_stamp(&g.created, g.number),
            g.number,
            g.created
        );
        assert_eq!(rwhois::time_stamp(&g.created, g.number).len(), 17);
        assert_eq!(out, want);
        assert_eq!(run("-soa COOP\r\n").0, want);
        assert_eq!(
            last_line(&run("-soa org\r\n").0),
            "%error 340 Invalid Authority Area"
        );
    }

    #[test]
    fn status_directive() {
        let g = db();
        let (out, step) = run("-limit 9\r\n-holdconnect on\r\n-forward on\r\n-status\r\n");
        assert_eq!(step, Step::Continue);
        assert!(out.contains("% status limit:9\r\n"));
        assert!(out.contains("% status holdconnect:ON\r\n"));
        assert!(out.contains("% status forward:ON\r\n"));
        assert!(out.contains("% status display:whois\r\n"));
        let total: u64 = g.schema.classes.iter().map(|c| g.record_count(c.id)).sum();
        assert!(total > 0);
        assert!(out.contains(&format!("% status objects:{total}\r\n")));
        for c in &g.schema.classes {
            let line = format!("% status objects-{}:{}\r\n", c.name, g.record_count(c.id));
            assert!(out.contains(&line), "{line}");
        }
        assert!(out.contains(&format!("% status generation:{}\r\n", g.number)));
        assert!(out.contains("% status time:2001-09-09T01:46:40Z\r\n"));
        assert_eq!(last_line(&out), "%ok");
        let (out, _) = run("-status\r\n");
        assert!(out.contains("% status limit:20\r\n% status holdconnect:OFF\r\n"));
        assert_eq!(
            last_line(&run("-status now\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
    }

    #[test]
    fn x_date_directive() {
        assert_eq!(
            run("-X-date\r\n").0,
            "% X-date 2001-09-09T01:46:40Z\r\n%ok\r\n"
        );
        assert_eq!(
            last_line(&run("-X-date x\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
    }

    #[test]
    fn xfer_refused_without_permission() {
        let (out, step) = run("-xfer coop domain\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
        assert!(!out.contains("% xfer domain:"));
    }

    #[test]
    fn xfer_allowed_sends_public_data_only() {
        let g = db();
        let cfg = SessionConfig {
            xfer_allowed: true,
            ..config()
        };
        let (out, step) = run_with(&cfg, b"-xfer coop\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(last_line(&out), "%ok");
        assert_no_secrets(&out);
        assert!(!out.contains(":Auth-Info:"));
        assert!(!out.contains(":EPP-Password-Hash:"));
        let total: u64 = g.schema.classes.iter().map(|c| g.record_count(c.id)).sum();
        assert_eq!(out.matches("% xfer\r\n").count() as u64, total);
        let dom = g.schema.class("domain").unwrap();
        let (out, _) = run_with(&cfg, b"-xfer coop domain\r\n");
        assert!(
            out.to_ascii_lowercase()
                .contains("% xfer domain:domain-name:test.coop\r\n")
        );
        assert_eq!(
            out.matches("% xfer\r\n").count() as u64,
            g.record_count(dom.id)
        );
        assert!(!out.contains("% xfer contact:"));
        for l in out
            .lines()
            .filter(|l| l.len() > 7 && l.starts_with("% xfer "))
        {
            assert!(l.starts_with("% xfer domain:"), "{l}");
        }
        assert_no_secrets(&out);
        // Selected attributes only; private ones cannot be asked for.
        let (out, _) = run_with(&cfg, b"-xfer coop domain Domain-Name\r\n");
        let attrs: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("% xfer domain:"))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert!(
            !attrs.is_empty() && attrs.iter().all(|a| *a == "Domain-Name"),
            "{attrs:?}"
        );
        let (out, _) = run_with(&cfg, b"-xfer coop domain Auth-Info\r\n");
        assert_eq!(last_line(&out), "%error 401 Not Authorized For Directive");
        assert_no_secrets(&out);
        let (out, _) = run_with(&cfg, b"-xfer coop domain Colour\r\n");
        assert_eq!(last_line(&out), "%error 320 Invalid Attribute");
        let (out, _) = run_with(&cfg, b"-xfer coop spaceship\r\n");
        assert_eq!(last_line(&out), "%error 341 Invalid Class");
        // The cap stops a transfer.
        let capped = SessionConfig {
            xfer_max_records: 1,
            ..cfg
        };
        let (out, _) = run_with(&capped, b"-xfer contact\r\n");
        assert_eq!(out.matches("% xfer\r\n").count(), 1);
        assert_eq!(last_line(&out), "%error 330 Exceeded Max Objects Limit");
    }

    #[test]
    fn no_output_ever_shows_private_values() {
        let cfg = SessionConfig {
            xfer_allowed: true,
            ..config()
        };
        let script = "-holdconnect on\r\n-class\r\n-schema\r\n-status\r\n-xfer\r\n\
                      test.coop\r\ncontact CNT-1002\r\n*.coop\r\nregistrar SAMPLE\r\n\
                      domain registrant-id=CNT-1002\r\n-quit\r\n";
        let (out, step) = run_with(&cfg, script.as_bytes());
        assert_eq!(step, Step::Close);
        assert_no_secrets(&out);
    }

    #[test]
    fn rwhois_banner_carries_the_offered_capabilities() {
        let banner = |cfg: &SessionConfig| {
            let mut out = Vec::new();
            Session::new(cfg).greeting(&mut out);
            String::from_utf8(out).unwrap()
        };
        let version = env!("CARGO_PKG_VERSION");
        // class..quit 0x00ff, schema 0x0200, soa 0x0800, status 0x1000, X 0x4000.
        assert_eq!(
            banner(&rwhois_config()),
            format!("%rwhois V-1.5:005aff:00 rwhois.nic.coop (by whoisd {version})\r\n")
        );
        assert_eq!(rwhois_config().capability_id(), 0x5aff);
        let mirror = SessionConfig {
            xfer_allowed: true,
            ..rwhois_config()
        };
        assert!(banner(&mirror).starts_with("%rwhois V-1.5:007aff:00 "));
        let ops = SessionConfig {
            operators: Some(operators()),
            ..rwhois_config()
        };
        // Plus security 0x0400 and xfer 0x2000; never register 0x0100.
        assert!(banner(&ops).starts_with("%rwhois V-1.5:007eff:00 "));
        // -rwhois answers the same banner.
        let (out, step) = rw("-rwhois V-1.5 some client 1.0\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(out, format!("{}%ok\r\n", banner(&rwhois_config())));
        assert_eq!(
            last_line(&rw("-rwhois V-1.0\r\n").0),
            "%error 300 Not Compatible With Version"
        );
        for bad in ["-rwhois\r\n", "-rwhois 1.5\r\n", "-rwhois V-x.y\r\n"] {
            assert_eq!(last_line(&rw(bad).0), "%error 338 Invalid Directive Syntax");
        }
        // The host is the primary's without its port.
        let bare = SessionConfig {
            primary: "rwhois.example".into(),
            ..rwhois_config()
        };
        assert_eq!(bare.host(), "rwhois.example");
        assert_eq!(rwhois_config().host(), "rwhois.nic.coop");
    }

    #[test]
    fn rwhois_directive_responses_are_rfc_2167_lines() {
        let g = db();
        let script = "-class\r\n-schema domain\r\n-soa\r\n-status\r\n-directive\r\n\
                      -display\r\n-display dump\r\n-limit 5\r\n-forward on\r\n\
                      -holdconnect on\r\n-notify update x:4321:coop\r\n-X-date\r\n";
        let (out, step) = rw(script);
        assert_eq!(step, Step::Continue);
        let mut in_info = false;
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            match l {
                "%info on" => in_info = true,
                "%info off" => in_info = false,
                _ if in_info => {}
                _ => {
                    assert!(l.starts_with('%'), "not a response line: {l:?}");
                    assert!(!l.starts_with("% "), "port-43 prefix in RWhois: {l:?}");
                }
            }
        }
        assert_eq!(out.matches("%ok\r\n").count(), 12, "{out}");
        assert!(!out.contains("%error"), "{out}");
        let stamp = rwhois::time_stamp(&g.created, g.number);
        assert!(out.contains(&format!("%class domain:version:{stamp}\r\n")));
        assert!(out.contains("%class domain:description:"));
        assert!(out.contains("%class\r\n"));
        assert!(out.contains("%schema domain:attribute:Domain-Name\r\n"));
        assert!(
            out.contains("%schema domain:type:ID\r\n"),
            "references are ID"
        );
        assert!(out.contains("%schema domain:multi-line:OFF\r\n"));
        assert!(out.contains("%schema domain:hierarchical:ON\r\n"));
        assert!(out.contains("%schema\r\n"));
        assert!(out.contains(&format!(
            "%soa authority:coop\r\n%soa ttl:86400\r\n%soa serial:{stamp}\r\n"
        )));
        assert!(out.contains("%soa primary:rwhois.nic.coop:4321\r\n%soa generation:"));
        let total: u64 = g.schema.classes.iter().map(|c| g.record_count(c.id)).sum();
        assert!(out.contains(&format!(
            "%status limit:20\r\n%status holdconnect:ON\r\n%status forward:OFF\r\n\
             %status objects:{total}\r\n%status display:dump\r\n\
             %status contact:hostmaster@nic.coop\r\n"
        )));
        assert!(out.starts_with("%class "));
        assert!(out.contains("%directive directive:rwhois\r\n%directive description:"));
        assert!(!out.contains("directive:security"));
        assert!(!out.contains("directive:register"));
        assert!(out.contains("%display name:dump\r\n%display description:"));
        assert!(out.contains("%X-date 2001-09-09T01:46:40Z\r\n%ok\r\n"));
        assert!(out.contains(
            "%info on\r\nreferrals are not followed by this server\r\n%info off\r\n%ok\r\n"
        ));
        assert_no_secrets(&out);
    }

    #[test]
    fn rwhois_errors_carry_explanations_in_info_blocks() {
        let (out, step) = rw("-class spaceship\r\n");
        assert_eq!(step, Step::Continue);
        assert_eq!(
            out,
            "%info on\r\nno class spaceship\r\n%info off\r\n%error 341 Invalid Class\r\n"
        );
        assert_eq!(
            last_line(&rw("-display whois\r\n").0),
            "%error 436 Invalid Display Format"
        );
        assert_eq!(
            last_line(&rw("-limit\r\n").0),
            "%error 338 Invalid Directive Syntax"
        );
        assert_eq!(
            last_line(&rw("-frobnicate\r\n").0),
            "%error 400 Directive Not Available"
        );
        assert_eq!(
            last_line(&rw("-soa org\r\n").0),
            "%error 340 Invalid Authority Area"
        );
        let (out, step) = rw("\x01\r\n");
        assert_eq!(step, Step::Close);
        assert!(out.starts_with("%info on\r\nbinary data in input"));
        assert!(out.ends_with("%info off\r\n%error 350 Invalid Query Syntax\r\n"));
    }

    #[test]
    fn rwhois_query_answers_in_dump_format_and_holds_the_connection() {
        let (out, step) = rw("domain test.coop\r\n");
        assert_eq!(step, Step::Continue, "holdconnect is implied");
        assert!(out.contains("domain:Domain-Name:TEST.COOP\r\n"), "{out}");
        assert!(out.contains("domain:Domain-ID:400032-COOP\r\n"), "{out}");
        assert!(out.contains("domain:Registrant-ID;I:CNT-1002\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n%ok\r\n"), "{out}");
        assert!(!out.contains("Auth-Info"), "{out}");
        assert_no_secrets(&out);
        for l in out
            .trim_end()
            .lines()
            .filter(|l| !l.is_empty() && *l != "%ok")
        {
            let mut parts = l.splitn(3, ':');
            assert_eq!(parts.next(), Some("domain"), "{l}");
            assert!(parts.next().is_some_and(|a| !a.is_empty()), "{l}");
            assert!(parts.next().is_some(), "{l}");
        }
        // Contacts show their computed association, private data never.
        let (out, _) = rw("contact CNT-1002\r\n");
        assert!(out.starts_with("contact:"), "{out}");
        assert!(
            out.contains("contact:Currently-Associated:true\r\n"),
            "{out}"
        );
        assert_no_secrets(&out);
        // Several objects: an empty line after each.
        let (out, _) = rw("*.coop\r\n");
        let objects = out.matches("domain:Domain-Name:").count();
        assert!(objects > 1, "{out}");
        assert_eq!(out.matches("\r\n\r\n").count(), objects);
        assert!(out.ends_with("\r\n\r\n%ok\r\n"));
        assert_no_secrets(&out);
        // Same records as port 43.
        let (whois, _) = run("*.coop\r\n");
        assert_eq!(whois.matches(">>> Last update").count(), 1);
        assert_eq!(whois.matches("Domain Name: ").count(), objects, "{whois}");
    }

    #[test]
    fn rwhois_query_errors() {
        let (out, step) = rw("nosuch.coop\r\n");
        assert_eq!(
            (out.as_str(), step),
            ("%error 230 No Objects Found\r\n", Step::Continue)
        );
        let (out, _) = rw("-limit 1\r\n*.coop\r\n");
        assert_eq!(out.matches("domain:Domain-Name:").count(), 1, "{out}");
        assert!(
            out.ends_with("\r\n\r\n%error 330 Exceeded Max Objects Limit\r\n"),
            "{out}"
        );
        let (out, step) = rw("\"unbalanced\r\n");
        assert_eq!(step, Step::Continue);
        assert!(out.starts_with("%info on\r\n"), "{out}");
        assert!(
            out.ends_with("%info off\r\n%error 350 Invalid Query Syntax\r\n"),
            "{out}"
        );
        let (out, _) = rw("domain colour=blue\r\n");
        assert!(out.ends_with("%error 320 Invalid Attribute\r\n"), "{out}");
    }

    #[test]
    fn rwhois_session_ends_on_quit_eof_or_holdconnect_off() {
        let (out, step) = rw("test.coop\r\npopdot.coop\r\n-quit\r\ntest.coop\r\n");
        assert_eq!(step, Step::Close);
        assert_eq!(out.matches("%ok\r\n").count(), 3);
        assert!(out.ends_with("%ok\r\n%ok\r\n"));
        let mut s = Session::new(&rwhois_config());
        let mut out = Vec::new();
        assert!(s.holdconnect());
        assert_eq!(s.feed(b"test.coop", db(), &mut out), Step::Continue);
        assert_eq!(s.finish(db(), &mut out), Step::Close);
        assert!(String::from_utf8(out).unwrap().ends_with("%ok\r\n"));
        let (out, step) = rw("-holdconnect off\r\ntest.coop\r\n-status\r\n");
        assert_eq!(step, Step::Close);
        assert!(!out.contains("%status"));
    }

    #[test]
    fn rwhois_every_split_position_gives_the_same_answer() {
        let cfg = rwhois_config();
        let input = b"-limit 2\r\n-rwhois V-1.5\r\n\r\n-status\n*.coop\r\n-X-date\r\n\
                      nosuch\r\ncontact CNT-1002\r\n-quit\r\n";
        let (whole, step) = run_with(&cfg, input);
        assert_eq!(step, Step::Close);
        for i in 0..=input.len() {
            let mut s = Session::new(&cfg);
            let mut out = Vec::new();
            s.feed(&input[..i], db(), &mut out);
            assert_eq!(
                s.feed(&input[i..], db(), &mut out),
                Step::Close,
                "split at {i}"
            );
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split at {i}");
        }
    }

    #[test]
    fn rwhois_xfer_and_security() {
        let cfg = SessionConfig {
            operators: Some(operators()),
            ..rwhois_config()
        };
        let script = "-security on request password bob something else entirely\r\n\
                      -xfer coop class=domain attribute=Domain-Name attribute=Domain-Status\r\n";
        let (out, step) = run_with(&cfg, script.as_bytes());
        assert_eq!(step, Step::Continue);
        assert!(
            out.starts_with("%ok\r\n%xfer domain:Domain-Name:TEST.COOP\r\n"),
            "{out}"
        );
        for l in out.lines().filter(|l| l.starts_with("%xfer ")) {
            assert!(
                l.starts_with("%xfer domain:Domain-Name:")
                    || l.starts_with("%xfer domain:Domain-Status:"),
                "{l}"
            );
        }
        assert!(out.contains("%xfer\r\n"));
        assert_eq!(last_line(&out), "%ok");
        // Two classes in the RFC form.
        let script = format!(
            "-security on request password alice {PASSWORD}\r\n\
             -xfer coop class=registrar class=nameserver\r\n"
        );
        let (out, _) = run_with(&cfg, script.as_bytes());
        assert!(out.contains("%xfer registrar:"), "{out}");
        assert!(out.contains("%xfer nameserver:"), "{out}");
        assert!(!out.contains("%xfer domain:"));
        assert_no_secrets(&out);
        // Serial numbers: current means nothing to transfer; incremental is not offered.
        let login = format!("-security on request password alice {PASSWORD}\r\n");
        let (out, _) = run_with(
            &cfg,
            format!("{login}-xfer coop 99991231235959999\r\n").as_bytes(),
        );
        assert_eq!(last_line(&out), "%error 332 Nothing To Transfer");
        let (out, _) = run_with(
            &cfg,
            format!("{login}-xfer coop 19700101000000000\r\n").as_bytes(),
        );
        assert_eq!(last_line(&out), "%error 338 Invalid Directive Syntax");
        assert!(out.contains("incremental transfer is not offered"));
        let (out, _) = run_with(
            &cfg,
            format!("{login}-xfer coop attribute=Domain-Name\r\n").as_bytes(),
        );
        assert_eq!(last_line(&out), "%error 338 Invalid Directive Syntax");
        // Failed authentication closes an RWhois session too.
        let (out, step) = run_with(&cfg, b"-security on request password bob nope\r\n");
        assert_eq!(step, Step::Close);
        assert_eq!(
            out,
            "%info on\r\nauthentication failed; closing the connection\r\n%info off\r\n\
             %error 353 Authentication Failed\r\n"
        );
    }

    #[test]
    fn rwhois_output_never_shows_private_values() {
        let cfg = SessionConfig {
            xfer_allowed: true,
            ..rwhois_config()
        };
        let script = "-class\r\n-schema\r\n-status\r\n-xfer\r\n\
                      test.coop\r\ncontact CNT-1002\r\n*.coop\r\nregistrar SAMPLE\r\n\
                      domain registrant-id=CNT-1002\r\n*\r\ncontact *\r\nregistrar *\r\n\
                      nameserver *\r\n-quit\r\n";
        let (out, step) = run_with(&cfg, script.as_bytes());
        assert_eq!(step, Step::Close);
        assert_no_secrets(&out);
    }

    /// Feeds `lines` one at a time (as the server does); the tally after each.
    fn tallies(cfg: &SessionConfig, lines: &[&str]) -> Vec<AnswerTally> {
        let mut s = Session::new(cfg);
        let mut out = Vec::new();
        lines
            .iter()
            .map(|l| {
                s.feed(l.as_bytes(), db(), &mut out);
                s.take_tally()
            })
            .collect()
    }

    #[test]
    fn each_answer_is_tallied_by_kind_with_its_contacts() {
        let hit = |records, contacts| AnswerTally {
            hits: 1,
            records,
            contacts,
            ..AnswerTally::default()
        };
        let no_match = AnswerTally {
            no_match: 1,
            ..AnswerTally::default()
        };
        let error = AnswerTally {
            errors: 1,
            ..AnswerTally::default()
        };
        let directive = AnswerTally {
            directives: 1,
            ..AnswerTally::default()
        };
        let none = AnswerTally::default();
        let lines = [
            "-holdconnect on\r\n",
            "test.coop\r\n",
            "contact CNT-1002\r\n",
            "registrar SAMPLE\r\n",
            "nosuch.coop\r\n",
            "*a*b*\r\n",
            "-frobnicate\r\n",
            "   \r\n",
            "\x01\r\n",
        ];
        // The domain joins its four contacts; a registrar none.
        assert_eq!(
            tallies(&config(), &lines),
            [
                directive,
                hit(1, 4),
                hit(1, 1),
                hit(1, 0),
                no_match,
                error,
                directive,
                none,
                error
            ]
        );
        // RWhois: dump answers join nothing; a contact object counts itself.
        let rw_lines = &lines[1..];
        assert_eq!(
            tallies(&rwhois_config(), rw_lines),
            [
                hit(1, 0),
                hit(1, 1),
                hit(1, 0),
                no_match,
                error,
                directive,
                none,
                error
            ]
        );
        // Several lines in one feed add up; taking resets.
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        s.feed(
            b"-holdconnect on\r\ntest.coop\r\ntest.coop\r\n",
            db(),
            &mut out,
        );
        let t = s.take_tally();
        assert_eq!(
            (t.directives, t.hits, t.contacts, t.answers()),
            (1, 2, 8, 3)
        );
        assert_eq!(s.take_tally(), AnswerTally::default());
        // An unterminated last line answered at end of input is tallied too.
        let mut s = Session::new(&config());
        s.feed(b"contact CNT-1002", db(), &mut out);
        s.finish(db(), &mut out);
        assert_eq!(s.take_tally(), hit(1, 1));
    }

    #[derive(Debug)]
    struct FixedReport;

    impl StatusReport for FixedReport {
        fn report(&self, line: &mut dyn FnMut(&str, &str)) {
            line("queries", "42");
            line("limits", "mode enforce; 5 contact records/day");
        }
    }

    #[test]
    fn status_shows_process_figures_to_operators_only() {
        let cfg = SessionConfig {
            status_report: Some(Arc::new(FixedReport)),
            ..operator_config()
        };
        let (out, _) = run_with(&cfg, b"-holdconnect on\r\n-status\r\n");
        assert!(!out.contains("queries:42"), "{out}");
        assert!(!out.contains("limits:"), "{out}");
        let login =
            format!("-holdconnect on\r\n-security on request password alice {PASSWORD}\r\n");
        let (out, _) = run_with(&cfg, format!("{login}-status\r\n").as_bytes());
        assert!(
            out.contains(
                "% status time:2001-09-09T01:46:40Z\r\n% status queries:42\r\n\
                          % status limits:mode enforce; 5 contact records/day\r\n%ok\r\n"
            ),
            "{out}"
        );
        // -security off: back to what everyone sees.
        let (out, _) = run_with(
            &cfg,
            format!("{login}-security off\r\n-status\r\n").as_bytes(),
        );
        assert!(!out.contains("queries:42"), "{out}");
        // RWhois lines.
        let rcfg = SessionConfig {
            dialect: Dialect::Rwhois,
            ..cfg
        };
        let (out, _) = run_with(&rcfg, format!("{login}-status\r\n").as_bytes());
        assert!(out.contains("%status queries:42\r\n"), "{out}");
    }

    #[test]
    fn config_limits_are_sane() {
        let cfg = SessionConfig {
            default_limit: 0,
            max_limit: 0,
            ..config()
        };
        let s = Session::new(&cfg);
        assert_eq!(s.limit(), 1);
        let cfg = SessionConfig {
            default_limit: 5000,
            ..config()
        };
        assert_eq!(Session::new(&cfg).limit(), DEFAULT_MAX_LIMIT);
    }
}
