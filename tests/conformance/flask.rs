//! The Flask example (`guest-examples/flask`, the README's "Moving a Space app"): a Flask
//! backend (Jinja pages, a JSON API, a scheduled action; notes in a Deta Base through
//! `sdk/python/deta.py`) served through the Python SDK's WSGI adapter, and a static frontend
//! (`sdk/python/space_static.py`). Built once per run by its own `build` commands, which
//! install Flask with pip (so they need the package index), and served by the real binary:
//! HTML and JSON, one warm instance for request after request, the Base kept across a
//! restart, and the action run by "Run now" and by `micro-wasm trigger`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{BIN, Resp, Server, build_app};

/// `guest-examples/flask`, built once per test run with `micro-wasm build`.
fn flask_app() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build_app(
                "guest-examples/flask",
                "Its backend's build installs Flask with `python3 -m pip install` (this needs \
                 the package index) and both builds need componentize-py 0.25.1 \
                 (tests/tools.sh installs it).",
            )
            .0
        })
        .clone()
}

fn serve(dir: &Path, state: &Path) -> Server {
    let state = state.display().to_string();
    Server::start_in(
        dir,
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state],
    )
}

fn content_type(r: &Resp) -> &str {
    r.headers
        .get("content-type")
        .map_or("", |v| v.to_str().unwrap())
}

async fn send(srv: &Server, method: &str, path: &str, ctype: &str, body: &str) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    srv.send(req).await
}

async fn add(srv: &Server, text: &str) -> String {
    let r = send(
        srv,
        "POST",
        "/api/notes",
        "application/json",
        &serde_json::json!({ "text": text }).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("/api/notes/{key}").as_str());
    key
}

async fn texts(srv: &Server) -> Vec<String> {
    let r = srv.get("/api/notes").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(content_type(&r), "application/json");
    let body = r.json();
    let notes = body["notes"].as_array().unwrap();
    assert_eq!(body["count"], notes.len());
    notes
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flask_example_serves_pages_and_json_keeps_its_base_and_runs_its_action() {
    let dir = flask_app();
    let state = tempfile::tempdir().unwrap();
    let srv = serve(&dir, state.path());

    // The static frontend (primary, at /) and its script.
    let r = srv.get("/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(content_type(&r), "text/html; charset=utf-8");
    assert!(r.text().contains("<script src=\"app.js\">"), "{}", r.text());
    let r = srv.get("/app.js").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("fetch(\"/api/notes\")"));
    assert_eq!(srv.get("/missing.css").await.status, 404);

    // The Flask page, rendered from templates/ at /app, with links under the Micro's path.
    let r = srv.get("/api/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(content_type(&r), "text/html; charset=utf-8");
    let page = r.text();
    assert!(page.contains("<title>Notes (0)</title>"), "{page}");
    assert!(page.contains("No notes yet."), "{page}");
    assert!(
        page.contains("action=\"/api/\""),
        "url_for sees SCRIPT_NAME: {page}"
    );
    assert!(page.contains("href=\"/api/notes\""), "{page}");

    // The JSON API on the Base.
    let milk = add(&srv, "buy milk").await;
    add(&srv, "write tests").await;
    add(&srv, "<b>bold</b>").await;
    let r = send(&srv, "POST", "/api/notes", "application/json", "[1]").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("text"));
    let r = send(
        &srv,
        "POST",
        "/api/",
        "application/x-www-form-urlencoded",
        "text=from+the+form",
    )
    .await;
    assert_eq!(
        (r.status, &r.headers["location"]),
        (303, &"/api/".parse().unwrap())
    );
    assert_eq!(
        texts(&srv).await,
        ["buy milk", "write tests", "<b>bold</b>", "from the form"]
    );
    let r = srv.get(&format!("/api/notes/{milk}")).await;
    assert_eq!(
        (r.status, r.json()["text"].as_str()),
        (200, Some("buy milk"))
    );
    let r = srv.get("/api/notes/nope").await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not found"))
    );
    let r = send(
        &srv,
        "PATCH",
        &format!("/api/notes/{milk}"),
        "application/json",
        r#"{"done": true}"#,
    )
    .await;
    assert_eq!(
        (r.status, &r.json()["done"]),
        (200, &true.into()),
        "{}",
        r.text()
    );

    let page = srv.get("/api/").await.text();
    assert!(page.contains("<title>Notes (4)</title>"), "{page}");
    assert!(
        page.contains("&lt;b&gt;bold&lt;/b&gt;"),
        "Jinja escapes: {page}"
    );
    assert!(!page.contains("<b>bold</b>"), "{page}");
    assert!(
        page.contains("<span class=\"done\">buy milk</span>"),
        "{page}"
    );

    // HEAD: the head of the page without its body.
    let head = srv
        .send(
            Request::head("/api/hello")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!((head.status, head.body.len()), (200, 0));

    // Warm reuse with the default settings: one instance answers request after request.
    let mut seen = Vec::new();
    for _ in 0..20 {
        let r = srv.get("/api/stats").await;
        assert_eq!(r.status, 200, "{}", r.text());
        seen.push(r.json()["instance_requests"].as_u64().unwrap());
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "each request found the same warm instance: {seen:?}"
    );

    // The action, by the dashboard's Run now on the running app.
    let run = srv
        .send(
            Request::post("/__space/actions/tidy/run")
                .header("x-space-dashboard", "1")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.text());
    assert_eq!(
        texts(&srv).await,
        ["write tests", "<b>bold</b>", "from the form"]
    );
    let stats = srv.get("/api/stats").await.json();
    assert_eq!(
        (&stats["notes"], &stats["last_tidy"]["removed"]),
        (&3.into(), &1.into())
    );
    assert!(
        srv.wait_output(std::time::Duration::from_secs(5), |o| o
            .contains("[backend] tidy: removed 1 done notes")),
        "the guest's print reaches the log: {}",
        srv.stdout()
    );
    let r = send(
        &srv,
        "PATCH",
        &format!("/api/notes/{}", note_key(&srv, "write tests").await),
        "application/json",
        r#"{"done": true}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    drop(srv);

    // With micro-wasm stopped: `micro-wasm trigger` on the same state dir runs it once more.
    let out = Command::new(BIN)
        .args(["trigger", "tidy", "--state-dir"])
        .arg(state.path())
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("200") && stdout.contains("\"removed\":1"),
        "{stdout}"
    );

    // Restarted on the same state dir: the Base kept the notes and the action's effect.
    let srv = serve(&dir, state.path());
    assert_eq!(texts(&srv).await, ["<b>bold</b>", "from the form"]);
    let stats = srv.get("/api/stats").await.json();
    assert_eq!((&stats["notes"], &stats["done"]), (&2.into(), &0.into()));
    assert_eq!(stats["last_tidy"]["removed"], 1);
    assert!(srv.get("/api/").await.text().contains("1 removed."));
}

async fn note_key(srv: &Server, text: &str) -> String {
    let body = srv.get("/api/notes").await.json();
    body["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["text"] == text)
        .map(|n| n["key"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no note {text:?} in {body}"))
}
