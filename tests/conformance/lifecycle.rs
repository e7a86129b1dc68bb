//! SPEC §7 and S11: warm reuse, fresh instances, sleep when idle, and restarts from the
//! compile cache.

use std::time::Duration;

use crate::harness::probe_app;

/// Sequential requests to `path` (a `/counter` route) count 1, 2, 3: one warm instance.
async fn counts_on_one_instance(path: &str) {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    for want in ["1", "2", "3"] {
        assert_eq!(srv.get(path).await.text(), want, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_warm_instance_keeps_globals_between_requests() {
    counts_on_one_instance("/counter").await;
}

/// A guest that goes on working after its response is complete keeps its instance: the
/// response's last bytes leave only when `handle` returns, so the next request finds the
/// instance back in the pool (as under Lambda) instead of racing it to a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn s11_a_guest_working_after_its_response_keeps_its_instance() {
    counts_on_one_instance("/counter?linger_ms=40").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_reuse_false_gives_a_fresh_instance_per_request() {
    let app = probe_app("", "reuse = false");
    let srv = app.serve(&[]);
    for _ in 0..3 {
        assert_eq!(srv.get("/counter").await.text(), "1");
    }
}

/// A request that made an instance and then failed is still a cold start: its access line
/// says so, as the cold-start counter counts it.
#[tokio::test(flavor = "multi_thread")]
async fn s11_a_cold_start_that_fails_is_logged_cold() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    srv.get("/panic")
        .await
        .assert_error(502, "trap", Some("probe"));
    assert!(
        srv.wait_output(Duration::from_secs(2), |o| o
            .contains(r#"path="/panic" status=502 start="cold""#)),
        "{}",
        srv.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_a_trapped_instance_is_never_reused() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(srv.get("/counter").await.text(), "2");
    srv.get("/panic")
        .await
        .assert_error(502, "trap", Some("probe"));
    assert_eq!(
        srv.get("/counter").await.text(),
        "1",
        "the trapped instance came back"
    );
    srv.get("/loop")
        .await
        .assert_error(504, "timeout", Some("probe"));
    assert_eq!(
        srv.get("/counter").await.text(),
        "1",
        "the timed-out instance came back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_concurrent_requests_get_distinct_instances() {
    let app = probe_app("timeout = \"5s\"", "");
    let srv = std::sync::Arc::new(app.serve(&[]));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let srv = srv.clone();
            tokio::spawn(async move { srv.get("/sleep?ms=500").await.status })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    let status = srv.get("/__space/status").await.json();
    assert_eq!(status["micros"][0]["warm_instances"], 3, "{status}");
    assert_eq!(status["micros"][0]["cold_starts"], 3, "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s11_idle_micro_sleeps_drops_instances_and_wipes_tmp() {
    let app = probe_app("sleep_after = \"1s\"", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(srv.get("/counter").await.text(), "2");
    assert_eq!(
        srv.get("/write?path=/tmp/state.txt&bytes=100").await.status,
        200
    );
    let host_tmp = app.path().join(".micro-wasm/tmp/probe");
    assert!(host_tmp.join("state.txt").exists());
    assert!(
        srv.wait_output(Duration::from_secs(5), |o| o.contains("going to sleep")),
        "{}",
        srv.stderr()
    );
    let status = srv.get("/__space/status").await.json();
    assert_eq!(status["micros"][0]["awake"], false, "{status}");
    assert_eq!(status["micros"][0]["warm_instances"], 0, "{status}");
    assert!(!host_tmp.join("state.txt").exists(), "/tmp was not wiped");
    // The next request wakes it: a cold start with fresh globals and an empty /tmp.
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(srv.get("/read?path=/tmp/state.txt").await.status, 404);
    assert!(srv.stderr().contains("waking up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_loads_components_from_the_compile_cache() {
    let app = probe_app("", "");
    let first = app.serve(&[]);
    assert!(
        first.stderr().contains("component compiled"),
        "{}",
        first.stderr()
    );
    drop(first);
    let second = app.serve(&[]);
    let log = second.stderr();
    assert!(
        log.contains("component loaded from cache") && !log.contains("component compiled"),
        "{log}"
    );
    assert_eq!(second.get("/counter").await.text(), "1");
}
