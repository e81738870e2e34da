//! The whois query language and its execution over a [`Generation`].
//!
//! ```text
//! query   := [class] or-expr                class: domain | contact | nameserver | registrar
//! or-expr := and-expr { "or" and-expr }     (or an alias), default domain
//! and-expr:= term { "and" term }            "and" binds tighter than "or"
//! term    := [attribute "="] pattern        words of a term are joined by single spaces;
//! pattern := value | value* | *value | *value* | *     "quotes" group words literally
//! ```
//! Matching is case-insensitive. A term without an attribute searches the class's search
//! keys (`is-search-key` in the schema: a domain's name, a contact's ID, a nameserver's name
//! and addresses, a registrar's name). A U-label and its A-label find the same domain.
//!
//! A single term streams matches in index key order and stops after the hit limit; boolean
//! queries evaluate each term to a set (bounded by [`MAX_TERM_HITS`]) and return records in
//! database order.

use std::collections::HashSet;
use std::fmt;

use fst::map::OpBuilder;
use fst::{Automaton, IntoStreamer, Streamer};

use crate::generation::Generation;
use crate::key;
use crate::schema::{ClassDef, IndexKind, Schema};
use crate::segment::RecordView;

/// Default hit limit (records returned before "more records match").
pub const DEFAULT_LIMIT: usize = 20;
/// Largest record set one term of a boolean query may produce.
pub const MAX_TERM_HITS: usize = 100_000;
/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;

/// A record in a generation: segment index and record number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    /// Index into [`Generation::segments`].
    pub seg: u32,
    /// Record number within the segment.
    pub rec: u32,
}

/// What a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// The whole value.
    Exact(String),
    /// Values starting with the text (`pop*`).
    Prefix(String),
    /// Values ending with the text (`*tel.coop`).
    Suffix(String),
    /// Values containing the text (`*op*`).
    Infix(String),
    /// Every value (`*`).
    Any,
}

/// One search term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Attributes searched (explicit, or the class's search keys that support the pattern).
    pub attrs: Vec<u16>,
    /// The pattern.
    pub pattern: Pattern,
}

/// A parsed query in disjunctive normal form: OR of ANDs of terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Class searched.
    pub class: u16,
    /// `any` of `all` of terms.
    pub any: Vec<Vec<Term>>,
}

/// Kinds of query errors (whoisd maps them to RWhois codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// Malformed query.
    Syntax,
    /// An attribute name the class does not have.
    UnknownAttribute,
    /// The attribute has no index for this kind of search.
    NotIndexed,
    /// A term of a boolean query matches too many records.
    TooBroad,
}

/// A query the engine refuses, with a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Kind.
    pub kind: QueryErrorKind,
    /// Message.
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}

fn qerr(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
    QueryError {
        kind,
        message: message.into(),
    }
}

#[derive(Debug)]
struct Token {
    text: String,
    quoted: bool,
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let start = i + 1;
            let mut end = None;
            for (j, c) in chars.by_ref() {
                if c == '"' {
                    end = Some(j);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(qerr(QueryErrorKind::Syntax, "unbalanced '\"' in query"));
            };
            out.push(Token {
                text: input[start..end].to_string(),
                quoted: true,
            });
        } else {
            let start = i;
            let mut end = input.len();
            while let Some(&(j, c)) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    end = j;
                    break;
                }
                chars.next();
            }
            out.push(Token {
                text: input[start..end].to_string(),
                quoted: false,
            });
        }
    }
    Ok(out)
}

fn is_keyword(t: &Token, kw: &str) -> bool {
    !t.quoted && t.text.eq_ignore_ascii_case(kw)
}

