//! Reading requests: splitting `/v1/{project_id}/{name}/...`, percent-decoding, query-string
//! parameters, checking Base and Drive names, and collecting small bodies under a bound.
//!
//! It must never collect a body without a bound, and only reads; it decides nothing about
//! Base or Drive semantics.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;

use super::errors::ApiError;

/// Longest Base or Drive name, in bytes.
pub const MAX_COLLECTION_NAME: usize = 128;

/// The parts of a data API path.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiPath {
    pub project_id: String,
    pub name: String,
    /// The rest of the path, raw (still percent-encoded), starting with `/` or empty.
    pub rest: String,
}

/// Splits `/v1/{project_id}/{name}{rest}`; None when the path has another shape.
pub fn split_path(path: &str) -> Option<ApiPath> {
    let tail = path.strip_prefix("/v1/")?;
    let (project, tail) = tail.split_once('/')?;
    let (name, rest) = match tail.find('/') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    Some(ApiPath {
        project_id: percent_decode(project, false)?,
        name: percent_decode(name, false)?,
        rest: rest.to_owned(),
    })
}

/// Percent-decodes `s` (and `+` as a space when `plus_is_space`); None for bad escapes or
/// text that is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded value of query parameter `name` (the first one), if present.
pub fn query_param(query: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k, true).as_deref() == Some(name) {
            return percent_decode(v, true).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("invalid encoding of parameter '{name}'"))
            });
        }
    }
    Ok(None)
}

/// Checks a Base or Drive name: 1 to 128 bytes, no `/`, `\`, `..` or control characters.
pub fn check_collection_name(name: &str, what: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.len() > MAX_COLLECTION_NAME
        || name.contains("..")
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(ApiError::bad_request(format!(
            "invalid {what} name: 1 to {MAX_COLLECTION_NAME} bytes, no '/', '\\', '..' or control characters"
        )));
    }
    Ok(())
}

/// Why a body could not be collected.
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Read(String),
}

/// Collects a body of at most `limit` bytes.
pub async fn collect_limited<B>(
    headers: &HeaderMap,
    mut body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if content_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A body-collection failure as the client's error (`too_large` names the limit).
pub fn body_error(err: BodyError, too_large: ApiError) -> ApiError {
    match err {
        BodyError::TooLarge => too_large,
        BodyError::Read(msg) => {
            ApiError::bad_request(format!("could not read the request body: {msg}"))
        }
    }
}

pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `X-API-Key` header, if it is text.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-api-key")?.to_str().ok()
}

/// Compares two keys in time independent of where they differ.
pub fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

pub fn route_not_found() -> ApiError {
    ApiError::not_found("Not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_decoding() {
        assert_eq!(
            split_path("/v1/p1/my%20base/items/a%2Fb"),
            Some(ApiPath {
                project_id: "p1".into(),
                name: "my base".into(),
                rest: "/items/a%2Fb".into()
            })
        );
        assert_eq!(split_path("/v1/p1/base").unwrap().rest, "");
        assert_eq!(split_path("/v2/p1/base"), None);
        assert_eq!(percent_decode("a+b%2B", true).as_deref(), Some("a b+"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%ff", false), None);
        assert_eq!(
            query_param(Some("name=x&prefix=&last=a%20b"), "last")
                .unwrap()
                .as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param(Some("name=x&prefix="), "prefix")
                .unwrap()
                .as_deref(),
            Some("")
        );
        assert_eq!(query_param(None, "x").unwrap(), None);
    }

    #[test]
    fn names_and_keys() {
        for bad in ["", "a/b", "..", "a..b", "a\\b", "a\0", &"x".repeat(129)] {
            assert!(check_collection_name(bad, "Base").is_err(), "{bad:?}");
        }
        assert!(check_collection_name("my-base_1.v2", "Base").is_ok());
        assert!(same_key("abc", "abc"));
        assert!(!same_key("abc", "abd"));
        assert!(!same_key("abc", "ab"));
    }
}
