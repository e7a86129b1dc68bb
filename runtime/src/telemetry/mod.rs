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
