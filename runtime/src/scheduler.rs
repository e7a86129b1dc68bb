//! Scheduled actions (SPEC §6; the cron and rate rules of §3; S2 is checked by `manifest`).
//!
//! Owns the app's table of actions (each one's next run, whether a run is going, counters and
//! last result, shown by `/__space/status`), the pure planning step that decides which runs are
//! due or skipped at a given time, the async driver that sleeps until the next one and starts
//! the runs, and [`deliver`]: the one way an action event reaches a Micro, shared by the
//! scheduler, `micro-wasm trigger` and the dashboard's "Run now" ([`run_now`], which goes
//! through the same logged, counted run as a scheduled time and never overlaps a run).
//!
//! Rules it serves: at each scheduled time the Micro gets `POST /__space/v0/actions` with
//! `Content-Type: application/json` and `{"event":{"id":"<id>","trigger":"schedule"}}`; a run
//! fails on a status ≥ 400, a trap or a timeout; every run is logged (id, micro, scheduled
//! time, status, duration); a run due while the previous one of the same action is still going
//! is skipped and logged; runs missed while the runtime was down (or stalled) are not replayed:
//! after a late wake-up an action runs once and its next run is the first one after now.
//!
//! It must not compute cron or rate times itself (that is `schedule`, pure), read the clock
//! outside [`Clock`], nor bypass a Micro's limits or lifecycle: every delivery takes a
//! concurrency slot with [`Micro::try_begin`] (waking a sleeping Micro; at the limit the run
//! fails as busy) and runs through [`invoke`], exactly like an HTTP request.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::app::App;
use crate::invoke::invoke;
use crate::manifest::Manifest;
use crate::micro::Micro;
use crate::schedule::Schedule;
use crate::server::errors::{ErrorKind, HttpError};

/// Where, relative to the Micro's root, action events are POSTed.
pub const ACTIONS_PATH: &str = "/__space/v0/actions";

/// The driver re-reads the clock at least this often, so a wall-clock jump (NTP, suspend)
/// delays a run by at most this much.
const MAX_NAP: Duration = Duration::from_secs(30);

/// The event body for action `id`: `{"event":{"id":"<id>","trigger":"schedule"}}`.
pub fn event_body(id: &str) -> Bytes {
    let event = serde_json::json!({"event": {"id": id, "trigger": "schedule"}});
    Bytes::from(event.to_string())
}

/// How one delivery of an action event ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The Micro's status, or the runtime's error status (504 timeout, 502 trap, 503 busy…).
    pub status: u16,
    /// The Micro's response body, or the runtime's JSON error.
    pub body: Bytes,
    /// Why the run failed; `None` when it succeeded.
    pub error: Option<String>,
}

impl Delivery {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    fn from_error(e: &HttpError) -> Delivery {
        let response = e.to_response::<Bytes>();
        Delivery {
            status: response.status().as_u16(),
            body: response.into_body(),
            error: Some(e.to_string()),
        }
    }
}

/// Sends action `action_id`'s event to `micro` once, under the Micro's normal limits and
/// lifecycle, and reads the whole response. `authority` is the app's hostname (the request's
/// `Host`).
pub async fn deliver(micro: &Arc<Micro>, action_id: &str, authority: &str) -> Delivery {
    let name = micro.name.as_str();
    let body = event_body(action_id);
    let uri: Uri = format!("http://{authority}{ACTIONS_PATH}")
        .parse()
        .unwrap_or_else(|_| Uri::from_static("http://localhost/__space/v0/actions"));
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "localhost".into());
    let req = Request::post(uri)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .expect("an action request is valid");
    let Some(busy) = micro.try_begin() else {
        return Delivery::from_error(&HttpError::new(
            ErrorKind::Busy,
            Some(name),
            format!(
                "micro is at its concurrency limit of {} (S8)",
                micro.limits.concurrency
            ),
        ));
    };
    let response = match invoke(micro, busy, req).await.result {
        Ok(response) => response,
        Err(e) => return Delivery::from_error(&e),
    };
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    // The guest task's own timeout ends a stalled body; this only guards against a bug there.
    let bound = micro.limits.timeout + Duration::from_secs(1);
    match tokio::time::timeout(bound, body.collect()).await {
        Ok(Ok(collected)) => Delivery {
            status,
            body: collected.to_bytes(),
            error: (status >= 400).then(|| format!("micro {name} answered {status}")),
        },
        Ok(Err(e)) => Delivery {
            status: ErrorKind::Trap.status().as_u16(),
            body: Bytes::new(),
            error: Some(format!("micro {name}: response body failed: {e}")),
        },
        Err(_) => Delivery {
            status: ErrorKind::Timeout.status().as_u16(),
            body: Bytes::new(),
            error: Some(format!("micro {name}: response body did not finish")),
        },
    }
}

