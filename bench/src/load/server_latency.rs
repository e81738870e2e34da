//! `--server-metrics`: how long the server itself says its answers took over the measured
//! window, from its Prometheus histogram (`whoisd_answer_duration_seconds`: from the read that
//! received a query to the write that finished its answer). The page is scraped when the
//! measured window opens and again when the load ends; the difference of the two is the
//! window's histogram. Beside the generator's own latency it tells the server's share apart
//! from the time queries spent waiting in the generator and in socket buffers.
//!
//! Parsing is separate from fetching, so it is tested on fixed text. Quantiles are bucket
//! bounds: "p99 <= 250 µs" means at least 99% of the answers were in buckets up to 250 µs.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The histogram family whoisd exposes.
pub const FAMILY: &str = "whoisd_answer_duration_seconds";

/// A Prometheus histogram: cumulative counts per upper bound (seconds), the last `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds in seconds, increasing; the last is infinite.
    pub bounds: Vec<f64>,
    /// Cumulative counts, one per bound.
    pub cumulative: Vec<u64>,
    /// The sum of the observations, seconds.
    pub sum: f64,
}

/// Reads histogram `family` from an exposition text: its `_bucket` samples (in order, each
/// with an `le` label, ending with `+Inf`), and `_sum`.
pub fn parse(text: &str, family: &str) -> Result<Histogram, String> {
    let bucket = format!("{family}_bucket{{");
    let sum_name = format!("{family}_sum ");
    let mut h = Histogram {
        bounds: Vec::new(),
        cumulative: Vec::new(),
        sum: f64::NAN,
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&bucket) {
            let (labels, value) = rest
                .split_once("} ")
                .ok_or_else(|| format!("{family}: malformed bucket line {line:?}"))?;
            let le = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("{family}: bucket without le: {line:?}"))?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>()
                    .map_err(|_| format!("{family}: bad le in {line:?}"))?
            };
            let count: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{family}: bad count in {line:?}"))?;
            if h.bounds.last().is_some_and(|&b| b >= bound) {
                return Err(format!("{family}: bounds not increasing at {line:?}"));
            }
            if h.cumulative.last().is_some_and(|&c| c > count) {
                return Err(format!("{family}: counts not cumulative at {line:?}"));
            }
            h.bounds.push(bound);
            h.cumulative.push(count);
        } else if let Some(value) = line.strip_prefix(&sum_name) {
            h.sum = value
                .trim()
                .parse()
                .map_err(|_| format!("{family}: bad sum in {line:?}"))?;
        }
    }
    if h.bounds.last() != Some(&f64::INFINITY) {
        return Err(format!(
            "{family}: no histogram ending in +Inf on the page (is this a whoisd metrics port, \
             of a version that times its answers?)"
        ));
    }
    if h.sum.is_nan() {
        return Err(format!("{family}: no {family}_sum"));
    }
    Ok(h)
}

impl Histogram {
    /// Observations counted.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// What was added between `earlier` and `self` (the same server, scraped twice).
    pub fn since(&self, earlier: &Histogram) -> Result<Histogram, String> {
        if self.bounds != earlier.bounds {
            return Err("the histogram's buckets changed between scrapes".into());
        }
        let cumulative = self
            .cumulative
            .iter()
            .zip(&earlier.cumulative)
            .map(|(now, then)| now.checked_sub(*then))
            .collect::<Option<Vec<u64>>>()
            .ok_or("the histogram went backwards between scrapes (was the server restarted?)")?;
        Ok(Histogram {
            bounds: self.bounds.clone(),
            cumulative,
            sum: self.sum - earlier.sum,
        })
    }

    /// The upper bound, in microseconds, of the bucket holding quantile `q`: at least that
    /// share of the observations were no longer. `None` with no observations; infinite when
    /// the quantile is past the last finite bound.
    pub fn quantile_bound_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let i = self.cumulative.iter().position(|&c| c >= rank)?;
        Some(self.bounds[i] * 1e6)
    }

    /// Mean observation, microseconds.
    pub fn mean_us(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum * 1e6 / n as f64)
    }

    /// For the JSON report: count, mean, and the bucket bounds of p50, p99 and p99.9
    /// (`null` past the last finite bound).
    pub fn to_json(&self) -> Value {
        let q = |q: f64| {
            self.quantile_bound_us(q)
                .filter(|b| b.is_finite())
                .map(|b| b.round() as u64)
        };
        json!({
            "answers": self.count(),
            "mean_us": self.mean_us().map(|m| (m * 10.0).round() / 10.0),
            "p50_le_us": q(0.5),
            "p99_le_us": q(0.99),
            "p999_le_us": q(0.999),
        })
    }

    /// One line for the table report.
    pub fn table(&self) -> String {
        let q = |q: f64| match self.quantile_bound_us(q) {
            None => "-".to_string(),
            Some(b) if b.is_finite() => format!("<= {b:.0}"),
            Some(_) => format!(
                "> {:.0}",
                self.bounds.iter().rev().nth(1).copied().unwrap_or(0.0) * 1e6
            ),
        };
        format!(
            "server says: {} answers, mean {:.1} µs, p50 {} p99 {} p99.9 {} µs (read to written)\n",
            self.count(),
            self.mean_us().unwrap_or(0.0),
            q(0.5),
            q(0.99),
            q(0.999)
        )
    }
}

