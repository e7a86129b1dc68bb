//! The app manifest, `app.toml` (SPEC §3; serves S1 and S2, and the reserved env names of §5).
//!
//! Owns the manifest's types, its units (sizes, durations), and its validation: every error
//! is collected and reported at once, each with the file, line and column of the offending
//! key or value. The grammar of an action's `interval` (cron and rates, and their next run
//! times) is [`interval`]. It reads the manifest file and nothing else from the file system (component
//! and source paths are resolved, never checked), and knows nothing about Wasmtime.
//! [`spacefile`] maps a Deta Space Spacefile to app.toml text, for `micro-wasm import`.

pub mod interval;
mod read;
pub mod spacefile;
mod units;
mod validate;

pub(crate) use read::suggest;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use units::{parse_duration, parse_size};

/// A validated `app.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The `app.toml` path as given.
    pub path: PathBuf,
    /// The directory holding `app.toml`; the paths below are resolved against it.
    pub dir: PathBuf,
    pub app: AppSection,
    /// In file order.
    pub micros: Vec<MicroSection>,
    /// `[limits] drive`: most bytes the app's Drives may hold together (default
    /// [`DEFAULT_DRIVE_CAP`]).
    pub drive_cap: u64,
    /// `[limits] warm_memory`: most linear-memory bytes the app's warm (idle, kept for
    /// reuse) instances may hold together (default [`DEFAULT_WARM_MEMORY`]).
    pub warm_memory: u64,
}

/// The warm-instance memory budget of an app, and of each Micro, that sets none: 1 GiB.
pub const DEFAULT_WARM_MEMORY: u64 = 1 << 30;

/// The Drive cap of an app that sets none: 10 GB, the hosted service's allowance.
pub const DEFAULT_DRIVE_CAP: u64 = 10_000_000_000;

/// `[app]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AppSection {
    pub name: String,
    /// Default `"0.0.0"`.
    pub version: String,
    pub hostname: Option<String>,
    pub auth: Auth,
    /// `[app] store`: a `postgres://` URL where the app's keys and data live;
    /// `None` keeps them embedded in the state dir. `--store` and `MICRO_WASM_STORE` win.
    pub store: Option<String>,
}

/// `[app] auth` (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    ApiKey,
}

/// `[limits]` or `[micro.limits]` as written: every key optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LimitsSection {
    pub timeout: Option<Duration>,
    pub memory: Option<u64>,
    pub tmp: Option<u64>,
    /// App-wide only (`[limits]`): the Drive cap.
    pub drive: Option<u64>,
    pub payload: Option<u64>,
    pub instances: Option<u32>,
    pub concurrency: Option<u32>,
    pub sleep_after: Option<Duration>,
    /// Memory all warm instances may hold: the app's in `[limits]`, a Micro's in
    /// `[micro.limits]` (the app's value is also each Micro's default).
    pub warm_memory: Option<u64>,
    /// Files and sockets one instance may hold open.
    pub open_files: Option<u32>,
    /// Files and sockets all of a Micro's instances may hold open together.
    pub micro_open_files: Option<u32>,
}

/// The limits a Micro runs under, after resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory: u64,
    pub tmp: u64,
    pub payload: u64,
    pub instances: u32,
    pub concurrency: u32,
    pub sleep_after: Duration,
    /// Most bytes this Micro's warm instances may hold together.
    pub warm_memory: u64,
    /// Most files and sockets (host descriptors) one instance may hold open.
    pub open_files: u32,
    /// Most files and sockets all of this Micro's instances may hold open together; lowered
    /// at start to the Micro's share of the process's open-file limit.
    pub micro_open_files: u32,
}

impl Limits {
    /// The Deta Space runtime's limits (S5, S6, S7, S8, S9, S11).
    pub const SEED: Limits = Limits {
        timeout: Duration::from_secs(20),
        memory: 512 << 20,
        tmp: 512 << 20,
        payload: 5_500_000,
        instances: 1024,
        concurrency: 1024,
        sleep_after: Duration::from_secs(60),
        warm_memory: DEFAULT_WARM_MEMORY,
        open_files: 256,
        micro_open_files: 1024,
    };
}

impl LimitsSection {
    /// Each limit from `self` (the Micro's), else from `app` (`[limits]`), else [`Limits::SEED`].
    pub fn resolve(&self, app: &LimitsSection) -> Limits {
        let s = Limits::SEED;
        Limits {
            timeout: self.timeout.or(app.timeout).unwrap_or(s.timeout),
            memory: self.memory.or(app.memory).unwrap_or(s.memory),
            tmp: self.tmp.or(app.tmp).unwrap_or(s.tmp),
            payload: self.payload.or(app.payload).unwrap_or(s.payload),
            instances: self.instances.or(app.instances).unwrap_or(s.instances),
            concurrency: self
                .concurrency
                .or(app.concurrency)
                .unwrap_or(s.concurrency),
            sleep_after: self
                .sleep_after
                .or(app.sleep_after)
                .unwrap_or(s.sleep_after),
            warm_memory: self
                .warm_memory
                .or(app.warm_memory)
                .unwrap_or(s.warm_memory),
            open_files: self.open_files.or(app.open_files).unwrap_or(s.open_files),
            micro_open_files: self
                .micro_open_files
                .or(app.micro_open_files)
                .unwrap_or(s.micro_open_files),
        }
    }
}

/// One `[[micro]]`, with every default applied and every path resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct MicroSection {
    pub name: String,
    /// The manifest's directory joined with `component`.
    pub component: PathBuf,
    /// The manifest's directory joined with `src`, else the component's directory.
    pub src: PathBuf,
    /// A single Micro is primary.
    pub primary: bool,
    /// `"/"` for the primary, else `path` or `"/<name>"`.
    pub path: String,
    pub public: bool,
    pub public_routes: Vec<String>,
    pub build: Option<String>,
    pub outbound: Vec<String>,
    /// `reuse`, default true (SPEC §7).
    pub reuse: bool,
    /// `[micro.env]` in file order.
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    pub actions: Vec<Action>,
}

/// One `[[micro.action]]` (SPEC §6).
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub interval: crate::manifest::interval::Interval,
    /// `interval` as written.
    pub interval_text: String,
}

/// Names the runtime sets in every Micro's environment (SPEC §5); `[micro.env]` cannot.
pub const RESERVED_ENV: &[&str] = &[
    "DETA_PROJECT_KEY",
    "DETA_SPACE_APP",
    "DETA_SPACE_APP_VERSION",
    "DETA_SPACE_APP_HOSTNAME",
    "DETA_SPACE_APP_MICRO_NAME",
    "DETA_SPACE_APP_MICRO_TYPE",
    "PORT",
    "TMPDIR",
];

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// One problem in a manifest, located at a key or value.
///
/// Displays as `{file}:{line}:{col}: {message}` followed, like rustc, by the offending source
/// line and a caret under the column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
    /// The text of line `line` (without its line break); empty when unknown.
    pub source_line: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )?;
        if self.source_line.is_empty() {
            return Ok(());
        }
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Keep tabs so the caret lines up under them.
        let indent: String = self
            .source_line
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "\n{pad} |\n{num} | {}\n{pad} | {indent}^",
            self.source_line
        )
    }
}

/// Reads, parses and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates manifest text; `path` names the file in messages and gives `dir`.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
    validate::parse(path, text)
}
