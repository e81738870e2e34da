//! Benchmarks and load generators. The criterion benchmarks are in `bench/benches/`;
//! helpers shared between them live here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
