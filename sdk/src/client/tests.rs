//! Unit tests of `client`.

use super::*;

#[test]
fn parses_targets() {
    let t = Target::parse("https://database.deta.sh/v1/p/b/items/a%2Fb?x=1#frag").unwrap();
    assert!(t.https);
    assert_eq!(t.authority, "database.deta.sh");
    assert_eq!(t.path_with_query, "/v1/p/b/items/a%2Fb?x=1");

    let t = Target::parse("http://localhost:8080").unwrap();
    assert!(!t.https);
    assert_eq!(t.authority, "localhost:8080");
    assert_eq!(t.path_with_query, "/");

    let t = Target::parse("HTTP://h?q").unwrap();
    assert_eq!(t.path_with_query, "/?q");

    for bad in [
        "database.deta.sh/v1",
        "ftp://h/",
        "https:///x",
        "https://u@h/",
        "https://h/a b",
    ] {
        assert!(
            matches!(Target::parse(bad), Err(Error::InvalidUrl(_))),
            "{bad}"
        );
    }
}

#[test]
fn error_codes_are_named() {
    use wasi::http::types::ErrorCode;
    let e = Error::from(ErrorCode::HttpRequestDenied);
    assert_eq!(e.http_code(), Some("HttpRequestDenied"));
    assert_eq!(
        e.to_string(),
        "HTTP request failed: HttpRequestDenied: the host does not allow requests to this destination"
    );
    let e = Error::from(ErrorCode::InternalError(Some("boom".into())));
    assert_eq!(e.http_code(), Some("InternalError"));
    assert!(e.to_string().contains("boom"), "{e}");
}

#[test]
fn builds_requests() {
    let r = Request::post("http://h/x").json(&serde_json::json!({"a": 1}));
    assert_eq!(r.body, br#"{"a":1}"#);
    assert_eq!(r.header_value("content-type"), Some("application/json"));
    let r = Request::post("http://h/x")
        .header("Content-Type", "text/json")
        .json(&1);
    assert_eq!(r.headers.len(), 1);
    assert_eq!(r.max_response_body, DEFAULT_MAX_RESPONSE_BODY);
}

#[test]
fn reads_bounded() {
    let data = vec![7u8; 200_000];
    for hint in [None, Some(0), Some(10), Some(200_000), Some(300_000)] {
        assert_eq!(read_bounded(&mut &data[..], 200_000, hint).unwrap(), data);
        assert_eq!(
            read_bounded(&mut &data[..5], 200_000, hint).unwrap(),
            &data[..5]
        );
        assert!(read_bounded(&mut &[][..], 0, hint).unwrap().is_empty());
    }
    assert_eq!(
        read_bounded(&mut &data[..], 199_999, None),
        Err(Error::BodyTooLarge(199_999))
    );
    let streaming = StreamingResponse {
        status: 200,
        headers: vec![("content-length".into(), "3".into())],
        body: b"abc".to_vec().into(),
    };
    let response = streaming.into_response(10).unwrap();
    assert_eq!(response.body, b"abc");
    assert_eq!(response.header("Content-Length"), Some("3"));
}

#[test]
fn proxies_responses() {
    let fetched = Response {
        status: 201,
        headers: vec![
            ("content-length".into(), "2".into()),
            ("x-a".into(), "b".into()),
        ],
        body: b"ok".to_vec(),
    };
    let response: crate::Response = fetched.into();
    assert_eq!(response.status, 201);
    assert_eq!(response.headers, vec![("x-a".to_string(), "b".to_string())]);
}

#[test]
fn proxies_streamed_responses() {
    let fetched = StreamingResponse {
        status: 206,
        headers: vec![
            ("content-length".into(), "3".into()),
            ("transfer-encoding".into(), "chunked".into()),
        ],
        body: b"abc".to_vec().into(),
    };
    let response: crate::Response = fetched.into();
    assert_eq!(response.status, 206);
    assert!(response.is_streamed());
    assert_eq!(
        response.headers,
        vec![("content-length".to_string(), "3".to_string())]
    );
    let mut sent = Vec::new();
    response.write_body(&mut sent).unwrap();
    assert_eq!(sent, b"abc");
}
