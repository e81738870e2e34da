//! Replays the fuzz corpora on stable Rust: every file in `fuzz/corpus/<target>/` and, when
//! present, every crash file in `fuzz/artifacts/<target>/` goes through the target's body.
//!
//! The bodies are not copies: this test compiles `fuzz/src/lib.rs`, the same file the
//! `cargo fuzz` targets call, so CI checks exactly what the fuzzer ran. See
//! `fuzz/README.md` for running the fuzzer itself (it needs libFuzzer and `-Z` flags).

use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
mod fuzz_bodies;

#[path = "../../tests/src/corpus.rs"]
mod corpus;

fn replay(target: &str, body: fn(&[u8])) {
    corpus::replay(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz"),
        target,
        body,
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

#[test]
fn corpus_change() {
    replay("change", fuzz_bodies::change);
}
