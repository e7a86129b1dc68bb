//! The front door: the listener, hyper's HTTP/1.1 (keep-alive) and HTTP/2 settings, the
//! per-request pipeline (upgrade check, routing, client-IP headers, runtime endpoints, the
//! Micro call) and graceful shutdown (SPEC §4).
//!
//! Every failure becomes a JSON error response and is logged with its Micro; the service
//! never returns `Err` to hyper. It must not run guest code itself: `invoke` does.

pub mod auth;
pub mod body;
pub mod dashboard;
pub mod errors;
pub mod headers;
pub mod router;
pub mod workers;

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use http::{Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::activity::Outcome;
use crate::app::App;
use crate::console;
use crate::invoke::invoke;
use crate::micro::Micro;
use body::ResponseBody;
use errors::{ErrorKind, HttpError};
use router::{SpaceEndpoint, Target};

/// A client has this long to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers a request may carry.
const MAX_HEADERS: usize = 100;
/// Most bytes of request head buffered per connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` (and runs its scheduled actions) until `shutdown` resolves, then
/// stops accepting and scheduling, lets in-flight requests and action runs finish (bounded by
/// the longest Micro timeout plus a second) and returns.
///
/// Connections are served on `workers` threads of their own (see [`workers`]).
///
/// At most `max_connections` client connections are open at once: past that the listener
/// waits (new clients queue in the OS backlog) until one closes. Idle keep-alive connections
/// close after the header-read timeout, so idle clients cannot hold the slots for ever.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    max_connections: usize,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        // A response's head and body go out in one buffer and one `write`: cheaper than a
        // vectored write of the two for the small responses most Micros send (3 % more
        // hello requests/s measured), and a copy of a large body costs little beside it.
        .writev(false);
    builder.http2().max_header_list_size(MAX_HEAD_BYTES as u32);
    let graceful = GracefulShutdown::new();
    let sleeper = tokio::spawn(sleeper(app.clone()));
    let mut scheduler = crate::scheduler::Scheduler::spawn(app.clone());
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    let mut warned_full: Option<Instant> = None;
    let workers = workers::Workers::start(workers)?;
    loop {
        if slots.available_permits() == 0
            && warned_full.is_none_or(|at| at.elapsed() > Duration::from_secs(10))
        {
            tracing::warn!(
                max_connections,
                "connection limit reached; new clients wait"
            );
            warned_full = Some(Instant::now());
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The socket moves to its worker's reactor, so its wake-ups stay on that thread.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, "cannot hand the connection to a worker: {e}");
                continue;
            }
        };
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        workers.spawn(async move {
            let _slot = slot;
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, "cannot register the connection on its worker: {e}");
                    return;
                }
            };
            // Each request holds the connection's own handle on the app: its count stays on
            // this worker's core instead of bouncing between workers as the app's would.
            let conn = Arc::new(Connection {
                app,
                peer: headers::Peer::from(peer.ip()),
            });
            let service = hyper::service::service_fn(move |req| {
                let conn = conn.clone();
                async move { Ok::<_, Infallible>(handle(&conn.app, &conn.peer, req).await) }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    let bound = app.longest_timeout() + Duration::from_secs(1);
    tracing::info!(
        "shutting down: draining in-flight requests and action runs (at most {}s)",
        bound.as_secs()
    );
    let drain = async { tokio::join!(graceful.shutdown(), scheduler.stop()) };
    if tokio::time::timeout(bound, drain).await.is_err() {
        tracing::warn!(
            "some connections or action runs were still going after {}s; closing them",
            bound.as_secs()
        );
    }
    drop(scheduler);
    sleeper.abort();
    // Stopping the workers joins their threads: off the executor.
    let _ = tokio::task::spawn_blocking(move || drop(workers)).await;
    Ok(())
}

/// What every request of one connection shares.
struct Connection {
    app: Arc<App>,
    peer: headers::Peer,
}

/// Puts idle Micros to sleep (S11).
async fn sleeper(app: Arc<App>) {
    let interval = app
        .micros
        .iter()
        .map(|m| m.sleep_check_interval())
        .min()
        .unwrap_or(Duration::from_secs(1));
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut slept = false;
        for m in &app.micros {
            slept |= m.sleep_if_idle(now);
        }
        if slept {
            // Off the executor: a trim walks every arena.
            tokio::task::spawn_blocking(crate::host_memory::release_free_heap);
        }
    }
}

