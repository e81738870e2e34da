//! The EPP session as a sans-I/O state machine over frames (RFC 5730 section 2, RFC 5734):
//! bytes in, framed answers out, and whether to go on or close. The TLS server feeds it
//! what it reads and writes what it gets; nothing here touches a socket or a clock (the
//! caller passes `now`).
//!
//! - On connect: the greeting ([`Session::new`]).
//! - `<hello>` at any time: the greeting again.
//! - Before login only `<login>` (and hello) is accepted: anything else is 2002.
//! - `<login>`: version `1.0` (else 2100), a language the greeting offered (else 2102),
//!   only offered `objURI`s and `extURI`s (else 2307), then the password through
//!   [`Registrars`]: 2200 for a wrong one, and after `max_failed_logins` failures 2501 and
//!   close; 2502 and close when the registrar's session limit is reached; `newPW` replaces
//!   the password on success. A second login is 2002.
//! - After login, object commands and poll go to the [`Registry`] (the registry core);
//!   a command on an object or with an extension the client did not name at login is 2002.
//! - `<logout>`: 1500 and close. Replies with 2500-2502 close too.
//! - A frame that cannot be parsed is answered (2001 and friends) and the session goes on;
//!   a broken frame header is answered with 2001 and the session closes.
//!
//! The idle timeout and the per-registrar session limit are [`SessionConfig`] values the
//! server applies (the limit through its [`Registrars`]).

use std::sync::Arc;
use std::time::Duration;

use crate::command::{
    CONTACT_NS, COOP_NS, Command, CommandKind, DOMAIN_NS, HOST_NS, Login, Request,
};
use crate::frame::{self, DEFAULT_MAX_FRAME, FrameDecoder};
use crate::response::{Dcp, Greeting, Reply, Response, Timestamp};
use crate::result::{EppError, ResultCode};
use crate::xml::parse_request;

/// Settings shared by all sessions of a server.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `<svID>` of the greeting.
    pub sv_id: String,
    /// Prefix of server transaction ids (`PREFIX-SESSION-N`).
    pub sv_trid_prefix: String,
    /// Languages offered (`en` first).
    pub langs: Vec<String>,
    /// Object services offered.
    pub obj_uris: Vec<String>,
    /// Extensions offered.
    pub ext_uris: Vec<String>,
    /// Data collection policy.
    pub dcp: Dcp,
    /// Largest frame accepted, header included.
    pub max_frame: usize,
    /// Failed logins before 2501 and close.
    pub max_failed_logins: u32,
    /// Idle time after which the server closes a session (applied by the server).
    pub idle_timeout: Duration,
    /// Concurrent sessions per registrar (applied by the [`Registrars`] implementation).
    pub max_sessions_per_registrar: usize,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            sv_id: "eppd .coop registry".into(),
            sv_trid_prefix: "eppd".into(),
            langs: vec!["en".into()],
            obj_uris: vec![DOMAIN_NS.into(), CONTACT_NS.into(), HOST_NS.into()],
            ext_uris: vec![COOP_NS.into()],
            dcp: Dcp::default(),
            max_frame: DEFAULT_MAX_FRAME,
            max_failed_logins: 3,
            idle_timeout: Duration::from_secs(600),
            max_sessions_per_registrar: 10,
        }
    }
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    /// Right password; the session is counted against the registrar's limit.
    Ok,
    /// Unknown registrar or wrong password (indistinguishable to the client).
    BadCredentials,
    /// Right password, but the registrar has as many sessions open as it may.
    SessionLimit,
}

/// Registrar authentication (see [`crate::auth::PasswordTable`]).
pub trait Registrars {
    /// Checks `pw` for `cl_id` against its stored hash; on [`LoginCheck::Ok`] the session
    /// counts as open until [`Registrars::session_closed`].
    fn check_login(&mut self, cl_id: &str, pw: &str) -> LoginCheck;
    /// Replaces the password of `cl_id` (login `newPW`).
    fn change_password(&mut self, cl_id: &str, new_pw: &str) -> Result<(), String>;
    /// A session of `cl_id` that logged in has ended.
    fn session_closed(&mut self, cl_id: &str);
}

