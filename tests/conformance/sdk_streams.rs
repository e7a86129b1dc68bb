//! The Rust SDK's streamed bodies (sdk/src/body.rs) against S6's memory limit: on a Micro
//! whose `memory` cannot hold a 5 MB body, the route that takes the body whole
//! (`Request::body`) fails with 502 `memory_limit`, and the one that reads the whole file
//! before answering fails too (the guest sees its allocation refused), while the streaming
//! upload (`Router::post_stream`, a `BodyReader` copied into a file in `/tmp`), the
//! streamed download (`Response::file`), a mirror (the `BodyReader` as `Response::stream`'s
//! source) and a generated body (`Response::stream_with`) move 5 MB intact. And S9 for a
//! guest that answered before reading its body: a chunked body over the limit is still the
//! request's 413. The guest is `tests/guests/sdk-probe`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::harness::{AppDir, guest};

/// Under the default payload limit (5.5 MB) and far over what `MEMORY` leaves free.
const UPLOAD: usize = 5_000_000;
/// Enough for the component's initial memory (its stack and data, about 1.1 MiB) and a
/// piece of a body at a time (up to 1 MiB), not for a whole 5 MB body. Measured with this
/// test's routes: the streaming ones still work at 2 MiB; the buffered upload asks for
/// 6 161 720 bytes in all and works from 6 MiB on.
const MEMORY: &str = "4MiB";

/// Bytes that differ from one offset to the next (xorshift), so a piece lost, repeated or
/// out of order changes the checksum.
fn payload(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn app(memory: &str) -> AppDir {
    let sdk = guest("sdk_probe").display().to_string();
    let app = AppDir::new(&format!(
        "[app]\nname = \"bodies\"\n\n[limits]\nmemory = \"{memory}\"\ntmp = \"16MiB\"\n\n\
         [[micro]]\nname = \"sdk\"\ncomponent = '{sdk}'\nsrc = \"code\"\nprimary = true\n"
    ));
    app.write("code/hello.txt", "hello from /app\n");
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_streams_a_body_too_large_for_memory_in_and_out() {
    let app = app(MEMORY);
    let srv = app.serve(&[]);
    let data = payload(UPLOAD);

    // The buffering route works for a body that fits...
    let small = &data[..100_000];
    let r = srv
        .post("/upload-buffered?to=/tmp/small.bin", small.to_vec())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({ "size": small.len(), "sha256": sha256_hex(small) })
    );
    // ...and not for 5 MB: holding the body is over the memory limit. (The SDK reserves the
    // declared length before reading, so the instance traps before asking for the body, and
    // the client never sends it.)
    let (status, body, sent) =
        post_expecting_continue(srv.addr, "/upload-buffered?to=/tmp/b.bin", &data);
    assert!(!sent, "the body was asked for");
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, &error["error"]),
        (502, &"memory_limit".into()),
        "{error}"
    );
    assert_eq!(error["micro"], "sdk", "{error}");

    // The streaming route on the same Micro writes all of it to /tmp, piece by piece.
    let (status, body, sent) =
        post_expecting_continue(srv.addr, "/upload?to=/tmp/upload.bin", &data);
    assert!(sent);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({ "size": UPLOAD, "sha256": sha256_hex(&data) })
    );

    // Streamed back with its length, byte for byte.
    let r = srv.get("/download?from=/tmp/upload.bin").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.headers.get("content-length").map(|v| v.to_str().unwrap()),
        Some("5000000")
    );
    assert_eq!(r.body.len(), UPLOAD);
    assert!(r.body == data, "the download differs from the upload");

    // The request body as the response's source: 5 MB back while they arrive.
    let r = srv.post("/mirror", data.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), UPLOAD);
    assert!(r.body == data, "the mirrored body differs");

    // HEAD: the same head, no body.
    let r = srv
        .send(
            hyper::Request::head("/download?from=/tmp/upload.bin")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-length"], "5000000");
    assert!(r.body.is_empty());

    // A body written piece by piece with no length (the runtime collects such a body before
    // sending it, outside the guest's memory), every byte in place.
    let r = srv.get("/generate?bytes=5000000").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), UPLOAD);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8),
        "the generated body is out of order"
    );

    // Reading the file whole to answer it is over the limit too; `std::fs::read` asks for
    // its memory with `try_reserve`, so the guest sees the failure and answers it (500 from
    // the SDK's `io::Error` answer) rather than trapping.
    let r = srv.get("/download-buffered?from=/tmp/upload.bin").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({ "error": "io", "message": "out of memory" })
    );
    // And the streaming routes still work after those traps.
    let r = srv.get("/download?from=/tmp/small.bin").await;
    assert_eq!((r.status, &r.body[..]), (200, small));
}

