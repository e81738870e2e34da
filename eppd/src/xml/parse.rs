//! From an element tree to a typed [`Request`]: the element order and cardinality of the
//! RFC 5730-5733 schemas and the .coop extension, and their value rules (domain and host
//! name syntax, contact ids, periods 1 to 99, status values, length limits, addresses,
//! dates). Errors name the element:
//!
//! - 2001: unknown or misplaced element, a server message sent by a client;
//! - 2003: a required element or attribute is missing;
//! - 2004: a value out of range (period, lengths);
//! - 2005: a value of the wrong syntax (names, ids, addresses, dates, enumerations);
//! - 2103: an extension this server does not implement;
//! - 2307: an object namespace this server does not implement.

use std::net::IpAddr;

use super::tree::{Element, parse_document};
use crate::command::*;
use crate::result::{EppError, ResultCode};

/// A request that could not be parsed: the error, and the clTRID when it could still be
/// read (so the response can echo it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// What is wrong.
    pub error: EppError,
    /// The client transaction id, if the document held a readable one.
    pub cl_trid: Option<String>,
}

type R<T> = Result<T, EppError>;

/// Parses one frame's payload.
pub fn parse_request(bytes: &[u8]) -> Result<Request, ParseFailure> {
    let root = parse_document(bytes).map_err(|error| ParseFailure {
        error,
        cl_trid: None,
    })?;
    parse_root(&root).map_err(|error| ParseFailure {
        error,
        cl_trid: salvage_cl_trid(&root),
    })
}

/// The clTRID of a document that failed later checks, if it is present and valid.
fn salvage_cl_trid(root: &Element) -> Option<String> {
    let cmd = root.children.iter().find(|c| c.is(EPP_NS, "command"))?;
    let tr = cmd.children.iter().find(|c| c.is(EPP_NS, "clTRID"))?;
    cl_trid(tr).ok()
}

// ---------------------------------------------------------------------------------------
// Cursor over child elements, enforcing schema order.

struct Seq<'a> {
    parent: &'a Element,
    pos: usize,
}

impl<'a> Seq<'a> {
    fn new(parent: &'a Element) -> Seq<'a> {
        Seq { parent, pos: 0 }
    }

    fn peek(&self) -> Option<&'a Element> {
        self.parent.children.get(self.pos)
    }

    fn opt(&mut self, ns: &str, name: &str) -> Option<&'a Element> {
        let el = self.peek().filter(|e| e.is(ns, name))?;
        self.pos += 1;
        Some(el)
    }

    fn req(&mut self, ns: &str, name: &str) -> R<&'a Element> {
        if let Some(el) = self.opt(ns, name) {
            return Ok(el);
        }
        let later = self.parent.children[self.pos..]
            .iter()
            .any(|e| e.is(ns, name));
        match self.peek() {
            Some(other) if later => Err(EppError::syntax(format!(
                "<{}> is misplaced in <{}>: expected <{}> first",
                other.qname(),
                self.parent.qname(),
                with_prefix(self.parent, ns, name)
            ))),
            _ => Err(EppError::missing(format!(
                "<{}> lacks the required element <{}>",
                self.parent.qname(),
                with_prefix(self.parent, ns, name)
            ))),
        }
    }

    fn many(&mut self, ns: &str, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        while let Some(el) = self.opt(ns, name) {
            out.push(el);
        }
        out
    }

    fn end(self) -> R<()> {
        match self.peek() {
            None => Ok(()),
            Some(el) => Err(unexpected(el, self.parent)),
        }
    }
}

fn unexpected(el: &Element, parent: &Element) -> EppError {
    let ns = if el.ns.is_empty() {
        String::new()
    } else {
        format!(" (namespace {})", el.ns)
    };
    EppError::syntax(format!(
        "unexpected or misplaced element <{}>{ns} in <{}>",
        el.qname(),
        parent.qname()
    ))
}

/// `name` with the prefix the parent uses for `ns`, for messages.
fn with_prefix(parent: &Element, ns: &str, name: &str) -> String {
    if parent.ns == ns && !parent.prefix.is_empty() {
        format!("{}:{name}", parent.prefix)
    } else {
        name.to_string()
    }
}

fn no_children(el: &Element) -> R<()> {
    match el.children.first() {
        None => Ok(()),
        Some(c) => Err(unexpected(c, el)),
    }
}

/// Text of a leaf element, whitespace-collapsed (XSD `token`).
fn token(el: &Element) -> R<String> {
    no_children(el)?;
    Ok(el.text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Text of a leaf element, required non-empty, with a length range in characters.
fn token_len(el: &Element, min: usize, max: usize) -> R<String> {
    let t = token(el)?;
    let n = t.chars().count();
    if n == 0 && min > 0 {
        return Err(EppError::missing(format!("<{}> is empty", el.qname())));
    }
    if n < min || n > max {
        return Err(EppError::range(format!(
            "<{}> must be {min} to {max} characters, not {n}",
            el.qname()
        ))
        .with_value(t));
    }
    Ok(t)
}

fn req_attr<'a>(el: &'a Element, name: &str) -> R<&'a str> {
    el.attr(name).ok_or_else(|| {
        EppError::missing(format!(
            "<{}> lacks the required attribute {name}",
            el.qname()
        ))
    })
}

fn bad_value(el: &Element, what: &str, value: &str) -> EppError {
    EppError::value_syntax(format!("<{}>: {what}", el.qname())).with_value(value)
}

// ---------------------------------------------------------------------------------------
// Value rules

/// A domain or host name: LDH labels of 1 to 63 characters, at least two labels, 253
/// characters at most; returned lower-cased.
pub fn check_host_name(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 253 {
        return Err("a name must be 1 to 253 characters".into());
    }
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return Err("a name needs at least two labels".into());
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("each label must be 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "label {label:?} holds characters other than letters, digits and '-' (use the A-label of IDNs)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    Ok(lower)
}

fn name_of(el: &Element) -> R<String> {
    let t = token(el)?;
    if t.is_empty() {
        return Err(EppError::missing(format!("<{}> is empty", el.qname())));
    }
    check_host_name(&t).map_err(|why| bad_value(el, &format!("bad name {t:?}: {why}"), &t))
}

/// A contact or other client id: 3 to 16 characters of a token with no whitespace.
fn id_of(el: &Element) -> R<String> {
    let t = token(el)?;
    let n = t.chars().count();
    if n == 0 {
        return Err(EppError::missing(format!("<{}> is empty", el.qname())));
    }
    if !(3..=16).contains(&n) || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad_value(
            el,
            &format!("bad id {t:?}: use 3 to 16 characters without spaces"),
            &t,
        ));
    }
    Ok(t)
}

