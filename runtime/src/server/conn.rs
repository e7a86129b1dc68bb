//! How long one client connection may hold its slot without using it (SPEC §4): a connection
//! with no request in flight for the idle timeout is closed (gracefully: HTTP/2 gets a GOAWAY,
//! a connection still in protocol detection or sending its head is dropped), and so is one
//! whose client accepts no byte of a pending response for the same time (a slow reader).
//!
//! It owns the per-connection [`Activity`] record, the socket wrapper that feeds it
//! ([`Watched`]), the response body wrapper that counts requests in flight ([`Tracked`]) and
//! the loop that drives a connection ([`drive`]). It must not parse HTTP nor answer requests.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What one connection is doing, as its watchdog sees it. Times are milliseconds since the
/// connection was accepted.
pub struct Activity {
    born: Instant,
    /// Requests whose response body has not been dropped yet.
    in_flight: AtomicUsize,
    /// When the last request in flight ended, or a stalled write moved again.
    idle_since: AtomicU64,
    /// One more than when a write first found the socket full; 0 while writes go through.
    blocked_since: AtomicU64,
    /// A request ended since the last completed flush, so the end of its response may still
    /// be in hyper's write buffer (see [`Activity::quiet`]).
    unflushed: AtomicBool,
}

/// What the watchdog should do with a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A request is in flight, or the connection was used within the timeout.
    Busy,
    /// No request in flight and no use for the timeout: close it gracefully.
    Idle,
    /// A response is pending and the client has accepted no byte of it for the timeout.
    Stalled,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
            unflushed: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// A request has started; it stays in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// The verdict at `now_ms` for a connection allowed `timeout_ms` of no use.
    pub fn verdict_at(&self, now_ms: u64, timeout_ms: u64) -> Verdict {
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        if blocked != 0 {
            return if now_ms.saturating_sub(blocked - 1) >= timeout_ms {
                Verdict::Stalled
            } else {
                Verdict::Busy
            };
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Verdict::Busy;
        }
        let since = self.idle_since.load(Ordering::Relaxed);
        if now_ms.saturating_sub(since) >= timeout_ms {
            Verdict::Idle
        } else {
            Verdict::Busy
        }
    }

    /// True when no response of the service can be going out: no request is in flight and
    /// every response that ended has since been flushed whole to the socket. hyper encodes a
    /// response completely into its buffer before it drops the body (which ends the request)
    /// and writes its whole buffer before it flushes the socket, so a byte written while the
    /// connection is quiet is hyper's own, never a Micro's.
    pub fn quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && !self.unflushed.load(Ordering::Relaxed)
    }

    /// A flush of the socket completed: every byte hyper had buffered was written.
    pub fn flushed(&self) {
        self.unflushed.store(false, Ordering::Relaxed);
    }

    fn write_blocked(&self) {
        if self.blocked_since.load(Ordering::Relaxed) == 0 {
            self.blocked_since
                .store(self.now_ms() + 1, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        if self.blocked_since.load(Ordering::Relaxed) != 0 {
            self.blocked_since.store(0, Ordering::Relaxed);
            self.idle_since.store(self.now_ms(), Ordering::Relaxed);
        }
    }
}

/// A request in flight on its connection; dropping it ends the request.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.unflushed.store(true, Ordering::Relaxed);
        if a.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            a.idle_since.store(a.now_ms(), Ordering::Relaxed);
        }
    }
}

