//! Criterion benchmarks of the EPP protocol layer (`eppd`), all sans-I/O:
//!
//! - `epp_frame`: the RFC 5734 [`FrameDecoder`] on one buffer of 20 frames (the commands
//!   below, in turn), fed whole and in 1,448-byte pieces (one TCP segment each), and
//!   decoding plus parsing every frame of it (what a session does with its input).
//! - `epp_parse`: [`parse_request`] (XML tree, then the schema rules of RFC 5730-5733 and the
//!   .coop extension) on typical commands written compactly as clients send them: domain
//!   create with three contacts and two name servers, contact create with the .coop
//!   extension, domain info, domain check of 10 names, domain transfer request, login; and
//!   two RFC examples verbatim (`eppd/tests/examples/`, indented: the whitespace costs).
//!   Beside each compact command, `<name>_xml_events` reads the same bytes with a plain
//!   quick-xml `Reader` (every event, no namespaces, no tree, no checks): the floor of any
//!   parser built on quick-xml, measured in the same run, so `parse_request` reads as a ratio.
//! - `epp_write`: [`Response::to_xml`] of a domain info response, a check response for
//!   10 names, and a poll message (a pending transfer), plus framing one.
//!
//! Every input is checked to parse into the expected command before measuring.
//!
//!     cargo bench -p bench --bench epp
//!     cargo bench -p bench --bench epp -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eppd::command::{
    CommandKind, ContactCommand, ContactType, DomainCommand, NameServer, Request, Status,
    StatusEntry,
};
use eppd::frame::{self, DEFAULT_MAX_FRAME, FrameDecoder};
use eppd::response::{
    CheckResult, DomainInfoData, MsgQ, ObjectDates, Reply, ResData, Response, Timestamp,
    TransferData, TransferStatus,
};
use eppd::result::ResultCode;
use eppd::xml::parse_request;

/// A `<command>` document around `body`, compact, with a clTRID.
fn cmd(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>{body}<clTRID>ABC-12345</clTRID></command></epp>"#
    )
}

fn domain_create() -> String {
    cmd(concat!(
        r#"<create><domain:create xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">"#,
        "<domain:name>example-cooperative.coop</domain:name>",
        r#"<domain:period unit="y">2</domain:period>"#,
        "<domain:ns><domain:hostObj>ns1.example-cooperative.coop</domain:hostObj>",
        "<domain:hostObj>ns2.example.net</domain:hostObj></domain:ns>",
        "<domain:registrant>reg-4711</domain:registrant>",
        r#"<domain:contact type="admin">adm-4711</domain:contact>"#,
        r#"<domain:contact type="tech">tech-0815</domain:contact>"#,
        r#"<domain:contact type="billing">bill-0815</domain:contact>"#,
        "<domain:authInfo><domain:pw>2fooBAR-x9</domain:pw></domain:authInfo>",
        "</domain:create></create>",
    ))
}

fn contact_create_coop() -> String {
    cmd(concat!(
        r#"<create><contact:create xmlns:contact="urn:ietf:params:xml:ns:contact-1.0">"#,
        "<contact:id>reg-4711</contact:id>",
        r#"<contact:postalInfo type="int"><contact:name>Erika Mustermann</contact:name>"#,
        "<contact:org>Konsumgenossenschaft Bonn eG</contact:org>",
        "<contact:addr><contact:street>Poppelsdorfer Allee 12</contact:street>",
        "<contact:street>Haus B</contact:street><contact:city>Bonn</contact:city>",
        "<contact:sp>NRW</contact:sp><contact:pc>53115</contact:pc>",
        "<contact:cc>DE</contact:cc></contact:addr></contact:postalInfo>",
        r#"<contact:voice x="1234">+49.2281234567</contact:voice>"#,
        "<contact:fax>+49.2281234568</contact:fax>",
        "<contact:email>erika@konsum-bonn.coop</contact:email>",
        "<contact:authInfo><contact:pw>2fooBAR-x9</contact:pw></contact:authInfo>",
        r#"<contact:disclose flag="0"><contact:voice/><contact:email/></contact:disclose>"#,
        "</contact:create></create>",
        r#"<extension><coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0">"#,
        "<coop:sponsor>sp-0001</coop:sponsor><coop:sponsor>sp-0002</coop:sponsor>",
        "<coop:langPref>de</coop:langPref><coop:mailingListPref>1</coop:mailingListPref>",
        "<coop:ensIdentity>ENS-42</coop:ensIdentity></coop:create></extension>",
    ))
}

fn domain_info() -> String {
    cmd(concat!(
        r#"<info><domain:info xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">"#,
        r#"<domain:name hosts="all">example-cooperative.coop</domain:name>"#,
        "<domain:authInfo><domain:pw>2fooBAR-x9</domain:pw></domain:authInfo>",
        "</domain:info></info>",
    ))
}

