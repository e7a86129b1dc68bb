//! Read-only SQLite databases deployed with the Micro's code: micro-wasm's
//! `micro:space/sqlite@0.1.0` import (`wit/space.wit`, seed rule S15).
//!
//! A database is a file in the Micro's code dir, which the Micro sees as `/app`; open it by
//! a path relative to `/app` (`quotes.db`) or absolute under it (`/app/quotes.db`). No
//! statement can write it, attach another file or load an extension: such a query fails with
//! [`Error::ReadOnly`]. Queries are bounded by the Micro's timeout and memory limit.
//!
//! ```no_run
//! use micro_space::sqlite::{Connection, Error, Value};
//!
//! let db = Connection::open("quotes.db")?;
//! let rows = db.query("SELECT id, author, text FROM quotes WHERE id = ?", &[Value::Integer(2)])?;
//! for row in &rows {
//!     let id = row.get_i64("id").unwrap_or_default();
//!     let author = row.get_str("author").unwrap_or("?");
//!     println!("{id}: {author}");
//! }
//! // Rows serialise as JSON objects, columns in order: [{"id":2,"author":"...","text":"..."}]
//! let json = micro_space::serde_json::to_string(&rows).unwrap();
//!
//! match db.query("INSERT INTO quotes (author, text) VALUES (?, ?)", &["me".into(), "hi".into()]) {
//!     Err(Error::ReadOnly(message)) => println!("refused: {message}"),
//!     other => println!("{other:?}"),
//! }
//! # Ok::<(), Error>(())
//! ```
//!
//! This module is the only part of the SDK that imports `micro:space/sqlite`: a component
//! that never calls it does not import it, and runs on any `wasi:http/proxy` host.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::{IntoResponse, Response};

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "micro:space/imports",
    });
}

use bindings::micro::space::sqlite as wit;

/// A value bound to a `?` parameter or read from a column: one of SQLite's storage classes.
///
/// Rust values convert with `into()`: integers, `f64`, `bool` (0 or 1), `&str` and `String`,
/// byte vectors and slices, and `Option`s of these (`None` is `NULL`).
///
/// ```
/// use micro_space::sqlite::Value;
///
/// let params: [Value; 4] = [7.into(), "Ada".into(), 1.5.into(), None::<i64>.into()];
/// assert_eq!(params[0], Value::Integer(7));
/// assert_eq!(params[1].as_str(), Some("Ada"));
/// assert_eq!(params[2].as_f64(), Some(1.5));
/// assert!(params[3].is_null());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The integer, if this is an `INTEGER`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if this is a `REAL` or an `INTEGER`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(r) => Some(*r),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text, if this is `TEXT`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The bytes, if this is a `BLOB`.
    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }
}

macro_rules! integer_into_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self {
                Value::Integer(i.into())
            }
        }
    )*};
}
integer_into_value!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<f64> for Value {
    fn from(r: f64) -> Self {
        Value::Real(r)
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Self {
        Value::Text(t.to_string())
    }
}

impl From<String> for Value {
    fn from(t: String) -> Self {
        Value::Text(t)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Blob(b.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Blob(b)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// As JSON: `null`, a number, a string, or (a blob) an array of bytes.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Real(r) => serializer.serialize_f64(*r),
            Value::Text(t) => serializer.serialize_str(t),
            Value::Blob(b) => b.serialize(serializer),
        }
    }
}

impl From<Value> for wit::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => wit::Value::Null,
            Value::Integer(i) => wit::Value::Integer(i),
            Value::Real(r) => wit::Value::Real(r),
            Value::Text(t) => wit::Value::Text(t),
            Value::Blob(b) => wit::Value::Blob(b),
        }
    }
}

impl From<wit::Value> for Value {
    fn from(value: wit::Value) -> Self {
        match value {
            wit::Value::Null => Value::Null,
            wit::Value::Integer(i) => Value::Integer(i),
            wit::Value::Real(r) => Value::Real(r),
            wit::Value::Text(t) => Value::Text(t),
            wit::Value::Blob(b) => Value::Blob(b),
        }
    }
}

/// Why opening a database or running a query failed: the WIT `error` cases, each with the
/// runtime's message (which names the path, the statement or the limit).
///
/// As a handler's error ([`IntoResponse`]) it answers
/// `{"error": "<kind>", "message": "<message>"}` with [`status`](Error::status).
///
/// Non-exhaustive: a later `micro:space` may add cases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No database file at that path inside `/app`, or the file is not a database.
    NotFound(String),
    /// The path leads outside `/app` (`..`, an absolute path elsewhere, a symlink).
    AccessDenied(String),
    /// The statement would write, attach a file, or load an extension.
    ReadOnly(String),
    /// SQLite rejected the statement or its parameters.
    InvalidQuery(String),
    /// The result would exceed the Micro's memory limit.
    TooLarge(String),
    /// The query ran past the invocation's deadline (the Micro's timeout).
    Timeout(String),
}

