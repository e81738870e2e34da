//! The HTTP server of `rdapd`: hyper HTTP/1.1 connections (keep-alive) on tokio, an axum
//! router in front of the sans-I/O [`Service`], and the bounds that keep a client from
//! holding resources:
//!
//! - request heads at most [`MAX_HEAD`] bytes (hyper answers 431 beyond), targets at most
//!   [`super::MAX_TARGET`], bodies at most [`MAX_BODY`] (413);
//! - a head must arrive within the idle timeout, which also closes idle keep-alive
//!   connections; a whole request is answered within the request timeout (408);
//! - at most `max_connections` open connections (more are closed at once), and the abuse
//!   policy's connections per source, deny list, rate and contact budget ([`Limiter`]);
//! - GET and HEAD only (405 otherwise; OPTIONS preflights are answered for CORS), and
//!   `Access-Control-Allow-Origin: *` on every answer (RFC 7480 section 5.6).
//!
//! `Authorization: Basic` with an operator's name and password (the `--operators` file of
//! whoisd) makes the asker [`Audience::Authenticated`]; wrong credentials get 401.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::redaction::Audience;
use super::{Reply, Request, Service};
use crate::auth::Operators;
use crate::limits::{Limiter, Verdict};

/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body, in bytes (GET and HEAD carry none).
pub const MAX_BODY: usize = 1024;

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Close a connection whose next request head does not arrive within this time.
    pub idle_timeout: Duration,
    /// Answer 408 when a request takes longer.
    pub request_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// On shutdown, how long open connections may take to finish.
    pub shutdown_grace: Duration,
    /// Operators who may authenticate (HTTP Basic).
    pub operators: Option<Arc<Operators>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
            operators: None,
        }
    }
}

/// What the accept loop learnt about a connection, handed to each of its requests.
#[derive(Debug, Clone)]
struct Conn {
    client: IpAddr,
    /// Refused by the connection limits: (reason, retry seconds).
    refused: Option<(String, u64)>,
}

#[derive(Debug, Clone)]
struct AppState {
    svc: Arc<Service>,
    operators: Option<Arc<Operators>>,
}

/// The router: every path goes to [`Service`] (`/` is the web page, the rest RDAP), with
/// timeouts, a body limit and CORS.
pub fn router(svc: Arc<Service>, cfg: &HttpConfig) -> Router {
    let state = AppState {
        svc,
        operators: cfg.operators.clone(),
    };
    Router::new()
        .fallback(handle)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
                .allow_headers(Any)
                .expose_headers([header::RETRY_AFTER]),
        )
}

async fn handle(State(st): State<AppState>, req: HttpRequest) -> Response {
    let conn = req.extensions().get::<Conn>().cloned().unwrap_or(Conn {
        client: IpAddr::from([0, 0, 0, 0]),
        refused: None,
    });
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let audience = match authenticate(&st, headers.get(header::AUTHORIZATION)) {
        Ok(a) => a,
        Err(()) => {
            let mut r = plain(
                StatusCode::UNAUTHORIZED,
                "wrong operator name or password\n",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"rdap\", charset=\"UTF-8\""),
            );
            return r;
        }
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return r;
    }
    let request = Request {
        path: uri.path(),
        query: uri.query(),
        client: conn.client,
        host: host.as_deref(),
        audience,
    };
    let reply = match &conn.refused {
        Some((reason, retry)) => st.svc.refuse(&request, reason, *retry),
        None if uri.path() == "/" => st.svc.web(&request),
        None => st.svc.rdap(&request),
    };
    into_response(reply)
}

fn authenticate(st: &AppState, value: Option<&HeaderValue>) -> Result<Audience, ()> {
    let Some(v) = value else {
        return Ok(Audience::Public);
    };
    let ops = st.operators.as_ref().ok_or(())?;
    let v = v.to_str().map_err(|_| ())?;
    let (scheme, b64) = v.split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("basic") || b64.len() > 1024 {
        return Err(());
    }
    let decoded = base64_decode(b64.trim()).ok_or(())?;
    let text = String::from_utf8(decoded).map_err(|_| ())?;
    let (name, password) = text.split_once(':').ok_or(())?;
    if ops.verify(name, password) {
        Ok(Audience::Authenticated)
    } else {
        Err(())
    }
}

/// Decodes standard base64 (with or without padding); `None` when malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn into_response(reply: Reply) -> Response {
    let mut r = Response::new(Body::from(reply.body));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(s) = reply.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Serves `listener` until `stop` turns true, then lets open connections finish for the
/// shutdown grace.
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    limiter: Option<Arc<Limiter>>,
    cfg: HttpConfig,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little.
                    crate::log(&format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let client = canonical(peer.ip());
        let mut refused = None;
        let mut counted = false;
        if let Some(l) = &limiter {
            match l.connect(client) {
                Verdict::Allow => {
                    l.connected(client);
                    counted = true;
                }
                Verdict::Limit {
                    reason,
                    retry_after,
                } => {
                    refused = Some((
                        reason,
                        retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
                    ));
                }
            }
        }
        let conn = Conn { client, refused };
        let svc = router.clone().map_request(move |mut req: HttpRequest<_>| {
            req.extensions_mut().insert(conn.clone());
            req
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(cfg.idle_timeout)
            .max_buf_size(MAX_HEAD)
            .keep_alive(true);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let connection = graceful.watch(connection);
        let limiter = limiter.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            if counted && let Some(l) = limiter {
                l.disconnect(client);
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(cfg.shutdown_grace) => {
            crate::log("shutdown grace over; closing the remaining connections");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("b3A6c2VjcmV0").unwrap(), b"op:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("a$b").is_none());
    }

    #[test]
    fn mapped_ipv4_is_canonical() {
        let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical(ip), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
