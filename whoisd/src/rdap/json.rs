//! RDAP objects (RFC 9083) built from MKDB records: domains, name servers, entities with
//! jCard (RFC 7095), EPP statuses mapped to RDAP statuses (RFC 8056), events, links,
//! notices, error objects, search results, and the `redacted` member (RFC 9537).
//!
//! Records are read through [`Rec`], which never returns a private attribute (authInfo,
//! password hashes, certificates), so no path here can leak one. What a contact shows is
//! decided by the [`FieldSet`] of the asker's audience; everything held back is described
//! in `redacted`. Routing, limits and HTTP live in [`super`] and [`super::http`].

use mkdb::Generation;
use mkdb::query::RecordRef;
use mkdb::schema::ClassDef;
use serde_json::{Map, Value, json};

use super::redaction::{ContactField, FieldSet};

/// The RDAP media type (RFC 7480).
pub const MEDIA_TYPE: &str = "application/rdap+json";

/// What the responses conform to: RDAP itself and the redaction extension.
pub const CONFORMANCE: [&str; 2] = ["rdap_level_0", "redacted"];

/// What every object builder needs: the generation, where links point, and what the asker
/// may see.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The generation answering.
    pub g: &'a Generation,
    /// The service's absolute base URL, ending in `/` (`https://rdap.nic.coop/`).
    pub base: &'a str,
    /// The port-43 server named in objects (`whois.nic.coop`), if any.
    pub port43: Option<&'a str>,
    /// Contact fields shown to this asker.
    pub shown: FieldSet,
}

/// A record with its class: reads public attributes by name.
#[derive(Debug, Clone, Copy)]
pub struct Rec<'a> {
    g: &'a Generation,
    r: RecordRef,
    class: &'a ClassDef,
}

impl<'a> Rec<'a> {
    /// The record `r` of `g`.
    pub fn new(g: &'a Generation, r: RecordRef) -> Rec<'a> {
        Rec {
            g,
            r,
            class: g.class_of(r),
        }
    }

    /// The class name (`domain`, `contact`, ...).
    pub fn class(&self) -> &'a str {
        &self.class.name
    }

    /// The record reference.
    pub fn record_ref(&self) -> RecordRef {
        self.r
    }

    /// Values of the attribute `tag` (through aliases); none for a private attribute.
    pub fn all(&self, tag: &str) -> Vec<&'a str> {
        match self.class.attr_by_tag(tag) {
            Some(a) if !a.private => self.g.record(self.r).values(a.id).collect(),
            _ => Vec::new(),
        }
    }

    /// The first value of `tag`; none for a private attribute or an empty value.
    pub fn first(&self, tag: &str) -> Option<&'a str> {
        let a = self.class.attr_by_tag(tag).filter(|a| !a.private)?;
        self.g
            .record(self.r)
            .first(a.id)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// The record of class `class` whose primary key is `key`.
pub fn find<'a>(g: &'a Generation, class: &str, key: &str) -> Option<Rec<'a>> {
    let c = g.schema.class(class)?;
    g.find(c.id, key).map(|r| Rec::new(g, r))
}

