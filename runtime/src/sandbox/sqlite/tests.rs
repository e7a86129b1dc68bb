use std::time::{Duration, Instant};

use super::db;
use super::*;

/// A code dir holding `data.db` (table `t(id, name, raw)`, 3 rows) and a text file.
fn code_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("data.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, raw BLOB, score REAL);
         INSERT INTO t VALUES (1, 'one', x'00ff', 1.5), (2, 'two', NULL, NULL), (3, 'three', x'', 3.0);",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
    dir
}

fn open(dir: &Path, path: &str) -> Result<rusqlite::Connection, Error> {
    let file = resolve(dir, path)?;
    db::open(&file, path, 1 << 20)
}

fn query(c: &mut rusqlite::Connection, sql: &str, params: Vec<Value>) -> Result<Rows, Error> {
    db::query(
        c,
        sql,
        params,
        Instant::now() + Duration::from_secs(5),
        1 << 20,
    )
}

#[test]
fn paths_resolve_inside_the_code_dir_only() {
    let dir = code_dir();
    for ok in ["data.db", "./data.db", "/app/data.db", "/app//data.db"] {
        assert!(resolve(dir.path(), ok).is_ok(), "{ok}");
    }
    for denied in [
        "../data.db",
        "/etc/passwd",
        "/app/../etc/passwd",
        "a/../../x",
        "/tmp/x.db",
    ] {
        assert!(
            matches!(resolve(dir.path(), denied), Err(Error::AccessDenied(_))),
            "{denied}"
        );
    }
    for missing in ["nope.db", "/app", "/app/", "file:data.db?mode=rw"] {
        assert!(
            matches!(resolve(dir.path(), missing), Err(Error::NotFound(_))),
            "{missing}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_code_dir_is_refused() {
    let dir = code_dir();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("data.db"), outside.path().join("x.db")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.db"), dir.path().join("link.db")).unwrap();
    assert!(matches!(
        resolve(dir.path(), "link.db"),
        Err(Error::AccessDenied(m)) if m.contains("symlink")
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_not_found() {
    let dir = code_dir();
    assert!(
        matches!(open(dir.path(), "notes.txt"), Err(Error::NotFound(m)) if m.contains("not a SQLite database"))
    );
}

#[test]
fn queries_bind_parameters_and_return_typed_values() {
    let dir = code_dir();
    let mut c = open(dir.path(), "data.db").unwrap();
    let rows = query(
        &mut c,
        "SELECT id, name, raw, score FROM t WHERE id >= ? ORDER BY id",
        vec![Value::Integer(2)],
    )
    .unwrap();
    assert_eq!(rows.columns, ["id", "name", "raw", "score"]);
    assert_eq!(rows.rows.len(), 2);
    assert!(matches!(rows.rows[0][0], Value::Integer(2)));
    assert!(matches!(&rows.rows[0][1], Value::Text(s) if s == "two"));
    assert!(matches!(rows.rows[0][2], Value::Null));
    assert!(matches!(&rows.rows[1][2], Value::Blob(b) if b.is_empty()));
    assert!(matches!(rows.rows[1][3], Value::Real(f) if f == 3.0));
    let one = query(&mut c, "SELECT ?1 || ?1", vec![Value::Text("ab".into())]).unwrap();
    assert!(matches!(&one.rows[0][0], Value::Text(s) if s == "abab"));
}

#[test]
fn writes_schema_changes_attach_pragma_and_extensions_are_read_only_errors() {
    let dir = code_dir();
    let mut c = open(dir.path(), "data.db").unwrap();
    let outside = dir.path().join("copy.db");
    for sql in [
        "INSERT INTO t (name) VALUES ('x')".to_string(),
        "UPDATE t SET name = 'x'".to_string(),
        "DELETE FROM t".to_string(),
        "CREATE TABLE u (x)".to_string(),
        "DROP TABLE t".to_string(),
        format!("ATTACH '{}' AS other", outside.display()),
        format!("VACUUM INTO '{}'", outside.display()),
        "PRAGMA journal_mode = DELETE".to_string(),
        "SELECT load_extension('x')".to_string(),
        "BEGIN".to_string(),
    ] {
        let e = query(&mut c, &sql, vec![]).unwrap_err();
        assert!(matches!(e, Error::ReadOnly(_)), "{sql}: {e:?}");
    }
    assert!(!outside.exists(), "nothing was written on the host");
    let rows = query(&mut c, "SELECT count(*) FROM t", vec![]).unwrap();
    assert!(
        matches!(rows.rows[0][0], Value::Integer(3)),
        "the data is intact"
    );
}

#[test]
fn bad_statements_are_invalid_queries_that_name_the_statement() {
    let dir = code_dir();
    let mut c = open(dir.path(), "data.db").unwrap();
    for sql in ["SELEC 1", "SELECT * FROM missing", "SELECT ?2"] {
        let e = query(&mut c, sql, vec![Value::Integer(1)]).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidQuery(m) if m.contains(sql)),
            "{sql}: {e:?}"
        );
    }
}

#[test]
fn a_query_past_its_deadline_is_interrupted() {
    let dir = code_dir();
    let mut c = open(dir.path(), "data.db").unwrap();
    let started = Instant::now();
    let e = db::query(
        &mut c,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        vec![],
        Instant::now() + Duration::from_millis(100),
        1 << 20,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection still works with a fresh deadline.
    assert!(query(&mut c, "SELECT 1", vec![]).is_ok());
}

#[test]
fn a_result_over_the_memory_limit_is_refused() {
    let dir = code_dir();
    let mut c = open(dir.path(), "data.db").unwrap();
    let e = db::query(
        &mut c,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 100000) \
         SELECT i, 'some text' FROM n",
        vec![],
        Instant::now() + Duration::from_secs(10),
        64 << 10,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::TooLarge(m) if m.contains("65536")),
        "{e:?}"
    );
}

#[test]
fn queries_stop_a_tenth_of_the_timeout_early_but_at_most_a_second() {
    assert_eq!(
        reserve(Duration::from_millis(500)),
        Duration::from_millis(50)
    );
    assert_eq!(reserve(Duration::from_secs(20)), Duration::from_secs(1));
}
