//! `micro-wasm build` and `run --build`: each Micro's `build` command, run in its `src` dir,
//! its output streamed with the Micro's name in front; the first failure stops the build.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::manifest::Manifest;

pub fn build_all(manifest: &Manifest) -> Result<()> {
    for m in &manifest.micros {
        let Some(cmd) = &m.build else { continue };
        eprintln!("[{}] $ {cmd}", m.name);
        let mut child = shell(cmd)
            .current_dir(&m.src)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "micro `{}`: cannot start `{cmd}` in {}",
                    m.name,
                    m.src.display()
                )
            })?;
        let out = prefix_lines(m.name.clone(), child.stdout.take().expect("piped"));
        let err = prefix_lines(m.name.clone(), child.stderr.take().expect("piped"));
        let status = child.wait()?;
        let _ = out.join();
        let _ = err.join();
        if !status.success() {
            bail!(
                "micro `{}`: build command `{cmd}` failed ({status})",
                m.name
            );
        }
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