/// Parses a query against a schema.
pub fn parse(schema: &Schema, input: &str) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(qerr(
            QueryErrorKind::Syntax,
            format!("query longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    if let Some(c) = input.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(qerr(
            QueryErrorKind::Syntax,
            format!("control character {c:?} in query"),
        ));
    }
    let mut tokens = tokenize(input)?;
    let default = schema.class("domain").unwrap_or(&schema.classes[0]);
    let mut class = default;
    if tokens.len() > 1
        && !tokens[0].quoted
        && let Some(c) = schema.class(&tokens[0].text)
    {
        class = c;
        tokens.remove(0);
    }
    if tokens.is_empty() {
        return Err(qerr(
            QueryErrorKind::Syntax,
            "empty query: give a name to look up, e.g. `domain example.coop`",
        ));
    }
    let mut any = Vec::new();
    let mut all = Vec::new();
    let mut words: Vec<&Token> = Vec::new();
    let flush =
        |words: &mut Vec<&Token>, all: &mut Vec<Term>, after: &str| -> Result<(), QueryError> {
            if words.is_empty() {
                return Err(qerr(
                    QueryErrorKind::Syntax,
                    format!("missing search term {after}"),
                ));
            }
            all.push(make_term(class, words)?);
            words.clear();
            Ok(())
        };
    for t in &tokens {
        if is_keyword(t, "and") {
            flush(&mut words, &mut all, "before 'and'")?;
        } else if is_keyword(t, "or") {
            flush(&mut words, &mut all, "before 'or'")?;
            any.push(std::mem::take(&mut all));
        } else {
            words.push(t);
        }
    }
    flush(&mut words, &mut all, "at the end of the query")?;
    any.push(all);
    Ok(Query {
        class: class.id,
        any,
    })
}

fn make_term(class: &ClassDef, words: &[&Token]) -> Result<Term, QueryError> {
    let mut text = words
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut explicit = None;
    if !words[0].quoted
        && let Some((tag, rest)) = words[0].text.split_once('=')
        && !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let Some(a) = class.attr_by_tag(tag) else {
            let known: Vec<&str> = class
                .attrs
                .iter()
                .filter(|a| a.index != IndexKind::None)
                .map(|a| a.name.as_str())
                .collect();
            return Err(qerr(
                QueryErrorKind::UnknownAttribute,
                format!(
                    "class {} has no attribute {tag:?}; searchable: {}",
                    class.name,
                    known.join(", ")
                ),
            ));
        };
        explicit = Some(a);
        let mut t = rest.to_string();
        for w in &words[1..] {
            t.push(' ');
            t.push_str(&w.text);
        }
        text = t;
    }
    let pattern = pattern_of(&text)?;
    let needs_all = matches!(pattern, Pattern::Suffix(_) | Pattern::Infix(_));
    let supports = |a: &crate::schema::AttrDef| {
        !a.private && a.index != IndexKind::None && (!needs_all || a.index == IndexKind::All)
    };
    let attrs: Vec<u16> = match explicit {
        Some(a) if a.private => {
            return Err(qerr(
                QueryErrorKind::NotIndexed,
                format!("{} is private and cannot be searched", a.name),
            ));
        }
        Some(a) if supports(a) => vec![a.id],
        Some(a) if a.index == IndexKind::None => {
            return Err(qerr(
                QueryErrorKind::NotIndexed,
                format!("{} is not indexed and cannot be searched", a.name),
            ));
        }
        Some(a) => {
            return Err(qerr(
                QueryErrorKind::NotIndexed,
                format!("{} supports exact and prefix (abc*) searches only", a.name),
            ));
        }
        None => {
            let keys: Vec<&crate::schema::AttrDef> =
                class.attrs.iter().filter(|a| a.search_key).collect();
            let keys = if keys.is_empty() {
                vec![class.pk()]
            } else {
                keys
            };
            let ok: Vec<u16> = keys.iter().filter(|a| supports(a)).map(|a| a.id).collect();
            if ok.is_empty() {
                return Err(qerr(
                    QueryErrorKind::NotIndexed,
                    format!(
                        "{} searches support exact and prefix (abc*) patterns only",
                        class.name
                    ),
                ));
            }
            ok
        }
    };
    Ok(Term { attrs, pattern })
}