fn cl_trid(el: &Element) -> R<String> {
    let t = token(el)?;
    let n = t.chars().count();
    if !(3..=64).contains(&n) {
        return Err(bad_value(el, "a clTRID must be 3 to 64 characters", &t));
    }
    Ok(t)
}

fn period_of(el: &Element) -> R<Period> {
    let unit = match req_attr(el, "unit")? {
        "y" => PeriodUnit::Year,
        "m" => PeriodUnit::Month,
        other => return Err(bad_value(el, "unit must be \"y\" or \"m\"", other)),
    };
    let t = token(el)?;
    let n: u32 = t
        .parse()
        .map_err(|_| bad_value(el, "the period must be a whole number", &t))?;
    if !(1..=99).contains(&n) {
        return Err(
            EppError::range(format!("<{}> must be 1 to 99, not {n}", el.qname())).with_value(t),
        );
    }
    Ok(Period {
        value: n as u8,
        unit,
    })
}

/// `<x:authInfo><x:pw roid="...">...</x:pw></x:authInfo>`: 6 to 64 characters.
fn auth_info_of(el: &Element, ns: &str) -> R<AuthInfo> {
    let mut seq = Seq::new(el);
    if let Some(ext) = seq.opt(ns, "ext") {
        return Err(EppError::new(
            ResultCode::UnimplementedOption,
            format!("<{}>: only password authInfo is implemented", ext.qname()),
        ));
    }
    let pw = seq.req(ns, "pw")?;
    seq.end()?;
    no_children(pw)?;
    let text = pw.text.clone();
    let n = text.chars().count();
    if !(6..=64).contains(&n) {
        return Err(EppError::range(format!(
            "<{}> must be 6 to 64 characters, not {n}",
            pw.qname()
        )));
    }
    if text.chars().any(|c| matches!(c, '\t' | '\n' | '\r')) {
        return Err(EppError::value_syntax(format!(
            "<{}> holds a tab or line break",
            pw.qname()
        )));
    }
    let roid = match pw.attr("roid") {
        Some(r) => Some(check_roid(pw, r)?),
        None => None,
    };
    Ok(AuthInfo { pw: text, roid })
}

fn check_roid(el: &Element, r: &str) -> R<String> {
    // (\w|_){1,80}-\w{1,8}
    let ok = r.rsplit_once('-').is_some_and(|(a, b)| {
        (1..=80).contains(&a.chars().count())
            && (1..=8).contains(&b.chars().count())
            && a.chars().all(|c| c.is_alphanumeric() || c == '_')
            && b.chars().all(|c| c.is_alphanumeric() || c == '_')
    });
    if ok {
        Ok(r.to_string())
    } else {
        Err(bad_value(el, "bad roid", r))
    }
}

fn status_of(el: &Element, kind: ObjectKind) -> R<StatusEntry> {
    let s = req_attr(el, "s")?;
    let status = Status::parse(s)
        .filter(|st| st.allowed_for(kind))
        .ok_or_else(|| bad_value(el, &format!("{s:?} is not a status of this object"), s))?;
    no_children(el)?;
    let text = el.text.trim();
    Ok(StatusEntry {
        status,
        lang: el.attr("lang").map(str::to_string),
        text: (!text.is_empty()).then(|| text.to_string()),
    })
}

fn addr_of(el: &Element) -> R<IpAddr> {
    let t = token(el)?;
    let ip: IpAddr = t
        .parse()
        .map_err(|_| bad_value(el, &format!("{t:?} is not an IP address"), &t))?;
    let want_v6 = match el.attr("ip").unwrap_or("v4") {
        "v4" => false,
        "v6" => true,
        other => return Err(bad_value(el, "ip must be \"v4\" or \"v6\"", other)),
    };
    if ip.is_ipv6() != want_v6 {
        return Err(bad_value(
            el,
            "the address does not match its ip attribute",
            &t,
        ));
    }
    Ok(ip)
}

fn date_of(el: &Element) -> R<Date> {
    let t = token(el)?;
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    let Some((y, m, d)) = parsed else {
        return Err(bad_value(el, "expected a date YYYY-MM-DD", &t));
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if y == 0 || d == 0 || d > days {
        return Err(bad_value(el, "no such date", &t));
    }
    Ok(Date {
        year: y as u16,
        month: m as u8,
        day: d as u8,
    })
}

fn bool_of(el: &Element) -> R<bool> {
    match token(el)?.as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(bad_value(
            el,
            "expected a boolean (0, 1, true, false)",
            other,
        )),
    }
}

fn lang_of(el: &Element, value: &str) -> R<String> {
    let ok = !value.is_empty()
        && value.len() <= 35
        && value
            .split('-')
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad_value(el, "bad language tag", value))
    }
}

// ---------------------------------------------------------------------------------------
// Document and command structure

fn parse_root(root: &Element) -> R<Request> {
    if !root.is(EPP_NS, "epp") {
        return Err(EppError::syntax(format!(
            "the root element must be <epp> in namespace {EPP_NS}, not <{}> ({})",
            root.qname(),
            if root.ns.is_empty() {
                "no namespace"
            } else {
                &root.ns
            }
        )));
    }
    let [child] = root.children.as_slice() else {
        return Err(EppError::syntax(
            "<epp> must hold exactly one of <hello>, <command> or <extension>",
        ));
    };
    if child.ns != EPP_NS {
        return Err(unexpected(child, root));
    }
    match child.name.as_str() {
        "hello" => {
            no_children(child)?;
            Ok(Request::Hello)
        }
        "command" => parse_command(child).map(Request::Command),
        "extension" => Err(EppError::new(
            ResultCode::UnimplementedExtension,
            "<extension> (protocol extensions): this server implements none",
        )),
        "greeting" | "response" => Err(EppError::syntax(format!(
            "<{}> is a server message, not a client command",
            child.qname()
        ))),
        _ => Err(unexpected(child, root)),
    }
}