fn domain_check_10() -> String {
    let names: String = (0..10)
        .map(|i| format!("<domain:name>cooperative-{i:02}.coop</domain:name>"))
        .collect();
    cmd(&format!(
        r#"<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">{names}</domain:check></check>"#
    ))
}

fn domain_transfer() -> String {
    cmd(concat!(
        r#"<transfer op="request"><domain:transfer xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">"#,
        "<domain:name>example-cooperative.coop</domain:name>",
        r#"<domain:period unit="y">1</domain:period>"#,
        r#"<domain:authInfo><domain:pw roid="JD1234-REP">2fooBAR-x9</domain:pw></domain:authInfo>"#,
        "</domain:transfer></transfer>",
    ))
}

fn login() -> String {
    cmd(concat!(
        "<login><clID>ClientX</clID><pw>foo-BAR2</pw>",
        "<options><version>1.0</version><lang>en</lang></options>",
        "<svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI>",
        "<objURI>urn:ietf:params:xml:ns:contact-1.0</objURI>",
        "<objURI>urn:ietf:params:xml:ns:host-1.0</objURI>",
        "<svcExtension><extURI>http://www.nic.coop/contactCoopExt-1.0</extURI></svcExtension>",
        "</svcs></login>",
    ))
}

/// The commands measured, by name, each checked to parse into the right kind.
fn commands() -> Vec<(&'static str, String)> {
    let all = vec![
        ("domain_create", domain_create()),
        ("contact_create_coop", contact_create_coop()),
        ("domain_info", domain_info()),
        ("domain_check_10", domain_check_10()),
        ("domain_transfer", domain_transfer()),
        ("login", login()),
        (
            "rfc5731_domain_create_verbatim",
            include_str!("../../eppd/tests/examples/rfc5731-09-C.xml").to_string(),
        ),
        (
            "rfc5733_contact_create_verbatim",
            include_str!("../../eppd/tests/examples/rfc5733-07-C.xml").to_string(),
        ),
    ];
    for (name, doc) in &all {
        let req = parse_request(doc.as_bytes())
            .unwrap_or_else(|e| panic!("{name} does not parse: {:?}", e.error));
        let Request::Command(c) = req else {
            panic!("{name}: not a command")
        };
        let ok = match (*name, &c.kind) {
            ("domain_create" | "rfc5731_domain_create_verbatim", k) => {
                matches!(k, CommandKind::Domain(DomainCommand::Create(d)) if d.contacts.len() == 3 || d.contacts.len() == 2)
            }
            ("contact_create_coop", CommandKind::Contact(ContactCommand::Create(cc))) => {
                cc.coop.is_some()
            }
            ("rfc5733_contact_create_verbatim", k) => {
                matches!(k, CommandKind::Contact(ContactCommand::Create(_)))
            }
            ("domain_info", k) => matches!(k, CommandKind::Domain(DomainCommand::Info(_))),
            ("domain_check_10", CommandKind::Domain(DomainCommand::Check(n))) => n.len() == 10,
            ("domain_transfer", k) => {
                matches!(k, CommandKind::Domain(DomainCommand::Transfer(_)))
            }
            ("login", k) => matches!(k, CommandKind::Login(_)),
            _ => false,
        };
        assert!(ok, "{name} parsed into something else: {:?}", c.kind);
    }
    all
}

fn framing(c: &mut Criterion) {
    let cmds = commands();
    // 20 frames: the compact commands in turn (login excepted: once per session).
    let docs: Vec<&String> = cmds
        .iter()
        .filter(|(n, _)| !n.starts_with("rfc") && *n != "login")
        .map(|(_, d)| d)
        .cycle()
        .take(20)
        .collect();
    let mut stream = Vec::new();
    for d in &docs {
        frame::encode_into(d.as_bytes(), &mut stream);
    }
    let mut grp = c.benchmark_group("epp_frame");
    grp.throughput(Throughput::Bytes(stream.len() as u64));
    grp.bench_function("decode_20_frames_whole", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
            let frames = d.feed(black_box(&stream)).unwrap();
            black_box(frames.len())
        })
    });
    grp.bench_function("decode_20_frames_1448_byte_pieces", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
            let mut n = 0;
            for piece in black_box(&stream).chunks(1448) {
                n += d.feed(piece).unwrap().len();
            }
            black_box(n)
        })
    });
    grp.bench_function("decode_and_parse_20_frames", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
            let mut n = 0;
            for f in d.feed(black_box(&stream)).unwrap() {
                n += usize::from(parse_request(&f).is_ok());
            }
            assert_eq!(n, 20);
            black_box(n)
        })
    });
    grp.finish();
}

