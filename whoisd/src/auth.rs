//! Operator authentication for `-security on request password <name> <password>`: the
//! operators file ([`Operators`]), password hashing ([`hash_password`]) and verification
//! ([`Operators::verify`]). What an authenticated operator may do is decided in
//! [`crate::session`]; nothing here touches the network or logs anything.
//!
//! The operators file is text, one operator per line:
//!
//! ```text
//! # whoisd operators: name:argon2id PHC string (make one with hash_password)
//! alice:$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0$...
//! ```
//!
//! `#` starts a comment line, blank lines are ignored, a line is split at its first `:`.
//! Names are 1 to 64 characters of letters, digits, `.`, `_` and `-`. Hashes must be argon2id
//! (version 19) PHC strings whose cost stays within [`MAX_M_COST_KIB`], [`MAX_T_COST`] and
//! [`MAX_P_COST`], because verification runs on a server event loop: a hash that took a
//! second to check would stall every client of that loop. A bad line is an error naming
//! `file:line`; the offending hash is never printed.
//!
//! Parameters of new hashes ([`M_COST_KIB`], [`T_COST`], [`P_COST`]): argon2id with 4 MiB of
//! memory, 1 pass and 1 lane. One verification takes about 2 ms on one core of a small idle
//! VM and 5 ms with both cores busy compiling (optimised code; `tests::verification_is_cheap`
//! prints it). That is well below OWASP's suggestion (19 MiB, 2 passes, about 40 ms here)
//! on purpose: the check runs on a server event loop, where 40 ms would stall every client
//! of that loop on each attempt. Guessing stays slow regardless, since a wrong password
//! closes the connection (one guess per TCP connection), and a leaked operators file still
//! costs an attacker 4 MiB of memory per guess; operator passwords are to be long random
//! strings (16 or more random characters), not words, which makes offline guessing
//! hopeless at any of these costs.
//!
//! Unoptimised, argon2 is about a hundred times slower: the workspace's dev profile
//! optimises the `argon2` and `blake2` crates so tests and debug builds stay fast.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost of new hashes, in KiB (4 MiB).
pub const M_COST_KIB: u32 = 4 * 1024;
/// Passes over the memory of new hashes.
pub const T_COST: u32 = 1;
/// Lanes of new hashes.
pub const P_COST: u32 = 1;

/// Highest memory cost accepted in the operators file, in KiB (64 MiB).
pub const MAX_M_COST_KIB: u32 = 64 * 1024;
/// Highest number of passes accepted in the operators file.
pub const MAX_T_COST: u32 = 8;
/// Highest number of lanes accepted in the operators file.
pub const MAX_P_COST: u32 = 4;

/// Longest operator name.
const MAX_NAME: usize = 64;

/// A bad operators file: `file:line: problem` (line 0 when the file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorsError {
    /// The file (or the name given to [`Operators::parse`]).
    pub file: PathBuf,
    /// 1-based line, 0 for the whole file.
    pub line: u32,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for OperatorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.problem)
        }
    }
}

impl std::error::Error for OperatorsError {}

/// The operators allowed to authenticate, with their password hashes.
pub struct Operators {
    /// Name to argon2id PHC string.
    hashes: HashMap<String, String>,
    /// Checked for unknown names so that they cost as much as known ones; its password is
    /// random and thrown away, and a match never counts anyway.
    dummy: String,
}

impl fmt::Debug for Operators {
    /// Names only: hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.hashes.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Operators").field("names", &names).finish()
    }
}

/// The argon2id hasher with `params`.
fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The parameters of new hashes.
fn default_params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, None).expect("constant argon2 parameters are valid")
}

/// 16 random bytes from the operating system, as a PHC salt.
fn random_salt() -> SaltString {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator works");
    SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt")
}

fn hash_with(password: &str, params: Params) -> String {
    argon2(params)
        .hash_password(password.as_bytes(), &random_salt())
        .expect("argon2id hashes any password shorter than 4 GiB")
        .to_string()
}

