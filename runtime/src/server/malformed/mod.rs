//! Malformed requests get the JSON error body (SPEC §4 "Errors") like every other error.
//!
//! When hyper's HTTP/1 parser rejects a request head it answers by itself, with no service
//! call and no hook: `400 Bad Request` (a bad request line, method, target or version, a bad
//! header name or value, a bad `Content-Length`/`Transfer-Encoding`), `431 Request Header
//! Fields Too Large` (more than [`MAX_HEADERS`] headers, or a head that outgrows the read
//! buffer, [`READ_BUF_BYTES`](super::READ_BUF_BYTES)) or `414 URI Too Long` (a request target
//! over 65534 bytes), each an empty-bodied head, and then closes the connection.
//! [`Answered`] wraps the connection's socket and writes, in place of exactly that head, the
//! runtime's JSON error built by the one helper (`transport::HttpError`): 400 `bad_request`,
//! or 431 `headers_too_large` for both of the others (such a target makes the head larger
//! than [`MAX_HEAD_BYTES`]), with `connection: close` and hyper's own `date`. A head hyper
//! parsed that is over [`MAX_HEAD_BYTES`] is answered by the pipeline with the same error
//! ([`head_too_large`]).
//!
//! Telling hyper's head from a Micro's, which it must never touch (a guest's own empty 400
//! is byte for byte the same head): a write is looked at only while the connection is
//! [`Activity::quiet`] — no request in flight and every ended response flushed whole —
//! so it cannot be part of any response the service made; only then is it compared with the
//! heads hyper writes (a length check, then a comparison of under 130 bytes). A normal
//! write costs two atomic loads and nothing else: no allocation, no parsing.
//!
//! Not covered, each left to hyper's empty-bodied head:
//! - a malformed request pipelined behind a response that the client's socket did not take
//!   whole at once: hyper then parses it before that response is flushed and its head goes out
//!   in the same write as the response's end, and this wrapper never looks inside a write that
//!   may carry a Micro's bytes (a pipelined one behind responses that went out is covered);
//! - HTTP/2 connections (the prior-knowledge preface was read): h2 answers a header list over
//!   the limit with its own empty 431 in HPACK-encoded frames and other bad requests with a
//!   stream or connection error, and its frames are never looked at;
//!
//! Why here: hyper hands an unparsable head to no service and builds its answer as a bare head
//! (`on_error` in its HTTP/1 role), with no option for a body, nor has hyper-util's builder.
//!
//! It must not parse requests, and must not hold back or change a byte written while the
//! connection is not quiet or speaks HTTP/2.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::Activity;
use super::{MAX_HEAD_BYTES, MAX_HEADERS};
use crate::transport::{ErrorKind, HttpError};

/// What a client sends first on a prior-knowledge HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The status lines hyper's automatic answers carry, after the version, and the kind of
/// error each one becomes.
const HYPER_ANSWERS: [(&[u8], ErrorKind); 3] = [
    (b"400 Bad Request\r\n", ErrorKind::BadRequest),
    (
        b"431 Request Header Fields Too Large\r\n",
        ErrorKind::HeadersTooLarge,
    ),
    (b"414 URI Too Long\r\n", ErrorKind::HeadersTooLarge),
];

/// The headers of hyper's automatic answer, up to its date's value: with `connection: close`,
/// or without it in HTTP/1.0 (after an HTTP/1.0 request on the connection), whose default is
/// to close.
const HYPER_HEADERS: &[u8] = b"connection: close\r\ncontent-length: 0\r\ndate: ";
const HYPER_HEADERS_HTTP10: &[u8] = b"content-length: 0\r\ndate: ";

/// An IMF-fixdate, as hyper writes it: `Mon, 07 Dec 2026 01:37:55 GMT`.
const DATE_LEN: usize = 29;

/// Which protocol the connection speaks, as its first bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// This many bytes read so far, all matching the HTTP/2 preface.
    Detecting(usize),
    Http1,
    Http2,
}

/// A socket whose writes of hyper's automatic error head become the runtime's JSON error.
pub struct Answered<S> {
    inner: S,
    activity: Arc<Activity>,
    peer: SocketAddr,
    protocol: Protocol,
    /// The JSON answer written in place of hyper's head, and how much of it went out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> Answered<S> {
    pub fn new(inner: S, activity: Arc<Activity>, peer: SocketAddr) -> Self {
        Answered {
            inner,
            activity,
            peer,
            protocol: Protocol::Detecting(0),
            pending: None,
        }
    }

