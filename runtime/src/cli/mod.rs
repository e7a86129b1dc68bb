//! The command line (SPEC §8): one file per subcommand, each parsing its flags and delegating
//! to the library. Exit codes: 0 ok, 1 runtime failure, 2 bad arguments or bad manifest.

mod data;
mod import;
mod keys;
mod logs;
mod new;
mod run;
mod store;
mod trigger;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::manifest::{self, Manifest};
use crate::sandbox::env::Override;
use crate::telemetry::access_log;

#[derive(Parser, Debug)]
#[command(
    name = "micro-wasm",
    version,
    about = "Runs Space apps: up to five wasi:http Micros under the Deta Space runtime's limits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How the runtime's own log lines are written to stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// `--log-format`: short lines for people, one JSON object per line for machines.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the app described by APP_TOML
    Run(run::RunArgs),
    /// Check APP_TOML and report every error with its line and column
    Validate {
        /// Path to app.toml
        #[arg(default_value = "app.toml")]
        app_toml: PathBuf,
    },
    /// Run each Micro's `build` command in its `src` dir
    Build {
        /// Path to app.toml
        #[arg(default_value = "app.toml")]
        app_toml: PathBuf,
    },
    /// Deliver a scheduled action's event once, in process, and print the response
    Trigger(trigger::TriggerArgs),
    /// Manage the app's API keys (used when `[app] auth = "api-key"`)
    Keys(keys::KeysArgs),
    /// Export or import every Base and Drive of the app
    Data(data::DataArgs),
    /// Migrate or check the PostgreSQL store several nodes share (`run --store`)
    Store(store::StoreArgs),
    /// Print the last lines of each Micro's log file; --follow keeps printing new ones
    Logs(logs::LogsArgs),
    /// Create an app directory NAME/ with app.toml and a Rust guest to start from
    New(new::NewArgs),
    /// Write an app.toml from a Deta Space Spacefile and print what needs your attention
    Import(import::ImportArgs),
}

/// The user variables of `run` and `trigger` (SPEC §5): `--env-file`, then `--env`.
#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    /// NAME=VALUE for every Micro, or MICRO.NAME=VALUE for one (repeatable; wins over --env-file)
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// File of NAME=VALUE lines
    #[arg(long)]
    env_file: Option<PathBuf>,
}

impl EnvArgs {
    /// The overrides in precedence order; a bad value, or a `MICRO.NAME` naming no Micro of
    /// `manifest`, is a usage failure (exit 2).
    pub fn overrides(&self, manifest: &Manifest) -> Result<Vec<Override>, Failure> {
        let mut env = match &self.env_file {
            Some(f) => Override::parse_file(f).map_err(|e| Failure::Usage(format!("{e:#}")))?,
            None => Vec::new(),
        };
        for e in &self.env {
            env.push(Override::parse(e).map_err(|e| Failure::Usage(format!("--env: {e:#}")))?);
        }
        for o in &env {
            if let Some(m) = &o.micro
                && !manifest.micros.iter().any(|x| &x.name == m)
            {
                let known: Vec<&str> = manifest.micros.iter().map(|x| x.name.as_str()).collect();
                return Err(Failure::Usage(format!(
                    "--env {m}.{}: no micro named `{m}` in {} (known: {})",
                    o.name,
                    manifest.path.display(),
                    known.join(", ")
                )));
            }
        }
        Ok(env)
    }
}

/// Why a command failed, deciding its exit code.
pub enum Failure {
    /// Bad arguments or a bad manifest: exit 2.
    Usage(String),
    /// Anything that went wrong while doing the work: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// Parses the command line, runs the command and maps its result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { app_toml } => validate::validate(&app_toml),
        Command::Build { app_toml } => {
            load(&app_toml).and_then(|m| crate::build::build_all(&m).map_err(Failure::Runtime))
        }
        Command::Trigger(args) => trigger::trigger(args),
        Command::Keys(args) => keys::keys(args),
        Command::Data(args) => data::data(args),
        Command::Store(args) => store::store(args),
        Command::Logs(args) => logs::logs(args),
        Command::New(args) => new::new(args),
        Command::Import(args) => import::import(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Loads and validates a manifest; any problem is a usage failure (exit 2).
fn load(path: &Path) -> Result<Manifest, Failure> {
    manifest::load(path).map_err(|e| Failure::Usage(e.to_string()))
}

/// Runtime logs go to stderr, filtered by `MICRO_WASM_LOG` (default: info, and only warnings
/// from Wasmtime and Cranelift). Guest output is not tracing: see `telemetry::guest_logs`.
fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MICRO_WASM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::telemetry::console::Stderr)
        .with_target(false);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    access_log::set_format(match format {
        LogFormat::Text => access_log::Format::Text,
        LogFormat::Json => access_log::Format::Json,
    });
    match format {
        // A person at a terminal gets colours; a pipe or file gets the lean layout.
        LogFormat::Text if terminal => builder.with_ansi(true).compact().init(),
        LogFormat::Text => {
            builder
                .with_ansi(false)
                .event_format(crate::telemetry::console::LeanLayout)
                .init();
        }
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
