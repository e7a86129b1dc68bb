//! `micro-wasm logs [MICRO] [--follow] [--app APP_TOML] [--state-dir DIR] [-n LINES]`
//! (SPEC §8): prints the last lines of the per-Micro log files `<state>/logs/<micro>.log` that
//! [`crate::telemetry::guest_logs`] writes, each line prefixed `[micro] ` when several Micros are shown, and
//! with `--follow` keeps printing lines as they are appended until interrupted.
//!
//! Following polls each file's size every 200 ms and reopens it from the start when it
//! shrank or was replaced (rotation to `<micro>.log.1`, truncation), after draining what the
//! old file still held. It only reads: it must not create, truncate or rotate log files, and
//! needs no running app. An unknown Micro is a usage error (exit 2) listing the known ones.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{Failure, load};
use crate::app::{Options, state_dir};

/// How often `--follow` looks at the files.
const POLL: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Only this Micro's log (default: every Micro's)
    micro: Option<String>,
    /// Keep printing lines as they are appended, until interrupted
    #[arg(long, short = 'f')]
    follow: bool,
    /// Path to app.toml
    #[arg(long = "app", value_name = "APP_TOML", default_value = "app.toml")]
    app_toml: PathBuf,
    /// State dir; default .micro-wasm/ beside app.toml
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// How many of the last lines to print per Micro
    #[arg(
        short = 'n',
        long = "lines",
        value_name = "LINES",
        default_value_t = 50
    )]
    lines: usize,
}

pub fn logs(args: LogsArgs) -> Result<(), Failure> {
    let manifest = load(&args.app_toml)?;
    let names: Vec<String> = manifest.micros.iter().map(|m| m.name.clone()).collect();
    let shown: Vec<String> = match &args.micro {
        Some(m) if names.contains(m) => vec![m.clone()],
        Some(m) => {
            return Err(Failure::Usage(format!(
                "{}: no micro named `{m}`; known micros: {}",
                args.app_toml.display(),
                names.join(", ")
            )));
        }
        None => names,
    };
    let opts = Options {
        state_dir: args.state_dir.clone(),
        ..Options::default()
    };
    let log_dir = state_dir(&manifest, &opts)
        .map_err(|e| Failure::Usage(format!("{e:#}")))?
        .join("logs");
    let several = shown.len() > 1;
    let mut followers = Vec::new();
    let mut out = std::io::stdout().lock();
    for name in &shown {
        let prefix = if several {
            format!("[{name}] ")
        } else {
            String::new()
        };
        let path = log_dir.join(format!("{name}.log"));
        let (text, end) = match File::open(&path) {
            Ok(mut f) => {
                tail(&mut f, args.lines).with_context(|| format!("reading {}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("{}: no log yet", path.display());
                (Vec::new(), 0)
            }
            Err(e) => {
                return Err(Failure::Runtime(
                    anyhow::Error::new(e).context(format!("opening {}", path.display())),
                ));
            }
        };
        print_lines(&mut out, &prefix, &text);
        followers.push(Follower::new(path, prefix, end));
    }
    let _ = out.flush();
    drop(out);
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(POLL);
        let mut out = std::io::stdout().lock();
        for f in &mut followers {
            f.poll(&mut out);
        }
        if out.flush().is_err() {
            // stdout closed (e.g. `| head`): nothing more to do.
            return Ok(());
        }
    }
}

/// The last `n` lines of `f` (complete lines, ending with `\n`) and the offset of its end.
fn tail(f: &mut File, n: usize) -> std::io::Result<(Vec<u8>, u64)> {
    const CHUNK: u64 = 64 * 1024;
    let end = f.seek(SeekFrom::End(0))?;
    // Only complete lines: drop a partial last line, which `--follow` prints once finished.
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = end;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        pos = start;
        let newlines = buf.iter().filter(|&&b| b == b'\n').count();
        if newlines > n || pos == 0 {
            break;
        }
    }
    let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = &buf[..complete];
    let all: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
    let keep = all.len().saturating_sub(n);
    let text = all[keep..].concat();
    Ok((text, end - (buf.len() - complete) as u64))
}

