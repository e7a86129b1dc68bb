//! Data that lasts and is shared (SPEC §11): one app's Bases and Drives seen by all its
//! Micros, kept across sleep, restarts and a SIGKILL in a stream of acknowledged writes, and
//! carried to another state dir by `micro-wasm data export` / `import`.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use super::{Data, Store, Way};
use crate::harness::probe_app;

async fn all_micros_of_an_app_share_its_bases_and_drives(store: Store) {
    let app = probe_app(
        "",
        "primary = true\n\n[[micro]]\nname = \"other\"\ncomponent = '{probe}'\nsrc = \"code\"\npath = \"/other\"\n",
    );
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let r = d
        .srv
        .send(
            Request::put("/deta/base/shared/items")
                .body(Full::new(Bytes::from(
                    json!({"items": [{"key": "k", "from": "probe"}]}).to_string(),
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text());
    let r = d.srv.get("/other/deta/base/shared/items/k").await;
    assert_eq!((r.status, r.json()["from"].clone()), (200, json!("probe")));
    let mine = d.srv.get("/other/env").await.json()["DETA_PROJECT_KEY"].clone();
    assert_ne!(
        mine.as_str(),
        Some(d.key.as_str()),
        "each Micro keeps its own key"
    );
}

async fn data_survives_restart_and_sleep(store: Store) {
    let app = probe_app("sleep_after = \"200ms\"", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let r = d
        .base(
            Way::Guest,
            "PUT",
            "keep/items",
            json!({"items": [{"key": "a", "v": 1}]}),
        )
        .await;
    assert_eq!(r.status, 207);
    let r = d
        .call_with(
            Way::Guest,
            "drive",
            "POST",
            "keep/files?name=f",
            "file",
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(
        d.srv
            .wait_output(Duration::from_secs(5), |o| o.contains("going to sleep")),
        "the micro sleeps"
    );
    let r = d.base(Way::Guest, "GET", "keep/items/a", Value::Null).await;
    assert_eq!(r.json()["v"], 1, "after sleep");
    let key = d.key.clone();
    drop(d);
    let d = Data::start(&app, &args).await;
    assert_eq!(d.key, key, "the same Data Key after a restart");
    let r = d.base(Way::Guest, "GET", "keep/items/a", Value::Null).await;
    assert_eq!(r.json()["v"], 1, "after restart");
    let r = d
        .call_with(
            Way::Guest,
            "drive",
            "GET",
            "keep/files/download?name=f",
            "",
            &[],
        )
        .await;
    assert_eq!(r.text(), "file");
}

/// Writes items one by one from outside until the process is killed with SIGKILL; every
/// write that was answered 207 is there after a restart, whole.
#[cfg(unix)]
async fn sigkill_loses_no_acknowledged_write(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let pid = d.srv.pid();
    let value = "v".repeat(20_000);
    let writer = {
        let (addr, project, key, value) = (
            d.srv.addr,
            d.project().to_string(),
            d.key.clone(),
            value.clone(),
        );
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..100_000 {
                let body =
                    json!({"items": [{"key": format!("k{i}"), "v": value, "i": i}]}).to_string();
                let req = Request::put(format!("/__space/v0/base/v1/{project}/kill/items"))
                    .header("x-api-key", &key)
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                match crate::harness::try_send(addr, req).await {
                    Some(207) => acked.push(i),
                    _ => break,
                }
            }
            acked
        })
    };
    // Let some writes land, then kill the process mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = d
            .base(Way::Outside, "POST", "kill/query", json!({"limit": 1000}))
            .await;
        if r.json()["paging"]["size"].as_u64().unwrap_or(0) >= 30
            || std::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let acked = writer.await.unwrap();
    assert!(acked.len() >= 30, "{} writes acknowledged", acked.len());
    drop(d);
    let d = Data::start(&app, &args).await;
    for i in acked {
        let r = d
            .base(
                Way::Outside,
                "GET",
                &format!("kill/items/k{i}"),
                Value::Null,
            )
            .await;
        assert_eq!(r.status, 200, "acknowledged write k{i} lost");
        assert_eq!(
            r.json()["v"].as_str().map(str::len),
            Some(value.len()),
            "k{i} is whole"
        );
    }
}

async fn data_export_and_import_round_trip(store: Store) {
    let app = probe_app("", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let items: Vec<Value> = (0..60)
        .map(|i| json!({"key": format!("i{i:03}"), "n": i}))
        .collect();
    for chunk in items.chunks(25) {
        assert_eq!(
            d.base(Way::Outside, "PUT", "things/items", json!({"items": chunk}))
                .await
                .status,
            207
        );
    }
    let r = d
        .call_with(
            Way::Outside,
            "drive",
            "POST",
            "pics/files?name=a/b.txt",
            "bee",
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    drop(d);
    let out = tempfile::tempdir().unwrap();
    let dump = out.path().join("dump");
    // From the store the app ran on; the import below goes to a fresh embedded state dir.
    let mut export = vec!["data", "export", dump.to_str().unwrap()];
    export.extend(args.iter().map(String::as_str));
    let done = app.cli(&export);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let lines = std::fs::read_to_string(dump.join("base/things.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 60);
    assert_eq!(
        std::fs::read_to_string(dump.join("drive/pics/a/b.txt")).unwrap(),
        "bee"
    );
    // Into a fresh state dir.
    let fresh = out.path().join("state");
    let done = app.cli(&[
        "data",
        "import",
        dump.to_str().unwrap(),
        "--state-dir",
        fresh.to_str().unwrap(),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let srv = app.serve(&["--state-dir", fresh.to_str().unwrap()]);
    let d = Data {
        key: srv.get("/env").await.json()["DETA_PROJECT_KEY"]
            .as_str()
            .unwrap()
            .to_string(),
        srv,
    };
    let r = d
        .base(
            Way::Guest,
            "POST",
            "things/query",
            json!({"query": [{"n?gte": 59}]}),
        )
        .await;
    assert_eq!(r.json()["items"], json!([{"key": "i059", "n": 59}]));
    let r = d
        .call_with(
            Way::Guest,
            "drive",
            "GET",
            "pics/files/download?name=a/b.txt",
            "",
            &[],
        )
        .await;
    assert_eq!(r.text(), "bee");
}

both_stores!(
    all_micros_of_an_app_share_its_bases_and_drives,
    data_survives_restart_and_sleep,
    #[cfg(unix)]
    sigkill_loses_no_acknowledged_write,
    data_export_and_import_round_trip
);
