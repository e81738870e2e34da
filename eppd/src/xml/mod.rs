//! Reading EPP requests: [`tree`] turns a frame into a bounded, namespace-resolved element
//! tree (document-level rules: UTF-8, no DTD, entities), [`parse`] turns that tree into a
//! typed [`crate::command::Request`], enforcing the element order of the RFC schemas and
//! their value rules. Writing responses is [`crate::response`].

pub mod parse;
pub mod tree;

pub use parse::{ParseFailure, parse_request};
