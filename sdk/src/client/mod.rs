//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! Build a [`Request`] (method, URL, headers, body), send it with [`fetch`] and get a
//! [`Response`] (status, headers, the whole body), or with [`fetch_streaming`] and read the
//! body as it arrives. Failures are a typed [`Error`]; when the host refuses or cannot make
//! the request, it carries the `wasi:http` error code (`HttpRequestDenied`, `DnsError`, ...).
//!
//! ```no_run
//! use micro_space::client::{self, Request};
//! use micro_space::json;
//!
//! # fn main() -> Result<(), client::Error> {
//! let page = micro_space::fetch(Request::get("https://example.com/"))?;
//! println!("{} {} bytes", page.status, page.body.len());
//!
//! let created = Request::post("https://api.example.com/things")
//!     .header("authorization", "Bearer t0k3n")
//!     .json(&json!({ "name": "thing" }))
//!     .send()?;
//! if created.is_success() {
//!     let thing: micro_space::serde_json::Value = created.json()?;
//!     println!("made {}", thing["id"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The request body is written in pieces no larger than the host's `check-write` allows; the
//! response body is read fully, up to [`Request::max_response_body`] bytes
//! ([`DEFAULT_MAX_RESPONSE_BODY`] unless set). Redirects are not followed. Which destinations
//! a Micro may reach is the host's decision: micro-wasm answers requests to Deta Base and
//! Drive itself (see [`base`](crate::base) and [`drive`](crate::drive)).
//!
//! On the host (`cargo test`) the `wasi` imports are stubs: sending a request there panics.
//! Code that should be testable on the host keeps request building and response handling in
//! plain functions, as this crate's `base` and `drive` modules do.

use std::fmt;
use std::io::{self, Read};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BodyReader, Method};

/// How much of a response body [`fetch`] reads unless [`Request::max_response_body`] says
/// otherwise: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// An outgoing request.
///
/// ```
/// use micro_space::Method;
/// use micro_space::client::Request;
///
/// let request = Request::new(Method::Put, "https://example.com/a?b=1")
///     .header("content-type", "text/plain")
///     .body("hello");
/// assert_eq!(request.url, "https://example.com/a?b=1");
/// assert_eq!(request.header_value("Content-Type"), Some("text/plain"));
/// assert_eq!(request.body, b"hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// An absolute `http://` or `https://` URL: `scheme://host[:port]/path?query`, already
    /// percent-encoded where needed.
    pub url: String,
    /// The headers, in order. Headers the host forbids (`host`, `connection`, ...) make the
    /// request fail with [`Error::InvalidRequest`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Asks the host to give up connecting, and waiting for the first byte of the response,
    /// after this long (hosts that do not support these options ignore them).
    pub timeout: Option<Duration>,
    /// [`fetch`] fails with [`Error::BodyTooLarge`] past this many response body bytes.
    pub max_response_body: usize,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new(Method::Get, url)
    }

    /// A `POST` request (add a body with [`body`](Request::body) or [`json`](Request::json)).
    pub fn post(url: impl Into<String>) -> Self {
        Request::new(Method::Post, url)
    }

    /// Adds a header (keeping any of the same name).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, and `content-type: application/json` (unless a
    /// content type is set already). A value that cannot be serialised (a map with non-string
    /// keys) gives an empty body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = crate::json_out::to_vec(value).unwrap_or_default();
        if self.header_value("content-type").is_none() {
            self.headers
                .push(("content-type".into(), "application/json".into()));
        }
        self
    }

    /// Sets [`timeout`](Request::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`max_response_body`](Request::max_response_body).
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// The first value of a header (the name is case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Sends the request: [`fetch`]`(self)`.
    pub fn send(self) -> Result<Response, Error> {
        fetch(self)
    }
}

/// A response, body included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The headers in order; names in lowercase, values decoded as UTF-8 (lossily).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (the name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, if it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        crate::utf8(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidJson(e.to_string()))
    }
}

