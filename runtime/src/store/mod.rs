//! What one instance's `Store` holds (S3: every instance gets its own), the views each host
//! interface borrows from it, and the app's one linker ([`linker`], with the read shadow of
//! [`reads`]).
//!
//! One concrete type, no trait towers: WASI and wasi:http get their `*View`s through their
//! own traits; our hosts (`/tmp` quota, sockets, SQLite) get views made by the functions
//! here. It must
//! not hold anything shared between Micros: whatever is shared (the engine, the log writer)
//! lives outside the store.

pub mod linker;
pub mod reads;

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::sandbox::fds::Fds;
use crate::sandbox::limits::InstanceLimiter;
use crate::sandbox::outbound::OutboundHooks;
use crate::sandbox::quota::{TmpFsView, TmpQuota};
use crate::sandbox::sockets::SocketsView;
use crate::sandbox::sqlite::{SqliteCtx, SqliteView};

/// The per-instance state of a Micro.
pub struct StoreData {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limiter: InstanceLimiter,
    /// S14: checks every outgoing HTTP request against the Micro's allow-list.
    pub hooks: OutboundHooks,
    /// When the current invocation must stop (S5); checked on every epoch tick.
    pub deadline: std::time::Instant,
    /// The Micro's `/tmp` quota, shared by all its instances (S7).
    pub quota: Arc<TmpQuota>,
    /// S15: the Micro's read-only databases and this instance's open connections.
    pub sqlite: SqliteCtx,
    /// The host descriptors (files, sockets) this instance holds, against its caps.
    pub fds: Fds,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The `/tmp` quota host's view: wasmtime-wasi's file system plus the Micro's quota (S7).
fn tmp_fs(d: &mut StoreData) -> TmpFsView<'_> {
    let fs = WasiFilesystemCtxView {
        ctx: d.wasi.filesystem(),
        table: &mut d.table,
    };
    TmpFsView::new(fs, &d.quota, &mut d.fds)
}

/// The socket hosts' view: wasmtime-wasi's sockets, the descriptor count, the policy (S14).
fn sockets(d: &mut StoreData) -> SocketsView<'_> {
    SocketsView {
        sockets: WasiSocketsCtxView {
            ctx: d.wasi.sockets(),
            table: &mut d.table,
        },
        fds: &mut d.fds,
        policy: &d.hooks.policy,
        micro: &d.hooks.micro,
    }
}

/// The SQLite host's view (S15).
fn sqlite(d: &mut StoreData) -> SqliteView<'_> {
    SqliteView {
        ctx: &mut d.sqlite,
        table: &mut d.table,
        deadline: d.deadline,
        fds: &d.fds.account,
    }
}
