//! Unit tests of `base`.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::client;
use crate::deta::fake::Fake;

const ROOT: &str = "https://database.deta.sh/v1/proj/users";

fn base() -> (Base, Arc<Fake>) {
    let fake = Fake::new();
    let mut base = Base::with_key("users", "proj_s3cr3t")
        .unwrap()
        .with_host(DEFAULT_HOST);
    base.service.set_transport(fake.clone());
    (base, fake)
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[test]
fn requests_carry_the_key() {
    let (db, fake) = base();
    fake.answer(200, r#"{"key":"a"}"#);
    db.get("a").unwrap();
    let request = &fake.requests()[0];
    assert_eq!(request.header_value("x-api-key"), Some("proj_s3cr3t"));
    assert_eq!(request.url, format!("{ROOT}/items/a"));
    assert!(!format!("{db:?}").contains("s3cr3t"));
}

#[test]
fn put_sends_one_item_and_returns_it() {
    let (db, fake) = base();
    fake.answer(
        207,
        r#"{"processed":{"items":[{"key":"gen123456789","n":1}]},"failed":{"items":[]}}"#,
    );
    let stored = db.put(json!({ "n": 1 })).unwrap();
    assert_eq!(stored, json!({ "key": "gen123456789", "n": 1 }));
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Put);
    assert_eq!(request.url, format!("{ROOT}/items"));
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(body(request), json!({ "items": [{ "n": 1 }] }));
}

#[test]
fn put_wraps_non_objects_and_sets_expiry() {
    let (db, fake) = base();
    fake.answer(207, r#"{"processed":{"items":[{"key":"k","value":"hi"}]}}"#);
    db.put("hi").unwrap();
    assert_eq!(
        body(&fake.requests()[0]),
        json!({ "items": [{ "value": "hi" }] })
    );

    fake.answer(207, r#"{"processed":{"items":[{"key":"k"}]}}"#);
    db.put_with(json!({ "key": "k" }), Expiry::At(1_700_000_000))
        .unwrap();
    assert_eq!(
        body(&fake.requests()[1]),
        json!({ "items": [{ "key": "k", "__expires": 1_700_000_000 }] })
    );

    fake.answer(207, r#"{"processed":{"items":[{"key":"k"}]}}"#);
    let before = unix_now();
    db.put_with(json!({ "key": "k" }), Expiry::In(60)).unwrap();
    let at = body(&fake.requests()[2])["items"][0]["__expires"]
        .as_u64()
        .unwrap();
    assert!(at >= before + 60 && at <= unix_now() + 60, "{at}");
}

#[test]
fn put_accepts_structs() {
    #[derive(Serialize)]
    struct User {
        key: String,
        age: u8,
    }
    let (db, fake) = base();
    fake.answer(207, r#"{"processed":{"items":[{"key":"bo","age":7}]}}"#);
    db.put(User {
        key: "bo".into(),
        age: 7,
    })
    .unwrap();
    assert_eq!(
        body(&fake.requests()[0]),
        json!({ "items": [{ "key": "bo", "age": 7 }] })
    );
}

#[test]
fn put_that_fails_an_item_is_an_error() {
    let (db, fake) = base();
    fake.answer(
        207,
        r#"{"processed":{"items":[]},"failed":{"items":[{"n":1}]}}"#,
    );
    assert!(matches!(db.put(json!({ "n": 1 })), Err(Error::Response(_))));
}

#[test]
fn put_many() {
    let (db, fake) = base();
    fake.answer(
        207,
        r#"{"processed":{"items":[{"key":"a"},{"key":"b","value":2}]},"failed":{"items":[]}}"#,
    );
    let stored = db.put_many([json!({ "key": "a" }), json!(2)]).unwrap();
    assert_eq!(stored.processed.len(), 2);
    assert!(stored.failed.is_empty());
    assert_eq!(
        body(&fake.requests()[0]),
        json!({ "items": [{ "key": "a" }, { "value": 2 }] })
    );

    fake.answer(207, r#"{"processed":{"items":[{"key":"a"}]}}"#);
    db.put_many_with([json!({ "key": "a" })], Expiry::At(5))
        .unwrap();
    assert_eq!(
        body(&fake.requests()[1]),
        json!({ "items": [{ "key": "a", "__expires": 5 }] })
    );

    let too_many: Vec<Value> = (0..26).map(|i| json!({ "n": i })).collect();
    assert!(matches!(db.put_many(too_many), Err(Error::Invalid(_))));
    assert!(matches!(
        db.put_many(Vec::<Value>::new()),
        Err(Error::Invalid(_))
    ));
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn put_many_400_is_bad_request() {
    let (db, fake) = base();
    fake.answer(400, r#"{"errors":["Duplicate keys"]}"#);
    assert_eq!(
        db.put_many([json!({ "key": "a" }), json!({ "key": "a" })]),
        Err(Error::BadRequest(vec!["Duplicate keys".into()]))
    );
}

#[test]
fn get_encodes_keys_and_maps_404_to_none() {
    let (db, fake) = base();
    fake.answer(404, r#"{"key":"a/b c"}"#);
    assert_eq!(db.get("a/b c").unwrap(), None);
    assert_eq!(fake.calls(), [format!("GET {ROOT}/items/a%2Fb%20c")]);

    fake.answer(200, r#"{"key":"x?y","age":3}"#);
    #[derive(Deserialize, PartialEq, Debug)]
    struct Item {
        key: String,
        age: u32,
    }
    let item: Item = db.get_as("x?y").unwrap().unwrap();
    assert_eq!(
        item,
        Item {
            key: "x?y".into(),
            age: 3
        }
    );
    assert_eq!(fake.requests()[1].url, format!("{ROOT}/items/x%3Fy"));

    assert!(matches!(db.get(""), Err(Error::Invalid(_))));

    fake.answer(500, "boom");
    assert_eq!(db.get("a"), Err(Error::Http(500, "boom".into())));
}

#[test]
fn insert() {
    let (db, fake) = base();
    fake.answer(201, r#"{"key":"a","n":1}"#);
    assert_eq!(db.insert(json!({ "key": "a", "n": 1 })).unwrap()["n"], 1);
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, format!("{ROOT}/items"));
    assert_eq!(body(request), json!({ "item": { "key": "a", "n": 1 } }));

    fake.answer(409, r#"{"errors":["Key already exists"]}"#);
    assert_eq!(
        db.insert(json!({ "key": "a" })),
        Err(Error::KeyExists("a".into()))
    );

    fake.answer(201, r#"{"key":"b"}"#);
    db.insert_with(json!({ "key": "b" }), Expiry::At(9))
        .unwrap();
    assert_eq!(
        body(&fake.requests()[2]),
        json!({ "item": { "key": "b", "__expires": 9 } })
    );
}

#[test]
fn update_sends_all_five_fields_in_order() {
    let (db, fake) = base();
    fake.answer(200, r#"{"key":"a b","set":{},"delete":[]}"#);
    db.update("a b", Updates::new()).unwrap();
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Patch);
    assert_eq!(request.url, format!("{ROOT}/items/a%20b"));
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        r#"{"set":{},"increment":{},"append":{},"prepend":{},"delete":[]}"#
    );

    let updates = Updates::new()
        .set("a.b", json!({ "c": 1 }))
        .increment("n", -2)
        .append("tags", json!(["x", "y"]))
        .prepend("log", 0)
        .delete("x")
        .delete("y.z");
    assert_eq!(
        updates.body(None),
        json!({
            "set": { "a.b": { "c": 1 } },
            "increment": { "n": -2 },
            "append": { "tags": ["x", "y"] },
            "prepend": { "log": [0] },
            "delete": ["x", "y.z"]
        })
    );
}

#[test]
fn update_expiry_goes_inside_set() {
    let updates = Updates::new().set("a", 1).expire_in(10);
    assert_eq!(
        updates.body(Some(100))["set"],
        json!({ "a": 1, "__expires": 110 })
    );
    let updates = Updates::new().expire_at(42);
    assert_eq!(updates.body(Some(100))["set"], json!({ "__expires": 42 }));
}

#[test]
fn update_of_absent_key_is_http_404() {
    let (db, fake) = base();
    fake.answer(404, r#"{"errors":["Key not found"]}"#);
    assert_eq!(
        db.update("nope", Updates::new().set("a", 1)),
        Err(Error::Http(404, r#"{"errors":["Key not found"]}"#.into()))
    );
    fake.answer(400, r#"{"errors":["Bad update"]}"#);
    assert_eq!(
        db.update("k", Updates::new().set("key", "x")),
        Err(Error::BadRequest(vec!["Bad update".into()]))
    );
}

#[test]
fn delete() {
    let (db, fake) = base();
    fake.answer(200, r#"{"key":"a#1"}"#);
    db.delete("a#1").unwrap();
    assert_eq!(fake.calls(), [format!("DELETE {ROOT}/items/a%231")]);
    assert!(fake.requests()[0].body.is_empty());
}

#[test]
fn fetch_body_shape() {
    let (db, fake) = base();
    fake.answer(200, r#"{"paging":{"size":0},"items":[]}"#);
    db.fetch(Value::Null, FetchOptions::default()).unwrap();
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, format!("{ROOT}/query"));
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        r#"{"limit":1000,"last":null,"sort":""}"#
    );

    fake.answer(200, r#"{"paging":{"size":0},"items":[]}"#);
    db.fetch(
        json!({ "age?gt": 18, "profile.city": "Berlin" }),
        FetchOptions::default().limit(5).after("k9").desc(true),
    )
    .unwrap();
    assert_eq!(
        body(&fake.requests()[1]),
        json!({
            "query": [{ "age?gt": 18, "profile.city": "Berlin" }],
            "limit": 5,
            "last": "k9",
            "sort": "desc"
        })
    );

    fake.answer(200, r#"{"paging":{"size":0},"items":[]}"#);
    db.fetch(json!([{ "a": 1 }, { "b": 2 }]), FetchOptions::default())
        .unwrap();
    assert_eq!(
        body(&fake.requests()[2])["query"],
        json!([{ "a": 1 }, { "b": 2 }])
    );

    assert!(matches!(
        db.fetch(3, FetchOptions::default()),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn fetch_parses_pages() {
    let (db, fake) = base();
    fake.answer(
        200,
        r#"{"paging":{"size":2,"last":"b"},"items":[{"key":"a"},{"key":"b"}]}"#,
    );
    let page = db.fetch(json!({}), FetchOptions::default()).unwrap();
    assert_eq!(page.count, 2);
    assert_eq!(page.last.as_deref(), Some("b"));
    assert_eq!(page.items[1]["key"], "b");
    #[derive(Deserialize)]
    struct Keyed {
        key: String,
    }
    let keys: Vec<Keyed> = page.items_as().unwrap();
    assert_eq!(keys[0].key, "a");

    fake.answer(400, r#"{"errors":["Bad query"]}"#);
    assert_eq!(
        db.fetch(json!({ "a?zz": 1 }), FetchOptions::default()),
        Err(Error::BadRequest(vec!["Bad query".into()]))
    );
    fake.answer(200, "not json");
    assert!(matches!(
        db.fetch(json!({}), FetchOptions::default()),
        Err(Error::Response(_))
    ));
}

#[test]
fn fetch_all_follows_last_through_empty_pages() {
    let (db, fake) = base();
    fake.answer(
        200,
        r#"{"paging":{"size":1,"last":"a"},"items":[{"key":"a"}]}"#,
    );
    fake.answer(200, r#"{"paging":{"size":0,"last":"m"},"items":[]}"#);
    fake.answer(200, r#"{"paging":{"size":1},"items":[{"key":"z"}]}"#);
    let items = db.fetch_all(json!({ "key?pfx": "" })).unwrap();
    assert_eq!(items, vec![json!({ "key": "a" }), json!({ "key": "z" })]);
    let lasts: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| body(r)["last"].clone())
        .collect();
    assert_eq!(lasts, vec![Value::Null, json!("a"), json!("m")]);
}

#[test]
fn transport_errors_pass_through() {
    let (db, fake) = base();
    fake.fail(client::Error::Http {
        code: "HttpRequestDenied".into(),
        detail: "HttpRequestDenied".into(),
    });
    let error = db.get("a").unwrap_err();
    assert_eq!(error.kind(), "transport");
    assert!(error.to_string().contains("HttpRequestDenied"), "{error}");
}

#[test]
fn hosts_and_names() {
    let db = Base::with_key("my base", "p_k")
        .unwrap()
        .with_host("http://localhost:4000/");
    assert_eq!(
        db.service.url("/items"),
        "http://localhost:4000/v1/p/my%20base/items"
    );
    assert!(matches!(Base::with_key("", "p_k"), Err(Error::Invalid(_))));
    assert!(matches!(
        Base::with_key("x", "nokey"),
        Err(Error::Config(_))
    ));
}
