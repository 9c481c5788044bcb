//! [`TestClient`]: requests sent to a server's whole pipeline in-process, without a socket —
//! for tests of handlers, middlewares, extractors and exception handlers.
//!
//! ```
//! use hyperf_http::server::{Json, Path, Router, ServerSpec};
//! use hyperf_http::testing::TestClient;
//! use hyperf_http::StatusCode;
//!
//! let mut router = Router::new();
//! router.get("/users/{id:\\d+}", |Path(id): Path<u32>| Json(serde_json::json!({ "id": id }))).unwrap();
//! let client = TestClient::new(ServerSpec::new("http", "127.0.0.1", 0).router(router));
//!
//! let response = client.get("/users/7").header("accept", "application/json").send();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.json::<serde_json::Value>()["id"], 7);
//! assert_eq!(client.get("/users/ada").send().status(), StatusCode::NOT_FOUND);
//! ```
//!
//! Each request is served as the engine serves one that came over a connection: in a
//! coroutine of its own (the engine's stack size), inside a request scope, so
//! `RequestContext`, `defer` and the lifecycle events work as they do in a running server; a
//! route that [streams its body](crate::server::RouteRef::stream_body) reads it through a
//! [`BodyReader`](crate::BodyReader); a streamed response is run through its writer into
//! memory; the request comes from a loopback client address (see
//! [`TestRequest::client_addr`]) so that `ClientAddr` works. The scope ends — its defers run
//! — before [`send`](TestRequest::send) returns. As from the engine, a service's error or
//! panic is a bare `500`, a body the service failed to read is answered with the body error's
//! status, and a `HEAD` response or a `204`/`304` has no body.
//!
//! What it leaves out is the wire: no framing headers are added (`Content-Length`,
//! `Transfer-Encoding`, `Date`, `Connection`), the engine's limits on heads and bodies are not
//! applied, and a request body is the bytes given (never chunked). Tests of those belong over
//! a socket.
//!
//! The module has no dependencies of its own and code that never calls it costs nothing in a
//! binary, so it is always compiled rather than put behind a feature: a crate's tests can use
//! it whatever features the crate turns on.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use crate::engine::{
    Body, BodyError, BodyWriter, EngineConfig, Incoming, Request, Response, Service,
};
use crate::server::ServerSpec;

/// Sends requests to a [`Service`] — a server's whole pipeline, from a [`ServerSpec`] — in
/// this process, without a socket. Cheap to clone; see the [module](self) for what it does
/// as the engine does and what it leaves out.
#[derive(Clone)]
pub struct TestClient {
    service: Arc<dyn Service>,
    stack_size: usize,
}

