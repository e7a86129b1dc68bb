//! The runtime's own endpoints under `/__space/` (SPEC §4): health, the status JSON the
//! dashboard polls, the Prometheus metrics, the dashboard page and "Run now". Health is
//! public; the others need a key with `auth = "api-key"` (see [`dashboard`] for where it may
//! come from), and without auth they answer only clients on this machine
//! ([`headers::is_local_client`]): what they show (paths, guest log lines, errors) and do (run
//! an action) is the owner's.
//!
//! It owns what these endpoints show (the status document, the metrics rows); it must not
//! change a Micro's state.

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::router::SpaceEndpoint;
use super::{FrontDoor, dashboard, headers, pipeline};
use crate::app::App;
use crate::data::Api;
use crate::telemetry::activity::Recent;
use crate::telemetry::metrics::{self, MicroRow, MicroState};
use crate::transport::{ErrorKind, HttpError, ResponseBody, full};

/// Answers `endpoint`, whose request target is `target`, for a client at `peer`.
pub(super) async fn answer(
    app: &App,
    door: &FrontDoor,
    peer: &headers::Peer,
    endpoint: SpaceEndpoint,
    mut req: Request<Incoming>,
    target: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    if let SpaceEndpoint::Data {
        api,
        path_and_query,
    } = endpoint
    {
        return data(app, api, req, &path_and_query).await;
    }
    if endpoint == SpaceEndpoint::Dashboard
        && let Some(answer) = dashboard::trade_key(door, req.method(), target)
    {
        return answer;
    }
    let public = matches!(endpoint, SpaceEndpoint::Health);
    pipeline::authorize(door, public, req.headers_mut(), None)?;
    if door.api_keys.is_none() && owner_only(&endpoint) && !from_this_machine(&req, door, peer) {
        return Err(HttpError::new(
            ErrorKind::Forbidden,
            None,
            "with auth = \"none\" the dashboard, status, metrics and run now answer clients on this machine only; set auth = \"api-key\" to use them from elsewhere",
        ));
    }
    match endpoint {
        SpaceEndpoint::Health => Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"}))),
        SpaceEndpoint::Status => Ok(json(StatusCode::OK, &status(app).await)),
        SpaceEndpoint::Metrics => Ok(Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(full(metrics_text(app)))
            .expect("static response parts are valid")),
        SpaceEndpoint::Dashboard => Ok(dashboard::page()),
        SpaceEndpoint::RunAction(id) => dashboard::run_now(app, &id, &req).await,
        SpaceEndpoint::Data { .. } | SpaceEndpoint::Other(_) => Err(HttpError::new(
            ErrorKind::NotFound,
            None,
            "no such runtime endpoint",
        )),
    }
}

/// Whether `req` comes from this machine ([`headers::is_local_client`]) and names it in its
/// `Host` (or HTTP/2 authority), so a web page cannot reach these endpoints by rebinding its
/// own name to 127.0.0.1. A request without a host (HTTP/1.0, never a browser) passes.
fn from_this_machine(req: &Request<Incoming>, door: &FrontDoor, peer: &headers::Peer) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""))
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    headers::is_local_client(req.headers(), peer, &door.trusted)
        && host.is_none_or(headers::names_loopback)
}

/// The endpoints that show or change the owner's things: without auth, loopback clients only.
fn owner_only(endpoint: &SpaceEndpoint) -> bool {
    matches!(
        endpoint,
        SpaceEndpoint::Status
            | SpaceEndpoint::Metrics
            | SpaceEndpoint::Dashboard
            | SpaceEndpoint::RunAction(_)
    )
}

/// The data service from outside (`/__space/v0/base/v1/…`, `/__space/v0/drive/v1/…`): the
/// service checks the request's `X-API-Key` (a Data Key of this app) itself, so these routes
/// take no app key and never reach a Micro.
async fn data(
    app: &App,
    api: Api,
    mut req: Request<Incoming>,
    path_and_query: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    *req.uri_mut() = path_and_query.parse().map_err(|e| {
        HttpError::new(
            ErrorKind::BadRequest,
            None,
            format!("bad data service path: {e}"),
        )
    })?;
    Ok(app.data.handle(api, req).await)
}

/// A JSON response.
pub(super) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(bytes))
        .expect("static response parts are valid")
}

/// Per-Micro state and recent activity, the actions, and each Base and Drive with its size,
/// for `/__space/status` (which the dashboard polls).
async fn status(app: &App) -> serde_json::Value {
    let micros: Vec<MicroView> = app
        .micros
        .iter()
        .enumerate()
        .map(|(i, m)| MicroView {
            state: m.state(),
            tmp_limit: m.limits.tmp,
            recent: m.activity.recent(app.logs.recent(i)),
        })
        .collect();
    serde_json::json!({
        "app": app.name,
        "micros": micros,
        "actions": app.actions.status(),
        "data": match app.data.summary().await {
            Ok(summary) => serde_json::to_value(summary).unwrap_or_default(),
            Err(e) => serde_json::json!({"error": format!("{e:#}")}),
        },
        "dropped_log_lines": app.logs.dropped(),
    })
}

/// The Prometheus text of `/__space/metrics`.
fn metrics_text(app: &App) -> String {
    let rows: Vec<MicroRow<'_>> = app
        .micros
        .iter()
        .map(|m| MicroRow {
            metrics: &m.metrics,
            state: m.state(),
        })
        .collect();
    metrics::render(&rows, &app.actions.counts(), app.logs.dropped())
}

/// One Micro in `/__space/status`: its [`MicroState`] fields, plus `recent` requests, errors
/// and log lines.
#[derive(Debug, serde::Serialize)]
struct MicroView {
    #[serde(flatten)]
    state: MicroState,
    /// The `/tmp` quota in bytes (S7), next to `tmp_bytes`.
    tmp_limit: u64,
    recent: Recent,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of each Micro in `/__space/status` that the dashboard reads.
    #[test]
    fn status_micro_json_shape() {
        let view = MicroView {
            state: MicroState {
                name: "api".into(),
                awake: true,
                warm_instances: 2,
                in_flight: 1,
                tmp_bytes: 4096,
                requests: 7,
                cold_starts: 3,
            },
            tmp_limit: 1 << 20,
            recent: Recent::default(),
        };
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({
                "name": "api", "awake": true, "warm_instances": 2, "in_flight": 1,
                "tmp_bytes": 4096, "tmp_limit": 1048576, "requests": 7, "cold_starts": 3,
                "recent": {"requests": [], "errors": [], "logs": []},
            })
        );
    }
}
