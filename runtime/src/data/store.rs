//! The storage interface of the data service: one enum, [`Store`], whose async methods are the
//! Base and Drive operations the HTTP layer needs, dispatched on the backend: the embedded
//! SQLite store ([`super::sqlite`]) or PostgreSQL ([`super::postgres`]), shared by every node
//! serving the app. Both give the same answers to the same requests.
//!
//! It owns the plain data passed across that boundary and [`StoreError`], the failures a
//! store reports to the client as such. It must not know about HTTP, and every method returns
//! only after its writes are durable (committed).

use bytes::Bytes;
use serde_json::Value;

use super::postgres::PgStore;
use super::query::{KeyRange, Query};
use super::sqlite::SqliteStore;
use super::update::UpdateOps;

/// A store failure the client is told about (any other error is an internal one).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request asks for something this store cannot keep (answered 400).
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached now (answered 503; the next request tries again).
    #[error("{0}")]
    Unavailable(String),
}

/// A Base item ready to store: its key, its JSON text and its expiry (Unix seconds).
#[derive(Debug, Clone)]
pub struct StoredItem {
    pub key: String,
    pub json: String,
    pub expires: Option<i64>,
}

/// What an update did.
#[derive(Debug)]
pub enum UpdateOutcome {
    Updated,
    NotFound,
    /// The update does not apply to this item (message for a 400).
    Invalid(String),
}

/// One page of a Base query.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub query: Query,
    pub range: KeyRange,
    /// Exclusive cursor: the key the previous page ended on.
    pub after: Option<String>,
    pub desc: bool,
    pub limit: usize,
    /// Stop after scanning about this many bytes of item JSON (before filtering).
    pub scan_budget: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Value>,
    /// Set when more items may follow: the cursor for the next page.
    pub last: Option<String>,
}

/// A key-ordered page scan, the same for every store: the store feeds it batches of
/// `(key, item JSON)` rows from the cursor on, and it keeps the items the query matches until
/// the page is full or the scan budget is spent.
pub struct Scan<'a> {
    req: &'a PageRequest,
    page: Page,
    /// The last key looked at: where the next batch starts.
    pub cursor: Option<String>,
    scanned: usize,
}

impl<'a> Scan<'a> {
    pub fn new(req: &'a PageRequest) -> Self {
        Scan {
            req,
            page: Page::default(),
            cursor: req.after.clone(),
            scanned: 0,
        }
    }

    /// Takes rows until the page is full or the budget is spent: true when it stopped there
    /// (what is left of `rows` was not looked at).
    pub fn take(
        &mut self,
        rows: &mut impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<bool> {
        for (key, text) in rows {
            self.scanned += text.len();
            let item: Value = serde_json::from_str(&text)?;
            if self.req.query.matches(&item) {
                self.page.items.push(item);
            }
            self.cursor = Some(key);
            if self.stopped() {
                return Ok(true);
            }
        }
        Ok(self.stopped())
    }

    fn stopped(&self) -> bool {
        self.page.items.len() >= self.req.limit || self.scanned >= self.req.scan_budget
    }

    /// The page; its `last` cursor is set when `more` items may follow.
    pub fn finish(mut self, more: bool) -> Page {
        if more {
            self.page.last = self.cursor;
        }
        self.page
    }
}

/// A pending Drive upload.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub drive: String,
    pub name: String,
}

/// What storing one chunk of a part did.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    Stored,
    /// Storing it would take the app's Drive bytes past the cap; nothing was stored.
    OverCap,
    /// The upload was finished or aborted meanwhile.
    UploadGone,
}

/// A stored Drive file: where its bytes are and how they are split.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub blob: String,
    pub size: u64,
    pub content_type: Option<String>,
    /// The file's chunks in order: (part, seq, length).
    pub chunks: Vec<(i64, i64, u64)>,
}

/// Counts for the dashboard.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub bases: Vec<(String, u64)>,
    /// (drive, files, bytes)
    pub drives: Vec<(String, u64, u64)>,
}