impl Error {
    /// The case's WIT name: `"not-found"`, `"access-denied"`, `"read-only"`,
    /// `"invalid-query"`, `"too-large"` or `"timeout"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::AccessDenied(_) => "access-denied",
            Error::ReadOnly(_) => "read-only",
            Error::InvalidQuery(_) => "invalid-query",
            Error::TooLarge(_) => "too-large",
            Error::Timeout(_) => "timeout",
        }
    }

    /// The runtime's message.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::AccessDenied(m)
            | Error::ReadOnly(m)
            | Error::InvalidQuery(m)
            | Error::TooLarge(m)
            | Error::Timeout(m) => m,
        }
    }

    /// The HTTP status it answers as a handler's error: 403 for [`ReadOnly`](Error::ReadOnly)
    /// (the client asked for a write), 504 for [`Timeout`](Error::Timeout), 500 otherwise
    /// (a missing database or a bad query is the Micro's fault, not the client's).
    pub fn status(&self) -> u16 {
        match self {
            Error::ReadOnly(_) => 403,
            Error::Timeout(_) => 504,
            _ => 500,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::NotFound(_) => "database not found",
            Error::AccessDenied(_) => "database access denied",
            Error::ReadOnly(_) => "database is read-only",
            Error::InvalidQuery(_) => "invalid query",
            Error::TooLarge(_) => "query result too large",
            Error::Timeout(_) => "query timed out",
        };
        write!(f, "{what}: {}", self.message())
    }
}

impl std::error::Error for Error {}

impl From<wit::Error> for Error {
    fn from(error: wit::Error) -> Self {
        match error {
            wit::Error::NotFound(m) => Error::NotFound(m),
            wit::Error::AccessDenied(m) => Error::AccessDenied(m),
            wit::Error::ReadOnly(m) => Error::ReadOnly(m),
            wit::Error::InvalidQuery(m) => Error::InvalidQuery(m),
            wit::Error::TooLarge(m) => Error::TooLarge(m),
            wit::Error::Timeout(m) => Error::Timeout(m),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Response::json(
            self.status(),
            &serde_json::json!({ "error": self.kind(), "message": self.message() }),
        )
    }
}

/// An open, read-only database.
///
/// Closed when dropped. Opening is cheap; a Micro usually opens its database per request.
#[derive(Debug)]
pub struct Connection(wit::Connection);

impl Connection {
    /// Opens the database at `path`: relative to `/app` (`quotes.db`) or absolute under it
    /// (`/app/quotes.db`).
    pub fn open(path: &str) -> Result<Self, Error> {
        wit::Connection::open(path)
            .map(Connection)
            .map_err(Error::from)
    }

    /// Runs one statement with positional parameters (`?`, or `?1`, `?2`, ...) and returns
    /// all its rows.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, Error> {
        let params: Vec<wit::Value> = params.iter().cloned().map(Into::into).collect();
        let wit::Rows { columns, rows } = self.0.query(sql, &params)?;
        let columns: Arc<[String]> = columns.into();
        let rows = rows
            .into_iter()
            .map(|values| Row {
                columns: Arc::clone(&columns),
                values: values.into_iter().map(Value::from).collect(),
            })
            .collect();
        Ok(Rows { columns, rows })
    }

    /// The first row of a query, if any.
    ///
    /// ```no_run
    /// use micro_space::sqlite::Connection;
    ///
    /// let db = Connection::open("quotes.db")?;
    /// let count = db
    ///     .query_row("SELECT count(*) AS n FROM quotes", &[])?
    ///     .and_then(|row| row.get_i64("n"));
    /// # Ok::<(), micro_space::sqlite::Error>(())
    /// ```
    pub fn query_row(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params)?.rows.into_iter().next())
    }
}

/// The rows a query returned, with the column names in order.
///
/// Iterate over `&rows` (or `rows`) for [`Row`]s. As JSON it is an array of objects, one per
/// row, keys in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    columns: Arc<[String]>,
    rows: Vec<Row>,
}

impl Rows {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `index`.
    pub fn get(&self, index: usize) -> Option<&Row> {
        self.rows.get(index)
    }

    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Row> {
        self.rows.iter()
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(row)?;
        }
        seq.end()
    }
}

/// One row: its values, read by column name or index.
///
/// The typed getters return `None` when there is no such column or the value is of another
/// type (`NULL` included).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of the first column named `column`.
    pub fn get(&self, column: &str) -> Option<&Value> {
        let index = self.columns.iter().position(|c| c == column)?;
        self.values.get(index)
    }

    /// The value of the column at `index`.
    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    pub fn get_i64(&self, column: &str) -> Option<i64> {
        self.get(column)?.as_i64()
    }

    pub fn get_f64(&self, column: &str) -> Option<f64> {
        self.get(column)?.as_f64()
    }

    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.get(column)?.as_str()
    }

    pub fn get_blob(&self, column: &str) -> Option<&[u8]> {
        self.get(column)?.as_blob()
    }

    /// Whether the column is `NULL` (`false` when there is no such column).
    pub fn is_null(&self, column: &str) -> bool {
        self.get(column).is_some_and(Value::is_null)
    }
}

/// As a JSON object, keys in column order.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (column, value) in self.columns.iter().zip(&self.values) {
            map.serialize_entry(column, value)?;
        }
        map.end()
    }
}
