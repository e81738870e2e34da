//! The redaction policy (RFC 9537): which personal fields of contacts each audience sees.
//!
//! Registrars' own data (name, address, phone, e-mail of the business) is public; contacts
//! are people, so their fields are shown only as the policy allows, and everything held back
//! is listed in the response's `redacted` member by [`super::json`]. The policy file uses the
//! registry's `Tag: value` syntax and is reloaded with the limits on SIGHUP:
//!
//! ```text
//! # rdapd redaction policy (rdapd --redaction FILE)
//! Public: Organization, State-Province, Country-Code   # shown to everyone
//! Authenticated: all                                   # shown to authenticated operators
//! ```
//!
//! Field names are the contact schema's attribute names (and their common aliases):
//! `Name`, `Organization`, `Street`, `City`, `State-Province`, `Postal-Code`,
//! `Country-Code`, `Phone`, `Fax`, `Email`; `all` and `none` stand for every field and no
//! field. A tag may repeat; its values add up. The contact's handle is always shown (it is
//! what a lookup is made with). Without a file, [`RedactionPolicy::default`] applies: the
//! public sees organisation, state and country; authenticated operators see everything.

use std::fmt;
use std::path::Path;

/// A personal field of a contact that the policy may redact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactField {
    /// `fn` in jCard.
    Name,
    /// `org`.
    Organization,
    /// The street lines of `adr`.
    Street,
    /// The locality of `adr`.
    City,
    /// The region of `adr`.
    StateProvince,
    /// The postal code of `adr`.
    PostalCode,
    /// The `cc` parameter of `adr`.
    CountryCode,
    /// `tel` (voice).
    Phone,
    /// `tel` (fax).
    Fax,
    /// `email`.
    Email,
}

impl ContactField {
    /// Every field, in jCard order.
    pub const ALL: [ContactField; 10] = [
        ContactField::Name,
        ContactField::Organization,
        ContactField::Street,
        ContactField::City,
        ContactField::StateProvince,
        ContactField::PostalCode,
        ContactField::CountryCode,
        ContactField::Phone,
        ContactField::Fax,
        ContactField::Email,
    ];

    /// The contact schema's attribute name.
    pub fn attribute(self) -> &'static str {
        match self {
            ContactField::Name => "Name",
            ContactField::Organization => "Organization",
            ContactField::Street => "Street",
            ContactField::City => "City",
            ContactField::StateProvince => "State-Province",
            ContactField::PostalCode => "Postal-Code",
            ContactField::CountryCode => "Country-Code",
            ContactField::Phone => "Phone",
            ContactField::Fax => "Fax",
            ContactField::Email => "Email",
        }
    }

    /// The field in words, as in the redacted names of RFC 9537's registry (`Name`,
    /// `Postal Code`).
    pub fn label(self) -> &'static str {
        match self {
            ContactField::Name => "Name",
            ContactField::Organization => "Organization",
            ContactField::Street => "Street",
            ContactField::City => "City",
            ContactField::StateProvince => "State/Province",
            ContactField::PostalCode => "Postal Code",
            ContactField::CountryCode => "Country",
            ContactField::Phone => "Phone",
            ContactField::Fax => "Fax",
            ContactField::Email => "Email",
        }
    }

    fn parse(name: &str) -> Option<ContactField> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        Some(match n.as_str() {
            "name" | "contact-name" | "fn" => ContactField::Name,
            "organization" | "organisation" | "org" => ContactField::Organization,
            "street" | "address" => ContactField::Street,
            "city" => ContactField::City,
            "state-province" | "state" | "province" | "county" => ContactField::StateProvince,
            "postal-code" | "postcode" | "zip" => ContactField::PostalCode,
            "country-code" | "country" | "cc" => ContactField::CountryCode,
            "phone" | "voice" => ContactField::Phone,
            "fax" => ContactField::Fax,
            "email" | "e-mail" => ContactField::Email,
            _ => return None,
        })
    }
}

/// A set of [`ContactField`]s (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldSet(u16);

impl FieldSet {
    /// Every field.
    pub const ALL: FieldSet = FieldSet((1 << ContactField::ALL.len()) - 1);
    /// No field.
    pub const NONE: FieldSet = FieldSet(0);

    /// Does the set hold `f`?
    pub fn contains(self, f: ContactField) -> bool {
        self.0 & (1 << f as u16) != 0
    }

    /// Adds `f`.
    pub fn insert(&mut self, f: ContactField) {
        self.0 |= 1 << f as u16;
    }

