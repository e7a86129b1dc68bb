//! The one way the data service answers: JSON bodies (`{"errors":[...]}` for failures, Deta's
//! shape) with the right status, and the small helpers that build response bodies.
//!
//! It owns no HTTP routing and no storage; it must never produce an empty error body and never
//! panic. Internal failures are logged here and reach the client only as a generic 500; a
//! store that is unreachable is a 503 and a store's refusal a 400 (see `store::StoreError`).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use super::DataBody;
use super::store::StoreError;

/// A failure answered to the client as `{"errors":[message]}` with `status`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn into_response(self) -> Response<DataBody> {
        json(
            self.status,
            &serde_json::json!({ "errors": [self.message] }),
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        match err.downcast_ref::<StoreError>() {
            Some(StoreError::Invalid(msg)) => return Self::bad_request(msg.clone()),
            Some(StoreError::Unavailable(msg)) => {
                tracing::warn!(error = %msg, "data service: store unavailable");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The data store is unavailable; try again shortly",
                );
            }
            None => {}
        }
        tracing::error!(error = %format!("{err:#}"), "data service: internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

/// What a handler returns: a response, or an error turned into one.
pub type ApiResult = Result<Response<DataBody>, ApiError>;

/// A body holding `bytes`, already complete.
pub fn full_body(bytes: impl Into<Bytes>) -> DataBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `value` as a JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<DataBody> {
    let text = match serde_json::to_vec(value) {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(error = %err, "data service: response not serialisable");
            return plain_internal();
        }
    };
    json_bytes(status, text)
}

fn plain_internal() -> Response<DataBody> {
    json_bytes(
        StatusCode::INTERNAL_SERVER_ERROR,
        &br#"{"errors":["Internal server error"]}"#[..],
    )
}

/// `text` (JSON already) as a response with `status`, its type and its length: a Micro's
/// client sizes its buffer by the length, as it would from a real server's answer.
pub fn json_bytes(status: StatusCode, text: impl Into<Bytes>) -> Response<DataBody> {
    let text = text.into();
    let length = HeaderValue::from(text.len());
    let mut res = Response::new(full_body(text));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, length);
    res
}

/// Turns a handler's result into the response.
pub fn respond(result: ApiResult) -> Response<DataBody> {
    result.unwrap_or_else(ApiError::into_response)
}
