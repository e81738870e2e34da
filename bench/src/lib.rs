//! Benchmarks and load generators. The criterion benchmarks are in `bench/benches/`;
//! helpers shared between them live here; [`load`] is the `whois-load` load generator,
//! [`epp`] the `epp-load` one.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod epp;
pub mod load;
pub mod visibility;

use std::path::{Path, PathBuf};

/// Number of domains of the benchmark database: `MKDB_BENCH_DOMAINS`, default 1,000,000.
pub fn bench_domains() -> u64 {
    std::env::var("MKDB_BENCH_DOMAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A compiled database of `domains` synthetic domains (seeded, so always the same), built
/// once under `target/bench-data/` and reused by later runs. Returns (source tree, db).
pub fn bench_database(domains: u64) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(format!("{domains}"));
    let src = root.join("src");
    let db = root.join("db");
    if mkdb::Generation::open(&db).is_ok() {
        return (src, db);
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "bench: generating and compiling {domains} domains in {} (once)",
        root.display()
    );
    let opts = mkdb::synth::GenOptions {
        domains,
        ..Default::default()
    };
    mkdb::synth::generate(&src, &opts, &mut |_| {}).expect("generate bench data");
    mkdb::compile(&src, &db, &mkdb::CompileOptions::default(), &|_, _| {})
        .expect("compile bench data");
    (src, db)
}

/// Domain names of the database, sampled evenly (`n` of them), for lookups.
pub fn sample_domain_names(g: &mkdb::Generation, n: usize) -> Vec<String> {
    let class = g.schema.class("domain").expect("domain class");
    let total = g.record_count(class.id) as usize;
    let step = (total / n.max(1)).max(1);
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    for &s in &g.by_class[usize::from(class.id)] {
        let seg = &g.segments[s as usize];
        for rec in 0..seg.record_count() {
            if i % step == 0
                && out.len() < n
                && let Some(name) = seg.record(rec).first(class.primary_key)
            {
                out.push(name.to_string());
            }
            i += 1;
        }
    }
    out
}
