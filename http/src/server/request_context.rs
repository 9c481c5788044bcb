//! [`RequestContext`]: the current request and response draft, reachable from any code the
//! request runs.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderValue, IntoHeaderName};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use runtime::{Context, ContextKey};

use crate::engine::{Request, header_fields};
use crate::server::client_addr::ClientAddr;
use crate::server::routing::{Dispatched, Params};

/// What the request pipeline keeps of the current request in its coroutine's context: the
/// request as it was received, before any middleware changed it.
#[derive(Clone)]
pub struct RequestHead {
    /// The server that received it.
    pub server: Arc<str>,
    /// The method.
    pub method: Method,
    /// The target.
    pub uri: Uri,
    /// The version.
    pub version: Version,
    /// The router's verdict.
    pub dispatched: Dispatched,
    /// Who sent it, when it came from a connection: the peer, or behind the server's trusted
    /// proxies the client they forwarded.
    pub client: Option<ClientAddr>,
    headers: Headers,
    /// When the pipeline began with it, if anything times requests (the access log, a
    /// `RequestTerminated` listener).
    pub(crate) received_at: Option<Instant>,
}

/// A head's header fields: parsed from the bytes the engine received only when read (most
/// requests never read them from here: the handler has its own request), or a copy.
#[derive(Clone)]
enum Headers {
    Received {
        head: Bytes,
        parsed: OnceLock<HeaderMap>,
    },
    Copied(HeaderMap),
}

impl RequestHead {
    /// The head of a request `server` received, with its fields: for tests of event listeners
    /// and exception handlers.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hyperf_http::server::{Dispatched, RequestHead};
    /// use hyperf_http::{HeaderMap, Method, Version};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tag", "a".parse().unwrap());
    /// let uri = "/users?page=2".parse().unwrap();
    /// let head = RequestHead::new(Arc::from("api"), Method::GET, uri, Version::HTTP_11, headers, Dispatched::NotFound);
    /// assert_eq!(head.headers()["x-tag"], "a");
    /// ```
    pub fn new(
        server: Arc<str>,
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        dispatched: Dispatched,
    ) -> Self {
        RequestHead {
            server,
            method,
            uri,
            version,
            dispatched,
            client: None,
            headers: Headers::Copied(headers),
            received_at: None,
        }
    }

    /// The head of `request`, whose head the engine received as `head` (its header fields are
    /// parsed from those bytes only when read).
    pub(crate) fn received(
        server: Arc<str>,
        request: &Request,
        head: Option<&Bytes>,
        dispatched: Dispatched,
        client: Option<ClientAddr>,
        received_at: Option<Instant>,
    ) -> Self {
        let headers = match head {
            Some(head) => Headers::Received {
                head: head.clone(),
                parsed: OnceLock::new(),
            },
            None => Headers::Copied(request.headers().clone()),
        };
        RequestHead {
            server,
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            dispatched,
            client,
            headers,
            received_at,
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        match &self.headers {
            Headers::Received { head, parsed } => parsed.get_or_init(|| header_fields(head)),
            Headers::Copied(headers) => headers,
        }
    }
}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("server", &self.server)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", self.headers())
            .field("dispatched", &self.dispatched)
            .finish()
    }
}

/// Headers (and a status) that code anywhere in the request may set for its response; merged
/// into the response when it is emitted.
#[derive(Debug, Clone, Default)]
pub struct ResponseDraft {
    /// Headers to set, each unless the response already has that header (what the handler
    /// set wins).
    pub headers: HeaderMap,
    /// Headers to add to the response whatever it has (several `Set-Cookie`s, say).
    pub appended: HeaderMap,
    /// A status to use when the handler's response has the default `200`.
    pub status: Option<StatusCode>,
}

static REQUEST: ContextKey<RequestHead> = ContextKey::new("http.request");
static RESPONSE: ContextKey<ResponseDraft> = ContextKey::new("http.response");

/// Reaches the current request from any code it runs (a repository, a logger), without passing
/// it down: the pipeline stores it in the request coroutine's [`Context`].
///
/// ```no_run
/// use hyperf_http::HeaderValue;
/// use hyperf_http::server::RequestContext;
///
/// fn audit(action: &str) {
///     if let Some(request) = RequestContext::request() {
///         log::info!("{action} by {} {}", request.method, request.uri);
///     }
///     RequestContext::set_response_header("x-audited", HeaderValue::from_static("yes"));
/// }
/// ```
#[derive(Debug)]
pub struct RequestContext {
    _private: (),
}

