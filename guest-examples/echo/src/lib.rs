//! `echo`: answers every request (any method, any path, `/` included) with a JSON
//! description of it: method, path and query, headers in order, and the body.

use std::borrow::Cow;

use micro_space::{Request, Response};
use serde::Serialize;

/// Bodies are echoed up to this many bytes; `body_len` counts them all.
const KEEP: usize = 64 * 1024;

/// The answer, borrowing from the request (nothing is copied before it is written); fields in
/// the order they are written.
#[derive(Serialize)]
struct Echo<'a> {
    body: Cow<'a, str>,
    body_len: usize,
    /// `[name, value]` pairs, in order.
    headers: &'a [(String, String)],
    method: &'a str,
    path: String,
}

fn echo(request: Request) -> Response {
    let kept = &request.body[..request.body.len().min(KEEP)];
    // `utf8` checks 16 bytes at a time (WebAssembly SIMD); `from_utf8_lossy` goes byte by
    // byte, so it only runs when the body is not valid UTF-8.
    let body = match micro_space::utf8(kept) {
        Some(text) => Cow::Borrowed(text),
        None => String::from_utf8_lossy(kept),
    };
    let answer = Echo {
        body,
        body_len: request.body.len(),
        headers: &request.headers,
        method: request.method.as_str(),
        path: request.path_and_query(),
    };
    Response::json(200, &answer)
}

micro_space::export!(echo);
