//! Streaming payload limits (S9) and the response body type of the front door.
//!
//! Request bodies are counted while they stream into the guest; crossing the limit ends the
//! guest's stream with an error and raises a flag the invoker turns into 413. Before that
//! error, and before a 413 refused up front ([`drain`]), the rest of the body is read and
//! discarded up to one more payload limit: a client that writes its whole body before reading
//! (most HTTP libraries without `Expect: 100-continue`) then reads the 413 instead of a reset
//! connection. For the same reason, a body the guest leaves unread (it answered, trapped or
//! timed out first) is read to its end and discarded after it is dropped, within the payload
//! limit and the Micro's timeout: the connection then closes cleanly or carries the next
//! request. It must not buffer request bodies.
//!
//! Complete response bodies waiting for their clients ([`buffered`]) count against one bound
//! for the whole process, [`BUFFERED_RESPONSES_MAX`], so clients that do not read cannot make
//! the runtime hold response after response; they go out in 64 KiB frames, so hyper copies
//! one frame at a time rather than the whole body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Errors a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response micro-wasm sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// Most bytes of buffered response bodies held at once, across the process.
pub const BUFFERED_RESPONSES_MAX: usize = 256 * 1024 * 1024;

/// The bytes [`buffered`] may still hand out.
static BUFFERED: Semaphore = Semaphore::const_new(BUFFERED_RESPONSES_MAX);

/// Bytes of a buffered response handed out per frame.
const FRAME_BYTES: usize = 64 * 1024;

/// A complete body counted against [`BUFFERED_RESPONSES_MAX`] until it is dropped (sent, or
/// its connection closed); `None` when the bound has no room for it.
pub fn buffered(bytes: Bytes) -> Option<ResponseBody> {
    buffered_in(&BUFFERED, bytes)
}

fn buffered_in(budget: &'static Semaphore, bytes: Bytes) -> Option<ResponseBody> {
    let permit = budget
        .try_acquire_many(u32::try_from(bytes.len()).ok()?)
        .ok()?;
    Some(
        Framed {
            bytes,
            _permit: permit,
        }
        .boxed_unsync(),
    )
}

/// A complete body handed out in [`FRAME_BYTES`] frames, holding its share of the bound.
struct Framed {
    bytes: Bytes,
    _permit: SemaphorePermit<'static>,
}

impl Body for Framed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.bytes.len().min(FRAME_BYTES);
        Poll::Ready(Some(Ok(Frame::data(self.bytes.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}

/// An empty body.
pub fn empty() -> ResponseBody {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

/// A request body that fails once more than `limit` bytes have streamed through (S9).
/// Dropped before its end, it hands the rest to a task that discards it ([`drain`]).
pub struct LimitedRequest<B: Body<Data = Bytes> + Send + Unpin + 'static> {
    /// Taken only when dropped.
    inner: Option<B>,
    remaining: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
    /// Once the limit is crossed: bytes still to discard before the error is returned.
    draining: Option<u64>,
    /// The error has been returned: the body stays failed.
    failed: bool,
    /// How long what is left unread may still be discarded once the body is dropped.
    linger: Duration,
    /// The client waits for `100 Continue` before sending the body (hyper sends it when the
    /// body is first polled): left unpolled, the body is never sent and not drained.
    expects_continue: bool,
    /// The body has been polled.
    started: bool,
}

impl<B: Body<Data = Bytes> + Send + Unpin + 'static> LimitedRequest<B> {
    /// Wraps `inner`; the returned flag turns true when the limit is crossed. Left unread,
    /// the rest is discarded for at most `linger` after the body is dropped, unless the
    /// client `expects_continue` and the body was never polled.
    pub fn new(
        inner: B,
        limit: u64,
        linger: Duration,
        expects_continue: bool,
    ) -> (Self, Arc<AtomicBool>) {
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = LimitedRequest {
            inner: Some(inner),
            remaining: limit,
            limit,
            exceeded: exceeded.clone(),
            draining: None,
            failed: false,
            linger,
            expects_continue,
            started: false,
        };
        (body, exceeded)
    }

    fn inner(&mut self) -> Pin<&mut B> {
        Pin::new(self.inner.as_mut().expect("taken only when dropped"))
    }

    fn error(&self) -> wasmtime_wasi_http::Error {
        wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.limit))
    }

    /// Discards what follows the crossing frame, up to one more limit, then fails.
    fn drain(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>> {
        let mut left = self.draining.unwrap_or(0);
        loop {
            match self.inner().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    if n >= left {
                        break;
                    }
                    left -= n;
                }
                Poll::Ready(_) => break,
                Poll::Pending => {
                    self.draining = Some(left);
                    return Poll::Pending;
                }
            }
        }
        self.draining = None;
        self.failed = true;
        Poll::Ready(Some(Err(self.error())))
    }
}

impl<B> Body for LimitedRequest<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        this.started = true;
        if this.failed {
            return Poll::Ready(Some(Err(this.error())));
        }
        if this.draining.is_some() {
            return this.drain(cx);
        }
        match this.inner().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.remaining {
                        this.exceeded.store(true, Ordering::Release);
                        this.remaining = 0;
                        // Read the rest (up to one more limit) before failing, so the client
                        // can finish writing and read the 413.
                        this.draining = Some(this.limit);
                        return this.drain(cx);
                    }
                    this.remaining -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(B::size_hint).unwrap_or_default()
    }
}

