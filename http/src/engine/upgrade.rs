//! Protocol upgrades (`101 Switching Protocols`): after such a response the connection is no
//! longer HTTP, and the engine hands its socket to the service's callback.
//!
//! The hand-over: a service answers with a `101` response that carries an [`OnUpgrade`] in its
//! extensions. The connection writes the head (with `Connection: upgrade`, the status and the
//! handler's fields, such as `Upgrade`), disarms the request deadlines the timer thread would
//! otherwise fire on the socket, and calls the callback on its own coroutine with an
//! [`Upgraded`] socket: the stream, with any bytes the client sent past the request head
//! (already in the connection's read buffer) read first. When the callback returns, the
//! connection closes. Until then it stays in the engine's registry: it counts in
//! [`Engine::connections`](crate::Engine::connections) and against `max_connections`, and a
//! stop waits for it within its grace (the callback learns of the stop through
//! [`Upgraded::is_stopping`]) before closing it by force.
//!
//! ```
//! use std::io::{Read, Write};
//! use hyperf_http::{Body, BoxError, Engine, EngineConfig, OnUpgrade, Request, Response, StatusCode, Upgraded};
//!
//! // A toy protocol: after the upgrade, each byte is echoed back incremented.
//! let engine = Engine::start("127.0.0.1:0", EngineConfig::default(), |_: Request| -> Result<Response, BoxError> {
//!     let mut response = Response::new(Body::empty());
//!     *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
//!     response.headers_mut().insert("upgrade", "plus-one".parse().unwrap());
//!     response.extensions_mut().insert(OnUpgrade::new(|mut socket: Upgraded| {
//!         let mut byte = [0u8; 1];
//!         while socket.read(&mut byte).unwrap_or(0) == 1 {
//!             let _ = socket.write_all(&[byte[0] + 1]);
//!         }
//!     }));
//!     Ok(response)
//! })
//! .unwrap();
//!
//! let mut client = std::net::TcpStream::connect(engine.local_addr()).unwrap();
//! // The byte after the head arrives with it: it is read first from the upgraded socket.
//! client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: plus-one\r\n\r\na").unwrap();
//! let mut head = Vec::new();
//! let mut byte = [0u8; 1];
//! while !head.ends_with(b"\r\n\r\n") {
//!     client.read_exact(&mut byte).unwrap();
//!     head.push(byte[0]);
//! }
//! assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! client.read_exact(&mut byte).unwrap();
//! assert_eq!(&byte, b"b");
//! drop(client);
//! engine.stop(std::time::Duration::from_secs(5));
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use may::net::TcpStream;
use parking_lot::Mutex;

use crate::engine::registry::{ConnState, Deadline, EngineShared, WindDownHook};

type Callback = Box<dyn FnOnce(Upgraded) + Send>;

may::coroutine_local!(static SERVING: RefCell<Option<Serving>> = RefCell::new(None));

/// The connection the current coroutine serves, for code that runs on it without a handle
/// of its own (a streamed body that must end when the engine stops).
struct Serving {
    shared: Arc<EngineShared>,
    state: Arc<ConnState>,
}

/// Held while a connection is served on the current coroutine (see
/// [`connection_stopping`]); clears the mark when dropped, also when unwinding.
pub(crate) struct ServingMark(());

impl ServingMark {
    pub(crate) fn enter(shared: &Arc<EngineShared>, state: &Arc<ConnState>) -> Self {
        let serving = Serving {
            shared: Arc::clone(shared),
            state: Arc::clone(state),
        };
        SERVING.with(|slot| *slot.borrow_mut() = Some(serving));
        ServingMark(())
    }
}

impl Drop for ServingMark {
    fn drop(&mut self) {
        let serving = SERVING.with(|slot| slot.borrow_mut().take());
        drop(serving);
    }
}

/// Whether the connection served on the current coroutine should wind down (the engine
/// stops, or its worker exits); `false` off a connection's coroutine. A long streamed body
/// (server-sent events) looks at it between writes to end within a stop's grace.
pub(crate) fn connection_stopping() -> bool {
    SERVING.with(|slot| {
        slot.borrow()
            .as_ref()
            .is_some_and(|serving| serving.state.winding_down(&serving.shared.stopping))
    })
}

/// Sets (or, with `None`, takes away) what the connection served on the current coroutine
/// does as soon as it winds down, as [`Upgraded::on_wind_down`] does for an upgraded one: a
/// long streamed body (server-sent events) ends at once rather than at its next look at
/// [`connection_stopping`]. Does nothing off a connection's coroutine.
pub(crate) fn on_connection_wind_down(hook: Option<WindDownHook>) {
    SERVING.with(|slot| {
        if let Some(serving) = slot.borrow().as_ref() {
            serving.state.set_wind_down_hook(hook);
        }
    });
}

