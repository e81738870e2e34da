//! Bodies of the mkdb fuzz targets: one public function per target, each taking the raw
//! fuzzer input.
//!
//! `fuzz_targets/<name>.rs` calls the function of the same name under libFuzzer, and
//! `mkdb/tests/fuzz_corpus.rs` compiles this very file (`#[path]`) to replay
//! `corpus/<name>/` and `artifacts/<name>/` on stable Rust, so the fuzzer and CI run
//! identical code. Every function must return normally for any input: a panic or a hang is a
//! bug. Besides that, the bodies assert properties the mkdb docs promise (offsets point into
//! the text, a freshly built index opens, a record is found by its own value, ...).

use std::sync::{Arc, OnceLock};

use fst::Streamer;
use mkdb::Generation;
use mkdb::generation::Manifest;
use mkdb::key;
use mkdb::query;
use mkdb::record::{RawRecord, SyntaxError, check_utf8, for_each_record};
use mkdb::render::{AnswerOptions, render_answer};
use mkdb::schema::{ClassDef, IndexKind, Schema, check_value};
use mkdb::segment::{RecordView, Segment, SegmentBuilder};
use xxhash_rust::xxh3::xxh3_64;

/// The golden sample source tree, as (class, data file text).
const SAMPLE: &[(&str, &str)] = &[
    (
        "contact",
        include_str!("../../tests/golden/sample/data/contact/contacts.txt"),
    ),
    (
        "contact",
        include_str!("../../tests/golden/sample/data/contact/crlf-registrants.txt"),
    ),
    (
        "domain",
        include_str!("../../tests/golden/sample/data/domain/domains.txt"),
    ),
    (
        "nameserver",
        include_str!("../../tests/golden/sample/data/nameserver/hosts.txt"),
    ),
    (
        "registrar",
        include_str!("../../tests/golden/sample/data/registrar/registrars.txt"),
    ),
];

/// Index header layout (see `mkdb::segment`).
const HEADER_LEN: usize = 64;

/// Results per query when answers are rendered.
const LIMIT: usize = 8;

fn shipped() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::shipped)
}

/// The golden sample compiled in memory (built once per process).
fn sample() -> &'static Generation {
    static SAMPLE_DB: OnceLock<Generation> = OnceLock::new();
    SAMPLE_DB.get_or_init(|| {
        let schema = Schema::shipped();
        let segments = SAMPLE
            .iter()
            .map(|&(class, text)| {
                let c = schema.class(class).expect("a shipped class");
                let fp = schema.class_fingerprint(c.id);
                let ix = build_index(c, fp, text).expect("the sample indexes");
                let seg = Segment::from_memory(text.as_bytes().to_vec(), ix, c, fp);
                Arc::new(seg.expect("the sample's index opens"))
            })
            .collect();
        generation(schema, segments)
    })
}

/// An in-memory generation over `segments`.
fn generation(schema: Schema, segments: Vec<Arc<Segment>>) -> Generation {
    Generation::in_memory(schema, segments)
}

/// Indexes the records of `text` that validate cleanly under `class`, like `loader compile`
/// does (which also refuses the whole file when a record has problems; here such records are
/// skipped so that more inputs produce an index). `None` when `finish` refuses (duplicate
/// primary key).
fn build_index(class: &ClassDef, fingerprint: u64, text: &str) -> Option<Vec<u8>> {
    let mut builder = SegmentBuilder::new(class, fingerprint);
    let (mut fields, mut problems) = (Vec::new(), Vec::new());
    // A syntax error ends the records early; the ones before it are still indexed.
    let _ = for_each_record(text, |r| {
        problems.clear();
        class.validate(r, &mut fields, &mut problems);
        if problems.is_empty() {
            // Only a record over the size limit is refused; it is then simply left out.
            let _ = builder.add(r, &fields);
        }
        Ok::<(), SyntaxError>(())
    });
    builder.finish(text.as_bytes()).ok()
}

/// Renders whole answers (parse, execute, render) for `queries`.
fn answer_all(g: &Generation, queries: &[String]) {
    let opts = AnswerOptions {
        limit: LIMIT,
        banner: false,
    };
    for q in queries {
        let mut out = Vec::new();
        if let Ok(hits) = render_answer(g, q, opts, &mut out) {
            assert!(hits.records.len() <= LIMIT, "{q:?}: hit limit ignored");
        }
    }
}

/// Broad queries over one class: everything, prefix, suffix, infix, boolean.
fn class_queries(class: &str) -> Vec<String> {
    ["*", "a*", "*a", "*o*", "*.coop", "a* or *o* and *e*"]
        .iter()
        .map(|p| format!("{class} {p}"))
        .collect()
}

