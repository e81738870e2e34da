//! The TLS server (RFC 5734): rustls with TLS 1.2 and 1.3, client certificates required and
//! verified against the registry CA (`WebPkiClientVerifier`); the certificate's SHA-256
//! fingerprint must be one the registrar's record binds (`EPP-Certificate`), checked at
//! login. One thread per connection with blocking I/O: EPP sessions are few (a session
//! limit per registrar, a connection cap overall) and long-lived, every command waits for
//! the writer's group commit anyway, and the protocol state machine is sans-I/O
//! ([`crate::session`]), so this glue stays small. A read timeout is the idle timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::response::Timestamp;
use crate::session::{Session, SessionConfig, Step};
use crate::writer::{Handle, Logins};

/// Most connections at once (further ones are closed at once).
pub const MAX_CONNECTIONS: usize = 256;

/// Builds the rustls configuration: the server's chain and key, clients verified
/// against `ca`.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))? {
        roots.add(c?)?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}", cert.display()))?
        .collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}", key.display()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Accepts connections forever, a thread each.
pub fn serve(
    listener: &TcpListener,
    tls: &Arc<ServerConfig>,
    sessions: &Arc<SessionConfig>,
    logins: &Arc<Mutex<Logins>>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(AtomicU64::new(1));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (tls, sessions, logins, slot) =
            (tls.clone(), sessions.clone(), logins.clone(), open.clone());
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name(format!("epp-{id}"))
            .spawn(move || {
                let _ = connection(stream, &tls, sessions, &logins, id);
                slot.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The thread never ran (its closure, and the clone of `open`, are dropped).
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One connection: handshake, greeting, frames until logout, error or idle timeout.
fn connection(
    stream: TcpStream,
    tls: &Arc<ServerConfig>,
    sessions: Arc<SessionConfig>,
    logins: &Arc<Mutex<Logins>>,
    id: u64,
) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(sessions.idle_timeout))?;
    stream.set_write_timeout(Some(sessions.idle_timeout))?;
    stream.set_nodelay(true)?;
    let conn = ServerConnection::new(tls.clone())?;
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let fingerprint = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| crate::certs::fingerprint(c.as_ref()));
    let jobs = logins.lock().unwrap_or_else(|p| p.into_inner()).jobs();
    let mut handle = Handle {
        logins: logins.clone(),
        jobs,
        fingerprint,
    };
    let mut out = Vec::new();
    let mut session = Session::new(sessions, id, Timestamp::now(), &mut out);
    tls.write_all(&out)?;
    tls.flush()?;
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        let n = match tls.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e.into()),
        };
        out.clear();
        let mut registry = handle.clone();
        let step = session.receive(
            &buf[..n],
            Timestamp::now(),
            &mut handle,
            &mut registry,
            &mut out,
        );
        if let Err(e) = tls.write_all(&out).and_then(|()| tls.flush()) {
            break Err(e.into());
        }
        if step == Step::Close {
            tls.conn.send_close_notify();
            let _ = tls.conn.complete_io(&mut tls.sock);
            break Ok(());
        }
    };
    session.end(&mut handle);
    result
}