    /// The fields held, in jCard order.
    pub fn fields(self) -> impl Iterator<Item = ContactField> {
        ContactField::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Anyone.
    Public,
    /// An operator who authenticated (HTTP Basic against `--operators`).
    Authenticated,
}

/// What each audience sees of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionPolicy {
    /// Fields shown to the public.
    pub public: FieldSet,
    /// Fields shown to authenticated operators.
    pub authenticated: FieldSet,
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        let mut public = FieldSet::NONE;
        for f in [
            ContactField::Organization,
            ContactField::StateProvince,
            ContactField::CountryCode,
        ] {
            public.insert(f);
        }
        RedactionPolicy {
            public,
            authenticated: FieldSet::ALL,
        }
    }
}

/// A mistake in a policy file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionError {
    /// The file.
    pub file: String,
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for RedactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

impl std::error::Error for RedactionError {}

impl RedactionPolicy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<RedactionPolicy, RedactionError> {
        let text = std::fs::read_to_string(path).map_err(|e| RedactionError {
            file: path.display().to_string(),
            line: 0,
            problem: format!("cannot read the redaction policy: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a policy. A tag that does not appear keeps the default's fields.
    pub fn parse(text: &str, file: &str) -> Result<RedactionPolicy, RedactionError> {
        let mut policy = RedactionPolicy::default();
        let (mut public, mut authenticated) = (None::<FieldSet>, None::<FieldSet>);
        for (i, raw) in text.lines().enumerate() {
            let err = |problem: String| RedactionError {
                file: file.to_string(),
                line: i + 1,
                problem,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((tag, value)) = line.split_once(':') else {
                return Err(err(format!(
                    "expected `Public: FIELD, ...` or `Authenticated: FIELD, ...`, found {line:?}"
                )));
            };
            let set = match tag.trim().to_ascii_lowercase().as_str() {
                "public" => &mut public,
                "authenticated" => &mut authenticated,
                other => {
                    return Err(err(format!(
                        "unknown tag {other:?}: use Public or Authenticated"
                    )));
                }
            };
            let set = set.get_or_insert(FieldSet::NONE);
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name.eq_ignore_ascii_case("all") {
                    *set = FieldSet::ALL;
                } else if name.eq_ignore_ascii_case("none") {
                } else if let Some(f) = ContactField::parse(name) {
                    set.insert(f);
                } else {
                    let known: Vec<&str> =
                        ContactField::ALL.iter().map(|f| f.attribute()).collect();
                    return Err(err(format!(
                        "unknown contact field {name:?}; fields: {}, all, none",
                        known.join(", ")
                    )));
                }
            }
        }
        if let Some(p) = public {
            policy.public = p;
        }
        if let Some(a) = authenticated {
            policy.authenticated = a;
        }
        Ok(policy)
    }

    /// The fields `audience` sees.
    pub fn shown(&self, audience: Audience) -> FieldSet {
        match audience {
            Audience::Public => self.public,
            Audience::Authenticated => self.authenticated,
        }
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let names = |s: FieldSet| {
            let v: Vec<&str> = s.fields().map(ContactField::attribute).collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        format!(
            "contacts show the public: {}; authenticated: {}",
            names(self.public),
            names(self.authenticated)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hides_personal_data_from_the_public() {
        let p = RedactionPolicy::default();
        for f in [
            ContactField::Name,
            ContactField::Street,
            ContactField::Email,
            ContactField::Phone,
        ] {
            assert!(!p.shown(Audience::Public).contains(f));
            assert!(p.shown(Audience::Authenticated).contains(f));
        }
        assert!(p.public.contains(ContactField::CountryCode));
    }

    #[test]
    fn parses_fields_aliases_and_keywords() {
        let p = RedactionPolicy::parse(
            "# c\nPublic: org, Country # x\nPublic: Email\nAuthenticated: none\n",
            "f",
        )
        .unwrap();
        assert_eq!(
            p.public.fields().collect::<Vec<_>>(),
            [
                ContactField::Organization,
                ContactField::CountryCode,
                ContactField::Email
            ]
        );
        assert_eq!(p.authenticated, FieldSet::NONE);
        let p = RedactionPolicy::parse("Public: all\n", "f").unwrap();
        assert_eq!(p.public, FieldSet::ALL);
    }

    #[test]
    fn reports_mistakes_with_lines() {
        let e = RedactionPolicy::parse("\nPublic: Name, Shoe\n", "f").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("Shoe"), "{e}");
        let e = RedactionPolicy::parse("Secret: Name\n", "f").unwrap_err();
        assert!(e.to_string().starts_with("f:1:"), "{e}");
        assert!(RedactionPolicy::parse("Public Name\n", "f").is_err());
    }
}
