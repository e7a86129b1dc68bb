//! `echo`: answers every request (any method, any path, `/` included) with a JSON
//! description of it: method, path and query, headers in order, and the body.

use std::borrow::Cow;

use micro_space::{Request, Response, json};

/// Bodies are echoed up to this many bytes; `body_len` counts them all.
const KEEP: usize = 64 * 1024;

fn echo(request: Request) -> Response {
    let headers: Vec<_> = request
        .headers
        .iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    let kept = &request.body[..request.body.len().min(KEEP)];
    // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` goes byte by byte, so it
    // only runs when the body is not valid UTF-8.
    let text = match std::str::from_utf8(kept) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(kept),
    };
    Response::json(
        200,
        &json!({
            "method": request.method.as_str(),
            "path": request.path_and_query(),
            "headers": headers,
            "body_len": request.body.len(),
            "body": text,
        }),
    )
}

micro_space::export!(echo);
