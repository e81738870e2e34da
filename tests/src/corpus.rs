//! Replaying a cargo-fuzz corpus on stable Rust, shared by the crates that have fuzz targets.
//!
//! Included by path (`#[path = ".../tests/src/corpus.rs"] mod corpus;`) from each crate's
//! `tests/fuzz_corpus.rs`, since those crates cannot depend on this one (it depends on them).
//! Only the standard library is used.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Files of `dir`, sorted; none when the directory does not exist.
pub fn files(dir: &Path) -> Vec<PathBuf> {
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

/// Runs `body` over the seed corpus and the crash artifacts of `target` under the cargo-fuzz
/// directory `root`, reporting every input that panics (not just the first).
pub fn replay(root: &Path, target: &str, body: fn(&[u8])) {
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
