//! The sans-I/O protocol core of the plain port-43 service: a [`Session`] takes the bytes a
//! client sent (in any fragments) and appends the answer bytes to an output buffer, telling
//! the caller whether to keep reading ([`Step::Continue`]) or to flush and close
//! ([`Step::Close`]). It never touches a socket, a thread or the clock (the time comes from
//! [`SessionConfig::now`]), so the server loop, the tests and a future RWhois front end can
//! all drive it.
//!
//! Session flow (Public Whois Specification, "Client/Server Session for Query"): the banner
//! ([`Session::greeting`]), then zero or more directive lines (starting with `-`), each
//! answered, then one query line, answered with the `Key: Value` records of
//! [`mkdb::render::render_answer`] (without a second banner), then close. After
//! `-holdconnect on` the session goes on answering directives and queries until `-quit`,
//! a query after `-holdconnect off`, or end of input ([`Session::finish`]).
//!
//! Directive answers are RWhois responses (RFC 2167) made plain-whois friendly: every data
//! line starts with `% ` (so a whois client shows them as comments) followed by the RWhois
//! response keyword (`% class domain:description:...`), and every directive answer ends with
//! `%ok` or `%error NNN Text` as rwhoisd does, so a machine client can find its end. Lines end
//! in CRLF.
//!
//! Input rules: lines end in LF or CRLF; a line longer than [`SessionConfig::max_line`]
//! bytes, or one holding control characters (NUL, other C0 controls except TAB, DEL) or
//! invalid UTF-8, gets a `% Error:` line and `%error 350 Invalid Query Syntax`, then close;
//! at most `max_line + 1` bytes are ever buffered. Empty (or blank) lines are ignored, as
//! rwhoisd does: they neither answer nor close, so a client's stray blank line before or
//! after a query is harmless.

use mkdb::Generation;
use mkdb::render::{AnswerOptions, render_answer};
use mkdb::schema::{AttrType, ClassDef, IndexKind};

use crate::directive::Directive;

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

/// What a session may do; set by the server per connection.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Longest accepted input line in bytes, without its CR/LF.
    pub max_line: usize,
    /// Hit limit at the start of a session (clamped to `1..=max_limit`).
    pub default_limit: usize,
    /// Highest limit `-limit` accepts.
    pub max_limit: usize,
    /// The peer may mirror the database with `-xfer`.
    pub xfer_allowed: bool,
    /// Most records one `-xfer` sends; beyond it the answer ends in `%error 330`.
    pub xfer_max_records: usize,
    /// The authority area served (`-soa`, `-class`, `-schema`, `-xfer`).
    pub authority: String,
    /// This server's `host:port`, for `-soa primary`.
    pub primary: String,
    /// The hostmaster's address, for `-soa` and `-status`.
    pub hostmaster: String,
    /// Current time in seconds since the Unix epoch (UTC): `-X-date` and `-status`.
    pub now: fn() -> u64,
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_line: DEFAULT_MAX_LINE,
            default_limit: mkdb::query::DEFAULT_LIMIT,
            max_limit: DEFAULT_MAX_LIMIT,
            xfer_allowed: false,
            xfer_max_records: DEFAULT_XFER_MAX_RECORDS,
            authority: "coop".into(),
            primary: "whois.nic.coop:43".into(),
            hostmaster: "hostmaster@nic.coop".into(),
            now: system_now,
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

/// One port-43 connection's protocol state.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    /// The unfinished line (at most `max_line + 1` bytes: room for a CR).
    buf: Vec<u8>,
    limit: usize,
    holdconnect: bool,
    forward: bool,
    /// The method named by the last `-security on`, kept for the authentication to come.
    security: Option<String>,
    closed: bool,
}

/// A directive's failure: RWhois code, its standard text, and an optional explanation.
struct Fail {
    code: u16,
    text: &'static str,
    detail: Option<String>,
}

