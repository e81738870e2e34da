//! Independent jobs on a fixed number of threads, results in job order. Used to compile
//! files, run cross-file checks and verify segments on all cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads to use by default: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `job(0..n)` on up to `threads` threads and returns the results in order.
pub fn map<T: Send>(threads: usize, n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| {
                while let Some(i) = Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < n) {
                    let r = job(i);
                    slots.lock().expect("no panics while holding the lock")[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .expect("joined")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_in_order_on_any_thread_count() {
        for threads in [1, 2, 7] {
            assert_eq!(super::map(threads, 5, |i| i * 10), [0, 10, 20, 30, 40]);
        }
        assert!(super::map(3, 0, |i| i).is_empty());
    }
}