/// One request, start to end; always a response.
async fn handle(app: &App, peer: &headers::Peer, req: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = req.method().clone();
    // A clone shares the request head's bytes: no copy of the path.
    let uri = req.uri().clone();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let (result, micro, cold) = route(app, peer, req, path).await;
    // A runtime endpoint may carry an app key in its query (the dashboard's `?key=`).
    let path = match micro {
        Some(_) => Cow::Borrowed(path),
        None => dashboard::redact_key(path),
    };
    let name = micro.map_or("-", |m| m.name.as_str());
    let (response, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            tracing::warn!(micro = name, %method, path = &*path, status = e.kind.status().as_u16(), "{}", e.message);
            (e.to_response::<bytes::Bytes>().map(body::full), Some(e))
        }
    };
    let took = started.elapsed();
    // Milliseconds to the microsecond: `ms=1.294`, not `ms=1.2943069999999999`.
    let ms = took.as_micros() as f64 / 1000.0;
    let status = response.status().as_u16();
    if let Some(m) = micro {
        m.metrics
            .record(status, took, error.as_ref().map(|e| e.kind));
        let outcome = Outcome {
            status,
            ms,
            cold,
            error: error
                .as_ref()
                .map(|e| (e.kind.as_str(), e.message.as_str())),
        };
        m.activity.record(method.as_str(), &path, outcome);
    }
    console::access(&console::Access {
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
    app: &'a App,
    peer: &headers::Peer,
    mut req: Request<Incoming>,
    path_and_query: &str,
) -> Routed<'a> {
    let (parts, body) = req.into_parts();
    if headers::wants_upgrade(&parts) {
        let e = HttpError::new(
            ErrorKind::UpgradeRequired,
            None,
            "protocol upgrades (websockets) are not supported: micros serve plain request/response http (S18)",
        );
        return (Err(e), None, false);
    }
    req = Request::from_parts(parts, body);
    match app.router.route(path_and_query) {
        Target::Space(endpoint) => (space(app, endpoint, req, path_and_query).await, None, false),
        Target::NotFound => (
            Err(HttpError::new(
                ErrorKind::NotFound,
                None,
                format!("no route for {path_and_query}"),
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
            let public = app.access[micro].is_public(path);
            if let Err(e) = authorize(app, public, req.headers_mut(), Some(&m.name)) {
                return (Err(e), routed, false);
            }
            if let Err(e) = prepare(app, peer, &mut req, path_and_query, prefix) {
                return (Err(e.with_micro(&m.name)), routed, false);
            }
            let Some(busy) = m.try_begin() else {
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
            let served = invoke(m, busy, req).await;
            (served.result, routed, served.cold)
        }
    }
}

/// With `auth = "api-key"`, a non-public route needs a valid key: in `X-Space-App-Key`, or
/// for a runtime endpoint (`micro` is `None`) also in the dashboard's cookie. The header is
/// removed either way, so a key never reaches guest code.
fn authorize(
    app: &App,
    public: bool,
    headers: &mut http::HeaderMap,
    micro: Option<&str>,
) -> Result<(), HttpError> {
    // The header never reaches a guest, whether or not the route needs it. Runtime endpoints
    // (no Micro) also take the dashboard's cookie: a browser cannot send a header.
    let presented = headers
        .remove(auth::HEADER)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| {
            micro
                .is_none()
                .then(|| dashboard::key_cookie(headers))
                .flatten()
        });
    match &app.api_keys {
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
    app: &App,
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
    headers::set_client_ip(headers, peer, &app.trusted);
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

/// The runtime's own endpoints under `/__space/`, whose request target is `target`. Health is
/// public; the others need a key with `auth = "api-key"` (see [`dashboard`] for where it
/// may come from).
async fn space(
    app: &App,
    endpoint: SpaceEndpoint,
    mut req: Request<Incoming>,
    target: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    if endpoint == SpaceEndpoint::Dashboard
        && let Some(answer) = dashboard::trade_key(app, req.method(), target)
    {
        return answer;
    }
    let public = matches!(endpoint, SpaceEndpoint::Health);
    authorize(app, public, req.headers_mut(), None)?;
    match endpoint {
        SpaceEndpoint::Health => Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"}))),
        SpaceEndpoint::Status => Ok(json(StatusCode::OK, &app.status())),
        SpaceEndpoint::Metrics => Ok(Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(body::full(crate::metrics::render(
                &app.micros,
                &app.actions.counts(),
                app.logs.dropped(),
            )))
            .expect("static response parts are valid")),
        SpaceEndpoint::Dashboard => Ok(dashboard::page()),
        SpaceEndpoint::RunAction(id) => dashboard::run_now(app, &id, &req).await,
        SpaceEndpoint::Other(_) => Err(HttpError::new(
            ErrorKind::NotFound,
            None,
            "no such runtime endpoint",
        )),
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(bytes))
        .expect("static response parts are valid")
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
