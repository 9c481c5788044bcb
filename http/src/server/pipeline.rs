//! The default `on_request`: the seed's ten steps, from routing to the response.
//!
//! What concerns the process rather than the request — the health route, the wait for a
//! started worker, the worker's `max_request` count — wraps this service as layers of its own
//! (`server::process`), so that the pipeline knows nothing of workers.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};

use crate::engine::Body;
use crate::engine::{BodyPolicy, BodyReader, BoxError, Incoming, Request, Response, Service};
use crate::server::access_log::AccessLog;
use crate::server::client_addr::{ClientAddr, TrustedProxies};
use crate::server::error::Panicked;
use crate::server::events::{Listeners, RequestHandled, RequestReceived, RequestTerminated};
use crate::server::exception::{self, Registered};
use crate::server::extract::{BodyLimits, StateMap};
use crate::server::middleware::{self, Entry, FinalHeaders, Middleware, Next};
use crate::server::request_context::{RequestContext, RequestHead};
use crate::server::response::with_room;
use crate::server::routing::{Dispatched, Router};
use crate::server::time_limit::{self, Deadline, TimeLimit, TimeLimits, TimedOut};

type Chain = Arc<[Arc<dyn Middleware>]>;

/// One server's request pipeline, with everything that does not change per request computed
/// once: the router and each route's middleware chain.
pub(crate) struct Pipeline {
    server: Arc<str>,
    router: Router,
    /// The chain of each route (global + route middlewares, sorted when Hyperf sorts).
    route_chains: Vec<Chain>,
    /// The chain for requests no route matched: the global middlewares alone.
    fallback_chain: Chain,
    exception_handlers: Vec<Registered>,
    lifecycle: bool,
    listeners: Arc<Listeners>,
    access_log: Option<AccessLog>,
    trusted_proxies: TrustedProxies,
    /// Each route's time limit, resolved with the server's.
    route_limits: Vec<Option<TimeLimit>>,
    /// The stack of a time-limited request's own coroutine: the engine's.
    stack_size: usize,
    /// The pipeline itself, for the coroutine of a time-limited request to own.
    this: Weak<Pipeline>,
}

pub(crate) struct PipelineParts {
    pub(crate) server: Arc<str>,
    pub(crate) router: Router,
    pub(crate) states: StateMap,
    pub(crate) limits: BodyLimits,
    pub(crate) global: Vec<Entry>,
    pub(crate) exception_handlers: Vec<Registered>,
    pub(crate) lifecycle: bool,
    pub(crate) listeners: Arc<Listeners>,
    pub(crate) access_log: Option<AccessLog>,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) time_limit: TimeLimits,
    pub(crate) stack_size: usize,
}

impl Pipeline {
    pub(crate) fn new(mut parts: PipelineParts) -> Arc<Self> {
        parts.router.prepare(&parts.states, parts.limits);
        let route_limits = parts
            .router
            .route_entries()
            .iter()
            .map(|route| parts.time_limit.for_route(route.time_limit))
            .collect();
        let route_chains = parts
            .router
            .route_entries()
            .iter()
            .map(|route| Chain::from(middleware::chain(&parts.global, &route.middlewares)))
            .collect();
        let fallback_chain = Chain::from(middleware::chain(&parts.global, &[]));
        let mut exception_handlers = parts.exception_handlers;
        exception::order(&mut exception_handlers);
        Arc::new_cyclic(|this| Pipeline {
            server: parts.server,
            router: parts.router,
            route_chains,
            fallback_chain,
            exception_handlers,
            lifecycle: parts.lifecycle,
            listeners: parts.listeners,
            access_log: parts.access_log,
            trusted_proxies: parts.trusted_proxies,
            route_limits,
            stack_size: parts.stack_size,
            this: Weak::clone(this),
        })
    }

