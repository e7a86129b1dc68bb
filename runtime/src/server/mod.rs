//! The front door (SPEC §4): the listener and hyper's HTTP/1.1 (keep-alive) and HTTP/2
//! settings ([`run`]), the front door's own configuration built from the manifest
//! ([`FrontDoor`]: routes, trusted proxies, API keys, public routes), the per-request pipeline
//! (`pipeline`: upgrade check, routing, auth, client-IP headers, the Micro call) and the
//! runtime endpoints under `/__space/` (`endpoints`, [`dashboard`]).
//!
//! Every failure becomes a JSON error response and is logged with its Micro; the service
//! never returns `Err` to hyper. It must not run guest code itself (`micro::invoke` does) nor
//! start the scheduler or the sleeper (`serve` does).

pub mod auth;
pub mod dashboard;
mod endpoints;
pub mod headers;
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
use hyper_util::server::graceful::GracefulShutdown;
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
/// Most bytes of request head buffered per connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

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
/// At most `max_connections` client connections are open at once: past that the listener
/// waits (new clients queue in the OS backlog) until one closes. Idle keep-alive connections
/// close after the header-read timeout, so idle clients cannot hold the slots for ever.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    door: Arc<FrontDoor>,
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
        let (app, door) = (app.clone(), door.clone());
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
            let shared = Arc::new(PerConnection {
                app,
                door,
                peer: headers::Peer::from(peer.ip()),
            });
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(pipeline::handle(&shared, req).await) }
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
        "shutting down: draining in-flight requests (at most {}s)",
        bound.as_secs()
    );
    if tokio::time::timeout(bound, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "some connections were still going after {}s; closing them",
            bound.as_secs()
        );
    }
    // Stopping the workers joins their threads: off the executor.
    let _ = tokio::task::spawn_blocking(move || drop(workers)).await;
    Ok(())
}

/// What every request of one connection shares. Each request holds the connection's own
/// handles: their counts stay on this worker's core instead of bouncing between workers.
struct PerConnection {
    app: Arc<App>,
    door: Arc<FrontDoor>,
    peer: headers::Peer,
}
