//! Deta Base: a JSON document store, served to Micros by micro-wasm.
//!
//! A [`Base`] is a named collection of items (JSON objects with a string `key`). The calls
//! are those of the deta SDKs (`put`, `put_many`, `get`, `insert`, `update`, `delete`,
//! `fetch`), made over `wasi:http` to `https://database.deta.sh/v1/{project_id}/{name}` with
//! the Data Key from `DETA_PROJECT_KEY`; micro-wasm answers them itself. The host can be
//! changed with `DETA_BASE_HOST` (a host name, or a URL with its scheme) or
//! [`Base::with_host`].
//!
//! ```no_run
//! use micro_space::base::{Base, Expiry, FetchOptions, Updates};
//! use micro_space::json;
//!
//! # fn main() -> Result<(), micro_space::base::Error> {
//! let users = Base::new("users")?;
//!
//! let alice = users.put(json!({ "key": "alice", "age": 30, "tags": ["admin"] }))?;
//! let generated = users.put(json!({ "name": "no key given" }))?;
//! println!("stored under {}", generated["key"]); // 12 characters
//!
//! if let Some(item) = users.get("alice")? {
//!     println!("{}", item["age"]);
//! }
//!
//! users.update(
//!     "alice",
//!     Updates::new()
//!         .set("profile.city", "Berlin")
//!         .increment("age", 1)
//!         .append("tags", "editor")
//!         .delete("nickname"),
//! )?;
//!
//! let adults = users.fetch(json!({ "age?gte": 18 }), FetchOptions::default())?;
//! println!("{} adults on this page, more after {:?}", adults.count, adults.last);
//! let everyone = users.fetch_all(json!([]))?;
//!
//! users.put_with(json!({ "key": "session-1" }), Expiry::In(3600))?; // gone in an hour
//! users.delete("alice")?;
//! # let _ = (alice, everyone);
//! # Ok(())
//! # }
//! ```
//!
//! Queries are what the deta SDKs take: an object of conditions (ANDed), or a list of them
//! (ORed); suffixes on the field name pick the operator (`age?gt`, `name?pfx`, `tags?contains`,
//! `n?r` for a range `[a, b]`, `x?ne`); dotted paths reach nested fields.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Method;
use crate::client::Request;
use crate::deta::{Service, encode, json_body, unexpected};

pub use crate::deta::Error;

/// The field that holds an item's expiry time (Unix seconds).
pub const EXPIRES_FIELD: &str = "__expires";
/// The most items one `put_many` takes.
pub const PUT_MANY_MAX: usize = 25;
/// The page size the SDKs ask `fetch` for when none is given.
pub const DEFAULT_FETCH_LIMIT: u32 = 1000;

/// The host used unless `DETA_BASE_HOST` or [`Base::with_host`] says otherwise.
pub const DEFAULT_HOST: &str = "database.deta.sh";
/// The variable that overrides the host, as in the deta SDKs.
pub const HOST_VAR: &str = "DETA_BASE_HOST";

/// A handle on one Base. Cheap to clone; making one sends nothing.
#[derive(Debug, Clone)]
pub struct Base {
    service: Service,
}

/// When an item expires: `__expires` is set to a Unix time, after which `get` and `fetch`
/// no longer return the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This many seconds from now.
    In(u64),
    /// At this Unix time (seconds).
    At(u64),
}

impl Expiry {
    /// The Unix time this expiry stands for, `now` being the current Unix time.
    pub fn unix_time(self, now: u64) -> u64 {
        match self {
            Expiry::In(seconds) => now.saturating_add(seconds),
            Expiry::At(at) => at,
        }
    }
}

