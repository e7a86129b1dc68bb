//! File-system routes, for the read-only `/app` and the quota'd `/tmp`.
//!
//! Failures answer 500 (404 for `/read` of a missing file) with
//! `error: <Display> kind=<ErrorKind:?> raw_os_error=<Option<i32>>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::Path;

use crate::reply::{Outcome, Reply, Req};

/// The error convention of every file route.
fn io_error(status: u16, context: &str, e: &io::Error) -> Reply {
    let prefix = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    Reply::text(
        status,
        format!(
            "{prefix}error: {e} kind={:?} raw_os_error={:?}\n",
            e.kind(),
            e.raw_os_error()
        ),
    )
}

fn failed(e: io::Error) -> Reply {
    io_error(500, "", &e)
}

/// A byte count the guest can hold in memory.
fn size(req: &Req, name: &str) -> Result<usize, Reply> {
    let n = req.number(name, None)?;
    usize::try_from(n).map_err(|_| Reply::text(400, format!("'{name}' is too large for wasm32\n")))
}

/// `GET /write?path=P&bytes=N`: `fs::write(P, N bytes of 'a')`.
pub fn write(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let bytes = size(req, "bytes")?;
    fs::write(path, vec![b'a'; bytes]).map_err(failed)?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /append?path=P&bytes=N&times=K`: opens P for append (creating it) and writes N
/// bytes K times; a failure reports which write failed and how much was written before.
pub fn append(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let bytes = size(req, "bytes")?;
    let times = req.number("times", Some(1))?;
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(failed)?;
    let chunk = vec![b'a'; bytes];
    let mut written = 0u64;
    for i in 0..times {
        if let Err(e) = write_counting(&mut file, &chunk, &mut written) {
            let context = format!("write {} of {times} failed after {written} bytes", i + 1);
            return Err(io_error(500, &context, &e));
        }
    }
    Ok(Reply::text(200, format!("ok {written}")))
}

/// `write_all` that counts the bytes that did make it to the file.
fn write_counting(file: &mut File, mut buf: &[u8], written: &mut u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                *written += n as u64;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `GET /set-len?path=P&len=N`: creates P and sets its length to N.
pub fn set_len(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let len = req.number("len", None)?;
    let file = File::create(path).map_err(|e| io_error(500, "create", &e))?;
    file.set_len(len)
        .map_err(|e| io_error(500, "set_len", &e))?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /read?path=P`: the file's contents.
pub fn read(req: &Req) -> Outcome {
    let path = req.required("path")?;
    match fs::read(path) {
        Ok(contents) => Ok(Reply::with(200, "application/octet-stream", contents)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(io_error(404, "", &e)),
        Err(e) => Err(failed(e)),
    }
}

/// `GET /ls?path=P`: sorted entry names, one a line.
pub fn ls(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(failed)? {
        names.push(
            entry
                .map_err(failed)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    let mut body = names.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    Ok(Reply::text(200, body))
}

/// `GET /rm?path=P`: removes a file.
pub fn rm(req: &Req) -> Outcome {
    let path = req.required("path")?;
    fs::remove_file(path).map_err(failed)?;
    Ok(Reply::text(200, "ok"))
}

/// `GET /du?path=P`: total bytes of the regular files under P (symlinks not followed).
pub fn du(req: &Req) -> Outcome {
    let path = req.required("path")?;
    let total = disk_usage(Path::new(path)).map_err(failed)?;
    Ok(Reply::text(200, total.to_string()))
}

fn disk_usage(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += disk_usage(&entry?.path())?;
    }
    Ok(total)
}
