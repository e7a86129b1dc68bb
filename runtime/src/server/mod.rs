//! The front door (SPEC §4): the listener, hyper's HTTP/1.1 (keep-alive) and HTTP/2
//! settings and the connection bounds ([`run`], [`ConnLimits`]; idle and stalled connections
//! are closed by [`conn`], the per-client cap is [`per_ip`]), the front door's own configuration built from the manifest
//! ([`FrontDoor`]: routes, trusted proxies, API keys, public routes), the per-request pipeline
//! (`pipeline`: upgrade check, routing, auth, client-IP headers, the Micro call) and the
//! runtime endpoints under `/__space/` (`endpoints`, [`dashboard`]).
//!
//! Every failure becomes a JSON error response and is logged with its Micro; the service
//! never returns `Err` to hyper. A request hyper cannot parse never reaches the service:
//! `malformed` turns hyper's own empty-bodied answer into the JSON one. It must not run guest code itself (`micro::invoke` does) nor
//! start the scheduler or the sleeper (`serve` does).

pub mod auth;
pub mod conn;
pub mod dashboard;
mod endpoints;
pub mod headers;
mod malformed;
pub mod per_ip;
mod pipeline;
pub mod router;
pub mod workers;

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::app::App;
use crate::keys::ApiKeys;
use crate::manifest::{Auth, Manifest};
use auth::PublicRoutes;
use headers::TrustedProxies;
use router::{Route, Router};

/// A client has this long to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers a request may carry.
const MAX_HEADERS: usize = 100;
/// The largest request head (request line and headers) served. hyper's parser buffers up to
/// [`READ_BUF_BYTES`] of it; a parsed HTTP/1 head over this size is answered 431 by the
/// pipeline (`headers::head_len`), and HTTP/2 sets it as the header list's limit.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most a connection reads from its socket at once, and so also the most of a request
/// head hyper buffers before it answers 431 itself (`malformed` rewrites that answer). This is
/// hyper's default. A cap of [`MAX_HEAD_BYTES`] split a 64 KiB upload and its head into two
/// reads, two body chunks and two writes back: a third of the mirror's CPU per request
/// (bench/README).
const READ_BUF_BYTES: usize = 8192 + 4096 * 100;
/// Most requests in flight at once on one HTTP/2 connection.
const MAX_STREAMS: u32 = 100;

/// How many client connections may be open, from whom, and for how long unused (SPEC §4).
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Most connections open at once; more wait in the OS backlog.
    pub max_connections: usize,
    /// Most connections open at once from one client address (trusted proxies are exempt);
    /// more are closed at once.
    pub max_per_ip: usize,
    /// A connection with no request in flight, or whose client accepts no byte of a pending
    /// response, for this long is closed.
    pub idle_timeout: Duration,
}

/// How requests find their Micro and who may make them: built once from the manifest and the
/// command line, read by every request.
pub struct FrontDoor {
    pub router: Router,
    /// Peers whose `X-Forwarded-For` is believed (S17).
    pub trusted: TrustedProxies,
    /// Set when `[app] auth = "api-key"`: every non-public route needs a key.
    pub api_keys: Option<ApiKeys>,
    /// Which routes of each Micro skip the key check, by Micro index.
    pub public: Vec<PublicRoutes>,
}

impl FrontDoor {
    /// The front door of `manifest`'s app, whose API keys (if any) live in `state_dir`;
    /// `trusted` are the `--trusted-proxy` peers.
    pub fn new(
        manifest: &Manifest,
        state_dir: &Path,
        trusted: TrustedProxies,
    ) -> Result<FrontDoor> {
        let routes = manifest
            .micros
            .iter()
            .enumerate()
            .map(|(i, m)| Route {
                prefix: m.path.clone(),
                micro: i,
            })
            .collect();
        let primary = manifest.micros.iter().position(|m| m.primary).unwrap_or(0);
        let api_keys = match manifest.app.auth {
            Auth::ApiKey => Some(ApiKeys::load(state_dir)?),
            Auth::None => None,
        };
        let public = manifest
            .micros
            .iter()
            .map(|m| PublicRoutes {
                public: m.public,
                routes: m.public_routes.clone(),
            })
            .collect();
        Ok(FrontDoor {
            router: Router::new(routes, primary),
            trusted,
            api_keys,
            public,
        })
    }
}

