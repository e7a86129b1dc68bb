//! Requests, responses and the glue to `wasi:http`.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{OutputStream, StreamError};

use crate::Router;

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
    /// The whole body.
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
        std::str::from_utf8(&self.body).ok()
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

/// A response: status, headers, body.
///
/// `content-length` is set when it is sent; any other header is sent as given.
///
/// ```
/// use micro_space::{Response, json};
///
/// let ok = Response::json(200, &json!({ "ok": true }));
/// assert_eq!(ok.header("content-type"), Some("application/json"));
/// assert_eq!(ok.body, br#"{"ok":true}"#);
///
/// let created = Response::text(201, "made\n")
///     .with_header("location", "/things/1")
///     .with_header("cache-control", "no-store");
/// assert_eq!(created.status, 201);
///
/// assert_eq!(Response::not_found().body, br#"{"error":"not found"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The headers in order (names are case-insensitive).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A body with its `content-type`.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// `application/json`: `value` serialised (a [`serde_json::Value`] made with `json!`, or
    /// anything [`Serialize`]). If it cannot be serialised: 500 `{"error": ...}`.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes(status, JSON, body),
            Err(e) => Response::bytes(
                500,
                JSON,
                serde_json::json!({ "error": "cannot serialise the response", "message": e.to_string() })
                    .to_string(),
            ),
        }
    }

    /// `text/plain; charset=utf-8`.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::bytes(status, TEXT, body.into())
    }

    /// `text/html; charset=utf-8`.
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Response::bytes(status, HTML, body.into())
    }

    /// `{"error": error}` as JSON.
    pub fn error(status: u16, error: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": error }))
    }

    /// 404 `{"error": "not found"}`, what [`Router`] answers when no route matches.
    pub fn not_found() -> Self {
        Response::error(404, "not found")
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing any of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.set_header(name, value);
        self
    }

    /// Sets a header, replacing any of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// Adds a header, keeping any of the same name (`set-cookie`).
    pub fn append_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// The first value of a header (the name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler may return.
///
/// Implemented by [`Response`], by `Result<T, E>` when both convert (so handlers can use
/// `?`), and by [`sqlite::Error`](crate::sqlite::Error) (a JSON error with a fitting status).
///
/// ```
/// use micro_space::{IntoResponse, Request, Response};
///
/// struct Teapot;
///
/// impl IntoResponse for Teapot {
///     fn into_response(self) -> Response {
///         Response::error(418, "teapot")
///     }
/// }
///
/// fn brew(request: Request) -> Result<Response, Teapot> {
///     match request.query_param("drink").as_deref() {
///         Some("tea") => Ok(Response::text(200, "here you are")),
///         _ => Err(Teapot),
///     }
/// }
/// # let _ = brew;
/// ```
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

/// Something that answers requests: a function or closure `Fn(Request) -> impl IntoResponse`,
/// or a [`Router`]. What [`export!`](crate::export) and the router's routes take.
pub trait Handler {
    fn call(&self, request: Request) -> Response;
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
}

/// Enters the working directory (once per instance, see `cwd`), reads the request, runs the
/// handler, sends its response. Used by [`export!`](crate::export).
#[doc(hidden)]
pub fn serve<H: Handler + ?Sized>(request: IncomingRequest, out: ResponseOutparam, handler: &H) {
    crate::cwd::enter_initial_cwd();
    let response = match read_request(&request) {
        Ok(request) => handler.call(request),
        Err(message) => Response::json(
            400,
            &serde_json::json!({ "error": "bad request", "message": message }),
        ),
    };
    drop(request);
    send(out, response);
}

fn read_request(request: &IncomingRequest) -> Result<Request, String> {
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
    // Room for the declared length up front (bounded: the header is the client's word), so
    // the body is not copied again each time the vector grows.
    let declared = parsed
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    parsed.body = read_body(request, declared.min(RESERVE_MAX))?;
    Ok(parsed)
}

/// The whole body, read into a vector with room for `reserve` bytes; a first chunk at least
/// that large becomes the vector itself.
fn read_body(request: &IncomingRequest, reserve: usize) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "body already consumed")?;
    let stream = body.stream().map_err(|()| "body stream already taken")?;
    let mut bytes = Vec::with_capacity(reserve);
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) if bytes.is_empty() && chunk.len() >= bytes.capacity() => bytes = chunk,
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// The most bytes one read of the request body asks for (the host hands out at most what it
/// has received).
const READ_CHUNK: u64 = 1 << 20;
/// The most room reserved for a body from its `content-length` before reading it.
const RESERVE_MAX: usize = 8 << 20;

fn send(out: ResponseOutparam, response: Response) {
    let Response {
        status,
        headers,
        body,
    } = response;
    let (outgoing, outgoing_body, body) = match outgoing(status, headers, &body) {
        Ok((outgoing, outgoing_body)) => (outgoing, outgoing_body, body),
        // A status out of range or a header wasi:http refuses (`connection`, ...): a 500
        // that says so, rather than a trap.
        Err(message) => {
            let body = serde_json::json!({ "error": "invalid response", "message": message })
                .to_string()
                .into_bytes();
            let headers = vec![("content-type".into(), JSON.into())];
            let (outgoing, outgoing_body) =
                outgoing(500, headers, &body).expect("a valid fallback response");
            (outgoing, outgoing_body, body)
        }
    };
    ResponseOutparam::set(out, Ok(outgoing));
    let stream = outgoing_body.write().expect("stream taken once");
    let written = write_all(&stream, &body);
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(outgoing_body, None);
    }
}

/// Writes `bytes` in as few calls as the stream allows: each `write` takes what `check-write`
/// permits (micro-wasm and `wasmtime serve` allow 1 MiB at a time), waiting on the stream's
/// pollable when it permits nothing. `blocking-write-and-flush` would take at most 4096 bytes
/// a call, a host call and a body frame for every 4 KiB.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let allowed = match stream.check_write()? {
            0 => {
                stream.subscribe().block();
                continue;
            }
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let (now, rest) = bytes.split_at(allowed.min(bytes.len()));
        stream.write(now)?;
        bytes = rest;
    }
    stream.flush()
}

fn outgoing(
    status: u16,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> Result<(OutgoingResponse, OutgoingBody), String> {
    let mut list: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    list.push(("content-length".into(), body.len().to_string().into_bytes()));
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
    fn headers_replace_and_append() {
        let mut response = Response::text(200, "x").with_header("Content-Type", "text/csv");
        assert_eq!(response.header("content-type"), Some("text/csv"));
        assert_eq!(response.headers.len(), 1);
        response.append_header("set-cookie", "a=1");
        response.append_header("set-cookie", "b=2");
        assert_eq!(response.headers.len(), 3);
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
