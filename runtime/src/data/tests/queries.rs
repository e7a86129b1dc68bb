//! Base queries on both stores: operators, paging with `last`, descending order, and the
//! bound on how much one page scans.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Backend, Place, base, fetch, on_both_stores, put};

async fn queries_and_paging(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"key": format!("k{i:02}"), "n": i, "even": i % 2 == 0, "p": {"s": format!("s{i}")}}))
        .collect();
    put(&svc, json!(items)).await;
    put(&svc, json!([{"key":"other","n":100}])).await;

    // Pages of 4 in key order; Python's "sort": "" and "last": null.
    let mut seen = Vec::new();
    let mut body = json!({"query":[{"key?pfx":"k"}],"limit":4,"sort":"","last":null});
    loop {
        let page = fetch(&svc, body.clone()).await;
        let keys: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(page["paging"]["size"], keys.len());
        seen.extend(keys);
        match page["paging"].get("last") {
            Some(last) => body["last"] = last.clone(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    assert_eq!(seen, expected);

    // A page that ends exactly at the end carries no last.
    let page = fetch(&svc, json!({"query":[{"key?pfx":"k"}],"limit":10})).await;
    assert_eq!(page["paging"], json!({"size": 10}));

    let page = fetch(
        &svc,
        json!({"query":[{"even":true,"n?gte":4},{"p.s":"s1"}],"sort":"desc"}),
    )
    .await;
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["k08", "k06", "k04", "k01"]);
    let page = fetch(
        &svc,
        json!({"query":[{"key?r":["k03","k05"]}],"limit":2,"sort":"desc"}),
    )
    .await;
    assert_eq!(page["paging"], json!({"size": 2, "last": "k04"}));
    let page = fetch(
        &svc,
        json!({"query":[{"key?r":["k03","k05"]}],"limit":2,"sort":"desc","last":"k04"}),
    )
    .await;
    assert_eq!(page["items"], json!([items[3]]));
    let page = fetch(&svc, json!({"query":[{"n?gt":8},{"key":"k00"}]})).await;
    assert_eq!(page["paging"]["size"], 3);
    let page = fetch(&svc, json!({"query":[{"missing?ne":1}]})).await;
    assert_eq!(page["items"], json!([]));

    for bad in [
        json!({"limit":0}),
        json!({"limit":-1}),
        json!({"limit":"5"}),
        json!({"query":[{"n?bogus":1}]}),
        json!({"query":[{"n?lt":[1]}]}),
        json!({"query":[{"key":5}]}),
        json!({"sort":"up"}),
        json!({"last":5}),
    ] {
        let a = base(&svc, Method::POST, "/query", bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn query_scan_is_bounded(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    for batch in 0..2 {
        let items: Vec<Value> = (0..10)
            .map(|i| json!({"key": format!("b{batch}{i}"), "v": "x".repeat(100_000)}))
            .collect();
        assert_eq!(
            put(&svc, json!(items)).await.status,
            StatusCode::MULTI_STATUS
        );
    }
    // Nothing matches, and the condition is checked item by item (an object is compared in
    // Rust on both stores): the page stops after about 1 MB scanned, empty but with a cursor.
    let nothing = json!([{"v": {"no": 1}}]);
    let page = fetch(&svc, json!({ "query": nothing })).await;
    assert_eq!(page["paging"]["size"], 0);
    let last = page["paging"]["last"].as_str().unwrap().to_owned();
    assert_eq!(last, "b10");
    let page = fetch(&svc, json!({ "query": nothing, "last": last })).await;
    assert_eq!(page["paging"], json!({"size": 0}));
    // A string comparison: PostgreSQL filters in the database, so no item reaches the scan
    // and the one page is final; the embedded store scans and stops as above.
    let page = fetch(&svc, json!({"query":[{"v":"no"}]})).await;
    let expected = match b {
        Backend::Sqlite => json!({"size": 0, "last": "b10"}),
        Backend::Postgres => json!({"size": 0}),
    };
    assert_eq!(page["paging"], expected);
}

on_both_stores!(queries_and_paging, query_scan_is_bounded);