    /// Steps 2 to 10 of the seed's `onRequest`, for a request routed to `dispatched` (step 3,
    /// done before its body was read, which the route says how to read). Step 1, the wait for
    /// a started worker, is the process's layer around this service.
    /// `arrival`: what the engine told of it besides the request (its head as received, the
    /// connection's addresses).
    /// `request` is taken out of its slot by the chain: lent rather than passed by value, so
    /// that neither this frame nor the caller's holds a copy of it while the chain runs.
    fn on_request(
        &self,
        request: &mut Option<Request>,
        dispatched: Dispatched,
        arrival: Arrival<'_>,
    ) -> Response {
        // The clock is read only when the access log or a RequestTerminated listener will see
        // the elapsed time.
        let started = (self.access_log.is_some() || self.times_requests()).then(Instant::now);
        // (2)-(7), with (8) for any error or panic among them. The request's head is kept for
        // the events; a failure before it exists fires none (as in Hyperf).
        let mut head = None;
        // The closure borrows the request rather than owning it: `catch_unwind` moves its
        // closure twice, and a closure holding the ~250-byte request cost two more copies of it.
        // Headers middlewares set on whatever response ends the request (the request id).
        let final_headers = FinalHeaders::default();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.dispatch(
                request,
                dispatched,
                &arrival,
                started,
                &mut head,
                &final_headers,
            )
        }));
        self.finish(outcome, &arrival, head, started, final_headers)
    }

    /// Steps 8 to 10, once the chain has answered (or failed): the exception handlers, the
    /// headers set on the side, the access log and the lifecycle events. Out of line, so that
    /// its locals are not in `on_request`'s frame while the chain runs below it: that frame
    /// is part of every connection's deepest stack, whose touched pages stay resident.
    #[inline(never)]
    fn finish(
        &self,
        outcome: std::thread::Result<Result<Response, BoxError>>,
        arrival: &Arrival<'_>,
        head: Option<Arc<RequestHead>>,
        started: Option<Instant>,
        final_headers: FinalHeaders,
    ) -> Response {
        let (mut response, error) = match outcome {
            Ok(Ok(response)) => (response, None),
            Ok(Err(error)) => self.recover(error),
            // Cancelled at its time limit: a failed request like any other. Any other
            // cancellation (a worker's drain) goes on unwinding.
            Err(payload) if runtime::is_cancelled(&payload) => match &arrival.deadline {
                Some(deadline) if deadline.passed() => {
                    self.recover(Box::new(TimedOut::new(deadline.limit())))
                }
                _ => resume_unwind(payload),
            },
            Err(payload) => {
                let message = runtime::panic_message(&payload);
                self.recover(Box::new(Panicked::new(message)))
            }
        };
        if let Some(deadline) = &arrival.deadline {
            response = deadline.bound_stream(response);
        }
        // After the exception handlers, so that a failed request's response has them too.
        final_headers.apply(&mut response);
        apply_draft(&mut response);
        if let (Some(access_log), Some(head), Some(started)) = (&self.access_log, &head, started) {
            access_log.record(head, &response, started.elapsed());
        }
        // (9) Lifecycle events: terminated at the coroutine's end, handled now. An event
        // nobody listens to is not built.
        let Some(head) = head.filter(|_| self.lifecycle) else {
            return response;
        };
        if self.times_requests() {
            // Four words of captures (the start time is the head's): stored in the defer
            // itself, not boxed.
            let listeners = Arc::clone(&self.listeners);
            let (request, status, error) = (Arc::clone(&head), response.status(), error.clone());
            let registered = runtime::try_defer(move || {
                let elapsed = request
                    .received_at
                    .map_or(Duration::ZERO, |at| at.elapsed());
                listeners.terminated(&RequestTerminated {
                    server: Arc::clone(&request.server),
                    request,
                    status,
                    error,
                    elapsed,
                });
            });
            if registered.is_err() {
                log::warn!(
                    "RequestTerminated not registered: the request runs outside a coroutine"
                );
            }
        }
        if !self.listeners.handled.is_empty() {
            self.listeners.handled(&RequestHandled {
                server: &self.server,
                request: &head,
                response: &response,
                error: error.as_ref(),
            });
            RequestContext::discard_draft();
        }
        // (10) The engine emits it (without a body for HEAD).
        response
    }

    /// Whether a request's elapsed time is needed: lifecycle events are on and somebody
    /// listens to `RequestTerminated`.
    fn times_requests(&self) -> bool {
        self.lifecycle && !self.listeners.terminated.is_empty()
    }

    /// Steps 2 and 4 to 7, on the request in `slot` (taken out of it for the chain: moved in
    /// and out of `dispatch` by value, it was copied twice more).
    fn dispatch(
        &self,
        slot: &mut Option<Request>,
        dispatched: Dispatched,
        arrival: &Arrival<'_>,
        started: Option<Instant>,
        head: &mut Option<Arc<RequestHead>>,
        final_headers: &FinalHeaders,
    ) -> Result<Response, BoxError> {
        let request = slot.as_mut().expect("dispatch is given the request");
        // (3) was done before the body was read; even 404s and 405s go through the global
        // middlewares.
        // (2) The request (and an empty response) in the coroutine's context, with its client.
        let stored = self.store_head(request, dispatched, arrival, started);
        // The match is read where the pipeline keeps it, the context (an extension of the
        // request would cost three allocations): by the handler's step below, and by
        // extractors (`Path`, `State`) and middlewares that ask for it.
        let head = head.insert(stored);
        let dispatched = &head.dispatched;
        // (5)-(6) The chain, precomputed per route.
        let chain = match dispatched {
            Dispatched::Found(found) => &self.route_chains[found.index],
            _ => &self.fallback_chain,
        };
        // (4)
        if self.lifecycle && !self.listeners.received.is_empty() {
            self.listeners.received(&RequestReceived {
                server: &self.server,
                request,
                dispatched,
            });
        }
        // (7) The chain, innermost the route's handler.
        let request = slot.take().expect("the request is taken once");
        let endpoint = |request| core(request, dispatched);
        Next::new(chain, &endpoint, final_headers).run(request)
    }

    /// Routes `incoming` by its head, then reads its body as the route says into `request`.
    /// Out of line: the router's locals stay out of `call`'s frame, which is part of every
    /// connection's deepest stack.
    #[inline(never)]
    fn route_and_read(
        &self,
        incoming: Incoming<'_>,
        request: &mut Option<Request>,
    ) -> Result<Dispatched, BoxError> {
        let head = incoming.request();
        let dispatched = self.router.dispatch(head.method(), head.uri().path());
        let policy = match &dispatched {
            Dispatched::Found(found) => found.route.body,
            _ => BodyPolicy::Buffered,
        };
        *request = Some(incoming.read_body(policy)?);
        Ok(dispatched)
    }

    /// The request's head, with its client and route, made and stored in the context (step
    /// 2). Out of line: the head is built on the stack before it moves into its `Arc`, and
    /// that would otherwise stay in the frame the whole chain runs below.
    #[inline(never)]
    fn store_head(
        &self,
        request: &Request,
        dispatched: Dispatched,
        arrival: &Arrival<'_>,
        started: Option<Instant>,
    ) -> Arc<RequestHead> {
        let client = arrival.addresses.map(|(peer, local)| {
            ClientAddr::resolve(peer, local, request.headers(), &self.trusted_proxies)
        });
        let stored = Arc::new(RequestHead::received(
            Arc::clone(&self.server),
            request,
            arrival.head,
            dispatched,
            client,
            started,
        ));
        RequestContext::store(Arc::clone(&stored));
        stored
    }

    /// Step 8: the exception handlers, or a bare `500` if one of them fails (a server fault,
    /// logged by `exception::handle`).
    fn recover(&self, error: BoxError) -> (Response, Option<Arc<BoxError>>) {
        let response = exception::handle(&self.exception_handlers, &error).unwrap_or_else(|| {
            let mut bare = Response::new(Body::empty());
            *bare.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            bare
        });
        (response, Some(Arc::new(error)))
    }
}

