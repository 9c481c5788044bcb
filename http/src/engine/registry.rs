//! The engine's shared state: its settings, the registry of open connections, and the counters
//! and latches through which the accept loop, the connections, the timer thread and a stop
//! meet.

use crate::engine::stack_probe::HighWater;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use coordinator::{Coordinator, WaitList, WaitOutcome};
use parking_lot::Mutex;

use crate::engine::config::EngineConfig;
use crate::engine::spawner::ConnectionSpawner;
use crate::engine::wire::date::DateCache;

/// The state shared by the accept loop, the connections and the timer thread.
pub(crate) struct EngineShared {
    pub(crate) config: EngineConfig,
    pub(crate) spawner: Arc<dyn ConnectionSpawner>,
    pub(crate) date: DateCache,
    pub(crate) stopping: AtomicBool,
    /// Set by [`Engine::begin_drain`](crate::engine::Engine::begin_drain): every response
    /// closes its connection unless the client has already sent its next request.
    pub(crate) draining: AtomicBool,
    pub(crate) requests: AtomicU64,
    /// How deep connections' stacks went (`stack_probe`).
    pub(crate) stack_high_water: HighWater,
    epoch: Instant,
    connections: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_connection: AtomicU64,
    /// Connections accepted and not yet closed.
    active: AtomicUsize,
    /// Connections closed so far: a stop counts those that close while it waits.
    closed_total: AtomicUsize,
    /// Notified when a connection closes: the accept loop (waiting for a free slot) and a stop
    /// (waiting for the connections to drain) listen.
    pub(crate) closed: WaitList,
    /// Resumed when the accept loop has ended (the listener is closed).
    pub(crate) accept_ended: Coordinator,
    /// The source addresses of a stop's wake-up connections: the accept loop ends when it
    /// accepts one, having served every connection queued before it.
    pub(crate) wake_peers: Mutex<Vec<SocketAddr>>,
    /// Resumed when the engine has stopped: the timer thread ends.
    pub(crate) stopped: Coordinator,
}

impl EngineShared {
    pub(crate) fn new(config: EngineConfig, spawner: Arc<dyn ConnectionSpawner>) -> Self {
        EngineShared {
            config,
            spawner,
            date: DateCache::new(),
            stopping: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            stack_high_water: HighWater::default(),
            epoch: Instant::now(),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            closed_total: AtomicUsize::new(0),
            closed: WaitList::new(),
            accept_ended: Coordinator::new(),
            wake_peers: Mutex::new(Vec::new()),
            stopped: Coordinator::new(),
        }
    }

    pub(crate) fn now_millis(&self) -> u64 {
        // Offset by one so that 0 can mean "no deadline".
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2) + 1
    }

    /// Connections open right now.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Connections closed in the engine's life so far.
    pub(crate) fn closed_total(&self) -> usize {
        self.closed_total.load(Ordering::SeqCst)
    }

    /// Enters a new connection in the registry; it stays there until the returned
    /// registration is dropped.
    pub(crate) fn register(self: &Arc<Self>, state: &Arc<ConnState>) -> Registration {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::AcqRel);
        self.connections.lock().insert(id, Arc::clone(state));
        Registration {
            shared: Arc::clone(self),
            id,
        }
    }

    /// Takes connection `id` out of the registry (once: again does nothing).
    pub(crate) fn deregister(&self, id: u64) {
        if self.connections.lock().remove(&id).is_some() {
            self.closed_total.fetch_add(1, Ordering::SeqCst);
            self.active.fetch_sub(1, Ordering::AcqRel);
            self.closed.notify_all();
        }
    }

    /// Calls `f` on every open connection, with the registry locked: only then may a socket
    /// be shut down from outside its connection's coroutine.
    pub(crate) fn for_each_connection(&self, mut f: impl FnMut(Listed<'_>)) {
        for connection in self.connections.lock().values() {
            f(Listed(connection));
        }
    }

    /// Waits until every connection has closed, or until `deadline`.
    pub(crate) fn wait_for_connections(&self, deadline: Instant) {
        while self.active() > 0 {
            if self.closed.wait(Some(deadline), || self.active() == 0) == WaitOutcome::TimedOut {
                return;
            }
        }
    }

    /// Closes every open connection by force: its socket shut down, its coroutine cancelled.
    pub(crate) fn force_close_all(&self) {
        self.for_each_connection(|connection| {
            connection.shut_down();
            connection.cancel();
        });
    }
}

