//! Per-Micro output: each guest's stdout/stderr, line by line, to the console prefixed with a
//! timestamp and the Micro's name, and to `<state>/logs/<micro>.log` (SPEC §8).
//!
//! Guests write through [`GuestOutput`], which never blocks the guest: lines go through a
//! bounded channel to one writer thread, and lines that do not fit are dropped and counted
//! (a guest writing forever cannot stall the runtime or exhaust its memory). A log file that
//! grows past [`ROTATE_BYTES`] is renamed to `<micro>.log.1` (replacing an older one) and a new
//! file is started, by the writer thread, so disk use stays bounded at about twice that per
//! Micro. Control characters (terminal escape sequences, bidi overrides) are shown escaped
//! (`\x1b`, `\u{202e}`), so a guest cannot drive the operator's terminal or disguise its
//! lines. The writer thread also keeps each Micro's last lines in a small ring for the
//! dashboard ([`AppLogs::recent`]). This module must not format runtime logs (that is
//! `tracing`'s job) or decide what a Micro may write; `micro-wasm logs` (cli/logs.rs) reads
//! these files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::task::{Context, Poll};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::telemetry::activity::{LogRecord, Ring};

/// Lines waiting for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 4096;
/// A line longer than this is cut into several.
const MAX_LINE: usize = 16 * 1024;
/// A Micro's log file is rotated to `<micro>.log.1` once it grows past this.
pub const ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// Which guest stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

struct GuestLine {
    micro: usize,
    stream: Stream,
    text: String,
}

/// The writer shared by all Micros of an app.
pub struct AppLogs {
    tx: SyncSender<GuestLine>,
    names: Arc<Vec<String>>,
    dropped: Arc<AtomicU64>,
    /// Each Micro's last lines, by Micro index, filled by the writer thread.
    recent: Arc<Vec<Ring<LogRecord>>>,
}

impl AppLogs {
    /// Opens `<log_dir>/<micro>.log` (append) for each Micro and starts the writer thread.
    pub fn open(log_dir: &Path, micros: &[String]) -> Result<AppLogs> {
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("creating log dir {}", log_dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(log_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making log dir {} owner-only", log_dir.display()))?;
        }
        let files = micros
            .iter()
            .map(|m| LogFile::open(log_dir.join(format!("{m}.log"))))
            .collect::<Result<Vec<LogFile>>>()?;
        let (tx, rx) = sync_channel::<GuestLine>(QUEUE_LINES);
        let names = Arc::new(micros.to_vec());
        let recent: Arc<Vec<Ring<LogRecord>>> =
            Arc::new(micros.iter().map(|_| Ring::new()).collect());
        let sink = Outputs {
            names: names.clone(),
            files,
            recent: recent.clone(),
        };
        std::thread::Builder::new()
            .name("micro-logs".into())
            .spawn(move || write_lines(rx, sink, ROTATE_BYTES))
            .context("spawning the log writer thread")?;
        Ok(AppLogs {
            tx,
            names,
            dropped: Arc::new(AtomicU64::new(0)),
            recent,
        })
    }

    /// The stdout or stderr of Micro number `micro`, for its `WasiCtx`.
    pub fn output(&self, micro: usize, stream: Stream) -> GuestOutput {
        GuestOutput {
            tx: self.tx.clone(),
            micro,
            stream,
            dropped: self.dropped.clone(),
        }
    }

    /// Lines dropped so far because a guest wrote faster than the writer could keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The Micro names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Micro number `micro`'s last lines (at most [`crate::telemetry::activity::RECENT`]), newest first.
    pub fn recent(&self, micro: usize) -> Vec<LogRecord> {
        self.recent
            .get(micro)
            .map(Ring::newest_first)
            .unwrap_or_default()
    }
}

/// Where the writer thread puts each line: the console, the Micro's file, its recent ring.
struct Outputs {
    names: Arc<Vec<String>>,
    files: Vec<LogFile>,
    recent: Arc<Vec<Ring<LogRecord>>>,
}

fn write_lines(rx: std::sync::mpsc::Receiver<GuestLine>, mut sink: Outputs, rotate_bytes: u64) {
    let stdout = io::stdout();
    for line in rx {
        let now = chrono::Utc::now();
        let ts = now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let (tag, stream) = match line.stream {
            Stream::Stdout => ("", "stdout"),
            Stream::Stderr => (" stderr", "stderr"),
        };
        let name = &sink.names[line.micro];
        let _ = writeln!(stdout.lock(), "{ts} [{name}]{tag} {}", line.text);
        sink.files[line.micro].write_line(&format!("{ts}{tag} {}\n", line.text), rotate_bytes);
        sink.recent[line.micro].push(LogRecord::new(now, stream, &line.text));
    }
}

/// One Micro's log file, appended to by the writer thread and rotated by size.
struct LogFile {
    path: PathBuf,
    /// `None` after a failed reopen; the next line tries again.
    file: Option<File>,
    len: u64,
}

impl LogFile {
    /// Opens `path` for appending (creating it).
    fn open(path: PathBuf) -> Result<LogFile> {
        let file =
            open_append(&path).with_context(|| format!("opening log file {}", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path,
            file: Some(file),
            len,
        })
    }

