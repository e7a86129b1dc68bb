//! The PostgreSQL backend, shared by every node serving the app: Base items are `jsonb` rows
//! keyed by (app, base, key) with their expiry beside them, in the tables `pg::migrations`
//! creates. This file holds the connection handling and the Base operations; the Drive
//! operations are in [`super::postgres_drive`] and the query translation in
//! [`super::postgres_query`].
//!
//! Every write is one transaction, committed before the call returns; a read-modify-write (an
//! update, an insert) locks or conditions the row so two nodes never both win. A query page is
//! read in one repeatable-read snapshot, key range and filters in SQL, then checked in Rust
//! like the embedded store does, so both answer the same. A database that cannot be reached is
//! [`StoreError::Unavailable`] (answered 503); strings PostgreSQL cannot hold (NUL) are
//! [`StoreError::Invalid`] (answered 400). It must not know about HTTP.

use anyhow::Context;
use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::IsolationLevel;

use super::postgres_query::{Sql, push_filter};
use super::store::{Page, PageRequest, Scan, StoreError, StoredItem, UpdateOutcome, Usage};
use super::update::UpdateOps;
use crate::pg::{Client, Pg};

/// Rows fetched per statement while scanning a query page.
const SCAN_BATCH: i64 = 128;

/// One app's data in a PostgreSQL database; cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pg: Pg,
    /// The app's id: every row the store reads or writes has it.
    pub(super) app: String,
}

/// Maps database errors: a lost or refused connection is [`StoreError::Unavailable`].
pub(super) trait Db<T> {
    fn db(self) -> anyhow::Result<T>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> anyhow::Result<T> {
        self.map_err(|e| {
            let code = e.code().map(|c| c.code().to_owned());
            // 22P05: a \u0000 escape in jsonb; 22021: a NUL byte in text.
            if matches!(code.as_deref(), Some("22P05" | "22021")) {
                return anyhow::Error::new(StoreError::Invalid(
                    "strings must not contain NUL (\\u0000) on the PostgreSQL store".into(),
                ));
            }
            let connection = e.is_closed()
                || code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
                || (e.as_db_error().is_none()
                    && std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()));
            if connection {
                anyhow::Error::new(StoreError::Unavailable(format!("PostgreSQL: {e}")))
            } else {
                anyhow::Error::new(e)
            }
        })
    }
}

impl PgStore {
    /// The store of app `app` in the (migrated) database behind `pg`.
    pub async fn open(pg: Pg, app: &str) -> anyhow::Result<PgStore> {
        let store = PgStore {
            pg,
            app: app.to_owned(),
        };
        store
            .client()
            .await?
            .execute(
                "INSERT INTO drive_usage (app, bytes) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                &[&store.app],
            )
            .await
            .db()
            .context("registering the app's Drive usage")?;
        Ok(store)
    }

    /// A pooled connection; [`StoreError::Unavailable`] when the database cannot be reached.
    pub(super) async fn client(&self) -> anyhow::Result<Client> {
        self.pg
            .client()
            .await
            .map_err(|e| StoreError::Unavailable(format!("{e:#}")).into())
    }

