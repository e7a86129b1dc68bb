//! Deta Base over HTTP: routing `/items`, `/items/{key}` and `/query`, validating items (keys,
//! sizes, nesting, `__expires`), and the answers Deta gave (207 for put, 201 for insert, 409,
//! 404 `{"key":...}` for a missing get, always 200 for delete).
//!
//! It must not touch SQL (it goes through [`Store`](super::store::Store)) and must not store
//! anything from a request that fails validation: a bad put stores none of its items.

use std::collections::HashSet;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::Body;
use serde_json::{Map, Value, json};

use super::DataService;
use super::errors::{ApiError, ApiResult, json, json_bytes};
use super::item::{check_key, prepare_item};
use super::query::Query;
use super::request::{self, ApiPath, check_collection_name, collect_limited, percent_decode};
use super::store::{PageRequest, UpdateOutcome};
use super::update::UpdateOps;

/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Most items in one put.
pub const MAX_PUT_ITEMS: usize = 25;
/// Page size when a query names none.
const DEFAULT_LIMIT: usize = 1000;
/// A query page stops after scanning about this much item JSON.
const SCAN_BUDGET: usize = 1 << 20;

pub async fn handle<B>(svc: &DataService, path: &ApiPath, req: Request<B>) -> ApiResult
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    check_collection_name(&path.name, "Base")?;
    let base = path.name.as_str();
    let method = req.method().clone();
    let rest = path.rest.as_str();
    if rest == "/items" {
        return match method {
            Method::PUT => put(svc, base, body_json(req).await?).await,
            Method::POST => insert(svc, base, body_json(req).await?).await,
            _ => Err(request::method_not_allowed()),
        };
    }
    if rest == "/query" {
        return match method {
            Method::POST => query(svc, base, body_json(req).await?).await,
            _ => Err(request::method_not_allowed()),
        };
    }
    let Some(raw_key) = rest.strip_prefix("/items/") else {
        return Err(request::route_not_found());
    };
    let key = percent_decode(raw_key, false)
        .ok_or_else(|| ApiError::bad_request("invalid key encoding"))?;
    check_key(&key).map_err(ApiError::bad_request)?;
    match method {
        Method::GET => get(svc, base, &key).await,
        Method::DELETE => {
            svc.store().delete_item(base, &key).await?;
            Ok(json(StatusCode::OK, &json!({ "key": key })))
        }
        Method::PATCH => update(svc, base, &key, body_json(req).await?).await,
        _ => Err(request::method_not_allowed()),
    }
}

/// The request body as JSON, at most [`MAX_REQUEST_BYTES`].
async fn body_json<B>(req: Request<B>) -> Result<Value, ApiError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let too_large = ApiError::bad_request("request body too large: the limit is 16 MB");
    let bytes = collect_limited(&parts.headers, body, MAX_REQUEST_BYTES)
        .await
        .map_err(|e| request::body_error(e, too_large))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn put(svc: &DataService, base: &str, body: Value) -> ApiResult {
    let Some(Value::Array(items)) = body.get("items") else {
        return Err(ApiError::bad_request("body must be {\"items\": [...]}"));
    };
    if items.is_empty() || items.len() > MAX_PUT_ITEMS {
        return Err(ApiError::bad_request(format!(
            "a put takes 1 to {MAX_PUT_ITEMS} items, got {}",
            items.len()
        )));
    }
    let mut stored = Vec::with_capacity(items.len());
    let mut answered = Vec::with_capacity(items.len());
    let mut keys = HashSet::new();
    for item in items {
        let (item, value) = prepare_item(item.clone()).map_err(ApiError::bad_request)?;
        if !keys.insert(item.key.clone()) {
            return Err(ApiError::bad_request(format!(
                "duplicate key '{}'",
                item.key
            )));
        }
        stored.push(item);
        answered.push(value);
    }
    svc.store().put_items(base, stored, svc.now()).await?;
    Ok(json(
        StatusCode::MULTI_STATUS,
        &json!({ "processed": { "items": answered }, "failed": { "items": [] } }),
    ))
}

async fn insert(svc: &DataService, base: &str, body: Value) -> ApiResult {
    let Some(item) = body.get("item") else {
        return Err(ApiError::bad_request("body must be {\"item\": {...}}"));
    };
    let (item, value) = prepare_item(item.clone()).map_err(ApiError::bad_request)?;
    if !svc.store().insert_item(base, item, svc.now()).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "Key already exists"));
    }
    Ok(json(StatusCode::CREATED, &value))
}

async fn get(svc: &DataService, base: &str, key: &str) -> ApiResult {
    match svc.store().get_item(base, key, svc.now()).await? {
        Some(text) => Ok(json_bytes(StatusCode::OK, text)),
        None => Ok(json(StatusCode::NOT_FOUND, &json!({ "key": key }))),
    }
}

async fn update(svc: &DataService, base: &str, key: &str, body: Value) -> ApiResult {
    let ops = UpdateOps::parse(&body).map_err(ApiError::bad_request)?;
    let (set, delete) = (ops.echo_set.clone(), ops.echo_delete.clone());
    match svc.store().update_item(base, key, ops, svc.now()).await? {
        UpdateOutcome::Updated => Ok(json(
            StatusCode::OK,
            &json!({ "key": key, "set": set, "delete": delete }),
        )),
        UpdateOutcome::NotFound => Err(ApiError::not_found("Key not found")),
        UpdateOutcome::Invalid(msg) => Err(ApiError::bad_request(msg)),
    }
}

async fn query(svc: &DataService, base: &str, body: Value) -> ApiResult {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("body must be a JSON object"));
    };
    let limit = match body.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n.min(usize::MAX as u64) as usize,
            _ => {
                return Err(ApiError::bad_request(
                    "limit must be a number of at least 1",
                ));
            }
        },
    };
    let after = match body.get("last") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("last must be a key")),
    };
    let desc = match body.get("sort").map(|v| (v, v.as_str())) {
        None | Some((Value::Null, _)) | Some((_, Some("" | "asc"))) => false,
        Some((_, Some("desc"))) => true,
        Some(_) => return Err(ApiError::bad_request("sort must be \"asc\" or \"desc\"")),
    };
    let query =
        Query::parse(body.get("query").unwrap_or(&Value::Null)).map_err(ApiError::bad_request)?;
    let req = PageRequest {
        range: query.key_range(),
        query,
        after,
        desc,
        limit,
        scan_budget: SCAN_BUDGET,
    };
    let page = svc.store().query_page(base, req, svc.now()).await?;
    let mut paging = Map::new();
    paging.insert("size".into(), page.items.len().into());
    if let Some(last) = page.last {
        paging.insert("last".into(), last.into());
    }
    Ok(json(
        StatusCode::OK,
        &json!({ "paging": paging, "items": page.items }),
    ))
}
