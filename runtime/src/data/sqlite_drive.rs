//! Drive operations of the SQLite backend. A file's bytes are rows of `drive_chunks` keyed by
//! (blob, part, seq), each at most one chunk (1 MiB); the blob id is the upload id. Parts of a
//! pending upload stay apart (rows of `drive_parts`, chunks under the upload's id) until the
//! upload is finished, when one transaction points the file at the new blob and drops the old
//! one, so a reader sees the old file or the new one, never half.
//!
//! It keeps the writer's count of stored chunk bytes exact (for the Drive cap). It must not
//! know about HTTP or hold a whole file in memory.

use anyhow::Context;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite::{SqliteStore, Writer};
use super::store::{ChunkOutcome, FileMeta, UploadMeta};

impl SqliteStore {
    pub async fn start_upload(
        &self,
        id: &str,
        drive: &str,
        name: &str,
        content_type: Option<String>,
        now: i64,
    ) -> anyhow::Result<()> {
        let (id, drive, name) = (id.to_owned(), drive.to_owned(), name.to_owned());
        self.write(move |w| {
            w.conn.execute(
                "INSERT INTO drive_uploads (id, drive, name, content_type, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, drive, name, content_type, now],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn upload_meta(&self, id: &str) -> anyhow::Result<Option<UploadMeta>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT drive, name FROM drive_uploads WHERE id = ?1",
                [id],
                |r| {
                    Ok(UploadMeta {
                        drive: r.get(0)?,
                        name: r.get(1)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    pub async fn discard_part(&self, id: &str, part: i64) -> anyhow::Result<()> {
        let id = id.to_owned();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let freed = chunk_bytes(&tx, "blob = ?1 AND part = ?2", params![id, part])?;
            tx.execute(
                "DELETE FROM drive_chunks WHERE blob = ?1 AND part = ?2",
                params![id, part],
            )?;
            tx.execute(
                "DELETE FROM drive_parts WHERE upload = ?1 AND part = ?2",
                params![id, part],
            )?;
            tx.commit()?;
            w.drive_bytes = w.drive_bytes.saturating_sub(freed);
            Ok(())
        })
        .await
    }

    pub async fn put_chunk(
        &self,
        id: &str,
        part: i64,
        seq: i64,
        data: Bytes,
        cap: u64,
    ) -> anyhow::Result<ChunkOutcome> {
        let id = id.to_owned();
        self.write(move |w| {
            let len = data.len() as u64;
            if w.drive_bytes.saturating_add(len) > cap {
                return Ok(ChunkOutcome::OverCap);
            }
            let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !upload_exists(&tx, &id)? {
                return Ok(ChunkOutcome::UploadGone);
            }
            let replaced = chunk_bytes(&tx, "blob = ?1 AND part = ?2 AND seq = ?3", params![id, part, seq])?;
            tx.execute(
                "INSERT OR REPLACE INTO drive_chunks (blob, part, seq, len, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, part, seq, len as i64, &data[..]],
            )?;
            tx.commit()?;
            w.drive_bytes = w.drive_bytes.saturating_sub(replaced) + len;
            Ok(ChunkOutcome::Stored)
        })
        .await
    }

    pub async fn end_part(
        &self,
        id: &str,
        part: i64,
        size: u64,
        content_type: Option<String>,
    ) -> anyhow::Result<bool> {
        let id = id.to_owned();
        self.write(move |w| {
            let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !upload_exists(&tx, &id)? {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR REPLACE INTO drive_parts (upload, part, size) VALUES (?1, ?2, ?3)",
                params![id, part, size as i64],
            )?;
            if let Some(ct) = content_type {
                tx.execute(
                    "UPDATE drive_uploads SET content_type = ?2 WHERE id = ?1 AND content_type IS NULL",
                    params![id, ct],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub async fn finish_upload(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        let id = id.to_owned();
        self.write(move |w| finish(w, &id, now)).await
    }

    pub async fn abort_upload(&self, id: &str) -> anyhow::Result<bool> {
        let id = id.to_owned();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !upload_exists(&tx, &id)? {
                return Ok(false);
            }
            let freed = drop_blob(&tx, &id)?;
            tx.execute("DELETE FROM drive_parts WHERE upload = ?1", [&id])?;
            tx.execute("DELETE FROM drive_uploads WHERE id = ?1", [&id])?;
            tx.commit()?;
            w.drive_bytes = w.drive_bytes.saturating_sub(freed);
            Ok(true)
        })
        .await
    }

    pub async fn file_meta(&self, drive: &str, name: &str) -> anyhow::Result<Option<FileMeta>> {
        let (drive, name) = (drive.to_owned(), name.to_owned());
        self.read(move |c| {
            let tx = c.transaction()?;
            let row = tx
                .query_row(
                    "SELECT blob, size, content_type FROM drive_files WHERE drive = ?1 AND name = ?2",
                    params![drive, name],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?)),
                )
                .optional()?;
            let Some((blob, size, content_type)) = row else {
                return Ok(None);
            };
            let mut stmt = tx.prepare_cached(
                "SELECT part, seq, len FROM drive_chunks WHERE blob = ?1 ORDER BY part, seq",
            )?;
            let chunks = stmt
                .query_map([&blob], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(FileMeta {
                blob,
                size: size as u64,
                content_type,
                chunks,
            }))
        })
        .await
    }

    pub async fn read_chunk(
        &self,
        blob: &str,
        part: i64,
        seq: i64,
    ) -> anyhow::Result<Option<Bytes>> {
        let blob = blob.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT data FROM drive_chunks WHERE blob = ?1 AND part = ?2 AND seq = ?3",
            )?;
            let data: Option<Vec<u8>> = stmt
                .query_row(params![blob, part, seq], |r| r.get(0))
                .optional()?;
            Ok(data.map(Bytes::from))
        })
        .await
    }

    pub async fn list_files(
        &self,
        drive: &str,
        prefix: &str,
        after: Option<String>,
        limit: usize,
    ) -> anyhow::Result<(Vec<String>, bool)> {
        let (drive, prefix) = (drive.to_owned(), prefix.to_owned());
        self.read(move |c| {
            let start = match after {
                Some(a) if a >= prefix => a,
                _ => String::new(),
            };
            let lo = if start.is_empty() {
                prefix.clone()
            } else {
                start.clone()
            };
            let mut stmt = c.prepare_cached(
                "SELECT name FROM drive_files WHERE drive = ?1 AND name >= ?2 AND name <> ?3
                 ORDER BY name LIMIT ?4",
            )?;
            let mut names = Vec::new();
            let rows = stmt.query_map(params![drive, lo, start, (limit + 1) as i64], |r| {
                r.get::<_, String>(0)
            })?;
            for name in rows {
                let name = name?;
                if !name.starts_with(&prefix) {
                    break;
                }
                names.push(name);
            }
            let more = names.len() > limit;
            names.truncate(limit);
            Ok((names, more))
        })
        .await
    }

    pub async fn delete_files(&self, drive: &str, names: Vec<String>) -> anyhow::Result<()> {
        let drive = drive.to_owned();
        self.write(move |w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut freed = 0;
            for name in &names {
                let blob: Option<String> = tx
                    .query_row(
                        "DELETE FROM drive_files WHERE drive = ?1 AND name = ?2 RETURNING blob",
                        params![drive, name],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(blob) = blob {
                    freed += drop_blob(&tx, &blob)?;
                }
            }
            tx.commit()?;
            w.drive_bytes = w.drive_bytes.saturating_sub(freed);
            Ok(())
        })
        .await
    }

    pub async fn drive_bytes(&self) -> anyhow::Result<u64> {
        self.write(|w| Ok(w.drive_bytes)).await
    }
}

/// Finishes an upload: keeps only completed parts, points the file at the new blob and drops
/// the old one, in one transaction.
fn finish(w: &mut Writer, id: &str, now: i64) -> anyhow::Result<bool> {
    let tx = w
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let upload = tx
        .query_row(
            "SELECT drive, name, content_type FROM drive_uploads WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((drive, name, content_type)) = upload else {
        return Ok(false);
    };
    // Chunks of parts that never completed (an interrupted part) are not part of the file.
    let stray = chunk_bytes(
        &tx,
        "blob = ?1 AND part NOT IN (SELECT part FROM drive_parts WHERE upload = ?1)",
        [id],
    )?;
    tx.execute(
        "DELETE FROM drive_chunks WHERE blob = ?1 AND part NOT IN (SELECT part FROM drive_parts WHERE upload = ?1)",
        [id],
    )?;
    let size: i64 = tx.query_row(
        "SELECT COALESCE(SUM(len), 0) FROM drive_chunks WHERE blob = ?1",
        [id],
        |r| r.get(0),
    )?;
    let old: Option<String> = tx
        .query_row(
            "SELECT blob FROM drive_files WHERE drive = ?1 AND name = ?2",
            params![drive, name],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT OR REPLACE INTO drive_files (drive, name, blob, size, content_type, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![drive, name, id, size, content_type, now],
    )?;
    let freed = match old {
        Some(old) => drop_blob(&tx, &old)?,
        None => 0,
    };
    tx.execute("DELETE FROM drive_parts WHERE upload = ?1", [id])?;
    tx.execute("DELETE FROM drive_uploads WHERE id = ?1", [id])?;
    tx.commit().context("committing a finished upload")?;
    w.drive_bytes = w.drive_bytes.saturating_sub(stray + freed);
    Ok(true)
}

fn upload_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM drive_uploads WHERE id = ?1",
        [id],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Total length of the chunks matching `filter`.
fn chunk_bytes(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<u64> {
    let sql = format!("SELECT COALESCE(SUM(len), 0) FROM drive_chunks WHERE {filter}");
    conn.query_row(&sql, args, |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

/// Deletes a blob's chunks; returns the bytes freed.
fn drop_blob(conn: &Connection, blob: &str) -> rusqlite::Result<u64> {
    let freed = chunk_bytes(conn, "blob = ?1", [blob])?;
    conn.execute("DELETE FROM drive_chunks WHERE blob = ?1", [blob])?;
    Ok(freed)
}
