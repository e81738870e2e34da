//! The registry core: the objects in memory and the RFC 5730-5733 rules, implementing
//! [`Registry`]. No I/O: every successful transform leaves a [`Committed`] transaction in
//! the outbox (a [`ChangeFile`] of full records with `Base-Version`, and journal
//! [`Event`]s for what the record classes cannot hold: poll messages and transfer
//! records); [`crate::writer`] makes them durable before any reply leaves.
//!
//! Rules, in short (codes per RFC 5730 section 3):
//! - only the sponsor changes an object (2201); `client*` statuses are the client's, the
//!   others the server's (2304 when touched); `*Prohibited` and `pending*` block (2304);
//!   `*UpdateProhibited` still lets the client remove that very status;
//! - linked contacts and hosts (referred to by a domain, a registrant's sponsors, a
//!   registrar) and domains with subordinate hosts are not deletable (2305);
//! - internal hosts (under the TLD) need their superordinate domain, sponsored by the
//!   client, and addresses; external hosts take none; linked hosts are not renamed (2305);
//! - domains: registrant required and a .coop registrant (a contact with a verification
//!   state, 2306), periods 1-10 years (2004), renew checks `curExpDate` (2306) and the
//!   10-year horizon; a registrant that is not `verified` holds its domains out of
//!   service (`serverHold`, computed, written to the records);
//! - transfers (domain and contact): request (authInfo 2202, 2300 when pending, 1001),
//!   approve/reject by the sponsor, cancel by the requester, 2301 when nothing is pending,
//!   auto-approval (`serverApproved`) after [`CoreConfig::transfer_after`] seconds, poll
//!   messages to the losing registrar on request and to both sides on completion;
//! - poll: per registrar, oldest first, `ack` of a foreign or unknown id is 2303.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mkdb::change::{Action, Change, ChangeFile, version_of};

use crate::command::{
    AuthInfo, AuthInfoChange, Command, CommandKind, ContactCommand, ContactCreate, ContactUpdate,
    DomainCommand, DomainCreate, DomainRenew, DomainTransfer, DomainUpdate, HostCommand,
    HostUpdate, HostsFilter, NameServer, Period, Poll, PostalInfo, PostalType, Status, StatusEntry,
    TransferOp, VerificationState,
};
use crate::response::{
    CheckResult, ContactInfoData, DomainInfoData, ExtData, HostInfoData, MsgQ, ObjectDates, Reply,
    ResData, Timestamp, TransferData, TransferStatus,
};
use crate::result::{EppError, ResultCode};
use crate::session::{Client, Registry};
use crate::store::{
    CONTACT, Contact, DOMAIN, Domain, HOST, Host, Loaded, REGISTRAR, Registrar, add_months,
    date_of, rfc3339, shown_statuses,
};

/// Policy settings of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The TLD served (`coop`): domains are `label.coop`, hosts under it are internal.
    pub tld: String,
    /// ROID suffix (`COOP`).
    pub roid_suffix: String,
    /// Default registration period in months.
    pub default_months: u32,
    /// Longest period, and furthest expiry from now, in months.
    pub max_months: u32,
    /// Seconds after which a pending transfer is approved by the server.
    pub transfer_after: i64,
    /// Origin written in change files.
    pub origin: String,
}

impl Default for CoreConfig {
    fn default() -> CoreConfig {
        CoreConfig {
            tld: "coop".into(),
            roid_suffix: "COOP".into(),
            default_months: 12,
            max_months: 120,
            transfer_after: 5 * 86_400,
            origin: "eppd".into(),
        }
    }
}

/// Which kind of object a transfer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransferKind {
    /// A domain.
    Domain,
    /// A contact.
    Contact,
}

/// A transfer: pending, or the last one completed (for `query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// Domain or contact.
    pub kind: TransferKind,
    /// Its name or id.
    pub name: String,
    /// Status.
    pub status: TransferStatus,
    /// Requesting (gaining) registrar.
    pub re_id: String,
    /// Requested.
    pub re_date: Timestamp,
    /// Losing registrar.
    pub ac_id: String,
    /// Auto-approval date while pending; when acted after.
    pub ac_date: Timestamp,
    /// Months added on completion (domains).
    pub months: u32,
    /// Expiry after completion (domains).
    pub ex_date: Option<Timestamp>,
}

impl TransferRecord {
    fn data(&self) -> TransferData {
        TransferData {
            name: self.name.clone(),
            status: self.status,
            re_id: self.re_id.clone(),
            re_date: self.re_date,
            ac_id: self.ac_id.clone(),
            ac_date: self.ac_date,
            ex_date: self.ex_date,
        }
    }

    fn res_data(&self) -> ResData {
        match self.kind {
            TransferKind::Domain => ResData::DomainTransfer(self.data()),
            TransferKind::Contact => ResData::ContactTransfer(self.data()),
        }
    }
}

/// What a poll message carries besides its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollPayload {
    /// Nothing.
    None,
    /// A transfer's data.
    Transfer(TransferRecord),
    /// A registrant's verification state changed.
    StateChange {
        /// The registrant.
        id: String,
        /// The new state.
        state: VerificationState,
    },
}

/// A poll message queued for a registrar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollMessage {
    /// Its id (unique, increasing).
    pub id: u64,
    /// The registrar it is for.
    pub cl_id: String,
    /// Queued.
    pub q_date: Timestamp,
    /// Text.
    pub msg: String,
    /// Data.
    pub payload: PollPayload,
}

/// A journal event: state that lives outside the record classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message was queued.
    Poll(PollMessage),
    /// A message was acknowledged.
    Ack {
        /// Its registrar.
        cl_id: String,
        /// Its id.
        id: u64,
    },
    /// A transfer record was set (requested, acted on).
    Transfer(TransferRecord),
}

/// One transaction, ready to be made durable: its change file (none when it changed no
/// record, e.g. a poll ack) and its journal events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The change file.
    pub file: Option<ChangeFile>,
    /// The journal events.
    pub events: Vec<Event>,
}

/// The registry core.
#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    domains: BTreeMap<String, Domain>,
    contacts: BTreeMap<String, Contact>,
    hosts: BTreeMap<String, Host>,
    registrars: BTreeMap<String, Registrar>,
    contact_refs: HashMap<String, u32>,
    host_refs: HashMap<String, u32>,
    transfers: HashMap<(TransferKind, String), TransferRecord>,
    polls: BTreeMap<u64, PollMessage>,
    next_msg: u64,
    next_seq: u64,
    roids: u64,
    changes: Vec<Change>,
    events: Vec<Event>,
    outbox: Vec<Committed>,
    schema: Option<mkdb::schema::Schema>,
}

/// What an accepted foreign change file (an operator's, [`Core::apply_foreign`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignApplied {
    /// The sequence number it was given.
    pub sequence: u64,
    /// Registrars it put (`Some`) or deleted (`None`): their logins change.
    pub registrars: Vec<(String, Option<Registrar>)>,
    /// Domains eppd rewrote after it (their computed `serverHold` changed), as one more
    /// change file of its own.
    pub rewritten: usize,
}

/// One object slot, for applying and undoing a foreign change (short-lived: the size
/// difference between variants does not matter).
#[allow(clippy::large_enum_variant)]
enum Slot {
    Domain(String, Option<Domain>),
    Contact(String, Option<Contact>),
    Host(String, Option<Host>),
    Registrar(String, Option<Registrar>),
}

/// Is `host` under the domain `name` (`ns1.a.coop` under `a.coop`)? For a registered
/// domain (`label.tld`) the same as `superordinate(host) == name`, without allocating: the
/// subordinate-host scans of info, delete and transfer run it on every host.
fn is_subordinate(host: &str, name: &str) -> bool {
    host.strip_suffix(name)
        .is_some_and(|p| p.len() > 1 && p.ends_with('.'))
}

fn err(code: ResultCode, msg: impl Into<String>) -> EppError {
    EppError::new(code, msg)
}

type R<T> = Result<T, EppError>;

/// Statuses under which no object (domain, contact, host) may be deleted (RFC 5731-5733).
const DELETE_BLOCKERS: &[Status] = &[
    Status::ClientDeleteProhibited,
    Status::ServerDeleteProhibited,
    Status::PendingDelete,
    Status::PendingTransfer,
];

impl Core {
    /// A core over `loaded` objects, with the journal's `events` replayed.
    pub fn new(cfg: CoreConfig, loaded: Loaded, events: &[Event]) -> Core {
        let mut core = Core {
            cfg,
            domains: BTreeMap::new(),
            contacts: loaded.contacts,
            hosts: loaded.hosts,
            registrars: loaded.registrars,
            contact_refs: HashMap::new(),
            host_refs: HashMap::new(),
            transfers: HashMap::new(),
            polls: BTreeMap::new(),
            next_msg: 1,
            next_seq: loaded.last_sequence + 1,
            roids: 0,
            changes: Vec::new(),
            events: Vec::new(),
            outbox: Vec::new(),
            schema: loaded.schema,
        };
        for c in core.contacts.values() {
            for s in &c.sponsors {
                *core.contact_refs.entry(s.clone()).or_default() += 1;
            }
        }
        for r in core.registrars.values() {
            for c in &r.contacts {
                *core.contact_refs.entry(c.clone()).or_default() += 1;
            }
        }
        for (name, mut d) in loaded.domains {
            // The serverHold of an unverified registrant is computed, not explicit.
            if core.held(&d.registrant) {
                d.statuses.remove(&Status::ServerHold);
            }
            core.count_refs(&d, 1);
            core.domains.insert(name, d);
        }
        for e in events {
            core.replay(e);
        }
        core
    }

