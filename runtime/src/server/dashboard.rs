//! The live dashboard: the page at `/__space/`, how runtime endpoints read an API key
//! (SPEC §4 auth), and "Run now", `POST /__space/actions/<id>/run` (SPEC §6).
//!
//! The page is one HTML file with inline CSS and JS (`dashboard.html`, compiled in), loads
//! nothing else and polls `/__space/status` every 2 s. With `auth = "api-key"` every runtime
//! endpoint but health needs a key, from the `X-Space-App-Key` header or from the
//! `space_app_key` cookie, because a browser cannot send a header when it opens a page:
//!
//! - `GET /__space/?key=KEY` checks KEY (hashed, constant time, as `auth` does for the header)
//!   and answers `303` to `/__space/` with `Set-Cookie: space_app_key=KEY; Path=/__space;
//!   HttpOnly; SameSite=Strict`: the key leaves the address bar and history, page scripts
//!   cannot read it, and the browser sends it only to `/__space/...` paths of this host. A
//!   wrong key is a 401. The query is redacted from the request log.
//! - "Run now" changes state, so it also needs the header `X-Space-Dashboard: 1`, which a
//!   cross-site form or a no-CORS `fetch` cannot add and the runtime never allows through CORS:
//!   no other web page can start a run through the cookie, nor on an `auth = "none"` app.
//!
//! It must not run guest code itself: a run goes through `actions::run_now`, the same
//! logged, counted, never-overlapping path as a scheduled run.

use std::borrow::Cow;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::FrontDoor;
use super::endpoints::json;
use crate::actions;
use crate::app::App;
use crate::transport::{ErrorKind, HttpError, ResponseBody, empty, full};

/// The page, compiled into the binary.
const PAGE: &str = include_str!("dashboard.html");
/// The cookie that carries an app key for `/__space/` endpoints.
pub const COOKIE: &str = "space_app_key";
/// The header a "Run now" request must carry, with the value `1` (against cross-site requests).
pub const RUN_HEADER: &str = "x-space-dashboard";
/// The query parameter `GET /__space/?key=` trades for the cookie.
const KEY_PARAM: &str = "key";
/// What the page's responses may load and do: nothing from elsewhere, no framing.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The page itself.
pub fn page() -> Response<ResponseBody> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_SECURITY_POLICY, PAGE_CSP)
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(full(PAGE))
        .expect("static response parts are valid")
}

/// For `GET /__space/?key=KEY` on an app with keys: the redirect that sets the cookie, or a
/// 401 for a wrong key. `None` when there is nothing to trade (no `key`, not a GET, or
/// `auth = "none"`): the request goes on as usual.
pub fn trade_key(
    door: &FrontDoor,
    method: &Method,
    target: &str,
) -> Option<Result<Response<ResponseBody>, HttpError>> {
    let key = query_param(target, KEY_PARAM)?;
    let keys = door.api_keys.as_ref()?;
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let cookie = (keys.check(Some(key.as_bytes())))
        .then(|| HeaderValue::from_str(&set_cookie(key)).ok())
        .flatten();
    let Some(cookie) = cookie else {
        return Some(Err(HttpError::new(
            ErrorKind::Unauthorized,
            None,
            "invalid api key in ?key=",
        )));
    };
    let response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/__space/")
        .header(header::SET_COOKIE, cookie)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(empty())
        .expect("static response parts are valid");
    Some(Ok(response))
}

fn set_cookie(key: &str) -> String {
    format!("{COOKIE}={key}; Path=/__space; HttpOnly; SameSite=Strict")
}

/// The app key in the [`COOKIE`], if the request carries it (runtime endpoints take it as
/// well as the `X-Space-App-Key` header; the front door checks it like the header).
pub fn key_cookie(headers: &HeaderMap) -> Option<Vec<u8>> {
    cookie_value(headers, COOKIE)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let value = pair.trim_ascii().strip_prefix(name.as_bytes())?;
            Some(value.strip_prefix(b"=")?.to_vec())
        })
}

/// The raw value of query parameter `name` in `target` (`/path?query`), if present.
fn query_param<'t>(target: &'t str, name: &str) -> Option<&'t str> {
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// `target` with the value of every `key=` query parameter replaced, for the request log.
pub fn redact_key(target: &str) -> Cow<'_, str> {
    let Some((path, query)) = target.split_once('?') else {
        return Cow::Borrowed(target);
    };
    let secret = |pair: &str| pair.split_once('=').is_some_and(|(k, _)| k == KEY_PARAM);
    if !query.split('&').any(secret) {
        return Cow::Borrowed(target);
    }
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| if secret(pair) { "key=<redacted>" } else { pair })
        .collect();
    Cow::Owned(format!("{path}?{}", query.join("&")))
}