/// An update: what `update` sets, increments, appends, prepends and deletes, by field path
/// (`"profile.age"` reaches into nested objects).
///
/// ```
/// use micro_space::base::Updates;
/// use micro_space::json;
///
/// let updates = Updates::new()
///     .set("profile.age", 33)
///     .set("active", true)
///     .increment("visits", 1)
///     .append("tags", "new")            // a single value is sent as a list: ["new"]
///     .prepend("log", json!(["a", "b"]))
///     .delete("nickname");
/// assert_eq!(
///     updates.body(None),
///     json!({
///         "set": { "profile.age": 33, "active": true },
///         "increment": { "visits": 1 },
///         "append": { "tags": ["new"] },
///         "prepend": { "log": ["a", "b"] },
///         "delete": ["nickname"]
///     })
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Updates {
    set: Map<String, Value>,
    increment: Map<String, Value>,
    append: Map<String, Value>,
    prepend: Map<String, Value>,
    delete: Vec<String>,
    expiry: Option<Expiry>,
}

impl Updates {
    /// No changes (still a valid update: the SDKs send the five empty fields).
    pub fn new() -> Self {
        Updates::default()
    }

    /// Sets a field to a value.
    pub fn set(mut self, path: &str, value: impl Into<Value>) -> Self {
        self.set.insert(path.to_string(), value.into());
        self
    }

    /// Adds a number to a field (a negative one subtracts).
    pub fn increment(mut self, path: &str, by: impl Into<Value>) -> Self {
        self.increment.insert(path.to_string(), by.into());
        self
    }

    /// Appends to a list field: a list's elements, or a single value.
    pub fn append(mut self, path: &str, value: impl Into<Value>) -> Self {
        self.append.insert(path.to_string(), as_list(value.into()));
        self
    }

    /// Prepends to a list field: a list's elements, or a single value.
    pub fn prepend(mut self, path: &str, value: impl Into<Value>) -> Self {
        self.prepend.insert(path.to_string(), as_list(value.into()));
        self
    }

    /// Removes a field (the SDKs' `util.trim()`).
    pub fn delete(mut self, path: &str) -> Self {
        self.delete.push(path.to_string());
        self
    }

    /// Makes the item expire (`__expires`, sent inside `set` as the SDKs do). Updating an
    /// item without this leaves its expiry as it was.
    pub fn expire(mut self, expiry: Expiry) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// `expire(Expiry::In(seconds))`.
    pub fn expire_in(self, seconds: u64) -> Self {
        self.expire(Expiry::In(seconds))
    }

    /// `expire(Expiry::At(unix_time))`.
    pub fn expire_at(self, unix_time: u64) -> Self {
        self.expire(Expiry::At(unix_time))
    }

    /// The `PATCH` body as a JSON value: all five fields, always; `now` (Unix seconds, the
    /// clock if `None`) resolves an [`Expiry::In`]. (On the wire the fields come in the SDKs'
    /// order: `set`, `increment`, `append`, `prepend`, `delete`.)
    pub fn body(&self, now: Option<u64>) -> Value {
        serde_json::to_value(self.wire(now)).expect("maps of JSON values serialise")
    }

    fn wire(&self, now: Option<u64>) -> UpdateBody<'_> {
        let mut set = self.set.clone();
        if let Some(expiry) = self.expiry {
            let at = expiry.unix_time(now.unwrap_or_else(unix_now));
            set.insert(EXPIRES_FIELD.into(), at.into());
        }
        UpdateBody {
            set,
            increment: &self.increment,
            append: &self.append,
            prepend: &self.prepend,
            delete: &self.delete,
        }
    }
}

/// An update as sent. A struct keeps the fields in order (serde_json's `Map` sorts its keys).
#[derive(Serialize)]
struct UpdateBody<'a> {
    set: Map<String, Value>,
    increment: &'a Map<String, Value>,
    append: &'a Map<String, Value>,
    prepend: &'a Map<String, Value>,
    delete: &'a [String],
}

fn as_list(value: Value) -> Value {
    match value {
        Value::Array(_) => value,
        other => Value::Array(vec![other]),
    }
}

/// What `fetch` takes besides the query.
///
/// ```
/// use micro_space::base::FetchOptions;
///
/// let newest_first = FetchOptions { limit: Some(10), desc: true, ..FetchOptions::default() };
/// let next = FetchOptions::default().after("key-of-the-last-item");
/// # let _ = (newest_first, next);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// The most items on a page; [`DEFAULT_FETCH_LIMIT`] if `None`.
    pub limit: Option<u32>,
    /// Continue after this key: a previous page's [`Page::last`].
    pub last: Option<String>,
    /// Descending key order.
    pub desc: bool,
}

