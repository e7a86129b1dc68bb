//! SPEC §4, connections: what a client that holds connections without using them, or does not
//! read its responses, can take from everyone else (`--max-connections`,
//! `--max-connections-per-ip`, `--idle-timeout`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::harness::{Server, probe_app};

/// Reads from `s` until the server closes it (EOF or reset), at most `within`; how long that
/// took, or `None` when it stayed open.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// `GET /__space/health` on a fresh connection, within `within`.
fn health(srv: &Server, within: Duration) -> Option<u16> {
    let mut s = TcpStream::connect(srv.addr).ok()?;
    s.set_read_timeout(Some(within)).unwrap();
    s.write_all(b"GET /__space/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.get(9..12)?.parse().ok()
}

#[test]
fn idle_connections_and_a_stalled_preface_are_closed_after_the_idle_timeout() {
    let app = probe_app("", "");
    let srv = app.serve(&["--max-connections", "4", "--idle-timeout", "300ms"]);
    // Three say nothing; one starts the HTTP/2 preface and stops: all four slots taken.
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    idle[3].write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    for s in &mut idle {
        let took = closed_within(s, Duration::from_secs(5)).expect("an idle connection is closed");
        assert!(took < Duration::from_secs(2), "closed after {took:?}");
    }
    assert_eq!(health(&srv, Duration::from_secs(5)), Some(200));
}

#[test]
fn a_keep_alive_connection_is_closed_once_idle_but_not_while_its_request_runs() {
    let app = probe_app("timeout = \"2s\"", "");
    let srv = app.serve(&["--idle-timeout", "300ms"]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    // A request that takes longer than the idle timeout is not cut.
    s.write_all(b"GET /sleep?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    while !String::from_utf8_lossy(&buf).contains("slept") {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed mid-request: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    // Then, idle, the connection is closed.
    let took = closed_within(&mut s, Duration::from_secs(5)).expect("closed once idle");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
}

/// SECURITY.md: "idle ones close after the 10 s" default, with no flag.
#[test]
fn a_silent_connection_is_closed_after_the_default_idle_timeout_of_10s() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let took = closed_within(&mut s, Duration::from_secs(20)).expect("closed by default");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let app = probe_app("", "");
    let srv = app.serve(&["--idle-timeout", "300ms"]);
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get(format!("http://{}/__space/health", srv.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the server ends an idle HTTP/2 connection")
        .unwrap()
        .ok();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// Connects to `addr` from the loopback address `from` (Linux routes all of 127/8 to lo).
#[cfg(target_os = "linux")]
fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(socket.connect(addr))
        .unwrap()
        .into_std()
        .unwrap();
    s.set_nonblocking(false).unwrap();
    s
}

#[cfg(target_os = "linux")]
#[test]
fn connections_past_the_per_ip_cap_are_closed_and_other_clients_are_served() {
    let app = probe_app("", "");
    let srv = app.serve(&["--max-connections-per-ip", "2"]);
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| connect_from([127, 0, 0, 1], srv.addr))
        .collect();
    let mut third = connect_from([127, 0, 0, 1], srv.addr);
    let _ = third.write_all(b"GET /__space/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let took = closed_within(&mut third, Duration::from_secs(5)).expect("refused");
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    assert!(srv.wait_output(Duration::from_secs(2), |o| {
        o.contains("connections from one address")
    }));
    // Another address is served while the first holds its two.
    let mut other = connect_from([127, 0, 0, 2], srv.addr);
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other
        .write_all(b"GET /__space/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    other.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[test]
fn a_client_that_reads_none_of_its_responses_is_closed_and_others_are_served() {
    let app = probe_app("timeout = \"5s\"", "");
    let srv = app.serve(&["--idle-timeout", "300ms"]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    // Twenty 5 MB responses (buffered: no Content-Length), none of them read.
    let req = "GET /big-response?bytes=5000000 HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(req.repeat(20).as_bytes()).unwrap();
    // Others are served while it sits on its responses.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert_eq!(health(&srv, Duration::from_secs(5)), Some(200));
    }
    // Reading now finds what reached the socket before the server gave up, then the end.
    let mut total = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) if total == 0 => {
                let head = String::from_utf8_lossy(&buf[..n.min(12)]).into_owned();
                assert_eq!(head, "HTTP/1.1 200", "the first response is the big one");
                total += n;
            }
            Ok(n) => total += n,
        }
        assert!(
            total < 20 * 5_000_000,
            "every response was kept for the client"
        );
    }
    assert!(total < 10 * 5_000_000, "read {total} bytes");
}
