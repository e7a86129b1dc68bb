//! The live dashboard at `/__space/`: its key handling over plain HTTP, then the real
//! page in headless Chromium — the Micro, its recent requests, errors and log lines, "Run now"
//! delivering the action — and a screenshot, checked and saved to `dashboard.png` in Cargo's
//! temp dir for tests (`target/tmp/`), or where `MICRO_WASM_SCREENSHOT` says: the README's
//! `docs/dashboard.png` is refreshed by `docs/refresh-dashboard.sh`, never by a plain test run.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use serde_json::Value;

use crate::cdp::{self, Browser};
use crate::harness::{self, AppDir, Resp, Server};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 880;
const WAIT: Duration = Duration::from_secs(20);

/// Where the screenshot goes: `$MICRO_WASM_SCREENSHOT` (relative to the repo's root), else
/// `dashboard.png` in Cargo's temp dir for integration tests, so a test run changes no tracked
/// file.
fn screenshot_path() -> std::path::PathBuf {
    match std::env::var_os("MICRO_WASM_SCREENSHOT") {
        Some(path) if !path.is_empty() => harness::repo().join(path),
        _ => std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"),
    }
}

/// One probe Micro behind `auth = "api-key"`, with a daily action `nudge`.
fn dashboard_app() -> AppDir {
    let app = AppDir::new(
        "[app]\nname = \"dash\"\nauth = \"api-key\"\n\n[limits]\ntimeout = \"5s\"\n\n\
         [[micro]]\nname = \"probe\"\ncomponent = '{probe}'\nsrc = \"code\"\n\n\
         [[micro.action]]\nid = \"nudge\"\nname = \"Nudge\"\ninterval = \"1 day\"\n\n\
         [[micro.action]]\nid = \"report\"\nname = \"Weekly report\"\ninterval = \"0 9 * * 1\"\n",
    );
    app.write("code/hello.txt", "hello");
    app
}

async fn send(srv: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    srv.send(req.body(Full::new(Bytes::new())).unwrap()).await
}

