//! The registry's objects in memory (domains, contacts, hosts, registrars) and their MKDB
//! records: how each object is written as the full record text of its class
//! (`mkdb/schemas/{domain,contact,nameserver,registrar}.schema`) and read back from a
//! generation or a change file. Business rules are [`crate::core`]'s; durability is
//! [`crate::writer`]'s.
//!
//! Each object remembers the [`Version`] of the record the database holds for it (`base`),
//! the `Base-Version` of the next change that replaces it, and the attributes eppd does
//! not model (`extra`, e.g. `Registrar-Remark`), which it writes back unchanged.
//!
//! Statuses: objects keep only the statuses set explicitly (`client*`, `server*`,
//! `pending*`); `ok`, `linked` and `inactive` are computed when shown or written, and so is
//! the `serverHold` of a domain whose registrant is not verified (see [`crate::core`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use mkdb::change::{Action, Change, ChangeFile, Version, canonical, version_of};
use mkdb::record::{self, SyntaxError};
use mkdb::{Generation, RecordRef};

use crate::command::{Address, ContactType, Phone, Status, VerificationState};
use crate::response::Timestamp;

/// Record class names.
pub const DOMAIN: &str = "domain";
/// Contact class.
pub const CONTACT: &str = "contact";
/// Host class (EPP host = MKDB nameserver).
pub const HOST: &str = "nameserver";
/// Registrar class.
pub const REGISTRAR: &str = "registrar";

/// A domain object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Domain {
    /// Lower-case name (the key).
    pub name: String,
    /// ROID.
    pub roid: String,
    /// Sponsoring registrar.
    pub cl_id: String,
    /// Explicit statuses.
    pub statuses: BTreeSet<Status>,
    /// Registrant contact id.
    pub registrant: String,
    /// Contacts by role.
    pub contacts: BTreeSet<(ContactType, String)>,
    /// Name servers (host names).
    pub ns: Vec<String>,
    /// Creating registrar.
    pub cr_id: Option<String>,
    /// Last updating registrar.
    pub up_id: Option<String>,
    /// Registrar that gained it at the last transfer.
    pub tr_id: Option<String>,
    /// Created.
    pub cr_date: Timestamp,
    /// Expiry.
    pub ex_date: Timestamp,
    /// Updated.
    pub up_date: Option<Timestamp>,
    /// Last transfer.
    pub tr_date: Option<Timestamp>,
    /// authInfo password.
    pub auth: Option<String>,
    /// Unmodelled attributes, written back as read.
    pub extra: Vec<(String, String)>,
    /// Version of the record in the database (`None`: not there yet).
    pub base: Option<Version>,
}

/// A contact object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Id (the key, as given).
    pub id: String,
    /// ROID.
    pub roid: String,
    /// Sponsoring registrar.
    pub cl_id: String,
    /// Explicit statuses.
    pub statuses: BTreeSet<Status>,
    /// Name.
    pub name: String,
    /// Organisation.
    pub org: Option<String>,
    /// Address.
    pub addr: Address,
    /// Voice.
    pub voice: Option<Phone>,
    /// Fax.
    pub fax: Option<Phone>,
    /// E-mail.
    pub email: String,
    /// .coop: verification state (`Some`: the contact is a registrant).
    pub state: Option<VerificationState>,
    /// .coop: sponsor contact ids.
    pub sponsors: Vec<String>,
    /// .coop: preferred language.
    pub lang_pref: Option<String>,
    /// .coop: mailing list opt-in.
    pub mailing_list_pref: Option<bool>,
    /// .coop: ENS identity.
    pub ens_identity: Option<String>,
    /// Creating registrar.
    pub cr_id: Option<String>,
    /// Last updating registrar.
    pub up_id: Option<String>,
    /// Created.
    pub cr_date: Timestamp,
    /// Updated.
    pub up_date: Option<Timestamp>,
    /// Last transfer.
    pub tr_date: Option<Timestamp>,
    /// authInfo password.
    pub auth: Option<String>,
    /// Unmodelled attributes.
    pub extra: Vec<(String, String)>,
    /// Version in the database.
    pub base: Option<Version>,
}

