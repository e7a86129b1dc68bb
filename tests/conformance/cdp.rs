//! A small Chrome DevTools Protocol client for the dashboard test: starts headless Chromium
//! with a throwaway profile, talks to one page over the browser's websocket (flattened
//! sessions), and offers the few commands the test needs: navigate, evaluate, wait, click,
//! screenshot. Chromium is found through `CHROMIUM`, else `chromium` or `chromium-browser` on
//! `PATH`; when it is missing the test fails and says how to install it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long one DevTools command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CHROMIUM={} is not a file: install Chromium (Debian/Ubuntu: \
             `sudo apt-get install -y chromium`) or point CHROMIUM at it",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the dashboard test needs Chromium and found none: install it \
         (Debian/Ubuntu: `sudo apt-get install -y chromium`) or set CHROMIUM=/path/to/chromium"
    );
}

/// A headless Chromium with one page attached; closed and killed on drop.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    stderr: Arc<Mutex<String>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a `width`×`height` viewport and opens a blank page.
    pub fn launch(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let binary = chromium();
        let mut child = Command::new(&binary)
            .arg("--headless=new")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
            ])
            .args([
                "--disable-background-networking",
                "--hide-scrollbars",
                "--mute-audio",
            ])
            .arg("--force-color-profile=srgb")
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let url = devtools_url(&mut child, stderr.clone());
        let ws = connect(&url);
        let mut browser = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            stderr,
            _profile: profile,
        };
        browser.attach_page(width, height);
        browser
    }

    fn attach_page(&mut self, width: u32, height: u32) {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        self.session = attached["sessionId"].as_str().unwrap().to_string();
        let metrics =
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false});
        self.page("Emulation.setDeviceMetricsOverride", metrics);
    }

    /// Sends one command (to the page's session, or to the browser with `None`) and returns
    /// its result, reading past events; panics on a protocol error or after 30 s.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        loop {
            let reply = match self.ws.read() {
                Ok(Message::Text(text)) => serde_json::from_str::<Value>(&text).unwrap(),
                Ok(_) => continue,
                Err(e) => panic!("{method}: no answer from chromium ({e})\n{}", self.stderr()),
            };
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("{method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Sends one command to the page.
    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Loads `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        let nav = self.page("Page.navigate", json!({"url": url}));
        assert!(nav.get("errorText").is_none(), "loading {url}: {nav}");
    }

    /// The value of the JS `expression` in the page (`null` when it throws).
    pub fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let result = self.page("Runtime.evaluate", params);
        if result.get("exceptionDetails").is_some() {
            return Value::Null;
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` every 100 ms until it is truthy, and returns that value; panics
    /// after `timeout` naming `what` and showing the page's text.
    pub fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if Instant::now() > end {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!(
                    "waited {timeout:?} for {what}; the page shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the middle of the element matching `selector` with real mouse events.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
        ));
        assert!(at.is_object(), "nothing matches {selector}");
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            let event = json!({"type": kind, "x": at["x"], "y": at["y"], "button": "left", "clickCount": 1});
            self.page("Input.dispatchMouseEvent", event);
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"}));
        let data = shot["data"].as_str().expect("screenshot data");
        data_encoding::BASE64
            .decode(data.as_bytes())
            .expect("screenshot is base64")
    }

    /// What Chromium wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let close = json!({"id": u64::MAX, "method": "Browser.close"}).to_string();
        let _ = self.ws.send(Message::text(close));
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads Chromium's stderr up to the `DevTools listening on ws://...` line (30 s at most),
/// then keeps collecting it in the background.
fn devtools_url(child: &mut Child, into: Arc<Mutex<String>>) -> String {
    let pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_string());
            }
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!("chromium printed no `DevTools listening on ws://` line within 30 s");
        }
    }
}

/// Opens the browser's DevTools websocket at `url` (`ws://host:port/devtools/browser/...`).
fn connect(url: &str) -> WebSocket<TcpStream> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected DevTools url {url}"));
    let stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(COMMAND_TIMEOUT)).unwrap();
    let (ws, _) = tungstenite::client(url, stream)
        .unwrap_or_else(|e| panic!("websocket handshake with {url}: {e}"));
    ws
}