impl Service for Pipeline {
    /// Routes the request once, by its head: the route says how its body is read, and the
    /// rest of the pipeline goes on with the same match. A body that cannot be read ends the
    /// request here (the engine answers it), before any middleware or event.
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        let arrival = Arrival {
            head: incoming.received_head(),
            addresses: incoming.peer_addr().zip(incoming.local_addr()),
            deadline: None,
        };
        let mut request = None;
        let dispatched = self.route_and_read(incoming, &mut request)?;
        let limited = match &dispatched {
            Dispatched::Found(found) => self.route_limits[found.index],
            _ => None,
        };
        // Only a time-limited request needs the pipeline as an `Arc` of its own (for its
        // coroutine to own): the weak reference is upgraded for those alone.
        let (Some(limit), Some(pipeline)) = (limited, limited.and_then(|_| self.this.upgrade()))
        else {
            return Ok(self.on_request(&mut request, dispatched, arrival));
        };
        Ok(limited_request(
            pipeline,
            limit,
            &mut request,
            dispatched,
            arrival,
        ))
    }
}

/// A time-limited request, in a coroutine of its own which owns all it needs. Out of line
/// (and `cold`): its closures and their captures would otherwise be in the frame of every
/// request's `call`, one more stack page a connection keeps resident.
#[cold]
#[inline(never)]
fn limited_request(
    pipeline: Arc<Pipeline>,
    limit: TimeLimit,
    request: &mut Option<Request>,
    dispatched: Dispatched,
    arrival: Arrival<'_>,
) -> Response {
    let request = request.take().expect("read by route_and_read");
    let (head, addresses) = (arrival.head.cloned(), arrival.addresses);
    // For the log lines of a request past its limit, made only then.
    let (method, route) = (request.method().clone(), dispatched.clone());
    let describe = move || match &route {
        Dispatched::Found(found) => format!("{method} {}", found.pattern()),
        _ => method.to_string(),
    };
    let streamed = request.extensions().get::<BodyReader>().cloned();
    let stack_size = pipeline.stack_size;
    time_limit::run_within(limit, stack_size, streamed, &describe, move |deadline| {
        let arrival = Arrival {
            head: head.as_ref(),
            addresses,
            deadline: Some(deadline),
        };
        pipeline.on_request(&mut Some(request), dispatched, arrival)
    })
}