/// The logged-in client a command runs for.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The registrar.
    pub cl_id: &'a str,
    /// Object services named at login.
    pub obj_uris: &'a [String],
    /// Extensions named at login.
    pub ext_uris: &'a [String],
}

/// The registry core: executes object commands and poll for a logged-in client. Login,
/// logout and hello never reach it. The session adds the transaction ids to the reply.
pub trait Registry {
    /// Executes `command` (a [`CommandKind::Poll`], `Domain`, `Contact` or `Host`).
    fn execute(&mut self, client: &Client<'_>, command: &Command, now: Timestamp) -> Reply;
}

/// What the caller does after feeding a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write the output and keep reading.
    Continue,
    /// Write the output, then close the connection (TLS close_notify first).
    Close,
}

#[derive(Debug)]
enum State {
    /// Greeted, not logged in.
    Connected,
    /// Logged in.
    LoggedIn {
        cl_id: String,
        obj_uris: Vec<String>,
        ext_uris: Vec<String>,
    },
    /// Closing or closed: nothing more is read.
    Closed,
}

/// One EPP session.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    decoder: FrameDecoder,
    state: State,
    failed_logins: u32,
    session_id: u64,
    transactions: u64,
}

impl Session {
    /// A new session; its greeting frame is appended to `out`. `session_id` must be unique
    /// among the server's sessions (it makes svTRIDs unique).
    pub fn new(
        config: Arc<SessionConfig>,
        session_id: u64,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Session {
        let session = Session {
            decoder: FrameDecoder::new(config.max_frame),
            config,
            state: State::Connected,
            failed_logins: 0,
            session_id,
            transactions: 0,
        };
        frame::encode_into(session.greeting(now).to_xml().as_bytes(), out);
        session
    }

    /// The greeting this session sends.
    pub fn greeting(&self, now: Timestamp) -> Greeting {
        Greeting {
            sv_id: self.config.sv_id.clone(),
            sv_date: now,
            langs: self.config.langs.clone(),
            obj_uris: self.config.obj_uris.clone(),
            ext_uris: self.config.ext_uris.clone(),
            dcp: self.config.dcp.clone(),
        }
    }

    /// The registrar logged in, if any.
    pub fn client_id(&self) -> Option<&str> {
        match &self.state {
            State::LoggedIn { cl_id, .. } => Some(cl_id),
            _ => None,
        }
    }

    /// Has the session ended?
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Ends the session from the transport side (peer closed, idle timeout, shutdown):
    /// releases the registrar's session count. Idempotent.
    pub fn end(&mut self, registrars: &mut dyn Registrars) {
        if let State::LoggedIn { cl_id, .. } = std::mem::replace(&mut self.state, State::Closed) {
            registrars.session_closed(&cl_id);
        }
    }

    /// Feeds bytes read from the transport; answers (framed) are appended to `out`.
    pub fn receive(
        &mut self,
        data: &[u8],
        now: Timestamp,
        registrars: &mut dyn Registrars,
        registry: &mut dyn Registry,
        out: &mut Vec<u8>,
    ) -> Step {
        if self.is_closed() {
            return Step::Close;
        }
        let frames = match self.decoder.feed(data) {
            Ok(frames) => frames,
            Err(e) => {
                // Answer what came complete before the broken header? The decoder returns
                // nothing on error, so only the error is answered.
                let reply = Reply::from(EppError::syntax(e.to_string()));
                self.write(reply, None, out);
                self.end(registrars);
                return Step::Close;
            }
        };
        for payload in frames {
            if self.handle(&payload, now, registrars, registry, out) == Step::Close {
                self.end(registrars);
                return Step::Close;
            }
        }
        Step::Continue
    }

    fn next_sv_trid(&mut self) -> String {
        self.transactions += 1;
        format!(
            "{}-{}-{}",
            self.config.sv_trid_prefix, self.session_id, self.transactions
        )
    }

    fn write(&mut self, reply: Reply, cl_trid: Option<String>, out: &mut Vec<u8>) -> Step {
        let close = reply.code.closes_session();
        let response = Response {
            reply,
            cl_trid,
            sv_trid: self.next_sv_trid(),
        };
        frame::encode_into(response.to_xml().as_bytes(), out);
        if close { Step::Close } else { Step::Continue }
    }

    fn handle(
        &mut self,
        payload: &[u8],
        now: Timestamp,
        registrars: &mut dyn Registrars,
        registry: &mut dyn Registry,
        out: &mut Vec<u8>,
    ) -> Step {
        let command = match parse_request(payload) {
            Ok(Request::Hello) => {
                frame::encode_into(self.greeting(now).to_xml().as_bytes(), out);
                return Step::Continue;
            }
            Ok(Request::Command(c)) => c,
            Err(f) => return self.write(f.error.into(), f.cl_trid, out),
        };
        let cl_trid = command.cl_trid.clone();
        let reply = match (&self.state, &command.kind) {
            (State::Closed, _) => return Step::Close,
            (State::Connected, CommandKind::Login(login)) => self.login(login, registrars),
            (State::Connected, _) => EppError::new(
                ResultCode::CommandUseError,
                "log in first: only <login> and <hello> are accepted before login",
            )
            .into(),
            (State::LoggedIn { .. }, CommandKind::Login(_)) => EppError::new(
                ResultCode::CommandUseError,
                "this session is already logged in",
            )
            .into(),
            (State::LoggedIn { .. }, CommandKind::Logout) => {
                Reply::new(ResultCode::SuccessEndingSession)
            }
            (
                State::LoggedIn {
                    cl_id,
                    obj_uris,
                    ext_uris,
                },
                _,
            ) => {
                if let Some(e) = undeclared_service(&command, obj_uris, ext_uris) {
                    e.into()
                } else {
                    let client = Client {
                        cl_id,
                        obj_uris,
                        ext_uris,
                    };
                    registry.execute(&client, &command, now)
                }
            }
        };
        self.write(reply, cl_trid, out)
    }

    fn login(&mut self, login: &Login, registrars: &mut dyn Registrars) -> Reply {
        let cfg = &self.config;
        if login.version != "1.0" {
            return EppError::new(
                ResultCode::UnimplementedProtocolVersion,
                "only EPP version 1.0 is implemented",
            )
            .with_value(login.version.clone())
            .into();
        }
        if !cfg.langs.contains(&login.lang) {
            return EppError::new(
                ResultCode::UnimplementedOption,
                format!(
                    "<lang> {:?} is not offered (offered: {})",
                    login.lang,
                    cfg.langs.join(", ")
                ),
            )
            .into();
        }
        for (uri, offered, what) in login
            .obj_uris
            .iter()
            .map(|u| (u, &cfg.obj_uris, "objURI"))
            .chain(login.ext_uris.iter().map(|u| (u, &cfg.ext_uris, "extURI")))
        {
            if !offered.contains(uri) {
                return EppError::new(
                    ResultCode::UnimplementedObjectService,
                    format!("<{what}> {uri} is not a service of this server"),
                )
                .with_value(uri.clone())
                .into();
            }
        }
        match registrars.check_login(&login.cl_id, &login.pw) {
            LoginCheck::BadCredentials => {
                self.failed_logins += 1;
                if self.failed_logins >= self.config.max_failed_logins {
                    EppError::new(
                        ResultCode::AuthenticationErrorClosing,
                        format!("{} failed logins", self.failed_logins),
                    )
                    .into()
                } else {
                    EppError::new(
                        ResultCode::AuthenticationError,
                        "unknown client id or wrong password",
                    )
                    .into()
                }
            }
            LoginCheck::SessionLimit => EppError::new(
                ResultCode::SessionLimitExceededClosing,
                format!("{} has as many sessions open as it may", login.cl_id),
            )
            .into(),
            LoginCheck::Ok => {
                let mut reply = Reply::new(ResultCode::Success);
                if let Some(new_pw) = &login.new_pw
                    && let Err(e) = registrars.change_password(&login.cl_id, new_pw)
                {
                    // Logged in with the old password; tell the client the change failed.
                    reply.message = Some(format!("the new password was not set: {e}"));
                }
                self.state = State::LoggedIn {
                    cl_id: login.cl_id.clone(),
                    obj_uris: login.obj_uris.clone(),
                    ext_uris: login.ext_uris.clone(),
                };
                reply
            }
        }
    }
}

/// 2002 when `command` uses an object or extension the client did not name at login.
fn undeclared_service(command: &Command, objs: &[String], exts: &[String]) -> Option<EppError> {
    if let Some(ns) = command.object_namespace()
        && !objs.iter().any(|o| o == ns)
    {
        return Some(EppError::new(
            ResultCode::CommandUseError,
            format!("object service {ns} was not named at login"),
        ));
    }
    command
        .extensions_used()
        .into_iter()
        .find(|ns| !exts.iter().any(|e| e == ns))
        .map(|ns| {
            EppError::new(
                ResultCode::CommandUseError,
                format!("extension {ns} was not named at login"),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::auth::{PasswordTable, hash_password};
    use crate::command::{DomainCommand, Poll};
    use crate::response::{CheckResult, ResData};
    use crate::xml::tree::{Element, parse_document};

    /// A fake registry core: domains in a map, nothing else. Tests only.
    #[derive(Default)]
    struct FakeRegistry {
        domains: BTreeMap<String, String>,
        calls: usize,
    }

    impl Registry for FakeRegistry {
        fn execute(&mut self, client: &Client<'_>, command: &Command, now: Timestamp) -> Reply {
            self.calls += 1;
            match &command.kind {
                CommandKind::Poll(Poll::Request) => Reply::new(ResultCode::SuccessNoMessages),
                CommandKind::Domain(DomainCommand::Check(names)) => {
                    Reply::ok(ResData::DomainCheck(
                        names
                            .iter()
                            .map(|n| CheckResult {
                                name: n.clone(),
                                avail: !self.domains.contains_key(n),
                                reason: None,
                            })
                            .collect(),
                    ))
                }
                CommandKind::Domain(DomainCommand::Create(c)) => {
                    if self.domains.contains_key(&c.name) {
                        return EppError::new(ResultCode::ObjectExists, c.name.clone()).into();
                    }
                    self.domains
                        .insert(c.name.clone(), client.cl_id.to_string());
                    Reply::ok(ResData::DomainCreate {
                        name: c.name.clone(),
                        cr_date: now,
                        ex_date: None,
                    })
                }
                _ => Reply::new(ResultCode::UnimplementedCommand),
            }
        }
    }

    struct Harness {
        session: Session,
        registrars: PasswordTable,
        registry: FakeRegistry,
        greeting: Element,
    }

    fn harness(max_sessions: usize) -> Harness {
        let mut registrars = PasswordTable::new(max_sessions);
        registrars.insert("ClientX", hash_password("foo-BAR2"));
        let mut out = Vec::new();
        let session = Session::new(
            Arc::new(SessionConfig::default()),
            7,
            Timestamp(0),
            &mut out,
        );
        let mut frames = FrameDecoder::new(1 << 20).feed(&out).unwrap();
        assert_eq!(frames.len(), 1);
        let greeting = parse_document(&frames.remove(0)).unwrap();
        Harness {
            session,
            registrars,
            registry: FakeRegistry::default(),
            greeting,
        }
    }

    const LOGIN_SVCS: &str = "<svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI></svcs>";

    fn login(pw: &str, extra: &str) -> String {
        cmd(&format!(
            "<login><clID>ClientX</clID><pw>{pw}</pw>{extra}<options><version>1.0</version><lang>en</lang></options>{LOGIN_SVCS}</login>"
        ))
    }

    fn cmd(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>{inner}<clTRID>ABC-1</clTRID></command></epp>"#
        )
    }

    impl Harness {
        /// Sends one frame in pieces of `chunk` bytes; the answers' result codes (or 0 for
        /// a greeting) and the final step.
        fn send_chunked(&mut self, xml: &str, chunk: usize) -> (Vec<u16>, Step) {
            let data = frame::encode(xml.as_bytes());
            let mut out = Vec::new();
            let mut step = Step::Continue;
            for piece in data.chunks(chunk) {
                step = self.session.receive(
                    piece,
                    Timestamp(0),
                    &mut self.registrars,
                    &mut self.registry,
                    &mut out,
                );
            }
            (codes(&out), step)
        }

        fn send(&mut self, xml: &str) -> (Vec<u16>, Step) {
            self.send_chunked(xml, usize::MAX)
        }
    }

    fn codes(out: &[u8]) -> Vec<u16> {
        FrameDecoder::new(1 << 20)
            .feed(out)
            .unwrap()
            .iter()
            .map(|f| {
                let root = parse_document(f).unwrap();
                let child = &root.children[0];
                if child.name == "greeting" {
                    return 0;
                }
                let result = &child.children[0];
                result.attr("code").unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn greeting_on_connect_and_hello_anytime() {
        let mut h = harness(5);
        assert_eq!(h.greeting.children[0].name, "greeting");
        let hello = r#"<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>"#;
        assert_eq!(h.send(hello), (vec![0], Step::Continue));
        assert_eq!(h.send(&login("foo-BAR2", "")).0, vec![1000]);
        assert_eq!(h.send(hello), (vec![0], Step::Continue));
    }

    #[test]
    fn commands_need_login_and_logout_closes() {
        let mut h = harness(5);
        let check = cmd(
            r#"<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>a.coop</domain:name></domain:check></check>"#,
        );
        assert_eq!(h.send(&check).0, vec![2002]);
        assert_eq!(h.send(&cmd("<logout/>")).0, vec![2002]);
        assert_eq!(h.registry.calls, 0);
        assert_eq!(h.send(&login("foo-BAR2", "")).0, vec![1000]);
        assert_eq!(h.session.client_id(), Some("ClientX"));
        assert_eq!(h.registrars.open_sessions("ClientX"), 1);
        assert_eq!(h.send(&login("foo-BAR2", "")).0, vec![2002]);
        assert_eq!(h.send(&check).0, vec![1000]);
        let create = cmd(
            r#"<create><domain:create xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>a.coop</domain:name><domain:authInfo><domain:pw>secret1</domain:pw></domain:authInfo></domain:create></create>"#,
        );
        assert_eq!(h.send(&create).0, vec![1000]);
        assert_eq!(h.send(&create).0, vec![2302]);
        assert_eq!(h.send(&cmd(r#"<poll op="req"/>"#)).0, vec![1300]);
        // Hosts were not named at login.
        let host = cmd(
            r#"<info><host:info xmlns:host="urn:ietf:params:xml:ns:host-1.0"><host:name>ns1.a.coop</host:name></host:info></info>"#,
        );
        assert_eq!(h.send(&host).0, vec![2002]);
        // A parse error keeps the session.
        assert_eq!(h.send("<epp").0, vec![2001]);
        assert_eq!(h.send(&cmd("<logout/>")), (vec![1500], Step::Close));
        assert!(h.session.is_closed());
        assert_eq!(h.registrars.open_sessions("ClientX"), 0);
        assert_eq!(h.send(&check), (vec![], Step::Close));
    }

    #[test]
    fn failed_logins_close_after_three() {
        let mut h = harness(5);
        assert_eq!(h.send(&login("wrong-pw", "")), (vec![2200], Step::Continue));
        assert_eq!(h.send(&login("wrong-pw", "")), (vec![2200], Step::Continue));
        assert_eq!(h.send(&login("wrong-pw", "")), (vec![2501], Step::Close));
        assert!(h.session.is_closed());
    }

    #[test]
    fn login_checks_version_lang_services_and_limits() {
        let mut h = harness(1);
        let bad_version = login("foo-BAR2", "").replace("<version>1.0", "<version>2.0");
        assert_eq!(h.send(&bad_version).0, vec![2100]);
        let bad_lang = login("foo-BAR2", "").replace("<lang>en", "<lang>fr");
        assert_eq!(h.send(&bad_lang).0, vec![2102]);
        let bad_obj = login("foo-BAR2", "").replace("contact-1.0", "obj-1.0");
        assert_eq!(h.send(&bad_obj).0, vec![2307]);
        let bad_ext = login("foo-BAR2", "").replace(
            "</svcs>",
            "<svcExtension><extURI>urn:x:unknown</extURI></svcExtension></svcs>",
        );
        assert_eq!(h.send(&bad_ext).0, vec![2307]);
        // A too long password is a syntax error, not a failed login.
        assert_eq!(h.send(&login("0123456789abcdefgh", "")).0, vec![2005]);
        // newPW changes the password.
        assert_eq!(
            h.send(&login("foo-BAR2", "<newPW>new-PW99</newPW>")).0,
            vec![1000]
        );
        let mut other = harness(1);
        other.registrars = h.registrars;
        // ClientX already has its one session.
        assert_eq!(
            other.send(&login("new-PW99", "")),
            (vec![2502], Step::Close)
        );
    }

    #[test]
    fn coop_extension_requires_its_ext_uri() {
        let mut h = harness(5);
        assert_eq!(h.send(&login("foo-BAR2", "")).0, vec![1000]);
        let coop = cmd(
            r#"<update><contact:update xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"><contact:id>reg-1</contact:id></contact:update></update><extension><coop:update xmlns:coop="http://www.nic.coop/contactCoopExt-1.0"><coop:add><coop:sponsor>sp-1</coop:sponsor></coop:add></coop:update></extension>"#,
        );
        assert_eq!(h.send(&coop).0, vec![2002]);
        let mut h = harness(5);
        let with_ext = login("foo-BAR2", "").replace(
            "</svcs>",
            "<svcExtension><extURI>http://www.nic.coop/contactCoopExt-1.0</extURI></svcExtension></svcs>",
        );
        assert_eq!(h.send(&with_ext).0, vec![1000]);
        // Reaches the (fake) core, which does not implement contact update.
        assert_eq!(h.send(&coop).0, vec![2101]);
    }

    #[test]
    fn fragmentation_does_not_matter_and_bad_frames_close() {
        let mut whole = harness(5);
        let mut bytewise = harness(5);
        for doc in [
            login("foo-BAR2", ""),
            cmd(r#"<poll op="req"/>"#),
            cmd("<logout/>"),
        ] {
            assert_eq!(whole.send(&doc), bytewise.send_chunked(&doc, 1));
        }
        let mut h = harness(5);
        let mut out = Vec::new();
        let step = h.session.receive(
            &[0x7f, 0, 0, 0],
            Timestamp(0),
            &mut h.registrars,
            &mut h.registry,
            &mut out,
        );
        assert_eq!((codes(&out), step), (vec![2001], Step::Close));
        let mut h = harness(5);
        let mut out = Vec::new();
        let step = h.session.receive(
            &[0, 0, 0, 1],
            Timestamp(0),
            &mut h.registrars,
            &mut h.registry,
            &mut out,
        );
        assert_eq!((codes(&out), step), (vec![2001], Step::Close));
    }

    #[test]
    fn transport_end_releases_the_session() {
        let mut h = harness(1);
        assert_eq!(h.send(&login("foo-BAR2", "")).0, vec![1000]);
        assert_eq!(h.registrars.open_sessions("ClientX"), 1);
        h.session.end(&mut h.registrars);
        h.session.end(&mut h.registrars);
        assert_eq!(h.registrars.open_sessions("ClientX"), 0);
    }
}
