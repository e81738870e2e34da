//! What the server sends: the greeting and typed responses ([`Reply`] from the session or
//! the registry core, completed with the transaction ids into a [`Response`]), and their
//! XML. Every message written here validates against the RFC schemas
//! (`eppd/xsd/ietf/epp-all.xsd`) and, with the .coop extension, against
//! `eppd/xsd/contactCoopExt-1.0.xsd` (the tests run xmllint on each kind).
//!
//! Reading requests is [`crate::xml`]; result codes and errors are [`crate::result`].

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::command::{
    CONTACT_NS, COOP_NS, ContactType, DOMAIN_NS, Disclose, EPP_NS, HOST_NS, NameServer, Phone,
    PostalInfo, StatusEntry, VerificationState,
};
use crate::result::{EppError, ResultCode};

/// A moment in UTC, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now, from the system clock.
    pub fn now() -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// XSD `dateTime` in UTC: `2000-06-08T22:00:00.0Z`.
    pub fn to_xsd(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.0Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Howard Hinnant's days-to-civil: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

/// The data collection policy of the greeting (RFC 5730 section 2.4). Values are the
/// schema's element names (`access`: all, none, null, other, personal, personalAndOther;
/// `purpose`: admin, contact, other, prov; `recipient`: other, ours, public, same,
/// unrelated; `retention`: business, indefinite, legal, none, stated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dcp {
    /// `<access>`.
    pub access: &'static str,
    /// `<statement>`s.
    pub statements: Vec<DcpStatement>,
}

/// One `<statement>` of the DCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcpStatement {
    /// `<purpose>` children.
    pub purposes: Vec<&'static str>,
    /// `<recipient>` children.
    pub recipients: Vec<&'static str>,
    /// `<retention>` child.
    pub retention: &'static str,
}

impl Default for Dcp {
    /// A thick registry's policy: all data collected, for administration and provisioning,
    /// kept by the registry and published (whois), for a stated period.
    fn default() -> Dcp {
        Dcp {
            access: "all",
            statements: vec![DcpStatement {
                purposes: vec!["admin", "prov"],
                recipients: vec!["ours", "public"],
                retention: "stated",
            }],
        }
    }
}

/// `<greeting>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// `<svID>` (3 to 64 characters).
    pub sv_id: String,
    /// `<svDate>`.
    pub sv_date: Timestamp,
    /// `<lang>`s offered (`en` first).
    pub langs: Vec<String>,
    /// `<objURI>`s.
    pub obj_uris: Vec<String>,
    /// `<extURI>`s (the .coop extension among them).
    pub ext_uris: Vec<String>,
    /// Data collection policy.
    pub dcp: Dcp,
}

/// `<msgQ>`: the state of the client's message queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgQ {
    /// Messages queued.
    pub count: u64,
    /// Id of the message returned (or acknowledged).
    pub id: String,
    /// When the message was queued (poll req).
    pub q_date: Option<Timestamp>,
    /// Its text (poll req).
    pub msg: Option<String>,
}

/// One name of a check answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The name or id checked.
    pub name: String,
    /// Can it be provisioned?
    pub avail: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// `trStatus` values.
#[allow(missing_docs)] // The schema's enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    ClientApproved,
    ClientCancelled,
    ClientRejected,
    Pending,
    ServerApproved,
    ServerCancelled,
}

impl TransferStatus {
    /// The XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::ClientApproved => "clientApproved",
            TransferStatus::ClientCancelled => "clientCancelled",
            TransferStatus::ClientRejected => "clientRejected",
            TransferStatus::Pending => "pending",
            TransferStatus::ServerApproved => "serverApproved",
            TransferStatus::ServerCancelled => "serverCancelled",
        }
    }
}

/// `trnData` of a domain or contact transfer (also used in poll messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferData {
    /// The domain name or contact id.
    pub name: String,
    /// Transfer status.
    pub status: TransferStatus,
    /// Requesting registrar.
    pub re_id: String,
    /// When requested.
    pub re_date: Timestamp,
    /// Registrar to act (the losing one).
    pub ac_id: String,
    /// When it must act by, or when it acted.
    pub ac_date: Timestamp,
    /// New expiry date, for domains whose transfer extends it.
    pub ex_date: Option<Timestamp>,
}

/// The bookkeeping every object info shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectDates {
    /// Sponsoring registrar.
    pub cl_id: String,
    /// Creating registrar.
    pub cr_id: Option<String>,
    /// Created.
    pub cr_date: Option<Timestamp>,
    /// Last updating registrar.
    pub up_id: Option<String>,
    /// Last updated.
    pub up_date: Option<Timestamp>,
    /// Last transferred.
    pub tr_date: Option<Timestamp>,
}

