//! Routes that grow (and shrink) `/tmp` every way WASI allows, for the quota tests (S7).
//!
//! | route | behaviour |
//! |---|---|
//! | `/pwrite?path=P&bytes=N&offset=O&times=K` | K (default 1) `descriptor.write` calls of N bytes, the first at offset O (default 0), each after the last, to P (created, not truncated) → `ok <written>` |
//! | `/write-stream?path=P&bytes=N&offset=O` | `write-via-stream` at O (default 0) to P (created, not truncated), 4 KiB `blocking-write-and-flush` chunks → `ok <written>` |
//! | `/append-stream?path=P&bytes=N` | `append-via-stream` to P (created), 4 KiB chunks → `ok <written>` |
//! | `/truncate?path=P&len=N` | opens the existing P for writing (no truncation), `set_len(N)` → `ok` |
//! | `/mkdirs?path=P&n=N` | `create_dir_all(P)`, then directories `P/d0`… `P/d<N-1>` → `ok <n>` |
//! | `/many-files?path=P&n=N&bytes=B` | `create_dir_all(P)`, then files `P/f0`… each of B bytes (`fs::write`) → `ok <n>` |
//! | `/rm-tree?path=P` | `remove_dir_all(P)` → `ok` |
//! | `/rename?from=A&to=B` | `fs::rename(A, B)` → `ok` |
//! | `/hold?path=P` | opens P and keeps it open in a global (warm instance) → `ok <held>` |
//! | `/release` | closes every held file → `ok <closed>` |
//!
//! Failures answer 500 with the context, what was done before (`after <bytes|items>`) and
//! the error: std routes as in `files`, WASI routes as `error: <error-code Display>
//! code=<Debug>` (e.g. `error: insufficient-space (error 14) …`).

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io;

use wasi::filesystem::preopens::get_directories;
use wasi::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags, filesystem_error_code,
};
use wasi::io::streams::{OutputStream, StreamError};

use crate::reply::{Outcome, Reply, Req};

const CHUNK: usize = 4096;

thread_local! {
    static HELD: RefCell<Vec<File>> = const { RefCell::new(Vec::new()) };
}

fn std_error(context: &str, e: &io::Error) -> Reply {
    Reply::text(
        500,
        format!(
            "{context}: error: {e} kind={:?} raw_os_error={:?}\n",
            e.kind(),
            e.raw_os_error()
        ),
    )
}

fn wasi_error(context: &str, code: ErrorCode) -> Reply {
    Reply::text(500, format!("{context}: error: {code} code={code:?}\n"))
}

fn size(req: &Req, name: &str, default: Option<u64>) -> Result<usize, Reply> {
    let n = req.number(name, default)?;
    usize::try_from(n).map_err(|_| Reply::text(400, format!("'{name}' is too large for wasm32\n")))
}

/// Opens `path` (absolute, under `/tmp`) through the `/tmp` preopen, creating it.
fn open_tmp(path: &str) -> Result<Descriptor, Reply> {
    let rel = path
        .strip_prefix("/tmp/")
        .ok_or_else(|| Reply::text(400, "path must be under /tmp/\n"))?;
    let tmp = get_directories()
        .into_iter()
        .find(|(_, name)| name == "/tmp")
        .map(|(d, _)| d)
        .ok_or_else(|| Reply::text(500, "no /tmp preopen\n"))?;
    tmp.open_at(
        PathFlags::empty(),
        rel,
        OpenFlags::CREATE,
        DescriptorFlags::READ | DescriptorFlags::WRITE,
    )
    .map_err(|code| wasi_error("open", code))
}

/// `GET /pwrite?path=P&bytes=N&offset=O&times=K`: K positional `descriptor.write` calls.
pub fn pwrite(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let bytes = size(req, "bytes", None)?;
    let offset = req.number("offset", Some(0))?;
    let times = req.number("times", Some(1))?;
    let file = open_tmp(path)?;
    let chunk = vec![b'p'; bytes];
    let mut written = 0u64;
    for i in 0..times {
        match file.write(&chunk, offset + written) {
            Ok(n) => written += n,
            Err(code) => {
                let context = format!("write {} of {times} failed after {written} bytes", i + 1);
                return Err(wasi_error(&context, code));
            }
        }
    }
    Ok(Reply::text(200, format!("ok {written}")))
}

