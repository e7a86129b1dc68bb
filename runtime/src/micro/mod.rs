//! A running Micro: its pre-instantiated component, its sandbox, its warm instances and its
//! lifecycle (SPEC §7; S8 concurrency, S11 sleep/wake). One request through an instance is
//! [`invoke`]; putting idle Micros to sleep is [`sleeper`], and giving the host's freed heap
//! back then is [`host_memory`].
//!
//! Per-Micro state is built once here (linker, `InstancePre`, env list) so the request path
//! only makes or reuses a `Store`. The `InstancePre` can be swapped while serving (`run
//! --watch`): each swap starts a new generation, and instances of an older one finish their
//! request but are never kept warm. It must not parse HTTP or pick status codes: `invoke`
//! does that.

pub mod host_memory;
pub mod invoke;
pub mod sleeper;
pub mod warm;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmtime::{Engine, PoolConcurrencyLimitError, Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use crate::manifest::Limits;
use crate::sandbox::MicroSandbox;
use crate::sandbox::fds::{FdAccount, FdBudget, Fds};
use crate::sandbox::fs::TmpDir;
use crate::sandbox::limits::{InstanceLimiter, LimitHit};
use crate::sandbox::outbound::OutboundHooks;
use crate::sandbox::quota::TmpQuota;
use crate::sandbox::sqlite::SqliteCtx;
use crate::store::StoreData;
use crate::store::linker::Linked;
use crate::telemetry::activity::Activity;
use crate::telemetry::metrics::{MicroMetrics, MicroState};
use crate::telemetry::thread_index;
use warm::{Warm, WarmBudget};

/// Most idle instances a Micro keeps warm. A burst beyond this makes new instances (a cold
/// start costs well under a millisecond with the pooling allocator) and drops them afterwards.
/// A guest waiting on a streaming body keeps its instance in flight, so with bodies about one
/// instance per busy connection is in use at once: 64 covers the benchmarks' 32 connections
/// (with 16, a 64 KiB mirror made a new instance for 4 requests in 10). The warm-memory
/// budgets still bound what they hold.
pub const MAX_WARM: usize = 64;

/// The memory above which a finished instance of a Micro with this `memory` limit is not
/// kept warm (see [`Micro::give_back`]): three quarters of the limit.
pub fn retire_above(limit: u64) -> u64 {
    limit / 4 * 3
}

/// Most resource handles (streams, fields, requests...) one instance may hold at once: a
/// guest that floods them traps instead of growing host memory (each costs ~100 bytes).
pub const MAX_HANDLES: usize = 100_000;

fn handle_table() -> wasmtime::component::ResourceTable {
    let mut table = wasmtime::component::ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    table
}

/// Why no instance could be made. The invoker answers each as the same failure at run time
/// would be answered (SPEC §4): never a 500.
#[derive(Debug)]
pub enum InstanceError {
    /// Every slot of the engine's instance pool is in use (503 `busy`).
    PoolFull(wasmtime::Error),
    /// Instantiation asked for more memory or table than the Micro's `memory` allows (502
    /// `memory_limit`): e.g. a component whose initial memory is over the limit.
    OverLimit(LimitHit, wasmtime::Error),
    /// Start-up code trapped, or the sandbox could not be set up (502 `trap`).
    Failed(wasmtime::Error),
}

impl InstanceError {
    fn classify(e: wasmtime::Error, hit: Option<LimitHit>) -> InstanceError {
        if e.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
            return InstanceError::PoolFull(e);
        }
        match hit {
            Some(hit) => InstanceError::OverLimit(hit, e),
            None => InstanceError::Failed(e),
        }
    }
}

/// An instance ready to serve: its store and its exports.
pub struct Instance {
    pub store: Store<StoreData>,
    pub proxy: Proxy,
    /// The generation of the component it was made from.
    generation: u64,
    /// The thread it last ran on ([`thread_index`]). A warm instance goes preferably to a
    /// request on that thread, whose core still caches its store, stack and linear memory; a
    /// shared pool handed instances back and forth between the connection workers.
    thread: usize,
}