/// Sends a POST of `body` as curl sends a large one: the head with `Expect: 100-continue`,
/// the body only once the server asks for it with `100 Continue`. The final status and body,
/// and whether the body was sent: a body the guest never reads is never asked for.
fn post_expecting_continue(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut sent = false;
    loop {
        let (status, length) = read_head(&mut reader);
        if status == 100 {
            stream.write_all(body).unwrap();
            sent = true;
            continue;
        }
        let mut answer = Vec::new();
        match length {
            Some(n) => reader.take(n).read_to_end(&mut answer),
            None => reader.read_to_end(&mut answer),
        }
        .unwrap();
        return (status, answer, sent);
    }
}

/// A response head's status and `content-length`.
fn read_head(reader: &mut impl BufRead) -> (u16, Option<u64>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            return (status, length);
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok();
        }
    }
}

/// A streamed body whose writer fails: without a `content-length`, micro-wasm collects such
/// a body before sending it (to hold it to the payload limit, S9), so the failure is a clean
/// 502 `trap`; with one, the body goes out as it is written, and the client gets the 200 and
/// a body cut short. Either way the SDK prints the error, which the Micro's log shows.
#[tokio::test(flavor = "multi_thread")]
async fn sdk_streams_a_failing_body_fails_the_response_and_is_logged() {
    let app = app(MEMORY);
    let srv = app.serve(&[]);
    srv.get("/generate?bytes=3000000&fail_at=1000000")
        .await
        .assert_error(502, "trap", Some("sdk"));

    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = "GET /generate?bytes=3000000&fail_at=2000000&length=1 HTTP/1.1\r\n\
                   Host: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, length) = read_head(&mut reader);
    assert_eq!((status, length), (200, Some(3_000_000)));
    // Whatever arrives before the connection ends (a reset included): a correct beginning
    // (less than what was written before the failure, some being still on its way then),
    // never the whole body.
    let mut body = Vec::new();
    let _ = reader.read_to_end(&mut body);
    assert!(body.len() < 3_000_000, "{} bytes arrived", body.len());
    assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));

    // The SDK's lines in the Micro's log, one per failure.
    let line = "micro-space: the streamed response body (status 200) failed: generator stopped at";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = app.cli(&["logs", "sdk"]);
        let logs = String::from_utf8_lossy(&out.stdout);
        if logs.matches(line).count() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not logged:\n{logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The Micro goes on serving.
    let r = srv.get("/generate?bytes=10").await;
    assert_eq!(&r.body[..], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

/// S9 for a guest that answers before it reads the body: the SDK mirror sets its response
/// head, then passes the request body on (spliced by the host). A chunked body that crosses
/// `payload` fails that response before anything was sent, and the client gets the request's
/// 413 `request_too_large`, not a 502 for the guest. Under the limit the same route works.
#[tokio::test(flavor = "multi_thread")]
async fn s9_a_chunked_body_over_the_limit_is_413_when_the_guest_answered_first() {
    use http_body_util::StreamBody;
    use hyper::body::{Bytes, Frame};

    let sdk = guest("sdk_probe").display().to_string();
    let app = AppDir::new(&format!(
        "[app]\nname = \"bodies\"\n\n[limits]\npayload = \"100kB\"\n\n\
         [[micro]]\nname = \"sdk\"\ncomponent = '{sdk}'\nsrc = \"code\"\nprimary = true\n"
    ));
    app.write("code/.keep", "");
    let srv = app.serve(&[]);
    let chunked = |pieces: usize| {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..pieces)
            .map(|i| Ok(Frame::data(Bytes::from(vec![i as u8; 10_000]))))
            .collect();
        hyper::Request::post("/mirror")
            .body(StreamBody::new(futures::stream::iter(frames)))
            .unwrap()
    };
    let r = srv.send(chunked(30)).await;
    r.assert_error(413, "request_too_large", Some("sdk"));

    let r = srv.send(chunked(10)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), 100_000);
    assert!(
        r.body
            .chunks(10_000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8))
    );
}
