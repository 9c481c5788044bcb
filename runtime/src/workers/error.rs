//! The worker pool's errors: why a pool could not start, and why a worker refused something.

use std::fmt;

/// Why a pool could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkersError {
    /// `worker_num` was 0.
    NoWorkers,
    /// The SIGTERM/SIGINT handlers could not be installed.
    Signals(std::io::Error),
    /// The manager coroutine could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for WorkersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkersError::NoWorkers => f.write_str("a worker pool needs at least one worker"),
            WorkersError::Signals(e) => write!(f, "could not install the signal handlers: {e}"),
            WorkersError::Spawn(e) => write!(f, "could not spawn the manager coroutine: {e}"),
        }
    }
}

impl std::error::Error for WorkersError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkersError::NoWorkers => None,
            WorkersError::Signals(e) | WorkersError::Spawn(e) => Some(e),
        }
    }
}

/// Why a worker refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerError {
    /// The worker is stopping (or stopped) and takes no new work.
    NotAccepting,
    /// No worker has this id.
    NoSuchWorker(usize),
    /// The pool has shut down.
    PoolStopped,
    /// may could not spawn the coroutine (its stack could not be allocated).
    Spawn,
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::NotAccepting => {
                f.write_str("the worker is stopping and takes no new work")
            }
            WorkerError::NoSuchWorker(id) => write!(f, "no worker has id {id}"),
            WorkerError::PoolStopped => f.write_str("the worker pool has shut down"),
            WorkerError::Spawn => f.write_str("could not spawn a coroutine"),
        }
    }
}

impl std::error::Error for WorkerError {}