/// The RDAP status (RFC 8056 section 2) of an EPP status value: `ok` is `active`,
/// `linked` is `associated`, and the rest are the camel-case words spelled out
/// (`clientTransferProhibited` is `client transfer prohibited`).
pub fn rdap_status(epp: &str) -> String {
    match epp {
        "ok" => return "active".into(),
        "linked" => return "associated".into(),
        _ => {}
    }
    let mut out = String::with_capacity(epp.len() + 4);
    for c in epp.trim().chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link object: `rel` to `base` + `path` with media type `ty`.
pub fn link(cx: &Context<'_>, rel: &str, path: &str, ty: &str) -> Value {
    let href = format!("{}{path}", cx.base);
    json!({ "value": href, "rel": rel, "href": href, "type": ty })
}

fn self_links(cx: &Context<'_>, kind: &str, key: &str, html_type: &str) -> Vec<Value> {
    let k = encode_segment(key);
    vec![
        link(cx, "self", &format!("{kind}/{k}"), MEDIA_TYPE),
        link(
            cx,
            "alternate",
            &format!("?type={html_type}&q={k}"),
            "text/html",
        ),
    ]
}

/// The A-label (lower case) and, for an IDN, the U-label of a stored domain name.
pub fn names(stored: &str) -> (String, Option<String>) {
    let ldh = stored.trim().trim_end_matches('.').to_ascii_lowercase();
    let unicode = if ldh.split('.').any(|l| l.starts_with("xn--")) {
        let (u, r) = idna::domain_to_unicode(&ldh);
        (r.is_ok() && u != ldh).then_some(u)
    } else {
        None
    };
    (ldh, unicode)
}

fn events(rec: &Rec<'_>, pairs: &[(&str, &str)]) -> Vec<Value> {
    pairs
        .iter()
        .filter_map(|(tag, action)| {
            rec.first(tag)
                .map(|d| json!({ "eventAction": action, "eventDate": d }))
        })
        .collect()
}

fn statuses(rec: &Rec<'_>, tag: &str) -> Vec<Value> {
    let mut v: Vec<Value> = Vec::new();
    for s in rec.all(tag) {
        let st = Value::String(rdap_status(s));
        if !v.contains(&st) {
            v.push(st);
        }
    }
    v
}

fn put(obj: &mut Map<String, Value>, key: &str, v: Value) {
    let empty = match &v {
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        obj.insert(key.into(), v);
    }
}

/// The registered redacted name (RFC 9537 section 6.2, as ICANN registered them) for a
/// field of a contact in `role`, else an unregistered description.
fn redacted_name(role: &str, f: ContactField) -> Value {
    let who = match role {
        "registrant" => "Registrant",
        "administrative" => "Admin",
        "technical" => "Tech",
        "billing" => "Billing",
        _ => "Contact",
    };
    let registered = match who {
        "Registrant" => !matches!(f, ContactField::StateProvince | ContactField::CountryCode),
        "Tech" => matches!(
            f,
            ContactField::Name | ContactField::Phone | ContactField::Email
        ),
        _ => false,
    };
    let name = format!("{who} {}", f.label());
    if registered {
        json!({ "type": name })
    } else {
        json!({ "description": name })
    }
}

fn redaction(role: &str, f: ContactField, path: String, empty: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), redacted_name(role, f));
    m.insert(
        if empty { "postPath" } else { "prePath" }.into(),
        Value::String(path),
    );
    m.insert("pathLang".into(), "jsonpath".into());
    m.insert(
        "method".into(),
        if empty { "emptyValue" } else { "removal" }.into(),
    );
    m.insert(
        "reason".into(),
        json!({ "description": "Server policy: personal data of contacts is not published" }),
    );
    Value::Object(m)
}

/// Adds one single-valued jCard property of a contact, or its redaction.
#[allow(clippy::too_many_arguments)]
fn single_field(
    rec: &Rec<'_>,
    shown: FieldSet,
    role: &str,
    vc: &str,
    (f, tag, prop): (ContactField, &str, &str),
    build: &dyn Fn(&str) -> Value,
    card: &mut Vec<Value>,
    redacted: &mut Vec<Value>,
) {
    let Some(v) = rec.first(tag) else {
        return;
    };
    if shown.contains(f) {
        card.push(build(v));
        return;
    }
    let filter = match f {
        ContactField::Fax => format!("{vc}[?(@[0]=='tel' && @[1].type=='fax')]"),
        ContactField::Phone => format!("{vc}[?(@[0]=='tel' && @[1].type=='voice')]"),
        _ => format!("{vc}[?(@[0]=='{prop}')]"),
    };
    redacted.push(redaction(role, f, filter, false));
}

