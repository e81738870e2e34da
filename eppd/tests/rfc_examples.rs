//! The RFC examples in `tests/examples/` (copied from the RFCs) as test vectors: every client example parses
//! (or is refused with the code its content calls for), every server example is refused as
//! a server message; and .coop extension requests validate against the extension schema
//! and parse.

use std::path::Path;

use eppd::command::{CommandKind, ContactCommand, Request};
use eppd::result::ResultCode;
use eppd::xml::parse_request;

#[path = "../src/testutil.rs"]
#[allow(dead_code)]
mod testutil;

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/examples");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 100,
        "expected the RFC examples, found {}",
        out.len()
    );
    out
}

/// The code a client example is refused with, `None` when it must parse.
fn expected_refusal(name: &str) -> Option<ResultCode> {
    const PLACEHOLDER_OBJ: [&str; 9] = ["03", "12", "14", "21", "23", "25", "27", "29", "31"];
    if let Some(seq) = name.strip_prefix("rfc5730-")
        && PLACEHOLDER_OBJ.iter().any(|s| seq.starts_with(s))
    {
        // urn:ietf:params:xml:ns:obj, RFC 5730's placeholder object.
        return Some(ResultCode::UnimplementedObjectService);
    }
    if name.starts_with("rfc5910-") || name.starts_with("rfc3915-") {
        // secDNS and RGP extensions: not implemented by this server.
        return Some(ResultCode::UnimplementedExtension);
    }
    None
}

#[test]
fn every_example_parses_or_is_refused_with_the_right_code() {
    let mut parsed = 0;
    for (name, bytes) in examples() {
        let result = parse_request(&bytes);
        if name.ends_with("-S.xml") {
            let e = result.expect_err(&name);
            assert_eq!(
                e.error.code,
                ResultCode::CommandSyntaxError,
                "{name}: {e:?}"
            );
            // Mostly "a server message", or a tree-level refusal (mixed content in <msg>).
            continue;
        }
        match (expected_refusal(&name), result) {
            (None, Ok(req)) => {
                parsed += 1;
                if let Request::Command(c) = &req {
                    let t = c.cl_trid.as_deref().unwrap_or_default();
                    assert!(t.starts_with("ABC-1234"), "{name}: clTRID {t:?}");
                }
            }
            (Some(code), Err(f)) => assert_eq!(f.error.code, code, "{name}: {f:?}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    assert!(parsed >= 26, "only {parsed} client examples parsed");
}

#[test]
fn fragments_of_examples_never_panic() {
    for (_, bytes) in examples() {
        for cut in (0..bytes.len()).step_by(7) {
            let _ = parse_request(&bytes[..cut]);
        }
    }
}

const COOP_CREATE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">
  <command>
    <create>
      <contact:create xmlns:contact="urn:ietf:params:xml:ns:contact-1.0">
        <contact:id>coop-reg1</contact:id>
        <contact:postalInfo type="int">
          <contact:name>Jane Doe</contact:name>
          <contact:org>Example Cooperative</contact:org>
          <contact:addr>
            <contact:street>1 Coop Way</contact:street>
            <contact:city>Manchester</contact:city>
            <contact:cc>GB</contact:cc>
          </contact:addr>
        </contact:postalInfo>
        <contact:voice x="12">+44.1615550000</contact:voice>
        <contact:email>jane@example.coop</contact:email>
        <contact:authInfo><contact:pw>2fooBAR</contact:pw></contact:authInfo>
      </contact:create>
    </create>
    <extension>
      <coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0">
        <coop:sponsor>coop-sp1</coop:sponsor>
        <coop:sponsor>coop-sp2</coop:sponsor>
        <coop:langPref>en</coop:langPref>
        <coop:mailingListPref>true</coop:mailingListPref>
        <coop:ensIdentity>GB-IPS-12345</coop:ensIdentity>
      </coop:create>
    </extension>
    <clTRID>ABC-12345</clTRID>
  </command>
</epp>
"#;

const COOP_UPDATE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">
  <command>
    <update>
      <contact:update xmlns:contact="urn:ietf:params:xml:ns:contact-1.0">
        <contact:id>coop-reg1</contact:id>
      </contact:update>
    </update>
    <extension>
      <coop:update xmlns:coop="http://www.nic.coop/contactCoopExt-1.0">
        <coop:add><coop:sponsor>coop-sp3</coop:sponsor></coop:add>
        <coop:rem><coop:sponsor>coop-sp1</coop:sponsor></coop:rem>
        <coop:chg><coop:langPref>fr</coop:langPref><coop:mailingListPref>0</coop:mailingListPref></coop:chg>
      </coop:update>
    </extension>
    <clTRID>ABC-12346</clTRID>
  </command>
</epp>
"#;

#[test]
fn coop_requests_validate_and_parse() {
    testutil::validate(
        &[
            ("coop-create".into(), COOP_CREATE.into()),
            ("coop-update".into(), COOP_UPDATE.into()),
        ],
        &testutil::coop_schema(),
    );
    let Ok(Request::Command(c)) = parse_request(COOP_CREATE.as_bytes()) else {
        panic!("coop create does not parse")
    };
    let CommandKind::Contact(ContactCommand::Create(create)) = c.kind else {
        panic!("not a contact create")
    };
    let coop = create.coop.expect("coop extension");
    assert_eq!(coop.sponsors, ["coop-sp1", "coop-sp2"]);
    assert_eq!(coop.ens_identity.as_deref(), Some("GB-IPS-12345"));
    let Ok(Request::Command(c)) = parse_request(COOP_UPDATE.as_bytes()) else {
        panic!("coop update does not parse")
    };
    let CommandKind::Contact(ContactCommand::Update(update)) = c.kind else {
        panic!("not a contact update")
    };
    let coop = update.coop.expect("coop extension");
    assert_eq!(coop.add_sponsors, ["coop-sp3"]);
    assert_eq!(coop.rem_sponsors, ["coop-sp1"]);
    assert_eq!(coop.chg.unwrap().mailing_list_pref, Some(false));
}
