//! The running app, assembled from a validated manifest: engine, compiled components, data
//! keys, per-Micro sandboxes, the router and the log writer. This is the frozen form the
//! front door reads; nothing in it changes while serving except the Micros' own state.
//!
//! Serves S3, S4, S10, S16 at load time. It must not parse the manifest (that is
//! `manifest`) nor serve HTTP (that is `server`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::activity::Recent;
use crate::compile::Compiler;
use crate::engine::AppEngine;
use crate::keys::DataKeys;
use crate::logs::{AppLogs, Stream};
use crate::manifest::Auth;
use crate::manifest::Manifest;
use crate::micro::{Micro, Status};
use crate::sandbox::MicroSandbox;
use crate::sandbox::env::{self, Override, Presets};
use crate::sandbox::fs::{self, TmpDir};
use crate::sandbox::outbound::Outbound;
use crate::scheduler::Actions;
use crate::server::auth::{Access, ApiKeys};
use crate::server::headers::TrustedProxies;
use crate::server::router::{Route, Router};

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
    /// `--trusted-proxy` CIDRs.
    pub trusted_proxies: Vec<String>,
}

/// The app, ready to serve.
pub struct App {
    pub name: String,
    pub hostname: String,
    pub state_dir: PathBuf,
    pub micros: Vec<Arc<Micro>>,
    pub router: Router,
    pub trusted: TrustedProxies,
    /// Set when `[app] auth = "api-key"`: every non-public route needs a key.
    pub api_keys: Option<ApiKeys>,
    /// Which routes of each Micro skip the key check, by Micro index.
    pub access: Vec<Access>,
    pub logs: AppLogs,
    pub engine: AppEngine,
    /// The linker and compile cache the components were loaded with; `watch` reloads
    /// through it.
    pub compiler: Arc<Compiler>,
    /// The scheduled actions and their state (SPEC §6), driven by `scheduler::Scheduler`.
    pub actions: Arc<Actions>,
}

/// The state dir used for `manifest` unless `--state-dir` says otherwise.
pub fn state_dir(manifest: &Manifest, opts: &Options) -> PathBuf {
    opts.state_dir
        .clone()
        .unwrap_or_else(|| manifest.dir.join(".micro-wasm"))
}

impl App {
    /// Loads everything `manifest` names. `listen` is the bound address (its port is `PORT`,
    /// and it is the hostname when `[app] hostname` is unset).
    pub fn load(manifest: &Manifest, opts: &Options, listen: std::net::SocketAddr) -> Result<App> {
        let state_dir = state_dir(manifest, opts);
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating state dir {}", state_dir.display()))?;
        let trusted = TrustedProxies::parse(&opts.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("--trusted-proxy: {e}"))?;
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
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let keys = DataKeys::load_or_create(&state_dir, &name_refs)?;
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
        let pres = compiler.compile_all(&manifest.micros)?;
        let mut micros = Vec::new();
        for (i, (m, pre)) in manifest.micros.iter().zip(pres).enumerate() {
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
                stdout: logs.output(i, Stream::Stdout),
                stderr: logs.output(i, Stream::Stderr),
                mounts: Default::default(),
            };
            micros.push(Arc::new(Micro::new(
                m.name.clone(),
                m.primary,
                m.limits.clone(),
                m.reuse,
                pre,
                sandbox,
                tmp,
            )));
        }
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
            Auth::ApiKey => Some(ApiKeys::load(&state_dir)?),
            Auth::None => None,
        };
        Ok(App {
            name: manifest.app.name.clone(),
            hostname,
            state_dir,
            micros,
            router: Router::new(routes, primary),
            trusted,
            api_keys,
            access: manifest
                .micros
                .iter()
                .map(|m| Access {
                    public: m.public,
                    routes: m.public_routes.clone(),
                })
                .collect(),
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

    /// Per-Micro state and recent activity, and the actions, for `/__space/status` (which the
    /// dashboard polls).
    pub fn status(&self) -> serde_json::Value {
        let micros: Vec<MicroView> = self
            .micros
            .iter()
            .enumerate()
            .map(|(i, m)| MicroView {
                status: m.status(),
                tmp_limit: m.limits.tmp,
                recent: m.activity.recent(self.logs.recent(i)),
            })
            .collect();
        serde_json::json!({
            "app": self.name,
            "micros": micros,
            "actions": self.actions.status(),
            "dropped_log_lines": self.logs.dropped(),
        })
    }
}

/// One Micro in `/__space/status`: its [`Status`] fields, plus `recent` requests, errors and
/// log lines.
#[derive(Debug, serde::Serialize)]
struct MicroView {
    #[serde(flatten)]
    status: Status,
    /// The `/tmp` quota in bytes (S7), next to `tmp_bytes`.
    tmp_limit: u64,
    recent: Recent,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of each Micro in `/__space/status` that the dashboard reads.
    #[test]
    fn status_micro_json_shape() {
        let view = MicroView {
            status: Status {
                name: "api".into(),
                awake: true,
                warm_instances: 2,
                in_flight: 1,
                tmp_bytes: 4096,
                requests: 7,
                cold_starts: 3,
            },
            tmp_limit: 1 << 20,
            recent: Recent::default(),
        };
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({
                "name": "api", "awake": true, "warm_instances": 2, "in_flight": 1,
                "tmp_bytes": 4096, "tmp_limit": 1048576, "requests": 7, "cold_starts": 3,
                "recent": {"requests": [], "errors": [], "logs": []},
            })
        );
    }
}