/// A contact as an entity with `roles`. `at` is the JSONPath of this entity in the response
/// (`$` for a lookup of the entity itself); every field the context does not show is left
/// out (or, for `fn`, which jCard requires, emptied) and described in `redacted`.
pub fn contact(
    cx: &Context<'_>,
    rec: &Rec<'_>,
    roles: &[&str],
    at: &str,
    full: bool,
    redacted: &mut Vec<Value>,
) -> Value {
    let handle = rec.first("Contact-ID").unwrap_or_default();
    let role = roles.first().copied().unwrap_or("");
    let shown = cx.shown;
    let vc = format!("{at}.vcardArray[1]");
    let mut card = vec![json!(["version", {}, "text", "4.0"])];
    let name = rec.first("Name").unwrap_or_default();
    if shown.contains(ContactField::Name) {
        card.push(json!(["fn", {}, "text", name]));
    } else {
        card.push(json!(["fn", {}, "text", ""]));
        redacted.push(redaction(
            role,
            ContactField::Name,
            format!("{vc}[?(@[0]=='fn')][3]"),
            true,
        ));
    }
    let mut single = |f: ContactField, tag: &str, prop: &str, build: &dyn Fn(&str) -> Value| {
        single_field(
            rec,
            shown,
            role,
            &vc,
            (f, tag, prop),
            build,
            &mut card,
            redacted,
        );
    };
    single(ContactField::Organization, "Organization", "org", &|v| {
        json!(["org", {}, "text", v])
    });
    // The address: street lines, city, region, postal code; the country as the `cc`
    // parameter. Redacted parts are emptied in place (the structure stays valid).
    let streets = rec.all("Street");
    let parts = [
        (ContactField::Street, 2, !streets.is_empty()),
        (ContactField::City, 3, rec.first("City").is_some()),
        (
            ContactField::StateProvince,
            4,
            rec.first("State-Province").is_some(),
        ),
        (
            ContactField::PostalCode,
            5,
            rec.first("Postal-Code").is_some(),
        ),
    ];
    let cc = rec.first("Country-Code");
    let any_shown = parts.iter().any(|(f, _, has)| *has && shown.contains(*f))
        || (cc.is_some() && shown.contains(ContactField::CountryCode));
    let adr = format!("{vc}[?(@[0]=='adr')]");
    if any_shown {
        let show = |f: ContactField, v: Option<&str>| {
            Value::String(if shown.contains(f) {
                v.unwrap_or("").to_string()
            } else {
                String::new()
            })
        };
        let street = if !shown.contains(ContactField::Street) {
            Value::String(String::new())
        } else if streets.len() > 1 {
            json!(streets)
        } else {
            Value::String(streets.first().copied().unwrap_or("").to_string())
        };
        let mut params = Map::new();
        if let Some(cc) = cc.filter(|_| shown.contains(ContactField::CountryCode)) {
            params.insert("cc".into(), Value::String(cc.to_ascii_uppercase()));
        } else if cc.is_some() {
            redacted.push(redaction(
                role,
                ContactField::CountryCode,
                format!("{adr}[1].cc"),
                false,
            ));
        }
        card.push(json!([
            "adr",
            params,
            "text",
            [
                "",
                "",
                street,
                show(ContactField::City, rec.first("City")),
                show(ContactField::StateProvince, rec.first("State-Province")),
                show(ContactField::PostalCode, rec.first("Postal-Code")),
                ""
            ]
        ]));
        for (f, i, has) in parts {
            if has && !shown.contains(f) {
                redacted.push(redaction(role, f, format!("{adr}[3][{i}]"), true));
            }
        }
    } else {
        for (f, _, has) in parts {
            if has {
                redacted.push(redaction(role, f, adr.clone(), false));
            }
        }
        if cc.is_some() {
            redacted.push(redaction(role, ContactField::CountryCode, adr, false));
        }
    }
    let mut single = |f: ContactField, tag: &str, prop: &str, build: &dyn Fn(&str) -> Value| {
        single_field(
            rec,
            shown,
            role,
            &vc,
            (f, tag, prop),
            build,
            &mut card,
            redacted,
        );
    };
    single(
        ContactField::Phone,
        "Phone",
        "tel",
        &|v| json!(["tel", {"type": "voice"}, "uri", format!("tel:{v}")]),
    );
    single(
        ContactField::Fax,
        "Fax",
        "tel",
        &|v| json!(["tel", {"type": "fax"}, "uri", format!("tel:{v}")]),
    );
    single(ContactField::Email, "Email", "email", &|v| {
        json!(["email", {}, "text", v])
    });
    let mut obj = Map::new();
    obj.insert("objectClassName".into(), "entity".into());
    obj.insert("handle".into(), handle.into());
    obj.insert("vcardArray".into(), json!(["vcard", card]));
    put(&mut obj, "roles", json!(roles));
    put(
        &mut obj,
        "status",
        Value::Array(statuses(rec, "Contact-Status")),
    );
    if full {
        put(
            &mut obj,
            "events",
            Value::Array(events(
                rec,
                &[
                    ("Created-Date", "registration"),
                    ("Updated-Date", "last changed"),
                    ("Transferred-Date", "transfer"),
                ],
            )),
        );
    }
    obj.insert(
        "links".into(),
        json!(self_links(cx, "entity", handle, "contact")),
    );
    Value::Object(obj)
}

