//! Polyglot Micros (S15 in every language): `guest-examples/polyglot`, built once per run by
//! its own `build` commands (`micro-wasm build`) and served by the real binary. A Rust Micro
//! (the SDK), a Python one (componentize-py) and a JavaScript one (componentize-js) each serve
//! the same JSON API from the SQLite file in their code dir, fail to write it, and handle an
//! action; the Python one also uses Deta Base and Drive through `sdk/python/deta.py` (SPEC §11);
//! a fetch-event JavaScript Micro answers request after request with the default settings.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{BIN, Resp, Server, repo};

/// (Micro name, its path prefix, the language it reports).
const MICROS: [(&str, &str, &str); 3] = [
    ("rust", "", "rust"),
    ("python", "/py", "python"),
    ("js", "/js", "js"),
];

fn json(r: &Resp) -> serde_json::Value {
    assert_eq!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("application/json"),
        "{r:?}"
    );
    r.json()
}

/// `guest-examples/polyglot`, built once per test run with `micro-wasm build` (each
/// componentize-py build takes tens of seconds), with the cargo variables of the test run
/// removed so the build commands build as a user's would.
fn polyglot_app() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = repo().join("guest-examples/polyglot");
    BUILT.get_or_init(|| {
        let out = Command::new(BIN)
            .arg("build")
            .current_dir(&dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
        let output = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "micro-wasm build: {output}");
        assert!(
            output.contains("[python]") && output.contains("[js]"),
            "the builds' output is prefixed with the Micro's name: {output}"
        );
    });
    dir
}

/// `micro-wasm run` of the built polyglot app, with its state in `state`.
fn serve(state: &tempfile::TempDir) -> Server {
    let dir = polyglot_app();
    let state_dir = state.path().display().to_string();
    Server::start_in(
        &dir,
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state_dir],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn polyglot_micros_serve_read_their_database_refuse_writes_and_handle_actions() {
    let dir = repo().join("guest-examples/polyglot");
    let state = tempfile::tempdir().unwrap();
    let srv = serve(&state);
    for (micro, prefix, language) in MICROS {
        let r = srv.get(&format!("{prefix}/")).await;
        assert_eq!(r.status, 200, "{micro}: {}", r.text());
        assert_eq!(
            json(&r),
            serde_json::json!({"micro": micro, "language": language})
        );

        let r = srv.get(&format!("{prefix}/quotes")).await;
        assert_eq!(r.status, 200, "{micro}: {}", r.text());
        let quotes = json(&r);
        let ids: Vec<i64> = quotes
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3, 4], "{micro}: {quotes}");

        let r = srv.get(&format!("{prefix}/quotes/2")).await;
        assert_eq!(r.status, 200, "{micro}: {}", r.text());
        assert_eq!(json(&r)["author"], "Alan Kay", "{micro}");
        assert_eq!(
            srv.get(&format!("{prefix}/quotes/99")).await.status,
            404,
            "{micro}"
        );
        let r = srv.get(&format!("{prefix}/quotes/abc")).await;
        assert_eq!(
            (r.status, json(&r)["error"].clone()),
            (400, "bad id".into()),
            "{micro}"
        );

        let db = dir.join(micro).join("quotes.db");
        let before = std::fs::read(&db).unwrap();
        let r = srv
            .post(
                &format!("{prefix}/quotes"),
                r#"{"author":"me","text":"mine"}"#,
            )
            .await;
        assert_eq!(r.status, 403, "{micro}: {}", r.text());
        let body = json(&r);
        assert_eq!(body["error"], "read-only", "{micro}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("read-only"),
            "{micro}: {body}"
        );
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{micro}: the database is unchanged"
        );
        assert_eq!(
            srv.get(&format!("{prefix}/quotes"))
                .await
                .json()
                .as_array()
                .unwrap()
                .len(),
            4
        );

        assert_eq!(
            srv.get(&format!("{prefix}/last-action")).await.status,
            404,
            "{micro}"
        );
        // The dashboard's Run now: the action is delivered to the running Micro.
        let run = srv
            .send(
                Request::post(format!("/__space/actions/{micro}-tick/run"))
                    .header("x-space-dashboard", "1")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(run.status, 200, "{micro}: {}", run.text());
        let r = srv.get(&format!("{prefix}/last-action")).await;
        assert_eq!(r.status, 200, "{micro}: {}", r.text());
        assert_eq!(json(&r)["id"], format!("{micro}-tick"), "{micro}");
    }
    // A componentize-js Micro in the classic fetch-event style works with the default
    // settings: StarlingMonkey answers one event per instance, micro-wasm gives each request
    // a fresh one (it said so once, at load).
    for i in 0..50 {
        let r = srv.get(&format!("/fetch/n{i}")).await;
        assert_eq!(
            (r.status, r.text()),
            (200, format!("hello from fetch /n{i}")),
            "request {i}"
        );
    }
    assert!(
        srv.stderr().contains("fetch-event style"),
        "the decision is logged"
    );
}

async fn put(srv: &Server, path: &str, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let req = Request::put(path)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap();
    srv.send(req).await
}

/// The Python Micro's `/items` and `/files` routes call `Deta().Base("items")` and
/// `Deta().Drive("files")` (sdk/python/deta.py over `wasi:http`), which micro-wasm answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_micro_uses_deta_base_and_drive_through_deta_py() {
    let state = tempfile::tempdir().unwrap();
    let srv = serve(&state);
    for (key, n) in [("fruit-apple", 1), ("fruit-pear", 2), ("veg-leek", 3)] {
        let r = srv
            .post(
                "/py/items",
                format!(r#"{{"key":"{key}","n":{n},"tags":["a"]}}"#),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(json(&r)["key"], key);
    }
    let r = srv.post("/py/items", r#"{"n":4}"#).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let generated = json(&r)["key"].as_str().unwrap().to_string();
    assert!(!generated.is_empty(), "put without a key generates one");

    let r = srv.get("/py/items/fruit-pear").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json(&r),
        serde_json::json!({"key": "fruit-pear", "n": 2, "tags": ["a"]})
    );
    assert_eq!(srv.get("/py/items/nope").await.status, 404);

    let r = srv.get("/py/items?prefix=fruit-").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = json(&r);
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["fruit-apple", "fruit-pear"], "{page}");
    assert_eq!(
        (page["count"].clone(), page["last"].clone()),
        (2.into(), serde_json::Value::Null)
    );

    // Non-UTF-8 bytes, larger than one read of the response stream.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = put(
        &srv,
        "/py/files/data.bin",
        "application/octet-stream",
        file.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(json(&r)["size"], file.len());
    let r = srv.get("/py/files/data.bin").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == file, "the file comes back byte for byte");
    assert_eq!(srv.get("/py/files/absent").await.status, 404);
}
