//! `micro-wasm run --watch` (SPEC §7, §8): one thread per Micro looks for changes to its
//! sources and component, rebuilds it with its `build` command, compiles the result with the
//! app's `Compiler` and swaps it in (`Micro::swap`) without dropping requests in flight.
//! A failed build or compile is logged and the old component keeps serving.
//!
//! Detection is portable polling of file sizes and modification times (every [`POLL`], every
//! [`SETTLE_POLL`] while a change is settling) rather than the `notify` crate: it needs no
//! extra dependency, behaves the same on every OS, file system and editor (atomic-rename
//! saves, network mounts, containers with no inotify), and a source tree of a few thousand
//! files is cheap to stat twice a second. A burst of saves becomes one rebuild: it runs once
//! nothing has changed for [`DEBOUNCE`].
//!
//! What is watched: for a Micro with a `build` command, its `src` dir (minus [`ignored`]
//! names and the state dir) and its component file; a change to the sources rebuilds, a
//! change to the component alone only reloads it. A Micro without `build` reloads when its
//! component file changes (its `src` is served live at `/app` and needs no reload). Files
//! that change while the Micro's own build runs are taken as that build's output, so a build
//! that writes into `src` cannot trigger itself forever.
//!
//! It owns the watcher threads and nothing else: it must not touch the request path (the
//! swap is `Micro`'s), run two builds of one Micro at once (each Micro's thread builds
//! synchronously), nor build or compile on the async executor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::app::App;
use crate::build;
use crate::manifest::Manifest;
use crate::micro::Micro;
use crate::sandbox::fs;
use crate::store::linker::{Compiler, Linked};

/// How often the files are looked at while nothing is happening.
pub const POLL: Duration = Duration::from_millis(500);
/// How often they are looked at once a change was seen, until it settles.
pub const SETTLE_POLL: Duration = Duration::from_millis(100);
/// How long nothing must change before a rebuild starts.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// Most files scanned in one `src` dir; beyond this the rest is not watched (logged once).
const MAX_FILES: usize = 20_000;

/// Directory names never scanned: build outputs, dependencies, caches.
const IGNORED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];
/// File name endings never watched: components, databases, editor backups.
const IGNORED_SUFFIXES: &[&str] = &[
    ".wasm",
    ".cwasm",
    ".db",
    ".db-journal",
    ".db-wal",
    ".db-shm",
    "~",
];

/// The running watcher threads; dropping this stops them (a build in progress finishes first).
pub struct Watcher {
    stop: Arc<AtomicBool>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One Micro as its watcher sees it.
struct Watched {
    micro: Arc<Micro>,
    files: Files,
}

/// Where one Micro's watched files are, and how it is built.
#[derive(Clone, Debug)]
struct Files {
    src: PathBuf,
    component: PathBuf,
    build: Option<String>,
    /// Never scanned, even when it lies inside `src`.
    state_dir: PathBuf,
}

/// Starts one watcher thread per Micro of `app` (loaded from `manifest`).
pub fn spawn(app: &App, manifest: &Manifest) -> Result<Watcher> {
    let stop = Arc::new(AtomicBool::new(false));
    for (m, micro) in manifest.micros.iter().zip(&app.micros) {
        let target = Watched {
            micro: micro.clone(),
            files: Files {
                src: canonical(&m.src),
                component: canonical(&m.component),
                build: m.build.clone(),
                state_dir: canonical(&app.state_dir),
            },
        };
        // The baseline is taken here, not in the thread: a change saved as soon as `spawn`
        // returns must not become part of it.
        let seen = Snapshot::take(&target.files);
        let compiler = app.compiler.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("watch-{}", m.name))
            .spawn(move || watch(&target, seen, &compiler, &stop))
            .with_context(|| format!("micro `{}`: starting its watcher thread", m.name))?;
    }
    tracing::info!(micros = app.micros.len(), "watching for changes");
    Ok(Watcher { stop })
}

/// `path` made absolute with symlinks resolved (as is, if that fails), so the state dir and
/// the component are recognised while scanning `src`.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The watcher loop of one Micro from the baseline `seen`, until `stop` is set.
fn watch(t: &Watched, mut seen: Snapshot, compiler: &Compiler, stop: &AtomicBool) {
    let files = &t.files;
    if seen.truncated {
        tracing::warn!(
            micro = %t.micro.name,
            "{} holds more than {MAX_FILES} watched files; only the first {MAX_FILES} are watched",
            files.src.display()
        );
    }
    let mut debounce = Debounce::new(DEBOUNCE);
    let mut pending = Changed::default();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(if debounce.is_pending() {
            SETTLE_POLL
        } else {
            POLL
        });
        let now = Snapshot::take(files);
        let changed = seen.changes(&now);
        seen = now;
        pending = pending.or(changed);
        if debounce.observe(changed.any(), Instant::now()) && !stop.load(Ordering::Relaxed) {
            reload(t, compiler, std::mem::take(&mut pending));
            // What the build wrote (or anything saved meanwhile) is the new baseline.
            seen = Snapshot::take(files);
        }
    }
}