const COMMANDS: [&str; 10] = [
    "check", "create", "delete", "info", "login", "logout", "poll", "renew", "transfer", "update",
];

fn parse_command(cmd: &Element) -> R<Command> {
    let mut seq = Seq::new(cmd);
    let Some(verb) = seq.peek() else {
        return Err(EppError::missing("<command> is empty"));
    };
    if verb.ns != EPP_NS || !COMMANDS.contains(&verb.name.as_str()) {
        return Err(EppError::new(
            ResultCode::UnknownCommand,
            format!("<{}> is not an EPP command", verb.qname()),
        ));
    }
    seq.pos += 1;
    let extension = seq.opt(EPP_NS, "extension");
    let tr = seq.opt(EPP_NS, "clTRID");
    seq.end()?;
    let cl_trid = tr.map(cl_trid).transpose()?;
    let exts = extension
        .map(|e| e.children.iter().collect())
        .unwrap_or_default();
    let kind = parse_verb(verb, exts)?;
    Ok(Command { kind, cl_trid })
}

/// Extension elements of the command not yet consumed.
type Exts<'a> = Vec<&'a Element>;

fn take_ext<'a>(exts: &mut Exts<'a>, ns: &str, name: &str) -> Option<&'a Element> {
    let i = exts.iter().position(|e| e.is(ns, name))?;
    Some(exts.remove(i))
}

fn no_more_exts(exts: &Exts<'_>, verb: &Element) -> R<()> {
    match exts.first() {
        None => Ok(()),
        Some(e) if e.ns == COOP_NS => Err(EppError::syntax(format!(
            "<{}> does not apply to <{}> commands",
            e.qname(),
            verb.name
        ))),
        Some(e) => Err(EppError::new(
            ResultCode::UnimplementedExtension,
            format!(
                "extension <{}> (namespace {}) is not implemented",
                e.qname(),
                if e.ns.is_empty() { "none" } else { &e.ns }
            ),
        )),
    }
}

fn parse_verb(verb: &Element, mut exts: Exts<'_>) -> R<CommandKind> {
    // Unimplemented extensions first: the command may be shaped for them (RGP's restore
    // is an empty <domain:chg/>).
    if let Some(e) = exts.iter().find(|e| e.ns != COOP_NS) {
        return Err(EppError::new(
            ResultCode::UnimplementedExtension,
            format!(
                "extension <{}> (namespace {}) is not implemented",
                e.qname(),
                if e.ns.is_empty() { "none" } else { &e.ns }
            ),
        ));
    }
    let kind = match verb.name.as_str() {
        "login" => CommandKind::Login(parse_login(verb)?),
        "logout" => {
            no_children(verb)?;
            CommandKind::Logout
        }
        "poll" => {
            no_children(verb)?;
            match req_attr(verb, "op")? {
                "req" => CommandKind::Poll(Poll::Request),
                "ack" => {
                    let id = req_attr(verb, "msgID")?.trim();
                    if id.is_empty() {
                        return Err(EppError::missing("<poll op=\"ack\"> lacks msgID"));
                    }
                    CommandKind::Poll(Poll::Ack {
                        msg_id: id.to_string(),
                    })
                }
                other => return Err(bad_value(verb, "op must be \"req\" or \"ack\"", other)),
            }
        }
        _ => {
            let [obj] = verb.children.as_slice() else {
                return Err(EppError::syntax(format!(
                    "<{}> must hold exactly one object element",
                    verb.qname()
                )));
            };
            let op = if verb.name == "transfer" {
                Some(match req_attr(verb, "op")? {
                    "query" => TransferOp::Query,
                    "request" => TransferOp::Request,
                    "approve" => TransferOp::Approve,
                    "reject" => TransferOp::Reject,
                    "cancel" => TransferOp::Cancel,
                    other => return Err(bad_value(verb, "unknown transfer op", other)),
                })
            } else {
                None
            };
            if obj.name != verb.name {
                return Err(unexpected(obj, verb));
            }
            match obj.ns.as_str() {
                DOMAIN_NS => CommandKind::Domain(parse_domain(obj, op)?),
                CONTACT_NS => CommandKind::Contact(parse_contact(obj, op, &mut exts)?),
                HOST_NS => {
                    if op.is_some() {
                        return Err(EppError::new(
                            ResultCode::UnimplementedCommand,
                            "hosts have no transfer command (they move with their domain)",
                        ));
                    }
                    CommandKind::Host(parse_host(obj)?)
                }
                other => {
                    return Err(EppError::new(
                        ResultCode::UnimplementedObjectService,
                        format!(
                            "<{}>: object namespace {} is not implemented",
                            obj.qname(),
                            if other.is_empty() { "(none)" } else { other }
                        ),
                    ));
                }
            }
        }
    };
    no_more_exts(&exts, verb)?;
    Ok(kind)
}

