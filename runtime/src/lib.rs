//! micro-wasm runs a "Space app" — up to five HTTP Micros, each a `wasi:http/proxy`
//! component — under the limits of the Deta Space runtime (see SPEC.md).
//!
//! The pipeline is parse → resolve → freeze → serve:
//!
//! ```text
//! main.rs            parse args, call the library, exit 0/1/2
//! cli/               one file per subcommand; parses, then delegates
//! manifest/          app.toml types, units, validation with spans (S1, S2)
//! schedule.rs        cron and rate parsing, next run time
//! scheduler.rs       scheduled actions: next runs, delivery, overlap, status (§6)
//! app.rs             the frozen, running app: engine, components, Micros, router
//! engine.rs          Config, Engine, pooling fallback, the epoch ticker
//! cache.rs           precompiled components in the state dir
//! compile.rs         the linker; compiling Micros in parallel at start and on reload
//! progress.rs        the in-place `compiling 1/3: …` line on a terminal
//! watch.rs           `run --watch`: rebuild and hot-swap a Micro when its files change
//! store.rs           StoreData and its WasiView/WasiHttpView impls
//! sandbox/env.rs     guest environment (§5, S4, S10)
//! sandbox/fs.rs      /app read-only, /tmp dir, code size check (S7, S13, S16)
//! sandbox/limits.rs  ResourceLimiter over the whole instance (S6, S8)
//! micro.rs           sleep/wake, warm reuse, concurrency (S8, S11)
//! invoke.rs          one request through an instance, timeout, traps (S5, S6, S9)
//! server/mod.rs      listener, hyper settings, graceful shutdown
//! server/router.rs   longest-prefix routing, /__space/
//! server/workers.rs  connection threads, each with its own current-thread runtime
//! server/headers.rs  client IP, trusted proxies, Upgrade (S17, S18)
//! server/body.rs     streaming payload limits (S9)
//! server/errors.rs   JSON error shape and status codes
//! server/dashboard.rs  the /__space/ page, its key cookie, Run now
//! keys.rs            project data keys in the state dir (S4)
//! metrics.rs         per-Micro counters, Prometheus text
//! activity.rs        recent requests, errors and log lines for the dashboard
//! logs.rs            per-Micro prefixed output and log files
//! console.rs         the runtime's own log lines: lean text layout, batched stderr writes
//! ```
//!
//! Tests can run the server in process: load a [`manifest::Manifest`], bind a
//! `tokio::net::TcpListener` on port 0, build an [`app::App`] and call [`server::run`].

pub mod activity;
pub mod app;
pub mod cache;
pub mod cli;
pub mod compile;
pub mod console;
pub mod engine;
pub mod host_memory;
pub mod invoke;
pub mod keys;
pub mod logs;
pub mod manifest;
pub mod metrics;
pub mod micro;
pub mod progress;
#[cfg(test)]
mod robustness;
pub mod sandbox;
pub mod schedule;
pub mod scheduler;
pub mod server;
pub mod sqlite;
pub mod store;
pub mod watch;
