//! Counters of one Micro and the Prometheus text of `/__space/metrics` (SPEC §4).
//!
//! Lock-free: every request updates a few atomics (a status slot, a latency bucket) in its
//! thread's shard ([`super::shard`]), which the page adds up. It must not allocate on the
//! request path, and it only reads other state (warm instances, /tmp
//! bytes) when the metrics page is rendered. Label values (Micro and action names) are
//! escaped as the text exposition format asks ([`Label`]).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Padded, SHARDS, shard};
use crate::transport::ErrorKind;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 20.0,
];
/// Status codes 100..=599 each get a slot.
const STATUS_SLOTS: usize = 500;

/// What one Micro has served.
pub struct MicroMetrics {
    /// Invocations started (HTTP requests and action runs that got a concurrency slot).
    pub invocations: AtomicU64,
    /// Instances made (cold starts).
    pub cold_starts: AtomicU64,
    /// Times the Micro woke from sleep.
    pub wakes: AtomicU64,
    /// Answered requests, one shard per [`SHARDS`].
    shards: Box<[Padded<Answered<AtomicU64>>]>,
}

/// Answered requests: by status (100 to 599), by latency bucket, their count and total time,
/// and runtime errors by kind. Atomics while counting, plain numbers once added up.
#[derive(Debug, PartialEq)]
struct Answered<N> {
    by_status: Box<[N]>,
    buckets: [N; BUCKETS.len()],
    count: N,
    sum_micros: N,
    errors: [N; ErrorKind::ALL.len()],
}

impl<N: Default> Default for Answered<N> {
    fn default() -> Self {
        Answered {
            by_status: (0..STATUS_SLOTS).map(|_| N::default()).collect(),
            buckets: std::array::from_fn(|_| N::default()),
            count: N::default(),
            sum_micros: N::default(),
            errors: std::array::from_fn(|_| N::default()),
        }
    }
}

impl Default for MicroMetrics {
    fn default() -> Self {
        MicroMetrics {
            invocations: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
        }
    }
}

impl MicroMetrics {
    /// Counts one answered request.
    pub fn record(&self, status: u16, took: Duration, error: Option<ErrorKind>) {
        let mine = &self.shards[shard()].0;
        if let Some(slot) = (status as usize)
            .checked_sub(100)
            .and_then(|i| mine.by_status.get(i))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            mine.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        mine.count.fetch_add(1, Ordering::Relaxed);
        mine.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if let Some(kind) = error
            && let Some(i) = ErrorKind::ALL.iter().position(|k| *k == kind)
        {
            mine.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The answered requests of every shard, added up.
    fn answered(&self) -> Answered<u64> {
        let mut total = Answered::<u64>::default();
        let add = |to: &mut [u64], from: &[AtomicU64]| {
            for (t, f) in to.iter_mut().zip(from) {
                *t += f.load(Ordering::Relaxed);
            }
        };
        for shard in self.shards.iter().map(|s| &s.0) {
            add(&mut total.by_status, &shard.by_status);
            add(&mut total.buckets, &shard.buckets);
            add(&mut total.errors, &shard.errors);
            total.count += shard.count.load(Ordering::Relaxed);
            total.sum_micros += shard.sum_micros.load(Ordering::Relaxed);
        }
        total
    }
}

/// One action's runs so far, by result.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCounts {
    pub action: String,
    pub micro: String,
    pub ok: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// A snapshot of a Micro's state, for `/__space/status` and the gauges of
/// `/__space/metrics`.
#[derive(Debug, serde::Serialize)]
pub struct MicroState {
    pub name: String,
    pub awake: bool,
    pub warm_instances: usize,
    pub in_flight: usize,
    pub tmp_bytes: u64,
    pub requests: u64,
    pub cold_starts: u64,
}

/// One Micro's counters and its state now: a row of [`render`].
pub struct MicroRow<'a> {
    pub metrics: &'a MicroMetrics,
    pub state: MicroState,
}

/// The Prometheus text exposition of every Micro's metrics.
pub fn render(micros: &[MicroRow<'_>], actions: &[RunCounts], dropped_log_lines: u64) -> String {
    let answered: Vec<Answered<u64>> = micros.iter().map(|m| m.metrics.answered()).collect();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        rows(&mut out);
    };
    family(
        "micro_wasm_requests_total",
        "counter",
        "Requests answered, by Micro and status.",
        &mut |o| {
            for (m, answered) in micros.iter().zip(&answered) {
                for (i, &n) in answered.by_status.iter().enumerate() {
                    if n > 0 {
                        let _ = writeln!(
                            o,
                            "micro_wasm_requests_total{{micro=\"{}\",status=\"{}\"}} {n}",
                            Label(&m.state.name),
                            i + 100
                        );
                    }
                }
            }
        },
    );
    family(
        "micro_wasm_request_duration_seconds",
        "histogram",
        "Time to answer, by Micro.",
        &mut |o| {
            for (m, answered) in micros.iter().zip(&answered) {
                let mut cumulative = 0;
                for (b, n) in BUCKETS.iter().zip(&answered.buckets) {
                    cumulative += n;
                    let _ = writeln!(
                        o,
                        "micro_wasm_request_duration_seconds_bucket{{micro=\"{}\",le=\"{b}\"}} {cumulative}",
                        Label(&m.state.name)
                    );
                }
                let count = answered.count;
                let sum = answered.sum_micros as f64 / 1e6;
                let _ = writeln!(
                    o,
                    "micro_wasm_request_duration_seconds_bucket{{micro=\"{}\",le=\"+Inf\"}} {count}",
                    Label(&m.state.name)
                );
                let _ = writeln!(
                    o,
                    "micro_wasm_request_duration_seconds_sum{{micro=\"{}\"}} {sum}",
                    Label(&m.state.name)
                );
                let _ = writeln!(
                    o,
                    "micro_wasm_request_duration_seconds_count{{micro=\"{}\"}} {count}",
                    Label(&m.state.name)
                );
            }
        },
    );
    family(
        "micro_wasm_errors_total",
        "counter",
        "Error responses by Micro and kind (timeout, trap, memory_limit, ...).",
        &mut |o| {
            for (m, answered) in micros.iter().zip(&answered) {
                for (kind, n) in ErrorKind::ALL.iter().zip(&answered.errors) {
                    let _ = writeln!(
                        o,
                        "micro_wasm_errors_total{{micro=\"{}\",kind=\"{}\"}} {}",
                        Label(&m.state.name),
                        kind.as_str(),
                        n
                    );
                }
            }
        },
    );
    for (name, kind, help, value) in [
        (
            "micro_wasm_cold_starts_total",
            "counter",
            "Instances created.",
            (|s: &MicroState| s.cold_starts) as fn(&MicroState) -> u64,
        ),
        (
            "micro_wasm_warm_instances",
            "gauge",
            "Idle instances kept warm.",
            |s| s.warm_instances as u64,
        ),
        (
            "micro_wasm_in_flight",
            "gauge",
            "Invocations running.",
            |s| s.in_flight as u64,
        ),
        (
            "micro_wasm_awake",
            "gauge",
            "1 when the Micro is awake.",
            |s| u64::from(s.awake),
        ),
        (
            "micro_wasm_tmp_bytes",
            "gauge",
            "Bytes counted against the /tmp quota.",
            |s| s.tmp_bytes,
        ),
    ] {
        family(name, kind, help, &mut |o| {
            for m in micros {
                let _ = writeln!(
                    o,
                    "{name}{{micro=\"{}\"}} {}",
                    Label(&m.state.name),
                    value(&m.state)
                );
            }
        });
    }
    family(
        "micro_wasm_action_runs_total",
        "counter",
        "Scheduled and manual action runs, by action and result (ok, failed, skipped).",
        &mut |o| action_rows(o, actions),
    );
    family(
        "micro_wasm_dropped_log_lines_total",
        "counter",
        "Guest output lines dropped because a guest wrote faster than the log writer.",
        &mut |o| {
            let _ = writeln!(o, "micro_wasm_dropped_log_lines_total {dropped_log_lines}");
        },
    );
    out
}

/// A label value as the Prometheus text format writes it: `\`, `"` and a line feed escaped
/// as `\\`, `\"` and `\n`, so a name cannot end the value or the line and forge a sample.
struct Label<'a>(&'a str);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

