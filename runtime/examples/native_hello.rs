//! A native hyper 1.x server, the benchmark's upper bound: `GET` answers the same text as the
//! `hello` guest, `POST` echoes the request body, with no WebAssembly in the way.
//! Usage: `native_hello [ADDR]` (default 127.0.0.1:0); prints `listening on http://ADDR`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
                let body = if req.method() == hyper::Method::POST {
                    req.into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default()
                } else {
                    Bytes::from_static(b"Hello from hello!\n")
                };
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "text/plain; charset=utf-8")
                        .body(Full::new(body))
                        .unwrap(),
                )
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