    /// Appends `text`; then, past `rotate_bytes`, renames the file to `<path>.1` and starts
    /// a new one. Errors are ignored: a full disk must not stop the guests.
    fn write_line(&mut self, text: &str, rotate_bytes: u64) {
        if self.file.is_none() {
            self.file = open_append(&self.path).ok();
            self.len = 0;
        }
        let Some(file) = &mut self.file else { return };
        if file.write_all(text.as_bytes()).is_ok() {
            self.len += text.len() as u64;
        }
        if self.len > rotate_bytes {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            self.file = None;
            let _ = std::fs::rename(&self.path, &rotated);
            self.file = open_append(&self.path).ok();
            self.len = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(0, |m| m.len());
        }
    }
}

/// Opens `path` for appending, creating it owner-only (0600 on unix): guest output may hold
/// anything a Micro printed.
fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// One guest stream: buffers a partial line, ships complete lines to the writer thread.
#[derive(Clone)]
pub struct GuestOutput {
    tx: SyncSender<GuestLine>,
    micro: usize,
    stream: Stream,
    dropped: Arc<AtomicU64>,
}

impl GuestOutput {
    fn pipe(&self) -> OutputPipe {
        OutputPipe {
            out: self.clone(),
            partial: Vec::new(),
        }
    }

    fn send(&self, bytes: &[u8]) {
        let text = escape_controls(String::from_utf8_lossy(bytes).trim_end_matches('\r'));
        let line = GuestLine {
            micro: self.micro,
            stream: self.stream,
            text,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `text` with control characters other than tab written as `\xNN` (C0, DEL) or `\u{NNNN}`
/// (C1, and the bidi marks, embeddings, overrides and isolates that reorder what a reader
/// sees). Everything else, backslashes included, is kept as written.
pub fn escape_controls(text: &str) -> String {
    use std::fmt::Write as _;
    let risky = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(risky) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if risky(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if risky(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.pipe())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.pipe())
    }
}

/// The stream handed to the guest; a partial line is flushed when the stream is dropped.
struct OutputPipe {
    out: GuestOutput,
    partial: Vec<u8>,
}

impl OutputPipe {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&bytes[..nl]);
            self.out.send(&self.partial);
            self.partial.clear();
            bytes = &bytes[nl + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            self.out.send(&self.partial);
            self.partial = rest;
        }
    }
}

impl Drop for OutputPipe {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            self.out.send(&self.partial);
        }
    }
}

impl OutputStream for OutputPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for OutputPipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(escape_controls("plain\ttext ü"), "plain\ttext ü");
        assert_eq!(
            escape_controls("\x1b[2J\x1b]0;owned\x07red"),
            "\\x1b[2J\\x1b]0;owned\\x07red"
        );
        assert_eq!(
            escape_controls("a\u{9b}b\u{202e}c\rd"),
            "a\\u{9b}b\\u{202e}c\\x0dd"
        );
        assert_eq!(escape_controls("\x7f\0"), "\\x7f\\x00");
    }

    #[test]
    fn a_log_file_past_the_threshold_is_rotated_to_dot_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log");
        let rotated = dir.path().join("api.log.1");
        std::fs::write(&rotated, "older\n").unwrap();
        let mut log = LogFile::open(path.clone()).unwrap();
        log.write_line("0123456789\n", 25);
        log.write_line("abcdefghij\n", 25);
        assert!(path.exists());
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "older\n");
        // 33 bytes > 25: this line goes to the old file, which is then rotated.
        log.write_line("KLMNOPQRST\n", 25);
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap(),
            "0123456789\nabcdefghij\nKLMNOPQRST\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        log.write_line("new\n", 25);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }

    #[test]
    fn the_writer_thread_rotates_with_its_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = sync_channel::<GuestLine>(16);
        let recent = Arc::new(vec![Ring::new()]);
        let sink = Outputs {
            names: Arc::new(vec!["m".to_string()]),
            files: vec![LogFile::open(dir.path().join("m.log")).unwrap()],
            recent: recent.clone(),
        };
        let writer = std::thread::spawn(move || write_lines(rx, sink, 100));
        for i in 0..10 {
            tx.send(GuestLine {
                micro: 0,
                stream: Stream::Stdout,
                text: format!("line {i}"),
            })
            .unwrap();
        }
        drop(tx);
        writer.join().unwrap();
        let old = std::fs::read_to_string(dir.path().join("m.log.1")).unwrap();
        let new = std::fs::read_to_string(dir.path().join("m.log")).unwrap();
        assert!(old.len() > 100, "{old}");
        assert!(new.len() <= 100 + 40, "{new}");
        assert!(new.trim_end().ends_with("line 9"), "{new}");
        let kept: Vec<_> = recent[0]
            .newest_first()
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(kept[0], "line 9");
        assert_eq!(kept.len(), 10);
    }

    #[test]
    fn an_existing_file_counts_toward_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.log");
        std::fs::write(&path, "x".repeat(30)).unwrap();
        let mut log = LogFile::open(path.clone()).unwrap();
        log.write_line("y\n", 25);
        assert!(dir.path().join("m.log.1").exists());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