/// A registrar as an entity (its business data is public). `full` adds the address,
/// telephone, e-mail, events and its contacts (redacted as contacts are).
pub fn registrar(
    cx: &Context<'_>,
    id: &str,
    rec: Option<&Rec<'_>>,
    roles: &[&str],
    full: bool,
    redacted: &mut Vec<Value>,
) -> Value {
    let mut obj = Map::new();
    obj.insert("objectClassName".into(), "entity".into());
    obj.insert("handle".into(), id.into());
    put(&mut obj, "roles", json!(roles));
    let Some(rec) = rec else {
        return Value::Object(obj);
    };
    let mut card = vec![
        json!(["version", {}, "text", "4.0"]),
        json!(["fn", {}, "text", rec.first("Registrar-Name").unwrap_or(id)]),
    ];
    if full {
        let streets = rec.all("Street");
        let street = if streets.len() > 1 {
            json!(streets)
        } else {
            json!(streets.first().copied().unwrap_or(""))
        };
        let mut params = Map::new();
        if let Some(cc) = rec.first("Country-Code") {
            params.insert("cc".into(), Value::String(cc.to_ascii_uppercase()));
        }
        card.push(json!([
            "adr",
            params,
            "text",
            [
                "",
                "",
                street,
                rec.first("City").unwrap_or(""),
                rec.first("State-Province").unwrap_or(""),
                rec.first("Postal-Code").unwrap_or(""),
                ""
            ]
        ]));
        if let Some(v) = rec.first("Phone") {
            card.push(json!(["tel", {"type": "voice"}, "uri", format!("tel:{v}")]));
        }
        if let Some(v) = rec.first("Fax") {
            card.push(json!(["tel", {"type": "fax"}, "uri", format!("tel:{v}")]));
        }
        if let Some(v) = rec.first("Email") {
            card.push(json!(["email", {}, "text", v]));
        }
    }
    obj.insert("vcardArray".into(), json!(["vcard", card]));
    if let Some(iana) = rec.first("IANA-ID") {
        obj.insert(
            "publicIds".into(),
            json!([{ "type": "IANA Registrar ID", "identifier": iana }]),
        );
    }
    put(
        &mut obj,
        "status",
        Value::Array(statuses(rec, "Registrar-Status")),
    );
    if full {
        put(
            &mut obj,
            "events",
            Value::Array(events(
                rec,
                &[
                    ("Created-Date", "registration"),
                    ("Updated-Date", "last changed"),
                ],
            )),
        );
        let mut contacts = Vec::new();
        for (tag, role) in [
            ("Admin-Contact", "administrative"),
            ("Tech-Contact", "technical"),
            ("Billing-Contact", "billing"),
        ] {
            for handle in rec.all(tag) {
                if let Some(c) = find(cx.g, "contact", handle) {
                    let at = format!("$.entities[?(@.handle=='{handle}')]");
                    contacts.push(contact(cx, &c, &[role], &at, false, redacted));
                }
            }
        }
        put(&mut obj, "entities", Value::Array(contacts));
    }
    obj.insert(
        "links".into(),
        json!(self_links(cx, "entity", id, "registrar")),
    );
    Value::Object(obj)
}

