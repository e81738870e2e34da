//! RDAP and the web page as clients meet them: the real `rdapd` binary on loopback over a
//! compiled `mkdb gen` database, asked with `curl`, checked against RFC 9083's JSON rules
//! here and by an independent RDAP client library from PyPI (`rdap`), and the page driven
//! in headless Chromium and text browsers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tests::{Rdapd, Registry, curl};

/// One database for the read-only tests.
fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::new(2_000))
}

fn json(url: &str) -> (u16, Value, tests::HttpAnswer) {
    let a = curl(url, &[]);
    assert_eq!(
        a.header("content-type"),
        Some("application/rdap+json"),
        "{url}: {a:?}"
    );
    let v: Value = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{url}: {e}: {a:?}"));
    (a.status, v, a)
}

/// RFC 9083's rules for the members this server uses, recursively.
fn check_object(v: &Value, path: &str) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("{path}: not an object"));
    if let Some(c) = o.get("objectClassName") {
        let c = c.as_str().expect("objectClassName is a string");
        assert!(
            ["domain", "nameserver", "entity"].contains(&c),
            "{path}: objectClassName {c}"
        );
        assert!(o.contains_key("links"), "{path}: an object without links");
        if c == "entity" {
            let card = &o["vcardArray"];
            assert_eq!(card[0], "vcard", "{path}: jCard");
            for p in card[1].as_array().expect("jCard properties") {
                let p = p.as_array().expect("jCard property is an array");
                assert!(p.len() >= 4, "{path}: jCard property {p:?}");
                assert!(p[0].is_string() && p[1].is_object() && p[2].is_string());
            }
        }
        if c == "domain" || c == "nameserver" {
            let ldh = o["ldhName"].as_str().expect("ldhName");
            assert!(ldh.is_ascii() && ldh == ldh.to_ascii_lowercase(), "{ldh}");
        }
    }
    for l in o
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let href = l["href"].as_str().expect("link href");
        assert!(href.starts_with("http://"), "{path}: relative link {href}");
        assert!(
            l["rel"].is_string() && l["value"].is_string(),
            "{path}: link {l}"
        );
    }
    for e in o
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(e["eventAction"].is_string(), "{path}: event {e}");
        let d = e["eventDate"].as_str().expect("eventDate");
        assert!(
            d.len() >= 20 && d.as_bytes()[4] == b'-' && d.contains('T'),
            "{path}: eventDate {d}"
        );
    }
    for s in o
        .get("status")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = s.as_str().expect("status strings");
        assert!(
            !s.chars().any(|c| c.is_ascii_uppercase()),
            "{path}: status {s}"
        );
    }
    for n in o
        .get("notices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(n["description"].is_array(), "{path}: notice {n}");
    }
    for (k, arr) in o {
        if matches!(
            k.as_str(),
            "entities"
                | "nameservers"
                | "domainSearchResults"
                | "nameserverSearchResults"
                | "entitySearchResults"
        ) {
            for (i, x) in arr.as_array().expect("array").iter().enumerate() {
                check_object(x, &format!("{path}.{k}[{i}]"));
            }
        }
    }
}

fn check_top(v: &Value) {
    let conf = v["rdapConformance"].as_array().expect("rdapConformance");
    assert!(conf.contains(&"rdap_level_0".into()), "{conf:?}");
    assert!(v["notices"].is_array());
    check_object(v, "$");
}

