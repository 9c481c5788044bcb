//! [`Incoming`]: a request as the engine hands it to a [`Service`](crate::Service), its head
//! read and its body not yet.
//!
//! Why the body is read by the service and not before it: how to read it (whole, or streamed
//! to the handler with a limit of the route's) is the service's decision, known once it has
//! routed the request. Handing the decision over inside the one call a service has means a
//! wrapper around a service cannot lose it: whatever it forwards, the body is read the way the
//! innermost service asks, and the request is routed once.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::engine::body_reader::{BodyError, BodyReader};

/// A request as the engine hands it over: the `http` crate's request with the whole body.
pub type Request = http::Request<Bytes>;

/// A request whose head has been read and whose body has not: [`read_body`](Self::read_body)
/// reads it, whole or [streamed](BodyPolicy::Streamed), and gives the request.
///
/// ```
/// use hyperf_http::{BodyPolicy, Bytes, Incoming, Request};
///
/// let mut request = Request::new(Bytes::from_static(b"hello"));
/// *request.uri_mut() = "/upload".parse().unwrap();
/// let incoming = Incoming::from(request);
///
/// // Route on the head first; then read the body as the route wants it.
/// assert_eq!(incoming.request().uri().path(), "/upload");
/// let request = incoming.read_body(BodyPolicy::Buffered).unwrap();
/// assert_eq!(request.body(), "hello");
/// ```
///
/// A service that never reads the body leaves it to the engine: it is read and discarded
/// after the response, up to [`EngineConfig::drain_bytes`](crate::EngineConfig::drain_bytes),
/// else the connection closes after the response.
pub struct Incoming<'c> {
    /// The head; its body stays empty until read.
    request: Held<'c>,
    received_head: Option<&'c Bytes>,
    addresses: Option<Addresses>,
    body: Pending<'c>,
}

/// The two ends of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addresses {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// Where the body still is.
/// Where the request waits for its body: in the connection's slot, borrowed — so that a
/// layer of services forwarding the `Incoming` by value copies a few words, not the
/// ~250-byte request, and no layer's frame (part of every connection's deepest stack) holds a
/// copy of it — or, for a request made in-process, on the heap.
enum Held<'c> {
    Slot(&'c mut Option<Request>),
    Owned(Box<Request>),
}

impl Held<'_> {
    fn get(&self) -> &Request {
        match self {
            Held::Slot(slot) => slot.as_ref().expect("the request stays until read"),
            Held::Owned(request) => request,
        }
    }

    fn get_mut(&mut self) -> &mut Request {
        match self {
            Held::Slot(slot) => slot.as_mut().expect("the request stays until read"),
            Held::Owned(request) => request,
        }
    }

    fn take(self) -> Request {
        match self {
            Held::Slot(slot) => slot.take().expect("the request is read once"),
            Held::Owned(request) => *request,
        }
    }
}

enum Pending<'c> {
    Memory(Bytes),
    Connection(&'c mut dyn ReadBody),
}

/// How a connection reads the body of the request it hands over.
pub(crate) trait ReadBody {
    /// The whole body, within the engine's body limit.
    fn read_whole(&mut self) -> Result<Bytes, BodyError>;

    /// A reader of the body as it arrives, at most `max_bytes` of it (0: unlimited).
    fn read_streamed(&mut self, max_bytes: u64) -> Result<BodyReader, BodyError>;
}

impl<'c> Incoming<'c> {
    /// A request whose body is already in memory, for calling a service in-process (tests,
    /// benchmarks, a proxy): read whole, it is the request as given; streamed, a reader of
    /// its bytes. `received_head` is the head's bytes as received, if the caller has them
    /// (see [`received_head`](Self::received_head)); `Incoming::from(request)` has none. The
    /// request waits on the heap (one allocation; the engine lends its own slot instead).
    #[inline]
    pub fn new(mut request: Request, received_head: Option<&'c Bytes>) -> Self {
        let body = std::mem::take(request.body_mut());
        Incoming {
            request: Held::Owned(Box::new(request)),
            received_head,
            addresses: None,
            body: Pending::Memory(body),
        }
    }

    /// The request of a connection, whose body `body` reads; `received_head` the head's bytes
    /// as received.
    pub(crate) fn on_connection(
        request: &'c mut Option<Request>,
        received_head: &'c Bytes,
        addresses: Addresses,
        body: &'c mut dyn ReadBody,
    ) -> Self {
        Incoming {
            request: Held::Slot(request),
            received_head: Some(received_head),
            addresses: Some(addresses),
            body: Pending::Connection(body),
        }
    }

