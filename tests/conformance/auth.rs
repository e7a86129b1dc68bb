//! SPEC §4 auth: `auth = "api-key"`, public routes, and `micro-wasm keys`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{AppDir, Resp, Server};

fn app() -> AppDir {
    let app = AppDir::new(
        "[app]\nname = \"private\"\nauth = \"api-key\"\n\n\
         [[micro]]\nname = \"main\"\ncomponent = '{probe}'\nsrc = \"code\"\nprimary = true\npublic_routes = [\"/env\", \"/share/*\"]\n\n\
         [[micro]]\nname = \"open\"\ncomponent = '{probe}'\nsrc = \"code\"\npublic = true\n",
    );
    app.write("code/x.txt", "x");
    app
}

async fn with_key(srv: &Server, path: &str, key: &str) -> Resp {
    srv.send(
        Request::get(path)
            .header("x-space-app-key", key)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_protects_non_public_routes() {
    let app = app();
    let out = app.cli(&["keys", "create", "ci"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(key.len(), 40);
    let stored = std::fs::read_to_string(app.path().join(".micro-wasm/api_keys.json")).unwrap();
    assert!(!stored.contains(&key), "keys are stored hashed");
    let listed = app.cli(&["keys", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).starts_with("ci\t"));

    let srv = app.serve(&[]);
    srv.get("/counter")
        .await
        .assert_error(401, "unauthorized", Some("main"));
    with_key(&srv, "/counter", "wrong-key")
        .await
        .assert_error(401, "unauthorized", Some("main"));
    assert_eq!(with_key(&srv, "/counter", &key).await.status, 200);
    // Public routes and public Micros need no key.
    assert_eq!(srv.get("/env").await.status, 200);
    assert_eq!(
        srv.get("/share/nothing").await.text(),
        "no such probe route /share/nothing (micro main)\n"
    );
    assert_eq!(srv.get("/open/counter").await.status, 200);
    // Runtime endpoints: health is public, status is not.
    assert_eq!(srv.get("/__space/health").await.status, 200);
    srv.get("/__space/status")
        .await
        .assert_error(401, "unauthorized", None);
    assert_eq!(with_key(&srv, "/__space/status", &key).await.status, 200);
    // The key never reaches the guest.
    let echo = with_key(&srv, "/echo", &key).await.json();
    assert!(
        !echo["headers"].to_string().contains("x-space-app-key"),
        "{echo}"
    );

    // Revoking takes effect on the running app.
    assert_eq!(app.cli(&["keys", "revoke", "ci"]).status.code(), Some(0));
    let mut revoked = false;
    for _ in 0..40 {
        if with_key(&srv, "/counter", &key).await.status == 401 {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked, "a revoked key still works");
    assert_eq!(app.cli(&["keys", "revoke", "ci"]).status.code(), Some(2));
}

/// Paths that a guest's SDK may read as `/counter` (a private route) while they start with the
/// public `/share/`: a backslash, an encoded `\` or `/`, and encoded dots. None reaches the
/// guest without a key: the runtime refuses the ambiguous ones (400) and the rest need a key.
#[tokio::test(flavor = "multi_thread")]
async fn public_routes_cannot_be_escaped_with_backslashes_or_encoded_slashes() {
    let app = app();
    let srv = app.serve(&[]);
    for path in [
        "/share/..\\counter",
        "/share/..%5Ccounter",
        "/share/..%5ccounter",
        "/share/x\\..\\..\\counter",
        "/share/..%2Fcounter",
        "/share/..%2fcounter",
        "/share/x/..%2F..%2Fcounter",
        "/share/%2e%2e%2Fcounter",
        "/share/.%2e/counter",
        "/share/%2E%2E/counter",
        "/share/./../counter",
    ] {
        let r = srv.get(path).await;
        assert!(
            r.status == 400 || r.status == 401,
            "{path} reached the guest without a key: {} {}",
            r.status,
            r.text()
        );
        let kind = r.json()["error"].clone();
        assert!(
            kind == "bad_request" || kind == "unauthorized",
            "{path}: {kind}"
        );
    }
    // The public routes themselves still need no key, encoded slashes without dot segments
    // included.
    assert_eq!(
        srv.get("/share/nothing").await.text(),
        "no such probe route /share/nothing (micro main)\n"
    );
    assert_eq!(
        srv.get("/share/a%2Fb").await.text(),
        "no such probe route /share/a%2Fb (micro main)\n"
    );
}
