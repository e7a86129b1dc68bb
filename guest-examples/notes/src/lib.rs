//! `notes`: a small JSON API that keeps its data, on Deta Base and Deta Drive (which
//! micro-wasm serves itself), plus a scheduled action.
//!
//! Notes are items of the Base `notes`; a note's attachment is the file named after its key in
//! the Drive `attachments`:
//!
//! - `GET /?limit=20&last=<key>` — a page of notes: `{"items": [...], "count", "last"}`
//!   (`last` is set when there is more: pass it back to get the next page);
//! - `POST /` — create a note from a JSON object (`{"text": "..."}`; a `key` is generated
//!   unless given): 201 with the stored note, 409 if the key is taken;
//! - `GET /:key`, `PATCH /:key` (set the fields of a JSON object, `null` deletes one),
//!   `DELETE /:key` (the note and its attachment);
//! - `PUT /:key/attachment` — the body is the file (put in 10 MiB parts when larger); the
//!   note gets `"attachment": {"size", "type"}`; `GET /:key/attachment` streams the file back;
//! - `POST /__space/v0/actions` — the runtime's scheduled action: appends
//!   `<UTC timestamp> <event id> <trigger>` to `/tmp/actions.log`; `GET /actions` shows it;
//! - `GET /health` — `{"ok": true}` without touching the data, for uptime checks (and the
//!   benchmark's measure of what this Micro costs before any data call).

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use micro_space::base::{Base, Error, FetchOptions, Updates};
use micro_space::drive::Drive;
use micro_space::serde_json::{Map, Value};
use micro_space::{ActionEvent, Request, Response, Router, json};

const LOG: &str = "/tmp/actions.log";
const PAGE: u32 = 20;

type Answer = Result<Response, Error>;

fn app(request: Request) -> Response {
    Router::new()
        .get("/", list)
        .post("/", create)
        .get("/actions", |_| Response::text(200, read_log()))
        .get("/health", |_| Response::json(200, &json!({ "ok": true })))
        .get("/:key", show)
        .patch("/:key", edit)
        .delete("/:key", remove)
        .put("/:key/attachment", attach)
        .get("/:key/attachment", download)
        .action(log_action)
        .handle(request)
}

micro_space::export!(app);

fn notes() -> Result<Base, Error> {
    Base::new("notes")
}

fn attachments() -> Result<Drive, Error> {
    Drive::new("attachments")
}

fn key(request: &Request) -> &str {
    request.param("key").unwrap_or_default()
}

/// The request body as a JSON object, or a 400 to answer.
fn object(request: &Request) -> Result<Map<String, Value>, Response> {
    match request.json::<Value>() {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Response::error(400, "the body must be a JSON object")),
    }
}

fn not_found() -> Answer {
    Ok(Response::error(404, "no such note"))
}

/// `GET /?limit=&last=`
fn list(request: Request) -> Answer {
    let limit = request
        .query_param("limit")
        .and_then(|n| n.parse().ok())
        .unwrap_or(PAGE)
        .clamp(1, 1000);
    let mut options = FetchOptions::default().limit(limit);
    if let Some(last) = request.query_param("last") {
        options = options.after(last);
    }
    let page = notes()?.fetch(Value::Null, options)?;
    Ok(Response::json(
        200,
        &json!({ "items": page.items, "count": page.count, "last": page.last }),
    ))
}

/// `POST /`: insert, so an existing key is a 409 rather than overwritten.
fn create(request: Request) -> Answer {
    let mut note = match object(&request) {
        Ok(note) => note,
        Err(bad) => return Ok(bad),
    };
    note.insert("created".into(), utc_now().into());
    Ok(Response::json(201, &notes()?.insert(note)?))
}

/// `GET /:key`
fn show(request: Request) -> Answer {
    match notes()?.get(key(&request))? {
        Some(note) => Ok(Response::json(200, &note)),
        None => not_found(),
    }
}

/// `PATCH /:key`: each field is set, or deleted when `null`; answers the updated note.
fn edit(request: Request) -> Answer {
    let fields = match object(&request) {
        Ok(fields) => fields,
        Err(bad) => return Ok(bad),
    };
    let mut updates = Updates::new();
    for (field, value) in fields.into_iter().filter(|(f, _)| f != "key") {
        updates = match value {
            Value::Null => updates.delete(&field),
            value => updates.set(&field, value),
        };
    }
    let base = notes()?;
    match base.update(key(&request), updates) {
        Err(Error::Http(404, _)) => return not_found(),
        other => other?,
    }
    show(request)
}

/// `DELETE /:key`: the note and its attachment (deleting what is absent is not an error).
fn remove(request: Request) -> Answer {
    notes()?.delete(key(&request))?;
    attachments()?.delete(key(&request))?;
    Ok(Response::new(204))
}

/// `PUT /:key/attachment`: the body is the file.
fn attach(request: Request) -> Answer {
    let key = key(&request);
    let base = notes()?;
    if base.get(key)?.is_none() {
        return not_found();
    }
    let content_type = request
        .header("content-type")
        .unwrap_or("application/octet-stream");
    attachments()?.put(key, &request.body, Some(content_type))?;
    let about = json!({ "size": request.body.len(), "type": content_type });
    base.update(key, Updates::new().set("attachment", about.clone()))?;
    Ok(Response::json(200, &about))
}

/// `GET /:key/attachment`
fn download(request: Request) -> Answer {
    let key = key(&request);
    let Some(note) = notes()?.get(key)? else {
        return not_found();
    };
    let content_type = note["attachment"]["type"]
        .as_str()
        .unwrap_or("application/octet-stream");
    // Streamed: the host splices the file from Drive's answer into the response, so it never
    // sits whole in the Micro's memory.
    match attachments()?.open(key)? {
        Some(file) => Ok(Response::from(file).with_header("content-type", content_type)),
        None => Ok(Response::error(404, "the note has no attachment")),
    }
}

/// `POST /__space/v0/actions` with `{"event":{"id":"tick","trigger":"schedule"}}`.
fn log_action(event: ActionEvent) -> Response {
    let trigger = if event.trigger.is_empty() {
        "-"
    } else {
        &event.trigger
    };
    let line = format!("{} {} {trigger}\n", utc_now(), event.id);
    let appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
        .and_then(|mut log| log.write_all(line.as_bytes()));
    match appended {
        Ok(()) => Response::json(200, &json!({ "ok": true, "logged": line.trim_end() })),
        Err(e) => Response::text(500, format!("cannot write {LOG}: {e}\n")),
    }
}

fn read_log() -> String {
    match std::fs::read_to_string(LOG) {
        Ok(log) if !log.is_empty() => log,
        _ => "no actions yet\n".into(),
    }
}

/// The wall clock as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
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
