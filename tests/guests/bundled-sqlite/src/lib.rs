//! `bundled-sqlite`: a test guest that carries its own SQLite (rusqlite's `bundled` C
//! amalgamation compiled to wasm32-wasip2), so S15's promise about guests that bring their
//! own database engine is tested with a real one.
//!
//! `wasi:http/proxy` plumbing only: read the request, hand it to [`db`], write the JSON
//! answer. Routes are in tests/guests/README.md.

mod db;

use serde_json::Value as Json;
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

/// The request body (SQL) is kept up to this many bytes.
const BODY_KEEP: usize = 64 * 1024;

struct BundledSqlite;

impl Guest for BundledSqlite {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let (status, body) = match path {
            "/version" => db::version(),
            "/query" => match (param("db"), read_body(&request)) {
                (Some(file), Ok(sql)) => {
                    let open = param("open").unwrap_or_else(|| "ro".into());
                    db::query(&file, &open, param("vfs").as_deref(), &sql)
                }
                (None, _) => (
                    400,
                    serde_json::json!({"error": "missing query parameter 'db'"}),
                ),
                (_, Err(e)) => (400, serde_json::json!({"error": e})),
            },
            _ => (
                404,
                serde_json::json!({"error": format!("no such route {path}")}),
            ),
        };
        send(status, &body, out);
    }
}

/// The whole request body as text (cut at [`BODY_KEEP`]).
fn read_body(request: &IncomingRequest) -> Result<String, String> {
    let body = request.consume().map_err(|()| "body already consumed")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut kept = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                let room = BODY_KEEP.saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("cannot read the body: {}", e.to_debug_string()));
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    String::from_utf8(kept).map_err(|e| format!("the body is not UTF-8: {e}"))
}

fn send(status: u16, body: &Json, out: ResponseOutparam) {
    let bytes = body.to_string().into_bytes();
    let headers = Fields::from_list(&[
        ("content-type".into(), b"application/json".to_vec()),
        (
            "content-length".into(),
            bytes.len().to_string().into_bytes(),
        ),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("the body stream is taken once");
    // `blocking-write-and-flush` takes at most 4096 bytes a call.
    let written = bytes
        .chunks(4096)
        .try_for_each(|chunk| stream.blocking_write_and_flush(chunk));
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(body, None);
    }
}

wasi::http::proxy::export!(BundledSqlite);