fn pattern_of(text: &str) -> Result<Pattern, QueryError> {
    let lead = text.starts_with('*');
    let trail = text.len() > 1 && text.ends_with('*');
    let inner = &text[usize::from(lead)..text.len() - usize::from(trail)];
    if inner.contains('*') {
        return Err(qerr(
            QueryErrorKind::Syntax,
            "a '*' may stand only at the start and/or the end of a search term",
        ));
    }
    Ok(match (lead, trail) {
        _ if inner.is_empty() => Pattern::Any,
        (false, false) => Pattern::Exact(inner.to_string()),
        (false, true) => Pattern::Prefix(key::fragment_key(inner)),
        (true, false) => Pattern::Suffix(key::fragment_key(inner)),
        (true, true) => Pattern::Infix(key::fragment_key(inner)),
    })
}

/// The most common query, recognised without the general parser: one exact term, with or
/// without a class word (`example.coop`, `domain example.coop`), that searches only the
/// class's primary key. Returns the class and the term, or `None` when [`parse`] must
/// decide (patterns, attributes, quotes, booleans, several words, anything unusual); the
/// answer is the same either way ([`Generation::find_live`] runs it).
pub fn simple_exact<'q>(schema: &Schema, input: &'q str) -> Option<(u16, &'q str)> {
    if input.len() > MAX_QUERY_BYTES
        || input
            .bytes()
            .any(|b| matches!(b, b'"' | b'*' | b'=') || b.is_ascii_control())
    {
        return None;
    }
    let mut words = input.split_whitespace();
    let first = words.next()?;
    let (class, term) = match (words.next(), words.next()) {
        (None, _) => (
            schema.class("domain").unwrap_or(schema.classes.first()?),
            first,
        ),
        (Some(term), None) => (schema.class(first)?, term),
        _ => return None,
    };
    if term.eq_ignore_ascii_case("and") || term.eq_ignore_ascii_case("or") || !term.is_ascii() {
        // Keywords are syntax errors alone; other scripts may hold controls `parse` refuses.
        return None;
    }
    // The attributes `make_term` would search: the search keys that support an exact
    // lookup, or the primary key when the class names none. Only the primary key will do.
    let pk = class.pk();
    let mut keys = class.attrs.iter().filter(|a| a.search_key).peekable();
    let searched_pk = match keys.peek() {
        None => !pk.private && pk.index != IndexKind::None,
        Some(_) => {
            let mut ok = keys.filter(|a| !a.private && a.index != IndexKind::None);
            ok.next().is_some_and(|a| a.id == pk.id) && ok.next().is_none()
        }
    };
    searched_pk.then_some((class.id, term))
}

/// Matches of a query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    /// Records, at most the limit.
    pub records: Vec<RecordRef>,
    /// More records matched than the limit allowed.
    pub more: bool,
}

/// Matches keys containing a byte string (KMP automaton).
#[derive(Debug)]
struct Substring<'a> {
    pat: &'a [u8],
    fail: Vec<usize>,
}

impl<'a> Substring<'a> {
    fn new(pat: &'a [u8]) -> Self {
        let mut fail = vec![0; pat.len()];
        let mut k = 0;
        for i in 1..pat.len() {
            while k > 0 && pat[i] != pat[k] {
                k = fail[k - 1];
            }
            if pat[i] == pat[k] {
                k += 1;
            }
            fail[i] = k;
        }
        Substring { pat, fail }
    }
}

impl Automaton for Substring<'_> {
    type State = usize;
    fn start(&self) -> usize {
        0
    }
    fn is_match(&self, s: &usize) -> bool {
        *s == self.pat.len()
    }
    fn can_match(&self, _: &usize) -> bool {
        true
    }
    fn will_always_match(&self, s: &usize) -> bool {
        *s == self.pat.len()
    }
    fn accept(&self, s: &usize, b: u8) -> usize {
        let mut k = *s;
        if k == self.pat.len() {
            return k;
        }
        while k > 0 && self.pat[k] != b {
            k = self.fail[k - 1];
        }
        if self.pat[k] == b { k + 1 } else { 0 }
    }
}

