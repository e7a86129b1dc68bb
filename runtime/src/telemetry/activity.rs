//! Recent activity for the dashboard at `/__space/`: each Micro's last requests and
//! errors, and its last log lines, each kept in a small bounded ring and shown by
//! `/__space/status` (SPEC §4 runtime endpoints, §7 lifecycle).
//!
//! The request path pays one short mutex push per request ([`Activity::record`], which reuses
//! the strings of the record it drops, so a full ring allocates nothing) into its thread's
//! rings ([`super::shard`]; the dashboard merges them by time, so the connection workers do
//! not share the lock); log lines
//! are pushed by the log writer thread, never by the guest. Rings hold at most [`RECENT`]
//! entries and cut long paths, messages and lines, so memory stays bounded whatever a client
//! or guest sends. Paths are kept without their query string, which may carry tokens or
//! personal data the dashboard must not show. This module must not log, count metrics (that is `metrics`) or decide what
//! an error is (the front door passes its status and kind).

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use super::{Padded, SHARDS, shard};

/// Entries kept in each ring.
pub const RECENT: usize = 20;
/// Longest request path kept, in bytes.
const MAX_PATH: usize = 256;
/// Longest error message or log line kept, in bytes.
const MAX_TEXT: usize = 512;

/// A bounded ring: pushing past its capacity drops the oldest entry.
#[derive(Debug)]
pub struct Ring<T> {
    items: Mutex<VecDeque<T>>,
}

impl<T: Clone> Ring<T> {
    pub fn new() -> Ring<T> {
        Ring {
            items: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    pub fn push(&self, item: T) {
        push_bounded(&mut self.items.lock().unwrap(), item);
    }

    /// The entries, newest first.
    pub fn newest_first(&self) -> Vec<T> {
        self.items.lock().unwrap().iter().rev().cloned().collect()
    }
}

impl<T: Clone> Default for Ring<T> {
    fn default() -> Self {
        Ring::new()
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T) {
    if ring.len() == RECENT {
        ring.pop_front();
    }
    ring.push_back(item);
}

/// One answered request of a Micro.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RequestRecord {
    #[serde(serialize_with = "rfc3339")]
    pub time: DateTime<Utc>,
    pub method: String,
    /// The path as the client sent it, without the query (cut at 256 bytes).
    pub path: String,
    pub status: u16,
    /// Milliseconds from the request's arrival to its response head.
    pub ms: f64,
    /// `"cold"` when an instance was made for it, else `"warm"`.
    pub start: &'static str,
}

/// One failed request of a Micro: a runtime error (timeout, trap, busy...) or a 5xx answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorRecord {
    #[serde(serialize_with = "rfc3339")]
    pub time: DateTime<Utc>,
    pub path: String,
    pub status: u16,
    /// The `error` kind of SPEC §4, or `"status"` for a 5xx the guest answered itself.
    pub error: &'static str,
    pub message: String,
}

/// One line a Micro wrote to stdout or stderr.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRecord {
    #[serde(serialize_with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// `"stdout"` or `"stderr"`.
    pub stream: &'static str,
    pub text: String,
}

impl LogRecord {
    pub fn new(time: DateTime<Utc>, stream: &'static str, text: &str) -> LogRecord {
        LogRecord {
            time,
            stream,
            text: cut(text, MAX_TEXT),
        }
    }
}

/// How a request ended, as the front door saw it.
#[derive(Clone, Copy, Debug)]
pub struct RequestOutcome<'a> {
    pub status: u16,
    pub ms: f64,
    pub cold: bool,
    /// The runtime error's kind and message, when the runtime answered with an error.
    pub error: Option<(&'static str, &'a str)>,
}

#[derive(Debug, Default)]
struct Rings {
    requests: VecDeque<RequestRecord>,
    errors: VecDeque<ErrorRecord>,
}

/// A Micro's recent requests and errors: rings per shard, each behind its lock.
#[derive(Debug)]
pub struct Activity {
    shards: Box<[Padded<Mutex<Rings>>]>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
        }
    }
}

