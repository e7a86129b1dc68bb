//! Requests, handlers and the glue to `wasi:http`: [`Method`], [`Request`], [`Handler`] and
//! [`Streaming`], and `serve`, what [`export!`](crate::export) runs per request (read the
//! head, run the handler with the body unread, send the response).
//!
//! Owns the request's head and the order of a request's steps; reading and writing bodies is
//! `body`'s, what a response holds `response`'s.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

use serde::de::DeserializeOwned;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

use crate::body::{BodyOut, BodyReader, stream_error};
use crate::response::STREAM_TAKEN;
use crate::{IntoResponse, Response, Router};

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    /// Any other method, as sent.
    Other(String),
}

impl Method {
    /// The method's name: `"GET"`, `"POST"`, ...
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(other) => other,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<wasi::http::types::Method> for Method {
    fn from(method: wasi::http::types::Method) -> Self {
        use wasi::http::types::Method as M;
        match method {
            M::Get => Method::Get,
            M::Head => Method::Head,
            M::Post => Method::Post,
            M::Put => Method::Put,
            M::Delete => Method::Delete,
            M::Connect => Method::Connect,
            M::Options => Method::Options,
            M::Trace => Method::Trace,
            M::Patch => Method::Patch,
            M::Other(other) => Method::Other(other),
        }
    }
}

/// An incoming request, body included.
///
/// The path is relative to the Micro's mount point: micro-wasm strips the Micro's `path`
/// (a Micro at `/api` sees `/api/items?x=1` as `/items`, query `x=1`).
///
/// ```
/// use micro_space::{Method, Request};
///
/// let request = Request::new(Method::Get, "/quotes/2?full=yes%21");
/// assert_eq!(request.path, "/quotes/2");
/// assert_eq!(request.query.as_deref(), Some("full=yes%21"));
/// assert_eq!(request.query_param("full").as_deref(), Some("yes!"));
/// assert_eq!(request.path_and_query(), "/quotes/2?full=yes%21");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path without the query, `/` at least.
    pub path: String,
    /// The raw query (after `?`, not decoded), if the request target had one.
    pub query: Option<String>,
    /// The headers in order; names in lowercase, values decoded as UTF-8 (lossily).
    pub headers: Vec<(String, String)>,
    /// The whole body; empty for a [`Streaming`] handler, which reads it from its
    /// [`BodyReader`].
    pub body: Vec<u8>,
    /// The path parameters, set by [`Router`] (`:id` in `/quotes/:id`), decoded.
    pub params: Vec<(String, String)>,
}

impl Request {
    /// A request with no headers and no body, `target` being `path` or `path?query`: for
    /// tests, or to call a handler from another.
    pub fn new(method: Method, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (target, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Request {
            method,
            path: path.to_string(),
            query,
            headers: Vec::new(),
            body: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The path with its query, as the request target had them.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// The first value of a header (the name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A path parameter captured by the [`Router`] (`req.param("id")` for `/quotes/:id`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .as_deref()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(n, _)| decode(n, true) == name)
            .map(|(_, v)| decode(v, true).into_owned())
    }

    /// The body as text, if it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        crate::utf8(&self.body)
    }

    /// The body parsed as JSON.
    ///
    /// ```
    /// use micro_space::{Method, Request, serde_json::Value};
    ///
    /// let mut request = Request::new(Method::Post, "/");
    /// request.body = br#"{"n": 1}"#.to_vec();
    /// let value: Value = request.json().unwrap();
    /// assert_eq!(value["n"], 1);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Where this Micro is mounted, without a trailing `/` (`/notes`, or `""` for a Micro at
    /// `/`), from the `X-Forwarded-Prefix` header micro-wasm sets to the original path. Use it
    /// to make absolute links.
    ///
    /// ```
    /// use micro_space::{Method, Request};
    ///
    /// let mut request = Request::new(Method::Get, "/actions");
    /// request.headers.push(("x-forwarded-prefix".into(), "/notes/actions".into()));
    /// assert_eq!(request.mount_prefix(), "/notes");
    /// ```
    pub fn mount_prefix(&self) -> String {
        let forwarded = self.header("x-forwarded-prefix").unwrap_or("");
        let forwarded = forwarded.split('?').next().unwrap_or("");
        let prefix = if self.path == "/" {
            forwarded
        } else {
            // Accept both the full original path and the bare prefix.
            forwarded.strip_suffix(&self.path).unwrap_or(forwarded)
        };
        prefix.trim_end_matches('/').to_string()
    }
}

/// Something that answers requests: a function or closure `Fn(Request) -> impl IntoResponse`,
/// a [`Router`], or a [`Streaming`] handler. What [`export!`](crate::export) and the router's
/// routes take.
pub trait Handler {
    /// Answers a request whose body has been read into `request.body`.
    fn call(&self, request: Request) -> Response;

