//! What the engine calls for each request.

use bytes::Bytes;
use http::{Method, Uri};

use crate::engine::wire::body::Body;

/// A request as the engine hands it over: the `http` crate's request with the whole body.
pub type Request = http::Request<Bytes>;

/// A response: the `http` crate's response with a [`Body`].
pub type Response = http::Response<Body>;

/// The error a [`Service`] may return: it becomes a `500` (logged, never sent to the client).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns a request into a response. Called in the connection's coroutine: blocking calls park
/// the coroutine, not the thread.
///
/// Any `Fn(Request) -> Result<Response, BoxError>` closure is a service:
///
/// ```
/// use hyperf_http::{Request, Response, BoxError};
///
/// let hello = |_request: Request| -> Result<Response, BoxError> {
///     Ok(Response::new("hello".into()))
/// };
/// # fn is_service(_: impl hyperf_http::Service) {}
/// # is_service(hello);
/// ```
pub trait Service: Send + Sync + 'static {
    /// Handles one request. An `Err` (or a panic) becomes a `500 Internal Server Error`
    /// whose body says nothing of the cause; the cause is logged.
    fn call(&self, request: Request) -> Result<Response, BoxError>;

    /// Handles one request, given with its head as the engine received it: the request line
    /// and header fields through the empty line, already parsed into `request` and validated.
    /// A service that keeps a copy of the head can share these bytes rather than clone the
    /// parsed fields (the server's pipeline does, for `RequestContext::request`). The engine
    /// calls this; the default ignores `head` and calls [`call`](Self::call).
    fn call_with_head(&self, request: Request, head: &Bytes) -> Result<Response, BoxError> {
        let _ = head;
        self.call(request)
    }

    /// How the engine reads the body of a request to `method` `uri`, asked once its head is
    /// read: whole before [`call`](Self::call) (the default), or
    /// [streamed](BodyPolicy::Streamed) through a [`BodyReader`](crate::BodyReader) in the
    /// request's extensions. The server's pipeline answers for each route.
    fn body_policy(&self, method: &Method, uri: &Uri) -> BodyPolicy {
        let _ = (method, uri);
        BodyPolicy::Buffered
    }
}

impl<F> Service for F
where
    F: Fn(Request) -> Result<Response, BoxError> + Send + Sync + 'static,
{
    fn call(&self, request: Request) -> Result<Response, BoxError> {
        self(request)
    }
}

/// How the engine reads a request's body, as the [`Service`] asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyPolicy {
    /// Read whole before the service is called, up to the engine's
    /// [`max_body_bytes`](crate::Limits::max_body_bytes).
    #[default]
    Buffered,
    /// Read by the handler as it arrives, through the request's [`BodyReader`](crate::BodyReader), up to
    /// `max_bytes` (0: unlimited) instead of the engine's limit.
    Streamed {
        /// The most bytes the body may have; 0 for no limit.
        max_bytes: u64,
    },
}
