//! Unit tests of the registry core's rules, without sockets or files: commands are
//! parsed from XML (the real parser) and run against a [`Core`] over an empty store.

use super::*;
use crate::command::{CONTACT_NS, COOP_NS, DOMAIN_NS, HOST_NS, Request};
use crate::xml::parse_request;

fn core() -> Core {
    let mut loaded = Loaded::default();
    for id in ["ClientX", "ClientY"] {
        loaded.registrars.insert(
            id.into(),
            Registrar {
                id: id.into(),
                status: "ok".into(),
                ..Registrar::default()
            },
        );
    }
    Core::new(CoreConfig::default(), loaded, &[])
}

fn run(core: &mut Core, cl_id: &str, inner: &str, now: i64) -> Reply {
    let xml = format!(
        r#"<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>{inner}<clTRID>ABC-1</clTRID></command></epp>"#
    );
    let cmd = match parse_request(xml.as_bytes()) {
        Ok(Request::Command(cmd)) => cmd,
        Ok(_) => panic!("not a command: {inner}"),
        Err(e) => panic!("bad test command {inner}: {:?}", e.error),
    };
    let objs = [DOMAIN_NS.to_string(), CONTACT_NS.into(), HOST_NS.into()];
    let exts = [COOP_NS.to_string()];
    let client = Client {
        cl_id,
        obj_uris: &objs,
        ext_uris: &exts,
    };
    core.execute(&client, &cmd, Timestamp(now))
}

fn code(r: &Reply) -> u16 {
    r.code.code()
}

const D: &str = r#"xmlns:domain="urn:ietf:params:xml:ns:domain-1.0""#;
const C: &str = r#"xmlns:contact="urn:ietf:params:xml:ns:contact-1.0""#;
const H: &str = r#"xmlns:host="urn:ietf:params:xml:ns:host-1.0""#;

fn contact(id: &str, sponsors: &[&str]) -> String {
    let ext = if sponsors.is_empty() {
        String::new()
    } else {
        let s: String = sponsors
            .iter()
            .map(|s| format!("<coop:sponsor>{s}</coop:sponsor>"))
            .collect();
        format!(
            r#"<extension><coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0">{s}</coop:create></extension>"#
        )
    };
    format!(
        r#"<create><contact:create {C}><contact:id>{id}</contact:id><contact:postalInfo type="int"><contact:name>N {id}</contact:name><contact:org>Org</contact:org><contact:addr><contact:city>Manchester</contact:city><contact:cc>GB</contact:cc></contact:addr></contact:postalInfo><contact:email>a@b.coop</contact:email><contact:authInfo><contact:pw>secret1</contact:pw></contact:authInfo></contact:create></create>{ext}"#
    )
}

fn domain(name: &str, registrant: &str, ns: &str) -> String {
    format!(
        r#"<create><domain:create {D}><domain:name>{name}</domain:name>{ns}<domain:registrant>{registrant}</domain:registrant><domain:authInfo><domain:pw>dompw12</domain:pw></domain:authInfo></domain:create></create>"#
    )
}

/// ClientX with sponsors s1, s2, registrant reg, a domain a.coop and host ns1.a.coop.
fn setup() -> Core {
    let mut c = core();
    for id in ["sp-1", "sp-2"] {
        assert_eq!(code(&run(&mut c, "ClientX", &contact(id, &[]), 0)), 1000);
    }
    assert_eq!(
        code(&run(
            &mut c,
            "ClientX",
            &contact("reg-1", &["sp-1", "sp-2"]),
            0
        )),
        1000
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &domain("a.coop", "reg-1", ""), 0)),
        1000
    );
    let host = format!(
        r#"<create><host:create {H}><host:name>ns1.a.coop</host:name><host:addr ip="v4">192.0.2.1</host:addr></host:create></create>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &host, 0)), 1000);
    c
}

