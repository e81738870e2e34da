//! RDAP (RFC 7480, 9082, 9083) and the web page for people, served by `rdapd` from the
//! same MKDB generations, live switching ([`crate::live`]) and abuse limits
//! ([`crate::limits`]) as port 43.
//!
//! The core is sans-I/O: [`Service::rdap`] and [`Service::web`] take a decoded
//! [`Request`] (path, query string, client address, base URL, audience) and return a
//! [`Reply`] (status, media type, body, `Retry-After`), so every answer is tested without a
//! socket. [`http`] is the axum/hyper glue: connections, bounds, timeouts, CORS, HEAD.
//!
//! - [`json`]: RDAP objects: domains, name servers, entities with jCard, statuses, events,
//!   links, notices, errors, search results, `redacted`.
//! - [`redaction`]: the policy of which contact fields the public and authenticated
//!   operators see (RFC 9537).
//! - [`web`]: the HTML search page (no JavaScript; phones and text browsers).
//! - [`http`]: the server.

pub mod http;
pub mod json;
pub mod redaction;
pub mod web;

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use mkdb::Generation;
use mkdb::query::{Pattern, Query, QueryError, RecordRef, Term};
use serde_json::Value;

use crate::limits::{Limiter, Verdict};
use crate::live::LiveDb;
use json::{Context, Rec};
use redaction::{Audience, ContactField, RedactionPolicy};

/// Longest request target (path and query) accepted, in bytes.
pub const MAX_TARGET: usize = 2048;
/// Default cap on the results of one search.
pub const DEFAULT_SEARCH_LIMIT: usize = 50;

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct RdapConfig {
    /// Absolute base URL of links, ending in `/`; `None`: `http://HOST/` from the request.
    pub base_url: Option<String>,
    /// The port-43 server named in objects.
    pub port43: Option<String>,
    /// Most results of one search; more are cut with a notice.
    pub search_limit: usize,
}

impl Default for RdapConfig {
    fn default() -> Self {
        RdapConfig {
            base_url: None,
            port43: Some("whois.nic.coop".into()),
            search_limit: DEFAULT_SEARCH_LIMIT,
        }
    }
}

/// One request, decoded by the HTTP layer.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The path, still percent-encoded (`/domain/m%C3%BCnchen.coop`).
    pub path: &'a str,
    /// The query string without `?`, still encoded.
    pub query: Option<&'a str>,
    /// The client (limits are kept per source).
    pub client: IpAddr,
    /// The `Host` header, used for links when no base URL is configured.
    pub host: Option<&'a str>,
    /// Who is asking.
    pub audience: Audience,
}

/// An answer, for the HTTP layer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Media type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

/// The RDAP and web service over a live database.
#[derive(Debug)]
pub struct Service {
    live: Arc<LiveDb>,
    limiter: Option<Arc<Limiter>>,
    config: RdapConfig,
    redaction: RwLock<Arc<RedactionPolicy>>,
}

/// What a search found: objects (as records) and whether the cap cut it.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) records: Vec<RecordRef>,
    pub(crate) more: bool,
}

/// Why a request is refused before any lookup.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Malformed (400).
    Bad(String),
    /// Not here (404).
    NotFound(String),
}

impl Service {
    /// A service over `live`, limited by `limiter` (if any).
    pub fn new(
        live: Arc<LiveDb>,
        limiter: Option<Arc<Limiter>>,
        config: RdapConfig,
        redaction: RedactionPolicy,
    ) -> Service {
        Service {
            live,
            limiter,
            config,
            redaction: RwLock::new(Arc::new(redaction)),
        }
    }

