//! `-register` (RFC 2167 section 3.3.9): authenticated operators add, modify and delete
//! records over RWhois (or port 43), through the same change pipeline as hand edits
//! (`mkdb edit`, `loader import`): one change file, submitted with
//! [`mkdb::change::Spool::submit_within`], sequenced by eppd when it runs, appended under the
//! spool's writer lock otherwise, published by `loader watch`.
//!
//! The exchange (the ABNF of RFC 2167):
//!
//! ```text
//! C -register on add|mod|del MAINTAINER-ID      S %ok
//! C Class-Name:domain                            (record lines, attribute:value)
//! C Domain-Name:example.coop
//! C ...
//! C _NEW_                                        (mod only: old record, _NEW_, new record)
//! C ...
//! C -register off                                S %register ID:example.coop   (add)
//!                                                S %register Updated:<time-stamp> (mod)
//!                                                S %ok  (or %error NNN Text)
//! ```
//!
//! **Record lines** are RFC 2167's `attribute:value`; `Class-Name` names the class (a
//! schema name or alias) and `Auth-Area`, when given, must be the area served. So that what
//! a client read can be sent back, the dump display's and `-xfer`'s lines are accepted too:
//! `class:Attribute:value` (the class on every line instead of `Class-Name`), an attribute
//! type suffix (`Registrant-ID;I`), an `%xfer ` prefix; computed attributes
//! (`Currently-Associated`) are ignored. Attributes resolve through the schema's aliases and
//! every value is checked against the class schema ([`mkdb::schema::check_value`]); the
//! stored record is written in our text format, canonical attribute names in schema order.
//!
//! **Compare-and-swap.** `mod` and `del` send the record as the client saw it. It must equal
//! the record served now (every public attribute, values in order), else `325 Failed to
//! update outdated object`; the change is then based on the served record's version
//! ([`mkdb::delta::record_version`]), so a change that slips in between (an EPP update that
//! the loader has not published yet) is refused by eppd (mapped to 325 as well) or by the
//! loader, exactly as for `mkdb edit`. Private attributes (`Auth-Info`) are never shown, so
//! they have no place in an old record (320); a new record may set them, and a `mod` that
//! does not mention them keeps the served values. No answer ever echoes a private value.
//!
//! **Codes** (RFC 2167 section 3.3.9 and Appendix C): 320 unknown or misplaced attribute,
//! 321 bad value (format, type, a repeated non-repeatable attribute), 322 required attribute
//! (or the class, or the primary key) missing, 323 a referenced object does not exist, 324
//! `add` of an existing key, 325 outdated (`mod`/`del` of a record changed since it was read,
//! or a conflict eppd reports), 336 `mod`/`del` of a record that does not exist, 338 block
//! syntax, 340 another authority area, 341 unknown class, 402 anything else (a record still
//! referenced cannot be deleted; the spool failed), 501 the registration queue is full (a 5XX
//! code: the connection then closes, as RFC 2167 requires).
//!
//! **Bounds**: a block holds at most [`MAX_BLOCK_LINES`] lines and [`MAX_BLOCK_BYTES`]
//! bytes (beyond, the rest is read away up to `-register off` and the block is refused);
//! one registration per connection at a time; [`QUEUE_DEPTH`] registrations queued per
//! process ([`Registrar`]). The server's event loops never block on the spool: submissions
//! run on the registrar's thread and come back through a completion queue and the worker's
//! waker (see [`crate::server`]).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::time::Duration;

use mkdb::Generation;
use mkdb::change::{Action, Change, ChangeFile, Refused, Spool, Version};
use mkdb::schema::{AttrType, ClassDef, Schema};

/// Most lines (blank ones aside) one register block may hold.
pub const MAX_BLOCK_LINES: usize = 512;
/// Most bytes the lines of one register block may hold.
pub const MAX_BLOCK_BYTES: usize = 64 * 1024;
/// Registrations waiting for the registrar thread, process-wide; more are refused (busy).
pub const QUEUE_DEPTH: usize = 16;
/// How long one submission waits for the spool's writer lock held by a process that does
/// not take changes (another operator tool appending, eppd starting).
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Longest a connection waits for its registration before the server gives up on it:
/// the lock wait plus the admin socket's answer timeout (`mkdb::change`, 120 s), with room.
pub const MAX_WAIT: Duration = Duration::from_secs(150);

/// The `-register on` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Add a new object.
    Add,
    /// Replace an object: the old record, `_NEW_`, the new record.
    Mod,
    /// Delete an object.
    Del,
}

impl Op {
    /// `add`, `mod` or `del`, case-insensitively (ABNF strings are).
    pub fn parse(word: &str) -> Option<Op> {
        [("add", Op::Add), ("mod", Op::Mod), ("del", Op::Del)]
            .into_iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, op)| op)
    }
}

