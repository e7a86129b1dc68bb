//! The embedded SQLite backend: one database file per app, in WAL mode with
//! `synchronous=FULL`, one writer connection (behind a mutex) and a small pool of read-only
//! connections, all used on tokio's blocking pool. This file holds the schema, the connection
//! handling and the Base operations; the Drive operations are in [`super::sqlite_drive`].
//!
//! Every write is one transaction, committed before the call returns, so an acknowledged write
//! survives a SIGKILL and no item is ever half-written. It must not run SQLite on the async
//! executor and must not know about HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, TransactionBehavior, params, params_from_iter,
};

use super::store::{Page, PageRequest, Scan, StoredItem, UpdateOutcome, Usage};
use super::update::UpdateOps;

/// Read-only connections kept open for reuse.
const MAX_IDLE_READERS: usize = 4;
/// Rows fetched per statement while scanning a query page.
const SCAN_BATCH: usize = 128;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS base_items (
    base TEXT NOT NULL,
    key TEXT NOT NULL,
    expires INTEGER,
    value TEXT NOT NULL,
    UNIQUE (base, key)
);
CREATE INDEX IF NOT EXISTS base_items_expires ON base_items (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS drive_files (
    drive TEXT NOT NULL,
    name TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT,
    created INTEGER NOT NULL,
    PRIMARY KEY (drive, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drive_uploads (
    id TEXT PRIMARY KEY,
    drive TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drive_parts (
    upload TEXT NOT NULL,
    part INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (upload, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drive_chunks (
    blob TEXT NOT NULL,
    part INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    len INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (blob, part, seq)
);
";

/// The writer connection and what it keeps track of.
pub(super) struct Writer {
    pub conn: Connection,
    /// Bytes of all stored Drive chunks (files and pending uploads), for the cap.
    pub drive_bytes: u64,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
}

/// The SQLite backend; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Only takes effect on a new database: freed Drive pages can then be handed back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)
            .context("creating the data schema")?;
        let drive_bytes: i64 =
            conn.query_row("SELECT COALESCE(SUM(len), 0) FROM drive_chunks", [], |r| {
                r.get(0)
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(Writer {
                    conn,
                    drive_bytes: drive_bytes.max(0) as u64,
                }),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` with the writer on the blocking pool.
    pub(super) async fn write<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> anyhow::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut writer)
        })
        .await
        .context("data store writer task")?
    }

    /// Runs `f` with a read-only connection on the blocking pool.
    pub(super) async fn read<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || with_reader(&inner, f))
            .await
            .context("data store reader task")?
    }

    /// Runs `f` with a read-only connection on the calling thread: for a read by primary key,
    /// a few microseconds in WAL mode (readers never wait for the writer), where handing it to
    /// the blocking pool and back costs two thread wake-ups, several times the read itself.
    pub(super) fn read_now<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        with_reader(&self.inner, f)
    }

    pub async fn put_items(
        &self,
        base: &str,
        items: Vec<StoredItem>,
        now: i64,
    ) -> anyhow::Result<()> {
        let base = base.to_owned();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for item in &items {
                write_item(&tx, &base, item, now)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn get_item(
        &self,
        base: &str,
        key: &str,
        now: i64,
    ) -> anyhow::Result<Option<String>> {
        self.read_now(|c| live_item(c, base, key, now))
    }

    pub async fn delete_item(&self, base: &str, key: &str) -> anyhow::Result<()> {
        let (base, key) = (base.to_owned(), key.to_owned());
        self.write(move |w| {
            w.conn.execute(
                "DELETE FROM base_items WHERE base = ?1 AND key = ?2",
                params![base, key],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn insert_item(
        &self,
        base: &str,
        item: StoredItem,
        now: i64,
    ) -> anyhow::Result<bool> {
        let base = base.to_owned();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            if live_item(&tx, &base, &item.key, now)?.is_some() {
                return Ok(false);
            }
            write_item(&tx, &base, &item, now)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub async fn update_item(
        &self,
        base: &str,
        key: &str,
        ops: UpdateOps,
        now: i64,
    ) -> anyhow::Result<UpdateOutcome> {
        let (base, key) = (base.to_owned(), key.to_owned());
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(text) = live_item(&tx, &base, &key, now)? else {
                return Ok(UpdateOutcome::NotFound);
            };
            let (json, expires) = match ops.apply_to_stored(&text, &base, &key)? {
                Ok(encoded) => encoded,
                Err(msg) => return Ok(UpdateOutcome::Invalid(msg)),
            };
            write_item(&tx, &base, &StoredItem { key, json, expires }, now)?;
            tx.commit()?;
            Ok(UpdateOutcome::Updated)
        })
        .await
    }

    pub async fn query_page(&self, base: &str, req: PageRequest, now: i64) -> anyhow::Result<Page> {
        let base = base.to_owned();
        self.read(move |c| {
            let tx = c.transaction()?;
            scan_page(&tx, &base, &req, now)
        })
        .await
    }

    pub async fn sweep(&self, now: i64, stale_before: i64) -> anyhow::Result<u64> {
        let stale = self
            .read(move |c| {
                let mut stmt = c.prepare("SELECT id FROM drive_uploads WHERE created < ?1")?;
                let ids = stmt.query_map([stale_before], |r| r.get::<_, String>(0))?;
                Ok(ids.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        for id in stale {
            self.abort_upload(&id).await?;
        }
        self.write(move |w| {
            let n = w.conn.execute(
                "DELETE FROM base_items WHERE expires IS NOT NULL AND expires <= ?1",
                [now],
            )?;
            // Give freed pages (deleted files, swept items) back to the file system.
            w.conn.execute_batch("PRAGMA incremental_vacuum")?;
            Ok(n as u64)
        })
        .await
    }

    pub async fn usage(&self, now: i64) -> anyhow::Result<Usage> {
        self.read(move |c| {
            let tx = c.transaction()?;
            let mut stmt = tx.prepare(
                "SELECT base, COUNT(*) FROM base_items WHERE expires IS NULL OR expires > ?1
                 GROUP BY base ORDER BY base",
            )?;
            let bases = stmt
                .query_map([now], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
            let mut stmt = tx.prepare(
                "SELECT drive, COUNT(*), COALESCE(SUM(size), 0) FROM drive_files
                 GROUP BY drive ORDER BY drive",
            )?;
            let drives = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(Usage { bases, drives })
        })
        .await
    }
}

/// Runs `f` with an idle reader of `inner` (or a new one), then keeps it for the next read.
fn with_reader<T>(
    inner: &Inner,
    f: impl FnOnce(&mut Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let pooled = inner
        .readers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop();
    let mut conn = match pooled {
        Some(conn) => conn,
        None => open_reader(&inner.path)?,
    };
    let out = f(&mut conn);
    let mut idle = inner.readers.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE_READERS && conn.is_autocommit() {
        idle.push(conn);
    }
    out
}

fn open_reader(path: &Path) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {} to read", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Stores one item, or deletes the key when the item is already expired.
fn write_item(conn: &Connection, base: &str, item: &StoredItem, now: i64) -> rusqlite::Result<()> {
    if item.expires.is_some_and(|t| t <= now) {
        conn.execute(
            "DELETE FROM base_items WHERE base = ?1 AND key = ?2",
            params![base, item.key],
        )?;
    } else {
        conn.execute(
            "INSERT INTO base_items (base, key, expires, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (base, key) DO UPDATE SET expires = excluded.expires, value = excluded.value",
            params![base, item.key, item.expires, item.json],
        )?;
    }
    Ok(())
}

fn live_item(conn: &Connection, base: &str, key: &str, now: i64) -> anyhow::Result<Option<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT value FROM base_items WHERE base = ?1 AND key = ?2 AND (expires IS NULL OR expires > ?3)",
    )?;
    Ok(stmt
        .query_row(params![base, key, now], |r| r.get(0))
        .optional()?)
}

/// Scans keys in order from the cursor, filtering in Rust, until the page is full, the scan
/// budget is spent or the range ends.
fn scan_page(conn: &Connection, base: &str, req: &PageRequest, now: i64) -> anyhow::Result<Page> {
    let mut scan = Scan::new(req);
    loop {
        let rows = fetch_batch(conn, base, req, scan.cursor.as_deref(), now, SCAN_BATCH)?;
        let exhausted = rows.len() < SCAN_BATCH;
        let mut iter = rows.into_iter();
        if scan.take(&mut iter)? {
            let more = iter.next().is_some()
                || (!exhausted
                    && !fetch_batch(conn, base, req, scan.cursor.as_deref(), now, 1)?.is_empty());
            return Ok(scan.finish(more));
        }
        if exhausted {
            return Ok(scan.finish(false));
        }
    }
}

fn fetch_batch(
    conn: &Connection,
    base: &str,
    req: &PageRequest,
    cursor: Option<&str>,
    now: i64,
    n: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    use rusqlite::types::Value as Sql;
    let mut sql = String::from(
        "SELECT key, value FROM base_items WHERE base = ?1 AND (expires IS NULL OR expires > ?2)",
    );
    let mut args: Vec<Sql> = vec![Sql::Text(base.to_owned()), Sql::Integer(now)];
    let mut bound = |sql: &mut String, cond: &str, value: &str| {
        args.push(Sql::Text(value.to_owned()));
        sql.push_str(&format!(" AND key {cond} ?{}", args.len()));
    };
    if let Some(c) = cursor {
        bound(&mut sql, if req.desc { "<" } else { ">" }, c);
    }
    if let Some(lo) = &req.range.lo {
        bound(&mut sql, ">=", lo);
    }
    if let Some((hi, inclusive)) = &req.range.hi {
        bound(&mut sql, if *inclusive { "<=" } else { "<" }, hi);
    }
    sql.push_str(if req.desc {
        " ORDER BY key DESC"
    } else {
        " ORDER BY key ASC"
    });
    sql.push_str(&format!(" LIMIT {n}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