/// What to do with the socket after a `101 Switching Protocols` response: put it in the
/// response's extensions, and the engine calls it, on the connection's coroutine, once the
/// response's head is written. The connection closes when it returns.
///
/// Clones share the one callback (response extensions must be `Clone`): it runs once.
#[derive(Clone)]
pub struct OnUpgrade(Arc<Mutex<Option<Callback>>>);

impl OnUpgrade {
    /// The callback that gets the upgraded socket.
    pub fn new(callback: impl FnOnce(Upgraded) + Send + 'static) -> Self {
        OnUpgrade(Arc::new(Mutex::new(Some(Box::new(callback)))))
    }

    pub(crate) fn run(self, socket: Upgraded) {
        let callback = self.0.lock().take();
        if let Some(callback) = callback {
            callback(socket);
        }
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnUpgrade")
    }
}

/// A connection's socket after a protocol upgrade: reads return first the bytes the client
/// sent past the request head, then the stream's. Blocking calls park the coroutine only.
pub struct Upgraded {
    leftover: BytesMut,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<EngineShared>,
    state: Arc<ConnState>,
    /// Each write's bound, enforced by the engine's timer thread (see `write`).
    write_timeout: Option<Duration>,
}

impl Upgraded {
    pub(crate) fn new(
        stream: TcpStream,
        leftover: BytesMut,
        peer: SocketAddr,
        shared: Arc<EngineShared>,
        state: Arc<ConnState>,
    ) -> Self {
        Upgraded {
            leftover,
            stream,
            peer,
            shared,
            state,
            write_timeout: None,
        }
    }

    /// Whether the engine is stopping (or the connection's worker is exiting): the protocol
    /// should say goodbye and end, within the stop's grace, after which the socket is shut
    /// down and the coroutine cancelled.
    pub fn is_stopping(&self) -> bool {
        self.state.winding_down(&self.shared.stopping)
    }

    /// Sets what to do as soon as the connection winds down (the engine stops, or the
    /// connection's worker exits), instead of waiting for the protocol's next look at
    /// [`is_stopping`](Self::is_stopping): typically, to say goodbye to the client, whose
    /// answer then wakes the reader. It runs once, on the engine's timer thread, so it must
    /// not block (spawn a coroutine for what waits). A later call replaces the hook.
    ///
    /// The hook is held by the connection: give it weak references to what holds this
    /// socket, or the two keep each other alive.
    pub fn on_wind_down(&self, hook: impl FnOnce() + Send + 'static) {
        self.state.set_wind_down_hook(Some(Box::new(hook)));
    }

    /// Bounds each read: past `timeout` without data a read fails with `WouldBlock` or
    /// `TimedOut`. `None`: reads wait as long as it takes.
    ///
    /// # Errors
    ///
    /// A zero `timeout`, as for a `std` socket.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // may keeps coroutine timeouts in whole milliseconds, 0 meaning none: round up.
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        self.stream.set_read_timeout(timeout)
    }

    /// Bounds each write: a write still blocked `timeout` after it began (the client does not
    /// read) fails, and the socket is shut down both ways — the connection is over. `None`:
    /// writes wait as long as it takes.
    ///
    /// The bound is kept by the engine's timer thread, as for a response's writes, not by
    /// the socket's own timeout: that one starts again whenever the socket wakes the writer
    /// for something else, so a client that keeps sending while it never reads would hold
    /// a write for ever. The deadline is the connection's, so one handle writes at a time
    /// (as a WebSocket's writer does, under its lock).
    ///
    /// # Errors
    ///
    /// A zero `timeout`.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero write timeout",
            ));
        }
        self.write_timeout = timeout;
        Ok(())
    }

    /// Another handle on the same socket (without the bytes read past the head, which only
    /// the first handle returns): for writing from one coroutine while another reads.
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<Upgraded> {
        Ok(Upgraded {
            leftover: BytesMut::new(),
            stream: self.stream.try_clone()?,
            peer: self.peer,
            shared: Arc::clone(&self.shared),
            state: Arc::clone(&self.state),
            write_timeout: self.write_timeout,
        })
    }

    /// The address of the connection's other end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Shuts the socket down (`how`): the peer sees the end of the stream.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::shutdown`].
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }
}

impl Read for Upgraded {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if !self.leftover.is_empty() {
            let n = buffer.len().min(self.leftover.len());
            buffer[..n].copy_from_slice(&self.leftover[..n]);
            self.leftover.advance(n);
            if self.leftover.is_empty() {
                // Read out: its memory goes, not only its bytes.
                self.leftover = BytesMut::new();
            }
            return Ok(n);
        }
        self.stream.read(buffer)
    }
}

impl Write for Upgraded {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(timeout) = self.write_timeout else {
            return self.stream.write(data);
        };
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX / 2);
        self.state
            .set_deadline(self.shared.now_millis() + millis, Deadline::Write);
        let written = self.stream.write(data);
        self.state.clear_deadline();
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("peer", &self.peer)
            .field("leftover", &self.leftover.len())
            .finish_non_exhaustive()
    }
}
