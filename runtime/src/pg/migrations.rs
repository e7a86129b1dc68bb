//! The PostgreSQL schema as numbered migrations, applied in order on start by whichever node
//! gets there first. One transaction holds a transaction-level advisory lock, reads
//! `schema_migrations`, applies what is missing and records it; a node starting at the same
//! time waits on the lock and then finds nothing left to do. DDL is transactional in
//! PostgreSQL, so a failed migration leaves the schema as it was.
//!
//! A migration, once released, never changes: a change is a new migration. Text that is
//! ordered (Base keys, Drive names) uses the "C" collation so keys sort by their UTF-8 bytes,
//! as in the embedded store. It must not hold queries other than the schema's.

use anyhow::Context;
use tokio_postgres::Client;

/// The advisory lock key taken while migrating ("micro-wa" in ASCII).
const LOCK_KEY: i64 = 0x6d69_6372_6f2d_7761;

/// (version, what it does, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "data keys, Base items, Drive files",
        r#"
CREATE TABLE app_keys (
    app TEXT PRIMARY KEY,
    app_id TEXT NOT NULL UNIQUE
);
CREATE TABLE micro_keys (
    app TEXT NOT NULL REFERENCES app_keys (app),
    micro TEXT NOT NULL,
    secret TEXT NOT NULL,
    PRIMARY KEY (app, micro)
);
CREATE TABLE base_items (
    app TEXT COLLATE "C" NOT NULL,
    base TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    expires BIGINT,
    value JSONB NOT NULL,
    PRIMARY KEY (app, base, key)
);
CREATE INDEX base_items_expires ON base_items (app, expires) WHERE expires IS NOT NULL;
CREATE TABLE drive_usage (
    app TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE drive_files (
    app TEXT COLLATE "C" NOT NULL,
    drive TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT,
    created BIGINT NOT NULL,
    PRIMARY KEY (app, drive, name)
);
CREATE TABLE drive_uploads (
    app TEXT NOT NULL,
    id TEXT NOT NULL,
    drive TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT,
    created BIGINT NOT NULL,
    PRIMARY KEY (app, id)
);
CREATE INDEX drive_uploads_created ON drive_uploads (app, created);
CREATE TABLE drive_parts (
    app TEXT NOT NULL,
    upload TEXT NOT NULL,
    part BIGINT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (app, upload, part)
);
CREATE TABLE drive_chunks (
    app TEXT NOT NULL,
    blob TEXT NOT NULL,
    part BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    len BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (app, blob, part, seq)
);
"#,
    ),
    (
        2,
        "action runs claimed by one node",
        r#"
CREATE TABLE action_runs (
    app TEXT NOT NULL,
    action TEXT NOT NULL,
    scheduled BIGINT NOT NULL,
    claimed TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app, action, scheduled)
);
"#,
    ),
    (
        3,
        "API keys shared by the nodes",
        r#"
CREATE TABLE api_keys (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (app, name)
);
"#,
    ),
    (
        4,
        "the start every node counts action rates from",
        r#"
CREATE TABLE action_anchors (
    app TEXT PRIMARY KEY,
    started BIGINT NOT NULL
);
"#,
    ),
];

/// The newest version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies every migration the database lacks; returns the versions applied.
pub async fn migrate(client: &mut Client) -> anyhow::Result<Vec<i64>> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .context("taking the migration lock")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if current > latest() {
        anyhow::bail!(
            "the database schema is at version {current}, newer than this micro-wasm knows ({}): upgrade micro-wasm",
            latest()
        );
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("migration {version} ({name})"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await.context("committing the migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "PostgreSQL schema migrated");
    }
    Ok(applied)
}

/// The version the database is at (0: never migrated).
pub async fn version(client: &Client) -> anyhow::Result<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0))
}
