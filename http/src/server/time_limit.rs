//! A time limit per request ([`ServerSpec::time_limit`](crate::server::ServerSpec::time_limit),
//! [`RouteRef::time_limit`](crate::server::RouteRef::time_limit)): past it the client is
//! answered at once, and the request's coroutine is cancelled.
//!
//! How: a time-limited request runs in a coroutine of its own while the connection's coroutine
//! waits for it up to the limit. At the limit the connection's coroutine marks the request as
//! timed out and cancels it; may unwinds it at its next blocking call, where the pipeline
//! catches the cancellation, sees the mark, and ends the request as failed with [`TimedOut`]
//! (exception handlers, final headers such as the request id, access log, events: as any
//! failed request), after which its defers run. The connection's coroutine then writes that
//! one response: a request that finishes just as its limit passes is answered once, with
//! whichever outcome its coroutine reached.
//!
//! A handler that never reaches a blocking call cannot be cancelled (may cancels at yield
//! points); after [`CANCEL_GRACE`] the connection answers without it and closes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coordinator::Coordinator;
use http::StatusCode;
use http::header::{self, HeaderValue};

use crate::engine::{Body, BodyReader, BodyWriter, Response};
use crate::server::error::ClientError;

/// How long a cancelled request gets to unwind before its connection answers without it.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_millis(200);

/// A server's time limit (none unless set) and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeLimits {
    pub(crate) limit: Option<Duration>,
    pub(crate) status: StatusCode,
}

impl Default for TimeLimits {
    fn default() -> Self {
        TimeLimits {
            limit: None,
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl TimeLimits {
    /// The limit of a route whose own is `route` (`Some(ZERO)`: none).
    pub(crate) fn for_route(&self, route: Option<Duration>) -> Option<TimeLimit> {
        let limit = route.or(self.limit).filter(|limit| !limit.is_zero())?;
        Some(TimeLimit {
            limit,
            status: self.status,
        })
    }
}

/// A time limit and the status a request past it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeLimit {
    pub(crate) limit: Duration,
    pub(crate) status: StatusCode,
}

/// A request ran past its time limit: answered with the limit's status (`503` unless set)
/// and a message saying so; a server's fault rather than the client's, but the client may be
/// told (its request may be retried later). Exception handlers of your own find it with
/// [`find_cause`](crate::server::find_cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    limit: Duration,
    status: StatusCode,
}

impl TimedOut {
    pub(crate) fn new(limit: TimeLimit) -> Self {
        TimedOut {
            limit: limit.limit,
            status: limit.status,
        }
    }

    /// The limit the request ran past.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the request took longer than its {:?} limit", self.limit)
    }
}

impl std::error::Error for TimedOut {}

impl ClientError for TimedOut {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn client_message(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// The mark the connection's coroutine sets before it cancels a request at its limit, shared
/// with the request's coroutine: a cancellation with the mark set is the time limit's, any
/// other (a worker's drain) unwinds the request as before.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    limit: TimeLimit,
    at: Instant,
    passed: Arc<AtomicBool>,
}

impl Deadline {
    fn new(limit: TimeLimit) -> Self {
        Deadline {
            limit,
            at: Instant::now() + limit.limit,
            passed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the request's limit passed (and it was cancelled for it).
    pub(crate) fn passed(&self) -> bool {
        self.passed.load(Ordering::Acquire)
    }

    pub(crate) fn limit(&self) -> TimeLimit {
        self.limit
    }

    /// `response` with a streamed body cut at the deadline: a write past it fails, which
    /// makes the engine end the body there and close the connection.
    pub(crate) fn bound_stream(&self, response: Response) -> Response {
        if !response.body().is_stream() {
            return response;
        }
        let at = self.at;
        let (parts, body) = response.into_parts();
        let writer = body.into_writer().expect("checked to be a stream");
        let bounded = Body::stream(move |out: &mut BodyWriter<'_>| {
            let mut timed = Bounded { out, at };
            writer(&mut timed.writer())
        });
        Response::from_parts(parts, bounded)
    }
}

/// A body's output that refuses writes past `at`.
struct Bounded<'a, 'b> {
    out: &'a mut BodyWriter<'b>,
    at: Instant,
}

impl Bounded<'_, '_> {
    fn writer(&mut self) -> BodyWriter<'_> {
        BodyWriter {
            out: self,
            chunked: false,
            written: 0,
        }
    }
}

impl std::io::Write for Bounded<'_, '_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.at {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request's time limit passed while its body was streamed",
            ));
        }
        self.out.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Runs `request` — a time-limited request's pipeline, given its [`Deadline`] — in a
