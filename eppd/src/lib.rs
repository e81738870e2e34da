//! eppd: the EPP server (RFC 5730-5734 over TLS with client certificates) and the one writer
//! of registry changes, emitted as MKDB change files for the loader.
//!
//! This crate holds the protocol layer, all sans-I/O:
//! - [`frame`]: RFC 5734 length-prefixed framing;
//! - [`xml`]: frames to typed [`command`] values (quick-xml, namespace-aware, schema rules);
//! - [`command`]: the commands, the contract of the registry core;
//! - [`response`]: typed responses and their XML;
//! - [`result`]: result codes and [`result::EppError`];
//! - [`session`]: the EPP session state machine over frames, with the [`session::Registrars`]
//!   (login) and [`session::Registry`] (the core) traits;
//! - [`auth`]: registrar password hashes (argon2id).
//!
//! Still to come (issue 4, part 2): the TLS server (rustls, client certificates), the
//! registry core (object store, business rules, transfers, poll queue), durability and the
//! change files. The record schemas it will write ship in `mkdb/schemas`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod command;
pub mod frame;
pub mod response;
pub mod result;
pub mod session;
#[cfg(test)]
mod testutil;
pub mod xml;
