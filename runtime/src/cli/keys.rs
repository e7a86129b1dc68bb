//! `micro-wasm keys create NAME | list | revoke NAME [--app APP_TOML]`: the app's API keys
//! (SPEC §4), stored hashed in the state dir; a new key is printed once.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Failure, load};
use crate::app::{Options, state_dir};
use crate::keys::api;

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