/// One action of the app, as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct ActionSpec {
    pub id: String,
    pub name: String,
    /// Index of the Micro in `App::micros` (manifest order).
    pub micro: usize,
    pub micro_name: String,
    pub interval: Schedule,
    /// The interval as written in app.toml.
    pub interval_text: String,
}

/// The result of a finished run, as `/__space/status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunResult {
    /// The scheduled time (RFC 3339 UTC).
    pub scheduled: String,
    /// When the run started (RFC 3339 UTC).
    pub started: String,
    pub ok: bool,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What the driver does for one action at one scheduled time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start a run.
    Run {
        action: usize,
        scheduled: DateTime<Utc>,
    },
    /// The previous run is still going: skip this one.
    Skip {
        action: usize,
        scheduled: DateTime<Utc>,
    },
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

#[derive(Debug, Default)]
struct ActionState {
    next: Option<DateTime<Utc>>,
    running: bool,
    runs: u64,
    failures: u64,
    skipped: u64,
    last: Option<RunResult>,
}

#[derive(Debug)]
struct Table {
    /// The runtime's start, which rates count from; `None` until the scheduler starts.
    start: Option<DateTime<Utc>>,
    states: Vec<ActionState>,
}

/// Every action of the app and its state, shared by the driver and `/__space/status`.
#[derive(Debug)]
pub struct Actions {
    specs: Vec<ActionSpec>,
    table: Mutex<Table>,
}

impl Actions {
    pub fn new(specs: Vec<ActionSpec>) -> Actions {
        let states = specs.iter().map(|_| ActionState::default()).collect();
        Actions {
            specs,
            table: Mutex::new(Table {
                start: None,
                states,
            }),
        }
    }

