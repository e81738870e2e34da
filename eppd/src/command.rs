//! The commands a client can send, as plain Rust values: what [`crate::xml::parse_request`]
//! produces from a frame, and the contract the registry core ([`crate::session::Registry`])
//! implements. Values here already passed the XSD's value rules (name and id syntax,
//! period range, status values, length limits); policy (who may do what, existence,
//! linked objects) is the core's job.
//!
//! Domain and host names are stored lower-cased (they are case-insensitive). Dates are
//! [`Date`] values; addresses are [`std::net::IpAddr`].

use std::net::IpAddr;

/// Namespace of EPP itself.
pub const EPP_NS: &str = "urn:ietf:params:xml:ns:epp-1.0";
/// Namespace of the domain mapping (RFC 5731).
pub const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
/// Namespace of the contact mapping (RFC 5733).
pub const CONTACT_NS: &str = "urn:ietf:params:xml:ns:contact-1.0";
/// Namespace of the host mapping (RFC 5732).
pub const HOST_NS: &str = "urn:ietf:params:xml:ns:host-1.0";
/// Namespace of the .coop contact extension.
pub const COOP_NS: &str = "http://www.nic.coop/contactCoopExt-1.0";

/// One parsed frame from a client.
// One request per frame, built once and borrowed after: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `<hello/>`: answered with a greeting, in any state.
    Hello,
    /// `<command>`.
    Command(Command),
}

/// A `<command>` with its client transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What to do.
    pub kind: CommandKind,
    /// `<clTRID>`, echoed in the response.
    pub cl_trid: Option<String>,
}

impl Command {
    /// Extension namespaces this command uses (checked against the login's `extURI`s).
    pub fn extensions_used(&self) -> Vec<&'static str> {
        match &self.kind {
            CommandKind::Contact(ContactCommand::Create(c)) if c.coop.is_some() => vec![COOP_NS],
            CommandKind::Contact(ContactCommand::Update(u)) if u.coop.is_some() => vec![COOP_NS],
            _ => Vec::new(),
        }
    }

    /// The object namespace the command acts on, if any (checked against the login's
    /// `objURI`s).
    pub fn object_namespace(&self) -> Option<&'static str> {
        match &self.kind {
            CommandKind::Domain(_) => Some(DOMAIN_NS),
            CommandKind::Contact(_) => Some(CONTACT_NS),
            CommandKind::Host(_) => Some(HOST_NS),
            _ => None,
        }
    }
}

/// The command proper.
#[allow(clippy::large_enum_variant)] // See `Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// `<login>`.
    Login(Login),
    /// `<logout/>`.
    Logout,
    /// `<poll>`.
    Poll(Poll),
    /// A command on a domain object.
    Domain(DomainCommand),
    /// A command on a contact object.
    Contact(ContactCommand),
    /// A command on a host object.
    Host(HostCommand),
}

/// `<login>` (RFC 5730 section 2.9.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// `<clID>`: the registrar (3 to 16 characters).
    pub cl_id: String,
    /// `<pw>` (6 to 16 characters).
    pub pw: String,
    /// `<newPW>`: becomes the password if the login succeeds.
    pub new_pw: Option<String>,
    /// `<options><version>`, `1.0` for the only version there is.
    pub version: String,
    /// `<options><lang>`.
    pub lang: String,
    /// `<svcs><objURI>`s.
    pub obj_uris: Vec<String>,
    /// `<svcs><svcExtension><extURI>`s.
    pub ext_uris: Vec<String>,
}

/// `<poll>` (RFC 5730 section 2.9.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// `op="req"`: the oldest message.
    Request,
    /// `op="ack"`: dequeue a message.
    Ack {
        /// `msgID`.
        msg_id: String,
    },
}

/// A calendar date (UTC), as in `<domain:curExpDate>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, 1..=9999.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, valid for the month.
    pub day: u8,
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// `<transfer op=...>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferOp {
    /// `query`
    Query,
    /// `request`
    Request,
    /// `approve`
    Approve,
    /// `reject`
    Reject,
    /// `cancel`
    Cancel,
}

impl TransferOp {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferOp::Query => "query",
            TransferOp::Request => "request",
            TransferOp::Approve => "approve",
            TransferOp::Reject => "reject",
            TransferOp::Cancel => "cancel",
        }
    }
}

