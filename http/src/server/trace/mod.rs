//! `tracing` for the server (feature `tracing`): a span per request that continues the
//! caller's W3C trace ([`RequestSpan`]), and a subscriber whose current span follows the
//! coroutine ([`CoroutineRegistry`]).

mod registry;
mod request_span;
mod traceparent;

pub use self::registry::CoroutineRegistry;
pub use self::request_span::{REQUEST_SPAN_TARGET, RequestSpan};