    /// Follows the connection's first bytes until they tell HTTP/2's preface from HTTP/1.
    fn saw(&mut self, read: &[u8]) {
        let Protocol::Detecting(seen) = self.protocol else {
            return;
        };
        let want = &H2_PREFACE[seen..];
        let n = read.len().min(want.len());
        self.protocol = if read[..n] != want[..n] {
            Protocol::Http1
        } else if seen + n == H2_PREFACE.len() {
            Protocol::Http2
        } else {
            Protocol::Detecting(seen + n)
        };
    }

    /// The JSON answer for `buf`, when `buf` is hyper's own error head and nothing of a
    /// response can be going out.
    fn replacement(&self, buf: &[u8]) -> Option<Vec<u8>> {
        // An HTTP/2 connection is chosen only once the whole preface was read, so until then
        // (`Detecting`) the connection is HTTP/1 or nothing yet.
        if self.protocol == Protocol::Http2 || self.pending.is_some() || !self.activity.quiet() {
            return None;
        }
        let (version, status, kind, date) = hyper_answer(buf)?;
        tracing::warn!(
            peer = %self.peer,
            status = status.as_u16(),
            "malformed request: answered {}",
            kind
        );
        Some(json_answer(version, kind, date))
    }
}

impl<S: AsyncWrite + Unpin> Answered<S> {
    /// Writes what is left of the JSON answer; ready once all of it is out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` in place of hyper's head: it counts as written, whatever of the answer the
    /// socket takes now; [`Self::drain`] writes the rest before any flush or shutdown.
    fn answer(&mut self, answer: Vec<u8>, buf_len: usize, cx: &mut Context<'_>) -> usize {
        self.pending = Some((answer, 0));
        // An error here shows again on the flush that follows.
        let _ = self.drain(cx);
        buf_len
    }
}

/// Splits hyper's automatic error head into its version (`HTTP/1.1 `), status, kind and date;
/// `None` for any other bytes.
fn hyper_answer(buf: &[u8]) -> Option<(&[u8], http::StatusCode, ErrorKind, &[u8])> {
    let (version, rest) = buf.split_at_checked(9)?;
    let header_sets: &[&[u8]] = match version {
        b"HTTP/1.1 " => &[HYPER_HEADERS],
        b"HTTP/1.0 " => &[HYPER_HEADERS, HYPER_HEADERS_HTTP10],
        _ => return None,
    };
    let (line, kind) = HYPER_ANSWERS
        .iter()
        .find(|(line, _)| rest.starts_with(line))?;
    let rest = &rest[line.len()..];
    let fixed = header_sets
        .iter()
        .find(|h| rest.len() == h.len() + DATE_LEN + 4 && rest.starts_with(h))?;
    let (date, end) = rest[fixed.len()..].split_at(DATE_LEN);
    (end == b"\r\n\r\n" && date.ends_with(b" GMT")).then_some((version, kind.status(), *kind, date))
}

/// The error for a request head over the limits, whoever finds it: hyper's parser or the
/// pipeline's size check.
pub(super) fn head_too_large() -> HttpError {
    HttpError::new(
        ErrorKind::HeadersTooLarge,
        None,
        format!(
            "request head is over {MAX_HEAD_BYTES} bytes or has more than {MAX_HEADERS} headers"
        ),
    )
}

/// The runtime's JSON error of `kind` as an HTTP/1 response that closes the connection.
fn json_answer(version: &[u8], kind: ErrorKind, date: &[u8]) -> Vec<u8> {
    let error = match kind {
        ErrorKind::HeadersTooLarge => head_too_large(),
        _ => HttpError::new(
            kind,
            None,
            "malformed request: the request line, a header or the body framing \
             (Content-Length, Transfer-Encoding) is not valid HTTP/1.1",
        ),
    };
    let response = error.to_response::<Bytes>();
    let status = response.status();
    let body = response.body();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(version);
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"connection: close\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

impl<S: AsyncRead + Unpin> AsyncRead for Answered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let p = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Protocol::Detecting(_) = self.protocol {
            self.saw(&buf.filled()[before..]);
        }
        p
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Answered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(answer) = self.replacement(buf) {
            return Poll::Ready(Ok(self.answer(answer, buf.len(), cx)));
        }
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper's head is one slice when it writes vectored.
        if let [buf] = bufs
            && let Some(answer) = self.replacement(buf)
        {
            return Poll::Ready(Ok(self.answer(answer, buf.len(), cx)));
        }
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
