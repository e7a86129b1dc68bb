//! Write micro-wasm Micros in Rust.
//!
//! A Micro is a `wasi:http/proxy` component (WASI 0.2). This crate hides the component
//! plumbing behind plain data: a handler takes a [`Request`] (method, path, query, headers,
//! body) and returns a [`Response`]; [`export!`] turns it into the component's
//! `wasi:http/incoming-handler` export. Around that:
//!
//! - [`Router`]: routes by method and path pattern (`/quotes/:id`), 404 JSON otherwise;
//! - streamed bodies, for uploads and downloads larger than a Micro's memory: a
//!   [`Streaming`] handler or a [`Router::post_stream`] route reads the request body as it
//!   arrives from a [`BodyReader`] (`std::io::Read`), and [`Response::file`],
//!   [`Response::stream`] and [`Response::stream_with`] send a body made while it is sent;
//! - [`ActionEvent`] and [`Router::action`]: the runtime's scheduled actions
//!   (`POST /__space/v0/actions`);
//! - [`mod@env`]: the variables micro-wasm gives every Micro (`env::micro_name()`, ...);
//! - [`sqlite`]: micro-wasm's `micro:space/sqlite` import, read-only SQLite databases
//!   deployed with the code;
//! - [`fetch`] and [`client`]: outgoing HTTP requests over `wasi:http/outgoing-handler`;
//! - [`base`] and [`drive`]: Deta Base (JSON items) and Deta Drive (files), the data
//!   services micro-wasm answers itself, with the deta SDKs' calls
//!   (`Base::new("users")?.put(json!({...}))?`, `Drive::new("photos")?.get("cat.png")?`).
//!
//! Build with `cargo build --release --target wasm32-wasip2` and a `cdylib` crate type.
//!
//! # Example
//!
//! ```no_run
//! use micro_space::{Request, Response, Router, env, json};
//!
//! fn app(request: Request) -> Response {
//!     Router::new()
//!         .get("/", |_| Response::json(200, &json!({ "micro": env::micro_name() })))
//!         .get("/hello/:name", |req: Request| {
//!             Response::text(200, format!("Hello, {}!", req.param("name").unwrap_or("?")))
//!         })
//!         .action(|event| {
//!             println!("action {} ({})", event.id, event.trigger);
//!             Response::json(200, &json!({ "ok": true }))
//!         })
//!         .handle(request)
//! }
//!
//! micro_space::export!(app);
//! ```
//!
//! A handler may also return `Result<Response, E>` for any `E` that converts into a
//! response ([`IntoResponse`]), such as [`sqlite::Error`] or [`std::io::Error`], so `?` works
//! in handlers.
//!
//! # Streamed bodies
//!
//! A 5 MB upload held in `Request::body` needs 5 MB of the Micro's memory at once. A
//! streaming route gets the body unread instead, and a streamed response reads its source
//! while it is sent, so either needs memory for one piece at a time:
//!
//! ```no_run
//! use micro_space::{BodyReader, Request, Response, Router, json};
//!
//! fn upload(_: Request, mut body: BodyReader) -> std::io::Result<Response> {
//!     let size = body.copy_to(&mut std::fs::File::create("/tmp/upload.bin")?)?;
//!     Ok(Response::json(200, &json!({ "size": size })))
//! }
//!
//! micro_space::export!(
//!     Router::new()
//!         .post_stream("/upload", upload)
//!         .get("/download", |_| Response::file(200, "application/octet-stream", "/tmp/upload.bin"))
//! );
//! ```
//!
//! # Components stay plain `wasi:http/proxy`
//!
//! Only what a Micro calls ends up imported: a component that never touches [`sqlite`]
//! imports WASI 0.2 and `wasi:http` only, and runs under any `wasi:http/proxy` host
//! (`wasmtime serve -S cli`). One that opens a database also imports
//! `micro:space/sqlite@0.1.0`, which micro-wasm provides. [`base`], [`drive`] and [`client`]
//! use only `wasi:http/outgoing-handler`, part of `wasi:http/proxy`.

mod action;
pub mod base;
mod body;
pub mod client;
mod cwd;
mod deta;
pub mod drive;
pub mod env;
mod http;
mod json_out;
mod response;
mod router;
pub mod sqlite;

pub use action::{ACTIONS_PATH, ActionEvent};
pub use body::BodyReader;
pub use client::fetch;
pub use http::{Handler, Method, Request, Streaming};
pub use response::{IntoResponse, Response};
pub use router::Router;
/// JSON values and the `json!` macro, re-exported for handlers.
pub use serde_json::{self, json};
/// The `wasi` crate (0.14, WASI 0.2) the SDK is built on, for what it does not wrap.
pub use wasi;

/// `bytes` as text, if they are valid UTF-8: what [`Request::text`] and a fetched response's
/// `text` check. It validates 16 bytes at a time where the guest is built with WebAssembly
/// SIMD (`-C target-feature=+simd128`): 64 KiB of ASCII in 1.6 us in wasm, where
/// `std::str::from_utf8` takes 5.1 us.
///
/// ```
/// assert_eq!(micro_space::utf8(b"caf\xc3\xa9"), Some("café"));
/// assert_eq!(micro_space::utf8(b"caf\xc3"), None);
/// ```
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// Exports a handler as the component's `wasi:http/incoming-handler`.
///
/// The argument is an expression implementing [`Handler`]: a function or closure
/// `Fn(Request) -> impl IntoResponse`, or a [`Router`]. It is evaluated once per request.
/// Use the macro once, at the top level of a `cdylib` crate.
///
/// ```no_run
/// use micro_space::{Request, Response};
///
/// fn hello(request: Request) -> Response {
///     Response::text(200, format!("Hello from {}!\n", request.path))
/// }
///
/// micro_space::export!(hello);
/// ```
///
/// With a router directly:
///
/// ```no_run
/// use micro_space::{Response, Router};
///
/// micro_space::export!(Router::new().get("/", |_| Response::text(200, "home")));
/// ```
///
/// The request body is read fully before the handler runs, unless the handler (or the
/// router's route) is a streaming one ([`Streaming`], [`Router::post_stream`]); a response
/// is sent with a `content-length` header, unless its body is streamed
/// ([`Response::stream`]). A panic in the handler traps the component (micro-wasm then
/// answers 502).
#[macro_export]
macro_rules! export {
    ($handler:expr $(,)?) => {
        const _: () = {
            struct MicroSpaceHandler;

            impl $crate::__private::Guest for MicroSpaceHandler {
                fn handle(
                    request: $crate::__private::IncomingRequest,
                    out: $crate::__private::ResponseOutparam,
                ) {
                    $crate::__private::serve(request, out, &$handler);
                }
            }

            $crate::__private::wasi::http::proxy::export!(
                MicroSpaceHandler with_types_in $crate::__private::wasi
            );
        };
    };
}

/// What [`export!`] expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::http::serve;
    pub use wasi;
    pub use wasi::exports::http::incoming_handler::Guest;
    pub use wasi::http::types::{IncomingRequest, ResponseOutparam};
}
