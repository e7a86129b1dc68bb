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
use crate::manifest::{Limits, Manifest};
use crate::micro::Micro;
use crate::micro::warm::WarmBudget;
use crate::pg::Pg;
use crate::sandbox::MicroSandbox;
use crate::sandbox::env::{self, Override, Presets};
use crate::sandbox::fs::{self, TmpDir};
use crate::sandbox::outbound::Outbound;
use crate::store::linker::Compiler;
use crate::telemetry::guest_logs::{AppLogs, Stream};

/// What the command line adds to the manifest.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--state-dir`; default `.micro-wasm/` beside app.toml, or outside the app dir when
    /// that is a code dir (see [`state_dir`]).
    pub state_dir: Option<PathBuf>,
    /// `--env-file` then `--env` values, in order.
    pub env: Vec<Override>,
    /// Where the Micros' `/tmp` dirs live; default `<state>/tmp`. `trigger` uses a private
    /// one so it never touches the `/tmp` of a `run` serving from the same state dir.
    pub tmp_root: Option<PathBuf>,
    /// Open files and sockets each Micro may hold at most, whatever its `micro_open_files`:
    /// its share of the process's open-file limit after the runtime's reserve (see
    /// `sandbox::fds::micro_share`); `None` keeps the manifest's caps.
    pub fd_share: Option<usize>,
    /// The PostgreSQL store (`--store`, else `MICRO_WASM_STORE`, else `[app] store`: see
    /// [`store_url`] and [`connect_store`]); `None` keeps keys and data in the state dir.
    pub pg: Option<Pg>,
}

/// The store URL for `manifest`: `flag`, else a non-empty `MICRO_WASM_STORE`, else
/// `[app] store`.
pub fn store_url(manifest: &Manifest, flag: Option<String>) -> Option<String> {
    flag.or_else(|| {
        std::env::var("MICRO_WASM_STORE")
            .ok()
            .filter(|s| !s.is_empty())
    })
    .or_else(|| manifest.app.store.clone())
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
    /// The PostgreSQL store shared with the app's other nodes (`--store`), if any.
    pub pg: Option<Pg>,
}

/// The state dir used for `manifest`: `--state-dir`, else `.micro-wasm/` beside app.toml,
/// unless that would lie inside a Micro's code dir (the simplest layout: the component beside
/// app.toml and no `src`, so the code dir mounted at `/app` is the app dir); then
/// `<user state home>/micro-wasm/<app>-<hash of the app dir>`. The state dir holds every
/// Micro's Data Key, the logs, the `/tmp` dirs and the app's data, so one that overlaps a code
/// dir is refused: given with `--state-dir`, or left over as `.micro-wasm/` from an earlier
/// run.
pub fn state_dir(manifest: &Manifest, opts: &Options) -> Result<PathBuf> {
    let codes = || {
        manifest
            .micros
            .iter()
            .map(|m| (m.name.as_str(), m.src.as_path()))
    };
    let refuse = |dir: &Path, micro: &str, code: &Path, fix: &str| {
        anyhow::anyhow!(
            "micro `{micro}`: its code dir {} (mounted read-only at /app) overlaps the state dir \
             {}, which holds every Micro's data key, logs, /tmp and the app's data; {fix}",
            code.display(),
            dir.display()
        )
    };
    if let Some(dir) = &opts.state_dir {
        if let Some((micro, code)) = fs::code_dir_holding(dir, codes()) {
            return Err(refuse(
                dir,
                micro,
                code,
                "pass a --state-dir outside every code dir",
            ));
        }
        return Ok(dir.clone());
    }
    let beside = manifest.dir.join(".micro-wasm");
    let Some((micro, code)) = fs::code_dir_holding(&beside, codes()) else {
        return Ok(beside);
    };
    let Some(home) = user_state_home() else {
        return Err(refuse(
            &beside,
            micro,
            code,
            "pass a --state-dir outside every code dir, or set `src` on the micro",
        ));
    };
    let outside = home
        .join("micro-wasm")
        .join(app_state_name(&manifest.app.name, &manifest.dir));
    if beside.exists() {
        let fix = format!(
            "move it out (the default for this layout is {}), or pass --state-dir, or set `src` \
             on the micro to a dir without it",
            outside.display()
        );
        return Err(refuse(&beside, micro, code, &fix));
    }
    if let Some((micro, code)) = fs::code_dir_holding(&outside, codes()) {
        return Err(refuse(
            &outside,
            micro,
            code,
            "pass a --state-dir outside every code dir",
        ));
    }
    Ok(outside)
}

