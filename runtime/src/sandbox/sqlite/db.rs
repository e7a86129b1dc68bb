//! The blocking SQLite side of `micro:space/sqlite`: opening a database file read-only and
//! immutable, running one statement under a deadline and a result-size bound, and turning
//! SQLite's errors into the WIT's cases. Runs on a blocking thread, never on the executor.

use std::path::Path;
use std::sync::Once;
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::sandbox::bindings::micro::space::sqlite::{Error, Rows, Value};

/// All SQLite connections of the process together may hold at most this much heap (page
/// caches, sorters, temporary b-trees kept in memory): a hostile query cannot grow the host
/// without bound, whatever the number of Micros.
const HEAP_LIMIT: i64 = 256 << 20;

/// Bytes counted for each value besides its text or blob, so a million NULLs still count.
const VALUE_OVERHEAD: u64 = 16;

/// How many SQLite VM steps run between two deadline checks.
const PROGRESS_STEPS: i32 = 1_000;

/// Opens `file` (already resolved inside the Micro's code dir) read-only and immutable, with
/// ATTACH, writes, PRAGMAs and extension loading refused. `shown` is the guest's path, for
/// messages.
pub fn open(file: &Path, shown: &str, max_value_bytes: u64) -> Result<Connection, Error> {
    static HEAP: Once = Once::new();
    HEAP.call_once(|| {
        // SAFETY: sets a process-wide SQLite setting; callable at any time from any thread.
        unsafe { rusqlite::ffi::sqlite3_hard_heap_limit64(HEAP_LIMIT) };
    });
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut db = Connection::open_with_flags(immutable_uri(file), flags)
        .map_err(|e| Error::NotFound(format!("cannot open database `{shown}`: {e}")))?;
    lock_down(&mut db, max_value_bytes)
        .map_err(|e| Error::InvalidQuery(format!("setting up `{shown}`: {e}")))?;
    // Reading the schema tells a database from any other file now rather than at the first
    // query.
    db.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| Error::NotFound(format!("`{shown}` is not a SQLite database: {e}")))?;
    Ok(db)
}

fn lock_down(db: &mut Connection, max_value_bytes: u64) -> rusqlite::Result<()> {
    // Sorts and temporary tables stay in (bounded) memory: nothing is written on the host.
    db.pragma_update(None, "temp_store", "MEMORY")?;
    db.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    let max_len = i32::try_from(max_value_bytes).unwrap_or(i32::MAX);
    db.set_limit(Limit::SQLITE_LIMIT_LENGTH, max_len)?;
    db.authorizer(Some(authorize))
}

/// What a statement may do: read tables, call functions (but not `load_extension`) and
/// recurse. Everything else (writes, schema changes, ATTACH, PRAGMA, transactions) is denied
/// when the statement is prepared.
fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } if function_name != "load_extension" => {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

/// Runs `sql` with `params` until `deadline`, refusing results over `max_bytes`.
pub fn query(
    db: &mut Connection,
    sql: &str,
    params: Vec<Value>,
    deadline: Instant,
    max_bytes: u64,
) -> Result<Rows, Error> {
    db.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))
        .map_err(|e| classify(e, sql))?;
    let result = run(db, sql, params, max_bytes);
    let _ = db.progress_handler(0, None::<fn() -> bool>);
    result
}

fn run(db: &Connection, sql: &str, params: Vec<Value>, max_bytes: u64) -> Result<Rows, Error> {
    let mut stmt = db.prepare(sql).map_err(|e| classify(e, sql))?;
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let params: Vec<SqlValue> = params.into_iter().map(to_sql).collect();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| classify(e, sql))?;
    let mut out = Vec::new();
    let mut bytes = 0u64;
    while let Some(row) = rows.next().map_err(|e| classify(e, sql))? {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let v = from_sql(row.get_ref(i).map_err(|e| classify(e, sql))?);
            bytes += VALUE_OVERHEAD + payload_len(&v);
            values.push(v);
        }
        if bytes > max_bytes {
            return Err(Error::TooLarge(format!(
                "the result of `{}` passed the Micro's memory limit of {max_bytes} bytes after {} rows",
                short(sql),
                out.len()
            )));
        }
        out.push(values);
    }
    Ok(Rows { columns, rows: out })
}

fn payload_len(v: &Value) -> u64 {
    match v {
        Value::Text(s) => s.len() as u64,
        Value::Blob(b) => b.len() as u64,
        _ => 0,
    }
}

fn to_sql(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// SQLite's error, as the WIT case a guest can branch on, with the statement named.
pub fn classify(e: rusqlite::Error, sql: &str) -> Error {
    let sql = short(sql);
    let code = e.sqlite_error_code();
    // A denied function is reported as a plain error, with the authorizer's wording.
    let denied = e.to_string().contains("not authorized");
    match code {
        Some(ErrorCode::AuthorizationForStatementDenied) | Some(ErrorCode::ReadOnly) => {
            Error::ReadOnly(format!(
                "`{sql}` is not allowed: databases are read-only (no writes, ATTACH, PRAGMA or extensions): {e}"
            ))
        }
        Some(ErrorCode::OperationInterrupted) => Error::Timeout(format!(
            "`{sql}` ran past the Micro's timeout and was interrupted"
        )),
        Some(ErrorCode::OutOfMemory) | Some(ErrorCode::TooBig) => Error::TooLarge(format!(
            "`{sql}` needs more memory than databases may use: {e}"
        )),
        _ if denied => Error::ReadOnly(format!("`{sql}` is not allowed: {e}")),
        _ => Error::InvalidQuery(format!("`{sql}`: {e}")),
    }
}

/// A statement cut to a length that fits in a message.
fn short(sql: &str) -> String {
    const MAX: usize = 120;
    let sql = sql.trim();
    match sql.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &sql[..cut]),
        None => sql.to_string(),
    }
}

/// The `file:` URI that opens `path` read-only and immutable: SQLite takes no locks and looks
/// for no journal, as the file cannot change while the Micro runs.
fn immutable_uri(path: &Path) -> String {
    let text = path.to_string_lossy();
    // Windows: `\\?\C:\dir` (from canonicalize) becomes `/C:/dir`.
    let text = text
        .strip_prefix(r"\\?\")
        .unwrap_or(&text)
        .replace('\\', "/");
    let mut uri = String::from("file:");
    if !text.starts_with('/') {
        uri.push('/');
    }
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                uri.push(b as char)
            }
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_what_sqlite_would_read_as_query_or_fragment() {
        assert_eq!(
            immutable_uri(Path::new("/srv/app/my db?#%.sqlite")),
            "file:/srv/app/my%20db%3F%23%25.sqlite?mode=ro&immutable=1"
        );
    }

    #[test]
    fn long_statements_are_cut_in_messages() {
        let sql = "x".repeat(500);
        assert_eq!(short(&sql).len(), 123);
        assert_eq!(short(" select 1 "), "select 1");
    }
}