/// A refused registration: the RWhois code, its standard text, an explanation, and whether
/// the connection closes after it (5XX codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegError {
    /// RFC 2167 error code.
    pub code: u16,
    /// The code's text.
    pub text: &'static str,
    /// What was wrong; never holds a private value.
    pub detail: String,
    /// Close the connection after the answer.
    pub close: bool,
}

impl RegError {
    fn new(code: u16, detail: impl Into<String>) -> RegError {
        let text = match code {
            320 => "Invalid Attribute",
            321 => "Invalid Attribute Syntax",
            322 => "Required Attribute Missing",
            323 => "Object Reference Not Found",
            324 => "Primary Key Not Unique",
            325 => "Failed To Update Outdated Object",
            336 => "Object Not Found",
            338 => "Invalid Directive Syntax",
            340 => "Invalid Authority Area",
            341 => "Invalid Class",
            501 => "Service Not Available",
            _ => "Unidentified Error",
        };
        RegError {
            code: if text == "Unidentified Error" {
                402
            } else {
                code
            },
            text,
            detail: detail.into(),
            close: code >= 500,
        }
    }

    /// No result came back in time ([`MAX_WAIT`]): the change may or may not be recorded.
    pub fn unknown_result() -> RegError {
        RegError::new(
            402,
            "no result from the change spool in time: the change may or may not be recorded; \
             query the object before retrying",
        )
    }

    /// The registration queue is full: nothing was changed, try again.
    pub fn busy() -> RegError {
        RegError::new(
            501,
            "the server is busy with other registrations: nothing was changed; connect again \
             and retry in a few seconds",
        )
    }
}

/// A `-register` block being received (between `-register on` and `-register off`).
#[derive(Debug)]
pub struct Block {
    /// The option.
    pub op: Op,
    /// Who sent it, for maintenance (RFC 2167: not used to authenticate).
    pub maintainer: String,
    /// The lines (trimmed, blank ones dropped), with their place in the block.
    lines: Vec<(u32, String)>,
    /// Lines received so far (blank ones included), for line numbers.
    received: u32,
    bytes: usize,
    /// Why the block is refused whatever follows (too large, a stray directive).
    failed: Option<RegError>,
}

impl Block {
    /// An empty block.
    pub fn new(op: Op, maintainer: &str) -> Block {
        Block {
            op,
            maintainer: maintainer.to_string(),
            lines: Vec::new(),
            received: 0,
            bytes: 0,
            failed: None,
        }
    }

    /// Takes one line of the block (not `-register off`). Beyond the bounds nothing more is
    /// kept and the block will be refused.
    pub fn push(&mut self, line: &str) {
        self.received = self.received.saturating_add(1);
        let line = line.trim();
        // A bare `%xfer` line ends an object in -xfer output: as blank here.
        let blank = ["%xfer", "% xfer"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(line));
        if line.is_empty() || blank || self.failed.is_some() {
            return;
        }
        if line.starts_with('-') {
            self.fail(RegError::new(
                338,
                format!(
                    "line {}: only record lines (attribute:value) and -register off may follow \
                     -register on",
                    self.received
                ),
            ));
            return;
        }
        if self.lines.len() >= MAX_BLOCK_LINES || self.bytes + line.len() > MAX_BLOCK_BYTES {
            self.fail(RegError::new(
                338,
                format!(
                    "a register block may hold at most {MAX_BLOCK_LINES} lines and \
                     {MAX_BLOCK_BYTES} bytes"
                ),
            ));
            self.lines = Vec::new();
            return;
        }
        self.bytes += line.len();
        self.lines.push((self.received, line.to_string()));
    }

    fn fail(&mut self, e: RegError) {
        self.failed.get_or_insert(e);
    }
}

/// One record of a block (the old or the new one), resolved against its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The class's id.
    pub class: u16,
    /// Attribute ids and values, in the order given (computed attributes left out).
    pub fields: Vec<(u16, String)>,
}

/// A block parsed against the schema (no lookups in the data yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The option.
    pub op: Op,
    /// The record as the client saw it (`mod`, `del`).
    pub old: Option<Object>,
    /// The record to store (`add`, `mod`).
    pub new: Option<Object>,
}

/// One `attribute:value` line, the class it names (dump form) taken apart.
struct Line<'a> {
    no: u32,
    /// The class named on the line (`class:Attribute:value`), if any.
    class: Option<&'a ClassDef>,
    tag: &'a str,
    value: &'a str,
}

