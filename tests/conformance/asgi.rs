//! An ASGI app in a component: `tests/guests/starlette`, a Starlette app served through the
//! Python SDK's ASGI adapter (`sdk/python/space_asgi.py`), built once per run by its own
//! `build` command (pip installs Starlette and anyio, so it needs the package index). Async
//! and plain `def` endpoints, `asyncio.gather`, a background task, a streamed response, a
//! Deta Base call, `root_path` under a Micro's path, errors, the action, and warm reuse.

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{Server, build_app};

fn starlette_app() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build_app(
                "tests/guests/starlette",
                "It installs Starlette with `python3 -m pip install` (this needs the package \
                 index) and needs componentize-py 0.25.1 (tests/tools.sh installs it).",
            )
            .0
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_starlette_app_runs_on_the_asgi_adapter_with_asyncio_threads_and_streaming() {
    let dir = starlette_app();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().display().to_string();
    let srv = Server::start_in(
        &dir,
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state_dir],
    );

    // async endpoint: gather and sleeps on the adapter's loop; root_path per Micro.
    let r = srv.get("/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"root_path": "", "path": "/", "doubled": [2, 4, 6], "link": "/sync"})
    );
    let r = srv.get("/mounted/").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"root_path": "/mounted", "path": "/mounted/",
                           "doubled": [2, 4, 6], "link": "/mounted/sync"})
    );

    // A plain def endpoint and its background task (anyio.to_thread, run in place).
    let r = srv.get("/sync").await;
    assert_eq!((r.status, r.text()), (200, "sync".to_string()));
    let r = srv.get("/stream").await;
    assert_eq!(
        (r.status, r.text()),
        (200, "part 0\npart 1\npart 2\n".to_string()),
        "StreamingResponse runs in an anyio task group"
    );
    let r = srv.post("/echo", r#"{"x":[1,"two"]}"#).await;
    assert_eq!(r.json(), serde_json::json!({"got": {"x": [1, "two"]}}));
    let put = Request::put("/items/k1")
        .body(Full::new(Bytes::from_static(br#"{"n":7}"#)))
        .unwrap();
    let r = srv.send(put).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"key": "k1", "n": 7}));
    assert_eq!(srv.get("/items/none").await.status, 404);
    assert_eq!(srv.get("/missing").await.status, 404);

    // An endpoint that raises: Starlette's 500, the traceback in the Micro's log.
    let r = srv.get("/fail").await;
    assert_eq!(r.status, 500);
    assert!(
        srv.wait_output(std::time::Duration::from_secs(5), |o| o
            .contains("RuntimeError: a broken endpoint")),
        "{}",
        srv.stdout()
    );

    // The action reaches the app's route; the same warm instance saw everything.
    let run = srv
        .send(
            Request::post("/__space/actions/ping/run")
                .header("x-space-dashboard", "1")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.text());
    let stats = srv.get("/stats").await.json();
    assert_eq!(stats["background"], 1, "{stats}");
    assert_eq!(stats["last_action"]["id"], "ping", "{stats}");
    let first = stats["requests"].as_u64().unwrap();
    assert!(
        first >= 10,
        "one warm instance served the requests: {stats}"
    );
    let again = srv.get("/stats").await.json();
    assert_eq!(again["requests"].as_u64(), Some(first + 1), "{again}");
}
