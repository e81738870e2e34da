//! Criterion benchmarks of the MKDB store on a synthetic registry (1,000,000 domains by
//! default; `MKDB_BENCH_DOMAINS=100000` for a quicker run). The database is generated and
//! compiled once into `target/bench-data/`.
//!
//! Each group has a baseline measured in the same run, so results read as ratios:
//! - `lookup/baseline_hashmap_copy`: a `HashMap<String, (offset, len)>` lookup plus a copy of
//!   the record's raw text: the floor for "find a record and write its bytes".
//! - `lookup/exact_render_domain`: query parse, exact lookup and full whois rendering of a
//!   domain record with its four contacts and name servers joined, over 4,096 names spread
//!   evenly through the database (each answer touches records far apart: memory-bound).
//! - `lookup/exact_render_domain_hot`: the same for one name repeated (caches warm): the
//!   CPU cost alone.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mkdb::render::{AnswerOptions, render_answer, render_record};

fn lookups(c: &mut Criterion) {
    let (_, db) = bench::bench_database(bench::bench_domains());
    let g = mkdb::Generation::open(&db).expect("open");
    let names = bench::sample_domain_names(&g, 4096);
    let domain = g.schema.class("domain").unwrap();

    // Baseline: a hash map from name to the record's raw text range.
    let mut map: HashMap<String, (u32, u32, u32)> = HashMap::new();
    for n in &names {
        let r = g.find(domain.id, n).unwrap();
        let text = g.record(r).text();
        map.insert(n.to_ascii_lowercase(), (r.seg, r.rec, text.len() as u32));
    }
    let mut grp = c.benchmark_group("lookup");
    grp.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut out = Vec::with_capacity(8192);
    grp.bench_function("baseline_hashmap_copy", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            let (seg, rec, _) = map[&names[i]];
            let text = g.record(mkdb::RecordRef { seg, rec }).text();
            out.clear();
            out.extend_from_slice(text.as_bytes());
            black_box(out.len())
        })
    });
    grp.bench_function("exact_lookup_only", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(g.find(domain.id, &names[i]))
        })
    });
    grp.bench_function("exact_render_domain", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            let q = mkdb::query::parse(&g.schema, &names[i]).unwrap();
            let hits = g.execute(&q, 20).unwrap();
            out.clear();
            render_record(&g, hits.records[0], &mut out);
            black_box(out.len())
        })
    });
    // The same record every time: caches warm, the CPU cost of lookup and rendering alone.
    grp.bench_function("exact_render_domain_hot", |b| {
        b.iter(|| {
            let q = mkdb::query::parse(&g.schema, &names[7]).unwrap();
            let hits = g.execute(&q, 20).unwrap();
            out.clear();
            render_record(&g, hits.records[0], &mut out);
            black_box(out.len())
        })
    });
    grp.bench_function("full_answer_domain", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            out.clear();
            let _ = render_answer(&g, &names[i], AnswerOptions::default(), &mut out);
            black_box(out.len())
        })
    });
    grp.finish();

    let mut grp = c.benchmark_group("search");
    let prefixes: Vec<String> = names
        .iter()
        .map(|n| format!("{}*", &n[..n.len().min(4)]))
        .collect();
    let suffixes: Vec<String> = names
        .iter()
        .map(|n| format!("*{}", &n[n.len().saturating_sub(9)..]))
        .collect();
    let mut j = 0usize;
    for (label, qs) in [("prefix_limit20", &prefixes), ("suffix_limit20", &suffixes)] {
        grp.bench_function(label, |b| {
            b.iter(|| {
                j = (j + 1) % qs.len();
                let q = mkdb::query::parse(&g.schema, &qs[j]).unwrap();
                black_box(g.execute(&q, 20).unwrap().records.len())
            })
        });
    }
    grp.sample_size(10);
    grp.bench_function("infix_scan_limit20", |b| {
        b.iter(|| {
            let q = mkdb::query::parse(&g.schema, "*zzq*").unwrap();
            black_box(g.execute(&q, 20).unwrap().records.len())
        })
    });
    grp.bench_function("boolean_and", |b| {
        b.iter(|| {
            j = (j + 1) % names.len();
            let q = mkdb::query::parse(&g.schema, &format!("{} and {}", prefixes[j], names[j]))
                .unwrap();
            black_box(g.execute(&q, 20).unwrap().records.len())
        })
    });
    grp.finish();

    let mut grp = c.benchmark_group("open");
    grp.sample_size(10);
    grp.bench_function("generation_full_verify", |b| {
        b.iter(|| black_box(mkdb::Generation::open(&db).unwrap().number))
    });
    grp.finish();
}

fn parsing(c: &mut Criterion) {
    let (src, _) = bench::bench_database(bench::bench_domains());
    let file = src.join("data/domain/domain-0000.txt");
    let text = std::fs::read_to_string(&file).expect("domain file");
    let schema = mkdb::Schema::shipped();
    let class = schema.class("domain").unwrap();
    let mut grp = c.benchmark_group("parse");
    grp.throughput(Throughput::Bytes(text.len() as u64));
    grp.sample_size(10);
    grp.bench_function("records_validate_domain_file", |b| {
        b.iter(|| {
            let mut fields = Vec::new();
            let mut problems = Vec::new();
            let mut n = 0usize;
            mkdb::record::for_each_record(&text, |r| {
                class.validate(r, &mut fields, &mut problems);
                n += fields.len();
                Ok::<(), mkdb::record::SyntaxError>(())
            })
            .unwrap();
            black_box(n)
        })
    });
    grp.bench_function("index_build_domain_file", |b| {
        b.iter(|| {
            let mut fields = Vec::new();
            let mut problems = Vec::new();
            let mut builder =
                mkdb::segment::SegmentBuilder::new(class, schema.class_fingerprint(class.id));
            mkdb::record::for_each_record(&text, |r| {
                class.validate(r, &mut fields, &mut problems);
                builder
                    .add(r, &fields)
                    .map_err(|e| mkdb::record::SyntaxError {
                        line: e.line,
                        problem: e.problem,
                    })
            })
            .unwrap();
            black_box(builder.finish(text.as_bytes()).unwrap().len())
        })
    });
    grp.finish();
}

criterion_group!(benches, lookups, parsing);
criterion_main!(benches);
