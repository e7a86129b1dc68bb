//! The Hono example (`guest-examples/hono`): a small app on Hono, a widely used router for the
//! fetch API, bundled with esbuild and built by the JS SDK's `build.mjs` (componentize-js),
//! exported as `wasi:http/incoming-handler` through `sdk/js/space.js`'s `serve`. Built once
//! per run by its own `build` command (`micro-wasm build`: `npm ci` of hono and esbuild, so it
//! needs Node.js, npm and the package registry) and served by the real binary: text, JSON,
//! a path parameter, a JSON body, Hono's notFound, and one warm instance for request after
//! request (one cold start, counted by `/__space/status`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{Resp, Server, build_app};

/// `guest-examples/hono`, built once per test run with `micro-wasm build`.
fn hono_app() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let node = Command::new("node").arg("--version").output();
            assert!(
                node.is_ok_and(|o| o.status.success()),
                "guest-examples/hono needs Node.js 18+ with npm on PATH to build"
            );
            build_app(
                "guest-examples/hono",
                "Its build runs `npm ci` (hono and esbuild from its package-lock.json: this \
                 needs the npm registry), bundles app.js with esbuild and runs sdk/js/build.mjs, \
                 which installs componentize-js 0.23.0 on its first run (also from the registry).",
            )
            .0
        })
        .clone()
}

fn json_of(r: &Resp) -> serde_json::Value {
    let ctype = r.headers.get("content-type").map(|v| v.to_str().unwrap());
    assert!(
        ctype.is_some_and(|c| c.starts_with("application/json")),
        "{r:?}"
    );
    r.json()
}

/// The hono Micro's counters in `/__space/status`: (requests, cold starts, warm instances).
async fn counters(srv: &Server) -> (u64, u64, u64) {
    let status = srv.get("/__space/status").await.json();
    let micro = &status["micros"][0];
    assert_eq!(micro["name"], "hono", "{status}");
    let n = |k: &str| micro[k].as_u64().unwrap_or_else(|| panic!("{k}: {status}"));
    (n("requests"), n("cold_starts"), n("warm_instances"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hono_app_answers_its_routes_from_one_warm_instance() {
    let dir = hono_app();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().display().to_string();
    let srv = Server::start_in(
        &dir,
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state_dir],
    );

    let r = srv.get("/").await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello from hono"));
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{r:?}"
    );

    let r = srv.get("/hello/ada%20lovelace").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r), serde_json::json!({"hello": "ada lovelace"}));

    let body = r#"{"n":[1,2,3],"s":"é"}"#;
    let req = Request::post("/echo")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let r = srv.send(req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r),
        serde_json::json!({"echo": {"n": [1, 2, 3], "s": "é"}})
    );

    let r = srv.get("/no/such/route").await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        json_of(&r),
        serde_json::json!({"error": "not found", "path": "/no/such/route"})
    );

    // 50 sequential requests: all answered, by the same instance (its counter goes on).
    let mut served = Vec::new();
    for i in 0..50 {
        let r = srv.get("/json").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        let body = json_of(&r);
        assert_eq!(body["framework"], "hono", "{body}");
        served.push(body["served"].as_u64().unwrap());
    }
    assert_eq!(
        served,
        (1..=50).collect::<Vec<u64>>(),
        "one instance, reused"
    );

    let (requests, cold_starts, warm) = counters(&srv).await;
    eprintln!("hono: {requests} requests, {cold_starts} cold start(s), {warm} warm instance(s)");
    assert_eq!(requests, 54, "4 route checks + 50");
    assert_eq!(
        cold_starts, 1,
        "warm reuse: one cold start for {requests} requests"
    );
    assert_eq!(warm, 1);
    assert!(
        !srv.stderr().contains("fetch-event style") && !srv.stdout().contains("fetch-event style"),
        "micro-wasm must see the incomingHandler export: {}",
        srv.stderr()
    );
}
