//! eppd: the EPP server (RFC 5730-5734 over TLS with client certificates) and the one writer
//! of registry changes, emitted as MKDB change files for the loader. Not written yet: it is
//! tracked as its own issue. The record schemas it will write (statuses, ROIDs, authInfo,
//! dates, registrars, host addresses, the .coop verification state) ship in `mkdb/schemas`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
