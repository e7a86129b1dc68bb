//! `echo`: answers every request (any method, any path, `/` included) with a JSON
//! description of it: method, path and query, headers in order, and the body.

use serde_json::{Value, json};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

/// Bodies are echoed up to this many bytes; `body_len` counts them all.
const KEEP: usize = 64 * 1024;
/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;

struct Echo;

impl Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match describe(&request) {
            Ok(doc) => respond(out, 200, doc.to_string().as_bytes()),
            Err(message) => respond(out, 400, json!({ "error": message }).to_string().as_bytes()),
        }
    }
}

fn describe(request: &IncomingRequest) -> Result<Value, String> {
    let headers: Vec<Value> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| json!([name.to_ascii_lowercase(), String::from_utf8_lossy(&value)]))
        .collect();
    let (body_len, body) = read_body(request)?;
    Ok(json!({
        "method": method_name(request.method()),
        "path": request.path_with_query().unwrap_or_else(|| "/".into()),
        "headers": headers,
        "body_len": body_len,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Reads the whole body: its total length and its first `KEEP` bytes.
fn read_body(request: &IncomingRequest) -> Result<(u64, Vec<u8>), String> {
    let body = request.consume().map_err(|()| "body already consumed")?;
    let stream = body.stream().map_err(|()| "body stream already taken")?;
    let (mut total, mut kept) = (0u64, Vec::new());
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                total += chunk.len() as u64;
                let room = KEEP.saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok((total, kept))
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

/// Sends a JSON response with a matching Content-Length.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let response_body = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = response_body.write().expect("stream taken once");
    let written = body
        .chunks(WRITE_CHUNK)
        .try_for_each(|chunk| stream.blocking_write_and_flush(chunk));
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(response_body, None);
    }
}

wasi::http::proxy::export!(Echo);