impl<B: Body<Data = Bytes> + Send + Unpin + 'static> Drop for LimitedRequest<B> {
    /// A body dropped before its end (the guest answered without reading it all, trapped or
    /// timed out) is read to its end and discarded by a task of its own, within what the
    /// limit still allows and `linger`: closing a connection with the client's upload unread
    /// resets it, and the client loses the answer it has not read yet.
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if self.failed || inner.is_end_stream() || (self.expects_continue && !self.started) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let left = self.draining.unwrap_or(self.remaining);
        runtime.spawn(drain(inner, left, self.linger));
    }
}

/// Reads and discards `body` for at most `max` bytes and `within`; true when it was read to
/// its end (the connection can then carry another request).
pub async fn drain<B>(mut body: B, max: u64, within: Duration) -> bool
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut left = max;
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            if n > left {
                return false;
            }
            left -= n;
        }
        true
    };
    tokio::time::timeout(within, read).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    fn chunks(
        n: usize,
        size: usize,
    ) -> impl Body<Data = Bytes, Error = hyper::Error> + Send + Unpin + 'static {
        let frames =
            (0..n).map(move |_| Ok::<_, hyper::Error>(Frame::data(Bytes::from(vec![b'x'; size]))));
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn s9_streamed_bytes_are_counted() {
        let (body, flag) = LimitedRequest::new(chunks(10, 100), 1000, Duration::ZERO, false);
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 1000);
        assert!(!flag.load(Ordering::Acquire));

        let (body, flag) = LimitedRequest::new(chunks(11, 100), 1000, Duration::ZERO, false);
        assert!(body.collect().await.is_err());
        assert!(flag.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn s9_a_body_over_the_limit_is_read_to_its_end_before_the_error() {
        let (read, polled) = counted(chunks(15, 100));
        let (mut body, _flag) = LimitedRequest::new(read, 1000, Duration::ZERO, false);
        while let Some(Ok(_)) = body.frame().await {}
        assert_eq!(polled.load(Ordering::Relaxed), 15);
        // Past one more limit, the rest is left unread.
        let (read, polled) = counted(chunks(40, 100));
        let (mut body, _flag) = LimitedRequest::new(read, 1000, Duration::ZERO, false);
        while let Some(Ok(_)) = body.frame().await {}
        assert_eq!(polled.load(Ordering::Relaxed), 21);
    }

    #[tokio::test]
    async fn s9_a_body_dropped_unread_is_read_to_its_end_within_the_limit() {
        let (read, polled) = counted(chunks(10, 100));
        let (mut body, _flag) = LimitedRequest::new(read, 1000, Duration::from_secs(5), false);
        body.frame().await.unwrap().unwrap();
        drop(body);
        let all_read = async {
            while polled.load(Ordering::Relaxed) < 10 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), all_read)
            .await
            .expect("the rest is discarded");
        // Past the limit, the rest is left unread (the connection then closes).
        let (read, polled) = counted(chunks(40, 100));
        let (mut body, _flag) = LimitedRequest::new(read, 1000, Duration::from_secs(5), false);
        body.frame().await.unwrap().unwrap();
        drop(body);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(polled.load(Ordering::Relaxed), 11);
        // A client waiting for `100 Continue` is never asked for a body the guest never read.
        let (read, polled) = counted(chunks(10, 100));
        let (body, _flag) = LimitedRequest::new(read, 1000, Duration::from_secs(5), true);
        drop(body);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(polled.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn buffered_bodies_share_one_bound_and_go_out_in_frames() {
        static BUDGET: Semaphore = Semaphore::const_new(200_000);
        let first = buffered_in(&BUDGET, Bytes::from(vec![1u8; 150_000])).unwrap();
        assert!(buffered_in(&BUDGET, Bytes::from(vec![2u8; 60_000])).is_none());
        assert_eq!(first.size_hint().exact(), Some(150_000));
        let mut frames = 0;
        let mut body = first;
        while let Some(frame) = body.frame().await {
            assert!(frame.unwrap().data_ref().unwrap().len() <= FRAME_BYTES);
            frames += 1;
        }
        assert_eq!(frames, 3);
        drop(body);
        assert!(buffered_in(&BUDGET, Bytes::from(vec![2u8; 60_000])).is_some());
    }

    #[tokio::test]
    async fn drain_reads_to_the_end_within_its_bound() {
        assert!(drain(chunks(10, 100), 1000, Duration::from_secs(1)).await);
        assert!(!drain(chunks(11, 100), 1000, Duration::from_secs(1)).await);
    }

    /// `body`, and a count of the data frames read from it.
    fn counted(
        body: impl Body<Data = Bytes, Error = hyper::Error> + Send + Unpin + 'static,
    ) -> (
        impl Body<Data = Bytes, Error = hyper::Error> + Send + Unpin + 'static,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = n.clone();
        let body = body.map_frame(move |f| {
            seen.fetch_add(1, Ordering::Relaxed);
            f
        });
        (body, n)
    }
}
