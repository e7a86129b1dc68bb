//! One request through the front door, start to end: the upgrade check (S18), the head's size
//! (an HTTP/1 head hyper parsed may be larger than the runtime serves), routing,
//! the API-key check (SPEC §4), the rewrite for the Micro (client-IP headers, S17; prefix;
//! hop-by-hop headers), the Micro call, and the access line, metrics and activity record.
//!
//! It must not run guest code itself (`micro::invoke` does) nor answer runtime endpoints
//! (`endpoints` does).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, Uri, header};
use hyper::body::Incoming;

use super::router::Target;
use super::{
    FrontDoor, MAX_HEAD_BYTES, MAX_HEADERS, PerConnection, dashboard, endpoints, headers, malformed,
};
use crate::keys;
use crate::micro::Micro;
use crate::micro::invoke::invoke;
use crate::telemetry::access_log::{self, AccessLine};
use crate::telemetry::activity::RequestOutcome;
use crate::transport::{ErrorKind, HttpError, ResponseBody, full};

/// One request, start to end; always a response.
pub(super) async fn handle(conn: &PerConnection, req: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = req.method().clone();
    // A clone shares the request head's bytes: no copy of the path.
    let uri = req.uri().clone();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let (result, micro, cold) = route(conn, req, path).await;
    // A runtime endpoint may carry an app key in its query (the dashboard's `?key=`).
    let path = match micro {
        Some(_) => Cow::Borrowed(path),
        None => dashboard::redact_key(path),
    };
    let name = micro.map_or("-", |m| m.name.as_str());
    let (response, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            tracing::warn!(micro = name, %method, path = &*path, status = e.kind.status().as_u16(), detail = e.detail.as_deref(), "{}", e.message);
            let mut response = e.to_response::<bytes::Bytes>().map(full);
            if e.kind == ErrorKind::HeadersTooLarge {
                // Closed, as hyper closes a connection after its own 431.
                let close = header::HeaderValue::from_static("close");
                response.headers_mut().insert(header::CONNECTION, close);
            }
            (response, Some(e))
        }
    };
    let took = started.elapsed();
    // Milliseconds to the microsecond: `ms=1.294`, not `ms=1.2943069999999999`.
    let ms = took.as_micros() as f64 / 1000.0;
    let status = response.status().as_u16();
    if let Some(m) = micro {
        m.metrics
            .record(status, took, error.as_ref().map(|e| e.kind));
        let outcome = RequestOutcome {
            status,
            ms,
            cold,
            error: error
                .as_ref()
                .map(|e| (e.kind.as_str(), e.message.as_str())),
        };
        m.activity.record(method.as_str(), &path, outcome);
    }
    access_log::write(&AccessLine {
        micro: name,
        method: method.as_str(),
        path: &path,
        status,
        cold,
        ms,
    });
    response
}

/// The response or error, the Micro that served it (if any), and whether it was a cold start.
type Routed<'a> = (
    Result<Response<ResponseBody>, HttpError>,
    Option<&'a Arc<Micro>>,
    bool,
);

