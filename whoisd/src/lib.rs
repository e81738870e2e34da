//! whoisd: the public whois service. It serves port 43 (RFC 3912, the Public Whois
//! Specification's directives and output) and RWhois (RFC 2167) from MKDB generations.
//!
//! The query language, execution and record rendering live in `mkdb` (`mkdb::query`,
//! `mkdb::render`) so that `mkdb query` prints exactly what this service prints. The
//! non-blocking server itself is tracked as its own issue and not written yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
