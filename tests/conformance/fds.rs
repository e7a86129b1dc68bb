//! Host file descriptors held by guests (SECURITY.md, hostile guests): files, directories,
//! TCP sockets and outbound HTTP connections are capped per instance (`open_files`) and per
//! Micro (`micro_open_files`); a guest past a cap gets an error, and the front door keeps
//! its descriptors whatever the guests hold.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Resp, Server, probe_app};

/// A loopback HTTP server that sends a response head and one byte of a long body, then keeps
/// every connection open; returns its port.
async fn stalling_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nx")
                    .await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
        }
    });
    port
}

/// How many descriptors one `/hoard` request opened: N from `ok N` (with nothing held
/// before) or K from `after K: …`.
fn opened(r: &Resp) -> u64 {
    let t = r.text();
    let n = t
        .strip_prefix("ok ")
        .or_else(|| t.strip_prefix("after "))
        .and_then(|rest| rest.split([':', '\n']).next())
        .and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("not a /hoard answer: {t}"))
}

async fn get(srv: &Server, path: &str) -> Resp {
    get_within(srv, path, 10).await
}

async fn get_within(srv: &Server, path: &str, secs: u64) -> Resp {
    tokio::time::timeout(Duration::from_secs(secs), srv.get(path))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer in {secs} s\n{}", srv.stderr()))
}

/// Each kind of descriptor stops at `open_files` in one instance with the error its
/// interface has for it; two instances together stop at `micro_open_files`; an idle instance
/// holding more than half the Micro's cap is not kept warm, and its descriptors are given
/// back; the runtime serves on.
#[tokio::test(flavor = "multi_thread")]
async fn open_files_and_sockets_are_capped_per_instance_and_per_micro() {
    let port = stalling_upstream().await;
    let app = probe_app(
        "timeout = \"10s\"\nopen_files = 4\nmicro_open_files = 6",
        &format!("outbound = [\"http://127.0.0.1:{port}\"]"),
    );
    let srv = Arc::new(app.serve(&[]));
    let url = format!("http://127.0.0.1:{port}/");
    let addr = format!("127.0.0.1:{port}");
    for (query, error) in [
        ("kind=file".to_string(), "kind=QuotaExceeded"),
        ("kind=dir".to_string(), "name: \"quota\""),
        ("kind=socket".to_string(), "name: \"new-socket-limit\""),
        (
            format!("kind=connect&addr={addr}"),
            "No file descriptors available",
        ),
        (format!("kind=http&url={url}"), "ConnectionLimitReached"),
    ] {
        let r = get(&srv, &format!("/hoard?{query}&n=5")).await;
        assert_eq!(r.status, 500, "{query}: {}", r.text());
        assert!(r.text().starts_with("after 4: "), "{query}: {}", r.text());
        assert!(r.text().contains(error), "{query}: {}", r.text());
        // 4 is more than half of 6: the instance was dropped, so the next request gets a
        // fresh one and the Micro's count is back to 0 (else the next one would get only 2).
    }
    assert_eq!(get(&srv, "/unhoard").await.text(), "ok 0\n");
    // Instance A holds 4 files and stays busy; instance B gets the Micro's last 2.
    let a = {
        let srv = srv.clone();
        tokio::spawn(async move { get(&srv, "/hoard?kind=file&n=4&linger_ms=1500").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = get(&srv, "/hoard?kind=socket&n=4").await;
    assert_eq!(b.status, 500, "{}", b.text());
    assert!(b.text().starts_with("after 2: "), "{}", b.text());
    assert!(b.text().contains("new-socket-limit"), "{}", b.text());
    assert_eq!(a.await.unwrap().text(), "ok 4\n");
    assert!(
        srv.wait_output(Duration::from_secs(2), |o| o.contains(
            "open refused: the Micro's instances may hold 6 open files and sockets together"
        )),
        "{}",
        srv.stderr()
    );
    // Half the cap or less stays warm, descriptors and all.
    assert_eq!(get(&srv, "/hoard?kind=file&n=3").await.text(), "ok 3\n");
    assert_eq!(get(&srv, "/unhoard").await.text(), "ok 3\n");
    assert_eq!(get(&srv, "/__space/health").await.status, 200);
    assert_eq!(get(&srv, "/status?code=201").await.status, 201);
}

/// Under an open-file limit of 512 that the runtime cannot raise, with
/// `--max-connections 64`, the Micro may hold 512 - 64 - 256 = 192 descriptors. Four
/// instances try to hoard 200 each and stay busy: together they get exactly 192, and 40
/// clients at once are answered within 2 s (without the caps the guests took all 512, every
/// `accept()` failed with EMFILE and all 40 timed out). Once they are idle, the warm ones
/// holding descriptors are dropped until the Micro holds at most half its cap, so it can
/// open files again.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn hoarding_guests_cannot_take_the_front_doors_descriptors() {
    let app = probe_app("timeout = \"20s\"", "");
    let srv = Arc::new(app.serve_with_ulimit("-n 512", &["--max-connections", "64"]));
    let hoards: Vec<_> = (0..4)
        .map(|i| {
            let srv = srv.clone();
            let kind = if i % 2 == 0 { "file" } else { "socket" };
            tokio::spawn(async move {
                get_within(
                    &srv,
                    &format!("/hoard?kind={kind}&n=200&linger_ms=6000"),
                    20,
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let srv = srv.clone();
            tokio::spawn(async move { get_within(&srv, "/__space/health", 2).await.status })
        })
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), 200);
    }
    // A fresh instance of the same Micro still answers (it needs no descriptor).
    assert_eq!(get_within(&srv, "/status?code=200", 2).await.status, 200);
    #[cfg(target_os = "linux")]
    {
        let open = std::fs::read_dir(format!("/proc/{}/fd", srv.pid()))
            .unwrap()
            .count();
        assert!(open < 512 - 64, "{open} descriptors open");
    }
    let mut total = 0;
    for h in hoards {
        let r = h.await.unwrap();
        total += opened(&r);
    }
    assert_eq!(total, 192, "{}", srv.stderr());
    let r = get(&srv, "/hoard?kind=file&n=50").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&srv, "/__space/health").await.status, 200);
}

/// `run` raises its soft open-file limit to the hard one.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let app = probe_app("", "");
    let srv = app.serve_with_ulimit("-Sn 300", &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", srv.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_ne!(numbers[0], "300", "{line}");
    // An unlimited hard limit is raised to 2^20 (or macOS's OPEN_MAX).
    if numbers[1] != "unlimited" {
        assert_eq!(numbers[0], numbers[1], "{line}");
    }
    assert_eq!(get(&srv, "/__space/health").await.status, 200);
}
