//! SPEC §6 scheduled actions: `micro-wasm trigger`, a real rate firing while serving, and
//! what `/__space/status` shows. (That outside callers cannot reach `/__space/v0/actions` is
//! shown in http_rules.rs.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::AppDir;

/// Two probe Micros: `web` (primary) with actions `tick` and `nightly`, and `jobs` whose
/// action `broken` answers 500 (the probe's `ACTION_STATUS` switch).
fn actions_app(tick_interval: &str) -> AppDir {
    let app = AppDir::new(&format!(
        "[app]\nname = \"acts\"\n\n[limits]\ntimeout = \"5s\"\n\n\
         [[micro]]\nname = \"web\"\ncomponent = '{{probe}}'\nsrc = \"code\"\nprimary = true\n\n\
         [[micro.action]]\nid = \"tick\"\nname = \"Tick\"\ninterval = \"{tick_interval}\"\n\n\
         [[micro.action]]\nid = \"nightly\"\nname = \"Nightly\"\ninterval = \"0 3 * * *\"\n\n\
         [[micro]]\nname = \"jobs\"\ncomponent = '{{probe}}'\nsrc = \"code\"\n\n\
         [micro.env]\nACTION_STATUS = \"500\"\n\n\
         [[micro.action]]\nid = \"broken\"\nname = \"Broken\"\ninterval = \"1 day\"\n"
    ));
    app.write("code/hello.txt", "hello");
    app
}

/// The trigger's stdout: the status line, then the body as JSON.
fn printed(out: &std::process::Output) -> (String, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (status, body) = stdout
        .split_once('\n')
        .unwrap_or_else(|| panic!("no status line in {stdout:?}"));
    let body = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("body is not json ({e}): {body:?}"));
    (status.to_string(), body)
}

