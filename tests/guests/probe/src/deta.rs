//! `ANY /deta/base/<rest>` and `ANY /deta/drive/<rest>`: the request forwarded, method, body
//! and all, to `https://database.deta.sh/v1/<project>/<rest>` or
//! `https://drive.deta.sh/v1/<project>/<rest>` with `X-API-Key: $DETA_PROJECT_KEY` (or the
//! request's own `X-API-Key`, to test a wrong key), exactly as a guest speaking the Deta HTTP
//! API would; the answer comes back with its status, body and content headers. micro-wasm
//! answers these hosts itself, so the conformance suite runs the data service's checks both
//! from outside and through this route.

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

use crate::reply::{Outcome, Reply, Req, write_all};

/// Most request body bytes forwarded (above the Base API's 16 MB request limit).
const MAX_BODY: usize = 20 << 20;

pub fn proxy(req: &Req) -> Outcome {
    let rest = &req.path_with_query["/deta/".len()..];
    let (host, rest) = match rest.split_once('/') {
        Some(("base", rest)) => ("database.deta.sh", rest),
        Some(("drive", rest)) => ("drive.deta.sh", rest),
        _ => return Err(Reply::text(400, "use /deta/base/... or /deta/drive/...\n")),
    };
    let key = req
        .header("x-api-key")
        .or_else(|| std::env::var("DETA_PROJECT_KEY").ok())
        .unwrap_or_default();
    let project = key.split('_').next().unwrap_or_default().to_string();
    let mut headers = vec![("x-api-key".to_string(), key.into_bytes())];
    for name in ["content-type", "range"] {
        if let Some(v) = req.header(name) {
            headers.push((name.to_string(), v.into_bytes()));
        }
    }
    let (_, body) = req.read_body(MAX_BODY)?;
    let fields = Fields::from_list(&headers).map_err(|e| Reply::text(400, format!("{e:?}\n")))?;
    let request = OutgoingRequest::new(fields);
    let method = match req.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&Scheme::Https));
    let _ = request.set_authority(Some(host));
    let _ = request.set_path_with_query(Some(&format!("/v1/{project}/{rest}")));
    let outgoing = request.body().expect("the body is taken once");
    let future = outgoing_handler::handle(request, None)
        .map_err(|code| Reply::text(502, format!("error: {code:?}\n")))?;
    {
        let stream = outgoing.write().expect("the body stream is taken once");
        write_all(&stream, &body).map_err(|e| Reply::text(502, format!("error: {e:?}\n")))?;
        let _ = stream.blocking_flush();
    }
    OutgoingBody::finish(outgoing, None)
        .map_err(|e| Reply::text(502, format!("error: {e:?}\n")))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(code))) => return Ok(Reply::text(502, format!("error: {code:?}\n"))),
        other => return Ok(Reply::text(502, format!("error: {other:?}\n"))),
    };
    let status = response.status();
    let mut reply_headers = Vec::new();
    for (name, value) in response.headers().entries() {
        let name = name.to_ascii_lowercase();
        if ["content-type", "content-range", "accept-ranges"].contains(&name.as_str()) {
            reply_headers.push((name, value));
        }
    }
    let body = response
        .consume()
        .map_err(|()| Reply::text(502, "error: no body\n"))?;
    let stream = body
        .stream()
        .map_err(|()| Reply::text(502, "error: no stream\n"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(1 << 20) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Ok(Reply::text(502, format!("error: body: {e:?}\n"))),
        }
    }
    reply_headers.push((
        "content-length".to_string(),
        bytes.len().to_string().into_bytes(),
    ));
    Ok(Reply::Stream {
        status,
        headers: reply_headers,
        body: Box::new(move |out| write_all(out, &bytes)),
    })
}
