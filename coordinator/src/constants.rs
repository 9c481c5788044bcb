//! The names of the coordinators the server resumes, as Hyperf spells them.

/// Resumed once every worker has run its start callbacks: code that must not run on a
/// half-started worker (every request) waits on `CoordinatorManager::until(WORKER_START)`.
pub const WORKER_START: &str = "workerStart";

/// Resumed when the worker begins to exit: background loops that wait on
/// `CoordinatorManager::until(WORKER_EXIT).yield_timeout(..)` between rounds break out at once.
pub const WORKER_EXIT: &str = "workerExit";
