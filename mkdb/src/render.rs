//! Whois output: records rendered to the Public Whois Specification's `Key: Value` format,
//! and whole port-43 answers (banner, records, notices).
//!
//! Labels and order come from the schema (`display`, `join-display`, `display-numbered`).
//! A domain record expands its contacts and name servers (`expand-reference`): the
//! referenced record's `is-joined` attributes, prefixed with the referencing label
//! (`Registrant Name`). Private attributes are never written. Values are copied straight
//! from the mapped data files into the output buffer in one pass over each record's fields
//! (sorted by attribute); nothing else of the record is copied. Lines end in CRLF.

use crate::diff::{DepKind, Dependencies};
use crate::generation::Generation;
use crate::query::{self, Hits, QueryError, RecordRef};
use crate::schema::{AttrDef, AttrType, ClassDef};
use crate::segment::{FieldSpan, RecordView};

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
fn runs<T>(fields: &[(u16, T)]) -> impl Iterator<Item = (u16, &[(u16, T)])> {
    let mut rest = fields;
    std::iter::from_fn(move || {
        let first = rest.first()?.0;
        let n = rest.iter().take_while(|f| f.0 == first).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((first, run))
    })
}

fn values(out: &mut Vec<u8>, label: &str, a: &AttrDef, rec: RecordView<'_>, run: &[Field]) {
    for (i, &(_, span)) in run.iter().enumerate() {
        line(
            out,
            label,
            a.display_numbered.then_some(i + 1),
            rec.value(span),
        );
    }
}

/// A field of a record: attribute id and where its value lies in the record's text.
type Field = (u16, FieldSpan);