/// authInfo password (`<domain:pw>` / `<contact:pw>`), 6 to 64 characters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The password.
    pub pw: String,
    /// `roid`: the ROID of the contact whose authInfo this is (domain commands may
    /// authorise with the registrant's or a contact's authInfo).
    pub roid: Option<String>,
}

/// A registration period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// 1 to 99.
    pub value: u8,
    /// Years or months.
    pub unit: PeriodUnit,
}

impl Period {
    /// The period in months.
    pub fn months(self) -> u32 {
        match self.unit {
            PeriodUnit::Year => u32::from(self.value) * 12,
            PeriodUnit::Month => u32::from(self.value),
        }
    }
}

/// `unit="y"` or `unit="m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodUnit {
    /// `y`
    Year,
    /// `m`
    Month,
}

/// Object statuses (RFC 5731-5733). Which are allowed depends on the object: the parser
/// checks that with [`Status::allowed_for`].
#[allow(missing_docs)] // The variants are the RFC's status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Inactive,
    Linked,
    ClientDeleteProhibited,
    ClientHold,
    ClientRenewProhibited,
    ClientTransferProhibited,
    ClientUpdateProhibited,
    ServerDeleteProhibited,
    ServerHold,
    ServerRenewProhibited,
    ServerTransferProhibited,
    ServerUpdateProhibited,
    PendingCreate,
    PendingDelete,
    PendingRenew,
    PendingTransfer,
    PendingUpdate,
}

/// The kind of object, for status and other per-object rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// Domain (RFC 5731).
    Domain,
    /// Contact (RFC 5733).
    Contact,
    /// Host (RFC 5732).
    Host,
}

impl Status {
    /// Every status value.
    pub const ALL: [Status; 18] = [
        Status::Ok,
        Status::Inactive,
        Status::Linked,
        Status::ClientDeleteProhibited,
        Status::ClientHold,
        Status::ClientRenewProhibited,
        Status::ClientTransferProhibited,
        Status::ClientUpdateProhibited,
        Status::ServerDeleteProhibited,
        Status::ServerHold,
        Status::ServerRenewProhibited,
        Status::ServerTransferProhibited,
        Status::ServerUpdateProhibited,
        Status::PendingCreate,
        Status::PendingDelete,
        Status::PendingRenew,
        Status::PendingTransfer,
        Status::PendingUpdate,
    ];

    /// The XML value (`clientHold`, ...).
    pub fn as_str(self) -> &'static str {
        use Status::*;
        match self {
            Ok => "ok",
            Inactive => "inactive",
            Linked => "linked",
            ClientDeleteProhibited => "clientDeleteProhibited",
            ClientHold => "clientHold",
            ClientRenewProhibited => "clientRenewProhibited",
            ClientTransferProhibited => "clientTransferProhibited",
            ClientUpdateProhibited => "clientUpdateProhibited",
            ServerDeleteProhibited => "serverDeleteProhibited",
            ServerHold => "serverHold",
            ServerRenewProhibited => "serverRenewProhibited",
            ServerTransferProhibited => "serverTransferProhibited",
            ServerUpdateProhibited => "serverUpdateProhibited",
            PendingCreate => "pendingCreate",
            PendingDelete => "pendingDelete",
            PendingRenew => "pendingRenew",
            PendingTransfer => "pendingTransfer",
            PendingUpdate => "pendingUpdate",
        }
    }

    /// The status with this XML value.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// May a client set or remove it (`client*`)?
    pub fn is_client(self) -> bool {
        self.as_str().starts_with("client")
    }

    /// Is it a status of objects of `kind` (the RFC schema's enumeration)?
    pub fn allowed_for(self, kind: ObjectKind) -> bool {
        use Status::*;
        match kind {
            ObjectKind::Domain => !matches!(self, Linked),
            ObjectKind::Host => !matches!(
                self,
                Inactive
                    | ClientHold
                    | ServerHold
                    | ClientRenewProhibited
                    | ServerRenewProhibited
                    | ClientTransferProhibited
                    | ServerTransferProhibited
                    | PendingRenew
            ),
            ObjectKind::Contact => !matches!(
                self,
                Inactive
                    | ClientHold
                    | ServerHold
                    | ClientRenewProhibited
                    | ServerRenewProhibited
                    | PendingRenew
            ),
        }
    }
}

/// A status with its optional human-readable reason (`<domain:status s="..." lang="en">
/// reason</domain:status>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The status.
    pub status: Status,
    /// `lang` of the text (absent means `en`).
    pub lang: Option<String>,
    /// The reason text, when given.
    pub text: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Domains (RFC 5731)

