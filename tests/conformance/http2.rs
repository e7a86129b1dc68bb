//! SPEC §4, HTTP/2: prior-knowledge h2c is served with the same rules as HTTP/1.1 (payload and
//! timeout limits, JSON errors, the concurrency limit), an HTTP/1.1 `Upgrade: h2c` offer is
//! ignored (answered over HTTP/1.1, as curl's `--http2` expects), and a stream the client
//! resets mid-body costs neither the connection nor the Micro.
//!
//! The client is the `h2` crate itself (hyper's HTTP/2), so a test can reset a stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Reason, RecvStream};

use crate::harness::probe_app;

/// An HTTP/2 connection (prior knowledge) to `addr`, driven in the background.
async fn connect(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// Reads a response body to its end, giving the window back as it goes.
async fn read_all(mut body: RecvStream) -> Bytes {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    out.freeze()
}

/// One request on its own stream of `conn`: status and body.
async fn request(
    conn: &SendRequest<Bytes>,
    method: &str,
    path: &str,
    body: Option<Bytes>,
) -> (u16, Bytes) {
    let mut send = conn.clone().ready().await.unwrap();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, body.is_none()).unwrap();
    if let Some(body) = body {
        stream.send_data(body, true).unwrap();
    }
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    (status, read_all(resp.into_body()).await)
}

/// The `error` kind of a JSON error body (SPEC §4).
fn kind(body: &Bytes) -> String {
    let j: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(body)));
    j["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_prior_knowledge_is_served_with_the_limits_of_http1() {
    let app = probe_app("payload = \"10kB\"", "");
    let srv = app.serve(&[]);
    let conn = connect(srv.addr).await;

    let (status, body) = request(&conn, "GET", "/status?code=200", None).await;
    assert_eq!((status, &body[..]), (200, &b"status 200"[..]));
    let (status, body) = request(&conn, "POST", "/consume", Some(vec![7; 5_000].into())).await;
    assert_eq!((status, &body[..]), (200, &b"5000"[..]));

    // The payload limit, from the stream's data (no content-length was sent).
    let (status, body) = request(&conn, "POST", "/echo", Some(vec![b'x'; 10_001].into())).await;
    assert_eq!((status, kind(&body).as_str()), (413, "request_too_large"));
    // The timeout (500 ms in test apps).
    let (status, body) = request(&conn, "GET", "/loop", None).await;
    assert_eq!((status, kind(&body).as_str()), (504, "timeout"));
    // A path no route takes: the same 404 JSON as over HTTP/1.1... from the Micro here, so
    // ask the runtime's own endpoint instead.
    let (status, _) = request(&conn, "GET", "/__space/health", None).await;
    assert_eq!(status, 200);

    // The same connection still serves.
    let (status, _) = request(&conn, "GET", "/counter", None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_http2_streams_on_one_connection_meet_the_concurrency_limit() {
    let app = probe_app("concurrency = 2\ntimeout = \"5s\"", "");
    let srv = app.serve(&[]);
    let conn = connect(srv.addr).await;
    let streams: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { request(&conn, "GET", "/sleep?ms=1500", None).await })
        })
        .collect();
    let (mut served, mut busy) = (0, 0);
    for s in streams {
        match s.await.unwrap() {
            (200, body) => {
                assert_eq!(&body[..], b"slept");
                served += 1;
            }
            (503, body) => {
                assert_eq!(kind(&body), "busy");
                busy += 1;
            }
            (status, body) => panic!("{status}: {}", String::from_utf8_lossy(&body)),
        }
    }
    // Two streams run at once, the rest are refused as over HTTP/1.1; none waits for a slot.
    assert_eq!((served, busy), (2, 6));
    let (status, _) = request(&conn, "GET", "/counter", None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_reset_mid_body_leaves_the_connection_and_the_micro_serving() {
    let app = probe_app("timeout = \"5s\"", "");
    let srv = app.serve(&[]);
    let conn = connect(srv.addr).await;

    // Half a body, then RST_STREAM(CANCEL) while the guest is reading it.
    let mut send = conn.clone().ready().await.unwrap();
    let req = http::Request::post("http://localhost/consume")
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, false).unwrap();
    stream
        .send_data(Bytes::from(vec![1; 16_384]), false)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.send_reset(Reason::CANCEL);
    // The reset stream ends; its response, if any, is never a success.
    if let Ok(resp) = resp.await {
        assert_ne!(resp.status(), 200, "a cut body was consumed in full");
    }

    // Other streams on the same connection, and the Micro, keep working.
    for _ in 0..3 {
        let (status, body) = request(&conn, "POST", "/consume", Some(vec![2; 20_000].into())).await;
        assert_eq!((status, &body[..]), (200, &b"20000"[..]));
    }
    // The runtime counts the cut request as ended: nothing stays in flight.
    let (_, status) = request(&conn, "GET", "/__space/status", None).await;
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["micros"][0]["in_flight"], 0, "{status}");
}

#[test]
fn an_http1_upgrade_offer_of_h2c_alone_is_answered_over_http1() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // What `curl --http2 http://…` sends.
    s.write_all(
        b"GET /status?code=200 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n\
          GET /status?code=201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    // No 101: both requests are answered over HTTP/1.1 on the same connection.
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(!out.contains(" 101 "), "{out}");
    assert!(out.contains("HTTP/1.1 201 Created\r\n"), "{out}");
}
