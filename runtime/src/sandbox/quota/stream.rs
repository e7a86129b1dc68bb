//! Counted writes to a `/tmp` file: the positional and append output streams handed out by
//! `write-via-stream` / `append-via-stream`, and the write routine that `write` and the
//! streams share.
//!
//! The stream mirrors wasmtime-wasi's (private) `FileOutputStream` — same readiness and
//! error reporting, writes in a background task — except that each write first takes the
//! Micro's operation lock and reserves its growth. A write that does not fit fails like a
//! full disk: the error is reported by the next `check-write`/`flush` (or at once by
//! `blocking-write-and-flush`), the guest maps it to `insufficient-space`, and the stream is
//! closed afterwards as `wasi:io/streams` requires.

use std::io;
use std::mem;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::runtime::{AbortOnDropJoinHandle, spawn, spawn_blocking};

use super::{Op, TmpQuota};

/// Most bytes one `write` may carry (what `check-write` answers). Also the granularity at
/// which a stream can fill the quota, since a write is all-or-nothing.
const CAPACITY: usize = 64 * 1024;

/// Where a write goes.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// At this offset.
    At(u64),
    /// At the end of the file.
    Append,
}

/// Writes `buf` to `file` under the operation `op`: measures the file, reserves the growth
/// (refusing with the quota error when it does not fit), writes, measures again and
/// settles. `all` writes the whole buffer (streams), else one `write_at` (`write`, which may
/// be short). Returns the bytes written.
pub fn write_counted(
    op: Op,
    file: &Arc<std::fs::File>,
    buf: &[u8],
    mode: Mode,
    all: bool,
) -> io::Result<usize> {
    let old = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            op.finish();
            return Err(e);
        }
    };
    let start = match mode {
        Mode::At(p) => p,
        // Appends are serialised by the operation lock, so the end measured now is where the
        // bytes land.
        Mode::Append => old,
    };
    let growth = start.saturating_add(buf.len() as u64).saturating_sub(old);
    if op.charge(growth).is_err() {
        let e = op.quota().exceeded();
        op.finish();
        return Err(e);
    }
    let result = if all {
        write_all_at(file, buf, start)
    } else {
        write_at(file, buf, start)
    };
    match file.metadata() {
        Ok(m) => {
            op.settle(growth, old, m.len());
            op.note_len(file, m.len());
            op.finish();
        }
        // Unknown outcome: the reservation stays and the unfinished `op` makes the next
        // operation recount.
        Err(_) => drop(op),
    }
    result
}

fn write_all_at(file: &std::fs::File, mut buf: &[u8], mut pos: u64) -> io::Result<usize> {
    let mut total = 0;
    while !buf.is_empty() {
        match write_at(file, buf, pos) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                pos += n as u64;
                total += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

#[cfg(unix)]
fn write_at(file: &std::fs::File, buf: &[u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(file, buf, pos)
}

#[cfg(windows)]
fn write_at(file: &std::fs::File, buf: &[u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(file, buf, pos)
}

/// One counted write, run to completion even if the caller goes away (the blocking part
/// owns the [`Op`], so its accounting is never cut short).
async fn counted(
    quota: Arc<TmpQuota>,
    file: Arc<std::fs::File>,
    buf: Bytes,
    mode: Mode,
) -> io::Result<usize> {
    let op = quota.begin().await;
    spawn_blocking(move || write_counted(op, &file, &buf, mode, true)).await
}

/// An output stream on a `/tmp` file whose writes count against the quota.
pub struct QuotaStream {
    file: Arc<std::fs::File>,
    quota: Arc<TmpQuota>,
    mode: Mode,
    state: WriteState,
}

enum WriteState {
    Ready,
    Waiting(AbortOnDropJoinHandle<io::Result<usize>>),
    Error(io::Error),
    Closed,
}

impl QuotaStream {
    pub fn new(file: Arc<std::fs::File>, quota: Arc<TmpQuota>, mode: Mode) -> QuotaStream {
        QuotaStream {
            file,
            quota,
            mode,
            state: WriteState::Ready,
        }
    }

    fn advance(&mut self, n: usize) {
        if let Mode::At(p) = &mut self.mode {
            *p += n as u64;
        }
    }

    /// Reports a pending error once, closing the stream.
    fn take_error(&mut self) -> StreamError {
        match mem::replace(&mut self.state, WriteState::Closed) {
            WriteState::Error(e) => StreamError::LastOperationFailed(e.into()),
            _ => StreamError::Closed,
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, buf: Bytes) -> StreamResult<()> {
        match self.state {
            WriteState::Ready => {}
            WriteState::Closed => return Err(StreamError::Closed),
            WriteState::Waiting(_) | WriteState::Error(_) => {
                return Err(StreamError::trap(
                    "write not permitted: check_write not called first",
                ));
            }
        }
        if buf.is_empty() {
            return Ok(());
        }
        let task = counted(self.quota.clone(), self.file.clone(), buf, self.mode);
        self.state = WriteState::Waiting(spawn(task));
        Ok(())
    }

    async fn blocking_write_and_flush(&mut self, buf: Bytes) -> StreamResult<()> {
        self.ready().await;
        match self.state {
            WriteState::Ready => {}
            WriteState::Closed => return Err(StreamError::Closed),
            WriteState::Error(_) => return Err(self.take_error()),
            WriteState::Waiting(_) => unreachable!("we've just waited for readiness"),
        }
        if buf.is_empty() {
            return Ok(());
        }
        match counted(self.quota.clone(), self.file.clone(), buf, self.mode).await {
            Ok(n) => {
                self.advance(n);
                Ok(())
            }
            Err(e) => {
                self.state = WriteState::Closed;
                Err(StreamError::LastOperationFailed(e.into()))
            }
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        match self.state {
            WriteState::Ready | WriteState::Waiting(_) => Ok(()),
            WriteState::Closed => Err(StreamError::Closed),
            WriteState::Error(_) => Err(self.take_error()),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.state {
            WriteState::Ready => Ok(CAPACITY),
            WriteState::Waiting(_) => Ok(0),
            WriteState::Closed => Err(StreamError::Closed),
            WriteState::Error(_) => Err(self.take_error()),
        }
    }

    async fn cancel(&mut self) {
        if let WriteState::Waiting(task) = mem::replace(&mut self.state, WriteState::Closed) {
            // As in wasmtime-wasi: a blocking write that already started runs to the end
            // (and settles its own accounting).
            task.cancel().await;
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        if let WriteState::Waiting(task) = &mut self.state {
            let result = task.await;
            self.state = match result {
                Ok(n) => {
                    self.advance(n);
                    WriteState::Ready
                }
                Err(e) => WriteState::Error(e),
            };
        }
    }
}