/// `<domain:infData>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfoData {
    /// Name.
    pub name: String,
    /// Repository object id.
    pub roid: String,
    /// Statuses (at least one: `ok` when nothing else).
    pub statuses: Vec<StatusEntry>,
    /// Registrant.
    pub registrant: Option<String>,
    /// Contacts.
    pub contacts: Vec<(ContactType, String)>,
    /// Name servers.
    pub ns: Vec<NameServer>,
    /// Subordinate hosts.
    pub hosts: Vec<String>,
    /// Sponsor and dates.
    pub dates: ObjectDates,
    /// Expiry.
    pub ex_date: Option<Timestamp>,
    /// authInfo (for the sponsor or a client that proved it).
    pub auth_info: Option<String>,
}

/// `<contact:infData>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactInfoData {
    /// Id.
    pub id: String,
    /// Repository object id.
    pub roid: String,
    /// Statuses.
    pub statuses: Vec<StatusEntry>,
    /// One or two postal infos.
    pub postal_info: Vec<PostalInfo>,
    /// Voice.
    pub voice: Option<Phone>,
    /// Fax.
    pub fax: Option<Phone>,
    /// E-mail.
    pub email: String,
    /// Sponsor and dates (`cr_id` and `cr_date` are required here; absent ones are
    /// written as the sponsor and the epoch).
    pub dates: ObjectDates,
    /// authInfo.
    pub auth_info: Option<String>,
    /// Disclosure preferences.
    pub disclose: Option<Disclose>,
}

/// `<host:infData>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfoData {
    /// Name.
    pub name: String,
    /// Repository object id.
    pub roid: String,
    /// Statuses.
    pub statuses: Vec<StatusEntry>,
    /// Addresses.
    pub addrs: Vec<IpAddr>,
    /// Sponsor and dates (`cr_id` and `cr_date` required, as for contacts).
    pub dates: ObjectDates,
}

/// `<resData>` contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResData {
    /// `<domain:chkData>`.
    DomainCheck(Vec<CheckResult>),
    /// `<contact:chkData>`.
    ContactCheck(Vec<CheckResult>),
    /// `<host:chkData>`.
    HostCheck(Vec<CheckResult>),
    /// `<domain:infData>`.
    DomainInfo(DomainInfoData),
    /// `<contact:infData>`.
    ContactInfo(ContactInfoData),
    /// `<host:infData>`.
    HostInfo(HostInfoData),
    /// `<domain:creData>`.
    DomainCreate {
        /// Name.
        name: String,
        /// Created.
        cr_date: Timestamp,
        /// Expiry.
        ex_date: Option<Timestamp>,
    },
    /// `<contact:creData>`.
    ContactCreate {
        /// Id.
        id: String,
        /// Created.
        cr_date: Timestamp,
    },
    /// `<host:creData>`.
    HostCreate {
        /// Name.
        name: String,
        /// Created.
        cr_date: Timestamp,
    },
    /// `<domain:renData>`.
    DomainRenew {
        /// Name.
        name: String,
        /// New expiry.
        ex_date: Option<Timestamp>,
    },
    /// `<domain:trnData>`.
    DomainTransfer(TransferData),
    /// `<contact:trnData>` (`ex_date` is not written).
    ContactTransfer(TransferData),
}

/// Response extensions (`<extension>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtData {
    /// `<coop:infData>` with a contact info.
    CoopInfo {
        /// Verification state.
        state: VerificationState,
        /// Sponsor contact ids.
        sponsors: Vec<String>,
        /// Preferred language.
        lang_pref: Option<String>,
        /// Mailing list preference.
        mailing_list_pref: Option<bool>,
        /// ENS identity.
        ens_identity: Option<String>,
    },
    /// `<coop:stateChange>`: a registrant's verification state (domain create/update
    /// responses and poll messages).
    CoopStateChange {
        /// The registrant contact id.
        id: String,
        /// Its state.
        state: VerificationState,
    },
}

/// A response without its transaction ids: what the session and the registry core
/// produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Result code.
    pub code: ResultCode,
    /// Detail added to the RFC text in `<msg>`.
    pub message: Option<String>,
    /// Offending value, written as `<extValue>` with the message as its reason.
    pub value: Option<String>,
    /// Message queue state.
    pub msg_q: Option<MsgQ>,
    /// Response data.
    pub res_data: Option<ResData>,
    /// Response extensions.
    pub extensions: Vec<ExtData>,
}

impl Reply {
    /// A bare reply with `code`.
    pub fn new(code: ResultCode) -> Reply {
        Reply {
            code,
            message: None,
            value: None,
            msg_q: None,
            res_data: None,
            extensions: Vec::new(),
        }
    }

