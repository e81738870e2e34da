//! Development certificates (rcgen): a registry CA, a server certificate for `localhost`
//! and client certificates for registrars, written as PEM files, with the SHA-256
//! fingerprints a registrar record binds (`EPP-Certificate`). For tests and the demo only.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// SHA-256 of a DER certificate, lower-case hex (the `EPP-Certificate` value).
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A registrar record (MKDB text, without the `---` separator) for `id` named `name`,
/// binding `password` (stored as an argon2id hash, `EPP-Password-Hash`) and the
/// certificate `fingerprint` (`EPP-Certificate`): how the operator provisions a registrar
/// for EPP. Tests, the demo and the load generator use it with development certificates.
pub fn registrar_record(id: &str, name: &str, password: &str, fingerprint: &str) -> String {
    format!(
        "Registrar-ID: {id}\nRegistrar-Name: {name}\nRegistrar-Status: ok\n\
         City: Manchester\nCountry-Code: GB\nEmail: epp@{id}.example\n\
         EPP-Password-Hash: {}\nEPP-Certificate: {fingerprint}\n\
         Created-Date: 2026-01-01T00:00:00Z\n",
        crate::auth::hash_password(password)
    )
}

/// Writes `ca.pem`, `ca.key`, `server.pem`, `server.key` and, for each name in `clients`,
/// `NAME.pem` and `NAME.key` into `dir`; returns (name, fingerprint) per client.
pub fn generate(dir: &Path, clients: &[&str]) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eppd development CA");
    let ca = ca_params.self_signed(&ca_key)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("ca.key"), ca_key.serialize_pem())?;
    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    let server = sp.signed_by(&server_key, &ca, &ca_key)?;
    std::fs::write(dir.join("server.pem"), server.pem())?;
    std::fs::write(dir.join("server.key"), server_key.serialize_pem())?;
    let mut out = Vec::new();
    for name in clients {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name.push(DnType::CommonName, *name);
        let cert = p.signed_by(&key, &ca, &ca_key)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
        out.push((name.to_string(), fingerprint(cert.der())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_files_and_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let fps = super::generate(dir.path(), &["ClientX"]).unwrap();
        assert_eq!(fps[0].1.len(), 64);
        for f in [
            "ca.pem",
            "server.pem",
            "server.key",
            "ClientX.pem",
            "ClientX.key",
        ] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
    }
}
