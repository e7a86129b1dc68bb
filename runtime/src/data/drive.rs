//! Deta Drive over HTTP: small puts, chunked uploads (start, parts, finish, abort), ranged
//! downloads streamed chunk by chunk, listing and bulk delete, with Deta's answers; file-name
//! rules and the per-app cap on stored bytes (413 naming the cap).
//!
//! Request bodies are stored as they arrive, one chunk (1 MiB) at a time, and downloads read one
//! chunk at a time: it must never hold a whole file in memory. It must not touch SQL.

use bytes::{Bytes, BytesMut};
use futures::stream;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use rand::Rng;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, full_body, json};
use super::request::{
    self, ApiPath, check_collection_name, collect_limited, content_length, query_param,
};
use super::store::{ChunkOutcome, FileMeta, Store};
use super::{DataBody, DataService};

/// Bytes per stored chunk.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Largest small put (`POST /files`) and largest upload part.
pub const MAX_PUT_BYTES: u64 = 10 << 20;
/// Longest file name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most names in one list page and in one bulk delete.
const MAX_NAMES: usize = 1000;
/// Highest part number.
const MAX_PART: i64 = 10_000;

pub async fn handle<B>(svc: &DataService, path: &ApiPath, req: Request<B>) -> ApiResult
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    check_collection_name(&path.name, "Drive")?;
    let drive = path.name.as_str();
    let method = req.method().clone();
    let segments: Vec<&str> = path.rest.split('/').skip(1).collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["files"]) => put_small(svc, drive, req).await,
        (Method::GET, ["files"]) => list(svc, drive, req.uri().query()).await,
        (Method::DELETE, ["files"]) => delete_many(svc, drive, req).await,
        // Only the head goes on: a body need not be `Sync` to be held across a store call.
        (Method::GET, ["files", "download"]) => download(svc, drive, &req.into_parts().0).await,
        (Method::POST, ["uploads"]) => start(svc, drive, &req.into_parts().0).await,
        (Method::POST, ["uploads", id, "parts"]) => {
            let id = (*id).to_owned();
            upload_part(svc, drive, &id, req).await
        }
        (Method::PATCH, ["uploads", id]) => {
            finish_or_abort(svc, drive, id, req.uri().query(), true).await
        }
        (Method::DELETE, ["uploads", id]) => {
            finish_or_abort(svc, drive, id, req.uri().query(), false).await
        }
        (
            _,
            ["files"]
            | ["files", "download"]
            | ["uploads"]
            | ["uploads", _]
            | ["uploads", _, "parts"],
        ) => Err(request::method_not_allowed()),
        _ => Err(request::route_not_found()),
    }
}

/// Checks a file name: 1 to 1024 bytes, not starting or ending with `/`, no empty, `.` or
/// `..` segment, no control characters.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("a file name takes 1 to {MAX_NAME_BYTES} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("a file name must not contain control characters".into());
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(
            "a file name must not start or end with '/' or hold empty, '.' or '..' segments".into(),
        );
    }
    Ok(())
}

/// The `name` parameter, checked.
fn name_param(query: Option<&str>) -> Result<String, ApiError> {
    let name = query_param(query, "name")?
        .ok_or_else(|| ApiError::bad_request("missing parameter 'name'"))?;
    check_file_name(&name).map_err(ApiError::bad_request)?;
    Ok(name)
}

fn ids(svc: &DataService, drive: &str, name: &str) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("name".into(), name.into());
    map.insert("project_id".into(), svc.project_id().into());
    map.insert("drive_name".into(), drive.into());
    map
}

/// The request's content type when it says something (SDK defaults such as
/// `binary/octet-stream` do not; then the download's type is guessed from the name).
fn given_content_type(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?.trim();
    let generic = [
        "",
        "binary/octet-stream",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
    ];
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if generic.contains(&essence.as_str()) || ct.len() > 255 {
        return None;
    }
    Some(ct.to_owned())
}

