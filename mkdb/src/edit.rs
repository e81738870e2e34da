//! Hand editing one record (`mkdb edit CLASS KEY`), the operator's way: the record is
//! written out as text with its version, the operator edits it, and the result becomes a
//! change (a put based on that version, or a delete when every field was removed) for the
//! same pipeline EPP changes take. The version makes the edit a compare-and-swap: if the
//! record changed meanwhile (an EPP update, another operator), the loader refuses the edit
//! as a conflict instead of overwriting either side.

use crate::Generation;
use crate::change::{Action, Change, Version, canonical};
use crate::delta::record_version;
use crate::key;
use crate::record::{self, RawRecord, SyntaxError};

/// A record ready for the editor.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Class name as in the schema.
    pub class: String,
    /// The primary key as given.
    pub key: String,
    /// The version the edit is based on (`None`: a new record).
    pub base: Option<Version>,
    /// The text the operator edits: explanatory comments, then the record.
    pub text: String,
}

/// Writes out the record of `class` whose primary key is `key` for editing; a record that
/// does not exist yet gets a template with the class's required attributes.
pub fn draft(g: &Generation, class: &str, key: &str) -> Result<Draft, String> {
    let c = g
        .schema
        .class(class)
        .ok_or_else(|| format!("no class {class:?} (classes: {})", class_names(g)))?;
    let mut text = format!(
        "# mkdb edit: {} {key}. Save to submit the change; exit without saving to cancel.\n\
         # Remove every field line to delete the record. Lines starting with # are ignored.\n",
        c.name
    );
    let (base, body) = match g.find(c.id, key) {
        Some(r) => {
            let mut body = String::new();
            record::for_each_record(g.record(r).text(), |rec| {
                body = canonical(rec);
                Ok::<_, SyntaxError>(())
            })
            .map_err(|e| e.to_string())?;
            text.push_str(&format!("# Based on version {}.\n", record_version(g, r)));
            (Some(record_version(g, r)), body)
        }
        None => {
            text.push_str("# A new record: fill in the required attributes.\n");
            let body = c
                .attrs
                .iter()
                .filter(|a| a.required)
                .map(|a| {
                    let v = if a.id == c.primary_key { key } else { "" };
                    format!("{}: {v}\n", a.name)
                })
                .collect();
            (None, body)
        }
    };
    text.push_str(&body);
    Ok(Draft {
        class: c.name.clone(),
        key: key.to_owned(),
        base,
        text,
    })
}

fn class_names(g: &Generation) -> String {
    g.schema
        .classes
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an edit amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changed.
    Unchanged,
    /// A change to submit.
    Change(Change),
}

/// Turns the edited text into a change, or lists every problem (`line N: problem`, lines
/// of the edited text).
pub fn finish(g: &Generation, draft: &Draft, edited: &str) -> Result<Outcome, Vec<String>> {
    let c = g
        .schema
        .class(&draft.class)
        .ok_or_else(|| vec![format!("no class {:?}", draft.class)])?;
    let mut recs: Vec<RawRecord<'_>> = Vec::new();
    record::for_each_record(edited, |r| {
        recs.push(r.clone());
        Ok::<_, SyntaxError>(())
    })
    .map_err(|e| vec![e.to_string()])?;
    let change = |action, record| Change {
        action,
        class: c.name.clone(),
        key: draft.key.clone(),
        base: draft.base,
        record,
    };
    match recs.as_slice() {
        [] if draft.base.is_none() => Ok(Outcome::Unchanged),
        [] => Ok(Outcome::Change(change(Action::Delete, String::new()))),
        [rec] => {
            let (mut fields, mut problems) = (Vec::new(), Vec::new());
            c.validate(rec, &mut fields, &mut problems);
            let mut errors: Vec<String> = problems
                .iter()
                .map(|p| format!("line {}: {}", p.line, p.problem))
                .collect();
            let pk = c.pk();
            let holds = fields
                .iter()
                .find(|f| f.attr == pk.id)
                .map(|f| key::exact_key(pk.ty, f.value));
            if errors.is_empty() && holds != Some(key::exact_key(pk.ty, &draft.key)) {
                errors.push(format!(
                    "the {} must stay {:?} (to rename, create the new record and delete this one)",
                    pk.name, draft.key
                ));
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            let text = canonical(rec);
            if draft.base == Some(crate::change::version_of(&text)) {
                return Ok(Outcome::Unchanged);
            }
            Ok(Outcome::Change(change(Action::Put, text)))
        }
        more => Err(vec![format!(
            "one record expected, found {} (a line starting with --- separates records)",
            more.len()
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Generation) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let opts = crate::synth::GenOptions {
            domains: 20,
            ..Default::default()
        };
        crate::synth::generate(&src, &opts, &mut |_| {}).unwrap();
        let db = dir.path().join("db");
        crate::compile(&src, &db, &crate::CompileOptions::default(), &|_, _| {}).unwrap();
        let g = Generation::open(&db).unwrap();
        (dir, g)
    }

    #[test]
    fn edit_put_delete_unchanged_and_errors() {
        let (_d, g) = db();
        let d = draft(&g, "domain", "test.coop").unwrap();
        assert!(d.base.is_some());
        assert!(d.text.contains("Domain-Name: test.coop"));
        assert_eq!(finish(&g, &d, &d.text), Ok(Outcome::Unchanged));
        let edited = d
            .text
            .replace("Domain-Status: ok", "Domain-Status: clientHold");
        match finish(&g, &d, &edited).unwrap() {
            Outcome::Change(c) => {
                assert_eq!((c.action, c.base), (Action::Put, d.base));
                assert!(c.record.contains("Domain-Status: clientHold"));
            }
            o => panic!("{o:?}"),
        }
        let only_comments: String = d.text.lines().filter(|l| l.starts_with('#')).collect();
        match finish(&g, &d, &only_comments).unwrap() {
            Outcome::Change(c) => assert_eq!(c.action, Action::Delete),
            o => panic!("{o:?}"),
        }
        let renamed = d
            .text
            .replace("Domain-Name: test.coop", "Domain-Name: other.coop");
        assert!(finish(&g, &d, &renamed).unwrap_err()[0].contains("must stay"));
        let bad = d.text.replace("Domain-Status: ok", "Colour: blue");
        assert!(!finish(&g, &d, &bad).unwrap_err().is_empty());
        let two = format!("{}---\n{}", d.text, d.text);
        assert!(finish(&g, &d, &two).unwrap_err()[0].contains("one record expected"));
        // A new record gets a template with the required attributes.
        let n = draft(&g, "domain", "new-one.coop").unwrap();
        assert!(n.base.is_none() && n.text.contains("Domain-Name: new-one.coop"));
        assert!(draft(&g, "colour", "x").unwrap_err().contains("no class"));
    }
}