/// Splits a record line: `%xfer ` prefix, `class:Attribute[;T]:value` (when `class` is a
/// class and `Attribute` one of its attributes) or `Attribute[;T]:value`.
fn split_line<'a>(schema: &'a Schema, no: u32, raw: &'a str) -> Result<Line<'a>, RegError> {
    let mut s = raw;
    for prefix in ["%xfer ", "% xfer "] {
        if let Some(rest) = s
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
        {
            s = s[rest.len()..].trim_start();
        }
    }
    let Some((tag, value)) = s.split_once(':') else {
        return Err(RegError::new(
            338,
            format!("line {no}: expected attribute:value"),
        ));
    };
    let strip_type = |t: &'a str| t.split(';').next().unwrap_or(t).trim();
    let (tag, value) = (tag.trim(), value.trim());
    if let Some(c) = schema.class(tag)
        && let Some((attr, rest)) = value.split_once(':')
        && c.attr_by_tag(strip_type(attr)).is_some()
    {
        return Ok(Line {
            no,
            class: Some(c),
            tag: strip_type(attr),
            value: rest.trim(),
        });
    }
    Ok(Line {
        no,
        class: None,
        tag: strip_type(tag),
        value,
    })
}

/// Resolves one side of a block: its class (from `Class-Name` or the dump form) and its
/// fields, every value checked. `old`: the record as the client saw it (no private
/// attributes; the required ones are not checked).
fn object(
    schema: &Schema,
    authority: &str,
    lines: &[(u32, String)],
    old: bool,
) -> Result<Object, RegError> {
    let side = if old { "old record" } else { "record" };
    let mut parsed = Vec::with_capacity(lines.len());
    let mut class: Option<&ClassDef> = None;
    let set_class = |c: &ClassDef, no: u32, class: &Option<&ClassDef>| {
        if class.is_some_and(|k| k.id != c.id) {
            return Err(RegError::new(
                341,
                format!("line {no}: the {side} names two classes"),
            ));
        }
        Ok(())
    };
    for (no, raw) in lines {
        let l = split_line(schema, *no, raw)?;
        if let Some(c) = l.class {
            set_class(c, l.no, &class)?;
            class = Some(c);
        }
        if l.tag.eq_ignore_ascii_case("Class-Name") {
            let Some(c) = schema.class(l.value) else {
                return Err(RegError::new(
                    341,
                    format!("line {}: no class {:?}", l.no, l.value),
                ));
            };
            set_class(c, l.no, &class)?;
            class = Some(c);
            continue;
        }
        if l.tag.eq_ignore_ascii_case("Auth-Area") {
            if !l.value.eq_ignore_ascii_case(authority) {
                return Err(RegError::new(
                    340,
                    format!(
                        "line {}: {:?} is not served here; the authority area is {authority}",
                        l.no, l.value
                    ),
                ));
            }
            continue;
        }
        parsed.push(l);
    }
    let Some(c) = class else {
        return Err(RegError::new(
            322,
            format!("the {side} has no Class-Name (say Class-Name:domain, or send dump lines)"),
        ));
    };
    let mut fields: Vec<(u16, String)> = Vec::with_capacity(parsed.len());
    let mut seen = vec![0u32; c.attrs.len()];
    for l in parsed {
        if l.value.is_empty() {
            continue; // an empty value carries no data, as in the record format
        }
        let Some(a) = c.attr_by_tag(l.tag) else {
            return Err(RegError::new(
                320,
                format!(
                    "line {}: class {} has no attribute {:?}",
                    l.no, c.name, l.tag
                ),
            ));
        };
        if a.ty == AttrType::Linked {
            continue; // computed by the database (the dump display shows it)
        }
        if a.private && old {
            return Err(RegError::new(
                320,
                format!(
                    "line {}: {} is private and never shown, so it has no place in the old record",
                    l.no, a.name
                ),
            ));
        }
        let n = &mut seen[usize::from(a.id)];
        *n += 1;
        if *n > 1 && !a.repeatable {
            return Err(RegError::new(
                321,
                format!("line {}: {} is not repeatable", l.no, a.name),
            ));
        }
        if let Err(why) = mkdb::schema::check_value(a, l.value) {
            let why = if a.private {
                format!("{}: the value is not valid for this attribute", a.name)
            } else {
                why
            };
            return Err(RegError::new(321, format!("line {}: {why}", l.no)));
        }
        fields.push((a.id, l.value.to_string()));
    }
    if !fields.iter().any(|(a, _)| *a == c.primary_key) {
        return Err(RegError::new(
            322,
            format!("the {side} has no {} (its primary key)", c.pk().name),
        ));
    }
    Ok(Object {
        class: c.id,
        fields,
    })
}

