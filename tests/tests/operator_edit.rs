//! Operators and eppd on one spool: eppd is the one sequencer while it runs (it holds
//! `SPOOL/WRITER.LOCK` and names its admin socket in `SPOOL/WRITER`), so `mkdb edit` and
//! `loader import` send their change files to eppd, which checks them (compare-and-swap,
//! as the loader does), applies them to its objects and writes them under its own
//! numbers. With eppd, `loader watch` and whoisd running: an operator's edit of a domain
//! created over EPP reaches whois and EPP `<domain:info>`; an edit based on a version EPP
//! has replaced meanwhile is refused with a conflict and eppd goes on; `loader import`
//! goes through eppd too; `eppd admin set-state` verifies a registrant and its sponsor
//! gets a poll message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use eppd::certs::registrar_record;
use tests::{Eppd, KillOnDrop, Registry, Whoisd, binary};

const DOMAIN: &str = "op-edit.coop";

/// An EPP session as ClientX: login, then each command; returns the answers.
const SESSION: &str = r#"
use strict; use warnings; use Net::EPP::Client;
my ($host, $port, $certs, $pw, @cmds) = @ARGV;
my $epp = Net::EPP::Client->new(host => $host, port => $port, ssl => 1);
$epp->connect(SSL_cert_file => "$certs/ClientX.pem", SSL_key_file => "$certs/ClientX.key",
    SSL_ca_file => "$certs/ca.pem", SSL_verify_mode => 1, SSL_verifycn_name => 'localhost',
    SSL_verifycn_scheme => 'default', Timeout => 20) or die "no greeting\n";
