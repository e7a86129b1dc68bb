//! The test guest that compiles C: `bundled-sqlite` (tests/guests/bundled-sqlite) carries
//! SQLite's C amalgamation (rusqlite's `bundled` feature), so building it needs clang, which
//! targets wasm32 in any build, `llvm-ar`, and WASI libc headers; `bash tests/tools.sh`
//! installs them. It is built once per test run, on first use, and apart from the other
//! guests (the guest workspace's `default-members` leave it out), so that only the tests
//! using it need a C toolchain.
//!
//! The cc crate passes `--sysroot=$WASI_SYSROOT` to clang. A wasi-sdk (`WASI_SDK_PATH`) or a
//! `WASI_SYSROOT` set by the user is used as is; otherwise the headers of a distribution's
//! wasi-libc are found (Debian's `wasi-libc` puts them in /usr/include/wasm32-wasi) and put
//! in a sysroot of their own under the guests' target dir. Without one, clang would search
//! the host's /usr/include for `wasm32-wasip2`, a triple clang 14 (Debian 12) predates, and
//! fail on glibc's headers. The headers only declare libc; the component links the wasip2
//! libc that ships with Rust's wasm32-wasip2 target.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::{ensure_wasm_target, repo};

/// Where distributions put wasi-libc's headers, the first holding `stdio.h` is used.
#[cfg(unix)]
const HEADER_DIRS: [&str; 5] = [
    "/usr/include/wasm32-wasip2",
    "/usr/include/wasm32-wasi",
    "/usr/share/wasi-sysroot/include/wasm32-wasip2",
    "/usr/share/wasi-sysroot/include/wasm32-wasi",
    "/usr/share/wasi-sysroot/include",
];

/// Builds `bundled-sqlite` once; the path of its component.
pub fn bundled_sqlite() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            ensure_wasm_target();
            let dir = repo().join("tests/guests");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
                .args(["-p", "bundled-sqlite"])
                .current_dir(&dir)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            let user_set = ["WASI_SYSROOT", "WASI_SDK_PATH"]
                .iter()
                .any(|v| std::env::var_os(v).is_some());
            if !user_set && let Some(root) = sysroot(&dir.join("target/wasi-sysroot")) {
                cmd.env("WASI_SYSROOT", root);
            }
            let out = cmd.output().expect("running cargo for bundled-sqlite");
            assert!(
                out.status.success(),
                "building tests/guests/bundled-sqlite (SQLite's C code for wasm32-wasip2) failed; \
                 it needs clang, llvm-ar and WASI libc headers (`bash tests/tools.sh` installs \
                 them):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir.join("target/wasm32-wasip2/release/bundled_sqlite.wasm")
        })
        .clone()
}

/// A sysroot at `root` whose `include` is the first of [`HEADER_DIRS`] found, or `None`
/// when there is none (the build then fails and says what to install).
#[cfg(unix)]
fn sysroot(root: &Path) -> Option<PathBuf> {
    let headers = HEADER_DIRS
        .iter()
        .map(Path::new)
        .find(|d| d.join("stdio.h").is_file())?;
    let include = root.join("include");
    if std::fs::read_link(&include).ok().as_deref() != Some(headers) {
        std::fs::create_dir_all(root).unwrap();
        let _ = std::fs::remove_file(&include);
        std::os::unix::fs::symlink(headers, &include).unwrap();
    }
    Some(root.to_path_buf())
}

/// Elsewhere the user sets `WASI_SYSROOT` (or uses a wasi-sdk).
#[cfg(not(unix))]
fn sysroot(_root: &Path) -> Option<PathBuf> {
    None
}