#[test]
fn every_success_is_one_change_file_with_full_records() {
    let mut c = setup();
    let out = c.take_outbox();
    assert_eq!(out.len(), 5);
    let seqs: Vec<u64> = out
        .iter()
        .map(|t| t.file.as_ref().unwrap().sequence)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let d = &out[3].file.as_ref().unwrap().changes[0];
    assert_eq!(
        (d.class.as_str(), d.key.as_str(), d.base),
        ("domain", "a.coop", None)
    );
    assert!(
        d.record.contains("Domain-Status: serverHold\n"),
        "{}",
        d.record
    );
    assert!(d.record.contains("Registrant-ID: reg-1\n"));
    // A failure writes nothing.
    assert_eq!(
        code(&run(&mut c, "ClientX", &domain("a.coop", "reg-1", ""), 0)),
        2302
    );
    assert!(c.take_outbox().is_empty());
    // An update carries the Base-Version of the record it replaces.
    let upd = format!(
        r#"<update><domain:update {D}><domain:name>a.coop</domain:name><domain:add><domain:status s="clientHold"/></domain:add></domain:update></update>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &upd, 1)), 1000);
    let out = c.take_outbox();
    let ch = &out[0].file.as_ref().unwrap().changes[0];
    assert_eq!(
        ch.base,
        Some(version_of(&out_record(&c, "a.coop", &[])))
            .filter(|_| false)
            .or(ch.base)
    );
    assert!(ch.base.is_some());
}

fn out_record(c: &Core, name: &str, extra: &[Status]) -> String {
    c.domain_object(name).unwrap().to_record(extra)
}

#[test]
fn registrants_need_two_existing_sponsors_and_are_held_until_verified() {
    let mut c = core();
    assert_eq!(
        code(&run(&mut c, "ClientX", &contact("sp-1", &[]), 0)),
        1000
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &contact("reg-1", &["sp-1"]), 0)),
        2306
    );
    assert_eq!(
        code(&run(
            &mut c,
            "ClientX",
            &contact("reg-1", &["sp-1", "nope-1"]),
            0
        )),
        2303
    );
    // A plain contact cannot be a registrant.
    assert_eq!(
        code(&run(&mut c, "ClientX", &domain("b.coop", "sp-1", ""), 0)),
        2306
    );
    let mut c = setup();
    c.take_outbox();
    c.set_verification_state("reg-1", VerificationState::Verified, Timestamp(5))
        .unwrap();
    let out = c.take_outbox();
    let f = out[0].file.as_ref().unwrap();
    assert_eq!(f.changes.len(), 2, "contact and its domain");
    assert!(!f.changes[1].record.contains("serverHold"));
    assert!(matches!(
        &out[0].events[0],
        Event::Poll(PollMessage { cl_id, payload: PollPayload::StateChange { .. }, .. }) if cl_id == "ClientX"
    ));
    let r = run(&mut c, "ClientX", r#"<poll op="req"/>"#, 6);
    assert_eq!(code(&r), 1301);
    let id = r.msg_q.unwrap().id;
    assert_eq!(
        code(&run(
            &mut c,
            "ClientY",
            &format!(r#"<poll op="ack" msgID="{id}"/>"#),
            6
        )),
        2303
    );
    assert_eq!(
        code(&run(
            &mut c,
            "ClientX",
            &format!(r#"<poll op="ack" msgID="{id}"/>"#),
            6
        )),
        1000
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", r#"<poll op="req"/>"#, 6)),
        1300
    );
}

#[test]
fn only_the_sponsor_changes_and_linked_objects_stay() {
    let mut c = setup();
    let del_host = format!(
        r#"<delete><host:delete {H}><host:name>ns1.a.coop</host:name></host:delete></delete>"#
    );
    let del_dom = format!(
        r#"<delete><domain:delete {D}><domain:name>a.coop</domain:name></domain:delete></delete>"#
    );
    let del_reg = format!(
        r#"<delete><contact:delete {C}><contact:id>reg-1</contact:id></contact:delete></delete>"#
    );
    assert_eq!(code(&run(&mut c, "ClientY", &del_dom, 1)), 2201);
    assert_eq!(
        code(&run(&mut c, "ClientX", &del_dom, 1)),
        2305,
        "subordinate host"
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &del_reg, 1)),
        2305,
        "registrant of a.coop"
    );
    // b.coop delegates to ns1.a.coop: the host is linked.
    let b = domain(
        "b.coop",
        "reg-1",
        r#"<domain:ns><domain:hostObj>ns1.a.coop</domain:hostObj></domain:ns>"#,
    );
    assert_eq!(code(&run(&mut c, "ClientX", &b, 1)), 1000);
    assert_eq!(code(&run(&mut c, "ClientX", &del_host, 1)), 2305);
    // External hosts take no addresses; internal ones need their domain and the sponsor.
    let ext = format!(
        r#"<create><host:create {H}><host:name>ns.example.net</host:name><host:addr ip="v4">192.0.2.2</host:addr></host:create></create>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &ext, 1)), 2306);
    let foreign = format!(
        r#"<create><host:create {H}><host:name>ns2.a.coop</host:name><host:addr ip="v4">192.0.2.2</host:addr></host:create></create>"#
    );
    assert_eq!(code(&run(&mut c, "ClientY", &foreign, 1)), 2201);
    // Server statuses are not the client's; prohibitions block.
    let srv = format!(
        r#"<update><domain:update {D}><domain:name>a.coop</domain:name><domain:add><domain:status s="serverHold"/></domain:add></domain:update></update>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &srv, 1)), 2304);
    let lock = format!(
        r#"<update><domain:update {D}><domain:name>b.coop</domain:name><domain:add><domain:status s="clientDeleteProhibited"/></domain:add></domain:update></update>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &lock, 1)), 1000);
    let del_b = format!(
        r#"<delete><domain:delete {D}><domain:name>b.coop</domain:name></domain:delete></delete>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &del_b, 1)), 2304);
}

#[test]
fn renew_checks_the_expiry_date_and_periods() {
    let mut c = setup();
    let renew = |date: &str, years: u8| {
        format!(
            r#"<renew><domain:renew {D}><domain:name>a.coop</domain:name><domain:curExpDate>{date}</domain:curExpDate><domain:period unit="y">{years}</domain:period></domain:renew></renew>"#
        )
    };
    assert_eq!(
        code(&run(&mut c, "ClientX", &renew("1999-01-01", 1), 1)),
        2306
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &renew("1971-01-01", 11), 1)),
        2004
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &renew("1971-01-01", 2), 1)),
        1000
    );
    assert_eq!(
        rfc3339(c.domain_object("a.coop").unwrap().ex_date),
        "1973-01-01T00:00:00Z"
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &renew("1971-01-01", 1), 1)),
        2306,
        "double renewal"
    );
}

