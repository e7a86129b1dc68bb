//! Faults under several nodes: a node SIGKILLed while its action run is in flight
//! does not stop the next tick, which fires once, on the node left; and the database
//! restarted under a steady stream of Base puts loses no acknowledged write, answers the puts
//! of the outage 503 JSON within the pool's timeouts, and serves again by itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::super::{Data, Store, Way, test_pg_url};
use super::{OwnServer, pg_sh, two_nodes};
use crate::harness::{Server, probe_app};

/// The scheduled times of action `tick` in `srv`'s `action ran` lines (status 200 only).
fn ran(srv: &Server) -> Vec<String> {
    srv.stderr()
        .lines()
        .filter(|l| l.contains("action ran") && l.contains("action=tick"))
        .filter(|l| l.contains("status=200"))
        .filter_map(|l| l.split("scheduled=").nth(1))
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Requests running in `srv`'s Micros, and its action's next scheduled time.
async fn in_flight_and_next(srv: &Server) -> (u64, String) {
    let status = srv.get("/__space/status").await.json();
    let running = status["micros"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["in_flight"].as_u64())
        .sum();
    let next = status["actions"][0]["next_run"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (running, next)
}

/// The handler sleeps 8 s, so a run is in flight long enough to catch and kill its node. The
/// node whose Micro is running it is SIGKILLed; the other must deliver the next scheduled time
/// (one minute later) exactly once, and the killed run's time must not be delivered again.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_a_node_during_an_action_run_does_not_stop_the_next_tick() {
    let app = probe_app(
        "timeout = \"30s\"",
        "\n[micro.env]\nACTION_SLEEP_MS = \"8000\"\n\n\
         [[micro.action]]\nid = \"tick\"\nname = \"Tick\"\ninterval = \"1 minute\"\n",
    );
    let Some(args) = Store::Postgres.args(&app) else {
        return;
    };
    let other_state = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&app, &args, other_state.path()).await;

    // The first tick: whichever node won it has the run in its Micro.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (victim, survivor, next) = loop {
        let (on_a, next_a) = in_flight_and_next(&a.srv).await;
        let (on_b, next_b) = in_flight_and_next(&b.srv).await;
        if on_a > 0 {
            break (a, b, next_a);
        }
        if on_b > 0 {
            break (b, a, next_b);
        }
        assert!(
            Instant::now() < deadline,
            "no action run in flight in 90 s: A {:?}, B {:?}",
            a.srv.stderr(),
            b.srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = std::process::Command::new("kill")
        .args(["-KILL", &victim.srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        ran(&victim.srv).is_empty(),
        "the killed run finished before the kill: {}",
        victim.srv.stderr()
    );
    assert!(
        !next.is_empty(),
        "the victim's next scheduled time is in its status"
    );

    // The next tick (one minute on, plus the 8 s handler) is delivered by the node left.
    let deadline = Instant::now() + Duration::from_secs(100);
    while ran(&survivor.srv).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the next tick ({next}) never ran on the node left: {}",
            survivor.srv.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second delivery of the same time would follow at once: give it a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ran(&survivor.srv),
        vec![next.clone()],
        "the node left ran exactly the next tick, once: {}",
        survivor.srv.stderr()
    );
}

/// What the load saw: each acknowledged put (its node, key and value), and anything that was
/// neither a 207 nor a 503 Deta error body (or took longer than [`REQUEST_LIMIT`]).
#[derive(Default)]
struct Seen {
    acked: Vec<(usize, String, u64, Instant)>,
    refused: usize,
    wrong: Vec<String>,
}

/// The longest a put may take, even during the outage: the Micros' timeout (30 s, which the
/// pool's waits, at most 10 s for a connection and 5 s for a new one, fit in) and a margin for
/// a loaded machine. A guest's put past the Micro's timeout is a 504, counted as wrong.
const REQUEST_LIMIT: Duration = Duration::from_secs(35);

/// One client: puts `c<client>-<n>` = `{n}` through node `client % 2`, the way `way`, until
/// `stop`; records what it saw in `seen`.
async fn client(nodes: &[Data; 2], client: usize, way: Way, stop: &AtomicBool, seen: &Mutex<Seen>) {
    let node = client % 2;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("c{client}-{n}");
        let body = json!({"items": [{"key": key, "n": n}]});
        let put = nodes[node].base(way, "PUT", "load/items", body);
        let verdict = match tokio::time::timeout(REQUEST_LIMIT, put).await {
            Err(_) => Err(format!("{key} via {way:?}: no answer in {REQUEST_LIMIT:?}")),
            Ok(r) if r.status == 207 => {
                let stored = r.json()["processed"]["items"][0]["key"] == json!(key);
                if stored {
                    Ok(true)
                } else {
                    Err(format!("{key} via {way:?}: 207 without it: {}", r.text()))
                }
            }
            Ok(r) if r.status == 503 && r.json()["errors"].is_array() => Ok(false),
            Ok(r) => Err(format!("{key} via {way:?}: {} {}", r.status, r.text())),
        };
        let mut seen = seen.lock().unwrap();
        match verdict {
            Ok(true) => seen.acked.push((node, key, n, Instant::now())),
            Ok(false) => seen.refused += 1,
            Err(e) => seen.wrong.push(e),
        }
        drop(seen);
        n += 1;
    }
}

