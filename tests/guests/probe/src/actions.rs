//! Scheduled actions: `POST /__space/v0/actions` records what the runtime sent,
//! `GET /last-action` shows it.

use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use crate::reply::{JSON, Outcome, Reply, Req};

/// Action bodies are kept up to this many bytes.
const ACTION_KEEP: usize = 1024 * 1024;
const LAST_ACTION_FILE: &str = "/tmp/last-action.json";

/// The last recorded action, while this instance is warm.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// `POST /__space/v0/actions`: records method, path, content type and body in a global
/// and in /tmp/last-action.json (when /tmp is writable); answers
/// `{"ok":<status < 400>,"event":<body>,"request":<the record>}` (the body as JSON, or a string
/// when it is not JSON), with status 200, or the status in env var `ACTION_STATUS` when set
/// (so tests can make an action fail). With env var `ACTION_SLEEP_MS` set, it first waits that
/// many milliseconds in a host call (so tests can catch a run in flight).
pub fn record(req: &Req) -> Outcome {
    if req.method != "POST" {
        return Err(Reply::text(405, "actions are POSTed\n"));
    }
    let (_, body) = req.read_body(ACTION_KEEP)?;
    if let Some(ms) = std::env::var("ACTION_SLEEP_MS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        crate::hostile::pause(ms);
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let event =
        serde_json::from_str::<Value>(&text).unwrap_or_else(|_| Value::String(text.clone()));
    let record = json!({
        "method": req.method,
        "path": req.path_with_query,
        "content_type": req.header("content-type"),
        "body": text,
    });
    let record_text = record.to_string();
    // Best effort: a read-only or full /tmp must not fail the action.
    let _ = std::fs::write(LAST_ACTION_FILE, &record_text);
    *LAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(record_text);
    let status = std::env::var("ACTION_STATUS")
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(200);
    let reply = json!({ "ok": status < 400, "event": event, "request": record });
    Ok(Reply::json(status, &reply))
}

/// `GET /last-action`: the last record of this instance, else the one in /tmp, else 404.
pub fn last(_: &Req) -> Outcome {
    let in_memory = LAST.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match in_memory.or_else(|| std::fs::read_to_string(LAST_ACTION_FILE).ok()) {
        Some(record) => Ok(Reply::with(200, JSON, record)),
        None => Err(Reply::text(404, "no action recorded\n")),
    }
}
