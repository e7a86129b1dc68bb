//! micro-wasm runs a "Space app" — up to five HTTP Micros, each a `wasi:http/proxy`
//! component — under the limits of the Deta Space runtime. The contract is `docs/spec.md`;
//! code comments cite it as "SPEC §N" and its rules as S1-S18.
//!
//! The pipeline is parse → resolve → freeze → serve. Modules form layers: each one, listed
//! from the top, uses only modules listed after it (the test in `layers.rs` reads this list
//! and the code's `crate::` paths and fails when they disagree):
//!
//! ```text
//! cli/         one file per subcommand; parses flags, then calls the layers below
//! serve/       starts the front door, the action scheduler, the sleeper; --watch reloads
//! server/      the front door: listener, routing, auth, runtime endpoints, dashboard
//! app          the running app: Micros, actions table, logs, engine, compiler
//! actions/     scheduled actions: the table and plan, the driver, delivery
//! micro/       a Micro: instances, warm reuse, concurrency slots, sleep; invoke
//! store/       StoreData, the views host interfaces borrow, the linker
//! sandbox/     host interfaces: env, /app and /tmp, limits, open files, outbound, sqlite
//! data/        Deta Base and Drive: the app's data service and its store
//! engine/      Wasmtime Engine, pooling, epoch ticker, compile cache
//! build        each Micro's `build` command (run, build and --watch use it)
//! keys/        data keys and API keys in the state dir, one owner-only writer
//! pg/          PostgreSQL (the store of an app on several nodes): pool, URL, schema migrations
//! telemetry/   access line and runtime logs, guest logs, activity ring, metrics
//! manifest/    app.toml: read, units, intervals (cron/rate), validation with spans; Spacefile import
//! transport/   leaf: JSON error kinds and response body types every layer may use
//! ```
//!
//! `docs/architecture.md` says what each layer owns and where a new capability goes.
//!
//! Tests can run the server in process: load a [`manifest::Manifest`], bind a
//! `tokio::net::TcpListener` on port 0, build an [`app::App`] and a [`server::FrontDoor`] and
//! call [`serve::serve`].

pub(crate) mod actions;
pub mod app;
pub(crate) mod build;
pub mod cli;
pub(crate) mod data;
pub(crate) mod engine;
pub(crate) mod keys;
#[cfg(test)]
mod layers;
pub mod manifest;
pub(crate) mod micro;
pub(crate) mod pg;
#[cfg(test)]
mod proptests;
pub(crate) mod sandbox;
pub mod serve;
pub mod server;
pub(crate) mod store;
pub(crate) mod telemetry;
pub(crate) mod transport;

/// The Wasmtime settings a precompiled component (`.cwasm`) must be compiled with to load as a
/// Micro's `component`: what `wasmtime compile` of the same Wasmtime version makes with the
/// flags docs/spec.md (§3) gives.
pub use engine::compile_config;
