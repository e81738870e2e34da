//! The MKDB record text format, without schema knowledge.
//!
//! A data file is a sequence of records. A record is a run of `Tag: value` lines; records are
//! separated by a line starting with `---` (or a line `_NEW_`, as rwhoisd accepts). Blank
//! lines do not separate records. A line whose first non-blank character is `#` is a comment;
//! a `#` inside a value is data. A line is split at its first `:`: the tag is trimmed, the
//! value is trimmed of blanks and a trailing CR (CRLF files are accepted). A line with an
//! empty value carries no data and is skipped. A record whose first line starts with `_` was
//! "deleted in place" (rwhoisd's convention): every line of it must then start with `_`, and
//! the record is skipped.
//!
//! Mapping tags to attributes and validating values is [`crate::schema`]'s job; this module
//! only finds records and fields and reports malformed lines with their line numbers.

use std::fmt;

/// A field as it appears in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The tag as written (not yet resolved through aliases).
    pub tag: &'a str,
    /// The trimmed value; never empty.
    pub value: &'a str,
    /// Byte offset of `value` in the file.
    pub value_offset: usize,
    /// 1-based line number.
    pub line: u32,
}

/// A record: its fields in file order and the byte range of its text.
#[derive(Debug, Clone, Default)]
pub struct RawRecord<'a> {
    /// Fields in file order.
    pub fields: Vec<RawField<'a>>,
    /// Byte offset of the record's first field line.
    pub start: usize,
    /// Byte offset just past the record's last field line (including its line end).
    pub end: usize,
    /// Line number of the first field line.
    pub first_line: u32,
}

/// A malformed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: u32,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// Checks that `bytes` are UTF-8, reporting the line of the first invalid byte.
pub fn check_utf8(bytes: &[u8]) -> Result<&str, SyntaxError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        SyntaxError {
            line,
            problem: "invalid UTF-8; save the file as UTF-8".to_string(),
        }
    })
}

/// Is `tag` a well-formed tag name: ASCII letters, digits, `-`, `_`, `/` and `.`?
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
}

/// Calls `each` for every live record of `text`, in order. Stops at the first syntax error
/// or the first error `each` returns.
pub fn for_each_record<'a, E>(
    text: &'a str,
    mut each: impl FnMut(&RawRecord<'a>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<SyntaxError>,
{
    let mut rec = RawRecord::default();
    let mut deleted = false;
    let mut in_record = false;
    let mut offset = 0usize;
    let mut line_no = 0u32;
    let bytes = text.as_bytes();
    while offset < bytes.len() {
        line_no += 1;
        let line_end = memchr_newline(&bytes[offset..]).map_or(bytes.len(), |i| offset + i + 1);
        let raw = &text[offset..line_end];
        let line_start = offset;
        offset = line_end;
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if line.starts_with("---") || line == "_NEW_" {
            if in_record && !deleted {
                each(&rec)?;
            }
            rec.fields.clear();
            in_record = false;
            deleted = false;
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !in_record {
            in_record = true;
            deleted = line.starts_with('_');
            rec.start = line_start;
            rec.first_line = line_no;
        } else if deleted != line.starts_with('_') {
            return Err(SyntaxError {
                line: line_no,
                problem: "record is only partly deleted: either every line of a record starts \
                          with '_' (deleted in place) or none does"
                    .to_string(),
            }
            .into());
        }
        rec.end = line_end;
        if deleted {
            continue;
        }
        let Some(colon) = trimmed.bytes().position(|b| b == b':') else {
            return Err(SyntaxError {
                line: line_no,
                problem: format!(
                    "expected 'Tag: value' but found no ':' in {:?}; a record ends with a \
                     line starting '---'",
                    truncate(trimmed)
                ),
            }
            .into());
        };
        let tag = trimmed[..colon].trim_end_matches([' ', '\t']);
        if !valid_tag(tag) {
            return Err(SyntaxError {
                line: line_no,
                problem: format!(
                    "invalid tag {:?}: tags are letters, digits, '-', '_', '/' or '.'",
                    truncate(tag)
                ),
            }
            .into());
        }
        let after = &trimmed[colon + 1..];
        let value = after.trim_matches([' ', '\t']);
        if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(SyntaxError {
                line: line_no,
                problem: format!("control character {c:?} in the value of {tag}"),
            }
            .into());
        }
        if value.is_empty() {
            continue;
        }
        let value_offset = value.as_ptr() as usize - text.as_ptr() as usize;
        rec.fields.push(RawField {
            tag,
            value,
            value_offset,
            line: line_no,
        });
    }
    if in_record && !deleted {
        each(&rec)?;
    }
    Ok(())
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = Vec<Vec<(String, String, u32)>>;

    fn parse(text: &str) -> Result<Parsed, SyntaxError> {
        let mut out = Vec::new();
        for_each_record(text, |r| {
            out.push(
                r.fields
                    .iter()
                    .map(|f| (f.tag.to_string(), f.value.to_string(), f.line))
                    .collect(),
            );
            Ok::<(), SyntaxError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn basic_records_comments_blank_lines() {
        let t = "# header\nA: 1\n\nB:  two words  \n---\n  # indented comment\nA:x#y\n";
        let r = parse(t).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            vec![
                ("A".into(), "1".into(), 2),
                ("B".into(), "two words".into(), 4)
            ]
        );
        assert_eq!(r[1], vec![("A".into(), "x#y".into(), 7)]);
    }

    #[test]
    fn crlf_and_split_at_first_colon() {
        let r = parse("Time: 12:30:00\r\nTag :\tv\r\n---\r\n").unwrap();
        assert_eq!(r[0][0].1, "12:30:00");
        assert_eq!(r[0][1], ("Tag".into(), "v".into(), 2));
    }

    #[test]
    fn empty_values_are_skipped_and_separators_collapse() {
        let r = parse("A:\nB: b\n---\n---\n\n---\nC: c").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].len(), 1);
        assert_eq!(r[1][0].0, "C");
    }

    #[test]
    fn deleted_in_place() {
        let r = parse("_A: 1\n_B: 2\n---\nA: live\n").unwrap();
        assert_eq!(r.len(), 1);
        let e = parse("_A: 1\nB: 2\n---\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("partly deleted"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("A: 1\nno colon here\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("A: 1\nbad tag!: x\n").unwrap_err();
        assert!(e.problem.contains("invalid tag"));
        let e = parse("A: a\u{7}b\n").unwrap_err();
        assert!(e.problem.contains("control character"));
        let e = check_utf8(b"A: 1\nB: \xff\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn offsets_point_into_the_text() {
        let t = "A: one\nB: two\n---\nC: three\n";
        for_each_record(t, |r| {
            for f in &r.fields {
                assert_eq!(&t[f.value_offset..f.value_offset + f.value.len()], f.value);
            }
            assert!(t[r.start..r.end].ends_with('\n'));
            Ok::<(), SyntaxError>(())
        })
        .unwrap();
    }

    #[test]
    fn utf8_values() {
        let r = parse("City: Zürich\nName: Łódź Spółdzielnia\n").unwrap();
        assert_eq!(r[0][0].1, "Zürich");
    }
}