/// Passes a fetched response on as a handler's response (proxying): status, headers (without
/// `content-length` and `transfer-encoding`, which are set anew when it is sent) and body.
impl From<Response> for crate::Response {
    fn from(response: Response) -> Self {
        let headers = response
            .headers
            .into_iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case("content-length")
                    && !name.eq_ignore_ascii_case("transfer-encoding")
            })
            .collect();
        let mut proxied = crate::Response::new(response.status);
        proxied.headers = headers;
        proxied.body = response.body;
        proxied
    }
}

/// Passes a streamed fetch on as a handler's streamed response (a proxy that never holds the
/// body): status, headers (without `transfer-encoding`; `content-length` is kept, the body
/// being that long) and the body, read while the response is sent.
///
/// ```no_run
/// use micro_space::client::{Request as Fetch, fetch_streaming};
/// use micro_space::{Request, Response};
///
/// fn mirror(request: Request) -> Response {
///     let url = format!("https://downloads.example.com{}", request.path);
///     match fetch_streaming(Fetch::get(url)) {
///         Ok(fetched) => fetched.into(),
///         Err(e) => Response::error(502, &e.to_string()),
///     }
/// }
/// # let _ = mirror;
/// ```
impl From<StreamingResponse> for crate::Response {
    fn from(response: StreamingResponse) -> Self {
        let mut proxied = crate::Response::new(response.status);
        proxied.headers = response
            .headers
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"))
            .collect();
        let length = find_header(&proxied.headers, "content-length").and_then(|n| n.parse().ok());
        proxied.stream = Some(crate::body::Stream::from_reader(response.body, length));
        proxied
    }
}

/// A response whose body is read as it arrives, from [`fetch_streaming`].
///
/// ```no_run
/// use std::io::Read;
/// use micro_space::client::{Request, fetch_streaming};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut response = fetch_streaming(Request::get("https://example.com/big.csv"))?;
/// let mut chunk = vec![0; 64 * 1024];
/// let mut lines = 0;
/// loop {
///     let n = response.body.read(&mut chunk)?;
///     if n == 0 {
///         break;
///     }
///     lines += chunk[..n].iter().filter(|&&b| b == b'\n').count();
/// }
/// println!("{lines} lines");
/// # Ok(())
/// # }
/// ```
pub struct StreamingResponse {
    pub status: u16,
    /// The headers in order; names in lowercase, values decoded as UTF-8 (lossily).
    pub headers: Vec<(String, String)>,
    /// The body; reading it blocks until bytes arrive, `Ok(0)` at its end. Turned into a
    /// handler's response, the host splices it on without it entering guest memory.
    pub body: BodyReader,
}