impl FetchOptions {
    /// Sets [`limit`](FetchOptions::limit).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets [`last`](FetchOptions::last).
    pub fn after(mut self, last: impl Into<String>) -> Self {
        self.last = Some(last.into());
        self
    }

    /// Sets [`desc`](FetchOptions::desc).
    pub fn desc(mut self, desc: bool) -> Self {
        self.desc = desc;
        self
    }
}

/// One page of `fetch` results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Value>,
    /// How many items are on this page.
    pub count: usize,
    /// Where the next page starts (pass it as [`FetchOptions::last`]); `None` on the last
    /// page. A page may be empty and still have a `last`: the service stops a page after
    /// scanning about 1 MB, before filtering.
    pub last: Option<String>,
}

impl Page {
    /// The items deserialised into `T`.
    pub fn items_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        self.items
            .iter()
            .map(|item| {
                T::deserialize(item)
                    .map_err(|e| Error::Response(format!("an item is not the type expected: {e}")))
            })
            .collect()
    }
}

/// What `put_many` stored: the items as stored (keys included), and any the service did not
/// store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutMany {
    pub processed: Vec<Value>,
    pub failed: Vec<Value>,
}

impl Base {
    /// The Base `name`, with the Data Key from `DETA_PROJECT_KEY`. Fails with
    /// [`Error::Config`] if the variable is unset or not `<project_id>_<secret>`.
    pub fn new(name: &str) -> Result<Base, Error> {
        Ok(Base {
            service: Service::new("Base", name, None, HOST_VAR, DEFAULT_HOST)?,
        })
    }

    /// The Base `name` with an explicit Data Key.
    pub fn with_key(name: &str, key: &str) -> Result<Base, Error> {
        Ok(Base {
            service: Service::new("Base", name, Some(key), HOST_VAR, DEFAULT_HOST)?,
        })
    }

    /// Talks to another host: a host name (`https` is used) or `http(s)://host[:port]`.
    pub fn with_host(mut self, host: &str) -> Base {
        self.service.set_host(host);
        self
    }

    /// The Base's name.
    pub fn name(&self) -> &str {
        self.service.name()
    }

    /// Stores an item, replacing any with the same key, and returns it as stored (with the
    /// generated 12-character `key` if it had none). An item that is not a JSON object is
    /// stored as `{"value": item}`, as the SDKs do.
    pub fn put(&self, item: impl Serialize) -> Result<Value, Error> {
        self.put_inner(item, None)
    }

    /// [`put`](Base::put) with an expiry (`__expires`).
    pub fn put_with(&self, item: impl Serialize, expiry: Expiry) -> Result<Value, Error> {
        self.put_inner(item, Some(expiry))
    }

    fn put_inner(&self, item: impl Serialize, expiry: Option<Expiry>) -> Result<Value, Error> {
        let item = item_value(item, expiry, None)?;
        let response = self.service.send(self.put_request(vec![item])?)?;
        let mut stored = parse_put(&response)?;
        match stored.processed.pop() {
            Some(item) if stored.processed.is_empty() => Ok(item),
            _ => Err(Error::Response(format!(
                "the item was not stored: {}",
                Value::from(stored.failed)
            ))),
        }
    }

    /// Stores up to [`PUT_MANY_MAX`] items in one request (each as [`put`](Base::put) would).
    pub fn put_many<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<PutMany, Error> {
        self.put_many_inner(items, None)
    }

