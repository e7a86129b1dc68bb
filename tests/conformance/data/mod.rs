//! Deta Base and Drive served by micro-wasm (SPEC §11): every operation and its errors, both
//! from outside (`/__space/v0/{base,drive}/v1/<project>/…` with `X-API-Key`) and from a guest
//! (the probe's `/deta/…` route sends the same request to `database.deta.sh` /
//! `drive.deta.sh`, which the runtime answers in process); data shared by the app's Micros,
//! kept across restarts, sleep and SIGKILL, and exported and imported by `micro-wasm data`.
//! Base is here, Drive in `drive.rs`, lasting data in `lasting.rs`. Every test runs twice: on
//! the embedded store and on PostgreSQL (`--store`, the database named by
//! `MICRO_WASM_TEST_PG`; see `tests/pg.sh`). Two nodes on one database: `nodes.rs`
//! (a node killed and the database restarted under them: `nodes/faults.rs`).

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::harness::{AppDir, Resp, Server, probe_app};

/// Which store a test's app keeps its data in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Store {
    Embedded,
    Postgres,
}

/// The variable naming the test database (`tests/pg.sh start` prints it).
const TEST_PG_VAR: &str = "MICRO_WASM_TEST_PG";

/// The test database's URL. Unset: a failure in CI (`CI` set), else a loud skip (None).
fn test_pg_url() -> Option<String> {
    match std::env::var(TEST_PG_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "{TEST_PG_VAR} is not set: start a database with `eval \"$(bash tests/pg.sh start)\"`"
            )
        }
        _ => {
            eprintln!(
                "SKIPPED (no PostgreSQL): {TEST_PG_VAR} is not set; run `eval \"$(bash tests/pg.sh start)\"` to test the PostgreSQL store"
            );
            None
        }
    }
}

impl Store {
    /// The arguments `run` and `data` take for this store (none when embedded). For
    /// PostgreSQL the app gets a name of its own first (the database is shared by all tests
    /// and an app is known there by its name); calling it again keeps that name. None: skip.
    fn args(self, app: &AppDir) -> Option<Vec<String>> {
        if self == Store::Embedded {
            return Some(Vec::new());
        }
        let url = test_pg_url()?;
        let toml = std::fs::read_to_string(app.manifest()).unwrap();
        if toml.contains("name = \"t\"\n") {
            let nonce = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let unique = format!("name = \"t-{}-{nonce:x}\"\n", std::process::id());
            let toml = toml.replacen("name = \"t\"\n", &unique, 1);
            std::fs::write(app.manifest(), toml).unwrap();
        }
        Some(vec!["--store".to_string(), url])
    }
}

/// Runs each named `async fn(Store)` as two tests, `embedded::NAME` and `postgres::NAME`.
macro_rules! both_stores {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {
        mod embedded {
            $(
                $(#[$m])*
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::Store::Embedded).await
                }
            )*
        }
        mod postgres {
            $(
                $(#[$m])*
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(super::Store::Postgres).await
                }
            )*
        }
    };
}

/// The two ways in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    Outside,
    Guest,
}

const WAYS: [Way; 2] = [Way::Outside, Way::Guest];

/// A served app and the Data Key its Micros get.
struct Data {
    srv: Server,
    key: String,
}

impl Data {
    /// Serves `app` with `args` (the store's, see [`Store::args`]).
    async fn start(app: &AppDir, args: &[String]) -> Data {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let srv = app.serve(&args);
        let key = srv.get("/env").await.json()["DETA_PROJECT_KEY"]
            .as_str()
            .unwrap()
            .to_string();
        Data { srv, key }
    }

    fn project(&self) -> &str {
        self.key.split('_').next().unwrap()
    }

    /// `method` `rest` (after `/v1/<project>/`) of `api` (`base` or `drive`), the way `way`
    /// goes. Without an `x-api-key` in `headers`, the Micro's own key is used (added here from
    /// outside, by the probe from inside).
    async fn call_with(
        &self,
        way: Way,
        api: &str,
        method: &str,
        rest: &str,
        body: impl Into<Bytes>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let uri = match way {
            Way::Outside => format!("/__space/v0/{api}/v1/{}/{rest}", self.project()),
            Way::Guest => format!("/deta/{api}/{rest}"),
        };
        let mut req = Request::builder().method(method).uri(uri);
        let keyed = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-api-key"));
        if way == Way::Outside && !keyed {
            req = req.header("x-api-key", &self.key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.srv
            .send(req.body(Full::new(body.into())).unwrap())
            .await
    }

    async fn call(&self, way: Way, api: &str, method: &str, rest: &str, body: Value) -> Resp {
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        self.call_with(way, api, method, rest, body, &[]).await
    }

    async fn base(&self, way: Way, method: &str, rest: &str, body: Value) -> Resp {
        self.call(way, "base", method, rest, body).await
    }
}

/// Asserts a Deta error body (`{"errors": [...]}`) with `status`, one message containing
/// `needle`.
fn assert_errors(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let j = r.json();
    let errors = j["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {j}"));
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains(&needle.to_lowercase())),
        "{needle:?} in {j}"
    );
}