/// What the dashboard shows of a Micro's recent activity, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recent {
    pub requests: Vec<RequestRecord>,
    pub errors: Vec<ErrorRecord>,
    pub logs: Vec<LogRecord>,
}

impl Activity {
    /// Records one answered request (and, for a runtime error or a 5xx, one error).
    /// `path` may carry a query: it is dropped.
    pub fn record(&self, method: &str, path: &str, outcome: RequestOutcome<'_>) {
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        let time = Utc::now();
        let error = match outcome.error {
            Some((kind, message)) => Some((kind, cut(message, MAX_TEXT))),
            None if outcome.status >= 500 => {
                Some(("status", format!("micro answered {}", outcome.status)))
            }
            None => None,
        };
        let error = error.map(|(error, message)| ErrorRecord {
            time,
            path: cut(path, MAX_PATH),
            status: outcome.status,
            error,
            message,
        });
        let mut rings = self.shards[shard()].0.lock().unwrap();
        // A full ring hands its oldest record over, strings and all: no allocation per request
        // once the ring has filled.
        let mut request = match rings.requests.len() {
            RECENT => rings.requests.pop_front().unwrap_or_default(),
            _ => RequestRecord::default(),
        };
        request.time = time;
        request.method.clear();
        request.method.push_str(method);
        request.path.clear();
        cut_into(&mut request.path, path, MAX_PATH);
        request.status = outcome.status;
        request.ms = (outcome.ms * 10.0).round() / 10.0;
        request.start = if outcome.cold { "cold" } else { "warm" };
        rings.requests.push_back(request);
        if let Some(record) = error {
            push_bounded(&mut rings.errors, record);
        }
    }

    /// The recent requests and errors, newest first, with `logs` (from `AppLogs::recent`).
    pub fn recent(&self, logs: Vec<LogRecord>) -> Recent {
        let mut requests = Vec::new();
        let mut errors = Vec::new();
        for shard in self.shards.iter() {
            let rings = shard.0.lock().unwrap();
            requests.extend(rings.requests.iter().rev().cloned());
            errors.extend(rings.errors.iter().rev().cloned());
        }
        Recent {
            requests: newest(requests, |r| r.time),
            errors: newest(errors, |e| e.time),
            logs,
        }
    }
}

/// The [`RECENT`] newest of `records` (each shard's newest first), newest first; of records
/// with the same time, a shard's order is kept.
fn newest<T>(mut records: Vec<T>, time: impl Fn(&T) -> DateTime<Utc>) -> Vec<T> {
    records.sort_by_key(|r| std::cmp::Reverse(time(r)));
    records.truncate(RECENT);
    records
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    cut_into(&mut out, text, max);
    out
}

