//! The engine's limits and timeouts, every one configurable.

use std::time::Duration;

/// Size limits on requests. Past each, the engine answers with the status named and closes the
/// connection (after a lingering close, see [`EngineConfig::linger_timeout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_head_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_uri_bytes: usize,
    pub(crate) max_body_bytes: usize,
}

impl Default for Limits {
    /// 64 KiB of request line and headers, 100 header fields, an 8 KiB request target, an
    /// 8 MiB body.
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The largest request head (request line and header fields) in bytes; beyond: `431`.
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// The most header fields a request may have; beyond: `431`.
    pub fn max_headers(mut self, fields: usize) -> Self {
        self.max_headers = fields;
        self
    }

    /// The longest request target in bytes; beyond: `414`.
    pub fn max_uri_bytes(mut self, bytes: usize) -> Self {
        self.max_uri_bytes = bytes;
        self
    }

    /// The largest request body in bytes; beyond: `413`, answered before the body is read.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// How the engine runs: limits, timeouts and connection handling.
///
/// ```
/// use std::time::Duration;
/// use hyperf_http::{EngineConfig, Limits};
///
/// let config = EngineConfig::default()
///     .limits(Limits::default().max_body_bytes(1024 * 1024))
///     .keep_alive_timeout(Duration::from_secs(30))
///     .max_connections(5_000);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub(crate) limits: Limits,
    pub(crate) max_connections: usize,
    pub(crate) backlog: u32,
    pub(crate) reuse_port: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) linger_timeout: Duration,
    pub(crate) linger_bytes: usize,
    pub(crate) drain_bytes: usize,
    pub(crate) max_buffered_output: usize,
    pub(crate) timer_tick: Duration,
    pub(crate) stack_size: usize,
}

impl EngineConfig {
    /// The connection coroutine's stack size unless set: 256 KiB. The server's own request
    /// path at its deepest — a `Json` body at the default depth of 32 levels, in and back out
    /// as `Json`, behind a middleware, the exception chain and the access log — was measured
    /// at 28 KiB in an optimised build and 92 KiB in a debug one (`cargo run --release
    /// -p benches --bin stack_use`, README "Limits and their defaults"), which leaves at least
    /// twice that for the handler's own code.
    pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
}

impl Default for EngineConfig {
    /// The [`Limits`] defaults; 10,000 connections; a 10 s request timeout, 60 s keep-alive
    /// timeout, 30 s write timeout; a lingering close of up to 2 s and 64 KiB after a
    /// refusal; up to 64 KiB of an unread streamed body drained; up to 64 KiB of pipelined
    /// responses buffered before they are written; 256 KiB connection stacks.
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            max_connections: 10_000,
            backlog: 1024,
            reuse_port: false,
            request_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            linger_timeout: Duration::from_secs(2),
            linger_bytes: 64 * 1024,
            drain_bytes: 64 * 1024,
            max_buffered_output: 64 * 1024,
            timer_tick: Duration::from_millis(100),
            stack_size: EngineConfig::DEFAULT_STACK_SIZE,
        }
    }
}

impl EngineConfig {
    /// The request size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The most connections served at once. Further connections wait in the listen backlog
    /// until one closes. Each connection is a coroutine: with Linux's default
    /// `vm.max_map_count` (65,530) about 30,000 coroutines fit in a process — raise the sysctl
    /// before raising this past that.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The listen backlog: connections the kernel queues before they are accepted.
    pub fn backlog(mut self, connections: u32) -> Self {
        self.backlog = connections;
        self
    }

    /// Whether the listener sets `SO_REUSEPORT` (default: no), so another process — the next
    /// version of this server — can bind the same address while this one drains, and take the
    /// port over without a moment in which nobody listens.
    ///
    /// While both listen, the kernel splits new connections between them by a hash of each
    /// connection's addresses; and connections still waiting in a listener's backlog when it
    /// closes are reset. So hand over by starting the new process first and stopping the old
    /// one after: the old one stops accepting at once, and only a connection that arrived in
    /// the instant before can be lost. Without it, a second bind of a taken address fails
    /// with `AddrInUse` (which is what catches a port configured twice by mistake).
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// How long a client may take to send a complete request head, counted from its first
    /// byte (and from the connection's start for its first request); and the longest pause
    /// while it sends a body.
    ///
    /// Past it, a request the client has begun — part of its head, or a head and part of its
    /// body — is answered `408 Request Timeout` with `Connection: close`, then the connection
    /// closes (writing the `408` is bounded by the [write timeout](Self::write_timeout)). A
    /// connection that has sent nothing yet is closed without a word.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an idle keep-alive connection is kept open waiting for its next request; then
    /// it is closed without a word.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = timeout;
        self
    }

    /// How long writing a response may stall (a client that does not read) before the
    /// connection is closed.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// After a refused request (a `4xx` for a limit or malformed input, or a `408`), the
    /// engine sends its answer, shuts its sending side down, then reads and discards what the
    /// client still sends for at most this long before it closes (a "lingering close").
    /// Closing at once while the client is still sending makes the kernel reset the
    /// connection, and a reset can destroy the answer before the client reads it. A stopping
    /// engine cuts the linger short. `Duration::ZERO` closes at once.
    pub fn linger_timeout(mut self, timeout: Duration) -> Self {
        self.linger_timeout = timeout;
        self
    }

    /// The most bytes the lingering close after a refusal reads and discards (see
    /// [`linger_timeout`](Self::linger_timeout)); past them the connection closes. 0 closes
    /// at once.
    pub fn linger_bytes(mut self, bytes: usize) -> Self {
        self.linger_bytes = bytes;
        self
    }

    /// When a handler returns without reading its [streamed](crate::BodyPolicy::Streamed)
    /// body to the end, the engine reads and discards up to this many bytes of the rest (each
    /// read within the request timeout) to keep the connection for the next request; a longer
    /// rest closes the connection after the response (with a lingering close). 0 always
    /// closes.
    pub fn drain_bytes(mut self, bytes: usize) -> Self {
        self.drain_bytes = bytes;
        self
    }

    /// How many bytes of responses to pipelined requests a connection buffers before it writes
    /// them. Responses to requests that arrived together are written in one batch, once no
    /// further request is buffered; past this many bytes the batch is written at once
    /// instead, which blocks (for at most the [write timeout](Self::write_timeout)) while the
    /// client does not read, and so holds no more memory for a client that pipelines many
    /// requests and never reads their responses. A connection's output buffer thus holds at
    /// most this much plus one response (bodies of 16 KiB and more are never buffered: they
    /// are written straight from the handler's bytes). 0 writes every response on its own.
    pub fn max_buffered_output(mut self, bytes: usize) -> Self {
        self.max_buffered_output = bytes;
        self
    }

    /// How often the engine checks connections' deadlines (and refreshes its `Date`); timeouts
    /// fire up to this much late.
    pub fn timer_tick(mut self, tick: Duration) -> Self {
        self.timer_tick = tick.max(Duration::from_millis(1));
        self
    }

    /// The stack size of each connection's coroutine, in which middlewares, extractors and
    /// handlers run (default [`DEFAULT_STACK_SIZE`](Self::DEFAULT_STACK_SIZE), 256 KiB).
    /// Untouched stack pages cost no memory: an idle connection keeps resident only the pages
    /// its deepest request touched. A stack is fixed: an overflow (a handler's own deep
    /// recursion) hits the guard page under it and ends the process, so raise this for
    /// handlers that recurse deeply, or move such work to a coroutine or thread with a stack
    /// of its own (`runtime::Builder::stack_size`).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
}
