//! S5, S6, S8, S9 and hostile guests: every limit ends in the right status and the runtime
//! keeps serving afterwards.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Full, StreamBody};
use hyper::Request;
use hyper::body::Frame;

use crate::harness::{Server, probe_app};

/// The runtime still serves normal requests.
async fn still_serving(srv: &Server) {
    let r = srv.get("/status?code=200").await;
    assert_eq!(r.status, 200, "runtime stopped serving: {}", r.text());
}

async fn assert_504_in_time(srv: &Server, path: &str, timeout: Duration) {
    let start = Instant::now();
    let r = srv.get(path).await;
    let took = start.elapsed();
    r.assert_error(504, "timeout", Some("probe"));
    assert!(
        took >= timeout,
        "{path}: answered before the timeout ({took:?})"
    );
    assert!(
        took <= timeout + timeout / 10,
        "{path}: 504 after {took:?}, later than timeout + 10%"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s5_busy_loop_and_blocked_host_call_both_time_out() {
    let app = probe_app("timeout = \"1s\"", "");
    let srv = app.serve(&[]);
    assert_504_in_time(&srv, "/loop", Duration::from_secs(1)).await;
    assert_504_in_time(&srv, "/sleep?ms=60000", Duration::from_secs(1)).await;
    still_serving(&srv).await;
    assert!(
        srv.wait_output(Duration::from_secs(2), |o| o.contains("probe")
            && o.contains("timeout"))
    );
}

/// A guest that completes its response and then overruns its timeout does not get a complete
/// response out: its last bytes wait for `handle` to return, the timeout cuts the body short,
/// and its instance is not reused.
#[tokio::test(flavor = "multi_thread")]
async fn s5_a_timeout_after_the_response_cuts_the_body_short() {
    let app = probe_app("timeout = \"500ms\"", "");
    let srv = app.serve(&[]);
    let start = Instant::now();
    let r = srv.get("/counter?linger_ms=60000").await;
    let took = start.elapsed();
    assert_eq!(r.status, 200, "the head was sent before the timeout");
    assert_eq!(
        r.text(),
        "",
        "a body completed by a guest that then timed out"
    );
    assert!(
        (Duration::from_millis(500)..Duration::from_millis(1500)).contains(&took),
        "cut after {took:?}"
    );
    assert_eq!(srv.get("/counter").await.text(), "1");
    still_serving(&srv).await;
    assert!(
        srv.wait_output(Duration::from_secs(2), |o| o.contains("response cut short")
            && o.contains("timeout of 500ms")),
        "{}",
        srv.stderr()
    );
}

/// With a single connection worker, a guest stuck in a loop shares that worker's thread with
/// every other connection: they are still answered, and their access lines still reach
/// stderr, while it runs (it yields at each epoch tick).
#[tokio::test(flavor = "multi_thread")]
async fn s5_a_looping_guest_does_not_stall_its_worker() {
    let app = probe_app("timeout = \"3s\"", "");
    let srv = std::sync::Arc::new(app.serve(&["--workers", "1"]));
    let looping = {
        let srv = srv.clone();
        tokio::spawn(async move { srv.get("/loop").await.status })
    };
    srv.wait_in_flight(1).await;
    let start = Instant::now();
    still_serving(&srv).await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    assert!(
        srv.wait_output(Duration::from_secs(1), |o| o
            .contains(r#"path="/status?code=200" status=200"#)),
        "no access line while the loop runs:\n{}",
        srv.stderr()
    );
    assert!(!looping.is_finished(), "the loop ended before its timeout");
    assert_eq!(looping.await.unwrap(), 504);
}

#[tokio::test(flavor = "multi_thread")]
async fn s6_memory_is_limited_per_execution() {
    let app = probe_app("memory = \"64MiB\"", "");
    let srv = app.serve(&[]);
    // Within the limit works.
    assert_eq!(srv.get("/alloc?mb=16").await.status, 200);
    // One big allocation and many small ones both hit the limit: the instance traps.
    srv.get("/alloc?mb=100")
        .await
        .assert_error(502, "memory_limit", Some("probe"));
    srv.get("/alloc-many?mb=100")
        .await
        .assert_error(502, "memory_limit", Some("probe"));
    // A guest that checks its allocations sees them fail.
    let r = srv.get("/try-alloc?mb=100").await;
    assert_eq!(r.status, 507, "{}", r.text());
    still_serving(&srv).await;
}

/// A component whose initial memory is already over `memory` cannot be instantiated: that is
/// the same memory limit as at run time (502 `memory_limit` naming it), not a 500, and the
/// app's other Micros keep serving.
#[tokio::test(flavor = "multi_thread")]
async fn s6_initial_memory_over_the_limit_is_502_memory_limit_not_500() {
    let app = probe_app(
        "",
        "primary = true\n\n[[micro]]\nname = \"tiny\"\ncomponent = '{probe}'\nsrc = \"code\"\n\
         path = \"/tiny\"\n\n[micro.limits]\nmemory = \"1MiB\"\n",
    );
    let srv = app.serve(&[]);
    let r = srv.get("/tiny/status?code=200").await;
    r.assert_error(502, "memory_limit", Some("tiny"));
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("cannot instantiate") && message.contains("1048576"),
        "{message}"
    );
    // Asked again: the same answer, and the other Micro is untouched.
    srv.get("/tiny/counter")
        .await
        .assert_error(502, "memory_limit", Some("tiny"));
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s8_excess_concurrent_requests_get_503_with_retry_after() {
    let app = probe_app("concurrency = 2\ntimeout = \"5s\"", "");
    let srv = std::sync::Arc::new(app.serve(&[]));
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let srv = srv.clone();
            tokio::spawn(async move { srv.get("/sleep?ms=1500").await.status })
        })
        .collect();
    srv.wait_in_flight(2).await;
    let r = srv.get("/status?code=200").await;
    r.assert_error(503, "busy", Some("probe"));
    assert!(r.headers.contains_key("retry-after"));
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s9_request_over_the_limit_is_413_known_length_and_chunked() {
    let app = probe_app("payload = \"10kB\"", "");
    let srv = app.serve(&[]);
    let big = Bytes::from(vec![b'x'; 10_001]);
    let r = srv
        .send(Request::post("/echo").body(Full::new(big.clone())).unwrap())
        .await;
    r.assert_error(413, "request_too_large", Some("probe"));
    // The guest was not started for a known length: no instance was made.
    let status = srv.get("/__space/status").await.json();
    assert_eq!(status["micros"][0]["cold_starts"], 0, "{status}");

    // Chunked: no Content-Length, counted while streaming.
    let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..11)
        .map(|_| Ok(Frame::data(Bytes::from(vec![b'y'; 1000]))))
        .collect();
    let r = srv
        .send(
            Request::post("/echo")
                .body(StreamBody::new(futures::stream::iter(chunks)))
                .unwrap(),
        )
        .await;
    r.assert_error(413, "request_too_large", Some("probe"));

    // At the limit is fine.
    let r = srv
        .send(
            Request::post("/consume")
                .body(Full::new(Bytes::from(vec![b'z'; 10_000])))
                .unwrap(),
        )
        .await;
    assert_eq!((r.status, r.text().as_str()), (200, "10000"));
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s9_response_over_the_limit_is_502() {
    let app = probe_app("payload = \"10kB\"", "");
    let srv = app.serve(&[]);
    assert_eq!(
        srv.get("/big-response?bytes=10000").await.body.len(),
        10_000
    );
    srv.get("/big-response?bytes=10001").await.assert_error(
        502,
        "response_too_large",
        Some("probe"),
    );
    srv.get("/big-response?bytes=200000&content-length=1")
        .await
        .assert_error(502, "response_too_large", Some("probe"));
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_guests_end_in_502_or_504_and_the_runtime_keeps_serving() {
    let app = probe_app("timeout = \"1s\"", "");
    let srv = app.serve(&[]);
    srv.get("/panic")
        .await
        .assert_error(502, "trap", Some("probe"));
    still_serving(&srv).await;
    srv.get("/stack-overflow")
        .await
        .assert_error(502, "trap", Some("probe"));
    still_serving(&srv).await;
    srv.get("/no-response")
        .await
        .assert_error(502, "trap", Some("probe"));
    still_serving(&srv).await;
    // A flood of resource handles hits the per-instance cap instead of host memory.
    assert_eq!(srv.get("/handles?n=1000").await.text(), "1000");
    srv.get("/handles?n=200000")
        .await
        .assert_error(502, "trap", Some("probe"));
    still_serving(&srv).await;
    // A never-ending body is bounded by the payload limit (or the timeout).
    let r = srv.get("/forever").await;
    assert!(
        r.status == 502 || r.status == 504,
        "{} {}",
        r.status,
        r.text()
    );
    still_serving(&srv).await;
    // Writing to stdout forever is bounded by the timeout and does not stall the runtime.
    srv.get("/spin-stdout")
        .await
        .assert_error(504, "timeout", Some("probe"));
    still_serving(&srv).await;
    assert!(
        srv.wait_output(Duration::from_secs(2), |o| o.contains("probe panic")),
        "the panic message is logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_output_goes_to_console_and_log_file_with_the_micro_name() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/stdout?lines=3").await.status, 200);
    assert!(
        srv.wait_output(Duration::from_secs(5), |o| o
            .contains("[probe] probe line 2")),
        "{}",
        srv.stdout()
    );
    assert!(srv.wait_output(Duration::from_secs(5), |o| {
        o.contains("[probe] stderr probe err")
    }));
    let log = app.path().join(".micro-wasm/logs/probe.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let complete = |t: &str| t.contains("probe line 2") && t.contains("probe err");
    while Instant::now() < deadline && !complete(&std::fs::read_to_string(&log).unwrap_or_default())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("probe line 0") && text.contains("probe err"),
        "{text}"
    );
    assert!(
        text.lines().next().unwrap().starts_with("20"),
        "lines carry a timestamp: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_micros_keep_serving_while_one_is_attacked() {
    let app = crate::harness::AppDir::new(
        "[app]\nname = \"pair\"\n\n[limits]\ntimeout = \"2s\"\nmemory = \"64MiB\"\n\n\
         [[micro]]\nname = \"victim\"\ncomponent = '{probe}'\nsrc = \"code\"\nprimary = true\n\n\
         [[micro]]\nname = \"bystander\"\ncomponent = '{probe}'\nsrc = \"code\"\n",
    );
    app.write("code/x", "x");
    let srv = std::sync::Arc::new(app.serve(&[]));
    // Busy loops on both cores, memory bombs and stdout floods against one Micro...
    let attacks: Vec<_> = [
        "/loop",
        "/loop",
        "/loop",
        "/alloc?mb=100",
        "/spin-stdout",
        "/forever",
    ]
    .into_iter()
    .map(|p| {
        let srv = srv.clone();
        tokio::spawn(async move { (p, srv.get(p).await.status) })
    })
    .collect();
    // The two loops run until their timeout.
    srv.wait_in_flight(2).await;
    // ...while the other Micro keeps answering, well inside the attackers' timeout.
    for _ in 0..5 {
        let start = Instant::now();
        let r = srv.get("/bystander/counter").await;
        assert_eq!(r.status, 200);
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "bystander took {:?}",
            start.elapsed()
        );
    }
    for a in attacks {
        let (path, status) = a.await.unwrap();
        assert!([502, 504].contains(&status), "{path}: {status}");
    }
}

/// A component whose handler grows a table by `step` elements until growth is refused, then
/// traps (core wasm written as text: Rust cannot grow a table itself).
fn table_bomb(step: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $req))
  (alias export $types "response-outparam" (type $out))
  (core module $m
    (table $t 1 funcref)
    (func (export "handle") (param i32 i32)
      (loop $grow
        (if (i32.eq (table.grow $t (ref.null func) (i32.const {step})) (i32.const -1))
          (then unreachable))
        (br $grow))))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))"#
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn s6_table_growth_counts_against_the_memory_limit() {
    let app = crate::harness::AppDir::new(
        "[app]\nname = \"tables\"\n\n[limits]\nmemory = \"16MiB\"\ntimeout = \"2s\"\n\n\
         [[micro]]\nname = \"bomb\"\ncomponent = \"bomb.wasm\"\nprimary = true\n\n\
         [[micro]]\nname = \"probe\"\ncomponent = '{probe}'\nsrc = \"code\"\n",
    );
    app.write("code/x", "x");
    app.write("bomb.wasm", table_bomb(100_000));
    let srv = app.serve(&[]);
    for _ in 0..3 {
        srv.get("/")
            .await
            .assert_error(502, "memory_limit", Some("bomb"));
    }
    assert_eq!(
        srv.get("/probe/counter").await.status,
        200,
        "other Micros keep serving"
    );
}