impl TestClient {
    /// The client address requests come from unless [set](TestRequest::client_addr):
    /// `127.0.0.1:49152`.
    pub const DEFAULT_CLIENT_ADDR: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 49152);

    /// The server's address the requests reach: `127.0.0.1:80`.
    pub const LOCAL_ADDR: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 80);

    /// A client of `spec`'s pipeline ([`ServerSpec::into_service`]): its health route,
    /// middlewares, routes, extractors and exception handlers. Requests run on coroutines of
    /// the spec's stack size (its [`engine`](ServerSpec::engine) settings', else the default).
    pub fn new(spec: ServerSpec) -> Self {
        let stack_size = spec
            .engine_config()
            .map_or(EngineConfig::DEFAULT_STACK_SIZE, |engine| engine.stack_size);
        TestClient {
            service: spec.into_service(),
            stack_size,
        }
    }

    /// A client of any service, its requests run on coroutines of the engine's default stack
    /// size.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hyperf_http::testing::TestClient;
    /// use hyperf_http::{BoxError, Request, Response, Service};
    ///
    /// let echo = |request: Request| -> Result<Response, BoxError> {
    ///     Ok(Response::new(request.into_body().into()))
    /// };
    /// let client = TestClient::from_service(Arc::new(echo));
    /// assert_eq!(client.post("/").body("ping").send().text(), "ping");
    /// ```
    pub fn from_service(service: Arc<dyn Service>) -> Self {
        TestClient {
            service,
            stack_size: EngineConfig::DEFAULT_STACK_SIZE,
        }
    }

    /// A request of `method` to `uri` (a path with its query, `/users?page=2`, or an absolute
    /// URI).
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid URI.
    #[track_caller]
    pub fn request(&self, method: Method, uri: &str) -> TestRequest {
        let uri = uri
            .parse()
            .unwrap_or_else(|error| panic!("not a valid URI: {uri:?}: {error}"));
        let mut request = Request::new(Bytes::new());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        TestRequest {
            client: self.clone(),
            request,
            client_addr: Self::DEFAULT_CLIENT_ADDR,
        }
    }

    /// A `GET` request; see [`request`](Self::request).
    #[track_caller]
    pub fn get(&self, uri: &str) -> TestRequest {
        self.request(Method::GET, uri)
    }

    /// A `HEAD` request; see [`request`](Self::request).
    #[track_caller]
    pub fn head(&self, uri: &str) -> TestRequest {
        self.request(Method::HEAD, uri)
    }

    /// A `POST` request; see [`request`](Self::request).
    #[track_caller]
    pub fn post(&self, uri: &str) -> TestRequest {
        self.request(Method::POST, uri)
    }

    /// A `PUT` request; see [`request`](Self::request).
    #[track_caller]
    pub fn put(&self, uri: &str) -> TestRequest {
        self.request(Method::PUT, uri)
    }

    /// A `PATCH` request; see [`request`](Self::request).
    #[track_caller]
    pub fn patch(&self, uri: &str) -> TestRequest {
        self.request(Method::PATCH, uri)
    }

    /// A `DELETE` request; see [`request`](Self::request).
    #[track_caller]
    pub fn delete(&self, uri: &str) -> TestRequest {
        self.request(Method::DELETE, uri)
    }
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// A request being built by a [`TestClient`]; [`send`](Self::send) serves it.
pub struct TestRequest {
    client: TestClient,
    request: Request,
    client_addr: SocketAddr,
}

impl TestRequest {
    /// Adds a header field (a name given twice has both values).
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not a valid header name or value.
    #[track_caller]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Debug,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Debug,
    {
        let name = name
            .try_into()
            .unwrap_or_else(|error| panic!("not a valid header name: {error:?}"));
        let value = value
            .try_into()
            .unwrap_or_else(|error| panic!("not a valid value of header {name}: {error:?}"));
        self.request.headers_mut().append(name, value);
        self
    }

    /// The body, as bytes (`&'static str`, `String`, `Vec<u8>`, `Bytes`…). A route that
    /// streams its body reads these bytes through its `BodyReader`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        *self.request.body_mut() = body.into();
        self
    }

    /// `value` as a JSON body, with `Content-Type: application/json` (feature `json`).
    ///
    /// # Panics
    ///
    /// If `value` cannot be serialised to JSON.
    #[cfg(feature = "json")]
    #[track_caller]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        let body = serde_json::to_vec(value)
            .unwrap_or_else(|error| panic!("cannot serialise the JSON body: {error}"));
        self.request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body(body)
    }

    /// `value` as a URL-encoded form body, with
    /// `Content-Type: application/x-www-form-urlencoded`.
    ///
    /// # Panics
    ///
    /// If `value` cannot be serialised as a form (a nested struct, say).
    #[track_caller]
    pub fn form<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        let body = serde_urlencoded::to_string(value)
            .unwrap_or_else(|error| panic!("cannot serialise the form body: {error}"));
        self.request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.body(body)
    }

    /// The address the request comes from, as the connection's peer (default
    /// [`TestClient::DEFAULT_CLIENT_ADDR`]); the server's `ClientAddr` resolves forwarded
    /// addresses from it as it would from a connection's.
    pub fn client_addr(mut self, addr: SocketAddr) -> Self {
        self.client_addr = addr;
        self
    }

    /// The request's HTTP version (default HTTP/1.1).
    pub fn version(mut self, version: Version) -> Self {
        *self.request.version_mut() = version;
        self
    }

    /// Serves the request and gives its response, once the request has ended (its defers
    /// run). A `Host` header is added unless set (`localhost`), and a `Content-Length` for a
    /// body unless set, as a client would send them.
    ///
    /// # Panics
    ///
    /// If the request's coroutine cannot be spawned; a panic of the service is a `500`, as
    /// from the engine.
    pub fn send(self) -> TestResponse {
        let TestRequest {
            client,
            mut request,
            client_addr,
        } = self;
        let headers = request.headers_mut();
        if !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, HeaderValue::from_static("localhost"));
        }
        let length = request.body().len();
        if length > 0 && !request.headers().contains_key(header::CONTENT_LENGTH) {
            request
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        let service = Arc::clone(&client.service);
        let served = runtime::Builder::new()
            .stack_size(client.stack_size)
            .spawn(move || runtime::scope(|| serve(&*service, request, client_addr)))
            .expect("could not spawn the request's coroutine")
            .join();
        served.unwrap_or_else(|payload| resume_unwind(payload))
    }
}

