//! Per-class schema files: which attributes a class has and how they are checked, indexed
//! and displayed.
//!
//! Schema files use the record syntax of [`crate::record`]: the first record of a file
//! describes the class (`class`, `class-alias`, `description`), every further record defines
//! one attribute (`attribute`, `attribute-alias`, `description`, `display`, `join-display`,
//! `display-numbered`, `is-primary-key`, `is-required`, `is-repeatable`, `is-multi-line`,
//! `is-private`, `is-search-key`, `is-joined`, `expand-reference`, `index`, `type`, `references`, `format`).
//! The shipped schemas (`mkdb/schemas/*.schema`) document every property.
//!
//! [`ClassDef::validate`] turns a [`RawRecord`] into attribute-resolved fields, or a list of
//! problems with line numbers. Nothing is silently dropped: unknown tags are errors.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use regex::Regex;

use crate::record::{RawRecord, SyntaxError, for_each_record};

/// The four schemas of the Public Whois Specification, shipped with MKDB:
/// (class name, schema file text).
pub const SHIPPED_SCHEMAS: &[(&str, &str)] = &[
    ("domain", include_str!("../schemas/domain.schema")),
    ("contact", include_str!("../schemas/contact.schema")),
    ("nameserver", include_str!("../schemas/nameserver.schema")),
    ("registrar", include_str!("../schemas/registrar.schema")),
];

/// Which lookups an attribute's index supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// Not indexed: the attribute cannot be searched.
    None,
    /// Exact and prefix (`pop*`) lookups.
    Exact,
    /// Exact, prefix, suffix (`*tel.coop`) and infix (`*op*`) lookups.
    All,
}

/// How values are checked and how index keys are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Free text; keys are lower-cased.
    Text,
    /// A domain or host name; keys are the lower-case A-label and, for IDNs, the U-label.
    Domain,
    /// An IPv4 or IPv6 address; keys are the canonical text form.
    Ip,
    /// An RFC 3339 UTC timestamp such as `2001-05-05T00:00:00Z`.
    Date,
    /// An identifier, usually a reference to another record's primary key.
    Id,
    /// Computed, never stored: true when another record references this one.
    Linked,
}

/// One attribute of a class.
#[derive(Debug, Clone)]
pub struct AttrDef {
    /// Position in the class (the attribute id stored in indexes).
    pub id: u16,
    /// Canonical tag.
    pub name: String,
    /// Other accepted tags.
    pub aliases: Vec<String>,
    /// Human description.
    pub description: String,
    /// Whois output label; `None` means never printed.
    pub display: Option<String>,
    /// Label when shown inside a referencing record; defaults to `display`.
    pub join_display: Option<String>,
    /// Repeated values print as `Label1`, `Label2`, ...
    pub display_numbered: bool,
    /// Unique key of the class.
    pub primary_key: bool,
    /// Every record must have it.
    pub required: bool,
    /// May appear more than once.
    pub repeatable: bool,
    /// Never printed nor exported.
    pub private: bool,
    /// Searched by a query that names no attribute.
    pub search_key: bool,
    /// Printed inside records that expand a reference to this class.
    pub joined: bool,
    /// Expand the referenced record (its `is-joined` attributes) where this value is printed.
    pub expand: bool,
    /// Index kind.
    pub index: IndexKind,
    /// Value type.
    pub ty: AttrType,
    /// Class referenced by values of this attribute.
    pub references: Option<String>,
    /// Whole-value format check.
    pub format: Option<Regex>,
    /// Class id of `references`, resolved when the schema is loaded.
    pub references_class: Option<u16>,
    /// Output label as written before a value: `Label: `, or `Label` when numbered (the
    /// number and `: ` follow). Precomputed so rendering copies one string per line.
    pub line_label: Option<String>,
    /// For an `expand-reference` attribute: per attribute of the referenced class, the label
    /// it is printed with inside this record (`Registrant Name: `), as `line_label`.
    pub join_labels: Vec<Option<String>>,
}

impl AttrDef {
    /// Label used when this attribute is printed inside another record.
    pub fn join_label(&self) -> Option<&str> {
        self.join_display.as_deref().or(self.display.as_deref())
    }
}

/// A class: its attributes and lookup tables.
#[derive(Debug, Clone)]
pub struct ClassDef {
    /// Position of the class in the [`Schema`].
    pub id: u16,
    /// Class name (`domain`).
    pub name: String,
    /// Other names accepted in queries.
    pub aliases: Vec<String>,
    /// Human description.
    pub description: String,
    /// Attributes in display order.
    pub attrs: Vec<AttrDef>,
    /// The primary key attribute.
    pub primary_key: u16,
    /// Source text of the schema file (stored with each generation).
    pub source: String,
    by_tag: HashMap<String, u16>,
}

