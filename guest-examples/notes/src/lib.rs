//! `notes`: a tiny app Micro with a scheduled action.
//!
//! - `GET /` — an HTML page showing the Micro and its action log;
//! - `POST /__space/v0/actions` — the runtime's scheduled-action call: appends
//!   `<UTC timestamp> <event id> <trigger>` to `/tmp/actions.log` (the only writable place);
//! - `GET /actions` — that log as text, or `no actions yet`.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use micro_space::{ActionEvent, Request, Response, Router, env, json};

const LOG: &str = "/tmp/actions.log";

fn app(request: Request) -> Response {
    Router::new()
        .get("/", |request: Request| Response::html(200, page(&request)))
        .get("/actions", |_| Response::text(200, read_log()))
        .action(log_action)
        .fallback(|request: Request| {
            Response::text(404, format!("no route for {}\n", request.path_and_query()))
        })
        .handle(request)
}

micro_space::export!(app);

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

/// `GET /`: the page. Links are made absolute with the Micro's mount path.
fn page(request: &Request) -> String {
    let name = env::micro_name();
    let name = if name.is_empty() {
        "notes".into()
    } else {
        name
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}}\
         pre{{background:#f4f4f4;padding:1rem}}</style></head>\n<body>\n\
         <h1>{name}</h1>\n<p>A Micro running on micro-wasm. Its scheduled action <code>tick</code> \
         appends a line to <code>{LOG}</code> every minute.</p>\n\
         <h2>Action log (<a href=\"{prefix}/actions\">raw</a>)</h2>\n<pre>{log}</pre>\n</body>\n</html>\n",
        name = escape(&name),
        prefix = escape(&request.mount_prefix()),
        log = escape(&read_log()),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
