//! `micro-wasm run`: load, optionally build, bind, serve until SIGINT/SIGTERM (a second
//! signal exits at once); with `--watch`, rebuild and reload Micros whose files change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::{EnvArgs, Failure, load};
use crate::app::{App, Options};
use crate::build;
use crate::serve::{self, ServeOptions, watch};
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
    /// Peer address or CIDR whose X-Forwarded-For is trusted (repeatable)
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxy: Vec<String>,
    /// Most client connections open at once; more wait in the OS backlog
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
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
    let env = args.env.overrides()?;
    if args.build {
        build::build_all(&manifest)?;
    }
    let opts = Options {
        state_dir: args.state_dir,
        env,
        tmp_root: None,
    };
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
        let door = Arc::new(FrontDoor::new(&manifest, &state_dir, &args.trusted_proxy)?);
        let app = Arc::new(App::load(&manifest, &opts, addr)?);
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
