//! Several nodes, one app: two `micro-wasm run` processes with their own state
//! dirs on one PostgreSQL database serve the same app — the same Data Key, a Base write
//! through one read through the other, atomic updates from both, a Drive upload whose parts go
//! to different nodes; a database outage answered 503 while the Micros keep serving, and
//! service back by itself when the database is. And the start-up rules of `--store`: flag
//! over `MICRO_WASM_STORE` over `[app] store`, and an unreachable database is exit 1 naming
//! the URL without its password. A node killed mid-run and the database restarted under
//! load: `nodes/faults.rs`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Data, Store, Way, test_pg_url};
use crate::harness::{probe_app, repo};

mod faults;

/// Starts `app` twice with `args` on one database: node A in the app's state dir, node B in
/// `other_state`.
pub(super) async fn two_nodes(
    app: &crate::harness::AppDir,
    args: &[String],
    other_state: &std::path::Path,
) -> (Data, Data) {
    let a = Data::start(app, args).await;
    let mut b_args = args.to_vec();
    b_args.extend(["--state-dir".into(), other_state.display().to_string()]);
    let b = Data::start(app, &b_args).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_database_serve_one_app() {
    let app = probe_app("payload = \"3MB\"\ntimeout = \"10s\"", "");
    let Some(args) = Store::Postgres.args(&app) else {
        return;
    };
    let other_state = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&app, &args, other_state.path()).await;
    assert_eq!(a.key, b.key, "one DETA_PROJECT_KEY on every node");
    assert!(
        !other_state.path().join("keys.json").exists(),
        "node B keeps no keys of its own"
    );

    // Written through A (from outside), read through B (from its Micro) and back.
    let r = a
        .base(
            Way::Outside,
            "PUT",
            "shared/items",
            json!({"items": [{"key": "k", "from": "a"}]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text());
    let r = b
        .base(Way::Guest, "GET", "shared/items/k", Value::Null)
        .await;
    assert_eq!((r.status, r.json()["from"].clone()), (200, json!("a")));

    // Increments sent to both nodes at once all count.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (srv_addr, key, project) = (node.srv.addr, node.key.clone(), node.project().to_owned());
        tasks.push(tokio::spawn(async move {
            let req = http::Request::patch(format!("/__space/v0/base/v1/{project}/shared/items/k"))
                .header("x-api-key", key)
                .header("host", srv_addr.to_string())
                .body(http_body_util::Full::new(Bytes::from(
                    json!({"increment": {"n": 1}}).to_string(),
                )))
                .unwrap();
            crate::harness::try_send(srv_addr, req).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Some(200));
    }
    let r = a
        .base(Way::Outside, "GET", "shared/items/k", Value::Null)
        .await;
    assert_eq!(r.json()["n"], 20, "{}", r.text());

    // A chunked upload: started on A, part 1 on B, part 2 on A, finished on B.
    let part = |seed: u8| {
        Bytes::from(
            (0..2_500_000u32)
                .map(|i| (i % 253) as u8 ^ seed)
                .collect::<Vec<u8>>(),
        )
    };
    let r = a
        .call_with(
            Way::Outside,
            "drive",
            "POST",
            "d/uploads?name=big.bin",
            "",
            &[],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["upload_id"].as_str().unwrap().to_string();
    for (n, node) in [(1, &b), (2, &a)] {
        let r = node
            .call_with(
                Way::Outside,
                "drive",
                "POST",
                &format!("d/uploads/{id}/parts?name=big.bin&part={n}"),
                part(n as u8),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "part {n}: {}", r.text());
    }
    let r = b
        .call_with(
            Way::Outside,
            "drive",
            "PATCH",
            &format!("d/uploads/{id}?name=big.bin"),
            "",
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = a
        .call_with(
            Way::Outside,
            "drive",
            "GET",
            "d/files/download?name=big.bin",
            "",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let mut whole = part(1).to_vec();
    whole.extend_from_slice(&part(2));
    assert!(
        r.body.as_ref() == whole.as_slice(),
        "the file read through A is both parts"
    );
    let status = b.srv.get("/__space/status").await.json();
    assert_eq!(status["data"]["drives"][0]["bytes"], 5_000_000, "{status}");
}

#[test]
fn store_migrate_and_check() {
    let Some(url) = test_pg_url() else {
        return;
    };
    let app = probe_app("", "");
    let ok = |args: &[&str]| {
        let out = app.cli(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    assert!(ok(&["store", "migrate", "--store", &url]).contains("schema at version"));
    assert!(ok(&["store", "check", "--store", &url]).contains("reachable, schema at version"));
    let out = app.cli(&[
        "store",
        "check",
        "--store",
        "postgres://u:pw@127.0.0.1:1/db",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("postgres://u:***@127.0.0.1:1/db") && !err.contains("pw@"),
        "{err}"
    );
}

/// `sslmode=require` connects over TLS, checking the server's certificate: with the test
/// server's CA as `sslrootcert` it works; without it the certificate is refused (so TLS was
/// really used), and the error names the URL without its password.
#[test]
fn sslmode_require_connects_over_tls_and_checks_the_certificate() {
    let Some(url) = test_pg_url() else {
        return;
    };
    let ca = std::env::var("MICRO_WASM_TEST_PG_CA")
        .expect("MICRO_WASM_TEST_PG_CA is set by tests/pg.sh start along with the URL");
    let app = probe_app("", "");
    let tls = format!("{url}?sslmode=require&sslrootcert={ca}");
    for (command, said) in [
        ("migrate", "schema at version"),
        ("check", "reachable, schema at version"),
    ] {
        let out = app.cli(&["store", command, "--store", &tls]);
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {text}");
        assert!(text.contains(said), "{command}: {text}");
    }

    let unverified = format!("{url}?sslmode=require");
    let out = app.cli(&["store", "check", "--store", &unverified]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(err.contains(&unverified), "{err}");
}

/// Extra arguments, environment, and the URL the error must show.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a std::path::Path)], &'a str);

#[test]
fn an_unreachable_store_is_exit_1_naming_it_without_its_password() {
    let app = probe_app("", "");
    // `[app] store`, then MICRO_WASM_STORE, then --store: the most specific one is used.
    let toml = std::fs::read_to_string(app.manifest()).unwrap();
    let toml = toml.replacen(
        "[app]\n",
        "[app]\nstore = \"postgres://toml:pw1@127.0.0.1:1/db\"\n",
        1,
    );
    std::fs::write(app.manifest(), toml).unwrap();
    let manifest = app.manifest().display().to_string();
    let run = ["run", manifest.as_str(), "--listen", "127.0.0.1:0"];
    let env_url = std::path::Path::new("postgres://env:pw2@127.0.0.1:1/db");
    let cases: [Case; 3] = [
        (&[], &[], "postgres://toml:***@127.0.0.1:1/db"),
        (
            &[],
            &[("MICRO_WASM_STORE", env_url)],
            "postgres://env:***@127.0.0.1:1/db",
        ),
        (
            &["--store", "postgres://flag:s3cret@127.0.0.1:1/db"],
            &[("MICRO_WASM_STORE", env_url)],
            "postgres://flag:***@127.0.0.1:1/db",
        ),
    ];
    for (extra, env, shown) in cases {
        let args: Vec<&str> = run.iter().chain(extra).copied().collect();
        let (code, stderr) = app.cli_env(&args, env);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(shown), "{shown} in {stderr}");
        for secret in ["pw1", "pw2", "s3cret"] {
            assert!(!stderr.contains(secret), "{secret} shown in {stderr}");
        }
    }
}

/// A PostgreSQL server of its own (`tests/pg.sh`), removed on drop.
struct OwnServer {
    url: String,
    dir: String,
}

impl OwnServer {
    fn start() -> OwnServer {
        let out = pg_sh(&["start"]);
        let var = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} in {out}"))
                .to_string()
        };
        OwnServer {
            url: var("MICRO_WASM_TEST_PG"),
            dir: var("MICRO_WASM_TEST_PG_DIR"),
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        pg_sh(&["stop", &self.dir]);
    }
}

fn pg_sh(args: &[&str]) -> String {
    let out = std::process::Command::new("bash")
        .arg(repo().join("tests/pg.sh"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tests/pg.sh {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_is_503_and_service_resumes_by_itself() {
    if test_pg_url().is_none() {
        return;
    }
    let own = OwnServer::start();
    let app = probe_app("", "");
    let d = Data::start(&app, &["--store".into(), own.url.clone()]).await;
    let r = d
        .base(
            Way::Outside,
            "PUT",
            "b/items",
            json!({"items": [{"key": "k", "v": 1}]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text());

    pg_sh(&["pause", &own.dir]);
    for way in [Way::Outside, Way::Guest] {
        let r = d.base(way, "GET", "b/items/k", Value::Null).await;
        assert_eq!(r.status, 503, "{way:?}: {}", r.text());
        assert!(r.json()["errors"].is_array(), "{}", r.text());
    }
    assert_eq!(
        d.srv.get("/env").await.status,
        200,
        "what needs no data still works"
    );

    pg_sh(&["resume", &own.dir]);
    let r = d.base(Way::Outside, "GET", "b/items/k", Value::Null).await;
    assert_eq!(
        (r.status, r.json()["v"].clone()),
        (200, json!(1)),
        "{}",
        r.text()
    );
    let r = d
        .base(
            Way::Guest,
            "PUT",
            "b/items",
            json!({"items": [{"key": "after"}]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text());
}

/// `auth = "api-key"` on two nodes: a key made with `keys create --store` opens both; revoked,
/// both refuse it within a second; a key made while they run opens both within a second.
#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_shared_and_revocation_reaches_every_node_within_a_second() {
    let app = probe_app("", "");
    let toml = std::fs::read_to_string(app.manifest()).unwrap();
    std::fs::write(
        app.manifest(),
        toml.replacen("[app]\n", "[app]\nauth = \"api-key\"\n", 1),
    )
    .unwrap();
    let Some(args) = Store::Postgres.args(&app) else {
        return;
    };
    let url = args[1].clone();
    let keys = |action: &[&str]| {
        let mut all = vec!["keys"];
        all.extend(action);
        all.extend(["--store", url.as_str()]);
        let out = app.cli(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let first = keys(&["create", "first"]);
    let other_state = tempfile::tempdir().unwrap();
    let a = app.serve(&[args[0].as_str(), args[1].as_str()]);
    let b = app.serve(&[
        args[0].as_str(),
        args[1].as_str(),
        "--state-dir",
        other_state.path().to_str().unwrap(),
    ]);
    let status = |srv: &crate::harness::Server, key: String| {
        let req = http::Request::get("/env")
            .header("x-space-app-key", key)
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let srv_addr = srv.addr;
        async move {
            let mut req = req;
            req.headers_mut()
                .insert("host", srv_addr.to_string().parse().unwrap());
            crate::harness::try_send(srv_addr, req).await
        }
    };
    for srv in [&a, &b] {
        assert_eq!(status(srv, first.clone()).await, Some(200));
        assert_eq!(status(srv, "wrong".into()).await, Some(401));
    }
    // Each node must see the change within a second of the command.
    let within_a_second = |key: String, want: u16| {
        let (a, b) = (&a, &b);
        async move {
            let since = std::time::Instant::now();
            for srv in [a, b] {
                while status(srv, key.clone()).await != Some(want) {
                    assert!(
                        since.elapsed() < std::time::Duration::from_secs(1),
                        "{} still not {want} after a second",
                        srv.addr
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    };
    keys(&["revoke", "first"]);
    within_a_second(first, 401).await;
    let second = keys(&["create", "second"]);
    within_a_second(second, 200).await;
    assert_eq!(keys(&["list"]).lines().count(), 1);
}

/// A one-minute action on two nodes of one app runs once per minute in all: each scheduled
/// time is in exactly one node's `action ran` lines (takes one to two minutes).
#[tokio::test(flavor = "multi_thread")]
async fn an_action_on_two_nodes_runs_once_per_scheduled_time() {
    // A run on a loaded machine may take more than the default test timeout of 500 ms.
    let app = probe_app(
        "timeout = \"10s\"",
        "\n[[micro.action]]\nid = \"tick\"\nname = \"Tick\"\ninterval = \"1 minute\"\n",
    );
    let Some(args) = Store::Postgres.args(&app) else {
        return;
    };
    let other_state = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&app, &args, other_state.path()).await;
    let scheduled = |srv: &crate::harness::Server| -> Vec<String> {
        srv.stderr()
            .lines()
            .filter(|l| l.contains("action ran") && l.contains("action=tick"))
            .filter_map(|l| l.split("scheduled=").nth(1))
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    loop {
        let mut all = scheduled(&a.srv);
        all.extend(scheduled(&b.srv));
        all.sort();
        all.dedup();
        if all.len() >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "two runs in 150 s: A {:?}, B {:?}",
            scheduled(&a.srv),
            scheduled(&b.srv)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A second node delivering the same time would do so at once: give it a moment.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (on_a, on_b) = (scheduled(&a.srv), scheduled(&b.srv));
    let mut all = [on_a.clone(), on_b.clone()].concat();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a time ran twice: A {on_a:?}, B {on_b:?}");
}
