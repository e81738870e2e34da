//! Bodies of the eppd fuzz targets, shared with the stable corpus replay
//! (`eppd/tests/fuzz_corpus.rs` compiles this file by path). See `../README.md`.

use std::sync::Arc;

use eppd::command::Command;
use eppd::frame::{FrameDecoder, encode};
use eppd::response::{Reply, Timestamp};
use eppd::result::ResultCode;
use eppd::session::{Client, LoginCheck, Registrars, Registry, Session, SessionConfig, Step};
use eppd::xml::parse_request;
use eppd::xml::tree::parse_document;

/// Fragment sizes derived from the input (1 to 64 bytes, or byte by byte for one input in
/// eight), so a corpus entry always splits the same way.
fn chunks(data: &[u8]) -> Vec<usize> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    if h.is_multiple_of(8) {
        return vec![1; data.len()];
    }
    let mut out = Vec::new();
    let mut left = data.len();
    while left > 0 {
        h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let n = ((h >> 33) % 64 + 1) as usize;
        out.push(n.min(left));
        left -= n.min(left);
    }
    out
}

/// Frame decoder: fragmentation never changes the frames or the error; every frame
/// re-encodes to the bytes it came from; nothing exceeds the cap.
pub fn frame(data: &[u8]) {
    const MAX: usize = 256;
    let whole = FrameDecoder::new(MAX).feed(data);
    let mut d = FrameDecoder::new(MAX);
    let mut frames = Vec::new();
    let mut error = None;
    let mut pos = 0;
    for n in chunks(data) {
        match d.feed(&data[pos..pos + n]) {
            Ok(f) => frames.extend(f),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        pos += n;
    }
    match whole {
        Ok(w) => {
            assert!(error.is_none());
            assert_eq!(w, frames);
            let mut re = Vec::new();
            for f in &w {
                assert!(f.len() + 4 <= MAX);
                re.extend(encode(f));
            }
            assert_eq!(&data[..re.len()], &re[..]);
        }
        Err(e) => {
            // Frames before the bad header may or may not have been returned by the
            // chunked decoder before the error; the error itself is the same.
            assert_eq!(error, Some(e));
        }
    }
}

/// Accepts `ClientX` with password `fuzz-pass1`; no hashing (speed).
struct FuzzRegistrars;

impl Registrars for FuzzRegistrars {
    fn check_login(&mut self, cl_id: &str, pw: &str) -> LoginCheck {
        if cl_id == "ClientX" && pw == "fuzz-pass1" {
            LoginCheck::Ok
        } else {
            LoginCheck::BadCredentials
        }
    }
    fn change_password(&mut self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn session_closed(&mut self, _: &str) {}
}

/// Answers every command with 1000.
struct FuzzRegistry;

impl Registry for FuzzRegistry {
    fn execute(&mut self, _: &Client<'_>, _: &Command, _: Timestamp) -> Reply {
        Reply::new(ResultCode::Success)
    }
}

const LOGIN: &str = r#"<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><login><clID>ClientX</clID><pw>fuzz-pass1</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI><objURI>urn:ietf:params:xml:ns:host-1.0</objURI><svcExtension><extURI>http://www.nic.coop/contactCoopExt-1.0</extURI></svcExtension></svcs></login></command></epp>"#;

/// Command parser and session: the input is one frame's payload. Parsing never panics and
/// refuses only with 2xxx codes; a logged-in session answers it with exactly one
/// well-formed response (or greeting) whose clTRID, if any, is well-formed text.
pub fn command(data: &[u8]) {
    if let Err(f) = parse_request(data) {
        assert!(!f.error.code.is_success());
    }
    let mut out = Vec::new();
    let mut session = Session::new(
        Arc::new(SessionConfig::default()),
        1,
        Timestamp(0),
        &mut out,
    );
    let (mut regs, mut core) = (FuzzRegistrars, FuzzRegistry);
    let step = session.receive(
        &encode(LOGIN.as_bytes()),
        Timestamp(0),
        &mut regs,
        &mut core,
        &mut out,
    );
    assert_eq!(step, Step::Continue);
    out.clear();
    let _ = session.receive(&encode(data), Timestamp(0), &mut regs, &mut core, &mut out);
    let answers = FrameDecoder::new(1 << 24)
        .feed(&out)
        .expect("answers are framed");
    assert_eq!(answers.len(), 1, "one answer per frame");
    let root = parse_document(&answers[0]).expect("answers are well-formed XML");
    assert_eq!(root.name, "epp");
}