fn check_raw_record(text: &str, r: &RawRecord<'_>, previous_end: usize) {
    assert!(
        previous_end <= r.start && r.start < r.end && r.end <= text.len(),
        "record range {}..{} (previous record ended at {previous_end}, text is {} bytes)",
        r.start,
        r.end,
        text.len()
    );
    for f in &r.fields {
        assert!(!f.value.is_empty(), "empty value kept at line {}", f.line);
        assert_eq!(
            text.get(f.value_offset..f.value_offset + f.value.len()),
            Some(f.value),
            "value_offset does not point at the value"
        );
        assert!(
            r.start <= f.value_offset && f.value_offset + f.value.len() <= r.end,
            "field outside its record"
        );
        assert!(
            f.line >= r.first_line,
            "field line before the record's first line"
        );
        assert_eq!(
            f.value,
            f.value.trim_matches([' ', '\t']),
            "value not trimmed"
        );
        assert!(
            !f.value.chars().any(|c| c.is_control() && c != '\t'),
            "control character in a value"
        );
        assert!(!f.tag.is_empty(), "empty tag");
    }
}

/// Target `record`: `check_utf8` + `for_each_record` on arbitrary bytes.
pub fn record(data: &[u8]) {
    let text = match check_utf8(data) {
        Ok(text) => text,
        Err(e) => {
            assert!(e.line >= 1, "line numbers are 1-based");
            return;
        }
    };
    let mut previous_end = 0;
    let result = for_each_record(text, |r| {
        check_raw_record(text, r, previous_end);
        previous_end = r.end;
        Ok::<(), SyntaxError>(())
    });
    if let Err(e) = result {
        assert!(e.line >= 1, "line numbers are 1-based");
    }
}

/// Target `schema`: `Schema::parse` on arbitrary schema files, then the parsed schema in use.
///
/// Input: schema files separated by NUL bytes (at most 8); everything after the first 0x01
/// byte is record text that is validated, indexed and queried under the parsed schema.
pub fn schema(data: &[u8]) {
    let (files, records) = match data.iter().position(|&b| b == 1) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let files = files.split(|&b| b == 0).take(8).enumerate().map(|(i, f)| {
        (
            format!("fuzz{i}.schema"),
            String::from_utf8_lossy(f).into_owned(),
        )
    });
    let Ok(schema) = Schema::parse(files) else {
        return;
    };
    assert!(!schema.classes.is_empty());
    let mut queries = Vec::new();
    for (i, c) in schema.classes.iter().enumerate() {
        assert_eq!(usize::from(c.id), i, "class ids are positions");
        let _ = schema.class_fingerprint(c.id);
        assert!(c.pk().primary_key && c.pk().index != IndexKind::None);
        for (j, a) in c.attrs.iter().enumerate() {
            assert_eq!(usize::from(a.id), j, "attribute ids are positions");
            let _ = a.join_label();
            queries.push(format!("{} {}=a*", c.name, a.name));
        }
        queries.extend(class_queries(&c.name));
    }
    let text = String::from_utf8_lossy(records);
    let mut segments = Vec::new();
    for c in &schema.classes {
        let fp = schema.class_fingerprint(c.id);
        if let Some(ix) = build_index(c, fp, &text) {
            let seg = Segment::from_memory(text.as_bytes().to_vec(), ix, c, fp);
            segments.push(Arc::new(seg.expect("a freshly built index opens")));
        }
    }
    for q in &queries {
        let _ = query::parse(&schema, q);
    }
    answer_all(&generation(schema, segments), &queries);
}

/// Target `validate`: records of arbitrary text validated against every shipped class.
pub fn validate(data: &[u8]) {
    let Ok(text) = check_utf8(data) else {
        return;
    };
    let schema = shipped();
    let (mut fields, mut problems) = (Vec::new(), Vec::new());
    let _ = for_each_record(text, |r| {
        for f in &r.fields {
            let _ = key::check_domain(f.value);
            let _ = key::fragment_key(f.value);
        }
        for c in &schema.classes {
            problems.clear();
            c.validate(r, &mut fields, &mut problems);
            for p in &problems {
                assert!(p.line >= r.first_line, "problem before the record: {p}");
            }
            for f in &fields {
                let a = c.attr(f.attr);
                assert!(check_value(a, f.value).is_ok(), "validate kept a bad value");
                assert_eq!(
                    text.get(f.value_offset..f.value_offset + f.value.len()),
                    Some(f.value)
                );
                // A stored value must be found by a query for that same value.
                if a.index != IndexKind::None {
                    let want = key::exact_key(a.ty, f.value);
                    let mut found = false;
                    key::for_each_key(a.ty, f.value, |k| found |= k == want.as_bytes());
                    assert!(
                        found,
                        "{} {:?}: query key {want:?} is not among its index keys",
                        a.name, f.value
                    );
                }
            }
        }
        Ok::<(), SyntaxError>(())
    });
}

