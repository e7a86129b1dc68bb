//! Polyglot Micros (S15 in every language): `guest-examples/polyglot`, built once per run by
//! its own `build` commands (`micro-wasm build`) and served by the real binary. A Rust Micro
//! (the SDK), a Python one (componentize-py) and a JavaScript one (componentize-js) each serve
//! the same JSON API from the SQLite file in their code dir, fail to write it, and handle an
//! action; the Python and JavaScript ones also use Deta Base and Drive through
//! `sdk/python/deta.py` and `sdk/js/deta.js` (SPEC §11; what the JS one stores is read back
//! from outside with its Data Key); a fetch-event JavaScript Micro answers request after
//! request with the default settings. Large random bodies go through each SDK's readers and
//! writers (`POST /echo`, a Drive upload and download) and come back byte for byte.

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{Resp, Server, build_app, repo};

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
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let (dir, output) = build_app(
                "guest-examples/polyglot",
                "It needs componentize-py 0.25.1 and Node.js with npm (tests/tools.sh).",
            );
            assert!(
                output.contains("[python]") && output.contains("[js]"),
                "the builds' output is prefixed with the Micro's name: {output}"
            );
            dir
        })
        .clone()
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
    let r = srv
        .send_typed(
            "PUT",
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

/// Every SDK reads and writes bodies through `wasi:io` streams in pieces as large as the host
/// permits (`check-write`, 1 MiB reads): random bytes, of sizes around the 64 KiB write budget
/// and over 1 MiB, none a multiple of 4096, come back exactly from `POST /echo` (request read,
/// response written) in every language, and from a Drive upload and download in Python and
/// JavaScript (sdk/python/deta.py writes the outgoing body and reads the answer).
#[tokio::test(flavor = "multi_thread")]
async fn large_random_bodies_cross_each_sdk_byte_for_byte() {
    let state = tempfile::tempdir().unwrap();
    let srv = serve(&state);
    let large = (1 << 20) + 4093;
    let mut random = vec![0u8; large];
    rand::fill(&mut random[..]);
    for (micro, prefix, _) in MICROS {
        for size in [0, 1, 65_535, 65_537, large] {
            let body = random[..size].to_vec();
            let r = srv
                .send_typed(
                    "POST",
                    &format!("{prefix}/echo"),
                    "application/x-random",
                    body.clone(),
                )
                .await;
            assert_eq!(r.status, 200, "{micro}: {}", r.text());
            assert_eq!(r.headers["content-type"], "application/x-random", "{micro}");
            assert_eq!(
                r.headers["content-length"],
                size.to_string().as_str(),
                "{micro}"
            );
            assert!(r.body == body, "{micro}: {size} bytes echoed byte for byte");
        }
    }
    for prefix in ["/py", "/js"] {
        let path = format!("{prefix}/files/random.bin");
        let r = srv
            .send_typed("PUT", &path, "application/octet-stream", random.clone())
            .await;
        assert_eq!(
            (r.status, json(&r)["size"].clone()),
            (201, large.into()),
            "{}",
            r.text()
        );
        let r = srv.get(&path).await;
        assert_eq!((r.status, r.body.len()), (200, large), "{prefix}");
        assert!(
            r.body == random,
            "{prefix}: the file comes back byte for byte"
        );
    }
}

/// componentize-py keeps a copy of every byte a Python guest writes (sdk/python/README.md), so
/// a Python Micro's memory grows by each response body. Under a 96 MiB limit, 4 MiB echoes
/// would reach it after about 20 requests; the runtime does not keep an instance grown past
/// three quarters of the limit warm, so all 40 answer in full from fresh instances.
#[tokio::test(flavor = "multi_thread")]
async fn s6_a_python_micro_that_keeps_what_it_writes_is_replaced_before_the_memory_limit() {
    let built = polyglot_app().join("python");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            "[app]\nname = \"leak\"\n\n[limits]\nmemory = \"96MiB\"\n\n[[micro]]\n\
             name = \"python\"\nprimary = true\nsrc = '{}'\ncomponent = '{}'\n",
            built.display(),
            built.join("quotes.wasm").display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state").display().to_string();
    let srv = Server::start_in(
        dir.path(),
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state],
    );
    let mut body = vec![0u8; 4 << 20];
    rand::fill(&mut body[..]);
    for i in 0..40 {
        let r = srv
            .send_typed("POST", "/echo", "application/octet-stream", body.clone())
            .await;
        assert_eq!(r.status, 200, "echo {i}: {}", r.text());
        assert!(r.body == body, "echo {i}: the body comes back whole");
    }
    let status = srv.get("/__space/status").await.json();
    let cold = status["micros"][0]["cold_starts"].as_u64().unwrap();
    assert!(cold >= 2, "instances were replaced: {status}");
}

