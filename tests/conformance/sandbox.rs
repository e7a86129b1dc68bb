//! S3, S4, S7, S10, S13, S16: each Micro's sandbox — env, keys, files.

use crate::harness::{AppDir, Server, build_app, guest, probe_app};

/// Two Micros on the same probe component, with their own code dirs.
fn two_micros(extra_env: &str) -> AppDir {
    let app = AppDir::new(&format!(
        "[app]\nname = \"pair\"\nversion = \"1.2.3\"\n\n[limits]\ntimeout = \"2s\"\ntmp = \"1MiB\"\n\n\
         [[micro]]\nname = \"alpha\"\ncomponent = '{{probe}}'\nsrc = \"alpha\"\nprimary = true\n\n\
         [micro.env]\nSECRET_A = \"only-alpha\"\n{extra_env}\n\n\
         [[micro]]\nname = \"beta\"\ncomponent = '{{probe}}'\nsrc = \"beta\"\n\n[micro.env]\nSECRET_B = \"only-beta\"\n"
    ));
    app.write("alpha/a.txt", "alpha's file");
    app.write("beta/b.txt", "beta's file");
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_micros_do_not_see_each_others_env_tmp_or_files() {
    let app = two_micros("");
    let srv = app.serve(&["--env", "beta.ONLY_BETA=1"]);
    let a = srv.get("/env").await.json();
    let b = srv.get("/beta/env").await.json();
    assert_eq!(a["SECRET_A"], "only-alpha");
    assert!(
        a.get("SECRET_B").is_none() && a.get("ONLY_BETA").is_none(),
        "{a}"
    );
    assert_eq!(b["SECRET_B"], "only-beta");
    assert!(b.get("SECRET_A").is_none(), "{b}");
    assert_eq!(b["ONLY_BETA"], "1");

    // /tmp is private: a file alpha writes is not visible to beta.
    assert_eq!(
        srv.get("/write?path=/tmp/mine.txt&bytes=10").await.status,
        200
    );
    assert_eq!(srv.get("/read?path=/tmp/mine.txt").await.status, 200);
    let r = srv.get("/beta/read?path=/tmp/mine.txt").await;
    assert_ne!(r.status, 200, "beta read alpha's /tmp: {}", r.text());

    // /app is each Micro's own code dir.
    assert_eq!(srv.get("/ls?path=/app").await.text().trim(), "a.txt");
    assert_eq!(srv.get("/beta/ls?path=/app").await.text().trim(), "b.txt");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_nothing_from_the_host_environment_leaks_in() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let env = srv.get("/env").await.json();
    for host_var in ["PATH", "HOME", "MICRO_WASM_LOG", "CARGO", "USER"] {
        assert!(env.get(host_var).is_none(), "{host_var} leaked: {env}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_paths_cannot_escape_app_or_tmp() {
    let app = probe_app("", "");
    app.write("outside.txt", "host secret");
    let srv = app.serve(&[]);
    for path in [
        "/app/../outside.txt",
        "/app/../../etc/passwd",
        "/tmp/../app.toml",
        "/etc/passwd",
        "../outside.txt",
    ] {
        let r = srv.get(&format!("/read?path={path}")).await;
        assert_ne!(r.status, 200, "{path} was readable: {}", r.text());
        assert!(!r.text().contains("host secret"));
    }
    // The guest still works after the attempts.
    assert_eq!(
        srv.get("/read?path=/app/hello.txt").await.text(),
        "hello from /app\n"
    );
}

async fn keys(srv: &crate::harness::Server) -> (serde_json::Value, serde_json::Value) {
    (
        srv.get("/env").await.json()["DETA_PROJECT_KEY"].clone(),
        srv.get("/beta/env").await.json()["DETA_PROJECT_KEY"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn s4_each_micro_has_its_own_key_stable_across_restarts() {
    let app = two_micros("");
    let (a1, b1) = {
        let srv = app.serve(&[]);
        keys(&srv).await
    };
    let (a, b) = (a1.as_str().unwrap(), b1.as_str().unwrap());
    assert_ne!(a, b);
    let (id_a, secret_a) = a.split_once('_').unwrap();
    let (id_b, _) = b.split_once('_').unwrap();
    assert_eq!(id_a, id_b, "app id is shared");
    assert_eq!(id_a.len(), 8);
    assert!(
        id_a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(secret_a.len(), 32);
    assert!(secret_a.chars().all(|c| c.is_ascii_alphanumeric()));
    let srv = app.serve(&[]);
    assert_eq!(keys(&srv).await, (a1, b1), "keys changed after a restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn s10_preset_variables_and_overrides() {
    let app = two_micros("GREETING = \"manifest\"\nFROM_FILE = \"manifest\"");
    app.write("vars.env", "FROM_FILE=file\nalpha.GREETING=file\n");
    let srv = app.serve(&[
        "--env-file",
        app.path().join("vars.env").to_str().unwrap(),
        "--env",
        "alpha.GREETING=flag",
    ]);
    let a = srv.get("/env").await.json();
    assert_eq!(a["DETA_SPACE_APP"], "true");
    assert_eq!(a["DETA_SPACE_APP_VERSION"], "1.2.3");
    assert_eq!(a["DETA_SPACE_APP_HOSTNAME"], srv.addr.to_string());
    assert_eq!(a["DETA_SPACE_APP_MICRO_NAME"], "alpha");
    assert_eq!(a["DETA_SPACE_APP_MICRO_TYPE"], "primary");
    assert_eq!(a["PORT"], srv.addr.port().to_string());
    assert_eq!(a["TMPDIR"], "/tmp");
    assert_eq!(
        a["GREETING"], "flag",
        "--env wins over --env-file and [micro.env]"
    );
    assert_eq!(a["FROM_FILE"], "file", "--env-file wins over [micro.env]");
    // The working directory is passed as WASI's initial-cwd; relative paths resolve in /app.
    assert_eq!(a["__initial_cwd"], "/app");
    let b = srv.get("/beta/env").await.json();
    assert_eq!(b["DETA_SPACE_APP_MICRO_TYPE"], "normal");
    assert_eq!(b["DETA_SPACE_APP_MICRO_NAME"], "beta");
}

/// SPEC §5: a guest's working directory is `/app`. The runtime passes it as
/// `wasi:cli/environment.initial-cwd`, which wasi-libc (under Rust's std, CPython and
/// StarlingMonkey alike) ignores: it starts every program at `/`. So a guest on raw WASI (the
/// probe) reports `/`, yet its relative paths resolve in `/app` (the code dir is also mounted
/// as `.`); the Rust SDK enters the initial directory itself, so its `current_dir()` says `/app`.
#[tokio::test(flavor = "multi_thread")]
async fn s5_the_working_directory_is_app() {
    let sdk = guest("sdk_probe").display().to_string();
    let app = probe_app(
        "",
        &format!(
            "primary = true\n\n[[micro]]\nname = \"sdk\"\ncomponent = '{sdk}'\nsrc = \"code\"\n"
        ),
    );
    let srv = app.serve(&[]);
    let env = srv.get("/env").await.json();
    assert_eq!(env["__initial_cwd"], "/app");
    assert_eq!(
        env["__cwd"], "/",
        "wasi-libc now starts where initial-cwd says: update SPEC §5 and the SDKs"
    );
    assert_eq!(
        srv.get("/read?path=hello.txt").await.text(),
        "hello from /app\n"
    );
    // An absolute path outside /app and /tmp lands in the code dir too (the `.` mount).
    assert_eq!(
        srv.get("/ls?path=/").await.text(),
        srv.get("/ls?path=/app").await.text()
    );
    for _ in 0..2 {
        // The second request runs on the warm instance, already in /app.
        assert_eq!(
            srv.get("/sdk/cwd").await.json(),
            serde_json::json!({"cwd": "/app", "relative": "hello from /app\n"})
        );
    }
}

/// SPEC §5 for Python: componentize-py's CPython starts at `/` too; the Python SDK's handlers
/// (space.App and the ASGI adapter, which shares the WSGI adapter's) enter `/app`.
#[tokio::test(flavor = "multi_thread")]
async fn s5_python_sdk_guests_work_in_app() {
    let (dir, _) = build_app(
        "tests/guests/python-cwd",
        "It needs componentize-py 0.25.1 (tests/tools.sh installs it).",
    );
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().display().to_string();
    let srv = Server::start_in(
        &dir,
        &["run", "--listen", "127.0.0.1:0", "--state-dir", &state_dir],
    );
    for path in ["/", "/", "/asgi/"] {
        let r = srv.get(path).await;
        assert_eq!(
            (r.status, r.text()),
            (200, "/app|hello from /app\n".to_string()),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_app_is_read_only_and_tmp_is_writable() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let r = srv.get("/write?path=/app/new.txt&bytes=10").await;
    assert_eq!(r.status, 500, "{}", r.text());
    let t = r.text().to_lowercase();
    assert!(
        t.contains("read-only")
            || t.contains("readonly")
            || t.contains("not permitted")
            || t.contains("permission"),
        "{t}"
    );
    assert!(!app.path().join("code/new.txt").exists());
    let r = srv.get("/write?path=/app/hello.txt&bytes=3").await;
    assert_eq!(r.status, 500, "overwriting code must fail: {}", r.text());
    assert_eq!(
        std::fs::read_to_string(app.path().join("code/hello.txt")).unwrap(),
        "hello from /app\n"
    );

    let r = srv.get("/write?path=/tmp/x.txt&bytes=1000").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.get("/read?path=/tmp/x.txt").await.body.len(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn s13_the_code_dir_can_be_listed_and_read() {
    let app = probe_app("", "");
    app.write("code/static/style.css", "body{}");
    let srv = app.serve(&[]);
    let ls = srv.get("/ls?path=/app").await.text();
    assert_eq!(ls.lines().collect::<Vec<_>>(), ["hello.txt", "static"]);
    assert_eq!(
        srv.get("/read?path=/app/static/style.css").await.text(),
        "body{}"
    );
}

#[test]
fn s16_oversized_code_is_refused_naming_the_micro_and_size() {
    let app = probe_app("", "");
    let f = std::fs::File::create(app.path().join("code/huge.bin")).unwrap();
    f.set_len(250_000_001).unwrap(); // sparse: no disk used
    let out = app.cli(&["run", "app.toml", "--listen", "127.0.0.1:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("probe") && err.contains("250000") && err.contains("S16"),
        "{err}"
    );
}

/// The simplest layout: the component beside app.toml and no `src`, so the code dir mounted
/// at `/app` is the app dir itself.
fn simplest_layout() -> (AppDir, tempfile::TempDir) {
    let app = AppDir::new(
        "[app]\nname = \"simple\"\n\n[limits]\ntimeout = \"2s\"\ntmp = \"1MiB\"\n\n\
         [[micro]]\nname = \"web\"\ncomponent = \"probe.wasm\"\n",
    );
    std::fs::copy(guest("probe"), app.path().join("probe.wasm")).unwrap();
    app.write("hello.txt", "hello\n");
    (app, tempfile::tempdir().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_the_state_dir_is_never_inside_app_in_the_simplest_layout() {
    let (app, home) = simplest_layout();
    let srv = app.serve_env(&[], &[("XDG_STATE_HOME", home.path())]);
    assert_eq!(srv.get("/read?path=/app/hello.txt").await.text(), "hello\n");
    let listing = srv.get("/ls?path=/app").await.text();
    assert!(!listing.contains(".micro-wasm"), "{listing}");
    for path in [
        "/app/.micro-wasm/keys.json",
        ".micro-wasm/keys.json",
        "/app/.micro-wasm/logs/web.log",
    ] {
        let r = srv.get(&format!("/read?path={path}")).await;
        assert_ne!(r.status, 200, "{path} was readable: {}", r.text());
    }
    // The keys live in the user's state home instead, one dir per app.
    let state = std::fs::read_dir(home.path().join("micro-wasm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(state.len(), 1, "{state:?}");
    assert!(state[0].join("keys.json").is_file(), "{state:?}");
    assert!(!app.path().join(".micro-wasm").exists());
}

#[test]
fn s3_a_state_dir_inside_a_code_dir_is_refused_with_exit_2() {
    let (app, home) = simplest_layout();
    let env = [("XDG_STATE_HOME", home.path())];
    // Given with --state-dir, inside the code dir.
    let (code, err) = app.cli_env(
        &["run", "--listen", "127.0.0.1:0", "--state-dir", "state"],
        &env,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("micro `web`") && err.contains("code dir") && err.contains("state"),
        "{err}"
    );
    // Left over beside app.toml from an earlier run: refused, and the message says where to.
    std::fs::create_dir(app.path().join(".micro-wasm")).unwrap();
    let (code, err) = app.cli_env(&["run", "--listen", "127.0.0.1:0"], &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(".micro-wasm") && err.contains(&home.path().display().to_string()),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_state_dir_its_logs_and_compiled_code_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/stdout").await.status, 200);
    let state = app.path().join(".micro-wasm");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for dir in ["", "logs", "cache", "tmp"] {
        assert_eq!(mode(&state.join(dir)), 0o700, "{dir}/");
    }
    assert_eq!(mode(&state.join("logs/probe.log")), 0o600);
    assert_eq!(mode(&state.join("keys.json")), 0o600);
    let cwasm: Vec<_> = std::fs::read_dir(state.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!cwasm.is_empty());
    for f in cwasm {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_output_reaches_the_console_and_log_with_control_characters_escaped() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    let r = srv
        .get("/print?text=%1B%5B2J%1B%5D0%3Bowned%07red%E2%80%AEtxt.exe")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = "\\x1b[2J\\x1b]0;owned\\x07red\\u{202e}txt.exe";
    assert!(
        srv.wait_output(std::time::Duration::from_secs(5), |o| o.contains(shown)),
        "{:?}",
        srv.stdout()
    );
    assert!(!srv.stdout().contains('\u{1b}'), "{:?}", srv.stdout());
    let path = app.path().join(".micro-wasm/logs/probe.log");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut log = String::new();
    while !log.contains(shown) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(20));
        log = std::fs::read_to_string(&path).unwrap_or_default();
    }
    assert!(log.contains(shown) && !log.contains('\u{1b}'), "{log:?}");
}