/// Hashes `password` for the operators file: an argon2id PHC string with a random 16-byte
/// salt and the parameters [`M_COST_KIB`], [`T_COST`], [`P_COST`].
///
/// # Panics
///
/// If the operating system's random number generator fails, or the password is 4 GiB or
/// longer; both are operator-side, never reachable from network input.
pub fn hash_password(password: &str) -> String {
    hash_with(password, default_params())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a PHC string from the operators file; its parameters when it is usable.
fn check_hash(phc: &str) -> Result<Params, String> {
    let hash = PasswordHash::new(phc)
        .map_err(|e| format!("the hash is not a PHC string ({e}); make one with hash_password"))?;
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!(
            "the hash uses {}; only argon2id is accepted (make one with hash_password)",
            hash.algorithm
        ));
    }
    if hash.version.is_some_and(|v| v != u32::from(Version::V0x13)) {
        return Err("the hash is not argon2 version 19; make a new one with hash_password".into());
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("the hash has no salt or no output; make one with hash_password".into());
    }
    let params = Params::try_from(&hash).map_err(|e| format!("bad argon2 parameters ({e})"))?;
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return Err(format!(
            "the hash is too costly to check on an event loop (m={}, t={}, p={}; at most \
             m={MAX_M_COST_KIB}, t={MAX_T_COST}, p={MAX_P_COST}); make one with hash_password",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(params)
}

impl Operators {
    /// Reads the operators file at `path`.
    pub fn load(path: &Path) -> Result<Operators, OperatorsError> {
        let text = std::fs::read_to_string(path).map_err(|e| OperatorsError {
            file: path.to_path_buf(),
            line: 0,
            problem: format!("cannot read the operators file: {e}"),
        })?;
        Operators::parse(path, &text)
    }

    /// Parses the text of an operators file; `file` names it in errors.
    pub fn parse(file: impl AsRef<Path>, text: &str) -> Result<Operators, OperatorsError> {
        let file = file.as_ref();
        let err = |line: usize, problem: String| OperatorsError {
            file: file.to_path_buf(),
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            problem,
        };
        let mut hashes: HashMap<String, String> = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        let mut dummy_params = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, phc)) = line.split_once(':') else {
                return Err(err(
                    i,
                    "expected `name:hash` (an argon2id PHC string from hash_password)".into(),
                ));
            };
            let (name, phc) = (name.trim(), phc.trim());
            if !valid_name(name) {
                return Err(err(
                    i,
                    format!(
                        "bad operator name {name:?}: use 1 to {MAX_NAME} letters, digits, \
                         '.', '_' or '-'"
                    ),
                ));
            }
            if let Some(&first) = first_line.get(name) {
                return Err(err(
                    i,
                    format!("operator {name} is already defined on line {}", first + 1),
                ));
            }
            let params = check_hash(phc).map_err(|p| err(i, format!("operator {name}: {p}")))?;
            dummy_params.get_or_insert(params);
            first_line.insert(name.to_string(), i);
            hashes.insert(name.to_string(), phc.to_string());
        }
        // The dummy costs what the (first) real hash costs; hash_password gives every entry
        // the same parameters.
        let dummy = hash_with(
            "no operator has this password",
            dummy_params.unwrap_or_else(default_params),
        );
        Ok(Operators { hashes, dummy })
    }

    /// Number of operators.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// No operators at all (authentication then always fails).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Is `password` the password of operator `name`? Costs one argon2id verification
    /// whether or not `name` exists (an unknown name is checked against a dummy hash), so
    /// the answer time does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        let known = self.hashes.get(name);
        let phc = known.unwrap_or(&self.dummy);
        let matches = PasswordHash::new(phc).is_ok_and(|h| {
            // The hasher's own parameters are ignored: verification uses the hash's.
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        matches && known.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;

    /// One hash per password, made once: hashing is the slow part of these tests.
    fn alice_hash() -> &'static str {
        static H: OnceLock<String> = OnceLock::new();
        H.get_or_init(|| hash_password("correct horse battery staple"))
    }

    fn ops() -> Operators {
        let text = format!(
            "# operators\n\n  alice:{}  \r\n# bob left\nbob.smith:{}\n",
            alice_hash(),
            alice_hash()
        );
        Operators::parse("ops.txt", &text).expect("parses")
    }

    #[test]
    fn hash_is_argon2id_phc_with_the_documented_parameters() {
        let h = alice_hash();
        assert!(h.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"), "{h}");
        assert!(check_hash(h).is_ok());
        // Random salt: two hashes of one password differ.
        assert_ne!(hash_password("x"), hash_password("x"));
    }

    #[test]
    fn verify_right_wrong_and_unknown() {
        let o = ops();
        assert_eq!(o.len(), 2);
        assert!(!o.is_empty());
        assert!(o.verify("alice", "correct horse battery staple"));
        assert!(o.verify("bob.smith", "correct horse battery staple"));
        assert!(!o.verify("alice", "correct horse battery stapl"));
        assert!(!o.verify("alice", ""));
        assert!(!o.verify("ALICE", "correct horse battery staple"));
        assert!(!o.verify("mallory", "correct horse battery staple"));
        assert!(!o.verify("", ""));
        // Even the dummy's own password does not let an unknown name in.
        assert!(!o.verify("mallory", "no operator has this password"));
        let empty = Operators::parse("empty", "# nobody\n").unwrap();
        assert!(empty.is_empty());
        assert!(!empty.verify("alice", "correct horse battery staple"));
    }

    #[test]
    fn debug_shows_names_not_hashes() {
        let d = format!("{:?}", ops());
        assert!(d.contains("alice") && d.contains("bob.smith"), "{d}");
        assert!(!d.contains("argon2"), "{d}");
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_line() {
        let good = alice_hash();
        let cases = [
            ("alice\n".to_string(), 1, "expected `name:hash`"),
            (format!("\n\nal ice:{good}\n"), 3, "bad operator name"),
            (format!(":{good}\n"), 1, "bad operator name"),
            (
                format!("alice:{good}\nalice:{good}\n"),
                2,
                "already defined on line 1",
            ),
            ("alice:secret\n".into(), 1, "not a PHC string"),
            ("alice:\n".into(), 1, "not a PHC string"),
            (
                format!("alice:{}\n", good.replace("$argon2id$", "$argon2i$")),
                1,
                "only argon2id",
            ),
            (
                format!("alice:{}\n", good.replace("m=4096", "m=1048576")),
                1,
                "too costly",
            ),
            (
                format!("alice:{}\n", good.replace("v=19", "v=16")),
                1,
                "version 19",
            ),
        ];
        for (text, line, want) in cases {
            let e = Operators::parse("/etc/whoisd/operators", &text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(e.line, line, "{e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("/etc/whoisd/operators:{line}: ")),
                "{shown}"
            );
            assert!(shown.contains(want), "{shown} lacks {want}");
            // The hash itself is never echoed.
            assert!(!shown.contains("$argon2"), "{shown}");
        }
    }

    #[test]
    fn load_reads_a_file_and_names_it_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operators");
        std::fs::write(&path, format!("alice:{}\n", alice_hash())).unwrap();
        let o = Operators::load(&path).unwrap();
        assert!(o.verify("alice", "correct horse battery staple"));
        let e = Operators::load(&dir.path().join("nope")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().contains("nope: cannot read"), "{e}");
    }

    #[test]
    fn verification_is_cheap() {
        let o = ops();
        let start = Instant::now();
        for _ in 0..5 {
            assert!(!o.verify("alice", "wrong"));
            assert!(!o.verify("nobody", "wrong"));
        }
        let each = start.elapsed() / 10;
        // Unoptimised argon2 is about a hundred times slower: the bound holds for optimised
        // builds (release, or argon2 and blake2 optimised in the dev profile).
        if !cfg!(debug_assertions) {
            assert!(each.as_millis() < 50, "one verification took {each:?}");
        }
        eprintln!("one argon2id verification: {each:?}");
    }
}