/// Which of the warm instances (oldest first) to reuse on thread `here`: the last one that ran
/// there, else the last one given back.
fn pick<T>(warm: &[T], thread: impl Fn(&T) -> usize, here: usize) -> Option<usize> {
    warm.iter()
        .rposition(|inst| thread(inst) == here)
        .or_else(|| warm.len().checked_sub(1))
}

/// The component new instances are made from, and its generation (1 at start, one more on
/// each reload).
#[derive(Clone)]
struct Loaded {
    pre: ProxyPre<StoreData>,
    generation: u64,
}

/// One Micro of the running app.
pub struct Micro {
    pub name: String,
    pub primary: bool,
    pub limits: Limits,
    /// Keep finished instances warm for later requests (SPEC §7 `reuse`).
    pub reuse: bool,
    /// The current component answers one request per instance (set at each load): its
    /// instances are never kept warm, whatever `reuse` says.
    one_shot: std::sync::atomic::AtomicBool,
    /// Read once per cold start; written only by [`Micro::swap`].
    loaded: RwLock<Loaded>,
    /// `loaded.generation`, readable without the lock when an instance is reused or given back.
    generation: AtomicU64,
    sandbox: MicroSandbox,
    tmp: TmpDir,
    /// S7: the byte quota of `tmp`, shared by all instances.
    quota: Arc<TmpQuota>,
    /// Idle instances kept for reuse, within `MAX_WARM` and the warm-memory budgets.
    warm: Mutex<Warm<Instance>>,
    /// The open files and sockets of all its instances, within `open_files` and
    /// `micro_open_files`.
    fds: Arc<FdBudget>,
    life: Mutex<Life>,
    /// Invocations running; S8: at most `concurrency`.
    inflight: AtomicUsize,
    /// Invocations, cold starts, requests, latencies and errors for `/__space/metrics` and
    /// `/__space/status`.
    pub metrics: MicroMetrics,
    /// The last requests and errors, for the dashboard.
    pub activity: Activity,
}

/// Whether the Micro is awake, and since when it has had nothing to do.
struct Life {
    awake: bool,
    idle_since: Instant,
}

/// Proof that an invocation holds one of the Micro's `concurrency` slots; while it lives the
/// Micro counts the invocation as in flight and cannot fall asleep.
pub struct Slot {
    micro: Arc<Micro>,
}

impl Slot {
    /// The Micro whose slot this is.
    pub fn micro(&self) -> &Arc<Micro> {
        &self.micro
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.micro.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.micro.life.lock().unwrap().idle_since = Instant::now();
        }
    }
}

impl Micro {
    pub fn new(
        name: String,
        primary: bool,
        limits: Limits,
        reuse: bool,
        linked: Linked,
        sandbox: MicroSandbox,
        tmp: TmpDir,
    ) -> Micro {
        let own_budget = Arc::new(WarmBudget::new(limits.warm_memory));
        let fds = FdBudget::new(
            &name,
            limits.open_files as usize,
            limits.micro_open_files as usize,
        );
        Micro {
            name,
            primary,
            quota: Arc::new(TmpQuota::new(limits.tmp, tmp.path())),
            warm: Mutex::new(Warm::new(limits.warm_memory, own_budget)),
            fds: Arc::new(fds),
            limits,
            reuse,
            one_shot: linked.one_request_per_instance.into(),
            loaded: RwLock::new(Loaded {
                pre: linked.pre,
                generation: 1,
            }),
            generation: AtomicU64::new(1),
            sandbox,
            tmp,
            life: Mutex::new(Life {
                awake: false,
                idle_since: Instant::now(),
            }),
            inflight: AtomicUsize::new(0),
            metrics: MicroMetrics::default(),
            activity: Activity::default(),
        }
    }

    /// Counts this Micro's warm instances against `app`, the app's `warm_memory` shared by
    /// its Micros, too (by default only its own budget applies).
    pub fn with_app_warm_budget(self, app: Arc<WarmBudget>) -> Micro {
        *self.warm.lock().unwrap() = Warm::new(self.limits.warm_memory, app);
        self
    }