impl RequestContext {
    /// The current request, or `None` outside a request.
    pub fn request() -> Option<Arc<RequestHead>> {
        Context::get_shared(&REQUEST)
    }

    /// The response draft of the current request.
    pub fn response() -> ResponseDraft {
        Context::get(&RESPONSE).unwrap_or_default()
    }

    /// Sets a header of the current request's response, replacing one set here before; the
    /// handler's own header of that name wins. (Outside a request, the draft stays in the
    /// current context and is sent nowhere.)
    ///
    /// ```
    /// use hyperf_http::HeaderValue;
    /// use hyperf_http::server::RequestContext;
    ///
    /// let etag = format!("\"{:x}\"", 0x5eed_u32);
    /// RequestContext::set_response_header("etag", HeaderValue::from_str(&etag).unwrap());
    /// ```
    pub fn set_response_header(name: impl IntoHeaderName, value: HeaderValue) {
        Context::update(&RESPONSE, |draft| {
            let mut draft = draft.unwrap_or_default();
            draft.headers.insert(name, value);
            draft
        });
    }

    /// Adds a header to the current request's response, beside any of that name (set here,
    /// or by the handler): for headers that repeat, such as `Set-Cookie`.
    ///
    /// ```
    /// use hyperf_http::{HeaderValue, header};
    /// use hyperf_http::server::RequestContext;
    ///
    /// RequestContext::append_response_header(header::SET_COOKIE, HeaderValue::from_static("a=1"));
    /// RequestContext::append_response_header(header::SET_COOKIE, HeaderValue::from_static("b=2"));
    /// ```
    pub fn append_response_header(name: impl IntoHeaderName, value: HeaderValue) {
        Context::update(&RESPONSE, |draft| {
            let mut draft = draft.unwrap_or_default();
            draft.appended.append(name, value);
            draft
        });
    }

    /// Sets the status of the current request's response (used unless the handler sets one).
    pub fn set_response_status(status: StatusCode) {
        Context::update(&RESPONSE, |draft| {
            let mut draft = draft.unwrap_or_default();
            draft.status = Some(status);
            draft
        });
    }

    pub(crate) fn store(head: Arc<RequestHead>) {
        // Kept as the pipeline's own `Arc`: one allocation for the head, not two.
        Context::set_shared(&REQUEST, head);
        // No draft is stored until code sets one: `response()` and `update` read a missing
        // draft as the empty one. The pipeline takes the draft after every request, and
        // discards one that a `RequestHandled` listener set afterwards, so none is left here
        // from an earlier request of the same coroutine.
    }

    /// Drops a draft set after the response was taken (by a `RequestHandled` listener): it
    /// would otherwise apply to the next request served in the same context.
    pub(crate) fn discard_draft() {
        // The check is a read; a removal would take the context's lock.
        if Context::has(&RESPONSE) {
            Context::remove(&RESPONSE);
        }
    }

    pub(crate) fn take_draft() -> Option<ResponseDraft> {
        Context::has(&RESPONSE)
            .then(|| Context::remove(&RESPONSE))
            .flatten()
    }
}

/// The router's verdict for `request`, handed to `read`: the one in the request's extensions
/// when code of its own routed it (`Router::dispatch` and an insert), else the current
/// request's, which the pipeline keeps in the context rather than in each request (an
/// extension costs three allocations a request). `None` outside a routed request.
pub(crate) fn with_route<R>(request: &Request, read: impl FnOnce(Option<&Dispatched>) -> R) -> R {
    if let Some(dispatched) = request.extensions().get::<Dispatched>() {
        return read(Some(dispatched));
    }
    match RequestContext::request() {
        Some(head) => read(Some(&head.dispatched)),
        None => read(None),
    }
}

/// The path parameters of `request`'s route; empty when no route matched, or outside a
/// routed request.
///
/// ```
/// use hyperf_http::Request;
/// use hyperf_http::server::{Router, params};
///
/// let mut router = Router::new();
/// router
///     .get("/user/{id}", |request: Request| {
///         let id: u32 = params(&request).parse("id")?;
///         Ok::<_, hyperf_http::BoxError>(format!("user {id}"))
///     })
///     .unwrap();
/// ```
#[doc(alias = "route")]
pub fn params(request: &Request) -> Params {
    with_route(request, |dispatched| match dispatched {
        Some(Dispatched::Found(found)) => found.params().clone(),
        _ => Params::default(),
    })
}
