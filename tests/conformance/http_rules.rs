//! SPEC §4 and S17/S18: routing, the reserved prefix, client IP headers, upgrades, error
//! shape, keep-alive and graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::harness::{AppDir, Server};

fn routed_app() -> AppDir {
    let app = AppDir::new(
        "[app]\nname = \"routes\"\n\n[limits]\ntimeout = \"2s\"\n\n\
         [[micro]]\nname = \"web\"\ncomponent = '{probe}'\nsrc = \"web\"\nprimary = true\n\n\
         [[micro]]\nname = \"api\"\ncomponent = '{probe}'\nsrc = \"api\"\n\n\
         [[micro]]\nname = \"apiv2\"\ncomponent = '{probe}'\nsrc = \"api\"\npath = \"/api-v2\"\n",
    );
    app.write("web/index.html", "web");
    app.write("api/index.html", "api");
    app
}

async fn echo(srv: &Server, path: &str) -> serde_json::Value {
    let r = srv.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_longest_prefix_strips_and_forwards_the_prefix() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let e = echo(&srv, "/api/echo?x=1").await;
    assert_eq!(e["path"], "/echo?x=1");
    assert_eq!(header(&e, "x-forwarded-prefix"), ["/api"]);
    let env = srv.get("/api/env").await.json();
    assert_eq!(env["DETA_SPACE_APP_MICRO_NAME"], "api");
    let env = srv.get("/api-v2/env").await.json();
    assert_eq!(env["DETA_SPACE_APP_MICRO_NAME"], "apiv2");
    // Not at a segment boundary: the primary gets the whole path.
    let r = srv.get("/apix/echo").await;
    assert_eq!(r.status, 404, "the probe's own 404 for an unknown route");
    assert!(
        r.text()
            .contains("no such probe route /apix/echo (micro web)"),
        "{}",
        r.text()
    );
    let e = echo(&srv, "/echo").await;
    assert_eq!(header(&e, "x-forwarded-prefix"), ["/"]);
    let env = srv.get("/env").await.json();
    assert_eq!(env["DETA_SPACE_APP_MICRO_NAME"], "web");
    // `/api` alone reaches the api Micro's root.
    let r = srv.get("/api").await;
    assert!(
        r.text().contains("no such probe route / (micro api)"),
        "api's `/`: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reserved_prefix_health_and_no_outside_actions() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let r = srv.get("/__space/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    for path in [
        "/__space/v0/actions",
        "/api/__space/v0/actions",
        "/api//__space/v0/actions",
        "/api/../__space/v0/actions",
        "/api/%5F%5Fspace/v0/actions",
        "/__space/nothing",
    ] {
        let r = srv
            .send(
                Request::post(path)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(
                        b"{\"event\":{\"id\":\"x\",\"trigger\":\"schedule\"}}",
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 404, "{path} reached: {}", r.text());
    }
    // No guest recorded an action.
    assert_eq!(srv.get("/last-action").await.status, 404);
    assert_eq!(srv.get("/api/last-action").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn s17_client_ip_comes_from_the_peer_and_spoofs_are_stripped() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let r = srv
        .send(
            Request::get("/echo")
                .header("x-forwarded-for", "6.6.6.6")
                .header("x-real-ip", "6.6.6.6")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    let e = r.json();
    assert_eq!(header(&e, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header(&e, "x-real-ip"), ["127.0.0.1"]);
    drop(srv);

    // Behind a trusted proxy the forwarded client is kept.
    let srv = app.serve(&["--trusted-proxy", "127.0.0.0/8"]);
    let e = srv
        .send(
            Request::get("/echo")
                .header("x-forwarded-for", "203.0.113.9")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .json();
    assert_eq!(header(&e, "x-real-ip"), ["203.0.113.9"]);
    assert_eq!(header(&e, "x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn s18_upgrade_requests_are_refused_with_501() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let r = srv
        .send(
            Request::get("/echo")
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    r.assert_error(501, "upgrade_not_supported", None);
    assert!(r.json()["message"].as_str().unwrap().contains("websocket"));
    assert_eq!(srv.get("/echo").await.status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET /status?code=200 HTTP/1.1\r\nHost: {}\r\n\r\n",
        srv.addr
    );
    // A response may arrive in several reads (head and body are separate writes), so each
    // round reads until its body has arrived.
    let mut buf = Vec::new();
    for round in 1..=3 {
        s.write_all(req.as_bytes()).unwrap();
        while String::from_utf8_lossy(&buf).matches("status 200").count() < round {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed after {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    let text = String::from_utf8_lossy(&buf);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 3, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_json_and_unknown_space_endpoints_404() {
    let app = routed_app();
    let srv = app.serve(&[]);
    srv.get("/__space/nope")
        .await
        .assert_error(404, "not_found", None);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_in_flight_requests_then_exits_0() {
    let app = routed_app();
    let mut srv = app.serve(&[]);
    let addr = srv.addr;
    let inflight = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(format!("GET /sleep?ms=700 HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    srv.wait_in_flight(1).await;
    let status = tokio::task::spawn_blocking(move || {
        let st = srv.terminate(1);
        (st, srv)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0), "exit status after SIGTERM");
    let out = inflight.await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("slept"),
        "in-flight request was cut: {out}"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s12_no_shell_exec_or_ssh_anywhere() {
    let app = routed_app();
    let srv = app.serve(&[]);
    for path in [
        "/__space/exec",
        "/__space/shell",
        "/__space/ssh",
        "/__space/v0/exec",
    ] {
        srv.get(path).await.assert_error(404, "not_found", None);
    }
    let help = app.cli(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout).to_lowercase();
    assert!(text.contains("run") && text.contains("validate"), "{text}");
    for word in ["ssh", "exec", "shell", "attach"] {
        assert!(!text.contains(word), "`{word}` in the command line: {text}");
    }
}

#[test]
fn slowloris_connections_are_closed_after_the_header_timeout() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .unwrap();
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 408"), "{out}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(rt.block_on(srv.get("/status?code=200")).status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_errors_and_state_in_prometheus_text() {
    let app = routed_app();
    let srv = app.serve(&[]);
    for _ in 0..3 {
        assert_eq!(srv.get("/api/counter").await.status, 200);
    }
    assert_eq!(srv.get("/api/panic").await.status, 502);
    let r = srv.get("/__space/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text();
    for line in [
        "micro_wasm_requests_total{micro=\"api\",status=\"200\"} 3",
        "micro_wasm_requests_total{micro=\"api\",status=\"502\"} 1",
        "micro_wasm_errors_total{micro=\"api\",kind=\"trap\"} 1",
        "micro_wasm_request_duration_seconds_count{micro=\"api\"} 4",
        "micro_wasm_awake{micro=\"web\"} 0",
        "# TYPE micro_wasm_request_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    // Every request is logged once with its Micro, status and warm/cold start.
    let logged = |o: &str| {
        o.lines().any(|l| {
            l.contains("request")
                && l.contains("micro=\"api\"")
                && l.contains("status=200")
                && l.contains("start=\"warm\"")
        })
    };
    assert!(
        srv.wait_output(Duration::from_secs(2), logged),
        "{}",
        srv.stderr()
    );
    // Cold starts are the requests that made an instance: the first one, plus any that came
    // while the previous guest was still finishing on a busy machine. The access lines say
    // which; the counter must agree with them.
    let api_lines = |o: &str| {
        o.lines()
            .filter(|l| l.contains(" request ") && l.contains("micro=\"api\""))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(srv.wait_output(Duration::from_secs(2), |o| api_lines(o).len() == 4));
    let cold = api_lines(&srv.stderr())
        .iter()
        .filter(|l| l.contains("start=\"cold\""))
        .count();
    assert!(
        cold >= 1,
        "the first request was not cold:\n{}",
        srv.stderr()
    );
    let line = format!("micro_wasm_cold_starts_total{{micro=\"api\"}} {cold}");
    assert!(
        text.lines().any(|l| l == line),
        "missing `{line}` in:\n{text}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once() {
    let app = routed_app();
    let mut srv = app.serve(&[]);
    let addr = srv.addr;
    tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        let req = format!("GET /sleep?ms=1900 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    srv.wait_in_flight(1).await;
    let start = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || srv.terminate(2))
        .await
        .unwrap();
    assert_ne!(
        status.code(),
        Some(0),
        "the second signal is not a clean drain"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let app = crate::harness::probe_app("", "");
    let srv = std::sync::Arc::new(app.serve(&["--max-connections", "2"]));
    // Two clients hold both slots without sending anything.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let srv = srv.clone();
        async move { srv.get("/counter").await.status }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection is not served while two are open"
    );
    assert!(srv.wait_output(Duration::from_secs(2), |o| {
        o.contains("connection limit reached")
    }));
    drop(idle);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(status, 200);
}

/// `X-Forwarded-Host` and `X-Forwarded-Proto` say where a proxy received the request: a
/// client's own values are dropped like its `X-Forwarded-For`; a trusted proxy's are kept.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_host_and_proto_from_untrusted_clients_are_stripped() {
    let spoofed = || {
        Request::get("/echo")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let app = routed_app();
    let srv = app.serve(&[]);
    let e = srv.send(spoofed()).await.json();
    assert!(header(&e, "x-forwarded-host").is_empty(), "{e}");
    assert!(header(&e, "x-forwarded-proto").is_empty(), "{e}");
    drop(srv);

    let srv = app.serve(&["--trusted-proxy", "127.0.0.1"]);
    let e = srv.send(spoofed()).await.json();
    assert_eq!(header(&e, "x-forwarded-host"), ["evil.example"]);
    assert_eq!(header(&e, "x-forwarded-proto"), ["https"]);
}

/// A panicking guest's 502 names the kind and says what happened, without the wasm
/// backtrace or any host path; the log keeps the detail.
#[tokio::test(flavor = "multi_thread")]
async fn trap_error_bodies_carry_no_backtrace_or_host_paths() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let r = srv.get("/api/panic").await;
    r.assert_error(502, "trap", Some("api"));
    let body = r.text();
    for leak in ["wasm backtrace", ".wasm", "/tmp/", "/home/", "/work/", "0x"] {
        assert!(!body.contains(leak), "{leak:?} in the body: {body}");
    }
    assert!(
        srv.wait_output(Duration::from_secs(5), |log| log.contains("wasm backtrace")),
        "the log lacks the trap detail:\n{}",
        srv.stderr()
    );
}

/// A body stream takes writes of at most 64 KiB (docs/spec.md, HTTP: what `check-write`
/// permits); the writes all arrive. (Whether the third answer is 0 depends on whether the
/// guest was paused in between, at an epoch tick, and the host sent a write meanwhile.)
#[tokio::test(flavor = "multi_thread")]
async fn body_streams_take_writes_of_at_most_64_kib() {
    let app = routed_app();
    let srv = app.serve(&[]);
    let r = srv.get("/check-write").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let at = r
        .body
        .iter()
        .position(|&b| b != b'x')
        .unwrap_or(r.body.len());
    let (written, report) = r.body.split_at(at);
    let report = String::from_utf8_lossy(report);
    let permits: Vec<usize> = report
        .strip_prefix("permits ")
        .unwrap_or_else(|| panic!("no report after {at} bytes: {report:?}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(permits.len(), 3, "{report}");
    assert_eq!(permits[0], 64 * 1024, "{report}");
    assert!(permits.iter().all(|&p| p <= 64 * 1024), "{report}");
    assert_eq!(written.len(), permits.iter().sum::<usize>(), "{report}");
}