    pub async fn put_items(
        &self,
        base: &str,
        items: Vec<StoredItem>,
        now: i64,
    ) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        for item in &items {
            self.write_item(&tx, base, item, now).await?;
        }
        tx.commit().await.db()
    }

    pub async fn get_item(
        &self,
        base: &str,
        key: &str,
        now: i64,
    ) -> anyhow::Result<Option<String>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT value::text FROM base_items WHERE app = $1 AND base = $2 AND key = $3
                 AND (expires IS NULL OR expires > $4)",
            )
            .await
            .db()?;
        let row = client
            .query_opt(&stmt, &[&self.app, &base, &key, &now])
            .await
            .db()?;
        row.map(|r| compact(r.get(0))).transpose()
    }

    pub async fn delete_item(&self, base: &str, key: &str) -> anyhow::Result<()> {
        self.client()
            .await?
            .execute(
                "DELETE FROM base_items WHERE app = $1 AND base = $2 AND key = $3",
                &[&self.app, &base, &key],
            )
            .await
            .db()?;
        Ok(())
    }

    pub async fn insert_item(
        &self,
        base: &str,
        item: StoredItem,
        now: i64,
    ) -> anyhow::Result<bool> {
        let client = self.client().await?;
        if item.expires.is_some_and(|t| t <= now) {
            // Stored already expired: nothing is kept, but a live item still conflicts.
            let deleted = client
                .execute(
                    "DELETE FROM base_items WHERE app = $1 AND base = $2 AND key = $3
                     AND expires IS NOT NULL AND expires <= $4",
                    &[&self.app, &base, &item.key, &now],
                )
                .await
                .db()?;
            let live = self.get_item(base, &item.key, now).await?.is_some();
            return Ok(deleted > 0 || !live);
        }
        // One statement: inserted, or replaced an expired row, or left a live one alone.
        let written = client
            .execute(
                "INSERT INTO base_items (app, base, key, expires, value)
                 VALUES ($1, $2, $3, $4, $5::text::jsonb)
                 ON CONFLICT (app, base, key) DO UPDATE
                 SET expires = excluded.expires, value = excluded.value
                 WHERE base_items.expires IS NOT NULL AND base_items.expires <= $6",
                &[&self.app, &base, &item.key, &item.expires, &item.json, &now],
            )
            .await
            .db()?;
        Ok(written == 1)
    }

    pub async fn update_item(
        &self,
        base: &str,
        key: &str,
        ops: UpdateOps,
        now: i64,
    ) -> anyhow::Result<UpdateOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let row = tx
            .query_opt(
                "SELECT value::text FROM base_items WHERE app = $1 AND base = $2 AND key = $3
                 AND (expires IS NULL OR expires > $4) FOR UPDATE",
                &[&self.app, &base, &key, &now],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(UpdateOutcome::NotFound);
        };
        let (json, expires) = match ops.apply_to_stored(row.get(0), base, key)? {
            Ok(encoded) => encoded,
            Err(msg) => return Ok(UpdateOutcome::Invalid(msg)),
        };
        let key = key.to_owned();
        self.write_item(&tx, base, &StoredItem { key, json, expires }, now)
            .await?;
        tx.commit().await.db()?;
        Ok(UpdateOutcome::Updated)
    }

    pub async fn query_page(&self, base: &str, req: PageRequest, now: i64) -> anyhow::Result<Page> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .db()?;
        let page = self.scan_page(&tx, base, &req, now).await?;
        tx.commit().await.db()?;
        Ok(page)
    }

    pub async fn sweep(&self, now: i64, stale_before: i64) -> anyhow::Result<u64> {
        let stale: Vec<String> = self
            .client()
            .await?
            .query(
                "SELECT id FROM drive_uploads WHERE app = $1 AND created < $2",
                &[&self.app, &stale_before],
            )
            .await
            .db()?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for id in stale {
            self.abort_upload(&id).await?;
        }
        // Deleting what is expired is the same on every node: running it twice is harmless.
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM base_items WHERE app = $1 AND expires IS NOT NULL AND expires <= $2",
                &[&self.app, &now],
            )
            .await
            .db()?;
        Ok(n)
    }

    pub async fn usage(&self, now: i64) -> anyhow::Result<Usage> {
        let client = self.client().await?;
        let bases = client
            .query(
                "SELECT base, COUNT(*) FROM base_items WHERE app = $1
                 AND (expires IS NULL OR expires > $2) GROUP BY base ORDER BY base",
                &[&self.app, &now],
            )
            .await
            .db()?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect();
        let drives = client
            .query(
                "SELECT drive, COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM drive_files
                 WHERE app = $1 GROUP BY drive ORDER BY drive",
                &[&self.app],
            )
            .await
            .db()?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, i64>(2) as u64,
                )
            })
            .collect();
        Ok(Usage { bases, drives })
    }

    /// Stores one item, or deletes the key when the item is already expired.
    async fn write_item(
        &self,
        tx: &Transaction<'_>,
        base: &str,
        item: &StoredItem,
        now: i64,
    ) -> anyhow::Result<()> {
        if item.expires.is_some_and(|t| t <= now) {
            let stmt = tx
                .prepare_cached("DELETE FROM base_items WHERE app = $1 AND base = $2 AND key = $3")
                .await
                .db()?;
            tx.execute(&stmt, &[&self.app, &base, &item.key])
                .await
                .db()?;
        } else {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO base_items (app, base, key, expires, value)
                     VALUES ($1, $2, $3, $4, $5::text::jsonb)
                     ON CONFLICT (app, base, key) DO UPDATE
                     SET expires = excluded.expires, value = excluded.value",
                )
                .await
                .db()?;
            tx.execute(
                &stmt,
                &[&self.app, &base, &item.key, &item.expires, &item.json],
            )
            .await
            .db()?;
        }
        Ok(())
    }

    /// Scans keys in order from the cursor until the page is full, the scan budget is spent or
    /// the range ends; the same loop as the embedded store's, on rows the SQL filter let by.
    async fn scan_page(
        &self,
        tx: &Transaction<'_>,
        base: &str,
        req: &PageRequest,
        now: i64,
    ) -> anyhow::Result<Page> {
        let mut scan = Scan::new(req);
        loop {
            let rows = self
                .fetch_batch(tx, base, req, scan.cursor.as_deref(), now, SCAN_BATCH)
                .await?;
            let exhausted = rows.len() < SCAN_BATCH as usize;
            let mut iter = rows.into_iter();
            if scan.take(&mut iter)? {
                let more = iter.next().is_some()
                    || (!exhausted
                        && !self
                            .fetch_batch(tx, base, req, scan.cursor.as_deref(), now, 1)
                            .await?
                            .is_empty());
                return Ok(scan.finish(more));
            }
            if exhausted {
                return Ok(scan.finish(false));
            }
        }
    }

    async fn fetch_batch(
        &self,
        tx: &Transaction<'_>,
        base: &str,
        req: &PageRequest,
        cursor: Option<&str>,
        now: i64,
        n: i64,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut sql = Sql::new(
            "SELECT key, value::text FROM base_items WHERE app = $1 AND base = $2
             AND (expires IS NULL OR expires > $3)",
            vec![
                Box::new(self.app.clone()),
                Box::new(base.to_owned()),
                Box::new(now),
            ],
        );
        let bound = |sql: &mut Sql, cond: &str, value: &str| {
            let p = sql.bind(value.to_owned());
            sql.push(&format!(" AND key {cond} {p}"));
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
        push_filter(&mut sql, &req.query);
        sql.push(if req.desc {
            " ORDER BY key DESC"
        } else {
            " ORDER BY key ASC"
        });
        let limit = sql.bind(n);
        sql.push(&format!(" LIMIT {limit}"));
        let rows = tx.query(&sql.text, &sql.args()).await.db()?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// jsonb's text as the embedded store writes it (compact, keys in order), so a get answers
/// the same bytes on either store.
fn compact(text: &str) -> anyhow::Result<String> {
    let value: Value = serde_json::from_str(text).context("a stored item is not JSON")?;
    Ok(serde_json::to_string(&value)?)
}