/// Fetches `http://ADDR/metrics` (HTTP/1.0, the body read to the close) within `timeout`.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: whois-load\r\n\r\n")?;
    let mut raw = Vec::new();
    s.take(16 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "metrics page not UTF-8"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP head"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        let status = head.lines().next().unwrap_or("").to_string();
        return Err(io::Error::other(format!("metrics page: {status}")));
    }
    Ok(body.to_string())
}

/// Scrapes `addr` once now.
pub fn scrape(addr: SocketAddr) -> Result<Histogram, String> {
    let body = fetch(addr, Duration::from_secs(5)).map_err(|e| format!("{addr}: {e}"))?;
    parse(&body, FAMILY)
}

/// Takes the window's first scrape when it opens, on a thread of its own, so the load does
/// not wait for it.
#[derive(Debug)]
pub struct Window {
    addr: SocketAddr,
    first: JoinHandle<Result<Histogram, String>>,
}

impl Window {
    /// Scrapes `addr` at `from` (checking it right away, so a wrong address fails before
    /// the load runs).
    pub fn open(addr: SocketAddr, from: Instant) -> Result<Window, String> {
        scrape(addr)?;
        let first = std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            scrape(addr)
        });
        Ok(Window { addr, first })
    }

    /// Scrapes again and returns what the window added.
    pub fn close(self) -> Result<Histogram, String> {
        let first = self
            .first
            .join()
            .map_err(|_| "the scraping thread panicked".to_string())??;
        scrape(self.addr)?.since(&first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP whoisd_queries_total x\n\
        # TYPE whoisd_queries_total counter\n\
        whoisd_queries_total 12\n\
        # HELP whoisd_answer_duration_seconds x\n\
        # TYPE whoisd_answer_duration_seconds histogram\n\
        whoisd_answer_duration_seconds_bucket{le=\"0.000025\"} 10\n\
        whoisd_answer_duration_seconds_bucket{le=\"0.0001\"} 50\n\
        whoisd_answer_duration_seconds_bucket{le=\"0.001\"} 99\n\
        whoisd_answer_duration_seconds_bucket{le=\"+Inf\"} 100\n\
        whoisd_answer_duration_seconds_sum 0.5\n\
        whoisd_answer_duration_seconds_count 100\n";

    #[test]
    fn parses_the_buckets_and_names_quantiles_by_bound() {
        let h = parse(PAGE, FAMILY).unwrap();
        assert_eq!(h.bounds, vec![0.000025, 0.0001, 0.001, f64::INFINITY]);
        assert_eq!(h.cumulative, vec![10, 50, 99, 100]);
        assert_eq!(h.count(), 100);
        assert_eq!(h.mean_us(), Some(5000.0));
        assert_eq!(h.quantile_bound_us(0.1), Some(25.0));
        assert_eq!(h.quantile_bound_us(0.11), Some(100.0));
        assert_eq!(h.quantile_bound_us(0.5), Some(100.0));
        assert_eq!(h.quantile_bound_us(0.99), Some(1000.0));
        assert_eq!(h.quantile_bound_us(0.999), Some(f64::INFINITY));
        let j = h.to_json();
        assert_eq!(j["p99_le_us"], 1000);
        assert!(j["p999_le_us"].is_null());
        assert!(
            h.table().contains("p99 <= 1000 p99.9 > 1000"),
            "{}",
            h.table()
        );
    }

    #[test]
    fn the_window_is_the_difference_of_two_scrapes() {
        let before = parse(PAGE, FAMILY).unwrap();
        let after = parse(
            &PAGE
                .replace("} 10\n", "} 1010\n")
                .replace("} 50\n", "} 1050\n")
                .replace("} 99\n", "} 1099\n")
                .replace("} 100\n", "} 1100\n")
                .replace("_sum 0.5", "_sum 0.52"),
            FAMILY,
        )
        .unwrap();
        let w = after.since(&before).unwrap();
        assert_eq!(w.cumulative, vec![1000, 1000, 1000, 1000]);
        assert!((w.mean_us().unwrap() - 20.0).abs() < 1e-6);
        assert_eq!(w.quantile_bound_us(0.999), Some(25.0));
        assert!(before.since(&after).is_err(), "counts going backwards");
        let empty = before.since(&before).unwrap();
        assert_eq!(empty.quantile_bound_us(0.5), None);
        assert!(empty.to_json()["p50_le_us"].is_null());
    }

    #[test]
    fn malformed_pages_are_refused() {
        assert!(parse("whoisd_queries_total 1\n", FAMILY).is_err());
        let no_inf = PAGE.replace("{le=\"+Inf\"} 100\n", "{le=\"0.01\"} 100\n");
        assert!(parse(&no_inf, FAMILY).is_err());
        let not_cumulative = PAGE.replace("} 99\n", "} 9\n");
        assert!(parse(&not_cumulative, FAMILY).is_err());
        let unordered = PAGE.replace("le=\"0.001\"", "le=\"0.00001\"");
        assert!(parse(&unordered, FAMILY).is_err());
        let no_sum = PAGE.replace("whoisd_answer_duration_seconds_sum 0.5\n", "");
        assert!(parse(&no_sum, FAMILY).is_err());
        let bad = PAGE.replace("} 50\n", "} x\n");
        assert!(parse(&bad, FAMILY).is_err());
    }
}