    /// Applies a journal event read at start.
    fn replay(&mut self, e: &Event) {
        match e {
            Event::Poll(m) => {
                self.next_msg = self.next_msg.max(m.id + 1);
                self.polls.insert(m.id, m.clone());
            }
            Event::Ack { id, .. } => {
                self.polls.remove(id);
            }
            Event::Transfer(t) => {
                self.transfers.insert((t.kind, t.name.clone()), t.clone());
            }
        }
    }

    /// The journal events describing the current state (for compaction at start).
    pub fn snapshot_events(&self) -> Vec<Event> {
        let mut v: Vec<Event> = self
            .transfers
            .values()
            .cloned()
            .map(Event::Transfer)
            .collect();
        v.extend(self.polls.values().cloned().map(Event::Poll));
        v
    }

    /// The sequence number the next change file gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_seq
    }

    /// Takes the transactions finished since the last call.
    pub fn take_outbox(&mut self) -> Vec<Committed> {
        std::mem::take(&mut self.outbox)
    }

    /// The registrars (for login).
    pub fn registrars(&self) -> &BTreeMap<String, Registrar> {
        &self.registrars
    }

    /// A domain, for tests and tools.
    pub fn domain_object(&self, name: &str) -> Option<&Domain> {
        self.domains.get(name)
    }

    /// A contact.
    pub fn contact_object(&self, id: &str) -> Option<&Contact> {
        self.contacts.get(id)
    }

    /// Number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    // -----------------------------------------------------------------------------------
    // Transactions

    fn finish(&mut self, now: Timestamp) {
        if self.changes.is_empty() && self.events.is_empty() {
            return;
        }
        let file = (!self.changes.is_empty()).then(|| {
            let f = ChangeFile {
                sequence: self.next_seq,
                origin: self.cfg.origin.clone(),
                time: rfc3339(now),
                changes: std::mem::take(&mut self.changes),
            };
            self.next_seq += 1;
            f
        });
        self.outbox.push(Committed {
            file,
            events: std::mem::take(&mut self.events),
        });
    }

    fn roid(&mut self, prefix: char) -> String {
        self.roids += 1;
        format!(
            "{prefix}{}N{}-{}",
            self.next_seq, self.roids, self.cfg.roid_suffix
        )
    }

    fn held(&self, registrant: &str) -> bool {
        self.contacts
            .get(registrant)
            .and_then(|c| c.state)
            .is_some_and(|s| s != VerificationState::Verified)
    }

    fn count_refs(&mut self, d: &Domain, delta: i32) {
        let ids = std::iter::once(&d.registrant).chain(d.contacts.iter().map(|(_, id)| id));
        for id in ids {
            let e = self.contact_refs.entry(id.clone()).or_default();
            *e = e.saturating_add_signed(delta);
        }
        for ns in &d.ns {
            let e = self.host_refs.entry(ns.clone()).or_default();
            *e = e.saturating_add_signed(delta);
        }
    }

    fn put_domain(&mut self, mut d: Domain) {
        let extra: &[Status] = if self.held(&d.registrant) {
            &[Status::ServerHold]
        } else {
            &[]
        };
        let text = d.to_record(extra);
        let base = match self.domains.remove(&d.name) {
            Some(old) => {
                self.count_refs(&old, -1);
                old.base
            }
            None => None,
        };
        self.count_refs(&d, 1);
        d.base = Some(version_of(&text));
        self.changes.push(Change {
            action: Action::Put,
            class: DOMAIN.into(),
            key: d.name.clone(),
            base,
            record: text,
        });
        self.domains.insert(d.name.clone(), d);
    }

    fn put_contact(&mut self, mut c: Contact) {
        let text = c.to_record();
        let base = match self.contacts.get(&c.id) {
            Some(old) => {
                for s in &old.sponsors {
                    if let Some(n) = self.contact_refs.get_mut(s) {
                        *n = n.saturating_sub(1);
                    }
                }
                old.base
            }
            None => None,
        };
        for s in &c.sponsors {
            *self.contact_refs.entry(s.clone()).or_default() += 1;
        }
        c.base = Some(version_of(&text));
        self.changes.push(Change {
            action: Action::Put,
            class: CONTACT.into(),
            key: c.id.clone(),
            base,
            record: text,
        });
        self.contacts.insert(c.id.clone(), c);
    }

    fn put_host(&mut self, mut h: Host) {
        let text = h.to_record();
        let base = self.hosts.get(&h.name).and_then(|o| o.base);
        h.base = Some(version_of(&text));
        self.changes.push(Change {
            action: Action::Put,
            class: HOST.into(),
            key: h.name.clone(),
            base,
            record: text,
        });
        self.hosts.insert(h.name.clone(), h);
    }

    fn delete(&mut self, class: &str, key: &str, base: Option<mkdb::change::Version>) {
        self.changes.push(Change {
            action: Action::Delete,
            class: class.into(),
            key: key.into(),
            base,
            record: String::new(),
        });
    }

    fn queue(&mut self, cl_id: &str, now: Timestamp, msg: &str, payload: PollPayload) {
        let m = PollMessage {
            id: self.next_msg,
            cl_id: cl_id.to_string(),
            q_date: now,
            msg: msg.to_string(),
            payload,
        };
        self.next_msg += 1;
        self.polls.insert(m.id, m.clone());
        self.events.push(Event::Poll(m));
    }

    fn set_transfer(&mut self, t: TransferRecord) {
        self.transfers.insert((t.kind, t.name.clone()), t.clone());
        self.events.push(Event::Transfer(t));
    }

    // -----------------------------------------------------------------------------------
    // Operator functions

    /// Sets a registrant's verification state (operator): its domains gain or lose
    /// `serverHold`, and a `stateChange` poll message goes to its sponsoring registrar.
    pub fn set_verification_state(
        &mut self,
        id: &str,
        state: VerificationState,
        now: Timestamp,
    ) -> Result<(), EppError> {
        let Some(c) = self.contacts.get(id) else {
            return Err(err(
                ResultCode::ObjectDoesNotExist,
                format!("no contact {id}"),
            ));
        };
        if c.state.is_none() {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!("{id} is not a .coop registrant"),
            ));
        }
        let mut c = c.clone();
        c.state = Some(state);
        c.up_date = Some(now);
        let sponsor = c.cl_id.clone();
        self.put_contact(c);
        let domains: Vec<Domain> = self
            .domains
            .values()
            .filter(|d| d.registrant == id)
            .cloned()
            .collect();
        for d in domains {
            self.put_domain(d);
        }
        self.queue(
            &sponsor,
            now,
            "Registrant verification state changed",
            PollPayload::StateChange {
                id: id.to_string(),
                state,
            },
        );
        self.finish(now);
        Ok(())
    }

    /// Applies a change file written by someone else (an operator's `mkdb edit` or
    /// `loader import`, sent through the admin socket), as the loader will: every change's
    /// `Base-Version` must be the version of eppd's record of that key (none: the key must
    /// not exist), puts must validate against the class schema and name their key, their
    /// references must exist and a deleted record must not be referenced. Any problem
    /// refuses the whole file (every problem named: 2304 for a changed record, 2302 / 2303
    /// for one created / deleted meanwhile, 2305 for references, 2306 otherwise) and changes
    /// nothing. Accepted, the records replace eppd's objects and the file, unchanged but
    /// for its number, goes to the outbox as the next transaction; domains whose computed
    /// `serverHold` changed (a registrant's `Verification-State` edited) are rewritten in
    /// one more transaction, and a registrant's sponsor gets the `stateChange` message.
    pub fn apply_foreign(
        &mut self,
        mut file: ChangeFile,
        now: Timestamp,
    ) -> Result<ForeignApplied, EppError> {
        if file.changes.is_empty() {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                "the change file holds no change",
            ));
        }
        let states: HashMap<String, Option<VerificationState>> = file
            .changes
            .iter()
            .filter(|c| c.class == CONTACT)
            .map(|c| {
                (
                    c.key.clone(),
                    self.contacts.get(&c.key).and_then(|x| x.state),
                )
            })
            .collect();
        let mut undo = Vec::new();
        let mut problems = Vec::new();
        let mut code = ResultCode::ParameterValuePolicyError;
        for c in &file.changes {
            match self.foreign_change(c) {
                Ok(prev) => undo.push(prev),
                Err((k, p)) => {
                    code = k;
                    problems.push(format!("{} {} {}: {p}", action_word(c), c.class, c.key));
                }
            }
        }
        if problems.is_empty() {
            problems = self.foreign_links(&file);
            if !problems.is_empty() {
                code = ResultCode::ObjectAssociationProhibitsOperation;
            }
        }
        if !problems.is_empty() {
            for prev in undo.into_iter().rev() {
                self.swap(prev);
            }
            return Err(err(
                code,
                format!("nothing applied: {}", problems.join("; ")),
            ));
        }
        let registrars = file
            .changes
            .iter()
            .filter(|c| c.class == REGISTRAR)
            .map(|c| (c.key.clone(), self.registrars.get(&c.key).cloned()))
            .collect();
        file.sequence = self.next_seq;
        self.next_seq += 1;
        let sequence = file.sequence;
        // Derived state: domains whose computed serverHold their record no longer shows:
        // put by the operator without it while their registrant is held, or whose
        // registrant the operator held or released.
        let held_in =
            |s: Option<VerificationState>| s.is_some_and(|s| s != VerificationState::Verified);
        let mut touched: BTreeSet<String> = file
            .changes
            .iter()
            .filter(|c| c.class == DOMAIN && c.action == Action::Put)
            .filter(|c| !shows_server_hold(&c.record))
            .map(|c| c.key.to_ascii_lowercase())
            .filter(|k| {
                self.domains
                    .get(k)
                    .is_some_and(|d| self.held(&d.registrant))
            })
            .collect();
        for (id, before) in &states {
            let after = self.contacts.get(id).and_then(|c| c.state);
            if held_in(*before) != held_in(after) {
                touched.extend(
                    self.domains
                        .values()
                        .filter(|d| &d.registrant == id)
                        .map(|d| d.name.clone()),
                );
            }
            if let (Some(was), Some(state)) = (*before, after)
                && was != state
                && let Some(sponsor) = self.contacts.get(id).map(|c| c.cl_id.clone())
            {
                self.queue(
                    &sponsor,
                    now,
                    "Registrant verification state changed",
                    PollPayload::StateChange {
                        id: id.clone(),
                        state,
                    },
                );
            }
        }
        self.outbox.push(Committed {
            file: Some(file),
            events: Vec::new(),
        });
        let mut rewritten = 0;
        for name in touched {
            let Some(d) = self.domains.get(&name) else {
                continue;
            };
            let extra: &[Status] = if self.held(&d.registrant) {
                &[Status::ServerHold]
            } else {
                &[]
            };
            if d.base != Some(version_of(&d.to_record(extra))) {
                let d = d.clone();
                self.put_domain(d);
                rewritten += 1;
            }
        }
        self.finish(now);
        Ok(ForeignApplied {
            sequence,
            registrars,
            rewritten,
        })
    }

    /// eppd's version of a record (`Ok(None)`: no such record).
    fn version(&self, class: &str, key: &str) -> Result<Option<mkdb::change::Version>, String> {
        Ok(match class {
            DOMAIN => self
                .domains
                .get(&key.to_ascii_lowercase())
                .and_then(|d| d.base),
            CONTACT => self.contacts.get(key).and_then(|c| c.base),
            HOST => self
                .hosts
                .get(&key.to_ascii_lowercase())
                .and_then(|h| h.base),
            REGISTRAR => self.registrars.get(key).and_then(|r| r.base),
            _ => {
                return Err(format!(
                    "eppd does not hold {class} records (stop eppd to change them)"
                ));
            }
        })
    }

    /// Does a record exist?
    fn exists(&self, class: &str, key: &str) -> bool {
        match class {
            DOMAIN => self.domains.contains_key(&key.to_ascii_lowercase()),
            CONTACT => self.contacts.contains_key(key),
            HOST => self.hosts.contains_key(&key.to_ascii_lowercase()),
            REGISTRAR => self.registrars.contains_key(key),
            _ => false,
        }
    }

    /// Checks and applies one foreign change; returns the slot it replaced.
    fn foreign_change(&mut self, c: &Change) -> Result<Slot, (ResultCode, String)> {
        let policy = |p: String| (ResultCode::ParameterValuePolicyError, p);
        let now = self.version(&c.class, &c.key).map_err(policy)?;
        match (c.base, now) {
            (Some(base), Some(v)) if base != v => {
                return Err((
                    ResultCode::ObjectStatusProhibitsOperation,
                    format!(
                        "conflict: the record changed since version {base} was read (it is \
                         now {v}); re-read and edit again"
                    ),
                ));
            }
            (Some(base), None) if c.action == Action::Put => {
                return Err((
                    ResultCode::ObjectDoesNotExist,
                    format!("conflict: the record (version {base}) was deleted meanwhile"),
                ));
            }
            (None, Some(_)) if c.action == Action::Put => {
                return Err((
                    ResultCode::ObjectExists,
                    "conflict: the record exists already (a put without Base-Version creates)"
                        .into(),
                ));
            }
            (_, None) if c.action == Action::Delete => {
                return Err((ResultCode::ObjectDoesNotExist, "no such record".into()));
            }
            _ => {}
        }
        if c.action == Action::Delete {
            let slot = match c.class.as_str() {
                DOMAIN => Slot::Domain(c.key.to_ascii_lowercase(), None),
                CONTACT => Slot::Contact(c.key.clone(), None),
                HOST => Slot::Host(c.key.to_ascii_lowercase(), None),
                _ => Slot::Registrar(c.key.clone(), None),
            };
            return Ok(self.swap(slot));
        }
        if let Some(schema) = &self.schema {
            let Some(class) = schema.class(&c.class) else {
                return Err(policy(format!("no class {:?}", c.class)));
            };
            let mut recs = Vec::new();
            mkdb::record::for_each_record(&c.record, |r| {
                recs.push(r.clone());
                Ok::<_, mkdb::record::SyntaxError>(())
            })
            .map_err(|e| policy(e.to_string()))?;
            let [rec] = recs.as_slice() else {
                return Err(policy(format!("expected one record, found {}", recs.len())));
            };
            let (mut fields, mut probs) = (Vec::new(), Vec::new());
            class.validate(rec, &mut fields, &mut probs);
            if let Some(p) = probs.first() {
                return Err(policy(format!(
                    "line {} of the record: {}",
                    p.line, p.problem
                )));
            }
        }
        let mut tmp = Loaded::default();
        tmp.apply_change(c);
        let wrong_key = || policy(format!("the record's key is not {:?}", c.key));
        let slot = match c.class.as_str() {
            DOMAIN => {
                let key = c.key.to_ascii_lowercase();
                let mut d = tmp.domains.remove(&key).ok_or_else(wrong_key)?;
                if self.held(&d.registrant) {
                    d.statuses.remove(&Status::ServerHold);
                }
                Slot::Domain(key, Some(d))
            }
            CONTACT => Slot::Contact(
                c.key.clone(),
                Some(tmp.contacts.remove(&c.key).ok_or_else(wrong_key)?),
            ),
            HOST => {
                let key = c.key.to_ascii_lowercase();
                let h = tmp.hosts.remove(&key).ok_or_else(wrong_key)?;
                Slot::Host(key, Some(h))
            }
            _ => Slot::Registrar(
                c.key.clone(),
                Some(tmp.registrars.remove(&c.key).ok_or_else(wrong_key)?),
            ),
        };
        Ok(self.swap(slot))
    }

    /// After a foreign file's changes are in place: its puts' references exist and its
    /// deleted records are referenced by nothing. Returns the problems.
    fn foreign_links(&self, file: &ChangeFile) -> Vec<String> {
        let mut problems = Vec::new();
        for c in &file.changes {
            match c.action {
                Action::Put => {
                    let Some(class) = self.schema.as_ref().and_then(|s| s.class(&c.class)) else {
                        continue;
                    };
                    let _ = mkdb::record::for_each_record(&c.record, |rec| {
                        let (mut fields, mut probs) = (Vec::new(), Vec::new());
                        class.validate(rec, &mut fields, &mut probs);
                        for f in &fields {
                            let a = class.attr(f.attr);
                            if let Some(target) = a.references.as_deref()
                                && !self.exists(target, f.value)
                            {
                                problems.push(format!(
                                    "put {} {}: {target} {} does not exist",
                                    c.class, c.key, f.value
                                ));
                            }
                        }
                        Ok::<_, mkdb::record::SyntaxError>(())
                    });
                }
                Action::Delete => {
                    let referenced = match c.class.as_str() {
                        CONTACT => self.contact_refs.get(&c.key).is_some_and(|n| *n > 0),
                        HOST => self
                            .host_refs
                            .get(&c.key.to_ascii_lowercase())
                            .is_some_and(|n| *n > 0),
                        REGISTRAR => {
                            let r = c.key.as_str();
                            let by = |ids: [Option<&str>; 4]| ids.contains(&Some(r));
                            self.domains.values().any(|d| {
                                by([
                                    Some(&d.cl_id),
                                    d.cr_id.as_deref(),
                                    d.up_id.as_deref(),
                                    d.tr_id.as_deref(),
                                ])
                            }) || self.contacts.values().any(|x| {
                                by([Some(&x.cl_id), x.cr_id.as_deref(), x.up_id.as_deref(), None])
                            }) || self.hosts.values().any(|h| {
                                by([Some(&h.cl_id), h.cr_id.as_deref(), h.up_id.as_deref(), None])
                            })
                        }
                        _ => false,
                    };
                    if referenced {
                        problems.push(format!(
                            "delete {} {}: other records still refer to it",
                            c.class, c.key
                        ));
                    }
                }
            }
        }
        problems
    }

    /// Puts `slot`'s object in place (or removes its key), keeping the reference counts;
    /// returns what was there.
    fn swap(&mut self, slot: Slot) -> Slot {
        match slot {
            Slot::Domain(key, new) => {
                let old = self.domains.remove(&key);
                if let Some(o) = &old {
                    self.count_refs(o, -1);
                }
                if let Some(d) = new {
                    self.count_refs(&d, 1);
                    self.domains.insert(key.clone(), d);
                }
                Slot::Domain(key, old)
            }
            Slot::Contact(key, new) => {
                let old = self.contacts.remove(&key);
                for s in old.iter().flat_map(|o| &o.sponsors) {
                    if let Some(n) = self.contact_refs.get_mut(s) {
                        *n = n.saturating_sub(1);
                    }
                }
                if let Some(c) = new {
                    for s in &c.sponsors {
                        *self.contact_refs.entry(s.clone()).or_default() += 1;
                    }
                    self.contacts.insert(key.clone(), c);
                }
                Slot::Contact(key, old)
            }
            Slot::Host(key, new) => {
                let old = self.hosts.remove(&key);
                if let Some(h) = new {
                    self.hosts.insert(key.clone(), h);
                }
                Slot::Host(key, old)
            }
            Slot::Registrar(key, new) => {
                let old = self.registrars.remove(&key);
                for c in old.iter().flat_map(|o| &o.contacts) {
                    if let Some(n) = self.contact_refs.get_mut(c) {
                        *n = n.saturating_sub(1);
                    }
                }
                if let Some(r) = new {
                    for c in &r.contacts {
                        *self.contact_refs.entry(c.clone()).or_default() += 1;
                    }
                    self.registrars.insert(key.clone(), r);
                }
                Slot::Registrar(key, old)
            }
        }
    }

    /// Replaces a registrar's password hash (login `newPW`).
    pub fn set_password_hash(&mut self, cl_id: &str, phc: String, now: Timestamp) -> bool {
        let Some(r) = self.registrars.get(cl_id) else {
            return false;
        };
        let mut r = r.clone();
        r.password_hash = Some(phc);
        let text = r.to_record();
        let base = r.base;
        r.base = Some(version_of(&text));
        self.changes.push(Change {
            action: Action::Put,
            class: REGISTRAR.into(),
            key: r.id.clone(),
            base,
            record: text,
        });
        self.registrars.insert(r.id.clone(), r);
        self.finish(now);
        true
    }

    /// Completes the pending transfers whose time has come (`serverApproved`).
    pub fn tick(&mut self, now: Timestamp) {
        let due: Vec<TransferRecord> = self
            .transfers
            .values()
            .filter(|t| t.status == TransferStatus::Pending && t.ac_date <= now)
            .cloned()
            .collect();
        for t in due {
            self.complete_transfer(t, TransferStatus::ServerApproved, now);
            self.finish(now);
        }
    }

    // -----------------------------------------------------------------------------------
    // Shared checks

    fn sponsor(&self, sponsor: &str, client: &Client<'_>) -> R<()> {
        if sponsor == client.cl_id {
            Ok(())
        } else {
            Err(err(
                ResultCode::AuthorizationError,
                format!("{} is not the sponsoring registrar", client.cl_id),
            ))
        }
    }

    fn readonly(&self, client: &Client<'_>) -> R<()> {
        match self.registrars.get(client.cl_id).map(|r| r.status.as_str()) {
            Some("readonly") | Some("terminated") => Err(err(
                ResultCode::AuthorizationError,
                format!("registrar {} may not change objects", client.cl_id),
            )),
            _ => Ok(()),
        }
    }

    fn is_internal(&self, host: &str) -> bool {
        host.ends_with(&format!(".{}", self.cfg.tld))
    }

    /// The registrable domain a host name is under (`ns1.a.coop` → `a.coop`).
    fn superordinate(&self, host: &str) -> Option<String> {
        let rest = host.strip_suffix(&format!(".{}", self.cfg.tld))?;
        let label = rest.rsplit('.').next()?;
        (label != rest).then(|| format!("{label}.{}", self.cfg.tld))
    }

    fn domain_name_ok(&self, name: &str) -> bool {
        name.strip_suffix(&format!(".{}", self.cfg.tld))
            .is_some_and(|l| !l.is_empty() && !l.contains('.'))
    }

    fn months(&self, p: Option<Period>) -> R<u32> {
        let m = p.map_or(self.cfg.default_months, Period::months);
        if m == 0 || !m.is_multiple_of(12) || m > self.cfg.max_months {
            return Err(err(
                ResultCode::ParameterValueRangeError,
                format!(
                    "periods are whole years from 1 to {}",
                    self.cfg.max_months / 12
                ),
            )
            .with_value(format!("{m}m")));
        }
        Ok(m)
    }

    fn status_change(
        current: &BTreeSet<Status>,
        add: &[StatusEntry],
        rem: &[StatusEntry],
    ) -> R<BTreeSet<Status>> {
        let mut s = current.clone();
        for e in rem {
            if !e.status.is_client() {
                return Err(err(
                    ResultCode::ObjectStatusProhibitsOperation,
                    format!("{} is a server status", e.status.as_str()),
                ));
            }
            if !s.remove(&e.status) {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("status {} is not set", e.status.as_str()),
                ));
            }
        }
        for e in add {
            if !e.status.is_client() {
                return Err(err(
                    ResultCode::ObjectStatusProhibitsOperation,
                    format!("{} is not a client status", e.status.as_str()),
                ));
            }
            if !s.insert(e.status) {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("status {} is already set", e.status.as_str()),
                ));
            }
        }
        Ok(s)
    }

    /// 2304 when `statuses` forbid an update, unless the update only removes
    /// `clientUpdateProhibited`.
    fn update_allowed(statuses: &BTreeSet<Status>, removes_client_lock: bool) -> R<()> {
        for s in [
            Status::ServerUpdateProhibited,
            Status::PendingDelete,
            Status::PendingTransfer,
        ] {
            if statuses.contains(&s) {
                return Err(err(
                    ResultCode::ObjectStatusProhibitsOperation,
                    format!("the object has status {}", s.as_str()),
                ));
            }
        }
        if statuses.contains(&Status::ClientUpdateProhibited) && !removes_client_lock {
            return Err(err(
                ResultCode::ObjectStatusProhibitsOperation,
                "the object has status clientUpdateProhibited",
            ));
        }
        Ok(())
    }

    fn forbid(statuses: &BTreeSet<Status>, which: &[Status]) -> R<()> {
        match which.iter().find(|s| statuses.contains(s)) {
            Some(s) => Err(err(
                ResultCode::ObjectStatusProhibitsOperation,
                format!("the object has status {}", s.as_str()),
            )),
            None => Ok(()),
        }
    }

    fn entries(v: Vec<Status>) -> Vec<StatusEntry> {
        v.into_iter()
            .map(|status| StatusEntry {
                status,
                lang: None,
                text: None,
            })
            .collect()
    }

    fn auth_ok(stored: Option<&String>, given: Option<&AuthInfo>) -> Option<bool> {
        given.map(|g| stored.is_some_and(|s| *s == g.pw))
    }

    // -----------------------------------------------------------------------------------
    // Domains

    fn domain_statuses(&self, d: &Domain) -> Vec<Status> {
        let mut extra = Vec::new();
        if self.held(&d.registrant) {
            extra.push(Status::ServerHold);
        }
        if d.ns.is_empty() {
            extra.push(Status::Inactive);
        }
        let mut v = shown_statuses(&d.statuses, &extra);
        if v.len() > 1 {
            v.retain(|s| *s != Status::Ok);
        }
        v
    }

    fn domain(&mut self, client: &Client<'_>, cmd: &DomainCommand, now: Timestamp) -> R<Reply> {
        match cmd {
            DomainCommand::Check(names) => Ok(Reply::ok(ResData::DomainCheck(
                names
                    .iter()
                    .map(|n| {
                        let (avail, reason) = if !self.domain_name_ok(n) {
                            (false, Some("Not in this registry's namespace".into()))
                        } else if self.domains.contains_key(n) {
                            (false, Some("In use".into()))
                        } else {
                            (true, None)
                        };
                        CheckResult {
                            name: n.clone(),
                            avail,
                            reason,
                        }
                    })
                    .collect(),
            ))),
            DomainCommand::Info(i) => {
                let d = self.get_domain(&i.name)?;
                let full = match Self::auth_ok(d.auth.as_ref(), i.auth_info.as_ref()) {
                    _ if d.cl_id == client.cl_id => true,
                    Some(true) => true,
                    Some(false) => {
                        return Err(err(
                            ResultCode::InvalidAuthorizationInformation,
                            "wrong authInfo",
                        ));
                    }
                    None => false,
                };
                let subs: Vec<String> = self
                    .hosts
                    .keys()
                    .filter(|h| is_subordinate(h, &d.name))
                    .cloned()
                    .collect();
                let (ns, hosts) = match i.hosts {
                    HostsFilter::All => (d.ns.clone(), subs),
                    HostsFilter::Del => (d.ns.clone(), Vec::new()),
                    HostsFilter::Sub => (Vec::new(), subs),
                    HostsFilter::None => (Vec::new(), Vec::new()),
                };
                let mut reply = Reply::ok(ResData::DomainInfo(DomainInfoData {
                    name: d.name.clone(),
                    roid: d.roid.clone(),
                    statuses: Self::entries(self.domain_statuses(d)),
                    registrant: full.then(|| d.registrant.clone()),
                    contacts: if full {
                        d.contacts.iter().cloned().collect()
                    } else {
                        Vec::new()
                    },
                    ns: ns.into_iter().map(NameServer::HostObj).collect(),
                    hosts,
                    dates: ObjectDates {
                        cl_id: d.cl_id.clone(),
                        cr_id: d.cr_id.clone(),
                        cr_date: Some(d.cr_date),
                        up_id: d.up_id.clone(),
                        up_date: d.up_date,
                        tr_date: d.tr_date,
                    },
                    ex_date: Some(d.ex_date),
                    auth_info: if full { d.auth.clone() } else { None },
                }));
                if full && let Some(state) = self.contacts.get(&d.registrant).and_then(|c| c.state)
                {
                    reply.extensions.push(ExtData::CoopStateChange {
                        id: d.registrant.clone(),
                        state,
                    });
                }
                Ok(reply)
            }
            DomainCommand::Create(c) => self.domain_create(client, c, now),
            DomainCommand::Update(u) => self.domain_update(client, u, now),
            DomainCommand::Delete(name) => {
                self.readonly(client)?;
                let d = self.get_domain(name)?.clone();
                self.sponsor(&d.cl_id, client)?;
                Self::forbid(&d.statuses, DELETE_BLOCKERS)?;
                if let Some(h) = self.hosts.keys().find(|h| is_subordinate(h, name)) {
                    return Err(err(
                        ResultCode::ObjectAssociationProhibitsOperation,
                        format!("subordinate host {h} exists: delete it first"),
                    ));
                }
                self.count_refs(&d, -1);
                self.domains.remove(name);
                self.transfers.remove(&(TransferKind::Domain, name.clone()));
                self.delete(DOMAIN, name, d.base);
                Ok(Reply::new(ResultCode::Success))
            }
            DomainCommand::Renew(r) => self.domain_renew(client, r, now),
            DomainCommand::Transfer(t) => self.domain_transfer(client, t, now),
        }
    }

    fn get_domain(&self, name: &str) -> R<&Domain> {
        self.domains.get(name).ok_or_else(|| {
            err(ResultCode::ObjectDoesNotExist, format!("no domain {name}"))
                .with_value(name.to_string())
        })
    }

    fn check_registrant(&self, id: &str) -> R<()> {
        match self.contacts.get(id) {
            None => Err(err(
                ResultCode::ObjectDoesNotExist,
                format!("no contact {id}"),
            )),
            Some(c) if c.state.is_none() => Err(err(
                ResultCode::ParameterValuePolicyError,
                format!("{id} is not a .coop registrant (created without <coop:create> sponsors)"),
            )),
            Some(_) => Ok(()),
        }
    }

    fn check_contacts(&self, ids: impl IntoIterator<Item = String>) -> R<()> {
        for id in ids {
            if !self.contacts.contains_key(&id) {
                return Err(err(
                    ResultCode::ObjectDoesNotExist,
                    format!("no contact {id}"),
                ));
            }
        }
        Ok(())
    }

    fn check_ns(&self, ns: &[NameServer]) -> R<Vec<String>> {
        let mut out = Vec::new();
        for n in ns {
            match n {
                NameServer::HostObj(h) => {
                    if !self.hosts.contains_key(h) {
                        return Err(err(
                            ResultCode::ObjectDoesNotExist,
                            format!("no host {h}: create the host object first"),
                        ));
                    }
                    out.push(h.clone());
                }
                NameServer::HostAttr { .. } => {
                    return Err(err(
                        ResultCode::UnimplementedOption,
                        "<domain:hostAttr> is not supported: use host objects",
                    ));
                }
            }
        }
        Ok(out)
    }

    fn domain_create(&mut self, client: &Client<'_>, c: &DomainCreate, now: Timestamp) -> R<Reply> {
        self.readonly(client)?;
        if !self.domain_name_ok(&c.name) {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!("{} is not a name under .{}", c.name, self.cfg.tld),
            )
            .with_value(c.name.clone()));
        }
        if self.domains.contains_key(&c.name) {
            return Err(err(ResultCode::ObjectExists, format!("{} exists", c.name)));
        }
        let months = self.months(c.period)?;
        let Some(registrant) = &c.registrant else {
            return Err(err(
                ResultCode::RequiredParameterMissing,
                "<domain:registrant> is required",
            ));
        };
        self.check_registrant(registrant)?;
        self.check_contacts(c.contacts.iter().map(|x| x.id.clone()))?;
        let ns = self.check_ns(&c.ns)?;
        let roid = self.roid('D');
        let d = Domain {
            name: c.name.clone(),
            roid,
            cl_id: client.cl_id.to_string(),
            registrant: registrant.clone(),
            contacts: c.contacts.iter().map(|x| (x.kind, x.id.clone())).collect(),
            ns,
            cr_id: Some(client.cl_id.to_string()),
            cr_date: now,
            ex_date: add_months(now, months),
            auth: Some(c.auth_info.pw.clone()),
            ..Domain::default()
        };
        let ex = d.ex_date;
        self.put_domain(d);
        let mut reply = Reply::ok(ResData::DomainCreate {
            name: c.name.clone(),
            cr_date: now,
            ex_date: Some(ex),
        });
        if let Some(state) = self.contacts.get(registrant).and_then(|x| x.state)
            && state != VerificationState::Verified
        {
            reply.extensions.push(ExtData::CoopStateChange {
                id: registrant.clone(),
                state,
            });
            reply.message =
                Some("the registrant is not verified: the domain is on serverHold".into());
        }
        Ok(reply)
    }

    fn domain_update(&mut self, client: &Client<'_>, u: &DomainUpdate, now: Timestamp) -> R<Reply> {
        self.readonly(client)?;
        let old = self.get_domain(&u.name)?.clone();
        self.sponsor(&old.cl_id, client)?;
        let only_unlock = u.add.is_empty()
            && u.chg.is_none()
            && u.rem.ns.is_empty()
            && u.rem.contacts.is_empty()
            && u.rem
                .statuses
                .iter()
                .any(|s| s.status == Status::ClientUpdateProhibited);
        Self::update_allowed(&old.statuses, only_unlock)?;
        let mut d = old.clone();
        d.statuses = Self::status_change(&old.statuses, &u.add.statuses, &u.rem.statuses)?;
        for n in &u.rem.ns {
            let before = d.ns.len();
            d.ns.retain(|h| h != n.name());
            if d.ns.len() == before {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("{} is not a name server of {}", n.name(), d.name),
                ));
            }
        }
        for h in self.check_ns(&u.add.ns)? {
            if d.ns.contains(&h) {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("{h} is already a name server of {}", d.name),
                ));
            }
            d.ns.push(h);
        }
        if d.ns.len() > 13 {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                "at most 13 name servers",
            ));
        }
        for c in &u.rem.contacts {
            if !d.contacts.remove(&(c.kind, c.id.clone())) {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("{} is not a {} contact", c.id, c.kind.as_str()),
                ));
            }
        }
        self.check_contacts(u.add.contacts.iter().map(|c| c.id.clone()))?;
        for c in &u.add.contacts {
            if !d.contacts.insert((c.kind, c.id.clone())) {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("{} is already a {} contact", c.id, c.kind.as_str()),
                ));
            }
        }
        if let Some(chg) = &u.chg {
            match &chg.registrant {
                Some(None) => {
                    return Err(err(
                        ResultCode::ParameterValuePolicyError,
                        "a .coop domain needs a registrant",
                    ));
                }
                Some(Some(r)) => {
                    self.check_registrant(r)?;
                    d.registrant = r.clone();
                }
                None => {}
            }
            match &chg.auth_info {
                Some(AuthInfoChange::Set(a)) => d.auth = Some(a.pw.clone()),
                Some(AuthInfoChange::Null) => d.auth = None,
                None => {}
            }
        }
        d.up_id = Some(client.cl_id.to_string());
        d.up_date = Some(now);
        let registrant = d.registrant.clone();
        self.put_domain(d);
        let mut reply = Reply::new(ResultCode::Success);
        if let Some(state) = self.contacts.get(&registrant).and_then(|x| x.state)
            && state != VerificationState::Verified
        {
            reply.extensions.push(ExtData::CoopStateChange {
                id: registrant,
                state,
            });
        }
        Ok(reply)
    }

    fn domain_renew(&mut self, client: &Client<'_>, r: &DomainRenew, now: Timestamp) -> R<Reply> {
        self.readonly(client)?;
        let d = self.get_domain(&r.name)?.clone();
        self.sponsor(&d.cl_id, client)?;
        Self::forbid(
            &d.statuses,
            &[
                Status::ClientRenewProhibited,
                Status::ServerRenewProhibited,
                Status::PendingDelete,
                Status::PendingTransfer,
            ],
        )?;
        let (y, m, day) = date_of(d.ex_date);
        let cur = (
            i64::from(r.cur_exp_date.year),
            u32::from(r.cur_exp_date.month),
            u32::from(r.cur_exp_date.day),
        );
        if cur != (y, m, day) {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!(
                    "curExpDate {} is not the expiry date {y:04}-{m:02}-{day:02}",
                    r.cur_exp_date
                ),
            )
            .with_value(r.cur_exp_date.to_string()));
        }
        let months = self.months(r.period)?;
        let ex = add_months(d.ex_date, months);
        self.within_horizon(ex, now)?;
        let mut d = d;
        d.ex_date = ex;
        d.up_id = Some(client.cl_id.to_string());
        d.up_date = Some(now);
        let name = d.name.clone();
        self.put_domain(d);
        Ok(Reply::ok(ResData::DomainRenew {
            name,
            ex_date: Some(ex),
        }))
    }

    /// Refuses (2306) an expiry date beyond the registry's horizon (`max_months` from now).
    fn within_horizon(&self, ex: Timestamp, now: Timestamp) -> R<()> {
        if ex > add_months(now, self.cfg.max_months) {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!(
                    "the expiry date may not be more than {} years ahead",
                    self.cfg.max_months / 12
                ),
            ));
        }
        Ok(())
    }

    fn domain_transfer(
        &mut self,
        client: &Client<'_>,
        t: &DomainTransfer,
        now: Timestamp,
    ) -> R<Reply> {
        let d = self.get_domain(&t.name)?.clone();
        let key = (TransferKind::Domain, d.name.clone());
        match t.op {
            TransferOp::Query => self.transfer_query(
                client,
                &key,
                d.auth.as_ref(),
                t.auth_info.as_ref(),
                &d.cl_id,
            ),
            TransferOp::Request => {
                self.readonly(client)?;
                let months = self.months(t.period)?;
                self.transfer_request_checks(
                    client,
                    &key,
                    &d.cl_id,
                    d.auth.as_ref(),
                    t.auth_info.as_ref(),
                )?;
                Self::forbid(
                    &d.statuses,
                    &[
                        Status::ClientTransferProhibited,
                        Status::ServerTransferProhibited,
                        Status::PendingDelete,
                        Status::PendingTransfer,
                    ],
                )?;
                // The transfer extends the registration by its period: the same
                // 10-year horizon as a renew (ICANN RST epp-19).
                let ex = add_months(d.ex_date, months);
                self.within_horizon(ex, now)?;
                let rec = TransferRecord {
                    kind: TransferKind::Domain,
                    name: d.name.clone(),
                    status: TransferStatus::Pending,
                    re_id: client.cl_id.to_string(),
                    re_date: now,
                    ac_id: d.cl_id.clone(),
                    ac_date: Timestamp(now.0 + self.cfg.transfer_after),
                    months,
                    ex_date: Some(ex),
                };
                let mut d = d;
                d.statuses.insert(Status::PendingTransfer);
                self.put_domain(d);
                Ok(self.transfer_requested(rec, now))
            }
            op => self.transfer_act(client, &key, op, now),
        }
    }

    fn transfer_query(
        &self,
        client: &Client<'_>,
        key: &(TransferKind, String),
        stored: Option<&String>,
        given: Option<&AuthInfo>,
        sponsor: &str,
    ) -> R<Reply> {
        let Some(t) = self.transfers.get(key) else {
            return Err(err(
                ResultCode::CommandUseError,
                "no transfer of this object is known",
            ));
        };
        let allowed = client.cl_id == sponsor
            || client.cl_id == t.re_id
            || client.cl_id == t.ac_id
            || Self::auth_ok(stored, given) == Some(true);
        if !allowed {
            return Err(err(
                ResultCode::AuthorizationError,
                "only the parties of the transfer or a holder of the authInfo may query it",
            ));
        }
        Ok(Reply::ok(t.res_data()))
    }

    fn transfer_request_checks(
        &self,
        client: &Client<'_>,
        key: &(TransferKind, String),
        sponsor: &str,
        stored: Option<&String>,
        given: Option<&AuthInfo>,
    ) -> R<()> {
        if sponsor == client.cl_id {
            return Err(err(
                ResultCode::ObjectNotEligibleForTransfer,
                "the object is already sponsored by the requesting registrar",
            ));
        }
        if self
            .transfers
            .get(key)
            .is_some_and(|t| t.status == TransferStatus::Pending)
        {
            return Err(err(
                ResultCode::ObjectPendingTransfer,
                "a transfer is pending",
            ));
        }
        match Self::auth_ok(stored, given) {
            None => Err(err(
                ResultCode::RequiredParameterMissing,
                "<authInfo> is required for a transfer request",
            )),
            Some(false) => Err(err(
                ResultCode::InvalidAuthorizationInformation,
                "wrong authInfo",
            )),
            Some(true) => Ok(()),
        }
    }

    fn transfer_requested(&mut self, rec: TransferRecord, now: Timestamp) -> Reply {
        self.queue(
            &rec.ac_id.clone(),
            now,
            "Transfer requested.",
            PollPayload::Transfer(rec.clone()),
        );
        let res = rec.res_data();
        self.set_transfer(rec);
        Reply {
            res_data: Some(res),
            ..Reply::new(ResultCode::SuccessPending)
        }
    }

    fn transfer_act(
        &mut self,
        client: &Client<'_>,
        key: &(TransferKind, String),
        op: TransferOp,
        now: Timestamp,
    ) -> R<Reply> {
        self.readonly(client)?;
        let t = match self.transfers.get(key) {
            Some(t) if t.status == TransferStatus::Pending => t.clone(),
            _ => {
                return Err(err(
                    ResultCode::ObjectNotPendingTransfer,
                    "no transfer is pending",
                ));
            }
        };
        let (who, status) = match op {
            TransferOp::Approve => (&t.ac_id, TransferStatus::ClientApproved),
            TransferOp::Reject => (&t.ac_id, TransferStatus::ClientRejected),
            _ => (&t.re_id, TransferStatus::ClientCancelled),
        };
        if who != client.cl_id {
            return Err(err(
                ResultCode::AuthorizationError,
                format!("only {who} may {} this transfer", op.as_str()),
            ));
        }
        let done = self.complete_transfer(t, status, now);
        Ok(Reply::ok(done.res_data()))
    }

    /// Ends a pending transfer with `status`: the object moves on approval; messages go
    /// to both parties.
    fn complete_transfer(
        &mut self,
        mut t: TransferRecord,
        status: TransferStatus,
        now: Timestamp,
    ) -> TransferRecord {
        let approved = matches!(
            status,
            TransferStatus::ClientApproved | TransferStatus::ServerApproved
        );
        t.status = status;
        t.ac_date = now;
        match t.kind {
            TransferKind::Domain => {
                if let Some(mut d) = self.domains.get(&t.name).cloned() {
                    d.statuses.remove(&Status::PendingTransfer);
                    if approved {
                        d.cl_id = t.re_id.clone();
                        d.tr_id = Some(t.re_id.clone());
                        d.tr_date = Some(now);
                        d.ex_date = add_months(d.ex_date, t.months);
                        t.ex_date = Some(d.ex_date);
                        d.auth = Some(random_auth());
                        let subs: Vec<Host> = self
                            .hosts
                            .values()
                            .filter(|h| is_subordinate(&h.name, &t.name))
                            .cloned()
                            .collect();
                        for mut h in subs {
                            h.cl_id = t.re_id.clone();
                            h.tr_date = Some(now);
                            self.put_host(h);
                        }
                    } else {
                        t.ex_date = None;
                    }
                    self.put_domain(d);
                }
            }
            TransferKind::Contact => {
                if let Some(mut c) = self.contacts.get(&t.name).cloned() {
                    c.statuses.remove(&Status::PendingTransfer);
                    if approved {
                        c.cl_id = t.re_id.clone();
                        c.tr_date = Some(now);
                        c.auth = Some(random_auth());
                    }
                    self.put_contact(c);
                }
            }
        }
        let text = match status {
            TransferStatus::ClientApproved => "Transfer approved.",
            TransferStatus::ServerApproved => "Transfer approved by the server.",
            TransferStatus::ClientRejected => "Transfer rejected.",
            TransferStatus::ClientCancelled => "Transfer cancelled.",
            _ => "Transfer ended.",
        };
        for who in [t.re_id.clone(), t.ac_id.clone()] {
            self.queue(&who, now, text, PollPayload::Transfer(t.clone()));
        }
        self.set_transfer(t.clone());
        t
    }

    // -----------------------------------------------------------------------------------
    // Contacts

    fn get_contact(&self, id: &str) -> R<&Contact> {
        self.contacts.get(id).ok_or_else(|| {
            err(ResultCode::ObjectDoesNotExist, format!("no contact {id}"))
                .with_value(id.to_string())
        })
    }

    fn contact(&mut self, client: &Client<'_>, cmd: &ContactCommand, now: Timestamp) -> R<Reply> {
        match cmd {
            ContactCommand::Check(ids) => Ok(Reply::ok(ResData::ContactCheck(
                ids.iter()
                    .map(|id| CheckResult {
                        name: id.clone(),
                        avail: !self.contacts.contains_key(id),
                        reason: self.contacts.contains_key(id).then(|| "In use".into()),
                    })
                    .collect(),
            ))),
            ContactCommand::Info { id, auth_info } => {
                let c = self.get_contact(id)?;
                let full = match Self::auth_ok(c.auth.as_ref(), auth_info.as_ref()) {
                    _ if c.cl_id == client.cl_id => true,
                    Some(true) => true,
                    Some(false) => {
                        return Err(err(
                            ResultCode::InvalidAuthorizationInformation,
                            "wrong authInfo",
                        ));
                    }
                    // Personal data goes only to the sponsor or a holder of the
                    // authInfo (RFC 5733 section 3.1.2 leaves it to policy; ICANN RST
                    // epp-08 requires the refusal).
                    None => {
                        return Err(err(
                            ResultCode::AuthorizationError,
                            format!("{id} is sponsored by another registrar: give its authInfo"),
                        ));
                    }
                };
                let linked = self.contact_refs.get(id).copied().unwrap_or(0) > 0;
                let mut st =
                    shown_statuses(&c.statuses, if linked { &[Status::Linked] } else { &[] });
                if linked && st.len() > 1 && st.contains(&Status::Ok) && c.statuses.is_empty() {
                    st = vec![Status::Ok, Status::Linked];
                }
                let kind = if [Some(&c.name), c.org.as_ref(), Some(&c.addr.city)]
                    .into_iter()
                    .flatten()
                    .chain(c.addr.street.iter())
                    .all(|s| s.is_ascii())
                {
                    PostalType::Int
                } else {
                    PostalType::Loc
                };
                let mut reply = Reply::ok(ResData::ContactInfo(ContactInfoData {
                    id: c.id.clone(),
                    roid: c.roid.clone(),
                    statuses: Self::entries(st),
                    postal_info: vec![PostalInfo {
                        kind,
                        name: c.name.clone(),
                        org: c.org.clone(),
                        addr: c.addr.clone(),
                    }],
                    voice: c.voice.clone(),
                    fax: c.fax.clone(),
                    email: c.email.clone(),
                    dates: ObjectDates {
                        cl_id: c.cl_id.clone(),
                        cr_id: c.cr_id.clone(),
                        cr_date: Some(c.cr_date),
                        up_id: c.up_id.clone(),
                        up_date: c.up_date,
                        tr_date: c.tr_date,
                    },
                    auth_info: if full { c.auth.clone() } else { None },
                    disclose: None,
                }));
                if let Some(state) = c.state
                    && client.ext_uris.iter().any(|e| e == crate::command::COOP_NS)
                {
                    reply.extensions.push(ExtData::CoopInfo {
                        state,
                        sponsors: c.sponsors.clone(),
                        lang_pref: c.lang_pref.clone(),
                        mailing_list_pref: c.mailing_list_pref,
                        ens_identity: c.ens_identity.clone(),
                    });
                }
                Ok(reply)
            }
            ContactCommand::Create(c) => self.contact_create(client, c, now),
            ContactCommand::Update(u) => self.contact_update(client, u, now),
            ContactCommand::Delete(id) => {
                self.readonly(client)?;
                let c = self.get_contact(id)?.clone();
                self.sponsor(&c.cl_id, client)?;
                Self::forbid(&c.statuses, DELETE_BLOCKERS)?;
                if self.contact_refs.get(id).copied().unwrap_or(0) > 0 {
                    return Err(err(
                        ResultCode::ObjectAssociationProhibitsOperation,
                        format!("{id} is linked to other objects"),
                    ));
                }
                for s in &c.sponsors {
                    if let Some(n) = self.contact_refs.get_mut(s) {
                        *n = n.saturating_sub(1);
                    }
                }
                self.contacts.remove(id);
                self.transfers.remove(&(TransferKind::Contact, id.clone()));
                self.delete(CONTACT, id, c.base);
                Ok(Reply::new(ResultCode::Success))
            }
            ContactCommand::Transfer { op, id, auth_info } => {
                let c = self.get_contact(id)?.clone();
                let key = (TransferKind::Contact, id.clone());
                match op {
                    TransferOp::Query => self.transfer_query(
                        client,
                        &key,
                        c.auth.as_ref(),
                        auth_info.as_ref(),
                        &c.cl_id,
                    ),
                    TransferOp::Request => {
                        self.readonly(client)?;
                        self.transfer_request_checks(
                            client,
                            &key,
                            &c.cl_id,
                            c.auth.as_ref(),
                            auth_info.as_ref(),
                        )?;
                        Self::forbid(
                            &c.statuses,
                            &[
                                Status::ClientTransferProhibited,
                                Status::ServerTransferProhibited,
                                Status::PendingDelete,
                                Status::PendingTransfer,
                            ],
                        )?;
                        let rec = TransferRecord {
                            kind: TransferKind::Contact,
                            name: c.id.clone(),
                            status: TransferStatus::Pending,
                            re_id: client.cl_id.to_string(),
                            re_date: now,
                            ac_id: c.cl_id.clone(),
                            ac_date: Timestamp(now.0 + self.cfg.transfer_after),
                            months: 0,
                            ex_date: None,
                        };
                        let mut c = c;
                        c.statuses.insert(Status::PendingTransfer);
                        self.put_contact(c);
                        Ok(self.transfer_requested(rec, now))
                    }
                    op => self.transfer_act(client, &key, *op, now),
                }
            }
        }
    }

    fn check_sponsors(&self, id: &str, sponsors: &[String]) -> R<()> {
        if sponsors.len() < 2 {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!(
                    "a .coop registrant needs at least two sponsors, {id} has {}",
                    sponsors.len()
                ),
            ));
        }
        for s in sponsors {
            if s == id {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    "a registrant cannot sponsor itself",
                ));
            }
        }
        self.check_contacts(sponsors.iter().cloned())
    }

    fn contact_create(
        &mut self,
        client: &Client<'_>,
        c: &ContactCreate,
        now: Timestamp,
    ) -> R<Reply> {
        self.readonly(client)?;
        if self.contacts.contains_key(&c.id) {
            return Err(err(ResultCode::ObjectExists, format!("{} exists", c.id)));
        }
        let Some(p) = c
            .postal_info
            .iter()
            .find(|p| p.kind == PostalType::Int)
            .or_else(|| c.postal_info.first())
        else {
            return Err(err(
                ResultCode::RequiredParameterMissing,
                "<contact:postalInfo> is required",
            ));
        };
        let mut contact = Contact {
            id: c.id.clone(),
            cl_id: client.cl_id.to_string(),
            name: p.name.clone(),
            org: p.org.clone(),
            addr: p.addr.clone(),
            voice: c.voice.clone(),
            fax: c.fax.clone(),
            email: c.email.clone(),
            cr_id: Some(client.cl_id.to_string()),
            cr_date: now,
            auth: Some(c.auth_info.pw.clone()),
            ..Contact::default()
        };
        if let Some(coop) = &c.coop {
            if !coop.sponsors.is_empty() {
                let mut sponsors = coop.sponsors.clone();
                sponsors.dedup();
                self.check_sponsors(&c.id, &sponsors)?;
                contact.sponsors = sponsors;
                contact.state = Some(VerificationState::PendingVerification);
            }
            contact.lang_pref = coop.lang_pref.clone();
            contact.mailing_list_pref = coop.mailing_list_pref;
            contact.ens_identity = coop.ens_identity.clone();
        }
        contact.roid = self.roid('C');
        self.put_contact(contact);
        Ok(Reply::ok(ResData::ContactCreate {
            id: c.id.clone(),
            cr_date: now,
        }))
    }

    fn contact_update(
        &mut self,
        client: &Client<'_>,
        u: &ContactUpdate,
        now: Timestamp,
    ) -> R<Reply> {
        self.readonly(client)?;
        let old = self.get_contact(&u.id)?.clone();
        self.sponsor(&old.cl_id, client)?;
        let only_unlock = u.add.is_empty()
            && u.chg.is_none()
            && u.coop.is_none()
            && u.rem
                .iter()
                .any(|s| s.status == Status::ClientUpdateProhibited);
        Self::update_allowed(&old.statuses, only_unlock)?;
        let mut c = old.clone();
        c.statuses = Self::status_change(&old.statuses, &u.add, &u.rem)?;
        if let Some(chg) = &u.chg {
            if let Some(p) = chg
                .postal_info
                .iter()
                .find(|p| p.kind == PostalType::Int)
                .or_else(|| chg.postal_info.first())
            {
                if let Some(n) = &p.name {
                    c.name = n.clone();
                }
                if let Some(o) = &p.org {
                    c.org = o.clone();
                }
                if let Some(a) = &p.addr {
                    c.addr = a.clone();
                }
            }
            if let Some(v) = &chg.voice {
                c.voice = v.clone();
            }
            if let Some(f) = &chg.fax {
                c.fax = f.clone();
            }
            if let Some(e) = &chg.email {
                c.email = e.clone();
            }
            if let Some(a) = &chg.auth_info {
                c.auth = Some(a.pw.clone());
            }
        }
        if let Some(coop) = &u.coop {
            for s in &coop.rem_sponsors {
                let before = c.sponsors.len();
                c.sponsors.retain(|x| x != s);
                if before == c.sponsors.len() {
                    return Err(err(
                        ResultCode::ParameterValuePolicyError,
                        format!("{s} is not a sponsor of {}", c.id),
                    ));
                }
            }
            for s in &coop.add_sponsors {
                if !c.sponsors.contains(s) {
                    c.sponsors.push(s.clone());
                }
            }
            if !coop.add_sponsors.is_empty() || !coop.rem_sponsors.is_empty() {
                self.check_sponsors(&c.id, &c.sponsors)?;
                if c.state.is_none() {
                    c.state = Some(VerificationState::PendingVerification);
                }
            }
            if let Some(chg) = &coop.chg {
                if let Some(l) = &chg.lang_pref {
                    c.lang_pref = Some(l.clone());
                }
                if let Some(m) = chg.mailing_list_pref {
                    c.mailing_list_pref = Some(m);
                }
                if let Some(e) = &chg.ens_identity {
                    c.ens_identity = Some(e.clone());
                }
            }
        }
        c.up_id = Some(client.cl_id.to_string());
        c.up_date = Some(now);
        let became_registrant = old.state.is_none() && c.state.is_some();
        let id = c.id.clone();
        self.put_contact(c);
        if became_registrant {
            // Its domains (if it was a plain contact used as registrant) are held now.
            let ds: Vec<Domain> = self
                .domains
                .values()
                .filter(|d| d.registrant == id)
                .cloned()
                .collect();
            for d in ds {
                self.put_domain(d);
            }
        }
        Ok(Reply::new(ResultCode::Success))
    }

    // -----------------------------------------------------------------------------------
    // Hosts

    fn get_host(&self, name: &str) -> R<&Host> {
        self.hosts.get(name).ok_or_else(|| {
            err(ResultCode::ObjectDoesNotExist, format!("no host {name}"))
                .with_value(name.to_string())
        })
    }

    /// For an internal host name: its superordinate domain, which must exist and be the
    /// client's.
    fn host_parent(&self, client: &Client<'_>, name: &str) -> R<Option<String>> {
        if !self.is_internal(name) {
            return Ok(None);
        }
        let Some(parent) = self.superordinate(name) else {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                format!("{name} is not under a domain"),
            ));
        };
        let d = self.domains.get(&parent).ok_or_else(|| {
            err(
                ResultCode::ObjectDoesNotExist,
                format!("the superordinate domain {parent} does not exist"),
            )
        })?;
        if d.cl_id != client.cl_id {
            return Err(err(
                ResultCode::AuthorizationError,
                format!("{parent} is sponsored by another registrar"),
            ));
        }
        Ok(Some(parent))
    }

    fn host(&mut self, client: &Client<'_>, cmd: &HostCommand, now: Timestamp) -> R<Reply> {
        match cmd {
            HostCommand::Check(names) => Ok(Reply::ok(ResData::HostCheck(
                names
                    .iter()
                    .map(|n| CheckResult {
                        name: n.clone(),
                        avail: !self.hosts.contains_key(n),
                        reason: self.hosts.contains_key(n).then(|| "In use".into()),
                    })
                    .collect(),
            ))),
            HostCommand::Info(name) => {
                let h = self.get_host(name)?;
                let linked = self.host_refs.get(name).copied().unwrap_or(0) > 0;
                let mut st =
                    shown_statuses(&h.statuses, if linked { &[Status::Linked] } else { &[] });
                if st.len() > 2 || (st.len() == 2 && !st.contains(&Status::Linked)) {
                    st.retain(|s| *s != Status::Ok);
                }
                Ok(Reply::ok(ResData::HostInfo(HostInfoData {
                    name: h.name.clone(),
                    roid: h.roid.clone(),
                    statuses: Self::entries(st),
                    addrs: h.addrs.clone(),
                    dates: ObjectDates {
                        cl_id: h.cl_id.clone(),
                        cr_id: h.cr_id.clone(),
                        cr_date: Some(h.cr_date),
                        up_id: h.up_id.clone(),
                        up_date: h.up_date,
                        tr_date: h.tr_date,
                    },
                })))
            }
            HostCommand::Create { name, addrs } => {
                self.readonly(client)?;
                if self.hosts.contains_key(name) {
                    return Err(err(ResultCode::ObjectExists, format!("{name} exists")));
                }
                let internal = self.host_parent(client, name)?.is_some();
                if internal && addrs.is_empty() {
                    return Err(err(
                        ResultCode::RequiredParameterMissing,
                        format!(
                            "{name} is in .{}: glue addresses are required",
                            self.cfg.tld
                        ),
                    ));
                }
                if !internal && !addrs.is_empty() {
                    return Err(err(
                        ResultCode::ParameterValuePolicyError,
                        format!(
                            "{name} is outside .{}: addresses are not accepted",
                            self.cfg.tld
                        ),
                    ));
                }
                let mut a = addrs.clone();
                a.sort();
                a.dedup();
                let h = Host {
                    name: name.clone(),
                    roid: self.roid('H'),
                    cl_id: client.cl_id.to_string(),
                    addrs: a,
                    cr_id: Some(client.cl_id.to_string()),
                    cr_date: now,
                    ..Host::default()
                };
                self.put_host(h);
                Ok(Reply::ok(ResData::HostCreate {
                    name: name.clone(),
                    cr_date: now,
                }))
            }
            HostCommand::Update(u) => self.host_update(client, u, now),
            HostCommand::Delete(name) => {
                self.readonly(client)?;
                let h = self.get_host(name)?.clone();
                self.sponsor(&h.cl_id, client)?;
                Self::forbid(&h.statuses, DELETE_BLOCKERS)?;
                if self.host_refs.get(name).copied().unwrap_or(0) > 0 {
                    return Err(err(
                        ResultCode::ObjectAssociationProhibitsOperation,
                        format!("{name} is a name server of a domain"),
                    ));
                }
                self.hosts.remove(name);
                self.delete(HOST, name, h.base);
                Ok(Reply::new(ResultCode::Success))
            }
        }
    }

    fn host_update(&mut self, client: &Client<'_>, u: &HostUpdate, now: Timestamp) -> R<Reply> {
        self.readonly(client)?;
        let old = self.get_host(&u.name)?.clone();
        self.sponsor(&old.cl_id, client)?;
        let only_unlock = u.add_addrs.is_empty()
            && u.add_statuses.is_empty()
            && u.rem_addrs.is_empty()
            && u.new_name.is_none()
            && u.rem_statuses
                .iter()
                .any(|s| s.status == Status::ClientUpdateProhibited);
        Self::update_allowed(&old.statuses, only_unlock)?;
        let mut h = old.clone();
        h.statuses = Self::status_change(&old.statuses, &u.add_statuses, &u.rem_statuses)?;
        for a in &u.rem_addrs {
            let before = h.addrs.len();
            h.addrs.retain(|x| x != a);
            if before == h.addrs.len() {
                return Err(err(
                    ResultCode::ParameterValuePolicyError,
                    format!("{a} is not an address of {}", h.name),
                ));
            }
        }
        for a in &u.add_addrs {
            if !h.addrs.contains(a) {
                h.addrs.push(*a);
            }
        }
        let mut renamed = false;
        if let Some(new) = &u.new_name
            && *new != h.name
        {
            if self.hosts.contains_key(new) {
                return Err(err(ResultCode::ObjectExists, format!("{new} exists")));
            }
            if self.host_refs.get(&h.name).copied().unwrap_or(0) > 0 {
                return Err(err(
                    ResultCode::ObjectAssociationProhibitsOperation,
                    format!(
                        "{} is a name server of a domain: it cannot be renamed",
                        h.name
                    ),
                ));
            }
            let internal = self.host_parent(client, new)?.is_some();
            if !internal {
                h.addrs.clear();
            }
            h.name = new.clone();
            renamed = true;
        }
        let internal = self.is_internal(&h.name);
        if internal && h.addrs.is_empty() {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                "an internal host needs an address",
            ));
        }
        if !internal && !h.addrs.is_empty() {
            return Err(err(
                ResultCode::ParameterValuePolicyError,
                "an external host takes no addresses",
            ));
        }
        h.up_id = Some(client.cl_id.to_string());
        h.up_date = Some(now);
        if renamed {
            self.hosts.remove(&old.name);
            self.delete(HOST, &old.name, old.base);
            h.base = None;
        }
        self.put_host(h);
        Ok(Reply::new(ResultCode::Success))
    }

    // -----------------------------------------------------------------------------------
    // Poll

    fn poll(&mut self, client: &Client<'_>, p: &Poll) -> R<Reply> {
        let cl_id = client.cl_id;
        let mine = |polls: &BTreeMap<u64, PollMessage>| {
            polls
                .values()
                .filter(|m| m.cl_id == cl_id)
                .cloned()
                .collect::<Vec<_>>()
        };
        match p {
            Poll::Request => {
                let queue = mine(&self.polls);
                let count = queue.len() as u64;
                let Some(m) = queue.first() else {
                    return Ok(Reply::new(ResultCode::SuccessNoMessages));
                };
                let mut reply = Reply {
                    msg_q: Some(MsgQ {
                        count,
                        id: m.id.to_string(),
                        q_date: Some(m.q_date),
                        msg: Some(m.msg.clone()),
                    }),
                    ..Reply::new(ResultCode::SuccessAckToDequeue)
                };
                match &m.payload {
                    PollPayload::None => {}
                    PollPayload::Transfer(t) => reply.res_data = Some(t.res_data()),
                    PollPayload::StateChange { id, state } => {
                        reply.extensions.push(ExtData::CoopStateChange {
                            id: id.clone(),
                            state: *state,
                        });
                    }
                }
                Ok(reply)
            }
            Poll::Ack { msg_id } => {
                let id = msg_id.parse::<u64>().ok();
                let Some(id) =
                    id.filter(|id| self.polls.get(id).is_some_and(|m| m.cl_id == client.cl_id))
                else {
                    return Err(err(
                        ResultCode::ObjectDoesNotExist,
                        format!("no message {msg_id} in your queue"),
                    )
                    .with_value(msg_id.clone()));
                };
                self.polls.remove(&id);
                self.events.push(Event::Ack {
                    cl_id: client.cl_id.to_string(),
                    id,
                });
                let count = self.polls.values().filter(|m| m.cl_id == cl_id).count() as u64;
                Ok(Reply {
                    msg_q: Some(MsgQ {
                        count,
                        id: id.to_string(),
                        q_date: None,
                        msg: None,
                    }),
                    ..Reply::new(ResultCode::Success)
                })
            }
        }
    }
}