    /// 1000 with `res_data`.
    pub fn ok(res_data: ResData) -> Reply {
        Reply {
            res_data: Some(res_data),
            ..Reply::new(ResultCode::Success)
        }
    }
}

impl From<EppError> for Reply {
    fn from(e: EppError) -> Reply {
        Reply {
            message: Some(e.message),
            value: e.value,
            ..Reply::new(e.code)
        }
    }
}

/// A complete `<response>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The result and data.
    pub reply: Reply,
    /// Echo of the client's `<clTRID>`.
    pub cl_trid: Option<String>,
    /// The server transaction id (unique).
    pub sv_trid: String,
}

// ---------------------------------------------------------------------------------------
// Writing

/// Escapes text for element content and attribute values; drops characters XML 1.0
/// cannot carry.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

struct W(String);

impl W {
    fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.0.push('<');
        self.0.push_str(tag);
        for (k, v) in attrs {
            let _ = write!(self.0, " {k}=\"{}\"", escape(v));
        }
        self.0.push('>');
    }
    fn close(&mut self, tag: &str) {
        let _ = write!(self.0, "</{tag}>");
    }
    fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.open(tag, attrs);
        self.0.pop();
        self.0.push_str("/>");
    }
    fn leaf(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(tag, attrs);
        self.0.push_str(&escape(text));
        self.close(tag);
    }
    fn opt(&mut self, tag: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(tag, &[], t);
        }
    }
    fn date(&mut self, tag: &str, t: Option<Timestamp>) {
        if let Some(t) = t {
            self.leaf(tag, &[], &t.to_xsd());
        }
    }
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";

impl Greeting {
    /// The greeting as an XML document.
    pub fn to_xml(&self) -> String {
        let mut w = W(String::from(HEAD));
        w.open("epp", &[("xmlns", EPP_NS)]);
        w.open("greeting", &[]);
        w.leaf("svID", &[], &self.sv_id);
        w.leaf("svDate", &[], &self.sv_date.to_xsd());
        w.open("svcMenu", &[]);
        w.leaf("version", &[], "1.0");
        for l in &self.langs {
            w.leaf("lang", &[], l);
        }
        for o in &self.obj_uris {
            w.leaf("objURI", &[], o);
        }
        if !self.ext_uris.is_empty() {
            w.open("svcExtension", &[]);
            for e in &self.ext_uris {
                w.leaf("extURI", &[], e);
            }
            w.close("svcExtension");
        }
        w.close("svcMenu");
        w.open("dcp", &[]);
        w.open("access", &[]);
        w.empty(self.dcp.access, &[]);
        w.close("access");
        for s in &self.dcp.statements {
            w.open("statement", &[]);
            w.open("purpose", &[]);
            for p in &s.purposes {
                w.empty(p, &[]);
            }
            w.close("purpose");
            w.open("recipient", &[]);
            for r in &s.recipients {
                w.empty(r, &[]);
            }
            w.close("recipient");
            w.open("retention", &[]);
            w.empty(s.retention, &[]);
            w.close("retention");
            w.close("statement");
        }
        w.close("dcp");
        w.close("greeting");
        w.close("epp");
        w.0
    }
}

fn statuses(w: &mut W, tag: &str, list: &[StatusEntry]) {
    for s in list {
        let mut attrs = vec![("s", s.status.as_str())];
        if let Some(l) = &s.lang {
            attrs.push(("lang", l));
        }
        match &s.text {
            Some(t) => w.leaf(tag, &attrs, t),
            None => w.empty(tag, &attrs),
        }
    }
}

fn ip_attr(ip: &IpAddr) -> &'static str {
    if ip.is_ipv6() { "v6" } else { "v4" }
}

fn check(w: &mut W, prefix: &str, ns: &str, key: &str, list: &[CheckResult]) {
    let chk = format!("{prefix}:chkData");
    w.open(&chk, &[(&format!("xmlns:{prefix}"), ns)]);
    for c in list {
        w.open(&format!("{prefix}:cd"), &[]);
        w.leaf(
            &format!("{prefix}:{key}"),
            &[("avail", if c.avail { "1" } else { "0" })],
            &c.name,
        );
        w.opt(&format!("{prefix}:reason"), c.reason.as_deref());
        w.close(&format!("{prefix}:cd"));
    }
    w.close(&chk);
}

