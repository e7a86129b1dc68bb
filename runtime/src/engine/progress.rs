//! The compile progress line shown while `store::linker::Compiler::compile_all` runs: on a terminal,
//! one stderr line redrawn in place (`compiling 1/3: python (12.3 s), js (4.0 s)…`); elsewhere
//! nothing, since each finished component already has its own `compiled` / `loaded from
//! cache` log line.
//!
//! It owns only that line: it must not decide what is compiled nor log anything itself, and
//! it clears the line before any finished component's log line is written, so the two never
//! share a line.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(100);
/// Nothing is drawn before this: a start served from the cache shows no line at all.
const SHOW_AFTER: Duration = Duration::from_millis(300);

/// What is compiling now and how much is done.
pub struct Progress {
    total: usize,
    /// Whether stderr is a terminal: the line is drawn only then.
    tty: bool,
    started: Instant,
    state: Mutex<Compiling>,
}

struct Compiling {
    /// Components still compiling, with when each started.
    running: Vec<(String, Instant)>,
    done: usize,
    /// Whether the line is on screen (and must be cleared before other output).
    drawn: bool,
}

impl Progress {
    /// Progress over `total` components; drawn only when stderr is a terminal.
    pub fn new(total: usize) -> Progress {
        Progress::with_tty(total, std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    fn with_tty(total: usize, tty: bool) -> Progress {
        Progress {
            total,
            tty,
            started: Instant::now(),
            state: Mutex::new(Compiling {
                running: Vec::new(),
                done: 0,
                drawn: false,
            }),
        }
    }

    /// Notes that `name` started compiling.
    pub fn start(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        state.running.push((name.to_string(), Instant::now()));
    }

    /// Notes that `name` is finished, clears the line and runs `log` (its log line) while no
    /// redraw can interleave with it.
    pub fn finish(&self, name: &str, log: impl FnOnce()) {
        let mut state = self.state.lock().unwrap();
        state.running.retain(|(n, _)| n != name);
        state.done += 1;
        self.clear(&mut state);
        log();
    }

    /// Redraws the line (on a terminal, once compiling has taken a noticeable time).
    pub fn redraw(&self) {
        if !self.tty || self.started.elapsed() < SHOW_AFTER {
            return;
        }
        let mut state = self.state.lock().unwrap();
        if state.running.is_empty() {
            return;
        }
        let now = Instant::now();
        let running: Vec<(&str, Duration)> = state
            .running
            .iter()
            .map(|(n, t)| (n.as_str(), now.duration_since(*t)))
            .collect();
        let text = line(state.done, self.total, &running);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{text}");
        let _ = err.flush();
        state.drawn = true;
    }

    /// Removes the line from the terminal, if it is drawn.
    pub fn clear_line(&self) {
        let mut state = self.state.lock().unwrap();
        self.clear(&mut state);
    }

    fn clear(&self, state: &mut Compiling) {
        if state.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            state.drawn = false;
        }
    }
}

/// The progress text: finished out of total, then each component still compiling with how
/// long it has taken so far.
fn line(done: usize, total: usize, running: &[(&str, Duration)]) -> String {
    let names: Vec<String> = running
        .iter()
        .map(|(n, took)| format!("{n} ({:.1} s)", took.as_secs_f64()))
        .collect();
    format!("compiling {done}/{total}: {}…", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_lists_what_is_still_compiling() {
        let running = [
            ("python", Duration::from_millis(12_340)),
            ("js", Duration::from_secs(4)),
        ];
        assert_eq!(
            line(1, 3, &running),
            "compiling 1/3: python (12.3 s), js (4.0 s)…"
        );
    }

    #[test]
    fn counts_finished_components() {
        let p = Progress::with_tty(2, false);
        p.start("api");
        p.start("web");
        let mut logged = 0;
        p.finish("api", || logged += 1);
        assert_eq!(p.state.lock().unwrap().done, 1);
        p.finish("web", || logged += 1);
        assert_eq!(logged, 2);
        let state = p.state.lock().unwrap();
        assert_eq!(state.done, 2);
        assert!(state.running.is_empty());
        drop(state);
        // Not a terminal: nothing is ever drawn.
        p.redraw();
        assert!(!p.state.lock().unwrap().drawn);
    }
}
