//! `micro-wasm import [SPACEFILE] [--out APP_TOML] [--force]`: writes an app.toml equivalent
//! to a Deta Space Spacefile (the mapping is `manifest::spacefile`) and prints what needs the
//! author's attention. Never overwrites an existing file without `--force`; a bad Spacefile
//! or an existing output is exit 2.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Failure;
use crate::manifest::{self, spacefile};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Path to the Spacefile
    #[arg(default_value = "Spacefile")]
    spacefile: PathBuf,
    /// Where to write the app.toml (default: app.toml beside the Spacefile)
    #[arg(long, value_name = "APP_TOML")]
    out: Option<PathBuf>,
    /// Overwrite the app.toml if it exists
    #[arg(long)]
    force: bool,
}

pub fn import(args: ImportArgs) -> Result<(), Failure> {
    let dir = parent(&args.spacefile);
    let out = args.out.clone().unwrap_or_else(|| dir.join("app.toml"));
    if !args.force && out.exists() {
        return Err(Failure::Usage(format!(
            "{} exists; pass --force to overwrite it",
            out.display()
        )));
    }
    let text = std::fs::read_to_string(&args.spacefile)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", args.spacefile.display())))?;
    let dir_name = std::path::absolute(&dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let imported = spacefile::import(&args.spacefile, &text, &dir_name).map_err(|diags| {
        let all: Vec<String> = diags.iter().map(ToString::to_string).collect();
        Failure::Usage(all.join("\n"))
    })?;
    // The mapping promises a valid app.toml; a failure here is a bug in it, not the user's.
    let m = manifest::parse(&out, &imported.app_toml).map_err(|e| {
        anyhow::anyhow!(
            "the app.toml made from {} does not validate (a bug in import):\n{e}",
            args.spacefile.display()
        )
    })?;
    write(&out, &imported.app_toml, args.force)?;
    let names: Vec<&str> = m.micros.iter().map(|m| m.name.as_str()).collect();
    println!(
        "wrote {} from {}: app `{}` ({} micros: {})",
        out.display(),
        args.spacefile.display(),
        m.app.name,
        names.len(),
        names.join(", ")
    );
    let mut attention = imported.attention;
    if !same_dir(&dir, &parent(&out)) {
        attention.push(format!(
            "the paths in {} are the Spacefile's, relative to {}; move the file there or fix them",
            out.display(),
            dir.display()
        ));
    }
    if !attention.is_empty() {
        println!("needs your attention ({}):", attention.len());
        for a in &attention {
            println!("  - {a}");
        }
    }
    Ok(())
}

/// The directory holding `file` (`.` for a bare file name).
fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Writes `text` to `out`; without `force` the file must not exist (checked again on create).
fn write(out: &Path, text: &str, force: bool) -> Result<(), Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = match opts.open(out) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::Usage(format!(
                "{} exists; pass --force to overwrite it",
                out.display()
            )));
        }
        r => r.with_context(|| format!("cannot write {}", out.display()))?,
    };
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
