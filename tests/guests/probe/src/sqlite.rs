//! S15: `POST /sqlite?db=PATH[&int=N]` opens PATH through `micro:space/sqlite` and runs the
//! request body as one statement (with `N` bound to `?1` when given). Answers 200
//! `{"columns":[..],"rows":[[..],..]}`, or 422 `{"error":"<wit case>","message":".."}`.

use serde_json::{Value as Json, json};

use crate::reply::{Outcome, Reply, Req};
use crate::space::micro::space::sqlite::{Connection, Error, Value};

/// Statements are kept up to this many bytes.
const SQL_KEEP: usize = 64 * 1024;

pub fn query(req: &Req) -> Outcome {
    let path = req.required("db")?;
    let params = match req.param("int") {
        Some(_) => vec![Value::Integer(req.number("int", None)? as i64)],
        None => Vec::new(),
    };
    let (_, body) = req.read_body(SQL_KEEP)?;
    let sql = String::from_utf8_lossy(&body);
    let result = Connection::open(path).and_then(|c| c.query(&sql, &params));
    Ok(match result {
        Ok(rows) => Reply::json(
            200,
            &json!({
                "columns": rows.columns,
                "rows": rows.rows.iter().map(|r| r.iter().map(to_json).collect()).collect::<Vec<Json>>(),
            }),
        ),
        Err(e) => {
            let (kind, message) = case(&e);
            Reply::json(422, &json!({"error": kind, "message": message}))
        }
    })
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Text(s) => json!(s),
        Value::Blob(b) => json!({"blob_len": b.len()}),
    }
}

fn case(e: &Error) -> (&'static str, &str) {
    match e {
        Error::NotFound(m) => ("not-found", m),
        Error::AccessDenied(m) => ("access-denied", m),
        Error::ReadOnly(m) => ("read-only", m),
        Error::InvalidQuery(m) => ("invalid-query", m),
        Error::TooLarge(m) => ("too-large", m),
        Error::Timeout(m) => ("timeout", m),
    }
}
