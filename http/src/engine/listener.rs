//! The listening socket: binding it without `SO_REUSEPORT`, and the accept loop that hands each
//! connection to its coroutine.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine::connection::Connection;
use crate::engine::registry::{ConnState, EngineShared};

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
