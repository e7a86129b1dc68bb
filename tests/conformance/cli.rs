//! SPEC §8's `micro-wasm new` and `micro-wasm logs`: a new app validates, builds, serves its
//! greeting and runs its action; `new` refuses what it must not overwrite or cannot make; `logs`
//! shows what a guest printed, one Micro's or all, and `--follow` shows lines as they come.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, Server, probe_app};

fn cli_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn new_app_validates_builds_serves_and_runs_its_action() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cli_in(tmp.path(), &["new", "blog"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cd blog && micro-wasm run --build"),
        "{}",
        describe(&out)
    );
    let app = tmp.path().join("blog");
    for f in [
        "app.toml",
        ".gitignore",
        "main/Cargo.toml",
        "main/src/lib.rs",
    ] {
        assert!(app.join(f).is_file(), "missing {f}");
    }
    let toml = std::fs::read_to_string(app.join("app.toml")).unwrap();
    assert!(toml.contains("name = \"blog\""), "{toml}");
    assert!(toml.contains("id = \"tick\""), "{toml}");
    let cargo = std::fs::read_to_string(app.join("main/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("[workspace]")
            && cargo.contains("cdylib")
            && cargo.contains("opt-level = 3"),
        "{cargo}"
    );
    let gitignore = std::fs::read_to_string(app.join(".gitignore")).unwrap();
    assert!(gitignore.contains("target/") && gitignore.contains(".micro-wasm/"));

    serves_its_greeting_and_runs_its_action(&app, "blog").await;
}

/// `new --lang python`: `app.py` on `space.py`, built by componentize-py against the app's own
/// `wit/` (the repo's, copied in).
#[tokio::test(flavor = "multi_thread")]
async fn new_app_in_python_validates_builds_serves_and_runs_its_action() {
    let (_tmp, app) = new_app(
        "pyblog",
        "python",
        &[
            "main/app.py",
            "main/space.py",
            "wit/space.wit",
            "wit/deps/http.wit",
        ],
    );
    let toml = std::fs::read_to_string(app.join("app.toml")).unwrap();
    assert!(toml.contains("componentize app -o app.wasm"), "{toml}");
    serves_its_greeting_and_runs_its_action(&app, "pyblog").await;
}

/// `new --lang js`: `app.js` on `space.js`, built by `build.mjs` (componentize-js from the
/// shared tools dir outside the code dir) against the app's own `wit/`.
#[tokio::test(flavor = "multi_thread")]
async fn new_app_in_js_validates_builds_serves_and_runs_its_action() {
    let (_tmp, app) = new_app(
        "jsblog",
        "js",
        &[
            "main/app.js",
            "main/space.js",
            "main/deta.js",
            "main/build.mjs",
            "main/package.json",
            "main/package-lock.json",
            "main/wit/js.wit",
            "wit/space.wit",
            "wit/deps/http.wit",
        ],
    );
    serves_its_greeting_and_runs_its_action(&app, "jsblog").await;
    // The toolchain stayed outside the code dir (S16's 250 MB).
    assert!(!app.join("main/node_modules").exists());
}

/// Runs `new NAME --lang LANG` in a new temp dir and checks the files every language writes,
/// plus `files`; returns the temp dir (removed when dropped) and the app dir in it.
fn new_app(name: &str, lang: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = cli_in(tmp.path(), &["new", name, "--lang", lang]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("cd {name} && micro-wasm run --build")),
        "{}",
        describe(&out)
    );
    let app = tmp.path().join(name);
    for f in ["app.toml", ".gitignore"].iter().chain(files) {
        assert!(app.join(f).is_file(), "missing {f}");
    }
    let toml = std::fs::read_to_string(app.join("app.toml")).unwrap();
    assert!(toml.contains(&format!("name = \"{name}\"")), "{toml}");
    assert!(toml.contains("id = \"tick\""), "{toml}");
    let gitignore = std::fs::read_to_string(app.join(".gitignore")).unwrap();
    assert!(gitignore.contains("*.wasm") && gitignore.contains(".micro-wasm/"));
    (tmp, app)
}