/// A name server; `full` adds its handle, status, events and sponsoring registrar.
pub fn nameserver(cx: &Context<'_>, name: &str, rec: Option<&Rec<'_>>, full: bool) -> Value {
    let (ldh, unicode) = names(name);
    let mut obj = Map::new();
    obj.insert("objectClassName".into(), "nameserver".into());
    obj.insert("ldhName".into(), ldh.clone().into());
    if let Some(u) = unicode {
        obj.insert("unicodeName".into(), u.into());
    }
    if let Some(rec) = rec {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ip in rec.all("IP-Address") {
            match ip.trim().parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) => v4.push(a.to_string()),
                Ok(std::net::IpAddr::V6(a)) => v6.push(a.to_string()),
                Err(_) => {}
            }
        }
        if !v4.is_empty() || !v6.is_empty() {
            let mut ips = Map::new();
            put(&mut ips, "v4", json!(v4));
            put(&mut ips, "v6", json!(v6));
            obj.insert("ipAddresses".into(), Value::Object(ips));
        }
        if full {
            if let Some(h) = rec.first("Host-ID") {
                obj.insert("handle".into(), h.into());
            }
            put(
                &mut obj,
                "status",
                Value::Array(statuses(rec, "Host-Status")),
            );
            put(
                &mut obj,
                "events",
                Value::Array(events(
                    rec,
                    &[
                        ("Created-Date", "registration"),
                        ("Updated-Date", "last changed"),
                        ("Transferred-Date", "transfer"),
                    ],
                )),
            );
            if let Some(id) = rec.first("Sponsoring-Registrar") {
                let r = find(cx.g, "registrar", id);
                let mut none = Vec::new();
                obj.insert(
                    "entities".into(),
                    json!([registrar(
                        cx,
                        id,
                        r.as_ref(),
                        &["registrar"],
                        false,
                        &mut none
                    )]),
                );
            }
        }
    }
    obj.insert(
        "links".into(),
        json!(self_links(cx, "nameserver", &ldh, "nameserver")),
    );
    Value::Object(obj)
}

