//! Each scheduled run once across the cluster: before a node delivers a run it
//! claims it with an insert of (app, action id, scheduled time) into `action_runs`; the
//! primary key lets exactly one insert win, so N nodes on one database deliver each run once.
//! A node that dies mid-run holds nothing: the next scheduled time is a new row.
//!
//! Every node must compute the same scheduled times: cron times do, and rates count from one
//! anchor, the first start of the app recorded in `action_anchors` (a rate's runs are that
//! start rounded up to its unit, then every N units). It owns the SQL of claims and anchors
//! and must not deliver anything itself.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::Actions;
use crate::pg::Pg;

/// Claims run `scheduled` of action number `n`: true when this node won and must deliver it.
pub type Claim =
    Arc<dyn Fn(usize, DateTime<Utc>) -> BoxFuture<'static, anyhow::Result<bool>> + Send + Sync>;

/// A schedule shared by several nodes: the claim, and the one start every node counts rates
/// from (the first node's), so all compute the same scheduled times.
#[derive(Clone)]
pub struct Shared {
    pub claim: Claim,
    pub anchor: DateTime<Utc>,
}

/// The schedule of app `app` shared through the database behind `pg`: the anchor is the
/// first start recorded for the app (`now` if this node is the first).
pub async fn shared(
    pg: Pg,
    app: String,
    actions: Arc<Actions>,
    now: DateTime<Utc>,
) -> anyhow::Result<Shared> {
    let client = pg.client().await?;
    client
        .execute(
            "INSERT INTO action_anchors (app, started) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&app, &now.timestamp()],
        )
        .await?;
    let started: i64 = client
        .query_one("SELECT started FROM action_anchors WHERE app = $1", &[&app])
        .await?
        .get(0);
    drop(client);
    Ok(Shared {
        claim: postgres(pg, app, actions),
        anchor: DateTime::from_timestamp(started, 0).unwrap_or(now),
    })
}

/// Claimed runs older than this are deleted by the winner of a newer one.
const KEEP_SECS: i64 = 7 * 24 * 3600;

/// The claim of app `app`'s runs in the database behind `pg`.
pub fn postgres(pg: Pg, app: String, actions: Arc<Actions>) -> Claim {
    Arc::new(move |action, scheduled| {
        let (pg, app) = (pg.clone(), app.clone());
        let id = actions.specs[action].id.clone();
        async move {
            let client = pg.client().await?;
            let at = scheduled.timestamp();
            let won = client
                .execute(
                    "INSERT INTO action_runs (app, action, scheduled) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&app, &id, &at],
                )
                .await?
                == 1;
            if won {
                client
                    .execute(
                        "DELETE FROM action_runs WHERE app = $1 AND action = $2 AND scheduled < $3",
                        &[&app, &id, &(at - KEEP_SECS)],
                    )
                    .await?;
            }
            Ok(won)
        }
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionSpec;
    use crate::manifest::interval::Interval;

    /// Two nodes (two pools) claim the same 20 runs at once: each run has exactly one
    /// winner; a win prunes rows older than a week.
    #[tokio::test(flavor = "multi_thread")]
    async fn each_run_is_won_by_exactly_one_node() {
        let Some(url) = crate::pg::test_url() else {
            return;
        };
        let actions = Arc::new(Actions::new(vec![ActionSpec {
            id: "tick".into(),
            name: "tick".into(),
            micro: 0,
            micro_name: "m".into(),
            interval: Interval::parse("1 minute").unwrap(),
            interval_text: "1 minute".into(),
        }]));
        let nonce = rand::distr::SampleString::sample_string(
            &rand::distr::Alphanumeric,
            &mut rand::rng(),
            12,
        );
        let app = format!("lease-test-{nonce}");
        let nodes: Vec<Claim> = [
            Pg::connect(&url).await.unwrap(),
            Pg::connect(&url).await.unwrap(),
        ]
        .into_iter()
        .map(|pg| postgres(pg, app.clone(), actions.clone()))
        .collect();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let old = nodes[0](0, t0 - chrono::TimeDelta::days(8)).await.unwrap();
        assert!(old, "a fresh run is won");
        for minute in 0..20 {
            let at = t0 + chrono::TimeDelta::minutes(minute);
            let (a, b) = tokio::join!(nodes[0](0, at), nodes[1](0, at));
            let wins = [a.unwrap(), b.unwrap()];
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{at}: {wins:?}");
        }
        let pg = Pg::connect(&url).await.unwrap();
        let left: i64 = pg
            .client()
            .await
            .unwrap()
            .query_one("SELECT COUNT(*) FROM action_runs WHERE app = $1", &[&app])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 20, "the run from 8 days before was pruned");
        // The anchor is the first node's start, whenever the others start.
        let later = t0 + chrono::TimeDelta::minutes(7);
        let one = shared(pg.clone(), app.clone(), actions.clone(), t0)
            .await
            .unwrap();
        let two = shared(pg, app, actions, later).await.unwrap();
        assert_eq!((one.anchor, two.anchor), (t0, t0));
    }
}
