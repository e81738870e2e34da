//! Index keys: how values and query strings are normalised so that lookups are
//! case-insensitive and a domain's U-label and A-label find the same record.
//!
//! Every index key of a value is produced by [`for_each_key`]; query strings go through
//! [`exact_key`] (a whole value) or [`fragment_key`] (the text around a `*`). Keys are bytes
//! in an fst, so suffix lookups use byte-reversed keys ([`reversed`]).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::schema::AttrType;

fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Calls `emit` with each index key of `value`: one key, or two for an internationalised
/// domain name (its A-label and its U-label).
pub fn for_each_key(ty: AttrType, value: &str, mut emit: impl FnMut(&[u8])) {
    match ty {
        AttrType::Domain => {
            let v = value.strip_suffix('.').unwrap_or(value);
            if v.is_ascii() {
                let l = lower(v);
                emit(l.as_bytes());
                if l.contains("xn--") {
                    let (u, r) = idna::domain_to_unicode(&l);
                    if r.is_ok() && u != *l {
                        emit(u.as_bytes());
                    }
                }
            } else {
                match idna::domain_to_ascii(v) {
                    Ok(a) => {
                        emit(a.as_bytes());
                        let (u, _) = idna::domain_to_unicode(&a);
                        emit(u.as_bytes());
                    }
                    Err(_) => emit(lower(v).as_bytes()),
                }
            }
        }
        AttrType::Ip => match value.parse::<IpAddr>() {
            Ok(ip) => emit(ip.to_string().as_bytes()),
            Err(_) => emit(lower(value).as_bytes()),
        },
        AttrType::Text | AttrType::Id | AttrType::Date => emit(lower(value).as_bytes()),
        AttrType::Linked => {}
    }
}

/// The key for an exact lookup of a whole query value.
pub fn exact_key(ty: AttrType, query: &str) -> String {
    match ty {
        AttrType::Domain => {
            let v = query.strip_suffix('.').unwrap_or(query);
            if v.is_ascii() {
                // An ASCII name's A-label form is its lower-case form (a name that is not a
                // valid host name then simply matches nothing).
                return lower(v).into_owned();
            }
            match idna::domain_to_ascii(v) {
                Ok(a) if !a.is_empty() => a,
                _ => lower(v).into_owned(),
            }
        }
        AttrType::Ip => match query.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => lower(query).into_owned(),
        },
        _ => lower(query).into_owned(),
    }
}

/// Writes the exact-lookup key of `value` into `out` (cleared first), without allocating
/// for the common case of an ASCII value.
pub fn exact_key_into(ty: AttrType, value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let ascii_fast = value.is_ascii()
        && matches!(
            ty,
            AttrType::Text | AttrType::Id | AttrType::Date | AttrType::Domain
        );
    if ascii_fast {
        let v = match ty {
            AttrType::Domain => value.strip_suffix(b".").unwrap_or(value),
            _ => value,
        };
        out.extend(v.iter().map(u8::to_ascii_lowercase));
    } else {
        out.extend_from_slice(exact_key(ty, &String::from_utf8_lossy(value)).as_bytes());
    }
}

/// Does a stored `value` have the exact-lookup key `key`? Allocation-free for ASCII.
pub fn matches_exact(ty: AttrType, value: &[u8], key: &[u8]) -> bool {
    if value.is_ascii() && key.is_ascii() {
        match ty {
            AttrType::Text | AttrType::Id | AttrType::Date => {
                return value.eq_ignore_ascii_case(key);
            }
            AttrType::Domain => {
                let v = value.strip_suffix(b".").unwrap_or(value);
                return v.eq_ignore_ascii_case(key);
            }
            AttrType::Ip | AttrType::Linked => {}
        }
    }
    let mut hit = false;
    for_each_key(ty, &String::from_utf8_lossy(value), |k| hit |= k == key);
    hit
}

/// The key text for a partial lookup (`pop*`, `*tel.coop`, `*op*`): lower-cased only, so
/// that a fragment of a U-label matches the U-label key of an IDN.
pub fn fragment_key(query: &str) -> String {
    lower(query).into_owned()
}

/// Byte-reversed key, for the suffix index.
pub fn reversed(key: &[u8]) -> Vec<u8> {
    key.iter().rev().copied().collect()
}

