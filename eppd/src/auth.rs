//! Registrar passwords: argon2id PHC hashes (as `whoisd::auth` uses for operators) and
//! [`PasswordTable`], a simple [`Registrars`] implementation over an in-memory table with
//! a per-registrar session limit. The registry core may provide its own implementation
//! (registrar objects live in the registry data); the hashing rules stay these.
//!
//! Parameters: argon2id, 4 MiB, 1 pass, 1 lane (about 2 ms a check when optimised; the
//! workspace dev profile optimises argon2). Unknown registrars are checked against a dummy
//! hash so the answer time does not tell which ids exist.

use std::collections::HashMap;
use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::session::{LoginCheck, Registrars};

/// Memory cost of new hashes, in KiB.
pub const M_COST_KIB: u32 = 4 * 1024;
/// Passes.
pub const T_COST: u32 = 1;
/// Lanes.
pub const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a registrar password: an argon2id PHC string with a random 16-byte salt.
///
/// # Panics
///
/// If the operating system's random number generator fails.
pub fn hash_password(password: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator works");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashes any password shorter than 4 GiB")
        .to_string()
}

/// Does `password` match the PHC string `phc`? A malformed hash never matches.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Registrars by client id with their password hashes, and the sessions each has open.
pub struct PasswordTable {
    hashes: HashMap<String, String>,
    sessions: HashMap<String, usize>,
    max_sessions: usize,
    dummy: String,
}

impl fmt::Debug for PasswordTable {
    /// Ids only: hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.hashes.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("PasswordTable")
            .field("registrars", &ids)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl PasswordTable {
    /// An empty table allowing `max_sessions` concurrent sessions per registrar.
    pub fn new(max_sessions: usize) -> PasswordTable {
        PasswordTable {
            hashes: HashMap::new(),
            sessions: HashMap::new(),
            max_sessions,
            dummy: hash_password("no registrar has this password"),
        }
    }

    /// Adds or replaces a registrar with a PHC hash from [`hash_password`].
    pub fn insert(&mut self, cl_id: &str, phc: String) {
        self.hashes.insert(cl_id.to_string(), phc);
    }

    /// Sessions `cl_id` has open.
    pub fn open_sessions(&self, cl_id: &str) -> usize {
        self.sessions.get(cl_id).copied().unwrap_or(0)
    }
}

impl Registrars for PasswordTable {
    fn check_login(&mut self, cl_id: &str, pw: &str) -> LoginCheck {
        let known = self.hashes.get(cl_id);
        let ok = verify_password(known.unwrap_or(&self.dummy), pw) && known.is_some();
        if !ok {
            LoginCheck::BadCredentials
        } else if self.open_sessions(cl_id) >= self.max_sessions {
            LoginCheck::SessionLimit
        } else {
            *self.sessions.entry(cl_id.to_string()).or_default() += 1;
            LoginCheck::Ok
        }
    }

    fn change_password(&mut self, cl_id: &str, new_pw: &str) -> Result<(), String> {
        match self.hashes.get_mut(cl_id) {
            Some(h) => {
                *h = hash_password(new_pw);
                Ok(())
            }
            None => Err(format!("no registrar {cl_id}")),
        }
    }

    fn session_closed(&mut self, cl_id: &str) {
        if let Some(n) = self.sessions.get_mut(cl_id) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_and_table() {
        let h = hash_password("foo-BAR2");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "foo-BAR2"));
        assert!(!verify_password(&h, "foo-BAR3"));
        assert!(!verify_password("garbage", "foo-BAR2"));
        let mut t = PasswordTable::new(1);
        t.insert("ClientX", h);
        assert_eq!(
            t.check_login("ClientX", "wrong-pw"),
            LoginCheck::BadCredentials
        );
        assert_eq!(
            t.check_login("Nobody", "foo-BAR2"),
            LoginCheck::BadCredentials
        );
        assert_eq!(t.check_login("ClientX", "foo-BAR2"), LoginCheck::Ok);
        assert_eq!(
            t.check_login("ClientX", "foo-BAR2"),
            LoginCheck::SessionLimit
        );
        t.session_closed("ClientX");
        t.change_password("ClientX", "new-PW99").unwrap();
        assert_eq!(t.check_login("ClientX", "new-PW99"), LoginCheck::Ok);
        assert!(!format!("{t:?}").contains("argon2"));
    }
}
