//! Where a connection's coroutine runs: the [`ConnectionSpawner`] a server plugs in, and the
//! default one.

use std::io;

use coordinator::Coordinator;

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
