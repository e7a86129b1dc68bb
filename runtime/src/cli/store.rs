//! `micro-wasm store migrate|check`: the PostgreSQL store for operators. `migrate` brings the
//! schema to this build's version (what `run --store` also does on start); `check` connects
//! and reports the version without changing anything, exit 1 when the database cannot be
//! reached or its schema is not this build's.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Failure;
use crate::pg::{Pg, migrations};

#[derive(Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    action: StoreAction,
    /// The PostgreSQL store (postgres://user@host/db); default MICRO_WASM_STORE
    #[arg(long, value_name = "URL", global = true)]
    store: Option<String>,
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Create or migrate the schema to this micro-wasm's version
    Migrate,
    /// Connect and report the schema version; exit 1 unless it is this micro-wasm's
    Check,
}

pub fn store(args: StoreArgs) -> Result<(), Failure> {
    let url = args
        .store
        .or_else(|| {
            std::env::var("MICRO_WASM_STORE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .ok_or_else(|| Failure::Usage("store: give --store URL or MICRO_WASM_STORE".into()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let pg = Pg::pool(&url)?;
        let latest = migrations::latest();
        match args.action {
            StoreAction::Migrate => {
                let applied = pg.migrate().await?;
                println!(
                    "{}: schema at version {latest} (applied now: {applied:?})",
                    pg.shown()
                );
            }
            StoreAction::Check => {
                let version = pg.version().await?;
                if version != latest {
                    anyhow::bail!(
                        "{}: schema at version {version}, this micro-wasm uses {latest} (run `micro-wasm store migrate`, or start a node)",
                        pg.shown()
                    );
                }
                println!("{}: reachable, schema at version {version}", pg.shown());
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}