    /// Takes a concurrency slot, or `None` when `concurrency` invocations are running (S8).
    /// Wakes the Micro if it was asleep (S11).
    pub fn try_begin(self: &Arc<Self>) -> Option<Slot> {
        let limit = self.limits.concurrency as usize;
        self.inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        self.metrics.invocations.fetch_add(1, Ordering::Relaxed);
        let mut life = self.life.lock().unwrap();
        if !life.awake {
            life.awake = true;
            self.metrics.wakes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(micro = %self.name, "waking up");
        }
        drop(life);
        Some(Slot {
            micro: self.clone(),
        })
    }

    /// A warm instance if one is kept, else a new one (a cold start). The bool is `true` for
    /// a cold start.
    pub async fn instance(&self) -> Result<(Instance, bool), InstanceError> {
        if let Some(inst) = self.take_warm() {
            return Ok((inst, false));
        }
        self.metrics.cold_starts.fetch_add(1, Ordering::Relaxed);
        let loaded = self.loaded.read().unwrap().clone();
        let mut store = self
            .new_store(loaded.pre.engine())
            .map_err(|e| InstanceError::Failed(wasmtime::Error::from_anyhow(e)))?;
        let proxy = match loaded.pre.instantiate_async(&mut store).await {
            Ok(proxy) => proxy,
            Err(e) => return Err(InstanceError::classify(e, store.data().limiter.hit)),
        };
        let generation = loaded.generation;
        Ok((
            Instance {
                store,
                proxy,
                generation,
                thread: thread_index(),
            },
            true,
        ))
    }

    /// A warm instance of the current generation, if one is kept: the one this thread ran
    /// last, else the one given back last.
    fn take_warm(&self) -> Option<Instance> {
        let here = thread_index();
        let mut warm = self.warm.lock().unwrap();
        let current = self.generation.load(Ordering::Acquire);
        loop {
            let threads: Vec<usize> = warm.items().map(|inst| inst.thread).collect();
            let i = pick(&threads, |t| *t, here)?;
            let inst = warm.remove(i);
            if inst.generation == current {
                return Some(inst);
            }
        }
    }

    /// Returns a healthy instance after a finished invocation. With `reuse = false`, when it
    /// was made from a component since replaced, or when its memory has grown past
    /// [`retire_above`] (three quarters of the Micro's `memory` limit), it is dropped: linear memory never
    /// shrinks, so such an instance (a guest that leaks, as componentize-py's copies of the
    /// bytes a Python guest writes do) would fail a later request at the limit; a fresh
    /// instance serves the next one instead. Else it is kept warm, and
    /// the coldest warm instances are dropped to stay within [`MAX_WARM`] (and
    /// `concurrency`) instances and the Micro's and the app's `warm_memory`, so a burst cannot
    /// pin memory: only the last few instances stay warm until the Micro sleeps. Likewise
    /// warm instances holding open files or sockets are dropped, coldest first, while the
    /// Micro's instances hold more than half its `micro_open_files`, so idle ones cannot
    /// starve the running ones.
    pub fn give_back(&self, mut inst: Instance) {
        if !self.reuse
            || self.one_shot.load(Ordering::Relaxed)
            || inst.generation != self.generation.load(Ordering::Acquire)
        {
            return;
        }
        let bytes = inst.store.data().limiter.used();
        if bytes > retire_above(self.limits.memory) {
            tracing::debug!(micro = %self.name, bytes, "instance retired: memory near its limit");
            return;
        }
        inst.thread = thread_index();
        let data = inst.store.data_mut();
        data.fds.sweep(&data.table);
        let max = MAX_WARM.min(self.limits.concurrency as usize);
        let mut warm = self.warm.lock().unwrap();
        let mut dropped = warm.keep(inst, bytes, max);
        while self.fds.used() > self.fds.per_micro() / 2 {
            let holding = warm
                .items()
                .position(|inst| inst.store.data().fds.account.held() > 0);
            match holding {
                Some(i) => dropped.push(warm.remove(i)),
                None => break,
            }
        }
        drop(warm);
        drop(dropped);
    }