/// The backend holding an app's Bases and Drives.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Stores all `items` (replacing same keys) in one transaction; items whose expiry is not
    /// after `now` are deleted instead.
    pub async fn put_items(
        &self,
        base: &str,
        items: Vec<StoredItem>,
        now: i64,
    ) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.put_items(base, items, now).await,
            Store::Postgres(s) => s.put_items(base, items, now).await,
        }
    }

    /// The item's JSON text, unless absent or expired at `now`.
    pub async fn get_item(
        &self,
        base: &str,
        key: &str,
        now: i64,
    ) -> anyhow::Result<Option<String>> {
        match self {
            Store::Sqlite(s) => s.get_item(base, key, now).await,
            Store::Postgres(s) => s.get_item(base, key, now).await,
        }
    }

    pub async fn delete_item(&self, base: &str, key: &str) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.delete_item(base, key).await,
            Store::Postgres(s) => s.delete_item(base, key).await,
        }
    }

    /// Stores `item` unless a live item has its key; false when one has.
    pub async fn insert_item(
        &self,
        base: &str,
        item: StoredItem,
        now: i64,
    ) -> anyhow::Result<bool> {
        match self {
            Store::Sqlite(s) => s.insert_item(base, item, now).await,
            Store::Postgres(s) => s.insert_item(base, item, now).await,
        }
    }

    /// Applies `ops` to the live item atomically.
    pub async fn update_item(
        &self,
        base: &str,
        key: &str,
        ops: UpdateOps,
        now: i64,
    ) -> anyhow::Result<UpdateOutcome> {
        match self {
            Store::Sqlite(s) => s.update_item(base, key, ops, now).await,
            Store::Postgres(s) => s.update_item(base, key, ops, now).await,
        }
    }

    pub async fn query_page(&self, base: &str, req: PageRequest, now: i64) -> anyhow::Result<Page> {
        match self {
            Store::Sqlite(s) => s.query_page(base, req, now).await,
            Store::Postgres(s) => s.query_page(base, req, now).await,
        }
    }

    /// Deletes items expired at `now` (and uploads started before `stale_before`); returns how
    /// many items went.
    pub async fn sweep(&self, now: i64, stale_before: i64) -> anyhow::Result<u64> {
        match self {
            Store::Sqlite(s) => s.sweep(now, stale_before).await,
            Store::Postgres(s) => s.sweep(now, stale_before).await,
        }
    }

    pub async fn usage(&self, now: i64) -> anyhow::Result<Usage> {
        match self {
            Store::Sqlite(s) => s.usage(now).await,
            Store::Postgres(s) => s.usage(now).await,
        }
    }

    /// Records a new upload of `drive`/`name`.
    pub async fn start_upload(
        &self,
        id: &str,
        drive: &str,
        name: &str,
        content_type: Option<String>,
        now: i64,
    ) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.start_upload(id, drive, name, content_type, now).await,
            Store::Postgres(s) => s.start_upload(id, drive, name, content_type, now).await,
        }
    }

    pub async fn upload_meta(&self, id: &str) -> anyhow::Result<Option<UploadMeta>> {
        match self {
            Store::Sqlite(s) => s.upload_meta(id).await,
            Store::Postgres(s) => s.upload_meta(id).await,
        }
    }

    /// Drops whatever an earlier attempt stored for this part (a retried part replaces it).
    pub async fn discard_part(&self, id: &str, part: i64) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.discard_part(id, part).await,
            Store::Postgres(s) => s.discard_part(id, part).await,
        }
    }

    /// Stores chunk `seq` of `part`, unless the Drive bytes would pass `cap`.
    pub async fn put_chunk(
        &self,
        id: &str,
        part: i64,
        seq: i64,
        data: Bytes,
        cap: u64,
    ) -> anyhow::Result<ChunkOutcome> {
        match self {
            Store::Sqlite(s) => s.put_chunk(id, part, seq, data, cap).await,
            Store::Postgres(s) => s.put_chunk(id, part, seq, data, cap).await,
        }
    }

    /// Marks `part` complete with `size` bytes; false when the upload is gone.
    pub async fn end_part(
        &self,
        id: &str,
        part: i64,
        size: u64,
        content_type: Option<String>,
    ) -> anyhow::Result<bool> {
        match self {
            Store::Sqlite(s) => s.end_part(id, part, size, content_type).await,
            Store::Postgres(s) => s.end_part(id, part, size, content_type).await,
        }
    }

    /// Makes the upload the file's content in one transaction; false when the upload is gone.
    pub async fn finish_upload(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        match self {
            Store::Sqlite(s) => s.finish_upload(id, now).await,
            Store::Postgres(s) => s.finish_upload(id, now).await,
        }
    }

    /// Drops a pending upload and its parts; false when it is gone.
    pub async fn abort_upload(&self, id: &str) -> anyhow::Result<bool> {
        match self {
            Store::Sqlite(s) => s.abort_upload(id).await,
            Store::Postgres(s) => s.abort_upload(id).await,
        }
    }

    pub async fn file_meta(&self, drive: &str, name: &str) -> anyhow::Result<Option<FileMeta>> {
        match self {
            Store::Sqlite(s) => s.file_meta(drive, name).await,
            Store::Postgres(s) => s.file_meta(drive, name).await,
        }
    }

    /// One chunk's bytes; None when the file changed and the chunk is gone.
    pub async fn read_chunk(
        &self,
        blob: &str,
        part: i64,
        seq: i64,
    ) -> anyhow::Result<Option<Bytes>> {
        match self {
            Store::Sqlite(s) => s.read_chunk(blob, part, seq).await,
            Store::Postgres(s) => s.read_chunk(blob, part, seq).await,
        }
    }

    /// Up to `limit` names after `after` starting with `prefix`, and whether more follow.
    pub async fn list_files(
        &self,
        drive: &str,
        prefix: &str,
        after: Option<String>,
        limit: usize,
    ) -> anyhow::Result<(Vec<String>, bool)> {
        match self {
            Store::Sqlite(s) => s.list_files(drive, prefix, after, limit).await,
            Store::Postgres(s) => s.list_files(drive, prefix, after, limit).await,
        }
    }

    pub async fn delete_files(&self, drive: &str, names: Vec<String>) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.delete_files(drive, names).await,
            Store::Postgres(s) => s.delete_files(drive, names).await,
        }
    }

    /// Bytes the app's Drives hold (files and pending uploads).
    pub async fn drive_bytes(&self) -> anyhow::Result<u64> {
        match self {
            Store::Sqlite(s) => s.drive_bytes().await,
            Store::Postgres(s) => s.drive_bytes().await,
        }
    }
}
