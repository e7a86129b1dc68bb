//! One request through one instance of a Micro: the timeout (S5), traps and memory-limit hits
//! (S6), payload limits in both directions (S9; an oversized body is read and discarded up to
//! twice the limit before its 413, so the client sees the answer), and handing a healthy
//! instance back for reuse.
//!
//! The guest runs on the request's task until it sets its response head, then (when it is not
//! done yet) in its own task so its body can keep streaming; the guest's future owns the
//! timeout and decides whether the instance may be reused. This module must not route or
//! authenticate: the front door has done that before calling [`invoke`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Limited};
use tokio::sync::oneshot;
use wasmtime::Trap;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::micro::{Instance, InstanceError, Micro, Slot};
use crate::sandbox::limits::LimitHit;
use crate::transport::body::{self, LimitedRequest, ResponseBody};
use crate::transport::errors::{ErrorKind, HttpError};

/// How a guest's call ended, decided by the task that ran it.
#[derive(Debug)]
enum GuestEnd {
    /// `handle` returned normally.
    Finished,
    /// The call trapped; `limit` is set when a resource limit refused a growth first.
    Trapped {
        /// The full error, wasm backtrace included: for the log only.
        error: String,
        /// The trap code, when the guest trapped (rather than a host call failing).
        trap: Option<Trap>,
        interrupted: bool,
        limit: Option<LimitHit>,
    },
    /// The wall-clock bound fired while the guest was blocked in a host call.
    TimedOut,
}

/// An invocation's response (or error) and whether an instance was made for it.
pub struct Served {
    pub result: Result<Response<ResponseBody>, HttpError>,
    /// A cold start, also when the request then failed: the access line and the cold-start
    /// counter must agree.
    pub cold: bool,
}

/// Runs `req` (already routed: its URI carries the Micro-relative path and an authority)
/// through an instance of `micro`. Every failure becomes an [`HttpError`] naming the Micro.
pub async fn invoke<B>(micro: &Arc<Micro>, slot: Slot, req: Request<B>) -> Served
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let name = micro.name.as_str();
    let limits = &micro.limits;
    if let Some(len) = content_length(req.headers())
        && len > limits.payload
    {
        let e = HttpError::new(
            ErrorKind::RequestTooLarge,
            Some(name),
            format!(
                "request body of {len} bytes exceeds the payload limit of {} bytes",
                limits.payload
            ),
        );
        // A client that sends the body without waiting for `100 Continue` reads the 413 only
        // if the body is read first: closing with it unread resets the connection (S9).
        if len <= limits.payload.saturating_mul(2) && !expects_continue(req.headers()) {
            body::drain(req.into_body(), len, limits.timeout).await;
        }
        return Served {
            result: Err(e),
            cold: false,
        };
    }
    let started = Instant::now();
    match micro.instance().await {
        Ok((inst, cold)) => Served {
            result: call(micro, slot, req, inst, started).await,
            cold,
        },
        Err(e) => Served {
            result: Err(instance_error(name, e)),
            cold: true,
        },
    }
}

/// The guest's part of [`invoke`]: `inst` handles `req`, within the timeout from `started`.
async fn call<B>(
    micro: &Arc<Micro>,
    slot: Slot,
    req: Request<B>,
    mut inst: Instance,
    started: Instant,
) -> Result<Response<ResponseBody>, HttpError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let name = micro.name.as_str();
    let limits = &micro.limits;
    inst.store.data_mut().deadline = started + limits.timeout;
    inst.store.set_epoch_deadline(1);
    inst.store.data_mut().limiter.hit = None;

    let (req, too_large) = {
        let (parts, body) = req.into_parts();
        let waits = expects_continue(&parts.headers);
        let (body, flag) = LimitedRequest::new(body, limits.payload, limits.timeout, waits);
        (Request::from_parts(parts, body), flag)
    };
    let (tx, rx) = oneshot::channel();
    let (req, out) = {
        let mut http = inst.store.data_mut().http();
        let req = http
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| HttpError::new(ErrorKind::BadRequest, Some(name), format!("{e:#}")))?;
        let out = http
            .new_response_outparam(tx)
            .map_err(|e| HttpError::new(ErrorKind::Internal, Some(name), format!("{e:#}")))?;
        (req, out)
    };

    let timeout = limits.timeout;
    let deadline = started + timeout;
    let guest = Box::pin(async move {
        let call = inst
            .proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut inst.store, req, out);
        let outcome = match tokio::time::timeout_at(deadline.into(), call).await {
            Ok(Ok(())) => GuestEnd::Finished,
            Ok(Err(e)) => GuestEnd::Trapped {
                interrupted: matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)),
                trap: e.downcast_ref::<Trap>().copied(),
                error: format!("{e:#}"),
                limit: inst.store.data().limiter.hit,
            },
            Err(_) => GuestEnd::TimedOut,
        };
        if matches!(outcome, GuestEnd::Finished) && inst.store.data().limiter.hit.is_none() {
            slot.micro().give_back(inst);
        }
        drop(slot);
        outcome
    });
    let (head, task) = run_until_head(guest, rx).await;

    let head = match head {
        Some(Ok(resp)) => resp,
        Some(Err(code)) => {
            return Err(guest_error_code(name, code));
        }
        None => {
            let outcome = task.outcome().await;
            if too_large.load(Ordering::Acquire) {
                return Err(request_too_large(name, limits.payload));
            }
            return Err(outcome_error(name, timeout, outcome));
        }
    };
    if too_large.load(Ordering::Acquire) {
        return Err(request_too_large(name, limits.payload));
    }
    let response = finish_response(
        name,
        limits.payload,
        head,
        deadline + Duration::from_millis(50),
        timeout,
        task,
    )
    .await;
    // A guest that answered before reading its body (a mirror, an upload streamed on) meets
    // the limit while its response is being collected: nothing was sent yet, so the answer is
    // the request's 413, whether the guest then failed its body or finished it short.
    if too_large.load(Ordering::Acquire) {
        return Err(request_too_large(name, limits.payload));
    }
    response
}

