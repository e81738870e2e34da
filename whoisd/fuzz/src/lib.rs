//! Bodies of the whoisd fuzz targets: one public function per target, each taking the raw
//! fuzzer input.
//!
//! `fuzz_targets/<name>.rs` calls the function of the same name under libFuzzer, and
//! `whoisd/tests/fuzz_corpus.rs` compiles this very file (`#[path]`) to replay
//! `corpus/<name>/` and `artifacts/<name>/` on stable Rust, so the fuzzer and CI run
//! identical code. Every function must return normally for any input: a panic or a hang is
//! a bug.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use mkdb::Generation;
use whoisd::auth::{Operators, hash_password};
use whoisd::register::Outcome;
use whoisd::session::{Dialect, Session, SessionConfig, Step};

/// The password of the fuzz operator `fuzz` (in the seed corpus, so that the fuzzer reaches
/// the authenticated paths: `-xfer`, `-register`, `-security off`).
pub const OPERATOR_PASSWORD: &str = "fuzz-operator-password";

/// The golden sample (`mkdb/tests/golden/sample`) compiled once per process, and the values
/// of its private attributes (which no output may show unless the input holds them).
struct Sample {
    g: Generation,
    secrets: Vec<Vec<u8>>,
    operators: Arc<Operators>,
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mkdb/tests/golden/sample");
        let src = if src.is_dir() {
            src
        } else {
            // Compiled from whoisd/tests/fuzz_corpus.rs: CARGO_MANIFEST_DIR is whoisd/.
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../mkdb/tests/golden/sample")
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let opts = mkdb::CompileOptions {
            threads: 1,
            ..Default::default()
        };
        mkdb::compile(&src, dir.path(), &opts, &|_, _| {}).expect("the sample compiles");
        // Opened generations keep their files mapped: the directory can go at once.
        let g = Generation::open(dir.path()).expect("the sample opens");
        drop(dir);
        let mut secrets = Vec::new();
        for c in &g.schema.classes {
            for &s in &g.by_class[usize::from(c.id)] {
                let seg = &g.segments[s as usize];
                for r in 0..seg.record_count() {
                    for (id, value, _) in seg.record(r).fields_raw() {
                        if c.attrs.get(usize::from(id)).is_some_and(|a| a.private) {
                            secrets.push(value.to_vec());
                        }
                    }
                }
            }
        }
        assert!(secrets.len() >= 3, "the sample has private values");
        let text = format!("fuzz:{}\n", hash_password(OPERATOR_PASSWORD));
        let operators = Arc::new(Operators::parse("fuzz-operators", &text).expect("parses"));
        Sample {
            g,
            secrets,
            operators,
        }
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn fixed_now() -> u64 {
    1_000_000_000
}

fn config(dialect: Dialect, operators: &Arc<Operators>) -> SessionConfig {
    SessionConfig {
        dialect,
        operators: Some(operators.clone()),
        xfer_max_records: 40,
        now: fixed_now,
        // -register offered: its blocks are parsed and checked against the sample; a
        // registration handed out is completed at once as recorded (no spool here).
        register: true,
        ..SessionConfig::default()
    }
}

/// Feeds `data` to a new session in fragments ending at `cuts` (then `finish` if the
/// session is still open); the output and whether (and where) it closed. Checks that a
/// closed session stays closed.
fn drive(cfg: &SessionConfig, g: &Generation, data: &[u8], cuts: &[usize]) -> (Vec<u8>, Step) {
    let mut s = Session::new(cfg);
    let mut out = Vec::new();
    s.greeting(&mut out);
    let mut step = Step::Continue;
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&data.len())) {
        let piece = &data[from..to];
        from = to;
        let before = out.len();
        let was_closed = step == Step::Close;
        step = s.feed(piece, g, &mut out);
        while let Some(sub) = s.take_registration() {
            assert!(!sub.change.key.is_empty(), "a registration without a key");
            let done = Outcome::Recorded {
                sequence: 1,
                via_eppd: false,
            };
            step = s.complete_registration(done, g, &mut out);
        }
        assert!(!s.awaiting_registration(), "a registration left out");
        if was_closed {
            assert_eq!(step, Step::Close, "a closed session reopened");
            assert_eq!(out.len(), before, "a closed session answered");
        }
        assert_eq!(s.is_closed(), step == Step::Close);
    }
    let closed_by_input = step == Step::Close;
    let before = out.len();
    let end = s.finish(g, &mut out);
    assert_eq!(end, Step::Close);
    if closed_by_input {
        assert_eq!(out.len(), before, "finish answered after close");
    }
    let before = out.len();
    assert_eq!(s.feed(b"-status\r\n", g, &mut out), Step::Close);
    assert_eq!(out.len(), before, "input after finish was answered");
    (out, step)
}

