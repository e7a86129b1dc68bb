//! Turning a Micro's component file into a linked `ProxyPre`: the app's one linker (WASI
//! with its read shadow, the `/tmp` quota shadow, wasi:http, micro:space/sqlite, each reaching
//! the store through its view) and the compile cache, used both at start (every Micro in
//! parallel, with a progress line) and by `serve::watch` when a Micro reloads.
//!
//! Serves the lifecycle goals (SPEC §7: only the compiled component is held while asleep)
//! and S15 (sqlite is linked for the components that import it). It must not build sources
//! (that is `build`) nor decide when to reload (that is `serve::watch`).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use anyhow::Result;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::StoreData;
use crate::engine::cache::{self, CacheOutcome};
use crate::engine::progress::{self, Progress};
use crate::manifest::MicroSection;

/// A Micro's component, linked and ready to instantiate.
#[derive(Clone)]
pub struct Linked {
    pub pre: ProxyPre<StoreData>,
    /// The component answers one request per instance (see
    /// `engine::inspect::one_request_per_instance`): never keep its instances warm.
    pub one_request_per_instance: bool,
}

/// The engine, linker and cache dir every component of the app is compiled and linked with.
pub struct Compiler {
    engine: Engine,
    linker: Linker<StoreData>,
    cache_dir: PathBuf,
}

impl Compiler {
    /// The linker for `engine`, caching compiled components in `cache_dir`.
    pub fn new(engine: &Engine, cache_dir: PathBuf) -> Result<Compiler> {
        let mut linker = Linker::<StoreData>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Reads lowered into guest memory from the stream's own bytes (see store::reads).
        super::reads::add_to_linker(&mut linker, |d| &mut d.table)?;
        // S7: /tmp's byte quota, by shadowing wasi:filesystem/types (see sandbox::quota).
        crate::sandbox::quota::add_to_linker(&mut linker, super::tmp_fs)?;
        // Open-file caps on new sockets; S14 on name lookups (see sandbox::sockets).
        crate::sandbox::sockets::add_to_linker(&mut linker, super::sockets)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        // S15: micro:space/sqlite, for the components that import it.
        crate::sandbox::sqlite::add_to_linker(&mut linker, super::sqlite)?;
        Ok(Compiler {
            engine: engine.clone(),
            linker,
            cache_dir,
        })
    }

    /// Compiles (or loads from the cache) every Micro's component in parallel and links it,
    /// in manifest order. On a terminal a progress line shows what is still compiling.
    pub fn compile_all(&self, micros: &[MicroSection]) -> Result<Vec<Linked>> {
        let progress = Progress::new(micros.len());
        let progress = &progress;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = micros
                .iter()
                .map(|m| {
                    let done = done_tx.clone();
                    s.spawn(move || {
                        progress.start(&m.name);
                        let started = Instant::now();
                        let result = self.load(&m.name, &m.component);
                        progress.finish(&m.name, || log_loaded(&m.name, started, &result));
                        drop(done);
                        result.map(|(linked, _)| linked)
                    })
                })
                .collect();
            // Redraw while waiting, but return as soon as the last component is in: a start
            // from the cache takes milliseconds and must not wait for a redraw tick. Every
            // thread holds a sender (nothing is sent), so the channel disconnects when the last one
            // ends, panicked or not.
            drop(done_tx);
            while let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(progress::REDRAW) {
                progress.redraw();
            }
            progress.clear_line();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("compile thread panicked"))?
                })
                .collect::<Vec<_>>()
        });
        results.into_iter().collect()
    }

    /// Compiles (or loads from the cache) one Micro's component and links it, logging how
    /// long it took and whether the cache served it.
    pub fn compile(&self, micro: &str, component: &Path) -> Result<Linked> {
        let started = Instant::now();
        let result = self.load(micro, component);
        log_loaded(micro, started, &result);
        result.map(|(linked, _)| linked)
    }

    fn load(&self, micro: &str, component: &Path) -> Result<(Linked, CacheOutcome)> {
        let loaded = cache::load_component(&self.engine, micro, component, &self.cache_dir)?;
        let pre = self
            .linker
            .instantiate_pre(&loaded.component)
            .map_err(|e| {
                anyhow::anyhow!(
                    "micro `{micro}`: {} cannot be linked: {e:#}",
                    component.display()
                )
            })?;
        let pre = ProxyPre::new(pre).map_err(|e| {
            anyhow::anyhow!(
                "micro `{micro}`: {} is not a wasi:http/proxy component (it must export wasi:http/incoming-handler): {e:#}",
                component.display()
            )
        })?;
        if loaded.one_request_per_instance {
            tracing::info!(
                micro,
                "componentize-js component in the fetch-event style: it answers one request per instance, so every request gets a fresh one"
            );
        }
        let linked = Linked {
            pre,
            one_request_per_instance: loaded.one_request_per_instance,
        };
        Ok((linked, loaded.outcome))
    }
}

/// The `compiled` / `loaded from cache` line, with the time taken (errors are reported by
/// the caller, with their context).
fn log_loaded<T>(micro: &str, started: Instant, result: &Result<(T, CacheOutcome)>) {
    let how = match result {
        Ok((_, CacheOutcome::Hit)) => "loaded from cache",
        Ok((_, CacheOutcome::Compiled)) => "compiled",
        Ok((_, CacheOutcome::Precompiled)) => "loaded precompiled",
        Err(_) => return,
    };
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(micro = %micro, ms, "component {how}");
}
