//! S15: read-only SQLite deployed with the code. Through `micro:space/sqlite` reads work and
//! every way of writing fails. A guest that bundles SQLite (tests/guests/bundled-sqlite, its
//! own SQLite compiled to wasm) is in `sqlite_bundled.rs`.

use crate::harness::{AppDir, probe_app};

/// A probe app whose code dir holds `data.db` (table `t`, 3 rows); returns it with the
/// database's bytes as deployed.
fn app_with_db(limits: &str) -> (AppDir, Vec<u8>) {
    let app = probe_app(limits, "");
    let bytes = write_db(&app);
    (app, bytes)
}

/// Writes `code/data.db` (table `t`, 3 rows) into the app; its bytes as deployed.
pub fn write_db(app: &AppDir) -> Vec<u8> {
    let file = app.path().join("code/data.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let db = rusqlite::Connection::open(&file).unwrap();
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');",
    )
    .unwrap();
    drop(db);
    std::fs::read(&file).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn s15_sqlite_reads_work_and_writes_fail() {
    let (app, deployed) = app_with_db("");
    let srv = app.serve(&[]);
    let r = srv
        .post(
            "/sqlite?db=data.db&int=2",
            "SELECT id, name FROM t WHERE id >= ?1 ORDER BY id",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"columns": ["id", "name"], "rows": [[2, "two"], [3, "three"]]})
    );
    assert_eq!(
        srv.post("/sqlite?db=/app/data.db", "SELECT count(*) FROM t")
            .await
            .json()["rows"],
        serde_json::json!([[3]])
    );
    let outside = app.path().join("stolen.db");
    for sql in [
        "INSERT INTO t (name) VALUES ('four')".to_string(),
        "UPDATE t SET name = 'x'".to_string(),
        "DELETE FROM t".to_string(),
        "DROP TABLE t".to_string(),
        "CREATE TABLE u (x)".to_string(),
        format!("ATTACH '{}' AS o", outside.display()),
        format!("VACUUM INTO '{}'", outside.display()),
        "PRAGMA journal_mode = WAL".to_string(),
        "SELECT load_extension('/tmp/evil')".to_string(),
    ] {
        let r = srv.post("/sqlite?db=data.db", sql.clone()).await;
        assert_eq!(r.status, 422, "{sql}: {}", r.text());
        assert_eq!(r.json()["error"], "read-only", "{sql}: {}", r.text());
    }
    assert!(!outside.exists());
    assert_eq!(
        std::fs::read(app.path().join("code/data.db")).unwrap(),
        deployed
    );
    assert_eq!(
        srv.post("/sqlite?db=data.db", "SELECT count(*) FROM t")
            .await
            .json()["rows"],
        serde_json::json!([[3]]),
        "the data is intact"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s15_sqlite_opens_only_databases_inside_app() {
    let (app, _) = app_with_db("");
    std::fs::copy(
        app.path().join("code/data.db"),
        app.path().join("outside.db"),
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        app.path().join("outside.db"),
        app.path().join("code/link.db"),
    )
    .unwrap();
    let srv = app.serve(&[]);
    assert_eq!(srv.get("/write?path=/tmp/t.db&bytes=10").await.status, 200);
    let mut cases = vec![
        ("../outside.db", "access-denied"),
        ("/tmp/t.db", "access-denied"),
        ("/etc/passwd", "access-denied"),
        ("missing.db", "not-found"),
        ("hello.txt", "not-found"),
    ];
    if cfg!(unix) {
        cases.push(("link.db", "access-denied"));
    }
    for (path, kind) in cases {
        let r = srv.post(&format!("/sqlite?db={path}"), "SELECT 1").await;
        assert_eq!(r.status, 422, "{path}: {}", r.text());
        assert_eq!(r.json()["error"], kind, "{path}: {}", r.text());
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains(path.trim_start_matches("../"))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s15_a_runaway_query_is_stopped_by_the_timeout_and_others_keep_working() {
    let (app, _) = app_with_db("timeout = \"500ms\"");
    let srv = app.serve(&[]);
    let started = std::time::Instant::now();
    let r = srv
        .post(
            "/sqlite?db=data.db",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        )
        .await;
    // The host interrupts the query a little before the deadline (50 ms of 500): the guest
    // gets the `timeout` case and still answers.
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"], "timeout", "{}", r.text());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let r = srv
        .post("/sqlite?db=data.db", "SELECT count(*) FROM t")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}
