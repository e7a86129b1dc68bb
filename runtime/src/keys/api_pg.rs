//! API keys in the PostgreSQL store: the same keys on every node serving the app,
//! as rows of `api_keys` (app name, key name, SHA-256, creation time). `keys create|revoke
//! --store` change the rows; each node's [`ApiKeys`] is refreshed by a task that reads them
//! every [`POLL`], so a key created or revoked on one node counts on every node within a
//! second. While the database cannot be reached a node keeps the keys it last read.
//!
//! Same rules as the file: keys are shown once, stored hashed, never logged.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::api::{ApiKeys, Cache, check_name, digest_of, hash, new_key};
use crate::pg::Pg;

/// How often a node reads the keys again.
pub const POLL: Duration = Duration::from_millis(250);

/// Makes key `name` of app `app` and returns it (shown once).
pub async fn create_pg(pg: &Pg, app: &str, name: &str) -> Result<String> {
    check_name(name)?;
    let (key, created) = new_key();
    let added = pg
        .client()
        .await?
        .execute(
            "INSERT INTO api_keys (app, name, sha256, created) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&app, &name, &hash(&key), &created],
        )
        .await?;
    if added == 0 {
        bail!(
            "a key named `{name}` already exists in {}; revoke it first",
            pg.shown()
        );
    }
    Ok(key)
}

/// Key names and creation times, by name.
pub async fn list_pg(pg: &Pg, app: &str) -> Result<Vec<(String, String)>> {
    Ok(pg
        .client()
        .await?
        .query(
            "SELECT name, created FROM api_keys WHERE app = $1 ORDER BY name",
            &[&app],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

pub async fn revoke_pg(pg: &Pg, app: &str, name: &str) -> Result<()> {
    let gone = pg
        .client()
        .await?
        .execute(
            "DELETE FROM api_keys WHERE app = $1 AND name = $2",
            &[&app, &name],
        )
        .await?;
    if gone == 0 {
        bail!("no key named `{name}` in {}", pg.shown());
    }
    Ok(())
}

async fn hashes(pg: &Pg, app: &str) -> Result<Vec<[u8; 32]>> {
    Ok(pg
        .client()
        .await?
        .query("SELECT sha256 FROM api_keys WHERE app = $1", &[&app])
        .await?
        .iter()
        .filter_map(|r| digest_of(r.get(0)))
        .collect())
}

impl ApiKeys {
    /// App `app`'s keys in the database behind `pg`, kept fresh by a task on the current
    /// runtime until the returned value is dropped.
    pub async fn load_pg(pg: Pg, app: &str) -> Result<ApiKeys> {
        let first = hashes(&pg, app)
            .await
            .with_context(|| format!("reading the API keys of app `{app}`"))?;
        let cache = Arc::new(RwLock::new(Cache::new(first)));
        let weak = Arc::downgrade(&cache);
        let app = app.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let Some(cache) = weak.upgrade() else {
                    return;
                };
                match hashes(&pg, &app).await {
                    Ok(fresh) => cache.write().unwrap().hashes = fresh,
                    Err(e) => tracing::warn!("keeping the previous api keys: {e:#}"),
                }
            }
        });
        Ok(ApiKeys {
            state_dir: PathBuf::new(),
            cache,
            shared: true,
        })
    }
}
