//! `sdk-probe`: a Micro on the Rust SDK (`micro-space`), for what the SDK itself does to a
//! guest's environment and memory.
//!
//! - `GET /cwd` answers `{"cwd": <std::env::current_dir()>, "relative": <the text of the
//!   relative path hello.txt, or the error>}`.
//! - `POST /upload?to=PATH` streams the body into the file PATH (a [`BodyReader`], one piece
//!   at a time); `POST /upload-buffered?to=PATH` does the same from the whole body in
//!   `Request::body`. Both answer `{"size": <bytes>, "sha256": <hex>}` of what they wrote.
//! - `GET /download?from=PATH` streams the file back (`Response::file`); `GET
//!   /download-buffered?from=PATH` reads it whole first.
//! - `GET /generate?bytes=N[&fail_at=K][&length=1]` writes N bytes (byte `i` is `i % 251`)
//!   with `Response::stream_with`, without a length unless `length=1`; with K, the writer
//!   fails after K bytes.
//! - `POST /mirror` sends the body back as it arrives (its `BodyReader` as the source of
//!   `Response::stream`), with the request's `content-length`.
//! - `POST /json` answers `Response::json` of `{"text": <the body as UTF-8, lossily>,
//!   "numbers": [...], "nested": {...}}`: the bytes the SDK's JSON writer makes in wasm.

use std::io::Write;

use micro_space::{BodyReader, IntoResponse, Request, Response, Router, json};
use sha2::{Digest, Sha256};

fn cwd(_: Request) -> Response {
    let cwd = match std::env::current_dir() {
        Ok(dir) => dir.display().to_string(),
        Err(e) => format!("error: {e}"),
    };
    let relative = std::fs::read_to_string("hello.txt").unwrap_or_else(|e| format!("error: {e}"));
    Response::json(200, &json!({ "cwd": cwd, "relative": relative }))
}

/// Writes what it is given to a file and hashes it on the way.
struct HashingFile {
    file: std::fs::File,
    hash: Sha256,
    size: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn target(request: &Request, name: &str) -> Result<String, Response> {
    request
        .query_param(name)
        .ok_or_else(|| Response::error(400, &format!("missing {name}")))
}

/// Writes a body to the file in `?to=`, from `write` given a [`HashingFile`].
fn store(
    request: &Request,
    write: impl FnOnce(&mut HashingFile) -> std::io::Result<()>,
) -> Result<Response, Response> {
    let mut out = HashingFile {
        file: std::fs::File::create(target(request, "to")?).map_err(IntoResponse::into_response)?,
        hash: Sha256::new(),
        size: 0,
    };
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(IntoResponse::into_response)?;
    let sha256: String = out
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Response::json(
        200,
        &json!({ "size": out.size, "sha256": sha256 }),
    ))
}

fn upload(request: Request, mut body: BodyReader) -> Result<Response, Response> {
    store(&request, |out| body.copy_to(out).map(drop))
}

fn upload_buffered(request: Request) -> Result<Response, Response> {
    store(&request, |out| out.write_all(&request.body))
}

fn download(request: Request) -> Result<Response, Response> {
    let from = target(&request, "from")?;
    Response::file(200, "application/octet-stream", from).map_err(IntoResponse::into_response)
}

fn download_buffered(request: Request) -> Result<Response, Response> {
    let bytes = std::fs::read(target(&request, "from")?).map_err(IntoResponse::into_response)?;
    Ok(Response::bytes(200, "application/octet-stream", bytes))
}

/// The request body sent back as it arrives: the `BodyReader` is the response's source.
fn mirror(request: Request, body: BodyReader) -> Response {
    let response = Response::stream(200, "application/octet-stream", body);
    match request.header("content-length") {
        Some(length) => response.with_header("content-length", length),
        None => response,
    }
}

/// `bytes` bytes, byte `i` being `i % 251`, written by `Response::stream_with` in writes of
/// 7919 bytes (a prime, so writes and the SDK's pieces do not line up), with no length;
/// with `fail_at`, the writer fails once it has written that many bytes or more; with
/// `length=1`, the response declares its `content-length`.
fn generate(request: Request) -> Result<Response, Response> {
    let number = |name| -> Result<Option<usize>, Response> {
        request
            .query_param(name)
            .map(|v| v.parse())
            .transpose()
            .map_err(|_| Response::error(400, &format!("{name} must be a number")))
    };
    let total = number("bytes")?.ok_or_else(|| Response::error(400, "missing bytes"))?;
    let fail_at = number("fail_at")?.unwrap_or(usize::MAX);
    let response = Response::stream_with(200, "application/octet-stream", move |out| {
        let mut piece = Vec::with_capacity(7919);
        let mut at = 0;
        while at < total {
            if at >= fail_at {
                return Err(std::io::Error::other(format!("generator stopped at {at}")));
            }
            let n = (total - at).min(7919);
            piece.clear();
            piece.extend((at..at + n).map(|i| (i % 251) as u8));
            out.write_all(&piece)?;
            at += n;
        }
        Ok(())
    });
    Ok(match request.query_param("length").as_deref() {
        Some("1") => response.with_header("content-length", &total.to_string()),
        _ => response,
    })
}

/// JSON with strings, numbers and nesting: `text` is the body, so a client can send every
/// character that needs escaping.
fn json_bytes(request: Request) -> Response {
    let text = String::from_utf8_lossy(&request.body);
    Response::json(
        200,
        &json!({
            "text": text,
            "numbers": [0.1, 1e21, 1e-7, -0.0, 5e-324, f64::MAX, 1.0 / 3.0, i64::MIN, u64::MAX],
            "nested": { "z": [true, false, null], "a": [[], {}], "é": "\u{2028}" },
        }),
    )
}

micro_space::export!(
    Router::new()
        .post("/json", json_bytes)
        .get("/cwd", cwd)
        .post_stream("/upload", upload)
        .post("/upload-buffered", upload_buffered)
        .get("/download", download)
        .get("/download-buffered", download_buffered)
        .get("/generate", generate)
        .post_stream("/mirror", mirror)
);
