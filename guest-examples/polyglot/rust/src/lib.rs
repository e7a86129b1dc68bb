//! `quotes`: the polyglot example's JSON API in Rust (`../README.md` is the contract), with
//! the micro-space SDK (`../../../sdk`).
//!
//! Quotes come from `quotes.db`, deployed in the code dir (`/app`) and read through
//! micro-wasm's read-only `micro:space/sqlite` import. Errors from SQLite answer as
//! `{"error": "<kind>", "message": "<runtime's message>"}`: `POST /quotes` gets the runtime's
//! 403 `read-only`.

use micro_space::sqlite::{Connection, Error, Value};
use micro_space::{ActionEvent, Request, Response, Router, env, json, serde_json};

/// Relative to `/app`, the Micro's code dir.
const DB: &str = "quotes.db";
/// `/tmp` is the only writable place.
const LAST_ACTION: &str = "/tmp/last-action.json";

fn app(request: Request) -> Response {
    Router::new()
        .get("/", |_| {
            Response::json(
                200,
                &json!({ "micro": env::micro_name(), "language": "rust" }),
            )
        })
        .get("/quotes", all_quotes)
        .get("/quotes/:id", one_quote)
        .post("/quotes", add_quote)
        .get("/last-action", last_action)
        .post("/echo", echo)
        .action(save_action)
        .handle(request)
}

micro_space::export!(app);

/// `POST /echo`: the body back as it came, with its content type (what moving a body through
/// the SDK costs).
fn echo(request: Request) -> Response {
    let content_type = request
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    Response::bytes(200, &content_type, request.body)
}

/// `GET /quotes`: every row, by id.
fn all_quotes(_: Request) -> Result<Response, Error> {
    let rows =
        Connection::open(DB)?.query("SELECT id, author, text FROM quotes ORDER BY id", &[])?;
    Ok(Response::json(200, &rows))
}

/// `GET /quotes/<id>`: one row, the id bound as an integer parameter.
fn one_quote(request: Request) -> Result<Response, Error> {
    let Some(Ok(id)) = request.param("id").map(str::parse::<i64>) else {
        return Ok(Response::error(400, "bad id"));
    };
    let quote = Connection::open(DB)?.query_row(
        "SELECT id, author, text FROM quotes WHERE id = ?",
        &[Value::Integer(id)],
    )?;
    Ok(match quote {
        Some(row) => Response::json(200, &row),
        None => Response::not_found(),
    })
}

/// `POST /quotes` with `{"author": ..., "text": ...}`: the database is read-only, so the
/// runtime refuses the insert and this answers its 403 `read-only` error.
fn add_quote(request: Request) -> Result<Response, Error> {
    let quote: serde_json::Value = request.json().unwrap_or_default();
    let field = |name: &str| quote[name].as_str().unwrap_or_default().to_string();
    Connection::open(DB)?.query(
        "INSERT INTO quotes (author, text) VALUES (?, ?)",
        &[field("author").into(), field("text").into()],
    )?;
    Ok(Response::json(201, &json!({ "ok": true })))
}

/// `POST /__space/v0/actions`: saves the event for `GET /last-action`.
fn save_action(event: ActionEvent) -> Response {
    let saved = serde_json::to_vec(&event)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(LAST_ACTION, bytes));
    match saved {
        Ok(()) => Response::json(200, &json!({ "ok": true })),
        Err(e) => Response::json(
            500,
            &json!({ "error": "cannot save the event", "message": e.to_string() }),
        ),
    }
}

/// `GET /last-action`: the last saved event.
fn last_action(_: Request) -> Response {
    match std::fs::read(LAST_ACTION) {
        Ok(event) => Response::bytes(200, "application/json", event),
        Err(_) => Response::error(404, "no action yet"),
    }
}
