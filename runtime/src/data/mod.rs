//! The data service: Deta Base and Deta Drive HTTP APIs served in process for one app, on an
//! embedded store or on PostgreSQL shared by every node serving the app. [`DataService::handle`] takes a request whose path is
//! `/v1/{project_id}/{name}/...`, checks the Data Key, and hands it to `base` or `drive`.
//!
//! This file owns the public surface (the service, [`Api`], [`DataBody`], [`Summary`]), the
//! authentication and the clock. It must not hold HTTP semantics of either API (those are in
//! `base.rs` and `drive.rs`) nor SQL (in `sqlite*.rs` and `postgres*.rs`, behind
//! `store::Store`).

mod base;
mod drive;
mod errors;
mod item;
mod postgres;
mod postgres_drive;
mod postgres_query;
mod query;
mod request;
mod sqlite;
mod sqlite_drive;
mod store;
mod update;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use serde::Serialize;

use errors::{ApiError, respond};
use request::{api_key, same_key, split_path};
use store::Store;

/// The body of every data service response; Drive downloads stream through it.
pub type DataBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Base,
    Drive,
}

/// Pending Drive uploads older than this are dropped by [`DataService::sweep_expired`].
const STALE_UPLOAD_SECS: i64 = 24 * 3600;

/// The database file inside the app's data dir.
const DB_FILE: &str = "data.sqlite3";

/// One app's Bases and Drives.
pub struct DataService {
    project_id: String,
    keys: Vec<String>,
    store: Store,
    drive_cap: u64,
    /// A fixed clock for tests (Unix seconds); 0 means the system clock.
    fixed_now: Arc<AtomicI64>,
}

/// Counts for the dashboard.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub bases: Vec<BaseSummary>,
    pub drives: Vec<DriveSummary>,
    /// Bytes counted against the Drive cap (files and pending uploads).
    pub drive_bytes: u64,
    pub drive_cap: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BaseSummary {
    pub name: String,
    pub items: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DriveSummary {
    pub name: String,
    pub files: u64,
    pub bytes: u64,
}

impl DataService {
    /// Opens (creating if needed) the app's store in `dir`. `keys` are the app's valid Data
    /// Keys (`<project_id>_<secret>`); `drive_cap` bounds the bytes all its Drives may hold.
    pub fn open_embedded(
        dir: &Path,
        project_id: &str,
        keys: Vec<String>,
        drive_cap: u64,
    ) -> anyhow::Result<DataService> {
        std::fs::create_dir_all(dir)?;
        let store = sqlite::SqliteStore::open(&dir.join(DB_FILE))?;
        Ok(DataService {
            project_id: project_id.to_owned(),
            keys,
            store: Store::Sqlite(store),
            drive_cap,
            fixed_now: Arc::new(AtomicI64::new(0)),
        })
    }

    /// Opens the store of app `app` in the PostgreSQL database behind `pg` (migrated already);
    /// otherwise as [`DataService::open_embedded`].
    pub async fn open_postgres(
        pg: crate::pg::Pg,
        app: &str,
        project_id: &str,
        keys: Vec<String>,
        drive_cap: u64,
    ) -> anyhow::Result<DataService> {
        let store = postgres::PgStore::open(pg, app).await?;
        Ok(DataService {
            project_id: project_id.to_owned(),
            keys,
            store: Store::Postgres(store),
            drive_cap,
            fixed_now: Arc::new(AtomicI64::new(0)),
        })
    }

    /// Answers one Base or Drive API request. Never panics; every failure is Deta's JSON.
    pub async fn handle<B>(&self, api: Api, req: Request<B>) -> Response<DataBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let Some(path) = split_path(req.uri().path()) else {
            return ApiError::not_found("Not found").into_response();
        };
        if !self.authorized(req.headers(), &path.project_id) {
            return ApiError::unauthorized().into_response();
        }
        let result = match api {
            Api::Base => base::handle(self, &path, req).await,
            Api::Drive => drive::handle(self, &path, req).await,
        };
        respond(result)
    }

    /// Deletes expired Base items (and Drive uploads left unfinished for a day); returns how
    /// many items were deleted.
    pub async fn sweep_expired(&self) -> anyhow::Result<u64> {
        let now = self.now();
        self.store.sweep(now, now - STALE_UPLOAD_SECS).await
    }

    /// Item counts per Base, file counts and bytes per Drive.
    pub async fn summary(&self) -> anyhow::Result<Summary> {
        let usage = self.store.usage(self.now()).await?;
        let drive_bytes = self.store.drive_bytes().await?;
        Ok(Summary {
            bases: usage
                .bases
                .into_iter()
                .map(|(name, items)| BaseSummary { name, items })
                .collect(),
            drives: usage
                .drives
                .into_iter()
                .map(|(name, files, bytes)| DriveSummary { name, files, bytes })
                .collect(),
            drive_bytes,
            drive_cap: self.drive_cap,
        })
    }

    /// The key must be one of ours, and name the project the path names, which is ours.
    fn authorized(&self, headers: &http::HeaderMap, path_project: &str) -> bool {
        let Some(key) = api_key(headers) else {
            return false;
        };
        let known = self
            .keys
            .iter()
            .fold(false, |hit, k| hit | same_key(k, key));
        let key_project = key.split_once('_').map(|(p, _)| p);
        known && key_project == Some(path_project) && path_project == self.project_id
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn project_id(&self) -> &str {
        &self.project_id
    }

    pub(crate) fn drive_cap(&self) -> u64 {
        self.drive_cap
    }

    /// Unix seconds now.
    pub(crate) fn now(&self) -> i64 {
        match self.fixed_now.load(Ordering::Relaxed) {
            0 => chrono::Utc::now().timestamp(),
            t => t,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_now(&self, t: i64) {
        self.fixed_now.store(t, Ordering::Relaxed);
    }
}
