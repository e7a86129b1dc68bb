//! Scheduled actions (SPEC §6; the cron and rate rules of §3; S2 is checked by `manifest`).
//!
//! This file owns the app's table of actions: each one's next run, whether a run is going,
//! counters and last result (shown by `/__space/status`), and the pure planning step that
//! decides which runs are due or skipped at a given time ([`Actions::plan`]). [`driver`]
//! sleeps until the next run and starts it; [`delivery`] is the one way an action event
//! reaches a Micro, shared by the scheduler, `micro-wasm trigger` and the dashboard's
//! "Run now" ([`driver::run_now`], which goes through the same logged, counted run as a
//! scheduled time and never overlaps a run).
//!
//! Rules it serves: at each scheduled time the Micro gets `POST /__space/v0/actions` with
//! `Content-Type: application/json` and `{"event":{"id":"<id>","trigger":"schedule"}}`; a run
//! fails on a status ≥ 400, a trap or a timeout; every run is logged (id, micro, scheduled
//! time, status, duration); a run due while the previous one of the same action is still going
//! is skipped and logged; runs missed while the runtime was down (or stalled) are not replayed:
//! after a late wake-up an action runs once and its next run is the first one after now.
//!
//! It must not compute cron or rate times itself (that is `manifest::interval`, pure), read
//! the clock outside [`driver::Clock`], nor bypass a Micro's limits or lifecycle: every
//! delivery takes a concurrency slot with `Micro::try_begin` (waking a sleeping Micro; at the
//! limit the run fails as busy) and runs through `micro::invoke`, exactly like an HTTP request.
//! With several nodes on one PostgreSQL store, each scheduled run is first claimed ([`lease`])
//! and only the node that wins delivers it.

pub mod delivery;
pub mod driver;
pub mod lease;

use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

use crate::manifest::Manifest;
use crate::manifest::interval::Interval;
use crate::telemetry::metrics::RunCounts;

pub use delivery::deliver;
pub use driver::{Scheduler, run_now};

/// One action of the app, as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct ActionSpec {
    pub id: String,
    pub name: String,
    /// Index of the Micro in `App::micros` (manifest order).
    pub micro: usize,
    pub micro_name: String,
    pub interval: Interval,
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
struct ActionTable {
    /// The runtime's start, which rates count from; `None` until the scheduler starts.
    start: Option<DateTime<Utc>>,
    states: Vec<ActionState>,
}

/// Every action of the app and its state, shared by the driver and `/__space/status`.
#[derive(Debug)]
pub struct Actions {
    specs: Vec<ActionSpec>,
    table: Mutex<ActionTable>,
}

impl Actions {
    pub fn new(specs: Vec<ActionSpec>) -> Actions {
        let states = specs.iter().map(|_| ActionState::default()).collect();
        Actions {
            specs,
            table: Mutex::new(ActionTable {
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

    /// Starts the schedule of a node joining others at `now`: times are counted from `anchor`
    /// (the first node's start) and each action's first run here is the first at or after
    /// `now`.
    pub fn start_at(&self, anchor: DateTime<Utc>, now: DateTime<Utc>) {
        let mut table = self.table.lock().unwrap();
        table.start = Some(anchor);
        let just_before = now - TimeDelta::nanoseconds(1);
        for (spec, state) in self.specs.iter().zip(&mut table.states) {
            state.next = Some(spec.interval.next_after(anchor, just_before));
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

    /// Ends action `action`'s scheduled run without a result: another node claimed it (see
    /// [`lease`]), so nothing ran here.
    pub fn release(&self, action: usize) {
        self.table.lock().unwrap().states[action].running = false;
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

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
