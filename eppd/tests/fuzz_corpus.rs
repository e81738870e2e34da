//! Replays the fuzz corpus on stable Rust: every file in `fuzz/corpus/<target>/` and, when
//! present, every crash file in `fuzz/artifacts/<target>/` goes through the target's body.
//!
//! The bodies are not copies: this test compiles `fuzz/src/lib.rs`, the same file the
//! `cargo fuzz` targets call. See `fuzz/README.md` for running the fuzzer itself.

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
fn corpus_frame() {
    replay("frame", fuzz_bodies::frame);
}

#[test]
fn corpus_command() {
    replay("command", fuzz_bodies::command);
}
