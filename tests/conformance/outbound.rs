//! S14: outbound HTTP and TCP from guests, allowed or denied by the Micro's `outbound` list.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::probe_app;

/// A loopback HTTP server answering `200 ok` to every request; returns its port.
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream")
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn s14_default_policy_denies_loopback_and_private_destinations() {
    let port = upstream().await;
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let r = srv
        .get(&format!("/fetch?url=http://127.0.0.1:{port}/"))
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = srv.get(&format!("/connect?addr=127.0.0.1:{port}")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let r = srv
        .get("/fetch?url=http://169.254.169.254/latest/meta-data/")
        .await;
    assert!(
        r.text().contains("HttpRequestDenied"),
        "metadata service: {}",
        r.text()
    );
    assert!(srv.wait_output(std::time::Duration::from_secs(2), |o| {
        o.contains("denied (S14)")
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn s14_allow_list_opens_exactly_what_it_names() {
    let port = upstream().await;
    let app = probe_app("", &format!("outbound = [\"http://127.0.0.1:{port}\"]"));
    let srv = app.serve(&[]);
    let r = srv
        .get(&format!("/fetch?url=http://127.0.0.1:{port}/x"))
        .await;
    assert_eq!((r.status, r.text().as_str()), (200, "status 200\nupstream"));
    let r = srv.get(&format!("/connect?addr=127.0.0.1:{port}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Another port on the same host is not on the list.
    let other = upstream().await;
    let r = srv
        .get(&format!("/fetch?url=http://127.0.0.1:{other}/"))
        .await;
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = srv.get(&format!("/connect?addr=127.0.0.1:{other}")).await;
    assert_eq!(r.status, 502, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn s14_an_entry_without_a_port_means_the_default_port_not_every_port() {
    let port = upstream().await;
    let app = probe_app("", "outbound = [\"http://127.0.0.1\", \"127.0.0.2\"]");
    let srv = app.serve(&[]);
    let r = srv
        .get(&format!("/fetch?url=http://127.0.0.1:{port}/"))
        .await;
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = srv.get(&format!("/connect?addr=127.0.0.1:{port}")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    // The same port is reachable once the entry names it.
    let app = probe_app("", &format!("outbound = [\"http://127.0.0.1:{port}\"]"));
    let srv = app.serve(&[]);
    let r = srv
        .get(&format!("/fetch?url=http://127.0.0.1:{port}/"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn s14_a_name_not_on_the_list_is_denied_without_a_dns_lookup() {
    let app = probe_app("", "outbound = [\"https://allowed.example.com\"]");
    let srv = app.serve(&[]);
    let r = srv
        .get("/fetch?url=http://exfil-secret.denied.invalid/")
        .await;
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    assert!(
        srv.wait_output(std::time::Duration::from_secs(2), |o| {
            o.contains("exfil-secret.denied.invalid:80 denied (S14): not on the outbound list; not looked up")
        }),
        "{}",
        srv.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s14_a_raw_socket_name_lookup_not_on_the_list_is_denied_before_any_lookup() {
    let app = probe_app("", "outbound = [\"localhost:5432\"]");
    let srv = app.serve(&[]);
    // A listed name resolves (from the hosts file, no network needed).
    let r = srv.get("/lookup?name=localhost").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().lines().any(|l| l == "127.0.0.1" || l == "::1"),
        "{}",
        r.text()
    );
    // An IP literal needs no lookup and passes.
    let r = srv.get("/lookup?name=10.1.2.3").await;
    assert_eq!((r.status, r.text().as_str()), (200, "10.1.2.3\n"));
    // Any other name is refused before the resolver sees it.
    let r = srv.get("/lookup?name=exfil-secret.denied.invalid").await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("name: \"access-denied\""), "{}", r.text());
    assert!(
        srv.wait_output(std::time::Duration::from_secs(2), |o| {
            o.contains(
                "name lookup of `exfil-secret.denied.invalid` denied (S14): not on the outbound list; not looked up",
            )
        }),
        "{}",
        srv.stderr()
    );
}

/// The data hosts answer in process; when the data service refuses a request before reading
/// all of its body (here the Drive cap, 1 MB, under a 4 MB upload), the guest still writing
/// it finishes its writes and reads the 413, instead of failing mid-write (which makes
/// componentize-js abort the whole Micro).
#[tokio::test(flavor = "multi_thread")]
async fn a_data_call_refused_mid_body_reaches_the_guest_as_its_answer() {
    let app = probe_app("drive = \"1MB\"\npayload = \"8MB\"\ntimeout = \"5s\"", "");
    let srv = app.serve(&[]);
    let r = srv
        .post("/deta/drive/d/files?name=big", vec![7u8; 4 << 20])
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("1000000"), "{}", r.text());
    // Nothing was kept, and the Micro serves on.
    let r = srv.get("/deta/drive/d/files").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["names"], serde_json::json!([]), "{}", r.text());
    assert_eq!(srv.get("/counter").await.status, 200);
}
