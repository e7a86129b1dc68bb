//! What Deta Base and Deta Drive share: the Data Key, the service URL, the error type and the
//! transport (real `wasi:http`, or a fake one in tests).

use std::fmt;
use std::sync::Arc;

use crate::client::{self, Request, Response, StreamingResponse};
use crate::{IntoResponse, Method};

/// Why a Base or Drive call failed. `Display` gives a sentence fit for a log.
///
/// Returned from a handler it answers `{"error": kind, "message": ...}` (see
/// [`Error::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No usable Data Key: `DETA_PROJECT_KEY` unset, or not `<project_id>_<secret>`.
    Config(String),
    /// An argument refused before anything is sent, as the deta SDKs refuse it (an empty key
    /// or name, more than 25 items for `put_many`, ...).
    Invalid(String),
    /// Base `insert`: an item with this key exists already (409).
    KeyExists(String),
    /// The service refused the request (400): the messages of its `{"errors": [...]}` body.
    BadRequest(Vec<String>),
    /// Any other status the call does not expect: the status and the body (as text).
    Http(u16, String),
    /// The request could not be made or its response not read.
    Transport(client::Error),
    /// The service answered success but with a body the SDK cannot read, or did not apply
    /// part of the request (an item listed as failed by `put`, a name by Drive `delete`).
    Response(String),
    /// Drive `put_reader`: reading the data failed.
    Io(String),
}