    /// [`put_many`](Base::put_many) with the same expiry for every item.
    pub fn put_many_with<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        expiry: Expiry,
    ) -> Result<PutMany, Error> {
        self.put_many_inner(items, Some(expiry))
    }

    fn put_many_inner<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        expiry: Option<Expiry>,
    ) -> Result<PutMany, Error> {
        let now = unix_now();
        let items = items
            .into_iter()
            .map(|item| item_value(item, expiry, Some(now)))
            .collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() || items.len() > PUT_MANY_MAX {
            return Err(Error::Invalid(format!(
                "put_many takes 1 to {PUT_MANY_MAX} items, not {}",
                items.len()
            )));
        }
        let response = self.service.send(self.put_request(items)?)?;
        parse_put(&response)
    }

    /// The item with this key, or `None`.
    pub fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        let response = self.service.send(self.get_request(key)?)?;
        match response.status {
            200 => json_body(&response).map(Some),
            404 => Ok(None),
            _ => Err(unexpected(&response)),
        }
    }

    /// [`get`](Base::get), deserialised into `T`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?
            .map(|item| {
                serde_json::from_value(item)
                    .map_err(|e| Error::Response(format!("the item is not the type expected: {e}")))
            })
            .transpose()
    }

    /// Stores an item only if no item has its key: [`Error::KeyExists`] otherwise. Returns
    /// the item as stored.
    pub fn insert(&self, item: impl Serialize) -> Result<Value, Error> {
        self.insert_inner(item, None)
    }

    /// [`insert`](Base::insert) with an expiry.
    pub fn insert_with(&self, item: impl Serialize, expiry: Expiry) -> Result<Value, Error> {
        self.insert_inner(item, Some(expiry))
    }

    fn insert_inner(&self, item: impl Serialize, expiry: Option<Expiry>) -> Result<Value, Error> {
        let item = item_value(item, expiry, None)?;
        let key = item
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let response = self.service.send(self.insert_request(item)?)?;
        match response.status {
            200 | 201 => json_body(&response),
            409 => Err(Error::KeyExists(key)),
            _ => Err(unexpected(&response)),
        }
    }

    /// Changes fields of the item with this key. An absent key is an error (`Http(404, ..)`
    /// with Deta's `{"errors":["Key not found"]}`).
    pub fn update(&self, key: &str, updates: Updates) -> Result<(), Error> {
        let response = self
            .service
            .send(self.update_request(key, &updates, None)?)?;
        match response.status {
            200 => Ok(()),
            _ => Err(unexpected(&response)),
        }
    }

    /// Deletes the item with this key; deleting an absent key succeeds too.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        let response = self.service.send(self.delete_request(key)?)?;
        match response.status {
            200 | 204 => Ok(()),
            _ => Err(unexpected(&response)),
        }
    }

    /// One page of the items matching `query`: an object of conditions, a list of them
    /// (ORed), or `null` / `[]` for every item. Items come in key order.
    pub fn fetch(&self, query: impl Serialize, options: FetchOptions) -> Result<Page, Error> {
        let query = query_list(query)?;
        let response = self.service.send(self.fetch_request(&query, &options)?)?;
        parse_page(&response)
    }

    /// Every item matching `query`, following `last` from page to page.
    pub fn fetch_all(&self, query: impl Serialize) -> Result<Vec<Value>, Error> {
        let query = query_list(query)?;
        let mut options = FetchOptions::default();
        let mut items = Vec::new();
        loop {
            let response = self.service.send(self.fetch_request(&query, &options)?)?;
            let page = parse_page(&response)?;
            items.extend(page.items);
            match page.last {
                Some(last) if options.last.as_deref() != Some(last.as_str()) => {
                    options.last = Some(last);
                }
                _ => return Ok(items),
            }
        }
    }

    // The requests, as the deta SDKs make them.

    fn put_request(&self, items: Vec<Value>) -> Result<Request, Error> {
        self.service.json_request(
            Method::Put,
            "/items",
            &serde_json::json!({ "items": items }),
        )
    }

    fn get_request(&self, key: &str) -> Result<Request, Error> {
        Ok(self.service.request(Method::Get, &item_path(key)?))
    }

    fn insert_request(&self, item: Value) -> Result<Request, Error> {
        self.service
            .json_request(Method::Post, "/items", &serde_json::json!({ "item": item }))
    }

    fn update_request(
        &self,
        key: &str,
        updates: &Updates,
        now: Option<u64>,
    ) -> Result<Request, Error> {
        self.service
            .json_request(Method::Patch, &item_path(key)?, &updates.wire(now))
    }

    fn delete_request(&self, key: &str) -> Result<Request, Error> {
        Ok(self.service.request(Method::Delete, &item_path(key)?))
    }

    fn fetch_request(&self, query: &[Value], options: &FetchOptions) -> Result<Request, Error> {
        self.service
            .json_request(Method::Post, "/query", &fetch_body(query, options))
    }
}