fn parse_login(el: &Element) -> R<Login> {
    let mut seq = Seq::new(el);
    let cl_id = seq.req(EPP_NS, "clID")?;
    let pw = seq.req(EPP_NS, "pw")?;
    let new_pw = seq.opt(EPP_NS, "newPW");
    let options = seq.req(EPP_NS, "options")?;
    let svcs = seq.req(EPP_NS, "svcs")?;
    seq.end()?;
    let cl_id = id_of(cl_id)?;
    let password = |el: &Element| -> R<String> {
        no_children(el)?;
        let n = el.text.chars().count();
        if !(6..=16).contains(&n) {
            return Err(EppError::value_syntax(format!(
                "<{}> must be 6 to 16 characters (RFC 5730), not {n}",
                el.qname()
            )));
        }
        Ok(el.text.clone())
    };
    let pw = password(pw)?;
    let new_pw = new_pw.map(password).transpose()?;
    let mut o = Seq::new(options);
    let version = o.req(EPP_NS, "version")?;
    let lang = o.req(EPP_NS, "lang")?;
    o.end()?;
    let version = token(version)?;
    let lang_text = token(lang)?;
    let lang = lang_of(lang, &lang_text)?;
    let mut s = Seq::new(svcs);
    let objs = s.many(EPP_NS, "objURI");
    let ext = s.opt(EPP_NS, "svcExtension");
    s.end()?;
    if objs.is_empty() {
        return Err(EppError::missing("<svcs> lacks <objURI>"));
    }
    let obj_uris = objs.into_iter().map(token).collect::<R<Vec<_>>>()?;
    let ext_uris = match ext {
        Some(ext) => {
            let mut e = Seq::new(ext);
            let uris = e.many(EPP_NS, "extURI");
            e.end()?;
            if uris.is_empty() {
                return Err(EppError::missing("<svcExtension> lacks <extURI>"));
            }
            uris.into_iter().map(token).collect::<R<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    Ok(Login {
        cl_id,
        pw,
        new_pw,
        version,
        lang,
        obj_uris,
        ext_uris,
    })
}

fn names(seq: &mut Seq<'_>, ns: &str, name: &str, of: fn(&Element) -> R<String>) -> R<Vec<String>> {
    let els = seq.many(ns, name);
    if els.is_empty() {
        // Reports the missing element (or the misplaced one).
        seq.req(ns, name)?;
    }
    els.into_iter().map(of).collect()
}

// ---------------------------------------------------------------------------------------
// Domain

const D: &str = DOMAIN_NS;

fn parse_domain(obj: &Element, op: Option<TransferOp>) -> R<DomainCommand> {
    let mut seq = Seq::new(obj);
    let cmd = match obj.name.as_str() {
        "check" => DomainCommand::Check(names(&mut seq, D, "name", name_of)?),
        "info" => {
            let n = seq.req(D, "name")?;
            let hosts = match n.attr("hosts").unwrap_or("all") {
                "all" => HostsFilter::All,
                "del" => HostsFilter::Del,
                "sub" => HostsFilter::Sub,
                "none" => HostsFilter::None,
                other => return Err(bad_value(n, "hosts must be all, del, sub or none", other)),
            };
            let auth_info = seq
                .opt(D, "authInfo")
                .map(|a| auth_info_of(a, D))
                .transpose()?;
            DomainCommand::Info(DomainInfo {
                name: name_of(n)?,
                hosts,
                auth_info,
            })
        }
        "create" => {
            let name = name_of(seq.req(D, "name")?)?;
            let period = seq.opt(D, "period").map(period_of).transpose()?;
            let ns = seq.opt(D, "ns").map(ns_of).transpose()?.unwrap_or_default();
            let registrant = seq.opt(D, "registrant").map(id_of).transpose()?;
            let contacts = seq
                .many(D, "contact")
                .into_iter()
                .map(contact_ref)
                .collect::<R<Vec<_>>>()?;
            let auth_info = auth_info_of(seq.req(D, "authInfo")?, D)?;
            DomainCommand::Create(DomainCreate {
                name,
                period,
                ns,
                registrant,
                contacts,
                auth_info,
            })
        }
        "delete" => DomainCommand::Delete(name_of(seq.req(D, "name")?)?),
        "renew" => {
            let name = name_of(seq.req(D, "name")?)?;
            let cur_exp_date = date_of(seq.req(D, "curExpDate")?)?;
            let period = seq.opt(D, "period").map(period_of).transpose()?;
            DomainCommand::Renew(DomainRenew {
                name,
                cur_exp_date,
                period,
            })
        }
        "transfer" => {
            let name = name_of(seq.req(D, "name")?)?;
            let period = seq.opt(D, "period").map(period_of).transpose()?;
            let auth_info = seq
                .opt(D, "authInfo")
                .map(|a| auth_info_of(a, D))
                .transpose()?;
            DomainCommand::Transfer(DomainTransfer {
                op: op.unwrap_or(TransferOp::Query),
                name,
                period,
                auth_info,
            })
        }
        "update" => {
            let name = name_of(seq.req(D, "name")?)?;
            let add = seq.opt(D, "add").map(domain_add_rem).transpose()?;
            let rem = seq.opt(D, "rem").map(domain_add_rem).transpose()?;
            let chg = seq.opt(D, "chg").map(domain_chg).transpose()?;
            if add.is_none() && rem.is_none() && chg.is_none() {
                return Err(EppError::missing(format!(
                    "<{}> needs at least one of add, rem, chg",
                    obj.qname()
                )));
            }
            DomainCommand::Update(DomainUpdate {
                name,
                add: add.unwrap_or_default(),
                rem: rem.unwrap_or_default(),
                chg,
            })
        }
        _ => return Err(unexpected(obj, obj)),
    };
    seq.end()?;
    Ok(cmd)
}

fn contact_ref(el: &Element) -> R<DomainContact> {
    let kind = match req_attr(el, "type")? {
        "admin" => ContactType::Admin,
        "billing" => ContactType::Billing,
        "tech" => ContactType::Tech,
        other => return Err(bad_value(el, "type must be admin, billing or tech", other)),
    };
    Ok(DomainContact {
        kind,
        id: id_of(el)?,
    })
}

fn ns_of(el: &Element) -> R<Vec<NameServer>> {
    let mut seq = Seq::new(el);
    let objs = seq.many(D, "hostObj");
    let out: Vec<NameServer> = if objs.is_empty() {
        let attrs = seq.many(D, "hostAttr");
        if attrs.is_empty() {
            seq.req(D, "hostObj")?;
        }
        attrs
            .into_iter()
            .map(|a| {
                let mut s = Seq::new(a);
                let name = name_of(s.req(D, "hostName")?)?;
                let addrs = s
                    .many(D, "hostAddr")
                    .into_iter()
                    .map(addr_of)
                    .collect::<R<Vec<_>>>()?;
                s.end()?;
                Ok(NameServer::HostAttr { name, addrs })
            })
            .collect::<R<_>>()?
    } else {
        objs.into_iter()
            .map(|o| name_of(o).map(NameServer::HostObj))
            .collect::<R<_>>()?
    };
    seq.end()?;
    Ok(out)
}

fn domain_add_rem(el: &Element) -> R<DomainAddRem> {
    let mut seq = Seq::new(el);
    let ns = seq.opt(D, "ns").map(ns_of).transpose()?.unwrap_or_default();
    let contacts = seq
        .many(D, "contact")
        .into_iter()
        .map(contact_ref)
        .collect::<R<Vec<_>>>()?;
    let statuses = seq
        .many(D, "status")
        .into_iter()
        .map(|s| status_of(s, ObjectKind::Domain))
        .collect::<R<Vec<_>>>()?;
    seq.end()?;
    Ok(DomainAddRem {
        ns,
        contacts,
        statuses,
    })
}

fn domain_chg(el: &Element) -> R<DomainChange> {
    let mut seq = Seq::new(el);
    let registrant = seq
        .opt(D, "registrant")
        .map(|r| -> R<Option<String>> {
            if token(r)?.is_empty() {
                Ok(None)
            } else {
                id_of(r).map(Some)
            }
        })
        .transpose()?;
    let auth_info = seq
        .opt(D, "authInfo")
        .map(|a| -> R<AuthInfoChange> {
            let mut s = Seq::new(a);
            if let Some(null) = s.opt(D, "null") {
                no_children(null)?;
                s.end()?;
                Ok(AuthInfoChange::Null)
            } else {
                auth_info_of(a, D).map(AuthInfoChange::Set)
            }
        })
        .transpose()?;
    seq.end()?;
    // An empty <domain:chg/> is valid (the schema allows it; RGP's restore uses it).
    Ok(DomainChange {
        registrant,
        auth_info,
    })
}

// ---------------------------------------------------------------------------------------
// Contact

const C: &str = CONTACT_NS;

fn parse_contact(obj: &Element, op: Option<TransferOp>, exts: &mut Exts<'_>) -> R<ContactCommand> {
    let mut seq = Seq::new(obj);
    let cmd = match obj.name.as_str() {
        "check" => ContactCommand::Check(names(&mut seq, C, "id", id_of)?),
        "info" => ContactCommand::Info {
            id: id_of(seq.req(C, "id")?)?,
            auth_info: seq
                .opt(C, "authInfo")
                .map(|a| auth_info_of(a, C))
                .transpose()?,
        },
        "delete" => ContactCommand::Delete(id_of(seq.req(C, "id")?)?),
        "transfer" => ContactCommand::Transfer {
            op: op.unwrap_or(TransferOp::Query),
            id: id_of(seq.req(C, "id")?)?,
            auth_info: seq
                .opt(C, "authInfo")
                .map(|a| auth_info_of(a, C))
                .transpose()?,
        },
        "create" => {
            let id = id_of(seq.req(C, "id")?)?;
            let pis = seq.many(C, "postalInfo");
            if pis.is_empty() {
                seq.req(C, "postalInfo")?;
            }
            let postal_info = pis.into_iter().map(postal_info_of).collect::<R<Vec<_>>>()?;
            distinct_types(obj, postal_info.iter().map(|p| p.kind))?;
            let voice = seq.opt(C, "voice").map(phone_of).transpose()?;
            let fax = seq.opt(C, "fax").map(phone_of).transpose()?;
            let email = email_of(seq.req(C, "email")?)?;
            let auth_info = auth_info_of(seq.req(C, "authInfo")?, C)?;
            let disclose = seq.opt(C, "disclose").map(disclose_of).transpose()?;
            let coop = take_ext(exts, COOP_NS, "create")
                .map(coop_create)
                .transpose()?;
            ContactCommand::Create(ContactCreate {
                id,
                postal_info,
                voice: voice.flatten(),
                fax: fax.flatten(),
                email,
                auth_info,
                disclose,
                coop,
            })
        }
        "update" => {
            let id = id_of(seq.req(C, "id")?)?;
            let statuses = |el: &Element| -> R<Vec<StatusEntry>> {
                let mut s = Seq::new(el);
                let out = s
                    .many(C, "status")
                    .into_iter()
                    .map(|st| status_of(st, ObjectKind::Contact))
                    .collect::<R<Vec<_>>>()?;
                if out.is_empty() {
                    s.req(C, "status")?;
                }
                s.end()?;
                Ok(out)
            };
            let add = seq.opt(C, "add").map(statuses).transpose()?;
            let rem = seq.opt(C, "rem").map(statuses).transpose()?;
            let chg = seq.opt(C, "chg").map(contact_chg).transpose()?;
            let coop = take_ext(exts, COOP_NS, "update")
                .map(coop_update)
                .transpose()?;
            if add.is_none() && rem.is_none() && chg.is_none() && coop.is_none() {
                return Err(EppError::missing(format!(
                    "<{}> needs at least one of add, rem, chg",
                    obj.qname()
                )));
            }
            ContactCommand::Update(ContactUpdate {
                id,
                add: add.unwrap_or_default(),
                rem: rem.unwrap_or_default(),
                chg,
                coop,
            })
        }
        _ => return Err(unexpected(obj, obj)),
    };
    seq.end()?;
    Ok(cmd)
}

fn distinct_types(parent: &Element, kinds: impl Iterator<Item = PostalType>) -> R<()> {
    let mut seen = Vec::new();
    for k in kinds {
        if seen.contains(&k) {
            return Err(EppError::syntax(format!(
                "<{}> holds two postalInfo elements of type {}",
                parent.qname(),
                k.as_str()
            )));
        }
        seen.push(k);
    }
    Ok(())
}

fn postal_type(el: &Element) -> R<PostalType> {
    match req_attr(el, "type")? {
        "int" => Ok(PostalType::Int),
        "loc" => Ok(PostalType::Loc),
        other => Err(bad_value(el, "type must be int or loc", other)),
    }
}

/// Checks that `int` postal info is US-ASCII (RFC 5733 section 2.4.1).
fn ascii_if_int(kind: PostalType, el: &Element, value: &str) -> R<()> {
    if kind == PostalType::Int && !value.is_ascii() {
        return Err(bad_value(
            el,
            "type int postal information must be US-ASCII (use type loc)",
            value,
        ));
    }
    Ok(())
}

fn postal_info_of(el: &Element) -> R<PostalInfo> {
    let kind = postal_type(el)?;
    let mut seq = Seq::new(el);
    let name = seq.req(C, "name")?;
    let org = seq.opt(C, "org");
    let addr = seq.req(C, "addr")?;
    seq.end()?;
    let name_t = token_len(name, 1, 255)?;
    ascii_if_int(kind, name, &name_t)?;
    let org = match org {
        Some(o) => {
            let t = token_len(o, 0, 255)?;
            ascii_if_int(kind, o, &t)?;
            (!t.is_empty()).then_some(t)
        }
        None => None,
    };
    Ok(PostalInfo {
        kind,
        name: name_t,
        org,
        addr: address_of(addr, kind)?,
    })
}

fn address_of(el: &Element, kind: PostalType) -> R<Address> {
    let mut seq = Seq::new(el);
    let streets = seq.many(C, "street");
    if streets.len() > 3 {
        return Err(EppError::syntax(format!(
            "<{}> holds more than three street lines",
            el.qname()
        )));
    }
    let city = seq.req(C, "city")?;
    let sp = seq.opt(C, "sp");
    let pc = seq.opt(C, "pc");
    let cc = seq.req(C, "cc")?;
    seq.end()?;
    let mut street = Vec::new();
    for s in streets {
        let t = token_len(s, 0, 255)?;
        ascii_if_int(kind, s, &t)?;
        street.push(t);
    }
    let city_t = token_len(city, 1, 255)?;
    ascii_if_int(kind, city, &city_t)?;
    let sp = match sp {
        Some(s) => {
            let t = token_len(s, 0, 255)?;
            ascii_if_int(kind, s, &t)?;
            (!t.is_empty()).then_some(t)
        }
        None => None,
    };
    let pc = match pc {
        Some(p) => {
            let t = token_len(p, 0, 16)?;
            ascii_if_int(kind, p, &t)?;
            (!t.is_empty()).then_some(t)
        }
        None => None,
    };
    let cc_t = token(cc)?;
    if cc_t.len() != 2 || !cc_t.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad_value(cc, "expected a two-letter country code", &cc_t));
    }
    Ok(Address {
        street,
        city: city_t,
        sp,
        pc,
        cc: cc_t.to_ascii_uppercase(),
    })
}