fn new_upload_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn cap_error(cap: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Drive storage cap reached: this app may store at most {cap} bytes ({:.1} GB) in its Drives",
            cap as f64 / 1e9
        ),
    )
}

fn too_large(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} is larger than 10 MB; use a chunked upload with parts of at most 10 MB"),
    )
}

async fn put_small<B>(svc: &DataService, drive: &str, req: Request<B>) -> ApiResult
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let name = name_param(req.uri().query())?;
    let (parts, body) = req.into_parts();
    let id = new_upload_id();
    let store = svc.store();
    store
        .start_upload(
            &id,
            drive,
            &name,
            given_content_type(&parts.headers),
            svc.now(),
        )
        .await?;
    let size = match store_part(svc, &id, 1, &parts.headers, body, "the file").await {
        Ok(size) => size,
        Err(err) => {
            store.abort_upload(&id).await?;
            return Err(err);
        }
    };
    if !store.end_part(&id, 1, size, None).await? || !store.finish_upload(&id, svc.now()).await? {
        return Err(ApiError::not_found("Upload not found"));
    }
    Ok(json(StatusCode::CREATED, &ids(svc, drive, &name)))
}

async fn start(svc: &DataService, drive: &str, req: &Parts) -> ApiResult {
    let name = name_param(req.uri.query())?;
    let id = new_upload_id();
    svc.store()
        .start_upload(
            &id,
            drive,
            &name,
            given_content_type(&req.headers),
            svc.now(),
        )
        .await?;
    let mut answer = ids(svc, drive, &name);
    answer.insert("upload_id".into(), id.into());
    Ok(json(StatusCode::ACCEPTED, &answer))
}

/// Checks that upload `id` exists for this drive and (when given) this name.
async fn known_upload(
    svc: &DataService,
    drive: &str,
    id: &str,
    name: Option<&str>,
) -> Result<String, ApiError> {
    let meta = svc.store().upload_meta(id).await?;
    let Some(meta) = meta.filter(|m| m.drive == drive) else {
        return Err(ApiError::not_found("Upload not found"));
    };
    if name.is_some_and(|n| n != meta.name) {
        return Err(ApiError::bad_request(
            "name does not match the upload's name",
        ));
    }
    Ok(meta.name)
}

async fn upload_part<B>(svc: &DataService, drive: &str, id: &str, req: Request<B>) -> ApiResult
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let query = req.uri().query();
    let name = query_param(query, "name")?;
    let part = query_param(query, "part")?
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=MAX_PART).contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(format!("part must be a number from 1 to {MAX_PART}"))
        })?;
    let name = known_upload(svc, drive, id, name.as_deref()).await?;
    let (parts, body) = req.into_parts();
    let size = store_part(svc, id, part, &parts.headers, body, "a part").await?;
    if !svc
        .store()
        .end_part(id, part, size, given_content_type(&parts.headers))
        .await?
    {
        return Err(ApiError::not_found("Upload not found"));
    }
    let mut answer = ids(svc, drive, &name);
    answer.insert("upload_id".into(), id.into());
    answer.insert("part".into(), part.into());
    Ok(json(StatusCode::OK, &answer))
}

/// Streams `body` into chunks of part `part`; on failure nothing of the part stays stored.
async fn store_part<B>(
    svc: &DataService,
    id: &str,
    part: i64,
    headers: &HeaderMap,
    body: B,
    what: &str,
) -> Result<u64, ApiError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    if content_length(headers).is_some_and(|n| n > MAX_PUT_BYTES) {
        return Err(too_large(what));
    }
    let store = svc.store();
    store.discard_part(id, part).await?;
    let result = stream_chunks(svc, id, part, body, what).await;
    if result.is_err() {
        store.discard_part(id, part).await?;
    }
    result
}

