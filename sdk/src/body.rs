//! Bodies as streams: [`BodyReader`], a request body (or a fetched response's) read as it
//! arrives, and the two ends of a response body sent while it is made (a [`Stream`] of the
//! response, written to a [`BodyOut`]).
//!
//! Owns reading `wasi:http` incoming bodies (piece by piece, or whole for handlers that take
//! plain data) and writing outgoing bodies within the stream's `check-write` budget: every
//! response body, whole or streamed, goes through [`write_all`], except a [`BodyReader`]
//! passed on as a response, which the host splices from stream to stream. It does not parse
//! heads, route or choose statuses (`http`, `router` and `response` do).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::rc::Rc;

use wasi::http::types::{IncomingBody, IncomingRequest, IncomingResponse};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// The most bytes one read of a request body asks the host for (it hands out at most what it
/// has received).
const READ_CHUNK: u64 = 1 << 20;
/// The buffer a streamed response reads its source into, then writes at once.
const STREAM_CHUNK: usize = 256 << 10;

/// A request body, read as it arrives: what a streaming handler gets instead of
/// [`Request::body`](crate::Request::body) (see [`Streaming`](crate::Streaming) and
/// [`Router::post_stream`](crate::Router::post_stream)); also the body of a fetched response
/// ([`StreamingResponse::body`](crate::client::StreamingResponse::body)).
///
/// It is [`Read`] and [`BufRead`]: each piece is the one the host hands over (up to 1 MiB),
/// kept until it is read, so small reads do not make a host call each. [`copy_to`] writes the
/// pieces on without copying them first. A handler that reads only part of the body may drop
/// the rest. Passed on as a response body ([`Response::stream`](crate::Response::stream), or
/// a [`StreamingResponse`](crate::client::StreamingResponse) turned into a response), what
/// is left of it goes from the host's incoming stream to the response's without entering the
/// guest's memory (`wasi:io`'s `splice`).
///
/// [`copy_to`]: BodyReader::copy_to
///
/// ```
/// use std::io::{BufRead, Read};
/// use micro_space::BodyReader;
///
/// let mut body = BodyReader::from(b"first line\nthe rest".to_vec());
/// let mut line = String::new();
/// body.read_line(&mut line).unwrap();
/// assert_eq!(line, "first line\n");
/// let mut rest = Vec::new();
/// body.copy_to(&mut rest).unwrap();
/// assert_eq!(rest, b"the rest");
/// assert_eq!(body.read(&mut [0; 8]).unwrap(), 0);
/// ```
pub struct BodyReader {
    /// The piece being read, from `pos` on.
    chunk: Vec<u8>,
    pos: usize,
    /// The host's body, until its stream is closed; `None` for a body of bytes in memory.
    incoming: Option<Incoming>,
}

/// An incoming body and its stream, and the fetched response it belongs to, if any. Fields
/// drop in order: the stream before the body before the response, as `wasi:http` requires of
/// children and their parents.
struct Incoming {
    stream: InputStream,
    body: IncomingBody,
    response: Option<IncomingResponse>,
}

impl Incoming {
    /// What the body is, for errors.
    fn what(&self) -> &'static str {
        match self.response {
            Some(_) => "the response body",
            None => "the request body",
        }
    }
}

impl BodyReader {
    /// The body of `request`, not read yet.
    pub(crate) fn incoming(request: &IncomingRequest) -> Result<BodyReader, String> {
        let body = request.consume().map_err(|()| "body already consumed")?;
        let stream = body.stream().map_err(|()| "body stream already taken")?;
        Ok(BodyReader::unread(Incoming {
            stream,
            body,
            response: None,
        }))
    }

