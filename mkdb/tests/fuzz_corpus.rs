//! Replays the fuzz corpora on stable Rust: every file in `fuzz/corpus/<target>/` and, when
//! present, every crash file in `fuzz/artifacts/<target>/` goes through the target's body.
//!
//! The bodies are not copies: this test compiles `fuzz/src/lib.rs`, the same file the
//! `cargo fuzz` targets call, so CI checks exactly what the fuzzer ran. See
//! `fuzz/README.md` for running the fuzzer itself (it needs libFuzzer and `-Z` flags).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod fuzz_bodies;

/// Files of `dir`, sorted; none when the directory does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `body` over the seed corpus and the crash artifacts of `target`, reporting every
/// input that panics (not just the first).
fn replay(target: &str, body: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&root.join("corpus").join(target));
    assert!(
        seeds.len() >= 3,
        "fuzz/corpus/{target}/ should hold a seed corpus, found {} files",
        seeds.len()
    );
    let artifacts = files(&root.join("artifacts").join(target));
    let mut failures = Vec::new();
    for path in seeds.iter().chain(&artifacts) {
        let input = std::fs::read(path).expect("readable corpus file");
        if catch_unwind(AssertUnwindSafe(|| body(&input))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked (messages above):\n{}",
        failures.len(),
        seeds.len() + artifacts.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_record() {
    replay("record", fuzz_bodies::record);
}

#[test]
fn corpus_schema() {
    replay("schema", fuzz_bodies::schema);
}

#[test]
fn corpus_validate() {
    replay("validate", fuzz_bodies::validate);
}

#[test]
fn corpus_query() {
    replay("query", fuzz_bodies::query);
}

#[test]
fn corpus_manifest() {
    replay("manifest", fuzz_bodies::manifest);
}

#[test]
fn corpus_segment() {
    replay("segment", fuzz_bodies::segment);
}
