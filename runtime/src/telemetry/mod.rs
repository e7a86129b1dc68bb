//! What the runtime tells its operator: the runtime's own log lines ([`console`]), the
//! access line ([`access_log`]), each Micro's stdout/stderr ([`guest_logs`]), the recent requests, errors
//! and log lines the dashboard shows ([`activity`]), and the Prometheus counters
//! ([`metrics`]).
//!
//! It must not read the running app: callers hand it what to record or render.

pub mod access_log;
pub mod activity;
pub mod console;
pub mod guest_logs;
pub mod metrics;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A small number naming the calling thread (0, 1, 2… in the order threads first ask).
pub fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static THIS: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    THIS.with(|t| *t)
}

/// How many copies of a Micro's per-request counters and activity rings are kept: each
/// thread records into its own ([`shard`]), so the connection workers, one per core, do not
/// pass the same cache lines back and forth on every request; readers add them up.
pub const SHARDS: usize = 8;

/// The shard the calling thread records into.
pub fn shard() -> usize {
    thread_index() % SHARDS
}

/// A value alone on its cache lines (128 bytes: two lines, as adjacent-line prefetchers
/// pair them), so shards written by different cores do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_distinct_numbers() {
        let here = thread_index();
        assert_eq!(thread_index(), here);
        let there = std::thread::spawn(thread_index).join().unwrap();
        assert_ne!(here, there);
    }
}
