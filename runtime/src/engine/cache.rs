//! Precompiled components in the state dir, so a restart does not recompile.
//!
//! A cache file is named after the Micro and keyed by the engine's compatibility hash and the
//! SHA-256 of the component's bytes; a hit is mmapped with `Component::deserialize_file`.
//! A Micro whose `component` is already compiled (a `.cwasm`) bypasses the cache: it is
//! handed to [`super::precompiled`].
//! Serves the lifecycle and performance goals (S11 cold starts, fast restarts). It must not
//! load anything from outside `<state>/cache` itself, and never trusts a file it did not write
//! there (a file with a wrong key is ignored and rewritten). Cache files are owner-only.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::precompiled;

/// Whether a component came from the cache, was compiled now, or was given precompiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Precompiled,
}

/// A component ready to link, and what its bytes said about running it.
pub struct Loaded {
    pub component: Component,
    pub outcome: CacheOutcome,
    /// See [`super::inspect::one_request_per_instance`].
    pub one_request_per_instance: bool,
}

/// Loads `component` for `micro`: as it is when it is itself precompiled, else from
/// `<cache_dir>` when a matching artifact exists, else compiles it and writes the artifact
/// (atomically) for the next start.
pub fn load_component(
    engine: &Engine,
    micro: &str,
    component: &Path,
    cache_dir: &Path,
) -> Result<Loaded> {
    let bytes = std::fs::read(component).with_context(|| {
        format!(
            "micro `{micro}`: cannot read component {}",
            component.display()
        )
    })?;
    let (component, outcome) = match precompiled::detect(&bytes) {
        Some(kind) => (
            precompiled::load(engine, micro, component, &bytes, kind)?,
            CacheOutcome::Precompiled,
        ),
        None => load(engine, micro, component, &bytes, cache_dir)?,
    };
    Ok(Loaded {
        component,
        outcome,
        one_request_per_instance: super::inspect::one_request_per_instance(&bytes),
    })
}

fn load(
    engine: &Engine,
    micro: &str,
    component: &Path,
    bytes: &[u8],
    cache_dir: &Path,
) -> Result<(Component, CacheOutcome)> {
    let file = cache_dir.join(cache_file_name(engine, micro, bytes));
    if file.is_file() {
        // SAFETY: the file lives in our own state dir, was written by `serialize` below for
        // this exact engine configuration (its name carries the compatibility hash) and is
        // only replaced atomically by rename, never modified in place.
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(c) => return Ok((c, CacheOutcome::Hit)),
            Err(e) => tracing::warn!(
                micro,
                "ignoring unusable cache file {}: {e:#}",
                file.display()
            ),
        }
    }
    let compiled = Component::new(engine, bytes).map_err(|e| {
        anyhow::anyhow!(
            "micro `{micro}`: {} is not a valid component: {e:#}",
            component.display()
        )
    })?;
    if let Err(e) = store(&compiled, &file) {
        tracing::warn!(
            micro,
            "cannot write compile cache {}: {e:#}",
            file.display()
        );
    }
    Ok((compiled, CacheOutcome::Compiled))
}

fn cache_file_name(engine: &Engine, micro: &str, bytes: &[u8]) -> String {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{micro}-{:016x}-{hex}.cwasm", engine_hash.finish())
}

/// Writes a new file readable and writable by the owner only (0600 on unix): a `.cwasm` is
/// native code the runtime maps and runs, so no other user may replace or read it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

fn store(component: &Component, file: &Path) -> Result<()> {
    let dir = file.parent().context("cache file has no parent dir")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp: PathBuf = file.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp); // left by a crashed process with the same id
    write_private(&tmp, &component.serialize()?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("renaming to {}", file.display()))?;
    Ok(())
}
