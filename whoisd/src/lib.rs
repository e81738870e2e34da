//! whoisd: the public whois service. It serves port 43 (RFC 3912, the Public Whois
//! Specification's directives and output) and RWhois (RFC 2167) from MKDB generations.
//!
//! The query language, execution and record rendering live in `mkdb` (`mkdb::query`,
//! `mkdb::render`) so that `mkdb query` prints exactly what this service prints.
//! [`session`] is the sans-I/O protocol core of port 43 (bytes in, answer bytes and a
//! continue/close step out); [`directive`] is its table of offered directives. The
//! non-blocking server itself is tracked as its own issue and not written yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod directive;
pub mod session;

pub use directive::Directive;
pub use session::{Session, SessionConfig, Step};