/// Checks a host or domain name: LDH labels of 1 to 63 octets (in A-label form), at most
/// 253 octets, at least two labels.
pub fn check_domain(value: &str) -> Result<(), String> {
    let v = value.strip_suffix('.').unwrap_or(value);
    let ascii = if v.is_ascii() {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(
            idna::domain_to_ascii(v)
                .map_err(|_| "not a valid internationalised name".to_string())?,
        )
    };
    if ascii.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels (name.tld)".into());
    }
    for l in labels {
        if l.is_empty() || l.len() > 63 {
            return Err("each label has 1 to 63 characters".into());
        }
        if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!(
                "label {l:?} has a character other than a letter, digit or '-'"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(format!("label {l:?} starts or ends with '-'"));
        }
    }
    if ascii.contains("xn--") {
        let (_, r) = idna::domain_to_unicode(&ascii);
        if r.is_err() {
            return Err("an xn-- label is not valid punycode".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ty: AttrType, v: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_key(ty, v, |k| out.push(String::from_utf8(k.to_vec()).unwrap()));
        out
    }

    #[test]
    fn case_folding() {
        assert_eq!(keys(AttrType::Text, "Poptel Ltd"), ["poptel ltd"]);
        assert_eq!(keys(AttrType::Text, "ŁÓDŹ"), ["łódź"]);
        assert_eq!(exact_key(AttrType::Id, "CNT-1002"), "cnt-1002");
    }

    #[test]
    fn idn_has_both_labels() {
        let k = keys(AttrType::Domain, "München.coop");
        assert_eq!(k, ["xn--mnchen-3ya.coop", "münchen.coop"]);
        assert_eq!(keys(AttrType::Domain, "XN--MNCHEN-3YA.COOP."), k);
        assert_eq!(
            exact_key(AttrType::Domain, "MÜNCHEN.coop"),
            "xn--mnchen-3ya.coop"
        );
        assert_eq!(exact_key(AttrType::Domain, "Test.Coop."), "test.coop");
        assert_eq!(keys(AttrType::Domain, "test.coop"), ["test.coop"]);
    }

    #[test]
    fn ip_addresses_are_canonical() {
        assert_eq!(keys(AttrType::Ip, "2001:DB8:0:0::1"), ["2001:db8::1"]);
        assert_eq!(exact_key(AttrType::Ip, "2001:db8:0::1"), "2001:db8::1");
        assert_eq!(exact_key(AttrType::Ip, "10.10.10.10"), "10.10.10.10");
    }

    #[test]
    fn domain_checks() {
        assert!(check_domain("test.coop").is_ok());
        assert!(check_domain("münchen.coop").is_ok());
        assert!(check_domain("coop").is_err());
        assert!(check_domain("-a.coop").is_err());
        assert!(check_domain("a_b.coop").is_err());
        assert!(check_domain("a..coop").is_err());
    }

    #[test]
    fn exact_key_into_agrees_with_exact_key() {
        let mut buf = Vec::new();
        for (ty, v) in [
            (AttrType::Id, "CNT-1002"),
            (AttrType::Domain, "Test.Coop."),
            (AttrType::Domain, "MÜNCHEN.coop"),
            (AttrType::Ip, "2001:DB8::1"),
            (AttrType::Text, "Łódź"),
        ] {
            exact_key_into(ty, v.as_bytes(), &mut buf);
            assert_eq!(buf, exact_key(ty, v).as_bytes(), "{v}");
        }
    }

    #[test]
    fn matches_exact_agrees_with_for_each_key() {
        for (ty, v, k, want) in [
            (AttrType::Id, "CNT-1002", "cnt-1002", true),
            (AttrType::Id, "CNT-1002", "cnt-1003", false),
            (AttrType::Domain, "Test.Coop.", "test.coop", true),
            (
                AttrType::Domain,
                "xn--mnchen-3ya.coop",
                "münchen.coop",
                true,
            ),
            (
                AttrType::Domain,
                "münchen.coop",
                "xn--mnchen-3ya.coop",
                true,
            ),
            (AttrType::Ip, "2001:DB8:0::1", "2001:db8::1", true),
        ] {
            assert_eq!(
                matches_exact(ty, v.as_bytes(), k.as_bytes()),
                want,
                "{v} {k}"
            );
        }
    }

    #[test]
    fn reversal() {
        assert_eq!(reversed(b"abc"), b"cba");
    }
}
