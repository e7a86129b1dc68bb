//! The conformance suite: every seed rule (S1-S18) and the HTTP behaviour of docs/spec.md, each
//! shown against the real `micro-wasm` binary over real HTTP with real guest components.
//! One file per spec section; tests are named after the rule they show.

mod actions;
mod asgi;
mod auth;
mod c_guest;
mod cdp;
mod cli;
mod connections;
mod dashboard;
mod data;
mod examples;
mod fds;
mod flask;
mod harness;
mod hono;
mod http2;
mod http_rules;
mod import;
mod lifecycle;
mod limits;
mod malformed;
mod manifest;
mod outbound;
mod polyglot;
mod precompiled;
mod sandbox;
mod sdk_json;
mod sdk_streams;
mod sqlite;
mod sqlite_bundled;
mod tmp_quota;
mod watch;