/// A connection's place in the registry; dropping it (however the connection ends) removes
/// it, then the socket may close.
pub(crate) struct Registration {
    shared: Arc<EngineShared>,
    id: u64,
}

impl Registration {
    /// The connection's id in the registry.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.deregister(self.id);
    }
}

/// What the timer thread does to a connection whose deadline has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// A read is bounded: only the read side is shut down, so the blocked read returns
    /// end-of-stream and the connection can still answer (`408`) and close.
    Read,
    /// A write is bounded: the socket is shut down both ways, so the blocked write fails.
    Write,
}

/// The low bit of `ConnState::deadline`: set for a [`Deadline::Write`].
const WRITE_BIT: u64 = 1;

/// What the engine's timer thread and a stop know of a connection.
pub(crate) struct ConnState {
    /// The socket, shut down by the timer thread when `deadline` passes. Only used while the
    /// connection is registered with the engine, and a connection deregisters before it closes
    /// its socket, so the descriptor is always the connection's own.
    fd: RawFd,
    /// Milliseconds since the engine's epoch after which the timer thread shuts the socket
    /// down, shifted left by one, with [`WRITE_BIT`] for a write's deadline; 0: none. One
    /// word, so a deadline and its kind are always seen together.
    deadline: AtomicU64,
    /// Set (for good) by the timer thread before it shuts the read side down at a read's
    /// deadline: the end-of-stream that follows is the engine's, not the client's.
    timed_out: AtomicBool,
    /// Waiting for the next request with nothing buffered, or lingering after a refusal: a
    /// stopping engine closes it.
    pub(crate) idle: AtomicBool,
    /// The connection's coroutine, once spawned: cancelled when a stop's grace runs out.
    pub(crate) coroutine: Mutex<Option<runtime::JoinHandle<()>>>,
    /// Set by the spawner (a worker's `exiting`): once resumed, the connection closes as soon
    /// as it is idle, like on an engine stop.
    pub(crate) closing: OnceLock<Vec<Coordinator>>,
    /// What a long-lived exchange does to end, run once by the timer thread when the
    /// connection winds down: an upgraded protocol's goodbye (see
    /// [`Upgraded::on_wind_down`](crate::engine::Upgraded::on_wind_down)), an event stream's
    /// end.
    wind_down_hook: Mutex<Option<WindDownHook>>,
}

/// What a connection does when it winds down; runs on the timer thread, so it must not
/// block.
pub(crate) type WindDownHook = Box<dyn FnOnce() + Send>;

impl ConnState {
    pub(crate) fn new(fd: RawFd) -> Self {
        ConnState {
            fd,
            deadline: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            coroutine: Mutex::new(None),
            closing: OnceLock::new(),
            wind_down_hook: Mutex::new(None),
        }
    }

    /// Sets the hook the timer thread runs once when the connection winds down (replacing one
    /// set before); `None` takes it away.
    pub(crate) fn set_wind_down_hook(&self, hook: Option<WindDownHook>) {
        *self.wind_down_hook.lock() = hook;
    }

