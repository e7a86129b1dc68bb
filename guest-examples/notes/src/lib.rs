//! `notes`: a tiny app Micro with a scheduled action.
//!
//! - `GET /` — an HTML page showing the Micro and its action log;
//! - `POST /__space/v0/actions` — the runtime's scheduled-action call: appends
//!   `<UTC timestamp> <event id> <trigger>` to `/tmp/actions.log` (the only writable place);
//! - `GET /actions` — that log as text, or `no actions yet`.

use std::fs::OpenOptions;
use std::io::Write;

use serde_json::{Value, json};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

const LOG: &str = "/tmp/actions.log";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
/// Action events are small; bodies beyond this are refused.
const MAX_EVENT: usize = 64 * 1024;

/// A response: status, content type, body.
type Reply = (u16, &'static str, String);

struct Notes;

impl Guest for Notes {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let full = request.path_with_query().unwrap_or_else(|| "/".into());
        let path = full.split('?').next().unwrap_or("/").to_string();
        let (status, content_type, body) = match (request.method(), path.as_str()) {
            (Method::Get, "/") => (200, HTML, page(&request, &path)),
            (Method::Get, "/actions") => (200, TEXT, read_log()),
            (Method::Post, "/__space/v0/actions") => action(&request),
            _ => (404, TEXT, format!("no route for {full}\n")),
        };
        respond(out, status, content_type, body.as_bytes());
    }
}

/// `POST /__space/v0/actions` with `{"event":{"id":"tick","trigger":"schedule"}}`.
fn action(request: &IncomingRequest) -> Reply {
    let body = match read_body(request) {
        Ok(body) => body,
        Err(message) => return (400, TEXT, format!("{message}\n")),
    };
    let event = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("event").cloned());
    let Some(id) = event
        .as_ref()
        .and_then(|e| e.get("id"))
        .and_then(Value::as_str)
    else {
        return (400, TEXT, "expected {\"event\":{\"id\":...}}\n".into());
    };
    let trigger = event
        .as_ref()
        .and_then(|e| e.get("trigger"))
        .and_then(Value::as_str);
    let line = format!("{} {id} {}\n", utc_now(), trigger.unwrap_or("-"));
    let appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
        .and_then(|mut log| log.write_all(line.as_bytes()));
    match appended {
        Ok(()) => {
            let reply = json!({ "ok": true, "logged": line.trim_end() });
            (200, "application/json", reply.to_string())
        }
        Err(e) => (500, TEXT, format!("cannot write {LOG}: {e}\n")),
    }
}

fn read_log() -> String {
    match std::fs::read_to_string(LOG) {
        Ok(log) if !log.is_empty() => log,
        _ => "no actions yet\n".into(),
    }
}

/// `GET /`: the page. Links are made absolute with the Micro's mount path.
fn page(request: &IncomingRequest, path: &str) -> String {
    let name = std::env::var("DETA_SPACE_APP_MICRO_NAME").unwrap_or_else(|_| "notes".into());
    let prefix = mount_prefix(request, path);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}}\
         pre{{background:#f4f4f4;padding:1rem}}</style></head>\n<body>\n\
         <h1>{name}</h1>\n<p>A Micro running on micro-wasm. Its scheduled action <code>tick</code> \
         appends a line to <code>{LOG}</code> every minute.</p>\n\
         <h2>Action log (<a href=\"{prefix}/actions\">raw</a>)</h2>\n<pre>{log}</pre>\n</body>\n</html>\n",
        name = escape(&name),
        prefix = escape(&prefix),
        log = escape(&read_log()),
    )
}

/// Where this Micro is mounted (e.g. `/notes`), from `X-Forwarded-Prefix`; it accepts both
/// the stripped prefix and the full original path.
fn mount_prefix(request: &IncomingRequest, path: &str) -> String {
    let forwarded = request
        .headers()
        .get("x-forwarded-prefix")
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let forwarded = forwarded.split('?').next().unwrap_or("");
    let prefix = if path == "/" {
        forwarded
    } else {
        forwarded.strip_suffix(path).unwrap_or(forwarded)
    };
    prefix.trim_end_matches('/').to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The wall clock as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = wasi::clocks::wall_clock::now().seconds;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "body already consumed")?;
    let stream = body.stream().map_err(|()| "body stream already taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(MAX_EVENT as u64) {
            Ok(chunk) if bytes.len() + chunk.len() > MAX_EVENT => {
                return Err("event too large".into());
            }
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// Sends a response with a matching Content-Length.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), content_type.as_bytes().to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let response_body = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = response_body.write().expect("stream taken once");
    // `blocking-write-and-flush` accepts at most 4096 bytes per call.
    let written = body
        .chunks(4096)
        .try_for_each(|chunk| stream.blocking_write_and_flush(chunk));
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(response_body, None);
    }
}

wasi::http::proxy::export!(Notes);
