//! Fixtures shared by the unit tests.

use std::path::Path;
use std::sync::OnceLock;

use mkdb::Generation;

/// The golden sample database of `mkdb` (`mkdb/tests/golden/sample`), compiled once for
/// all tests of this crate.
pub fn golden_db() -> &'static Generation {
    static DB: OnceLock<(tempfile::TempDir, Generation)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mkdb/tests/golden/sample");
        let opts = mkdb::CompileOptions {
            threads: 2,
            ..Default::default()
        };
        mkdb::compile(&src, dir.path(), &opts, &|_, _| {}).expect("sample compiles");
        let g = Generation::open(dir.path()).expect("opens");
        (dir, g)
    })
    .1
}