/// Routes `req`, whose request target is `path_and_query` (read once by the caller).
async fn route<'a>(
    conn: &'a PerConnection,
    mut req: Request<Incoming>,
    path_and_query: &str,
) -> Routed<'a> {
    let (app, door) = (&*conn.app, &*conn.door);
    let (parts, body) = req.into_parts();
    if headers::wants_upgrade(&parts) {
        let e = HttpError::new(
            ErrorKind::UpgradeRequired,
            None,
            "protocol upgrades (websockets) are not supported: micros serve plain request/response http (S18)",
        );
        return (Err(e), None, false);
    }
    // hyper reads up to `READ_BUF_BYTES` of a head; HTTP/2 limits its header list itself.
    if parts.version <= http::Version::HTTP_11 && headers::head_len(&parts) > MAX_HEAD_BYTES {
        return (Err(malformed::head_too_large()), None, false);
    }
    req = Request::from_parts(parts, body);
    match door.router.route(path_and_query) {
        Target::Space(endpoint) => (
            endpoints::answer(app, door, &conn.peer, endpoint, req, path_and_query).await,
            None,
            false,
        ),
        Target::NotFound => (
            Err(HttpError::new(
                ErrorKind::NotFound,
                None,
                format!("no route for {path_and_query}"),
            )),
            None,
            false,
        ),
        Target::Ambiguous => (
            Err(HttpError::new(
                ErrorKind::BadRequest,
                None,
                "ambiguous path: a backslash, an encoded backslash, or an encoded slash that makes a `.` or `..` segment may be read differently by a micro",
            )),
            None,
            false,
        ),
        Target::Reserved => (
            Err(HttpError::new(
                ErrorKind::NotFound,
                None,
                "paths under /__space/ belong to the runtime and cannot be called from outside",
            )),
            None,
            false,
        ),
        Target::Micro {
            micro,
            path_and_query,
            prefix,
        } => {
            let m = &app.micros[micro];
            let name = Some(m.name.as_str());
            let routed = Some(m);
            let path = path_and_query.split('?').next().unwrap_or("/");
            let public = door.public[micro].is_public(path);
            if let Err(e) = authorize(door, public, req.headers_mut(), Some(&m.name)) {
                return (Err(e), routed, false);
            }
            if let Err(e) = prepare(app, door, &conn.peer, &mut req, path_and_query, prefix) {
                return (Err(e.with_micro(&m.name)), routed, false);
            }
            let Some(slot) = m.try_begin() else {
                let e = HttpError::new(
                    ErrorKind::Busy,
                    name,
                    format!(
                        "micro is at its concurrency limit of {} (S8)",
                        m.limits.concurrency
                    ),
                );
                return (Err(e), routed, false);
            };
            let served = invoke(m, slot, req).await;
            (served.result, routed, served.cold)
        }
    }
}

/// With `auth = "api-key"`, a non-public route needs a valid key: in `X-Space-App-Key`, or
/// for a runtime endpoint (`micro` is `None`) also in the dashboard's cookie. The header is
/// removed either way, so a key never reaches guest code.
pub(super) fn authorize(
    door: &FrontDoor,
    public: bool,
    headers: &mut http::HeaderMap,
    micro: Option<&str>,
) -> Result<(), HttpError> {
    // The header never reaches a guest, whether or not the route needs it. Runtime endpoints
    // (no Micro) also take the dashboard's cookie: a browser cannot send a header.
    let presented = headers
        .remove(keys::api::HEADER)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| {
            micro
                .is_none()
                .then(|| dashboard::key_cookie(headers))
                .flatten()
        });
    match &door.api_keys {
        Some(keys) if !public && !keys.check(presented.as_deref()) => Err(HttpError::new(
            ErrorKind::Unauthorized,
            micro,
            match (presented.is_some(), micro) {
                (true, Some(_)) => "invalid api key in X-Space-App-Key",
                (true, None) => "invalid api key",
                (false, Some(_)) => "this route needs an api key in X-Space-App-Key",
                (false, None) => {
                    "this route needs an api key in X-Space-App-Key (in a browser, open /__space/?key=<key>)"
                }
            },
        )),
        _ => Ok(()),
    }
}

/// Rewrites a routed request for its Micro: Micro-relative URI with an authority, client-IP
/// and prefix headers, hop-by-hop headers removed.
fn prepare(
    app: &crate::app::App,
    door: &FrontDoor,
    peer: &headers::Peer,
    req: &mut Request<Incoming>,
    path_and_query: String,
    prefix: Option<&http::HeaderValue>,
) -> Result<(), HttpError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or(&app.hostname);
    let uri = Uri::builder()
        .scheme(http::uri::Scheme::HTTP)
        .authority(host)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| {
            HttpError::new(
                ErrorKind::BadRequest,
                None,
                format!("bad request target: {e}"),
            )
        })?;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    // Room for the three headers set below, in one step rather than a growth per insert.
    headers.reserve(3);
    headers::strip_hop_by_hop(headers);
    headers::set_client_ip(headers, peer, &door.trusted);
    headers::set_forwarded_prefix(headers, prefix);
    if headers.len() > MAX_HEADERS {
        return Err(HttpError::new(
            ErrorKind::BadRequest,
            None,
            format!(
                "request has {} headers; at most {MAX_HEADERS} are allowed",
                headers.len()
            ),
        ));
    }
    Ok(())
}