/// `POST /__space/actions/<id>/run`: runs the action now and answers `200 {"action", "micro",
/// "result"}` once it finished (`result.ok` tells whether the run succeeded); 404 for an
/// unknown id, 400 without POST or [`RUN_HEADER`], 503 `busy` while a run of it is going.
pub async fn run_now(
    app: &App,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<ResponseBody>, HttpError> {
    let Some(action) = app.actions.position(id) else {
        let message = format!("no action with id `{id}`");
        return Err(HttpError::new(ErrorKind::NotFound, None, message));
    };
    let micro = app.actions.specs()[action].micro_name.as_str();
    let refuse = |message: String| Err(HttpError::new(ErrorKind::BadRequest, Some(micro), message));
    if req.method() != Method::POST {
        return refuse(format!("use POST to run action `{id}`"));
    }
    if req.headers().get(RUN_HEADER).is_none_or(|v| v != "1") {
        return refuse(format!(
            "running action `{id}` needs the header X-Space-Dashboard: 1 (a guard against cross-site requests)"
        ));
    }
    let Some(result) = actions::run_now(&app.actions, &app.micros, &app.hostname, action).await
    else {
        let message = format!("action `{id}` is already running; try again when it finishes");
        return Err(HttpError::new(ErrorKind::Busy, Some(micro), message));
    };
    let answer = serde_json::json!({"action": id, "micro": micro, "result": result});
    Ok(json(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_key_comes_from_the_query_and_is_redacted_in_logs() {
        assert_eq!(query_param("/__space/?key=abc&x=1", "key"), Some("abc"));
        assert_eq!(query_param("/__space/?x=1&key=", "key"), Some(""));
        assert_eq!(query_param("/__space/?monkey=1", "key"), None);
        assert_eq!(query_param("/__space/", "key"), None);
        assert_eq!(
            redact_key("/__space/?x=1&key=abc&key=d"),
            "/__space/?x=1&key=<redacted>&key=<redacted>"
        );
        assert_eq!(redact_key("/__space/?monkey=1"), "/__space/?monkey=1");
        assert_eq!(redact_key("/__space/status"), "/__space/status");
    }

    #[test]
    fn dashboard_cookie_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x_space_app_key=no;space_app_key=K3y"),
        );
        assert_eq!(cookie_value(&headers, COOKIE).as_deref(), Some(&b"K3y"[..]));
        assert_eq!(cookie_value(&headers, "b").as_deref(), Some(&b"2"[..]));
        assert_eq!(cookie_value(&headers, "c"), None);
        assert_eq!(
            set_cookie("K3y"),
            "space_app_key=K3y; Path=/__space; HttpOnly; SameSite=Strict"
        );
    }

    /// Every field the page reads from `/__space/status` exists in the JSON the runtime sends
    /// (the shapes themselves are pinned in `server::endpoints`, `telemetry::activity` and `actions`).
    #[test]
    fn dashboard_page_reads_the_status_fields() {
        for field in [
            "s.app",
            "s.micros",
            "s.actions",
            "m.name",
            "m.awake",
            "m.warm_instances",
            "m.in_flight",
            "m.requests",
            "m.cold_starts",
            "m.tmp_bytes",
            "m.tmp_limit",
            "m.recent.requests",
            "m.recent.errors",
            "m.recent.logs",
            "r.time",
            "r.method",
            "r.path",
            "r.status",
            "r.ms",
            "r.start",
            "e.status",
            "e.error",
            "e.path",
            "e.message",
            "l.time",
            "l.stream",
            "l.text",
            "a.id",
            "a.name",
            "a.micro",
            "a.interval",
            "a.next_run",
            "a.running",
            "a.runs",
            "a.failures",
            "a.skipped",
            "a.last",
            "a.last.ok",
            "a.last.status",
            "a.last.duration_ms",
            "a.last.started",
            "a.last.error",
            "body.result.ok",
            "body.message",
        ] {
            assert!(PAGE.contains(field), "the page no longer reads {field}");
        }
        assert!(PAGE.contains("\"/__space/status\""));
        assert!(PAGE.contains("\"X-Space-Dashboard\": \"1\""));
        assert!(!PAGE.contains("innerHTML"), "guest text must go in as text");
        assert!(
            !PAGE.contains("http://") && !PAGE.contains("https://"),
            "no external assets"
        );
    }
}
