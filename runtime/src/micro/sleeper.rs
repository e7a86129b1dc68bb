//! The sleeper: puts Micros that have been idle for their `sleep_after` to sleep (S11, SPEC
//! §7), then hands the freed host heap back to the OS.
//!
//! It must not wake a Micro or touch one with work in flight: [`Micro::sleep_if_idle`]
//! decides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Micro;
use super::host_memory::release_free_heap;

/// Looks at every Micro as often as the most eager one needs, for ever (the caller aborts it).
pub async fn run(micros: Vec<Arc<Micro>>) {
    let interval = micros
        .iter()
        .map(|m| m.sleep_check_interval())
        .min()
        .unwrap_or(Duration::from_secs(1));
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut slept = false;
        for m in &micros {
            slept |= m.sleep_if_idle(now);
        }
        if slept {
            // Off the executor: a trim walks every arena.
            tokio::task::spawn_blocking(release_free_heap);
        }
    }
}
