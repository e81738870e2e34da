//! The web page for people: a search form (domain, contact, name server, registrar; `*`
//! wildcards) and its results, as plain HTML with no JavaScript, a viewport for phones and
//! a layout that reads top to bottom in a text browser.
//!
//! Results are the very RDAP objects of [`super::json`] (so redaction and private
//! attributes follow the same rules) rendered as HTML; every value is escaped with
//! [`escape`]. The same rate limits as port 43 and RDAP apply, and a limited visitor gets
//! HTTP 429 with the limit explained.

use std::fmt::Write;

use serde_json::Value;

use super::json::{self, Context, Rec};
use super::{Found, Refusal, Reply, Request, Service, parse_query};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Encodes a query-string value.
fn encode_query(s: &str) -> String {
    json::encode_segment(s)
}

const KINDS: [(&str, &str); 4] = [
    ("domain", "Domain"),
    ("contact", "Contact"),
    ("nameserver", "Name server"),
    ("registrar", "Registrar"),
];

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:50rem;margin:0 auto;\
padding:1rem;line-height:1.45;color:#111;background:#fff}\
h1{font-size:1.4rem}h2{font-size:1.2rem;margin-top:1.5rem}h3{font-size:1rem}\
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}\
input[type=text]{flex:1 1 12rem;font-size:1rem;padding:.4rem}\
select,button{font-size:1rem;padding:.4rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}\
dd{margin:0;overflow-wrap:anywhere}section{border-top:1px solid #ccc;margin-top:1rem}\
.note{background:#fff4d6;border:1px solid #e0c060;padding:.6rem}\
.redacted{color:#666;font-style:italic}table{border-collapse:collapse}\
td,th{text-align:left;padding:.2rem .6rem .2rem 0}";

fn page(title: &str, kind: &str, q: &str, body: &str) -> String {
    let mut out = String::with_capacity(4096 + body.len());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>.coop registration data</h1>\n\
         <p>Look up a domain, contact, name server or registrar of the .coop registry. \
         Use <code>*</code> at the start or end for wildcards (<code>coop*</code>, \
         <code>*bank.coop</code>).</p></header>\n<main>\n\
         <form method=\"get\" action=\"/\" role=\"search\">\n\
         <label for=\"type\">Search</label>\n<select id=\"type\" name=\"type\">\n",
        escape(title)
    );
    for (value, label) in KINDS {
        let sel = if value == kind { " selected" } else { "" };
        let _ = writeln!(out, "<option value=\"{value}\"{sel}>{label}</option>");
    }
    let _ = write!(
        out,
        "</select>\n<label for=\"q\">for</label>\n\
         <input type=\"text\" id=\"q\" name=\"q\" value=\"{}\" maxlength=\"255\" \
         placeholder=\"example.coop\" autocomplete=\"off\">\n\
         <button type=\"submit\">Search</button>\n</form>\n{body}</main>\n\
         <footer><p><small>Also available as RDAP (JSON) at <a href=\"/help\">/help</a> \
         and on port 43 (whois). Personal data of contacts is not published. Queries are \
         rate limited per network.</small></p></footer>\n</body>\n</html>\n",
        escape(q)
    );
    out
}

fn html_reply(status: u16, body: String) -> Reply {
    Reply {
        status,
        content_type: "text/html; charset=utf-8",
        body: body.into_bytes(),
        retry_after: None,
    }
}

/// The page for a visitor over the limits: 429 with the limit explained (403 for a
/// network refused by the access policy).
pub fn limited(kind: &str, q: &str, reason: &str, retry: u64) -> Reply {
    let when = if retry == 0 {
        "Contact the registry if you believe this is a mistake.".to_string()
    } else {
        format!("Please wait {retry} seconds before the next search.")
    };
    let body = format!(
        "<div class=\"note\" role=\"alert\"><h2>Too many searches</h2>\
         <p>{}.</p><p>{}</p><p>To keep the service available to everyone, each network may \
         make a limited number of searches per second, the same as whois on port 43. \
         Automated bulk queries are not permitted.</p></div>\n",
        escape(reason),
        escape(&when)
    );
    let mut r = html_reply(
        if retry == 0 { 403 } else { 429 },
        page("Too many searches", kind, q, &body),
    );
    r.retry_after = (retry > 0).then_some(retry);
    r
}

/// Answers a request for the page.
pub fn answer(svc: &Service, req: &Request<'_>) -> Reply {
    let params = parse_query(req.query.unwrap_or("")).unwrap_or_default();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let kind = get("type")
        .filter(|k| KINDS.iter().any(|(v, _)| v == k))
        .unwrap_or_else(|| "domain".into());
    let q = get("q").unwrap_or_default();
    if q.is_empty() {
        return html_reply(200, page(".coop registration data", &kind, "", ""));
    }
    if let Some((reason, retry)) = svc.charge(req.client) {
        return limited(&kind, &q, &reason, retry);
    }
    let (g, _) = svc.live().current();
    let base = svc.context_base(req);
    let cx = Context {
        g: &g,
        base: &base,
        port43: svc.config().port43.as_deref(),
        shown: svc.redaction().shown(req.audience),
    };
    let outcome = results(svc, &cx, &kind, &q, req);
    let (status, body, contacts) = match outcome {
        Ok(Outcome::One(v, contacts)) => (200, render_object(&v), contacts),
        Ok(Outcome::Many(found)) if found.records.is_empty() => (
            404,
            format!("<p>No match for <b>{}</b>.</p>\n", escape(&q)),
            0,
        ),
        Ok(Outcome::Many(found)) => (200, render_list(&cx, &found, svc), 0),
        Err(Refusal::NotFound(_)) => (
            404,
            format!("<p>No match for <b>{}</b>.</p>\n", escape(&q)),
            0,
        ),
        Err(Refusal::Bad(m)) => (
            400,
            format!(
                "<p class=\"note\">That search cannot be made: {}</p>\n",
                escape(&m)
            ),
            0,
        ),
    };
    if let Some((reason, retry)) = svc.charge_contacts(req.client, contacts) {
        let body = format!(
            "<div class=\"note\" role=\"alert\"><h2>Daily limit reached</h2><p>{}. \
             Please come back in {} seconds.</p></div>\n",
            escape(&reason),
            retry
        );
        let mut r = html_reply(429, page("Daily limit reached", &kind, &q, &body));
        r.retry_after = Some(retry);
        return r;
    }
    let title = format!("{q} - .coop registration data");
    html_reply(status, page(&title, &kind, &q, &body))
}

enum Outcome {
    One(Value, u32),
    Many(Found),
}

fn results(
    svc: &Service,
    cx: &Context<'_>,
    kind: &str,
    q: &str,
    req: &Request<'_>,
) -> Result<Outcome, Refusal> {
    let g = cx.g;
    let wildcard = q.contains('*');
    let one = |class: &str, key: &str| json::find(g, class, key);
    match kind {
        "domain" if wildcard => Ok(Outcome::Many(svc.search_attr(
            g,
            "domain",
            "Domain-Name",
            q,
        )?)),
        "domain" => {
            let rec = one("domain", q.trim_end_matches('.'))
                .ok_or_else(|| Refusal::NotFound(String::new()))?;
            let (v, n) = json::domain(cx, &rec, true);
            Ok(Outcome::One(v, n))
        }
        "nameserver" if wildcard => Ok(Outcome::Many(svc.search_attr(
            g,
            "nameserver",
            "Host-Name",
            q,
        )?)),
        "nameserver" => {
            if let Ok(ip) = q.parse::<std::net::IpAddr>() {
                return Ok(Outcome::Many(svc.search_attr(
                    g,
                    "nameserver",
                    "IP-Address",
                    &ip.to_string(),
                )?));
            }
            let rec = one("nameserver", q.trim_end_matches('.'))
                .ok_or_else(|| Refusal::NotFound(String::new()))?;
            let name = rec.first("Host-Name").unwrap_or(q);
            Ok(Outcome::One(
                json::nameserver(cx, name, Some(&rec), true),
                0,
            ))
        }
        "contact" if wildcard => {
            let params = vec![("handle".to_string(), q.to_string())];
            let mut f = svc.find_entities(g, &params, req.audience)?;
            f.records.retain(|&r| Rec::new(g, r).class() == "contact");
            Ok(Outcome::Many(f))
        }
        "contact" => {
            let rec = one("contact", q).ok_or_else(|| Refusal::NotFound(String::new()))?;
            Ok(Outcome::One(json::entity(cx, &rec, true), 1))
        }
        _ => {
            if !wildcard && let Some(rec) = one("registrar", q) {
                return Ok(Outcome::One(json::entity(cx, &rec, true), 0));
            }
            let f = svc.search_attr(g, "registrar", "Registrar-Name", q)?;
            if let [r] = f.records.as_slice() {
                return Ok(Outcome::One(json::entity(cx, &Rec::new(g, *r), true), 0));
            }
            Ok(Outcome::Many(f))
        }
    }
}

fn render_list(cx: &Context<'_>, found: &Found, svc: &Service) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<h2>{} result{}</h2>\n<ul class=\"results\">",
        found.records.len(),
        if found.records.len() == 1 { "" } else { "s" }
    );
    for &r in &found.records {
        let rec = Rec::new(cx.g, r);
        let (kind, key, label) = match rec.class() {
            "domain" => {
                let (ldh, u) = json::names(rec.first("Domain-Name").unwrap_or_default());
                let label = u.map_or(ldh.clone(), |u| format!("{u} ({ldh})"));
                ("domain", ldh, label)
            }
            "nameserver" => {
                let (ldh, _) = json::names(rec.first("Host-Name").unwrap_or_default());
                ("nameserver", ldh.clone(), ldh)
            }
            "contact" => {
                let h = rec.first("Contact-ID").unwrap_or_default().to_string();
                ("contact", h.clone(), h)
            }
            _ => {
                let h = rec.first("Registrar-ID").unwrap_or_default().to_string();
                let n = rec.first("Registrar-Name").unwrap_or_default();
                ("registrar", h.clone(), format!("{n} ({h})"))
            }
        };
        let _ = writeln!(
            out,
            "<li><a href=\"/?type={kind}&amp;q={}\">{}</a></li>",
            escape(&encode_query(&key)),
            escape(&label)
        );
    }
    out.push_str("</ul>\n");
    if found.more {
        let _ = writeln!(
            out,
            "<p class=\"note\">Only the first {} results are shown; narrow the search.</p>",
            svc.config().search_limit
        );
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
}

const REDACTED: &str = "<span class=\"redacted\">not published (personal data)</span>";

fn render_card(out: &mut String, card: &Value) {
    for p in card.as_array().into_iter().flatten() {
        let name = p[0].as_str().unwrap_or("");
        let value = &p[3];
        match name {
            "fn" => {
                let v = text(value);
                if v.is_empty() {
                    let _ = writeln!(out, "<dt>Name</dt><dd>{REDACTED}</dd>");
                } else {
                    row(out, "Name", &v);
                }
            }
            "org" => row(out, "Organization", &text(value)),
            "adr" => {
                let mut parts = text(value);
                if let Some(cc) = p[1]["cc"].as_str() {
                    if !parts.is_empty() {
                        parts.push_str(", ");
                    }
                    parts.push_str(cc);
                }
                row(out, "Address", &parts);
            }
            "tel" => {
                let label = if p[1]["type"] == "fax" {
                    "Fax"
                } else {
                    "Phone"
                };
                let v = text(value);
                row(out, label, v.strip_prefix("tel:").unwrap_or(&v));
            }
            "email" => row(out, "Email", &text(value)),
            _ => {}
        }
    }
}

fn render_events(out: &mut String, v: &Value) {
    for e in v["events"].as_array().into_iter().flatten() {
        let action = e["eventAction"].as_str().unwrap_or("");
        let mut label = action.to_string();
        if let Some(c) = label.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        row(out, &label, e["eventDate"].as_str().unwrap_or(""));
    }
}

/// Renders one RDAP object (domain, name server or entity) as HTML.
pub fn render_object(v: &Value) -> String {
    let mut out = String::new();
    let class = v["objectClassName"].as_str().unwrap_or("");
    let heading = match class {
        "domain" | "nameserver" => {
            let ldh = v["ldhName"].as_str().unwrap_or("");
            match v["unicodeName"].as_str() {
                Some(u) => format!("{u} ({ldh})"),
                None => ldh.to_string(),
            }
        }
        _ => v["handle"].as_str().unwrap_or("").to_string(),
    };
    let kind = match class {
        "domain" => "Domain",
        "nameserver" => "Name server",
        _ if v["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&"registrar".into())) =>
        {
            "Registrar"
        }
        _ => "Contact",
    };
    let _ = writeln!(
        out,
        "<article class=\"result\">\n<h2>{kind} {}</h2>\n<dl>",
        escape(&heading)
    );
    if let Some(h) = v["handle"].as_str() {
        row(&mut out, "Handle", h);
    }
    if v["status"].is_array() {
        row(&mut out, "Status", &text(&v["status"]));
    }
    if let Some(ips) = v["ipAddresses"].as_object() {
        let all: Vec<String> = ips.values().map(text).collect();
        row(&mut out, "IP addresses", &all.join(", "));
    }
    render_card(&mut out, &v["vcardArray"][1]);
    render_events(&mut out, v);
    out.push_str("</dl>\n");
    if let Some(ns) = v["nameservers"].as_array() {
        out.push_str("<h3>Name servers</h3>\n<ul>\n");
        for n in ns {
            let name = n["ldhName"].as_str().unwrap_or("");
            let ips: Vec<String> = n["ipAddresses"]
                .as_object()
                .map(|o| o.values().map(text).collect())
                .unwrap_or_default();
            let ips = if ips.is_empty() {
                String::new()
            } else {
                format!(" ({})", ips.join(", "))
            };
            let _ = writeln!(
                out,
                "<li><a href=\"/?type=nameserver&amp;q={}\">{}</a>{}</li>",
                escape(&encode_query(name)),
                escape(name),
                escape(&ips)
            );
        }
        out.push_str("</ul>\n");
    }
    for e in v["entities"].as_array().into_iter().flatten() {
        let roles = text(&e["roles"]);
        let handle = e["handle"].as_str().unwrap_or("");
        let kind = if roles.contains("registrar") {
            "registrar"
        } else {
            "contact"
        };
        let _ = writeln!(
            out,
            "<section>\n<h3>{} <a href=\"/?type={kind}&amp;q={}\">{}</a></h3>\n<dl>",
            escape(&capitalise(&roles)),
            escape(&encode_query(handle)),
            escape(handle)
        );
        render_card(&mut out, &e["vcardArray"][1]);
        out.push_str("</dl>\n</section>\n");
    }
    if let Some(r) = v["redacted"].as_array().filter(|r| !r.is_empty()) {
        let mut names: Vec<String> = r
            .iter()
            .map(|x| {
                x["name"]["type"]
                    .as_str()
                    .or(x["name"]["description"].as_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        names.dedup();
        let _ = writeln!(
            out,
            "<p class=\"redacted\">Not published (personal data): {}.</p>",
            escape(&names.join(", "))
        );
    }
    out.push_str("</article>\n");
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_form_reflects_the_query_escaped() {
        let p = page("t", "contact", "\"><script>x</script>", "");
        assert!(p.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""));
        assert!(!p.contains("<script>"));
        assert!(p.contains("<option value=\"contact\" selected>"));
        assert!(p.contains("name=\"viewport\""));
    }

    #[test]
    fn objects_render_with_values_escaped() {
        let v = json!({
            "objectClassName": "domain", "ldhName": "a.coop", "handle": "<h>",
            "status": ["active"],
            "events": [{"eventAction": "registration", "eventDate": "2001-05-05T00:00:00Z"}],
            "entities": [{"handle": "C1", "roles": ["registrant"],
                "vcardArray": ["vcard", [["fn", {}, "text", ""], ["org", {}, "text", "A&B"]]]}],
            "redacted": [{"name": {"type": "Registrant Name"}}]
        });
        let h = render_object(&v);
        assert!(h.contains("&lt;h&gt;") && h.contains("A&amp;B"), "{h}");
        assert!(
            h.contains("Registration") && h.contains("not published"),
            "{h}"
        );
        assert!(h.contains("Registrant Name"));
    }
}
