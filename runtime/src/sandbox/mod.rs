//! Everything that makes one Micro's sandbox (S3) and the host interfaces a guest reaches:
//! its environment (`env`), its file system view ([`fs`], with the `/tmp` quota of
//! [`quota`]), its resource limits ([`limits`]), the host descriptors its guests hold
//! ([`fds`]), its outbound policy ([`outbound`], with the socket hosts of [`sockets`]) and
//! the read-only SQLite host ([`sqlite`], generated glue in [`bindings`]). Each host interface is
//! implemented on a view of the store (`TmpFsView`, `SqliteView`), never on the store type. `MicroSandbox` is built once per Micro and stamps out a fresh
//! `WasiCtx` for every instance. The mounted dirs are opened once and shared by the
//! instances (each gets the same open handles, as `openat` bases); they are reopened when the
//! Micro goes to sleep (`/tmp` is then recreated) and when it is reloaded (its build may have
//! replaced the code dir): [`MicroSandbox::reopen_mounts`].
//!
//! It must not share any host state between Micros, and nothing from the host's own
//! environment, arguments or stdio reaches a guest through it.

pub mod bindings;
pub mod env;
pub mod fds;
pub mod fs;
pub mod limits;
pub mod outbound;
pub mod quota;
pub mod sockets;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::telemetry::guest_logs::GuestOutput;

/// The fixed parts of a Micro's sandbox.
pub struct MicroSandbox {
    pub micro: String,
    /// The full environment (SPEC §5), computed once.
    pub env: Vec<(String, String)>,
    /// Host dir mounted read-only at `/app` (S7, S13).
    pub code_dir: Arc<Path>,
    /// Host dir mounted read-write at `/tmp`, private to this Micro (S3, S7).
    pub tmp_dir: PathBuf,
    /// S14: where the Micro may connect.
    pub outbound: std::sync::Arc<outbound::Outbound>,
    /// The app's Bases and Drives, shared by all its Micros.
    pub data: Option<Arc<crate::data::DataService>>,
    pub stdout: GuestOutput,
    pub stderr: GuestOutput,
    /// `/app`, `.` and `/tmp`, opened; `None` until first needed or after a failed reopen.
    pub mounts: Mutex<Option<WasiFilesystemCtx>>,
}

impl MicroSandbox {
    /// A fresh WASI context for one instance: env, `/app` read-only, `/tmp` read-write, the
    /// working directory `/app`, stdout/stderr to the Micro's log, no stdin, TCP only as
    /// `outbound` allows.
    pub fn wasi_ctx(&self) -> Result<WasiCtx> {
        let mut b = WasiCtxBuilder::new();
        outbound::configure_sockets(&mut b, &self.micro, self.outbound.clone());
        b.envs(&self.env)
            .arg(&self.micro)
            .initial_cwd("/app")
            .stdout(self.stdout.clone())
            .stderr(self.stderr.clone());
        let mut ctx = b.build();
        *ctx.filesystem() = self.mounts()?;
        Ok(ctx)
    }

    /// The open mounts, opening them if they are not yet.
    fn mounts(&self) -> Result<WasiFilesystemCtx> {
        let mut mounts = self.mounts.lock().unwrap();
        if let Some(m) = &*mounts {
            return Ok(m.clone());
        }
        let opened = self.open_mounts()?;
        *mounts = Some(opened.clone());
        Ok(opened)
    }

    /// Opens the mounted dirs again (after `/tmp` was recreated, or a reload's build replaced
    /// the code dir); an error is logged and the next instance tries again.
    pub fn reopen_mounts(&self) {
        let opened = self.open_mounts();
        if let Err(e) = &opened {
            tracing::warn!(micro = %self.micro, "{e:#}");
        }
        *self.mounts.lock().unwrap() = opened.ok();
    }

    fn open_mounts(&self) -> Result<WasiFilesystemCtx> {
        let mut b = WasiCtxBuilder::new();
        // The code dir is also preopened as "." so relative paths resolve in /app: wasi-libc
        // starts at "/" and ignores `initial-cwd`, so that alone would not make /app the
        // working directory for most guests (the Rust and Python SDKs enter it; SPEC §5).
        for (host, guest, perms) in [
            (&*self.code_dir, "/app", FsPerms::ReadOnly),
            (&*self.code_dir, ".", FsPerms::ReadOnly),
            (self.tmp_dir.as_path(), "/tmp", FsPerms::ReadWrite),
        ] {
            b.preopened_dir(host, guest, perms).map_err(|e| {
                anyhow!(
                    "micro `{}`: mounting {} at {guest}: {e:#}",
                    self.micro,
                    host.display()
                )
            })?;
        }
        Ok(b.build().filesystem().clone())
    }
}