fn request_too_large(micro: &str, limit: u64) -> HttpError {
    HttpError::new(
        ErrorKind::RequestTooLarge,
        Some(micro),
        format!("request body exceeds the payload limit of {limit} bytes"),
    )
}

/// The guest's call: finished while the front door waited for its response head, or still
/// running in its own task (writing its body, or stuck until its timeout).
enum GuestRun {
    Done(GuestEnd),
    Running(tokio::task::JoinHandle<GuestEnd>),
}

impl GuestRun {
    async fn outcome(self) -> GuestEnd {
        match self {
            GuestRun::Done(outcome) => outcome,
            GuestRun::Running(task) => task.await.unwrap_or(GuestEnd::TimedOut),
        }
    }
}

/// The response head the guest set, or its `error-code`; `None` when it set neither.
type Head = Option<Result<Response<HyperOutgoingBody>, ErrorCode>>;

/// Runs the guest on the caller's task until it sets its response head. A guest that is done
/// by then (most handlers write a small body and return) never needs a task of its own; one
/// still running (streaming its body, or blocked) moves to a spawned task, so the head can be
/// answered while it goes on.
async fn run_until_head(
    mut guest: Pin<Box<impl Future<Output = GuestEnd> + Send + 'static>>,
    mut head: oneshot::Receiver<Result<Response<HyperOutgoingBody>, ErrorCode>>,
) -> (Head, GuestRun) {
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = guest.as_mut().poll(cx) {
            return Poll::Ready(Ok(outcome));
        }
        Pin::new(&mut head).poll(cx).map(Err)
    })
    .await;
    match first {
        Ok(outcome) => (head.try_recv().ok(), GuestRun::Done(outcome)),
        Err(head) => (head.ok(), GuestRun::Running(tokio::spawn(guest))),
    }
}

/// The guest set its response: stream it when its declared length fits the payload limit,
/// otherwise buffer it up to the limit so an oversized response is a clean 502 (S9).
async fn finish_response(
    micro: &str,
    limit: u64,
    head: Response<HyperOutgoingBody>,
    deadline: Instant,
    timeout: Duration,
    task: GuestRun,
) -> Result<Response<ResponseBody>, HttpError> {
    let (parts, guest_body) = head.into_parts();
    let too_large = |n: String| {
        HttpError::new(
            ErrorKind::ResponseTooLarge,
            Some(micro),
            format!("response body of {n} bytes exceeds the payload limit of {limit} bytes"),
        )
    };
    match content_length(&parts.headers) {
        Some(len) if len > limit => Err(too_large(len.to_string())),
        Some(len) => {
            let body = Limited::new(guest_body, limit as usize).map_err(|e| e as body::BoxError);
            let body = match task {
                // The common case: the guest returned before its head was answered.
                GuestRun::Done(GuestEnd::Finished) => body.boxed_unsync(),
                task => UntilReturned::new(body, len, task, micro, timeout).boxed_unsync(),
            };
            Ok(Response::from_parts(parts, body))
        }
        None => {
            let collected = tokio::time::timeout_at(
                deadline.into(),
                Limited::new(guest_body, limit as usize).collect(),
            )
            .await;
            match collected {
                // A body cut short by a timeout or trap ends like a finished one: only the
                // task's outcome tells them apart.
                Ok(Ok(c)) => match task.outcome().await {
                    GuestEnd::Finished => match body::buffered(c.to_bytes()) {
                        Some(body) => Ok(Response::from_parts(parts, body)),
                        None => Err(HttpError::new(
                            ErrorKind::Busy,
                            Some(micro),
                            format!(
                                "the runtime already holds {} MiB of unsent responses",
                                body::BUFFERED_RESPONSES_MAX >> 20
                            ),
                        )),
                    },
                    outcome => Err(outcome_error(micro, timeout, outcome)),
                },
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    Err(too_large(format!("more than {limit}")))
                }
                Ok(Err(_)) => Err(match task.outcome().await {
                    GuestEnd::Finished => HttpError::new(
                        ErrorKind::Trap,
                        Some(micro),
                        "guest trapped: response body ended with an error",
                    ),
                    other => outcome_error(micro, timeout, other),
                }),
                Err(_) => Err(outcome_error(micro, timeout, GuestEnd::TimedOut)),
            }
        }
    }
}

