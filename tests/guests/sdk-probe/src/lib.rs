//! `sdk-probe`: a Micro on the Rust SDK (`micro-space`), for what the SDK itself does to a
//! guest's environment. `GET /cwd` answers `{"cwd": <std::env::current_dir()>, "relative":
//! <the text of the relative path hello.txt, or the error>}`.

use micro_space::{Request, Response, Router, json};

fn cwd(_: Request) -> Response {
    let cwd = match std::env::current_dir() {
        Ok(dir) => dir.display().to_string(),
        Err(e) => format!("error: {e}"),
    };
    let relative = std::fs::read_to_string("hello.txt").unwrap_or_else(|e| format!("error: {e}"));
    Response::json(200, &json!({ "cwd": cwd, "relative": relative }))
}

micro_space::export!(Router::new().get("/cwd", cwd));
