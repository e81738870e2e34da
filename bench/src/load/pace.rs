//! Open-loop pacing (`--rate`): the send schedule of one client thread, sans I/O.
//!
//! Query *k* of a thread is due at `start + offset + k / rate`, whatever happened to the
//! queries before it, so a slow server does not slow the generator down (no coordinated
//! omission): queries that find no free connection wait in a backlog, and their latency is
//! measured from their *scheduled* time, not from when they finally left. The event loop
//! that sends them is in [`super::client`].

use std::time::{Duration, Instant};

/// The schedule of one thread's share of a fixed query rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// When query 0 is due.
    first: Instant,
    /// Queries per second of this schedule.
    rate: f64,
    /// Queries handed out so far (the next one is number `taken`).
    taken: u64,
}

impl Pacer {
    /// Thread `thread` of `threads` sharing `rate` queries/s from `start`: each thread runs at
    /// `rate / threads`, offset by `thread / rate` so that the threads' queries interleave.
    pub fn new(start: Instant, rate: f64, thread: usize, threads: usize) -> Pacer {
        let threads = threads.max(1);
        Pacer {
            first: start + Duration::from_secs_f64(thread as f64 / rate),
            rate: rate / threads as f64,
            taken: 0,
        }
    }

    /// Queries per second of this schedule.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When query `k` is due.
    pub fn at(&self, k: u64) -> Instant {
        // Integer nanoseconds from a float product: exact to well under a nanosecond for
        // any run shorter than years.
        self.first + Duration::from_nanos((k as f64 * 1e9 / self.rate) as u64)
    }

    /// When the next query not yet taken is (or was) due.
    pub fn next_at(&self) -> Instant {
        self.at(self.taken)
    }

    /// Is a query due and not yet taken at `now`?
    pub fn has_due(&self, now: Instant) -> bool {
        self.next_at() <= now
    }

    /// Takes the next query if it is due; returns its scheduled time.
    pub fn take(&mut self, now: Instant) -> Option<Instant> {
        let at = self.next_at();
        if at <= now {
            self.taken += 1;
            Some(at)
        } else {
            None
        }
    }

    /// Queries taken so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Queries due at or before `t` (taken or not).
    pub fn due_by(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.first) {
            None => 0,
            Some(d) => {
                let mut n = (d.as_secs_f64() * self.rate) as u64;
                // Float rounding either way: settle on what `at` says.
                while self.at(n) > t && n > 0 {
                    n -= 1;
                }
                while self.at(n + 1) <= t {
                    n += 1;
                }
                n + 1
            }
        }
    }

    /// Queries due by `now` and not yet taken: how far behind schedule the sender is.
    pub fn backlog(&self, now: Instant) -> u64 {
        self.due_by(now).saturating_sub(self.taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_evenly_spaced_and_open_loop() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 1000.0, 0, 1);
        assert_eq!(p.at(0), t0);
        assert_eq!(p.at(1), t0 + Duration::from_millis(1));
        assert_eq!(p.at(2500), t0 + Duration::from_millis(2500));
        // Query 0 is due at once, query 1 not before 1 ms.
        assert_eq!(p.take(t0), Some(t0));
        assert_eq!(p.take(t0 + Duration::from_micros(999)), None);
        assert!(!p.has_due(t0 + Duration::from_micros(999)));
        // The sender stalls for 10 ms: ten queries are now due, each with its own
        // scheduled time (latency runs from there), none skipped.
        let late = t0 + Duration::from_millis(10);
        assert_eq!(p.due_by(late), 11);
        assert_eq!(p.backlog(late), 10);
        let got: Vec<_> = std::iter::from_fn(|| p.take(late)).collect();
        assert_eq!(got.len(), 10);
        assert_eq!(got[0], t0 + Duration::from_millis(1));
        assert_eq!(got[9], t0 + Duration::from_millis(10));
        assert_eq!(p.backlog(late), 0);
        assert_eq!(p.taken(), 11);
        assert_eq!(p.next_at(), t0 + Duration::from_millis(11));
    }

    #[test]
    fn threads_share_the_rate_and_interleave() {
        let t0 = Instant::now();
        let threads = 4;
        let rate = 40_000.0;
        let mut all: Vec<Instant> = Vec::new();
        for t in 0..threads {
            let mut p = Pacer::new(t0, rate, t, threads);
            assert_eq!(p.rate(), 10_000.0);
            let end = t0 + Duration::from_millis(100);
            all.extend(std::iter::from_fn(|| p.take(end)));
        }
        // 100 ms at 40,000/s: 4,000 queries (each thread's query 0 at its offset included).
        assert!((3999..=4004).contains(&all.len()), "{}", all.len());
        all.sort();
        // Merged, they are spaced 25 µs apart.
        for w in all.windows(2).take(1000) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_nanos(24_990) && gap <= Duration::from_nanos(25_010),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn due_by_matches_at_around_fractional_periods() {
        let t0 = Instant::now();
        let p = Pacer::new(t0, 3.0, 0, 1); // every 333,333,333 ns
        assert_eq!(p.due_by(t0), 1);
        for k in 0..50u64 {
            let at = p.at(k);
            assert_eq!(p.due_by(at), k + 1, "k {k}");
            if k > 0 {
                assert_eq!(p.due_by(at - Duration::from_nanos(1)), k, "k {k}");
            }
        }
        let before = Pacer::new(t0 + Duration::from_secs(1), 3.0, 0, 1);
        assert_eq!(before.due_by(t0), 0);
        assert_eq!(before.backlog(t0), 0);
    }
}