/// Serves `app` through `door` on `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish (bounded by the longest Micro timeout plus a second) and
/// returns.
///
/// Connections are served on `workers` threads of their own (see [`workers`]).
///
/// At most `limits.max_connections` client connections are open at once: past that the
/// listener waits (new clients queue in the OS backlog) until one closes. One address holds at
/// most `limits.max_per_ip` of them, and a connection unused for `limits.idle_timeout` is
/// closed ([`conn`]), so idle clients cannot hold the slots for ever.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    door: Arc<FrontDoor>,
    limits: ConnLimits,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let builder = http_builder(limits.idle_timeout);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    let max_connections = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let per_ip = per_ip::PerIp::new(limits.max_per_ip);
    let mut warned_full: Option<Instant> = None;
    let mut warned_ip: Option<Instant> = None;
    let workers = workers::Workers::start(workers)?;
    loop {
        if slots.available_permits() == 0 && due(&mut warned_full) {
            tracing::warn!(
                max_connections,
                "connection limit reached; new clients wait"
            );
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
        let ip_slot = if door.trusted.contains(peer.ip()) {
            None
        } else if let Some(taken) = per_ip.try_take(peer.ip()) {
            Some(taken)
        } else {
            if due(&mut warned_ip) {
                tracing::warn!(
                    %peer,
                    max_per_ip = limits.max_per_ip,
                    "too many connections from one address; closing new ones"
                );
            }
            continue;
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
        let (app, door) = (app.clone(), door.clone());
        let builder = builder.clone();
        let mut stopping = stopping.clone();
        workers.spawn(async move {
            let _slots = (slot, ip_slot);
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, "cannot register the connection on its worker: {e}");
                    return;
                }
            };
            let shared = Arc::new(PerConnection {
                app,
                door,
                peer: headers::Peer::from(peer.ip()),
            });
            let activity = conn::Activity::new();
            let service = {
                let activity = activity.clone();
                hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    let in_flight = activity.begin();
                    async move {
                        let resp = pipeline::handle(&shared, req).await;
                        Ok::<_, Infallible>(resp.map(|b| conn::Tracked::new(b, in_flight)))
                    }
                })
            };
            let watched = conn::Watched::new(stream, activity.clone());
            let io = TokioIo::new(malformed::Answered::new(watched, activity.clone(), peer));
            let served = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(served);
            let stop = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            let end = conn::drive(
                served.as_mut(),
                |c| c.graceful_shutdown(),
                &activity,
                limits.idle_timeout,
                stop,
            )
            .await;
            match end {
                conn::End::Served(Ok(())) => {}
                conn::End::Served(Err(e)) => tracing::debug!(%peer, "connection ended: {e}"),
                conn::End::Idle => tracing::debug!(%peer, "idle connection closed"),
                conn::End::Stalled => tracing::debug!(
                    %peer,
                    "connection closed: the client read none of its response for {:?}",
                    limits.idle_timeout
                ),
            }
        });
    }
    drop(listener);
    let bound = app.longest_timeout() + Duration::from_secs(1);
    tracing::info!(
        "shutting down: draining in-flight requests (at most {}s)",
        bound.as_secs()
    );
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all_closed = slots.acquire_many(max_connections as u32);
    if tokio::time::timeout(bound, all_closed).await.is_err() {
        tracing::warn!(
            "some connections were still going after {}s; closing them",
            bound.as_secs()
        );
    }
    // Stopping the workers joins their threads: off the executor.
    let _ = tokio::task::spawn_blocking(move || drop(workers)).await;
    Ok(())
}

/// hyper's settings for every connection; `idle` also paces HTTP/2 keep-alive pings.
fn http_builder(idle: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(READ_BUF_BYTES)
        // A response's head and body are queued, not copied into one buffer: the socket
        // wrapper (`conn::Watched`) joins small ones into one `write` itself.
        .writev(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS)
        // While requests are in flight, a peer that stops answering pings is dropped.
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(idle);
    builder
}

/// True (and `last` set to now) when `last` is unset or more than 10 s old: rate-limits a
/// warning.
fn due(last: &mut Option<Instant>) -> bool {
    if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
        *last = Some(Instant::now());
        return true;
    }
    false
}

/// What every request of one connection shares. Each request holds the connection's own
/// handles: their counts stay on this worker's core instead of bouncing between workers.
struct PerConnection {
    app: Arc<App>,
    door: Arc<FrontDoor>,
    peer: headers::Peer,
}
