//! One delivery of an action event to its Micro: `POST /__space/v0/actions` with the event
//! JSON, under the Micro's normal limits and lifecycle, the whole response read (SPEC §6).
//!
//! It must not decide when a run happens nor record its result: that is the driver's.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};

use crate::micro::Micro;
use crate::micro::invoke::invoke;
use crate::transport::{ErrorKind, HttpError};

/// Where, relative to the Micro's root, action events are POSTed.
pub const ACTIONS_PATH: &str = "/__space/v0/actions";

/// The event body for action `id`: `{"event":{"id":"<id>","trigger":"schedule"}}`.
pub fn event_body(id: &str) -> Bytes {
    let event = serde_json::json!({"event": {"id": id, "trigger": "schedule"}});
    Bytes::from(event.to_string())
}

/// How one delivery of an action event ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The Micro's status, or the runtime's error status (504 timeout, 502 trap, 503 busy…).
    pub status: u16,
    /// The Micro's response body, or the runtime's JSON error.
    pub body: Bytes,
    /// Why the run failed; `None` when it succeeded.
    pub error: Option<String>,
}

impl Delivery {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub(crate) fn from_error(e: &HttpError) -> Delivery {
        let response = e.to_response::<Bytes>();
        Delivery {
            status: response.status().as_u16(),
            body: response.into_body(),
            error: Some(e.to_string()),
        }
    }
}

/// Sends action `action_id`'s event to `micro` once, under the Micro's normal limits and
/// lifecycle, and reads the whole response. `authority` is the app's hostname (the request's
/// `Host`).
pub async fn deliver(micro: &Arc<Micro>, action_id: &str, authority: &str) -> Delivery {
    let name = micro.name.as_str();
    let body = event_body(action_id);
    let uri: Uri = format!("http://{authority}{ACTIONS_PATH}")
        .parse()
        .unwrap_or_else(|_| Uri::from_static("http://localhost/__space/v0/actions"));
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "localhost".into());
    let req = Request::post(uri)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .expect("an action request is valid");
    let Some(busy) = micro.try_begin() else {
        return Delivery::from_error(&HttpError::new(
            ErrorKind::Busy,
            Some(name),
            format!(
                "micro is at its concurrency limit of {} (S8)",
                micro.limits.concurrency
            ),
        ));
    };
    let response = match invoke(micro, busy, req).await.result {
        Ok(response) => response,
        Err(e) => return Delivery::from_error(&e),
    };
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    // The guest task's own timeout ends a stalled body; this only guards against a bug there.
    let bound = micro.limits.timeout + Duration::from_secs(1);
    match tokio::time::timeout(bound, body.collect()).await {
        Ok(Ok(collected)) => Delivery {
            status,
            body: collected.to_bytes(),
            error: (status >= 400).then(|| format!("micro {name} answered {status}")),
        },
        Ok(Err(e)) => Delivery {
            status: ErrorKind::Trap.status().as_u16(),
            body: Bytes::new(),
            error: Some(format!("micro {name}: response body failed: {e}")),
        },
        Err(_) => Delivery {
            status: ErrorKind::Timeout.status().as_u16(),
            body: Bytes::new(),
            error: Some(format!("micro {name}: response body did not finish")),
        },
    }
}
