//! The example app (`guest-examples/app.toml`) on the real binary: the `notes` Micro keeps
//! its notes in a Deta Base and their attachments in a Deta Drive (SPEC §11), so both are
//! still there after the server restarts. And the body examples (`mirror`, `echo`) carry
//! multi-frame bodies intact.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::harness::{Resp, Server, guest, repo};

/// `micro-wasm run guest-examples/app.toml` with its data in `state`.
fn serve_examples(state: &std::path::Path) -> Server {
    guest("notes"); // builds guest-examples once per run
    let state = state.display().to_string();
    Server::start_in(
        &repo().join("guest-examples"),
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state],
    )
}

async fn send(srv: &Server, method: &str, path: &str, body: impl Into<Bytes>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    srv.send(req).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_notes_example_keeps_notes_and_attachments_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let srv = serve_examples(state.path());
    let r = srv.get("/notes/health").await;
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));

    let r = send(
        &srv,
        "POST",
        "/notes/",
        json!({"text": "buy milk"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let note = r.json();
    let key = note["key"].as_str().unwrap().to_string();
    assert_eq!(note["text"], "buy milk");
    let r = send(&srv, "POST", "/notes/", json!({"key": key}).to_string()).await;
    assert_eq!(
        r.status,
        409,
        "an existing key is not overwritten: {}",
        r.text()
    );
    assert_eq!(send(&srv, "POST", "/notes/", "[1]").await.status, 400);

    let r = send(&srv, "PATCH", &format!("/notes/{key}"), r#"{"done":true}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["done"], true);
    assert_eq!(
        send(&srv, "PATCH", "/notes/nope", r#"{"done":true}"#)
            .await
            .status,
        404
    );

    // 1 MiB of non-UTF-8 bytes, under the 5.5 MB payload limit.
    let file: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let r = srv
        .send_typed(
            "PUT",
            &format!("/notes/{key}/attachment"),
            "image/png",
            file.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"size": file.len(), "type": "image/png"}));

    let second = send(&srv, "POST", "/notes/", r#"{"text":"second"}"#).await;
    assert_eq!(second.status, 201);
    let r = srv.get("/notes/?limit=1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    assert_eq!(page["count"], 1, "{page}");
    let last = page["last"].as_str().expect("a second page").to_string();
    let next = srv
        .get(&format!("/notes/?limit=1&last={last}"))
        .await
        .json();
    assert_eq!(next["count"], 1, "{next}");
    assert_ne!(next["items"][0]["key"], page["items"][0]["key"], "{next}");

    drop(srv);
    let srv = serve_examples(state.path());

    let r = srv.get(&format!("/notes/{key}")).await;
    assert_eq!(r.status, 200, "the note after a restart: {}", r.text());
    let note = r.json();
    assert_eq!(
        (&note["text"], &note["done"], &note["attachment"]["size"]),
        (&json!("buy milk"), &json!(true), &json!(file.len())),
        "{note}"
    );
    let r = srv.get(&format!("/notes/{key}/attachment")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/png");
    assert!(
        r.body == file,
        "the attachment after a restart, byte for byte"
    );
    let all = srv.get("/notes/").await.json();
    assert_eq!(all["count"], 2, "{all}");

    let r = send(&srv, "DELETE", &format!("/notes/{key}"), "").await;
    assert_eq!(r.status, 204);
    assert_eq!(srv.get(&format!("/notes/{key}")).await.status, 404);
    assert_eq!(
        srv.get(&format!("/notes/{key}/attachment")).await.status,
        404
    );
    let all: Value = srv.get("/notes/").await.json();
    assert_eq!(all["count"], 1, "{all}");
}

/// The body benchmark guest (`guest-examples/mirror`, raw `wasi:http`, streaming) sends a body
/// back byte for byte with its length and type (read and written, or spliced by the host), and
/// generates downloads; the SDK echo reads a
/// body of several frames whole. Both write as `check-write` allows.
#[tokio::test(flavor = "multi_thread")]
async fn the_mirror_and_echo_examples_carry_bodies_byte_for_byte() {
    let toml = format!(
        "[app]\nname = \"bodies\"\n\n[[micro]]\nname = \"mirror\"\ncomponent = '{}'\nsrc = \"code\"\nprimary = true\n\n\
         [[micro]]\nname = \"echo\"\ncomponent = '{}'\nsrc = \"code\"\n",
        guest("mirror").display(),
        guest("echo").display()
    );
    let app = crate::harness::AppDir::new(&toml);
    app.write("code/.keep", "");
    let srv = app.serve(&[]);

    // 3 MiB of non-UTF-8 bytes: many frames each way, under the 5.5 MB payload limit.
    let sent: Vec<u8> = (0..3 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let r = srv
        .send_typed("POST", "/", "application/x-test", sent.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["content-type"], "application/x-test");
    assert_eq!(r.headers["content-length"], sent.len().to_string().as_str());
    assert_eq!(r.headers["x-mirror"], "read-write");
    assert!(r.body == sent, "{} bytes back, not the same", r.body.len());
    // The same through `splice`: the host moves the bytes without the guest reading them.
    let r = srv
        .send_typed("POST", "/splice", "application/x-test", sent.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["content-length"], sent.len().to_string().as_str());
    assert_eq!(r.headers["x-mirror"], "splice");
    assert!(
        r.body == sent,
        "{} bytes spliced back, not the same",
        r.body.len()
    );

    let r = srv.get("/download?bytes=300001").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), 300_001);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
    );

    let body = "é".repeat(100_000); // 200 000 bytes of UTF-8
    let r = send(&srv, "POST", "/echo/x?y=1", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let echoed = r.json();
    assert_eq!(echoed["path"], "/x?y=1");
    assert_eq!(echoed["body_len"], body.len());
    assert_eq!(echoed["body"], body[..64 * 1024]);
    // Bytes that are not UTF-8 come back as U+FFFD, each in its place.
    let r = srv
        .send_typed(
            "POST",
            "/echo/",
            "application/octet-stream",
            b"ok\xff\xc3!".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["body"], "ok\u{fffd}\u{fffd}!");
}