/// `validate`, then `run --build`: `GET /` is the greeting, anything else 404; `trigger tick`
/// is answered 200 and the handler's print of the event shows in `logs`.
async fn serves_its_greeting_and_runs_its_action(app: &Path, micro: &str) {
    let out = cli_in(app, &["validate"]);
    assert!(out.status.success(), "{}", describe(&out));

    let srv = Server::start_in(app, &["run", "--build", "--listen", "127.0.0.1:0"]);
    let r = srv.get("/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().trim_end(), format!("Hello from {micro}!"));
    assert_eq!(srv.get("/nope").await.status, 404);

    let out = cli_in(app, &["trigger", "tick"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("200 OK"),
        "{}",
        describe(&out)
    );
    // The action's handler printed the event; `logs` shows it.
    let printed = logs_until(app, &["logs"], |t| t.contains("\"id\":\"tick\""));
    assert!(
        printed.contains(r#"{"event":{"id":"tick","trigger":"schedule"}}"#),
        "{printed}"
    );
}

#[test]
fn new_refuses_a_non_empty_dir_a_bad_name_and_an_unknown_language() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine").unwrap();
    let out = cli_in(tmp.path(), &["new", "taken"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(
        std::fs::read_dir(tmp.path().join("taken")).unwrap().count(),
        1,
        "nothing written into the existing dir"
    );

    // An empty existing dir is fine.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = cli_in(tmp.path(), &["new", "empty"]);
    assert!(out.status.success(), "{}", describe(&out));

    for bad in ["Blog", "a_b", &"a".repeat(33)] {
        let out = cli_in(tmp.path(), &["new", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", describe(&out));
        assert!(!tmp.path().join(bad).exists());
    }

    let out = cli_in(tmp.path(), &["new", "other", "--lang", "go"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!tmp.path().join("other").exists());
}

/// Runs `logs ARGS` until its stdout satisfies `pred` (the log writer is asynchronous).
fn logs_until(dir: &Path, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli_in(dir, args);
        assert!(out.status.success(), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if pred(&text) || Instant::now() > end {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_what_a_guest_wrote_and_refuses_an_unknown_micro() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/stdout?lines=3").await.status, 200);
    let manifest = app.manifest().display().to_string();
    let dir = tempfile::tempdir().unwrap(); // elsewhere: --app finds the app
    let text = logs_until(dir.path(), &["logs", "probe", "--app", &manifest], |t| {
        t.contains("probe err")
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for (i, line) in lines[..3].iter().enumerate() {
        assert!(line.ends_with(&format!(" probe line {i}")), "{text}");
        assert!(!line.starts_with('['), "one Micro: no prefix: {text}");
    }
    assert!(lines[3].ends_with(" stderr probe err"), "{text}");

    let out = cli_in(
        dir.path(),
        &["logs", "probe", "--app", &manifest, "-n", "2"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);

    let out = cli_in(dir.path(), &["logs", "nope", "--app", &manifest]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("probe"),
        "lists the known micros: {}",
        describe(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_of_several_micros_are_prefixed() {
    let app = probe_app(
        "",
        "primary = true\n\n[[micro]]\nname = \"other\"\ncomponent = '{probe}'\nsrc = \"code\"\npath = \"/other\"\n",
    );
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/stdout?lines=1").await.status, 200);
    assert_eq!(srv.get("/other/stdout?lines=1").await.status, 200);
    let text = logs_until(app.path(), &["logs"], |t| {
        t.contains("[probe] ") && t.contains("[other] ")
    });
    assert!(
        text.lines()
            .all(|l| l.starts_with("[probe] ") || l.starts_with("[other] ")),
        "{text}"
    );
    assert!(text.contains("[other] "), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_shows_a_line_written_after_it_started() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/stdout?lines=1").await.status, 200);
    // Wait for the first line to reach the file, so the follower starts after it.
    logs_until(app.path(), &["logs"], |t| t.contains("probe err"));

    let mut child = Command::new(BIN)
        .args(["logs", "probe", "--follow"])
        .current_dir(app.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The tail: the one earlier request's line and its stderr line.
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l: &String| l.contains("probe err")) && Instant::now() < end {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    assert_eq!(srv.get("/stdout?lines=1").await.status, 200);
    let end = Instant::now() + Duration::from_secs(10);
    let mut later = Vec::new();
    while later.len() < 2 && Instant::now() < end {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            later.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(later.len(), 2, "followed lines: {later:?}");
    assert!(later[0].ends_with(" probe line 0"), "{later:?}");
    assert!(later[1].ends_with(" stderr probe err"), "{later:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_logged_once_as_text_or_json() {
    let app = probe_app("", "");
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/status?code=201").await.status, 201);
    assert!(srv.wait_output(Duration::from_secs(5), |o| o.contains("status=201")));
    let line = srv
        .stderr()
        .lines()
        .find(|l| l.contains("status=201"))
        .unwrap()
        .to_string();
    for part in [
        "request",
        "micro=\"probe\"",
        "method=GET",
        "path=\"/status?code=201\"",
        "start=\"cold\"",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    drop(srv);

    let srv = app.serve(&["--log-format", "json"]);
    assert_eq!(srv.get("/status?code=202").await.status, 202);
    assert_eq!(srv.get("/status?code=202").await.status, 202);
    assert!(srv.wait_output(
        Duration::from_secs(5),
        |o| o.matches("\"status\":202").count() == 2
    ));
    let records: Vec<serde_json::Value> = srv
        .stderr()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let requests: Vec<_> = records
        .iter()
        .filter(|r| r["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{records:?}");
    assert_eq!(requests[0]["micro"], "probe");
    assert_eq!(requests[0]["level"], "INFO");
    assert_eq!(requests[0]["start"], "cold");
    assert_eq!(requests[1]["start"], "warm");
    assert!(requests[1]["ms"].as_f64().unwrap() >= 0.0);
    assert!(requests[0]["timestamp"].is_string());
}

/// An app whose one Micro is the component `wat` (component text format) and nothing else.
fn app_with_component(wat: &str) -> crate::harness::AppDir {
    let app = crate::harness::AppDir::new(
        "[app]\nname = \"bad\"\n\n[[micro]]\nname = \"odd\"\ncomponent = \"odd.wasm\"\n",
    );
    app.write("odd.wasm", wat::parse_str(wat).unwrap());
    app
}

#[test]
fn a_component_importing_what_micro_wasm_lacks_is_refused_naming_the_import() {
    let app = app_with_component(
        r#"(component (import "acme:missing/thing@1.0.0" (instance (export "f" (func)))))"#,
    );
    let out = app.cli(&["run", "app.toml", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("micro `odd`") && err.contains("acme:missing/thing@1.0.0"),
        "{err}"
    );
}

#[test]
fn a_component_without_the_http_handler_is_refused_naming_the_export() {
    let app = app_with_component("(component)");
    let out = app.cli(&["run", "app.toml", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("micro `odd`") && err.contains("wasi:http/incoming-handler"),
        "{err}"
    );
}

/// Bad arguments exit 2 with a message naming the argument, whatever the subcommand, before
/// anything is compiled or bound.
#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    let app = probe_app("", "");
    for (args, needle) in [
        (
            &["run", "--trusted-proxy", "nonsense"][..],
            "--trusted-proxy",
        ),
        (
            &["run", "--env", "nosuch.X=1"][..],
            "no micro named `nosuch`",
        ),
        (&["run", "--env", "PORT=1"][..], "reserved"),
        (&["trigger", "tick", "--env", "nosuch.X=1"][..], "no action"),
        (&["run", "--workers", "0"][..], "--workers"),
        (&["run", "--listen", "not-an-address"][..], "--listen"),
    ] {
        let out = app.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
    }
}