/// A phone number; `None` for an empty element (allowed: `e164StringType` may be empty).
fn phone_of(el: &Element) -> R<Option<Phone>> {
    let t = token(el)?;
    let ext = el.attr("x").map(str::trim).filter(|x| !x.is_empty());
    if t.is_empty() {
        return Ok(None);
    }
    let ok = t.len() <= 17
        && t.strip_prefix('+')
            .and_then(|r| r.split_once('.'))
            .is_some_and(|(cc, n)| {
                (1..=3).contains(&cc.len())
                    && (1..=14).contains(&n.len())
                    && cc.bytes().all(|b| b.is_ascii_digit())
                    && n.bytes().all(|b| b.is_ascii_digit())
            });
    if !ok {
        return Err(bad_value(el, "expected a number like +1.7035555555", &t));
    }
    if let Some(x) = ext
        && (x.chars().count() > 16 || x.chars().any(char::is_whitespace))
    {
        return Err(bad_value(el, "bad extension x", x));
    }
    Ok(Some(Phone {
        number: t,
        ext: ext.map(str::to_string),
    }))
}

fn email_of(el: &Element) -> R<String> {
    let t = token_len(el, 1, 255)?;
    let ok = t.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !t.contains(' ')
    });
    if !ok {
        return Err(bad_value(el, "expected an e-mail address", &t));
    }
    Ok(t)
}