/// The key is traded for an HttpOnly, SameSite=Strict cookie scoped to `/__space`; the cookie
/// opens the runtime endpoints; Run now also needs `X-Space-Dashboard: 1`; nothing logs the key.
async fn check_key_handling(srv: &Server, key: &str) {
    send(srv, "GET", "/__space/", &[])
        .await
        .assert_error(401, "unauthorized", None);
    send(srv, "GET", "/__space/?key=wrong", &[])
        .await
        .assert_error(401, "unauthorized", None);
    let traded = send(srv, "GET", &format!("/__space/?key={key}"), &[]).await;
    assert_eq!(traded.status, 303, "{}", traded.text());
    assert_eq!(traded.headers["location"], "/__space/");
    let set_cookie = traded.headers["set-cookie"].to_str().unwrap();
    for part in [
        "space_app_key=",
        "Path=/__space",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(
            set_cookie.contains(part),
            "{part} missing from {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let page = send(srv, "GET", "/__space/", &[("cookie", &cookie)]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let status = send(srv, "GET", "/__space/status", &[("cookie", &cookie)]).await;
    assert_eq!(status.status, 200, "{}", status.text());
    send(
        srv,
        "GET",
        "/__space/status",
        &[("cookie", "space_app_key=nope")],
    )
    .await
    .assert_error(401, "unauthorized", None);
    send(
        srv,
        "POST",
        "/__space/actions/nudge/run",
        &[("cookie", &cookie)],
    )
    .await
    .assert_error(400, "bad_request", Some("probe"));
    send(
        srv,
        "GET",
        "/__space/actions/nudge/run",
        &[("x-space-app-key", key)],
    )
    .await
    .assert_error(400, "bad_request", Some("probe"));
    send(
        srv,
        "POST",
        "/__space/actions/nope/run",
        &[("x-space-app-key", key)],
    )
    .await
    .assert_error(404, "not_found", None);
}

/// Some traffic for the page to show: warm and cold requests, log lines and one error.
async fn make_traffic(srv: &Server, key: &str) {
    let auth = [("x-space-app-key", key)];
    for path in [
        "/counter",
        "/counter",
        "/stdout?lines=2",
        "/status?code=404",
    ] {
        let r = send(srv, "GET", path, &auth).await;
        assert!(r.status < 500, "{path}: {}", r.text());
    }
    send(srv, "GET", "/panic", &auth)
        .await
        .assert_error(502, "trap", Some("probe"));
}

/// `expr` as a JS boolean over the Micro's card.
fn in_card(expr: &str) -> String {
    format!(
        "(() => {{ const card = document.querySelector('[data-micro=\"probe\"]'); return !!card && ({expr}); }})()"
    )
}

/// Drives the page: waits for the Micro and its activity, clicks Run now for `nudge`, waits
/// for its result, and returns a screenshot.
fn drive_browser(browser: &mut Browser, base: &str, key: &str) -> Vec<u8> {
    browser.navigate(&format!("{base}/__space/?key={key}"));
    let url = browser.wait_for("the redirect", "location.pathname + location.search", WAIT);
    assert_eq!(url, "/__space/", "the key leaves the address bar");
    browser.wait_for(
        "the micro's name",
        &in_card("card.querySelector('.name').textContent === 'probe'"),
        WAIT,
    );
    let paths = "[...card.querySelectorAll('tr.request td.path')].map(td => td.textContent)";
    browser.wait_for(
        "a recent request",
        &in_card(&format!("{paths}.includes('/counter')")),
        WAIT,
    );
    browser.wait_for(
        "the trap in recent errors",
        &in_card("[...card.querySelectorAll('li.error')].some(li => li.textContent.includes('502 trap'))"),
        WAIT,
    );
    browser.wait_for(
        "the guest's log lines",
        &in_card("card.querySelector('pre.logs').textContent.includes('probe line 1')"),
        WAIT,
    );
    let state = browser.eval("document.querySelector('[data-micro=\"probe\"] .state').textContent");
    assert_eq!(state, "awake");
    assert_eq!(browser.eval("document.title"), "dash · micro-wasm");

    let row = "[data-action=\"nudge\"]";
    browser.wait_for(
        "the Run now button",
        &format!("document.querySelector('{row} button.run')?.textContent === 'Run now'"),
        WAIT,
    );
    browser.click(&format!("{row} button.run"));
    browser.wait_for(
        "a successful last result",
        &format!("document.querySelector('{row} td.last')?.dataset.ok === 'true'"),
        WAIT,
    );
    let last = browser.eval(&format!(
        "document.querySelector('{row} td.last').textContent"
    ));
    assert!(last.as_str().unwrap().starts_with("ok 200"), "{last}");
    browser.wait_for(
        "the button to be ready again",
        &format!("document.querySelector('{row} button.run').textContent === 'Run now'"),
        WAIT,
    );
    browser.screenshot()
}

/// Decodes `png`, checks its size and that it is not blank, and returns (colors, share of the
/// most common color).
fn check_screenshot(png_bytes: &[u8]) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(
        (frame.width, frame.height),
        (WIDTH, HEIGHT),
        "screenshot size"
    );
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "{:?}", frame.color_type);
    let mut counts = std::collections::HashMap::new();
    for px in pixels[..frame.buffer_size()].chunks(channels) {
        *counts.entry((px[0], px[1], px[2])).or_insert(0usize) += 1;
    }
    let top = counts.values().max().copied().unwrap_or(0);
    let share = top as f64 / (frame.width * frame.height) as f64;
    (counts.len(), share)
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_headless_chromium() {
    let started = Instant::now();
    // Fail first, and clearly, when Chromium is missing.
    cdp::chromium();
    let app = dashboard_app();
    let created = app.cli(&["keys", "create", "dash"]);
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let srv = app.serve(&[]);
    check_key_handling(&srv, &key).await;
    make_traffic(&srv, &key).await;

    let base = format!("http://{}", srv.addr);
    let shot = tokio::task::block_in_place(|| {
        let mut browser = Browser::launch(WIDTH, HEIGHT);
        drive_browser(&mut browser, &base, &key)
    });

    // The action really reached the Micro, as the scheduled event.
    let seen = send(&srv, "GET", "/last-action", &[("x-space-app-key", &key)])
        .await
        .json();
    assert_eq!(seen["path"], "/__space/v0/actions", "{seen}");
    assert_eq!(
        seen["body"],
        r#"{"event":{"id":"nudge","trigger":"schedule"}}"#
    );
    let status: Value = send(&srv, "GET", "/__space/status", &[("x-space-app-key", &key)])
        .await
        .json();
    let nudge = &status["actions"][0];
    assert_eq!(
        (nudge["id"].as_str(), nudge["runs"].as_u64()),
        (Some("nudge"), Some(1)),
        "{nudge}"
    );
    assert!(
        srv.wait_output(Duration::from_secs(5), |out| out
            .lines()
            .any(|l| l.contains("action ran")
                && l.contains("action=nudge")
                && l.contains("trigger=manual"))),
        "the manual run is logged:\n{}",
        srv.stderr()
    );
    assert!(!srv.stderr().contains(&key), "the key leaked into the log");

    // Run now over plain HTTP answers the finished run's result.
    let headers = [
        ("x-space-app-key", key.as_str()),
        ("x-space-dashboard", "1"),
    ];
    let ran = send(&srv, "POST", "/__space/actions/report/run", &headers).await;
    assert_eq!(ran.status, 200, "{}", ran.text());
    let ran = ran.json();
    assert_eq!(
        (&ran["action"], &ran["micro"]),
        (&"report".into(), &"probe".into()),
        "{ran}"
    );
    assert_eq!(
        (&ran["result"]["ok"], &ran["result"]["status"]),
        (&true.into(), &200.into())
    );

    let (colors, share) = check_screenshot(&shot);
    assert!(
        colors > 50 && share < 0.9,
        "a blank-looking screenshot: {colors} colors, top {share:.2}"
    );
    let out = screenshot_path();
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, &shot).unwrap();
    eprintln!(
        "dashboard: {} bytes, {colors} colors -> {} ({:.1}s)",
        shot.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
}

/// An `auth = "none"` app (the default) with an action, for the loopback rule.
fn open_app() -> AppDir {
    let app = AppDir::new(
        "[app]\nname = \"open\"\n\n[limits]\ntimeout = \"2s\"\n\n\
         [[micro]]\nname = \"probe\"\ncomponent = '{probe}'\nsrc = \"code\"\n\n\
         [[micro.action]]\nid = \"nudge\"\nname = \"Nudge\"\ninterval = \"1 day\"\n",
    );
    app.write("code/hello.txt", "hello");
    app
}

/// Asserts that without a key the runtime endpoints but health refuse this client (403) and
/// that health and the Micro still answer.
async fn assert_only_health_answers(srv: &Server, headers: &[(&str, &str)]) {
    for (method, path) in [
        ("GET", "/__space/"),
        ("GET", "/__space/status"),
        ("GET", "/__space/metrics"),
        ("POST", "/__space/actions/nudge/run"),
    ] {
        let mut with = headers.to_vec();
        with.push(("x-space-dashboard", "1"));
        send(srv, method, path, &with)
            .await
            .assert_error(403, "forbidden", None);
    }
    assert_eq!(
        send(srv, "GET", "/__space/health", headers).await.status,
        200
    );
    assert_eq!(send(srv, "GET", "/env", headers).await.status, 200);
}

/// This machine's address on its default route, if it has one that is not loopback: a client
/// connecting to it from this machine is seen with that address, a real non-loopback peer.
fn own_non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route and source address.
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Without auth, the dashboard, status, metrics and Run now answer loopback clients only: a
/// peer on another address gets 403, health stays public.
#[tokio::test(flavor = "multi_thread")]
async fn without_auth_runtime_endpoints_refuse_non_loopback_peers() {
    let Some(ip) = own_non_loopback_ip() else {
        eprintln!("skipped: this machine has no non-loopback address to connect from");
        return;
    };
    let app = open_app();
    let listen = std::net::SocketAddr::new(ip, 0).to_string();
    let srv = Server::start_in(app.path(), &["run", "app.toml", "--listen", &listen]);
    assert_eq!(srv.addr.ip(), ip);
    assert_only_health_answers(&srv, &[]).await;
}

/// A trusted proxy forwarding for a public client is not a loopback client; an untrusted
/// loopback peer that forwards for someone (a local proxy nobody declared) is not either, nor
/// a loopback client that names another host (DNS rebinding). A loopback client itself is
/// served.
#[tokio::test(flavor = "multi_thread")]
async fn without_auth_forwarded_clients_are_not_loopback_clients() {
    let app = open_app();
    let srv = app.serve(&["--trusted-proxy", "127.0.0.1"]);
    assert_only_health_answers(&srv, &[("x-forwarded-for", "203.0.113.9")]).await;
    let local = send(
        &srv,
        "GET",
        "/__space/status",
        &[("x-forwarded-for", "127.0.0.1")],
    )
    .await;
    assert_eq!(local.status, 200, "{}", local.text());
    drop(srv);

    let srv = app.serve(&[]);
    assert_only_health_answers(&srv, &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_only_health_answers(&srv, &[("forwarded", "for=203.0.113.9")]).await;
    // A page that rebinds its own name to 127.0.0.1 sends that name as the host.
    assert_only_health_answers(&srv, &[("host", "evil.example:4200")]).await;
    let named = send(
        &srv,
        "GET",
        "/__space/status",
        &[("host", "localhost:4200")],
    )
    .await;
    assert_eq!(named.status, 200, "{}", named.text());
    assert_eq!(send(&srv, "GET", "/__space/status", &[]).await.status, 200);
    assert_eq!(send(&srv, "GET", "/__space/metrics", &[]).await.status, 200);
}

/// Query strings (tokens, emails) never appear in the recent requests or errors of
/// `/__space/status`.
#[tokio::test(flavor = "multi_thread")]
async fn status_shows_request_paths_without_query_strings() {
    let app = open_app();
    let srv = app.serve(&[]);
    assert_eq!(
        send(&srv, "GET", "/counter?token=s3cret", &[]).await.status,
        200
    );
    send(&srv, "GET", "/panic?token=s3cret", &[])
        .await
        .assert_error(502, "trap", Some("probe"));
    let status = send(&srv, "GET", "/__space/status", &[]).await.json();
    let recent = &status["micros"][0]["recent"];
    let paths: Vec<&str> = recent["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert!(paths.contains(&"/counter"), "{recent}");
    assert!(!status.to_string().contains("s3cret"), "{recent}");
}
