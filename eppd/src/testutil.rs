//! Test support: schema validation of XML documents with xmllint (libxml2-utils).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `eppd/xsd/ietf/epp-all.xsd`: the RFC schemas (copied from the official XSDs).
pub fn rfc_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("xsd/ietf/epp-all.xsd")
}

/// `eppd/xsd/epp-coop.xsd`: the RFC schemas plus the .coop extension.
pub fn coop_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("xsd/epp-coop.xsd")
}

/// Validates every document against `schema` in one xmllint run; panics listing failures.
pub fn validate(docs: &[(String, String)], schema: &Path) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut files = Vec::new();
    for (name, xml) in docs {
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, xml).expect("write temporary file");
        files.push(path);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(&files)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.ends_with(" validates"))
        .collect();
    assert!(
        output.status.success() && failed.is_empty(),
        "schema {} rejected documents:\n{}\n\ndocuments:\n{}",
        schema.display(),
        failed.join("\n"),
        docs.iter()
            .map(|(n, x)| format!("--- {n}\n{x}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        stderr.lines().filter(|l| l.ends_with(" validates")).count(),
        docs.len()
    );
}