/// A field resolved to its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Attribute id.
    pub attr: u16,
    /// The value.
    pub value: &'a str,
    /// Byte offset of the value in the file.
    pub value_offset: usize,
    /// 1-based line.
    pub line: u32,
}

/// A problem found while validating, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl ClassDef {
    /// The attribute for a tag or alias (case-insensitive).
    pub fn attr_by_tag(&self, tag: &str) -> Option<&AttrDef> {
        let mut buf = [0u8; 64];
        let b = tag.as_bytes();
        if b.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(b) {
            *d = s.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&buf[..b.len()]).ok()?;
        let id = *self.by_tag.get(lower)?;
        Some(&self.attrs[usize::from(id)])
    }

    /// The attribute with this id.
    pub fn attr(&self, id: u16) -> &AttrDef {
        &self.attrs[usize::from(id)]
    }

    /// The primary key attribute.
    pub fn pk(&self) -> &AttrDef {
        self.attr(self.primary_key)
    }

    /// Resolves and checks a record's fields, appending them to `out` in file order.
    /// Every problem is reported (not just the first).
    pub fn validate<'a>(
        &self,
        rec: &RawRecord<'a>,
        out: &mut Vec<Field<'a>>,
        problems: &mut Vec<Problem>,
    ) {
        out.clear();
        let mut seen = vec![0u32; self.attrs.len()];
        for f in &rec.fields {
            let Some(a) = self.attr_by_tag(f.tag) else {
                problems.push(Problem {
                    line: f.line,
                    problem: format!(
                        "unknown attribute {:?} for class {}; see the schema file {}.schema",
                        f.tag, self.name, self.name
                    ),
                });
                continue;
            };
            seen[usize::from(a.id)] += 1;
            if seen[usize::from(a.id)] == 2 && !a.repeatable {
                problems.push(Problem {
                    line: f.line,
                    problem: format!("{} appears more than once but is not repeatable", a.name),
                });
            }
            if let Err(why) = check_value(a, f.value) {
                problems.push(Problem {
                    line: f.line,
                    problem: why,
                });
                continue;
            }
            out.push(Field {
                attr: a.id,
                value: f.value,
                value_offset: f.value_offset,
                line: f.line,
            });
        }
        for a in &self.attrs {
            if a.required && seen[usize::from(a.id)] == 0 {
                problems.push(Problem {
                    line: rec.first_line,
                    problem: format!("{} record has no {} (required)", self.name, a.name),
                });
            }
        }
    }
}

