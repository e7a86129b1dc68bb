//! Shared pieces of the conformance suite: building the guest components once, starting the
//! real `micro-wasm` binary on an ephemeral port with a generated app, and a small HTTP client.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

pub const BIN: &str = env!("CARGO_BIN_EXE_micro-wasm");

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the test guests and the examples once per test run; returns the path of `name.wasm`
/// (`probe` and `sdk_probe` from tests/guests, the others from guest-examples).
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        ensure_wasm_target();
        for ws in ["tests/guests", "guest-examples"] {
            let dir = repo().join(ws);
            let status = Command::new(env!("CARGO"))
                .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
                .current_dir(&dir)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .status()
                .expect("running cargo for the guests");
            assert!(
                status.success(),
                "building the guests in {} failed",
                dir.display()
            );
        }
    });
    let ws = if ["probe", "sdk_probe"].contains(&name) {
        "tests/guests"
    } else {
        "guest-examples"
    };
    repo()
        .join(ws)
        .join(format!("target/wasm32-wasip2/release/{name}.wasm"))
}

pub fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"));
    if let Ok(false) = installed {
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`"
        );
    }
}

/// A scratch app: a temp dir holding app.toml, code dirs and the state dir, and a second one
/// given to every command as `XDG_STATE_HOME`, where the state dir goes when the app dir is a
/// code dir (so no test writes to the real home).
pub struct AppDir {
    pub dir: tempfile::TempDir,
    pub state_home: tempfile::TempDir,
}

impl AppDir {
    /// Writes `toml` as app.toml. `{probe}` and `{hello}` are replaced by the guests' paths.
    pub fn new(toml: &str) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        let text = toml
            .replace("{probe}", &guest("probe").display().to_string())
            .replace("{hello}", &guest("hello").display().to_string());
        std::fs::write(dir.path().join("app.toml"), text).unwrap();
        AppDir {
            dir,
            state_home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest(&self) -> PathBuf {
        self.path().join("app.toml")
    }

    /// Writes a file under the app dir, creating parent dirs.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Runs `micro-wasm ARGS` to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env("XDG_STATE_HOME", self.state_home.path())
            .current_dir(self.path())
            .output()
            .unwrap()
    }

    /// Runs `micro-wasm ARGS` with environment variables; its exit code and stderr, or
    /// `None` and the stderr so far if it still runs after 60 s (it is then killed).
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String) {
        let err = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .env("XDG_STATE_HOME", self.state_home.path())
            .envs(env.iter().copied())
            .current_dir(self.path())
            .stdout(Stdio::null())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, std::fs::read_to_string(err.path()).unwrap())
    }

    /// Starts `micro-wasm run` on port 0 with extra args.
    pub fn serve(&self, extra: &[&str]) -> Server {
        Server::start(self, extra, &[])
    }

    /// Starts `micro-wasm run` on port 0 with extra args after `ulimit ULIMIT` in `sh`:
    /// `-n 512` sets the open-file limit, soft and hard (so the runtime cannot raise it),
    /// `-Sn 300` only the soft one.
    #[cfg(unix)]
    pub fn serve_with_ulimit(&self, ulimit: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new("sh");
        cmd.env("XDG_STATE_HOME", self.state_home.path())
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(BIN)
            .arg("run")
            .arg(self.manifest())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        Server::spawn(cmd, Duration::from_secs(120))
    }

    /// Starts `micro-wasm run` on port 0 with extra args and environment variables.
    pub fn serve_env(&self, extra: &[&str], env: &[(&str, &Path)]) -> Server {
        Server::start(self, extra, env)
    }
}

/// A running `micro-wasm run`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<String>>,
    ready: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(tx) = &ready
                && line.contains("listening on http://")
            {
                let _ = tx.send(line.clone());
            }
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

impl Server {
    fn start(app: &AppDir, extra: &[&str], env: &[(&str, &Path)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.env("XDG_STATE_HOME", app.state_home.path())
            .envs(env.iter().copied());
        cmd.arg("run")
            .arg(app.manifest())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        Server::spawn(cmd, Duration::from_secs(120))
    }

    /// Starts `micro-wasm ARGS` (e.g. `run --build --listen 127.0.0.1:0`) in `dir`, with the
    /// cargo variables of the test run removed so a `build` command builds as a user's would;
    /// waits up to 10 minutes for the `listening on` line.
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        Server::spawn(cmd, Duration::from_secs(600))
    }

    fn spawn(mut cmd: Command, timeout: Duration) -> Server {
        let mut child = cmd
            .env("MICRO_WASM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(child.stderr.take().unwrap(), stderr.clone(), Some(tx));
        collect(child.stdout.take().unwrap(), stdout.clone(), None);
        let line = match rx.recv_timeout(timeout) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("micro-wasm did not start:\n{}", stderr.lock().unwrap());
            }
        };
        let addr = line
            .rsplit("http://")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Server {
            child,
            addr,
            stderr,
            stdout,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until `pred(stdout + stderr)` holds, up to `timeout`.
    pub fn wait_output(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if pred(&(self.stdout() + &self.stderr())) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (at most 10 s) until at least `n` requests are running in the app's Micros, as
    /// `/__space/status` counts them: a test's sync point instead of a sleep.
    pub async fn wait_in_flight(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.get("/__space/status").await.json();
            let running: u64 = status["micros"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["in_flight"].as_u64())
                .sum();
            if running >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never {n} requests in flight: {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Request::get(path).body(Full::new(Bytes::new())).unwrap())
            .await
    }

    pub async fn post(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send(Request::post(path).body(Full::new(body.into())).unwrap())
            .await
    }

    /// `method` `path` with `body` of `content_type`.
    pub async fn send_typed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(Full::new(body.into()))
            .unwrap();
        self.send(req).await
    }

    /// Sends `req` (its URI is a path) on a fresh connection.
    pub async fn send<B>(&self, mut req: Request<B>) -> Resp
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !req.headers().contains_key("host") {
            req.headers_mut()
                .insert("host", self.addr.to_string().parse().unwrap());
        }
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// The process id of `micro-wasm run`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (unix) `times` times, 100 ms apart, and waits for the exit status.
    #[cfg(unix)]
    pub fn terminate(&mut self, times: usize) -> std::process::ExitStatus {
        for i in 0..times {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status()
                .unwrap();
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `req` to `addr` on a fresh connection and reads the whole response; its status,
/// or `None` when the connection or the response failed (e.g. the server was killed).
pub async fn try_send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Option<u16> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await.ok()?;
    Some(status)
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", self.text()))
    }

    /// Asserts a JSON error of SPEC §4 with this status and kind, naming `micro`.
    pub fn assert_error(&self, status: u16, kind: &str, micro: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.text());
        let j = self.json();
        assert_eq!(j["error"], kind, "{j}");
        match micro {
            Some(m) => assert_eq!(j["micro"], m, "{j}"),
            None => assert!(j["micro"].is_null(), "{j}"),
        }
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
    }
}

/// A one-Micro app on the probe guest with small test limits (`limits` lines override the
/// defaults below), plus extra `[[micro]]` TOML.
pub fn probe_app(limits: &str, extra: &str) -> AppDir {
    let mut table: Vec<String> = limits.lines().map(str::to_string).collect();
    for default in [
        "timeout = \"500ms\"",
        "tmp = \"1MiB\"",
        "sleep_after = \"60s\"",
    ] {
        let key = default.split(' ').next().unwrap();
        if !table.iter().any(|l| l.trim_start().starts_with(key)) {
            table.push(default.to_string());
        }
    }
    let app = AppDir::new(&format!(
        "[app]\nname = \"t\"\n\n[limits]\n{}\n\n[[micro]]\nname = \"probe\"\ncomponent = '{{probe}}'\nsrc = \"code\"\n{extra}\n",
        table.join("\n")
    ));
    app.write("code/hello.txt", "hello from /app\n");
    app
}

/// `micro-wasm build` of the app in `rel` (a dir of the repo), as a user would run it: the
/// cargo variables of the test run are removed. Its output (stdout then stderr); a failure
/// panics with `needs` (what the build needs, for the reader) and the output.
pub fn build_app(rel: &str, needs: &str) -> (PathBuf, String) {
    let dir = repo().join(rel);
    let out = Command::new(BIN)
        .arg("build")
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`micro-wasm build` of {rel} failed. {needs} Output:\n{output}"
    );
    (dir, output.into_owned())
}
