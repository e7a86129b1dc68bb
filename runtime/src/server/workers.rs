//! Connection workers: one thread per core, each driving its own current-thread tokio
//! runtime. The listener deals accepted connections to them in turn; a connection then stays
//! on its worker with everything it starts (its requests, the guests they run, body streams,
//! timers), so a request's wake-ups never cross threads.
//!
//! This serves the performance goals (docs/spec.md §1): a shared work-stealing runtime moved every
//! socket wake-up through one epoll driver and other workers' queues. A guest that computes
//! for long still yields at every epoch tick (S5), so the other connections on its worker
//! keep being served between its slices. This module must not route, limit or log requests.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The running workers; dropping them stops each runtime (cancelling what is left on it)
/// and joins its thread.
pub struct Workers {
    running: Vec<Worker>,
    next: AtomicUsize,
}

/// One worker: its runtime's handle, the sender that stops it, and its thread.
struct Worker {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Workers {
    /// Starts `n` workers (at least one).
    pub fn start(n: usize) -> Result<Workers> {
        let mut running = Vec::new();
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting a connection worker's tokio runtime")?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("micro-wasm-conn-{i}"))
                .spawn(move || {
                    crate::telemetry::console::worker_thread();
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })
                .context("starting a connection worker thread")?;
            running.push(Worker {
                handle,
                stop,
                thread,
            });
        }
        Ok(Workers {
            running,
            next: AtomicUsize::new(0),
        })
    }

    /// One worker per available core: the default for `run --workers`.
    pub fn per_core() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Runs `task` on the next worker in turn.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.running.len();
        self.running[i].handle.spawn(task);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in self.running.drain(..) {
            let _ = worker.stop.send(());
            let _ = worker.thread.join();
        }
    }
}