    /// Makes `linked` the component of every new instance and drops the warm ones; instances in
    /// use finish their request on the old component. Returns the new generation.
    pub fn swap(&self, linked: Linked) -> u64 {
        let generation = {
            let mut loaded = self.loaded.write().unwrap();
            let generation = loaded.generation + 1;
            self.one_shot
                .store(linked.one_request_per_instance, Ordering::Relaxed);
            *loaded = Loaded {
                pre: linked.pre,
                generation,
            };
            self.generation.store(generation, Ordering::Release);
            generation
        };
        // After the store above: an instance given back from now on sees the new generation.
        let stale = self.warm.lock().unwrap().clear();
        drop(stale);
        // The build behind a reload may have replaced the code dir: new instances open it anew.
        self.sandbox.reopen_mounts();
        generation
    }

    /// The generation of the current component: 1, plus one per [`Micro::swap`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn new_store(&self, engine: &Engine) -> Result<Store<StoreData>> {
        let fds = FdAccount::new(self.fds.clone());
        let data = StoreData {
            wasi: self.sandbox.wasi_ctx()?,
            http: WasiHttpCtx::new(),
            table: handle_table(),
            limiter: InstanceLimiter::new(self.limits.memory, self.limits.instances),
            hooks: OutboundHooks {
                micro: self.name.as_str().into(),
                policy: self.sandbox.outbound.clone(),
                data: self.sandbox.data.clone(),
                fds: fds.clone(),
            },
            quota: self.quota.clone(),
            sqlite: SqliteCtx::new(
                self.sandbox.code_dir.clone(),
                self.limits.memory,
                self.limits.timeout,
            ),
            deadline: Instant::now() + self.limits.timeout,
            fds: Fds::new(fds),
        };
        let mut store = Store::new(engine, data);
        store.limiter(|d| &mut d.limiter);
        // Every tick: trap once the wall-clock deadline has passed, else yield to the executor
        // so a busy guest cannot monopolise a worker thread, and wait for the next tick.
        store.epoch_deadline_callback(|ctx| {
            Ok(if Instant::now() >= ctx.data().deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    /// Puts the Micro to sleep if it has been idle for `sleep_after` with nothing in flight:
    /// warm instances are dropped and `/tmp` is wiped (S11). Returns whether it slept now.
    pub fn sleep_if_idle(&self, now: Instant) -> bool {
        let mut life = self.life.lock().unwrap();
        if !life.awake
            || self.inflight.load(Ordering::Acquire) > 0
            || now.duration_since(life.idle_since) < self.limits.sleep_after
        {
            return false;
        }
        life.awake = false;
        let dropped = self.warm.lock().unwrap().clear();
        drop(dropped);
        if let Err(e) = self.tmp.wipe() {
            tracing::warn!(micro = %self.name, "{e:#}");
        }
        // Here, not on the next request: the wake-up should not wait for it.
        self.sandbox.reopen_mounts();
        self.quota.reset();
        tracing::info!(micro = %self.name, "going to sleep");
        true
    }

    /// How often the sleeper should look at this Micro.
    pub fn sleep_check_interval(&self) -> Duration {
        (self.limits.sleep_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(5))
    }

    pub fn state(&self) -> MicroState {
        MicroState {
            name: self.name.clone(),
            awake: self.life.lock().unwrap().awake,
            warm_instances: self.warm.lock().unwrap().len(),
            in_flight: self.inflight.load(Ordering::Acquire),
            tmp_bytes: self.quota.used(),
            requests: self.metrics.invocations.load(Ordering::Relaxed),
            cold_starts: self.metrics.cold_starts.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_instances_go_back_to_the_thread_that_ran_them() {
        // Threads that last ran each warm instance, oldest first.
        let warm = [1, 2, 1, 2];
        assert_eq!(pick(&warm, |t| *t, 1), Some(2));
        assert_eq!(pick(&warm, |t| *t, 2), Some(3));
        // No instance of this thread: the one given back last.
        assert_eq!(pick(&warm, |t| *t, 3), Some(3));
        assert_eq!(pick(&[] as &[usize], |t| *t, 1), None);
    }
}