    /// The same request as if it had come from `peer` to `local`: for calling a service
    /// in-process as a connection would (a test of code that reads the client's address).
    #[must_use]
    pub fn with_addresses(mut self, peer: SocketAddr, local: SocketAddr) -> Self {
        self.addresses = Some(Addresses { peer, local });
        self
    }

    /// The address of the connection's other end: the client, or the last proxy in front of
    /// the server (the server's `ClientAddr` resolves forwarded addresses from trusted
    /// proxies). `None` for a request that did not come from a connection.
    #[inline]
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.addresses.map(|a| a.peer)
    }

    /// The address of the connection's end on this host (which of its addresses the client
    /// reached). `None` for a request that did not come from a connection.
    #[inline]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addresses.map(|a| a.local)
    }

    /// The request's method, target, version, header fields and extensions. Its body is empty:
    /// [`read_body`](Self::read_body) gives the request with its body.
    #[inline]
    pub fn request(&self) -> &Request {
        self.request.get()
    }

    /// The request's head, to change before the body is read (an extension to insert, a
    /// header to rewrite).
    #[inline]
    pub fn request_mut(&mut self) -> &mut Request {
        self.request.get_mut()
    }

    /// The head's bytes as the engine received them (request line and header fields through
    /// the empty line), already parsed into [`request`](Self::request); `None` for a request
    /// that did not come from a connection. A service that keeps a copy of the head can share
    /// these bytes rather than clone the parsed fields.
    #[inline]
    pub fn received_head(&self) -> Option<&'c Bytes> {
        self.received_head
    }

    /// Reads the body as `policy` says and gives the whole request:
    /// - [`Buffered`](BodyPolicy::Buffered): the body whole in the request, within the
    ///   engine's [`max_body_bytes`](crate::Limits::max_body_bytes);
    /// - [`Streamed`](BodyPolicy::Streamed): an empty body, and a [`BodyReader`] in the
    ///   request's extensions that reads it as it arrives.
    ///
    /// # Errors
    ///
    /// A body too large, malformed, cut short or too slow: the [`BodyError`] says which. The
    /// engine then answers the connection itself with the error's status and closes it,
    /// whatever the service returns, so a service can simply pass the error on.
    #[inline]
    pub fn read_body(self, policy: BodyPolicy) -> Result<Request, BodyError> {
        let Incoming { request, body, .. } = self;
        let mut request = request.take();
        match (body, policy) {
            (Pending::Memory(bytes), BodyPolicy::Buffered) => *request.body_mut() = bytes,
            (Pending::Memory(bytes), BodyPolicy::Streamed { max_bytes }) => {
                if max_bytes != 0 && bytes.len() as u64 > max_bytes {
                    return Err(BodyError::too_large());
                }
                request
                    .extensions_mut()
                    .insert(BodyReader::in_memory(bytes));
            }
            (Pending::Connection(source), BodyPolicy::Buffered) => {
                *request.body_mut() = source.read_whole()?;
            }
            (Pending::Connection(source), BodyPolicy::Streamed { max_bytes }) => {
                let reader = source.read_streamed(max_bytes)?;
                request.extensions_mut().insert(reader);
            }
        }
        Ok(request)
    }

    /// The request with its whole body: [`read_body`](Self::read_body) with
    /// [`BodyPolicy::Buffered`].
    ///
    /// # Errors
    ///
    /// As [`read_body`](Self::read_body).
    #[inline]
    pub fn into_buffered(self) -> Result<Request, BodyError> {
        self.read_body(BodyPolicy::Buffered)
    }
}

/// [`Incoming::new`] without the head's bytes.
impl From<Request> for Incoming<'static> {
    #[inline]
    fn from(request: Request) -> Self {
        Incoming::new(request, None)
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("method", self.request().method())
            .field("uri", self.request().uri())
            .field("version", &self.request().version())
            .field("headers", self.request().headers())
            .field("peer_addr", &self.peer_addr())
            .finish_non_exhaustive()
    }
}

/// How a request's body is read ([`Incoming::read_body`]), as the [`Service`](crate::Service) decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyPolicy {
    /// Read whole, up to the engine's
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
