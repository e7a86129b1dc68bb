//! Tests of the data service through [`DataService::handle`], each run on both stores (a real
//! SQLite database in a temp dir, and a fresh app in the real PostgreSQL database named by
//! `MICRO_WASM_TEST_PG`, see `tests/pg.sh`): authentication, every Base operation and its
//! errors, expiry with a controlled clock, durability across reopening. Queries are in
//! `queries.rs` and `parity.rs`, Drive tests in `drive.rs`, the SIGKILL test (SQLite) in
//! `durable.rs`; `place.rs` says where each test's data lives.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};

use super::*;

mod drive;
mod durable;
mod parity;
mod place;
mod queries;

pub use place::{Backend, Place};

pub const PID: &str = "a0pid";
pub const KEY: &str = "a0pid_s3cret";
pub const T0: i64 = 1_700_000_000;

pub type TestBody =
    StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Runs each named `async fn(Backend)` as two tests, `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

/// An embedded service in `dir`, its clock at [`T0`].
pub fn open(dir: &Path, cap: u64) -> DataService {
    let svc =
        DataService::open_embedded(dir, PID, vec!["other_key".into(), KEY.into()], cap).unwrap();
    svc.set_now(T0);
    svc
}

/// A request body sent as these frames.
pub fn frames(parts: Vec<Bytes>) -> TestBody {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
        parts.into_iter().map(|b| Ok(Frame::data(b))).collect();
    StreamBody::new(futures::stream::iter(frames))
}

pub fn request(method: Method, uri: &str, body: TestBody) -> Request<TestBody> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", KEY)
        .body(body)
        .unwrap()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub frames: usize,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

pub async fn send(svc: &DataService, api: Api, req: Request<TestBody>) -> Answer {
    let res = svc.handle(api, req).await;
    let (parts, mut body) = res.into_parts();
    let mut bytes = Vec::new();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames += 1;
            bytes.extend_from_slice(&data);
        }
    }
    let answer = Answer {
        status: parts.status,
        headers: parts.headers,
        body: bytes.into(),
        frames,
    };
    if !answer.status.is_success() {
        // Every failure is a JSON body.
        let _ = answer.json();
    }
    answer
}

pub async fn base(svc: &DataService, method: Method, path: &str, body: Value) -> Answer {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let uri = format!("/v1/{PID}/things{path}");
    send(
        svc,
        Api::Base,
        request(method, &uri, frames(vec![bytes.into()])),
    )
    .await
}

pub async fn put(svc: &DataService, items: Value) -> Answer {
    base(svc, Method::PUT, "/items", json!({ "items": items })).await
}

pub async fn fetch(svc: &DataService, body: Value) -> Value {
    let a = base(svc, Method::POST, "/query", body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.json()
}

fn err(a: &Answer) -> (StatusCode, String) {
    (a.status, a.json()["errors"][0].as_str().unwrap().to_owned())
}

#[test]
fn handle_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), 1 << 30);
    let fut = svc.handle(Api::Base, request(Method::GET, "/", frames(vec![])));
    assert_send(&fut);
}

async fn auth(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let unauthorized = json!({ "errors": ["Unauthorized"] });
    let cases = [
        (None, format!("/v1/{PID}/things/items/a")),
        (Some("a0pid_wrong"), format!("/v1/{PID}/things/items/a")),
        (Some("other_key"), format!("/v1/{PID}/things/items/a")),
        (Some(KEY), "/v1/zzpid/things/items/a".to_string()),
    ];
    for (key, uri) in cases {
        let mut req = Request::builder().method(Method::GET).uri(&uri);
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        let a = send(&svc, Api::Base, req.body(frames(vec![])).unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{key:?} {uri}");
        assert_eq!(a.json(), unauthorized);
    }
    let a = base(&svc, Method::GET, "/items/a", Value::Null).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

async fn put_get_delete(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let a = put(
        &svc,
        json!([{"key":"a","n":1}, {"name":"gen"}, {"key":"a/b c","v":[1,{"x":null}]}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::MULTI_STATUS);
    let body = a.json();
    assert_eq!(body["failed"], json!({"items": []}));
    let items = body["processed"]["items"].as_array().unwrap();
    assert_eq!(items[0], json!({"key":"a","n":1}));
    let generated = items[1]["key"].as_str().unwrap();
    assert_eq!(generated.len(), 12);
    assert!(
        generated
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );

    let got = base(
        &svc,
        Method::GET,
        &format!("/items/{generated}"),
        Value::Null,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), json!({"key": generated, "name": "gen"}));
    let got = base(&svc, Method::GET, "/items/a%2Fb%20c", Value::Null).await;
    assert_eq!(got.json()["v"], json!([1, {"x": null}]));

    // Put replaces.
    put(&svc, json!([{"key":"a","n":2}])).await;
    assert_eq!(
        base(&svc, Method::GET, "/items/a", Value::Null)
            .await
            .json(),
        json!({"key":"a","n":2})
    );

    let del = base(&svc, Method::DELETE, "/items/a", Value::Null).await;
    assert_eq!(
        (del.status, del.json()),
        (StatusCode::OK, json!({"key":"a"}))
    );
    let del = base(&svc, Method::DELETE, "/items/never", Value::Null).await;
    assert_eq!(
        (del.status, del.json()),
        (StatusCode::OK, json!({"key":"never"}))
    );
    let missing = base(&svc, Method::GET, "/items/a", Value::Null).await;
    assert_eq!(
        (missing.status, missing.json()),
        (StatusCode::NOT_FOUND, json!({"key":"a"}))
    );
}

async fn put_rejects_and_stores_nothing(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let many: Vec<Value> = (0..26).map(|i| json!({"key": format!("k{i}")})).collect();
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!([deep]);
    }
    let bad = [
        json!(many),
        json!([{"key":"ok"}, {"key": 5}]),
        json!([{"key":"d"}, {"key":"d"}]),
        json!([{"key":"ok"}, {"key":"big","v":"x".repeat(410 * 1024)}]),
        json!([{"key":"ok"}, "not an object"]),
        json!([{"key":"ok"}, {"key": "k".repeat(1025)}]),
        json!([{"key":"ok"}, {"key": ""}]),
        json!([{"key":"ok"}, {"key":"deep","v": deep}]),
        json!([{"key":"ok","__expires":"soon"}]),
        json!([]),
        json!({"key":"x"}),
    ];
    for items in bad {
        let a = put(&svc, items.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.json());
        assert!(a.json()["errors"][0].is_string());
    }
    // Malformed JSON, wrong shapes, a body over 16 MB.
    for raw in [&b"{not json"[..], b"[]", b"{\"items\":5}", b""] {
        let a = send(
            &svc,
            Api::Base,
            request(
                Method::PUT,
                &format!("/v1/{PID}/things/items"),
                frames(vec![Bytes::copy_from_slice(raw)]),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    let huge = vec![
        Bytes::from(vec![b' '; 8 << 20]),
        Bytes::from(vec![b' '; 8 << 20]),
        Bytes::from_static(b"  "),
    ];
    let a = send(
        &svc,
        Api::Base,
        request(
            Method::PUT,
            &format!("/v1/{PID}/things/items"),
            frames(huge),
        ),
    )
    .await;
    assert_eq!(err(&a).0, StatusCode::BAD_REQUEST);
    assert!(err(&a).1.contains("16 MB"));
    // Hostile Base names.
    for name in ["%2e%2e", "a%2Fb", "a..b", "%00"] {
        let uri = format!("/v1/{PID}/{name}/items");
        let body = frames(vec![Bytes::from_static(br#"{"items":[{"key":"x"}]}"#)]);
        let a = send(&svc, Api::Base, request(Method::PUT, &uri, body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{name}");
    }
    let a = send(
        &svc,
        Api::Base,
        request(Method::PUT, &format!("/v1/{PID}//items"), frames(vec![])),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(fetch(&svc, json!({})).await["paging"]["size"], 0);
    assert!(svc.summary().await.unwrap().bases.is_empty());
    // Unknown routes and methods.
    assert_eq!(
        base(&svc, Method::GET, "/nothing", Value::Null)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        base(&svc, Method::GET, "/items", Value::Null).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

async fn insert_and_conflict(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let a = base(
        &svc,
        Method::POST,
        "/items",
        json!({"item": {"key":"i","v":1}}),
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::CREATED, json!({"key":"i","v":1}))
    );
    let a = base(
        &svc,
        Method::POST,
        "/items",
        json!({"item": {"key":"i","v":2}}),
    )
    .await;
    assert_eq!(err(&a), (StatusCode::CONFLICT, "Key already exists".into()));
    let a = base(&svc, Method::POST, "/items", json!({"item": {"v":3}})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.json()["key"].as_str().unwrap().len(), 12);
    let a = base(&svc, Method::POST, "/items", json!({"nope": 1})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // An expired item does not block an insert.
    put(&svc, json!([{"key":"e","__expires": T0 + 5}])).await;
    svc.set_now(T0 + 5);
    let a = base(&svc, Method::POST, "/items", json!({"item": {"key":"e"}})).await;
    assert_eq!(a.status, StatusCode::CREATED);
}

async fn update_ops(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    put(
        &svc,
        json!([{"key":"u","n":1,"p":{"age":3},"tags":["b"],"old":true}]),
    )
    .await;
    let upd = json!({"set":{"p.name":"x"},"increment":{"n":2,"p.age":1},"append":{"tags":["c"]},
                     "prepend":{"tags2":"z"},"delete":["old"]});
    let a = base(&svc, Method::PATCH, "/items/u", upd).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"key":"u","set":{"p.name":"x"},"delete":["old"]})
    );
    let item = base(&svc, Method::GET, "/items/u", Value::Null)
        .await
        .json();
    assert_eq!(
        item,
        json!({"key":"u","n":3,"p":{"age":4,"name":"x"},"tags":["b","c"],"tags2":["z"]})
    );

    let a = base(&svc, Method::PATCH, "/items/none", json!({"set":{"a":1}})).await;
    assert_eq!(err(&a), (StatusCode::NOT_FOUND, "Key not found".into()));
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!({ "d": deep });
    }
    let bad = [
        json!({"set":{"deep": deep}}),
        json!({"set":{"key":"v"}}),
        json!({"set":{"a":1},"delete":["a"]}),
        json!({"set":{"missing.x":1}}),
        json!({"increment":{"tags":1}}),
        json!({"append":{"n":1}}),
        json!({"set":{"__expires":"x"}}),
        json!({"set":{"big":"x".repeat(410 * 1024)}}),
        json!("nope"),
    ];
    for upd in bad {
        let a = base(&svc, Method::PATCH, "/items/u", upd.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{upd}");
    }
    // A failed update changed nothing.
    assert_eq!(
        base(&svc, Method::GET, "/items/u", Value::Null)
            .await
            .json(),
        item
    );
}

async fn expiry(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    put(&svc, json!([{"key":"past","v":0}])).await;
    // A past expiry deletes at once and is never stored.
    let a = put(
        &svc,
        json!([{"key":"past","__expires": T0 - 1}, {"key":"soon","__expires": T0 + 10, "v":1},
                             {"key":"later","__expires": (T0 + 100) as f64 + 0.5}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::MULTI_STATUS);
    assert_eq!(
        base(&svc, Method::GET, "/items/past", Value::Null)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        base(&svc, Method::GET, "/items/soon", Value::Null)
            .await
            .json()["__expires"],
        T0 + 10
    );
    // Updating other fields does not renew.
    let a = base(&svc, Method::PATCH, "/items/soon", json!({"set":{"v":2}})).await;
    assert_eq!(a.status, StatusCode::OK);
    svc.set_now(T0 + 10);
    assert_eq!(
        base(&svc, Method::GET, "/items/soon", Value::Null)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&svc, json!({})).await["items"],
        json!([{"key":"later","__expires": (T0 + 100) as f64 + 0.5}])
    );
    let a = base(&svc, Method::PATCH, "/items/soon", json!({"set":{"v":3}})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // `__expires` inside set sets it; deleting it makes the item permanent.
    let a = base(
        &svc,
        Method::PATCH,
        "/items/later",
        json!({"set":{"__expires": T0 + 20}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(svc.sweep_expired().await.unwrap(), 1);
    svc.set_now(T0 + 20);
    assert_eq!(svc.summary().await.unwrap().bases, vec![]);
    assert_eq!(svc.sweep_expired().await.unwrap(), 1);
    put(&svc, json!([{"key":"p","__expires": T0 + 25}])).await;
    base(
        &svc,
        Method::PATCH,
        "/items/p",
        json!({"delete":["__expires"]}),
    )
    .await;
    svc.set_now(T0 + 1000);
    assert_eq!(
        base(&svc, Method::GET, "/items/p", Value::Null)
            .await
            .json(),
        json!({"key":"p"})
    );
    // Setting a past expiry through update deletes the item.
    base(
        &svc,
        Method::PATCH,
        "/items/p",
        json!({"set":{"__expires": T0}}),
    )
    .await;
    assert_eq!(
        base(&svc, Method::GET, "/items/p", Value::Null)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn durable_across_reopen(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    {
        let svc = place.open(1 << 30).await;
        put(&svc, json!([{"key":"keep","v":[1,2,3]}])).await;
        base(
            &svc,
            Method::PATCH,
            "/items/keep",
            json!({"increment":{"c":1}}),
        )
        .await;
    }
    let svc = place.open(1 << 30).await;
    let got = base(&svc, Method::GET, "/items/keep", Value::Null).await;
    assert_eq!(got.json(), json!({"key":"keep","v":[1,2,3],"c":1}));
    let summary = svc.summary().await.unwrap();
    assert_eq!(
        summary.bases,
        vec![BaseSummary {
            name: "things".into(),
            items: 1
        }]
    );
}

/// NUL in a string: the embedded store keeps it; PostgreSQL cannot, so the write is a 400
/// naming the reason and stores nothing. A NUL in a query operand is checked item by item on
/// both stores.
async fn nul_in_strings(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let a = put(&svc, json!([{"key": "n", "s": "a\u{0}b"}])).await;
    let got = base(&svc, Method::GET, "/items/n", Value::Null).await;
    match b {
        Backend::Sqlite => {
            assert_eq!(a.status, StatusCode::MULTI_STATUS);
            assert_eq!(got.json()["s"], "a\u{0}b");
        }
        Backend::Postgres => {
            let (status, msg) = err(&a);
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(msg.contains("NUL"), "{msg}");
            assert_eq!(got.status, StatusCode::NOT_FOUND);
        }
    }
    put(&svc, json!([{"key": "plain", "s": "ab"}])).await;
    let page = fetch(&svc, json!({"query": [{"s?pfx": "a\u{0}"}, {"s": "ab"}]})).await;
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    let expected: &[&str] = match b {
        Backend::Sqlite => &["n", "plain"],
        Backend::Postgres => &["plain"],
    };
    assert_eq!(keys, expected);
}

on_both_stores!(
    auth,
    put_get_delete,
    put_rejects_and_stores_nothing,
    insert_and_conflict,
    update_ops,
    expiry,
    nul_in_strings,
    durable_across_reopen
);
