//! `micro-wasm run`: load, optionally build, bind, serve until SIGINT/SIGTERM (a second
//! signal exits at once); with `--watch`, rebuild and reload Micros whose files change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{EnvArgs, Failure, load};
use crate::app::{App, Options};
use crate::build;
use crate::keys::ApiKeys;
use crate::sandbox::fds;
use crate::serve::{self, ServeOptions, watch};
use crate::server::headers::TrustedProxies;
use crate::server::{FrontDoor, workers::Workers};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Path to app.toml
    #[arg(default_value = "app.toml")]
    app_toml: PathBuf,
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:4200")]
    listen: SocketAddr,
    /// State dir (compile cache, data keys, logs, /tmp dirs); default .micro-wasm/ beside app.toml
    #[arg(long)]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    env: EnvArgs,
    /// Keep keys and data in this PostgreSQL database (postgres://user@host/db), shared by
    /// every node serving the app; default MICRO_WASM_STORE, then [app] store, else embedded
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Peer address or CIDR whose X-Forwarded-For is trusted (repeatable)
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxy: Vec<String>,
    /// Most client connections open at once; more wait in the OS backlog
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Most connections open at once from one client address (not counting --trusted-proxy
    /// peers); more are closed at once
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// Close a connection with no request in flight, or whose client reads none of a pending
    /// response, for this long
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = idle_timeout)]
    idle_timeout: Duration,
    /// Threads that serve connections (default: one per core)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Run each Micro's build command first
    #[arg(long)]
    build: bool,
    /// Rebuild and reload a Micro when its sources or component change (keeps serving the
    /// old one if that fails)
    #[arg(long)]
    watch: bool,
}

pub fn run(args: RunArgs) -> Result<(), Failure> {
    let manifest = load(&args.app_toml)?;
    let env = args.env.overrides(&manifest)?;
    let trusted = TrustedProxies::parse(&args.trusted_proxy)
        .map_err(|e| Failure::Usage(format!("--trusted-proxy: {e}")))?;
    if args.build {
        build::build_all(&manifest)?;
    }
    let opts = Options {
        state_dir: args.state_dir,
        env,
        tmp_root: None,
        fd_share: fd_share(args.max_connections, manifest.micros.len()),
        pg: None,
    };
    let store = crate::app::store_url(&manifest, args.store);
    let state_dir =
        crate::app::state_dir(&manifest, &opts).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let mut door = FrontDoor::new(&manifest, &state_dir, trusted)?;
        let mut opts = opts;
        opts.pg = crate::app::connect_store(store.as_deref()).await?;
        if let (Some(pg), Some(_)) = (&opts.pg, &door.api_keys) {
            // API keys shared by every node, instead of the state dir's.
            door.api_keys = Some(ApiKeys::load_pg(pg.clone(), &manifest.app.name).await?);
        }
        let door = Arc::new(door);
        let app = Arc::new(App::load(&manifest, &opts, addr).await?);
        // Before the announcement: a change saved once the app is up is a change.
        let watcher = args
            .watch
            .then(|| watch::spawn(&app, &manifest))
            .transpose()?;
        eprintln!(
            "micro-wasm: app `{}` ({} micros) listening on http://{addr}",
            app.name,
            app.micros.len()
        );
        let opts = ServeOptions {
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip as usize,
            idle_timeout: args.idle_timeout,
            workers: args.workers.map_or_else(Workers::per_core, usize::from),
        };
        serve::serve(listener, app, door, opts, shutdown()).await?;
        drop(watcher);
        crate::telemetry::console::flush();
        eprintln!("micro-wasm: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Raises the soft open-file limit to the hard one and returns each Micro's share of it:
/// what is left after the front door's `max_connections` and the runtime's own reserve.
fn fd_share(max_connections: usize, micros: usize) -> Option<usize> {
    let nofile = fds::raise_nofile_limit()?;
    let reserve = max_connections as u64 + fds::RUNTIME_RESERVE;
    let share = fds::micro_share(nofile, reserve, micros);
    tracing::info!(
        nofile,
        reserve,
        "open-file limit: each Micro's instances may hold at most {share} files and sockets"
    );
    Some(share)
}

/// `--idle-timeout`: a duration (`300ms`, `10s`) of at least 10 ms.
fn idle_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::manifest::parse_duration(s)?;
    if d < Duration::from_millis(10) {
        return Err(format!("{s} is too short; use at least 10ms"));
    }
    Ok(d)
}

/// The first SIGINT/SIGTERM starts a graceful shutdown; a second one exits at once.
async fn shutdown() {
    serve::shutdown_signal().await;
    eprintln!("micro-wasm: shutting down (signal again to exit now)");
    tokio::spawn(async {
        serve::shutdown_signal().await;
        eprintln!("micro-wasm: second signal, exiting now");
        std::process::exit(1);
    });
}