#[test]
fn lookups_follow_rfc9083_with_redaction_for_the_public() {
    let s = Rdapd::start(&registry().db, &[]);
    let (status, v, a) = json(&s.url("/domain/TEST.Coop"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(a.header("access-control-allow-origin"), Some("*"));
    check_top(&v);
    assert_eq!(v["objectClassName"], "domain");
    assert_eq!(v["ldhName"], "test.coop");
    assert_eq!(v["port43"], "whois.nic.coop");
    assert_eq!(v["links"][0]["rel"], "self");
    let actions: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventAction"].as_str().unwrap())
        .collect();
    for want in ["registration", "expiration", "last update of RDAP database"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    // Redaction (RFC 9537) for the public: the conformance, the member, no personal data.
    assert!(
        v["rdapConformance"]
            .as_array()
            .unwrap()
            .contains(&"redacted".into())
    );
    let redacted = v["redacted"].as_array().expect("redacted member");
    assert!(
        redacted
            .iter()
            .any(|r| r["name"]["type"] == "Registrant Name" && r["method"] == "emptyValue"),
        "{redacted:?}"
    );
    assert!(
        redacted
            .iter()
            .any(|r| r["name"]["type"] == "Registrant Email" && r["prePath"].is_string())
    );
    let registrant = v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["roles"][0] == "registrant")
        .expect("registrant");
    let card = registrant["vcardArray"][1].as_array().unwrap();
    assert!(card.iter().any(|p| p[0] == "fn" && p[3] == ""));
    assert!(!card.iter().any(|p| p[0] == "email" || p[0] == "tel"));
    // Never private attributes.
    let src = std::fs::read_to_string(registry().src.join("data/domain"))
        .or_else(|_| {
            let dir = registry().src.join("data/domain");
            let f = std::fs::read_dir(&dir)?.next().expect("a domain file")?;
            std::fs::read_to_string(f.path())
        })
        .unwrap();
    let rec = src
        .split("\n---")
        .find(|r| r.contains("Domain-Name: test.coop"))
        .unwrap_or("");
    if let Some(auth) = rec.lines().find_map(|l| l.strip_prefix("Auth-Info:")) {
        assert!(!a.body.contains(auth.trim()), "authInfo leaked");
    }
    assert!(!a.body.to_ascii_lowercase().contains("authinfo"));

    // Name servers, contacts, registrars.
    let (status, ns, _) = json(&s.url("/nameserver/DNS0.nic.coop"));
    assert_eq!(status, 200);
    check_top(&ns);
    assert_eq!(ns["ipAddresses"]["v4"][0], "10.10.10.10");
    let (status, c, _) = json(&s.url("/entity/CNT-1002"));
    assert_eq!(status, 200);
    check_top(&c);
    assert!(c["redacted"].as_array().is_some_and(|r| !r.is_empty()));
    let (status, r, _) = json(&s.url("/entity/REG-42"));
    assert_eq!(status, 200);
    check_top(&r);
    assert_eq!(r["roles"][0], "registrar");
    let (status, h, _) = json(&s.url("/help"));
    assert_eq!(status, 200);
    check_top(&h);
}

/// An IDN of the test registry: (A-label, U-label).
fn an_idn(s: &Rdapd) -> (String, String) {
    let (_, v, _) = json(&s.url("/domains?name=xn--*"));
    let d = &v["domainSearchResults"][0];
    (
        d["ldhName"].as_str().expect("an IDN").to_string(),
        d["unicodeName"].as_str().expect("its U-label").to_string(),
    )
}

#[test]
fn idn_lookups_by_a_label_and_u_label() {
    let s = Rdapd::start(&registry().db, &[]);
    let (a, u) = an_idn(&s);
    assert!(a.starts_with("xn--") && !u.is_ascii(), "{a} {u}");
    for name in [a.clone(), u.clone(), a.to_uppercase()] {
        let (status, v, _) = json(&s.url(&format!("/domain/{}", encode(&name))));
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["ldhName"], a.as_str());
        assert_eq!(v["unicodeName"], u.as_str());
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn searches_with_wildcards_are_capped_and_say_so() {
    let s = Rdapd::start(&registry().db, &["--search-limit", "3"]);
    let (status, v, _) = json(&s.url("/domains?name=*.coop"));
    assert_eq!(status, 200);
    check_top(&v);
    assert_eq!(v["domainSearchResults"].as_array().unwrap().len(), 3);
    assert!(
        v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "result set truncated due to excessive load"),
        "{v}"
    );
    let (_, v, _) = json(&s.url("/domains?name=test.c*"));
    let names: Vec<&str> = v["domainSearchResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ldhName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test.coop"]);
    assert!(
        !v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"].is_string())
    );
    let (_, v, _) = json(&s.url("/domains?nsLdhName=dns0.nic.*"));
    assert!(!v["domainSearchResults"].as_array().unwrap().is_empty());
    let (_, v, _) = json(&s.url("/domains?nsIp=10.10.10.10"));
    assert!(
        v["domainSearchResults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["ldhName"] == "test.coop"),
        "{v}"
    );
    let (_, v, _) = json(&s.url("/nameservers?name=dns0.nic.*"));
    check_top(&v);
    assert!(!v["nameserverSearchResults"].as_array().unwrap().is_empty());
    let (_, v, _) = json(&s.url("/nameservers?ip=10.10.10.10"));
    assert_eq!(v["nameserverSearchResults"][0]["ldhName"], "dns0.nic.coop");
    let (_, v, _) = json(&s.url("/entities?handle=CNT-100*"));
    check_top(&v);
    assert_eq!(v["entitySearchResults"].as_array().unwrap().len(), 3);
    let (_, v, _) = json(&s.url("/entities?fn=SAMPLE"));
    assert_eq!(v["entitySearchResults"][0]["handle"], "REG-42");
}

#[test]
fn errors_head_and_cors() {
    let s = Rdapd::start(&registry().db, &[]);
    for (path, code) in [
        ("/domain/no-such-name.coop", 404),
        ("/entity/NOBODY-HERE", 404),
        ("/domain/bad_name%21", 400),
        ("/domains?name=*", 400),
        ("/domains", 400),
        ("/nameservers?ip=not-an-ip", 400),
        ("/no/such/query", 400),
    ] {
        let (status, v, a) = json(&s.url(path));
        assert_eq!(status, code, "{path}: {v}");
        assert_eq!(v["errorCode"], code, "{path}");
        assert!(v["title"].is_string() && v["description"].is_array());
        assert_eq!(a.header("access-control-allow-origin"), Some("*"));
    }
    let head = curl(&s.url("/domain/test.coop"), &["-I"]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/rdap+json"));
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    assert!(head.body.is_empty());
    let pre = curl(
        &s.url("/domain/test.coop"),
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://example.net",
            "-H",
            "Access-Control-Request-Method: GET",
        ],
    );
    assert!(pre.status < 300, "{pre:?}");
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let post = curl(&s.url("/domain/test.coop"), &["-X", "POST", "-d", "x"]);
    assert_eq!(post.status, 405);
    // A request head past the bound is refused, and the server goes on.
    let big = format!("X-Big: {}", "a".repeat(40_000));
    let a = curl(&s.url("/help"), &["-H", &big]);
    assert_eq!(a.status, 431);
    assert_eq!(curl(&s.url("/help"), &[]).status, 200);
}

#[test]
fn the_rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits");
    std::fs::write(&limits, "Mode: enforce\nQuery-Rate: 1/m\nQuery-Burst: 2\n").unwrap();
    let s = Rdapd::start(&registry().db, &["--limits", limits.to_str().unwrap()]);
    assert_eq!(json(&s.url("/domain/test.coop")).0, 200);
    assert_eq!(json(&s.url("/domain/test.coop")).0, 200);
    let (status, v, a) = json(&s.url("/domain/test.coop"));
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["errorCode"], 429);
    let retry: u64 = a
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(v["description"][0].as_str().unwrap().contains("rate limit"));
    // The page explains the limit.
    let page = curl(&s.url("/?type=domain&q=test.coop"), &[]);
    assert_eq!(page.status, 429);
    assert!(page.header("retry-after").is_some());
    assert!(page.body.contains("Too many searches"), "{}", page.body);
    assert!(page.body.contains("rate limit"));
}

