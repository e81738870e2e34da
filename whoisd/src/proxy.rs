//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2), sans I/O: a load
//! balancer in TCP mode prefixes each connection with a header naming the real client, so
//! whoisd's limits and logs see the client, not the balancer.
//!
//! [`parse`] is given the bytes received so far and says whether they hold a complete
//! header ([`Parsed::Complete`], with the number of bytes it used), need more
//! ([`Parsed::Incomplete`]), or cannot be a valid header ([`ProxyError`]) — decided as
//! early as possible, from the first byte that cannot belong to one. Headers are small and
//! bounded: a v1 header is at most 107 bytes; a v2 header is accepted up to
//! [`MAX_V2_LEN`] bytes of addresses and TLVs (TLVs are skipped).
//!
//! `LOCAL` (v2, the balancer's own health checks) and `UNKNOWN` (v1) or `UNSPEC` (v2)
//! headers carry no client: the result's `source` is `None`, and the connection's own
//! peer address stands. Whether to expect a header at all is the server's decision (only
//! from configured balancer addresses); this module only reads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 prefix.
const V1_PREFIX: &[u8] = b"PROXY ";
/// Longest v1 header, CRLF included (the specification's bound).
pub const MAX_V1_LEN: usize = 107;
/// Largest v2 payload (addresses and TLVs) accepted; the format allows 65535.
pub const MAX_V2_LEN: usize = 1024;

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The real client, or `None` for `LOCAL` / `UNKNOWN` / `UNSPEC` (keep the peer address).
    pub source: Option<SocketAddr>,
    /// The address the client connected to, when given.
    pub destination: Option<SocketAddr>,
}

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header: it and the number of bytes it took (the rest is the client's data).
    Complete(ProxyHeader, usize),
    /// A valid beginning; read more.
    Incomplete,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad PROXY protocol header: {0}")]
pub struct ProxyError(pub String);

fn bad(why: impl Into<String>) -> ProxyError {
    ProxyError(why.into())
}

/// Reads a PROXY header (v1 or v2) from the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    if buf[0] == V2_SIG[0] {
        parse_v2(buf)
    } else if buf[0] == V1_PREFIX[0] {
        parse_v1(buf)
    } else {
        Err(bad("the connection does not start with a PROXY header"))
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] != V1_PREFIX[..n] {
        return Err(bad("the connection does not start with a PROXY header"));
    }
    let Some(lf) = buf.iter().take(MAX_V1_LEN).position(|&b| b == b'\n') else {
        if buf.len() >= MAX_V1_LEN {
            return Err(bad(format!("v1 header longer than {MAX_V1_LEN} bytes")));
        }
        return Ok(Parsed::Incomplete);
    };
    let line = &buf[..lf];
    let Some(line) = line.strip_suffix(b"\r") else {
        return Err(bad("v1 header does not end in CRLF"));
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(bad("v1 header is not ASCII"));
    };
    let used = lf + 1;
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Parsed::Complete(
            ProxyHeader {
                source: None,
                destination: None,
            },
            used,
        )),
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let v6 = *proto == "TCP6";
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                let ip = if v6 {
                    s.parse::<Ipv6Addr>().map(IpAddr::V6)
                } else {
                    s.parse::<Ipv4Addr>().map(IpAddr::V4)
                };
                ip.map_err(|_| bad(format!("v1 header: {s:?} is not an {proto} address")))
            };
            let port = |s: &str| -> Result<u16, ProxyError> {
                // Decimal without sign or leading zeros, as the specification requires.
                let digits = s.bytes().all(|b| b.is_ascii_digit());
                if !digits || s.is_empty() || s.len() > 5 || (s.len() > 1 && s.starts_with('0')) {
                    return Err(bad(format!("v1 header: {s:?} is not a port")));
                }
                s.parse()
                    .map_err(|_| bad(format!("v1 header: {s:?} is not a port")))
            };
            Ok(Parsed::Complete(
                ProxyHeader {
                    source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
                    destination: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
                },
                used,
            ))
        }
        _ => Err(bad(format!("v1 header not understood: {line:?}"))),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V2_SIG.len());
    if buf[..n] != V2_SIG[..n] {
        return Err(bad("the connection does not start with a PROXY header"));
    }
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let (ver_cmd, fam, len) = (buf[12], buf[13], u16::from_be_bytes([buf[14], buf[15]]));
    if ver_cmd >> 4 != 2 {
        return Err(bad(format!("v2 header: version {} is not 2", ver_cmd >> 4)));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        c => return Err(bad(format!("v2 header: unknown command {c}"))),
    };
    let len = usize::from(len);
    if len > MAX_V2_LEN {
        return Err(bad(format!(
            "v2 header: {len} bytes of addresses and TLVs (at most {MAX_V2_LEN} accepted)"
        )));
    }
    let need = match fam >> 4 {
        0 => 0,
        1 => 12,
        2 => 36,
        3 => 216,
        f => return Err(bad(format!("v2 header: unknown address family {f}"))),
    };
    if fam & 0x0f > 2 {
        return Err(bad(format!(
            "v2 header: unknown transport protocol {}",
            fam & 0x0f
        )));
    }
    if len < need {
        return Err(bad(format!(
            "v2 header: {len} bytes cannot hold the addresses ({need} needed)"
        )));
    }
    if buf.len() < 16 + len {
        return Ok(Parsed::Incomplete);
    }
    let used = 16 + len;
    let a = &buf[16..16 + len];
    let none = ProxyHeader {
        source: None,
        destination: None,
    };
    // LOCAL: the balancer speaking for itself. UNSPEC family, or a datagram or Unix
    // socket: no TCP client to name.
    if local || fam & 0x0f != 1 || !matches!(fam >> 4, 1 | 2) {
        return Ok(Parsed::Complete(none, used));
    }
    let (source, destination) = if fam >> 4 == 1 {
        let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
        let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
        (
            SocketAddr::new(ip(0), port(8)),
            SocketAddr::new(ip(4), port(10)),
        )
    } else {
        let ip = |o: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&a[o..o + 16]);
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
        (
            SocketAddr::new(ip(0), port(32)),
            SocketAddr::new(ip(16), port(34)),
        )
    };
    Ok(Parsed::Complete(
        ProxyHeader {
            source: Some(source),
            destination: Some(destination),
        },
        used,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (ProxyHeader, usize) {
        match parse(buf) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("{other:?}"),
        }
    }

    fn v2(cmd: u8, fam: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = V2_SIG.to_vec();
        v.push(0x20 | cmd);
        v.push(fam);
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn v1_tcp4_and_tcp6() {
        let (h, n) = complete(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 43\r\ntest.coop\r\n");
        assert_eq!(h.source, Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(h.destination, Some("198.51.100.2:43".parse().unwrap()));
        assert_eq!(n, 44);
        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
        assert_eq!(h.source, Some("[2001:db8::1]:1".parse().unwrap()));
    }

    #[test]
    fn v1_unknown_keeps_the_peer() {
        let (h, n) = complete(b"PROXY UNKNOWN\r\n");
        assert_eq!((h.source, n), (None, 15));
        let (h, _) = complete(b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\nrest");
        assert_eq!(h.source, None);
    }

    #[test]
    fn v1_incomplete_then_complete_at_every_split() {
        let whole = b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 43\r\n";
        for i in 0..whole.len() {
            assert_eq!(parse(&whole[..i]), Ok(Parsed::Incomplete), "at {i}");
        }
        assert!(matches!(parse(whole), Ok(Parsed::Complete(..))));
    }

    #[test]
    fn v1_refusals() {
        for bad in [
            &b"test.coop\r\n"[..],
            b"PROXZ",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 4000 43\n",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 4000\r\n",
            b"PROXY TCP4 ::1 10.0.0.1 4000 43\r\n",
            b"PROXY TCP6 10.1.2.3 ::1 4000 43\r\n",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 65536 43\r\n",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 0400 43\r\n",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 +400 43\r\n",
            b"PROXY TCP4  10.1.2.3 10.0.0.1 400 43\r\n",
            b"PROXY UDP4 10.1.2.3 10.0.0.1 400 43\r\n",
            b"PROXY TCP4 10.1.2.3 10.0.0.1 400 43 extra\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 200]].concat();
        assert!(parse(&long).is_err());
    }

    #[test]
    fn v2_inet_inet6_local_unspec() {
        let mut p = vec![192, 0, 2, 1, 198, 51, 100, 2];
        p.extend_from_slice(&56324u16.to_be_bytes());
        p.extend_from_slice(&43u16.to_be_bytes());
        let msg = [v2(1, 0x11, &p), b"test.coop\r\n".to_vec()].concat();
        let (h, n) = complete(&msg);
        assert_eq!(h.source, Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(h.destination, Some("198.51.100.2:43".parse().unwrap()));
        assert_eq!(n, 28);

        let mut p6 = Vec::new();
        p6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        p6.extend_from_slice(&"2001:db8::43".parse::<Ipv6Addr>().unwrap().octets());
        p6.extend_from_slice(&7u16.to_be_bytes());
        p6.extend_from_slice(&43u16.to_be_bytes());
        p6.extend_from_slice(&[0x04, 0, 1, 0xaa]); // a TLV, skipped
        let (h, n) = complete(&v2(1, 0x21, &p6));
        assert_eq!(h.source, Some("[2001:db8::7]:7".parse().unwrap()));
        assert_eq!(n, 16 + 40);

        // LOCAL (health checks) and UNSPEC carry no client.
        assert_eq!(complete(&v2(0, 0x00, &[])).0.source, None);
        assert_eq!(complete(&v2(0, 0x11, &p)).0.source, None);
        assert_eq!(complete(&v2(1, 0x00, &[])).0.source, None);
        // UDP over IPv4: not a TCP client.
        assert_eq!(complete(&v2(1, 0x12, &p)).0.source, None);
    }

    #[test]
    fn v2_incomplete_at_every_split() {
        let p = [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 43];
        let whole = v2(1, 0x11, &p);
        for i in 0..whole.len() {
            assert_eq!(parse(&whole[..i]), Ok(Parsed::Incomplete), "at {i}");
        }
    }

    #[test]
    fn v2_refusals() {
        let p = [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 43];
        let mut wrong_version = v2(1, 0x11, &p);
        wrong_version[12] = 0x11;
        let mut wrong_cmd = v2(1, 0x11, &p);
        wrong_cmd[12] = 0x22;
        let mut wrong_family = v2(1, 0x11, &p);
        wrong_family[13] = 0x41;
        let mut wrong_transport = v2(1, 0x11, &p);
        wrong_transport[13] = 0x13;
        let short = v2(1, 0x21, &p); // IPv6 needs 36 bytes
        let mut huge = V2_SIG.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        let mut bad_sig = V2_SIG.to_vec();
        bad_sig[5] = b'X';
        for b in [
            wrong_version,
            wrong_cmd,
            wrong_family,
            wrong_transport,
            short,
            huge,
            bad_sig,
        ] {
            assert!(parse(&b).is_err(), "{b:?}");
        }
    }
}
