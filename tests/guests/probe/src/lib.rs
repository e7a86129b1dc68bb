//! `probe`: the test guest of micro-wasm's conformance tests.
//!
//! One `wasi:http/proxy` component whose behaviour is chosen by the request path (the
//! runtime strips the Micro's route prefix, so the guest sees e.g. `/env`). Every route
//! answers through [`reply::send`]; see tests/guests/README.md for the route table.

mod actions;
mod basic;
mod deta;
mod fds;
mod files;
mod hostile;
mod outbound;
mod quota;
mod reply;
mod sqlite;

/// Bindings for micro-wasm's own imports (`wit/space.wit`, world `imports`).
mod space {
    wit_bindgen::generate!({ path: "../../../wit", world: "micro:space/imports" });
}

use reply::{Outcome, Reply, Req};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

type Handler = fn(&Req) -> Outcome;

/// The route table: path (query excluded) → handler.
fn route(path: &str) -> Option<Handler> {
    // The Deta data API, forwarded (see `deta`).
    if path.starts_with("/deta/") {
        return Some(deta::proxy);
    }
    let handler: Handler = match path {
        // Environment, request echo, warm-instance state, status codes.
        "/env" => basic::env,
        "/echo" => basic::echo,
        "/consume" => basic::consume,
        "/check-write" => basic::check_write,
        // Outbound traffic (S14).
        "/fetch" => outbound::fetch,
        "/connect" => outbound::connect,
        "/lookup" => fds::lookup,
        "/counter" => basic::counter,
        "/status" => basic::status,
        "/no-response" => basic::no_response,
        "/stdout" => basic::stdout,
        "/print" => basic::print,
        // Scheduled actions.
        "/__space/v0/actions" => actions::record,
        "/last-action" => actions::last,
        // S15
        "/sqlite" => sqlite::query,
        // Hostile guests: limits and traps.
        "/loop" => hostile::busy_loop,
        "/sleep" => hostile::sleep,
        "/alloc" => hostile::alloc,
        "/alloc-many" => hostile::alloc_many,
        "/grow" => hostile::grow,
        "/try-alloc" => hostile::try_alloc,
        "/panic" => hostile::panic,
        "/handles" => hostile::handles,
        "/stack-overflow" => hostile::stack_overflow,
        "/big-response" => hostile::big_response,
        "/forever" => hostile::forever,
        "/spin-stdout" => hostile::spin_stdout,
        // Host file descriptors held by a warm instance.
        "/hoard" => fds::hoard,
        "/unhoard" => fds::unhoard,
        // File system.
        "/write" => files::write,
        "/append" => files::append,
        "/set-len" => files::set_len,
        "/read" => files::read,
        "/ls" => files::ls,
        "/rm" => files::rm,
        "/du" => files::du,
        // The /tmp quota (S7): every way of growing the tree.
        "/pwrite" => quota::pwrite,
        "/write-stream" => quota::write_stream,
        "/append-stream" => quota::append_stream,
        "/truncate" => quota::truncate,
        "/mkdirs" => quota::mkdirs,
        "/many-files" => quota::many_files,
        "/rm-tree" => quota::rm_tree,
        "/rename" => quota::rename,
        "/hold" => quota::hold,
        "/release" => quota::release,
        _ => return None,
    };
    Some(handler)
}

struct Probe;

impl Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let req = Req::new(request);
        let reply = match route(&req.path) {
            Some(handler) => handler(&req).unwrap_or_else(|early| early),
            // Which Micro answered, and the path it saw: routing tests tell Micros apart by it.
            None => Reply::text(
                404,
                format!(
                    "no such probe route {} (micro {})\n",
                    req.path,
                    std::env::var("DETA_SPACE_APP_MICRO_NAME").unwrap_or_default()
                ),
            ),
        };
        reply::send(reply, out);
        // `?linger_ms=N` on any route: go on working N ms after the response is complete.
        if let Ok(ms @ 1..) = req.number("linger_ms", Some(0)) {
            hostile::pause(ms);
        }
    }
}

wasi::http::proxy::export!(Probe);
