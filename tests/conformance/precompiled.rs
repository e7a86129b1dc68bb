//! SPEC §3 `component` and §8 exit codes: a Micro's component may be precompiled (a `.cwasm`
//! of the same Wasmtime version, compiled with the runtime's settings); one made by another
//! version or with other settings stops the start with exit 1 and an error naming the Micro,
//! the file and the reason. The artifacts are made here with the wasmtime crate and the
//! runtime's own compile settings (`micro_wasm::compile_config`), as `wasmtime compile` with
//! the documented flags would make them.

use wasmtime::{Config, Engine, ModuleVersionStrategy};

use crate::harness::{AppDir, guest};

/// A one-Micro app whose component is `probe.cwasm`, compiled from the probe with `config`.
fn precompiled_app(config: &Config, module: bool) -> AppDir {
    let wasm = std::fs::read(guest("probe")).unwrap();
    let engine = Engine::new(config).unwrap();
    let artifact = if module {
        engine.precompile_module(&wat::parse_str("(module)").unwrap())
    } else {
        engine.precompile_component(&wasm)
    }
    .unwrap();
    let app = AppDir::new(
        "[app]\nname = \"t\"\n\n[[micro]]\nname = \"probe\"\ncomponent = \"probe.cwasm\"\nsrc = \"code\"\n",
    );
    app.write("probe.cwasm", artifact);
    app.write("code/hello.txt", "hello from /app\n");
    app
}

/// `micro-wasm run` of `app`, expected to fail at start: its exit code and stderr.
fn failed_start(app: &AppDir) -> (Option<i32>, String) {
    let manifest = app.manifest();
    app.cli_env(
        &["run", manifest.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_precompiled_component_serves_requests() {
    let app = precompiled_app(&micro_wasm::compile_config(), false);
    let srv = app.serve(&[]);
    let log = srv.stderr();
    assert!(log.contains("component loaded precompiled"), "{log}");
    assert!(!log.contains("component compiled"), "{log}");
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(srv.get("/counter").await.text(), "2", "kept warm");
    assert_eq!(
        srv.get("/read?path=/app/hello.txt").await.text(),
        "hello from /app\n"
    );
    // It is used as it is: nothing is compiled into the cache for it.
    let cache = app.path().join(".micro-wasm/cache");
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(cached.is_empty(), "{cached:?} in {}", cache.display());
}

#[test]
fn a_precompiled_component_of_another_wasmtime_version_is_refused() {
    let mut config = micro_wasm::compile_config();
    config
        .module_version(ModuleVersionStrategy::Custom("47.0.0".into()))
        .unwrap();
    let (code, err) = failed_start(&precompiled_app(&config, false));
    assert_eq!(code, Some(1), "{err}");
    for part in [
        "micro `probe`",
        "probe.cwasm",
        "incompatible version '47.0.0'",
        "of Wasmtime 48.x",
        "epoch-interruption=y",
    ] {
        assert!(err.contains(part), "missing {part:?}: {err}");
    }
}

#[test]
fn a_precompiled_component_with_other_settings_is_refused() {
    // What plain `wasmtime compile` (without the documented flags) gets wrong first: the
    // timeout needs epoch interruption compiled in.
    let mut config = micro_wasm::compile_config();
    config.epoch_interruption(false);
    let (code, err) = failed_start(&precompiled_app(&config, false));
    assert_eq!(code, Some(1), "{err}");
    for part in ["micro `probe`", "probe.cwasm", "without epoch interruption"] {
        assert!(err.contains(part), "missing {part:?}: {err}");
    }
}

#[test]
fn a_precompiled_core_module_is_not_a_component() {
    let (code, err) = failed_start(&precompiled_app(&micro_wasm::compile_config(), true));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("micro `probe`") && err.contains("precompiled core module, not a component"),
        "{err}"
    );
}