impl StreamingResponse {
    /// The first value of a header (the name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Reads the rest of the body, failing with [`Error::BodyTooLarge`] past `limit` bytes.
    pub fn into_response(self, limit: usize) -> Result<Response, Error> {
        let StreamingResponse {
            status,
            headers,
            mut body,
        } = self;
        let hint = find_header(&headers, "content-length").and_then(|n| n.parse::<usize>().ok());
        let body = read_bounded(&mut body, limit, hint)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Why a request failed. `Display` gives a sentence fit for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http(s)://host/...`.
    InvalidUrl(String),
    /// The host refused to build the request: a forbidden or malformed header, method or
    /// path.
    InvalidRequest(String),
    /// The host could not make the request or receive the response: the `wasi:http` error
    /// code's name (`"HttpRequestDenied"`, `"ConnectionRefused"`, ...) and its details.
    Http {
        /// The `wasi:http` `error-code` case, as in the `wasi` crate (`HttpRequestDenied`).
        code: String,
        /// The whole code as the `wasi` crate prints it, payload included.
        detail: String,
    },
    /// Writing the request body or reading the response body failed.
    Stream(String),
    /// The response body is longer than the limit (in bytes).
    BodyTooLarge(usize),
    /// [`Response::json`] could not parse the body.
    InvalidJson(String),
}

impl Error {
    /// The `wasi:http` error code's name, if the host reported one.
    pub fn http_code(&self) -> Option<&str> {
        match self {
            Error::Http { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Error::Http { code, detail } => {
                write!(f, "HTTP request failed: {code}")?;
                if detail != code {
                    write!(f, " ({detail})")?;
                }
                if code == "HttpRequestDenied" {
                    f.write_str(": the host does not allow requests to this destination")?;
                }
                Ok(())
            }
            Error::Stream(why) => write!(f, "HTTP body stream failed: {why}"),
            Error::BodyTooLarge(limit) => {
                write!(f, "the response body is larger than {limit} bytes")
            }
            Error::InvalidJson(why) => {
                write!(f, "the response body is not the JSON expected: {why}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `Error::Http` from a `wasi:http` error code.
impl From<wasi::http::types::ErrorCode> for Error {
    fn from(code: wasi::http::types::ErrorCode) -> Self {
        let detail = format!("{code:?}");
        let detail = detail
            .strip_prefix("ErrorCode::")
            .unwrap_or(&detail)
            .to_string();
        let name = detail
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("")
            .to_string();
        Error::Http { code: name, detail }
    }
}

/// Sends a request and reads the whole response (up to `request.max_response_body` bytes).
///
/// Any status is a response, not an error: check [`Response::status`].
pub fn fetch(request: Request) -> Result<Response, Error> {
    let limit = request.max_response_body;
    fetch_streaming(request)?.into_response(limit)
}

/// `fetch(Request::get(url))`.
pub fn get(url: &str) -> Result<Response, Error> {
    fetch(Request::get(url))
}

/// Sends a request and returns as soon as the response head arrives; the body is read from
/// [`StreamingResponse::body`].
pub fn fetch_streaming(request: Request) -> Result<StreamingResponse, Error> {
    let target = Target::parse(&request.url)?;
    wasi_io::send(&request, &target)
}

/// Reads `reader` to its end, failing past `limit` bytes; `hint` (a content length) sizes the
/// buffer.
pub(crate) fn read_bounded(
    reader: &mut dyn Read,
    limit: usize,
    hint: Option<usize>,
) -> Result<Vec<u8>, Error> {
    let capacity = hint.unwrap_or(0).min(limit).min(16 * 1024 * 1024) + 1;
    let mut body = Vec::with_capacity(capacity);
    loop {
        // Read straight into the body: room for the rest of a known length (and one byte
        // more, to see the end), else as much as read so far (4 KiB to 64 KiB). Zeroing only
        // that room keeps a small response from writing 64 KiB of guest memory that the
        // host must then reset.
        let start = body.len();
        let room = match hint.and_then(|length| length.checked_sub(start)) {
            Some(rest) => rest.min(64 * 1024) + 1,
            None => start.clamp(4 * 1024, 64 * 1024),
        };
        body.resize(start + room, 0);
        let n = match reader.read(&mut body[start..]) {
            Ok(0) => {
                body.truncate(start);
                return Ok(body);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(Error::Stream(e.to_string())),
        };
        body.truncate(start + n);
        if body.len() > limit {
            return Err(Error::BodyTooLarge(limit));
        }
        // The whole announced length is here: HTTP framing leaves nothing after it, so the
        // read that would only report the end is not made.
        if hint == Some(body.len()) {
            return Ok(body);
        }
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A URL split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub https: bool,
    pub authority: String,
    pub path_with_query: String,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, Error> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::InvalidUrl(format!("no scheme in {url:?}")))?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(Error::InvalidUrl(format!(
                "scheme {scheme:?} is not http or https"
            )));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty()
            || authority.contains('@')
            || authority.contains(char::is_whitespace)
        {
            return Err(Error::InvalidUrl(format!("bad host in {url:?}")));
        }
        let mut path = &rest[end..];
        if let Some(fragment) = path.find('#') {
            path = &path[..fragment];
        }
        let path_with_query = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        if path_with_query.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidUrl(format!(
                "unencoded space or control character in {url:?}"
            )));
        }
        Ok(Target {
            https,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

/// The `wasi:http` calls.
mod wasi_io;

#[cfg(test)]
mod tests;
