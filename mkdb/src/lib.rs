//! MKDB: the registry's database of hand-editable text records compiled into memory-mapped
//! fst indexes.
//!
//! The pieces, in data-flow order:
//! - [`record`]: the `Tag: value` text format (records separated by `---`).
//! - [`change`]: change files, the sequence-numbered MKDB text that carries changes from
//!   their writers (eppd, hand edits) to the loader; record versions for compare-and-swap.
//! - [`schema`]: per-class schema files: attributes, aliases, checks, index kinds, labels.
//! - [`key`]: normalisation of values and queries into index keys (case, IDN, IP).
//! - [`segment`]: one data file plus its compiled index (record table, field table, fsts).
//! - [`keydir`]: per-class hash directories from primary key to record (joins).
//! - [`generation`]: immutable sets of segments published atomically; opening; GC.
//! - [`compile`](mod@compile): source tree to generation, with cross-file checks (`loader compile`,
//!   `mkdb check`).
//! - [`delta`](mod@delta): change files published as delta generations (a segment per class
//!   and tombstones on top of the current generation), checked as transactions.
//! - [`compact`]: deltas merged into one, or folded into the base segments and the source
//!   tree, in the background.
//! - [`diff`]: which records may differ between two generations (for whoisd's answer
//!   cache, kept across a switch).
//! - [`edit`]: one record edited by hand as text, turned into a compare-and-swap change.
//! - [`query`]: the whois query language and its execution.
//! - [`render`]: whois output of records and whole answers.
//! - [`synth`]: a deterministic synthetic registry for demos, tests and benchmarks.
//! - [`bloom`]: Bloom filters that spare fst walks for keys a segment lacks.
//! - [`parallel`]: independent jobs on all cores, results in order.
//! - [`bytes`]: mapped files (the crate's only `unsafe`) and shared byte windows.
#![deny(missing_docs)]

pub mod bloom;
pub mod bytes;
pub mod change;
pub mod compact;
pub mod compile;
pub mod delta;
pub mod diff;
pub mod edit;
pub mod generation;
pub mod key;
pub mod keydir;
pub mod parallel;
pub mod query;
pub mod record;
pub mod render;
pub mod schema;
pub mod segment;
#[path = "gen.rs"]
pub mod synth;

pub use compile::{CompileError, CompileOptions, CompileReport, SourceError, check, compile};
pub use generation::{DbError, Generation};
pub use query::{Hits, Query, QueryError, RecordRef};
pub use schema::Schema;
