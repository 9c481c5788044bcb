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
use crate::engine::service::Service;

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

/// Accepts connections and spawns a coroutine for each, until a stop's wake-up connection
/// arrives.
///
/// A stop does not end the loop at once: connections already in the kernel's accept queue
/// when it begins (clients that connected, perhaps sent a request, and wait) would be reset
/// when the listener closes. The queue is first in, first out, so the loop goes on accepting
/// — each such connection is served like any other, its request answered with
/// `Connection: close` — until it accepts the wake-up connection the stop queued behind them,
/// then takes what has queued behind that until the queue is empty, and closes. Only a
/// connection that completes its handshake in the instant between the last look at the queue
/// and the close is reset (`net.ipv4.tcp_migrate_req` hands even those to another listener of
/// a `SO_REUSEPORT` group).
pub(crate) fn accept_loop(
    shared: &Arc<EngineShared>,
    service: &Arc<dyn Service>,
    listener: may::net::TcpListener,
) {
    let max = shared.config.max_connections;
    let mut failures = Throttle::new(ACCEPT_WARNING_INTERVAL);
    loop {
        // Past the limit, connections wait in the kernel's backlog (a stop empties it).
        while shared.active() >= max && !shared.stopping.load(Ordering::Acquire) {
            shared.closed.wait(None, || {
                shared.active() < max || shared.stopping.load(Ordering::Acquire)
            });
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or memory, or a connection reset before it was accepted:
                // never fatal, but do not spin on it — nor flood the log: out of descriptors,
                // this fails every 10 ms until connections close.
                match failures.note(Instant::now()) {
                    Some(0) => log::warn!("accept failed: {error}"),
                    Some(suppressed) => log::warn!(
                        "accept failed: {error} ({suppressed} more failures since the last warning)"
                    ),
                    None => {}
                }
                may::coroutine::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping.load(Ordering::Acquire) && shared.wake_peers.lock().contains(&peer) {
            break;
        }
        serve(shared, service, stream, peer);
    }
    while has_queued_connection(&listener) {
        match listener.accept() {
            Ok((stream, peer)) => serve(shared, service, stream, peer),
            Err(_) => break,
        }
    }
    // Closed before a stop hears that the loop has ended: once `stop` returns, the address is
    // free to bind again.
    drop(listener);
    shared.accept_ended.resume();
}

/// The least time between two warnings of failed accepts.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// Lets one event through per interval and counts the others, so that a failure repeating
/// in a loop is logged about once per interval with the count of those left out. Times are
/// passed in, so that tests need not wait.
#[derive(Debug)]
struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Notes an event at `now`: `Some` with how many events were left out since the last one
    /// let through when this one is to be reported, `None` when it is left out.
    fn note(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Registers `stream` and spawns the coroutine that serves it.
fn serve(
    shared: &Arc<EngineShared>,
    service: &Arc<dyn Service>,
    stream: may::net::TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ConnState::new(stream.as_raw_fd()));
    let registration = shared.register(&state);
    let connection_shared = Arc::clone(shared);
    let connection_state = Arc::clone(&state);
    let service = Arc::clone(service);
    let serve = Box::new(move || {
        // On the heap: the connection is served by value through several calls, and each
        // would otherwise keep a copy of it in its frame, deepening every connection's stack
        // (whose touched pages stay resident while the connection is idle).
        Box::new(Connection::new(
            registration,
            stream,
            peer,
            connection_shared,
            connection_state,
        ))
        .serve(&*service);
    });
    match shared.spawner.spawn(serve, shared.config.stack_size) {
        Ok(spawned) => {
            *state.coroutine.lock() = Some(spawned.handle);
            let _ = state.closing.set(spawned.closing);
        }
        Err(error) => log::error!("could not spawn a connection coroutine: {error}"),
    }
}

/// Whether a connection waits in `listener`'s accept queue, without blocking. Then `accept`
/// returns at once: only this loop accepts from the listener, and Linux hands out a queued
/// connection even if it was reset meanwhile.
fn has_queued_connection(listener: &may::net::TcpListener) -> bool {
    let mut query = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `query` is one initialised `pollfd`, alive and exclusively borrowed for the
    // whole call, and the count says one; the descriptor is the listener's, open while it is
    // borrowed; a zero timeout returns at once.
    let ready = unsafe { libc::poll(&mut query, 1, 0) };
    ready == 1 && query.revents & libc::POLLIN != 0
}

/// How long a stop waits for its wake-up connection to end the accept loop before it connects
/// again.
const WAKE_RETRY: Duration = Duration::from_millis(20);

/// Ends the accept loop of a stopping engine (`stopping` is set): connects to it from a
/// source address the loop knows, and waits up to `within` for the loop to end.
///
/// With `SO_REUSEPORT` the connection may reach another process listening on the same port
/// (it then sees a connection closed without a request), so it connects again — a new source
/// port, a new pick among the listeners — every [`WAKE_RETRY`] until ours has ended.
pub(crate) fn wake_accept_loop(shared: &EngineShared, local: SocketAddr, within: Duration) {
    let address = wake_address(local);
    let deadline = Instant::now() + within;
    // Kept open until the loop has ended: a port closed earlier could be reused by a client's
    // connection, which the loop would then mistake for ours.
    let mut connections = Vec::new();
    loop {
        connections.extend(connect_known(shared, address).ok());
        let left = deadline.saturating_duration_since(Instant::now());
        if shared.accept_ended.yield_timeout(left.min(WAKE_RETRY)) || left.is_zero() {
            return;
        }
    }
}

/// Connects to `address` from a port bound first and recorded in `wake_peers`, so that the
/// accept loop recognises the connection whenever it accepts it.
fn connect_known(shared: &EngineShared, address: SocketAddr) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let mut source = address;
    source.set_port(0);
    socket.bind(&source.into())?;
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    shared.wake_peers.lock().push(bound);
    socket.connect_timeout(&address.into(), WAKE_RETRY)?;
    Ok(socket)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_reported_with_nothing_left_out() {
        let mut throttle = Throttle::new(Duration::from_secs(1));
        assert_eq!(throttle.note(Instant::now()), Some(0));
    }

    #[test]
    fn events_within_the_interval_are_left_out_and_counted_in_the_next_report() {
        let mut throttle = Throttle::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(throttle.note(start), Some(0));
        // An accept failing every 10 ms for just under a second: 99 more failures.
        for n in 1..100 {
            assert_eq!(throttle.note(start + Duration::from_millis(10 * n)), None);
        }
        assert_eq!(throttle.note(start + Duration::from_secs(1)), Some(99));
        assert_eq!(
            throttle.note(start + Duration::from_millis(1500)),
            None,
            "the interval counts from the last report"
        );
        assert_eq!(throttle.note(start + Duration::from_secs(2)), Some(1));
    }

    #[test]
    fn an_event_after_a_quiet_spell_is_reported_at_once() {
        let mut throttle = Throttle::new(Duration::from_secs(1));
        let start = Instant::now();
        throttle.note(start);
        assert_eq!(throttle.note(start + Duration::from_secs(60)), Some(0));
    }
}