/// `/items/{key}`, the key percent-encoded (`/` too).
fn item_path(key: &str) -> Result<String, Error> {
    if key.is_empty() {
        return Err(Error::Invalid("key is empty".into()));
    }
    Ok(format!("/items/{}", encode(key)))
}

/// An item as sent: an object as is, anything else as `{"value": item}`; with `__expires`
/// when it expires.
fn item_value(
    item: impl Serialize,
    expiry: Option<Expiry>,
    now: Option<u64>,
) -> Result<Value, Error> {
    let value = serde_json::to_value(item)
        .map_err(|e| Error::Invalid(format!("cannot serialise the item as JSON: {e}")))?;
    let mut object = match value {
        Value::Object(object) => object,
        other => {
            let mut object = Map::new();
            object.insert("value".into(), other);
            object
        }
    };
    if let Some(expiry) = expiry {
        let at = expiry.unix_time(now.unwrap_or_else(unix_now));
        object.insert(EXPIRES_FIELD.into(), at.into());
    }
    Ok(Value::Object(object))
}

/// A query as a list of condition objects.
fn query_list(query: impl Serialize) -> Result<Vec<Value>, Error> {
    match serde_json::to_value(query)
        .map_err(|e| Error::Invalid(format!("cannot serialise the query as JSON: {e}")))?
    {
        Value::Null => Ok(Vec::new()),
        Value::Array(list) => Ok(list),
        object @ Value::Object(_) => Ok(vec![object]),
        other => Err(Error::Invalid(format!(
            "a query is an object or a list of objects, not {other}"
        ))),
    }
}

/// The `/query` body as deta-python sends it: `limit`, `last` (`null` for the first page),
/// `sort` (`""` or `"desc"`), and `query` when there is one. Fields in this order.
#[derive(Serialize)]
struct FetchBody<'a> {
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    query: &'a [Value],
    limit: u32,
    last: Option<&'a str>,
    sort: &'static str,
}

fn fetch_body<'a>(query: &'a [Value], options: &'a FetchOptions) -> FetchBody<'a> {
    FetchBody {
        query,
        limit: options.limit.unwrap_or(DEFAULT_FETCH_LIMIT),
        last: options.last.as_deref(),
        sort: if options.desc { "desc" } else { "" },
    }
}

/// `207 {"processed":{"items":[...]},"failed":{"items":[...]}}`.
fn parse_put(response: &crate::client::Response) -> Result<PutMany, Error> {
    if !matches!(response.status, 200 | 201 | 207) {
        return Err(unexpected(response));
    }
    #[derive(Deserialize, Default)]
    struct Items {
        #[serde(default)]
        items: Vec<Value>,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        processed: Items,
        #[serde(default)]
        failed: Items,
    }
    let body: Body = json_body(response)?;
    Ok(PutMany {
        processed: body.processed.items,
        failed: body.failed.items,
    })
}

/// `200 {"paging":{"size":N,"last":"key"},"items":[...]}`.
fn parse_page(response: &crate::client::Response) -> Result<Page, Error> {
    if response.status != 200 {
        return Err(unexpected(response));
    }
    #[derive(Deserialize, Default)]
    struct Paging {
        size: Option<usize>,
        last: Option<String>,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        paging: Paging,
        #[serde(default)]
        items: Vec<Value>,
    }
    let body: Body = json_body(response)?;
    Ok(Page {
        count: body.paging.size.unwrap_or(body.items.len()),
        last: body.paging.last.filter(|last| !last.is_empty()),
        items: body.items,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
