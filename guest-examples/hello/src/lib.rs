//! `hello`: answers every request with `Hello from <micro name>!`.
//!
//! Deliberately minimal: it is the guest micro-wasm's benchmarks measure.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let name =
            std::env::var("DETA_SPACE_APP_MICRO_NAME").unwrap_or_else(|_| "micro-wasm".into());
        let body = format!("Hello from {name}!\n");
        let headers = Fields::from_list(&[
            (
                "content-type".to_string(),
                b"text/plain; charset=utf-8".to_vec(),
            ),
            (
                "content-length".to_string(),
                body.len().to_string().into_bytes(),
            ),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers); // status 200 by default
        let response_body = response.body().expect("body taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = response_body.write().expect("stream taken once");
        // A Micro name is at most 32 characters: the body fits one 4096-byte write.
        let written = stream.blocking_write_and_flush(body.as_bytes());
        drop(stream);
        if written.is_ok() {
            let _ = OutgoingBody::finish(response_body, None);
        }
    }
}

wasi::http::proxy::export!(Hello);