/// A host object (class `nameserver`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Host {
    /// Lower-case name (the key).
    pub name: String,
    /// ROID.
    pub roid: String,
    /// Sponsoring registrar.
    pub cl_id: String,
    /// Explicit statuses.
    pub statuses: BTreeSet<Status>,
    /// Addresses.
    pub addrs: Vec<IpAddr>,
    /// Creating registrar.
    pub cr_id: Option<String>,
    /// Last updating registrar.
    pub up_id: Option<String>,
    /// Created.
    pub cr_date: Timestamp,
    /// Updated.
    pub up_date: Option<Timestamp>,
    /// Last transfer.
    pub tr_date: Option<Timestamp>,
    /// Unmodelled attributes.
    pub extra: Vec<(String, String)>,
    /// Version in the database.
    pub base: Option<Version>,
}

/// A registrar (operator-provisioned; eppd only changes its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registrar {
    /// Client id (the key).
    pub id: String,
    /// `ok`, `readonly` or `terminated`.
    pub status: String,
    /// `EPP-Password-Hash` (argon2id PHC).
    pub password_hash: Option<String>,
    /// `EPP-Certificate`: SHA-256 fingerprints (lower-case hex) of its client certificates.
    pub certificates: Vec<String>,
    /// Contacts it refers to (they count as linked).
    pub contacts: Vec<String>,
    /// The whole record, in order.
    pub fields: Vec<(String, String)>,
    /// Version in the database.
    pub base: Option<Version>,
}

