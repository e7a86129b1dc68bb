//! Per-Micro output: each guest's stdout/stderr, line by line, to the console prefixed with a
//! timestamp and the Micro's name, and to `<state>/logs/<micro>.log` (SPEC §8).
//!
//! Guests write through [`GuestOutput`], which never blocks the guest: lines go through a
//! bounded channel to one writer thread, and lines that do not fit are dropped and counted
//! (a guest writing forever cannot stall the runtime or exhaust its memory). This module must
//! not format runtime logs (that is `tracing`'s job) or decide what a Micro may write.

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

/// Lines waiting for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 4096;
/// A line longer than this is cut into several.
const MAX_LINE: usize = 16 * 1024;

/// Which guest stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

struct Line {
    micro: usize,
    stream: Stream,
    text: String,
}

/// The writer shared by all Micros of an app.
pub struct AppLogs {
    tx: SyncSender<Line>,
    names: Arc<Vec<String>>,
    dropped: Arc<AtomicU64>,
}

impl AppLogs {
    /// Opens `<log_dir>/<micro>.log` (append) for each Micro and starts the writer thread.
    pub fn open(log_dir: &Path, micros: &[String]) -> Result<AppLogs> {
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("creating log dir {}", log_dir.display()))?;
        let files = micros
            .iter()
            .map(|m| {
                let path: PathBuf = log_dir.join(format!("{m}.log"));
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("opening log file {}", path.display()))
            })
            .collect::<Result<Vec<File>>>()?;
        let (tx, rx) = sync_channel::<Line>(QUEUE_LINES);
        let names = Arc::new(micros.to_vec());
        let thread_names = names.clone();
        std::thread::Builder::new()
            .name("micro-logs".into())
            .spawn(move || write_lines(rx, thread_names, files))
            .context("spawning the log writer thread")?;
        Ok(AppLogs {
            tx,
            names,
            dropped: Arc::new(AtomicU64::new(0)),
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
}

fn write_lines(rx: std::sync::mpsc::Receiver<Line>, names: Arc<Vec<String>>, mut files: Vec<File>) {
    let stdout = io::stdout();
    for line in rx {
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let tag = match line.stream {
            Stream::Stdout => "",
            Stream::Stderr => " stderr",
        };
        let name = &names[line.micro];
        let _ = writeln!(stdout.lock(), "{ts} [{name}]{tag} {}", line.text);
        let _ = writeln!(files[line.micro], "{ts}{tag} {}", line.text);
    }
}

/// One guest stream: buffers a partial line, ships complete lines to the writer thread.
#[derive(Clone)]
pub struct GuestOutput {
    tx: SyncSender<Line>,
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
        let text = String::from_utf8_lossy(bytes)
            .trim_end_matches('\r')
            .to_string();
        let line = Line {
            micro: self.micro,
            stream: self.stream,
            text,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
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