    /// Replaces the redaction policy (SIGHUP).
    pub fn set_redaction(&self, policy: RedactionPolicy) {
        *self
            .redaction
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// The redaction policy in force.
    pub fn redaction(&self) -> Arc<RedactionPolicy> {
        Arc::clone(
            &self
                .redaction
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The limiter, if any.
    pub fn limiter(&self) -> Option<&Arc<Limiter>> {
        self.limiter.as_ref()
    }

    fn base(&self, req: &Request<'_>) -> String {
        if let Some(b) = &self.config.base_url {
            return if b.ends_with('/') {
                b.clone()
            } else {
                format!("{b}/")
            };
        }
        let host = req
            .host
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("http://{host}/")
    }

    /// Charges one query to the client; the verdict when limited.
    fn over_limit(&self, client: IpAddr) -> Option<(String, u64)> {
        let l = self.limiter.as_ref()?;
        match l.query(client) {
            Verdict::Allow => None,
            Verdict::Limit {
                reason,
                retry_after,
            } => Some((reason, retry_secs(retry_after))),
        }
    }

    /// Charges `n` contact records to the client (the daily contact budget).
    fn over_budget(&self, client: IpAddr, n: u32) -> Option<(String, u64)> {
        let l = self.limiter.as_ref()?;
        match l.contacts(client, n) {
            Verdict::Allow => None,
            Verdict::Limit {
                reason,
                retry_after,
            } => Some((reason, retry_secs(retry_after))),
        }
    }

    /// Answers an RDAP request.
    pub fn rdap(&self, req: &Request<'_>) -> Reply {
        let (g, _) = self.live.current();
        let base = self.base(req);
        let cx = Context {
            g: &g,
            base: &base,
            port43: self.config.port43.as_deref(),
            shown: self.redaction().shown(req.audience),
        };
        let err = |code: u16, title: &str, desc: &str| {
            json_reply(code, &json::error(&cx, code, title, &[desc]))
        };
        if req.path.len() + req.query.map_or(0, str::len) > MAX_TARGET {
            return err(
                400,
                "Bad Request",
                &format!("request longer than {MAX_TARGET} bytes"),
            );
        }
        if let Some((reason, retry)) = self.over_limit(req.client) {
            let mut r = limited_reply(&cx, &reason, retry);
            r.retry_after = (retry > 0).then_some(retry);
            return r;
        }
        let Some(segments) = decode_path(req.path) else {
            return err(
                400,
                "Bad Request",
                "the path is not valid percent-encoded UTF-8",
            );
        };
        let params = parse_query(req.query.unwrap_or(""));
        let Some(params) = params else {
            return err(
                400,
                "Bad Request",
                "the query string is not valid percent-encoded UTF-8",
            );
        };
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let result = match segs.as_slice() {
            ["domain", name] => self.lookup_domain(&cx, name),
            ["nameserver", name] => lookup_nameserver(&cx, name),
            ["entity", handle] => lookup_entity(&cx, handle),
            ["domains"] => self.search_domains(&cx, &params),
            ["nameservers"] => self.search_nameservers(&cx, &params),
            ["entities"] => self.search_entities(&cx, &params, req.audience),
            ["help"] | [] => Ok((json::help(&cx), 0)),
            ["ip" | "autnum", ..] => {
                return err(
                    501,
                    "Not Implemented",
                    "this is a domain name registry: ip and autnum queries are not served here",
                );
            }
            _ => Err(Refusal::Bad(format!(
                "{} is not an RDAP query this server answers; see {base}help",
                req.path
            ))),
        };
        match result {
            Ok((v, contacts)) => {
                if let Some((reason, retry)) = self.over_budget(req.client, contacts) {
                    let mut r = limited_reply(&cx, &reason, retry);
                    r.retry_after = Some(retry);
                    return r;
                }
                json_reply(200, &v)
            }
            Err(Refusal::Bad(m)) => err(400, "Bad Request", &m),
            Err(Refusal::NotFound(m)) => err(404, "Not Found", &m),
        }
    }

    fn lookup_domain(&self, cx: &Context<'_>, name: &str) -> Result<(Value, u32), Refusal> {
        let name = name.trim_end_matches('.');
        mkdb::key::check_domain(name)
            .map_err(|e| Refusal::Bad(format!("{name:?} is not a domain name: {e}")))?;
        let rec = json::find(cx.g, "domain", name)
            .ok_or_else(|| Refusal::NotFound(format!("no domain {name} in this registry")))?;
        let (v, contacts) = json::domain(cx, &rec, true);
        Ok((json::response(cx, v, Vec::new()), contacts))
    }

    /// Runs a one-term search of `class` on attribute `tag`.
    pub(crate) fn search_attr(
        &self,
        g: &Generation,
        class: &str,
        tag: &str,
        pattern: &str,
    ) -> Result<Found, Refusal> {
        let c = g
            .schema
            .class(class)
            .ok_or_else(|| Refusal::NotFound(format!("no class {class} in this database")))?;
        let a = c
            .attr_by_tag(tag)
            .filter(|a| !a.private)
            .ok_or_else(|| Refusal::Bad(format!("{class} has no attribute {tag}")))?;
        let q = Query {
            class: c.id,
            any: vec![vec![Term {
                attrs: vec![a.id],
                pattern: search_pattern(pattern)?,
            }]],
        };
        let hits = g
            .execute(&q, self.config.search_limit)
            .map_err(|e: QueryError| Refusal::Bad(e.message))?;
        Ok(Found {
            records: hits.records,
            more: hits.more,
        })
    }

    fn search_domains(
        &self,
        cx: &Context<'_>,
        params: &[(String, String)],
    ) -> Result<(Value, u32), Refusal> {
        let g = cx.g;
        let found = if let Some(p) = param(params, "name") {
            self.search_attr(g, "domain", "Domain-Name", p)?
        } else if let Some(p) = param(params, "nsLdhName") {
            self.search_attr(g, "domain", "Name-Server", p)?
        } else if let Some(ip) = param(params, "nsIp") {
            self.domains_by_ns_ip(g, ip)?
        } else {
            return Err(Refusal::Bad(
                "a domain search needs name=, nsLdhName= or nsIp=".into(),
            ));
        };
        let objects = found
            .records
            .iter()
            .map(|&r| json::domain(cx, &Rec::new(g, r), false).0)
            .collect();
        let cut = found.more.then_some(self.config.search_limit);
        Ok((json::search(cx, "domainSearchResults", objects, cut), 0))
    }

    fn domains_by_ns_ip(&self, g: &Generation, ip: &str) -> Result<Found, Refusal> {
        let ip: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| Refusal::Bad(format!("{ip:?} is not an IP address")))?;
        let hosts = self.search_attr(g, "nameserver", "IP-Address", &ip.to_string())?;
        let mut out = Found::default();
        for h in hosts.records {
            let Some(name) = Rec::new(g, h).first("Host-Name") else {
                continue;
            };
            let f = self.search_attr(g, "domain", "Name-Server", name)?;
            for r in f.records {
                if !out.records.contains(&r) {
                    if out.records.len() == self.config.search_limit {
                        out.more = true;
                        return Ok(out);
                    }
                    out.records.push(r);
                }
            }
            out.more |= f.more;
        }
        out.more |= hosts.more;
        Ok(out)
    }

    fn search_nameservers(
        &self,
        cx: &Context<'_>,
        params: &[(String, String)],
    ) -> Result<(Value, u32), Refusal> {
        let g = cx.g;
        let found = if let Some(p) = param(params, "name") {
            self.search_attr(g, "nameserver", "Host-Name", p)?
        } else if let Some(ip) = param(params, "ip") {
            let ip: IpAddr = ip
                .trim()
                .parse()
                .map_err(|_| Refusal::Bad(format!("{ip:?} is not an IP address")))?;
            self.search_attr(g, "nameserver", "IP-Address", &ip.to_string())?
        } else {
            return Err(Refusal::Bad(
                "a name server search needs name= or ip=".into(),
            ));
        };
        let objects = found
            .records
            .iter()
            .map(|&r| {
                let rec = Rec::new(g, r);
                json::nameserver(
                    cx,
                    rec.first("Host-Name").unwrap_or_default(),
                    Some(&rec),
                    true,
                )
            })
            .collect();
        let cut = found.more.then_some(self.config.search_limit);
        Ok((json::search(cx, "nameserverSearchResults", objects, cut), 0))
    }

    /// Entities by `fn` (contact names, where the audience may see them, and registrar
    /// names) or `handle` (contact and registrar ids).
    pub(crate) fn find_entities(
        &self,
        g: &Generation,
        params: &[(String, String)],
        audience: Audience,
    ) -> Result<Found, Refusal> {
        let searches: Vec<(&str, &str, &str)> = if let Some(p) = param(params, "fn") {
            let mut v = vec![("registrar", "Registrar-Name", p)];
            if self
                .redaction()
                .shown(audience)
                .contains(ContactField::Name)
            {
                v.insert(0, ("contact", "Name", p));
            }
            v
        } else if let Some(p) = param(params, "handle") {
            vec![
                ("contact", "Contact-ID", p),
                ("registrar", "Registrar-ID", p),
            ]
        } else {
            return Err(Refusal::Bad("an entity search needs fn= or handle=".into()));
        };
        let mut out = Found::default();
        let mut first_err = None;
        let mut ok = false;
        for (class, tag, p) in searches {
            match self.search_attr(g, class, tag, p) {
                Ok(f) => {
                    ok = true;
                    for r in f.records {
                        if out.records.len() == self.config.search_limit {
                            out.more = true;
                            break;
                        }
                        out.records.push(r);
                    }
                    out.more |= f.more;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match (ok, first_err) {
            (false, Some(e)) => Err(e),
            _ => Ok(out),
        }
    }

    fn search_entities(
        &self,
        cx: &Context<'_>,
        params: &[(String, String)],
        audience: Audience,
    ) -> Result<(Value, u32), Refusal> {
        let found = self.find_entities(cx.g, params, audience)?;
        let mut contacts = 0;
        let objects = found
            .records
            .iter()
            .map(|&r| {
                let rec = Rec::new(cx.g, r);
                contacts += u32::from(rec.class() == "contact");
                json::entity(cx, &rec, false)
            })
            .collect();
        let cut = found.more.then_some(self.config.search_limit);
        Ok((
            json::search(cx, "entitySearchResults", objects, cut),
            contacts,
        ))
    }

    /// Answers a request for the web page (`/`, with `type` and `q` for a search).
    pub fn web(&self, req: &Request<'_>) -> Reply {
        web::answer(self, req)
    }

    /// The answer for a client refused before its request (connection limits, deny list):
    /// the limit page for `/`, an RDAP error elsewhere.
    pub fn refuse(&self, req: &Request<'_>, reason: &str, retry: u64) -> Reply {
        if req.path == "/" {
            return web::limited("domain", "", reason, retry);
        }
        let (g, _) = self.live.current();
        let base = self.base(req);
        let cx = Context {
            g: &g,
            base: &base,
            port43: self.config.port43.as_deref(),
            shown: self.redaction().shown(req.audience),
        };
        let mut r = limited_reply(&cx, reason, retry);
        r.retry_after = (retry > 0).then_some(retry);
        r
    }

    pub(crate) fn live(&self) -> &Arc<LiveDb> {
        &self.live
    }

    pub(crate) fn config(&self) -> &RdapConfig {
        &self.config
    }

    pub(crate) fn context_base(&self, req: &Request<'_>) -> String {
        self.base(req)
    }

    pub(crate) fn charge(&self, client: IpAddr) -> Option<(String, u64)> {
        self.over_limit(client)
    }

    pub(crate) fn charge_contacts(&self, client: IpAddr, n: u32) -> Option<(String, u64)> {
        self.over_budget(client, n)
    }
}

fn lookup_nameserver(cx: &Context<'_>, name: &str) -> Result<(Value, u32), Refusal> {
    let name = name.trim_end_matches('.');
    mkdb::key::check_domain(name)
        .map_err(|e| Refusal::Bad(format!("{name:?} is not a host name: {e}")))?;
    let rec = json::find(cx.g, "nameserver", name)
        .ok_or_else(|| Refusal::NotFound(format!("no name server {name} in this registry")))?;
    let stored = rec.first("Host-Name").unwrap_or(name);
    let v = json::nameserver(cx, stored, Some(&rec), true);
    Ok((json::response(cx, v, Vec::new()), 0))
}

fn lookup_entity(cx: &Context<'_>, handle: &str) -> Result<(Value, u32), Refusal> {
    let handle = handle.trim();
    if handle.is_empty() || handle.len() > 80 || handle.chars().any(char::is_control) {
        return Err(Refusal::Bad(format!("{handle:?} is not a handle")));
    }
    let (rec, contacts) = match json::find(cx.g, "contact", handle) {
        Some(r) => (r, 1),
        None => (
            json::find(cx.g, "registrar", handle)
                .ok_or_else(|| Refusal::NotFound(format!("no entity {handle} in this registry")))?,
            0,
        ),
    };
    let v = json::entity(cx, &rec, true);
    Ok((json::response(cx, v, Vec::new()), contacts))
}

/// Whole seconds to wait, rounded up (at least 1 unless zero).
fn retry_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply {
        status,
        content_type: json::MEDIA_TYPE,
        body: serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()),
        retry_after: None,
    }
}

fn limited_reply(cx: &Context<'_>, reason: &str, retry: u64) -> Reply {
    let (code, title) = if retry == 0 {
        (403, "Forbidden")
    } else {
        (429, "Too Many Requests")
    };
    let when = if retry == 0 {
        "Contact the registry if you believe this is a mistake.".to_string()
    } else {
        format!("Retry after {retry} seconds.")
    };
    let desc = format!("{reason}. {when}");
    json_reply(code, &json::error(cx, code, title, &[&desc]))
}

/// A search pattern (RFC 9082 section 4.1, widened to what the index serves): a text,
/// optionally starting and/or ending with `*`.
pub(crate) fn search_pattern(text: &str) -> Result<Pattern, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Refusal::Bad("empty search pattern".into()));
    }
    if text.len() > 255 || text.chars().any(char::is_control) {
        return Err(Refusal::Bad(
            "search pattern too long or not printable".into(),
        ));
    }
    let lead = text.starts_with('*');
    let trail = text.len() > 1 && text.ends_with('*');
    let inner = &text[usize::from(lead)..text.len() - usize::from(trail)];
    if inner.contains('*') {
        return Err(Refusal::Bad(
            "a '*' may stand only at the start and/or the end of a search pattern".into(),
        ));
    }
    if inner.is_empty() {
        return Err(Refusal::Bad(
            "a search pattern needs at least one character besides '*'".into(),
        ));
    }
    let frag = mkdb::key::fragment_key(inner);
    Ok(match (lead, trail) {
        (false, false) => Pattern::Exact(inner.to_string()),
        (false, true) => Pattern::Prefix(frag),
        (true, false) => Pattern::Suffix(frag),
        (true, true) => Pattern::Infix(frag),
    })
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` escapes (and `+` as space when `plus`); `None` for a bad escape or
/// invalid UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The path's segments, decoded; empty segments (double or trailing slashes) dropped.
pub fn decode_path(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect()
}

/// `application/x-www-form-urlencoded` pairs (at most 16).
pub fn parse_query(q: &str) -> Option<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .take(16)
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mkdb::compile::{CompileOptions, compile};
    use serde_json::json;
    use std::sync::OnceLock;

    fn service() -> &'static (tempfile::TempDir, Service) {
        static S: OnceLock<(tempfile::TempDir, Service)> = OnceLock::new();
        S.get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let src = tmp.path().join("src");
            let db = tmp.path().join("db");
            mkdb::synth::generate(
                &src,
                &mkdb::synth::GenOptions {
                    domains: 300,
                    ..Default::default()
                },
                &mut |_| {},
            )
            .unwrap();
            compile(&src, &db, &CompileOptions::default(), &|_, _| {}).unwrap();
            let live = LiveDb::open(&db).unwrap();
            let config = RdapConfig {
                base_url: Some("https://rdap.example/".into()),
                search_limit: 5,
                ..RdapConfig::default()
            };
            let svc = Service::new(live, None, config, RedactionPolicy::default());
            (tmp, svc)
        })
    }

    fn get(path: &str, query: Option<&str>) -> (u16, Value) {
        let req = Request {
            path,
            query,
            client: "192.0.2.1".parse().unwrap(),
            host: None,
            audience: Audience::Public,
        };
        let r = service().1.rdap(&req);
        assert_eq!(r.content_type, json::MEDIA_TYPE);
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }

    #[test]
    fn domain_lookup_has_the_rfc9083_shape() {
        let (s, v) = get("/domain/TEST.coop", None);
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["objectClassName"], "domain");
        assert_eq!(v["ldhName"], "test.coop");
        assert_eq!(v["rdapConformance"], json!(["rdap_level_0", "redacted"]));
        assert_eq!(v["links"][0]["rel"], "self");
        assert_eq!(
            v["links"][0]["href"],
            "https://rdap.example/domain/test.coop"
        );
        assert_eq!(v["status"], json!(["active"]));
        let actions: Vec<&str> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventAction"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"registration") && actions.contains(&"expiration"));
        assert_eq!(actions.last(), Some(&"last update of RDAP database"));
        let text = v.to_string();
        assert!(!text.to_lowercase().contains("auth"), "{text}");
        assert!(v["redacted"].as_array().is_some_and(|r| !r.is_empty()));
        assert_eq!(v["port43"], "whois.nic.coop");
    }

    #[test]
    fn errors_are_rdap_json() {
        let (s, v) = get("/domain/nothing-here.coop", None);
        assert_eq!((s, v["errorCode"].as_u64()), (404, Some(404)));
        let (s, v) = get("/domain/bad_name!", None);
        assert_eq!((s, v["errorCode"].as_u64()), (400, Some(400)));
        let (s, _) = get("/what/ever", None);
        assert_eq!(s, 400);
        let (s, _) = get("/domain/%ZZ", None);
        assert_eq!(s, 400);
        let (s, _) = get("/ip/192.0.2.1", None);
        assert_eq!(s, 501);
        let (s, _) = get("/domains", Some("name=*"));
        assert_eq!(s, 400);
        let (s, _) = get("/domains", Some("name=a*b*c"));
        assert_eq!(s, 400);
    }

    #[test]
    fn searches_are_capped_with_a_notice() {
        let (s, v) = get("/domains", Some("name=*.coop"));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["domainSearchResults"].as_array().unwrap().len(), 5);
        let types: Vec<&str> = v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(types, ["result set truncated due to excessive load"]);
        let (s, v) = get("/entities", Some("handle=REG-42"));
        assert_eq!(s, 200);
        assert_eq!(v["entitySearchResults"][0]["handle"], "REG-42");
    }

    #[test]
    fn public_contacts_are_redacted() {
        let (s, v) = get("/entity/CNT-1002", None);
        assert_eq!(s, 200, "{v}");
        let card = v["vcardArray"][1].as_array().unwrap();
        assert!(card.iter().any(|p| p[0] == "fn" && p[3] == ""));
        assert!(!card.iter().any(|p| p[0] == "email"));
        let names: Vec<String> = v["redacted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].to_string())
            .collect();
        assert!(names.iter().any(|n| n.contains("Name")), "{names:?}");
    }

    #[test]
    fn decoding() {
        assert_eq!(
            decode_path("/domain/m%C3%BCnchen.coop/").unwrap(),
            ["domain", "münchen.coop"]
        );
        assert!(decode_path("/%FF").is_none());
        assert!(percent_decode("%4", false).is_none());
        assert_eq!(
            parse_query("a=b+c&d=%2A&&e").unwrap(),
            [
                ("a".into(), "b c".into()),
                ("d".into(), "*".into()),
                ("e".into(), String::new())
            ]
        );
    }
}
