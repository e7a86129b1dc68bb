//! `micro-wasm new NAME [--lang rust|python|js]` (SPEC §8): scaffolds an app directory `NAME/`
//! holding an `app.toml` (SPEC §3) with one primary Micro and one hourly action, the Micro's
//! wasi:http guest in `NAME/main/` and a `.gitignore`. Each guest answers `GET /` with a
//! greeting and prints the action's events:
//!
//! - rust: a crate built by `cargo build --target wasm32-wasip2`;
//! - python: `app.py` on `space.py` (the Python SDK), built by componentize-py against
//!   `NAME/wit/` (the repo's `wit/`: `micro:space` and WASI);
//! - js: `app.js` on `space.js` (the JS SDK, with `deta.js` beside it), built by its `build.mjs` (componentize-js,
//!   installed outside the code dir on the first build) against `NAME/wit/`.
//!
//! The files are compiled in from `templates/`, inside the crate: `*.tmpl`, and copies of the
//! SDKs' files and of the repo's `wit/`, which a test keeps equal to their originals
//! (`templates.rs`).
//!
//! It must not overwrite anything: an existing non-empty `NAME/` is refused (exit 2), as is a
//! name breaking the app name rule (1-32 chars of `[a-z0-9-]`). It does not build the guest:
//! the printed next step, `micro-wasm run --build`, does.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::Failure;

mod templates;

/// The guest languages `--lang` names (SPEC §8): what `NAME/main/` is written in.
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
    let files = render(&args.name, args.lang);
    for (rel, text) in &files {
        write(&dir, rel, text)?;
    }
    println!("created app `{}` in {}/", args.name, args.name);
    let mut deps = 0;
    for (rel, _) in &files {
        if rel.starts_with("wit/deps/") {
            deps += 1;
        } else {
            println!("  {}/{rel}", args.name);
        }
    }
    if deps > 0 {
        println!("  {}/wit/deps/ ({deps} WASI packages)", args.name);
    }
    println!(
        "next steps:\n  {}\n  cd {} && micro-wasm run --build",
        templates::guest(args.lang).setup,
        args.name
    );
    Ok(())
}

/// The files of a new app called `app` with a guest in `lang`, as (path relative to the app
/// dir, contents).
fn render(app: &str, lang: Lang) -> Vec<(&'static str, String)> {
    // A Micro name cannot start with `-`; an app name can.
    let micro = if app.starts_with('-') { "main" } else { app };
    let guest = templates::guest(lang);
    let fill = |text: &str| text.replace("{{app}}", app).replace("{{micro}}", micro);
    let app_toml = templates::APP_TOML
        .replace("{{component}}", guest.component)
        .replace("{{needs}}", guest.needs)
        .replace("{{build}}", guest.build);
    let mut files = vec![
        ("app.toml", fill(&app_toml)),
        (
            ".gitignore",
            templates::GITIGNORE.replace("{{ignore}}", guest.ignore),
        ),
    ];
    files.extend(guest.files.iter().map(|&(rel, text)| (rel, fill(text))));
    if guest.wit {
        files.extend(
            templates::WIT
                .iter()
                .map(|&(rel, text)| (rel, text.to_string())),
        );
    }
    files
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
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = render("blog", lang);
            assert!(files[0].1.contains("name = \"blog\"\nprimary"));
            let files = render("-x", lang);
            assert!(files[0].1.contains("name = \"-x\""));
            assert!(files[0].1.contains("name = \"main\"\nprimary"));
        }
    }

    #[test]
    fn every_language_gets_a_valid_manifest_and_no_placeholder_is_left() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = render("blog", lang);
            let toml: toml::Table = files[0].1.parse().expect("app.toml parses");
            let micro = &toml["micro"][0];
            assert_eq!(micro["src"].as_str(), Some("main"), "{lang:?}");
            assert!(micro["component"].as_str().unwrap().starts_with("main/"));
            assert_eq!(micro["action"][0]["id"].as_str(), Some("tick"));
            assert!(files[1].1.ends_with(".micro-wasm/\n"), "{lang:?}");
            for (rel, text) in &files {
                assert!(!text.contains("{{"), "{lang:?}: {rel} keeps a placeholder");
            }
            let has_wit = files.iter().any(|(rel, _)| *rel == "wit/space.wit");
            assert_eq!(has_wit, lang != Lang::Rust, "{lang:?}");
        }
    }

    #[test]
    fn the_js_scaffold_builds_with_the_locked_toolchain_from_its_own_wit() {
        let files = render("blog", Lang::Js);
        let text = |name: &str| &files.iter().find(|(rel, _)| *rel == name).unwrap().1;
        let pkg: serde_json::Value = serde_json::from_str(text("main/package.json")).unwrap();
        // npm ci refuses a package.json whose dependencies differ from the lock file's.
        let lock: serde_json::Value = serde_json::from_str(text("main/package-lock.json")).unwrap();
        assert_eq!(pkg["dependencies"], lock["packages"][""]["dependencies"]);
        assert_eq!(pkg["micro-wasm"]["wit"], "../wit");
        assert_eq!(pkg["micro-wasm"]["components"]["app"]["world"], "micro");
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