/// Writes a POST of `body_len` bytes (`chunked` or with its Content-Length) whole, then reads
/// the answer: what a client without `Expect: 100-continue` does.
fn upload_then_read(srv: &Server, path: &str, body_len: usize, chunked: bool) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {body_len}")
    };
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'u'; 64 * 1024];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(chunk.len());
        let sent = if chunked {
            s.write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| s.write_all(&chunk[..n]))
                .and_then(|()| s.write_all(b"\r\n"))
        } else {
            s.write_all(&chunk[..n])
        };
        sent.unwrap_or_else(|e| panic!("upload broken with {left} bytes left: {e}"));
        left -= n;
    }
    if chunked {
        s.write_all(b"0\r\n\r\n").unwrap();
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("reading the answer: {e}"));
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn s9_a_client_that_uploads_6mb_before_reading_gets_the_413() {
    // The default payload limit: 5.5 MB.
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    for chunked in [false, true] {
        let out = upload_then_read(&srv, "/consume", 6_000_000, chunked);
        assert!(out.starts_with("HTTP/1.1 413"), "chunked {chunked}: {out}");
        assert!(out.contains("\"request_too_large\""), "{out}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(still_serving(&srv));
}

/// A Micro that answers, or traps, without reading a 4 MB upload: a client that writes the
/// whole body before reading gets the answer, not a connection reset under its upload.
#[test]
fn s9_a_client_that_uploads_before_reading_gets_the_answer_of_a_micro_that_ignores_the_body() {
    let app = probe_app("timeout = \"5s\"", "");
    let srv = app.serve(&[]);
    for round in 0..3 {
        for chunked in [false, true] {
            let out = upload_then_read(&srv, "/counter", 4_000_000, chunked);
            assert!(
                out.starts_with("HTTP/1.1 200"),
                "round {round}, chunked {chunked}: {out}"
            );
            let out = upload_then_read(&srv, "/panic", 4_000_000, chunked);
            assert!(
                out.starts_with("HTTP/1.1 502"),
                "round {round}, chunked {chunked}: {out}"
            );
            assert!(out.contains("\"trap\""), "{out}");
        }
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(still_serving(&srv));
}

/// Eight concurrent requests each grow their instance to about 13 MiB, then all are given
/// back: the warm instances they leave.
async fn warm_after_a_burst_of_grown_instances(warm_memory: &str) -> u64 {
    let app = probe_app(
        &format!("timeout = \"10s\"\nmemory = \"64MiB\"\nwarm_memory = \"{warm_memory}\""),
        "",
    );
    let srv = std::sync::Arc::new(app.serve(&[]));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let srv = srv.clone();
            tokio::spawn(async move { srv.get("/grow?mb=12&ms=500").await.status })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    let status = srv.get("/__space/status").await.json();
    let micro = &status["micros"][0];
    assert_eq!(micro["cold_starts"], 8, "{status}");
    still_serving(&srv).await;
    micro["warm_instances"].as_u64().unwrap()
}

/// An instance whose memory grew past three quarters of the Micro's `memory` limit is not
/// kept warm: linear memory never shrinks, so a leaking guest would otherwise fail a later
/// request at the limit. The next request gets a fresh instance (a cold start); an instance
/// below that line is reused.
#[tokio::test(flavor = "multi_thread")]
async fn s6_an_instance_grown_near_the_memory_limit_is_replaced_by_a_fresh_one() {
    let app = probe_app("timeout = \"10s\"\nmemory = \"64MiB\"", "");
    let srv = app.serve(&[]);
    let cold_starts = || async {
        let status = srv.get("/__space/status").await.json();
        status["micros"][0]["cold_starts"].as_u64().unwrap()
    };
    assert_eq!(srv.get("/grow?mb=20").await.status, 200);
    assert_eq!(cold_starts().await, 1);
    assert_eq!(srv.get("/counter").await.text(), "1");
    assert_eq!(
        cold_starts().await,
        1,
        "an instance at about 21 MiB of 64 is reused"
    );
    assert_eq!(srv.get("/grow?mb=50").await.status, 200);
    assert_eq!(cold_starts().await, 1);
    assert_eq!(
        srv.get("/counter").await.text(),
        "1",
        "the instance grown past 48 MiB was dropped: a fresh one counts from 1"
    );
    assert_eq!(cold_starts().await, 2);
}

/// A `warm_memory` of 30 MiB keeps at most two 13 MiB instances warm (the coldest are
/// dropped); a budget of 1 GiB keeps all eight.
#[tokio::test(flavor = "multi_thread")]
async fn warm_instances_are_bounded_by_the_warm_memory_budget() {
    let warm = warm_after_a_burst_of_grown_instances("30MiB").await;
    assert!((1..=2).contains(&warm), "{warm} warm instances");
    assert_eq!(warm_after_a_burst_of_grown_instances("1GiB").await, 8);
}