my $E = 'urn:ietf:params:xml:ns:epp-1.0';
my $login = qq{<login><clID>ClientX</clID><pw>$pw</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI><objURI>urn:ietf:params:xml:ns:host-1.0</objURI><svcExtension><extURI>http://www.nic.coop/contactCoopExt-1.0</extURI></svcExtension></svcs></login>};
my $n = 0;
for my $c ($login, @cmds) {
    $n++;
    my $a = $epp->request(qq{<?xml version="1.0" encoding="UTF-8"?><epp xmlns="$E"><command>$c<clTRID>OP-$n</clTRID></command></epp>});
    die "no answer to $c\n" unless defined $a;
    $a =~ s/\n/ /g;
    print "$a\n";
}
"#;

const D: &str = r#"xmlns:domain="urn:ietf:params:xml:ns:domain-1.0""#;
const C: &str = r#"xmlns:contact="urn:ietf:params:xml:ns:contact-1.0""#;

fn epp(addr: &str, certs: &Path, pw: &str, cmds: &[String]) -> Vec<String> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = Command::new("perl")
        .args(["-e", SESSION])
        .args([host, port])
        .arg(certs)
        .arg(pw)
        .args(cmds)
        .output()
        .expect("run perl (apt-get install libnet-epp-perl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "EPP session failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(answers.len(), cmds.len() + 1, "{text}");
    assert!(
        answers[0].contains(r#"code="1000""#),
        "login: {}",
        answers[0]
    );
    answers[1..].to_vec()
}

fn code(answer: &str) -> &str {
    answer
        .split(r#"<result code=""#)
        .nth(1)
        .and_then(|r| r.get(..4))
        .unwrap_or("none")
}

fn contact_create(id: &str, ext: &str) -> String {
    format!(
        r#"<create><contact:create {C}><contact:id>{id}</contact:id><contact:postalInfo type="int"><contact:name>Op {id}</contact:name><contact:addr><contact:city>Manchester</contact:city><contact:cc>GB</contact:cc></contact:addr></contact:postalInfo><contact:email>{id}@example.coop</contact:email><contact:authInfo><contact:pw>c0ntact-{id}</contact:pw></contact:authInfo></contact:create></create>{ext}"#
    )
}

fn domain_info() -> String {
    format!(r#"<info><domain:info {D}><domain:name>{DOMAIN}</domain:name></domain:info></info>"#)
}

fn domain_add_status(s: &str) -> String {
    format!(
        r#"<update><domain:update {D}><domain:name>{DOMAIN}</domain:name><domain:add><domain:status s="{s}"/></domain:add></domain:update></update>"#
    )
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mkdb_edit(db: &Path, spool: &Path, editor: &str, class: &str, key: &str) -> Output {
    Command::new(binary("mkdb"))
        .args(["edit", "--db"])
        .arg(db)
        .arg("--changes")
        .arg(spool)
        .args([class, key])
        .env("VISUAL", editor)
        .stdin(Stdio::null())
        .output()
        .expect("run mkdb edit")
}

#[test]
fn operator_edits_go_through_eppd_and_conflicts_are_refused() {
    let reg = Registry::new(50);
    let certs = reg.dir.path().join("certs");
    let out = Command::new(binary("eppd"))
        .arg("gen-dev-certs")
        .arg(&certs)
        .arg("ClientX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fp = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ClientX "))
        .unwrap()
        .to_string();
    let pw = "x-Secret-pw1";
    std::fs::write(
        reg.src.join("data/registrar/op-test.txt"),
        registrar_record("ClientX", "ClientX Registrar Ltd", pw, &fp),
    )
    .unwrap();
    reg.compile();

    let spool = reg.dir.path().join("changes");
    let admin = reg.dir.path().join("eppd.admin");
    let admin_arg = admin.to_str().expect("UTF-8 path");
    let mut eppd = Eppd::start(&reg.db, &certs, &spool, &["--admin-socket", admin_arg]);
    let addr = eppd.addr.to_string();
    assert_eq!(
        std::fs::read_to_string(spool.join("WRITER"))
            .unwrap()
            .trim(),
        admin.display().to_string()
    );
    let log = std::fs::File::create(reg.dir.path().join("loader.log")).unwrap();
    let _loader = KillOnDrop(
        Command::new(binary("loader"))
            .args(["watch", "--interval-ms", "10", "--changes"])
            .arg(&spool)
            .arg(&reg.db)
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let whoisd = Whoisd::start(&reg.db, &["--no-rwhois", "--reload-interval", "10ms"]);
    let loader_log = || std::fs::read_to_string(reg.dir.path().join("loader.log")).unwrap();

    // EPP creates a registrant (with its two sponsors) and a domain.
    let coop = |s: &str| {
        format!(
            r#"<extension><coop:create xmlns:coop="http://www.nic.coop/contactCoopExt-1.0">{s}</coop:create></extension>"#
        )
    };
    let answers = epp(
        &addr,
        &certs,
        pw,
        &[
            contact_create("op-sp1", ""),
            contact_create("op-sp2", ""),
            contact_create(
                "op-reg",
                &coop("<coop:sponsor>op-sp1</coop:sponsor><coop:sponsor>op-sp2</coop:sponsor>"),
            ),
            format!(
                r#"<create><domain:create {D}><domain:name>{DOMAIN}</domain:name><domain:registrant>op-reg</domain:registrant><domain:authInfo><domain:pw>d0main-Secret</domain:pw></domain:authInfo></domain:create></create>"#
            ),
        ],
    );
    for a in &answers {
        assert_eq!(code(a), "1000", "{a}");
    }

    // The operator verifies the registrant: its domain leaves serverHold, and its sponsor
    // is told.
    let out = Command::new(binary("eppd"))
        .args(["admin", "--socket"])
        .arg(&admin)
        .args(["set-state", "op-reg", "verified"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.starts_with("ok op-reg is verified"), "{text}");
    let out = Command::new(binary("eppd"))
        .args(["admin", "--spool"])
        .arg(&spool)
        .args(["set-state", "nobody", "verified"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error 2303"));
    let out = Command::new(binary("eppd"))
        .args(["admin", "--socket"])
        .arg(reg.dir.path().join("nothing.admin"))
        .arg("ping")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let answers = epp(&addr, &certs, pw, &[r#"<poll op="req"/>"#.to_string()]);
    assert_eq!(code(&answers[0]), "1301", "{}", answers[0]);
    assert!(
        answers[0].contains("verification state changed"),
        "{}",
        answers[0]
    );

    wait_for("whois to show the domain", Duration::from_secs(10), || {
        let a = whoisd.query(DOMAIN);
        a.contains("Domain Status: ok") && !a.contains("serverHold")
    });

    // An operator's edit while eppd runs: taken by eppd, published, seen by whois and EPP.
    let out = mkdb_edit(
        &reg.db,
        &spool,
        "sed -i 's/^Domain-Status: ok$/Domain-Status: clientHold/'",
        "domain",
        DOMAIN,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{}", loader_log());
    assert!(
        err.contains("eppd") && err.contains("took the change"),
        "{err}"
    );
    assert!(err.contains("published in generation"), "{err}");
    wait_for("whois to show the edit", Duration::from_secs(10), || {
        whoisd.query(DOMAIN).contains("Domain Status: clientHold")
    });
    let answers = epp(&addr, &certs, pw, &[domain_info()]);
    assert!(
        answers[0].contains(r#"s="clientHold""#),
        "EPP does not see the operator's edit: {}",
        answers[0]
    );

    // A race: the operator reads the record, EPP changes it, the operator saves.
    let marks = reg.dir.path();
    let editor = format!(
        "touch {0}/editing; while [ ! -e {0}/go ]; do sleep 0.02; done; \
         sed -i 's/^Domain-Status: clientHold$/Domain-Status: serverHold/'",
        marks.display()
    );
    let racing = {
        let (db, sp) = (reg.db.clone(), spool.clone());
        std::thread::spawn(move || mkdb_edit(&db, &sp, &editor, "domain", DOMAIN))
    };
    wait_for("the editor", Duration::from_secs(10), || {
        marks.join("editing").exists()
    });
    let answers = epp(
        &addr,
        &certs,
        pw,
        &[domain_add_status("clientTransferProhibited")],
    );
    assert_eq!(code(&answers[0]), "1000", "{}", answers[0]);
    std::fs::write(marks.join("go"), "").unwrap();
    let out = racing.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused") && err.contains("conflict") && err.contains(DOMAIN),
        "{err}"
    );
    assert!(eppd.running(), "eppd stopped");
    let answers = epp(&addr, &certs, pw, &[domain_info()]);
    assert!(
        answers[0].contains(r#"s="clientTransferProhibited""#),
        "{}",
        answers[0]
    );
    assert!(!answers[0].contains(r#"s="serverHold""#), "{}", answers[0]);
    wait_for(
        "whois to show EPP's change",
        Duration::from_secs(10),
        || {
            whoisd
                .query(DOMAIN)
                .contains("Domain Status: clientTransferProhibited")
        },
    );

    // `loader import` while eppd runs: through eppd, no crash, published.
    let dir = reg.src.join("data/domain");
    let file: PathBuf = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "txt"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text
        .find("Domain-Name: test.coop\n")
        .expect("test.coop in the tree");
    let end = start + text[start..].find("\n---").unwrap();
    let edited = format!(
        "{}{}{}",
        &text[..start],
        text[start..end].replace("Domain-Status: ok", "Domain-Status: clientUpdateProhibited"),
        &text[end..]
    );
    assert_ne!(edited, text);
    let import = reg.dir.path().join("import.txt");
    std::fs::write(&import, edited).unwrap();
    let out = Command::new(binary("loader"))
        .args(["import", "--class", "domain", "--db"])
        .arg(&reg.db)
        .arg("--changes")
        .arg(&spool)
        .arg("--wait")
        .arg("20")
        .arg(&import)
        .output()
        .unwrap();
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{o}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(eppd.running(), "eppd stopped");
    wait_for("whois to show the import", Duration::from_secs(10), || {
        whoisd
            .query("test.coop")
            .contains("Domain Status: clientUpdateProhibited")
    });
    let rejected = reg.dir.path().join("rejected");
    assert!(
        std::fs::read_dir(&rejected).map_or(true, |mut d| d.next().is_none()),
        "the loader refused a change eppd accepted:\n{}",
        loader_log()
    );
}