fn action_rows(out: &mut String, actions: &[RunCounts]) {
    for a in actions {
        for (result, n) in [("ok", a.ok), ("failed", a.failed), ("skipped", a.skipped)] {
            let _ = writeln!(
                out,
                "micro_wasm_action_runs_total{{action=\"{}\",micro=\"{}\",result=\"{result}\"}} {n}",
                Label(&a.action),
                Label(&a.micro)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_counts_status_bucket_and_kind() {
        let m = MicroMetrics::default();
        m.record(200, Duration::from_micros(300), None);
        // Another thread records into its own shard; the totals add them up.
        std::thread::scope(|s| {
            s.spawn(|| m.record(504, Duration::from_millis(600), Some(ErrorKind::Timeout)));
        });
        m.record(200, Duration::from_micros(300), None);
        let total = m.answered();
        assert_eq!(total.by_status[100], 2);
        assert_eq!(total.by_status[404], 1);
        assert_eq!(total.buckets[0], 2);
        assert_eq!(total.buckets[9], 1);
        assert_eq!((total.count, total.sum_micros), (3, 600_600));
        let i = ErrorKind::ALL
            .iter()
            .position(|k| *k == ErrorKind::Timeout)
            .unwrap();
        assert_eq!(total.errors[i], 1);
        m.record(42, Duration::ZERO, None); // out of range: ignored, not a panic
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(Label("web").to_string(), "web");
        assert_eq!(
            Label("a\\b\"c\nd").to_string(),
            "a\\\\b\\\"c\\nd",
            "\\ \" and a line feed"
        );
        let mut out = String::new();
        let counts = RunCounts {
            action: "x\"} 1\nmicro_wasm_forged 9\n#".into(),
            micro: "w\\".into(),
            ok: 1,
            failed: 0,
            skipped: 0,
        };
        action_rows(&mut out, &[counts]);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(
            out.starts_with(
                "micro_wasm_action_runs_total{action=\"x\\\"} 1\\nmicro_wasm_forged 9\\n#\",micro=\"w\\\\\",result=\"ok\"} 1\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn action_runs_are_counted_by_result() {
        let mut out = String::new();
        let counts = RunCounts {
            action: "tick".into(),
            micro: "web".into(),
            ok: 3,
            failed: 1,
            skipped: 2,
        };
        action_rows(&mut out, &[counts]);
        assert_eq!(
            out,
            "micro_wasm_action_runs_total{action=\"tick\",micro=\"web\",result=\"ok\"} 3\n\
             micro_wasm_action_runs_total{action=\"tick\",micro=\"web\",result=\"failed\"} 1\n\
             micro_wasm_action_runs_total{action=\"tick\",micro=\"web\",result=\"skipped\"} 2\n"
        );
    }
}