    /// Answers a request whose body is not read yet: `request.body` is empty and `body`
    /// reads it. [`export!`](crate::export) calls this. By default the body is read whole
    /// into `request.body` (one that cannot be read is answered 400 `{"error": "bad
    /// request"}`), then `call` answers; [`Streaming`] and [`Router`] hand it on unread.
    fn call_with_body(&self, mut request: Request, body: BodyReader) -> Response {
        match read_body(&mut request, body) {
            Ok(()) => self.call(request),
            Err(response) => response,
        }
    }
}

impl<F, R> Handler for F
where
    F: Fn(Request) -> R,
    R: IntoResponse,
{
    fn call(&self, request: Request) -> Response {
        self(request).into_response()
    }
}

impl Handler for Router {
    fn call(&self, request: Request) -> Response {
        self.handle(request)
    }

    fn call_with_body(&self, request: Request, body: BodyReader) -> Response {
        self.handle_with_body(request, body)
    }
}

/// A handler that takes the request body unread: `Fn(Request, BodyReader) -> impl
/// IntoResponse`, given the request without its body (`body` is empty) and a [`BodyReader`]
/// that reads it as it arrives. So an upload of any size needs memory for one piece at a time
/// (up to 1 MiB), not for the whole body. For one route of a router, see
/// [`Router::post_stream`].
///
/// ```no_run
/// use std::io::BufRead;
/// use micro_space::{BodyReader, Request, Response, Streaming, json};
///
/// fn count_lines(_: Request, body: BodyReader) -> std::io::Result<Response> {
///     let mut lines = 0;
///     for line in body.split(b'\n') {
///         line?;
///         lines += 1;
///     }
///     Ok(Response::json(200, &json!({ "lines": lines })))
/// }
///
/// micro_space::export!(Streaming(count_lines));
/// ```
///
/// Called with a request read already ([`Handler::call`], as in a test), it gets that body
/// through the reader.
pub struct Streaming<F>(pub F);

impl<F, R> Handler for Streaming<F>
where
    F: Fn(Request, BodyReader) -> R,
    R: IntoResponse,
{
    fn call(&self, mut request: Request) -> Response {
        let body = BodyReader::from(std::mem::take(&mut request.body));
        (self.0)(request, body).into_response()
    }

    fn call_with_body(&self, request: Request, body: BodyReader) -> Response {
        (self.0)(request, body).into_response()
    }
}

/// Reads `body` whole into `request.body`, with room reserved for the declared
/// `content-length` up front (bounded: the header is the client's word), so the body is not
/// copied again each time the vector grows. A body that cannot be read gets a 400 answer.
pub(crate) fn read_body(request: &mut Request, body: BodyReader) -> Result<(), Response> {
    let declared = request
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    match body.read_all(declared.min(RESERVE_MAX)) {
        Ok(bytes) => {
            request.body = bytes;
            Ok(())
        }
        Err(e) => Err(bad_request(&e.to_string())),
    }
}

/// The most room reserved for a body from its `content-length` before reading it.
const RESERVE_MAX: usize = 8 << 20;

fn bad_request(message: &str) -> Response {
    Response::json(
        400,
        &serde_json::json!({ "error": "bad request", "message": message }),
    )
}

/// Enters the working directory (once per instance, see `cwd`), reads the request's head,
/// runs the handler with the body unread, sends its response. Used by
/// [`export!`](crate::export).
#[doc(hidden)]
pub fn serve<H: Handler + ?Sized>(request: IncomingRequest, out: ResponseOutparam, handler: &H) {
    crate::cwd::enter_initial_cwd();
    let head = read_head(&request);
    let response = match BodyReader::incoming(&request) {
        Ok(body) => handler.call_with_body(head, body),
        Err(message) => bad_request(&message),
    };
    // After sending: a streamed response may still be reading the request's body.
    send(out, response);
    drop(request);
}

/// The request without its body.
fn read_head(request: &IncomingRequest) -> Request {
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let mut parsed = Request::new(request.method().into(), &target);
    parsed.headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            let value = String::from_utf8(value)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    parsed
}

fn send(out: ResponseOutparam, response: Response) {
    let Response {
        status,
        headers,
        body,
        stream,
    } = response;
    let write = match stream.map(|stream| stream.take()) {
        None => None,
        Some(Some(write)) => Some(write),
        Some(None) => return send(out, invalid_response(STREAM_TAKEN)),
    };
    let length = write.is_none().then_some(body.len());
    let (outgoing, outgoing_body, body, write) = match outgoing(status, headers, length) {
        Ok((outgoing, outgoing_body)) => (outgoing, outgoing_body, body, write),
        // A status out of range or a header wasi:http refuses (`connection`, ...): a 500
        // that says so, rather than a trap.
        Err(message) => {
            let Response { headers, body, .. } = invalid_response(&message);
            let (outgoing, outgoing_body) =
                outgoing(500, headers, Some(body.len())).expect("a valid fallback response");
            (outgoing, outgoing_body, body, None)
        }
    };
    ResponseOutparam::set(out, Ok(outgoing));
    let stream = outgoing_body.write().expect("stream taken once");
    let mut out = BodyOut::Host(&stream);
    let streamed = write.is_some();
    let written = match write {
        None => out.write_all(&body),
        Some(write) => write(&mut out),
    };
    // Asks the host to flush what was written (without waiting); the stream is dropped
    // before the body is finished.
    let flushed = written.and_then(|()| stream.flush().map_err(stream_error));
    drop(stream);
    match flushed {
        Ok(()) => {
            let _ = OutgoingBody::finish(outgoing_body, None);
        }
        // Unfinished, the body is cut short: the client sees it incomplete. A client gone
        // is no news; a streamed body's source failing is the Micro's to know.
        Err(e) if streamed => {
            eprintln!("micro-space: the streamed response body (status {status}) failed: {e}");
        }
        Err(_) => {}
    }
}

/// 500 `{"error": "invalid response", "message": message}`.
fn invalid_response(message: &str) -> Response {
    Response::json(
        500,
        &serde_json::json!({ "error": "invalid response", "message": message }),
    )
}

/// The response's head; `content-length` is `length` when given (any header of that name
/// is dropped), else what the headers say, if anything.
fn outgoing(
    status: u16,
    headers: Vec<(String, String)>,
    length: Option<usize>,
) -> Result<(OutgoingResponse, OutgoingBody), String> {
    let mut list: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .filter(|(name, _)| length.is_none() || !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    if let Some(length) = length {
        list.push(("content-length".into(), length.to_string().into_bytes()));
    }
    let fields = Fields::from_list(&list).map_err(|e| format!("invalid header: {e:?}"))?;
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(status)
        .map_err(|()| format!("invalid status {status}"))?;
    let body = response.body().expect("body taken once");
    Ok((response, body))
}

/// Percent-decodes `text` (and `+` as a space in a query), invalid UTF-8 replaced.
pub(crate) fn decode(text: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !text.contains(|c| c == '%' || (plus_is_space && c == '+')) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let digit = |at: usize| bytes.get(at).and_then(|&b| hex(b));
                if let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(decode("a%20b+c", true), "a b c");
        assert_eq!(decode("a%20b+c", false), "a b+c");
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%4", false), "%4");
        assert_eq!(decode("%zz%41", false), "%zzA");
        assert_eq!(decode("%C3%A9", false), "é");
    }

    #[test]
    fn query_params() {
        let request = Request::new(Method::Get, "/?a=1&b=x+y&a=2&flag");
        assert_eq!(request.query_param("a").as_deref(), Some("1"));
        assert_eq!(request.query_param("b").as_deref(), Some("x y"));
        assert_eq!(request.query_param("flag").as_deref(), Some(""));
        assert_eq!(request.query_param("c"), None);
        assert_eq!(Request::new(Method::Get, "").path, "/");
    }

    #[test]
    fn mount_prefix() {
        let mut request = Request::new(Method::Get, "/");
        assert_eq!(request.mount_prefix(), "");
        request
            .headers
            .push(("x-forwarded-prefix".into(), "/notes".into()));
        assert_eq!(request.mount_prefix(), "/notes");
        let mut request = Request::new(Method::Get, "/actions");
        request
            .headers
            .push(("x-forwarded-prefix".into(), "/notes".into()));
        assert_eq!(request.mount_prefix(), "/notes");
    }
}
