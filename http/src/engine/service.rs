//! What the engine calls for each request.

use crate::engine::incoming::{Incoming, Request};
use crate::engine::wire::body::Body;

/// A response: the `http` crate's response with a [`Body`].
pub type Response = http::Response<Body>;

/// The error a [`Service`] may return: it becomes a `500` (logged, never sent to the client).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns a request into a response. Called in the connection's coroutine: blocking calls park
/// the coroutine, not the thread.
///
/// Any `Fn(Request) -> Result<Response, BoxError>` closure is a service; it gets the request
/// with its whole body:
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
///
/// A service of its own gets the request before its body is read, as an [`Incoming`], and
/// decides how to read it. Everything the engine needs from a service comes through this one
/// method, so a wrapper that forwards `call` forwards all of it:
///
/// ```
/// use hyperf_http::{BodyPolicy, BoxError, Incoming, Response, Service};
///
/// /// Streams every body to the handler, at most 1 GiB of it.
/// struct Uploads;
///
/// impl Service for Uploads {
///     fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
///         let mut request = incoming.read_body(BodyPolicy::Streamed { max_bytes: 1 << 30 })?;
///         let mut reader = request.extensions_mut().remove::<hyperf_http::BodyReader>().unwrap();
///         let received = std::io::copy(&mut reader, &mut std::io::sink())?;
///         Ok(Response::new(format!("{received} bytes").into()))
///     }
/// }
///
/// /// Logs each request's path, then lets the inner service answer it.
/// struct Logged<S>(S);
///
/// impl<S: Service> Service for Logged<S> {
///     fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
///         log::info!("{}", incoming.request().uri().path());
///         self.0.call(incoming)
///     }
/// }
///
/// let request = hyperf_http::Request::new(hyperf_http::Bytes::from_static(b"abc"));
/// let response = Logged(Uploads).call(Incoming::from(request)).unwrap();
/// assert_eq!(response.body().as_bytes(), Some(&b"3 bytes"[..]));
/// ```
pub trait Service: Send + Sync + 'static {
    /// Handles one request. An `Err` (or a panic) becomes a `500 Internal Server Error`
    /// whose body says nothing of the cause; the cause is logged. After a failed
    /// [`read_body`](Incoming::read_body), the engine answers with the body's error instead,
    /// whatever this returns.
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError>;
}

impl<F> Service for F
where
    F: Fn(Request) -> Result<Response, BoxError> + Send + Sync + 'static,
{
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        self(incoming.into_buffered()?)
    }
}
