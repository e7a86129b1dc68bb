//! S15 and S7 for a guest that brings its own SQLite: tests/guests/bundled-sqlite, rusqlite
//! with SQLite's C code compiled into the component (see `c_guest.rs` for its build). It
//! reads the database deployed in `/app` through the read-only preopen, every way it tries
//! to write there fails with SQLite's own error and leaves the file's bytes as deployed, and
//! a database it makes in `/tmp` works, within the `tmp` quota.
//!
//! What the guest sees depends on SQLite's VFS, which the tests show: SQLite built for WASI
//! defaults to `unix-dotfile` (WASI has no `fcntl` locks), which takes even a read lock by
//! creating `<db>.lock` next to the database, impossible in the read-only `/app`; so a guest
//! reads a deployed database with the `unix-none` VFS or as `file:…?immutable=1` (no locks:
//! nothing can change the file while the Micro runs). In `/tmp`, which the Micro's concurrent
//! instances share, the default VFS's lock files work.

use std::collections::BTreeSet;

use serde_json::json;

use crate::c_guest::bundled_sqlite;
use crate::harness::{AppDir, Server};
use crate::sqlite::write_db;

/// The three rows of `t` in `write_db`'s database.
fn rows() -> serde_json::Value {
    json!([[1, "one"], [2, "two"], [3, "three"]])
}

/// A one-Micro app on the bundled-sqlite guest with `code/data.db` deployed; its bytes.
fn app() -> (AppDir, Vec<u8>) {
    let app = AppDir::new(&format!(
        "[app]\nname = \"t\"\n\n[limits]\ntimeout = \"10s\"\ntmp = \"1MiB\"\n\n\
         [[micro]]\nname = \"db\"\ncomponent = '{}'\nsrc = \"code\"\n",
        bundled_sqlite().display()
    ));
    let deployed = write_db(&app);
    (app, deployed)
}

/// `POST /query`: `open` is `ro`, `rw` or `create`; `vfs` "" means SQLite's default.
async fn query(srv: &Server, db: &str, open: &str, vfs: &str, sql: &str) -> serde_json::Value {
    let vfs = if vfs.is_empty() {
        String::new()
    } else {
        format!("&vfs={vfs}")
    };
    let r = srv
        .post(&format!("/query?db={db}&open={open}{vfs}"), sql.to_string())
        .await;
    assert!(
        matches!(r.status, 200 | 422),
        "{db} {open} {sql}: {}",
        r.text()
    );
    r.json()
}

