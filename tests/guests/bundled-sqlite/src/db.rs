//! The SQLite side: open a database file with the flags and VFS a request asks for, run its
//! SQL, and turn rows or SQLite's own error into JSON.
//!
//! Nothing here knows about micro-wasm: this is what any guest author's code does with a
//! bundled SQLite, so the conformance test sees exactly the errors such code would see
//! (S15: the deployed `/app` is read-only; `/tmp` is writable within its quota).

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, OpenFlags};
use serde_json::{Value as Json, json};

/// `GET /version`: the SQLite compiled into this component and its default VFS.
pub fn version() -> (u16, Json) {
    // SAFETY: `sqlite3_vfs_find(NULL)` returns the default VFS, registered by SQLite itself
    // and never freed; its `zName` is a NUL-terminated static string.
    let vfs = unsafe {
        let vfs = rusqlite::ffi::sqlite3_vfs_find(std::ptr::null());
        std::ffi::CStr::from_ptr((*vfs).zName)
            .to_string_lossy()
            .into_owned()
    };
    (
        200,
        json!({"sqlite": rusqlite::version(), "default_vfs": vfs}),
    )
}

/// `POST /query?db=FILE&open=ro|rw|create[&vfs=NAME]`: opens FILE, runs the body's
/// statements in order and answers the rows of the last one, or SQLite's error and whether
/// it came from opening the file or from running the SQL.
pub fn query(file: &str, open: &str, vfs: Option<&str>, sql: &str) -> (u16, Json) {
    let flags = match open {
        "ro" => OpenFlags::SQLITE_OPEN_READ_ONLY,
        "rw" => OpenFlags::SQLITE_OPEN_READ_WRITE,
        "create" => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        other => {
            return (
                400,
                json!({"error": format!("open must be ro, rw or create, not {other}")}),
            );
        }
    };
    let conn = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(file, flags, vfs),
        None => Connection::open_with_flags(file, flags),
    };
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => return (422, error_json("open", &e)),
    };
    match run(&conn, sql) {
        Ok(rows) => (200, rows),
        Err(e) => (422, error_json("run", &e)),
    }
}

/// Runs each statement of `sql` (split by SQLite itself); the columns and rows of the last.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<Json> {
    let mut result = json!({"columns": [], "rows": []});
    let mut batch = Batch::new(conn, sql);
    while let Some(mut stmt) = batch.next()? {
        let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let width = columns.len();
        let mut rows = Vec::new();
        let mut cursor = stmt.query([])?;
        while let Some(row) = cursor.next()? {
            let cells: rusqlite::Result<Vec<Json>> =
                (0..width).map(|i| row.get_ref(i).map(to_json)).collect();
            rows.push(Json::Array(cells?));
        }
        result = json!({"columns": columns, "rows": rows});
    }
    Ok(result)
}

fn to_json(v: ValueRef<'_>) -> Json {
    match v {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!({"blob_len": b.len()}),
    }
}

/// SQLite's error as the guest sees it: primary code name, extended code and message.
fn error_json(step: &str, e: &rusqlite::Error) -> Json {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => json!({
            "step": step,
            "code": format!("{:?}", code.code),
            "extended_code": code.extended_code,
            "message": message.clone().unwrap_or_else(|| code.to_string()),
        }),
        other => json!({"step": step, "code": "other", "message": other.to_string()}),
    }
}
