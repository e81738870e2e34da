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
//! The registry (issue 4, part 2):
//! - [`store`]: the objects in memory and their MKDB records (`mkdb/schemas`);
//! - [`core`]: the registry core, RFC 5730-5733 rules and the .coop extension, a
//!   [`session::Registry`];
//! - [`writer`]: the one writer thread, group commit of change files and the journal
//!   (poll messages, transfers), restart recovery, registrar logins;
//! - [`server`]: the TLS server (rustls, client certificates bound to registrars), one
//!   thread per connection;
//! - [`admin`]: the operators' Unix socket (verification states, change files from
//!   `mkdb edit` and `loader import`: eppd is the spool's one sequencer), through the
//!   writer;
//! - [`certs`]: development certificates (rcgen).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod certs;
pub mod command;
pub mod core;
pub mod frame;
pub mod response;
pub mod result;
pub mod server;
pub mod session;
pub mod store;
#[cfg(test)]
mod testutil;
pub mod writer;
pub mod xml;