/// Appends `text` to `out`, cut as by [`cut`].
fn cut_into(out: &mut String, text: &str, max: usize) {
    if text.len() <= max {
        out.push_str(text);
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
    out.push('…');
}

fn rfc3339<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16) -> RequestOutcome<'static> {
        RequestOutcome {
            status,
            ms: 1.25,
            cold: false,
            error: None,
        }
    }

    #[test]
    fn rings_keep_the_last_20_newest_first() {
        let activity = Activity::default();
        for i in 0..25 {
            activity.record("GET", &format!("/n/{i}"), ok(200));
        }
        // The newest record reuses the oldest one's strings: nothing of it may remain.
        activity.record(
            "DELETE",
            "/x",
            RequestOutcome {
                status: 404,
                ms: 2.04,
                cold: true,
                error: None,
            },
        );
        let recent = activity.recent(Vec::new());
        assert_eq!(recent.requests.len(), RECENT);
        let newest = &recent.requests[0];
        assert_eq!(
            (newest.method.as_str(), newest.path.as_str()),
            ("DELETE", "/x")
        );
        assert_eq!((newest.status, newest.ms, newest.start), (404, 2.0, "cold"));
        assert_eq!(recent.requests[1].path, "/n/24");
        assert_eq!(recent.requests[1].start, "warm");
        assert_eq!(recent.requests[RECENT - 1].path, "/n/6");
        assert!(recent.errors.is_empty());

        let ring = Ring::new();
        for i in 0..30 {
            ring.push(i);
        }
        assert_eq!(ring.newest_first(), (10..30).rev().collect::<Vec<_>>());
    }

    #[test]
    fn records_of_several_threads_are_merged_newest_first() {
        let activity = Activity::default();
        for i in 0..15 {
            activity.record("GET", &format!("/main/{i}"), ok(200));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..10 {
                    activity.record("GET", &format!("/other/{i}"), ok(200));
                }
            });
        });
        let paths: Vec<String> = activity
            .recent(Vec::new())
            .requests
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(paths.len(), RECENT);
        let other = (0..10).rev().map(|i| format!("/other/{i}"));
        let main = (5..15).rev().map(|i| format!("/main/{i}"));
        assert_eq!(paths, other.chain(main).collect::<Vec<_>>());
    }

    #[test]
    fn runtime_errors_and_5xx_are_errors_4xx_answers_are_not() {
        let activity = Activity::default();
        activity.record("GET", "/missing", ok(404));
        activity.record("GET", "/boom", ok(500));
        activity.record(
            "POST",
            "/panic",
            RequestOutcome {
                status: 502,
                ms: 3.0,
                cold: true,
                error: Some(("trap", "guest trapped: unreachable")),
            },
        );
        let recent = activity.recent(Vec::new());
        assert_eq!(recent.requests.len(), 3);
        let kinds: Vec<_> = recent.errors.iter().map(|e| (e.error, e.status)).collect();
        assert_eq!(kinds, [("trap", 502), ("status", 500)]);
        assert_eq!(recent.errors[1].message, "micro answered 500");
    }

    #[test]
    fn long_paths_messages_and_lines_are_cut() {
        let activity = Activity::default();
        let long = "é".repeat(400);
        activity.record(
            "GET",
            &format!("/{long}"),
            RequestOutcome {
                status: 500,
                ms: 0.0,
                cold: false,
                error: Some(("internal", &long)),
            },
        );
        let recent = activity.recent(vec![LogRecord::new(Utc::now(), "stdout", &long)]);
        assert!(recent.requests[0].path.len() <= MAX_PATH + '…'.len_utf8());
        assert!(recent.requests[0].path.ends_with('…'));
        assert!(recent.errors[0].message.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(recent.logs[0].text.len() <= MAX_TEXT + '…'.len_utf8());
    }

    /// The exact shape the dashboard page reads for each Micro's `recent`; the query of
    /// `/panic?x=1` is not kept.
    #[test]
    fn recent_json_shape() {
        let activity = Activity::default();
        activity.record(
            "GET",
            "/panic?x=1",
            RequestOutcome {
                status: 502,
                ms: 12.345,
                cold: true,
                error: Some(("trap", "guest trapped")),
            },
        );
        let time = DateTime::parse_from_rfc3339("2024-05-01T10:00:00.5Z")
            .unwrap()
            .to_utc();
        let mut recent = activity.recent(vec![LogRecord::new(time, "stderr", "probe err")]);
        recent.requests[0].time = time;
        recent.errors[0].time = time;
        assert_eq!(
            serde_json::to_value(&recent).unwrap(),
            serde_json::json!({
                "requests": [{
                    "time": "2024-05-01T10:00:00.500Z", "method": "GET", "path": "/panic",
                    "status": 502, "ms": 12.3, "start": "cold",
                }],
                "errors": [{
                    "time": "2024-05-01T10:00:00.500Z", "path": "/panic", "status": 502,
                    "error": "trap", "message": "guest trapped",
                }],
                "logs": [{"time": "2024-05-01T10:00:00.500Z", "stream": "stderr", "text": "probe err"}],
            })
        );
    }
}