/// The venv with the PyPI `rdap` library, installed by `tests/rdap-client-setup.sh`.
fn rdap_python() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>
    let target = exe.ancestors().nth(3).expect("target directory");
    let venv = target.join("rdap-venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rdap-client-setup.sh");
    let st = Command::new("bash")
        .arg(&script)
        .arg(&venv)
        .status()
        .expect("run tests/rdap-client-setup.sh");
    assert!(st.success(), "installing the PyPI rdap client failed");
    venv.join("bin/python")
}

#[test]
fn an_independent_rdap_client_library_accepts_the_answers() {
    let python = rdap_python();
    let s = Rdapd::start(&registry().db, &[]);
    let (a, u) = an_idn(&s);
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rdap_client_check.py"))
        .arg(s.url("/"))
        .args([&a, &u])
        .output()
        .expect("run the RDAP client check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim_end().ends_with("ok"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium (apt-get install chromium; tools/run-tests does)")
}

#[test]
fn the_page_works_in_headless_chromium_and_text_browsers() {
    let s = Rdapd::start(&registry().db, &[]);
    let dir = tempfile::tempdir().unwrap();
    // The form, as a browser submits it (GET, no JavaScript).
    let url = s.url("/?type=domain&q=test.coop");
    let dom = chromium(&["--dump-dom", &url], &dir.path().join("p1"));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("Domain test.coop"), "{dom}");
    assert!(dom.contains("dns0.nic.coop") && dom.contains("10.10.10.10"));
    assert!(dom.contains("not published (personal data)"));
    assert!(!dom.contains("<script"));
    let shot = dir.path().join("result.png");
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=412,915",
            &url,
        ],
        &dir.path().join("p2"),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {out:?}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (412, 915));
    // A blank page compresses to a few hundred bytes; text and layout take far more.
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());

    // A wildcard search lists results that link to each one.
    let list = chromium(
        &["--dump-dom", &s.url("/?type=nameserver&q=dns0.nic*")],
        &dir.path().join("p3"),
    );
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("href=\"/?type=nameserver&amp;q=dns0.nic.coop\""),
        "{list}"
    );

    // Plain HTTP and text browsers.
    let page = curl(&s.url("/"), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("name=\"viewport\"") && page.body.contains("<form"));
    let escaped = curl(
        &s.url("/?type=domain&q=%3Cscript%3Ex%3C/script%3E.coop"),
        &[],
    );
    assert!(!escaped.body.contains("<script>"), "{}", escaped.body);
    assert!(escaped.body.contains("&lt;script&gt;"));
    let browser = ["w3m", "lynx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-version").output().is_ok())
        .expect("a text browser (apt-get install w3m or lynx)");
    let out = Command::new(browser)
        .args(["-dump", &s.url("/?type=registrar&q=REG-42")])
        .output()
        .expect("run the text browser");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Registrar REG-42") && text.contains("SAMPLE"),
        "{text}"
    );
}

#[test]
fn authenticated_operators_see_contacts_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut hash = Command::new(tests::binary("whoisd"))
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        hash.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    }
    let out = hash.wait_with_output().unwrap();
    let ops = dir.path().join("operators");
    std::fs::write(
        &ops,
        format!("ops:{}\n", String::from_utf8_lossy(&out.stdout).trim()),
    )
    .unwrap();
    let s = Rdapd::start(&registry().db, &["--operators", ops.to_str().unwrap()]);
    let a = curl(&s.url("/entity/CNT-1002"), &["-u", "ops:s3cret"]);
    assert_eq!(a.status, 200);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    let card = v["vcardArray"][1].as_array().unwrap();
    assert!(card.iter().any(|p| p[0] == "email"), "{v}");
    assert!(card.iter().any(|p| p[0] == "fn" && p[3] != ""));
    assert!(v.get("redacted").is_none());
    let a = curl(&s.url("/entity/CNT-1002"), &["-u", "ops:wrong"]);
    assert_eq!(a.status, 401);
}
