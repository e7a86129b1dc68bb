//! The app's one Wasmtime [`Engine`]: its `Config`, the pooling allocator (with a logged
//! fallback to on-demand allocation) and the single epoch ticker thread; the compile cache
//! of precompiled components ([`cache`]), a Micro's own precompiled component
//! ([`precompiled`]), what a component's bytes say about running it ([`inspect`]) and the
//! `compiling 1/3: …` line ([`progress`]).
//!
//! Serves S5 (epoch interruption drives the timeout), S6/S8 (pool slots sized from the
//! manifest's limits) and the performance goals (pooling, copy-on-write images).
//! It must not know about HTTP, Micros' env or files: it only turns limits into an engine.

pub mod cache;
pub mod inspect;
pub mod precompiled;
pub mod progress;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::manifest::Limits;

/// How often the ticker advances the engine's epoch. Each store checks its wall-clock
/// deadline on every tick, so a timeout fires at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Core instances, memories and tables a `wasm32-wasip2` component typically makes per
/// instance (the main module plus the component adapter shims), used to size the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Dirty linear-memory bytes a freed pool slot keeps resident for its next instance.
const KEEP_RESIDENT: usize = 1024 * 1024;

/// Most pool slots to reserve: beyond this the pool's address space dwarfs its benefit and
/// extra instances come from a slower path (the pool reports exhaustion as a busy Micro).
const MAX_POOL_SLOTS: u32 = 1000;

/// How the engine allocates instances, for logs and the status endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    Pooling { slots: u32 },
    OnDemand,
}

/// The engine plus the thread that ticks its epoch; dropping it stops the ticker.
pub struct AppEngine {
    pub engine: Engine,
    pub allocation: Allocation,
    ticker: Option<Ticker>,
}

impl AppEngine {
    /// Builds the engine for Micros with these limits. Tries the pooling allocator first and
    /// falls back to on-demand allocation (logged) when the pool cannot be reserved.
    pub fn new(limits: &[Limits]) -> Result<AppEngine> {
        let slots = pool_slots(limits);
        let max_memory = limits.iter().map(|l| l.memory).max().unwrap_or(0);
        let (engine, allocation) = match Engine::new(&config(Some((slots, max_memory)))) {
            Ok(engine) => (engine, Allocation::Pooling { slots }),
            Err(e) => {
                tracing::warn!(
                    "pooling allocator unavailable ({e:#}); falling back to on-demand instance allocation"
                );
                (Engine::new(&config(None))?, Allocation::OnDemand)
            }
        };
        let ticker = Ticker::start(engine.clone());
        Ok(AppEngine {
            engine,
            allocation,
            ticker: Some(ticker),
        })
    }
}

impl Drop for AppEngine {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
    }
}

/// The settings that decide what compiled code this runtime accepts, without the pooling
/// allocator (which changes no compile setting): `Engine::precompile_component` on an engine
/// made from it writes a `.cwasm` that a Micro's `component` may name (SPEC §3), the same
/// artifact as `wasmtime compile` with `precompiled::COMPILE_FLAGS`.
pub fn compile_config() -> Config {
    config(None)
}

/// Total pool slots: the sum of the Micros' concurrency, capped.
fn pool_slots(limits: &[Limits]) -> u32 {
    let sum: u64 = limits.iter().map(|l| u64::from(l.concurrency)).sum();
    sum.clamp(1, u64::from(MAX_POOL_SLOTS)) as u32
}

/// The engine configuration; `pool` is `(slots, largest memory limit)` or `None` for
/// on-demand allocation. Both variants compile identical code, so the compile cache is
/// shared between them.
fn config(pool: Option<(u32, u64)>) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if let Some((slots, max_memory)) = pool {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(slots.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
            .total_stacks(slots)
            // Memories above the largest limit are refused by the limiter anyway; one
            // extra page keeps the pool's cap from pre-empting the limiter's clear error.
            .max_memory_size(usize::try_from(max_memory + 65536).unwrap_or(usize::MAX))
            // A freed slot keeps up to this much of what its instance dirtied resident (reset
            // in place), so the next instance in it (a wake-up) does not page-fault it back
            // in; the rest goes back to the OS. Where PAGEMAP_SCAN exists (Linux 6.7+) only
            // dirty pages count; elsewhere it is the lowest addresses.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .max_unused_warm_slots(64);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// One thread per engine advancing the epoch every [`EPOCH_TICK`] (never one per request).
struct Ticker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Ticker { stop, handle }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_sized_from_concurrency_and_capped() {
        let mut l = Limits::SEED;
        l.concurrency = 10;
        assert_eq!(pool_slots(&[l.clone(), l.clone()]), 20);
        l.concurrency = 1024;
        assert_eq!(pool_slots(&[l.clone(), l]), MAX_POOL_SLOTS);
    }
}