async fn stream_chunks<B>(
    svc: &DataService,
    id: &str,
    part: i64,
    mut body: B,
    what: &str,
) -> Result<u64, ApiError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    let (mut seq, mut total) = (0i64, 0u64);
    loop {
        let frame = body.frame().await;
        let done = frame.is_none();
        if let Some(frame) = frame {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            })?;
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                if total > MAX_PUT_BYTES {
                    return Err(too_large(what));
                }
                buf.extend_from_slice(&data);
            }
        }
        while buf.len() >= CHUNK_BYTES || (done && !buf.is_empty()) {
            let n = buf.len().min(CHUNK_BYTES);
            let chunk = buf.split_to(n).freeze();
            match svc
                .store()
                .put_chunk(id, part, seq, chunk, svc.drive_cap())
                .await?
            {
                ChunkOutcome::Stored => seq += 1,
                ChunkOutcome::OverCap => return Err(cap_error(svc.drive_cap())),
                ChunkOutcome::UploadGone => return Err(ApiError::not_found("Upload not found")),
            }
        }
        if done {
            return Ok(total);
        }
    }
}

async fn finish_or_abort(
    svc: &DataService,
    drive: &str,
    id: &str,
    query: Option<&str>,
    finish: bool,
) -> ApiResult {
    let name = query_param(query, "name")?;
    let name = known_upload(svc, drive, id, name.as_deref()).await?;
    let done = if finish {
        svc.store().finish_upload(id, svc.now()).await?
    } else {
        svc.store().abort_upload(id).await?
    };
    if !done {
        return Err(ApiError::not_found("Upload not found"));
    }
    let mut answer = ids(svc, drive, &name);
    answer.insert("upload_id".into(), id.into());
    Ok(json(StatusCode::OK, &answer))
}

async fn list(svc: &DataService, drive: &str, query: Option<&str>) -> ApiResult {
    let limit = match query_param(query, "limit")?.as_deref() {
        None | Some("") => MAX_NAMES,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_NAMES),
            _ => {
                return Err(ApiError::bad_request(
                    "limit must be a number of at least 1",
                ));
            }
        },
    };
    let prefix = query_param(query, "prefix")?.unwrap_or_default();
    let last = query_param(query, "last")?.filter(|l| !l.is_empty());
    let (names, more) = svc.store().list_files(drive, &prefix, last, limit).await?;
    let mut paging = serde_json::Map::new();
    paging.insert("size".into(), names.len().into());
    if more && let Some(last) = names.last() {
        paging.insert("last".into(), last.clone().into());
    }
    Ok(json(
        StatusCode::OK,
        &json!({ "paging": paging, "names": names }),
    ))
}

async fn delete_many<B>(svc: &DataService, drive: &str, req: Request<B>) -> ApiResult
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let limit = ApiError::bad_request("request body too large");
    let bytes = collect_limited(&parts.headers, body, 4 << 20)
        .await
        .map_err(|e| request::body_error(e, limit))?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let Some(Value::Array(list)) = body.get("names") else {
        return Err(ApiError::bad_request("body must be {\"names\": [...]}"));
    };
    if list.is_empty() || list.len() > MAX_NAMES {
        return Err(ApiError::bad_request(format!(
            "names must hold 1 to {MAX_NAMES} names"
        )));
    }
    let (mut deleted, mut failed) = (Vec::new(), serde_json::Map::new());
    for name in list {
        let Value::String(name) = name else {
            return Err(ApiError::bad_request("names must be strings"));
        };
        match check_file_name(name) {
            Ok(()) => deleted.push(name.clone()),
            Err(reason) => {
                failed.insert(name.clone(), reason.into());
            }
        }
    }
    svc.store().delete_files(drive, deleted.clone()).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "deleted": deleted, "failed": failed }),
    ))
}

/// A `Range` header's meaning for a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    Full,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`; other forms (and several ranges) are
/// ignored, as RFC 9110 allows, and the whole file is sent.
pub fn parse_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match num(b) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Part(size - n.min(size), size - 1),
            None => ByteRange::Full,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return ByteRange::Full;
            };
            let end = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            match end {
                Some(end) if end >= start => {
                    if start >= size {
                        ByteRange::Unsatisfiable
                    } else {
                        ByteRange::Part(start, end.min(size - 1))
                    }
                }
                _ => ByteRange::Full,
            }
        }
        (true, true) => ByteRange::Full,
    }
}