/// Writes `bytes` bytes to `stream` in 4 KiB chunks; a failure reports how much went before.
fn stream_out(stream: OutputStream, bytes: usize) -> Outcome {
    let chunk = [b's'; CHUNK];
    let mut written = 0;
    while written < bytes {
        let n = CHUNK.min(bytes - written);
        match stream.blocking_write_and_flush(&chunk[..n]) {
            Ok(()) => written += n,
            Err(StreamError::LastOperationFailed(e)) => {
                let context = format!("stream write failed after {written} bytes");
                return Err(match filesystem_error_code(&e) {
                    Some(code) => wasi_error(&context, code),
                    None => Reply::text(500, format!("{context}: {}\n", e.to_debug_string())),
                });
            }
            Err(StreamError::Closed) => {
                return Err(Reply::text(
                    500,
                    format!("stream closed after {written} bytes\n"),
                ));
            }
        }
    }
    Ok(Reply::text(200, format!("ok {written}")))
}

/// `GET /write-stream?path=P&bytes=N&offset=O`: `write-via-stream`.
pub fn write_stream(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let bytes = size(req, "bytes", None)?;
    let offset = req.number("offset", Some(0))?;
    let file = open_tmp(path)?;
    let stream = file
        .write_via_stream(offset)
        .map_err(|code| wasi_error("write-via-stream", code))?;
    stream_out(stream, bytes)
}

/// `GET /append-stream?path=P&bytes=N`: `append-via-stream`.
pub fn append_stream(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let bytes = size(req, "bytes", None)?;
    let file = open_tmp(path)?;
    let stream = file
        .append_via_stream()
        .map_err(|code| wasi_error("append-via-stream", code))?;
    stream_out(stream, bytes)
}

/// `GET /truncate?path=P&len=N`: `set_len` on the existing file, without truncating first.
pub fn truncate(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let len = req.number("len", None)?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| std_error("open", &e))?;
    file.set_len(len).map_err(|e| std_error("set_len", &e))?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /mkdirs?path=P&n=N`: N directories under P.
pub fn mkdirs(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let n = req.number("n", None)?;
    fs::create_dir_all(path).map_err(|e| std_error("create_dir_all", &e))?;
    for i in 0..n {
        fs::create_dir(format!("{path}/d{i}"))
            .map_err(|e| std_error(&format!("mkdir {i} of {n} failed after {i}"), &e))?;
    }
    Ok(Reply::text(200, format!("ok {n}")))
}

/// `GET /many-files?path=P&n=N&bytes=B`: N files of B bytes under P.
pub fn many_files(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let n = req.number("n", None)?;
    let bytes = size(req, "bytes", Some(0))?;
    fs::create_dir_all(path).map_err(|e| std_error("create_dir_all", &e))?;
    let contents = vec![b'f'; bytes];
    for i in 0..n {
        fs::write(format!("{path}/f{i}"), &contents)
            .map_err(|e| std_error(&format!("file {i} of {n} failed after {i}"), &e))?;
    }
    Ok(Reply::text(200, format!("ok {n}")))
}

/// `GET /rm-tree?path=P`: removes P and everything under it.
pub fn rm_tree(req: &Req) -> Outcome {
    let path = req.required("path")?;
    fs::remove_dir_all(path).map_err(|e| std_error("remove_dir_all", &e))?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /rename?from=A&to=B`.
pub fn rename(req: &Req) -> Outcome {
    let from = req.required("from")?;
    let to = req.required("to")?;
    fs::rename(from, to).map_err(|e| std_error("rename", &e))?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /hold?path=P`: keeps P open across requests (in this warm instance).
pub fn hold(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let file = File::open(path).map_err(|e| std_error("open", &e))?;
    let held = HELD.with(|h| {
        h.borrow_mut().push(file);
        h.borrow().len()
    });
    Ok(Reply::text(200, format!("ok {held}")))
}

/// `GET /release`: closes every held file.
pub fn release(_req: &Req) -> Outcome {
    let closed = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()).len());
    Ok(Reply::text(200, format!("ok {closed}")))
}