    /// The body of a fetched `response`, not read yet.
    pub(crate) fn fetched(response: IncomingResponse) -> Result<BodyReader, &'static str> {
        let body = response
            .consume()
            .map_err(|()| "the response body was already taken")?;
        let stream = body
            .stream()
            .map_err(|()| "the response body stream was already taken")?;
        Ok(BodyReader::unread(Incoming {
            stream,
            body,
            response: Some(response),
        }))
    }

    fn unread(incoming: Incoming) -> BodyReader {
        BodyReader {
            chunk: Vec::new(),
            pos: 0,
            incoming: Some(incoming),
        }
    }

    /// Writes the rest of the body to `out` and returns how many bytes that was. Each piece
    /// goes to `out` as the host handed it over (up to 1 MiB a write), so a large upload
    /// reaches a file in few writes and is never held whole.
    ///
    /// ```no_run
    /// use micro_space::{BodyReader, Request, Response, json};
    ///
    /// fn upload(_: Request, mut body: BodyReader) -> std::io::Result<Response> {
    ///     let mut file = std::fs::File::create("/tmp/upload")?;
    ///     let size = body.copy_to(&mut file)?;
    ///     Ok(Response::json(200, &json!({ "size": size })))
    /// }
    /// # let _ = upload;
    /// ```
    pub fn copy_to<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<u64> {
        let mut total = 0;
        loop {
            let piece = self.fill_buf()?;
            if piece.is_empty() {
                return Ok(total);
            }
            out.write_all(piece)?;
            let n = piece.len();
            total += n as u64;
            self.consume(n);
        }
    }

    /// The rest of the body in one vector with room for `reserve` bytes; a first piece at
    /// least that large becomes the vector itself, and a body already in memory is returned
    /// as it is.
    pub(crate) fn read_all(mut self, reserve: usize) -> io::Result<Vec<u8>> {
        let mut bytes = if self.pos == 0 {
            std::mem::take(&mut self.chunk)
        } else {
            self.chunk.split_off(self.pos)
        };
        if self.incoming.is_none() {
            return Ok(bytes);
        }
        bytes.reserve(reserve.saturating_sub(bytes.len()));
        while self.next_chunk()? {
            let chunk = std::mem::take(&mut self.chunk);
            if bytes.is_empty() && chunk.len() >= bytes.capacity() {
                bytes = chunk;
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        Ok(bytes)
    }

    /// Replaces the piece by the host's next one; `false` at the end of the body.
    fn next_chunk(&mut self) -> io::Result<bool> {
        while let Some(incoming) = &self.incoming {
            match incoming.stream.blocking_read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                    return Ok(true);
                }
                Err(StreamError::Closed) => self.finish_incoming(),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(read_error(incoming.what(), e));
                }
            }
        }
        Ok(false)
    }

    /// Ends the host's body once its stream is closed.
    fn finish_incoming(&mut self) {
        if let Some(Incoming {
            stream,
            body,
            response,
            ..
        }) = self.incoming.take()
        {
            drop(stream);
            drop(IncomingBody::finish(body));
            drop(response);
        }
    }

    /// Sends the rest of the body to `out`: the piece already read through [`write_all`],
    /// then whatever the host still has, spliced from its stream to `out` (each splice moves
    /// what has arrived, at most what `check-write` allows) without a copy in guest memory.
    fn splice_to(&mut self, out: &OutputStream) -> io::Result<()> {
        write_all(out, &self.chunk[self.pos..]).map_err(stream_error)?;
        self.pos = self.chunk.len();
        while let Some(incoming) = &self.incoming {
            // Reading and writing fail alike: the output's state tells them apart.
            match out.blocking_splice(&incoming.stream, u64::MAX) {
                Ok(_) => {}
                Err(StreamError::Closed) => {
                    out.check_write().map_err(stream_error)?;
                    self.finish_incoming();
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match out.check_write() {
                        Ok(_) => read_error(incoming.what(), e),
                        Err(error) => stream_error(error),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A failed read of `what`, saying why: the HTTP error the host gives for a fetched body
/// (a timeout, a reset connection), else its description of `e`.
fn read_error(what: &str, e: wasi::io::error::Error) -> io::Error {
    let why = match wasi::http::types::http_error_code(&e) {
        Some(code) => crate::client::Error::from(code).to_string(),
        None => e.to_debug_string(),
    };
    io::Error::other(format!("reading {what}: {why}"))
}

/// A body of these bytes: to test a streaming handler, or to give it a body read already.
impl From<Vec<u8>> for BodyReader {
    fn from(bytes: Vec<u8>) -> Self {
        BodyReader {
            chunk: bytes,
            pos: 0,
            incoming: None,
        }
    }
}

impl BufRead for BodyReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.chunk.len() && !self.next_chunk()? {
            return Ok(&[]);
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.chunk.len());
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = self.fill_buf()?;
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("buffered", &(self.chunk.len() - self.pos))
            .field("more_from_host", &self.incoming.is_some())
            .finish()
    }
}

/// What writes a streamed response body.
pub(crate) type WriteBody = Box<dyn FnOnce(&mut BodyOut<'_>) -> io::Result<()>>;

/// A response body made while it is sent. Clones of a response share it: the first one sent
/// takes it (and a later one is refused, see `http::send`). Two are equal when they share it.
#[derive(Clone)]
pub(crate) struct Stream(Rc<Cell<Option<WriteBody>>>);

impl Stream {
    /// A body that `write` writes to a [`Write`].
    pub(crate) fn new(write: impl FnOnce(&mut dyn Write) -> io::Result<()> + 'static) -> Self {
        Stream::to_body_out(move |out| write(out))
    }

    fn to_body_out(write: impl FnOnce(&mut BodyOut<'_>) -> io::Result<()> + 'static) -> Self {
        Stream(Rc::new(Cell::new(Some(Box::new(write)))))
    }

    /// A body read from `source` into a buffer, each read written at once. The buffer holds
    /// [`STREAM_CHUNK`] bytes, or `length` (the body's, when known) if that is less. A
    /// [`BodyReader`] sent to the host is spliced instead (see [`BodyReader::splice_to`]).
    pub(crate) fn from_reader(mut source: impl Read + 'static, length: Option<u64>) -> Self {
        let size = length.map_or(STREAM_CHUNK, |n| {
            usize::try_from(n).map_or(STREAM_CHUNK, |n| n.clamp(1, STREAM_CHUNK))
        });
        Stream::to_body_out(move |out| {
            let reader = (&mut source as &mut dyn Any).downcast_mut::<BodyReader>();
            if let (BodyOut::Host(stream), Some(reader)) = (&*out, reader) {
                return reader.splice_to(stream);
            }
            let mut buf = vec![0; size];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => out.write_all(&buf[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// The writer, unless a clone was sent already.
    pub(crate) fn take(&self) -> Option<WriteBody> {
        self.0.take()
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Stream {}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream(..)")
    }
}

/// Where a response body goes: the host's outgoing body stream, when the response is sent,
/// or any writer ([`Response::write_body`](crate::Response::write_body)). As a [`Write`], each
/// write to the host goes out whole through [`write_all`], and `flush` waits until the host
/// has taken everything written.
pub(crate) enum BodyOut<'a> {
    Host(&'a OutputStream),
    Other(&'a mut dyn Write),
}

impl Write for BodyOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BodyOut::Host(stream) => {
                write_all(stream, buf).map_err(stream_error)?;
                Ok(buf.len())
            }
            BodyOut::Other(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BodyOut::Host(stream) => stream.blocking_flush().map_err(stream_error),
            BodyOut::Other(out) => out.flush(),
        }
    }
}

/// Writes `bytes` in as few calls as the stream allows: each `write` takes what `check-write`
/// permits (micro-wasm and `wasmtime serve` allow 1 MiB at a time), waiting on the stream's
/// pollable when it permits nothing. `blocking-write-and-flush` would take at most 4096 bytes
/// a call, a host call and a body frame for every 4 KiB.
pub(crate) fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let allowed = match stream.check_write()? {
            0 => {
                stream.subscribe().block();
                continue;
            }
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let (now, rest) = bytes.split_at(allowed.min(bytes.len()));
        stream.write(now)?;
        bytes = rest;
    }
    Ok(())
}

pub(crate) fn stream_error(error: StreamError) -> io::Error {
    match error {
        StreamError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, "the body stream closed"),
        StreamError::LastOperationFailed(e) => io::Error::other(e.to_debug_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_body_in_memory() {
        let mut body = BodyReader::from(b"hello world".to_vec());
        let mut five = [0; 5];
        body.read_exact(&mut five).unwrap();
        assert_eq!(&five, b"hello");
        assert_eq!(body.fill_buf().unwrap(), b" world");
        // What is left is read whole, without the part already read.
        assert_eq!(body.read_all(1 << 20).unwrap(), b" world");
        // A body not read at all is returned as it is.
        let bytes = vec![7; 1000];
        let at = bytes.as_ptr();
        let returned = BodyReader::from(bytes).read_all(0).unwrap();
        assert_eq!(returned.as_ptr(), at);
    }

    #[test]
    fn copies_to_a_writer() {
        let mut body = BodyReader::from((0..=255u8).cycle().take(100_000).collect::<Vec<_>>());
        body.consume(10);
        let mut out = Vec::new();
        assert_eq!(body.copy_to(&mut out).unwrap(), 99_990);
        assert_eq!(out[0], 10);
        assert_eq!(out.len(), 99_990);
        assert_eq!(body.copy_to(&mut out).unwrap(), 0);
    }

    #[test]
    fn streams_a_reader_in_pieces() {
        let data: Vec<u8> = (0..=255u8).cycle().take(STREAM_CHUNK * 2 + 123).collect();
        let write = Stream::from_reader(io::Cursor::new(data.clone()), None)
            .take()
            .unwrap();
        let mut out = Pieces::default();
        write(&mut BodyOut::Other(&mut out)).unwrap();
        assert_eq!(out.bytes, data);
        assert_eq!(out.writes, 3, "one write per buffer read");
        // A known length smaller than a piece: one buffer of that size, one write.
        for length in [0, 1, 1000] {
            let data = vec![9; length];
            let source = io::Cursor::new(data.clone());
            let write = Stream::from_reader(source, Some(length as u64))
                .take()
                .unwrap();
            let mut out = Pieces::default();
            write(&mut BodyOut::Other(&mut out)).unwrap();
            assert_eq!((out.bytes, out.writes), (data, usize::from(length > 0)));
        }
    }

    #[test]
    fn a_stream_is_taken_once_and_shared_by_clones() {
        let stream = Stream::new(|out| out.write_all(b"x"));
        let clone = stream.clone();
        assert_eq!(stream, clone);
        assert_ne!(stream, Stream::new(|_| Ok(())));
        assert!(clone.take().is_some());
        assert!(stream.take().is_none());
        assert_eq!(format!("{stream:?}"), "Stream(..)");
    }

    /// A writer that counts the writes it is given.
    #[derive(Default)]
    struct Pieces {
        bytes: Vec<u8>,
        writes: usize,
    }

    impl Write for Pieces {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
