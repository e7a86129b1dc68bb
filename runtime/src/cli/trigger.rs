//! `micro-wasm trigger ACTION_ID [--app APP_TOML]` (SPEC §6, §8): loads the app in process and
//! delivers the action's event once, through the same path as a scheduled run
//! ([`actions::deliver`]: the Micro's limits, concurrency permit and lifecycle).
//!
//! SPEC §6 says trigger "delivers the same event", so the body is exactly the scheduled one,
//! `{"event":{"id":"<id>","trigger":"schedule"}}`: an action handler cannot tell a manual run
//! from a scheduled one, and needs no second code path.
//!
//! Prints the status line and the response body to stdout. Exit 0 when the run succeeded,
//! 1 when it failed (status ≥ 400, trap, timeout, busy), 2 for an unknown id (listing the
//! known ones) or a bad manifest or flag.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{EnvArgs, Failure, load};
use crate::actions;
use crate::app::{App, Options};

/// The nominal listen address: the Micro's `PORT`, and its hostname when `[app] hostname` is
/// unset, as under `micro-wasm run` with its default `--listen`.
const NOMINAL_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4200);

#[derive(Args, Debug)]
pub struct TriggerArgs {
    /// The action's `id` in app.toml
    action_id: String,
    /// Path to app.toml
    #[arg(long = "app", value_name = "APP_TOML", default_value = "app.toml")]
    app_toml: PathBuf,
    /// State dir (compile cache, data keys, logs, /tmp dirs); default .micro-wasm/ beside app.toml
    #[arg(long)]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    env: EnvArgs,
    /// The app's PostgreSQL store, as for `run --store`
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

pub fn trigger(args: TriggerArgs) -> Result<(), Failure> {
    let manifest = load(&args.app_toml)?;
    let actions = actions::Actions::from_manifest(&manifest);
    let Some(spec) = actions
        .specs()
        .iter()
        .find(|a| a.id == args.action_id)
        .cloned()
    else {
        let known: Vec<String> = actions
            .specs()
            .iter()
            .map(|a| {
                format!(
                    "  {} (micro `{}`, \"{}\")",
                    a.id, a.micro_name, a.interval_text
                )
            })
            .collect();
        let list = if known.is_empty() {
            "the app has no actions".to_string()
        } else {
            format!("known actions:\n{}", known.join("\n"))
        };
        let ids: Vec<&str> = actions.specs().iter().map(|a| a.id.as_str()).collect();
        let hint = match crate::manifest::suggest(&args.action_id, &ids) {
            Some(id) => format!(" (did you mean `{id}`?)"),
            None => String::new(),
        };
        return Err(Failure::Usage(format!(
            "{}: no action with id `{}`{hint}; {list}",
            args.app_toml.display(),
            args.action_id
        )));
    };
    let env = args.env.overrides(&manifest)?;
    // A private /tmp root: a `run` serving from the same state dir keeps its /tmp.
    let tmp_root = std::env::temp_dir().join(format!("micro-wasm-trigger-{}", std::process::id()));
    let opts = Options {
        state_dir: args.state_dir,
        env,
        tmp_root: Some(tmp_root.clone()),
        fd_share: None,
        pg: None,
    };
    let store = crate::app::store_url(&manifest, args.store.clone());
    crate::app::state_dir(&manifest, &opts).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(async {
        let mut opts = opts;
        opts.pg = crate::app::connect_store(store.as_deref()).await?;
        let app = App::load(&manifest, &opts, NOMINAL_LISTEN).await?;
        let micro = &app.micros[spec.micro];
        let started = std::time::Instant::now();
        let delivery = actions::deliver(micro, &spec.id, &app.hostname).await;
        Ok::<_, anyhow::Error>((delivery, started.elapsed().as_millis()))
    });
    let _ = std::fs::remove_dir_all(&tmp_root);
    let (delivery, ms) = result?;

    let reason = http::StatusCode::from_u16(delivery.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} {reason}", delivery.status);
    let _ = out.write_all(&delivery.body);
    if !delivery.body.ends_with(b"\n") {
        let _ = writeln!(out);
    }
    let _ = out.flush();
    match delivery.error {
        None => {
            eprintln!(
                "action `{}` (micro `{}`): ok, {} in {ms} ms",
                spec.id, spec.micro_name, delivery.status
            );
            Ok(())
        }
        Some(error) => Err(Failure::Runtime(anyhow::anyhow!(
            "action `{}` (micro `{}`) failed in {ms} ms: {error}",
            spec.id,
            spec.micro_name
        ))),
    }
}
