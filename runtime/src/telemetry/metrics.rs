//! Counters of one Micro and the Prometheus text of `/__space/metrics` (SPEC §4).
//!
//! Lock-free: every request updates a few atomics (a status slot, a latency bucket). It must
//! not allocate on the request path, and it only reads other state (warm instances, /tmp
//! bytes) when the metrics page is rendered. Label values (Micro and action names) are
//! escaped as the text exposition format asks ([`Label`]).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    by_status: Box<[AtomicU64]>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
}

impl Default for MicroMetrics {
    fn default() -> Self {
        MicroMetrics {
            invocations: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            errors: Default::default(),
        }
    }
}

impl MicroMetrics {
    /// Counts one answered request.
    pub fn record(&self, status: u16, took: Duration, error: Option<ErrorKind>) {
        if let Some(slot) = (status as usize)
            .checked_sub(100)
            .and_then(|i| self.by_status.get(i))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if let Some(kind) = error
            && let Some(i) = ErrorKind::ALL.iter().position(|k| *k == kind)
        {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
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
            for m in micros {
                for (i, n) in m.metrics.by_status.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
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
            for m in micros {
                let mut cumulative = 0;
                for (b, n) in BUCKETS.iter().zip(&m.metrics.buckets) {
                    cumulative += n.load(Ordering::Relaxed);
                    let _ = writeln!(
                        o,
                        "micro_wasm_request_duration_seconds_bucket{{micro=\"{}\",le=\"{b}\"}} {cumulative}",
                        Label(&m.state.name)
                    );
                }
                let count = m.metrics.count.load(Ordering::Relaxed);
                let sum = m.metrics.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
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
            for m in micros {
                for (kind, n) in ErrorKind::ALL.iter().zip(&m.metrics.errors) {
                    let _ = writeln!(
                        o,
                        "micro_wasm_errors_total{{micro=\"{}\",kind=\"{}\"}} {}",
                        Label(&m.state.name),
                        kind.as_str(),
                        n.load(Ordering::Relaxed)
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
        m.record(504, Duration::from_millis(600), Some(ErrorKind::Timeout));
        assert_eq!(m.by_status[100].load(Ordering::Relaxed), 1);
        assert_eq!(m.by_status[404].load(Ordering::Relaxed), 1);
        assert_eq!(m.buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(m.buckets[9].load(Ordering::Relaxed), 1);
        let i = ErrorKind::ALL
            .iter()
            .position(|k| *k == ErrorKind::Timeout)
            .unwrap();
        assert_eq!(m.errors[i].load(Ordering::Relaxed), 1);
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
