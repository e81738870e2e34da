//! `eppd` over real TLS on loopback, driven by an independent EPP client (Debian's
//! `libnet-epp-perl`, `Net::EPP::Client` over `IO::Socket::SSL` with a client
//! certificate): two registrars provisioned in the database (password hash and
//! certificate fingerprint), a lifecycle (contacts, host, domains, info, update, transfer
//! request and approval, poll, renew, delete, logout), and the change files eppd wrote
//! applied by `loader watch --once` and answered by whoisd.

use std::path::Path;
use std::process::Command;

use eppd::certs::registrar_record;
use tests::{Eppd, Registry, Whoisd, binary};

/// The Perl client (see the file for its arguments and output).
const CLIENT: &str = include_str!("epp/lifecycle.pl");

const KEEP: &str = "epp-keep.coop";
const MOVED: &str = "epp-moved.coop";
/// eppd's arguments beyond the defaults: none.
const EXTRA: &[&str] = &[];

/// The client's "LABEL VALUE" lines.
struct Transcript(Vec<(String, String)>);

impl Transcript {
    fn get(&self, label: &str) -> &str {
        self.0
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {label} in the transcript"))
    }
}

#[test]
fn a_registrar_lifecycle_over_tls_reaches_whois() {
    let reg = Registry::new(200);
    let certs = reg.dir.path().join("certs");
    let out = Command::new(binary("eppd"))
        .arg("gen-dev-certs")
        .arg(&certs)
        .args(["ClientX", "ClientY", "ClientZ"])
        .output()
        .expect("run eppd gen-dev-certs");
    assert!(out.status.success(), "{out:?}");
    let fingerprints: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, f)| (n.to_string(), f.to_string()))
        .collect();
    assert_eq!(fingerprints.len(), 3, "{fingerprints:?}");
    let fp = |name: &str| {
        fingerprints
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .unwrap()
    };

    // Provisioning: the registrar records in the source tree, compiled. ClientZ's
    // certificate is signed by the CA but bound to no registrar.
    let (pw_x, pw_y) = ("x-Secret-pw1", "y-Secret-pw2");
    std::fs::write(
        reg.src.join("data/registrar/epp-test.txt"),
        format!(
            "{}---\n{}",
            registrar_record("ClientX", "ClientX Registrar Ltd", pw_x, &fp("ClientX")),
            registrar_record("ClientY", "ClientY Registrar Ltd", pw_y, &fp("ClientY")),
        ),
    )
    .unwrap();
    reg.compile();

    let spool = reg.dir.path().join("changes");
    let eppd = Eppd::start(&reg.db, &certs, &spool, EXTRA);
    let script = reg.dir.path().join("lifecycle.pl");
    std::fs::write(&script, CLIENT).unwrap();
    let out = Command::new("perl")
        .arg(&script)
        .arg(eppd.addr.ip().to_string())
        .arg(eppd.addr.port().to_string())
        .arg(&certs)
        .args([pw_x, pw_y, KEEP, MOVED])
        .output()
        .expect("run perl (apt-get install libnet-epp-perl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed:\n{text}\n{err}");
    let t = Transcript(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    );
    assert!(text.ends_with("done\n"), "{text}");
    for (label, want) in [
        ("ClientX.greeting", "yes"),
        ("x.login", "1000"),
        ("x.contact.sp1", "1000"),
        ("x.contact.sp2", "1000"),
        ("x.contact.reg", "1000"),
        // Object exists.
        ("x.contact.again", "2302"),
        ("x.create.keep", "1000"),
        ("x.host.create", "1000"),
        ("x.update.keep", "1000"),
        ("x.info.keep", "1000"),
        ("x.info.keep.clID", "ClientX"),
        ("x.info.keep.ns", "ns1.epp-keep.coop"),
        ("x.create.moved", "1000"),
        ("ClientY.greeting", "yes"),
        ("y.login", "1000"),
        // Invalid authorization information.
        ("y.transfer.badpw", "2202"),
        // Action pending.
        ("y.transfer.request", "1001"),
        // Not the sponsor yet: authorization error.
        ("y.update.moved", "2201"),
        // A message is waiting (the request), then acknowledged.
        ("x.poll.req", "1301"),
        ("x.poll.trStatus", "pending"),
        ("x.poll.ack", "1000"),
        ("x.transfer.approve", "1000"),
        ("y.poll.req", "1301"),
        ("y.poll.trStatus", "clientApproved"),
        ("y.poll.ack", "1000"),
        ("y.info.moved", "1000"),
        ("y.info.moved.clID", "ClientY"),
        ("y.renew.moved", "1000"),
        ("y.info.renewed", "1000"),
        // No longer the sponsor.
        ("x.delete.moved", "2201"),
        ("y.delete.moved", "1000"),
        ("y.logout", "1500"),
        ("x.logout", "1500"),
    ] {
        assert_eq!(t.get(label), want, "{label}:\n{text}\n{err}");
    }
    // Created for 2 years, transferred (+1), renewed (+1).
    let year = |label: &str| -> i32 { t.get(label)[..4].parse().unwrap() };
    assert_eq!(
        year("y.info.moved.exDate"),
        year("x.info.keep.exDate") + 1,
        "{text}"
    );
    assert_eq!(
        year("y.info.renewed.exDate"),
        year("x.info.keep.exDate") + 2,
        "{text}"
    );

    // A certificate of the CA bound to no registrar, or another registrar's, is refused
    // at login (2200) even with the right password.
    wrong_certificates_are_refused(&eppd, &certs, pw_x);

    // The change files eppd wrote, applied; whois answers the new domain, not the deleted.
    let loaded = Command::new(binary("loader"))
        .args(["watch", "--once", "--changes"])
        .arg(&spool)
        .arg(&reg.db)
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{loaded:?}");
    let rejected = reg.dir.path().join("rejected");
    assert!(
        std::fs::read_dir(&rejected).map_or(true, |mut d| d.next().is_none()),
        "the loader refused changes eppd wrote"
    );
    let whoisd = Whoisd::start(&reg.db, &["--no-rwhois"]);
    let answer = whoisd.query(KEEP).to_ascii_lowercase();
    assert!(answer.contains("domain name: epp-keep.coop"), "{answer}");
    assert!(answer.contains("ns1.epp-keep.coop"), "{answer}");
    assert!(answer.contains("clientx"), "{answer}");
    let gone = whoisd.query(MOVED).to_ascii_lowercase();
    assert!(!gone.contains("domain name: epp-moved.coop"), "{gone}");
}

