//! A Micro's `component` that is already compiled: a `.cwasm` made by `wasmtime compile`
//! (or `Engine::precompile_component`) of the same Wasmtime major version, with the settings
//! this engine runs with (SPEC §3, §8: it loads or the app does not start, exit 1).
//!
//! Detection is by content, never by file name: a Wasmtime artifact is an ELF file with
//! Wasmtime's own OS ABI, anything else is compiled as a `.wasm`. Wasmtime checks the
//! artifact's version, target, compiler flags, tunables and features against the engine
//! before using it; this module turns a refusal into an error naming the Micro, the file,
//! Wasmtime's reason and the flags that fit. It must not touch the compile cache (that is
//! [`super::cache`]): a precompiled component is loaded from the operator's file as it is.

use std::path::Path;

use anyhow::{Result, anyhow};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// The Wasmtime release line the runtime is built with. Wasmtime stamps its artifacts with
/// its major version and accepts only its own, so a precompiled component must come from a
/// Wasmtime 48.x. Checked against the engine's own artifacts by a unit test below.
pub const WASMTIME_MAJOR: &str = "48";

/// What `wasmtime compile` needs beyond its defaults to make an artifact this engine accepts.
/// Epoch interruption drives the timeout (S5); the others are on in the CLI's build of
/// Wasmtime but not compiled into this runtime's (no GC, no wasm threads, no async component
/// model), and an artifact made with them refuses to load.
pub const COMPILE_FLAGS: &str =
    "-W epoch-interruption=y,gc-support=n,concurrency-support=n,threads=n,exceptions=n";

/// Whether `bytes` are a Wasmtime artifact (of a component or of a core module).
pub fn detect(bytes: &[u8]) -> Option<Precompiled> {
    Engine::detect_precompiled(bytes)
}

/// Loads the precompiled component read from `path` (`bytes`, which `detect` recognised as
/// `kind`).
pub fn load(
    engine: &Engine,
    micro: &str,
    path: &Path,
    bytes: &[u8],
    kind: Precompiled,
) -> Result<Component> {
    if kind != Precompiled::Component {
        return Err(anyhow!(
            "micro `{micro}`: {} is a precompiled core module, not a component; give the \
             component (.wasm) or its `wasmtime compile` output",
            path.display()
        ));
    }
    // SAFETY: `deserialize` runs the artifact's native code without verifying it, so the
    // artifact must be trusted. This one is the operator's own deployed code, named by the
    // operator's app.toml in place of the `.wasm`, and trusted exactly as much as they are:
    // whoever can replace it can replace the `.wasm` or the app.toml. Wasmtime still checks
    // its version, target and settings against this engine first, which turns a stale or
    // foreign artifact into the error below instead of undefined behaviour. The bytes are
    // copied into memory the runtime owns (not mapped from the file, unlike the cache's
    // files), so an operator recompiling the file in place while it runs cannot change code
    // under a running instance. docs/spec.md (§3) and SECURITY.md tell operators this.
    unsafe { Component::deserialize(engine, bytes) }.map_err(|e| {
        anyhow!(
            "micro `{micro}`: precompiled component {} cannot be loaded: {e:#}; it must come \
             from `wasmtime compile {COMPILE_FLAGS}` of Wasmtime {WASMTIME_MAJOR}.x on this \
             kind of machine (or give the component's .wasm instead)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of the component binary format.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn the_documented_wasmtime_version_is_the_engines() {
        let engine = Engine::new(&super::super::compile_config()).unwrap();
        let artifact = engine.precompile_component(EMPTY_COMPONENT).unwrap();
        // The engine section: a format byte (0), the version's length, the version.
        let stamp = [&[0, WASMTIME_MAJOR.len() as u8], WASMTIME_MAJOR.as_bytes()].concat();
        assert!(
            artifact.windows(stamp.len()).any(|w| w == stamp.as_slice()),
            "the engine's artifacts are not stamped Wasmtime {WASMTIME_MAJOR}"
        );
        assert_eq!(detect(&artifact), Some(Precompiled::Component));
        assert_eq!(detect(EMPTY_COMPONENT), None);
    }
}