impl Generation {
    /// The record behind a reference.
    pub fn record(&self, r: RecordRef) -> RecordView<'_> {
        self.segments[r.seg as usize].record(r.rec)
    }

    /// The class of a record.
    pub fn class_of(&self, r: RecordRef) -> &ClassDef {
        self.schema
            .class_by_id(self.segments[r.seg as usize].class())
    }

    /// Live records of `class` whose `attr` has the exact normalised key `key`, in segment
    /// order.
    pub fn lookup<'a>(
        &'a self,
        class: u16,
        attr: u16,
        key: &'a [u8],
    ) -> impl Iterator<Item = RecordRef> + 'a {
        self.by_class[usize::from(class)]
            .iter()
            .flat_map(move |&s| {
                self.segments[s as usize]
                    .exact(attr, key)
                    .map(move |rec| RecordRef { seg: s, rec })
            })
            .filter(|&r| self.is_live(r))
    }

    /// The record of `class` whose primary key is `value` (any spelling), if any.
    pub fn find(&self, class: u16, value: &str) -> Option<RecordRef> {
        let c = self.schema.class_by_id(class);
        self.find_key(class, key::exact_key(c.pk().ty, value).as_bytes())
    }

    /// The record of `class` whose primary key has the normalised key `key`: one probe of
    /// the class's key directory, confirmed against the record; through the fsts when the
    /// generation has no directory.
    pub fn find_key(&self, class: u16, key: &[u8]) -> Option<RecordRef> {
        if let Some(o) = self.overlay.get(usize::from(class))
            && !o.is_empty()
            && let Some(&r) = o.get(key)
        {
            return r;
        }
        let segs = &self.by_class[usize::from(class)];
        if let Some(Some(dir)) = self.keydirs.get(usize::from(class)) {
            return dir.candidates(key).find_map(|(pos, rec)| {
                let r = RecordRef {
                    seg: *segs.get(usize::from(pos))?,
                    rec,
                };
                self.has_key(class, r, key).then_some(r)
            });
        }
        let pk = self.schema.class_by_id(class).primary_key;
        segs.iter().find_map(|&s| {
            self.segments[s as usize]
                .exact(pk, key)
                .next()
                .map(|rec| RecordRef { seg: s, rec })
        })
    }

    /// The answer to a query [`simple_exact`] recognised: the live record of `class` whose
    /// primary key is `value`, as [`Self::execute`] would find it.
    pub fn find_live(&self, class: u16, value: &str) -> Hits {
        let ty = self.schema.class_by_id(class).pk().ty;
        let mut key = Vec::with_capacity(64);
        key::exact_key_into(ty, value.as_bytes(), &mut key);
        let found = self
            .find_key(class, &key)
            .filter(|r| self.hidden.is_empty() || !self.hidden.contains(r));
        Hits {
            records: found.into_iter().collect(),
            more: false,
        }
    }

    /// Does record `r` of `class` have the primary key `key`?
    fn has_key(&self, class: u16, r: RecordRef, key: &[u8]) -> bool {
        let pk = self.schema.class_by_id(class).pk();
        let value = self.segments[r.seg as usize].record(r.rec).first_raw(pk.id);
        value.is_some_and(|v| key::matches_exact(pk.ty, v, key))
    }

    /// [`Self::find_key`] for many keys at once, in stages (all directory probes, then all
    /// candidate records), so that their cache misses overlap instead of forming one long
    /// chain. `keys` holds the keys back to back; `ends` where each ends.
    pub fn find_keys(
        &self,
        class: u16,
        keys: &[u8],
        ends: &[usize],
        out: &mut Vec<Option<RecordRef>>,
    ) {
        out.clear();
        let segs = &self.by_class[usize::from(class)];
        let key_at = |i: usize| &keys[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
        let Some(Some(dir)) = self.keydirs.get(usize::from(class)) else {
            out.extend((0..ends.len()).map(|i| self.find_key(class, key_at(i))));
            return;
        };
        let overlay = self
            .overlay
            .get(usize::from(class))
            .filter(|o| !o.is_empty());
        // Stage 1: one probe per key.
        out.extend((0..ends.len()).map(|i| {
            if let Some(&r) = overlay.and_then(|o| o.get(key_at(i))) {
                return r;
            }
            let (pos, rec) = dir.candidates(key_at(i)).next()?;
            Some(RecordRef {
                seg: *segs.get(usize::from(pos))?,
                rec,
            })
        }));
        // Stage 2: confirm each candidate (touching its record); rare misses take the slow path.
        for (i, slot) in out.iter_mut().enumerate() {
            if overlay.is_some_and(|o| o.contains_key(key_at(i))) {
                continue;
            }
            if !slot.is_some_and(|r| self.has_key(class, r, key_at(i))) {
                *slot = self.find_key(class, key_at(i));
            }
        }
    }

    /// Is the record referenced by any attribute of any class (the LINKED attribute)?
    pub fn is_referenced(&self, r: RecordRef) -> bool {
        let class = self.class_of(r);
        let Some(pk) = self.record(r).first(class.primary_key) else {
            return false;
        };
        for c in &self.schema.classes {
            for a in c
                .attrs
                .iter()
                .filter(|a| a.references.as_deref() == Some(class.name.as_str()))
            {
                let k = key::exact_key(a.ty, pk);
                if self.lookup(c.id, a.id, k.as_bytes()).next().is_some() {
                    return true;
                }
            }
        }
        false
    }

    /// Calls `f` for each record matching `term` in key order (a record once per key it
    /// matches) until `f` returns false.
    fn for_each_term_match(&self, class: u16, term: &Term, f: &mut dyn FnMut(RecordRef) -> bool) {
        if !self.hidden.is_empty() {
            // Records superseded or deleted by a delta are skipped, not counted.
            let f = &mut |r: RecordRef| self.hidden.contains(&r) || f(r);
            return self.for_each_live_or_not(class, term, f);
        }
        self.for_each_live_or_not(class, term, f);
    }

    /// [`Self::for_each_term_match`] without the delta filter.
    fn for_each_live_or_not(&self, class: u16, term: &Term, f: &mut dyn FnMut(RecordRef) -> bool) {
        let segs = &self.by_class[usize::from(class)];
        let c = self.schema.class_by_id(class);
        for &attr in &term.attrs {
            let ty = c.attr(attr).ty;
            let maps = |reversed: bool| {
                segs.iter()
                    .filter_map(move |&s| {
                        let seg = &self.segments[s as usize];
                        let m = if reversed {
                            seg.reversed_map(attr)
                        } else {
                            seg.exact_map(attr)
                        };
                        m.map(|m| (s, m))
                    })
                    .collect::<Vec<_>>()
            };
            let mut emit_union =
                |ms: &[(u32, &fst::Map<crate::bytes::Bytes>)], stream: &mut fst::map::Union<'_>| {
                    while let Some((_, ivs)) = stream.next() {
                        let mut ivs = ivs.to_vec();
                        ivs.sort_by_key(|iv| iv.index);
                        for iv in ivs {
                            let s = ms[iv.index].0;
                            for rec in self.segments[s as usize].decode(iv.value) {
                                if !f(RecordRef { seg: s, rec }) {
                                    return false;
                                }
                            }
                        }
                    }
                    true
                };
            let go_on = match &term.pattern {
                Pattern::Exact(v) if attr == c.primary_key => {
                    let k = key::exact_key(ty, v);
                    self.find_key(class, k.as_bytes()).is_none_or(&mut *f)
                }
                Pattern::Exact(v) => {
                    let k = key::exact_key(ty, v);
                    let mut go = true;
                    'segs: for &s in segs {
                        for rec in self.segments[s as usize].exact(attr, k.as_bytes()) {
                            if !f(RecordRef { seg: s, rec }) {
                                go = false;
                                break 'segs;
                            }
                        }
                    }
                    go
                }
                Pattern::Prefix(p) => {
                    let ms = maps(false);
                    let aut = fst::automaton::Str::new(p).starts_with();
                    let mut op = OpBuilder::new();
                    for (_, m) in &ms {
                        op = op.add(m.search(&aut));
                    }
                    emit_union(&ms, &mut op.union())
                }
                Pattern::Any => {
                    let ms = maps(false);
                    let mut op = OpBuilder::new();
                    for (_, m) in &ms {
                        op = op.add(m.into_stream());
                    }
                    emit_union(&ms, &mut op.union())
                }
                Pattern::Suffix(sfx) => {
                    let ms = maps(true);
                    let rev = key::reversed(sfx.as_bytes());
                    let aut = BytesPrefix(&rev);
                    let mut op = OpBuilder::new();
                    for (_, m) in &ms {
                        op = op.add(m.search(&aut));
                    }
                    emit_union(&ms, &mut op.union())
                }
                Pattern::Infix(inner) => {
                    let ms = maps(false);
                    let aut = Substring::new(inner.as_bytes());
                    let mut op = OpBuilder::new();
                    for (_, m) in &ms {
                        op = op.add(m.search(&aut));
                    }
                    emit_union(&ms, &mut op.union())
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Runs a query, returning at most `limit` records.
    pub fn execute(&self, q: &Query, limit: usize) -> Result<Hits, QueryError> {
        let limit = limit.max(1);
        if let [all] = q.any.as_slice()
            && let [term] = all.as_slice()
        {
            let mut seen = HashSet::new();
            let mut hits = Hits::default();
            self.for_each_term_match(q.class, term, &mut |r| {
                if seen.insert(r) {
                    if hits.records.len() == limit {
                        hits.more = true;
                        return false;
                    }
                    hits.records.push(r);
                }
                true
            });
            return Ok(hits);
        }
        let mut result: Vec<RecordRef> = Vec::new();
        for all in &q.any {
            let mut acc: Option<Vec<RecordRef>> = None;
            for term in all {
                let set = self.term_set(q.class, term)?;
                acc = Some(match acc {
                    None => set,
                    Some(a) => intersect(&a, &set),
                });
                if acc.as_ref().is_some_and(Vec::is_empty) {
                    break;
                }
            }
            result = union(&result, &acc.unwrap_or_default());
        }
        let more = result.len() > limit;
        result.truncate(limit);
        Ok(Hits {
            records: result,
            more,
        })
    }

    fn term_set(&self, class: u16, term: &Term) -> Result<Vec<RecordRef>, QueryError> {
        let mut v = Vec::new();
        let mut too_many = false;
        self.for_each_term_match(class, term, &mut |r| {
            v.push(r);
            if v.len() > MAX_TERM_HITS * 2 {
                too_many = true;
                return false;
            }
            true
        });
        v.sort_unstable();
        v.dedup();
        if too_many || v.len() > MAX_TERM_HITS {
            return Err(qerr(
                QueryErrorKind::TooBroad,
                format!(
                    "a term of this boolean query matches more than {MAX_TERM_HITS} records; make it more specific"
                ),
            ));
        }
        Ok(v)
    }
}

/// Prefix automaton over raw bytes (for reversed keys that are not valid UTF-8).
#[derive(Debug)]
struct BytesPrefix<'a>(&'a [u8]);

impl Automaton for BytesPrefix<'_> {
    type State = Option<usize>;
    fn start(&self) -> Option<usize> {
        Some(0)
    }
    fn is_match(&self, s: &Option<usize>) -> bool {
        *s == Some(self.0.len())
    }
    fn can_match(&self, s: &Option<usize>) -> bool {
        s.is_some()
    }
    fn will_always_match(&self, s: &Option<usize>) -> bool {
        *s == Some(self.0.len())
    }
    fn accept(&self, s: &Option<usize>, b: u8) -> Option<usize> {
        match *s {
            Some(n) if n == self.0.len() => Some(n),
            Some(n) if self.0[n] == b => Some(n + 1),
            _ => None,
        }
    }
}