/// A response body that keeps its request in flight until hyper drops it.
pub struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        Tracked {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Vectored writes up to this many bytes in all are copied into one buffer and written with
/// one `write`; larger ones go to the socket as they are.
const COALESCE_MAX: usize = 4096;

/// A socket whose writes report to the connection's [`Activity`]: a write the kernel cannot
/// take starts the stall clock, the next one it takes stops it; a completed flush marks every
/// ended response as written.
///
/// hyper hands it a response's head and body as separate slices. A small response (most
/// Micros' answers) is copied into one buffer and goes out in one plain `write`, which
/// measured cheaper than a vectored write of the pieces; a large body is written from where
/// it lies, without the copy that hyper's own flattening would make of every byte.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    /// Where small vectored writes are joined; kept (at most [`COALESCE_MAX`] bytes) for the
    /// connection's next response.
    joined: Vec<u8>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched {
            inner,
            activity,
            joined: Vec::new(),
        }
    }

    fn noted(&self, p: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &p {
            Poll::Pending => self.activity.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.activity.wrote(),
            Poll::Ready(_) => {}
        }
        p
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.noted(p)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let join = bufs.len() > 1 && bufs.iter().map(|b| b.len()).sum::<usize>() <= COALESCE_MAX;
        let this = &mut *self;
        let p = if join {
            this.joined.clear();
            this.joined.reserve_exact(COALESCE_MAX);
            for b in bufs {
                this.joined.extend_from_slice(b);
            }
            Pin::new(&mut this.inner).poll_write(cx, &this.joined)
        } else {
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
        };
        self.noted(p)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = p {
            self.activity.flushed();
        }
        p
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How a connection ended.
#[derive(Debug)]
pub enum End<E> {
    /// hyper finished it (the client closed, or a graceful close completed).
    Served(Result<(), E>),
    /// Idle past the timeout and still open a timeout after the graceful close began.
    Idle,
    /// The client accepted no byte of a pending response for the timeout.
    Stalled,
}

/// Drives `conn` until it ends, closing it when `activity` says it is idle or stalled for
/// `timeout`, and gracefully once `shutdown` resolves. `graceful` starts hyper's graceful
/// close of `conn`.
pub async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    graceful: impl Fn(Pin<&mut C>),
    activity: &Activity,
    timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> End<E>
where
    C: Future<Output = Result<(), E>>,
{
    let timeout_ms = timeout.as_millis().max(1) as u64;
    // Checked every quarter of the timeout (at most every second): a connection closes at
    // most that much after its timeout.
    let period = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut shutting_down = false;
    let mut closing_since: Option<u64> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => return End::Served(ended),
            () = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                graceful(conn.as_mut());
            }
            _ = tick.tick() => {
                let now = activity.now_ms();
                match activity.verdict_at(now, timeout_ms) {
                    Verdict::Busy => {}
                    Verdict::Stalled => return End::Stalled,
                    Verdict::Idle => match closing_since {
                        None => {
                            closing_since = Some(now);
                            graceful(conn.as_mut());
                        }
                        Some(at) if now - at >= timeout_ms => return End::Idle,
                        Some(_) => {}
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_with_nothing_in_flight_for_the_timeout() {
        let a = Activity::new();
        assert_eq!(a.verdict_at(99, 100), Verdict::Busy);
        assert_eq!(a.verdict_at(100, 100), Verdict::Idle);
        let req = a.begin();
        assert_eq!(a.verdict_at(10_000, 100), Verdict::Busy);
        drop(req);
        let ended = a.idle_since.load(Ordering::Relaxed);
        assert_eq!(a.verdict_at(ended + 99, 100), Verdict::Busy);
        assert_eq!(a.verdict_at(ended + 100, 100), Verdict::Idle);
    }

    #[test]
    fn a_connection_is_quiet_only_once_every_ended_response_was_flushed() {
        let a = Activity::new();
        assert!(a.quiet(), "a new connection has written nothing");
        let req = a.begin();
        assert!(!a.quiet(), "a request in flight");
        a.flushed();
        assert!(!a.quiet(), "a flush mid-response");
        drop(req);
        assert!(
            !a.quiet(),
            "the response's end may still be in hyper's buffer"
        );
        a.flushed();
        assert!(a.quiet());
    }

    /// A socket that records each write: `(vectored, bytes)`, taking at most `take` bytes.
    struct Recorder {
        writes: Vec<(bool, Vec<u8>)>,
        take: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.take);
            self.writes.push((false, buf[..n].to_vec()));
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = all.len().min(self.take);
            self.writes.push((true, all[..n].to_vec()));
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn write_vectored(w: &mut Watched<Recorder>, bufs: &[&[u8]]) -> usize {
        let slices: Vec<io::IoSlice<'_>> = bufs.iter().map(|b| io::IoSlice::new(b)).collect();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(w).poll_write_vectored(&mut cx, &slices) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("write did not complete: {other:?}"),
        }
    }

    #[test]
    fn small_vectored_writes_go_out_joined_and_large_ones_as_they_are() {
        let socket = Recorder {
            writes: Vec::new(),
            take: usize::MAX,
        };
        let mut w = Watched::new(socket, Activity::new());
        assert_eq!(
            write_vectored(&mut w, &[b"HTTP/1.1 200 OK\r\n\r\n", b"hi"]),
            21
        );
        let body = vec![7u8; COALESCE_MAX];
        assert_eq!(write_vectored(&mut w, &[b"head", &body]), 4 + COALESCE_MAX);
        let writes = &w.inner.writes;
        assert_eq!(writes[0], (false, b"HTTP/1.1 200 OK\r\n\r\nhi".to_vec()));
        assert!(
            writes[1].0,
            "over {COALESCE_MAX} bytes the write stays vectored"
        );
        assert_eq!(writes[1].1.len(), 4 + COALESCE_MAX);
    }

    #[test]
    fn a_joined_write_the_socket_takes_in_part_reports_what_it_took() {
        let socket = Recorder {
            writes: Vec::new(),
            take: 5,
        };
        let mut w = Watched::new(socket, Activity::new());
        assert_eq!(write_vectored(&mut w, &[b"abc", b"defg"]), 5);
        assert_eq!(w.inner.writes, vec![(false, b"abcde".to_vec())]);
    }

    #[test]
    fn a_blocked_write_stalls_after_the_timeout_even_with_a_request_in_flight() {
        let a = Activity::new();
        let _req = a.begin();
        a.blocked_since.store(51, Ordering::Relaxed);
        assert_eq!(a.verdict_at(149, 100), Verdict::Busy);
        assert_eq!(a.verdict_at(150, 100), Verdict::Stalled);
        a.wrote();
        assert_eq!(a.verdict_at(10_000, 100), Verdict::Busy);
    }
}