/// Logs in as ClientX with ClientZ's certificate, and with ClientY's: both refused; with
/// its own, accepted. Without a certificate, no greeting at all.
fn wrong_certificates_are_refused(eppd: &Eppd, certs: &Path, pw_x: &str) {
    let probe = r#"
use strict; use warnings; use Net::EPP::Client;
my ($host, $port, $certs, $name, $pw) = @ARGV;
my $epp = Net::EPP::Client->new(host => $host, port => $port, ssl => 1);
$epp->connect(SSL_cert_file => "$certs/$name.pem", SSL_key_file => "$certs/$name.key",
    SSL_ca_file => "$certs/ca.pem", SSL_verify_mode => 1, SSL_verifycn_name => 'localhost',
    SSL_verifycn_scheme => 'default', Timeout => 20);
my $a = $epp->request(qq{<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><login><clID>ClientX</clID><pw>$pw</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI></svcs></login><clTRID>P-1</clTRID></command></epp>});
my ($code) = $a =~ /<result code="(\d{4})"/;
print "$code\n";
"#;
    for name in ["ClientZ", "ClientY", "ClientX"] {
        let out = Command::new("perl")
            .args(["-e", probe])
            .arg(eppd.addr.ip().to_string())
            .arg(eppd.addr.port().to_string())
            .arg(certs)
            .args([name, pw_x])
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = if name == "ClientX" { "1000" } else { "2200" };
        assert_eq!(
            code, want,
            "login as ClientX with {name}'s certificate: {out:?}"
        );
    }
    let anonymous = r#"
use strict; use warnings; use Net::EPP::Client;
my ($host, $port, $certs) = @ARGV;
my $epp = Net::EPP::Client->new(host => $host, port => $port, ssl => 1);
my $greeting = $epp->connect(SSL_ca_file => "$certs/ca.pem", SSL_verify_mode => 1,
    SSL_verifycn_name => 'localhost', SSL_verifycn_scheme => 'default', Timeout => 20);
print "greeting\n" if defined($greeting) && $greeting =~ /<greeting>/;
"#;
    let out = Command::new("perl")
        .args(["-e", anonymous])
        .arg(eppd.addr.ip().to_string())
        .arg(eppd.addr.port().to_string())
        .arg(certs)
        .output()
        .unwrap();
    // Died inside the client (handshake refused, or closed before the greeting), not
    // in the script.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.stdout.is_empty() && err.contains("Net/EPP/Client.pm"),
        "a client without a certificate got a session: {out:?}"
    );
}