/// Domain commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainCommand {
    /// `<domain:check>`: names to check.
    Check(Vec<String>),
    /// `<domain:info>`.
    Info(DomainInfo),
    /// `<domain:create>`.
    Create(DomainCreate),
    /// `<domain:update>`.
    Update(DomainUpdate),
    /// `<domain:delete>`: the name.
    Delete(String),
    /// `<domain:renew>`.
    Renew(DomainRenew),
    /// `<domain:transfer>`.
    Transfer(DomainTransfer),
}

/// `hosts` attribute of `<domain:name>` in info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HostsFilter {
    /// Delegated and subordinate hosts (the default).
    #[default]
    All,
    /// Delegated hosts only.
    Del,
    /// Subordinate hosts only.
    Sub,
    /// No host information.
    None,
}

/// `<domain:info>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    /// The domain.
    pub name: String,
    /// Which hosts to show.
    pub hosts: HostsFilter,
    /// authInfo for full data as a non-sponsor.
    pub auth_info: Option<AuthInfo>,
}

/// A name server of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameServer {
    /// `<domain:hostObj>`: a reference to a host object.
    HostObj(String),
    /// `<domain:hostAttr>`: a name with optional glue addresses.
    HostAttr {
        /// The host name.
        name: String,
        /// Glue addresses.
        addrs: Vec<IpAddr>,
    },
}

impl NameServer {
    /// The host name.
    pub fn name(&self) -> &str {
        match self {
            NameServer::HostObj(n) | NameServer::HostAttr { name: n, .. } => n,
        }
    }
}

/// Domain contact roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactType {
    /// `admin`
    Admin,
    /// `billing`
    Billing,
    /// `tech`
    Tech,
}

impl ContactType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactType::Admin => "admin",
            ContactType::Billing => "billing",
            ContactType::Tech => "tech",
        }
    }
}

/// A contact of a domain by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainContact {
    /// The role.
    pub kind: ContactType,
    /// The contact id.
    pub id: String,
}

/// `<domain:create>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCreate {
    /// The domain.
    pub name: String,
    /// Registration period (server default when absent).
    pub period: Option<Period>,
    /// Name servers (all `hostObj` or all `hostAttr`).
    pub ns: Vec<NameServer>,
    /// The registrant contact id.
    pub registrant: Option<String>,
    /// Other contacts.
    pub contacts: Vec<DomainContact>,
    /// authInfo (required by the schema).
    pub auth_info: AuthInfo,
}

/// The `<domain:add>` or `<domain:rem>` part of an update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainAddRem {
    /// Name servers.
    pub ns: Vec<NameServer>,
    /// Contacts.
    pub contacts: Vec<DomainContact>,
    /// Statuses.
    pub statuses: Vec<StatusEntry>,
}

impl DomainAddRem {
    /// Nothing to add or remove.
    pub fn is_empty(&self) -> bool {
        self.ns.is_empty() && self.contacts.is_empty() && self.statuses.is_empty()
    }
}

/// A change of authInfo: a new password or `<null/>` (removal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthInfoChange {
    /// Set a new password.
    Set(AuthInfo),
    /// `<domain:null/>`: remove it.
    Null,
}

/// The `<domain:chg>` part of an update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainChange {
    /// `Some(None)` for an empty `<domain:registrant/>` (remove the registrant).
    pub registrant: Option<Option<String>>,
    /// New authInfo.
    pub auth_info: Option<AuthInfoChange>,
}

/// `<domain:update>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainUpdate {
    /// The domain.
    pub name: String,
    /// What to add.
    pub add: DomainAddRem,
    /// What to remove.
    pub rem: DomainAddRem,
    /// What to change.
    pub chg: Option<DomainChange>,
}

/// `<domain:renew>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRenew {
    /// The domain.
    pub name: String,
    /// The expiry date the client believes current (guards against double renewals).
    pub cur_exp_date: Date,
    /// The period to add (server default when absent).
    pub period: Option<Period>,
}

/// `<domain:transfer>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTransfer {
    /// The operation.
    pub op: TransferOp,
    /// The domain.
    pub name: String,
    /// Period added on a completed transfer (request only).
    pub period: Option<Period>,
    /// authInfo (required for a request by the schema's intent; the core decides).
    pub auth_info: Option<AuthInfo>,
}

