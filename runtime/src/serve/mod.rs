//! Serving an app: starts the front door ([`server::run`]), the action scheduler
//! (`Scheduler`), the sleeper (`sleeper`), the data service's expiry sweeper
//! (`sweep_data`) and, with `--watch`, the reloader ([`watch`]); on SIGINT/SIGTERM stops
//! them in order (SPEC §4 graceful shutdown, §6, §7).
//!
//! It owns the lifetimes of these tasks and nothing else: it must not handle a request or a
//! run itself.

pub mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::FutureExt;
use tokio::net::TcpListener;

use crate::actions::{Scheduler, lease};
use crate::app::App;
use crate::micro::sleeper;
use crate::server::{self, FrontDoor};

/// How the front door serves connections.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Most client connections open at once; more wait in the OS backlog.
    pub max_connections: usize,
    /// Most connections open at once from one client address; more are closed at once.
    pub max_connections_per_ip: usize,
    /// A connection unused (no request in flight, or no byte of a pending response read)
    /// for this long is closed.
    pub idle_timeout: Duration,
    /// Threads that serve connections.
    pub workers: usize,
}

/// Serves `app` through `door` on `listener`, runs its scheduled actions and puts idle Micros
/// to sleep, until `shutdown` resolves; then stops accepting and scheduling, lets in-flight
/// requests and action runs finish (each bounded by the longest Micro timeout plus a second)
/// and returns.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    door: Arc<FrontDoor>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let sleeper = tokio::spawn(sleeper::run(app.micros.clone()));
    let sweeper = tokio::spawn(sweep_data(app.clone()));
    // On a shared store, each run goes to the node that claims it, at times every node
    // counts from the same anchor.
    let shared = match app.pg.clone() {
        Some(pg) => Some(
            lease::shared(
                pg,
                app.name.clone(),
                app.actions.clone(),
                chrono::Utc::now(),
            )
            .await
            .context("starting the shared action schedule")?,
        ),
        None => None,
    };
    let mut scheduler = Scheduler::spawn(
        app.actions.clone(),
        app.micros.clone(),
        app.hostname.clone(),
        shared,
    );
    let shutdown = shutdown.boxed_local().shared();
    let front = server::run(
        listener,
        app.clone(),
        door,
        server::ConnLimits {
            max_connections: opts.max_connections,
            max_per_ip: opts.max_connections_per_ip,
            idle_timeout: opts.idle_timeout,
        },
        opts.workers,
        shutdown.clone(),
    );
    let bound = app.longest_timeout() + Duration::from_secs(1);
    let actions = async {
        shutdown.await;
        if tokio::time::timeout(bound, scheduler.stop()).await.is_err() {
            tracing::warn!(
                "some action runs were still going after {}s; stopping them",
                bound.as_secs()
            );
        }
    };
    let (served, ()) = tokio::join!(front, actions);
    drop(scheduler);
    sleeper.abort();
    sweeper.abort();
    served
}

/// How often expired Base items (and stale Drive uploads) are removed. Reads never return
/// an expired item whenever the sweep runs; this only frees their space.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Removes expired data every [`SWEEP_EVERY`], for ever (the caller aborts it).
async fn sweep_data(app: Arc<App>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        match app.data.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(items = n, "expired data removed"),
            Err(e) => tracing::warn!("sweeping expired data: {e:#}"),
        }
    }
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
