//! The environment micro-wasm gives every Micro (SPEC §5), typed.
//!
//! ```no_run
//! use micro_space::env::{self, MicroType};
//!
//! let greeting = match env::micro_type() {
//!     MicroType::Primary => format!("{} (the app's primary Micro)", env::micro_name()),
//!     MicroType::Normal => env::micro_name(),
//! };
//! println!("{greeting}, app version {}, on port {}", env::app_version(), env::port());
//! ```
//!
//! Outside micro-wasm (under `wasmtime serve`, say) these variables may be unset: the
//! functions then return `""`, [`MicroType::Normal`] and `0`; [`is_space_app`] tells which.
//! User variables (`[micro.env]`, `--env`) are read with [`var`] or `std::env::var`.

use std::fmt;

/// `DETA_PROJECT_KEY`.
pub const PROJECT_KEY: &str = "DETA_PROJECT_KEY";
/// `DETA_SPACE_APP`.
pub const SPACE_APP: &str = "DETA_SPACE_APP";
/// `DETA_SPACE_APP_VERSION`.
pub const APP_VERSION: &str = "DETA_SPACE_APP_VERSION";
/// `DETA_SPACE_APP_HOSTNAME`.
pub const HOSTNAME: &str = "DETA_SPACE_APP_HOSTNAME";
/// `DETA_SPACE_APP_MICRO_NAME`.
pub const MICRO_NAME: &str = "DETA_SPACE_APP_MICRO_NAME";
/// `DETA_SPACE_APP_MICRO_TYPE`.
pub const MICRO_TYPE: &str = "DETA_SPACE_APP_MICRO_TYPE";
/// `PORT`.
pub const PORT: &str = "PORT";

/// Whether the Micro is the app's primary one (served at `/`, gets unmatched paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MicroType {
    Primary,
    Normal,
}

impl MicroType {
    /// `"primary"` or `"normal"`, as in `DETA_SPACE_APP_MICRO_TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MicroType::Primary => "primary",
            MicroType::Normal => "normal",
        }
    }
}

impl fmt::Display for MicroType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A variable, if set and valid UTF-8.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn string(name: &str) -> String {
    var(name).unwrap_or_default()
}

/// `DETA_SPACE_APP_MICRO_NAME`: this Micro's name in `app.toml`.
pub fn micro_name() -> String {
    string(MICRO_NAME)
}

/// `DETA_SPACE_APP_MICRO_TYPE`: [`MicroType::Primary`] for `primary`, else
/// [`MicroType::Normal`].
pub fn micro_type() -> MicroType {
    match var(MICRO_TYPE).as_deref() {
        Some("primary") => MicroType::Primary,
        _ => MicroType::Normal,
    }
}

/// `DETA_SPACE_APP_VERSION`: `[app] version` in `app.toml`.
pub fn app_version() -> String {
    string(APP_VERSION)
}

/// `DETA_SPACE_APP_HOSTNAME`: `[app] hostname`, else the address micro-wasm listens on.
pub fn hostname() -> String {
    string(HOSTNAME)
}

/// `DETA_PROJECT_KEY`: `<app id>_<secret>`, distinct per Micro. A secret: never log it.
pub fn project_key() -> String {
    string(PROJECT_KEY)
}

/// `PORT`: the port micro-wasm listens on; `0` if unset or not a port.
pub fn port() -> u16 {
    var(PORT).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// `DETA_SPACE_APP` is `true`: the Micro runs under micro-wasm (or Deta Space).
pub fn is_space_app() -> bool {
    var(SPACE_APP).as_deref() == Some("true")
}
