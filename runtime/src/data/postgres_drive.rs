//! Drive operations of the PostgreSQL backend: the same layout as the embedded store's (a
//! file's bytes are `drive_chunks` rows of at most one chunk, keyed by (blob, part, seq); a
//! pending upload's parts stay apart until one transaction makes them the file's content), in
//! rows keyed by app, so a part may be sent to any node.
//!
//! The bytes counted against the Drive cap live in the app's `drive_usage` row, changed in the
//! same transaction as the chunks (the row lock orders concurrent writers on every node).
//! Finishing an upload takes an advisory lock on the file's name, so two nodes finishing
//! uploads of one name never leak the loser's chunks. It must not know about HTTP or hold more
//! than one chunk of a file in memory.

use bytes::Bytes;
use deadpool_postgres::Transaction;
use tokio_postgres::IsolationLevel;

use super::postgres::{Db, PgStore};
use super::store::{ChunkOutcome, FileMeta, UploadMeta};

impl PgStore {
    pub async fn start_upload(
        &self,
        id: &str,
        drive: &str,
        name: &str,
        content_type: Option<String>,
        now: i64,
    ) -> anyhow::Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO drive_uploads (app, id, drive, name, content_type, created)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&self.app, &id, &drive, &name, &content_type, &now],
            )
            .await
            .db()?;
        Ok(())
    }

    pub async fn upload_meta(&self, id: &str) -> anyhow::Result<Option<UploadMeta>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT drive, name FROM drive_uploads WHERE app = $1 AND id = $2",
                &[&self.app, &id],
            )
            .await
            .db()?;
        Ok(row.map(|r| UploadMeta {
            drive: r.get(0),
            name: r.get(1),
        }))
    }

    pub async fn discard_part(&self, id: &str, part: i64) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let freed: i64 = tx
            .query_one(
                "WITH d AS (DELETE FROM drive_chunks WHERE app = $1 AND blob = $2 AND part = $3
                 RETURNING len) SELECT COALESCE(SUM(len), 0)::BIGINT FROM d",
                &[&self.app, &id, &part],
            )
            .await
            .db()?
            .get(0);
        tx.execute(
            "DELETE FROM drive_parts WHERE app = $1 AND upload = $2 AND part = $3",
            &[&self.app, &id, &part],
        )
        .await
        .db()?;
        self.release(&tx, freed).await?;
        tx.commit().await.db()
    }

    pub async fn put_chunk(
        &self,
        id: &str,
        part: i64,
        seq: i64,
        data: Bytes,
        cap: u64,
    ) -> anyhow::Result<ChunkOutcome> {
        let len = data.len() as i64;
        let cap = cap.min(i64::MAX as u64) as i64;
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        // The upload's row first, then the usage row: the order every writer takes them in.
        if !self.upload_exists(&tx, id).await? {
            return Ok(ChunkOutcome::UploadGone);
        }
        let replaced: i64 = tx
            .query_opt(
                "SELECT len FROM drive_chunks WHERE app = $1 AND blob = $2 AND part = $3 AND seq = $4",
                &[&self.app, &id, &part, &seq],
            )
            .await
            .db()?
            .map_or(0, |r| r.get(0));
        // The cap is checked and the count changed in one statement, under the row's lock.
        let counted = tx
            .query_opt(
                "UPDATE drive_usage SET bytes = bytes + $2 - $3 WHERE app = $1 AND bytes + $2 <= $4
                 RETURNING bytes",
                &[&self.app, &len, &replaced, &cap],
            )
            .await
            .db()?;
        if counted.is_none() {
            return Ok(ChunkOutcome::OverCap);
        }
        tx.execute(
            "INSERT INTO drive_chunks (app, blob, part, seq, len, data) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app, blob, part, seq) DO UPDATE SET len = excluded.len, data = excluded.data",
            &[&self.app, &id, &part, &seq, &len, &&data[..]],
        )
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(ChunkOutcome::Stored)
    }

    pub async fn end_part(
        &self,
        id: &str,
        part: i64,
        size: u64,
        content_type: Option<String>,
    ) -> anyhow::Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        if !self.upload_exists(&tx, id).await? {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO drive_parts (app, upload, part, size) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app, upload, part) DO UPDATE SET size = excluded.size",
            &[&self.app, &id, &part, &(size as i64)],
        )
        .await
        .db()?;
        if let Some(ct) = content_type {
            tx.execute(
                "UPDATE drive_uploads SET content_type = $3
                 WHERE app = $1 AND id = $2 AND content_type IS NULL",
                &[&self.app, &id, &ct],
            )
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(true)
    }

    /// Makes the upload the file's content: keeps only completed parts, points the file at the
    /// new blob and drops the old one, in one transaction.
    pub async fn finish_upload(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let upload = tx
            .query_opt(
                "SELECT drive, name, content_type FROM drive_uploads WHERE app = $1 AND id = $2
                 FOR UPDATE",
                &[&self.app, &id],
            )
            .await
            .db()?;
        let Some(upload) = upload else {
            return Ok(false);
        };
        let (drive, name, content_type): (String, String, Option<String>) =
            (upload.get(0), upload.get(1), upload.get(2));
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))",
            &[&self.app, &drive, &name],
        )
        .await
        .db()?;
        // Chunks of parts that never completed (an interrupted part) are not part of the file.
        let stray: i64 = tx
            .query_one(
                "WITH d AS (DELETE FROM drive_chunks c WHERE app = $1 AND blob = $2
                 AND NOT EXISTS (SELECT 1 FROM drive_parts p
                     WHERE p.app = $1 AND p.upload = $2 AND p.part = c.part)
                 RETURNING len) SELECT COALESCE(SUM(len), 0)::BIGINT FROM d",
                &[&self.app, &id],
            )
            .await
            .db()?
            .get(0);
        let size: i64 = tx
            .query_one(
                "SELECT COALESCE(SUM(len), 0)::BIGINT FROM drive_chunks WHERE app = $1 AND blob = $2",
                &[&self.app, &id],
            )
            .await
            .db()?
            .get(0);
        let old: Option<String> = tx
            .query_opt(
                "SELECT blob FROM drive_files WHERE app = $1 AND drive = $2 AND name = $3",
                &[&self.app, &drive, &name],
            )
            .await
            .db()?
            .map(|r| r.get(0));
        tx.execute(
            "INSERT INTO drive_files (app, drive, name, blob, size, content_type, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (app, drive, name) DO UPDATE SET blob = excluded.blob,
             size = excluded.size, content_type = excluded.content_type, created = excluded.created",
            &[&self.app, &drive, &name, &id, &size, &content_type, &now],
        )
        .await
        .db()?;
        let freed = match old {
            Some(old) => self.drop_blob(&tx, &old).await?,
            None => 0,
        };
        tx.execute(
            "DELETE FROM drive_parts WHERE app = $1 AND upload = $2",
            &[&self.app, &id],
        )
        .await
        .db()?;
        tx.execute(
            "DELETE FROM drive_uploads WHERE app = $1 AND id = $2",
            &[&self.app, &id],
        )
        .await
        .db()?;
        self.release(&tx, stray + freed).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    pub async fn abort_upload(&self, id: &str) -> anyhow::Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let gone = tx
            .execute(
                "DELETE FROM drive_uploads WHERE app = $1 AND id = $2",
                &[&self.app, &id],
            )
            .await
            .db()?;
        if gone == 0 {
            return Ok(false);
        }
        let freed = self.drop_blob(&tx, id).await?;
        tx.execute(
            "DELETE FROM drive_parts WHERE app = $1 AND upload = $2",
            &[&self.app, &id],
        )
        .await
        .db()?;
        self.release(&tx, freed).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    pub async fn file_meta(&self, drive: &str, name: &str) -> anyhow::Result<Option<FileMeta>> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .db()?;
        let row = tx
            .query_opt(
                "SELECT blob, size, content_type FROM drive_files
                 WHERE app = $1 AND drive = $2 AND name = $3",
                &[&self.app, &drive, &name],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (blob, size, content_type): (String, i64, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let chunks = tx
            .query(
                "SELECT part, seq, len FROM drive_chunks WHERE app = $1 AND blob = $2
                 ORDER BY part, seq",
                &[&self.app, &blob],
            )
            .await
            .db()?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
            .collect();
        tx.commit().await.db()?;
        Ok(Some(FileMeta {
            blob,
            size: size as u64,
            content_type,
            chunks,
        }))
    }

    pub async fn read_chunk(
        &self,
        blob: &str,
        part: i64,
        seq: i64,
    ) -> anyhow::Result<Option<Bytes>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT data FROM drive_chunks WHERE app = $1 AND blob = $2 AND part = $3 AND seq = $4",
            )
            .await
            .db()?;
        let row = client
            .query_opt(&stmt, &[&self.app, &blob, &part, &seq])
            .await
            .db()?;
        Ok(row.map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
    }

    pub async fn list_files(
        &self,
        drive: &str,
        prefix: &str,
        after: Option<String>,
        limit: usize,
    ) -> anyhow::Result<(Vec<String>, bool)> {
        let start = match after {
            Some(a) if a.as_str() >= prefix => a,
            _ => String::new(),
        };
        let lo = if start.is_empty() {
            prefix.to_owned()
        } else {
            start.clone()
        };
        let rows = self
            .client()
            .await?
            .query(
                "SELECT name FROM drive_files WHERE app = $1 AND drive = $2 AND name >= $3
                 AND name <> $4 ORDER BY name LIMIT $5",
                &[
                    &self.app,
                    &drive,
                    &lo,
                    &start,
                    &((limit as i64).saturating_add(1)),
                ],
            )
            .await
            .db()?;
        let mut names: Vec<String> = rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .take_while(|name| name.starts_with(prefix))
            .collect();
        let more = names.len() > limit;
        names.truncate(limit);
        Ok((names, more))
    }

    pub async fn delete_files(&self, drive: &str, names: Vec<String>) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let mut freed = 0;
        for name in &names {
            let blob: Option<String> = tx
                .query_opt(
                    "DELETE FROM drive_files WHERE app = $1 AND drive = $2 AND name = $3
                     RETURNING blob",
                    &[&self.app, &drive, name],
                )
                .await
                .db()?
                .map(|r| r.get(0));
            if let Some(blob) = blob {
                freed += self.drop_blob(&tx, &blob).await?;
            }
        }
        self.release(&tx, freed).await?;
        tx.commit().await.db()
    }

    pub async fn drive_bytes(&self) -> anyhow::Result<u64> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT bytes FROM drive_usage WHERE app = $1", &[&self.app])
            .await
            .db()?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    /// Whether the upload is pending; holds it (a share lock) until the transaction ends, so an
    /// abort or finish on another node waits for this write.
    async fn upload_exists(&self, tx: &Transaction<'_>, id: &str) -> anyhow::Result<bool> {
        Ok(tx
            .query_opt(
                "SELECT 1 FROM drive_uploads WHERE app = $1 AND id = $2 FOR SHARE",
                &[&self.app, &id],
            )
            .await
            .db()?
            .is_some())
    }

    /// Deletes a blob's chunks; returns the bytes freed.
    async fn drop_blob(&self, tx: &Transaction<'_>, blob: &str) -> anyhow::Result<i64> {
        Ok(tx
            .query_one(
                "WITH d AS (DELETE FROM drive_chunks WHERE app = $1 AND blob = $2 RETURNING len)
                 SELECT COALESCE(SUM(len), 0)::BIGINT FROM d",
                &[&self.app, &blob],
            )
            .await
            .db()?
            .get(0))
    }

    /// Takes `freed` bytes off the app's Drive count.
    async fn release(&self, tx: &Transaction<'_>, freed: i64) -> anyhow::Result<()> {
        if freed > 0 {
            tx.execute(
                "UPDATE drive_usage SET bytes = GREATEST(bytes - $2, 0) WHERE app = $1",
                &[&self.app, &freed],
            )
            .await
            .db()?;
        }
        Ok(())
    }
}
