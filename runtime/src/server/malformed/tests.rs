use super::*;

/// The heads hyper 1.x writes for a parse error, as read off its socket.
const HYPER_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n";
const HYPER_400_HTTP10: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 02:30:50 GMT\r\n\r\n";
const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n";
const HYPER_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n";

/// The head and the JSON body of an answer.
fn split(answer: &[u8]) -> (String, serde_json::Value) {
    let text = std::str::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_string(), serde_json::from_str(body).unwrap())
}

#[test]
fn hyper_heads_are_recognised_with_their_kind_version_and_date() {
    let (version, status, kind, date) = hyper_answer(HYPER_400).unwrap();
    assert_eq!(
        (version, status.as_u16(), kind, date),
        (
            &b"HTTP/1.1 "[..],
            400,
            ErrorKind::BadRequest,
            &b"Mon, 07 Dec 2026 01:37:55 GMT"[..]
        )
    );
    let (_, status, kind, _) = hyper_answer(HYPER_431).unwrap();
    assert_eq!((status.as_u16(), kind), (431, ErrorKind::HeadersTooLarge));
    // A target over hyper's limit makes the head larger than the runtime serves: 431 too.
    let (_, status, kind, _) = hyper_answer(HYPER_414).unwrap();
    assert_eq!((status.as_u16(), kind), (431, ErrorKind::HeadersTooLarge));
    let http10 = [b"HTTP/1.0 ", &HYPER_400[9..]].concat();
    assert_eq!(hyper_answer(&http10).unwrap().0, b"HTTP/1.0 ");
    // After an HTTP/1.0 request hyper leaves out `connection: close`, HTTP/1.0's default.
    let (version, status, _, date) = hyper_answer(HYPER_400_HTTP10).unwrap();
    assert_eq!((version, status.as_u16()), (&b"HTTP/1.0 "[..], 400));
    assert_eq!(date, b"Mon, 07 Dec 2026 02:30:50 GMT");
}

#[test]
fn any_other_bytes_are_not_hyper_heads() {
    let others: [&[u8]; 9] = [
        b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n",
        // Keep-alive is never hyper's answer to a request it could not parse.
        b"HTTP/1.0 400 Bad Request\r\nconnection: keep-alive\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 02:30:50 GMT\r\n\r\n",
        b"",
        &HYPER_400[..HYPER_400.len() - 1],
        &[HYPER_400, b"x"].concat(),
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 UTC\r\n\r\n",
        b"HTTP/2.0 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 1\r\ndate: Mon, 07 Dec 2026 01:37:55 GMT\r\n\r\n",
    ];
    for bytes in others {
        assert!(
            hyper_answer(bytes).is_none(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn the_answer_is_the_json_error_with_hypers_version_and_date_and_closes() {
    let answer = json_answer(
        b"HTTP/1.1 ",
        ErrorKind::BadRequest,
        b"Mon, 07 Dec 2026 01:37:55 GMT",
    );
    let (head, body) = split(&answer);
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next(), Some("HTTP/1.1 400 Bad Request"));
    let headers: Vec<&str> = lines.collect();
    let length = answer.len() - head.len() - 4;
    assert_eq!(
        headers,
        [
            "content-type: application/json",
            "connection: close",
            &format!("content-length: {length}"),
            "date: Mon, 07 Dec 2026 01:37:55 GMT",
        ]
    );
    assert_eq!(body["error"], "bad_request");
    assert!(body["micro"].is_null());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("malformed request")
    );

    let answer = json_answer(
        b"HTTP/1.0 ",
        ErrorKind::HeadersTooLarge,
        b"Mon, 07 Dec 2026 01:37:55 GMT",
    );
    let (head, body) = split(&answer);
    assert!(
        head.starts_with("HTTP/1.0 431 Request Header Fields Too Large\r\n"),
        "{head}"
    );
    assert_eq!(body["error"], "headers_too_large");
    assert_eq!(
        body["message"],
        format!(
            "request head is over {MAX_HEAD_BYTES} bytes or has more than {MAX_HEADERS} headers"
        )
    );
}

/// A wrapper around a sink, fed `reads` in turn as the connection's first bytes.
fn after_reads(reads: &[&[u8]]) -> Answered<Vec<u8>> {
    let mut a = Answered::new(Vec::new(), Activity::new(), "127.0.0.1:1".parse().unwrap());
    for read in reads {
        a.saw(read);
    }
    a
}

#[test]
fn only_a_whole_http2_preface_makes_a_connection_http2() {
    assert_eq!(after_reads(&[H2_PREFACE]).protocol, Protocol::Http2);
    let (a, b) = H2_PREFACE.split_at(5);
    assert_eq!(after_reads(&[a, b]).protocol, Protocol::Http2);
    assert_eq!(after_reads(&[a]).protocol, Protocol::Detecting(5));
    assert_eq!(after_reads(&[a, b"X"]).protocol, Protocol::Http1);
    assert_eq!(
        after_reads(&[b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"]).protocol,
        Protocol::Http1
    );
    assert_eq!(
        after_reads(&[b"GET / HTTP/1.1\r\n"]).protocol,
        Protocol::Http1
    );
    assert_eq!(after_reads(&[b"", b"G"]).protocol, Protocol::Http1);
    // Later bytes change nothing once decided.
    let mut a = after_reads(&[H2_PREFACE]);
    a.saw(b"GET");
    assert_eq!(a.protocol, Protocol::Http2);
}

/// Writes `buf` through `a` on a context that is never woken.
fn write(a: &mut Answered<Vec<u8>>, buf: &[u8]) -> usize {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(a).poll_write(&mut cx, buf) {
        Poll::Ready(Ok(n)) => n,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hypers_head_is_replaced_only_while_the_connection_is_quiet_and_not_http2() {
    // Quiet HTTP/1: replaced, and counted as written whole.
    let mut a = after_reads(&[b"GARBAGE\r\n\r\n"]);
    assert_eq!(write(&mut a, HYPER_400), HYPER_400.len());
    assert_eq!(split(&a.inner).1["error"], "bad_request");

    // A request in flight, or a response that ended but is not flushed yet: untouched.
    let mut a = after_reads(&[b"GET / HTTP/1.1\r\n\r\n"]);
    let request = a.activity.begin();
    write(&mut a, HYPER_400);
    drop(request);
    write(&mut a, HYPER_400);
    assert_eq!(a.inner, [HYPER_400, HYPER_400].concat());
    a.activity.flushed();
    a.inner.clear();
    write(&mut a, HYPER_431);
    assert_eq!(split(&a.inner).1["error"], "headers_too_large");

    // An HTTP/2 connection: untouched.
    let mut a = after_reads(&[H2_PREFACE]);
    write(&mut a, HYPER_400);
    assert_eq!(a.inner, HYPER_400);
}
