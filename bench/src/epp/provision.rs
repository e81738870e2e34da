//! Registrars for a load run, provisioned the way the integration tests provision them:
//! development certificates (`eppd::certs::generate`, as `eppd gen-dev-certs` writes them)
//! and one registrar record per name in the source tree (`data/registrar/epp-load.txt`)
//! binding an argon2id password hash (`EPP-Password-Hash`) and the certificate's
//! fingerprint (`EPP-Certificate`). eppd reads registrars from the generation at start, so
//! the tree is compiled after this.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The password every provisioned registrar gets unless told otherwise.
pub const DEFAULT_PASSWORD: &str = "Load-pw-2026";

/// Registrar ids `EppLoad1` .. `EppLoadN`.
pub fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("EppLoad{i}")).collect()
}

/// A registrar record for `id` binding `password` and the certificate `fingerprint`.
pub fn registrar_record(id: &str, password: &str, fingerprint: &str) -> String {
    eppd::certs::registrar_record(
        id,
        &format!("{id} Load Registrar Ltd"),
        password,
        fingerprint,
    )
}

/// Writes certificates for `names` into `certs` and their registrar records into
/// `src/data/registrar/epp-load.txt`; returns that file.
pub fn provision(
    src: &Path,
    certs: &Path,
    names: &[String],
    password: &str,
) -> anyhow::Result<PathBuf> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fps = eppd::certs::generate(certs, &refs)
        .with_context(|| format!("writing certificates into {}", certs.display()))?;
    let text = fps
        .iter()
        .map(|(name, fp)| registrar_record(name, password, fp))
        .collect::<Vec<_>>()
        .join("---\n");
    let dir = src.join("data/registrar");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let file = dir.join("epp-load.txt");
    std::fs::write(&file, text).with_context(|| format!("{}", file.display()))?;
    Ok(file)
}
