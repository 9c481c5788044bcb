//! An HTTP/1.1 engine on may's stackful coroutines: handlers are plain blocking Rust, each
//! connection is a coroutine, and bad input gets a clear answer — a 4xx and a closed
//! connection — never a panic, a hang or unbounded memory.
//!
//! Requests and responses are the `http` crate's types (re-exported here), so what you know
//! from hyper or axum applies.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use hyperf_http::{BoxError, Engine, EngineConfig, Request, Response, StatusCode};
//!
//! let engine = Engine::start("127.0.0.1:0", EngineConfig::default(), |request: Request| -> Result<Response, BoxError> {
//!     let name = String::from_utf8(request.body().to_vec())?;
//!     let mut response = Response::new(format!("hello, {name}").into());
//!     *response.status_mut() = StatusCode::CREATED;
//!     Ok(response)
//! })
//! .unwrap();
//!
//! let mut client = std::net::TcpStream::connect(engine.local_addr()).unwrap();
//! client
//!     .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nada")
//!     .unwrap();
//! let mut answer = String::new();
//! client.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"));
//! assert!(answer.ends_with("hello, ada"));
//! engine.stop(Duration::from_secs(5));
//! ```
//!
//! # What the engine guarantees
//!
//! - Keep-alive and pipelining (responses in order, written in batches); HTTP/1.0 and
//!   `Connection: close` honoured; `HEAD` answered with the headers the `GET` would have and
//!   no body; `Expect: 100-continue` answered before the body is read.
//! - Request bodies by `Content-Length` or `chunked` (extensions and trailers accepted), read
//!   whole before the handler runs or streamed to it, and never taken for the next request.
//! - Every limit configurable ([`Limits`], [`EngineConfig`]): 64 KiB of head → `431`,
//!   100 header fields → `431`, 8 KiB target → `414`, 8 MiB body → `413` (before reading it);
//!   10 s to send a request head (a head or body begun and stalled past it → `408`; a
//!   connection that has sent nothing is closed without a word), 60 s of keep-alive
//!   idleness (closed without a word), `max_connections` (10,000).
//! - RFC 9112's answers to malformed framing (`400`, `501`, `417`, `505`), then a close.
//! - Every refusal is a lingering close: the answer is sent, the sending side shut down, and
//!   what the client still sends is read and discarded (up to 2 s and 64 KiB,
//!   [`EngineConfig::linger_timeout`], [`EngineConfig::linger_bytes`]) before the socket
//!   closes, so that a client still sending reads the answer instead of a reset.
//! - A handler's error or panic becomes a bare `500`; the connection and the server go on.
//!
//! A [`Service`] gets each request as an [`Incoming`], its head read and its body not yet, and
//! reads the body as it decides: whole (bounded by the body limit; what a closure service
//! gets), or [streamed](BodyPolicy::Streamed) to the handler through a [`BodyReader`] as it
//! arrives, with flat memory whatever the body's size (the server's routes opt in with
//! `stream_body`).

#![deny(unsafe_op_in_unsafe_fn)]

mod engine;
pub mod server;
pub mod testing;

pub use crate::engine::{
    Body, BodyError, BodyPolicy, BodyReader, BodyWriter, BoxError, ConnectionSpawner,
    CoroutineSpawner, Engine, EngineConfig, Incoming, Limits, OnUpgrade, Request, Response,
    Service, Spawned, StopReport, Upgraded,
};
pub use bytes::Bytes;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version, header};
/// Calling async crates (a database driver, an HTTP client) from a handler: `block_on(future)`
/// runs the future on a tokio runtime started at the first call and parks only the handler's
/// coroutine until it is done — the worker thread serves other requests meanwhile. The
/// runtime's async bridge, re-exported so that a server needs no other dependency for it
/// (feature `tokio`, on by default); see [`runtime::bridge`] for where futures run, panics,
/// cancellation and giving it a runtime of your own.
///
/// ```
/// use hyperf_http::server::{Path, Router};
///
/// let mut router = Router::new();
/// router.get("/double/{n:\\d+}", |Path(n): Path<u64>| {
///     // Any future: here one that is ready at once; a query of an async driver the same way.
///     hyperf_http::block_on(async move { (n * 2).to_string() })
/// }).unwrap();
/// ```
#[cfg(feature = "tokio")]
pub use runtime::block_on;
/// [`block_on`] with a bound: past the timeout the future is dropped and the handler gets
/// [`runtime::bridge::Elapsed`] (feature `tokio`).
#[cfg(feature = "tokio")]
pub use runtime::block_on_timeout;
