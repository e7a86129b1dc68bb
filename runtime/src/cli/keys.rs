//! `micro-wasm keys create NAME | list | revoke NAME [--app APP_TOML]`: the app's API keys
//! (SPEC §4), stored hashed in the state dir, or with `--store` in the PostgreSQL store every
//! node reads; a new key is printed once.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Failure, load};
use crate::app::{Options, state_dir};
use crate::keys::{api, api_pg};
use crate::pg::Pg;

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    /// Path to app.toml
    #[arg(long = "app", default_value = "app.toml", global = true)]
    app_toml: PathBuf,
    /// State dir; default .micro-wasm/ beside app.toml
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// The app's PostgreSQL store, as for `run --store` (keys shared by every node)
    #[arg(long, value_name = "URL", global = true)]
    store: Option<String>,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Make a key and print it (it is not shown again)
    Create { name: String },
    /// List key names and creation times
    List,
    /// Delete a key; a running app stops accepting it within a second
    Revoke { name: String },
}

pub fn keys(args: KeysArgs) -> Result<(), Failure> {
    let manifest = load(&args.app_toml)?;
    if let Some(url) = crate::app::store_url(&manifest, args.store.clone()) {
        return shared(&url, &manifest.app.name, args.action);
    }
    let dir = state_dir(
        &manifest,
        &Options {
            state_dir: args.state_dir,
            ..Options::default()
        },
    )
    .map_err(|e| Failure::Usage(format!("{e:#}")))?;
    match args.action {
        KeysAction::Create { name } => {
            let key = api::create(&dir, &name).map_err(|e| Failure::Usage(format!("{e:#}")))?;
            println!("{key}");
            eprintln!("key `{name}` created; send it as `X-Space-App-Key`. It is not shown again.");
        }
        KeysAction::List => {
            for (name, created) in api::list(&dir)? {
                println!("{name}\t{created}");
            }
        }
        KeysAction::Revoke { name } => {
            api::revoke(&dir, &name).map_err(|e| Failure::Usage(format!("{e:#}")))?;
            eprintln!("key `{name}` revoked");
        }
    }
    Ok(())
}

/// The same actions on the keys in the PostgreSQL store at `url`.
fn shared(url: &str, app: &str, action: KeysAction) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    runtime.block_on(async {
        let pg = Pg::connect(url).await?;
        match action {
            KeysAction::Create { name } => {
                let key = api_pg::create_pg(&pg, app, &name)
                    .await
                    .map_err(|e| Failure::Usage(format!("{e:#}")))?;
                println!("{key}");
                eprintln!(
                    "key `{name}` created for every node; send it as `X-Space-App-Key`. It is not shown again."
                );
            }
            KeysAction::List => {
                for (name, created) in api_pg::list_pg(&pg, app).await? {
                    println!("{name}\t{created}");
                }
            }
            KeysAction::Revoke { name } => {
                api_pg::revoke_pg(&pg, app, &name)
                    .await
                    .map_err(|e| Failure::Usage(format!("{e:#}")))?;
                eprintln!("key `{name}` revoked on every node");
            }
        }
        Ok::<_, Failure>(())
    })
}