// ---------------------------------------------------------------------------------------
// Contacts (RFC 5733)

/// Contact commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactCommand {
    /// `<contact:check>`: ids to check.
    Check(Vec<String>),
    /// `<contact:info>`.
    Info {
        /// The contact id.
        id: String,
        /// authInfo for full data as a non-sponsor.
        auth_info: Option<AuthInfo>,
    },
    /// `<contact:create>`.
    Create(ContactCreate),
    /// `<contact:update>`.
    Update(ContactUpdate),
    /// `<contact:delete>`: the id.
    Delete(String),
    /// `<contact:transfer>`.
    Transfer {
        /// The operation.
        op: TransferOp,
        /// The contact id.
        id: String,
        /// authInfo.
        auth_info: Option<AuthInfo>,
    },
}

/// `type` of a postal info: internationalised (ASCII only) or localised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PostalType {
    /// `int`: US-ASCII only.
    Int,
    /// `loc`: any characters.
    Loc,
}

impl PostalType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            PostalType::Int => "int",
            PostalType::Loc => "loc",
        }
    }
}

/// `<contact:addr>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// 0 to 3 street lines.
    pub street: Vec<String>,
    /// City.
    pub city: String,
    /// State or province.
    pub sp: Option<String>,
    /// Postal code (up to 16 characters).
    pub pc: Option<String>,
    /// ISO 3166 two-letter country code, upper case.
    pub cc: String,
}

/// `<contact:postalInfo>` in create and info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalInfo {
    /// `int` or `loc`.
    pub kind: PostalType,
    /// Name.
    pub name: String,
    /// Organisation.
    pub org: Option<String>,
    /// Address.
    pub addr: Address,
}

/// `<contact:postalInfo>` in an update's `chg`: each part optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalInfoChange {
    /// `int` or `loc`.
    pub kind: PostalType,
    /// New name.
    pub name: Option<String>,
    /// `Some(None)` for an empty `<contact:org/>` (remove it).
    pub org: Option<Option<String>>,
    /// New address.
    pub addr: Option<Address>,
}

/// A phone or fax number: `+CC.NUMBER` and an optional extension (`x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// The E.164 number (`+1.7035555555`).
    pub number: String,
    /// The extension.
    pub ext: Option<String>,
}

/// `<contact:disclose>`: the elements named are disclosed (`flag` true) or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disclose {
    /// `flag="1"` (true) or `"0"`.
    pub flag: bool,
    /// `name` elements, by type.
    pub name: Vec<PostalType>,
    /// `org` elements, by type.
    pub org: Vec<PostalType>,
    /// `addr` elements, by type.
    pub addr: Vec<PostalType>,
    /// `voice`.
    pub voice: bool,
    /// `fax`.
    pub fax: bool,
    /// `email`.
    pub email: bool,
}

/// `<contact:create>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCreate {
    /// The contact id (3 to 16 characters).
    pub id: String,
    /// One or two postal infos of distinct types.
    pub postal_info: Vec<PostalInfo>,
    /// Voice number.
    pub voice: Option<Phone>,
    /// Fax number.
    pub fax: Option<Phone>,
    /// E-mail address.
    pub email: String,
    /// authInfo.
    pub auth_info: AuthInfo,
    /// Disclosure preferences.
    pub disclose: Option<Disclose>,
    /// The .coop extension (`<coop:create>`).
    pub coop: Option<CoopCreate>,
}

/// The `<contact:chg>` part of an update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactChange {
    /// Postal info changes (at most one per type).
    pub postal_info: Vec<PostalInfoChange>,
    /// `Some(None)` for an empty `<contact:voice/>` (remove it).
    pub voice: Option<Option<Phone>>,
    /// `Some(None)` for an empty `<contact:fax/>` (remove it).
    pub fax: Option<Option<Phone>>,
    /// New e-mail.
    pub email: Option<String>,
    /// New authInfo.
    pub auth_info: Option<AuthInfo>,
    /// New disclosure preferences.
    pub disclose: Option<Disclose>,
}

/// `<contact:update>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    /// The contact id.
    pub id: String,
    /// Statuses to add.
    pub add: Vec<StatusEntry>,
    /// Statuses to remove.
    pub rem: Vec<StatusEntry>,
    /// What to change.
    pub chg: Option<ContactChange>,
    /// The .coop extension (`<coop:update>`).
    pub coop: Option<CoopUpdate>,
}

