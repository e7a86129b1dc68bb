//! The one JSON error helper every error response comes from (SPEC §4 "Errors"): the kinds,
//! their status codes, and the body `{"error": "<kind>", "micro": "<name>" | null,
//! "message": "..."}`. It serves S5 (504), S6 and S9 (502, 413), S8 (503 with
//! `Retry-After`), S18 (501), the auth failure (401), a runtime endpoint asked from another
//! machine without auth (403) and a malformed or oversized request head (400, 431).
//!
//! The body says what happened in a short message; what only the operator should read (a
//! trap's wasm backtrace, host paths) goes in [`HttpError::detail`], which the caller logs and
//! no response ever carries.
//!
//! It only builds responses: it must not log (the caller logs each error with the Micro's
//! name) and must never produce HTML or any other body shape.

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};

/// What went wrong, which decides the status code and the `error` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The invocation ran past its timeout (S5): 504.
    Timeout,
    /// The guest trapped: 502.
    Trap,
    /// The guest hit its memory limit (S6): 502.
    MemoryLimit,
    /// The guest's response body crossed the payload limit (S9): 502.
    ResponseTooLarge,
    /// The request body crosses the payload limit (S9): 413.
    RequestTooLarge,
    /// The Micro is at its concurrency limit (S8): 503 with `Retry-After`.
    Busy,
    /// The request asks for a protocol upgrade (S18): 501.
    UpgradeRequired,
    /// No such route: 404.
    NotFound,
    /// Malformed request: 400.
    BadRequest,
    /// The request head is over the runtime's size or header-count limit: 431.
    HeadersTooLarge,
    /// Missing or wrong `X-Space-App-Key`: 401.
    Unauthorized,
    /// A runtime endpoint that answers only clients on this machine, asked from elsewhere: 403.
    Forbidden,
    /// Anything else: 500.
    Internal,
    /// The runtime is shutting down: 503 with `Retry-After`.
    Unavailable,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Timeout,
        ErrorKind::Trap,
        ErrorKind::MemoryLimit,
        ErrorKind::ResponseTooLarge,
        ErrorKind::RequestTooLarge,
        ErrorKind::Busy,
        ErrorKind::UpgradeRequired,
        ErrorKind::NotFound,
        ErrorKind::BadRequest,
        ErrorKind::HeadersTooLarge,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Internal,
        ErrorKind::Unavailable,
    ];

    /// The response status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Trap | ErrorKind::MemoryLimit | ErrorKind::ResponseTooLarge => {
                StatusCode::BAD_GATEWAY
            }
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Busy | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::UpgradeRequired => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` field of the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Trap => "trap",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::Busy => "busy",
            ErrorKind::UpgradeRequired => "upgrade_not_supported",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
        }
    }

    /// Seconds a client should wait before retrying, for the kinds that send `Retry-After`.
    fn retry_after(self) -> Option<u32> {
        matches!(self, ErrorKind::Busy | ErrorKind::Unavailable).then_some(1)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct HttpError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The Micro the request was for, when one was chosen.
    pub micro: Option<String>,
    /// A lowercase sentence without a final period, such as `"request body exceeds 5500000 bytes"`.
    pub message: String,
    /// What the log gets besides `message` and a client must not: a trap's wasm backtrace,
    /// an instantiation error naming host paths. Never part of a response.
    pub detail: Option<String>,
}

impl HttpError {
    /// An error of `kind` for `micro` (if the request got that far).
    pub fn new(kind: ErrorKind, micro: Option<&str>, message: impl Into<String>) -> Self {
        HttpError {
            kind,
            micro: micro.map(str::to_string),
            message: message.into(),
            detail: None,
        }
    }

    /// The same error, with `detail` for the log only.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same error, attributed to `micro`.
    pub fn with_micro(mut self, micro: &str) -> Self {
        self.micro = Some(micro.to_string());
        self
    }

    /// The JSON body, as sent.
    fn body(&self) -> Bytes {
        let body = serde_json::json!({
            "error": self.kind.as_str(),
            "micro": self.micro,
            "message": self.message,
        });
        Bytes::from(body.to_string())
    }

    /// The response: the kind's status, `Content-Type: application/json`, `Retry-After` for
    /// 503s, and the JSON body.
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.kind.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.micro {
            Some(micro) => write!(f, "{} in micro {micro}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(response: &Response<Bytes>) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn errors_status_table() {
        let expected = [
            (ErrorKind::Timeout, 504, "timeout"),
            (ErrorKind::Trap, 502, "trap"),
            (ErrorKind::MemoryLimit, 502, "memory_limit"),
            (ErrorKind::ResponseTooLarge, 502, "response_too_large"),
            (ErrorKind::RequestTooLarge, 413, "request_too_large"),
            (ErrorKind::Busy, 503, "busy"),
            (ErrorKind::UpgradeRequired, 501, "upgrade_not_supported"),
            (ErrorKind::NotFound, 404, "not_found"),
            (ErrorKind::BadRequest, 400, "bad_request"),
            (ErrorKind::HeadersTooLarge, 431, "headers_too_large"),
            (ErrorKind::Unauthorized, 401, "unauthorized"),
            (ErrorKind::Forbidden, 403, "forbidden"),
            (ErrorKind::Internal, 500, "internal"),
            (ErrorKind::Unavailable, 503, "unavailable"),
        ];
        assert_eq!(expected.len(), ErrorKind::ALL.len());
        for ((kind, status, name), listed) in expected.into_iter().zip(ErrorKind::ALL) {
            assert_eq!(kind, listed);
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
        }
    }

    #[test]
    fn s5_timeout_is_504_json() {
        let response: Response<Bytes> = HttpError::new(
            ErrorKind::Timeout,
            Some("api"),
            "request took longer than 20s",
        )
        .to_response();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            json(&response),
            serde_json::json!({
                "error": "timeout",
                "micro": "api",
                "message": "request took longer than 20s",
            })
        );
    }

    #[test]
    fn errors_without_micro_have_null_micro() {
        let response: Response<Bytes> =
            HttpError::new(ErrorKind::NotFound, None, "no such route /x").to_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = json(&response);
        assert_eq!(body["micro"], serde_json::Value::Null);
        assert_eq!(body["error"], "not_found");
        assert_eq!(body["message"], "no such route /x");
        assert_eq!(body.as_object().unwrap().len(), 3);
    }

    #[test]
    fn s8_busy_and_unavailable_send_retry_after() {
        for kind in [ErrorKind::Busy, ErrorKind::Unavailable] {
            let response: Response<Bytes> = HttpError::new(kind, Some("api"), "x").to_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[RETRY_AFTER], "1");
        }
    }

    #[test]
    fn errors_retry_after_only_for_503() {
        for kind in ErrorKind::ALL {
            let response: Response<Bytes> = HttpError::new(kind, None, "x").to_response();
            assert_eq!(
                response.headers().contains_key(RETRY_AFTER),
                kind.status() == StatusCode::SERVICE_UNAVAILABLE,
                "{kind:?}"
            );
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(json(&response)["error"], kind.as_str());
        }
    }

    #[test]
    fn s18_upgrade_is_501() {
        let response: Response<Bytes> = HttpError::new(
            ErrorKind::UpgradeRequired,
            Some("api"),
            "protocol upgrades (websockets) are not supported",
        )
        .to_response();
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(json(&response)["error"], "upgrade_not_supported");
    }

    #[test]
    fn errors_message_is_json_escaped() {
        let message = "bad \"quote\" \\ and\nnewline </script>";
        let response: Response<Bytes> =
            HttpError::new(ErrorKind::BadRequest, Some("a\"b"), message).to_response();
        let body = json(&response);
        assert_eq!(body["message"], message);
        assert_eq!(body["micro"], "a\"b");
    }

    #[test]
    fn errors_detail_is_never_in_the_body() {
        let detail = "error while executing at wasm backtrace: 0x1f - /tmp/app/api.wasm!main";
        let response: Response<Bytes> =
            HttpError::new(ErrorKind::Trap, Some("api"), "guest trapped")
                .with_detail(detail)
                .to_response();
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(
            !body.contains("backtrace") && !body.contains("/tmp/"),
            "{body}"
        );
        assert_eq!(json(&response)["message"], "guest trapped");
    }

    #[test]
    fn errors_response_body_type_is_generic() {
        let response: Response<Vec<u8>> =
            HttpError::new(ErrorKind::Internal, None, "boom").to_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["message"], "boom");
    }

    #[test]
    fn errors_display_names_kind_micro_and_message() {
        let with_micro = HttpError::new(ErrorKind::Trap, Some("api"), "unreachable executed");
        assert_eq!(
            with_micro.to_string(),
            "trap in micro api: unreachable executed"
        );
        let without = HttpError::new(ErrorKind::BadRequest, None, "malformed header");
        assert_eq!(without.to_string(), "bad_request: malformed header");
        let as_error: &dyn std::error::Error = &without;
        assert!(as_error.source().is_none());
    }
}