/// Cut points derived from the input (a xorshift generator seeded with its FNV hash):
/// fragments of 1 to 64 bytes, or byte by byte for one input in eight.
fn cuts(data: &[u8]) -> Vec<usize> {
    let mut x = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let bytewise = next() % 8 == 0;
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        at += if bytewise {
            1
        } else {
            1 + (next() % 64) as usize
        };
        if at >= data.len() {
            return out;
        }
        out.push(at);
    }
}

/// The query and directive parser of both dialects, fed the input whole and in fragments.
/// Invariants: no panic; the answers do not depend on how the input was fragmented; the
/// output is UTF-8; no private value of the sample appears unless the input holds it (a
/// query is echoed in "No match"); a closed session stays closed and silent.
pub fn session(data: &[u8]) {
    let s = sample();
    let split = cuts(data);
    for dialect in [Dialect::Whois, Dialect::Rwhois] {
        let cfg = config(dialect, &s.operators);
        let (whole, whole_step) = drive(&cfg, &s.g, data, &[]);
        let (pieces, pieces_step) = drive(&cfg, &s.g, data, &split);
        assert_eq!(
            whole_step, pieces_step,
            "{dialect:?}: fragmentation changed the end"
        );
        assert!(
            whole == pieces,
            "{dialect:?}: fragmentation changed the answer:\n{}\n----\n{}",
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&pieces)
        );
        assert!(
            std::str::from_utf8(&whole).is_ok(),
            "{dialect:?}: output is not UTF-8"
        );
        for secret in &s.secrets {
            if !contains(data, secret) {
                assert!(
                    !contains(&whole, secret),
                    "{dialect:?}: private value {} leaked",
                    String::from_utf8_lossy(secret)
                );
            }
        }
    }
}

/// The PROXY protocol header parser (`whoisd::proxy::parse`): never panics; a complete
/// header never claims more bytes than it was given nor more than the protocol allows; and
/// feeding the input byte by byte reaches the same outcome as feeding it whole (the server
/// parses after every read), never "complete" earlier with a different header.
pub fn proxy(data: &[u8]) {
    use whoisd::proxy::{MAX_V1_LEN, MAX_V2_LEN, Parsed, parse};
    let whole = parse(data);
    if let Ok(Parsed::Complete(_, used)) = &whole {
        assert!(*used <= data.len(), "used {used} of {} bytes", data.len());
        assert!(
            *used <= MAX_V1_LEN.max(16 + MAX_V2_LEN),
            "header of {used} bytes"
        );
    }
    // Grow the input a byte at a time, as reads might deliver it.
    for end in 0..=data.len() {
        match parse(&data[..end]) {
            Ok(Parsed::Incomplete) => continue,
            Ok(Parsed::Complete(h, used)) => {
                assert_eq!(
                    whole,
                    Ok(Parsed::Complete(h, used)),
                    "a prefix of {end} bytes completed differently"
                );
                return;
            }
            Err(e) => {
                assert!(
                    whole.is_err(),
                    "a prefix of {end} bytes failed ({e}) but the whole did not"
                );
                return;
            }
        }
    }
    assert_eq!(whole, Ok(Parsed::Incomplete));
}
