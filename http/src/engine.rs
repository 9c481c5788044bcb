//! [`Engine`]: the listener, the accept loop, the connection registry and the timer thread.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coordinator::{Coordinator, WaitList, WaitOutcome};
use parking_lot::Mutex;

use crate::config::EngineConfig;
use crate::connection::{ConnState, Connection};
use crate::date::DateCache;
use crate::service::Service;

/// How long forced-closed connections get to end after a stop's grace period.
const FORCE_GRACE: Duration = Duration::from_secs(1);

/// The state shared by the accept loop, the connections and the timer thread.
pub(crate) struct EngineShared {
    pub(crate) config: EngineConfig,
    pub(crate) service: Arc<dyn Service>,
    spawner: Arc<dyn ConnectionSpawner>,
    pub(crate) date: DateCache,
    pub(crate) stopping: AtomicBool,
    pub(crate) requests: AtomicU64,
    epoch: Instant,
    connections: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_connection: AtomicU64,
    /// Connections accepted and not yet closed.
    active: AtomicUsize,
    /// Connections closed so far: a stop counts those that close while it waits.
    closed_total: AtomicUsize,
    /// Notified when a connection closes: the accept loop (waiting for a free slot) and a stop
    /// (waiting for the connections to drain) listen.
    closed: WaitList,
    /// Resumed when the accept loop has ended (the listener is closed).
    accept_ended: Coordinator,
    /// Resumed when the engine has stopped: the timer thread ends.
    stopped: Coordinator,
}

impl EngineShared {
    pub(crate) fn now_millis(&self) -> u64 {
        // Offset by one so that 0 can mean "no deadline".
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2) + 1
    }

    fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Shuts a registered connection's socket down: its blocked read or write returns.
    fn shut_down(connection: &ConnState) {
        Self::shut_down_how(connection, std::net::Shutdown::Both);
    }

    /// Ends an idle connection's wait for its next request without losing one already on its
    /// way: after a read shutdown, the socket still yields what the client sent before, then
    /// end-of-stream, and the response can still be written.
    fn wind_down(connection: &ConnState) {
        Self::shut_down_how(connection, std::net::Shutdown::Read);
    }

    fn shut_down_how(connection: &ConnState, how: std::net::Shutdown) {
        // SAFETY: only called with the registry locked, and a connection leaves the registry
        // before it closes its socket, so the descriptor is open and is this connection's.
        let fd = unsafe { BorrowedFd::borrow_raw(connection.fd) };
        let _ = socket2::SockRef::from(&fd).shutdown(how);
    }
}

/// A running HTTP/1.1 engine: it accepts connections and serves each in a coroutine of its
/// own, calling a [`Service`] for every request.
///
/// ```
/// use std::io::{Read, Write};
/// use http::{Engine, EngineConfig, Request, Response, BoxError};
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

/// Starts the coroutine of each connection.
pub trait ConnectionSpawner: Send + Sync + 'static {
    /// Runs `serve` (which returns when the connection has closed) in a new coroutine with a
    /// stack of `stack_size` bytes.
    fn spawn(&self, serve: Box<dyn FnOnce() + Send>, stack_size: usize) -> io::Result<Spawned>;
}

/// A connection's coroutine, as started by a [`ConnectionSpawner`].
#[derive(Debug)]
pub struct Spawned {
    /// The coroutine (a forced stop cancels it).
    pub handle: runtime::JoinHandle<()>,
    /// Once any of them is resumed, the connection closes as soon as it is idle (after its
    /// current response, which says `Connection: close`), as on an engine stop: a worker pool
    /// passes its worker's `exiting` and its own `WORKER_EXIT`.
    pub closing: Vec<Coordinator>,
}

/// The default spawner: a plain runtime coroutine per connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoroutineSpawner;

