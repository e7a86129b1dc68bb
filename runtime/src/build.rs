//! `micro-wasm build` and `run --build`: each Micro's `build` command, run in its `src` dir,
//! its output streamed with the Micro's name in front; the first failure stops the build.
//! `run --watch` runs one Micro's command the same way ([`build_one`]).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::manifest::Manifest;

pub fn build_all(manifest: &Manifest) -> Result<()> {
    for m in &manifest.micros {
        if let Some(cmd) = &m.build {
            build_one(&m.name, &m.src, cmd)?;
        }
    }
    Ok(())
}

/// Runs `micro`'s build command `cmd` in `src`, its output prefixed with `[micro]`.
pub fn build_one(micro: &str, src: &Path, cmd: &str) -> Result<()> {
    eprintln!("[{micro}] $ {cmd}");
    let mut child = shell(cmd)
        .current_dir(src)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("micro `{micro}`: cannot start `{cmd}` in {}", src.display()))?;
    let out = prefix_lines(micro.to_string(), child.stdout.take().expect("piped"));
    let err = prefix_lines(micro.to_string(), child.stderr.take().expect("piped"));
    let status = child
        .wait()
        .with_context(|| format!("micro `{micro}`: waiting for `{cmd}`"))?;
    let _ = out.join();
    let _ = err.join();
    if !status.success() {
        bail!("micro `{micro}`: build command `{cmd}` failed ({status})");
    }
    Ok(())
}

fn shell(cmd: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.arg("/C").arg(cmd);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(cmd);
        c
    }
}

fn prefix_lines(name: String, pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            eprintln!("[{name}] {line}");
        }
    })
}