impl fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("headers", self.request.headers())
            .field("body", &self.request.body().len())
            .field("client_addr", &self.client_addr)
            .finish()
    }
}

/// One request through `service`, in the request's scope, as the engine serves it.
fn serve(service: &dyn Service, request: Request, client_addr: SocketAddr) -> TestResponse {
    let method = request.method().clone();
    let incoming = Incoming::new(request, None).with_addresses(client_addr, TestClient::LOCAL_ADDR);
    let response = match catch_unwind(AssertUnwindSafe(|| service.call(incoming))) {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => match error.downcast::<BodyError>() {
            // The engine answers a body it could not read itself, whatever the service says.
            Ok(refused) => simple(refused.status(), true),
            Err(error) => {
                log::error!("handler failed: {error}");
                simple(StatusCode::INTERNAL_SERVER_ERROR, false)
            }
        },
        Err(payload) if runtime::is_cancelled(&payload) => resume_unwind(payload),
        Err(payload) => {
            log::error!("handler panicked: {}", runtime::panic_message(&payload));
            simple(StatusCode::INTERNAL_SERVER_ERROR, false)
        }
    };
    let (parts, body) = response.into_parts();
    let no_body = method == Method::HEAD
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let streamed = body.is_stream();
    let (bytes, stream_error) = if no_body {
        (Bytes::new(), None)
    } else {
        collect(body)
    };
    TestResponse {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: bytes,
        streamed,
        stream_error,
    }
}

/// The engine's own answer: the status's reason as plain text.
fn simple(status: StatusCode, close: bool) -> Response {
    let mut response = Response::new(Body::from(status.canonical_reason().unwrap_or("Error")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A body's bytes: a streamed one written into memory, with the error (or panic) that cut it
/// short, if one did.
fn collect(body: Body) -> (Bytes, Option<io::Error>) {
    if let Some(bytes) = body.as_bytes() {
        return (Bytes::copy_from_slice(bytes), None);
    }
    let writer = body.into_writer().expect("a body not of bytes is streamed");
    let mut written = Vec::new();
    let mut out = BodyWriter {
        out: &mut written,
        chunked: false,
        written: 0,
    };
    let error = match catch_unwind(AssertUnwindSafe(|| writer(&mut out))) {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error),
        Err(payload) if runtime::is_cancelled(&payload) => resume_unwind(payload),
        Err(payload) => Some(io::Error::other(format!(
            "body stream panicked: {}",
            runtime::panic_message(&payload)
        ))),
    };
    (Bytes::from(written), error)
}

/// The response to a [`TestRequest`], its body whole in memory.
pub struct TestResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    streamed: bool,
    stream_error: Option<io::Error>,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's HTTP version, as the service set it.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields the service set (no framing headers: see the [module](self)).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, if it has one and it is visible ASCII.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body's bytes: a streamed body as its writer wrote it (up to its error, if it
    /// failed); none for a `HEAD` request, a `1xx`, `204` or `304`.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    ///
    /// # Panics
    ///
    /// If the body is not UTF-8.
    #[track_caller]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|error| {
            panic!("the {} response's body is not UTF-8: {error}", self.status)
        })
    }

    /// The body as JSON, deserialised to `T` (feature `json`).
    ///
    /// # Panics
    ///
    /// If the body is not JSON of `T`'s shape; the message shows the body.
    #[cfg(feature = "json")]
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "the {} response's body is not the JSON expected ({error}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether the body was streamed ([`Body::stream`]).
    pub fn is_streamed(&self) -> bool {
        self.streamed
    }

    /// The error a streamed body's writer returned (or its panic), which over a connection
    /// would have cut the body short; `None` if it wrote the whole body.
    pub fn stream_error(&self) -> Option<&io::Error> {
        self.stream_error.as_ref()
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("streamed", &self.streamed)
            .field("stream_error", &self.stream_error)
            .finish()
    }
}