/// Parses a finished block (at `-register off`) against the schema: the `_NEW_` layout of
/// its option, the class, every attribute and value. Never panics, whatever the lines.
pub fn parse(schema: &Schema, authority: &str, block: &Block) -> Result<Parsed, RegError> {
    if let Some(e) = &block.failed {
        return Err(e.clone());
    }
    let mut sides = block.lines.split(|(_, l)| l == "_NEW_");
    let first = sides.next().unwrap_or(&[]);
    let second = sides.next();
    if sides.next().is_some() {
        return Err(RegError::new(338, "more than one _NEW_ line"));
    }
    let need = |lines: &[(u32, String)], what: &str| {
        if lines.is_empty() {
            Err(RegError::new(338, format!("the {what} is missing")))
        } else {
            Ok(())
        }
    };
    let (old, new) = match (block.op, second) {
        (Op::Mod, Some(second)) => {
            need(first, "old record (before _NEW_)")?;
            need(second, "new record (after _NEW_)")?;
            (Some(first), Some(second))
        }
        (Op::Mod, None) => {
            return Err(RegError::new(
                338,
                "mod sends the old record, a _NEW_ line, then the new record",
            ));
        }
        (_, Some(_)) => {
            return Err(RegError::new(338, "_NEW_ belongs to mod only"));
        }
        (Op::Add, None) => {
            need(first, "record")?;
            (None, Some(first))
        }
        (Op::Del, None) => {
            need(first, "record")?;
            (Some(first), None)
        }
    };
    let old = old
        .map(|l| object(schema, authority, l, true))
        .transpose()?;
    let new = new
        .map(|l| object(schema, authority, l, false))
        .transpose()?;
    if let (Some(o), Some(n)) = (&old, &new) {
        let c = schema.class_by_id(n.class);
        if o.class != n.class || key_of(c, o) != key_of(c, n) {
            return Err(RegError::new(
                338,
                format!(
                    "the old and new records must have the same class and {} (to rename, add \
                     the new object and delete the old one)",
                    c.pk().name
                ),
            ));
        }
    }
    Ok(Parsed {
        op: block.op,
        old,
        new,
    })
}

/// The primary key's normalised key.
fn key_of(c: &ClassDef, o: &Object) -> String {
    let pk = c.pk();
    o.fields
        .iter()
        .find(|(a, _)| *a == pk.id)
        .map(|(_, v)| mkdb::key::exact_key(pk.ty, v))
        .unwrap_or_default()
}

