//! The running app, assembled from a validated manifest: engine, compiled components, data
//! keys, per-Micro sandboxes, the actions table and the log writer. This is the frozen form
//! the front door, the scheduler and the CLI read; nothing in it changes while serving except
//! the Micros' own state.
//!
//! Serves S3, S4, S10, S16 at load time. It must not parse the manifest (that is
//! `manifest`), serve HTTP or hold the front door's configuration (that is `server`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::actions::Actions;
use crate::data::DataService;
use crate::engine::AppEngine;
use crate::keys::DataKeys;
use crate::manifest::Manifest;
use crate::micro::Micro;
use crate::sandbox::MicroSandbox;
use crate::sandbox::env::{self, Override, Presets};
use crate::sandbox::fs::{self, TmpDir};
use crate::sandbox::outbound::Outbound;
use crate::store::linker::Compiler;
use crate::telemetry::guest_logs::{AppLogs, Stream};

/// What the command line adds to the manifest.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--state-dir`; default `.micro-wasm/` beside app.toml.
    pub state_dir: Option<PathBuf>,
    /// `--env-file` then `--env` values, in order.
    pub env: Vec<Override>,
    /// Where the Micros' `/tmp` dirs live; default `<state>/tmp`. `trigger` uses a private
    /// one so it never touches the `/tmp` of a `run` serving from the same state dir.
    pub tmp_root: Option<PathBuf>,
}

/// The app, ready to serve.
pub struct App {
    pub name: String,
    pub hostname: String,
    pub state_dir: PathBuf,
    pub micros: Vec<Arc<Micro>>,
    /// The app's Bases and Drives (`<state>/data/`), shared by its Micros and served at
    /// `/__space/v0/base` and `/__space/v0/drive`.
    pub data: Arc<DataService>,
    pub logs: AppLogs,
    pub engine: AppEngine,
    /// The linker and compile cache the components were loaded with; `serve::watch` reloads
    /// through it.
    pub compiler: Arc<Compiler>,
    /// The scheduled actions and their state (SPEC §6), driven by `actions::Scheduler`.
    pub actions: Arc<Actions>,
}

/// The state dir used for `manifest` unless `--state-dir` says otherwise.
pub fn state_dir(manifest: &Manifest, opts: &Options) -> PathBuf {
    opts.state_dir
        .clone()
        .unwrap_or_else(|| manifest.dir.join(".micro-wasm"))
}

/// The app's Data Keys (made on first use) and its data service, from `state_dir`.
pub fn open_data(manifest: &Manifest, state_dir: &Path) -> Result<(DataKeys, DataService)> {
    let names: Vec<&str> = manifest.micros.iter().map(|m| m.name.as_str()).collect();
    let keys = DataKeys::load_or_create(state_dir, &names)?;
    let dir = state_dir.join("data");
    let data =
        DataService::open_embedded(&dir, &keys.app_id, keys.project_keys(), manifest.drive_cap)
            .with_context(|| format!("opening the app's data in {}", dir.display()))?;
    Ok((keys, data))
}

impl App {
    /// Loads everything `manifest` names. `listen` is the bound address (its port is `PORT`,
    /// and it is the hostname when `[app] hostname` is unset).
    pub fn load(manifest: &Manifest, opts: &Options, listen: std::net::SocketAddr) -> Result<App> {
        let state_dir = state_dir(manifest, opts);
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating state dir {}", state_dir.display()))?;
        for o in &opts.env {
            if let Some(m) = &o.micro
                && !manifest.micros.iter().any(|x| &x.name == m)
            {
                anyhow::bail!(
                    "--env {m}.{}: no micro named `{m}` in {}",
                    o.name,
                    manifest.path.display()
                );
            }
        }
        for m in &manifest.micros {
            fs::check_sizes(&m.name, &m.src, &m.component)?;
        }
        let names: Vec<String> = manifest.micros.iter().map(|m| m.name.clone()).collect();
        let (keys, data) = open_data(manifest, &state_dir)?;
        let data = Arc::new(data);
        let logs = AppLogs::open(&state_dir.join("logs"), &names)?;
        let limits: Vec<_> = manifest.micros.iter().map(|m| m.limits.clone()).collect();
        let engine = AppEngine::new(&limits)?;
        tracing::info!(allocation = ?engine.allocation, "engine ready");
        let hostname = manifest
            .app
            .hostname
            .clone()
            .unwrap_or_else(|| listen.to_string());

        let tmp_root = opts
            .tmp_root
            .clone()
            .unwrap_or_else(|| state_dir.join("tmp"));
        let compiler = Compiler::new(&engine.engine, state_dir.join("cache"))?;
        let linked = compiler.compile_all(&manifest.micros)?;
        let mut micros = Vec::new();
        for (i, (m, linked)) in manifest.micros.iter().zip(linked).enumerate() {
            let key = keys.project_key(&m.name).context("data key missing")?;
            let presets = Presets {
                project_key: &key,
                app_version: &manifest.app.version,
                hostname: &hostname,
                micro: &m.name,
                primary: m.primary,
                port: listen.port(),
            };
            let tmp = TmpDir::create(&tmp_root, &m.name)?;
            let sandbox = MicroSandbox {
                micro: m.name.clone(),
                env: env::micro_env(&presets, &m.env, &opts.env),
                code_dir: m.src.as_path().into(),
                tmp_dir: tmp.path().to_path_buf(),
                outbound: Arc::new(Outbound::parse(&m.name, &m.outbound)?),
                data: Some(data.clone()),
                stdout: logs.output(i, Stream::Stdout),
                stderr: logs.output(i, Stream::Stderr),
                mounts: Default::default(),
            };
            micros.push(Arc::new(Micro::new(
                m.name.clone(),
                m.primary,
                m.limits.clone(),
                m.reuse,
                linked,
                sandbox,
                tmp,
            )));
        }
        Ok(App {
            name: manifest.app.name.clone(),
            hostname,
            state_dir,
            micros,
            data,
            logs,
            engine,
            compiler: Arc::new(compiler),
            actions: Arc::new(Actions::from_manifest(manifest)),
        })
    }

    /// The longest timeout of any Micro: the bound on draining at shutdown.
    pub fn longest_timeout(&self) -> Duration {
        self.micros
            .iter()
            .map(|m| m.limits.timeout)
            .max()
            .unwrap_or_default()
    }
}
