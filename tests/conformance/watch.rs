//! `micro-wasm run --watch` (SPEC §8): a Micro is rebuilt and swapped when its sources
//! change, requests in flight finish on the old component, and a failed build or compile
//! keeps the old one serving.
//!
//! The Micro's build command copies one of two prebuilt components (the probe and the hello
//! example) to its component path, picked by the file `code/which`, so no test compiles a
//! guest while the server waits.

use std::sync::Arc;
use std::time::Duration;

use crate::harness::{AppDir, Server, guest};

/// A cold compile of a small component on a busy machine.
const COMPILE: Duration = Duration::from_secs(60);
/// A reload whose component is already in the compile cache, or a failing one.
const RELOAD: Duration = Duration::from_secs(10);

fn app() -> AppDir {
    let app = watched(
        "[limits]\ntimeout = \"10s\"\n",
        r#"cp "$(cat which)" ../app.wasm"#,
    );
    app.write("code/which", guest("probe").display().to_string());
    app
}

/// An app of one Micro `web` serving `app.wasm` (the probe to begin with) from `code/`,
/// rebuilt by `build`, with `extra` manifest text after `[app]`.
fn watched(extra: &str, build: &str) -> AppDir {
    let app = AppDir::new(&format!(
        "[app]\nname = \"w\"\n\n{extra}\n[[micro]]\nname = \"web\"\ncomponent = \"app.wasm\"\n\
         src = \"code\"\nbuild = '{build}'\n"
    ));
    std::fs::copy(guest("probe"), app.path().join("app.wasm")).unwrap();
    app
}

/// Points the build at `path` (the file is rewritten: a change of its sources).
fn switch(app: &AppDir, path: &std::path::Path) {
    app.write("code/which", path.display().to_string());
}

fn count(srv: &Server, needle: &str) -> usize {
    srv.stderr().matches(needle).count()
}

/// Waits until `needle` has appeared `n` times in the server's stderr.
fn wait_for(srv: &Server, needle: &str, n: usize, timeout: Duration) {
    assert!(
        srv.wait_output(timeout, |out| out.matches(needle).count() >= n),
        "no {n}× `{needle}` within {timeout:?}:\n{}",
        srv.stderr()
    );
}

async fn greeting(srv: &Server) -> String {
    let r = srv.get("/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_rebuilds_and_swaps_without_dropping_requests() {
    let app = app();
    let srv = Arc::new(app.serve(&["--watch"]));
    assert_eq!(srv.get("/counter").await.text(), "1");

    // A source change rebuilds: the hello component is compiled and swapped in.
    switch(&app, &guest("hello"));
    wait_for(&srv, "[web] reloaded (generation 2, ", 1, COMPILE);
    assert_eq!(greeting(&srv).await, "Hello from web!\n");

    // Back to the probe (served from the compile cache): fresh instances of the new generation.
    switch(&app, &guest("probe"));
    wait_for(&srv, "[web] reloaded (generation 3, ", 1, RELOAD);
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(srv.get("/counter").await.text(), "2", "kept warm");

    // A request in flight across a swap finishes on the old component.
    let slow_srv = srv.clone();
    let inflight = tokio::spawn(async move { slow_srv.get("/sleep?ms=3000").await });
    srv.wait_in_flight(1).await;
    switch(&app, &guest("hello"));
    wait_for(&srv, "[web] reloaded (generation 4, ", 1, RELOAD);
    assert!(
        !inflight.is_finished(),
        "the slow request ended before the swap:\n{}",
        srv.stderr()
    );
    assert_eq!(greeting(&srv).await, "Hello from web!\n");
    let slow = inflight.await.unwrap();
    assert_eq!((slow.status, slow.text().as_str()), (200, "slept"));
    // Its instance (old generation) was dropped, not kept warm for hello's requests.
    assert_eq!(greeting(&srv).await, "Hello from web!\n");

    // The build succeeds but its output is no component: the error is logged, hello serves on.
    let text = app.write("not-a-component.txt", "just text\n");
    switch(&app, &text);
    wait_for(
        &srv,
        "[web] reload failed, still serving generation 4",
        1,
        RELOAD,
    );
    assert!(
        srv.stderr().contains("is not a valid component"),
        "{}",
        srv.stderr()
    );
    assert_eq!(greeting(&srv).await, "Hello from web!\n");

    // The build command fails: the error is logged, hello serves on.
    switch(&app, &app.path().join("missing.wasm"));
    wait_for(
        &srv,
        "[web] reload failed, still serving generation 4",
        2,
        RELOAD,
    );
    assert!(srv.stderr().contains("build command"), "{}", srv.stderr());
    assert_eq!(greeting(&srv).await, "Hello from web!\n");
    assert_eq!(count(&srv, "[web] reloaded"), 3, "{}", srv.stderr());
}

/// A build may replace the whole code dir (`rm -rf` and copy back): after the reload, `/app`
/// is the new dir, not the removed one the old instances had open.
#[tokio::test(flavor = "multi_thread")]
async fn watch_reload_sees_a_code_dir_the_build_replaced() {
    let app = watched("", "cd .. && rm -rf code && cp -r next code");
    app.write("code/version.txt", "v1");
    app.write("next/version.txt", "v2");
    let srv = app.serve(&["--watch"]);
    let version = || async { srv.get("/read?path=/app/version.txt").await.text() };
    assert_eq!(version().await, "v1");

    app.write("code/version.txt", "edited");
    wait_for(&srv, "[web] reloaded (generation 2, ", 1, COMPILE);
    assert_eq!(version().await, "v2");
}
