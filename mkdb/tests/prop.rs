//! The query engine against a deliberately naive oracle.
//!
//! Each proptest case generates a small random registry (names drawn from a tiny alphabet so
//! that prefixes, suffixes and infixes collide often; mixed case; IDN labels written as
//! U-labels or A-labels; name server addresses shared and spelled several ways; aliased tags;
//! CRLF files, comments and records deleted in place), splits every class over 1-3 data files
//! so that queries span several segments, compiles the tree with [`mkdb::compile`] and runs
//! random queries through [`mkdb::query::parse`] and [`Generation::execute`].
//!
//! The oracle re-reads the text files it wrote with a naive parser and evaluates each query by
//! a linear scan. It reuses only [`mkdb::key`] for normalisation (unit-tested on its own), so
//! what is checked is the index layout, the merging of segments, pattern matching, result
//! order, de-duplication, hit limits and the boolean set logic:
//! - a single term yields, for each searched attribute in schema order, the matching
//!   (key, segment, record) triples sorted by key bytes (by the byte-reversed key for suffix
//!   patterns), then segment, then record; records are de-duplicated keeping the first
//!   occurrence; the first `limit` are returned and `more` says whether more records matched;
//! - a boolean query evaluates each term to a set, `and` intersects, `or` unites ("and" binds
//!   tighter) and the result is in (segment, record) order, cut at `limit`.
//!
//! Segments are numbered in the order compile lists data files (class directories sorted,
//! then file names sorted); records by their position among the live records of their file.
//!
//! Failing cases are not persisted (this test writes no files beside itself): the panic
//! message of the minimal case names the query and prints the whole source tree.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use mkdb::Generation;
use mkdb::key;
use mkdb::query::{self, QueryErrorKind};
use mkdb::schema::Schema;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

// ---------------------------------------------------------------------------------------
// Source trees, compiling, answers.
// ---------------------------------------------------------------------------------------

/// Class directories in the order compile lists them (sorted by name).
const CLASSES: [&str; 4] = ["contact", "domain", "nameserver", "registrar"];
const CONTACT: usize = 0;
const DOMAIN: usize = 1;
const NAMESERVER: usize = 2;
const REGISTRAR: usize = 3;

const DATE: &str = "2001-05-05T00:00:00Z";

/// Writes `SRC/schema/*.schema` (the shipped schemas) and `SRC/data/<class>/<file>` for each
/// (class, file name, text).
fn write_tree(src: &Path, files: &[(String, String, String)]) {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    fs::create_dir_all(src.join("schema")).unwrap();
    for c in CLASSES {
        let name = format!("{c}.schema");
        fs::copy(schemas.join(&name), src.join("schema").join(&name)).unwrap();
        fs::create_dir_all(src.join("data").join(c)).unwrap();
    }
    for (class, file, text) in files {
        fs::write(src.join("data").join(class).join(file), text).unwrap();
    }
}

fn compile_tree(src: &Path, db: &Path) -> Generation {
    let opts = mkdb::CompileOptions {
        threads: 2,
        ..Default::default()
    };
    if let Err(e) = mkdb::compile(src, db, &opts, &|_, _| {}) {
        let detail = match &e {
            mkdb::CompileError::Source(errs) => errs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        };
        panic!("compile failed: {e}\n{detail}\ntree:\n{}", dump_tree(src));
    }
    Generation::open(db).expect("the compiled generation opens")
}

/// Every data file of a tree, for failure messages.
fn dump_tree(src: &Path) -> String {
    let mut out = String::new();
    for c in CLASSES {
        let dir = src.join("data").join(c);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        names.sort();
        for n in names {
            let text = fs::read_to_string(dir.join(&n)).unwrap_or_default();
            let _ = writeln!(out, "==> data/{c}/{} <==\n{text}", n.to_string_lossy());
        }
    }
    out
}

/// The engine's answer as primary keys and the `more` flag.
fn answer(g: &Generation, q: &str, limit: usize) -> Result<(Vec<String>, bool), QueryErrorKind> {
    let parsed = query::parse(&g.schema, q).map_err(|e| e.kind)?;
    let hits = g.execute(&parsed, limit).map_err(|e| e.kind)?;
    let class = g.schema.class_by_id(parsed.class);
    let pks = hits
        .records
        .iter()
        .map(|&r| {
            assert_eq!(
                g.class_of(r).name,
                class.name,
                "{q:?}: a record of another class"
            );
            g.record(r)
                .first(class.primary_key)
                .expect("every record has its primary key")
                .to_string()
        })
        .collect();
    Ok((pks, hits.more))
}

// ---------------------------------------------------------------------------------------
// The oracle: a naive reader of the text files and a linear-scan evaluator.
// ---------------------------------------------------------------------------------------

/// A live record as the naive parser sees it.
#[derive(Debug)]
struct ORec {
    seg: u32,
    rec: u32,
    /// (attribute id, value) in file order.
    fields: Vec<(u16, String)>,
}

/// Live records per class (indexed like [`CLASSES`]).
#[derive(Debug)]
struct Oracle {
    classes: Vec<Vec<ORec>>,
}

