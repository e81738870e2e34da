//! The loader: compiles source trees into MKDB generations (`loader compile`, over
//! `mkdb::compile`) and follows the change spool, publishing each batch of change files as a
//! delta generation within milliseconds ([`watch`], `loader watch`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod fault;
pub mod watch;
