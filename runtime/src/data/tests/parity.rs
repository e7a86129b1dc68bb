//! The stores answer queries exactly as [`Query::matches`] defines them: many items of mixed
//! types (numbers near and past 2^53, floats, strings with multi-byte characters, lists,
//! objects, nulls) and many queries; each query's items, read through every page, are the
//! items `matches` picks, in key order. On PostgreSQL this checks the SQL translation never
//! drops a matching item.

use http::StatusCode;
use serde_json::{Value, json};

use super::{Backend, Place, fetch, on_both_stores, put};
use crate::data::query::Query;

fn items() -> Vec<Value> {
    let values = [
        json!(1),
        json!(1.0),
        json!(2.5),
        json!(-3),
        json!(9_007_199_254_740_993i64),
        json!(9_007_199_254_740_992.0),
        json!(1e300),
        json!("a"),
        json!("ab"),
        json!("é"),
        json!("Z"),
        json!("f"),
        json!("B"),
        json!("b\u{10FFFF}"),
        json!(""),
        json!(true),
        json!(null),
        json!([1, "a", {"x": 1}]),
        json!([1.0]),
        json!({"x": 1}),
        json!({"x": 1.0, "y": [2]}),
    ];
    values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"key": format!("k{i:02}"), "f": v, "o": {"g": v}, "n": i}))
        .collect()
}

fn queries() -> Vec<Value> {
    let operands = [
        json!(1),
        json!(1.0),
        json!(2),
        json!(9_007_199_254_740_992i64),
        json!(9_007_199_254_740_993i64),
        json!("a"),
        json!("é"),
        json!("Z"),
        json!("f"),
        json!("B"),
        json!(""),
        json!(true),
        json!(null),
        json!({"x": 1}),
        json!([1.0]),
    ];
    let mut out = Vec::new();
    for field in ["f", "o.g", "missing"] {
        for op in [
            "",
            "?ne",
            "?lt",
            "?gt",
            "?lte",
            "?gte",
            "?pfx",
            "?contains",
            "?not_contains",
        ] {
            for operand in &operands {
                out.push(json!([{ format!("{field}{op}"): operand }]));
            }
        }
        out.push(json!([{ format!("{field}?r"): [1, 3] }]));
        out.push(json!([{ format!("{field}?r"): ["a", "b"] }]));
    }
    out.push(json!([{"f": 1, "n?gt": 0}, {"key?pfx": "k1"}]));
    out.push(json!([{"key?r": ["k03", "k07"], "f?ne": "a"}]));
    out
}

async fn every_query_answers_what_matches_picks(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let all = items();
    assert_eq!(put(&svc, json!(all)).await.status, StatusCode::MULTI_STATUS);
    for query in queries() {
        let Ok(parsed) = Query::parse(&query) else {
            continue;
        };
        let expected: Vec<&Value> = all.iter().filter(|i| parsed.matches(i)).collect();
        let (mut got, mut last) = (Vec::new(), Value::Null);
        loop {
            let page = fetch(&svc, json!({"query": query, "limit": 4, "last": last})).await;
            got.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["paging"].get("last") {
                Some(l) => last = l.clone(),
                None => break,
            }
        }
        let got: Vec<&Value> = got.iter().collect();
        assert_eq!(got, expected, "{b:?} {query}");
    }
}

on_both_stores!(every_query_answers_what_matches_picks);