    /// Every `[[micro.action]]` of `manifest`, in manifest order.
    pub fn from_manifest(manifest: &Manifest) -> Actions {
        let specs = manifest
            .micros
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                m.actions.iter().map(move |a| ActionSpec {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    micro: i,
                    micro_name: m.name.clone(),
                    interval: a.interval.clone(),
                    interval_text: a.interval_text.clone(),
                })
            })
            .collect();
        Actions::new(specs)
    }

    pub fn specs(&self) -> &[ActionSpec] {
        &self.specs
    }

    /// Starts the schedule at `start` (the runtime's start): each action's first run is the
    /// first scheduled time at or after it (a rate's is `start` rounded up to its unit).
    pub fn start(&self, start: DateTime<Utc>) {
        let mut table = self.table.lock().unwrap();
        table.start = Some(start);
        let just_before = start - TimeDelta::nanoseconds(1);
        for (spec, state) in self.specs.iter().zip(&mut table.states) {
            state.next = Some(spec.interval.next_after(start, just_before));
        }
    }

    /// The pure planning step: which runs are due at `now`. A due action whose previous run is
    /// still going is skipped; any other due action is marked running. Either way its next run
    /// becomes the first scheduled time after `now`, so missed times are never replayed.
    /// Returns the steps in action order and the earliest next run.
    pub fn plan(&self, now: DateTime<Utc>) -> (Vec<Step>, Option<DateTime<Utc>>) {
        let mut table = self.table.lock().unwrap();
        let Some(start) = table.start else {
            return (Vec::new(), None);
        };
        let mut steps = Vec::new();
        for (action, (spec, state)) in self.specs.iter().zip(&mut table.states).enumerate() {
            let Some(scheduled) = state.next.filter(|&next| next <= now) else {
                continue;
            };
            state.next = Some(spec.interval.next_after(start, now));
            if state.running {
                state.skipped += 1;
                steps.push(Step::Skip { action, scheduled });
            } else {
                state.running = true;
                steps.push(Step::Run { action, scheduled });
            }
        }
        let earliest = table.states.iter().filter_map(|s| s.next).min();
        (steps, earliest)
    }

    /// The index of the action with `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.id == id)
    }

    /// Marks action `action` running for a run started by hand; `false` (and nothing changes)
    /// when a run of it is going. A scheduled time that comes due meanwhile is skipped.
    pub fn begin_manual(&self, action: usize) -> bool {
        let mut table = self.table.lock().unwrap();
        let Some(state) = table.states.get_mut(action) else {
            return false;
        };
        !std::mem::replace(&mut state.running, true)
    }

    /// Action number `action`'s last finished run.
    pub fn last(&self, action: usize) -> Option<RunResult> {
        self.table.lock().unwrap().states.get(action)?.last.clone()
    }

    /// Action number `action`'s next scheduled run, once started.
    pub fn next_run(&self, action: usize) -> Option<DateTime<Utc>> {
        self.table.lock().unwrap().states.get(action)?.next
    }

    /// Records the end of action `action`'s run.
    pub fn finish(&self, action: usize, result: RunResult) {
        let mut table = self.table.lock().unwrap();
        let state = &mut table.states[action];
        state.running = false;
        state.runs += 1;
        if !result.ok {
            state.failures += 1;
        }
        state.last = Some(result);
    }

    /// Each action's runs by result, for `/__space/metrics`.
    pub fn counts(&self) -> Vec<RunCounts> {
        let table = self.table.lock().unwrap();
        self.specs
            .iter()
            .zip(&table.states)
            .map(|(spec, state)| RunCounts {
                action: spec.id.clone(),
                micro: spec.micro_name.clone(),
                ok: state.runs - state.failures,
                failed: state.failures,
                skipped: state.skipped,
            })
            .collect()
    }

    /// Each action with its schedule, next run and last result, for `/__space/status`.
    pub fn status(&self) -> serde_json::Value {
        let table = self.table.lock().unwrap();
        let list: Vec<_> = self
            .specs
            .iter()
            .zip(&table.states)
            .map(|(spec, state)| {
                serde_json::json!({
                    "id": spec.id,
                    "name": spec.name,
                    "micro": spec.micro_name,
                    "interval": spec.interval_text,
                    "next_run": state.next.map(rfc3339),
                    "running": state.running,
                    "runs": state.runs,
                    "failures": state.failures,
                    "skipped": state.skipped,
                    "last": state.last,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

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

    /// A clock reading `now` at this moment and then following tokio's clock.
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
                    runs.spawn(one);
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

/// Runs action number `action` of `app` once, now, through the same path as a scheduled run
/// (delivered by [`deliver`], logged, counted, its result recorded), and returns its result;
/// `None` when a run of it is already going (nothing is started). The run is its own task, so
/// it finishes and is recorded even if the caller stops waiting. Its `scheduled` time is its
/// start; the event is the scheduled one (see `cli/trigger.rs` for why).
pub async fn run_now(app: &App, action: usize) -> Option<RunResult> {
    if !app.actions.begin_manual(action) {
        return None;
    }
    let spec = &app.actions.specs[action];
    let micro = app.micros[spec.micro].clone();
    let (id, authority) = (spec.id.clone(), app.hostname.clone());
    let run = async move { deliver(&micro, &id, &authority).await }.boxed();
    let clock = Clock::system();
    let one = run_one(
        app.actions.clone(),
        clock,
        action,
        clock.now(),
        "manual",
        run,
    );
    match tokio::spawn(one).await {
        Ok(result) => Some(result),
        Err(e) => {
            tracing::warn!(action = %spec.id, "manual action run ended abnormally: {e}");
            app.actions.last(action)
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
    /// Starts the driver for `app`'s actions on the system clock, delivering with [`deliver`].
    pub fn spawn(app: Arc<App>) -> Scheduler {
        let actions = app.actions.clone();
        let runner: Runner = Arc::new(move |action| {
            let app = app.clone();
            async move {
                let spec = &app.actions.specs[action];
                deliver(&app.micros[spec.micro], &spec.id, &app.hostname).await
            }
            .boxed()
        });
        Scheduler::spawn_with(actions, Clock::system(), runner)
    }

    /// Starts the driver with any clock and runner (tests).
    /// The schedule starts now, before this returns, so `/__space/status` shows next runs from
    /// the first request on.
    pub fn spawn_with(actions: Arc<Actions>, clock: Clock, runner: Runner) -> Scheduler {
        actions.start(clock.now());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(drive(actions, clock, runner, stopped));
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

#[cfg(test)]
mod tests;
