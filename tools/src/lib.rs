//! Operator tools that span several components (for example `registry up`, which starts the
//! whole system on one machine). The single-component commands live with their component:
//! `mkdb` (gen, check, query) in the `mkdb` crate, `loader compile` in `loader`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
