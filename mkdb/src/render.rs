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

/// Writes `label` (precomputed: `Label: `, or `Label` for numbered attributes), the
/// number if any, the value and CRLF.
fn line(out: &mut Vec<u8>, label: &str, n: Option<usize>, value: &[u8]) {
    out.extend_from_slice(label.as_bytes());
    if let Some(n) = n {
        if n >= 10 {
            out.extend_from_slice(n.to_string().as_bytes());
        } else {
            out.push(b'0' + n as u8);
        }
        out.extend_from_slice(b": ");
    }
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

fn values(out: &mut Vec<u8>, label: &str, a: &AttrDef, vals: &[(u16, &[u8])]) {
    for (i, (_, v)) in vals.iter().enumerate() {
        line(out, label, a.display_numbered.then_some(i + 1), v);
    }
}

/// Writes one record in whois format.
pub fn render_record(g: &Generation, r: RecordRef, out: &mut Vec<u8>) {
    let class = g.class_of(r);
    let mut fields = Vec::with_capacity(32);
    g.record(r).sorted_raw(&mut fields);
    let joins = resolve_joins(g, class, &fields);
    let mut joins = joins.iter();
    let mut joined = Vec::with_capacity(32);
    let mut runs = runs(&fields).peekable();
    for a in &class.attrs {
        let vals: &[(u16, &[u8])] = match runs.peek() {
            Some(&(id, run)) if id == a.id => {
                runs.next();
                run
            }
            _ => &[],
        };
        let Some(label) = a.line_label.as_deref().filter(|_| !a.private) else {
            continue;
        };
        if a.ty == AttrType::Linked {
            let linked = g.is_referenced(r);
            line(out, label, None, if linked { b"true" } else { b"false" });
            continue;
        }
        match expanded_target(a) {
            None => values(out, label, a, vals),
            Some(t) => {
                for (_, v) in vals {
                    let target = joins.next().copied().flatten();
                    render_join(g, g.schema.class_by_id(t), a, v, target, &mut joined, out);
                }
            }
        }
    }
}

/// The class whose records an attribute's values expand into, if it expands them.
fn expanded_target(a: &AttrDef) -> Option<u16> {
    a.references_class
        .filter(|_| a.expand && !a.private && a.line_label.is_some())
}

/// Finds the records behind every expanded reference of a record, in rendering order,
/// one batch per target class so that the lookups' memory accesses overlap.
fn resolve_joins(
    g: &Generation,
    class: &ClassDef,
    fields: &[(u16, &[u8])],
) -> Vec<Option<RecordRef>> {
    let mut resolved: Vec<Option<RecordRef>> = Vec::new();
    let mut order: Vec<(u16, usize)> = Vec::new(); // (target class, index within its batch)
    let mut batches: Vec<(u16, Vec<u8>, Vec<usize>)> = Vec::new(); // (class, keys, ends)
    let mut key = Vec::with_capacity(64);
    for (id, run) in runs(fields) {
        let Some(a) = class.attrs.get(usize::from(id)) else {
            continue;
        };
        let Some(t) = expanded_target(a) else {
            continue;
        };
        let ty = g.schema.class_by_id(t).pk().ty;
        let pos = match batches.iter().position(|b| b.0 == t) {
            Some(p) => p,
            None => {
                batches.push((t, Vec::new(), Vec::new()));
                batches.len() - 1
            }
        };
        for (_, v) in run {
            crate::key::exact_key_into(ty, v, &mut key);
            let b = &mut batches[pos];
            b.1.extend_from_slice(&key);
            b.2.push(b.1.len());
            order.push((t, b.2.len() - 1));
        }
    }
    let mut found: Vec<Vec<Option<RecordRef>>> = Vec::with_capacity(batches.len());
    for (t, keys, ends) in &batches {
        let mut out = Vec::with_capacity(ends.len());
        g.find_keys(*t, keys, ends, &mut out);
        found.push(out);
    }
    for (t, i) in order {
        let b = batches
            .iter()
            .position(|b| b.0 == t)
            .expect("batch of a listed key");
        resolved.push(found[b][i]);
    }
    resolved
}

/// Writes a referenced record's joined attributes, with the labels precomputed for `a`.
fn render_join<'a>(
    g: &'a Generation,
    target: &ClassDef,
    a: &AttrDef,
    value: &[u8],
    found: Option<RecordRef>,
    fields: &mut Vec<(u16, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    let pk_label = a
        .join_labels
        .get(usize::from(target.primary_key))
        .and_then(Option::as_deref);
    if pk_label.is_none()
        && let Some(label) = a.line_label.as_deref()
    {
        line(out, label, None, value);
    }
    let Some(tr) = found else {
        if let Some(label) = pk_label {
            line(out, label, None, value);
        }
        return;
    };
    g.record(tr).sorted_raw(fields);
    for (id, run) in runs(fields) {
        // Ids come from the index file: never trust them to be in range.
        let (Some(Some(label)), Some(ta)) = (
            a.join_labels.get(usize::from(id)),
            target.attrs.get(usize::from(id)),
        ) else {
            continue;
        };
        values(out, label, ta, run);
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