/// coroutine of its own with a stack of `stack_size` bytes, and waits for its response up to
/// the limit; past it, cancels it and answers as the module says.
///
/// `streamed_body`: the reader of the request's body when the handler reads it as it arrives:
/// a request cancelled mid-body leaves the connection's input unknown, so the rest is given up
/// and the answer closes the connection.
pub(crate) fn run_within(
    limit: TimeLimit,
    stack_size: usize,
    streamed_body: Option<BodyReader>,
    describe: &dyn Fn() -> String,
    request: impl FnOnce(Deadline) -> Response + Send + 'static,
) -> Response {
    let deadline = Deadline::new(limit);
    let done = Coordinator::new();
    let child = {
        let (deadline, done) = (deadline.clone(), done.clone());
        runtime::Builder::new()
            .stack_size(stack_size)
            .spawn(move || {
                let _done = ResumeOnDrop(done);
                request(deadline)
            })
    };
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            log::error!("no coroutine for a time-limited request: {error}");
            return bare(StatusCode::SERVICE_UNAVAILABLE, true);
        }
    };
    // The connection's coroutine may itself be cancelled while it waits (a worker's drain):
    // the request's coroutine must not outlive it.
    let mut guard = CancelOnDrop(Some(child));
    if !done.yield_timeout(limit.limit) {
        deadline.passed.store(true, Ordering::Release);
        guard.cancel();
        log::warn!(
            "{} ran past its {:?} time limit: cancelled",
            describe(),
            limit.limit
        );
        if !done.yield_timeout(CANCEL_GRACE) {
            log::error!(
                "{} did not stop within {CANCEL_GRACE:?} of its cancellation (a handler that \
                 never blocks cannot be cancelled): answered without it",
                describe()
            );
            return bare(limit.status, true);
        }
    }
    let child = guard.0.take().expect("joined once");
    let close = deadline.passed() && streamed_body.is_some();
    if let (true, Some(reader)) = (deadline.passed(), &streamed_body) {
        reader.abandon();
    }
    match child.join() {
        Ok(response) => {
            let mut response = response;
            if close {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
        // Unwound past the pipeline's own catch (cancelled while it logged or fired events,
        // or by a worker's drain).
        Err(_) => bare(limit.status, true),
    }
}

/// A response of `status` alone, closing the connection when `close`.
fn bare(status: StatusCode, close: bool) -> Response {
    let mut response = Response::new(Body::from(status.canonical_reason().unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Resumes its coordinator when dropped: when the request's coroutine ends, by returning or
/// by unwinding.
struct ResumeOnDrop(Coordinator);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        self.0.resume();
    }
}

/// Cancels the request's coroutine unless it was joined.
struct CancelOnDrop(Option<runtime::JoinHandle<Response>>);

impl CancelOnDrop {
    fn cancel(&mut self) {
        if let Some(child) = &self.0 {
            // SAFETY: the request's coroutine holds the request, its body reader and the
            // pipeline; each stays consistent when unwound at a blocking call (the body
            // reader's connection is closed after such a request, see `run_within`), and the
            // handler's own code is documented to be cancelled at its time limit
            // (`ServerSpec::time_limit`).
            unsafe { child.cancel() };
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancel();
    }
}