/// The names in the app's code dir.
fn code_dir(app: &AppDir) -> BTreeSet<String> {
    std::fs::read_dir(app.path().join("code"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn s15_a_guest_bundling_sqlite_reads_the_file_but_cannot_write_it() {
    let (app, deployed) = app();
    let srv = app.serve(&[]);
    let version = srv.get("/version").await.json();
    assert!(
        version["sqlite"].as_str().unwrap().starts_with("3."),
        "{version}"
    );
    assert_eq!(version["default_vfs"], "unix-dotfile", "{version}");
    let component = std::fs::read(bundled_sqlite()).unwrap();
    assert!(
        !component.windows(11).any(|w| w == b"micro:space"),
        "the guest's SQLite is its own, not the host's micro:space/sqlite"
    );

    let all = "SELECT id, name FROM t ORDER BY id";
    let r = query(&srv, "/app/data.db", "ro", "unix-none", all).await;
    assert_eq!(r["rows"], rows(), "{r}");
    assert_eq!(r["columns"], json!(["id", "name"]), "{r}");
    let r = query(
        &srv,
        "/app/data.db",
        "ro",
        "unix-none",
        "SELECT name FROM t WHERE id = 2",
    )
    .await;
    assert_eq!(r["rows"], json!([["two"]]), "{r}");

    // The default VFS cannot even read: its lock is a `data.db.lock` dir it may not create.
    let r = query(&srv, "/app/data.db", "ro", "", all).await;
    assert_eq!(r["code"], "PermissionDenied", "{r}");
    // Declared immutable (a URI parameter), the file is read with no lock under any VFS.
    let r = query(&srv, "file:/app/data.db?immutable=1", "ro", "", all).await;
    assert_eq!(r["rows"], rows(), "{r}");

    // Where each write goes: (open, vfs, database).
    let ro = ("ro", "unix-none", "/app/data.db");
    // Asked for read-write, SQLite falls back to read-only when /app refuses to open the file
    // for writing, and then refuses the write itself (no journal is ever made).
    let rw = ("rw", "unix-none", "/app/data.db");
    let rw_immutable = ("rw", "", "file:/app/data.db?immutable=1");
    let rw_default_vfs = ("rw", "", "/app/data.db");
    let new_in_app = ("create", "unix-none", "/app/new.db");
    let from_tmp = ("create", "", "/tmp/main.db");
    // SQLite's error: its code and words of its message.
    let read_only = ("ReadOnly", "attempt to write a readonly database");
    let no_lock = ("PermissionDenied", "access permission denied");
    let cannot_open = ("CannotOpen", "unable to open database");
    let insert = "INSERT INTO t (name) VALUES ('four')";
    let writes = [
        (ro, insert, read_only),
        (ro, "UPDATE t SET name = 'x'", read_only),
        (ro, "DELETE FROM t", read_only),
        (ro, "DROP TABLE t", read_only),
        (ro, "CREATE TABLE u (x)", read_only),
        (rw, insert, read_only),
        (rw, "BEGIN IMMEDIATE; DELETE FROM t; COMMIT", read_only),
        (rw_immutable, insert, read_only),
        (rw_default_vfs, insert, no_lock),
        (new_in_app, "CREATE TABLE x (a)", cannot_open),
        (from_tmp, "ATTACH '/app/other.db' AS o", cannot_open),
        (from_tmp, "VACUUM INTO '/app/copy.db'", cannot_open),
    ];
    for ((open, vfs, db), sql, (code, words)) in writes {
        let r = query(&srv, db, open, vfs, sql).await;
        assert_eq!(r["code"], code, "{open} {vfs} {db} {sql}: {r}");
        let message = r["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{open} {vfs} {db} {sql}: {r}");
    }

    assert_eq!(
        std::fs::read(app.path().join("code/data.db")).unwrap(),
        deployed,
        "the deployed file's bytes are unchanged"
    );
    assert_eq!(
        code_dir(&app),
        BTreeSet::from(["data.db".to_string()]),
        "no journal, lock or new database was made next to it"
    );
    let r = query(&srv, "/app/data.db", "ro", "unix-none", all).await;
    assert_eq!(r["rows"], rows(), "the data is intact: {r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_a_guest_bundling_sqlite_writes_its_own_database_in_tmp_within_the_quota() {
    let (app, _) = app();
    let srv = app.serve(&[]);
    let made = "CREATE TABLE n (i INTEGER, s TEXT);
                INSERT INTO n VALUES (1, 'a'), (2, 'b');
                UPDATE n SET s = s || '!' WHERE i = 2;
                SELECT i, s FROM n ORDER BY i";
    let r = query(&srv, "/tmp/own.db", "create", "", made).await;
    assert_eq!(r["rows"], json!([[1, "a"], [2, "b!"]]), "{r}");
    // A later request opens it again, read-only, with the default VFS and its lock files.
    let r = query(&srv, "/tmp/own.db", "ro", "", "SELECT count(*) FROM n").await;
    assert_eq!(r["rows"], json!([[2]]), "{r}");

    // About 2 MB into a 1 MiB `tmp`: the write that crosses the quota fails (SQLite sees EIO
    // from wasi-libc, SQLITE_IOERR_WRITE), the statement is rolled back, the file still works.
    let fill = "CREATE TABLE b (x);
                INSERT INTO b SELECT randomblob(100000)
                  FROM (WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k LIMIT 20)
                        SELECT i FROM k)";
    let r = query(&srv, "/tmp/big.db", "create", "", fill).await;
    assert_eq!(r["code"], "SystemIoFailure", "{r}");
    assert_eq!(r["extended_code"], 778, "SQLITE_IOERR_WRITE: {r}");
    let r = query(&srv, "/tmp/big.db", "rw", "", "SELECT count(*) FROM b").await;
    assert_eq!(r["rows"], json!([[0]]), "{r}");
    let r = query(&srv, "/tmp/own.db", "ro", "", "SELECT s FROM n WHERE i = 1").await;
    assert_eq!(r["rows"], json!([["a"]]), "{r}");
}