/// Records of a data file: split on lines starting `---`; a record whose first line starts
/// with `_` was deleted in place; blank and `#` lines are ignored; a line is split at its
/// first `:` and both sides trimmed; empty values are dropped.
fn naive_records(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |lines: &mut Vec<&str>| {
        if !lines.is_empty() && !lines[0].starts_with('_') {
            out.push(
                lines
                    .iter()
                    .map(|l| {
                        let (t, v) = l.split_once(':').expect("a 'Tag: value' line");
                        (t.trim().to_string(), v.trim().to_string())
                    })
                    .filter(|(_, v)| !v.is_empty())
                    .collect(),
            );
        }
        lines.clear();
    };
    for line in text.lines() {
        if line.starts_with("---") {
            flush(&mut lines);
            continue;
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        lines.push(line);
    }
    flush(&mut lines);
    out
}

impl Oracle {
    /// Reads the data files of `src` in compile's order: class directories sorted by name,
    /// then `*.txt` files sorted by name, one segment each.
    fn load(src: &Path, schema: &Schema) -> Oracle {
        let mut classes: Vec<Vec<ORec>> = (0..CLASSES.len()).map(|_| Vec::new()).collect();
        let mut dirs: Vec<_> = fs::read_dir(src.join("data"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        let mut seg = 0u32;
        for d in dirs {
            let ci = CLASSES.iter().position(|c| *c == d).expect("known class");
            let class = schema.class(&d).expect("class in schema");
            let mut files: Vec<_> = fs::read_dir(src.join("data").join(&d))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".txt") && !n.starts_with('.'))
                .collect();
            files.sort();
            for f in files {
                let text = fs::read_to_string(src.join("data").join(&d).join(&f)).unwrap();
                for (rec, fields) in naive_records(&text).into_iter().enumerate() {
                    let fields = fields
                        .into_iter()
                        .map(|(t, v)| (class.attr_by_tag(&t).expect("known tag").id, v))
                        .collect();
                    classes[ci].push(ORec {
                        seg,
                        rec: rec as u32,
                        fields,
                    });
                }
                seg += 1;
            }
        }
        Oracle { classes }
    }

    fn pk(&self, schema: &Schema, class: usize, r: (u32, u32)) -> String {
        let pk = schema.class(CLASSES[class]).unwrap().primary_key;
        let rec = self.classes[class]
            .iter()
            .find(|o| (o.seg, o.rec) == r)
            .expect("oracle record");
        rec.fields
            .iter()
            .find(|(a, _)| *a == pk)
            .map(|(_, v)| v.clone())
            .expect("primary key")
    }

    /// Matches of one term in engine order, with repetitions: per attribute (in the order
    /// given, which is schema order), triples sorted by (key, segment, record).
    fn term(&self, schema: &Schema, class: usize, t: &OTerm) -> Vec<(u32, u32)> {
        let cdef = schema.class(CLASSES[class]).unwrap();
        let mut out = Vec::new();
        for name in &t.attrs {
            let a = cdef.attr_by_tag(name).expect("attribute");
            let ty = a.ty;
            let exact = match &t.pat {
                Pat::Exact(s) => key::exact_key(ty, s).into_bytes(),
                _ => Vec::new(),
            };
            let frag = match &t.pat {
                Pat::Prefix(s) | Pat::Suffix(s) | Pat::Infix(s) => {
                    key::fragment_key(s).into_bytes()
                }
                _ => Vec::new(),
            };
            let mut hits: Vec<(Vec<u8>, u32, u32)> = Vec::new();
            for r in &self.classes[class] {
                for (_, v) in r.fields.iter().filter(|(id, _)| *id == a.id) {
                    key::for_each_key(ty, v, |k| {
                        let (hit, sort) = match &t.pat {
                            Pat::Exact(_) => (k == exact.as_slice(), k.to_vec()),
                            Pat::Prefix(_) => (k.starts_with(&frag), k.to_vec()),
                            Pat::Suffix(_) => (k.ends_with(&frag), key::reversed(k)),
                            Pat::Infix(_) => (contains(k, &frag), k.to_vec()),
                            Pat::Any => (true, k.to_vec()),
                        };
                        if hit {
                            hits.push((sort, r.seg, r.rec));
                        }
                    });
                }
            }
            hits.sort();
            out.extend(hits.into_iter().map(|(_, s, r)| (s, r)));
        }
        out
    }

    /// The expected answer: (segment, record) refs and `more`.
    fn eval(&self, schema: &Schema, q: &OQuery) -> (Vec<(u32, u32)>, bool) {
        let limit = q.limit.max(1);
        if let [all] = q.any.as_slice()
            && let [t] = all.as_slice()
        {
            let mut seen = HashSet::new();
            let distinct: Vec<_> = self
                .term(schema, q.class, t)
                .into_iter()
                .filter(|r| seen.insert(*r))
                .collect();
            let more = distinct.len() > limit;
            return (distinct.into_iter().take(limit).collect(), more);
        }
        let mut result: BTreeSet<(u32, u32)> = BTreeSet::new();
        for all in &q.any {
            let mut acc: Option<BTreeSet<(u32, u32)>> = None;
            for t in all {
                let set: BTreeSet<_> = self.term(schema, q.class, t).into_iter().collect();
                acc = Some(match acc {
                    None => set,
                    Some(a) => a.intersection(&set).copied().collect(),
                });
            }
            result.extend(acc.unwrap_or_default());
        }
        let more = result.len() > limit;
        (result.into_iter().take(limit).collect(), more)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(Debug, Clone)]
enum Pat {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Infix(String),
    Any,
}

/// A term as the oracle understands it: canonical attribute names searched, and the pattern
/// (raw query text; the oracle normalises it with `mkdb::key`).
#[derive(Debug, Clone)]
struct OTerm {
    attrs: Vec<&'static str>,
    pat: Pat,
}

#[derive(Debug, Clone)]
struct OQuery {
    class: usize,
    any: Vec<Vec<OTerm>>,
    limit: usize,
}

// ---------------------------------------------------------------------------------------
// Random registries.
// ---------------------------------------------------------------------------------------

/// Labels of names (several IDN labels: written as U-label or A-label at random).
const LABELS: &[&str] = &[
    "ab", "ba", "abc", "c", "popa", "a-b", "b1", "cab", "aab", "abab", "münchen", "zürich", "bäb",
    "ü",
];
const TLDS: &[&str] = &["coop", "ab", "c", "köln"];
const CONTACT_IDS: &[&str] = &[
    "AB-1", "ab-2", "BA-1", "abc", "c.ab", "popa_1", "cab", "A-B-C",
];
const REGISTRAR_IDS: &[&str] = &["REG-1", "reg-2", "REG-AB"];
const REGISTRAR_NAMES: &[&str] = &["Ab", "ABC-Reg", "popa", "Ba.c"];
/// Addresses: (spelling 1, spelling 2) of the same address.
const IPS: &[(&str, &str)] = &[
    ("10.0.0.1", "10.0.0.1"),
    ("10.0.0.10", "10.0.0.10"),
    ("10.0.1.1", "10.0.1.1"),
    ("192.0.2.1", "192.0.2.1"),
    ("2001:db8::1", "2001:DB8:0:0:0:0:0:1"),
    ("2001:db8::10", "2001:0db8::0010"),
    ("2001:db8:1::1", "2001:DB8:1:0::1"),
];
/// Free words for query terms (never `and`/`or`; a class word first in a query is avoided
/// by [`make_query`]).
const WORDS: &[&str] = &[
    "ab", "ba", "c", "popa", "coop", "xn--", "ü", "ünch", "a-b", "b.c", "10.0", "2001:db8", "1",
    "reg", "-", "kva", "köln", ".",
];

/// splitmix64: deterministic choices derived from one generated seed.
#[derive(Debug, Clone)]
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Lower case as written, all upper case, or mixed case, depending on `seed`.
fn recase(s: &str, seed: u64) -> String {
    match seed % 4 {
        0 | 1 => s.to_string(),
        2 => s.to_uppercase(),
        _ => {
            let mut m = Mix(seed);
            s.chars()
                .map(|c| {
                    if m.next() & 1 == 1 {
                        c.to_uppercase().collect::<String>()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
    }
}

fn a_label(s: &str) -> String {
    idna::domain_to_ascii(s).expect("valid IDN label")
}

/// How a name is written: which IDN labels as A-labels, case, trailing dot.
#[derive(Debug, Clone)]
struct Spell {
    alabel: u8,
    case: u64,
    dot: bool,
}

/// A name: label indices into [`LABELS`] and a TLD index into [`TLDS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Name {
    labels: Vec<usize>,
    tld: usize,
}

impl Name {
    fn write(&self, sp: &Spell) -> String {
        let parts: Vec<String> = self
            .labels
            .iter()
            .map(|&i| LABELS[i])
            .chain([TLDS[self.tld]])
            .enumerate()
            .map(|(i, l)| {
                if !l.is_ascii() && (sp.alabel >> i) & 1 == 1 {
                    a_label(l)
                } else {
                    l.to_string()
                }
            })
            .collect();
        let mut s = recase(&parts.join("."), sp.case);
        if sp.dot {
            s.push('.');
        }
        s
    }
}

/// Per-record: which file of its class, deleted in place or not, seed for tags and layout.
#[derive(Debug, Clone)]
struct Common {
    file: usize,
    deleted: bool,
    seed: u64,
}

#[derive(Debug, Clone)]
struct RegistrarSpec {
    id: usize,
    name: usize,
    c: Common,
}

#[derive(Debug, Clone)]
struct ContactSpec {
    id: usize,
    registrar: usize,
    c: Common,
}

#[derive(Debug, Clone)]
struct HostSpec {
    name: Name,
    spell: Spell,
    ips: Vec<(usize, bool)>,
    registrar: usize,
    c: Common,
}

#[derive(Debug, Clone)]
struct DomainSpec {
    name: Name,
    spell: Spell,
    registrar: usize,
    registrant: usize,
    admins: Vec<usize>,
    techs: Vec<usize>,
    ns: Vec<(usize, Spell)>,
    c: Common,
}

#[derive(Debug, Clone)]
struct Registry {
    registrars: Vec<RegistrarSpec>,
    contacts: Vec<ContactSpec>,
    hosts: Vec<HostSpec>,
    domains: Vec<DomainSpec>,
    /// Data files per class (1-3), indexed like [`CLASSES`].
    files: [usize; 4],
    /// Seed for file layout: CRLF, comments, blank lines, separators.
    layout: u64,
}

fn spell() -> impl Strategy<Value = Spell> {
    (any::<u8>(), any::<u64>(), prop::bool::weighted(0.1)).prop_map(|(alabel, case, dot)| Spell {
        alabel,
        case,
        dot,
    })
}

fn name() -> impl Strategy<Value = Name> {
    (
        prop::collection::vec(0..LABELS.len(), 1..=2),
        prop_oneof![3 => Just(0usize), 1 => 0..TLDS.len()],
    )
        .prop_map(|(labels, tld)| Name { labels, tld })
}

fn common() -> impl Strategy<Value = Common> {
    (0..3usize, prop::bool::weighted(0.12), any::<u64>()).prop_map(|(file, deleted, seed)| Common {
        file,
        deleted,
        seed,
    })
}

fn registry() -> impl Strategy<Value = Registry> {
    let registrar = (0..REGISTRAR_IDS.len(), 0..REGISTRAR_NAMES.len(), common())
        .prop_map(|(id, name, c)| RegistrarSpec { id, name, c });
    let contact = (0..CONTACT_IDS.len(), 0..8usize, common())
        .prop_map(|(id, registrar, c)| ContactSpec { id, registrar, c });
    let host = (
        name(),
        spell(),
        prop::collection::vec((0..IPS.len(), any::<bool>()), 0..=3),
        0..8usize,
        common(),
    )
        .prop_map(|(name, spell, ips, registrar, c)| HostSpec {
            name,
            spell,
            ips,
            registrar,
            c,
        });
    let ids = || prop::collection::vec(0..16usize, 0..=2);
    let domain = (
        name(),
        spell(),
        0..8usize,
        0..16usize,
        ids(),
        ids(),
        prop::collection::vec((0..16usize, spell()), 0..=3),
        common(),
    )
        .prop_map(
            |(name, spell, registrar, registrant, admins, techs, ns, c)| DomainSpec {
                name,
                spell,
                registrar,
                registrant,
                admins,
                techs,
                ns,
                c,
            },
        );
    (
        prop::collection::vec(registrar, 1..=2),
        prop::collection::vec(contact, 1..=5),
        prop::collection::vec(host, 1..=6),
        prop::collection::vec(domain, 1..=40),
        [1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize],
        any::<u64>(),
    )
        .prop_map(
            |(registrars, contacts, hosts, domains, files, layout)| Registry {
                registrars,
                contacts,
                hosts,
                domains,
                files,
                layout,
            },
        )
}

/// A record to write: class, file, deleted flag, (canonical attribute, tag as written,
/// value) in file order.
#[derive(Debug, Clone)]
struct Rec {
    class: usize,
    file: usize,
    deleted: bool,
    fields: Vec<(&'static str, &'static str, String)>,
    /// Choices of tag spellings and reference spellings.
    mix: Mix,
}

impl Rec {
    fn new(class: usize, c: &Common, nfiles: usize, deleted: bool) -> Rec {
        Rec {
            class,
            file: c.file % nfiles,
            deleted,
            fields: Vec::new(),
            mix: Mix(c.seed),
        }
    }

    /// Adds a field; `tags` is `Canonical|Alias|...`, and one of them is written.
    fn push(&mut self, tags: &'static str, v: impl Into<String>) {
        let all: Vec<&'static str> = tags.split('|').collect();
        let tag = self.mix.pick(&all);
        self.fields.push((all[0], tag, v.into()));
    }
}

/// Turns a spec into records. Primary keys are unique among live records (later duplicates
/// are dropped) and every reference of a live record resolves; records deleted in place may
/// repeat a live key or refer to nothing (they must simply never match).
fn build(reg: &Registry) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut registrars: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in reg.registrars.iter().enumerate() {
        let deleted = r.c.deleted && i > 0;
        if !deleted && !seen.insert(r.id) {
            continue;
        }
        let mut rec = Rec::new(REGISTRAR, &r.c, reg.files[REGISTRAR], deleted);
        let id = REGISTRAR_IDS[r.id];
        rec.push("Registrar-ID|ID|registrar-id", id);
        rec.push("Registrar-Name|Name", REGISTRAR_NAMES[r.name]);
        rec.push("Registrar-Status", "ok");
        rec.push("City", "Manchester");
        rec.push("Country-Code", "GB");
        rec.push("Email|E-mail", "ops@reg.example");
        rec.push("Created-Date", DATE);
        out.push(rec);
        if !deleted {
            registrars.push(id);
        }
    }
    let registrar_ref = |i: usize, m: &mut Mix| recase(registrars[i % registrars.len()], m.next());

    let mut contacts: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    for (i, c) in reg.contacts.iter().enumerate() {
        let deleted = c.c.deleted && i > 0;
        if !deleted && !seen.insert(c.id) {
            continue;
        }
        let mut rec = Rec::new(CONTACT, &c.c, reg.files[CONTACT], deleted);
        let id = CONTACT_IDS[c.id];
        let written = recase(id, rec.mix.next());
        rec.push("Contact-ID|ID|Handle|contact-id", written);
        rec.push("Contact-ROID", format!("C{i}-COOP"));
        rec.push("Name|Contact-Name", "A Test");
        rec.push("City", "Zürich");
        rec.push("Country-Code", "CH");
        rec.push("Email", "a@test.example");
        rec.push("Contact-Status|Status", "ok");
        let v = registrar_ref(c.registrar, &mut rec.mix);
        rec.push("Sponsoring-Registrar", v);
        rec.push("Created-Date", DATE);
        out.push(rec);
        if !deleted {
            contacts.push(id);
        }
    }
    let contact_ref = |i: usize, m: &mut Mix| recase(contacts[i % contacts.len()], m.next());

    let mut hosts: Vec<&Name> = Vec::new();
    let mut seen = HashSet::new();
    for (i, h) in reg.hosts.iter().enumerate() {
        let deleted = h.c.deleted && i > 0;
        if !deleted && !seen.insert(&h.name) {
            continue;
        }
        let mut rec = Rec::new(NAMESERVER, &h.c, reg.files[NAMESERVER], deleted);
        rec.push("Host-ID|ROID", format!("H{i}-COOP"));
        rec.push("Host-Name|Name|Nameserver-Name", h.name.write(&h.spell));
        rec.push("Host-Status|Status", "ok");
        for &(ip, alt) in &h.ips {
            rec.push(
                "IP-Address|IP|Address",
                if alt { IPS[ip].1 } else { IPS[ip].0 },
            );
        }
        let v = registrar_ref(h.registrar, &mut rec.mix);
        rec.push("Sponsoring-Registrar", v);
        rec.push("Created-Date", DATE);
        out.push(rec);
        if !deleted {
            hosts.push(&h.name);
        }
    }

    let mut seen = HashSet::new();
    for (i, d) in reg.domains.iter().enumerate() {
        let deleted = d.c.deleted && i > 0;
        if !deleted && !seen.insert(&d.name) {
            continue;
        }
        let mut rec = Rec::new(DOMAIN, &d.c, reg.files[DOMAIN], deleted);
        rec.push("Domain-ID|ROID", format!("D{i}-COOP"));
        rec.push("Domain-Name|Name|DN|domain-name", d.name.write(&d.spell));
        let v = registrar_ref(d.registrar, &mut rec.mix);
        rec.push("Sponsoring-Registrar", v);
        rec.push("Domain-Status|Status", "ok");
        let v = contact_ref(d.registrant, &mut rec.mix);
        rec.push("Registrant-ID|Registrant", v);
        for &a in &d.admins {
            let v = contact_ref(a, &mut rec.mix);
            rec.push("Admin-ID|Admin-Contact", v);
        }
        for &t in &d.techs {
            let v = contact_ref(t, &mut rec.mix);
            rec.push("Tech-ID|Tech-Contact", v);
        }
        for (n, sp) in &d.ns {
            rec.push(
                "Name-Server|NS|Nserver|ns",
                hosts[n % hosts.len()].write(sp),
            );
        }
        rec.push("Created-Date|Created", DATE);
        rec.push("Expiry-Date|Expires", DATE);
        out.push(rec);
    }
    out
}

/// Data files of the registry: (class, file name, text), some CRLF, with comments, blank
/// lines and separators of several shapes.
fn render_files(reg: &Registry, recs: &[Rec]) -> Vec<(String, String, String)> {
    let mut m = Mix(reg.layout);
    let mut out = Vec::new();
    for (ci, class) in CLASSES.iter().enumerate() {
        for f in 0..reg.files[ci] {
            let crlf = m.next().is_multiple_of(4);
            let mut lines: Vec<String> = Vec::new();
            if m.next().is_multiple_of(3) {
                lines.push(format!("# {class} records, file {f}"));
            }
            let mut first = true;
            for r in recs.iter().filter(|r| r.class == ci && r.file == f) {
                if !first {
                    lines.push(m.pick(&["---", "---", "-----", "--- next"]).to_string());
                }
                first = false;
                for (_, tag, value) in &r.fields {
                    let sep = m.pick(&[": ", ":", ":\t", " :  "]);
                    let del = if r.deleted { "_" } else { "" };
                    lines.push(format!("{del}{tag}{sep}{value}"));
                    match m.next() % 16 {
                        0 => lines.push(String::new()),
                        1 => lines.push("  # a comment inside the record".into()),
                        _ => {}
                    }
                }
            }
            if !first && m.next().is_multiple_of(2) {
                lines.push("---".into());
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if !text.is_empty() && !m.next().is_multiple_of(4) {
                text.push_str(eol);
            }
            out.push((class.to_string(), format!("f{f}.txt"), text));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Random queries.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Infix,
    Any,
}

#[derive(Debug, Clone)]
struct TermSpec {
    opt: u8,
    kind: Kind,
    src: usize,
    word: Option<usize>,
    cut: (usize, usize),
    respell: u8,
    case: u64,
}

#[derive(Debug, Clone)]
struct QuerySpec {
    class: usize,
    word: u8,
    terms: Vec<TermSpec>,
    ops: u8,
    limit: usize,
}

/// One way to search a class: `tag=` (None: the class's search keys), the attributes an
/// exact, prefix or `*` search looks at, and those a suffix or infix search looks at (empty:
/// the engine must refuse such a search as not indexed).
struct TermOpt {
    tag: Option<&'static str>,
    attrs: &'static [&'static str],
    full: &'static [&'static str],
}

const fn opt(
    tag: Option<&'static str>,
    attrs: &'static [&'static str],
    full: &'static [&'static str],
) -> TermOpt {
    TermOpt { tag, attrs, full }
}

const CONTACT_OPTS: &[TermOpt] = &[
    opt(None, &["Contact-ID"], &["Contact-ID"]),
    opt(Some("id"), &["Contact-ID"], &["Contact-ID"]),
    opt(Some("Handle"), &["Contact-ID"], &["Contact-ID"]),
    opt(Some("sponsoring-registrar"), &["Sponsoring-Registrar"], &[]),
];
const DOMAIN_OPTS: &[TermOpt] = &[
    opt(None, &["Domain-Name"], &["Domain-Name"]),
    opt(Some("name"), &["Domain-Name"], &["Domain-Name"]),
    opt(Some("registrant-id"), &["Registrant-ID"], &[]),
    opt(Some("Registrant"), &["Registrant-ID"], &[]),
    opt(Some("admin-id"), &["Admin-ID"], &[]),
    opt(Some("Tech-Contact"), &["Tech-ID"], &[]),
    opt(Some("ns"), &["Name-Server"], &["Name-Server"]),
    opt(Some("Name-Server"), &["Name-Server"], &["Name-Server"]),
    opt(Some("nserver"), &["Name-Server"], &["Name-Server"]),
    opt(Some("sponsoring-registrar"), &["Sponsoring-Registrar"], &[]),
];
const NAMESERVER_OPTS: &[TermOpt] = &[
    opt(None, &["Host-Name", "IP-Address"], &["Host-Name"]),
    opt(Some("ip"), &["IP-Address"], &[]),
    opt(Some("Address"), &["IP-Address"], &[]),
    opt(Some("name"), &["Host-Name"], &["Host-Name"]),
    opt(Some("host-name"), &["Host-Name"], &["Host-Name"]),
];
const REGISTRAR_OPTS: &[TermOpt] = &[
    opt(None, &["Registrar-Name"], &["Registrar-Name"]),
    opt(Some("id"), &["Registrar-ID"], &["Registrar-ID"]),
    opt(Some("name"), &["Registrar-Name"], &["Registrar-Name"]),
];

fn opts(class: usize) -> &'static [TermOpt] {
    [CONTACT_OPTS, DOMAIN_OPTS, NAMESERVER_OPTS, REGISTRAR_OPTS][class]
}

/// Class words ("" means none: the default class, domain).
const CLASS_WORDS: [&[&str]; 4] = [
    &["contact", "handle", "CONTACT"],
    &["", "", "domain", "DOM", "Domain"],
    &["nameserver", "host", "NS", "Nameserver"],
    &["registrar", "reg", "Registrar"],
];

fn term_spec() -> impl Strategy<Value = TermSpec> {
    let kind = prop_oneof![
        3 => Just(Kind::Exact),
        3 => Just(Kind::Prefix),
        2 => Just(Kind::Suffix),
        2 => Just(Kind::Infix),
        1 => Just(Kind::Any),
    ];
    (
        any::<u8>(),
        kind,
        any::<usize>(),
        prop::option::weighted(0.15, 0..WORDS.len()),
        (0..64usize, 0..64usize),
        any::<u8>(),
        any::<u64>(),
    )
        .prop_map(|(opt, kind, src, word, cut, respell, case)| TermSpec {
            opt,
            kind,
            src,
            word,
            cut,
            respell,
            case,
        })
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        prop_oneof![
            3 => Just(CONTACT),
            8 => Just(DOMAIN),
            4 => Just(NAMESERVER),
            2 => Just(REGISTRAR),
        ],
        any::<u8>(),
        prop_oneof![
            3 => prop::collection::vec(term_spec(), 1..=1),
            2 => prop::collection::vec(term_spec(), 2..=3),
        ],
        any::<u8>(),
        prop::sample::select(vec![1usize, 2, 3, 4, 5, 1000]),
    )
        .prop_map(|(class, word, terms, ops, limit)| QuerySpec {
            class,
            word,
            terms,
            ops,
            limit,
        })
}

fn is_domain_attr(attr: &str) -> bool {
    matches!(attr, "Domain-Name" | "Name-Server" | "Host-Name")
}

/// Another spelling of a value that must find the same records.
fn respell(attr: &str, v: &str, how: u8) -> String {
    if is_domain_attr(attr) {
        let bare = v.strip_suffix('.').unwrap_or(v);
        match how % 4 {
            1 => idna::domain_to_ascii(bare).unwrap_or_else(|_| v.to_string()),
            2 => idna::domain_to_unicode(bare).0,
            3 if bare.len() == v.len() => format!("{v}."),
            3 => bare.to_string(),
            _ => v.to_string(),
        }
    } else if attr == "IP-Address" {
        match (how % 3, v.parse::<IpAddr>()) {
            (1, Ok(ip)) => ip.to_string(),
            (2, Ok(IpAddr::V6(ip))) => ip
                .segments()
                .iter()
                .map(|s| format!("{s:X}"))
                .collect::<Vec<_>>()
                .join(":"),
            _ => v.to_string(),
        }
    } else {
        v.to_string()
    }
}

/// The query text for a spec, and what the oracle makes of it (Err: the engine must refuse
/// the query as not indexed).
fn make_query(q: &QuerySpec, recs: &[Rec], schema: &Schema) -> (String, Result<OQuery, ()>) {
    let table = opts(q.class);
    let mut words: Vec<String> = Vec::new();
    let mut any: Vec<Vec<OTerm>> = vec![Vec::new()];
    let mut refused = false;
    for (i, t) in q.terms.iter().enumerate() {
        if i > 0 {
            let and = (q.ops >> (i - 1)) & 1 == 1;
            let kw = if and { "and" } else { "or" };
            words.push(recase(kw, u64::from(q.ops >> 3) + i as u64));
            if !and {
                any.push(Vec::new());
            }
        }
        let o = if t.opt % 2 == 0 {
            &table[0]
        } else {
            &table[usize::from(t.opt / 2) % table.len()]
        };
        let text = if let Some(w) = t.word {
            WORDS[w].to_string()
        } else {
            let mut values: Vec<(&str, &str)> = recs
                .iter()
                .filter(|r| r.class == q.class)
                .flat_map(|r| r.fields.iter())
                .filter(|(a, _, _)| o.attrs.contains(a))
                .map(|(a, _, v)| (*a, v.as_str()))
                .collect();
            if values.is_empty() {
                values.push(("", WORDS[t.src % WORDS.len()]));
            }
            let (attr, v) = values[t.src % values.len()];
            respell(attr, v, t.respell)
        };
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let frag: String = match t.kind {
            Kind::Exact | Kind::Any => text.clone(),
            Kind::Prefix => chars[..1 + t.cut.0 % n].iter().collect(),
            Kind::Suffix => chars[t.cut.0 % n..].iter().collect(),
            Kind::Infix => {
                let s = t.cut.0 % n;
                chars[s..s + 1 + t.cut.1 % (n - s)].iter().collect()
            }
        };
        let frag = recase(&frag, t.case);
        let (pattern, pat) = match t.kind {
            Kind::Exact => (frag.clone(), Pat::Exact(frag)),
            Kind::Prefix => (format!("{frag}*"), Pat::Prefix(frag)),
            Kind::Suffix => (format!("*{frag}"), Pat::Suffix(frag)),
            Kind::Infix => (format!("*{frag}*"), Pat::Infix(frag)),
            Kind::Any => ("*".to_string(), Pat::Any),
        };
        let attrs = match t.kind {
            Kind::Suffix | Kind::Infix => o.full,
            _ => o.attrs,
        };
        refused |= attrs.is_empty();
        words.push(match o.tag {
            Some(tag) => format!("{tag}={pattern}"),
            None => pattern,
        });
        any.last_mut().expect("a conjunction").push(OTerm {
            attrs: attrs.to_vec(),
            pat,
        });
    }
    let cw = CLASS_WORDS[q.class];
    let mut class_word = cw[usize::from(q.word) % cw.len()];
    if class_word.is_empty() && schema.class(&words[0]).is_some() {
        // A first word that names a class would be taken as the class.
        class_word = "domain";
    }
    let text = if class_word.is_empty() {
        words.join(" ")
    } else {
        format!("{class_word} {}", words.join(" "))
    };
    let expect = if refused {
        Err(())
    } else {
        Ok(OQuery {
            class: q.class,
            any,
            limit: q.limit,
        })
    };
    (text, expect)
}

proptest! {
    // 48 cases by default (a few seconds in debug builds); PROPTEST_CASES=2000 for a deeper run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn queries_agree_with_a_linear_scan(
        reg in registry(),
        queries in prop::collection::vec(query_spec(), 1..=16),
    ) {
        let recs = build(&reg);
        let files = render_files(&reg, &recs);
        let src = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        write_tree(src.path(), &files);
        let g = compile_tree(src.path(), db.path());
        let oracle = Oracle::load(src.path(), &g.schema);
        for (ci, class) in CLASSES.iter().enumerate() {
            let c = g.schema.class(class).unwrap();
            prop_assert_eq!(
                g.record_count(c.id),
                oracle.classes[ci].len() as u64,
                "live {} records", class
            );
        }
        for q in &queries {
            let (text, expect) = make_query(q, &recs, &g.schema);
            let got = answer(&g, &text, q.limit);
            match expect {
                Err(()) => prop_assert_eq!(
                    got.clone().err(),
                    Some(QueryErrorKind::NotIndexed),
                    "query {:?} should be refused, got {:?}", text, got
                ),
                Ok(oq) => {
                    let (refs, more) = oracle.eval(&g.schema, &oq);
                    let want: Vec<String> =
                        refs.iter().map(|&r| oracle.pk(&g.schema, oq.class, r)).collect();
                    prop_assert_eq!(
                        got.clone(),
                        Ok((want.clone(), more)),
                        "query {:?} limit {}\nexpected {:?} more={}\ngot {:?}\ntree:\n{}",
                        text, q.limit, want, more, got, dump_tree(src.path())
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Plain tests.
// ---------------------------------------------------------------------------------------

const REGISTRAR_TXT: &str = "Registrar-ID: REG-1\nRegistrar-Name: Sample\nRegistrar-Status: ok\n\
    City: X\nCountry-Code: GB\nEmail: a@b.example\nCreated-Date: 2001-05-05T00:00:00Z\n";

fn contact_txt(id: &str) -> String {
    format!(
        "Contact-ID: {id}\nContact-ROID: C1-COOP\nName: A\nCity: X\nCountry-Code: GB\n\
         Email: a@b.example\nContact-Status: ok\nSponsoring-Registrar: REG-1\n\
         Created-Date: 2001-05-05T00:00:00Z\n"
    )
}

fn host_txt(name: &str, ip: &str) -> String {
    format!(
        "Host-ID: H1-COOP\nHost-Name: {name}\nHost-Status: ok\nIP-Address: {ip}\n\
         Sponsoring-Registrar: REG-1\nCreated-Date: 2001-05-05T00:00:00Z\n"
    )
}

fn domain_txt(name: &str, registrant: &str, ns: &str) -> String {
    format!(
        "Domain-ID: D1-COOP\nDomain-Name: {name}\nSponsoring-Registrar: REG-1\n\
         Domain-Status: ok\nRegistrant-ID: {registrant}\nName-Server: {ns}\n\
         Created-Date: 2001-05-05T00:00:00Z\nExpiry-Date: 2001-05-05T00:00:00Z\n"
    )
}

/// `_` before every line of a record: deleted in place.
fn deleted(text: &str) -> String {
    text.lines().map(|l| format!("_{l}\n")).collect()
}

fn tree(files: &[(&str, &str, String)]) -> (tempfile::TempDir, tempfile::TempDir, Generation) {
    let src = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let files: Vec<_> = files
        .iter()
        .map(|(c, f, t)| (c.to_string(), f.to_string(), t.clone()))
        .collect();
    write_tree(src.path(), &files);
    let g = compile_tree(src.path(), db.path());
    (src, db, g)
}

#[track_caller]
fn check(g: &Generation, q: &str, want: &[&str]) {
    let got = answer(g, q, 100).unwrap_or_else(|e| panic!("{q:?}: refused ({e:?})"));
    assert_eq!(
        got,
        (want.iter().map(|s| s.to_string()).collect(), false),
        "{q:?}"
    );
}

#[test]
fn records_deleted_in_place_never_match() {
    let contacts = format!(
        "{}---\n{}",
        contact_txt("AB-1"),
        deleted(&contact_txt("GONE-1"))
    );
    // Deleted records before, between and after live ones; one repeats a live primary key,
    // one refers to records that do not exist. Neither is an error, neither may match.
    let domains = format!(
        "{}---\n{}---\n{}---\n{}---\n{}",
        deleted(&domain_txt("gone.coop", "NOBODY-9", "ns.gone.coop")),
        domain_txt("alive.coop", "AB-1", "ns.ab.coop"),
        deleted(&domain_txt("alive.coop", "GONE-1", "ns.ab.coop")),
        domain_txt("gonewith.coop", "ab-1", "NS.AB.COOP"),
        deleted(&domain_txt("gonezo.coop", "AB-1", "ns.ab.coop")),
    );
    let hosts = format!(
        "{}---\n{}",
        deleted(&host_txt("ns.gone.coop", "10.9.9.9")),
        host_txt("ns.ab.coop", "10.0.0.1")
    );
    let (_src, _db, g) = tree(&[
        ("registrar", "r.txt", REGISTRAR_TXT.to_string()),
        ("contact", "c.txt", contacts),
        ("domain", "d.txt", domains),
        ("nameserver", "n.txt", hosts),
    ]);
    let d = g.schema.class("domain").unwrap();
    assert_eq!(g.record_count(d.id), 2);
    check(&g, "gone.coop", &[]);
    check(&g, "gonezo.coop", &[]);
    check(&g, "gone*", &["gonewith.coop"]);
    check(&g, "*one.coop", &[]);
    check(&g, "*zo.coop", &[]);
    check(&g, "*gone*", &["gonewith.coop"]);
    check(&g, "*", &["alive.coop", "gonewith.coop"]);
    check(&g, "alive.coop", &["alive.coop"]);
    check(&g, "domain registrant-id=NOBODY-9", &[]);
    check(&g, "domain registrant-id=gone-1", &[]);
    check(
        &g,
        "domain registrant-id=AB-1",
        &["alive.coop", "gonewith.coop"],
    );
    check(&g, "domain ns=ns.gone.coop", &[]);
    check(&g, "domain ns=*gone*", &[]);
    check(&g, "gone* or alive.coop", &["alive.coop", "gonewith.coop"]);
    check(&g, "contact GONE-1", &[]);
    check(&g, "contact *", &["AB-1"]);
    check(&g, "nameserver 10.9.9.9", &[]);
    check(&g, "nameserver ns.gone.coop", &[]);
    check(&g, "nameserver *", &["ns.ab.coop"]);
}

#[test]
fn u_labels_and_a_labels_find_each_other() {
    let domains = format!(
        "{}---\n{}---\n{}",
        domain_txt("xn--mnchen-3ya.coop", "AB-1", "ns.xn--kln-sna.coop"),
        domain_txt("Zürich.coop", "AB-1", "NS.KÖLN.coop"),
        domain_txt("plain.coop", "AB-1", "ns.köln.coop."),
    );
    let (_src, _db, g) = tree(&[
        ("registrar", "r.txt", REGISTRAR_TXT.to_string()),
        ("contact", "c.txt", contact_txt("AB-1")),
        ("domain", "d.txt", domains),
        ("nameserver", "n.txt", host_txt("ns.Köln.coop", "10.0.0.1")),
    ]);
    // Stored as an A-label, found by its U-label in any case, and by the A-label.
    for q in [
        "münchen.coop",
        "MÜNCHEN.COOP",
        "München.Coop.",
        "xn--mnchen-3ya.coop",
        "XN--MNCHEN-3YA.COOP",
        "domain münch*",
        "domain xn--mn*",
        "*ünchen.coop",
        "*3ya.coop",
        "*ÜNCH*",
    ] {
        check(&g, q, &["xn--mnchen-3ya.coop"]);
    }
    // Stored as a U-label (capitalised), found by its A-label and U-label.
    for q in [
        "xn--zrich-kva.coop",
        "XN--ZRICH-KVA.COOP",
        "zürich.coop",
        "ZÜRICH.coop",
        "xn--zr*",
        "zür*",
        "*kva.coop",
        "*rich.coop",
    ] {
        check(&g, q, &["Zürich.coop"]);
    }
    // References written in either form resolve (the tree compiled) and are searchable in
    // either form.
    let all = ["xn--mnchen-3ya.coop", "Zürich.coop", "plain.coop"];
    for q in [
        "domain ns=ns.köln.coop",
        "domain ns=NS.XN--KLN-SNA.COOP",
        "domain ns=ns.kö*",
        "domain ns=*sna.coop",
    ] {
        check(&g, q, &all);
    }
    for q in [
        "nameserver ns.xn--kln-sna.coop",
        "nameserver NS.KÖLN.COOP",
        "host *öln*",
    ] {
        check(&g, q, &["ns.Köln.coop"]);
    }
}