/// Target `query`: `query::parse` with the shipped schema, then the query executed and
/// rendered over the golden sample compiled in memory.
pub fn query(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let g = sample();
    if let Ok(q) = query::parse(&g.schema, input) {
        let class = g.schema.class_by_id(q.class);
        assert!(!q.any.is_empty(), "query without alternatives");
        for all in &q.any {
            assert!(!all.is_empty(), "alternative without terms");
            for t in all {
                assert!(!t.attrs.is_empty(), "term searches no attribute");
                assert!(t.attrs.iter().all(|&a| usize::from(a) < class.attrs.len()));
            }
        }
        if let Ok(hits) = g.execute(&q, LIMIT) {
            assert!(hits.records.len() <= LIMIT, "hit limit ignored");
            for &r in &hits.records {
                assert_eq!(g.class_of(r).id, q.class, "hit of another class");
            }
        }
    }
    answer_all(g, &[input.to_string()]);
}

fn manifest_round_trip(m: &Manifest) {
    let text = m.to_text();
    let again = Manifest::parse(&text)
        .unwrap_or_else(|e| panic!("to_text output does not parse ({e}): {text:?}"));
    // Known, harmless inexactness: `parse` splits with `str::lines`, which keeps a CR that is
    // not followed by LF, so a value read with a trailing CR (only possible in text that
    // `to_text` did not write) comes back without it.
    let strings = m
        .segments
        .iter()
        .flat_map(|s| [&s.class, &s.name, &s.source]);
    if std::iter::once(&m.created)
        .chain(strings)
        .any(|v| v.ends_with('\r'))
    {
        return;
    }
    assert_eq!(again.generation, m.generation, "{text:?}");
    assert_eq!(again.created, m.created, "{text:?}");
    assert_eq!(again.segments, m.segments, "{text:?}");
}

/// Target `manifest`: `Manifest::parse` on the input as is (the checksum keeps nearly all of
/// it out), and on the input with a correct checksum line appended, so the line parser is
/// reached. What parses must survive `to_text` and parse back equal.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Manifest::parse(text) {
        manifest_round_trip(&m);
    }
    let signed = format!("{text}checksum: {:016x}\n", xxh3_64(text.as_bytes()));
    if let Ok(m) = Manifest::parse(&signed) {
        manifest_round_trip(&m);
    }
}

/// Values written by the "interesting integer" mutations.
const INTERESTING: [u64; 24] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    31,
    32,
    63,
    64,
    0x7f,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 63,
    (1 << 63) | (0xffff << 32) | 0xffff,
    u64::MAX,
];

/// Writes `bytes` at `pos` (modulo the length), clipped at the end.
fn put(buf: &mut [u8], pos: usize, bytes: &[u8]) {
    if buf.is_empty() {
        return;
    }
    let p = pos % buf.len();
    for (d, s) in buf[p..].iter_mut().zip(bytes) {
        *d = *s;
    }
}

/// Applies 4-byte mutation ops `[kind, pos lo, pos hi, value]` to the index (and data).
fn mutate(ix: &mut Vec<u8>, data: &mut [u8], ops: &[u8]) {
    for op in ops.chunks_exact(4) {
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]]));
        let val = op[3];
        let interesting = INTERESTING[usize::from(val) % INTERESTING.len()];
        let len = ix.len();
        match op[0] % 8 {
            0 => put(ix, pos, &[val]),
            1 if len > 0 => ix[pos % len] ^= val,
            2 => put(ix, pos, &(interesting as u32).to_le_bytes()),
            3 => put(ix, pos, &interesting.to_le_bytes()),
            4 => ix.truncate(pos % (len + 1)),
            5 => ix.insert(pos % (len + 1), val),
            6 if len > 0 => {
                ix.remove(pos % len);
            }
            7 => put(data, pos, &[val]),
            _ => {}
        }
    }
}

