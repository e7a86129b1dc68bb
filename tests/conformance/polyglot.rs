//! Polyglot Micros (S15 in every language): `guest-examples/polyglot`, built by its own
//! `build` commands (`run --build`) and served by the real binary. A Rust Micro (the SDK), a
//! Python one (componentize-py) and a JavaScript one (componentize-js) each serve the same
//! JSON API from the SQLite file in their code dir, fail to write it, and handle an action;
//! a fetch-event JavaScript Micro answers request after request with the default settings.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{Resp, Server, repo};

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

#[tokio::test(flavor = "multi_thread")]
async fn polyglot_micros_serve_read_their_database_refuse_writes_and_handle_actions() {
    let dir = repo().join("guest-examples/polyglot");
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().display().to_string();
    let srv = Server::start_in(
        &dir,
        &[
            "run",
            "--build",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            &state_dir,
        ],
    );
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
    assert!(
        srv.wait_output(Duration::from_secs(5), |o| o.contains("[python]")
            && o.contains("[js]")),
        "the builds' output is prefixed with the Micro's name"
    );
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