/// What the engine told of a request besides the request itself.
struct Arrival<'a> {
    /// The bytes of the request's head as received, when it came from a connection.
    head: Option<&'a Bytes>,
    /// The connection's peer and local addresses, when it came from one.
    addresses: Option<(SocketAddr, SocketAddr)>,
    /// The time limit's deadline, for a request with one (run in a coroutine of its own).
    deadline: Option<Deadline>,
}

/// The innermost step: the route's handler, or the router's 404 / 405.
fn core(request: Request, dispatched: &Dispatched) -> Result<Response, BoxError> {
    let handler = match dispatched {
        Dispatched::Found(found) => &found.route.handler,
        Dispatched::MethodNotAllowed { allowed } => {
            let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED);
            // RFC 9110 requires the header (Hyperf only says it in the body).
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_str(&allow.join(", "))?);
            return Ok(response);
        }
        Dispatched::NotFound => return Ok(text(StatusCode::NOT_FOUND)),
    };
    handler(request)
}

fn text(status: StatusCode) -> Response {
    let mut response = with_room(Body::from(status.canonical_reason().unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Merges what code set through [`RequestContext`] into the response: set headers and the
/// status unless the handler set its own, appended headers whatever it set.
fn apply_draft(response: &mut Response) {
    let Some(draft) = RequestContext::take_draft() else {
        return;
    };
    if let Some(status) = draft.status {
        if response.status() == StatusCode::OK {
            *response.status_mut() = status;
        }
    }
    for (name, value) in &draft.headers {
        if !response.headers().contains_key(name) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &draft.appended {
        response.headers_mut().append(name.clone(), value.clone());
    }
}