/// `$XDG_STATE_HOME`, else `$HOME/.local/state` (absolute paths only).
fn user_state_home() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_STATE_HOME")
        .and_then(abs)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(abs)
                .map(|h| h.join(".local/state"))
        })
}

/// `<app name>-<12 hex digits of the SHA-256 of the resolved app dir>`: one dir per app dir.
fn app_state_name(app: &str, app_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let name: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let digest = Sha256::digest(fs::resolved(app_dir).as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}-{hex}")
}

/// Connects to the PostgreSQL store at `url`, if any, and migrates its schema.
pub async fn connect_store(url: Option<&str>) -> Result<Option<Pg>> {
    match url {
        Some(url) => Ok(Some(Pg::connect(url).await?)),
        None => Ok(None),
    }
}

/// The app's Data Keys (made on first use) and its data service: in the PostgreSQL database
/// behind `pg` (the app is known there by its name), else in `state_dir`.
pub async fn open_data(
    manifest: &Manifest,
    state_dir: &Path,
    pg: Option<Pg>,
) -> Result<(DataKeys, DataService)> {
    let names: Vec<&str> = manifest.micros.iter().map(|m| m.name.as_str()).collect();
    if let Some(pg) = pg {
        let keys = DataKeys::load_or_create_pg(&pg, &manifest.app.name, &names).await?;
        let shown = pg.shown().to_owned();
        let data = DataService::open_postgres(
            pg,
            &keys.app_id,
            &keys.app_id,
            keys.project_keys(),
            manifest.drive_cap,
        )
        .await
        .with_context(|| format!("opening the app's data in {shown}"))?;
        tracing::info!(store = %shown, "data in PostgreSQL");
        return Ok((keys, data));
    }
    let keys = DataKeys::load_or_create(state_dir, &names)?;
    let dir = state_dir.join("data");
    let data =
        DataService::open_embedded(&dir, &keys.app_id, keys.project_keys(), manifest.drive_cap)
            .with_context(|| format!("opening the app's data in {}", dir.display()))?;
    Ok((keys, data))
}

/// `limits` with `micro_open_files` lowered to `share`, if it is above it (logged).
fn fd_capped(micro: &str, limits: &Limits, share: Option<usize>) -> Limits {
    let mut limits = limits.clone();
    let share = share.map_or(u32::MAX, |s| u32::try_from(s).unwrap_or(u32::MAX));
    if limits.micro_open_files > share {
        tracing::warn!(
            micro,
            "micro_open_files lowered from {} to {share}: the process's open-file limit, less \
             the front door's connections and the runtime's reserve, is shared by the Micros",
            limits.micro_open_files
        );
        limits.micro_open_files = share;
    }
    limits
}

impl App {
    /// Loads everything `manifest` names. `listen` is the bound address (its port is `PORT`,
    /// and it is the hostname when `[app] hostname` is unset).
    pub async fn load(
        manifest: &Manifest,
        opts: &Options,
        listen: std::net::SocketAddr,
    ) -> Result<App> {
        let state_dir = state_dir(manifest, opts)?;
        tracing::info!(state_dir = %state_dir.display(), "state dir");
        fs::create_private_dir(&state_dir).context("state dir")?;
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
        let pg = opts.pg.clone();
        let (keys, data) = open_data(manifest, &state_dir, pg.clone()).await?;
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
        fs::create_private_dir(&state_dir.join("cache"))?;
        let compiler = Compiler::new(&engine.engine, state_dir.join("cache"))?;
        let linked = compiler.compile_all(&manifest.micros)?;
        let warm_budget = Arc::new(WarmBudget::new(manifest.warm_memory));
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
            micros.push(Arc::new(
                Micro::new(
                    m.name.clone(),
                    m.primary,
                    fd_capped(&m.name, &m.limits, opts.fd_share),
                    m.reuse,
                    linked,
                    sandbox,
                    tmp,
                )
                .with_app_warm_budget(warm_budget.clone()),
            ));
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
            pg,
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
