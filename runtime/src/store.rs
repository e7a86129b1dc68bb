//! What one instance's `Store` holds (S3: every instance gets its own) and the views the
//! WASI and wasi:http host implementations borrow from it.
//!
//! One concrete type, no trait towers. It must not hold anything shared between Micros:
//! whatever is shared (the engine, the log writer) lives outside the store.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::sandbox::limits::InstanceLimiter;
use crate::sandbox::outbound::OutboundHooks;
use crate::sandbox::quota::TmpQuota;

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
    pub sqlite: crate::sqlite::SqliteCtx,
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