// ---------------------------------------------------------------------------------------
// Dates

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `t` plus `months` calendar months (the day clamped to the month's length).
pub fn add_months(t: Timestamp, months: u32) -> Timestamp {
    let days = t.0.div_euclid(86_400);
    let secs = t.0.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + i64::from(m - 1) + i64::from(months);
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let nd = d.min(days_in_month(ny, nm));
    Timestamp(days_from_civil(ny, nm, nd) * 86_400 + secs)
}

/// The calendar date (UTC) of `t`.
pub fn date_of(t: Timestamp) -> (i64, u32, u32) {
    civil_from_days(t.0.div_euclid(86_400))
}

/// RFC 3339 UTC text of `t` (`2026-11-23T06:00:00Z`), as records store dates.
pub fn rfc3339(t: Timestamp) -> String {
    let (y, m, d) = date_of(t);
    let s = t.0.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.frac]Z` (or a bare date).
pub fn parse_rfc3339(v: &str) -> Option<Timestamp> {
    let n = |r: std::ops::Range<usize>| v.get(r).and_then(|s| s.parse::<u32>().ok());
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let (hh, mm, ss) = if v.len() >= 19 {
        (n(11..13)?, n(14..16)?, n(17..19)?)
    } else {
        (0, 0, 0)
    };
    let days = days_from_civil(i64::from(y), m, d);
    Some(Timestamp(
        days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss),
    ))
}

// ---------------------------------------------------------------------------------------
// Records

/// Record text values are single trimmed lines: control characters become spaces.
fn clean(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.trim().to_string()
}

/// Builds canonical record text.
#[derive(Default)]
struct Rec(String);

impl Rec {
    fn put(&mut self, tag: &str, v: &str) {
        let v = clean(v);
        if !v.is_empty() {
            let _ = writeln!(self.0, "{tag}: {v}");
        }
    }
    fn opt(&mut self, tag: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.put(tag, v);
        }
    }
    fn date(&mut self, tag: &str, t: Option<Timestamp>) {
        if let Some(t) = t {
            self.put(tag, &rfc3339(t));
        }
    }
    fn extra(&mut self, extra: &[(String, String)]) {
        for (t, v) in extra {
            self.put(t, v);
        }
    }
}

fn phone_text(p: &Phone) -> String {
    match &p.ext {
        Some(x) => format!("{}x{x}", p.number),
        None => p.number.clone(),
    }
}

fn parse_phone(v: &str) -> Phone {
    match v.split_once('x') {
        Some((n, x)) => Phone {
            number: n.to_string(),
            ext: Some(x.to_string()),
        },
        None => Phone {
            number: v.to_string(),
            ext: None,
        },
    }
}

/// The statuses written for an object: the explicit ones, or `ok` (plus `linked`).
pub fn shown_statuses(explicit: &BTreeSet<Status>, extra: &[Status]) -> Vec<Status> {
    let mut v: Vec<Status> = explicit
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect();
    v.sort();
    v.dedup();
    if !v
        .iter()
        .any(|s| !matches!(s, Status::Linked | Status::Inactive))
        && !v.contains(&Status::Inactive)
    {
        v.insert(0, Status::Ok);
    }
    v
}

impl Domain {
    /// The record text; `extra_statuses` are the computed ones (`serverHold` of an
    /// unverified registrant).
    pub fn to_record(&self, extra_statuses: &[Status]) -> String {
        let mut r = Rec::default();
        r.put("Domain-ID", &self.roid);
        r.put("Domain-Name", &self.name);
        r.put("Sponsoring-Registrar", &self.cl_id);
        for s in shown_statuses(&self.statuses, extra_statuses) {
            if s != Status::Inactive {
                r.put("Domain-Status", s.as_str());
            }
        }
        r.put("Registrant-ID", &self.registrant);
        for (kind, id) in &self.contacts {
            let tag = match kind {
                ContactType::Admin => "Admin-ID",
                ContactType::Tech => "Tech-ID",
                ContactType::Billing => "Billing-ID",
            };
            r.put(tag, id);
        }
        for ns in &self.ns {
            r.put("Name-Server", ns);
        }
        r.opt("Created-By", self.cr_id.as_deref());
        r.opt("Updated-By", self.up_id.as_deref());
        r.opt("Transferred-By", self.tr_id.as_deref());
        r.extra(&self.extra);
        r.date("Created-Date", Some(self.cr_date));
        r.date("Expiry-Date", Some(self.ex_date));
        r.date("Updated-Date", self.up_date);
        r.date("Transferred-Date", self.tr_date);
        r.opt("Auth-Info", self.auth.as_deref());
        r.0
    }

    fn from_fields(f: &[(String, String)]) -> Domain {
        let mut d = Domain::default();
        for (tag, v) in f {
            let v = v.clone();
            match tag.to_ascii_lowercase().as_str() {
                "domain-id" | "roid" => d.roid = v,
                "domain-name" | "name" | "dn" => d.name = v.to_ascii_lowercase(),
                "sponsoring-registrar" => d.cl_id = v,
                "domain-status" | "status" => {
                    if let Some(s) = Status::parse(&v)
                        && !matches!(s, Status::Ok | Status::Inactive | Status::Linked)
                    {
                        d.statuses.insert(s);
                    }
                }
                "registrant-id" | "registrant" => d.registrant = v,
                "admin-id" | "admin-contact" => {
                    d.contacts.insert((ContactType::Admin, v));
                }
                "tech-id" | "tech-contact" => {
                    d.contacts.insert((ContactType::Tech, v));
                }
                "billing-id" | "billing-contact" => {
                    d.contacts.insert((ContactType::Billing, v));
                }
                "name-server" | "ns" | "nserver" => d.ns.push(v.to_ascii_lowercase()),
                "created-by" => d.cr_id = Some(v),
                "updated-by" => d.up_id = Some(v),
                "transferred-by" => d.tr_id = Some(v),
                "created-date" | "created" => d.cr_date = parse_rfc3339(&v).unwrap_or(d.cr_date),
                "expiry-date" | "expires" => d.ex_date = parse_rfc3339(&v).unwrap_or(d.ex_date),
                "updated-date" | "updated" => d.up_date = parse_rfc3339(&v),
                "transferred-date" => d.tr_date = parse_rfc3339(&v),
                "auth-info" | "authinfo" => d.auth = Some(v),
                _ => d.extra.push((tag.clone(), v)),
            }
        }
        d
    }
}

impl Contact {
    /// The record text.
    pub fn to_record(&self) -> String {
        let mut r = Rec::default();
        r.put("Contact-ID", &self.id);
        r.put("Contact-ROID", &self.roid);
        r.put("Name", &self.name);
        r.opt("Organization", self.org.as_deref());
        for s in &self.addr.street {
            r.put("Street", s);
        }
        r.put("City", &self.addr.city);
        r.opt("State-Province", self.addr.sp.as_deref());
        r.put("Country-Code", &self.addr.cc);
        r.opt("Postal-Code", self.addr.pc.as_deref());
        r.opt("Phone", self.voice.as_ref().map(phone_text).as_deref());
        r.opt("Fax", self.fax.as_ref().map(phone_text).as_deref());
        r.put("Email", &self.email);
        for s in shown_statuses(&self.statuses, &[]) {
            r.put("Contact-Status", s.as_str());
        }
        r.opt("ENS-Identity", self.ens_identity.as_deref());
        r.opt(
            "Verification-State",
            self.state.map(VerificationState::as_str),
        );
        for s in &self.sponsors {
            r.put("Sponsor", s);
        }
        r.opt("Lang-Pref", self.lang_pref.as_deref());
        r.opt(
            "Mailing-List-Pref",
            self.mailing_list_pref
                .map(|b| if b { "true" } else { "false" }),
        );
        r.put("Sponsoring-Registrar", &self.cl_id);
        r.opt("Created-By", self.cr_id.as_deref());
        r.opt("Updated-By", self.up_id.as_deref());
        r.extra(&self.extra);
        r.date("Created-Date", Some(self.cr_date));
        r.date("Updated-Date", self.up_date);
        r.date("Transferred-Date", self.tr_date);
        r.opt("Auth-Info", self.auth.as_deref());
        r.0
    }

    fn from_fields(f: &[(String, String)]) -> Contact {
        let mut c = Contact::default();
        for (tag, v) in f {
            let v = v.clone();
            match tag.to_ascii_lowercase().as_str() {
                "contact-id" | "id" | "handle" => c.id = v,
                "contact-roid" => c.roid = v,
                "name" | "contact-name" => c.name = v,
                "organization" | "org" | "organisation" => c.org = Some(v),
                "street" | "address" => c.addr.street.push(v),
                "city" => c.addr.city = v,
                "state-province" | "state" | "province" | "county" => c.addr.sp = Some(v),
                "country-code" | "country" => c.addr.cc = v,
                "postal-code" | "postcode" | "zip" => c.addr.pc = Some(v),
                "phone" | "voice" => c.voice = Some(parse_phone(&v)),
                "fax" => c.fax = Some(parse_phone(&v)),
                "email" | "e-mail" => c.email = v,
                "contact-status" | "status" => {
                    if let Some(s) = Status::parse(&v)
                        && !matches!(s, Status::Ok | Status::Linked)
                    {
                        c.statuses.insert(s);
                    }
                }
                "ens-identity" | "ens" => c.ens_identity = Some(v),
                "verification-state" => c.state = VerificationState::parse(&v),
                "sponsor" => c.sponsors.push(v),
                "lang-pref" => c.lang_pref = Some(v),
                "mailing-list-pref" => c.mailing_list_pref = Some(v == "true"),
                "sponsoring-registrar" => c.cl_id = v,
                "created-by" => c.cr_id = Some(v),
                "updated-by" => c.up_id = Some(v),
                "created-date" | "created" => c.cr_date = parse_rfc3339(&v).unwrap_or(c.cr_date),
                "updated-date" | "updated" => c.up_date = parse_rfc3339(&v),
                "transferred-date" => c.tr_date = parse_rfc3339(&v),
                "auth-info" | "authinfo" => c.auth = Some(v),
                _ => c.extra.push((tag.clone(), v)),
            }
        }
        c
    }
}

impl Host {
    /// The record text; `linked` adds the computed status.
    pub fn to_record(&self) -> String {
        let mut r = Rec::default();
        r.put("Host-ID", &self.roid);
        r.put("Host-Name", &self.name);
        for s in shown_statuses(&self.statuses, &[]) {
            r.put("Host-Status", s.as_str());
        }
        for a in &self.addrs {
            r.put("IP-Address", &a.to_string());
        }
        r.put("Sponsoring-Registrar", &self.cl_id);
        r.opt("Created-By", self.cr_id.as_deref());
        r.opt("Updated-By", self.up_id.as_deref());
        r.extra(&self.extra);
        r.date("Created-Date", Some(self.cr_date));
        r.date("Updated-Date", self.up_date);
        r.date("Transferred-Date", self.tr_date);
        r.0
    }

    fn from_fields(f: &[(String, String)]) -> Host {
        let mut h = Host::default();
        for (tag, v) in f {
            let v = v.clone();
            match tag.to_ascii_lowercase().as_str() {
                "host-id" | "roid" => h.roid = v,
                "host-name" | "name" | "nameserver-name" => h.name = v.to_ascii_lowercase(),
                "host-status" | "status" => {
                    if let Some(s) = Status::parse(&v)
                        && !matches!(s, Status::Ok | Status::Linked)
                    {
                        h.statuses.insert(s);
                    }
                }
                "ip-address" | "address" | "ip" => {
                    if let Ok(a) = v.parse() {
                        h.addrs.push(a);
                    }
                }
                "sponsoring-registrar" => h.cl_id = v,
                "created-by" => h.cr_id = Some(v),
                "updated-by" => h.up_id = Some(v),
                "created-date" | "created" => h.cr_date = parse_rfc3339(&v).unwrap_or(h.cr_date),
                "updated-date" | "updated" => h.up_date = parse_rfc3339(&v),
                "transferred-date" => h.tr_date = parse_rfc3339(&v),
                _ => h.extra.push((tag.clone(), v)),
            }
        }
        h
    }
}

impl Registrar {
    /// The record text: the fields as read, the password hash replaced.
    pub fn to_record(&self) -> String {
        let mut r = Rec::default();
        let mut wrote_hash = false;
        for (t, v) in &self.fields {
            if t.eq_ignore_ascii_case("EPP-Password-Hash") {
                if !wrote_hash {
                    r.opt("EPP-Password-Hash", self.password_hash.as_deref());
                    wrote_hash = true;
                }
            } else {
                r.put(t, v);
            }
        }
        if !wrote_hash {
            r.opt("EPP-Password-Hash", self.password_hash.as_deref());
        }
        r.0
    }

    fn from_fields(f: &[(String, String)]) -> Registrar {
        let mut r = Registrar {
            fields: f.to_vec(),
            ..Registrar::default()
        };
        for (tag, v) in f {
            match tag.to_ascii_lowercase().as_str() {
                "registrar-id" | "id" => r.id = v.clone(),
                "registrar-status" | "status" => r.status = v.clone(),
                "epp-password-hash" => r.password_hash = Some(v.clone()),
                "epp-certificate" => r.certificates.push(v.to_ascii_lowercase()),
                "admin-contact" | "tech-contact" | "billing-contact" => {
                    r.contacts.push(v.clone());
                }
                _ => {}
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------------------
// Loading

/// The objects read from the database and the spool.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Domains by name.
    pub domains: BTreeMap<String, Domain>,
    /// Contacts by id.
    pub contacts: BTreeMap<String, Contact>,
    /// Hosts by name.
    pub hosts: BTreeMap<String, Host>,
    /// Registrars by id.
    pub registrars: BTreeMap<String, Registrar>,
    /// The last change file included (generation `applied`, then the spool's).
    pub last_sequence: u64,
    /// The generation's class schemas (`None`: not loaded from a generation, tests):
    /// foreign change files are validated against them as the loader does.
    pub schema: Option<mkdb::schema::Schema>,
}

impl Loaded {
    /// Puts a record of `class` (its fields), with the version of its canonical text.
    pub fn put_fields(&mut self, class: &str, fields: &[(String, String)], v: Version) {
        match class {
            DOMAIN => {
                let mut d = Domain::from_fields(fields);
                d.base = Some(v);
                self.domains.insert(d.name.clone(), d);
            }
            CONTACT => {
                let mut c = Contact::from_fields(fields);
                c.base = Some(v);
                self.contacts.insert(c.id.clone(), c);
            }
            HOST => {
                let mut h = Host::from_fields(fields);
                h.base = Some(v);
                self.hosts.insert(h.name.clone(), h);
            }
            REGISTRAR => {
                let mut r = Registrar::from_fields(fields);
                r.base = Some(v);
                self.registrars.insert(r.id.clone(), r);
            }
            _ => {}
        }
    }

    /// Removes `key` of `class`.
    pub fn delete(&mut self, class: &str, key: &str) {
        match class {
            DOMAIN => {
                self.domains.remove(&key.to_ascii_lowercase());
            }
            CONTACT => {
                self.contacts.remove(key);
            }
            HOST => {
                self.hosts.remove(&key.to_ascii_lowercase());
            }
            REGISTRAR => {
                self.registrars.remove(key);
            }
            _ => {}
        }
    }

    /// Reads every live record of the four classes of `g`.
    pub fn from_generation(g: &Generation) -> Loaded {
        let mut l = Loaded {
            last_sequence: g.applied,
            schema: Some(g.schema.clone()),
            ..Loaded::default()
        };
        for class in [DOMAIN, CONTACT, HOST, REGISTRAR] {
            let Some(c) = g.schema.class(class) else {
                continue;
            };
            for &s in &g.by_class[usize::from(c.id)] {
                for rec in 0..g.segments[s as usize].record_count() {
                    let r = RecordRef { seg: s, rec };
                    if !g.is_live(r) {
                        continue;
                    }
                    let text = g.record(r).text();
                    let _ = record::for_each_record(text, |raw| {
                        let fields: Vec<(String, String)> = raw
                            .fields
                            .iter()
                            .map(|f| (f.tag.to_string(), f.value.to_string()))
                            .collect();
                        l.put_fields(class, &fields, version_of(&canonical(raw)));
                        Ok::<_, SyntaxError>(())
                    });
                }
            }
        }
        l
    }

    /// Applies a change file on top (the spool's files after the generation's `applied`).
    pub fn apply_file(&mut self, f: &ChangeFile) {
        for c in &f.changes {
            self.apply_change(c);
        }
        self.last_sequence = self.last_sequence.max(f.sequence);
    }

    /// Applies one change (a put's record parsed into its object, with its version).
    pub fn apply_change(&mut self, c: &Change) {
        match c.action {
            Action::Delete => self.delete(&c.class, &c.key),
            Action::Put => {
                let _ = record::for_each_record(&c.record, |raw| {
                    let fields: Vec<(String, String)> = raw
                        .fields
                        .iter()
                        .map(|f| (f.tag.to_string(), f.value.to_string()))
                        .collect();
                    self.put_fields(&c.class, &fields, version_of(&canonical(raw)));
                    Ok::<_, SyntaxError>(())
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_months_clamp() {
        let t = parse_rfc3339("2024-01-31T10:20:30Z").unwrap();
        assert_eq!(rfc3339(t), "2024-01-31T10:20:30Z");
        assert_eq!(rfc3339(add_months(t, 1)), "2024-02-29T10:20:30Z");
        assert_eq!(rfc3339(add_months(t, 12)), "2025-01-31T10:20:30Z");
        assert_eq!(
            rfc3339(parse_rfc3339("2000-06-08T22:00:00.0Z").unwrap()),
            "2000-06-08T22:00:00Z"
        );
        assert!(parse_rfc3339("garbage").is_none());
        assert_eq!(Timestamp(0).to_xsd(), "1970-01-01T00:00:00.0Z");
    }

    #[test]
    fn records_round_trip_with_versions_and_extras() {
        let mut d = Domain {
            name: "example.coop".into(),
            roid: "D1-COOP".into(),
            cl_id: "ClientX".into(),
            registrant: "reg-1".into(),
            ns: vec!["ns1.example.coop".into()],
            cr_date: Timestamp(86_400),
            ex_date: Timestamp(2 * 86_400),
            auth: Some("pw\nwith newline".into()),
            extra: vec![("Registrar-Remark".into(), "hello".into())],
            ..Domain::default()
        };
        d.contacts.insert((ContactType::Tech, "t-1".into()));
        d.statuses.insert(Status::ClientHold);
        let text = d.to_record(&[Status::ServerHold]);
        assert!(text.contains("Domain-Status: clientHold\nDomain-Status: serverHold\n"));
        assert!(text.contains("Auth-Info: pw with newline\n"));
        let mut l = Loaded::default();
        let fields: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let (t, v) = l.split_once(": ").unwrap();
                (t.to_string(), v.to_string())
            })
            .collect();
        l.put_fields(DOMAIN, &fields, version_of(&text));
        let back = &l.domains["example.coop"];
        assert_eq!(back.to_record(&[]), text);
        assert_eq!(back.extra, d.extra);
        assert_eq!(back.base, Some(version_of(&text)));
        let empty = Domain::default().to_record(&[]);
        assert!(empty.contains("Domain-Status: ok\n"));
    }
}
