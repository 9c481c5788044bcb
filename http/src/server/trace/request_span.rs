//! [`RequestSpan`]: a `tracing` span per request, continuing the caller's W3C trace.

use std::fmt;
use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use tracing::field::{Empty, display};

use super::traceparent::{self, TraceParent};
use crate::engine::{BoxError, Request, Response};
use crate::server::error::find_client_error;
use crate::server::middleware::{Middleware, Next};
use crate::server::request_context::RequestContext;
use crate::server::routing::Dispatched;

/// The header of W3C Trace Context.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The `target` of the request spans, for filters.
pub const REQUEST_SPAN_TARGET: &str = "hyperf_http::request";

/// A middleware that runs the rest of the request in a `tracing` span (feature `tracing`), and
/// continues the caller's W3C trace.
///
/// The span is named `http.request`, at level `INFO`, with target [`REQUEST_SPAN_TARGET`],
/// and has the fields:
///
/// - `http.request.method`: `GET`, `POST`, …;
/// - `http.route`: the matched route's pattern as registered (`/users/{id:\d+}`), never the
///   raw path; empty when no route matched;
/// - `request_id`: the request's `X-Request-Id` as the [`RequestId`](crate::server::RequestId)
///   middleware set it (register that one first, with a higher priority; when it runs after
///   this one, the id is recorded from the response at the end, so events before that lack
///   it);
/// - `client.address`: the client's address ([`ClientAddr`](crate::server::ClientAddr): the
///   peer, or behind the server's trusted proxies the forwarded one); empty for a request that
///   did not come from a connection;
/// - `trace_id`: 32 hex digits, the incoming `traceparent`'s when valid, else a new one;
/// - `span_id`: 16 hex digits, this request's span in that trace (new);
/// - `parent_span_id`: the incoming `traceparent`'s parent id, empty in a new trace;
/// - at the end, `http.status_code` (the response's; for a failed chain, the status of its
///   client error or `500`, as the default exception handling answers), `duration_us` (from
///   this middleware to the response, in microseconds) and, for a failed chain, `error`.
///
/// Every response gets a `traceparent` header with the trace id and this request's span id
/// (and the incoming flags, or `01` in a new trace) — also a response that the exception
/// handlers make for a failure or a panic. An invalid `traceparent` (not W3C's format,
/// uppercase, all-zero ids, version `ff`) is ignored: the request starts a new trace.
///
/// Events of the handler, and of the coroutines it spawns, belong to the span only with a
/// subscriber that keeps the current span per coroutine: [`CoroutineRegistry`](super::CoroutineRegistry).
///
/// ```
/// use hyperf_http::server::{CoroutineRegistry, RequestId, RequestSpan, ServerSpec};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = CoroutineRegistry::new().with(tracing_subscriber::fmt::layer());
/// tracing::subscriber::set_global_default(subscriber).unwrap();
/// let spec = ServerSpec::new("http", "127.0.0.1", 9501)
///     .middleware_with_priority(RequestId::new(), 100)
///     .middleware_with_priority(RequestSpan::new(), 90);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
pub struct RequestSpan {
    request_id: HeaderName,
}

impl RequestSpan {
    /// A request span whose `request_id` is the request's `X-Request-Id`.
    pub fn new() -> Self {
        Self::with_request_id_header(HeaderName::from_static("x-request-id"))
    }

    /// A request span whose `request_id` is read from `header` (as set by
    /// [`RequestId::with_header`](crate::server::RequestId::with_header)).
    pub fn with_request_id_header(header: HeaderName) -> Self {
        RequestSpan { request_id: header }
    }
}

impl Default for RequestSpan {
    fn default() -> Self {
        Self::new()
    }
}

/// A trace id as 32 lowercase hex digits.
struct TraceId(u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A span id as 16 lowercase hex digits.
struct SpanId(u64);

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Middleware for RequestSpan {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let started = Instant::now();
        let incoming = request
            .headers()
            .get(&TRACEPARENT)
            .and_then(|value| TraceParent::parse(value.as_bytes()));
        let trace_id = incoming.map_or_else(traceparent::random_trace_id, |p| p.trace_id);
        let span_id = traceparent::random_u64();
        let flags = incoming.map_or(1, |p| p.flags);
        // The route's match and the client, as the pipeline keeps them for the request.
        let current = RequestContext::request();
        let route = current.as_deref().and_then(|head| match &head.dispatched {
            Dispatched::Found(found) => Some(found.pattern()),
            _ => None,
        });
        let request_id = request
            .headers()
            .get(&self.request_id)
            .and_then(|id| id.to_str().ok());
        let client = current.as_deref().and_then(|head| head.client);
        let span = tracing::info_span!(
            target: REQUEST_SPAN_TARGET,
            "http.request",
            http.request.method = request.method().as_str(),
            http.route = route,
            request_id = request_id,
            client.address = client.map(|client| display(client.ip())),
            trace_id = %TraceId(trace_id),
            span_id = %SpanId(span_id),
            parent_span_id = incoming.map(|p| display(SpanId(p.parent_id))),
            http.status_code = Empty,
            duration_us = Empty,
            error = Empty,
        );
        let id_known = request_id.is_some();
        let header = HeaderValue::from_str(&traceparent::format(trace_id, span_id, flags))
            .expect("hex digits and dashes are a valid header value");
        // A panic below: the pipeline sets the header on the `500` it answers.
        let on_panic = OnPanic {
            header: &header,
            next,
        };
        let outcome = span.in_scope(|| next.run(request));
        std::mem::forget(on_panic);
        let status = match &outcome {
            Ok(response) => response.status(),
            Err(error) => find_client_error(&**error)
                .map_or(http::StatusCode::INTERNAL_SERVER_ERROR, |e| e.status()),
        };
        span.record("http.status_code", status.as_u16());
        span.record(
            "duration_us",
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
        match outcome {
            Ok(mut response) => {
                if !id_known {
                    if let Some(id) = response.headers().get(&self.request_id) {
                        span.record("request_id", id.to_str().ok());
                    }
                }
                response.headers_mut().insert(TRACEPARENT, header);
                Ok(response)
            }
            Err(error) => {
                span.record("error", display(&error));
                next.set_on_final_response(TRACEPARENT, header);
                Err(error)
            }
        }
    }
}

/// Dropped only while a panic unwinds through [`RequestSpan::process`] (it is forgotten
/// otherwise): has the pipeline set `traceparent` on the response it answers the panic with.
struct OnPanic<'a> {
    header: &'a HeaderValue,
    next: Next<'a>,
}

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        self.next
            .set_on_final_response(TRACEPARENT, self.header.clone());
    }
}
