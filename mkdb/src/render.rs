//! Whois output: records rendered to the Public Whois Specification's `Key: Value` format,
//! and whole port-43 answers (banner, records, notices).
//!
//! Labels and order come from the schema (`display`, `join-display`, `display-numbered`).
//! A domain record expands its contacts and name servers (`expand-reference`): the
//! referenced record's `is-joined` attributes, prefixed with the referencing label
//! (`Registrant Name`). Private attributes are never written. Values are copied straight
//! from the mapped data files into the output buffer in one pass over each record's fields
//! (sorted by attribute); nothing else of the record is copied. Lines end in CRLF.

use crate::generation::Generation;
use crate::query::{self, Hits, QueryError, RecordRef};
use crate::schema::{AttrDef, AttrType, ClassDef};

/// First lines of every port-43 answer.
pub const BANNER: &str = "% .coop registry whois service (MKDB)\r\n\
% The data below is provided for information about .coop domain registrations only.\r\n\
% Automated bulk queries and use for unsolicited advertising are not permitted.\r\n\r\n";

fn line(out: &mut Vec<u8>, prefix: Option<&str>, label: &str, n: Option<usize>, value: &[u8]) {
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(label.as_bytes());
    if let Some(n) = n {
        if n >= 10 {
            out.extend_from_slice(n.to_string().as_bytes());
        } else {
            out.push(b'0' + n as u8);
        }
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Splits fields sorted by attribute into one run per attribute.
fn runs<'f, 'a>(
    fields: &'f [(u16, &'a [u8])],
) -> impl Iterator<Item = (u16, &'f [(u16, &'a [u8])])> {
    let mut rest = fields;
    std::iter::from_fn(move || {
        let first = rest.first()?.0;
        let n = rest.iter().take_while(|f| f.0 == first).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((first, run))
    })
}

/// Writes one record in whois format.
pub fn render_record(g: &Generation, r: RecordRef, out: &mut Vec<u8>) {
    let class = g.class_of(r);
    let mut fields = Vec::with_capacity(32);
    g.record(r).sorted_raw(&mut fields);
    let mut scratch = Vec::with_capacity(32);
    let mut runs = runs(&fields).peekable();
    for a in &class.attrs {
        let vals: &[(u16, &[u8])] = match runs.peek() {
            Some(&(id, run)) if id == a.id => {
                runs.next();
                run
            }
            _ => &[],
        };
        let Some(label) = a.display.as_deref().filter(|_| !a.private) else {
            continue;
        };
        if a.ty == AttrType::Linked {
            let linked = g.is_referenced(r);
            line(
                out,
                None,
                label,
                None,
                if linked { b"true" } else { b"false" },
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
            None => values(out, None, label, a, vals),
            Some(t) => {
                for (_, v) in vals {
                    render_join(g, t, label, v, &mut scratch, out);
                }
            }
        }
    }
}

fn values(
    out: &mut Vec<u8>,
    prefix: Option<&str>,
    label: &str,
    a: &AttrDef,
    vals: &[(u16, &[u8])],
) {
    for (i, (_, v)) in vals.iter().enumerate() {
        line(out, prefix, label, a.display_numbered.then_some(i + 1), v);
    }
}

/// Writes a referenced record's joined attributes, prefixed with the referencing label.
fn render_join<'a>(
    g: &'a Generation,
    target: &ClassDef,
    prefix: &str,
    value: &[u8],
    fields: &mut Vec<(u16, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    let pk = target.pk();
    if !pk.joined {
        line(out, None, prefix, None, value);
    }
    let found = std::str::from_utf8(value)
        .ok()
        .and_then(|v| g.find(target.id, v));
    let Some(tr) = found else {
        if pk.joined {
            line(
                out,
                Some(prefix),
                pk.join_label().unwrap_or("ID"),
                None,
                value,
            );
        }
        return;
    };
    g.record(tr).sorted_raw(fields);
    for (id, run) in runs(fields) {
        // Ids come from the index file: never trust them to be in range.
        let Some(ta) = target.attrs.get(usize::from(id)) else {
            continue;
        };
        if ta.joined
            && !ta.private
            && let Some(label) = ta.join_label()
        {
            values(out, Some(prefix), label, ta, run);
        }
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
                        "\r\n% More records match; only the first {} are shown. \
                         Narrow the query or raise the hit limit (-limit).\r\n",
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
