//! Outbound traffic (S14): an HTTP request through `wasi:http/outgoing-handler` and a raw
//! TCP connect through `wasi:sockets` (via std), each reporting success or the error code.

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest, Scheme};

use crate::reply::{Outcome, Reply, Req};

/// `GET /fetch?url=http://host:port/path`: 200 with `status N` and the body, or 502 with
/// `error: <ErrorCode debug>`.
pub fn fetch(req: &Req) -> Outcome {
    let url = req.required("url")?;
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Reply::text(400, "url needs a scheme\n"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(code) => return Ok(Reply::text(502, format!("error: {code:?}\n"))),
    };
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(code))) => return Ok(Reply::text(502, format!("error: {code:?}\n"))),
        other => return Ok(Reply::text(502, format!("error: {other:?}\n"))),
    };
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| Reply::text(502, "error: no body\n"))?;
    let stream = body
        .stream()
        .map_err(|()| Reply::text(502, "error: no stream\n"))?;
    let mut bytes = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        bytes.extend_from_slice(&chunk);
    }
    Ok(Reply::text(
        200,
        format!("status {status}\n{}", String::from_utf8_lossy(&bytes)),
    ))
}

/// `GET /connect?addr=IP:PORT`: 200 `connected` or 502 with the io error.
pub fn connect(req: &Req) -> Outcome {
    let addr = req.required("addr")?;
    Ok(match std::net::TcpStream::connect(addr) {
        Ok(_) => Reply::text(200, "connected\n"),
        Err(e) => Reply::text(502, format!("error: {e} kind={:?}\n", e.kind())),
    })
}