/// The primary key's value as given.
fn key_value(c: &ClassDef, o: &Object) -> String {
    o.fields
        .iter()
        .find(|(a, _)| *a == c.primary_key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Fields in schema order, the given order kept within an attribute.
fn sorted(mut fields: Vec<(u16, String)>) -> Vec<(u16, String)> {
    fields.sort_by_key(|(a, _)| *a);
    fields
}

/// The fields of a served record (computed attributes cannot be stored, so none).
fn served_fields(g: &Generation, c: &ClassDef, r: mkdb::RecordRef) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    g.record(r).sorted_raw(&mut out);
    out.into_iter()
        .filter(|(a, _)| c.attrs.get(usize::from(*a)).is_some())
        .map(|(a, v)| (a, String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// A registration ready for the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The option.
    pub op: Op,
    /// The change (with its base version for `mod` and `del`).
    pub change: Change,
    /// The operator who authenticated.
    pub operator: String,
    /// The maintainer ID of `-register on`.
    pub maintainer: String,
}

impl Submission {
    /// The change file to submit (its number is assigned by the spool).
    pub fn file(&self, time: String) -> ChangeFile {
        ChangeFile {
            sequence: 0,
            origin: format!(
                "whoisd -register by operator {} (maintainer {})",
                self.operator, self.maintainer
            ),
            time,
            changes: vec![self.change.clone()],
        }
    }
}

/// What a parsed block amounts to against the served generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A `mod` whose new record is the served one: nothing to do.
    Unchanged,
    /// A change to submit.
    Submit(Submission),
}

/// Checks a parsed block against the served generation `g` (existence, compare-and-swap,
/// required attributes, references) and makes the change.
pub fn plan(
    g: &Generation,
    parsed: &Parsed,
    operator: &str,
    maintainer: &str,
) -> Result<Plan, RegError> {
    let Some(class) = parsed.new.as_ref().or(parsed.old.as_ref()).map(|o| o.class) else {
        return Err(RegError::new(338, "the block holds no record"));
    };
    let c = g.schema.class_by_id(class);
    let some = parsed.new.as_ref().or(parsed.old.as_ref());
    let key = some.map(|o| key_value(c, o)).unwrap_or_default();
    let served = g.find(c.id, &key);
    let mut base: Option<Version> = None;
    let mut current: Vec<(u16, String)> = Vec::new();
    match (parsed.op, served) {
        (Op::Add, Some(_)) => {
            return Err(RegError::new(
                324,
                format!("{} {key} exists already (to change it, use mod)", c.name),
            ));
        }
        (Op::Add, None) => {}
        (_, None) => {
            return Err(RegError::new(336, format!("no {} {key}", c.name)));
        }
        (_, Some(r)) => {
            current = served_fields(g, c, r);
            let public = |f: &[(u16, String)]| -> Vec<(u16, String)> {
                sorted(
                    f.iter()
                        .filter(|(a, _)| !c.attrs[usize::from(*a)].private)
                        .cloned()
                        .collect(),
                )
            };
            let seen = public(parsed.old.as_ref().map_or(&[][..], |o| &o.fields[..]));
            let now = public(&current);
            if seen != now {
                let mut differ: Vec<&str> = c
                    .attrs
                    .iter()
                    .filter(|a| {
                        let vals = |f: &[(u16, String)]| -> Vec<String> {
                            f.iter()
                                .filter(|(x, _)| *x == a.id)
                                .map(|(_, v)| v.clone())
                                .collect()
                        };
                        vals(&seen) != vals(&now)
                    })
                    .map(|a| a.name.as_str())
                    .collect();
                differ.truncate(8);
                return Err(RegError::new(
                    325,
                    format!(
                        "{} {key} is not the record you sent ({} differ): it changed since you \
                         read it, or the old record is incomplete; read it again (-xfer or a \
                         query) and resend; nothing was changed",
                        c.name,
                        differ.join(", ")
                    ),
                ));
            }
            if parsed.op == Op::Del && g.is_referenced(r) {
                return Err(RegError::new(
                    402,
                    format!(
                        "{} {key} is still referenced (Currently-Associated): remove the \
                         references first; nothing was changed",
                        c.name
                    ),
                ));
            }
            base = Some(mkdb::delta::record_version(g, r));
        }
    }
    let change = |action, record| Change {
        action,
        class: c.name.clone(),
        key: key.clone(),
        base,
        record,
    };
    let submit = |change| {
        Ok(Plan::Submit(Submission {
            op: parsed.op,
            change,
            operator: operator.to_string(),
            maintainer: maintainer.to_string(),
        }))
    };
    let Some(new) = &parsed.new else {
        return submit(change(Action::Delete, String::new()));
    };
    // Private attributes the client never saw: a mod that does not set them keeps them.
    let mut fields = new.fields.clone();
    for a in c.attrs.iter().filter(|a| a.private) {
        if !fields.iter().any(|(x, _)| *x == a.id) {
            fields.extend(current.iter().filter(|(x, _)| *x == a.id).cloned());
        }
    }
    let fields = sorted(fields);
    for a in c.attrs.iter().filter(|a| a.required) {
        if !fields.iter().any(|(x, _)| *x == a.id) {
            return Err(RegError::new(
                322,
                format!("{} record has no {} (required)", c.name, a.name),
            ));
        }
    }
    for (id, value) in &fields {
        let a = &c.attrs[usize::from(*id)];
        if let Some(rc) = a.references_class
            && usize::from(rc) < g.schema.classes.len()
            && g.find(rc, value).is_none()
        {
            return Err(RegError::new(
                323,
                format!(
                    "{} {value}: no {} {value}",
                    a.name,
                    g.schema.class_by_id(rc).name
                ),
            ));
        }
    }
    if parsed.op == Op::Mod && fields == sorted(current) {
        return Ok(Plan::Unchanged);
    }
    let mut text = String::new();
    for (id, value) in &fields {
        let _ = writeln!(text, "{}: {value}", c.attrs[usize::from(*id)].name);
    }
    // Belt and braces: the record as the loader will read it.
    let mut problems = Vec::new();
    let _ = mkdb::record::for_each_record(&text, |rec| {
        let mut out = Vec::new();
        c.validate(rec, &mut out, &mut problems);
        Ok::<_, mkdb::record::SyntaxError>(())
    });
    if !problems.is_empty() {
        return Err(RegError::new(
            321,
            format!(
                "the record does not validate against the {} schema ({} problems)",
                c.name,
                problems.len()
            ),
        ));
    }
    submit(change(Action::Put, text))
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Durable in the spool as change `sequence`; `via_eppd`: sequenced by eppd.
    Recorded {
        /// The change file's number.
        sequence: u64,
        /// eppd took it (it held the writer lock).
        via_eppd: bool,
    },
    /// Refused or failed; `detail` says whether anything may have changed.
    Failed(RegError),
}

/// Submits one registration to the spool (blocking: file I/O, fsync, eppd's socket) and
/// maps the result onto RWhois codes: an eppd conflict (2304) is 325, an object created or
/// deleted meanwhile 324 / 336, a reference problem 323 (402 for a delete), anything else
/// 402.
pub fn submit(spool: &Spool, s: &Submission, time: String) -> Outcome {
    let mut file = s.file(time);
    match spool.submit_within(&mut file, LOCK_WAIT) {
        Ok(done) => Outcome::Recorded {
            sequence: done.sequence,
            via_eppd: done.via.is_some(),
        },
        Err(e) => {
            if let Some(r) = e.get_ref().and_then(|x| x.downcast_ref::<Refused>()) {
                let code = match r.code {
                    2304 => 325,
                    2302 => 324,
                    2303 => 336,
                    2305 if s.op != Op::Del => 323,
                    _ => 402,
                };
                return Outcome::Failed(RegError::new(
                    code,
                    format!("eppd refused the change ({}): {}", r.code, r.text),
                ));
            }
            Outcome::Failed(RegError::new(
                402,
                format!(
                    "the change spool failed ({e}); the change may not have been recorded: \
                     query the object before retrying"
                ),
            ))
        }
    }
}

/// A registration handed to the registrar thread.
#[derive(Debug)]
pub struct Job {
    /// The worker whose connection waits.
    pub worker: usize,
    /// The connection's key in that worker.
    pub key: usize,
    /// Tells this registration from a later one of a connection reusing the key.
    pub ticket: u64,
    /// What to submit.
    pub submission: Submission,
}

/// A finished registration, back to its worker.
#[derive(Debug)]
pub struct Done {
    /// The connection's key.
    pub key: usize,
    /// The job's ticket.
    pub ticket: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Wakes a worker's event loop (the server passes its mio waker).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The registrar: one thread that runs submissions in order from a bounded queue
/// ([`QUEUE_DEPTH`]) and sends each result to its worker's completion queue, then wakes
/// the worker. One thread is enough: a submission costs an fsync or an eppd round trip
/// (milliseconds), and eppd sequences them one at a time anyway. The thread ends when every
/// worker has dropped its handle.
#[derive(Debug, Clone)]
pub struct Registrar {
    jobs: SyncSender<Job>,
}

impl Registrar {
    /// Starts the thread for the spool in `dir`; `workers[i]` receives worker `i`'s results.
    pub fn start(
        dir: &Path,
        workers: Vec<(Sender<Done>, Wake)>,
        now: fn() -> u64,
    ) -> std::io::Result<Registrar> {
        let spool = Spool::open(dir)?;
        let (jobs, rx) = std::sync::mpsc::sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("whoisd-register".into())
            .spawn(move || run(&spool, &rx, &workers, now))?;
        Ok(Registrar { jobs })
    }

    /// Queues a job; gives it back when the queue is full (or the thread is gone).
    pub fn try_submit(&self, job: Job) -> Result<(), Box<Job>> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => Err(Box::new(j)),
        }
    }
}

fn run(spool: &Spool, jobs: &Receiver<Job>, workers: &[(Sender<Done>, Wake)], now: fn() -> u64) {
    for job in jobs {
        let time = mkdb::generation::rfc3339(now());
        let outcome = submit(spool, &job.submission, time);
        crate::log(&format!(
            "-register {:?} {} {} by {}: {}",
            job.submission.op,
            job.submission.change.class,
            job.submission.change.key,
            job.submission.operator,
            match &outcome {
                Outcome::Recorded { sequence, .. } => format!("change {sequence}"),
                Outcome::Failed(e) => format!("refused {}", e.code),
            }
        ));
        if let Some((tx, wake)) = workers.get(job.worker) {
            // A worker that has exited no longer waits for anything.
            if tx
                .send(Done {
                    key: job.key,
                    ticket: job.ticket,
                    outcome,
                })
                .is_ok()
            {
                wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> &'static Generation {
        crate::testutil::golden_db()
    }

    fn block(op: Op, text: &str) -> Block {
        let mut b = Block::new(op, "hostmaster@nic.coop");
        for l in text.lines() {
            b.push(l);
        }
        b
    }

    fn parse_text(op: Op, text: &str) -> Result<Parsed, RegError> {
        parse(&db().schema, "coop", &block(op, text))
    }

    fn code(op: Op, text: &str) -> u16 {
        match parse_text(op, text).and_then(|p| plan(db(), &p, "alice", "m@x")) {
            Ok(p) => panic!("{text} should fail, gave {p:?}"),
            Err(e) => e.code,
        }
    }

    /// The dump display of a served record, as an RWhois client reads it.
    fn dump(class: &str, key: &str) -> String {
        let c = db().schema.class(class).unwrap();
        let r = db().find(c.id, key).unwrap();
        let mut out = Vec::new();
        crate::rwhois::dump_record(db(), r, &mut out);
        String::from_utf8(out).unwrap().replace("\r\n", "\n")
    }

    fn plan_text(op: Op, text: &str) -> Plan {
        let p = parse_text(op, text).unwrap_or_else(|e| panic!("{e:?}"));
        plan(db(), &p, "alice", "m@x").unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn submission(p: Plan) -> Submission {
        match p {
            Plan::Submit(s) => s,
            Plan::Unchanged => panic!("unchanged"),
        }
    }

    #[test]
    fn op_words() {
        assert_eq!(Op::parse("ADD"), Some(Op::Add));
        assert_eq!(Op::parse("mod"), Some(Op::Mod));
        assert_eq!(Op::parse("Del"), Some(Op::Del));
        assert_eq!(Op::parse("delete"), None);
    }

    #[test]
    fn add_in_rfc_form() {
        let d = dump("contact", "CNT-1002");
        // Same contact under a new handle, in attribute:value form with Class-Name.
        let mut text = String::from("Class-Name:contact\nAuth-Area:coop\n");
        for l in d.lines().filter(|l| !l.is_empty()) {
            let l = l.strip_prefix("contact:").unwrap();
            if l.starts_with("Contact-ID:") {
                text.push_str("Contact-ID:CNT-NEW-1\n");
            } else {
                text.push_str(l);
                text.push('\n');
            }
        }
        let s = submission(plan_text(Op::Add, &text));
        assert_eq!(s.change.action, Action::Put);
        assert_eq!(
            (s.change.class.as_str(), s.change.key.as_str()),
            ("contact", "CNT-NEW-1")
        );
        assert_eq!(s.change.base, None);
        assert!(
            s.change.record.starts_with("Contact-ID: CNT-NEW-1\n"),
            "{}",
            s.change.record
        );
        assert!(!s.change.record.contains("Currently-Associated"));
        let file = s.file("2026-01-01T00:00:00Z".into());
        let back = ChangeFile::parse(&file.to_text(), "x").unwrap();
        assert_eq!(back.changes, file.changes);
        assert!(back.origin.contains("alice"));
    }

    #[test]
    fn dump_lines_round_trip_as_mod() {
        let d = dump("domain", "test.coop");
        assert!(d.contains(";I:"), "{d}");
        let new = d.replace("Domain-Status:ok", "Domain-Status:clientHold");
        assert_ne!(new, d);
        let s = submission(plan_text(Op::Mod, &format!("{d}_NEW_\n{new}")));
        assert_eq!(s.change.action, Action::Put);
        let c = db().schema.class("domain").unwrap();
        let r = db().find(c.id, "test.coop").unwrap();
        assert_eq!(s.change.base, Some(mkdb::delta::record_version(db(), r)));
        assert!(s.change.record.contains("Domain-Status: clientHold\n"));
        // The private Auth-Info the client never saw is kept.
        let served = db().record(r).text();
        if served.contains("Auth-Info") {
            assert!(s.change.record.contains("Auth-Info: "));
        }
        // Sending the record back unchanged changes nothing.
        assert_eq!(
            plan_text(Op::Mod, &format!("{d}_NEW_\n{d}")),
            Plan::Unchanged
        );
        // %xfer lines too.
        let xfer: String = d.lines().map(|l| format!("%xfer {l}\n")).collect();
        assert_eq!(
            plan_text(Op::Mod, &format!("{xfer}_NEW_\n{d}")),
            Plan::Unchanged
        );
    }

    #[test]
    fn outdated_and_missing_objects() {
        let d = dump("domain", "test.coop");
        let stale = d.replace("Domain-Status:ok", "Domain-Status:inactive");
        assert_eq!(code(Op::Mod, &format!("{stale}_NEW_\n{d}")), 325);
        assert_eq!(code(Op::Del, &stale), 325);
        // Only the key: not the record the client saw.
        assert_eq!(
            code(Op::Del, "Class-Name:domain\nDomain-Name:test.coop\n"),
            325
        );
        let gone = d.replace("TEST.COOP", "NO-SUCH-DOMAIN.COOP");
        assert_eq!(code(Op::Del, &gone), 336);
        assert_eq!(code(Op::Mod, &format!("{gone}_NEW_\n{gone}")), 336);
        assert_eq!(code(Op::Add, &d), 324);
    }

    #[test]
    fn delete_is_based_on_the_served_version() {
        let d = dump("domain", "test.coop");
        let s = submission(plan_text(Op::Del, &d));
        assert_eq!(s.change.action, Action::Delete);
        assert!(s.change.base.is_some() && s.change.record.is_empty());
        // A contact still used by domains cannot go.
        assert_eq!(code(Op::Del, &dump("contact", "CNT-1002")), 402);
    }

    #[test]
    fn schema_errors_have_their_codes() {
        let d = dump("domain", "test.coop");
        let new = |from: &str, to: &str| {
            let n = d.replace("TEST.COOP", "FRESH-ONE.COOP");
            assert!(n.contains(from), "{from}");
            n.replace(from, to)
        };
        assert_eq!(code(Op::Add, &new("Domain-Status:ok", "Colour:blue")), 320);
        assert_eq!(
            code(Op::Add, &new("Domain-Status:ok", "Domain-Status:great")),
            321
        );
        let two_ids = new(
            "domain:Domain-ID",
            "domain:Domain-ID:X1-COOP\ndomain:Domain-ID",
        );
        assert_eq!(code(Op::Add, &two_ids), 321);
        assert_eq!(code(Op::Add, &new("Domain-Status:ok", "")), 322);
        assert_eq!(
            code(Op::Add, &new("Registrant-ID;I:", "Registrant-ID;I:NOBODY-")),
            323
        );
        assert_eq!(code(Op::Add, "Class-Name:colour\nName:x\n"), 341);
        assert_eq!(code(Op::Add, "Auth-Area:com\nClass-Name:domain\n"), 340);
        assert_eq!(code(Op::Add, "Domain-Name:x.coop\n"), 322);
        assert_eq!(code(Op::Add, "Class-Name:domain\nDomain-Status:ok\n"), 322);
        assert_eq!(code(Op::Add, "Class-Name:domain\nno colon here\n"), 338);
        assert_eq!(code(Op::Add, &format!("{d}_NEW_\n{d}")), 338);
        assert_eq!(code(Op::Mod, &d), 338);
        assert_eq!(code(Op::Mod, &format!("{d}_NEW_\n")), 338);
        assert_eq!(code(Op::Mod, &format!("{d}_NEW_\n{d}_NEW_\n{d}")), 338);
        assert_eq!(code(Op::Add, ""), 338);
        assert_eq!(code(Op::Add, "Class-Name:domain\n-status\n"), 338);
        // A rename is not a mod.
        let renamed = d.replace("TEST.COOP", "OTHER.COOP");
        assert_eq!(code(Op::Mod, &format!("{d}_NEW_\n{renamed}")), 338);
        // Two classes in one record.
        assert_eq!(code(Op::Add, &format!("Class-Name:contact\n{d}")), 341);
    }

    #[test]
    fn private_values_are_never_echoed() {
        let d = dump("domain", "test.coop");
        let secret = "s3cret-never-echoed";
        // Private in the old record: refused without the value.
        let e = parse_text(
            Op::Mod,
            &format!("{d}domain:Auth-Info:{secret}\n_NEW_\n{d}"),
        )
        .unwrap_err();
        assert_eq!(e.code, 320);
        assert!(!e.detail.contains(secret));
        // A new record may set it.
        let s = submission(plan_text(
            Op::Mod,
            &format!("{d}_NEW_\n{d}Auth-Info:{secret}\n"),
        ));
        assert!(s.change.record.contains(&format!("Auth-Info: {secret}\n")));
    }

    #[test]
    fn block_bounds() {
        let mut b = Block::new(Op::Add, "m@x");
        for i in 0..MAX_BLOCK_LINES + 10 {
            b.push(&format!("Remark:{i}"));
        }
        assert!(b.lines.is_empty());
        assert_eq!(parse(&db().schema, "coop", &b).unwrap_err().code, 338);
        let mut b = Block::new(Op::Add, "m@x");
        let long = "x".repeat(1000);
        for _ in 0..100 {
            b.push(&format!("Remark:{long}"));
        }
        let e = parse(&db().schema, "coop", &b).unwrap_err();
        assert!(e.detail.contains("at most"), "{e:?}");
    }

    #[test]
    fn busy_closes() {
        let e = RegError::busy();
        assert_eq!((e.code, e.close), (501, true));
        assert_eq!(RegError::new(999, "x").code, 402);
    }

    #[test]
    fn submit_appends_without_eppd() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let s = submission(plan_text(Op::Del, &dump("domain", "test.coop")));
        match submit(&spool, &s, "2026-01-01T00:00:00Z".into()) {
            Outcome::Recorded { sequence, via_eppd } => {
                assert_eq!((sequence, via_eppd), (1, false));
            }
            o => panic!("{o:?}"),
        }
        let f = spool.read(1).unwrap();
        assert_eq!(f.changes, vec![s.change]);
    }

    #[test]
    fn arbitrary_lines_never_panic() {
        // A cheap deterministic fuzz: every op, many shapes of lines (the fuzz target
        // `session` covers the parser through the session as well).
        let pieces = [
            "",
            ":",
            "::",
            "_NEW_",
            "Class-Name:domain",
            "Class-Name:",
            "domain:",
            "domain::",
            "domain:Domain-Name",
            "domain:Domain-Name;I:x.coop",
            ";:;",
            "%xfer ",
            "%xfer",
            "Auth-Area:coop",
            "Domain-Name:test.coop",
            "Domain-Name:é.coop",
            "contact:Contact-ID:",
            "Registrant-ID;;;:",
            "IP-Address:::1",
            "-register off",
            "\u{0}",
            "Auth-Info:x",
            "Currently-Associated:true",
            "nameserver:Host-Name:ns1.test.coop",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..3000 {
            let op = [Op::Add, Op::Mod, Op::Del][round % 3];
            let mut b = Block::new(op, "m@x");
            let n = (seed % 12) as usize;
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let a = pieces[(seed % pieces.len() as u64) as usize];
                let c = pieces[((seed >> 20) % pieces.len() as u64) as usize];
                b.push(&format!("{a}{c}"));
            }
            if let Ok(p) = parse(&db().schema, "coop", &b) {
                let _ = plan(db(), &p, "alice", "m@x");
            }
        }
    }
}
