//! A small, bounded element tree built from one frame with quick-xml's namespace-aware
//! reader: what [`super::parse`] walks to build typed commands. Here the document-level
//! rules are enforced: UTF-8 only (declared and actual), no DTD (and so no entity
//! declarations), only the five predefined entities and character references, one root
//! element, no text beside child elements, a depth and an element-count limit.
//! Every violation is a 2001 [`EppError`]; nothing here panics on input.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::result::EppError;

/// Deepest element nesting accepted (EPP commands need about 8).
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 20_000;

/// An attribute: namespace (empty when unprefixed), local name, unescaped value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Namespace URI, empty for unprefixed attributes.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Unescaped value.
    pub value: String,
}

/// An element: namespace URI, local name, attributes, child elements and its text
/// (character data and CDATA, entities resolved; empty for elements with children).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI (empty when in no namespace).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Prefix as written (for messages), empty for the default namespace.
    pub prefix: String,
    /// Attributes, in document order, namespace declarations left out.
    pub attrs: Vec<Attr>,
    /// Child elements.
    pub children: Vec<Element>,
    /// Text content.
    pub text: String,
}

impl Element {
    /// The element as written, `prefix:name` or `name`, for messages.
    pub fn qname(&self) -> String {
        if self.prefix.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.prefix, self.name)
        }
    }

    /// Is this element `name` in namespace `ns`?
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The unprefixed attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.name == name)
            .map(|a| a.value.as_str())
    }
}

fn syntax(msg: impl Into<String>) -> EppError {
    EppError::syntax(msg)
}

/// Parses one XML document into its root element.
pub fn parse_document(bytes: &[u8]) -> Result<Element, EppError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        syntax(format!(
            "the message is not valid UTF-8 (at byte {}); EPP requires UTF-8",
            e.valid_up_to()
        ))
    })?;
    let mut reader = NsReader::from_str(text);
    {
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.check_comments = true;
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| syntax(format!("XML is not well-formed: {e}")))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(prefix) => {
                return Err(syntax(format!(
                    "namespace prefix {:?} is not declared",
                    String::from_utf8_lossy(&prefix)
                )));
            }
        };
        match event {
            Event::Decl(decl) => {
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|e| syntax(format!("bad XML declaration: {e}")))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(syntax(format!(
                            "encoding {:?} is not supported; EPP requires UTF-8",
                            String::from_utf8_lossy(&enc)
                        )));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(syntax(
                    "<!DOCTYPE> is not allowed: DTDs and entity declarations are refused",
                ));
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Start(start) => {
                if root.is_some() {
                    return Err(syntax("more than one root element"));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(syntax(format!("more than {MAX_ELEMENTS} elements")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(syntax(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let qname = start.name();
                let prefix = qname
                    .prefix()
                    .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                    .unwrap_or_default();
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr =
                        attr.map_err(|e| syntax(format!("bad attribute in <{name}>: {e}")))?;
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ares, local) = reader.resolve_attribute(attr.key);
                    let ans = match ares {
                        ResolveResult::Bound(ns) => {
                            String::from_utf8_lossy(ns.as_ref()).into_owned()
                        }
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(p) => {
                            return Err(syntax(format!(
                                "namespace prefix {:?} of an attribute of <{name}> is not declared",
                                String::from_utf8_lossy(&p)
                            )));
                        }
                    };
                    let value = attr
                        .unescape_value()
                        .map_err(|e| syntax(format!("bad attribute value in <{name}>: {e}")))?;
                    attrs.push(Attr {
                        ns: ans,
                        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value: value.into_owned(),
                    });
                }
                stack.push(Element {
                    ns,
                    name,
                    prefix,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                });
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(syntax("unexpected end tag"));
                };
                if !done.children.is_empty() {
                    if !done.text.trim().is_empty() {
                        return Err(syntax(format!(
                            "<{}> holds text beside its child elements",
                            done.qname()
                        )));
                    }
                    done.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Empty(_) => return Err(syntax("unexpected empty element event")),
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| syntax(format!("bad text: {e}")))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| syntax(format!("bad CDATA: {e}")))?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| syntax(format!("bad character reference: {e}")))?
                } else {
                    match r.as_ref() {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    }
                };
                let Some(c) = c else {
                    return Err(syntax(format!(
                        "entity &{}; is not defined (only the five XML entities are)",
                        String::from_utf8_lossy(r.as_ref())
                    )));
                };
                if c == '\0' || (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) {
                    return Err(syntax("character reference to a character XML forbids"));
                }
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(syntax(format!(
            "the document ends inside <{}>",
            stack.last().map(Element::qname).unwrap_or_default()
        )));
    }
    root.ok_or_else(|| syntax("the message holds no XML element"))
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), EppError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(syntax("text outside the root element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ResultCode;

    fn err(doc: &str) -> String {
        let e = parse_document(doc.as_bytes()).unwrap_err();
        assert_eq!(e.code, ResultCode::CommandSyntaxError);
        e.message
    }

    #[test]
    fn namespaces_text_and_entities() {
        let el = parse_document(
            br#"<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:x" xmlns:p="urn:p"><p:b k="1 &amp; 2">x &lt; y&#65;<![CDATA[<z>]]></p:b><c/></a>"#,
        )
        .unwrap();
        assert_eq!(el.ns, "urn:x");
        assert_eq!(el.children[0].ns, "urn:p");
        assert_eq!(el.children[0].qname(), "p:b");
        assert_eq!(el.children[0].attr("k"), Some("1 & 2"));
        assert_eq!(el.children[0].text, "x < yA<z>");
        assert!(el.children[1].is("urn:x", "c"));
    }

    #[test]
    fn refusals() {
        assert!(err("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").contains("DOCTYPE"));
        assert!(err("<a>&x;</a>").contains("not defined"));
        assert!(err("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>").contains("UTF-8"));
        assert!(
            parse_document(b"<a>\xff</a>")
                .unwrap_err()
                .message
                .contains("UTF-8")
        );
        assert!(err("<a><b></a>").contains("well-formed"));
        assert!(err("<a/><b/>").contains("root"));
        assert!(err("<p:a/>").contains("prefix"));
        assert!(err("<a>t<b/></a>").contains("text beside"));
        assert!(err("").contains("no XML element"));
        assert!(err("<a>").contains("ends inside"));
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(err(&deep).contains("deeper"));
    }
}