/// A domain. `full` (a lookup) adds its contacts as entities, each once with all its roles;
/// a search result carries the registrar but no contacts. Returns the object and the
/// number of contact records it includes (for the contact budget).
pub fn domain(cx: &Context<'_>, rec: &Rec<'_>, full: bool) -> (Value, u32) {
    let stored = rec.first("Domain-Name").unwrap_or_default();
    let (ldh, unicode) = names(stored);
    let mut obj = Map::new();
    let mut redacted = Vec::new();
    let mut contacts_shown = 0;
    obj.insert("objectClassName".into(), "domain".into());
    if let Some(h) = rec.first("Domain-ID") {
        obj.insert("handle".into(), h.into());
    }
    obj.insert("ldhName".into(), ldh.clone().into());
    if let Some(u) = unicode {
        obj.insert("unicodeName".into(), u.into());
    }
    put(
        &mut obj,
        "status",
        Value::Array(statuses(rec, "Domain-Status")),
    );
    let mut entities = Vec::new();
    if full {
        let mut by_handle: Vec<(&str, Vec<&str>)> = Vec::new();
        for (tag, role) in [
            ("Registrant-ID", "registrant"),
            ("Admin-ID", "administrative"),
            ("Tech-ID", "technical"),
            ("Billing-ID", "billing"),
        ] {
            for h in rec.all(tag) {
                let h = h.trim();
                match by_handle
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(h))
                {
                    Some((_, roles)) if !roles.contains(&role) => roles.push(role),
                    Some(_) => {}
                    None => by_handle.push((h, vec![role])),
                }
            }
        }
        for (h, roles) in &by_handle {
            if let Some(c) = find(cx.g, "contact", h) {
                let at = format!("$.entities[?(@.handle=='{h}')]");
                entities.push(contact(cx, &c, roles, &at, false, &mut redacted));
                contacts_shown += 1;
            }
        }
    }
    if let Some(id) = rec.first("Sponsoring-Registrar") {
        let r = find(cx.g, "registrar", id);
        entities.push(registrar(
            cx,
            id,
            r.as_ref(),
            &["registrar"],
            false,
            &mut redacted,
        ));
    }
    put(&mut obj, "entities", Value::Array(entities));
    let ns: Vec<Value> = rec
        .all("Name-Server")
        .into_iter()
        .map(|n| {
            let r = if full {
                find(cx.g, "nameserver", n)
            } else {
                None
            };
            nameserver(cx, n, r.as_ref(), false)
        })
        .collect();
    put(&mut obj, "nameservers", Value::Array(ns));
    put(
        &mut obj,
        "events",
        Value::Array(events(
            rec,
            &[
                ("Created-Date", "registration"),
                ("Expiry-Date", "expiration"),
                ("Updated-Date", "last changed"),
                ("Transferred-Date", "transfer"),
            ],
        )),
    );
    let mut links = self_links(cx, "domain", &ldh, "domain");
    if let Some(id) = rec.first("Sponsoring-Registrar") {
        links.push(link(
            cx,
            "related",
            &format!("entity/{}", encode_segment(id)),
            MEDIA_TYPE,
        ));
    }
    obj.insert("links".into(), Value::Array(links));
    if let Some(p) = cx.port43 {
        obj.insert("port43".into(), p.into());
    }
    put(&mut obj, "redacted", Value::Array(redacted));
    (Value::Object(obj), contacts_shown)
}

/// A contact or registrar looked up by handle, with its `redacted` member.
pub fn entity(cx: &Context<'_>, rec: &Rec<'_>, full: bool) -> Value {
    let mut redacted = Vec::new();
    let mut v = if rec.class() == "registrar" {
        let id = rec.first("Registrar-ID").unwrap_or_default();
        registrar(cx, id, Some(rec), &["registrar"], full, &mut redacted)
    } else {
        contact(cx, rec, &[], "$", full, &mut redacted)
    };
    if let Value::Object(o) = &mut v {
        if let Some(p) = cx.port43 {
            o.insert("port43".into(), p.into());
        }
        put(o, "redacted", Value::Array(redacted));
    }
    v
}

/// The notices of every response: terms of use (linking to `/help`) and, for redacted
/// answers, the redaction policy.
pub fn notices(cx: &Context<'_>) -> Vec<Value> {
    vec![json!({
        "title": "Terms of Use",
        "description": [
            "The data below is provided for information about .coop domain registrations only.",
            "Automated bulk queries and use for unsolicited advertising are not permitted.",
            "Personal data of contacts is redacted for the public (RFC 9537); see the redacted member.",
            "Queries are rate limited per network, with the same limits as whois on port 43."
        ],
        "links": [link(cx, "help", "help", MEDIA_TYPE)]
    })]
}