// ---------------------------------------------------------------------------------------
// The .coop contact extension

/// The registrant verification state of the .coop extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationState {
    /// `verified`: the registrant is an eligible cooperative.
    Verified,
    /// `pendingVerification`: not checked yet; its domains are held (`serverHold`).
    PendingVerification,
    /// `ableToAppeal`: refused, with an appeal possible.
    AbleToAppeal,
    /// `underInvestigation`.
    UnderInvestigation,
    /// `refused`.
    Refused,
}

impl VerificationState {
    /// Every state.
    pub const ALL: [VerificationState; 5] = [
        VerificationState::Verified,
        VerificationState::PendingVerification,
        VerificationState::AbleToAppeal,
        VerificationState::UnderInvestigation,
        VerificationState::Refused,
    ];

    /// The `code` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationState::Verified => "verified",
            VerificationState::PendingVerification => "pendingVerification",
            VerificationState::AbleToAppeal => "ableToAppeal",
            VerificationState::UnderInvestigation => "underInvestigation",
            VerificationState::Refused => "refused",
        }
    }

    /// The state with this code.
    pub fn parse(s: &str) -> Option<VerificationState> {
        VerificationState::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The human-readable text written inside `<coop:state>`.
    pub fn text(self) -> &'static str {
        match self {
            VerificationState::Verified => "Verified",
            VerificationState::PendingVerification => "Pending verification",
            VerificationState::AbleToAppeal => "Able to appeal",
            VerificationState::UnderInvestigation => "Under investigation",
            VerificationState::Refused => "Refused",
        }
    }
}

/// `<coop:create>` on a contact create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoopCreate {
    /// Sponsor contact ids (a registrant needs at least two: the core's rule).
    pub sponsors: Vec<String>,
    /// Preferred language (`language`, e.g. `en`).
    pub lang_pref: Option<String>,
    /// Opt-in to .coop mailing lists.
    pub mailing_list_pref: Option<bool>,
    /// ENS identity: a registry-defined identifier of the cooperative (1 to 255 chars).
    pub ens_identity: Option<String>,
}

/// `<coop:chg>` of a contact update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoopChange {
    /// New preferred language.
    pub lang_pref: Option<String>,
    /// New mailing list preference.
    pub mailing_list_pref: Option<bool>,
    /// New ENS identity.
    pub ens_identity: Option<String>,
}

/// `<coop:update>` on a contact update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoopUpdate {
    /// Sponsors to add.
    pub add_sponsors: Vec<String>,
    /// Sponsors to remove.
    pub rem_sponsors: Vec<String>,
    /// What to change.
    pub chg: Option<CoopChange>,
}

// ---------------------------------------------------------------------------------------
// Hosts (RFC 5732)

/// Host commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// `<host:check>`: names to check.
    Check(Vec<String>),
    /// `<host:info>`: the name.
    Info(String),
    /// `<host:create>`.
    Create {
        /// The host name.
        name: String,
        /// Addresses (glue for in-registry hosts).
        addrs: Vec<IpAddr>,
    },
    /// `<host:update>`.
    Update(HostUpdate),
    /// `<host:delete>`: the name.
    Delete(String),
}

/// `<host:update>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUpdate {
    /// The host name.
    pub name: String,
    /// Addresses to add.
    pub add_addrs: Vec<IpAddr>,
    /// Statuses to add.
    pub add_statuses: Vec<StatusEntry>,
    /// Addresses to remove.
    pub rem_addrs: Vec<IpAddr>,
    /// Statuses to remove.
    pub rem_statuses: Vec<StatusEntry>,
    /// The new name (`<host:chg><host:name>`).
    pub new_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_per_object_sets() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert!(Status::Linked.allowed_for(ObjectKind::Host));
        assert!(!Status::Linked.allowed_for(ObjectKind::Domain));
        assert!(Status::ClientTransferProhibited.allowed_for(ObjectKind::Contact));
        assert!(!Status::ClientTransferProhibited.allowed_for(ObjectKind::Host));
        assert!(!Status::ClientHold.allowed_for(ObjectKind::Contact));
        assert!(Status::ClientHold.is_client());
        assert!(!Status::ServerHold.is_client());
        assert_eq!(
            Period {
                value: 2,
                unit: PeriodUnit::Year
            }
            .months(),
            24
        );
        for v in VerificationState::ALL {
            assert_eq!(VerificationState::parse(v.as_str()), Some(v));
        }
    }
}