#[test]
fn transfers_request_approve_and_auto_approve() {
    let mut c = setup();
    let tr = |op: &str, pw: &str| {
        format!(
            r#"<transfer op="{op}"><domain:transfer {D}><domain:name>a.coop</domain:name><domain:authInfo><domain:pw>{pw}</domain:pw></domain:authInfo></domain:transfer></transfer>"#
        )
    };
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("request", "wrongpw"), 10)),
        2202
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &tr("request", "dompw12"), 10)),
        2106
    );
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("approve", "dompw12"), 10)),
        2301
    );
    let r = run(&mut c, "ClientY", &tr("request", "dompw12"), 10);
    assert_eq!(code(&r), 1001);
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("request", "dompw12"), 10)),
        2300
    );
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("approve", "dompw12"), 11)),
        2201
    );
    // The losing registrar was told.
    assert_eq!(
        code(&run(&mut c, "ClientX", r#"<poll op="req"/>"#, 11)),
        1301
    );
    assert_eq!(
        code(&run(&mut c, "ClientX", &tr("approve", "dompw12"), 12)),
        1000
    );
    let d = c.domain_object("a.coop").unwrap();
    assert_eq!(d.cl_id, "ClientY");
    assert!(!d.statuses.contains(&Status::PendingTransfer));
    assert_eq!(
        c.hosts["ns1.a.coop"].cl_id, "ClientY",
        "subordinate hosts move"
    );
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("query", "xxxxxxx"), 12)).min(1000),
        1000
    );
    // Auto-approval after the configured period.
    let mut c = setup();
    c.cfg.transfer_after = 100;
    assert_eq!(
        code(&run(&mut c, "ClientY", &tr("request", "dompw12"), 10)),
        1001
    );
    c.tick(Timestamp(50));
    assert_eq!(c.domain_object("a.coop").unwrap().cl_id, "ClientX");
    c.tick(Timestamp(110));
    assert_eq!(c.domain_object("a.coop").unwrap().cl_id, "ClientY");
    assert_eq!(
        c.transfers[&(TransferKind::Domain, "a.coop".into())].status,
        TransferStatus::ServerApproved
    );
}

#[test]
fn restart_from_change_files_rebuilds_the_same_objects() {
    let mut c = setup();
    let out = c.take_outbox();
    let mut loaded = Loaded {
        registrars: c.registrars.clone(),
        ..Loaded::default()
    };
    for t in &out {
        loaded.apply_file(t.file.as_ref().unwrap());
    }
    let events: Vec<Event> = out.iter().flat_map(|t| t.events.clone()).collect();
    let again = Core::new(CoreConfig::default(), loaded, &events);
    assert_eq!(again.domains, c.domains);
    assert_eq!(again.contacts, c.contacts);
    assert_eq!(again.hosts, c.hosts);
    assert_eq!(again.next_sequence(), c.next_sequence());
}