fn transfer(w: &mut W, prefix: &str, ns: &str, key: &str, t: &TransferData, ex: bool) {
    let tag = format!("{prefix}:trnData");
    w.open(&tag, &[(&format!("xmlns:{prefix}"), ns)]);
    w.leaf(&format!("{prefix}:{key}"), &[], &t.name);
    w.leaf(&format!("{prefix}:trStatus"), &[], t.status.as_str());
    w.leaf(&format!("{prefix}:reID"), &[], &t.re_id);
    w.leaf(&format!("{prefix}:reDate"), &[], &t.re_date.to_xsd());
    w.leaf(&format!("{prefix}:acID"), &[], &t.ac_id);
    w.leaf(&format!("{prefix}:acDate"), &[], &t.ac_date.to_xsd());
    if ex {
        w.date(&format!("{prefix}:exDate"), t.ex_date);
    }
    w.close(&tag);
}

fn postal(w: &mut W, p: &PostalInfo) {
    w.open("contact:postalInfo", &[("type", p.kind.as_str())]);
    w.leaf("contact:name", &[], &p.name);
    w.opt("contact:org", p.org.as_deref());
    w.open("contact:addr", &[]);
    for s in &p.addr.street {
        w.leaf("contact:street", &[], s);
    }
    w.leaf("contact:city", &[], &p.addr.city);
    w.opt("contact:sp", p.addr.sp.as_deref());
    w.opt("contact:pc", p.addr.pc.as_deref());
    w.leaf("contact:cc", &[], &p.addr.cc);
    w.close("contact:addr");
    w.close("contact:postalInfo");
}

fn phone(w: &mut W, tag: &str, p: Option<&Phone>) {
    if let Some(p) = p {
        match &p.ext {
            Some(x) => w.leaf(tag, &[("x", x)], &p.number),
            None => w.leaf(tag, &[], &p.number),
        }
    }
}

fn disclose(w: &mut W, d: &Disclose) {
    w.open(
        "contact:disclose",
        &[("flag", if d.flag { "1" } else { "0" })],
    );
    for (tag, kinds) in [
        ("contact:name", &d.name),
        ("contact:org", &d.org),
        ("contact:addr", &d.addr),
    ] {
        for k in kinds {
            w.empty(tag, &[("type", k.as_str())]);
        }
    }
    for (tag, on) in [
        ("contact:voice", d.voice),
        ("contact:fax", d.fax),
        ("contact:email", d.email),
    ] {
        if on {
            w.empty(tag, &[]);
        }
    }
    w.close("contact:disclose");
}

