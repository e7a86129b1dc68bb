//! The `wasi:http` calls of the client: sending a request, writing its body, waiting for
//! and reading the response. The rest of the client builds and checks plain data.

use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, FutureIncomingResponse, IncomingResponse, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::{OutputStream, StreamError};

use super::{Error, Request, StreamingResponse, Target};
use crate::{BodyReader, Method};

pub(super) fn send(request: &Request, target: &Target) -> Result<StreamingResponse, Error> {
    let mut list: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    let has_length = request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    // Without a length, the host may send a `DELETE` (any method but these) chunked even
    // when its body is empty, which some servers do not read.
    let needs_length = !request.body.is_empty()
        || !matches!(
            request.method,
            Method::Get | Method::Head | Method::Options | Method::Trace | Method::Connect
        );
    if needs_length && !has_length {
        let length = request.body.len().to_string().into_bytes();
        list.push(("content-length".into(), length));
    }
    // One host call for all the headers; only when the host refuses one are they added
    // one by one, to name it.
    let headers = match Fields::from_list(&list) {
        Ok(headers) => headers,
        Err(e) => {
            return Err(refused_header(&list)
                .unwrap_or_else(|| Error::InvalidRequest(format!("headers: {e:?}"))));
        }
    };

    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&wasi_method(&request.method))
        .map_err(|()| Error::InvalidRequest(format!("method {}", request.method)))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| Error::InvalidRequest("scheme".into()))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| Error::InvalidRequest(format!("authority {:?}", target.authority)))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| Error::InvalidRequest(format!("path {:?}", target.path_with_query)))?;
    // No body to send: leave it untaken, and the host sends an empty one without the
    // body stream, its flush and its finish (three calls and two resources fewer).
    let body = (!request.body.is_empty()).then(|| outgoing.body().expect("the body is taken once"));

    let options = request.timeout.map(|timeout| {
        let options = RequestOptions::new();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // Hosts that do not support an option refuse to set it; then there is none.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        options
    });
    let future = outgoing_handler::handle(outgoing, options)?;

    // Write the body after handing the request over, so a body larger than the host's
    // buffer does not wait for a reader that is not there yet.
    let written = match body {
        Some(body) => write_body(&body, &request.body)
            .and_then(|()| OutgoingBody::finish(body, None).map_err(Error::from)),
        None => Ok(()),
    };
    let response = match (written, wait(&future)) {
        // A server may answer, and the host close the body stream, before the last write
        // or flush: the answer is what counts.
        (_, Ok(response)) => response,
        // A request the host refused fails the body too: report why it was refused.
        (_, Err(e @ Error::Http { .. })) => return Err(e),
        (Err(e), Err(_)) | (Ok(()), Err(e)) => return Err(e),
    };
    drop(future);

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let body = BodyReader::fetched(response).map_err(|e| Error::Stream(e.into()))?;
    Ok(StreamingResponse {
        status,
        headers,
        body,
    })
}

/// The first header of `list` the host refuses, as an error naming it.
fn refused_header(list: &[(String, Vec<u8>)]) -> Option<Error> {
    let fields = Fields::new();
    list.iter().find_map(|(name, value)| {
        let refused = fields.append(name, value).err()?;
        Some(Error::InvalidRequest(format!(
            "header {name:?}: {refused:?}"
        )))
    })
}

fn write_body(body: &OutgoingBody, mut data: &[u8]) -> Result<(), Error> {
    let stream = body
        .write()
        .map_err(|()| Error::Stream("the request body stream was already taken".into()))?;
    while !data.is_empty() {
        let allowed = check_write(&stream)?;
        let n = data
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        stream.write(&data[..n]).map_err(stream_error)?;
        data = &data[n..];
    }
    stream.blocking_flush().map_err(stream_error)
}

/// How many bytes the stream takes now, waiting until it takes some.
fn check_write(stream: &OutputStream) -> Result<u64, Error> {
    loop {
        match stream.check_write().map_err(stream_error)? {
            0 => stream.subscribe().block(),
            n => return Ok(n),
        }
    }
}

fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, Error> {
    // A response is never ready the moment the request is handed over: wait first, so
    // a `get` that could only say "not yet" is not made.
    future.subscribe().block();
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(code.into()),
            Some(Err(())) => {
                return Err(Error::Stream("the response was already taken".into()));
            }
            None => future.subscribe().block(),
        }
    }
}

fn stream_error(error: StreamError) -> Error {
    match error {
        StreamError::Closed => Error::Stream("the stream was closed".into()),
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => code.into(),
            None => Error::Stream(e.to_debug_string()),
        },
    }
}

fn wasi_method(method: &Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Delete => WasiMethod::Delete,
        Method::Connect => WasiMethod::Connect,
        Method::Options => WasiMethod::Options,
        Method::Trace => WasiMethod::Trace,
        Method::Patch => WasiMethod::Patch,
        Method::Other(other) => WasiMethod::Other(other.clone()),
    }
}
