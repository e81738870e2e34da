//! `epp-load`, the load generator of the EPP server, as a library; the command
//! (`src/bin/epp-load.rs`) only parses arguments and prints. The integration tests use the
//! same pieces (`tests/tests/epp_crash.rs`).
//!
//! - this module: [`Client`], a small blocking EPP-over-TLS client (rustls with a client
//!   certificate, RFC 5734 framing: a 4-byte big-endian length that includes itself, the
//!   greeting, then one request and one response at a time) and [`result_code`];
//! - [`xml`]: the requests it sends (login, contacts, domain create/info/update/renew/
//!   transfer, hello, logout);
//! - [`provision`]: development certificates and the registrar records that bind them
//!   (what `eppd` reads at start to log registrars in);
//! - [`run`]: N registrar sessions (a thread each) running a mix of commands, with the
//!   `<hello/>` baseline of the same sessions, and [`run::verify`] for crash tests.
//!
//! Statistics reuse the whois generator's conventions ([`crate::load::stats`]): an HDR
//! histogram in microseconds, 3 significant digits, percentiles p50/p90/p99/p99.9.

pub mod provision;
pub mod run;
pub mod xml;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Largest response frame accepted (header included).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// A rustls client configuration: the registry CA as the only root, and the registrar's
/// certificate chain and key for client authentication.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))? {
        roots.add(c.with_context(|| format!("{}", ca.display()))?)?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}", key.display()))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// The four-digit code of the first `<result code="NNNN">` of a response.
pub fn result_code(xml: &str) -> Option<u16> {
    let i = xml.find("<result code=\"")? + "<result code=\"".len();
    xml.get(i..i + 4)?.parse().ok()
}

/// The text of the first `<TAG>...</TAG>` element (`TAG` with its prefix, e.g.
/// `domain:exDate`).
pub fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find('<')?;
    Some(&xml[i..i + j])
}

/// One EPP session over TLS, blocking, with timeouts on every read and write.
#[derive(Debug)]
pub struct Client {
    tls: StreamOwned<ClientConnection, TcpStream>,
    frame: Vec<u8>,
    trid: u64,
    prefix: String,
}

impl Client {
    /// Connects, completes the TLS handshake (server name `localhost`, as the development
    /// certificates have it) and reads the greeting, which is returned.
    pub fn connect(
        addr: SocketAddr,
        tls: &Arc<ClientConfig>,
        timeout: Duration,
        trid_prefix: &str,
    ) -> io::Result<(Client, String)> {
        let sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        sock.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let conn = ClientConnection::new(tls.clone(), name).map_err(io::Error::other)?;
        let mut client = Client {
            tls: StreamOwned::new(conn, sock),
            frame: Vec::with_capacity(16 * 1024),
            trid: 0,
            prefix: trid_prefix.to_string(),
        };
        let greeting = client.read_frame()?;
        if !greeting.contains("<greeting>") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected a greeting, got {greeting:.200}"),
            ));
        }
        Ok((client, greeting))
    }

    /// A fresh client transaction id (`PREFIX-N`).
    pub fn next_trid(&mut self) -> String {
        self.trid += 1;
        format!("{}-{}", self.prefix, self.trid)
    }

    /// Sends one frame (the XML document) and reads the next frame.
    pub fn request(&mut self, xml: &str) -> io::Result<String> {
        self.send(xml)?;
        self.read_frame()
    }

    /// Sends one frame.
    pub fn send(&mut self, xml: &str) -> io::Result<()> {
        let len = u32::try_from(xml.len() + 4)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "request too large"))?;
        self.frame.clear();
        self.frame.extend_from_slice(&len.to_be_bytes());
        self.frame.extend_from_slice(xml.as_bytes());
        self.tls.write_all(&self.frame)?;
        self.tls.flush()
    }

    /// Reads one frame and returns its XML.
    pub fn read_frame(&mut self) -> io::Result<String> {
        let mut header = [0u8; 4];
        self.tls.read_exact(&mut header)?;
        let len = u32::from_be_bytes(header) as usize;
        if !(4..=MAX_FRAME).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame length {len} out of bounds"),
            ));
        }
        let mut body = vec![0u8; len - 4];
        self.tls.read_exact(&mut body)?;
        String::from_utf8(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Sends a command built by `build(trid)` and returns the response and its result code
    /// (an I/O error when the response has none).
    pub fn command(&mut self, build: impl FnOnce(&str) -> String) -> io::Result<(u16, String)> {
        let trid = self.next_trid();
        let answer = self.request(&build(&trid))?;
        match result_code(&answer) {
            Some(code) => Ok((code, answer)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no result code in {answer:.200}"),
            )),
        }
    }

    /// Logs in with every object service and the .coop extension; returns the result code.
    pub fn login(&mut self, cl_id: &str, pw: &str) -> io::Result<u16> {
        self.command(|t| xml::login(cl_id, pw, t)).map(|(c, _)| c)
    }

    /// Logs out (1500) and closes the TLS session.
    pub fn logout(mut self) -> io::Result<u16> {
        let (code, _) = self.command(xml::logout)?;
        self.tls.conn.send_close_notify();
        let _ = self.tls.conn.complete_io(&mut self.tls.sock);
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_and_elements() {
        let r = r#"<epp><response><result code="1001"><msg>x</msg></result><resData><domain:creData><domain:exDate>2027-11-23T07:00:00.0Z</domain:exDate></domain:creData></resData></response></epp>"#;
        assert_eq!(result_code(r), Some(1001));
        assert_eq!(result_code("<result code=\"10"), None);
        assert_eq!(result_code("nothing"), None);
        assert_eq!(element(r, "domain:exDate"), Some("2027-11-23T07:00:00.0Z"));
        assert_eq!(element(r, "domain:name"), None);
    }
}