/// Buffers a rendering reuses from one record (and one answer) to the next, so that an
/// answer allocates nothing once a thread has rendered a few: one per thread.
#[derive(Debug, Default)]
struct Scratch {
    /// The record being written, sorted by attribute.
    fields: Vec<Field>,
    /// A joined record, sorted by attribute.
    joined: Vec<Field>,
    /// Each expanded reference of the record in rendering order: its target class, the
    /// value, and the record found.
    refs: Vec<(u16, FieldSpan, Option<RecordRef>)>,
    /// The target classes of `refs`, in order of first appearance.
    targets: Vec<u16>,
    /// The keys of one target class's references, back to back, and where each ends.
    keys: Vec<u8>,
    ends: Vec<usize>,
    found: Vec<Option<RecordRef>>,
    key: Vec<u8>,
    /// The last line of an answer, for the generation (number and time) it was made for.
    last_update: (u64, String, Vec<u8>),
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are in use, which only
/// a re-entrant call could cause).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Writes one record in whois format.
pub fn render_record(g: &Generation, r: RecordRef, out: &mut Vec<u8>) {
    with_scratch(|s| write_record(g, r, None, s, out, None));
}

/// The id of the class whose records are personal data (`contact`), if the schema has it:
/// the records [`AnswerStats::contacts`] counts.
pub fn contact_class(g: &Generation) -> Option<u16> {
    g.schema
        .classes
        .iter()
        .find(|c| c.name == CONTACT_CLASS)
        .map(|c| c.id)
}

/// The name of the class of personal data (contacts), counted per answer so that a
/// server can budget how many contact records one client receives.
pub const CONTACT_CLASS: &str = "contact";

/// Writes one record in whois format; returns how many records of class `contact` (its
/// id) were written: the record itself and every contact joined into it. With `deps`,
/// notes the records it read (see [`crate::diff`]).
fn write_record(
    g: &Generation,
    r: RecordRef,
    contact: Option<u16>,
    s: &mut Scratch,
    out: &mut Vec<u8>,
    mut deps: Option<&mut Dependencies>,
) -> u32 {
    let class = g.class_of(r);
    let mut contacts = u32::from(contact == Some(class.id));
    let rec = g.record(r);
    if let Some(d) = deps.as_deref_mut() {
        record_deps(g, class, rec, s, d);
    }
    let mut fields = std::mem::take(&mut s.fields);
    rec.sorted_spans(&mut fields);
    resolve_joins(g, class, rec, &fields, s, deps);
    let mut joins = 0;
    let mut runs = runs(&fields).peekable();
    for a in &class.attrs {
        let vals: &[Field] = match runs.peek() {
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
            None => values(out, label, a, rec, vals),
            Some(t) => {
                for &(_, span) in vals {
                    let target = s.refs.get(joins).and_then(|j| j.2);
                    joins += 1;
                    if target.is_some() && contact == Some(t) {
                        contacts += 1;
                    }
                    let target_class = g.schema.class_by_id(t);
                    render_join(g, target_class, a, rec.value(span), target, s, out);
                }
            }
        }
    }
    drop(runs);
    s.fields = fields;
    contacts
}

/// The class whose records an attribute's values expand into, if it expands them.
fn expanded_target(a: &AttrDef) -> Option<u16> {
    a.references_class
        .filter(|_| a.expand && !a.private && a.line_label.is_some())
}

/// Notes what a record's own rendering reads: its primary key and, when the class has a
/// `LINKED` attribute, whether anything refers to it (one key per type of referring
/// attribute, normalised as [`Generation::is_referenced`] looks it up).
fn record_deps(
    g: &Generation,
    class: &ClassDef,
    rec: RecordView<'_>,
    s: &mut Scratch,
    deps: &mut Dependencies,
) {
    let pk = class.pk();
    let Some(v) = rec.first_raw(pk.id) else {
        return;
    };
    crate::key::exact_key_into(pk.ty, v, &mut s.key);
    deps.add(DepKind::Record, class.id, &s.key);
    if !class.attrs.iter().any(|a| a.ty == AttrType::Linked) {
        return;
    }
    let Some(v) = rec.first(class.primary_key) else {
        return;
    };
    for c in &g.schema.classes {
        for a in c
            .attrs
            .iter()
            .filter(|a| a.references.as_deref() == Some(class.name.as_str()))
        {
            deps.add(
                DepKind::Linked,
                class.id,
                crate::key::exact_key(a.ty, v).as_bytes(),
            );
        }
    }
}

/// Finds the records behind every expanded reference of a record, in rendering order
/// (into `s.refs`), one batch per target class so that the lookups' memory accesses
/// overlap. With `deps`, notes each key looked up.
fn resolve_joins(
    g: &Generation,
    class: &ClassDef,
    rec: RecordView<'_>,
    fields: &[Field],
    s: &mut Scratch,
    mut deps: Option<&mut Dependencies>,
) {
    s.refs.clear();
    s.targets.clear();
    for (id, run) in runs(fields) {
        let Some(a) = class.attrs.get(usize::from(id)) else {
            continue;
        };
        if let Some(t) = expanded_target(a) {
            s.refs.extend(run.iter().map(|&(_, span)| (t, span, None)));
            if !s.targets.contains(&t) {
                s.targets.push(t);
            }
        }
    }
    for &t in &s.targets {
        let ty = g.schema.class_by_id(t).pk().ty;
        s.keys.clear();
        s.ends.clear();
        for &(_, span, _) in s.refs.iter().filter(|r| r.0 == t) {
            crate::key::exact_key_into(ty, rec.value(span), &mut s.key);
            if let Some(d) = deps.as_deref_mut() {
                d.add(DepKind::Record, t, &s.key);
            }
            s.keys.extend_from_slice(&s.key);
            s.ends.push(s.keys.len());
        }
        g.find_keys(t, &s.keys, &s.ends, &mut s.found);
        let mut found = s.found.iter();
        for r in s.refs.iter_mut().filter(|r| r.0 == t) {
            r.2 = found.next().copied().flatten();
        }
    }
}

/// Writes a referenced record's joined attributes, with the labels precomputed for `a`.
fn render_join(
    g: &Generation,
    target: &ClassDef,
    a: &AttrDef,
    value: &[u8],
    found: Option<RecordRef>,
    s: &mut Scratch,
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
    let rec = g.record(tr);
    rec.sorted_spans(&mut s.joined);
    for (id, run) in runs(&s.joined) {
        // Ids come from the index file: never trust them to be in range.
        let (Some(Some(label)), Some(ta)) = (
            a.join_labels.get(usize::from(id)),
            target.attrs.get(usize::from(id)),
        ) else {
            continue;
        };
        values(out, label, ta, rec, run);
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

/// What kind of answer a query got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerKind {
    /// At least one record.
    #[default]
    Hit,
    /// Nothing matched.
    NoMatch,
    /// The query was refused (syntax, unknown attribute, too broad).
    Error,
}

/// What an answer held: for accounting (counters, a budget of personal data returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnswerStats {
    /// Hit, no match or error.
    pub kind: AnswerKind,
    /// Records answered (the hits shown, at most the hit limit).
    pub records: u32,
    /// Records of class [`CONTACT_CLASS`] written, each time one is written: contacts
    /// answered themselves and contacts joined into other records (a domain's registrant,
    /// admin, tech and billing contacts count four, even when two are the same contact).
    pub contacts: u32,
}

impl AnswerStats {
    /// The kind and record count of a query's result (no contacts counted yet).
    pub fn of(result: &Result<Hits, QueryError>) -> AnswerStats {
        match result {
            Err(_) => AnswerStats {
                kind: AnswerKind::Error,
                ..AnswerStats::default()
            },
            Ok(h) if h.records.is_empty() => AnswerStats {
                kind: AnswerKind::NoMatch,
                ..AnswerStats::default()
            },
            Ok(h) => AnswerStats {
                kind: AnswerKind::Hit,
                records: u32::try_from(h.records.len()).unwrap_or(u32::MAX),
                contacts: 0,
            },
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
    write_answer(g, input, opts, out, None).0
}

/// [`render_answer`], saying what was written instead of returning the hits: whether it
/// was a hit, no match or an error, how many records and how many contact records.
pub fn render_answer_stats(
    g: &Generation,
    input: &str,
    opts: AnswerOptions,
    out: &mut Vec<u8>,
) -> AnswerStats {
    write_answer(g, input, opts, out, None).1
}

/// [`render_answer_stats`], also noting in `deps` (cleared first) everything the answer
/// read, so that a cache can tell whether a later generation would answer the same (see
/// [`crate::diff`]). The answer ends with [`last_update_line`].
pub fn render_answer_deps(
    g: &Generation,
    input: &str,
    opts: AnswerOptions,
    out: &mut Vec<u8>,
    deps: &mut Dependencies,
) -> AnswerStats {
    deps.clear();
    write_answer(g, input, opts, out, Some(deps)).1
}

/// The last line of every answer: when `g` was published and its number.
pub fn last_update_line(g: &Generation) -> String {
    format!(
        "\r\n>>> Last update of whois database: {} (generation {}) <<<\r\n",
        g.created, g.number
    )
}

fn write_answer(
    g: &Generation,
    input: &str,
    opts: AnswerOptions,
    out: &mut Vec<u8>,
    mut deps: Option<&mut Dependencies>,
) -> (Result<Hits, QueryError>, AnswerStats) {
    if opts.banner {
        out.extend_from_slice(BANNER.as_bytes());
    }
    let input = input.trim();
    let result = match query::simple_exact(&g.schema, input) {
        Some((class, term)) => {
            if let Some(d) = deps.as_deref_mut() {
                // The key `find_live` looks up: a "no match" changes when it appears.
                let ty = g.schema.class_by_id(class).pk().ty;
                let mut key = Vec::with_capacity(64);
                crate::key::exact_key_into(ty, term.as_bytes(), &mut key);
                d.add(DepKind::Record, class, &key);
            }
            Ok(g.find_live(class, term))
        }
        None => {
            // Patterns, attributes, booleans and errors read more than a few keys.
            if let Some(d) = deps.as_deref_mut() {
                d.scan = true;
            }
            query::parse(&g.schema, input).and_then(|q| g.execute(&q, opts.limit))
        }
    };
    let mut stats = AnswerStats::of(&result);
    with_scratch(|s| {
        match &result {
            Err(e) => {
                out.extend_from_slice(b"% Error: ");
                out.extend_from_slice(e.message.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Ok(h) if h.records.is_empty() => {
                out.extend_from_slice(b"No match for \"");
                out.extend_from_slice(input.as_bytes());
                out.extend_from_slice(b"\".\r\n");
            }
            Ok(h) => {
                let contact = contact_class(g);
                for (i, &r) in h.records.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b"\r\n");
                    }
                    stats.contacts = stats.contacts.saturating_add(write_record(
                        g,
                        r,
                        contact,
                        s,
                        out,
                        deps.as_deref_mut(),
                    ));
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
        let (number, created, last) = &mut s.last_update;
        if *number != g.number || *created != g.created || last.is_empty() {
            *number = g.number;
            created.clone_from(&g.created);
            *last = last_update_line(g).into_bytes();
        }
        out.extend_from_slice(last);
    });
    (result, stats)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::*;

    /// The golden sample, compiled once.
    fn db() -> &'static Generation {
        static DB: OnceLock<(tempfile::TempDir, Generation)> = OnceLock::new();
        &DB.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample");
            let opts = crate::CompileOptions {
                threads: 2,
                ..Default::default()
            };
            crate::compile(&src, dir.path(), &opts, &|_, _| {}).expect("sample compiles");
            let g = Generation::open(dir.path()).expect("opens");
            (dir, g)
        })
        .1
    }

    /// Both entry points write the same bytes; returns them with the stats.
    fn answer(q: &str, limit: usize) -> (String, AnswerStats) {
        let opts = AnswerOptions {
            limit,
            banner: false,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let result = render_answer(db(), q, opts, &mut a);
        let stats = render_answer_stats(db(), q, opts, &mut b);
        assert_eq!(a, b, "{q}");
        assert_eq!(AnswerStats::of(&result).kind, stats.kind, "{q}");
        (String::from_utf8(a).unwrap(), stats)
    }

    #[test]
    fn answers_count_records_and_every_contact_written() {
        let (out, s) = answer("domain test.coop", 20);
        assert!(out.contains("Billing ID: CNT-1005"), "{out}");
        // Registrant, admin, tech and billing contacts joined into the domain.
        let want = AnswerStats {
            kind: AnswerKind::Hit,
            records: 1,
            contacts: 4,
        };
        assert_eq!(s, want);
        let (_, s) = answer("contact CNT-1002", 20);
        assert_eq!((s.kind, s.records, s.contacts), (AnswerKind::Hit, 1, 1));
        // A registrar joins no contact.
        let (_, s) = answer("registrar SAMPLE", 20);
        assert_eq!((s.kind, s.contacts), (AnswerKind::Hit, 0));
        let (_, s) = answer("nosuch.coop", 20);
        assert_eq!(
            s,
            AnswerStats {
                kind: AnswerKind::NoMatch,
                records: 0,
                contacts: 0
            }
        );
        let (_, s) = answer("*a*b*", 20);
        assert_eq!(s.kind, AnswerKind::Error);
        assert_eq!((s.records, s.contacts), (0, 0));
    }

    #[test]
    fn contacts_counted_match_an_oracle() {
        // Oracle: per record, 1 if it is a contact, plus each expanded contact reference
        // that a `contact <handle>` query finds.
        let g = db();
        let contact = contact_class(g).expect("the sample has contacts");
        for (q, limit) in [
            ("*.coop", 1),
            ("*.coop", 2),
            ("*.coop", 20),
            ("contact *", 20),
        ] {
            let (_, stats) = answer(q, limit);
            let hits = g
                .execute(&query::parse(&g.schema, q).unwrap(), limit)
                .unwrap();
            assert_eq!(stats.records as usize, hits.records.len(), "{q}");
            let mut want = 0;
            for &r in &hits.records {
                let class = g.class_of(r);
                want += u32::from(class.id == contact);
                let mut fields = Vec::new();
                g.record(r).sorted_raw(&mut fields);
                for (id, v) in fields {
                    let a = &class.attrs[usize::from(id)];
                    if a.references_class == Some(contact)
                        && a.expand
                        && !a.private
                        && a.line_label.is_some()
                    {
                        let handle = std::str::from_utf8(v).unwrap();
                        let (_, s) = answer(&format!("contact {handle}"), 1);
                        want += u32::from(s.kind == AnswerKind::Hit);
                    }
                }
            }
            assert!(want > 0, "{q}");
            assert_eq!(stats.contacts, want, "{q} limit {limit}");
        }
    }
}