/// Does a domain record's text carry `serverHold`?
fn shows_server_hold(record: &str) -> bool {
    let mut found = false;
    let _ = mkdb::record::for_each_record(record, |r| {
        found |= r.fields.iter().any(|f| {
            (f.tag.eq_ignore_ascii_case("Domain-Status") || f.tag.eq_ignore_ascii_case("Status"))
                && f.value.eq_ignore_ascii_case("serverHold")
        });
        Ok::<_, mkdb::record::SyntaxError>(())
    });
    found
}

fn action_word(c: &Change) -> &'static str {
    match c.action {
        Action::Put => "put",
        Action::Delete => "delete",
    }
}

/// A fresh random authInfo (after a transfer).
fn random_auth() -> String {
    let mut b = [0u8; 12];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Registry for Core {
    fn execute(&mut self, client: &Client<'_>, command: &Command, now: Timestamp) -> Reply {
        self.tick(now);
        let result = match &command.kind {
            CommandKind::Domain(c) => self.domain(client, c, now),
            CommandKind::Contact(c) => self.contact(client, c, now),
            CommandKind::Host(c) => self.host(client, c, now),
            CommandKind::Poll(p) => self.poll(client, p),
            _ => Err(err(ResultCode::CommandUseError, "not a registry command")),
        };
        match result {
            Ok(reply) => {
                self.finish(now);
                reply
            }
            Err(e) => {
                // Handlers check before they change anything; nothing to undo.
                self.changes.clear();
                self.events.clear();
                e.into()
            }
        }
    }
}

#[cfg(test)]
mod tests;
