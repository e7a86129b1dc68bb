//! Data keys in the PostgreSQL store: the same app id and per-Micro secrets for
//! every node serving the app, so a Micro gets the same `DETA_PROJECT_KEY` wherever it runs.
//! Rows of `app_keys` (the app, by its name in app.toml) and `micro_keys`; the first node to
//! start makes them, inserting with `ON CONFLICT DO NOTHING`, and every node then reads what
//! won, so nodes starting together agree.
//!
//! Existing keys are never changed. It must not log or display a secret.

use std::collections::BTreeMap;

use anyhow::Context;

use super::data::{DataKeys, new_app_id, new_secret};
use crate::pg::Pg;

impl DataKeys {
    /// The keys of app `app` in the database behind `pg`, adding a secret for each of
    /// `micros` that has none yet.
    pub async fn load_or_create_pg(
        pg: &Pg,
        app: &str,
        micros: &[&str],
    ) -> anyhow::Result<DataKeys> {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO app_keys (app, app_id) VALUES ($1, $2) ON CONFLICT (app) DO NOTHING",
            &[&app, &new_app_id()],
        )
        .await
        .with_context(|| format!("creating the data keys of app `{app}` in {}", pg.shown()))?;
        for micro in micros {
            tx.execute(
                "INSERT INTO micro_keys (app, micro, secret) VALUES ($1, $2, $3)
                 ON CONFLICT (app, micro) DO NOTHING",
                &[&app, micro, &new_secret()],
            )
            .await?;
        }
        tx.commit().await?;
        let app_id: String = client
            .query_one("SELECT app_id FROM app_keys WHERE app = $1", &[&app])
            .await?
            .get(0);
        let secrets: BTreeMap<String, String> = client
            .query(
                "SELECT micro, secret FROM micro_keys WHERE app = $1",
                &[&app],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        DataKeys::from_parts(
            app_id,
            secrets,
            &format!("data keys of app `{app}` in {}", pg.shown()),
        )
    }
}