async fn base_operations_from_outside_and_from_a_guest(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    for way in WAYS {
        let b = format!("{way:?}").to_lowercase();
        // put: 207 with the stored items, keys generated where missing.
        let r = d
            .base(
                way,
                "PUT",
                &format!("{b}/items"),
                json!({"items": [{"key": "a", "n": 1, "p": {"r": 0}}, {"n": 2}]}),
            )
            .await;
        assert_eq!(r.status, 207, "{way:?} {}", r.text());
        let items = r.json()["processed"]["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        let generated = items[1]["key"].as_str().unwrap();
        assert_eq!(generated.len(), 12, "{generated}");
        // get, and 404 with the key.
        let r = d
            .base(way, "GET", &format!("{b}/items/a"), Value::Null)
            .await;
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"key": "a", "n": 1, "p": {"r": 0}}))
        );
        let r = d
            .base(way, "GET", &format!("{b}/items/nope"), Value::Null)
            .await;
        assert_eq!((r.status, r.json()), (404, json!({"key": "nope"})));
        // insert: 201, then 409 on the same key.
        let r = d
            .base(
                way,
                "POST",
                &format!("{b}/items"),
                json!({"item": {"key": "i", "x": true}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let r = d
            .base(
                way,
                "POST",
                &format!("{b}/items"),
                json!({"item": {"key": "i"}}),
            )
            .await;
        assert_errors(&r, 409, "key already exists");
        // update with every operation and a dotted path; 404 for a missing key.
        let ops = json!({"set": {"p.q": 1}, "increment": {"n": 2}, "append": {"l": [1]},
                         "prepend": {"m": [0]}, "delete": ["x"]});
        let r = d
            .base(way, "PATCH", &format!("{b}/items/a"), ops.clone())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = d
            .base(way, "GET", &format!("{b}/items/a"), Value::Null)
            .await;
        assert_eq!(
            r.json(),
            json!({"key": "a", "n": 3, "p": {"r": 0, "q": 1}, "l": [1], "m": [0]})
        );
        let r = d.base(way, "PATCH", &format!("{b}/items/zz"), ops).await;
        assert_errors(&r, 404, "key not found");
        // delete: 200 whether or not the key exists.
        for key in ["i", "never"] {
            let r = d
                .base(way, "DELETE", &format!("{b}/items/{key}"), Value::Null)
                .await;
            assert_eq!((r.status, r.json()), (200, json!({"key": key})));
        }
        // __expires: a past expiry is never stored; a future one is kept and returned.
        let r = d
            .base(way, "PUT", &format!("{b}/items"), json!({"items": [{"key": "old", "__expires": 1}, {"key": "new", "__expires": 4_000_000_000u64}]}))
            .await;
        assert_eq!(r.status, 207);
        let r = d
            .base(way, "GET", &format!("{b}/items/old"), Value::Null)
            .await;
        assert_eq!(r.status, 404);
        let r = d
            .base(way, "GET", &format!("{b}/items/new"), Value::Null)
            .await;
        assert_eq!(r.status, 200);
    }
}

async fn base_queries_page_and_filter(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"key": format!("k{i:02}"), "n": i, "tag": if i % 2 == 0 { "even" } else { "odd" }}))
        .collect();
    let r = d
        .base(Way::Outside, "PUT", "q/items", json!({"items": items}))
        .await;
    assert_eq!(r.status, 207);
    for way in WAYS {
        // Paging: 4 + 4 + 2 in key order, `last` absent on the final page.
        let (mut last, mut seen) = (Value::Null, Vec::new());
        loop {
            let r = d
                .base(
                    way,
                    "POST",
                    "q/query",
                    json!({"query": [{"tag": "even"}, {"n?gte": 7}], "limit": 2, "last": last}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            let page = r.json();
            for item in page["items"].as_array().unwrap() {
                seen.push(item["n"].as_i64().unwrap());
            }
            match page["paging"].get("last") {
                Some(l) => last = l.clone(),
                None => break,
            }
        }
        assert_eq!(seen, [0, 2, 4, 6, 7, 8, 9], "{way:?}");
        // Operators, descending order, prefix on the key, a missing field matches nothing.
        let r = d
            .base(
                way,
                "POST",
                "q/query",
                json!({"query": [{"key?pfx": "k0", "n?r": [3, 5]}], "sort": "desc"}),
            )
            .await;
        let ns: Vec<i64> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, [5, 4, 3]);
        let r = d
            .base(
                way,
                "POST",
                "q/query",
                json!({"query": [{"missing?lt": 3}]}),
            )
            .await;
        assert_eq!(r.json()["items"], json!([]));
        // Bad queries are 400 with Deta's error body.
        let r = d
            .base(way, "POST", "q/query", json!({"query": [{"n?bogus": 1}]}))
            .await;
        assert_errors(&r, 400, "");
        let r = d.base(way, "POST", "q/query", json!({"limit": 0})).await;
        assert_errors(&r, 400, "limit");
    }
}

