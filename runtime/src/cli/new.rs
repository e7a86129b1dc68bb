//! `micro-wasm new NAME [--lang rust]` (SPEC §8): scaffolds an app directory `NAME/` holding an
//! `app.toml` (SPEC §3) with one primary Micro and one hourly action, a Rust wasi:http guest
//! crate in `NAME/main/`, and a `.gitignore`. The files come from `templates/`, compiled in.
//!
//! It must not overwrite anything: an existing non-empty `NAME/` is refused (exit 2), as is a
//! name breaking the app name rule (1-32 chars of `[a-z0-9-]`). Only Rust is scaffolded for
//! now; `--lang python|js` is refused honestly (exit 2) rather than writing a stub. It does not
//! build the guest: the printed next step, `micro-wasm run --build`, does.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::Failure;

const APP_TOML: &str = include_str!("templates/app.toml.tmpl");
const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("templates/lib.rs.tmpl");
const GITIGNORE: &str = include_str!("templates/gitignore.tmpl");

/// The guest languages `--lang` names (SPEC §8); only Rust is scaffolded so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The app's name and directory: 1-32 chars of [a-z0-9-]
    name: String,
    /// The guest's language
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
}

pub fn new(args: NewArgs) -> Result<(), Failure> {
    if args.lang != Lang::Rust {
        return Err(Failure::Usage(format!(
            "--lang {}: not supported yet: only rust",
            args.lang
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        )));
    }
    if !valid_app_name(&args.name) {
        return Err(Failure::Usage(format!(
            "app name `{}` must be 1-32 characters of lowercase letters, digits and `-`",
            args.name
        )));
    }
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !empty {
            return Err(Failure::Usage(format!(
                "{}: already exists and is not an empty directory",
                dir.display()
            )));
        }
    }
    let files = render(&args.name);
    for (rel, text) in &files {
        write(&dir, rel, text)?;
    }
    println!("created app `{}` in {}/", args.name, args.name);
    for (rel, _) in &files {
        println!("  {}/{rel}", args.name);
    }
    println!("next steps:\n  cd {} && micro-wasm run --build", args.name);
    Ok(())
}

/// The files of a new app called `app`, as (path relative to the app dir, contents).
fn render(app: &str) -> Vec<(&'static str, String)> {
    // A Micro name cannot start with `-`; an app name can.
    let micro = if app.starts_with('-') { "main" } else { app };
    vec![
        (
            "app.toml",
            APP_TOML.replace("{{app}}", app).replace("{{micro}}", micro),
        ),
        (".gitignore", GITIGNORE.to_string()),
        ("main/Cargo.toml", CARGO_TOML.to_string()),
        ("main/src/lib.rs", LIB_RS.to_string()),
    ]
}

fn write(dir: &Path, rel: &str, text: &str) -> Result<(), Failure> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// SPEC §3's app name rule.
fn valid_app_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_micro_is_named_after_the_app_unless_that_is_not_a_micro_name() {
        let files = render("blog");
        assert!(files[0].1.contains("name = \"blog\"\nprimary"));
        let files = render("-x");
        assert!(files[0].1.contains("name = \"-x\""));
        assert!(files[0].1.contains("name = \"main\"\nprimary"));
    }

    #[test]
    fn names_follow_the_app_name_rule() {
        assert!(valid_app_name("a-1"));
        assert!(!valid_app_name(""));
        assert!(!valid_app_name("Blog"));
        assert!(!valid_app_name("a_b"));
        assert!(!valid_app_name(&"a".repeat(33)));
    }
}
