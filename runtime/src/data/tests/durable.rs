//! Durability under SIGKILL: a child process writes Base items until it is killed; every
//! write it saw acknowledged must be there, whole, after reopening.

use std::path::Path;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{base, fetch, open, put};

/// The child side of [`sigkill_loses_no_acknowledged_write`]: writes until killed, printing
/// each acknowledged key. Does nothing unless started by that test.
#[test]
fn sigkill_child() {
    let Ok(dir) = std::env::var("DATA_SVC_KILL_DIR") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let svc = open(Path::new(&dir), 1 << 30);
        for i in 0.. {
            let a = put(
                &svc,
                json!([{"key": format!("k{i}"), "v": "x".repeat(10_000), "i": i}]),
            )
            .await;
            assert_eq!(a.status, StatusCode::MULTI_STATUS);
            println!("acked {i}");
        }
    });
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "data::tests::durable::sigkill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DATA_SVC_KILL_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 40 {
        let line = lines.next().expect("child stopped early").unwrap();
        if let Some(i) = line.strip_prefix("acked ") {
            acked.push(i.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let svc = open(dir.path(), 1 << 30);
    for i in acked {
        let got = base(&svc, Method::GET, &format!("/items/k{i}"), Value::Null).await;
        assert_eq!(got.status, StatusCode::OK, "acknowledged k{i} lost");
        assert_eq!(got.json()["i"], i);
    }
    // Whatever else is there is whole.
    let page = fetch(&svc, json!({"limit": 1000})).await;
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["v"].as_str().unwrap().len(), 10_000);
    }
}