fn intersect(a: &[RecordRef], b: &[RecordRef]) -> Vec<RecordRef> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[RecordRef], b: &[RecordRef]) -> Vec<RecordRef> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Result<Query, QueryError> {
        parse(&Schema::shipped(), q)
    }

    #[test]
    fn class_words_and_default() {
        let s = Schema::shipped();
        assert_eq!(p("test.coop").unwrap().class, s.class("domain").unwrap().id);
        assert_eq!(
            p("contact CNT-1002").unwrap().class,
            s.class("contact").unwrap().id
        );
        assert_eq!(
            p("HOST dns0.nic.coop").unwrap().class,
            s.class("nameserver").unwrap().id
        );
        // A lone class word is a search term, not a class.
        assert_eq!(
            p("contact").unwrap().any[0][0].pattern,
            Pattern::Exact("contact".into())
        );
    }

    #[test]
    fn patterns() {
        let t = |q: &str| p(q).unwrap().any[0][0].pattern.clone();
        assert_eq!(t("Pop*"), Pattern::Prefix("pop".into()));
        assert_eq!(t("*TEL.coop"), Pattern::Suffix("tel.coop".into()));
        assert_eq!(t("*op*"), Pattern::Infix("op".into()));
        assert_eq!(t("*"), Pattern::Any);
        assert_eq!(t("**"), Pattern::Any);
        assert!(p("po*p").is_err());
    }

    #[test]
    fn booleans_and_multiword_terms() {
        let q = p("registrar Example Registrar Inc or SAMPLE and \"A and B\"").unwrap();
        assert_eq!(q.any.len(), 2);
        assert_eq!(
            q.any[0][0].pattern,
            Pattern::Exact("Example Registrar Inc".into())
        );
        assert_eq!(q.any[1].len(), 2);
        assert_eq!(q.any[1][1].pattern, Pattern::Exact("A and B".into()));
        assert!(p("a and").is_err());
        assert!(p("or a").is_err());
        assert!(p("\"open").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn attributes() {
        let s = Schema::shipped();
        let d = s.class("domain").unwrap();
        let q = p("domain registrant-id=CNT-1002").unwrap();
        assert_eq!(
            q.any[0][0].attrs,
            [d.attr_by_tag("Registrant-ID").unwrap().id]
        );
        assert_eq!(
            p("domain nope=1").unwrap_err().kind,
            QueryErrorKind::UnknownAttribute
        );
        assert_eq!(
            p("domain auth-info=x").unwrap_err().kind,
            QueryErrorKind::NotIndexed
        );
        assert_eq!(
            p("domain created-date=x").unwrap_err().kind,
            QueryErrorKind::NotIndexed
        );
        assert_eq!(
            p("domain registrant-id=*02").unwrap_err().kind,
            QueryErrorKind::NotIndexed
        );
        // Nameserver searches name and address; a suffix search uses the name only.
        let ns = s.class("nameserver").unwrap();
        assert_eq!(
            p("nameserver 10.10.10.10").unwrap().any[0][0].attrs.len(),
            2
        );
        assert_eq!(
            p("nameserver *.nic.coop").unwrap().any[0][0].attrs,
            [ns.attr_by_tag("Host-Name").unwrap().id]
        );
    }

    #[test]
    fn limits_on_input() {
        assert!(p(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
        assert!(p("a\u{0}b").is_err());
    }

    #[test]
    fn substring_automaton() {
        let a = Substring::new(b"aab");
        let run = |s: &[u8]| {
            let mut st = a.start();
            for &b in s {
                st = a.accept(&st, b);
            }
            a.is_match(&st)
        };
        assert!(run(b"xaaab"));
        assert!(run(b"aab"));
        assert!(run(b"aabxx"));
        assert!(!run(b"abab"));
    }
}