async fn hostile_base_input_is_a_clear_400_and_stores_nothing(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let deep = (0..200).fold(json!(1), |v, _| json!({ "a": v }));
    let too_many: Vec<Value> = (0..26).map(|i| json!({"key": format!("m{i}")})).collect();
    for way in WAYS {
        let cases: Vec<(&str, &str, Bytes)> = vec![
            ("PUT", "h/items", Bytes::from_static(b"{not json")),
            (
                "PUT",
                "h/items",
                Bytes::from(json!({"items": too_many}).to_string()),
            ),
            (
                "PUT",
                "h/items",
                Bytes::from(json!({"items": [{"key": 5}]}).to_string()),
            ),
            (
                "PUT",
                "h/items",
                Bytes::from(json!({"items": [{"key": "d"}, {"key": "d"}]}).to_string()),
            ),
            (
                "PUT",
                "h/items",
                Bytes::from(json!({"items": [{"key": "x".repeat(5000)}]}).to_string()),
            ),
            (
                "PUT",
                "h/items",
                Bytes::from(json!({"items": [{"key": "deep", "v": deep}]}).to_string()),
            ),
            (
                "PUT",
                "h/items",
                Bytes::from(
                    json!({"items": [{"key": "big", "v": "x".repeat(500_000)}]}).to_string(),
                ),
            ),
            (
                "PUT",
                "..%2Fescape/items",
                Bytes::from(json!({"items": [{"key": "e"}]}).to_string()),
            ),
            (
                "PATCH",
                "h/items/m0",
                Bytes::from(json!({"set": {"key": "other"}}).to_string()),
            ),
        ];
        for (method, rest, body) in cases {
            let r = d.call_with(way, "base", method, rest, body, &[]).await;
            assert!(
                r.status == 400 || r.status == 404,
                "{way:?} {method} {rest}: {} {}",
                r.status,
                r.text()
            );
            if way == Way::Guest && rest.contains("%2F") {
                // The front door refuses an ambiguous path before any guest (SPEC §4).
                assert_eq!(r.json()["error"], "bad_request", "{}", r.text());
            } else {
                assert!(r.json()["errors"].is_array(), "{}", r.text());
            }
        }
        let r = d.base(way, "POST", "h/query", json!({})).await;
        assert_eq!(r.json()["items"], json!([]), "nothing was stored");
    }
    assert_eq!(d.srv.get("/__space/health").await.status, 200);
}

async fn a_wrong_or_missing_data_key_is_401(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let wrong = format!("{}_{}", d.project(), "x".repeat(32));
    for (way, key) in [
        (Way::Outside, wrong.as_str()),
        (Way::Outside, ""),
        (Way::Outside, "other_0123456789abcdefghij0123456789ab"),
        (Way::Guest, wrong.as_str()),
    ] {
        let headers = [("x-api-key", key)];
        let r = d
            .call_with(way, "base", "GET", "b/items/a", Bytes::new(), &headers)
            .await;
        assert_errors(&r, 401, "");
    }
    // No key at all from outside.
    let uri = format!("/__space/v0/base/v1/{}/b/items/a", d.project());
    assert_errors(&d.srv.get(&uri).await, 401, "");
    // A project id that is not this app's, with a valid key.
    let r = d
        .srv
        .send(
            Request::get("/__space/v0/drive/v1/zzzzzzzz/d/files")
                .header("x-api-key", &d.key)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_errors(&r, 401, "");
}

both_stores!(
    base_operations_from_outside_and_from_a_guest,
    base_queries_page_and_filter,
    hostile_base_input_is_a_clear_400_and_stores_nothing,
    a_wrong_or_missing_data_key_is_401
);

mod drive;
mod lasting;
mod nodes;