impl Fail {
    fn new(code: u16, text: &'static str) -> Fail {
        Fail {
            code,
            text,
            detail: None,
        }
    }
    fn because(mut self, detail: impl Into<String>) -> Fail {
        self.detail = Some(detail.into());
        self
    }
    fn syntax(usage: &str) -> Fail {
        Fail::new(338, "Invalid Directive Syntax").because(format!("usage: {usage}"))
    }
}

type Answer = Result<Step, Fail>;

/// Writes `% keyword rest` (or `% keyword` when `rest` is empty).
fn rec(out: &mut Vec<u8>, keyword: &str, rest: &str) {
    out.extend_from_slice(b"% ");
    out.extend_from_slice(keyword.as_bytes());
    if !rest.is_empty() {
        out.push(b' ');
        out.extend_from_slice(rest.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a free-text comment line `% text`.
fn note(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"% ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
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

fn index_name(i: IndexKind) -> &'static str {
    match i {
        IndexKind::None => "NONE",
        IndexKind::Exact => "EXACT",
        IndexKind::All => "ALL",
    }
}

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::Text => "TEXT",
        AttrType::Domain => "DOMAIN",
        AttrType::Ip => "IP",
        AttrType::Date => "DATE",
        AttrType::Id => "ID",
        AttrType::Linked => "LINKED",
    }
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
            holdconnect: false,
            forward: false,
            security: None,
            closed: false,
        }
    }

    /// Writes the banner sent once when the client connects.
    pub fn greeting(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(mkdb::render::BANNER.as_bytes());
    }

    /// The current hit limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Is `-holdconnect on` in force?
    pub fn holdconnect(&self) -> bool {
        self.holdconnect
    }

    /// The `-forward` flag (recorded only: referrals are never followed).
    pub fn forward(&self) -> bool {
        self.forward
    }

    /// The method named by the last `-security on` (authentication is not implemented).
    pub fn security_method(&self) -> Option<&str> {
        self.security.as_deref()
    }

    /// Has the session ended (after [`Step::Close`])?
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Consumes `input` (any fragment of the client's byte stream), appends the answers of
    /// the complete lines to `out`, and says whether to read on or to close. Input after the
    /// line that closed the session is ignored.
    pub fn feed(&mut self, input: &[u8], g: &Generation, out: &mut Vec<u8>) -> Step {
        if self.closed {
            return Step::Close;
        }
        let mut rest = input;
        while !rest.is_empty() {
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
                self.line(head, g, out)
            } else if self.buf.len() + head.len() > self.config.max_line + 1 {
                self.reject_too_long(out)
            } else {
                let mut line = std::mem::take(&mut self.buf);
                line.extend_from_slice(head);
                let step = self.line(&line, g, out);
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
        if !self.closed && !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            let _ = self.line(&line, g, out);
        }
        self.close()
    }

    fn close(&mut self) -> Step {
        self.closed = true;
        self.buf = Vec::new();
        Step::Close
    }

    fn reject(&mut self, out: &mut Vec<u8>, why: &str) -> Step {
        out.extend_from_slice(b"% Error: ");
        out.extend_from_slice(why.as_bytes());
        out.extend_from_slice(b"\r\n%error 350 Invalid Query Syntax\r\n");
        self.close()
    }

    fn reject_too_long(&mut self, out: &mut Vec<u8>) -> Step {
        let why = format!("input line longer than {} bytes", self.config.max_line);
        self.reject(out, &why)
    }

    /// One complete line, without its LF.
    fn line(&mut self, raw: &[u8], g: &Generation, out: &mut Vec<u8>) -> Step {
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
        if let Some(body) = text.strip_prefix('-') {
            let step = match self.directive(body, g, out) {
                Ok(step) => step,
                Err(f) => {
                    if let Some(d) = &f.detail {
                        note(out, d);
                    }
                    out.extend_from_slice(format!("%error {} {}\r\n", f.code, f.text).as_bytes());
                    Step::Continue
                }
            };
            return step;
        }
        let opts = AnswerOptions {
            limit: self.limit,
            banner: false,
        };
        let _ = render_answer(g, text, opts, out);
        if self.holdconnect {
            Step::Continue
        } else {
            Step::Close
        }
    }

    /// A directive line without its `-`; on success writes the answer including `%ok`.
    fn directive(&mut self, body: &str, g: &Generation, out: &mut Vec<u8>) -> Answer {
        let mut words = body.split_whitespace();
        let Some(name) = words.next() else {
            return Err(Fail::syntax("-<directive> [arguments]"));
        };
        let args: Vec<&str> = words.collect();
        let Some(d) = Directive::lookup(name) else {
            return Err(Fail::new(400, "Directive Not Available").because(format!(
                "-{name} is not offered here; -directive lists those that are"
            )));
        };
        let step = match d {
            Directive::Class => self.class(&args, g, out)?,
            Directive::Directive => Self::directives(&args, out)?,
            Directive::Display => Self::display(&args, out)?,
            Directive::Forward => {
                self.forward = parse_on_off(&args, "-forward on|off")?;
                note(out, "referrals are not followed by this server");
                Step::Continue
            }
            Directive::Holdconnect => {
                self.holdconnect = parse_on_off(&args, "-holdconnect on|off")?;
                Step::Continue
            }
            Directive::Limit => self.set_limit(&args, out)?,
            Directive::Security => self.security(&args)?,
            Directive::Notify => Self::notify(&args)?,
            Directive::Quit => {
                if !args.is_empty() {
                    return Err(Fail::syntax("-quit"));
                }
                Step::Close
            }
            Directive::Register => {
                return Err(Fail::new(401, "Not Authorized For Directive").because(
                    "registration is for authenticated operators only; \
                     registrars use EPP",
                ));
            }
            Directive::Schema => self.schema(&args, g, out)?,
            Directive::Soa => self.soa(&args, g, out)?,
            Directive::Status => self.status(&args, g, out)?,
            Directive::Xfer => self.xfer(&args, g, out)?,
            Directive::XDate => {
                if !args.is_empty() {
                    return Err(Fail::syntax("-X-date"));
                }
                let now = mkdb::generation::rfc3339((self.config.now)());
                rec(out, "X-date", &now);
                Step::Continue
            }
        };
        out.extend_from_slice(b"%ok\r\n");
        Ok(step)
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

    fn class(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        for c in self.classes(args, g)? {
            let n = &c.name;
            rec(out, "class", &format!("{n}:description:{}", c.description));
            for a in &c.aliases {
                rec(out, "class", &format!("{n}:alias:{a}"));
            }
            rec(out, "class", &format!("{n}:version:{}", g.number));
            rec(
                out,
                "class",
                &format!("{n}:records:{}", g.record_count(c.id)),
            );
            rec(out, "class", "");
        }
        Ok(Step::Continue)
    }

    fn directives(args: &[&str], out: &mut Vec<u8>) -> Answer {
        let list: Vec<Directive> = match args {
            [] => Directive::OFFERED.to_vec(),
            [name] => {
                let name = name.strip_prefix('-').unwrap_or(name);
                match Directive::lookup(name) {
                    Some(d) => vec![d],
                    None => {
                        return Err(Fail::new(400, "Directive Not Available")
                            .because(format!("-{name} is not offered here")));
                    }
                }
            }
            _ => return Err(Fail::syntax("-directive [name]")),
        };
        for d in list {
            rec(out, "directive", &format!("directive:{}", d.name()));
            rec(
                out,
                "directive",
                &format!("description:{}", d.description()),
            );
            rec(out, "directive", "");
        }
        Ok(Step::Continue)
    }

    fn display(args: &[&str], out: &mut Vec<u8>) -> Answer {
        match args {
            [] => {
                rec(out, "display", "name:whois");
                rec(
                    out,
                    "display",
                    "description:Key: Value lines of the Public Whois Specification (alias dump)",
                );
                rec(out, "display", "");
                Ok(Step::Continue)
            }
            [name] if name.eq_ignore_ascii_case("whois") || name.eq_ignore_ascii_case("dump") => {
                Ok(Step::Continue)
            }
            [name] => Err(Fail::new(436, "Invalid Display Format")
                .because(format!("no display {name}; the only display is whois"))),
            _ => Err(Fail::syntax("-display [name]")),
        }
    }

    fn set_limit(&mut self, args: &[&str], out: &mut Vec<u8>) -> Answer {
        match args {
            [] => {
                rec(out, "limit", &self.limit.to_string());
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

    fn security(&mut self, args: &[&str]) -> Answer {
        match args {
            [off] if off.eq_ignore_ascii_case("off") => {
                self.security = None;
                Ok(Step::Continue)
            }
            [on, dir, method, ..]
                if on.eq_ignore_ascii_case("on")
                    && (dir.eq_ignore_ascii_case("request")
                        || dir.eq_ignore_ascii_case("response")) =>
            {
                self.security = Some(method.to_ascii_lowercase());
                Err(Fail::new(352, "Invalid Security Method").because(format!(
                    "authentication method {method} is not available: \
                     no authentication methods are implemented yet"
                )))
            }
            _ => Err(Fail::syntax(
                "-security on request|response <method> [data] | -security off",
            )),
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

    fn schema(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        for c in self.classes(args, g)? {
            for a in &c.attrs {
                let field = |k: &str, v: &str| format!("{}:{k}:{v}", c.name);
                rec(out, "schema", &field("attribute", &a.name));
                for alias in &a.aliases {
                    rec(out, "schema", &field("alias", alias));
                }
                if !a.description.is_empty() {
                    rec(out, "schema", &field("description", &a.description));
                }
                if let Some(d) = &a.display {
                    rec(out, "schema", &field("display", d));
                }
                rec(out, "schema", &field("type", type_name(a.ty)));
                rec(out, "schema", &field("indexed", index_name(a.index)));
                rec(out, "schema", &field("primary", on_off(a.primary_key)));
                rec(out, "schema", &field("required", on_off(a.required)));
                rec(out, "schema", &field("repeatable", on_off(a.repeatable)));
                rec(out, "schema", &field("private", on_off(a.private)));
                if let Some(r) = &a.references {
                    rec(out, "schema", &field("references", r));
                }
                rec(out, "schema", "");
            }
        }
        Ok(Step::Continue)
    }

    fn soa(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        let aa = &self.config.authority;
        if let Some(bad) = args.iter().find(|a| !a.eq_ignore_ascii_case(aa)) {
            return Err(Fail::new(340, "Invalid Authority Area").because(format!(
                "{bad} is not served here; the authority area is {aa}"
            )));
        }
        rec(out, "soa", &format!("authority:{aa}"));
        rec(out, "soa", &format!("ttl:{SOA_TTL}"));
        rec(out, "soa", &format!("serial:{}", g.number));
        rec(out, "soa", &format!("refresh:{SOA_REFRESH}"));
        rec(out, "soa", &format!("increment:{SOA_INCREMENT}"));
        rec(out, "soa", &format!("retry:{SOA_RETRY}"));
        rec(
            out,
            "soa",
            &format!("hostmaster:{}", self.config.hostmaster),
        );
        rec(out, "soa", &format!("primary:{}", self.config.primary));
        rec(out, "soa", &format!("updated:{}", g.created));
        rec(out, "soa", "");
        Ok(Step::Continue)
    }

    fn status(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        if !args.is_empty() {
            return Err(Fail::syntax("-status"));
        }
        rec(out, "status", &format!("limit:{}", self.limit));
        rec(
            out,
            "status",
            &format!("holdconnect:{}", on_off(self.holdconnect)),
        );
        rec(out, "status", &format!("forward:{}", on_off(self.forward)));
        rec(out, "status", "display:whois");
        let total: u64 = g.schema.classes.iter().map(|c| g.record_count(c.id)).sum();
        rec(out, "status", &format!("objects:{total}"));
        for c in &g.schema.classes {
            rec(
                out,
                "status",
                &format!("objects-{}:{}", c.name, g.record_count(c.id)),
            );
        }
        rec(out, "status", &format!("generation:{}", g.number));
        rec(out, "status", &format!("generation-created:{}", g.created));
        let now = mkdb::generation::rfc3339((self.config.now)());
        rec(out, "status", &format!("time:{now}"));
        rec(
            out,
            "status",
            &format!("contact:{}", self.config.hostmaster),
        );
        Ok(Step::Continue)
    }

    /// `-xfer [area] [class] [attribute..]`: `% xfer class:Attr:value` lines, `% xfer`
    /// after each record; private attributes never leave the server.
    fn xfer(&self, args: &[&str], g: &Generation, out: &mut Vec<u8>) -> Answer {
        if !self.config.xfer_allowed {
            return Err(Fail::new(401, "Not Authorized For Directive")
                .because("bulk transfer is only for authorised mirrors"));
        }
        let args = match args.split_first() {
            Some((aa, rest)) if aa.eq_ignore_ascii_case(&self.config.authority) => rest,
            _ => args,
        };
        let (classes, attrs): (Vec<&ClassDef>, &[&str]) = match args.split_first() {
            None => (g.schema.classes.iter().collect(), &[]),
            Some((name, attrs)) => match g.schema.class(name) {
                Some(c) => (vec![c], attrs),
                None => {
                    return Err(Fail::new(341, "Invalid Class").because(format!("no class {name}")));
                }
            },
        };
        // Selected attribute ids (empty: all public ones).
        let mut wanted: Vec<u16> = Vec::new();
        if let Some(&c) = classes.first() {
            for tag in attrs {
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
        }
        let mut sent = 0usize;
        for c in classes {
            for &s in g
                .by_class
                .get(usize::from(c.id))
                .map_or(&[][..], Vec::as_slice)
            {
                let Some(seg) = g.segments.get(s as usize) else {
                    continue;
                };
                for rec_no in 0..seg.record_count() {
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
                        out.extend_from_slice(b"% xfer ");
                        out.extend_from_slice(c.name.as_bytes());
                        out.push(b':');
                        out.extend_from_slice(a.name.as_bytes());
                        out.push(b':');
                        out.extend_from_slice(value);
                        out.extend_from_slice(b"\r\n");
                    }
                    rec(out, "xfer", "");
                    sent += 1;
                }
            }
        }
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::*;

    /// The golden sample database of `mkdb`, compiled once for all tests.
    fn db() -> &'static Generation {
        static DB: OnceLock<(tempfile::TempDir, Generation)> = OnceLock::new();
        &DB.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mkdb/tests/golden/sample");
            let opts = mkdb::CompileOptions {
                threads: 2,
                ..Default::default()
            };
            mkdb::compile(&src, dir.path(), &opts, &|_, _| {}).expect("sample compiles");
            let g = Generation::open(dir.path()).expect("opens");
            (dir, g)
        })
        .1
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
        let _ = render_answer(db(), "domain test.coop", opts, &mut want);
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
        let want: Vec<&str> = Directive::OFFERED.iter().map(|d| d.name()).collect();
        assert_eq!(names, want);
        assert_eq!(names.len(), 15);
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
        let (out, _) = run("-directive X-pgp\r\n");
        assert_eq!(last_line(&out), "%error 400 Directive Not Available");
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
    fn security_is_recorded_but_not_implemented() {
        let mut s = Session::new(&config());
        let mut out = Vec::new();
        s.feed(b"-security on request pw secret\r\n", db(), &mut out);
        assert_eq!(s.security_method(), Some("pw"));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("no authentication methods are implemented yet"));
        assert_eq!(last_line(&text), "%error 352 Invalid Security Method");
        assert!(!text.contains("secret"));
        let mut out = Vec::new();
        s.feed(b"-security off\r\n-security on\r\n", db(), &mut out);
        assert_eq!(s.security_method(), None);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("%ok\r\n"));
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
             % soa hostmaster:hostmaster@nic.coop\r\n% soa primary:whois.nic.coop:43\r\n\
             % soa updated:{}\r\n% soa\r\n%ok\r\n",
            g.number, g.created
        );
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