/// The baseline: every event of the document from a plain quick-xml reader.
fn xml_events(doc: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(doc);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(e) => n += e.len(),
        }
    }
}

fn parsing(c: &mut Criterion) {
    let mut grp = c.benchmark_group("epp_parse");
    for (name, doc) in commands() {
        grp.throughput(Throughput::Bytes(doc.len() as u64));
        grp.bench_function(name, |b| {
            b.iter(|| black_box(parse_request(black_box(doc.as_bytes())).is_ok()))
        });
        if !name.starts_with("rfc") {
            assert!(xml_events(doc.as_bytes()) > 0);
            grp.bench_function(format!("{name}_xml_events"), |b| {
                b.iter(|| black_box(xml_events(black_box(doc.as_bytes()))))
            });
        }
    }
    grp.finish();
}

fn ts(days: i64) -> Timestamp {
    // 2026-11-23T07:00:00Z plus days.
    Timestamp(1_795_417_200 + days * 86_400)
}

fn responses() -> Vec<(&'static str, Response)> {
    let status = |s| StatusEntry {
        status: s,
        lang: None,
        text: None,
    };
    let info = DomainInfoData {
        name: "example-cooperative.coop".into(),
        roid: "EXAMPLE1-COOP".into(),
        statuses: vec![
            status(Status::Ok),
            StatusEntry {
                status: Status::ClientTransferProhibited,
                lang: Some("en".into()),
                text: Some("Locked at the registrant's request".into()),
            },
        ],
        registrant: Some("reg-4711".into()),
        contacts: vec![
            (ContactType::Admin, "adm-4711".into()),
            (ContactType::Tech, "tech-0815".into()),
            (ContactType::Billing, "bill-0815".into()),
        ],
        ns: vec![
            NameServer::HostObj("ns1.example-cooperative.coop".into()),
            NameServer::HostObj("ns2.example.net".into()),
        ],
        hosts: vec!["ns1.example-cooperative.coop".into()],
        dates: ObjectDates {
            cl_id: "ClientX".into(),
            cr_id: Some("ClientY".into()),
            cr_date: Some(ts(-800)),
            up_id: Some("ClientX".into()),
            up_date: Some(ts(-30)),
            tr_date: Some(ts(-400)),
        },
        ex_date: Some(ts(300)),
        auth_info: Some("2fooBAR-x9".into()),
    };
    let check: Vec<CheckResult> = (0..10)
        .map(|i| CheckResult {
            name: format!("cooperative-{i:02}.coop"),
            avail: i % 3 != 0,
            reason: (i % 3 == 0).then(|| "In use".to_string()),
        })
        .collect();
    let poll = Reply {
        msg_q: Some(MsgQ {
            count: 5,
            id: "12345".into(),
            q_date: Some(ts(-1)),
            msg: Some("Transfer requested.".into()),
        }),
        res_data: Some(ResData::DomainTransfer(TransferData {
            name: "example-cooperative.coop".into(),
            status: TransferStatus::Pending,
            re_id: "ClientX".into(),
            re_date: ts(-1),
            ac_id: "ClientY".into(),
            ac_date: ts(4),
            ex_date: Some(ts(665)),
        })),
        ..Reply::new(ResultCode::SuccessAckToDequeue)
    };
    let resp = |reply| Response {
        reply,
        cl_trid: Some("ABC-12345".into()),
        sv_trid: "54321-XYZ".into(),
    };
    vec![
        ("domain_info", resp(Reply::ok(ResData::DomainInfo(info)))),
        (
            "domain_check_10",
            resp(Reply::ok(ResData::DomainCheck(check))),
        ),
        ("poll_transfer_pending", resp(poll)),
    ]
}

fn writing(c: &mut Criterion) {
    let mut grp = c.benchmark_group("epp_write");
    let all = responses();
    for (name, r) in &all {
        let len = r.to_xml().len();
        grp.throughput(Throughput::Bytes(len as u64));
        grp.bench_function(*name, |b| b.iter(|| black_box(black_box(r).to_xml().len())));
    }
    let (_, info) = &all[0];
    grp.throughput(Throughput::Bytes(info.to_xml().len() as u64 + 4));
    let mut out = Vec::with_capacity(4096);
    grp.bench_function("domain_info_and_frame", |b| {
        b.iter(|| {
            out.clear();
            frame::encode_into(black_box(info).to_xml().as_bytes(), &mut out);
            black_box(out.len())
        })
    });
    grp.finish();
}

criterion_group!(benches, framing, parsing, writing);
criterion_main!(benches);