/// Checks one value against its attribute's type and format.
pub fn check_value(a: &AttrDef, value: &str) -> Result<(), String> {
    match a.ty {
        AttrType::Linked => {
            return Err(format!(
                "{} is computed by the database and cannot be stored",
                a.name
            ));
        }
        AttrType::Ip => {
            if value.parse::<IpAddr>().is_err() {
                return Err(format!(
                    "{}: {value:?} is not an IPv4 or IPv6 address",
                    a.name
                ));
            }
        }
        AttrType::Date => {
            if !valid_date(value) {
                return Err(format!(
                    "{}: {value:?} is not an RFC 3339 UTC date like 2001-05-05T00:00:00Z",
                    a.name
                ));
            }
        }
        AttrType::Domain => {
            if let Err(why) = crate::key::check_domain(value) {
                return Err(format!(
                    "{}: {value:?} is not a valid host name: {why}",
                    a.name
                ));
            }
        }
        AttrType::Text | AttrType::Id => {}
    }
    if let Some(re) = &a.format
        && !re.is_match(value)
    {
        return Err(format!(
            "{}: {value:?} does not match the format {}",
            a.name,
            re.as_str()
                .trim_start_matches("^(?:")
                .trim_end_matches(")$")
        ));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with plausible field ranges.
fn valid_date(v: &str) -> bool {
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().unwrap_or(99);
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' {
        return false;
    }
    if !digits(8..10) || b[10] != b'T' || !digits(11..13) || b[13] != b':' || !digits(14..16) {
        return false;
    }
    if b[16] != b':' || !digits(17..19) || *b.last().unwrap_or(&0) != b'Z' {
        return false;
    }
    let frac = &b[19..b.len() - 1];
    if !(frac.is_empty()
        || (frac.len() >= 2 && frac[0] == b'.' && frac[1..].iter().all(u8::is_ascii_digit)))
    {
        return false;
    }
    (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

/// All classes of a database.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Classes in a fixed order (sorted by name).
    pub classes: Vec<ClassDef>,
}

/// A schema file error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Which schema file.
    pub file: String,
    /// 1-based line (0 when the file as a whole is wrong).
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

impl std::error::Error for SchemaError {}

impl Schema {
    /// The shipped schema.
    pub fn shipped() -> Schema {
        Schema::parse(
            SHIPPED_SCHEMAS
                .iter()
                .map(|(c, t)| (format!("{c}.schema"), t.to_string())),
        )
        .expect("shipped schemas are valid")
    }

    /// Parses schema files given as (file name, text) pairs.
    pub fn parse(files: impl IntoIterator<Item = (String, String)>) -> Result<Schema, SchemaError> {
        let mut classes = Vec::new();
        for (file, text) in files {
            classes.push(parse_class(&file, text)?);
        }
        if classes.is_empty() {
            return Err(SchemaError {
                file: "schema".into(),
                line: 0,
                problem: "no schema files".into(),
            });
        }
        classes.sort_by(|a, b| a.name.cmp(&b.name));
        for (i, c) in classes.iter_mut().enumerate() {
            c.id = i as u16;
        }
        let names: HashMap<String, usize> = classes
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                std::iter::once((c.name.clone(), i))
                    .chain(c.aliases.iter().map(move |a| (a.clone(), i)))
            })
            .collect();
        for w in classes.windows(2) {
            if w[0].name == w[1].name {
                return Err(SchemaError {
                    file: format!("{}.schema", w[1].name),
                    line: 0,
                    problem: format!("class {} is defined twice", w[1].name),
                });
            }
        }
        for c in &classes {
            for a in &c.attrs {
                if let Some(r) = &a.references
                    && !names.contains_key(r.as_str())
                {
                    return Err(SchemaError {
                        file: format!("{}.schema", c.name),
                        line: 0,
                        problem: format!("{} references unknown class {r}", a.name),
                    });
                }
            }
        }
        // Resolve references to class ids and precompute output labels.
        let targets: Vec<ClassDef> = classes.clone();
        let suffix = |a: &AttrDef| if a.display_numbered { "" } else { ": " };
        for c in &mut classes {
            for a in &mut c.attrs {
                a.line_label = a.display.as_ref().map(|d| format!("{d}{}", suffix(a)));
                let Some(r) = &a.references else { continue };
                let t = &targets[names[r.as_str()]];
                a.references_class = Some(t.id);
                if a.expand {
                    let prefix = a.display.clone().unwrap_or_else(|| a.name.clone());
                    a.join_labels = t
                        .attrs
                        .iter()
                        .map(|ta| {
                            let label = ta.join_label().filter(|_| ta.joined && !ta.private)?;
                            Some(format!("{prefix} {label}{}", suffix(ta)))
                        })
                        .collect();
                }
            }
        }
        Ok(Schema { classes })
    }

    /// A class by name or alias (case-insensitive).
    pub fn class(&self, name: &str) -> Option<&ClassDef> {
        self.classes.iter().find(|c| {
            c.name.eq_ignore_ascii_case(name)
                || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The class with this id.
    pub fn class_by_id(&self, id: u16) -> &ClassDef {
        &self.classes[usize::from(id)]
    }

    /// A stable fingerprint of one class's definition, stored in its index files so that an
    /// index is never interpreted under a different schema.
    pub fn class_fingerprint(&self, class: u16) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.class_by_id(class).source.as_bytes())
    }
}

fn parse_bool(file: &str, line: u32, v: &str) -> Result<bool, SchemaError> {
    match v.to_ascii_uppercase().as_str() {
        "TRUE" | "YES" | "ON" => Ok(true),
        "FALSE" | "NO" | "OFF" => Ok(false),
        _ => Err(SchemaError {
            file: file.into(),
            line,
            problem: format!("expected TRUE or FALSE, found {v:?}"),
        }),
    }
}

fn parse_class(file: &str, text: String) -> Result<ClassDef, SchemaError> {
    let mut records: Vec<Vec<(String, String, u32)>> = Vec::new();
    let mut first_lines = Vec::new();
    for_each_record(&text, |r| {
        first_lines.push(r.first_line);
        records.push(
            r.fields
                .iter()
                .map(|f| (f.tag.to_ascii_lowercase(), f.value.to_string(), f.line))
                .collect(),
        );
        Ok::<(), SyntaxError>(())
    })
    .map_err(|e| SchemaError {
        file: file.into(),
        line: e.line,
        problem: e.problem,
    })?;
    let err = |line: u32, problem: String| SchemaError {
        file: file.into(),
        line,
        problem,
    };
    let Some((head, attrs)) = records.split_first() else {
        return Err(err(0, "empty schema file".into()));
    };
    let mut class = ClassDef {
        id: 0,
        name: String::new(),
        aliases: vec![],
        description: String::new(),
        attrs: vec![],
        primary_key: u16::MAX,
        source: text,
        by_tag: HashMap::new(),
    };
    for (tag, value, line) in head {
        match tag.as_str() {
            "class" | "name" => class.name = value.to_ascii_lowercase(),
            "class-alias" | "alias" => class.aliases.push(value.to_ascii_lowercase()),
            "description" => class.description = value.clone(),
            _ => {
                return Err(err(
                    *line,
                    format!("unknown class property {tag:?} (class, class-alias, description)"),
                ));
            }
        }
    }
    if class.name.is_empty() {
        return Err(err(
            first_lines[0],
            "the first record must name the class: `class: NAME`".into(),
        ));
    }
    for (i, rec) in attrs.iter().enumerate() {
        let first = first_lines[i + 1];
        let mut a = AttrDef {
            id: class.attrs.len() as u16,
            name: String::new(),
            aliases: vec![],
            description: String::new(),
            display: None,
            join_display: None,
            display_numbered: false,
            primary_key: false,
            required: false,
            repeatable: false,
            private: false,
            search_key: false,
            joined: false,
            expand: false,
            index: IndexKind::None,
            ty: AttrType::Text,
            references: None,
            format: None,
            references_class: None,
            line_label: None,
            join_labels: Vec::new(),
        };
        for (tag, value, line) in rec {
            let line = *line;
            match tag.as_str() {
                "attribute" => a.name = value.clone(),
                "attribute-alias" => a.aliases.push(value.clone()),
                "description" => a.description = value.clone(),
                "display" => a.display = Some(value.clone()),
                "join-display" => a.join_display = Some(value.clone()),
                "display-numbered" => a.display_numbered = parse_bool(file, line, value)?,
                "is-primary-key" => a.primary_key = parse_bool(file, line, value)?,
                "is-required" => a.required = parse_bool(file, line, value)?,
                "is-repeatable" | "is-multi-line" => a.repeatable |= parse_bool(file, line, value)?,
                "is-private" => a.private = parse_bool(file, line, value)?,
                "is-search-key" => a.search_key = parse_bool(file, line, value)?,
                "is-joined" => a.joined = parse_bool(file, line, value)?,
                "expand-reference" => a.expand = parse_bool(file, line, value)?,
                "is-hierarchical" => {
                    parse_bool(file, line, value)?;
                }
                "index" => {
                    a.index = match value.to_ascii_uppercase().as_str() {
                        "NONE" => IndexKind::None,
                        "EXACT" => IndexKind::Exact,
                        "ALL" => IndexKind::All,
                        _ => {
                            return Err(err(
                                line,
                                format!("unknown index kind {value:?} (NONE, EXACT, ALL)"),
                            ));
                        }
                    }
                }
                "type" => {
                    a.ty = match value.to_ascii_uppercase().as_str() {
                        "TEXT" => AttrType::Text,
                        "DOMAIN" => AttrType::Domain,
                        "IP" => AttrType::Ip,
                        "DATE" => AttrType::Date,
                        "ID" => AttrType::Id,
                        "LINKED" => AttrType::Linked,
                        _ => {
                            return Err(err(
                                line,
                                format!(
                                    "unknown type {value:?} (TEXT, DOMAIN, IP, DATE, ID, LINKED)"
                                ),
                            ));
                        }
                    }
                }
                "references" => a.references = Some(value.to_ascii_lowercase()),
                "format" => {
                    let Some(re) = value.strip_prefix("re:") else {
                        return Err(err(line, "format must be `re:<regular expression>`".into()));
                    };
                    a.format = Some(
                        Regex::new(&format!("^(?:{re})$"))
                            .map_err(|e| err(line, format!("bad format regex: {e}")))?,
                    );
                }
                _ => return Err(err(line, format!("unknown attribute property {tag:?}"))),
            }
        }
        if a.name.is_empty() {
            return Err(err(
                first,
                "attribute definition without `attribute: NAME`".into(),
            ));
        }
        if a.primary_key {
            a.required = true;
            if class.primary_key != u16::MAX {
                return Err(err(
                    first,
                    format!("{}: a class has one primary key", a.name),
                ));
            }
            if a.repeatable || a.index == IndexKind::None {
                return Err(err(
                    first,
                    format!("{}: a primary key is indexed and not repeatable", a.name),
                ));
            }
            class.primary_key = a.id;
        }
        if a.references.is_some() && a.index == IndexKind::None {
            return Err(err(
                first,
                format!("{}: an attribute with `references` must be indexed", a.name),
            ));
        }
        if a.expand && a.references.is_none() {
            return Err(err(
                first,
                format!("{}: expand-reference needs references", a.name),
            ));
        }
        if a.ty == AttrType::Linked && (a.index != IndexKind::None || a.required) {
            return Err(err(
                first,
                format!(
                    "{}: a LINKED attribute is computed: no index, not required",
                    a.name
                ),
            ));
        }
        if a.display_numbered && !a.repeatable {
            return Err(err(
                first,
                format!("{}: display-numbered needs is-repeatable", a.name),
            ));
        }
        for t in std::iter::once(&a.name).chain(&a.aliases) {
            if class.by_tag.insert(t.to_ascii_lowercase(), a.id).is_some() {
                return Err(err(first, format!("tag {t:?} is used by two attributes")));
            }
        }
        class.attrs.push(a);
    }
    if class.primary_key == u16::MAX {
        return Err(err(
            0,
            format!(
                "class {} has no primary key (is-primary-key: TRUE)",
                class.name
            ),
        ));
    }
    Ok(class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::for_each_record;

    fn validate(class: &ClassDef, text: &str) -> (usize, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut n = 0;
        for_each_record(text, |r| {
            let mut out = Vec::new();
            class.validate(r, &mut out, &mut problems);
            n += out.len();
            Ok::<(), SyntaxError>(())
        })
        .unwrap();
        (n, problems)
    }

    #[test]
    fn shipped_schemas_parse() {
        let s = Schema::shipped();
        let names: Vec<_> = s.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["contact", "domain", "nameserver", "registrar"]);
        let d = s.class("DOM").unwrap();
        assert_eq!(d.pk().name, "Domain-Name");
        assert_eq!(d.attr_by_tag("ns").unwrap().name, "Name-Server");
        assert!(d.attr_by_tag("Auth-Info").unwrap().private);
        assert!(s.class("host").is_some());
    }

    #[test]
    fn validation_reports_every_problem_with_lines() {
        let s = Schema::shipped();
        let c = s.class("nameserver").unwrap();
        let text = "Host-Name: ns1.example.coop\nHost-ID: H1-COOP\nIP: 10.0.0.300\nstatus: ok\n\
                    Bogus: x\nHost-Name: again.coop\nSponsoring-Registrar: REG-1\n";
        let (_, p) = validate(c, text);
        let lines: Vec<u32> = p.iter().map(|p| p.line).collect();
        assert!(lines.contains(&3), "{p:?}");
        assert!(lines.contains(&5), "{p:?}");
        assert!(lines.contains(&6), "{p:?}");
        assert!(
            p.iter().any(|p| p.problem.contains("Created-Date")),
            "{p:?}"
        );
    }

    #[test]
    fn formats_and_dates() {
        let s = Schema::shipped();
        let c = s.class("contact").unwrap();
        let phone = c.attr_by_tag("Phone").unwrap();
        assert!(check_value(phone, "+44.1612345678").is_ok());
        assert!(check_value(phone, "0161 234").is_err());
        let d = c.attr_by_tag("Created-Date").unwrap();
        assert!(check_value(d, "2001-05-05T00:00:00Z").is_ok());
        assert!(check_value(d, "2001-05-05T00:00:00.123Z").is_ok());
        assert!(check_value(d, "2001-13-05T00:00:00Z").is_err());
        assert!(check_value(d, "May 5, 2001").is_err());
        let l = c.attr_by_tag("Currently-Associated").unwrap();
        assert!(check_value(l, "true").is_err());
    }

    #[test]
    fn bad_schemas_are_refused_with_lines() {
        let e = Schema::parse([(
            "x.schema".into(),
            "class: x\n---\nattribute: A\nindex: FAST\n".into(),
        )])
        .unwrap_err();
        assert_eq!(e.line, 4);
        let e = Schema::parse([("x.schema".into(), "class: x\n---\nattribute: A\n".into())])
            .unwrap_err();
        assert!(e.problem.contains("primary key"));
        let e = Schema::parse([(
            "x.schema".into(),
            "class: x\n---\nattribute: A\nis-primary-key: TRUE\nindex: EXACT\nreferences: nope\n"
                .into(),
        )])
        .unwrap_err();
        assert!(e.problem.contains("unknown class"));
    }
}