fn res_data(w: &mut W, r: &ResData) {
    match r {
        ResData::DomainCheck(l) => check(w, "domain", DOMAIN_NS, "name", l),
        ResData::ContactCheck(l) => check(w, "contact", CONTACT_NS, "id", l),
        ResData::HostCheck(l) => check(w, "host", HOST_NS, "name", l),
        ResData::DomainCreate {
            name,
            cr_date,
            ex_date,
        } => {
            w.open("domain:creData", &[("xmlns:domain", DOMAIN_NS)]);
            w.leaf("domain:name", &[], name);
            w.leaf("domain:crDate", &[], &cr_date.to_xsd());
            w.date("domain:exDate", *ex_date);
            w.close("domain:creData");
        }
        ResData::ContactCreate { id, cr_date } => {
            w.open("contact:creData", &[("xmlns:contact", CONTACT_NS)]);
            w.leaf("contact:id", &[], id);
            w.leaf("contact:crDate", &[], &cr_date.to_xsd());
            w.close("contact:creData");
        }
        ResData::HostCreate { name, cr_date } => {
            w.open("host:creData", &[("xmlns:host", HOST_NS)]);
            w.leaf("host:name", &[], name);
            w.leaf("host:crDate", &[], &cr_date.to_xsd());
            w.close("host:creData");
        }
        ResData::DomainRenew { name, ex_date } => {
            w.open("domain:renData", &[("xmlns:domain", DOMAIN_NS)]);
            w.leaf("domain:name", &[], name);
            w.date("domain:exDate", *ex_date);
            w.close("domain:renData");
        }
        ResData::DomainTransfer(t) => transfer(w, "domain", DOMAIN_NS, "name", t, true),
        ResData::ContactTransfer(t) => transfer(w, "contact", CONTACT_NS, "id", t, false),
        ResData::DomainInfo(d) => {
            w.open("domain:infData", &[("xmlns:domain", DOMAIN_NS)]);
            w.leaf("domain:name", &[], &d.name);
            w.leaf("domain:roid", &[], &d.roid);
            statuses(w, "domain:status", &d.statuses);
            w.opt("domain:registrant", d.registrant.as_deref());
            for (kind, id) in &d.contacts {
                w.leaf("domain:contact", &[("type", kind.as_str())], id);
            }
            if !d.ns.is_empty() {
                w.open("domain:ns", &[]);
                for ns in &d.ns {
                    match ns {
                        NameServer::HostObj(n) => w.leaf("domain:hostObj", &[], n),
                        NameServer::HostAttr { name, addrs } => {
                            w.open("domain:hostAttr", &[]);
                            w.leaf("domain:hostName", &[], name);
                            for a in addrs {
                                w.leaf("domain:hostAddr", &[("ip", ip_attr(a))], &a.to_string());
                            }
                            w.close("domain:hostAttr");
                        }
                    }
                }
                w.close("domain:ns");
            }
            for h in &d.hosts {
                w.leaf("domain:host", &[], h);
            }
            w.leaf("domain:clID", &[], &d.dates.cl_id);
            w.opt("domain:crID", d.dates.cr_id.as_deref());
            w.date("domain:crDate", d.dates.cr_date);
            w.opt("domain:upID", d.dates.up_id.as_deref());
            w.date("domain:upDate", d.dates.up_date);
            w.date("domain:exDate", d.ex_date);
            w.date("domain:trDate", d.dates.tr_date);
            if let Some(pw) = &d.auth_info {
                w.open("domain:authInfo", &[]);
                w.leaf("domain:pw", &[], pw);
                w.close("domain:authInfo");
            }
            w.close("domain:infData");
        }
        ResData::ContactInfo(c) => {
            w.open("contact:infData", &[("xmlns:contact", CONTACT_NS)]);
            w.leaf("contact:id", &[], &c.id);
            w.leaf("contact:roid", &[], &c.roid);
            statuses(w, "contact:status", &c.statuses);
            for p in &c.postal_info {
                postal(w, p);
            }
            phone(w, "contact:voice", c.voice.as_ref());
            phone(w, "contact:fax", c.fax.as_ref());
            w.leaf("contact:email", &[], &c.email);
            write_required_dates(w, "contact", &c.dates);
            w.opt("contact:upID", c.dates.up_id.as_deref());
            w.date("contact:upDate", c.dates.up_date);
            w.date("contact:trDate", c.dates.tr_date);
            if let Some(pw) = &c.auth_info {
                w.open("contact:authInfo", &[]);
                w.leaf("contact:pw", &[], pw);
                w.close("contact:authInfo");
            }
            if let Some(d) = &c.disclose {
                disclose(w, d);
            }
            w.close("contact:infData");
        }
        ResData::HostInfo(h) => {
            w.open("host:infData", &[("xmlns:host", HOST_NS)]);
            w.leaf("host:name", &[], &h.name);
            w.leaf("host:roid", &[], &h.roid);
            statuses(w, "host:status", &h.statuses);
            for a in &h.addrs {
                w.leaf("host:addr", &[("ip", ip_attr(a))], &a.to_string());
            }
            write_required_dates(w, "host", &h.dates);
            w.opt("host:upID", h.dates.up_id.as_deref());
            w.date("host:upDate", h.dates.up_date);
            w.date("host:trDate", h.dates.tr_date);
            w.close("host:infData");
        }
    }
}

/// clID, crID, crDate: required for contacts and hosts.
fn write_required_dates(w: &mut W, prefix: &str, d: &ObjectDates) {
    w.leaf(&format!("{prefix}:clID"), &[], &d.cl_id);
    w.leaf(
        &format!("{prefix}:crID"),
        &[],
        d.cr_id.as_deref().unwrap_or(&d.cl_id),
    );
    w.leaf(
        &format!("{prefix}:crDate"),
        &[],
        &d.cr_date.unwrap_or(Timestamp(0)).to_xsd(),
    );
}

fn ext_data(w: &mut W, e: &ExtData) {
    match e {
        ExtData::CoopInfo {
            state,
            sponsors,
            lang_pref,
            mailing_list_pref,
            ens_identity,
        } => {
            w.open("coop:infData", &[("xmlns:coop", COOP_NS)]);
            w.leaf("coop:state", &[("code", state.as_str())], state.text());
            for s in sponsors {
                w.leaf("coop:sponsor", &[], s);
            }
            w.opt("coop:langPref", lang_pref.as_deref());
            if let Some(m) = mailing_list_pref {
                w.leaf("coop:mailingListPref", &[], if *m { "1" } else { "0" });
            }
            w.opt("coop:ensIdentity", ens_identity.as_deref());
            w.close("coop:infData");
        }
        ExtData::CoopStateChange { id, state } => {
            w.open("coop:stateChange", &[("xmlns:coop", COOP_NS)]);
            w.leaf("coop:id", &[], id);
            w.leaf("coop:state", &[("code", state.as_str())], state.text());
            w.close("coop:stateChange");
        }
    }
}

impl Response {
    /// The `<msg>` text: the RFC text, then the detail.
    pub fn msg_text(&self) -> String {
        match &self.reply.message {
            Some(m) => format!("{}: {m}", self.reply.code.text()),
            None => self.reply.code.text().to_string(),
        }
    }