/// Wraps a top-level object: `rdapConformance`, `notices` (plus `extra`), and the event
/// "last update of RDAP database" for objects with events.
pub fn response(cx: &Context<'_>, body: Value, extra: Vec<Value>) -> Value {
    let mut obj = match body {
        Value::Object(o) => o,
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    obj.insert("rdapConformance".into(), json!(CONFORMANCE));
    let mut n = notices(cx);
    n.extend(extra);
    obj.insert("notices".into(), Value::Array(n));
    if let Some(Value::Array(ev)) = obj.get_mut("events") {
        ev.push(database_update(cx));
    } else if obj.contains_key("objectClassName") {
        obj.insert("events".into(), json!([database_update(cx)]));
    }
    Value::Object(obj)
}

fn database_update(cx: &Context<'_>) -> Value {
    json!({ "eventAction": "last update of RDAP database", "eventDate": cx.g.created })
}

/// A search answer: `results_member` (`domainSearchResults`, ...) with the objects, and a
/// notice when the result set was cut at the cap (RFC 9083 section 10.2.1's type
/// "result set truncated due to excessive load").
pub fn search(
    cx: &Context<'_>,
    results_member: &str,
    objects: Vec<Value>,
    truncated: Option<usize>,
) -> Value {
    let mut obj = Map::new();
    obj.insert(results_member.into(), Value::Array(objects));
    let mut extra = Vec::new();
    if let Some(cap) = truncated {
        extra.push(json!({
            "title": "Search results truncated",
            "type": "result set truncated due to excessive load",
            "description": [format!(
                "This server returns at most {cap} results per search; more records match. Narrow the search pattern."
            )]
        }));
    }
    response(cx, Value::Object(obj), extra)
}

/// An RDAP error object (RFC 9083 section 6).
pub fn error(cx: &Context<'_>, code: u16, title: &str, description: &[&str]) -> Value {
    let mut obj = Map::new();
    obj.insert("errorCode".into(), code.into());
    obj.insert("title".into(), title.into());
    obj.insert("description".into(), json!(description));
    response(cx, Value::Object(obj), Vec::new())
}

/// The help answer (RFC 9083 section 7): the queries this server answers.
pub fn help(cx: &Context<'_>) -> Value {
    let extra = vec![json!({
        "title": "Queries",
        "description": [
            "domain/NAME (A-label or U-label), nameserver/NAME, entity/HANDLE (contacts and registrars)",
            "domains?name=PATTERN, domains?nsLdhName=PATTERN, domains?nsIp=ADDRESS",
            "nameservers?name=PATTERN, nameservers?ip=ADDRESS",
            "entities?fn=PATTERN, entities?handle=PATTERN",
            "A PATTERN may start and/or end with '*' (prefix, suffix, substring)."
        ]
    })];
    response(cx, Value::Object(Map::new()), extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epp_statuses_map_to_rfc8056() {
        assert_eq!(rdap_status("ok"), "active");
        assert_eq!(rdap_status("linked"), "associated");
        assert_eq!(
            rdap_status("clientTransferProhibited"),
            "client transfer prohibited"
        );
        assert_eq!(rdap_status("serverHold"), "server hold");
        assert_eq!(rdap_status("pendingDelete"), "pending delete");
        assert_eq!(rdap_status("inactive"), "inactive");
    }

    #[test]
    fn names_give_a_and_u_labels() {
        assert_eq!(names("Test.COOP."), ("test.coop".to_string(), None));
        let (a, u) = names("xn--mnchen-3ya.coop");
        assert_eq!(a, "xn--mnchen-3ya.coop");
        assert_eq!(u.as_deref(), Some("münchen.coop"));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("REG-42"), "REG-42");
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }

    #[test]
    fn registered_redacted_names() {
        assert_eq!(
            redacted_name("registrant", ContactField::Email),
            json!({"type": "Registrant Email"})
        );
        assert_eq!(
            redacted_name("technical", ContactField::Name),
            json!({"type": "Tech Name"})
        );
        assert_eq!(
            redacted_name("billing", ContactField::Name),
            json!({"description": "Billing Name"})
        );
    }
}
