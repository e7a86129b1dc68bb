//! S15: the `micro:space/sqlite` host (`wit/space.wit`), read-only SQLite databases deployed
//! with a Micro's code.
//!
//! Owns the path rules (a database is a regular file inside the Micro's code dir, named
//! relative to `/app` or absolutely under it; `..`, other absolute paths and symlinks out are
//! refused), the per-instance connection cap (each connection also counts as an open file,
//! `super::fds`), and running SQLite off the executor with the
//! invocation's deadline and the Micro's memory limit as bounds (see `db`). A query is
//! interrupted a little before the deadline ([`reserve`]) so the guest gets `timeout` and can
//! still answer; a guest that keeps going is stopped at the deadline as ever (S5).
//!
//! It must not open anything outside the code dir, write any file, or let a statement attach
//! another database or load an extension.

mod db;

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::runtime::spawn_blocking;

use super::bindings::micro::space::sqlite::{self as wit, Error, Rows, Value};
use super::fds::{FdAccount, FdGuard};

/// Open connections one instance may hold at once; each holds a page cache on the host.
pub const MAX_CONNECTIONS: usize = 16;

/// An open database: the guest's `connection` resource, counted as one open file.
pub struct Connection {
    db: Arc<Mutex<rusqlite::Connection>>,
    _fd: FdGuard,
}

/// What one instance's SQLite calls need from its Micro.
pub struct SqliteCtx {
    /// The Micro's code dir (mounted at `/app`).
    pub code_dir: Arc<Path>,
    /// The Micro's memory limit: no result may be larger.
    pub max_result_bytes: u64,
    /// How long before the invocation's deadline a query is interrupted.
    pub reserve: Duration,
    /// Connections this instance holds now.
    pub open: usize,
}

impl SqliteCtx {
    pub fn new(code_dir: Arc<Path>, max_result_bytes: u64, timeout: Duration) -> Self {
        SqliteCtx {
            code_dir,
            max_result_bytes,
            reserve: reserve(timeout),
            open: 0,
        }
    }
}

/// The time left to a guest whose query was interrupted: a tenth of its timeout, at most a
/// second (2 s of the seed's 20 s would be a lot to take from a query).
pub fn reserve(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_secs(1))
}

/// What the SQLite host borrows from an instance's store for one call: its [`SqliteCtx`],
/// the resource table its connections live in, and the invocation's deadline.
pub struct SqliteView<'a> {
    pub ctx: &'a mut SqliteCtx,
    pub table: &'a mut ResourceTable,
    pub deadline: Instant,
    /// The instance's open-file count (each connection holds the database file open).
    pub fds: &'a FdAccount,
}

/// The [`HasData`] marker of the SQLite host.
struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

/// Adds `micro:space/sqlite` to `linker`, reaching each store through `view`. Components
/// that do not import it are unaffected.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SqliteView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Sqlite>(linker, view)
}

/// The host file a guest's database path names, if it is a regular file inside `code_dir`.
pub fn resolve(code_dir: &Path, path: &str) -> Result<PathBuf, Error> {
    let denied = |why: &str| Error::AccessDenied(format!("database path `{path}` {why}"));
    let rel = match path.strip_prefix("/app") {
        Some("") => return Err(Error::NotFound(format!("`{path}` is a directory"))),
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        _ if path.starts_with('/') || path.starts_with('\\') => {
            return Err(denied("is outside /app"));
        }
        _ => path,
    };
    let rel = Path::new(rel);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(denied("may not contain `..` or a drive"));
    }
    let root = code_dir
        .canonicalize()
        .map_err(|e| Error::NotFound(format!("code dir {}: {e}", code_dir.display())))?;
    let file = root
        .join(rel)
        .canonicalize()
        .map_err(|_| Error::NotFound(format!("no database file `{path}` in /app")))?;
    if !file.starts_with(&root) {
        return Err(denied("leads outside /app through a symlink"));
    }
    if !file.is_file() {
        return Err(Error::NotFound(format!("`{path}` is not a file")));
    }
    Ok(file)
}

impl wit::Host for SqliteView<'_> {}

impl wit::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        path: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if self.ctx.open >= MAX_CONNECTIONS {
            return Ok(Err(Error::TooLarge(format!(
                "an instance may hold at most {MAX_CONNECTIONS} open databases"
            ))));
        }
        let fd = match self.fds.take() {
            Ok(fd) => fd,
            Err(limit) => return Ok(Err(Error::TooLarge(limit.to_string()))),
        };
        let file = match resolve(&self.ctx.code_dir, &path) {
            Ok(file) => file,
            Err(e) => return Ok(Err(e)),
        };
        let max = self.ctx.max_result_bytes;
        let opened = spawn_blocking(move || db::open(&file, &path, max)).await;
        let db = match opened {
            Ok(db) => db,
            Err(e) => return Ok(Err(e)),
        };
        let conn = Connection {
            db: Arc::new(Mutex::new(db)),
            _fd: fd,
        };
        let handle = self.table.push(conn)?;
        self.ctx.open += 1;
        Ok(Ok(handle))
    }

    async fn query(
        &mut self,
        conn: Resource<Connection>,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Rows, Error>> {
        let db = self.table.get(&conn)?.db.clone();
        let deadline = self.deadline - self.ctx.reserve;
        let max = self.ctx.max_result_bytes;
        Ok(spawn_blocking(move || {
            let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            db::query(&mut db, &sql, params, deadline, max)
        })
        .await)
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.ctx.open = self.ctx.open.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