/// Waits (up to `limit`) until `pred(seen)` holds.
async fn until(seen: &Mutex<Seen>, limit: Duration, what: &str, pred: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + limit;
    while !pred(&seen.lock().unwrap()) {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `tests/pg.sh ARGS` off the async threads (the clients keep going meanwhile).
async fn pg(args: [&str; 2]) {
    let args = args.map(str::to_owned);
    tokio::task::spawn_blocking(move || pg_sh(&[&args[0], &args[1]]))
        .await
        .unwrap();
}

/// Two nodes on a PostgreSQL server of their own, four clients putting without pause (two from
/// outside, two through the Micros); the server is stopped for a while and started again from
/// the same data dir. Every put answered 207 is read back afterwards; the others were 503
/// Deta errors in time; puts succeed again on both nodes without restarting micro-wasm.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_under_load_loses_no_acknowledged_write() {
    if test_pg_url().is_none() {
        return;
    }
    let own = OwnServer::start();
    let app = probe_app("timeout = \"30s\"", "");
    let other_state = tempfile::tempdir().unwrap();
    let args = ["--store".to_string(), own.url.clone()];
    let (a, b) = two_nodes(&app, &args, other_state.path()).await;
    let nodes = [a, b];
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());

    let clients = futures::future::join_all(
        [Way::Outside, Way::Outside, Way::Guest, Way::Guest]
            .into_iter()
            .enumerate()
            .map(|(i, way)| client(&nodes, i, way, &stop, &seen)),
    );
    let restart = async {
        until(&seen, Duration::from_secs(20), "40 puts before", |s| {
            s.acked.len() >= 40
        })
        .await;
        pg(["pause", &own.dir]).await;
        let stopped = Instant::now();
        until(&seen, REQUEST_LIMIT, "4 puts refused", |s| s.refused >= 4).await;
        tokio::time::sleep(Duration::from_secs(2).saturating_sub(stopped.elapsed())).await;
        pg(["resume", &own.dir]).await;
        let back = Instant::now();
        // Service back by itself: puts acknowledged again through both nodes.
        until(&seen, REQUEST_LIMIT, "puts on both nodes after", |s| {
            (0..2).all(|node| {
                s.acked
                    .iter()
                    .filter(|(on, .., at)| *on == node && *at > back)
                    .count()
                    >= 10
            })
        })
        .await;
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(clients, restart);

    let seen = seen.into_inner().unwrap();
    assert!(seen.wrong.is_empty(), "{:#?}", seen.wrong);
    assert!(seen.refused >= 4, "puts refused: {}", seen.refused);
    for (i, (_, key, n, _)) in seen.acked.iter().enumerate() {
        let r = nodes[i % 2]
            .base(
                Way::Outside,
                "GET",
                &format!("load/items/{key}"),
                Value::Null,
            )
            .await;
        assert_eq!(
            (r.status, r.json()["n"].clone()),
            (200, json!(n)),
            "acknowledged {key} lost: {}",
            r.text()
        );
    }
    eprintln!(
        "{} puts acknowledged and read back, {} refused with 503",
        seen.acked.len(),
        seen.refused
    );
}
