//! The HTTP/1.1 engine: [`Engine`] binds a listener, serves each connection in a coroutine of
//! its own and stops gracefully; the wire protocol below it is private.

mod body_reader;
mod config;
mod connection;
mod incoming;
mod lifeline;
mod listener;
mod registry;
mod service;
mod spawner;
mod stack_probe;
mod timers;
mod upgrade;
mod wire;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use self::body_reader::{BodyError, BodyReader};
pub use self::config::{EngineConfig, Limits};
pub use self::incoming::{BodyPolicy, Incoming, Request};
pub(crate) use self::listener::bind;
use self::listener::wake_accept_loop;
pub use self::service::{BoxError, Response, Service};
pub use self::spawner::{ConnectionSpawner, CoroutineSpawner, Spawned};
pub use self::upgrade::{OnUpgrade, Upgraded};
pub(crate) use self::upgrade::{connection_stopping, on_connection_wind_down};
pub use self::wire::body::{Body, BodyWriter};
pub(crate) use self::wire::decode::header_fields;
pub(crate) use self::wire::header_maps::take as recycled_header_map;

use self::registry::EngineShared;

/// How long forced-closed connections get to end after a stop's grace period.
const FORCE_GRACE: Duration = Duration::from_secs(1);

/// A running HTTP/1.1 engine: it accepts connections and serves each in a coroutine of its
/// own, calling a [`Service`] for every request.
///
/// ```
/// use std::io::{Read, Write};
/// use hyperf_http::{Engine, EngineConfig, Request, Response, BoxError};
///
/// let engine = Engine::start("127.0.0.1:0", EngineConfig::default(), |_: Request| -> Result<Response, BoxError> {
///     Ok(Response::new("hello".into()))
/// })
/// .unwrap();
///
/// let mut client = std::net::TcpStream::connect(engine.local_addr()).unwrap();
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(answer.ends_with("\r\n\r\nhello"));
///
/// let report = engine.stop(std::time::Duration::from_secs(5));
/// assert_eq!(report.forced, 0);
/// ```
pub struct Engine {
    shared: Arc<EngineShared>,
    local_addr: SocketAddr,
}

/// What [`Engine::stop`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Connections open when the stop began that closed within the grace period (idle ones
    /// are closed at once; busy ones after their current response).
    pub drained: usize,
    /// Connections still open after the grace period, closed by force (their sockets shut
    /// down, their coroutines cancelled).
    pub forced: usize,
    /// Requests served by the engine in its whole life.
    pub requests: u64,
}

impl Engine {
    /// Binds `addr` and starts serving with `service`.
    ///
    /// The bind fails if the address is in use (unlike may's own listener, which sets
    /// `SO_REUSEPORT` and would silently share the port with another server).
    pub fn start(
        addr: impl ToSocketAddrs,
        config: EngineConfig,
        service: impl Service,
    ) -> io::Result<Engine> {
        Self::start_shared(addr, config, Arc::new(service))
    }

    /// [`start`](Self::start) with a service already behind an `Arc`.
    pub fn start_shared(
        addr: impl ToSocketAddrs,
        config: EngineConfig,
        service: Arc<dyn Service>,
    ) -> io::Result<Engine> {
        Self::start_with_spawner(addr, config, service, Arc::new(CoroutineSpawner))
    }

    /// [`start_shared`](Self::start_shared), with connections' coroutines started by
    /// `spawner` (the server uses it to spread connections over its workers).
    pub fn start_with_spawner(
        addr: impl ToSocketAddrs,
        config: EngineConfig,
        service: Arc<dyn Service>,
        spawner: Arc<dyn ConnectionSpawner>,
    ) -> io::Result<Engine> {
        let listener = listener::bind(addr, &config)?;
        Self::start_on(listener, config, service, spawner)
    }

    /// [`start_with_spawner`](Self::start_with_spawner) on a listener already bound by [`listener::bind`]
    /// (the server binds every address before it starts anything, so a taken port fails the
    /// start before any callback has run).
    pub(crate) fn start_on(
        listener: StdListener,
        config: EngineConfig,
        service: Arc<dyn Service>,
        spawner: Arc<dyn ConnectionSpawner>,
    ) -> io::Result<Engine> {
        let local_addr = listener.local_addr()?;
        // SAFETY: the descriptor comes from a listener we own and hand over whole.
        let listener = unsafe { may::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
        let shared = Arc::new(EngineShared::new(config, spawner));
        let timer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("http-timers".into())
            .spawn(move || timers::run_timers(&timer))?;
        let acceptor = Arc::clone(&shared);
        runtime::Builder::new()
            .name("http-accept")
            .spawn(move || listener::accept_loop(&acceptor, &service, listener))?;
        Ok(Engine { shared, local_addr })
    }

    /// The address the engine listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.active()
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// The deepest any closed connection's coroutine wrote into its stack, as a share of the
    /// [stack size](EngineConfig::stack_size), in sixteenths: 0, 1/16 … 10/16 (the deepest
    /// point measured; a connection that went further shows as 10/16, and is logged as a
    /// warning). Measured when each connection ends, by probes at whole sixteenths of the
    /// stack, so it can read a sixteenth low; always 0 for a stack under 64 KiB. A share that
    /// nears 10/16 says to raise the stack before a deeper request overflows it.
    ///
    /// ```
    /// # use hyperf_http::{Engine, EngineConfig, Request, Response};
    /// let engine = Engine::start("127.0.0.1:0", EngineConfig::default(), |_: Request| {
    ///     Ok(Response::new("hi".into()))
    /// })
    /// .unwrap();
    /// assert_eq!(engine.stack_high_water(), 0.0); // no connection has ended yet
    /// # engine.stop(std::time::Duration::from_secs(1));
    /// ```
    pub fn stack_high_water(&self) -> f64 {
        let stack_size = self.shared.config.stack_size;
        self.shared.stack_high_water.get() as f64 / stack_size as f64
    }

    /// Begins a drain ahead of a [`stop`](Self::stop): from now on every response closes its
    /// connection (`Connection: close`), unless the client has already sent its next request
    /// (pipelined), which is answered first. New connections are still accepted and idle ones
    /// stay open, so a load balancer's pooled connections end between requests, each after a
    /// response, rather than under a request when the stop closes them.
    pub fn begin_drain(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
    }

    /// Stops gracefully: stops accepting, closes idle keep-alive connections, lets requests in
    /// progress finish (each connection closes after its current response) for up to `grace`,
    /// then closes what is left by force.
    pub fn stop(&self, grace: Duration) -> StopReport {
        let shared = &self.shared;
        let closed_before = shared.closed_total();
        shared.stopping.store(true, Ordering::SeqCst);
        // The accept loop may be parked in `accept` or waiting for a free slot: wake both.
        shared.closed.notify_all();
        wake_accept_loop(shared, self.local_addr, grace.max(FORCE_GRACE));
        let deadline = Instant::now() + grace;
        shared.wait_for_connections(deadline);
        let forced = shared.active();
        // Counted, not derived from `active` at some instant: idle connections may be gone
        // before the accept loop has even ended.
        let drained = shared.closed_total() - closed_before;
        if forced > 0 {
            shared.force_close_all();
            shared.wait_for_connections(Instant::now() + FORCE_GRACE);
            if shared.active() > 0 {
                log::warn!(
                    "{} connections still busy after the stop; their handlers never reached a blocking call",
                    shared.active()
                );
            }
        }
        shared.stopped.resume();
        StopReport {
            drained,
            forced,
            requests: shared.requests.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.connections())
            .field("stopping", &self.shared.stopping.load(Ordering::Relaxed))
            .finish()
    }
}