/// `method` `path` with a JSON body.
async fn send_json(srv: &Server, method: &str, path: &str, body: serde_json::Value) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    srv.send(req).await
}

/// The keys of a page's `items`.
fn keys(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

/// The JavaScript Micro's `/js/items` and `/js/files` routes call `Deta().Base("js-items")` and
/// `Deta().Drive("js-files")` (sdk/js/deta.js over the engine's `fetch()`), which micro-wasm
/// answers in process; what they stored is then read from outside with the Micro's Data Key.
#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_micro_uses_deta_base_and_drive_through_deta_js() {
    use serde_json::json as j;
    let state = tempfile::tempdir().unwrap();
    let srv = serve(&state);
    // put (with a key, and without: generated), get, 404.
    for (key, n) in [
        ("fruit-apple", 1),
        ("fruit-fig", 2),
        ("fruit-pear", 3),
        ("veg-leek", 4),
    ] {
        let item = j!({"key": key, "n": n, "tags": ["a"], "gone": true});
        let r = send_json(&srv, "POST", "/js/items", item.clone()).await;
        assert_eq!((r.status, json(&r)), (201, item), "{}", r.text());
    }
    let r = send_json(&srv, "POST", "/js/items", j!({"n": 0})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let generated = json(&r)["key"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 12, "a generated key: {generated}");
    let r = srv.get("/js/items/fruit-fig").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json(&r),
        j!({"key": "fruit-fig", "n": 2, "tags": ["a"], "gone": true})
    );
    assert_eq!(srv.get("/js/items/nope").await.status, 404);

    // insert: a new key is stored, an existing one is a 409 that deta.js surfaces.
    let r = send_json(
        &srv,
        "POST",
        "/js/items/insert",
        j!({"key": "veg-kale", "n": 5}),
    )
    .await;
    assert_eq!((r.status, json(&r)), (201, j!({"key": "veg-kale", "n": 5})));
    let r = send_json(
        &srv,
        "POST",
        "/js/items/insert",
        j!({"key": "veg-leek", "n": 9}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let body = json(&r);
    assert_eq!(body["status"], 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("already exists"),
        "{body}"
    );
    assert_eq!(
        srv.get("/js/items/veg-leek").await.json()["n"],
        4,
        "unchanged"
    );

    // update: increment, append, trim; a missing key is 404.
    let r = srv
        .send(
            Request::patch("/js/items/fruit-pear?by=5&tag=b")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json(&r),
        j!({"key": "fruit-pear", "n": 8, "tags": ["a", "b"]})
    );
    let r = srv
        .send(
            Request::patch("/js/items/nope")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // fetch: a query, paged two at a time; ORed queries on a field.
    let prefix = j!({"key?pfx": "fruit-"});
    let r = send_json(
        &srv,
        "POST",
        "/js/items/fetch",
        j!({"query": prefix, "limit": 2}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = json(&r);
    assert_eq!(keys(&page), ["fruit-apple", "fruit-fig"], "{page}");
    assert_eq!((&page["count"], &page["last"]), (&j!(2), &j!("fruit-fig")));
    let more = j!({"query": prefix, "limit": 2, "last": "fruit-fig"});
    let page = json(&send_json(&srv, "POST", "/js/items/fetch", more).await);
    assert_eq!(keys(&page), ["fruit-pear"], "{page}");
    assert_eq!(page.get("last"), None, "the last page has no last: {page}");
    let ored = j!({"query": [{"n?gte": 3, "key?pfx": "fruit-"}, {"key": "veg-leek"}]});
    let page = json(&send_json(&srv, "POST", "/js/items/fetch", ored).await);
    assert_eq!(keys(&page), ["fruit-pear", "veg-leek"], "{page}");

    // delete.
    let r = srv
        .send(
            Request::delete("/js/items/fruit-apple")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.get("/js/items/fruit-apple").await.status, 404);

    // Drive: bytes; a file put by path (/tmp); one over 10 MiB, so in two parts.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = srv
        .send_typed(
            "PUT",
            "/js/files/data.bin",
            "application/octet-stream",
            file.clone(),
        )
        .await;
    assert_eq!(
        (r.status, json(&r)["size"].clone()),
        (201, j!(300_000)),
        "{}",
        r.text()
    );
    let r = srv
        .send_typed("PUT", "/js/files/notes.txt?via=path", "text/plain", "hello")
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let big = (10 << 20) + 7;
    let r = srv
        .post(&format!("/js/files/big.bin/generate?bytes={big}"), "")
        .await;
    assert_eq!(
        (r.status, json(&r)["size"].clone()),
        (201, j!(big)),
        "{}",
        r.text()
    );
    let r = srv.get("/js/files/data.bin").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == file, "the file comes back byte for byte");
    let r = srv.get("/js/files/notes.txt").await;
    assert_eq!((r.status, r.text()), (200, "hello".to_string()));
    assert_eq!(r.headers["content-type"], "text/plain", "the type is kept");
    assert_eq!(srv.get("/js/files/absent").await.status, 404);
    let page = json(&srv.get("/js/files?limit=2").await);
    assert_eq!(page["names"], j!(["big.bin", "data.bin"]), "{page}");
    assert_eq!(page["paging"]["last"], "data.bin", "{page}");
    let page = json(&srv.get("/js/files?limit=2&last=data.bin").await);
    assert_eq!(page["names"], j!(["notes.txt"]), "{page}");
    let page = json(&srv.get("/js/files?prefix=no").await);
    assert_eq!(page["names"], j!(["notes.txt"]), "{page}");
    let r = srv
        .send(
            Request::delete("/js/files/data.bin")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!((r.status, json(&r)), (200, j!({"deleted": "data.bin"})));
    assert_eq!(srv.get("/js/files/data.bin").await.status, 404);

    // From outside, with the js Micro's Data Key (from the state dir): the app's Base and
    // Drive hold what the Micro wrote.
    let keys_file = std::fs::read_to_string(state.path().join("keys.json")).unwrap();
    let keys_file: serde_json::Value = serde_json::from_str(&keys_file).unwrap();
    let project = keys_file["app_id"].as_str().unwrap();
    let key = format!("{project}_{}", keys_file["micros"]["js"].as_str().unwrap());
    let outside = |method: &str, rest: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(format!("/__space/v0/{rest}").replace("{p}", project))
            .header("x-api-key", &key)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    let r = srv
        .send(outside("POST", "base/v1/{p}/js-items/query", "{}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut stored = keys(&r.json());
    stored.sort();
    let mut expected = vec![
        "fruit-fig",
        "fruit-pear",
        "veg-kale",
        "veg-leek",
        &generated,
    ];
    expected.sort();
    assert_eq!(stored, expected);
    let r = srv
        .send(outside("GET", "base/v1/{p}/js-items/items/fruit-pear", ""))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, j!({"key": "fruit-pear", "n": 8, "tags": ["a", "b"]}))
    );
    let r = srv
        .send(outside("GET", "drive/v1/{p}/js-files/files", ""))
        .await;
    assert_eq!(
        r.json()["names"],
        j!(["big.bin", "notes.txt"]),
        "{}",
        r.text()
    );
    let r = srv
        .send(outside(
            "GET",
            "drive/v1/{p}/js-files/files/download?name=big.bin",
            "",
        ))
        .await;
    assert_eq!((r.status, r.body.len()), (200, big));
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8),
        "the two parts make the file"
    );
}
