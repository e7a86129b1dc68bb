//! Unit tests of `actions`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;

use super::delivery::{Delivery, event_body};
use super::driver::{Clock, Runner};
use super::*;
use crate::transport::{ErrorKind, HttpError};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn spec(id: &str, interval: &str) -> ActionSpec {
    ActionSpec {
        id: id.into(),
        name: id.into(),
        micro: 0,
        micro_name: "m".into(),
        interval: Interval::parse(interval).unwrap(),
        interval_text: interval.into(),
    }
}

fn actions(specs: &[(&str, &str)]) -> Arc<Actions> {
    Arc::new(Actions::new(
        specs.iter().map(|(id, i)| spec(id, i)).collect(),
    ))
}

fn ok_result(scheduled: &str) -> RunResult {
    RunResult {
        scheduled: scheduled.into(),
        started: scheduled.into(),
        ok: true,
        status: 200,
        error: None,
        duration_ms: 1,
    }
}

fn ok() -> Delivery {
    Delivery {
        status: 200,
        body: Bytes::from_static(b"{}"),
        error: None,
    }
}

/// Every `tracing` line written while the guard lives (current-thread runtimes only).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this thread's events until the guard drops.
    ///
    /// Tests run in parallel, and tracing caches per event site whether anyone listens: a site
    /// first reached on another test's thread while no subscriber was set is cached as "never"
    /// (and, racing with a `set_default` here, can stay so), and its events are then dropped
    /// here too. So a global subscriber that listens and writes nowhere is set first, and the
    /// cache is rebuilt once this thread's subscriber is set.
    fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        static LISTEN_EVERYWHERE: std::sync::Once = std::sync::Once::new();
        LISTEN_EVERYWHERE.call_once(|| {
            let sink = tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .finish();
            let _ = tracing::subscriber::set_global_default(sink);
        });
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        (captured, guard)
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn actions_event_body_is_the_spec_json() {
    assert_eq!(
        event_body("cleanup"),
        Bytes::from_static(br#"{"event":{"id":"cleanup","trigger":"schedule"}}"#)
    );
}

#[test]
fn actions_nothing_is_due_before_start() {
    let a = actions(&[("a", "1 minute")]);
    assert_eq!(a.plan(at("2024-01-01T10:00:00Z")), (vec![], None));
    assert_eq!(a.status()[0]["next_run"], serde_json::Value::Null);
}

#[test]
fn actions_rate_first_run_is_start_rounded_up() {
    let a = actions(&[("m", "1 minute"), ("h", "1 hour"), ("d", "1 day")]);
    a.start(at("2024-01-01T10:00:30Z"));
    let s = a.status();
    assert_eq!(s[0]["next_run"], "2024-01-01T10:01:00.000Z");
    assert_eq!(s[1]["next_run"], "2024-01-01T11:00:00.000Z");
    assert_eq!(s[2]["next_run"], "2024-01-02T00:00:00.000Z");
    // A start exactly on a boundary is the first run itself.
    a.start(at("2024-01-01T10:00:00Z"));
    assert_eq!(a.status()[0]["next_run"], "2024-01-01T10:00:00.000Z");
}

#[test]
fn actions_plan_runs_due_actions_and_skips_overlaps() {
    let a = actions(&[("a", "1 minute"), ("b", "*/2 * * * *")]);
    a.start(at("2024-01-01T10:00:30Z"));
    let (steps, next) = a.plan(at("2024-01-01T10:00:59Z"));
    assert!(steps.is_empty());
    assert_eq!(next, Some(at("2024-01-01T10:01:00Z")));

    let t1 = at("2024-01-01T10:01:00Z");
    let (steps, next) = a.plan(t1);
    assert_eq!(
        steps,
        [Step::Run {
            action: 0,
            scheduled: t1
        }]
    );
    assert_eq!(next, Some(at("2024-01-01T10:02:00Z")));
    // Planning again at the same instant starts nothing twice.
    assert_eq!(a.plan(t1).0, []);

    // `a` is still running at 10:02: skipped; `b` is due for the first time.
    let t2 = at("2024-01-01T10:02:00Z");
    let (steps, _) = a.plan(t2);
    assert_eq!(
        steps,
        [
            Step::Skip {
                action: 0,
                scheduled: t2
            },
            Step::Run {
                action: 1,
                scheduled: t2
            }
        ]
    );
    a.finish(0, ok_result("2024-01-01T10:01:00.000Z"));
    let t3 = at("2024-01-01T10:03:00Z");
    assert_eq!(
        a.plan(t3).0,
        [Step::Run {
            action: 0,
            scheduled: t3
        }]
    );
    let s = a.status();
    assert_eq!(s[0]["skipped"], 1);
    assert_eq!(s[0]["runs"], 1);
    assert_eq!(s[0]["running"], true);
    assert_eq!(s[0]["last"]["status"], 200);
}

#[test]
fn actions_missed_runs_are_not_replayed() {
    let a = actions(&[("a", "1 minute")]);
    a.start(at("2024-01-01T10:00:30Z"));
    // The runtime was stalled from 10:00:30 to 10:05:30: one run, then on from now.
    let (steps, next) = a.plan(at("2024-01-01T10:05:30Z"));
    assert_eq!(
        steps,
        [Step::Run {
            action: 0,
            scheduled: at("2024-01-01T10:01:00Z")
        }]
    );
    assert_eq!(next, Some(at("2024-01-01T10:06:00Z")));
}

/// Runs the driver on a paused clock from `start` for `length`, with `runner`.
async fn drive_for(a: &Arc<Actions>, start: &str, length: Duration, runner: Runner) -> Scheduler {
    let clock = Clock::starting_at(at(start));
    let mut s = Scheduler::spawn_with(a.clone(), clock, runner, None);
    tokio::time::sleep(length).await;
    s.stop().await;
    s
}

type Log = Arc<Mutex<Vec<(DateTime<Utc>, String)>>>;

/// A runner recording (time, id) at the start of each run, then answering `answer(n)`
/// (n = how many runs of that action came before) after `work(n)`.
fn recorder(
    a: &Arc<Actions>,
    clock: Clock,
    log: &Log,
    work: fn(&str, usize) -> Duration,
    answer: fn(&str, usize) -> Delivery,
) -> Runner {
    let a = a.clone();
    let log = log.clone();
    Arc::new(move |action| {
        let id = a.specs()[action].id.clone();
        let log = log.clone();
        async move {
            let n = {
                let mut log = log.lock().unwrap();
                let n = log.iter().filter(|(_, x)| *x == id).count();
                log.push((clock.now(), id.clone()));
                n
            };
            tokio::time::sleep(work(&id, n)).await;
            answer(&id, n)
        }
        .boxed()
    })
}

fn times(log: &Log, id: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, x)| x == id)
        .map(|(t, _)| rfc3339(*t))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn actions_driver_fires_the_right_times_in_order() {
    let (logs, _guard) = Captured::start();
    let a = actions(&[("every-minute", "1 minute"), ("even", "*/2 * * * *")]);
    let start = "2024-01-01T10:00:30Z";
    let log = Log::default();
    let runner = recorder(
        &a,
        Clock::starting_at(at(start)),
        &log,
        |_, _| Duration::from_millis(200),
        |_, _| ok(),
    );
    drive_for(&a, start, Duration::from_secs(5 * 60), runner).await;

    assert_eq!(
        times(&log, "every-minute"),
        [
            "2024-01-01T10:01:00.000Z",
            "2024-01-01T10:02:00.000Z",
            "2024-01-01T10:03:00.000Z",
            "2024-01-01T10:04:00.000Z",
            "2024-01-01T10:05:00.000Z",
        ]
    );
    assert_eq!(
        times(&log, "even"),
        ["2024-01-01T10:02:00.000Z", "2024-01-01T10:04:00.000Z"]
    );
    let all: Vec<_> = log.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert!(all.is_sorted(), "runs started out of order: {all:?}");

    let s = a.status();
    assert_eq!(s[0]["runs"], 5);
    assert_eq!(s[0]["skipped"], 0);
    assert_eq!(s[0]["next_run"], "2024-01-01T10:06:00.000Z");
    assert_eq!(s[0]["last"]["scheduled"], "2024-01-01T10:05:00.000Z");
    assert_eq!(s[0]["last"]["duration_ms"], 200);
    assert_eq!(s[1]["runs"], 2);
    let lines = logs.lines();
    let ran: Vec<_> = lines.iter().filter(|l| l.contains("action ran")).collect();
    assert_eq!(ran.len(), 7, "{lines:#?}");
    assert!(
        ran.iter().any(|l| l.contains("action=every-minute")
            && l.contains("micro=m")
            && l.contains("scheduled=2024-01-01T10:03:00.000Z")
            && l.contains("status=200")
            && l.contains("ms=200")),
        "{ran:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn actions_driver_never_overlaps_runs_of_one_action() {
    let (logs, _guard) = Captured::start();
    let a = actions(&[("slow", "1 minute")]);
    let start = "2024-01-01T10:00:30Z";
    let log = Log::default();
    // The first run takes 90 s: the 10:02 run is due while it is still going.
    let runner = recorder(
        &a,
        Clock::starting_at(at(start)),
        &log,
        |_, n| Duration::from_secs(if n == 0 { 90 } else { 1 }),
        |_, _| ok(),
    );
    drive_for(&a, start, Duration::from_secs(3 * 60 + 30), runner).await;

    assert_eq!(
        times(&log, "slow"),
        ["2024-01-01T10:01:00.000Z", "2024-01-01T10:03:00.000Z"]
    );
    let s = a.status();
    assert_eq!(s[0]["skipped"], 1);
    assert_eq!(s[0]["runs"], 2);
    assert_eq!(s[0]["running"], false);
    let lines = logs.lines();
    let skipped: Vec<_> = lines.iter().filter(|l| l.contains("skipped")).collect();
    assert_eq!(skipped.len(), 1, "{lines:#?}");
    assert!(
        skipped[0].contains("action=slow")
            && skipped[0].contains("scheduled=2024-01-01T10:02:00.000Z")
            && skipped[0].contains("WARN"),
        "{skipped:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn actions_driver_reports_failures_and_keeps_running() {
    let (logs, _guard) = Captured::start();
    let a = actions(&[("flaky", "1 minute"), ("fine", "1 minute")]);
    let start = "2024-01-01T10:00:30Z";
    let log = Log::default();
    // `flaky` fails its first two runs (a 500, then a trap), then succeeds.
    let runner = recorder(
        &a,
        Clock::starting_at(at(start)),
        &log,
        |_, _| Duration::from_millis(10),
        |id, n| match (id, n) {
            ("flaky", 0) => Delivery {
                status: 500,
                body: Bytes::from_static(b"boom"),
                error: Some("micro m answered 500".into()),
            },
            ("flaky", 1) => {
                Delivery::from_error(&HttpError::new(ErrorKind::Trap, Some("m"), "unreachable"))
            }
            _ => ok(),
        },
    );
    let mut sched = Scheduler::spawn_with(a.clone(), Clock::starting_at(at(start)), runner, None);
    tokio::time::sleep(Duration::from_secs(60)).await; // 10:01:30
    let s = a.status();
    assert_eq!(s[0]["last"]["ok"], false);
    assert_eq!(s[0]["last"]["status"], 500);
    assert_eq!(s[0]["last"]["error"], "micro m answered 500");
    assert_eq!(s[1]["last"]["ok"], true);
    assert!(s[1]["last"].get("error").is_none());
    tokio::time::sleep(Duration::from_secs(3 * 60)).await; // 10:04:30
    sched.stop().await;

    assert_eq!(times(&log, "flaky").len(), 4);
    assert_eq!(times(&log, "fine").len(), 4);
    let s = a.status();
    assert_eq!(s[0]["runs"], 4);
    assert_eq!(s[0]["failures"], 2);
    assert_eq!(s[0]["last"]["ok"], true);
    assert_eq!(s[1]["failures"], 0);
    let lines = logs.lines();
    let failed: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("action failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{lines:#?}");
    assert!(failed[0].contains("status=500") && failed[0].contains("action=flaky"));
    assert!(failed[1].contains("status=502") && failed[1].contains("trap in micro m"));
}

#[tokio::test(start_paused = true)]
async fn actions_driver_survives_a_panicking_run() {
    let a = actions(&[("p", "1 minute")]);
    let start = "2024-01-01T10:00:30Z";
    let runner: Runner = Arc::new(|_| async { panic!("runner bug") }.boxed());
    drive_for(&a, start, Duration::from_secs(2 * 60), runner).await;
    let s = a.status();
    assert_eq!(s[0]["runs"], 2);
    assert_eq!(s[0]["failures"], 2);
    assert_eq!(s[0]["skipped"], 0);
    assert_eq!(s[0]["last"]["status"], 500);
}

#[tokio::test(start_paused = true)]
async fn actions_stop_waits_for_runs_in_flight() {
    let a = actions(&[("a", "1 minute")]);
    let start = "2024-01-01T10:00:59Z";
    let log = Log::default();
    let runner = recorder(
        &a,
        Clock::starting_at(at(start)),
        &log,
        |_, _| Duration::from_secs(10),
        |_, _| ok(),
    );
    // Stop at 10:01:05, while the 10:01 run is going: it still finishes and is recorded.
    drive_for(&a, start, Duration::from_secs(6), runner).await;
    let s = a.status();
    assert_eq!(s[0]["runs"], 1);
    assert_eq!(s[0]["running"], false);
    assert_eq!(s[0]["last"]["duration_ms"], 10_000);
}

#[test]
fn actions_manual_run_never_overlaps_and_shows_in_status() {
    let a = actions(&[("a", "1 minute"), ("b", "1 hour")]);
    a.start(at("2024-01-01T10:00:30Z"));
    assert_eq!(a.position("b"), Some(1));
    assert_eq!(a.position("nope"), None);
    assert!(a.begin_manual(0), "an idle action starts");
    assert!(!a.begin_manual(0), "a running action does not start twice");
    assert!(!a.begin_manual(7), "no such action");
    assert_eq!(a.status()[0]["running"], true);
    // The scheduled time that comes due meanwhile is skipped, not started.
    let t1 = at("2024-01-01T10:01:00Z");
    assert_eq!(
        a.plan(t1).0,
        [Step::Skip {
            action: 0,
            scheduled: t1
        }]
    );
    a.finish(0, ok_result("2024-01-01T10:00:40.000Z"));
    assert_eq!(a.last(0), Some(ok_result("2024-01-01T10:00:40.000Z")));
    assert!(a.begin_manual(0), "startable again once finished");
    // The JSON the dashboard reads for each action.
    let s = &a.status()[0];
    for key in [
        "id", "name", "micro", "interval", "next_run", "running", "runs", "failures", "last",
    ] {
        assert!(s.get(key).is_some(), "{key} missing from {s}");
    }
    assert_eq!(s["last"]["ok"], true);
    assert_eq!(s["last"]["status"], 200);
    assert_eq!(s["runs"], 1);
}

/// Two nodes share one schedule: each run is claimed first, and a node delivers only the runs
/// it wins; a lost claim leaves the action free for its next run (no skip), and a failed claim
/// delivers nothing.
#[tokio::test(start_paused = true)]
async fn actions_driver_delivers_only_the_runs_it_claims() {
    let start = "2024-01-01T10:00:30Z";
    let node = |wins: fn(i64) -> Option<bool>| {
        let a = actions(&[("tick", "1 minute")]);
        let log = Log::default();
        let runner = recorder(
            &a,
            Clock::starting_at(at(start)),
            &log,
            |_, _| Duration::from_millis(10),
            |_, _| ok(),
        );
        let claim: super::lease::Claim = Arc::new(move |_, scheduled: DateTime<Utc>| {
            let minute = scheduled.timestamp() / 60;
            async move { wins(minute).ok_or_else(|| anyhow::anyhow!("store down")) }.boxed()
        });
        let clock = Clock::starting_at(at(start));
        (
            a.clone(),
            log,
            Scheduler::spawn_with(
                a,
                clock,
                runner,
                Some(super::lease::Shared {
                    claim,
                    anchor: at(start),
                }),
            ),
        )
    };
    // Node A wins even minutes, node B odd ones, except 10:03, which nobody can claim.
    const TEN_O_THREE: i64 = 28_401_723; // 2024-01-01T10:03:00Z in minutes since 1970
    let (a, log_a, mut sched_a) = node(|m| Some(m % 2 == 0));
    let (b, log_b, mut sched_b) = node(|m| (m != TEN_O_THREE).then_some(m % 2 == 1));
    tokio::time::sleep(Duration::from_secs(5 * 60)).await; // 10:05:30
    sched_a.stop().await;
    sched_b.stop().await;
    assert_eq!(
        times(&log_a, "tick"),
        ["2024-01-01T10:02:00.000Z", "2024-01-01T10:04:00.000Z"]
    );
    assert_eq!(
        times(&log_b, "tick"),
        ["2024-01-01T10:01:00.000Z", "2024-01-01T10:05:00.000Z"]
    );
    assert_eq!(
        (
            a.status()[0]["runs"].clone(),
            a.status()[0]["skipped"].clone()
        ),
        (2.into(), 0.into())
    );
    assert_eq!(b.status()[0]["runs"], 2);
}

/// A node joining at 10:08 counts a 5-minute rate from the first node's start (10:00:30, so
/// 10:01, 10:06, 10:11…) and its first run is the next of those times, as on the first node.
#[test]
fn actions_a_joining_node_keeps_the_first_nodes_rate_times() {
    let first = actions(&[("r", "5 minutes")]);
    first.start(at("2024-01-01T10:00:30Z"));
    assert_eq!(first.next_run(0), Some(at("2024-01-01T10:01:00Z")));
    let joining = actions(&[("r", "5 minutes")]);
    joining.start_at(at("2024-01-01T10:00:30Z"), at("2024-01-01T10:08:00Z"));
    assert_eq!(joining.next_run(0), Some(at("2024-01-01T10:11:00Z")));
    first.plan(at("2024-01-01T10:01:00Z"));
    first.plan(at("2024-01-01T10:06:00Z"));
    assert_eq!(first.next_run(0), joining.next_run(0));
    // Started alone at 10:08, the same rate would run at 10:08, 10:13…: the anchor aligns them.
    let alone = actions(&[("r", "5 minutes")]);
    alone.start(at("2024-01-01T10:08:00Z"));
    assert_eq!(alone.next_run(0), Some(at("2024-01-01T10:08:00Z")));
}