fn disclose_of(el: &Element) -> R<Disclose> {
    let flag = match req_attr(el, "flag")? {
        "1" | "true" => true,
        "0" | "false" => false,
        other => return Err(bad_value(el, "flag must be 0 or 1", other)),
    };
    let mut seq = Seq::new(el);
    let typed = |seq: &mut Seq<'_>, name: &str| -> R<Vec<PostalType>> {
        let els = seq.many(C, name);
        if els.len() > 2 {
            return Err(EppError::syntax(format!(
                "more than two <{name}> in disclose"
            )));
        }
        let kinds = els
            .into_iter()
            .map(|e| {
                no_children(e)?;
                postal_type(e)
            })
            .collect::<R<Vec<_>>>()?;
        distinct_types(el, kinds.iter().copied())?;
        Ok(kinds)
    };
    let name = typed(&mut seq, "name")?;
    let org = typed(&mut seq, "org")?;
    let addr = typed(&mut seq, "addr")?;
    let mut flag_el = |n: &str| -> R<bool> {
        match seq.opt(C, n) {
            Some(e) => no_children(e).map(|_| true),
            None => Ok(false),
        }
    };
    let voice = flag_el("voice")?;
    let fax = flag_el("fax")?;
    let email = flag_el("email")?;
    seq.end()?;
    let d = Disclose {
        flag,
        name,
        org,
        addr,
        voice,
        fax,
        email,
    };
    if d.name.is_empty() && d.org.is_empty() && d.addr.is_empty() && !voice && !fax && !email {
        return Err(EppError::missing(format!(
            "<{}> names no element",
            el.qname()
        )));
    }
    Ok(d)
}

fn contact_chg(el: &Element) -> R<ContactChange> {
    let mut seq = Seq::new(el);
    let pis = seq.many(C, "postalInfo");
    let mut postal_info = Vec::new();
    for p in pis {
        let kind = postal_type(p)?;
        let mut s = Seq::new(p);
        let name = s.opt(C, "name");
        let org = s.opt(C, "org");
        let addr = s.opt(C, "addr");
        s.end()?;
        let name = match name {
            Some(n) => {
                let t = token_len(n, 1, 255)?;
                ascii_if_int(kind, n, &t)?;
                Some(t)
            }
            None => None,
        };
        let org = match org {
            Some(o) => {
                let t = token_len(o, 0, 255)?;
                ascii_if_int(kind, o, &t)?;
                Some((!t.is_empty()).then_some(t))
            }
            None => None,
        };
        let addr = addr.map(|a| address_of(a, kind)).transpose()?;
        if name.is_none() && org.is_none() && addr.is_none() {
            return Err(EppError::missing(format!("<{}> is empty", p.qname())));
        }
        postal_info.push(PostalInfoChange {
            kind,
            name,
            org,
            addr,
        });
    }
    distinct_types(el, postal_info.iter().map(|p| p.kind))?;
    let voice = seq.opt(C, "voice").map(phone_of).transpose()?;
    let fax = seq.opt(C, "fax").map(phone_of).transpose()?;
    let email = seq.opt(C, "email").map(email_of).transpose()?;
    let auth_info = seq
        .opt(C, "authInfo")
        .map(|a| auth_info_of(a, C))
        .transpose()?;
    let disclose = seq.opt(C, "disclose").map(disclose_of).transpose()?;
    seq.end()?;
    let chg = ContactChange {
        postal_info,
        voice,
        fax,
        email,
        auth_info,
        disclose,
    };
    if chg == ContactChange::default() {
        return Err(EppError::missing(format!("<{}> is empty", el.qname())));
    }
    Ok(chg)
}