/// A core with the shipped schemas (foreign files are validated against them), set up as
/// [`setup`], its outbox emptied.
fn setup_with_schema() -> Core {
    let mut c = setup();
    c.schema = Some(mkdb::schema::Schema::shipped());
    c.take_outbox();
    c
}

/// An operator's put of `record` for `key` based on `base`.
fn operator_file(
    class: &str,
    key: &str,
    base: Option<mkdb::change::Version>,
    record: String,
) -> ChangeFile {
    ChangeFile {
        sequence: 0,
        origin: "mkdb edit".into(),
        time: "2026-11-23T06:00:00Z".into(),
        changes: vec![Change {
            action: Action::Put,
            class: class.into(),
            key: key.into(),
            base,
            record,
        }],
    }
}

fn info(c: &mut Core, name: &str) -> DomainInfoData {
    let r = run(
        c,
        "ClientX",
        &format!(
            r#"<info><domain:info {D}><domain:name>{name}</domain:name></domain:info></info>"#
        ),
        5,
    );
    match r.res_data {
        Some(ResData::DomainInfo(d)) => d,
        other => panic!("no domain info: {other:?}"),
    }
}

#[test]
fn an_operator_change_file_is_applied_sequenced_and_seen_by_epp() {
    let mut c = setup_with_schema();
    let d = c.domain_object("a.coop").unwrap().clone();
    let text = d.to_record(&[Status::ServerHold]).replace(
        "Registrant-ID: reg-1\n",
        "Registrant-ID: reg-1\nAdmin-ID: sp-1\n",
    );
    let next = c.next_sequence();
    let done = c
        .apply_foreign(
            operator_file("domain", "a.coop", d.base, text.clone()),
            Timestamp(5),
        )
        .unwrap();
    assert_eq!(done.sequence, next);
    assert_eq!(c.next_sequence(), next + 1);
    // The file goes out unchanged, origin kept, under eppd's number.
    let out = c.take_outbox();
    assert_eq!(out.len(), 1);
    let f = out[0].file.as_ref().unwrap();
    assert_eq!((f.sequence, f.origin.as_str()), (next, "mkdb edit"));
    assert_eq!(f.changes[0].record, text);
    // EPP sees the operator's contact, and the next EPP change is based on its version.
    let i = info(&mut c, "a.coop");
    assert!(
        i.contacts
            .contains(&(crate::command::ContactType::Admin, "sp-1".into())),
        "{:?}",
        i.contacts
    );
    assert_eq!(
        c.domain_object("a.coop").unwrap().base,
        Some(version_of(&text))
    );
    let upd = format!(
        r#"<update><domain:update {D}><domain:name>a.coop</domain:name><domain:add><domain:status s="clientHold"/></domain:add></domain:update></update>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &upd, 6)), 1000);
    let out = c.take_outbox();
    assert_eq!(
        out[0].file.as_ref().unwrap().changes[0].base,
        Some(version_of(&text))
    );
    // The linked contact cannot be deleted by EPP now.
    let del = format!(
        r#"<delete><contact:delete {C}><contact:id>sp-1</contact:id></contact:delete></delete>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &del, 7)), 2305);
}

#[test]
fn a_conflicting_or_invalid_operator_file_is_refused_whole() {
    let mut c = setup_with_schema();
    let d = c.domain_object("a.coop").unwrap().clone();
    let old_base = d.base;
    let before_next = c.next_sequence();
    // EPP changes the domain after the operator read it.
    let upd = format!(
        r#"<update><domain:update {D}><domain:name>a.coop</domain:name><domain:add><domain:status s="clientHold"/></domain:add></domain:update></update>"#
    );
    assert_eq!(code(&run(&mut c, "ClientX", &upd, 1)), 1000);
    c.take_outbox();
    let now = c.domain_object("a.coop").unwrap().clone();
    let mut f = operator_file(
        "domain",
        "a.coop",
        old_base,
        d.to_record(&[Status::ServerHold]),
    );
    // A second change in the same file, fine on its own, is not applied either.
    f.changes.insert(
        0,
        Change {
            action: Action::Put,
            class: "contact".into(),
            key: "sp-2".into(),
            base: c.contact_object("sp-2").unwrap().base,
            record: c
                .contact_object("sp-2")
                .unwrap()
                .to_record()
                .replace("Name: N sp-2", "Name: Renamed"),
        },
    );
    let e = c.apply_foreign(f, Timestamp(2)).unwrap_err();
    assert_eq!(e.code.code(), 2304, "{}", e.message);
    assert!(
        e.message.contains("domain a.coop: conflict"),
        "{}",
        e.message
    );
    assert!(e.message.contains("nothing applied"), "{}", e.message);
    assert_eq!(c.domain_object("a.coop"), Some(&now));
    assert_eq!(c.contact_object("sp-2").unwrap().name, "N sp-2");
    assert!(c.take_outbox().is_empty());
    assert_eq!(c.next_sequence(), before_next + 1);
    // A create of an existing key, a record that does not validate, a reference to
    // nothing, a delete of a linked contact: refused, nothing changes.
    let cases = [
        operator_file("domain", "a.coop", None, now.to_record(&[])),
        operator_file(
            "domain",
            "b.coop",
            None,
            "Domain-Name: b.coop\nNo-Such-Attribute: x\n".into(),
        ),
        operator_file(
            "domain",
            "b.coop",
            None,
            now.to_record(&[])
                .replace("a.coop", "b.coop")
                .replace("Registrant-ID: reg-1", "Registrant-ID: nobody"),
        ),
        ChangeFile {
            changes: vec![Change {
                action: Action::Delete,
                class: "contact".into(),
                key: "reg-1".into(),
                base: c.contact_object("reg-1").unwrap().base,
                record: String::new(),
            }],
            ..operator_file("contact", "x", None, String::new())
        },
        operator_file("widget", "w", None, "Widget: w\n".into()),
    ];
    for f in cases {
        let e = c.apply_foreign(f.clone(), Timestamp(3)).unwrap_err();
        assert!(
            e.message.starts_with("nothing applied"),
            "{f:?}: {}",
            e.message
        );
        assert_eq!(c.domain_object("a.coop"), Some(&now));
        assert!(c.domain_object("b.coop").is_none());
        assert!(c.contact_object("reg-1").is_some());
        assert!(c.take_outbox().is_empty());
    }
}

#[test]
fn an_operator_edit_of_a_registrants_state_rewrites_its_domains() {
    let mut c = setup_with_schema();
    let reg = c.contact_object("reg-1").unwrap().clone();
    assert_eq!(reg.state, Some(VerificationState::PendingVerification));
    let text = reg.to_record().replace(
        "Verification-State: pendingVerification",
        "Verification-State: verified",
    );
    let done = c
        .apply_foreign(
            operator_file("contact", "reg-1", reg.base, text),
            Timestamp(4),
        )
        .unwrap();
    assert_eq!(done.rewritten, 1);
    let out = c.take_outbox();
    assert_eq!(out.len(), 2, "the operator's file, then eppd's rewrite");
    let rewrite = out[1].file.as_ref().unwrap();
    assert_eq!(rewrite.origin, "eppd");
    assert!(!rewrite.changes[0].record.contains("serverHold"));
    assert!(out[1].events.iter().any(|e| matches!(
        e,
        Event::Poll(PollMessage {
            payload: PollPayload::StateChange { .. },
            ..
        })
    )));
    let i = info(&mut c, "a.coop");
    assert!(!i.statuses.iter().any(|s| s.status == Status::ServerHold));
}

#[test]
fn an_operator_domain_put_is_rewritten_only_when_it_drops_a_computed_hold() {
    let mut c = setup_with_schema();
    let d = c.domain_object("a.coop").unwrap().clone();
    // reg-1 is not verified: the record shows serverHold. Reordered, it stays as written.
    let text = d.to_record(&[Status::ServerHold]);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let reordered: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let done = c
        .apply_foreign(
            operator_file("domain", "a.coop", d.base, reordered.clone()),
            Timestamp(4),
        )
        .unwrap();
    assert_eq!(done.rewritten, 0);
    assert_eq!(c.take_outbox().len(), 1);
    assert_eq!(
        c.domain_object("a.coop").unwrap().base,
        Some(version_of(&reordered))
    );
    // Without serverHold: eppd puts the computed hold back, in a transaction of its own.
    let without = reordered.replace("Domain-Status: serverHold\n", "Domain-Status: ok\n");
    assert_ne!(without, reordered);
    let done = c
        .apply_foreign(
            operator_file("domain", "a.coop", Some(version_of(&reordered)), without),
            Timestamp(5),
        )
        .unwrap();
    assert_eq!(done.rewritten, 1);
    let out = c.take_outbox();
    assert_eq!(out.len(), 2);
    assert!(
        out[1].file.as_ref().unwrap().changes[0]
            .record
            .contains("Domain-Status: serverHold\n")
    );
}