/// A streamed response body whose last bytes wait until the guest's call has returned. A
/// client that reads a whole response and sends its next request then finds the instance back
/// in the pool, as under Lambda, where a response leaves only when the handler returns (S11:
/// globals survive between sequential requests). A call that ends badly after the head was
/// sent (trap, timeout) cuts the body short with an error instead of completing it.
struct UntilReturned<B> {
    inner: B,
    /// Bytes still due under the declared Content-Length.
    remaining: u64,
    /// The guest's call, until its outcome has been taken.
    task: Option<GuestRun>,
    /// Set once the body is complete: `last` (the frame that completed it, if any) waits for
    /// `task`.
    complete: bool,
    last: Option<Frame<Bytes>>,
    micro: String,
    timeout: Duration,
}

impl<B> UntilReturned<B> {
    fn new(inner: B, len: u64, task: GuestRun, micro: &str, timeout: Duration) -> Self {
        UntilReturned {
            inner,
            remaining: len,
            task: Some(task),
            complete: false,
            last: None,
            micro: micro.to_owned(),
            timeout,
        }
    }
}

impl<B> Body for UntilReturned<B>
where
    B: Body<Data = Bytes, Error = body::BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, body::BoxError>>> {
        let this = &mut *self;
        loop {
            if this.complete {
                if let Some(task) = this.task.take() {
                    let outcome = match task {
                        GuestRun::Done(outcome) => outcome,
                        GuestRun::Running(mut handle) => match Pin::new(&mut handle).poll(cx) {
                            Poll::Ready(joined) => joined.unwrap_or(GuestEnd::TimedOut),
                            Poll::Pending => {
                                this.task = Some(GuestRun::Running(handle));
                                return Poll::Pending;
                            }
                        },
                    };
                    if !matches!(outcome, GuestEnd::Finished) {
                        this.last = None;
                        let e = outcome_error(&this.micro, this.timeout, outcome);
                        tracing::warn!(micro = %this.micro, error = %e.message, detail = e.detail.as_deref(), "response cut short");
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                }
                return Poll::Ready(this.last.take().map(Ok));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.remaining = this.remaining.saturating_sub(data.len() as u64);
                    }
                    if this.remaining > 0 {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    this.last = Some(frame);
                    this.complete = true;
                }
                None => this.complete = true,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn outcome_error(micro: &str, timeout: Duration, outcome: GuestEnd) -> HttpError {
    match outcome {
        GuestEnd::Finished => HttpError::new(
            ErrorKind::Trap,
            Some(micro),
            "guest returned without setting a response",
        ),
        GuestEnd::TimedOut
        | GuestEnd::Trapped {
            interrupted: true, ..
        } => HttpError::new(
            ErrorKind::Timeout,
            Some(micro),
            format!("execution exceeded the timeout of {}", humantime(timeout)),
        ),
        GuestEnd::Trapped {
            limit: Some(hit),
            error,
            ..
        } => HttpError::new(ErrorKind::MemoryLimit, Some(micro), limit_message(hit))
            .with_detail(error),
        // The message names the trap, never the backtrace: it holds the component's path.
        GuestEnd::Trapped { error, trap, .. } => HttpError::new(
            ErrorKind::Trap,
            Some(micro),
            match trap {
                Some(trap) => format!("guest trapped: {trap}"),
                None => "guest trapped".to_string(),
            },
        )
        .with_detail(error),
    }
}

/// What a [`LimitHit`] refused, for the message of a 502 `memory_limit`.
fn limit_message(hit: LimitHit) -> String {
    match hit {
        LimitHit::Memory { limit, requested } => {
            format!("memory limit of {limit} bytes exceeded (instance asked for {requested})")
        }
        LimitHit::Table { limit, requested } => {
            format!(
                "memory limit of {limit} bytes exceeded by table growth (asked for {requested})"
            )
        }
        LimitHit::TableElements { max, requested } => {
            format!("table growth to {requested} elements refused: a table holds at most {max}")
        }
    }
}

/// The answer when no instance could be made: the same kinds as at run time.
fn instance_error(micro: &str, e: InstanceError) -> HttpError {
    match e {
        InstanceError::PoolFull(e) => HttpError::new(
            ErrorKind::Busy,
            Some(micro),
            "every instance slot of the app is in use",
        )
        .with_detail(format!("{e:#}")),
        InstanceError::OverLimit(hit, e) => HttpError::new(
            ErrorKind::MemoryLimit,
            Some(micro),
            format!("cannot instantiate the component: {}", limit_message(hit)),
        )
        .with_detail(format!("{e:#}")),
        InstanceError::Failed(e) => HttpError::new(
            ErrorKind::Trap,
            Some(micro),
            "cannot instantiate the component",
        )
        .with_detail(format!("{e:#}")),
    }
}

fn guest_error_code(micro: &str, code: ErrorCode) -> HttpError {
    HttpError::new(
        ErrorKind::Trap,
        Some(micro),
        format!("guest answered with an error: {code:?}"),
    )
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
