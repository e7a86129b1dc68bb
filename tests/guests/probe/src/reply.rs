//! The request view handed to every route, and the one way routes answer: a [`Reply`]
//! that [`send`] turns into a `wasi:http` response.

use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, OutputStream, ResponseOutparam,
};
use wasi::io::streams::StreamError;

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";

/// What a route returns. `Err` is used for early exits (e.g. a bad query parameter) so
/// handlers can use `?`; both sides are sent the same way.
pub type Outcome = Result<Reply, Reply>;

/// Writes a response body; an `Err` means the stream broke (client gone, host limit hit).
pub type BodyWriter = Box<dyn FnOnce(&OutputStream) -> Result<(), StreamError>>;

pub enum Reply {
    /// Status, headers, then whatever the writer streams.
    Stream {
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        body: BodyWriter,
    },
    /// Return without ever setting the response-outparam.
    NoResponse,
}

impl Reply {
    /// The helper every fixed-body route uses: status, content type and body, with a
    /// matching `Content-Length`.
    pub fn with(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        let body: Vec<u8> = body.into();
        let headers = vec![
            header("content-type", content_type),
            header("content-length", &body.len().to_string()),
        ];
        Reply::Stream {
            status,
            headers,
            body: Box::new(move |stream| write_all(stream, &body)),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::with(status, TEXT, body.into())
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::with(status, JSON, value.to_string())
    }
}

pub fn header(name: &str, value: &str) -> (String, Vec<u8>) {
    (name.to_string(), value.as_bytes().to_vec())
}

/// Sends a reply through the response-outparam. If the body writer fails, the body is
/// dropped unfinished so the host sees a broken body rather than a short, complete one.
pub fn send(reply: Reply, out: ResponseOutparam) {
    let (status, headers, writer) = match reply {
        Reply::NoResponse => return drop(out),
        Reply::Stream {
            status,
            headers,
            body,
        } => (status, headers, body),
    };
    let fields = Fields::from_list(&headers).expect("probe builds valid headers");
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(status).is_err() {
        response
            .set_status_code(500)
            .expect("500 is a valid status");
    }
    let body = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("the body stream is taken once");
    let written = writer(&stream).and_then(|()| stream.blocking_flush());
    drop(stream);
    if written.is_ok() {
        // Fails only on a Content-Length mismatch, which the host reports itself.
        let _ = OutgoingBody::finish(body, None);
    }
}

/// Writes all of `bytes`, waiting for write permits as the host grants them.
pub fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permit = stream.check_write()?;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes
            .len()
            .min(usize::try_from(permit).unwrap_or(usize::MAX));
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// The parts of the incoming request routes look at.
pub struct Req {
    pub inner: IncomingRequest,
    pub method: String,
    /// Path and query exactly as received.
    pub path_with_query: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl Req {
    pub fn new(inner: IncomingRequest) -> Req {
        let method = method_name(&inner.method());
        let path_with_query = inner.path_with_query().unwrap_or_else(|| "/".to_string());
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path.to_string(), parse_query(query)),
            None => (path_with_query.clone(), Vec::new()),
        };
        Req {
            inner,
            method,
            path_with_query,
            path,
            query,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter, or a 400 reply naming it.
    pub fn required(&self, name: &str) -> Result<&str, Reply> {
        self.param(name).ok_or_else(|| missing(name))
    }

    /// A numeric parameter; `default` is used when it is absent (None = required).
    pub fn number(&self, name: &str, default: Option<u64>) -> Result<u64, Reply> {
        match (self.param(name), default) {
            (None, Some(default)) => Ok(default),
            (None, None) => Err(missing(name)),
            (Some(raw), _) => raw.parse().map_err(|_| {
                Reply::text(
                    400,
                    format!("query parameter '{name}' must be a number, got '{raw}'\n"),
                )
            }),
        }
    }

    /// All headers in order, names lowercased.
    pub fn headers(&self) -> Vec<(String, Vec<u8>)> {
        let fields = self.inner.headers();
        fields
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
    }

    /// Reads the whole body: returns its total length and at most `keep` of its bytes.
    pub fn read_body(&self, keep: usize) -> Result<(u64, Vec<u8>), Reply> {
        let body_error =
            |what: &str| Reply::text(400, format!("cannot read request body: {what}\n"));
        let Ok(body) = self.inner.consume() else {
            return Err(body_error("already consumed"));
        };
        let stream = body.stream().map_err(|()| body_error("no stream"))?;
        let (mut total, mut kept) = (0u64, Vec::new());
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    let room = keep.saturating_sub(kept.len()).min(chunk.len());
                    kept.extend_from_slice(&chunk[..room]);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(body_error(&e.to_debug_string()));
                }
            }
        }
        drop(stream);
        drop(wasi::http::types::IncomingBody::finish(body));
        Ok((total, kept))
    }
}

fn missing(name: &str) -> Reply {
    Reply::text(400, format!("missing query parameter '{name}'\n"))
}

fn method_name(method: &Method) -> String {
    match method {
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
    .to_string()
}

/// `a=1&b=%2Ftmp` → [("a","1"), ("b","/tmp")]. Only `%XX` is decoded (`+` stays `+`).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