fn describe(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn actions_trigger_delivers_the_scheduled_event() {
    let app = actions_app("1 hour");
    let out = app.cli(&["trigger", "tick", "--app", "app.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (status, body) = printed(&out);
    assert_eq!(status, "200 OK");
    let event = json!({"event": {"id": "tick", "trigger": "schedule"}});
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["event"], event);
    // What the guest saw, exactly.
    let seen = &body["request"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/__space/v0/actions");
    assert_eq!(seen["content_type"], "application/json");
    assert_eq!(
        seen["body"],
        r#"{"event":{"id":"tick","trigger":"schedule"}}"#
    );
}

#[test]
fn actions_trigger_failed_run_exits_1() {
    let app = actions_app("1 hour");
    let out = app.cli(&["trigger", "broken", "--app", "app.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (status, body) = printed(&out);
    assert_eq!(status, "500 Internal Server Error");
    assert_eq!(body["ok"], false);
    // `broken` belongs to `jobs` (path /jobs): the guest still sees its own root.
    assert_eq!(body["request"]["path"], "/__space/v0/actions");
    assert_eq!(body["event"]["event"]["id"], "broken");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken") && stderr.contains("500"),
        "{stderr}"
    );
}

#[test]
fn actions_trigger_unknown_id_exits_2_listing_the_ids() {
    let app = actions_app("1 hour");
    let out = app.cli(&["trigger", "nope", "--app", "app.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for id in ["nope", "tick", "nightly", "broken"] {
        assert!(stderr.contains(id), "{id} missing from: {stderr}");
    }
    assert!(
        !stderr.contains("did you mean"),
        "nothing is close to `nope`: {stderr}"
    );
    // The app is not loaded for an unknown id: no state dir is made.
    assert!(!app.path().join(".micro-wasm").exists());
    let out = app.cli(&["trigger", "nightlly", "--app", "app.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `nightly`?"), "{stderr}");
}

#[test]
fn actions_trigger_defaults_to_app_toml_and_accepts_state_dir() {
    let app = actions_app("1 hour");
    let out = app.cli(&["trigger", "tick", "--state-dir", "st"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(app.path().join("st").is_dir());
}

/// One real minute: a `1 minute` rate fires while serving (the first run is the start rounded
/// up to the next minute), the log records it, and `/__space/status` shows it.
#[tokio::test(flavor = "multi_thread")]
async fn actions_rate_fires_while_serving_and_status_shows_it() {
    let app = actions_app("1 minute");
    let srv = app.serve(&[]);

    let status = srv.get("/__space/status").await.json();
    let actions = status["actions"].as_array().expect("actions in status");
    let ids: Vec<_> = actions.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["tick", "nightly", "broken"]);
    let tick = &actions[0];
    assert_eq!(tick["micro"], "web");
    assert_eq!(tick["interval"], "1 minute");
    let next = tick["next_run"].as_str().expect("next_run");
    let next = chrono::DateTime::parse_from_rfc3339(next).expect("RFC 3339");
    assert_eq!(next.timestamp() % 60, 0, "{next}: a whole minute");
    assert!(next > chrono::Utc::now() - chrono::TimeDelta::seconds(5));
    assert!(next <= chrono::Utc::now() + chrono::TimeDelta::seconds(60));
    assert!(tick["last"].is_null());
    assert_eq!(
        actions[1]["next_run"].as_str().unwrap()[11..],
        *"03:00:00.000Z"
    );

    let fired = srv.wait_output(Duration::from_secs(75), |out| {
        out.lines()
            .any(|l| l.contains("action ran") && l.contains("action=tick"))
    });
    assert!(fired, "no run of `tick` logged:\n{}", srv.stderr());
    let log = srv.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("action ran") && l.contains("action=tick"))
        .unwrap();
    for field in ["micro=web", "scheduled=", "status=200", "ms="] {
        assert!(line.contains(field), "{field} missing from {line}");
    }

    let status = srv.get("/__space/status").await.json();
    let tick = &status["actions"][0];
    assert_eq!(tick["runs"], 1, "{tick}");
    assert_eq!(tick["failures"], 0);
    let last = &tick["last"];
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(last["status"], 200);
    assert_eq!(
        last["scheduled"],
        next.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert!(last["duration_ms"].is_u64());
    let after = chrono::DateTime::parse_from_rfc3339(tick["next_run"].as_str().unwrap()).unwrap();
    assert_eq!(after - next, chrono::TimeDelta::minutes(1));

    // The Micro saw the event through the real server, at its own root.
    let seen = srv.get("/last-action").await.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/__space/v0/actions");
    assert_eq!(seen["content_type"], "application/json");
    assert_eq!(
        seen["body"],
        r#"{"event":{"id":"tick","trigger":"schedule"}}"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_trigger_leaves_a_running_apps_tmp_alone() {
    let app = actions_app("1 hour");
    let srv = app.serve(&[]);
    assert_eq!(
        srv.get("/write?path=/tmp/keep.txt&bytes=5").await.status,
        200
    );
    let out = app.cli(&["trigger", "tick"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = srv.get("/read?path=/tmp/keep.txt").await;
    assert_eq!(
        (r.status, r.body.len()),
        (200, 5),
        "trigger wiped the running app's /tmp"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn action_runs_are_counted_by_result_in_metrics() {
    let app = actions_app("1 hour");
    let srv = app.serve(&[]);
    for id in ["tick", "broken"] {
        let run = srv
            .send(
                hyper::Request::post(format!("/__space/actions/{id}/run"))
                    .header("x-space-dashboard", "1")
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(run.status, 200, "{id}: {}", run.text());
    }
    let metrics = srv.get("/__space/metrics").await.text();
    for line in [
        "micro_wasm_action_runs_total{action=\"tick\",micro=\"web\",result=\"ok\"} 1",
        "micro_wasm_action_runs_total{action=\"broken\",micro=\"jobs\",result=\"failed\"} 1",
        "micro_wasm_action_runs_total{action=\"nightly\",micro=\"web\",result=\"ok\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
}
