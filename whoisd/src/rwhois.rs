//! RWhois 1.5 (RFC 2167) output that is not specific to one directive: the banner with its
//! capability ID, `%info` blocks, RFC 2167 time-stamps, and query results in the dump format
//! (`class:Attribute:value` lines). [`crate::session`] decides when each is written and
//! writes the directive responses; the query language and its execution are `mkdb::query`'s,
//! so an RWhois client finds exactly the records a port-43 client finds.
//!
//! Dump format (RFC 2167 section 3.4): one `class:Attribute:value` line per public value, in
//! schema order, with the type character `;I` on attributes that reference another object
//! (`domain:Registrant-ID;I:CNT-1002`), an empty line after each object, then `%ok`. Private
//! attributes are never written. Computed attributes (`Currently-Associated`) are written
//! with their computed value, as the whois output shows them. Lines end in CRLF.

use mkdb::Generation;
use mkdb::query::{self, QueryErrorKind, RecordRef};
use mkdb::render::AnswerStats;
use mkdb::schema::AttrType;

/// The protocol version this server speaks.
pub const VERSION: &str = "V-1.5";

/// Writes the banner: `%rwhois V-1.5:<capability>:00 <host> (by whoisd <version>)`. Only
/// the 24 bits of the capability ID are used (RFC 2167 Appendix D).
pub fn banner(capability: u32, host: &str, out: &mut Vec<u8>) {
    let line = format!(
        "%rwhois {VERSION}:{:06x}:00 {host} (by whoisd {})\r\n",
        capability & 0xff_ffff,
        env!("CARGO_PKG_VERSION")
    );
    out.extend_from_slice(line.as_bytes());
}

/// Writes an `%info on` ... `%info off` block around `text` (one line). A line that would
/// start with `%` gets a leading space, so it cannot be mistaken for a response line.
pub fn info(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"%info on\r\n");
    if text.starts_with('%') {
        out.push(b' ');
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n%info off\r\n");
}

/// An RFC 2167 time-stamp (`YYYYMMDDHHMMSSmmm`, GMT) from an RFC 3339 UTC time such as a
/// generation's `created`; `millis` fills the milliseconds (taken modulo 1000). Missing
/// digits read as zeros, so any input gives 17 digits.
pub fn time_stamp(rfc3339: &str, millis: u64) -> String {
    let mut digits: String = rfc3339
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    while digits.len() < 14 {
        digits.push('0');
    }
    format!("{digits}{:03}", millis % 1000)
}

/// The RWhois code and text for a query the engine refuses.
pub fn query_error(kind: QueryErrorKind) -> (u16, &'static str) {
    match kind {
        QueryErrorKind::Syntax => (350, "Invalid Query Syntax"),
        QueryErrorKind::UnknownAttribute => (320, "Invalid Attribute"),
        QueryErrorKind::NotIndexed | QueryErrorKind::TooBroad => (351, "Query Too Complex"),
    }
}

/// Writes one object in dump format, followed by its empty line.
pub fn dump_record(g: &Generation, r: RecordRef, out: &mut Vec<u8>) {
    let class = g.class_of(r);
    let mut fields = Vec::with_capacity(32);
    g.record(r).sorted_raw(&mut fields);
    for a in class.attrs.iter().filter(|a| !a.private) {
        let tag = if a.references.is_some() { ";I" } else { "" };
        let mut line = |value: &[u8]| {
            out.extend_from_slice(class.name.as_bytes());
            out.push(b':');
            out.extend_from_slice(a.name.as_bytes());
            out.extend_from_slice(tag.as_bytes());
            out.push(b':');
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        if a.ty == AttrType::Linked {
            line(if g.is_referenced(r) {
                b"true"
            } else {
                b"false"
            });
            continue;
        }
        let start = fields.partition_point(|f| f.0 < a.id);
        for (_, v) in fields[start..].iter().take_while(|f| f.0 == a.id) {
            line(v);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Answers a query in dump format: the matching objects (at most `limit`), then `%ok`;
/// `%error 330 Exceeded Max Objects Limit` after `limit` objects when more matched;
/// `%error 230 No Objects Found`; or, for a refused query, an `%info` block saying why and
/// `%error 350` (syntax), `320` (unknown attribute) or `351` (too broad, not indexed).
/// Returns what was answered (the dump format joins nothing, so the contacts counted are
/// the contact objects answered).
pub fn dump_answer(g: &Generation, input: &str, limit: usize, out: &mut Vec<u8>) -> AnswerStats {
    let result = query::parse(&g.schema, input.trim()).and_then(|q| g.execute(&q, limit));
    let mut stats = AnswerStats::of(&result);
    match &result {
        Err(e) => {
            info(out, &e.message);
            let (code, text) = query_error(e.kind);
            out.extend_from_slice(format!("%error {code} {text}\r\n").as_bytes());
        }
        Ok(h) if h.records.is_empty() => out.extend_from_slice(b"%error 230 No Objects Found\r\n"),
        Ok(h) => {
            let contact = mkdb::render::contact_class(g);
            for &r in &h.records {
                if contact == Some(g.class_of(r).id) {
                    stats.contacts = stats.contacts.saturating_add(1);
                }
                dump_record(g, r, out);
            }
            if h.more {
                out.extend_from_slice(b"%error 330 Exceeded Max Objects Limit\r\n");
            } else {
                out.extend_from_slice(b"%ok\r\n");
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_format() {
        let mut out = Vec::new();
        banner(0x1_00ffff, "whois.nic.coop", &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("%rwhois V-1.5:00ffff:00 whois.nic.coop (by whoisd "),
            "{s}"
        );
        assert!(s.ends_with(")\r\n"));
    }

    #[test]
    fn time_stamps() {
        assert_eq!(time_stamp("2001-09-09T01:46:40Z", 0), "20010909014640000");
        assert_eq!(
            time_stamp("2001-09-09T01:46:40Z", 1017),
            "20010909014640017"
        );
        assert_eq!(time_stamp("", 5), "00000000000000005");
        assert_eq!(
            time_stamp("2001-09-09T01:46:40.123456Z", 0),
            "20010909014640000"
        );
    }

    #[test]
    fn info_block() {
        let mut out = Vec::new();
        info(&mut out, "hello");
        info(&mut out, "%ok is not a line of mine");
        assert_eq!(
            out,
            b"%info on\r\nhello\r\n%info off\r\n%info on\r\n %ok is not a line of mine\r\n%info off\r\n"
        );
    }

    #[test]
    fn query_error_codes() {
        assert_eq!(query_error(QueryErrorKind::Syntax).0, 350);
        assert_eq!(query_error(QueryErrorKind::UnknownAttribute).0, 320);
        assert_eq!(query_error(QueryErrorKind::TooBroad).0, 351);
        assert_eq!(query_error(QueryErrorKind::NotIndexed).0, 351);
    }
}
