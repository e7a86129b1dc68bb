//! Responses: [`Response`], plain data (status, headers, body) with constructors for the
//! usual bodies and for streamed ones, and [`IntoResponse`], what a handler may return.
//!
//! Owns what a response is; sending it is `http`'s (`http::send`), writing a streamed body
//! `body`'s. It makes no `wasi:http` call.

use std::io::{self, Read, Write};
use std::path::Path;

use serde::Serialize;

use crate::body::{BodyOut, Stream};

/// A response: status, headers, body.
///
/// For `body`, `content-length` is set when it is sent; any other header is sent as given.
///
/// The body is `body`, or a stream made while the response is sent: from a reader
/// ([`Response::stream`], [`Response::file`]) or by a function writing it
/// ([`Response::stream_with`]), so a large body is never held in the Micro's memory. A
/// streamed body is written as fast as the host takes it (a reader's in pieces of up to 256
/// KiB); `body` stays empty and is not sent. The SDK sends no `content-length` for it unless
/// one is set as a header ([`Response::file`] does), and then exactly that many bytes must be
/// written. With a length, micro-wasm passes the body on to the client as it is written;
/// without one it collects the whole body first (to hold it to the payload limit, 5.5 MB by
/// default), then sends it. A failure while streaming (the reader's or writer's error) is
/// printed to stderr and fails the response: a 502 if micro-wasm has not sent the head yet,
/// else a body cut short, which the client sees incomplete.
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
///
/// Clones of a streamed response share its stream: only the first one sent can send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The headers in order (names are case-insensitive).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The streamed body, if any (then `body` is not sent).
    pub(crate) stream: Option<Stream>,
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
/// Why a streamed response cannot be sent: a clone of it was.
pub(crate) const STREAM_TAKEN: &str =
    "the streamed body was sent already (by a clone of this response)";

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
        }
    }

    /// A body with its `content-type`.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// A body streamed from `source` while the response is sent, with its `content-type`
    /// (see [`Response`] for how it is sent). Set `content-length` if the length is known.
    ///
    /// ```
    /// use micro_space::Response;
    ///
    /// let numbers: Vec<u8> = (1..=1000).flat_map(|n| format!("{n}\n").into_bytes()).collect();
    /// let response = Response::stream(200, "text/plain", std::io::Cursor::new(numbers));
    /// assert!(response.is_streamed() && response.body.is_empty());
    /// let mut sent = Vec::new();
    /// response.write_body(&mut sent).unwrap();
    /// assert!(sent.starts_with(b"1\n2\n") && sent.ends_with(b"999\n1000\n"));
    /// ```
    pub fn stream(status: u16, content_type: &str, source: impl Read + 'static) -> Self {
        Response::streamed(status, content_type, Stream::from_reader(source, None))
    }

    /// A body written by `write` while the response is sent, with its `content-type` (see
    /// [`Response`] for how it is sent). Each write goes to the host as its stream allows;
    /// an error from `write` fails the response.
    ///
    /// ```
    /// use std::io::Write;
    /// use micro_space::Response;
    ///
    /// let csv = Response::stream_with(200, "text/csv", |out| {
    ///     let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
    ///     writeln!(out, "n,square")?;
    ///     for n in 1..=100_000u64 {
    ///         writeln!(out, "{n},{}", n * n)?;
    ///     }
    ///     out.flush()
    /// });
    /// # let mut sent = Vec::new();
    /// # csv.write_body(&mut sent).unwrap();
    /// # assert!(sent.ends_with(b"100000,10000000000\n"));
    /// ```
    ///
    /// Each write to `out` is a host call or two: wrap it in a [`std::io::BufWriter`], as
    /// here, when writing many small pieces.
    pub fn stream_with(
        status: u16,
        content_type: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()> + 'static,
    ) -> Self {
        Response::streamed(status, content_type, Stream::new(write))
    }

    /// The file at `path` streamed as the body, with its `content-type` and its length as
    /// `content-length`: a file in `/app` or `/tmp` of any size is sent without being held in
    /// memory. Fails if the file cannot be opened (an [`io::Error`] answers 404 for a missing
    /// file, see [`IntoResponse`]).
    ///
    /// ```no_run
    /// use micro_space::{Request, Response};
    ///
    /// fn manual(_: Request) -> std::io::Result<Response> {
    ///     Response::file(200, "application/pdf", "/app/manual.pdf")
    /// }
    /// # let _ = manual;
    /// ```
    pub fn file(status: u16, content_type: &str, path: impl AsRef<Path>) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let length = file.metadata()?.len();
        let stream = Stream::from_reader(file, Some(length));
        Ok(Response::streamed(status, content_type, stream)
            .with_header("content-length", &length.to_string()))
    }

    fn streamed(status: u16, content_type: &str, stream: Stream) -> Self {
        Response {
            stream: Some(stream),
            ..Response::bytes(status, content_type, Vec::new())
        }
    }

    /// Whether the body is streamed (made while it is sent) rather than `body`.
    pub fn is_streamed(&self) -> bool {
        self.stream.is_some()
    }

    /// Writes the body to `out`: `body`, or the streamed body, made now. For tests of
    /// handlers that stream; sending a response does the same with the connection. Fails
    /// with the stream's error, or if a clone of this response was sent already.
    pub fn write_body(self, out: &mut dyn Write) -> io::Result<()> {
        match self.stream {
            None => out.write_all(&self.body),
            Some(stream) => match stream.take() {
                Some(write) => write(&mut BodyOut::Other(out)),
                None => Err(io::Error::other(STREAM_TAKEN)),
            },
        }
    }

    /// `application/json`: `value` serialised (a [`serde_json::Value`] made with `json!`, or
    /// anything [`Serialize`]). If it cannot be serialised: 500 `{"error": ...}`.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match crate::json_out::to_vec(value) {
            Ok(body) => Response::bytes(status, JSON, body),
            Err(e) => Response::bytes(
                500,
                JSON,
                serde_json::json!({ "error": "cannot serialise the response", "message": e })
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

    /// 404 `{"error": "not found"}`, what [`Router`](crate::Router) answers when no route matches.
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

/// A failed file or stream operation: 404 for a missing file, 403 for a denied one, 500
/// otherwise, as `{"error": "io", "message": ...}`; so `?` works on [`Response::file`] and
/// on a streaming handler's reads and writes.
impl IntoResponse for io::Error {
    fn into_response(self) -> Response {
        let status = match self.kind() {
            io::ErrorKind::NotFound => 404,
            io::ErrorKind::PermissionDenied => 403,
            _ => 500,
        };
        Response::json(
            status,
            &serde_json::json!({ "error": "io", "message": self.to_string() }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn streamed_bodies() {
        let response = Response::stream_with(201, "text/plain", |out| out.write_all(b"made"));
        assert_eq!(response.status, 201);
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert!(response.is_streamed() && response.body.is_empty());
        let clone = response.clone();
        assert_eq!(clone, response);
        let mut sent = Vec::new();
        response.write_body(&mut sent).unwrap();
        assert_eq!(sent, b"made");
        // The clone shared the stream, which is gone.
        let taken = clone.write_body(&mut sent).unwrap_err();
        assert_eq!(taken.to_string(), STREAM_TAKEN);
        // A plain response writes its body.
        let mut sent = Vec::new();
        Response::text(200, "plain").write_body(&mut sent).unwrap();
        assert_eq!(sent, b"plain");
    }

    #[test]
    fn files_stream_with_their_length() {
        let dir = std::env::temp_dir().join(format!("micro-space-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..=255u8).cycle().take(600_000).collect();
        std::fs::write(&path, &data).unwrap();
        let response = Response::file(200, "application/octet-stream", &path).unwrap();
        assert_eq!(response.header("content-length"), Some("600000"));
        let mut sent = Vec::new();
        response.write_body(&mut sent).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(sent == data, "the file's bytes, in order");

        let missing = Response::file(200, "text/plain", dir.join("nope")).into_response();
        assert_eq!(missing.status, 404);
        assert!(
            String::from_utf8(missing.body)
                .unwrap()
                .starts_with(r#"{"error":"io","#)
        );
    }
}