    /// Runs the wind-down hook, if one is set and has not run yet.
    pub(crate) fn run_wind_down_hook(&self) {
        let hook = self.wind_down_hook.lock().take();
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Arms the deadline: at `at` (milliseconds since the engine's epoch, see
    /// [`EngineShared::now_millis`]) the timer thread ends the read or write in progress.
    pub(crate) fn set_deadline(&self, at: u64, kind: Deadline) {
        let bit = match kind {
            Deadline::Read => 0,
            Deadline::Write => WRITE_BIT,
        };
        // Far-off deadlines (a timeout of `Duration::MAX`) saturate instead of wrapping.
        let at = at.min(u64::MAX >> 2);
        self.deadline.store((at << 1) | bit, Ordering::Relaxed);
    }

    /// Disarms the deadline.
    pub(crate) fn clear_deadline(&self) {
        self.deadline.store(0, Ordering::Relaxed);
    }

    /// Whether a deadline is armed and has not fired yet.
    pub(crate) fn deadline_pending(&self) -> bool {
        self.deadline.load(Ordering::Relaxed) != 0
    }

    /// Whether a read's deadline has fired: the socket's read side is shut down, so the
    /// end-of-stream a read returns is the timeout's.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }

    /// Whether the connection should close once idle: the engine stops, or its spawner asked.
    pub(crate) fn winding_down(&self, engine_stopping: &AtomicBool) -> bool {
        engine_stopping.load(Ordering::SeqCst)
            || self
                .closing
                .get()
                .is_some_and(|all| all.iter().any(|c| c.is_closing()))
    }

    /// Cancels the connection's coroutine: at its next blocking call it unwinds, dropping the
    /// request in progress and the connection.
    pub(crate) fn cancel(&self) {
        if let Some(coroutine) = self.coroutine.lock().as_ref() {
            // SAFETY: the coroutine holds the connection (socket and buffers, of no use once
            // it is forced closed) and the handler's stack; the engine's contract is that a
            // stop cancels the handlers still running after its grace (`StopReport::forced`),
            // and `call_service` lets the cancellation unwind.
            unsafe { coroutine.cancel() };
        }
    }
}

/// A connection seen with the registry locked ([`EngineShared::for_each_connection`]).
pub(crate) struct Listed<'a>(&'a ConnState);

impl Deref for Listed<'_> {
    type Target = ConnState;

    fn deref(&self) -> &ConnState {
        self.0
    }
}

impl Listed<'_> {
    /// Fires the connection's deadline if it has passed by `now`: a read's deadline shuts the
    /// read side down (the connection may still write its `408`, itself bounded by the write
    /// timeout), a write's shuts the socket down both ways.
    pub(crate) fn fire_deadline_at(&self, now: u64) {
        let deadline = self.0.deadline.load(Ordering::Relaxed);
        if deadline == 0 || now < deadline >> 1 {
            return;
        }
        // A deadline the connection has replaced meanwhile (its read completed) is not fired.
        if self
            .0
            .deadline
            .compare_exchange(deadline, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if deadline & WRITE_BIT == 0 {
            self.0.timed_out.store(true, Ordering::SeqCst);
            self.shut_down_how(std::net::Shutdown::Read);
        } else {
            self.shut_down();
        }
    }

    /// Shuts the socket down: the connection's blocked read or write returns.
    pub(crate) fn shut_down(&self) {
        self.shut_down_how(std::net::Shutdown::Both);
    }

    /// Ends an idle connection's wait for its next request without losing one already on its
    /// way: after a read shutdown, the socket still yields what the client sent before, then
    /// end-of-stream, and the response can still be written.
    pub(crate) fn wind_down(&self) {
        self.shut_down_how(std::net::Shutdown::Read);
    }

    fn shut_down_how(&self, how: std::net::Shutdown) {
        // SAFETY: a `Listed` exists only while the registry is locked, and a connection leaves
        // the registry before it closes its socket, so the descriptor is open and is this
        // connection's.
        let fd = unsafe { BorrowedFd::borrow_raw(self.0.fd) };
        let _ = socket2::SockRef::from(&fd).shutdown(how);
    }
}
