//! The working directory: micro-wasm gives every Micro `/app` (its code dir, SPEC §5) and
//! says so through `wasi:cli/environment.initial-cwd`, but wasi-libc, which Rust's std uses
//! on `wasm32-wasip2`, starts every program at `/` and never asks the host. So before the
//! first request of an instance the handler moves to the host's initial directory, and
//! `std::env::current_dir()` says `/app` as the contract does. Relative paths resolve in
//! `/app` either way (micro-wasm also mounts the code dir as `.`).
//!
//! Under a host that names no initial directory (`wasmtime serve`), or one this guest cannot
//! enter, nothing changes.

use std::sync::Once;

/// Enters the host's initial working directory, once per instance.
pub(crate) fn enter_initial_cwd() {
    static ENTERED: Once = Once::new();
    ENTERED.call_once(|| {
        #[cfg(target_os = "wasi")]
        if let Some(dir) = wasi::cli::environment::initial_cwd() {
            // A directory that cannot be entered leaves the guest where wasi-libc put it.
            let _ = std::env::set_current_dir(dir);
        }
    });
}
