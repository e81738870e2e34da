//! Whois output: records rendered to the Public Whois Specification's `Key: Value` format,
//! and whole port-43 answers (banner, records, notices).
//!
//! Labels and order come from the schema (`display`, `join-display`, `display-numbered`).
//! A domain record joins its contacts (attributes marked `is-joined`, prefixed with the
//! referencing attribute's label: `Registrant Name`) and its name servers' addresses.
//! Private attributes are never written. Values are copied straight from the mapped data
//! files into the output buffer; nothing else of the record is copied. Lines end in CRLF.

use crate::generation::Generation;
use crate::query::{self, Hits, QueryError, RecordRef};
use crate::schema::{AttrDef, AttrType, ClassDef};

/// First lines of every port-43 answer.
pub const BANNER: &str = "% .coop registry whois service (MKDB)\r\n\
% The data below is provided for information about .coop domain registrations only.\r\n\
% Automated bulk queries and use for unsolicited advertising are not permitted.\r\n\r\n";

fn line(out: &mut Vec<u8>, label_parts: &[&str], n: Option<usize>, value: &str) {
    let mut first = true;
    for p in label_parts {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(p.as_bytes());
    }
    if let Some(n) = n {
        out.extend_from_slice(n.to_string().as_bytes());
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the attribute's values with optional label prefix, numbering if the schema says so.
fn values<'a>(
    out: &mut Vec<u8>,
    prefix: Option<&str>,
    label: &str,
    a: &AttrDef,
    vals: impl Iterator<Item = &'a str>,
) {
    for (i, v) in vals.enumerate() {
        let n = a.display_numbered.then_some(i + 1);
        match prefix {
            Some(p) => line(out, &[p, label], n, v),
            None => line(out, &[label], n, v),
        }
    }
}

/// Writes one record in whois format.
pub fn render_record(g: &Generation, r: RecordRef, out: &mut Vec<u8>) {
    let class = g.class_of(r);
    let view = g.record(r);
    for a in &class.attrs {
        let Some(label) = a.display.as_deref() else {
            continue;
        };
        if a.private {
            continue;
        }
        if a.ty == AttrType::Linked {
            line(
                out,
                &[label],
                None,
                if g.is_referenced(r) { "true" } else { "false" },
            );
            continue;
        }
        let target = a
            .references
            .as_deref()
            .filter(|_| a.expand)
            .and_then(|t| g.schema.class(t))
            .filter(|t| t.attrs.iter().any(|x| x.joined));
        match target {
            None => values(out, None, label, a, view.values(a.id)),
            Some(t) => {
                for v in view.values(a.id) {
                    render_join(g, t, label, v, out);
                }
            }
        }
    }
}

/// Writes a referenced record's joined attributes, prefixed with the referencing label.
fn render_join(g: &Generation, target: &ClassDef, prefix: &str, value: &str, out: &mut Vec<u8>) {
    let pk = target.pk();
    if !pk.joined {
        line(out, &[prefix], None, value);
    }
    let Some(tr) = g.find(target.id, value) else {
        if pk.joined {
            line(out, &[prefix, pk.join_label().unwrap_or("ID")], None, value);
        }
        return;
    };
    let tv = g.record(tr);
    for ta in target.attrs.iter().filter(|x| x.joined && !x.private) {
        let Some(label) = ta.join_label() else {
            continue;
        };
        values(out, Some(prefix), label, ta, tv.values(ta.id));
    }
}

/// Options for a whole answer.
#[derive(Debug, Clone, Copy)]
pub struct AnswerOptions {
    /// Hit limit.
    pub limit: usize,
    /// Write [`BANNER`] first.
    pub banner: bool,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            limit: query::DEFAULT_LIMIT,
            banner: true,
        }
    }
}

/// Writes the port-43 answer to `input`: banner, matching records separated by blank lines,
/// a notice when the hit limit cut the list, "No match" when nothing matched, an error line
/// for an invalid query, and the database's last update time.
pub fn render_answer(
    g: &Generation,
    input: &str,
    opts: AnswerOptions,
    out: &mut Vec<u8>,
) -> Result<Hits, QueryError> {
    if opts.banner {
        out.extend_from_slice(BANNER.as_bytes());
    }
    let result = query::parse(&g.schema, input.trim()).and_then(|q| g.execute(&q, opts.limit));
    match &result {
        Err(e) => {
            out.extend_from_slice(b"% Error: ");
            out.extend_from_slice(e.message.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(h) if h.records.is_empty() => {
            out.extend_from_slice(b"No match for \"");
            out.extend_from_slice(input.trim().as_bytes());
            out.extend_from_slice(b"\".\r\n");
        }
        Ok(h) => {
            for (i, &r) in h.records.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"\r\n");
                }
                render_record(g, r, out);
            }
            if h.more {
                out.extend_from_slice(
                    format!(
                        "\r\n% More records match; only the first {} are shown. Narrow the query or raise the hit limit (-limit).\r\n",
                        h.records.len()
                    )
                    .as_bytes(),
                );
            }
        }
    }
    out.extend_from_slice(
        format!(
            "\r\n>>> Last update of whois database: {} (generation {}) <<<\r\n",
            g.created, g.number
        )
        .as_bytes(),
    );
    result
}