impl Error {
    /// A short name for the case: `"key-exists"`, `"bad-request"`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Invalid(_) => "invalid",
            Error::KeyExists(_) => "key-exists",
            Error::BadRequest(_) => "bad-request",
            Error::Http(..) => "http",
            Error::Transport(_) => "transport",
            Error::Response(_) => "response",
            Error::Io(_) => "io",
        }
    }

    /// The status a handler answers with when it returns this error: 409 for `KeyExists`,
    /// 400 for `Invalid` and `BadRequest`, 502 for what went wrong talking to the service,
    /// 500 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Error::KeyExists(_) => 409,
            Error::Invalid(_) | Error::BadRequest(_) => 400,
            Error::Http(..) | Error::Transport(_) | Error::Response(_) => 502,
            Error::Config(_) | Error::Io(_) => 500,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(why) => write!(f, "Deta configuration: {why}"),
            Error::Invalid(why) => f.write_str(why),
            Error::KeyExists(key) => write!(f, "an item with key {key:?} already exists"),
            Error::BadRequest(messages) => {
                write!(f, "bad request: {}", messages.join("; "))
            }
            Error::Http(status, body) => {
                write!(f, "unexpected status {status}")?;
                if !body.is_empty() {
                    write!(f, ": {}", truncate(body, 300))?;
                }
                Ok(())
            }
            Error::Transport(e) => e.fmt(f),
            Error::Response(why) => write!(f, "unexpected response: {why}"),
            Error::Io(why) => write!(f, "reading the data failed: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<client::Error> for Error {
    fn from(e: client::Error) -> Self {
        Error::Transport(e)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> crate::Response {
        crate::Response::json(
            self.status(),
            &serde_json::json!({ "error": self.kind(), "message": self.to_string() }),
        )
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The error for a response the call did not expect: 400 → `BadRequest` with Deta's
/// messages, anything else → `Http`.
pub(crate) fn unexpected(response: &Response) -> Error {
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if response.status == 400 {
        return Error::BadRequest(error_messages(&response.body).unwrap_or_else(|| vec![text]));
    }
    Error::Http(response.status, text)
}

/// The messages of a `{"errors": ["...", ...]}` body.
pub(crate) fn error_messages(body: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    Some(
        errors
            .iter()
            .map(|e| match e {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
    )
}

/// A 2xx body as JSON.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(response: &Response) -> Result<T, Error> {
    serde_json::from_slice(&response.body).map_err(|e| {
        Error::Response(format!(
            "status {} with a body that is not the JSON expected ({e})",
            response.status
        ))
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`),
/// as Python's `quote(s, safe="")` does: for a key in a path, a name in a query.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Sends requests: `wasi:http` in a component, a recording fake in tests.
pub(crate) trait Transport: Send + Sync {
    fn send(&self, request: Request) -> Result<Response, client::Error>;
    fn open(&self, request: Request) -> Result<StreamingResponse, client::Error>;
}

struct Wasi;

impl Transport for Wasi {
    fn send(&self, request: Request) -> Result<Response, client::Error> {
        client::fetch(request)
    }

    fn open(&self, request: Request) -> Result<StreamingResponse, client::Error> {
        client::fetch_streaming(request)
    }
}

/// A Base's or Drive's root URL and key.
#[derive(Clone)]
pub(crate) struct Service {
    key: String,
    project_id: String,
    name: String,
    /// `https://database.deta.sh`, no trailing `/`.
    origin: String,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("Service")
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// `what` is `"Base"` or `"Drive"` (for messages); `host_var` the host override variable;
    /// `key` the Data Key, from `DETA_PROJECT_KEY` if `None`.
    pub(crate) fn new(
        what: &str,
        name: &str,
        key: Option<&str>,
        host_var: &str,
        default_host: &str,
    ) -> Result<Service, Error> {
        if name.is_empty() {
            return Err(Error::Invalid(format!("no {what} name provided")));
        }
        let key = match key {
            Some(key) => key.to_string(),
            None => std::env::var(crate::env::PROJECT_KEY).unwrap_or_default(),
        };
        let project_id = project_id(&key)?.to_string();
        let host = std::env::var(host_var)
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| default_host.to_string());
        Ok(Service {
            key,
            project_id,
            name: name.to_string(),
            origin: origin(&host),
            transport: Arc::new(Wasi),
        })
    }

    pub(crate) fn set_host(&mut self, host: &str) {
        self.origin = origin(host);
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    pub(crate) fn set_transport(&mut self, transport: Arc<dyn Transport>) {
        self.transport = transport;
    }

    /// `{origin}/v1/{project_id}/{name}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/{}/{}{path}",
            self.origin,
            encode(&self.project_id),
            encode(&self.name)
        )
    }

    /// A request to `path` (under the root) with the key.
    pub(crate) fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, self.url(path)).header("X-API-Key", &self.key)
    }

    /// A request with a JSON body, as the SDKs send it.
    pub(crate) fn json_request<T: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &T,
    ) -> Result<Request, Error> {
        let body = crate::json_out::to_vec(body)
            .map_err(|e| Error::Invalid(format!("cannot serialise the body as JSON: {e}")))?;
        Ok(self
            .request(method, path)
            .header("Content-Type", "application/json")
            .body(body))
    }

    pub(crate) fn send(&self, request: Request) -> Result<Response, Error> {
        Ok(self.transport.send(request)?)
    }

    pub(crate) fn open(&self, request: Request) -> Result<StreamingResponse, Error> {
        Ok(self.transport.open(request)?)
    }
}

/// The project id: the Data Key's text before the first `_`.
pub(crate) fn project_id(key: &str) -> Result<&str, Error> {
    if key.is_empty() {
        return Err(Error::Config(format!(
            "no Data Key: {} is not set",
            crate::env::PROJECT_KEY
        )));
    }
    match key.split_once('_') {
        Some((id, _)) if !id.is_empty() => Ok(id),
        _ => Err(Error::Config(
            "bad Data Key: expected <project_id>_<secret>".into(),
        )),
    }
}

/// `https://{host}`, or the host as given when it names its scheme (`http://localhost:8080`).
fn origin(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("https://") || host.starts_with("http://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

/// A fake transport for the host tests: records requests, answers from a queue.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Default)]
    pub(crate) struct Fake {
        pub requests: Mutex<Vec<Request>>,
        pub responses: Mutex<VecDeque<Result<Response, client::Error>>>,
    }

    impl Fake {
        pub(crate) fn new() -> Arc<Fake> {
            Arc::new(Fake::default())
        }

        /// Queues a response.
        pub(crate) fn answer(&self, status: u16, body: &str) {
            self.answer_with(status, vec![], body.as_bytes());
        }

        pub(crate) fn answer_with(&self, status: u16, headers: Vec<(&str, &str)>, body: &[u8]) {
            let headers = headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            self.responses.lock().unwrap().push_back(Ok(Response {
                status,
                headers,
                body: body.to_vec(),
            }));
        }

        pub(crate) fn fail(&self, error: client::Error) {
            self.responses.lock().unwrap().push_back(Err(error));
        }

        pub(crate) fn requests(&self) -> Vec<Request> {
            self.requests.lock().unwrap().clone()
        }

        /// (method, url) of each request.
        pub(crate) fn calls(&self) -> Vec<String> {
            self.requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect()
        }
    }

    impl Transport for Fake {
        fn send(&self, request: Request) -> Result<Response, client::Error> {
            self.requests.lock().unwrap().push(request);
            self.responses
                .lock()
                .unwrap()
                .pop_front()
                .expect("a queued response")
        }

        fn open(&self, request: Request) -> Result<StreamingResponse, client::Error> {
            let response = self.send(request)?;
            Ok(StreamingResponse {
                status: response.status,
                headers: response.headers,
                body: response.body.into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_safe_empty() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("a/b c?&=+#%"), "a%2Fb%20c%3F%26%3D%2B%23%25");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn project_ids() {
        assert_eq!(project_id("abc_def").unwrap(), "abc");
        assert_eq!(project_id("abc_def_ghi").unwrap(), "abc");
        assert!(matches!(project_id(""), Err(Error::Config(_))));
        assert!(matches!(project_id("abcdef"), Err(Error::Config(_))));
        assert!(matches!(project_id("_abc"), Err(Error::Config(_))));
    }

    #[test]
    fn origins() {
        assert_eq!(origin("database.deta.sh"), "https://database.deta.sh");
        assert_eq!(origin("http://localhost:8080/"), "http://localhost:8080");
        assert_eq!(origin(" https://x "), "https://x");
    }

    #[test]
    fn error_bodies() {
        let bad = Response {
            status: 400,
            headers: vec![],
            body: br#"{"errors":["Bad item","Key too long"]}"#.to_vec(),
        };
        assert_eq!(
            unexpected(&bad),
            Error::BadRequest(vec!["Bad item".into(), "Key too long".into()])
        );
        let odd = Response {
            status: 400,
            headers: vec![],
            body: b"nope".to_vec(),
        };
        assert_eq!(unexpected(&odd), Error::BadRequest(vec!["nope".into()]));
        let teapot = Response {
            status: 418,
            headers: vec![],
            body: br#"{"errors":["tea"]}"#.to_vec(),
        };
        assert_eq!(
            unexpected(&teapot),
            Error::Http(418, r#"{"errors":["tea"]}"#.into())
        );
        assert_eq!(unexpected(&teapot).status(), 502);
    }

    #[test]
    fn errors_answer_json() {
        let response = Error::KeyExists("a".into()).into_response();
        assert_eq!(response.status, 409);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"], "key-exists");
        assert_eq!(body["message"], r#"an item with key "a" already exists"#);
    }
}