// ---------------------------------------------------------------------------------------
// The .coop extension

fn ens_identity_of(el: &Element) -> R<String> {
    token_len(el, 1, 255)
}

fn sponsors(seq: &mut Seq<'_>) -> R<Vec<String>> {
    seq.many(COOP_NS, "sponsor")
        .into_iter()
        .map(id_of)
        .collect()
}

fn coop_prefs(seq: &mut Seq<'_>) -> R<(Option<String>, Option<bool>, Option<String>)> {
    let lang = seq
        .opt(COOP_NS, "langPref")
        .map(|l| token(l).and_then(|t| lang_of(l, &t)))
        .transpose()?;
    let mailing = seq
        .opt(COOP_NS, "mailingListPref")
        .map(bool_of)
        .transpose()?;
    let ens = seq
        .opt(COOP_NS, "ensIdentity")
        .map(ens_identity_of)
        .transpose()?;
    Ok((lang, mailing, ens))
}

fn coop_create(el: &Element) -> R<CoopCreate> {
    let mut seq = Seq::new(el);
    let sponsors = sponsors(&mut seq)?;
    let (lang_pref, mailing_list_pref, ens_identity) = coop_prefs(&mut seq)?;
    seq.end()?;
    Ok(CoopCreate {
        sponsors,
        lang_pref,
        mailing_list_pref,
        ens_identity,
    })
}

fn coop_update(el: &Element) -> R<CoopUpdate> {
    let mut seq = Seq::new(el);
    let list = |e: &Element| -> R<Vec<String>> {
        let mut s = Seq::new(e);
        let out = sponsors(&mut s)?;
        if out.is_empty() {
            s.req(COOP_NS, "sponsor")?;
        }
        s.end()?;
        Ok(out)
    };
    let add = seq.opt(COOP_NS, "add").map(list).transpose()?;
    let rem = seq.opt(COOP_NS, "rem").map(list).transpose()?;
    let chg = seq
        .opt(COOP_NS, "chg")
        .map(|c| -> R<CoopChange> {
            let mut s = Seq::new(c);
            let (lang_pref, mailing_list_pref, ens_identity) = coop_prefs(&mut s)?;
            s.end()?;
            let chg = CoopChange {
                lang_pref,
                mailing_list_pref,
                ens_identity,
            };
            if chg == CoopChange::default() {
                return Err(EppError::missing(format!("<{}> is empty", c.qname())));
            }
            Ok(chg)
        })
        .transpose()?;
    seq.end()?;
    if add.is_none() && rem.is_none() && chg.is_none() {
        return Err(EppError::missing(format!(
            "<{}> needs at least one of add, rem, chg",
            el.qname()
        )));
    }
    Ok(CoopUpdate {
        add_sponsors: add.unwrap_or_default(),
        rem_sponsors: rem.unwrap_or_default(),
        chg,
    })
}

// ---------------------------------------------------------------------------------------
// Host

const H: &str = HOST_NS;