fn print_lines(out: &mut impl Write, prefix: &str, text: &[u8]) {
    for line in text.split_inclusive(|&b| b == b'\n') {
        let _ = out.write_all(prefix.as_bytes());
        let _ = out.write_all(line);
    }
}

/// One followed log file: the open file, where printing got to, and a partial last line.
struct Follower {
    path: PathBuf,
    prefix: String,
    file: Option<File>,
    pos: u64,
    partial: Vec<u8>,
}

impl Follower {
    fn new(path: PathBuf, prefix: String, pos: u64) -> Follower {
        let file = open_at(&path, pos);
        let pos = if file.is_some() { pos } else { 0 };
        Follower {
            path,
            prefix,
            file,
            pos,
            partial: Vec::new(),
        }
    }

    /// Prints what was appended since the last poll; reopens a shrunk or replaced file.
    fn poll(&mut self, out: &mut impl Write) {
        let Some(file) = &mut self.file else {
            self.file = open_at(&self.path, 0);
            self.pos = 0;
            if self.file.is_some() {
                self.poll(out);
            }
            return;
        };
        let on_disk = std::fs::metadata(&self.path).ok();
        let replaced = match (&on_disk, file.metadata().ok()) {
            (Some(a), Some(b)) => !same_file(a, &b),
            (None, _) => true,
            _ => false,
        };
        if replaced {
            // Rotated away: finish the old file first, then start the new one from 0.
            self.read_new(out);
            self.flush_partial(out);
            self.file = open_at(&self.path, 0);
            self.pos = 0;
            if self.file.is_some() {
                self.read_new(out);
            }
            return;
        }
        let len = on_disk.map_or(0, |m| m.len());
        if len < self.pos {
            // Truncated in place.
            self.flush_partial(out);
            self.file = open_at(&self.path, 0);
            self.pos = 0;
        }
        self.read_new(out);
    }

    fn read_new(&mut self, out: &mut impl Write) {
        let Some(file) = &mut self.file else { return };
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(self.pos)).is_err() || file.read_to_end(&mut buf).is_err() {
            return;
        }
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        if let Some(i) = self.partial.iter().rposition(|&b| b == b'\n') {
            let rest = self.partial.split_off(i + 1);
            print_lines(out, &self.prefix, &self.partial);
            self.partial = rest;
        }
    }

    fn flush_partial(&mut self, out: &mut impl Write) {
        if !self.partial.is_empty() {
            self.partial.push(b'\n');
            print_lines(out, &self.prefix, &self.partial);
            self.partial.clear();
        }
    }
}

fn open_at(path: &Path, pos: u64) -> Option<File> {
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(pos)).ok()?;
    Some(f)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    // No cheap identity check: rotation is caught by the size shrinking.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &str, n: usize) -> (String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.log");
        std::fs::write(&path, text).unwrap();
        let (t, end) = tail(&mut File::open(&path).unwrap(), n).unwrap();
        (String::from_utf8(t).unwrap(), end)
    }

    #[test]
    fn tail_keeps_the_last_complete_lines() {
        assert_eq!(tail_of("a\nb\nc\n", 2), ("b\nc\n".into(), 6));
        assert_eq!(tail_of("a\nb\nc\n", 9), ("a\nb\nc\n".into(), 6));
        assert_eq!(tail_of("a\nb\npart", 1), ("b\n".into(), 4));
        assert_eq!(tail_of("", 5), (String::new(), 0));
        assert_eq!(tail_of("a\nb\n", 0), (String::new(), 4));
    }

    #[test]
    fn tail_reads_back_across_chunks() {
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let (t, end) = tail_of(&text, 3);
        assert_eq!(t, "line 19997\nline 19998\nline 19999\n");
        assert_eq!(end, text.len() as u64);
        let (t, _) = tail_of(&text, 20_000);
        assert_eq!(t, text);
    }
}