async fn download(svc: &DataService, drive: &str, req: &Parts) -> ApiResult {
    let name = name_param(req.uri.query())?;
    let Some(meta) = svc.store().file_meta(drive, &name).await? else {
        return Err(ApiError::not_found("File not found"));
    };
    let range = req.headers.get(header::RANGE).and_then(|h| h.to_str().ok());
    let (status, first, last) = match parse_range(range, meta.size) {
        ByteRange::Full => (StatusCode::OK, 0, meta.size.checked_sub(1)),
        ByteRange::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, Some(b)),
        ByteRange::Unsatisfiable => {
            let mut res = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range not satisfiable")
                .into_response();
            set_header(
                res.headers_mut(),
                header::CONTENT_RANGE,
                format!("bytes */{}", meta.size),
            );
            return Ok(res);
        }
    };
    let length = last.map_or(0, |l| l + 1 - first);
    let content_type = meta.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&name)
            .first_or_octet_stream()
            .to_string()
    });
    let body = match last {
        Some(last) => stream_file(svc.store().clone(), &meta, first, last),
        None => full_body(Bytes::new()),
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    set_header(headers, header::CONTENT_TYPE, content_type);
    set_header(headers, header::CONTENT_LENGTH, length.to_string());
    set_header(headers, header::ACCEPT_RANGES, "bytes".to_owned());
    if status == StatusCode::PARTIAL_CONTENT {
        set_header(
            headers,
            header::CONTENT_RANGE,
            format!("bytes {first}-{}/{}", first + length - 1, meta.size),
        );
    }
    Ok(res)
}

fn set_header(headers: &mut HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// The chunks covering bytes `first..=last`, as (part, seq, skip, take).
fn plan(meta: &FileMeta, first: u64, last: u64) -> Vec<(i64, i64, usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for &(part, seq, len) in &meta.chunks {
        let (start, end) = (offset, offset + len);
        offset = end;
        if end <= first || start > last {
            continue;
        }
        let from = first.max(start);
        let to = (last + 1).min(end);
        out.push((part, seq, (from - start) as usize, (to - from) as usize));
    }
    out
}

/// A body reading the planned chunks one at a time from the store.
fn stream_file(store: Store, meta: &FileMeta, first: u64, last: u64) -> DataBody {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let blob = meta.blob.clone();
    let steps = plan(meta, first, last).into_iter();
    let frames = stream::unfold(Some((store, blob, steps)), |state| async move {
        let (store, blob, mut steps) = state?;
        let (part, seq, skip, take) = steps.next()?;
        match store.read_chunk(&blob, part, seq).await {
            Ok(Some(data)) if data.len() >= skip + take => {
                let frame: Result<Frame<Bytes>, BoxError> =
                    Ok(Frame::data(data.slice(skip..skip + take)));
                Some((frame, Some((store, blob, steps))))
            }
            Ok(_) => Some((Err("the file changed during the download".into()), None)),
            Err(err) => Some((Err(err.into()), None)),
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use ByteRange::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Part(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
    }

    #[test]
    fn file_names() {
        for ok in ["a", "a/b.txt", "dir/sub/file name.png", "x..y"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/",
            "/a",
            "a//b",
            "../a",
            "a/../b",
            "a/./b",
            "a\0b",
            &"x".repeat(1025),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plans() {
        let meta = FileMeta {
            blob: "b".into(),
            size: 25,
            content_type: None,
            chunks: vec![(1, 0, 10), (1, 1, 5), (2, 0, 10)],
        };
        assert_eq!(
            plan(&meta, 0, 24),
            vec![(1, 0, 0, 10), (1, 1, 0, 5), (2, 0, 0, 10)]
        );
        assert_eq!(plan(&meta, 12, 16), vec![(1, 1, 2, 3), (2, 0, 0, 2)]);
        assert_eq!(plan(&meta, 24, 24), vec![(2, 0, 9, 1)]);
    }
}