fn parse_host(obj: &Element) -> R<HostCommand> {
    let mut seq = Seq::new(obj);
    let cmd = match obj.name.as_str() {
        "check" => HostCommand::Check(names(&mut seq, H, "name", name_of)?),
        "info" => HostCommand::Info(name_of(seq.req(H, "name")?)?),
        "delete" => HostCommand::Delete(name_of(seq.req(H, "name")?)?),
        "create" => HostCommand::Create {
            name: name_of(seq.req(H, "name")?)?,
            addrs: seq
                .many(H, "addr")
                .into_iter()
                .map(addr_of)
                .collect::<R<Vec<_>>>()?,
        },
        "update" => {
            let name = name_of(seq.req(H, "name")?)?;
            let add_rem = |e: &Element| -> R<(Vec<IpAddr>, Vec<StatusEntry>)> {
                let mut s = Seq::new(e);
                let addrs = s
                    .many(H, "addr")
                    .into_iter()
                    .map(addr_of)
                    .collect::<R<Vec<_>>>()?;
                let statuses = s
                    .many(H, "status")
                    .into_iter()
                    .map(|st| status_of(st, ObjectKind::Host))
                    .collect::<R<Vec<_>>>()?;
                s.end()?;
                if addrs.is_empty() && statuses.is_empty() {
                    return Err(EppError::missing(format!("<{}> is empty", e.qname())));
                }
                Ok((addrs, statuses))
            };
            let add = seq.opt(H, "add").map(add_rem).transpose()?;
            let rem = seq.opt(H, "rem").map(add_rem).transpose()?;
            let chg = seq
                .opt(H, "chg")
                .map(|c| -> R<String> {
                    let mut s = Seq::new(c);
                    let n = name_of(s.req(H, "name")?)?;
                    s.end()?;
                    Ok(n)
                })
                .transpose()?;
            if add.is_none() && rem.is_none() && chg.is_none() {
                return Err(EppError::missing(format!(
                    "<{}> needs at least one of add, rem, chg",
                    obj.qname()
                )));
            }
            let (add_addrs, add_statuses) = add.unwrap_or_default();
            let (rem_addrs, rem_statuses) = rem.unwrap_or_default();
            HostCommand::Update(HostUpdate {
                name,
                add_addrs,
                add_statuses,
                rem_addrs,
                rem_statuses,
                new_name: chg,
            })
        }
        _ => return Err(unexpected(obj, obj)),
    };
    seq.end()?;
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>{inner}<clTRID>ABC-1</clTRID></command></epp>"#
        )
    }

    fn domain(verb: &str, body: &str) -> String {
        cmd(&format!(
            r#"<{verb}><domain:{verb} xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">{body}</domain:{verb}></{verb}>"#
        ))
    }

    fn fail(doc: &str) -> ParseFailure {
        parse_request(doc.as_bytes()).unwrap_err()
    }

    #[test]
    fn host_names() {
        assert_eq!(check_host_name("Example.COOP").unwrap(), "example.coop");
        assert!(check_host_name("xn--bcher-kva.coop").is_ok());
        assert!(check_host_name("coop").is_err());
        assert!(check_host_name("-a.coop").is_err());
        assert!(check_host_name("a..coop").is_err());
        assert!(check_host_name("a_b.coop").is_err());
        assert!(check_host_name(&format!("{}.coop", "a".repeat(64))).is_err());
    }

    #[test]
    fn value_errors_name_the_element_and_keep_the_cltrid() {
        let f = fail(&domain(
            "create",
            "<domain:name>bad_name.coop</domain:name><domain:authInfo><domain:pw>secret1</domain:pw></domain:authInfo>",
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueSyntaxError);
        assert!(
            f.error.message.contains("domain:name"),
            "{}",
            f.error.message
        );
        assert_eq!(f.cl_trid.as_deref(), Some("ABC-1"));
        let f = fail(&domain(
            "create",
            r#"<domain:name>a.coop</domain:name><domain:period unit="y">100</domain:period><domain:authInfo><domain:pw>secret1</domain:pw></domain:authInfo>"#,
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueRangeError);
        assert_eq!(f.error.value.as_deref(), Some("100"));
        let f = fail(&domain(
            "create",
            r#"<domain:name>a.coop</domain:name><domain:period unit="d">1</domain:period><domain:authInfo><domain:pw>secret1</domain:pw></domain:authInfo>"#,
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueSyntaxError);
        let f = fail(&domain("create", "<domain:name>a.coop</domain:name>"));
        assert_eq!(f.error.code, ResultCode::RequiredParameterMissing);
        assert!(
            f.error.message.contains("domain:authInfo"),
            "{}",
            f.error.message
        );
        let f = fail(&domain(
            "create",
            "<domain:name>a.coop</domain:name><domain:authInfo><domain:pw>short</domain:pw></domain:authInfo>",
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueRangeError);
        let f = fail(&domain(
            "create",
            "<domain:authInfo><domain:pw>secret1</domain:pw></domain:authInfo><domain:name>a.coop</domain:name>",
        ));
        assert_eq!(f.error.code, ResultCode::CommandSyntaxError);
        assert!(f.error.message.contains("misplaced"), "{}", f.error.message);
        let f = fail(&domain(
            "info",
            "<domain:name>a.coop</domain:name><domain:bogus/>",
        ));
        assert_eq!(f.error.code, ResultCode::CommandSyntaxError);
        assert!(f.error.message.contains("domain:bogus"));
        let f = fail(&domain(
            "update",
            r#"<domain:name>a.coop</domain:name><domain:add><domain:status s="linked"/></domain:add>"#,
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueSyntaxError);
        let f = fail(&domain(
            "renew",
            "<domain:name>a.coop</domain:name><domain:curExpDate>2023-02-30</domain:curExpDate>",
        ));
        assert_eq!(f.error.code, ResultCode::ParameterValueSyntaxError);
    }

    #[test]
    fn commands_and_structure() {
        let f = fail(&cmd("<frobnicate/>"));
        assert_eq!(f.error.code, ResultCode::UnknownCommand);
        let f = fail(&cmd(
            r#"<info><obj:info xmlns:obj="urn:ietf:params:xml:ns:obj"><obj:name>x</obj:name></obj:info></info>"#,
        ));
        assert_eq!(f.error.code, ResultCode::UnimplementedObjectService);
        let f = fail(&cmd(
            r#"<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>a.coop</domain:name></domain:check></check><extension><x:y xmlns:x="urn:x"/></extension>"#,
        ));
        assert_eq!(f.error.code, ResultCode::UnimplementedExtension);
        let f = fail(r#"<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><response/></epp>"#);
        assert_eq!(f.error.code, ResultCode::CommandSyntaxError);
        assert_eq!(
            parse_request(br#"<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>"#)
                .unwrap(),
            Request::Hello
        );
        let r = parse_request(cmd(r#"<poll op="ack" msgID="12345"/>"#).as_bytes()).unwrap();
        let Request::Command(c) = r else { panic!() };
        assert_eq!(
            c.kind,
            CommandKind::Poll(Poll::Ack {
                msg_id: "12345".into()
            })
        );
        assert_eq!(c.cl_trid.as_deref(), Some("ABC-1"));
        // Trailing whitespace after </epp> (pyepp appends CRLF) is fine.
        let doc = cmd("<logout/>") + "\r\n";
        assert!(parse_request(doc.as_bytes()).is_ok());
    }

    #[test]
    fn coop_extension() {
        let doc = cmd(
            r#"<create><contact:create xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"><contact:id>reg-1</contact:id><contact:postalInfo type="loc"><contact:name>Koop</contact:name><contact:org>Koop eG</contact:org><contact:addr><contact:city>Bonn</contact:city><contact:cc>de</contact:cc></contact:addr></contact:postalInfo><contact:email>a@b.coop</contact:email><contact:authInfo><contact:pw>secret1</contact:pw></contact:authInfo></contact:create></create><extension><coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0"><coop:sponsor>sp-1</coop:sponsor><coop:sponsor>sp-2</coop:sponsor><coop:langPref>de</coop:langPref><coop:mailingListPref>1</coop:mailingListPref><coop:ensIdentity>ENS-42</coop:ensIdentity></coop:create></extension>"#,
        );
        let Request::Command(c) = parse_request(doc.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(c.extensions_used(), vec![COOP_NS]);
        let CommandKind::Contact(ContactCommand::Create(cc)) = c.kind else {
            panic!()
        };
        assert_eq!(cc.postal_info[0].addr.cc, "DE");
        let coop = cc.coop.unwrap();
        assert_eq!(coop.sponsors, vec!["sp-1", "sp-2"]);
        assert_eq!(coop.mailing_list_pref, Some(true));
        assert_eq!(coop.ens_identity.as_deref(), Some("ENS-42"));
        // The coop extension on a domain command is misplaced.
        let doc = cmd(
            r#"<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>a.coop</domain:name></domain:check></check><extension><coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0"/></extension>"#,
        );
        assert_eq!(fail(&doc).error.code, ResultCode::CommandSyntaxError);
    }
}
