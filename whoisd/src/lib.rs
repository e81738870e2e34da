//! whoisd: the public whois service. It serves port 43 (RFC 3912, the Public Whois
//! Specification's directives and output) and RWhois (RFC 2167) from MKDB generations.
//!
//! The query language, execution and record rendering live in `mkdb` (`mkdb::query`,
//! `mkdb::render`) so that `mkdb query` prints exactly what this service prints.
//!
//! - [`session`]: the sans-I/O protocol core of both ports (bytes in, answer bytes and a
//!   continue/close step out); [`directive`] is its table of directives; [`rwhois`] writes
//!   the RWhois banner and dump-format answers; [`auth`] checks operator passwords;
//!   [`register`] parses `-register` blocks, checks them against the schema and the served
//!   records (compare-and-swap), and runs their submission to the change spool on its own
//!   thread.
//! - [`server`]: the non-blocking mio server: worker threads with `SO_REUSEPORT` listeners,
//!   connections as state machines, bounds, idle timeout, graceful shutdown.
//! - [`cache`]: each worker's cache of rendered port-43 answers of the generation served.
//! - [`live`]: the generation being served and the watcher that switches to a newly
//!   published one.
//! - [`limits`]: abuse countermeasures (rate, connections, contact budget, allow/deny).
//! - [`metrics`]: the process's counters for operators: `-status` lines and the Prometheus
//!   metrics page.
//! - [`rdap`]: RDAP (RFC 9082/9083) and the web page, served over HTTP by `rdapd` from the
//!   same generations and limits.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod cache;
pub mod directive;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod proxy;
pub mod rdap;
pub mod register;
pub mod rwhois;
pub mod server;
pub mod session;
#[cfg(test)]
mod testutil;

pub use directive::Directive;
pub use server::{Handle, Protocol, Server, ServerConfig};
pub use session::{Dialect, Session, SessionConfig, Step};

/// Writes one line to the log (standard error): UTC time, process id, message.
pub fn log(message: &str) {
    let now = mkdb::generation::rfc3339_now();
    eprintln!("{now} whoisd[{}]: {message}", std::process::id());
}

/// Parses a command-line duration: a whole number with the unit `ms`, `s` or `m` (a bare
/// number is seconds), e.g. `30s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 30s, 500ms, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!(
            "{s:?}: unknown unit {unit:?} (use ms, s or m, e.g. 30s)"
        )),
    }
}
