//! Where one data service test runs: [`Backend`] names the store, [`Place`] holds its data
//! (a temp dir, or an app of its own in the test database) and opens the service on it.

use super::{DataService, KEY, PID, T0};

/// Which store a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where one test's data lives: a temp dir, or an app of its own in the test database.
pub struct Place {
    backend: Backend,
    dir: tempfile::TempDir,
    pg_url: String,
    app: String,
}

impl Place {
    /// A new place on `backend`; None when the PostgreSQL test is skipped.
    pub fn new(backend: Backend) -> Option<Place> {
        let pg_url = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => crate::pg::test_url()?,
        };
        let nonce: String = rand::distr::SampleString::sample_string(
            &rand::distr::Alphanumeric,
            &mut rand::rng(),
            12,
        );
        Some(Place {
            backend,
            dir: tempfile::tempdir().unwrap(),
            pg_url,
            app: format!("test-{}", nonce.to_lowercase()),
        })
    }

    /// Opens the service on this place (again: the same data), its clock at [`T0`].
    pub async fn open(&self, cap: u64) -> DataService {
        let keys = vec!["other_key".into(), KEY.into()];
        let svc = match self.backend {
            Backend::Sqlite => DataService::open_embedded(self.dir.path(), PID, keys, cap).unwrap(),
            Backend::Postgres => {
                let pg = crate::pg::Pg::connect(&self.pg_url).await.unwrap();
                DataService::open_postgres(pg, &self.app, PID, keys, cap)
                    .await
                    .unwrap()
            }
        };
        svc.set_now(T0);
        svc
    }
}
