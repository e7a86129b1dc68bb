//! The async driver of the schedule: sleeps until the next scheduled time, starts the due
//! runs through a [`Runner`], logs and records each, and stops cleanly ([`Scheduler`]); also
//! the "Run now" path that shares it ([`run_now`]).
//!
//! It must not read the clock outside [`Clock`] nor deliver an event itself: [`deliver`]
//! does.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::delivery::{Delivery, deliver};
use super::lease::{Claim, Shared};
use super::{Actions, RunResult, Step, rfc3339};
use crate::micro::Micro;
use crate::transport::ErrorKind;

/// The driver re-reads the clock at least this often, so a wall-clock jump (NTP, suspend)
/// delays a run by at most this much.
const MAX_NAP: Duration = Duration::from_secs(30);

/// The scheduler's only source of wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// `None`: the system clock. `Some((i, t))`: `t` at tokio instant `i`, then moving with
    /// tokio's clock (which tests pause and advance).
    anchor: Option<(Instant, DateTime<Utc>)>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { anchor: None }
    }

    /// A clock reading `now` at this moment and then following tokio's clock (tests).
    #[cfg(test)]
    pub fn starting_at(now: DateTime<Utc>) -> Clock {
        Clock {
            anchor: Some((Instant::now(), now)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.anchor {
            None => Utc::now(),
            Some((at, then)) => {
                let elapsed = TimeDelta::from_std(at.elapsed()).unwrap_or(TimeDelta::MAX);
                then.checked_add_signed(elapsed)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }
}

/// Delivers one run of action number `n`; the production runner is [`deliver`].
pub type Runner = Arc<dyn Fn(usize) -> BoxFuture<'static, Delivery> + Send + Sync>;

/// The async driver, for a schedule already started with [`Actions::start`]: loops — plan,
/// start the due runs, sleep until the next scheduled time (re-reading the clock at least
/// every 30 s) — until `stop` turns true or its sender is dropped; then waits for the runs in
/// flight.
pub async fn drive(
    actions: Arc<Actions>,
    clock: Clock,
    runner: Runner,
    claim: Option<Claim>,
    mut stop: watch::Receiver<bool>,
) {
    if actions.specs.is_empty() {
        return;
    }
    for (action, spec) in actions.specs.iter().enumerate() {
        let next_run = actions.next_run(action).map(rfc3339);
        tracing::info!(
            action = %spec.id,
            micro = %spec.micro_name,
            interval = %spec.interval_text,
            next_run = %next_run.as_deref().unwrap_or("-"),
            "action scheduled"
        );
    }
    let mut runs = JoinSet::new();
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let now = clock.now();
        let (steps, next) = actions.plan(now);
        for step in steps {
            match step {
                Step::Run { action, scheduled } => {
                    let run = runner(action);
                    let one = run_one(actions.clone(), clock, action, scheduled, "schedule", run);
                    let claimed = claim.as_ref().map(|c| c(action, scheduled));
                    runs.spawn(claimed_run(
                        actions.clone(),
                        action,
                        scheduled,
                        claimed,
                        one,
                    ));
                }
                Step::Skip { action, scheduled } => {
                    let spec = &actions.specs[action];
                    tracing::warn!(
                        action = %spec.id,
                        micro = %spec.micro_name,
                        scheduled = %rfc3339(scheduled),
                        "action run skipped: the previous run is still going"
                    );
                }
            }
        }
        let wait = next.map_or(MAX_NAP, |n| (n - now).to_std().unwrap_or(Duration::ZERO));
        let wait = wait.clamp(Duration::from_millis(1), MAX_NAP);
        tokio::select! {
            () = tokio::time::sleep_until(Instant::now() + wait) => {}
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    while runs.join_next().await.is_some() {}
}

/// Runs `one` unless the run had to be claimed and another node won it (or the claim failed:
/// then no node may have it, which is logged, and the next scheduled time tries again).
async fn claimed_run(
    actions: Arc<Actions>,
    action: usize,
    scheduled: DateTime<Utc>,
    claimed: Option<BoxFuture<'static, anyhow::Result<bool>>>,
    one: impl Future<Output = RunResult>,
) {
    let won = match claimed {
        None => true,
        Some(claim) => claim.await.unwrap_or_else(|e| {
            tracing::warn!(
                action = %actions.specs[action].id,
                scheduled = %rfc3339(scheduled),
                error = %format!("{e:#}"),
                "action run not claimed: the store is unreachable"
            );
            false
        }),
    };
    if won {
        one.await;
    } else {
        tracing::debug!(
            action = %actions.specs[action].id,
            scheduled = %rfc3339(scheduled),
            "action run left to another node"
        );
        actions.release(action);
    }
}

/// Runs action number `action` once, now, through the same path as a scheduled run
/// (delivered by [`deliver`], logged, counted, its result recorded), and returns its result;
/// `None` when a run of it is already going (nothing is started). The run is its own task, so
/// it finishes and is recorded even if the caller stops waiting. Its `scheduled` time is its
/// start; the event is the scheduled one (see `cli/trigger.rs` for why).
pub async fn run_now(
    actions: &Arc<Actions>,
    micros: &[Arc<Micro>],
    hostname: &str,
    action: usize,
) -> Option<RunResult> {
    if !actions.begin_manual(action) {
        return None;
    }
    let spec = &actions.specs[action];
    let micro = micros[spec.micro].clone();
    let (id, authority) = (spec.id.clone(), hostname.to_string());
    let run = async move { deliver(&micro, &id, &authority).await }.boxed();
    let clock = Clock::system();
    let one = run_one(actions.clone(), clock, action, clock.now(), "manual", run);
    match tokio::spawn(one).await {
        Ok(result) => Some(result),
        Err(e) => {
            tracing::warn!(action = %spec.id, "manual action run ended abnormally: {e}");
            actions.last(action)
        }
    }
}

/// One run: deliver, log, record; returns what it recorded. `trigger` (`schedule` or
/// `manual`) only goes to the log.
async fn run_one(
    actions: Arc<Actions>,
    clock: Clock,
    action: usize,
    scheduled: DateTime<Utc>,
    trigger: &'static str,
    run: BoxFuture<'static, Delivery>,
) -> RunResult {
    let started = clock.now();
    let began = Instant::now();
    let delivery = AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Delivery {
            status: ErrorKind::Internal.status().as_u16(),
            body: Bytes::new(),
            error: Some("the action run panicked".into()),
        });
    let ms = began.elapsed().as_millis() as u64;
    let spec = &actions.specs[action];
    let scheduled_text = rfc3339(scheduled);
    match &delivery.error {
        None => tracing::info!(
            action = %spec.id,
            micro = %spec.micro_name,
            trigger = %trigger,
            scheduled = %scheduled_text,
            status = delivery.status,
            ms,
            "action ran"
        ),
        Some(error) => tracing::warn!(
            action = %spec.id,
            micro = %spec.micro_name,
            trigger = %trigger,
            scheduled = %scheduled_text,
            status = delivery.status,
            ms,
            error = %error,
            "action failed"
        ),
    }
    let result = RunResult {
        scheduled: scheduled_text,
        started: rfc3339(started),
        ok: delivery.ok(),
        status: delivery.status,
        error: delivery.error,
        duration_ms: ms,
    };
    actions.finish(action, result.clone());
    result
}

/// The running scheduler of a served app. Dropping it aborts the driver and its runs.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Starts the driver for `actions` on the system clock, delivering with [`deliver`] to
    /// `micros` (indexed by `ActionSpec::micro`) with `hostname` as the event's `Host`; with a
    /// `shared` schedule, only the runs this node wins, at times counted from its anchor.
    pub fn spawn(
        actions: Arc<Actions>,
        micros: Vec<Arc<Micro>>,
        hostname: String,
        shared: Option<Shared>,
    ) -> Scheduler {
        let target = Arc::new((micros, hostname));
        let for_runner = actions.clone();
        let runner: Runner = Arc::new(move |action| {
            let (actions, target) = (for_runner.clone(), target.clone());
            async move {
                let spec = &actions.specs[action];
                deliver(&target.0[spec.micro], &spec.id, &target.1).await
            }
            .boxed()
        });
        Scheduler::spawn_with(actions, Clock::system(), runner, shared)
    }

    /// Starts the driver with any clock and runner (tests).
    /// The schedule starts now, before this returns, so `/__space/status` shows next runs from
    /// the first request on.
    pub fn spawn_with(
        actions: Arc<Actions>,
        clock: Clock,
        runner: Runner,
        shared: Option<Shared>,
    ) -> Scheduler {
        let claim = match shared {
            Some(Shared { claim, anchor }) => {
                actions.start_at(anchor, clock.now());
                Some(claim)
            }
            None => {
                actions.start(clock.now());
                None
            }
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(drive(actions, clock, runner, claim, stopped));
        Scheduler {
            stop,
            task: Some(task),
        }
    }

    /// Starts no more runs and waits for the runs in flight (each bounded by its timeout).
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
        }
        self.task = None;
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