/// Rewrites the data size and hash and both index checksums, so that a mutated index
/// passes the checksums and reaches the structural validation.
fn reseal(ix: &mut [u8], data: &[u8]) {
    if ix.len() < HEADER_LEN {
        return;
    }
    ix[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
    ix[24..32].copy_from_slice(&xxh3_64(data).to_le_bytes());
    let body = xxh3_64(&ix[HEADER_LEN..]);
    ix[48..56].copy_from_slice(&body.to_le_bytes());
    let head = xxh3_64(&ix[..56]);
    ix[56..64].copy_from_slice(&head.to_le_bytes());
}

fn read_view(v: RecordView<'_>, attrs: u16) {
    let _ = v.text();
    let _ = v.first_line();
    for (_, value) in v.fields() {
        let _ = value.len();
    }
    for (_, _, line) in v.fields_with_lines() {
        let _ = line;
    }
    for a in 0..=attrs {
        let _ = v.first(a);
    }
}

/// Target `segment`: a valid index built from fuzzed records, mutated by fuzzed ops,
/// resealed, opened with `Segment::from_memory` and, if it opens, read in every way whoisd
/// reads it.
///
/// Input: one byte choosing the class (modulo the number of shipped classes), the data
/// text, a NUL byte, then mutation ops of 4 bytes each: `[kind, pos lo, pos hi, value]`,
/// kind modulo 8: 0 set byte, 1 xor byte, 2 write an interesting u32, 3 write an interesting
/// u64, 4 truncate at pos, 5 insert a byte, 6 remove a byte, 7 set a byte of the data file.
/// Positions are taken modulo the length.
pub fn segment(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (text, ops) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let schema = shipped();
    let class = &schema.classes[usize::from(selector) % schema.classes.len()];
    let fp = schema.class_fingerprint(class.id);
    let Some(mut ix) = build_index(class, fp, text) else {
        return;
    };
    let mut bytes = text.as_bytes().to_vec();
    mutate(&mut ix, &mut bytes, ops);
    reseal(&mut ix, &bytes);
    let opened = Segment::from_memory(bytes, ix, class, fp);
    if ops.is_empty() {
        assert!(
            opened.is_ok(),
            "a freshly built index is refused: {opened:?}"
        );
    }
    let Ok(seg) = opened else {
        return;
    };
    assert_eq!(seg.class(), class.id);
    let attrs = class.attrs.len() as u16;
    let n = seg.record_count();
    for r in (0..n.min(64)).chain([n.saturating_sub(1), n, n.saturating_add(1), u32::MAX]) {
        read_view(seg.record(r), attrs);
    }
    let mut keys: Vec<(u16, Vec<u8>)> = Vec::new();
    for a in (0..=attrs).chain([u16::MAX]) {
        seg.for_each_key(a, |k, postings| {
            if keys.len() < 32 {
                keys.push((a, k.to_vec()));
            }
            // Builder and reader agree: every key of an intact index is found (the Bloom
            // filter in front of the fst has no false negatives).
            if ops.is_empty() {
                assert!(seg.exact(a, k).next().is_some(), "key {k:?} not found");
            }
            for r in postings.take(8) {
                read_view(seg.record(r), attrs);
            }
        });
        if let Some(m) = seg.reversed_map(a) {
            let mut stream = m.stream();
            while let Some((_, v)) = stream.next() {
                for r in seg.decode(v).take(8) {
                    read_view(seg.record(r), attrs);
                }
            }
        }
    }
    for (a, k) in &keys {
        for r in seg.exact(*a, k).take(8) {
            read_view(seg.record(r), attrs);
        }
    }
    let _ = seg.exact(0, b"").count();
    // The segment served with the sample's segments of the other classes: queries executed
    // and answers rendered, including other classes' records that join records of this one
    // (`expand-reference`) or are referenced by them (LINKED attributes).
    let mut queries = class_queries(&class.name);
    for (a, k) in keys.iter().take(4) {
        if let (Ok(k), Some(def)) = (std::str::from_utf8(k), class.attrs.get(usize::from(*a))) {
            queries.push(format!("{} {}={k}", class.name, def.name));
        }
    }
    queries.extend(schema.classes.iter().map(|c| format!("{} *", c.name)));
    let mut segments = vec![Arc::new(seg)];
    let others = sample().segments.iter().filter(|s| s.class() != class.id);
    segments.extend(others.cloned());
    answer_all(&generation(schema.clone(), segments), &queries);
}

/// The change-file parser (`mkdb::change`): no panic; a file that parses writes back to
/// text that parses to the same changes (the writer and the reader agree).
pub fn change(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = mkdb::change::ChangeFile::parse(text, "fuzz") else {
        return;
    };
    let again = mkdb::change::ChangeFile::parse(&file.to_text(), "fuzz")
        .expect("a parsed change file writes back to valid text");
    assert_eq!(again, file, "the change file did not round-trip");
}
