//! The listening socket: binding it (with `SO_REUSEPORT` only when asked), and the accept loop
//! that hands each connection to its coroutine.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::EngineConfig;
use crate::engine::connection::Connection;
use crate::engine::registry::{ConnState, EngineShared};

/// Binds `addr` with `config`'s backlog; without [`reuse_port`](EngineConfig::reuse_port) a
/// taken address is an error.
pub(crate) fn bind(addr: impl ToSocketAddrs, config: &EngineConfig) -> io::Result<StdListener> {
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
        if config.reuse_port {
            socket.set_reuse_port(true)?;
        }
        match socket.bind(&address.into()) {
            Ok(()) => {
                socket.listen(i32::try_from(config.backlog).unwrap_or(i32::MAX))?;
                return Ok(socket.into());
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

pub(crate) fn accept_loop(shared: &Arc<EngineShared>, listener: may::net::TcpListener) {
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
        let state = Arc::new(ConnState::new(stream.as_raw_fd()));
        let registration = shared.register(&state);
        let connection_shared = Arc::clone(shared);
        let connection_state = Arc::clone(&state);
        let serve = Box::new(move || {
            Connection::new(registration, stream, connection_shared, connection_state).serve();
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

/// How long a stop waits for its wake-up connection to end the accept loop before it connects
/// again.
const WAKE_RETRY: Duration = Duration::from_millis(20);

/// Wakes an accept loop parked in `accept` (a stop has set `stopping`) by connecting to it,
/// and waits up to `within` for the loop to end.
///
/// With `SO_REUSEPORT` the connection may reach another process listening on the same port
/// (it then sees a connection closed without a request), so it connects again — a new source
/// port, a new pick among the listeners — every [`WAKE_RETRY`] until ours has ended.
pub(crate) fn wake_accept_loop(shared: &EngineShared, local: SocketAddr, within: Duration) {
    let address = wake_address(local);
    let deadline = Instant::now() + within;
    loop {
        let _ = std::net::TcpStream::connect_timeout(&address, WAKE_RETRY);
        let left = deadline.saturating_duration_since(Instant::now());
        if shared.accept_ended.yield_timeout(left.min(WAKE_RETRY)) || left.is_zero() {
            return;
        }
    }
}

/// Where to connect to wake our own accept loop.
pub(crate) fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut address = local;
    if address.ip().is_unspecified() {
        address.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}
