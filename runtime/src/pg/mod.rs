//! PostgreSQL as the store of an app that runs on several nodes: the URL as given
//! (`--store`, `MICRO_WASM_STORE`, `[app] store`), shown only without its password; a pool of
//! async connections ([`Pg`]); and the versioned schema, migrated on start
//! ([`migrations`]).
//!
//! It owns connecting and the schema of every table kept in PostgreSQL; the queries belong to
//! their owners (`data/postgres*.rs`, `keys/`). It must not know about HTTP, Bases or keys,
//! and never logs or displays a password. Connections are plain TCP or unix sockets, or TLS
//! when the URL says `sslmode=require` ([`tls`]).

pub mod migrations;
pub mod tls;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

/// Connections one node keeps to the database at most.
const POOL_SIZE: usize = 16;
/// How long connecting (and waiting for a free pooled connection) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    shown: String,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pg({})", self.shown)
    }
}

/// A connection taken from the pool (returned to it on drop).
pub type Client = deadpool_postgres::Object;

impl Pg {
    /// Connects to `url`, checks the database answers and migrates the schema to the newest
    /// version. Errors name the URL without its password.
    pub async fn connect(url: &str) -> anyhow::Result<Pg> {
        let pg = Pg::pool(url)?;
        pg.migrate().await?;
        Ok(pg)
    }

    /// Migrates the schema to the newest version; returns the versions applied.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        let mut client = self.client().await?;
        migrations::migrate(&mut client)
            .await
            .with_context(|| format!("migrating the schema of {}", self.shown))
    }

    /// The schema version the database is at (0: never migrated).
    pub async fn version(&self) -> anyhow::Result<i64> {
        let client = self.client().await?;
        migrations::version(&client)
            .await
            .with_context(|| format!("reading the schema version of {}", self.shown))
    }

    /// The pool for `url`, without connecting yet.
    pub fn pool(url: &str) -> anyhow::Result<Pg> {
        let shown = redact(url);
        let (url, root_cert) = tls::take_root_cert(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("store URL {shown} is not a PostgreSQL URL"))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("micro-wasm");
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            let connector = tls::connector(root_cert.as_deref().map(Path::new))
                .with_context(|| format!("TLS for {shown}"))?;
            Manager::from_config(config, connector, manager_config)
        } else {
            Manager::from_config(config, NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(CONNECT_TIMEOUT * 2))
            .build()
            .with_context(|| format!("connection pool for {shown}"))?;
        Ok(Pg { pool, shown })
    }

    /// A connection from the pool (a new one when the database came back after an outage).
    pub async fn client(&self) -> anyhow::Result<Client> {
        self.pool
            .get()
            .await
            .map_err(anyhow::Error::new)
            .with_context(|| format!("cannot reach the PostgreSQL store {}", self.shown))
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `url` with any password replaced by `***` (in the user info and in a `password=` query
/// parameter or key/value pair).
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = rest..rest + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    let mut shown = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("password=") {
        let value = i + "password=".len();
        shown.push_str(&rest[..value]);
        shown.push_str("***");
        let end = rest[value..]
            .find(['&', ' '])
            .map_or(rest.len(), |j| value + j);
        rest = &rest[end..];
    }
    shown.push_str(rest);
    shown
}

/// The test database's URL, from `MICRO_WASM_TEST_PG` (`tests/pg.sh start` prints it).
/// Unset: a failure in CI (`CI` set), else a loud skip (None).
#[cfg(test)]
pub fn test_url() -> Option<String> {
    const VAR: &str = "MICRO_WASM_TEST_PG";
    match std::env::var(VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{VAR} is not set: start a database with `eval \"$(bash tests/pg.sh start)\"`")
        }
        _ => {
            eprintln!(
                "SKIPPED (no PostgreSQL): {VAR} is not set; run `eval \"$(bash tests/pg.sh start)\"` to test the PostgreSQL store"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            redact("postgres://u:s3cr@t@db.example:5432/app"),
            "postgres://u:***@db.example:5432/app"
        );
        assert_eq!(
            redact("postgresql://u@h/db?sslmode=disable&password=x&a=b"),
            "postgresql://u@h/db?sslmode=disable&password=***&a=b"
        );
        assert_eq!(
            redact("host=h user=u password=p dbname=d"),
            "host=h user=u password=*** dbname=d"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