impl ConnectionSpawner for CoroutineSpawner {
    fn spawn(&self, serve: Box<dyn FnOnce() + Send>, stack_size: usize) -> io::Result<Spawned> {
        let handle = runtime::Builder::new()
            .stack_size(stack_size)
            .spawn(serve)?;
        Ok(Spawned {
            handle,
            closing: Vec::new(),
        })
    }
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
        let listener = bind(addr, config.backlog)?;
        Self::start_on(listener, config, service, spawner)
    }

    /// [`start_with_spawner`](Self::start_with_spawner) on a listener already [`bind`]-ed
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
        let shared = Arc::new(EngineShared {
            config,
            service,
            spawner,
            date: DateCache::new(),
            stopping: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            epoch: Instant::now(),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            closed_total: AtomicUsize::new(0),
            closed: WaitList::new(),
            accept_ended: Coordinator::new(),
            stopped: Coordinator::new(),
        });
        let timer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("http-timers".into())
            .spawn(move || run_timers(&timer))?;
        let acceptor = Arc::clone(&shared);
        runtime::Builder::new()
            .name("http-accept")
            .spawn(move || accept_loop(&acceptor, listener))?;
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

    /// Stops gracefully: stops accepting, closes idle keep-alive connections, lets requests in
    /// progress finish (each connection closes after its current response) for up to `grace`,
    /// then closes what is left by force.
    pub fn stop(&self, grace: Duration) -> StopReport {
        let shared = &self.shared;
        let closed_before = shared.closed_total.load(Ordering::SeqCst);
        shared.stopping.store(true, Ordering::SeqCst);
        // The accept loop may be parked in `accept` or waiting for a free slot: wake both.
        shared.closed.notify_all();
        let _ = std::net::TcpStream::connect(wake_address(self.local_addr));
        shared.accept_ended.yield_timeout(grace.max(FORCE_GRACE));
        let deadline = Instant::now() + grace;
        wait_for_connections(shared, deadline);
        let forced = shared.active();
        // Counted, not derived from `active` at some instant: idle connections may be gone
        // before the accept loop has even ended.
        let drained = shared.closed_total.load(Ordering::SeqCst) - closed_before;
        if forced > 0 {
            for connection in shared.connections.lock().values() {
                EngineShared::shut_down(connection);
                connection.cancel();
            }
            wait_for_connections(shared, Instant::now() + FORCE_GRACE);
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

fn wait_for_connections(shared: &EngineShared, deadline: Instant) {
    while shared.active() > 0 {
        if shared.closed.wait(Some(deadline), || shared.active() == 0) == WaitOutcome::TimedOut {
            return;
        }
    }
}

/// Where to connect to wake our own accept loop.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut address = local;
    if address.ip().is_unspecified() {
        address.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

/// Binds without `SO_REUSEPORT`, so a taken address is an error.
pub(crate) fn bind(addr: impl ToSocketAddrs, backlog: u32) -> io::Result<StdListener> {
    let mut last_error = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for address in addr.to_socket_addrs()? {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        // Lets a restarted server bind while old connections linger in TIME_WAIT; unlike
        // SO_REUSEPORT it does not let two listeners share the port.
        socket.set_reuse_address(true)?;
        match socket.bind(&address.into()) {
            Ok(()) => {
                socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
                return Ok(socket.into());
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn accept_loop(shared: &Arc<EngineShared>, listener: may::net::TcpListener) {
    let max = shared.config.max_connections;
    loop {
        // Past the limit, connections wait in the kernel's backlog.
        while shared.active() >= max && !shared.stopping.load(Ordering::Acquire) {
            shared.closed.wait(None, || {
                shared.active() < max || shared.stopping.load(Ordering::Acquire)
            });
        }
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors or memory, or a connection reset before it was accepted:
                // never fatal, but do not spin on it.
                log::warn!("accept failed: {error}");
                may::coroutine::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        let _ = stream.set_nodelay(true);
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(stream.as_raw_fd()));
        shared.active.fetch_add(1, Ordering::AcqRel);
        shared.connections.lock().insert(id, Arc::clone(&state));
        let guard = Registration {
            shared: Arc::clone(shared),
            id,
        };
        let connection_shared = Arc::clone(shared);
        let connection_state = Arc::clone(&state);
        let serve = Box::new(move || {
            Connection::new(guard, stream, connection_shared, connection_state).serve();
        });
        match shared.spawner.spawn(serve, shared.config.stack_size) {
            Ok(spawned) => {
                *state.coroutine.lock() = Some(spawned.handle);
                let _ = state.closing.set(spawned.closing);
            }
            Err(error) => log::error!("could not spawn a connection coroutine: {error}"),
        }
    }
    // Closed before a stop hears that the loop has ended: once `stop` returns, the address is
    // free to bind again.
    drop(listener);
    shared.accept_ended.resume();
}

/// A connection's place in the registry; dropping it (however the connection ends) removes
/// it, then the socket may close.
pub(crate) struct Registration {
    shared: Arc<EngineShared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.shared.connections.lock().remove(&self.id).is_some() {
            self.shared.closed_total.fetch_add(1, Ordering::SeqCst);
            self.shared.active.fetch_sub(1, Ordering::AcqRel);
            self.shared.closed.notify_all();
        }
    }
}

/// The timer thread: every tick, refreshes the `Date` and closes connections past their
/// deadline (and, while stopping, idle ones).
fn run_timers(shared: &EngineShared) {
    let tick = shared.config.timer_tick;
    while !shared.stopped.yield_timeout(tick) {
        shared.date.refresh();
        let now = shared.now_millis();
        for connection in shared.connections.lock().values() {
            let deadline = connection.deadline.load(Ordering::Relaxed);
            let expired = deadline != 0 && now >= deadline;
            if expired {
                connection.deadline.store(0, Ordering::Relaxed);
                EngineShared::shut_down(connection);
            } else if connection.idle.load(Ordering::SeqCst)
                && connection.winding_down(&shared.stopping)
            {
                EngineShared::wind_down(connection);
            }
        }
    }
}