/// Rebuilds (when sources changed) and recompiles the Micro, then swaps the new component
/// in; on failure logs why and keeps the old one.
fn reload(t: &Watched, compiler: &Compiler, changed: Changed) {
    let name = &t.micro.name;
    let rebuild = changed.sources && t.files.build.is_some();
    tracing::info!(
        micro = %name,
        "[{name}] change detected, {}",
        if rebuild { "rebuilding" } else { "reloading" }
    );
    let started = Instant::now();
    match prepare(t, compiler, rebuild) {
        Ok(pre) => {
            let generation = t.micro.swap(pre);
            let ms = started.elapsed().as_millis();
            tracing::info!(micro = %name, "[{name}] reloaded (generation {generation}, {ms} ms)");
        }
        Err(e) => tracing::error!(
            micro = %name,
            "[{name}] reload failed, still serving generation {}: {e:#}",
            t.micro.generation()
        ),
    }
}

/// Runs the build command (when `rebuild`), checks S16 and compiles the component.
fn prepare(t: &Watched, compiler: &Compiler, rebuild: bool) -> Result<Linked> {
    let (name, files) = (&t.micro.name, &t.files);
    if rebuild && let Some(cmd) = &files.build {
        build::build_one(name, &files.src, cmd)?;
    }
    fs::check_sizes(name, &files.src, &files.component)?;
    compiler.compile(name, &files.component)
}

/// Whether a directory entry named `name` is left out of the watch: hidden files and dirs
/// (`.git`, `.micro-wasm`, editor swap files), build outputs and dependency dirs, components,
/// databases and backups.
pub fn ignored(name: &str, is_dir: bool) -> bool {
    if name.starts_with('.') {
        return true;
    }
    if is_dir {
        IGNORED_DIRS.contains(&name)
    } else {
        IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
    }
}

/// What changed since the last look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Changed {
    /// A watched file under `src` appeared, disappeared or changed.
    sources: bool,
    /// The component file appeared, disappeared or changed.
    component: bool,
}

impl Changed {
    fn any(self) -> bool {
        self.sources || self.component
    }

    fn or(self, other: Changed) -> Changed {
        Changed {
            sources: self.sources || other.sources,
            component: self.component || other.component,
        }
    }
}

/// Size and modification time of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    }
}

/// The watched files of one Micro at one moment.
#[derive(Debug, Default)]
struct Snapshot {
    sources: BTreeMap<PathBuf, Stamp>,
    component: Option<Stamp>,
    /// More than [`MAX_FILES`] files were found; the rest were not looked at.
    truncated: bool,
}

impl Snapshot {
    fn take(files: &Files) -> Snapshot {
        let mut snap = Snapshot {
            component: std::fs::metadata(&files.component).ok().map(|m| stamp(&m)),
            ..Snapshot::default()
        };
        if files.build.is_some() {
            snap.scan(files);
        }
        snap
    }

    /// Records every watched file under `files.src`, not following symlinks; dirs that
    /// vanish while being read are skipped.
    fn scan(&mut self, files: &Files) {
        let mut stack = vec![files.src.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                let name = entry.file_name();
                if ignored(&name.to_string_lossy(), kind.is_dir())
                    || path == files.state_dir
                    || path == files.component
                {
                    continue;
                }
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    if self.sources.len() >= MAX_FILES {
                        self.truncated = true;
                        return;
                    }
                    if let Ok(meta) = entry.metadata() {
                        self.sources.insert(path, stamp(&meta));
                    }
                }
            }
        }
    }

    fn changes(&self, newer: &Snapshot) -> Changed {
        Changed {
            sources: self.sources != newer.sources,
            component: self.component != newer.component,
        }
    }
}

/// Turns a series of looks into one rebuild per burst of changes: it fires once a look finds
/// nothing new at least `quiet` after the last look that found a change.
#[derive(Debug)]
struct Debounce {
    quiet: Duration,
    last_change: Option<Instant>,
}

impl Debounce {
    fn new(quiet: Duration) -> Debounce {
        Debounce {
            quiet,
            last_change: None,
        }
    }

    fn is_pending(&self) -> bool {
        self.last_change.is_some()
    }

    /// Records one look at `now`; returns whether to rebuild now.
    fn observe(&mut self, changed: bool, now: Instant) -> bool {
        if changed {
            self.last_change = Some(now);
            return false;
        }
        match self.last_change {
            Some(at) if now.duration_since(at) >= self.quiet => {
                self.last_change = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