    /// The response as an XML document.
    pub fn to_xml(&self) -> String {
        let r = &self.reply;
        let mut w = W(String::from(HEAD));
        w.open("epp", &[("xmlns", EPP_NS)]);
        w.open("response", &[]);
        let code = r.code.code().to_string();
        w.open("result", &[("code", &code)]);
        w.leaf("msg", &[], &self.msg_text());
        if let Some(v) = &r.value {
            w.open("extValue", &[]);
            w.open("value", &[]);
            w.leaf("text", &[], v);
            w.close("value");
            w.leaf("reason", &[], r.message.as_deref().unwrap_or(r.code.text()));
            w.close("extValue");
        }
        w.close("result");
        if let Some(q) = &r.msg_q {
            let count = q.count.to_string();
            let attrs = [("count", count.as_str()), ("id", q.id.as_str())];
            if q.q_date.is_none() && q.msg.is_none() {
                w.empty("msgQ", &attrs);
            } else {
                w.open("msgQ", &attrs);
                w.date("qDate", q.q_date);
                w.opt("msg", q.msg.as_deref());
                w.close("msgQ");
            }
        }
        if let Some(d) = &r.res_data {
            w.open("resData", &[]);
            res_data(&mut w, d);
            w.close("resData");
        }
        if !r.extensions.is_empty() {
            w.open("extension", &[]);
            for e in &r.extensions {
                ext_data(&mut w, e);
            }
            w.close("extension");
        }
        w.open("trID", &[]);
        w.opt("clTRID", self.cl_trid.as_deref());
        w.leaf("svTRID", &[], &self.sv_trid);
        w.close("trID");
        w.close("response");
        w.close("epp");
        w.0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::command::{Address, PostalType, Status};

    #[test]
    fn timestamps() {
        assert_eq!(Timestamp(0).to_xsd(), "1970-01-01T00:00:00.0Z");
        assert_eq!(Timestamp(960_501_600).to_xsd(), "2000-06-08T22:00:00.0Z");
        assert_eq!(Timestamp(951_782_400).to_xsd(), "2000-02-29T00:00:00.0Z");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<&>\"'\u{1}b"), "a&lt;&amp;&gt;&quot;&apos;b");
    }

    fn ts() -> Timestamp {
        Timestamp(1_700_000_000)
    }

    fn dates() -> ObjectDates {
        ObjectDates {
            cl_id: "ClientX".into(),
            cr_id: Some("ClientY".into()),
            cr_date: Some(ts()),
            up_id: Some("ClientX".into()),
            up_date: Some(ts()),
            tr_date: Some(ts()),
        }
    }

    fn st(s: Status) -> StatusEntry {
        StatusEntry {
            status: s,
            lang: None,
            text: None,
        }
    }

    /// One response of every kind, for the schema tests.
    pub(crate) fn samples() -> Vec<(String, Response)> {
        let chk = vec![
            CheckResult {
                name: "example.coop".into(),
                avail: true,
                reason: None,
            },
            CheckResult {
                name: "taken.coop".into(),
                avail: false,
                reason: Some("In use".into()),
            },
        ];
        let pi = PostalInfo {
            kind: PostalType::Int,
            name: "John Doe".into(),
            org: Some("Example Co-op".into()),
            addr: Address {
                street: vec!["123 Example Dr.".into()],
                city: "Dulles".into(),
                sp: Some("VA".into()),
                pc: Some("20166-6503".into()),
                cc: "US".into(),
            },
        };
        let trn = TransferData {
            name: "example.coop".into(),
            status: TransferStatus::Pending,
            re_id: "ClientX".into(),
            re_date: ts(),
            ac_id: "ClientY".into(),
            ac_date: Timestamp(ts().0 + 5 * 86_400),
            ex_date: Some(Timestamp(ts().0 + 400 * 86_400)),
        };
        let datas = vec![
            ("domain-check", Some(ResData::DomainCheck(chk.clone()))),
            ("contact-check", Some(ResData::ContactCheck(chk.clone()))),
            ("host-check", Some(ResData::HostCheck(chk))),
            (
                "domain-info",
                Some(ResData::DomainInfo(DomainInfoData {
                    name: "example.coop".into(),
                    roid: "EXAMPLE1-COOP".into(),
                    statuses: vec![st(Status::Ok)],
                    registrant: Some("jd1234".into()),
                    contacts: vec![
                        (ContactType::Admin, "sh8013".into()),
                        (ContactType::Tech, "sh8013".into()),
                    ],
                    ns: vec![NameServer::HostObj("ns1.example.net".into())],
                    hosts: vec!["ns1.example.coop".into()],
                    dates: dates(),
                    ex_date: Some(ts()),
                    auth_info: Some("2fooBAR".into()),
                })),
            ),
            (
                "domain-info-attr",
                Some(ResData::DomainInfo(DomainInfoData {
                    name: "example.coop".into(),
                    roid: "EXAMPLE1-COOP".into(),
                    statuses: vec![StatusEntry {
                        status: Status::ClientHold,
                        lang: Some("en".into()),
                        text: Some("Payment <due>".into()),
                    }],
                    registrant: None,
                    contacts: vec![],
                    ns: vec![NameServer::HostAttr {
                        name: "ns1.example.coop".into(),
                        addrs: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                    }],
                    hosts: vec![],
                    dates: ObjectDates {
                        cl_id: "ClientX".into(),
                        ..ObjectDates::default()
                    },
                    ex_date: None,
                    auth_info: None,
                })),
            ),
            (
                "contact-info",
                Some(ResData::ContactInfo(ContactInfoData {
                    id: "sh8013".into(),
                    roid: "SH8013-COOP".into(),
                    statuses: vec![st(Status::Linked), st(Status::ClientDeleteProhibited)],
                    postal_info: vec![
                        pi.clone(),
                        PostalInfo {
                            kind: PostalType::Loc,
                            name: "Jöhn Dœ".into(),
                            ..pi
                        },
                    ],
                    voice: Some(Phone {
                        number: "+1.7035555555".into(),
                        ext: Some("1234".into()),
                    }),
                    fax: Some(Phone {
                        number: "+1.7035555556".into(),
                        ext: None,
                    }),
                    email: "jdoe@example.coop".into(),
                    dates: dates(),
                    auth_info: Some("2fooBAR".into()),
                    disclose: Some(Disclose {
                        flag: false,
                        name: vec![PostalType::Int],
                        voice: true,
                        email: true,
                        ..Disclose::default()
                    }),
                })),
            ),
            (
                "host-info",
                Some(ResData::HostInfo(HostInfoData {
                    name: "ns1.example.coop".into(),
                    roid: "NS1_EXAMPLE1-COOP".into(),
                    statuses: vec![st(Status::Linked), st(Status::ClientUpdateProhibited)],
                    addrs: vec![
                        "192.0.2.2".parse().unwrap(),
                        "1080::8:800:200c:417a".parse().unwrap(),
                    ],
                    dates: dates(),
                })),
            ),
            (
                "domain-create",
                Some(ResData::DomainCreate {
                    name: "example.coop".into(),
                    cr_date: ts(),
                    ex_date: Some(ts()),
                }),
            ),
            (
                "contact-create",
                Some(ResData::ContactCreate {
                    id: "sh8013".into(),
                    cr_date: ts(),
                }),
            ),
            (
                "host-create",
                Some(ResData::HostCreate {
                    name: "ns1.example.coop".into(),
                    cr_date: ts(),
                }),
            ),
            (
                "domain-renew",
                Some(ResData::DomainRenew {
                    name: "example.coop".into(),
                    ex_date: Some(ts()),
                }),
            ),
            (
                "domain-transfer",
                Some(ResData::DomainTransfer(trn.clone())),
            ),
            (
                "contact-transfer",
                Some(ResData::ContactTransfer(TransferData {
                    name: "sh8013".into(),
                    ..trn
                })),
            ),
            ("plain", None),
        ];
        let mut out = Vec::new();
        for (name, data) in datas {
            out.push((
                name.to_string(),
                Response {
                    reply: Reply {
                        res_data: data,
                        ..Reply::new(ResultCode::Success)
                    },
                    cl_trid: Some("ABC-12345".into()),
                    sv_trid: "54321-XYZ".into(),
                },
            ));
        }
        out.push((
            "error-with-value".into(),
            Response {
                reply: EppError::value_syntax("<domain:name>: bad name \"a&b\"")
                    .with_value("a&b")
                    .into(),
                cl_trid: None,
                sv_trid: "54322-XYZ".into(),
            },
        ));
        out.push((
            "poll-req".into(),
            Response {
                reply: Reply {
                    msg_q: Some(MsgQ {
                        count: 5,
                        id: "12345".into(),
                        q_date: Some(ts()),
                        msg: Some("Transfer requested.".into()),
                    }),
                    res_data: Some(ResData::DomainTransfer(TransferData {
                        name: "example.coop".into(),
                        status: TransferStatus::Pending,
                        re_id: "ClientX".into(),
                        re_date: ts(),
                        ac_id: "ClientY".into(),
                        ac_date: ts(),
                        ex_date: None,
                    })),
                    ..Reply::new(ResultCode::SuccessAckToDequeue)
                },
                cl_trid: Some("ABC-12346".into()),
                sv_trid: "54323-XYZ".into(),
            },
        ));
        out.push((
            "poll-ack".into(),
            Response {
                reply: Reply {
                    msg_q: Some(MsgQ {
                        count: 4,
                        id: "12345".into(),
                        q_date: None,
                        msg: None,
                    }),
                    ..Reply::new(ResultCode::Success)
                },
                cl_trid: None,
                sv_trid: "54324-XYZ".into(),
            },
        ));
        out
    }

    #[test]
    fn every_response_kind_validates() {
        let mut docs: Vec<(String, String)> = samples()
            .into_iter()
            .map(|(n, r)| (n, r.to_xml()))
            .collect();
        docs.push((
            "greeting-rfc-only".into(),
            Greeting {
                sv_id: "eppd test server".into(),
                sv_date: ts(),
                langs: vec!["en".into(), "fr".into()],
                obj_uris: vec![DOMAIN_NS.into(), CONTACT_NS.into(), HOST_NS.into()],
                ext_uris: vec![],
                dcp: Dcp::default(),
            }
            .to_xml(),
        ));
        // Every result code, with and without detail.
        for c in ResultCode::ALL {
            let r = Response {
                reply: Reply {
                    message: Some(format!("detail <{}> & more", c.code())),
                    ..Reply::new(c)
                },
                cl_trid: Some("ABC-1".into()),
                sv_trid: "SV-1".into(),
            };
            docs.push((format!("code-{}", c.code()), r.to_xml()));
        }
        crate::testutil::validate(&docs, &crate::testutil::rfc_schema());
    }

    #[test]
    fn coop_responses_validate_with_the_extension_schema() {
        let mut docs: Vec<(String, String)> = coop_samples()
            .into_iter()
            .map(|(n, r)| (n, r.to_xml()))
            .collect();
        docs.push((
            "greeting".into(),
            Greeting {
                sv_id: "eppd test server".into(),
                sv_date: ts(),
                langs: vec!["en".into()],
                obj_uris: vec![DOMAIN_NS.into(), CONTACT_NS.into(), HOST_NS.into()],
                ext_uris: vec![COOP_NS.into()],
                dcp: Dcp::default(),
            }
            .to_xml(),
        ));
        crate::testutil::validate(&docs, &crate::testutil::coop_schema());
    }

    #[test]
    fn written_responses_read_back() {
        use crate::xml::tree::parse_document;
        for (name, r) in samples().into_iter().chain(coop_samples()) {
            let xml = r.to_xml();
            let root = parse_document(xml.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let resp = &root.children[0];
            assert_eq!(resp.name, "response");
            let result = &resp.children[0];
            assert_eq!(
                result.attr("code"),
                Some(r.reply.code.code().to_string().as_str())
            );
            assert_eq!(result.children[0].text, r.msg_text(), "{name}");
            let tr = resp.children.last().unwrap();
            assert_eq!(tr.children.last().unwrap().text, r.sv_trid);
            if let Some(c) = &r.cl_trid {
                assert_eq!(&tr.children[0].text, c);
            }
            let has = |n: &str| resp.children.iter().any(|c| c.name == n);
            assert_eq!(has("resData"), r.reply.res_data.is_some(), "{name}");
            assert_eq!(has("extension"), !r.reply.extensions.is_empty(), "{name}");
            assert_eq!(has("msgQ"), r.reply.msg_q.is_some(), "{name}");
        }
    }

    /// Responses carrying the .coop extension.
    pub(crate) fn coop_samples() -> Vec<(String, Response)> {
        let mut out = Vec::new();
        let mut info = samples()
            .into_iter()
            .find(|(n, _)| n == "contact-info")
            .unwrap()
            .1;
        info.reply.extensions.push(ExtData::CoopInfo {
            state: VerificationState::PendingVerification,
            sponsors: vec!["sp-1".into(), "sp-2".into()],
            lang_pref: Some("en".into()),
            mailing_list_pref: Some(true),
            ens_identity: Some("ENS-42".into()),
        });
        out.push(("coop-contact-info".to_string(), info));
        out.push((
            "coop-state-change-poll".to_string(),
            Response {
                reply: Reply {
                    msg_q: Some(MsgQ {
                        count: 1,
                        id: "7".into(),
                        q_date: Some(ts()),
                        msg: Some("Registrant verification state changed".into()),
                    }),
                    extensions: vec![ExtData::CoopStateChange {
                        id: "reg-1".into(),
                        state: VerificationState::Verified,
                    }],
                    ..Reply::new(ResultCode::SuccessAckToDequeue)
                },
                cl_trid: None,
                sv_trid: "54325-XYZ".into(),
            },
        ));
        out
    }
}
