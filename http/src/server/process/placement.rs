//! Connections on workers: which worker serves a connection (round robin over the accepting
//! ones, waiting while none is), the coroutine-local through which a request reaches the
//! worker of its connection, and the layer around a server's service that makes each request
//! wait for a started worker and count towards its `max_request`.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coordinator::Coordinator;
use runtime::{Worker, WorkerPool};

use crate::engine::{
    BoxError, ConnectionSpawner, CoroutineSpawner, Incoming, Response, Service, Spawned,
};

/// The messages workers send each other (`send_message`, `on_pipe_message`).
pub type Message = String;

/// The layer of the seed's step 1 around a server's service: a request is never served on a
/// half-started worker — not before every worker has started, nor on a recycled worker whose
/// start callbacks still run — and each request counts towards its worker's `max_request`.
pub(crate) struct WorkerGate {
    /// The pool's `WORKER_START`, held here: looking it up by name on every request would
    /// cost more than waiting on it.
    worker_start: Coordinator,
    inner: Arc<dyn Service>,
}

impl WorkerGate {
    pub(crate) fn new(worker_start: Coordinator, inner: Arc<dyn Service>) -> Self {
        WorkerGate {
            worker_start,
            inner,
        }
    }
}

impl Service for WorkerGate {
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        self.worker_start.r#yield();
        wait_for_connection_worker();
        let response = self.inner.call(incoming);
        request_done();
        response
    }
}

may::coroutine_local!(static CONNECTION_WORKER: std::cell::RefCell<Option<Worker<Message>>> = std::cell::RefCell::new(None));

/// Makes `CONNECTION_WORKER` the worker of the connection the current coroutine serves, for as
/// long as it serves it. The coroutine is a runtime worker coroutine that goes on to other
/// tasks afterwards (a connection of a server without workers, a timer's callback): clearing
/// the local when the connection ends, also by unwinding, keeps those from being counted
/// towards this worker's `max_request`.
struct ServedBy;

impl ServedBy {
    fn set(worker: Worker<Message>) -> Self {
        CONNECTION_WORKER.with(|w| *w.borrow_mut() = Some(worker));
        ServedBy
    }
}

impl Drop for ServedBy {
    fn drop(&mut self) {
        let worker = CONNECTION_WORKER.with(|w| w.borrow_mut().take());
        // Dropped outside the borrow: a worker's last handle may run arbitrary drops.
        drop(worker);
    }
}

/// Waits until the worker serving the current connection has run its start callbacks: after a
/// recycle, the pool's `WORKER_START` is long resumed, but a connection may already be given
/// to the worker's next life while its `on_worker_start` still runs.
fn wait_for_connection_worker() {
    let starting = CONNECTION_WORKER.with(|w| {
        w.borrow()
            .as_ref()
            .map(|worker| worker.started())
            .filter(|started| !started.is_closing())
            .cloned()
    });
    if let Some(started) = starting {
        started.r#yield();
    }
}

/// Reports a request done to the worker that serves the current connection (its
/// `max_request` count).
fn request_done() {
    // Borrowed, not cloned: `request_done` only counts (and at the limit posts a command to
    // the pool), it never touches this coroutine-local.
    CONNECTION_WORKER.with(|w| {
        if let Some(worker) = &*w.borrow() {
            worker.request_done();
        }
    });
}

/// Spreads connections over the accepting workers, round robin; each connection is its
/// worker's work, and closes when that worker exits.
pub(crate) struct WorkerSpawner {
    pool: Arc<WorkerPool<Message>>,
    next: AtomicUsize,
}

impl WorkerSpawner {
    pub(crate) fn new(pool: Arc<WorkerPool<Message>>) -> Self {
        WorkerSpawner {
            pool,
            next: AtomicUsize::new(0),
        }
    }

    /// Waits until a worker may take work again: before the first workers start (a server's
    /// listeners accept as soon as it is bound), or while every worker is between two lives
    /// (a single worker's recycle). As in Swoole, where the master keeps new requests until a
    /// worker is up, the connection waits for one — it would otherwise be served outside every
    /// worker, never counted towards `max_request` nor drained with a worker. `false` once
    /// the pool is shutting down: then nothing will take work again.
    fn wait_for_a_worker(&self) -> bool {
        let started = self.pool.worker_start();
        if !started.is_closing() {
            started.r#yield();
            return true;
        }
        // A recycle ends when the worker's next life begins (within the pool's
        // `max_wait_time`); the latch is resumed then, or by the shutdown.
        self.pool.accepting().r#yield();
        !self.pool.worker_exit().is_closing()
    }

    /// Spawns the connection on an accepting worker; gives `serve` back when none takes it.
    fn spawn_on_a_worker(
        &self,
        serve: Box<dyn FnOnce() + Send>,
        stack_size: usize,
    ) -> Result<io::Result<Spawned>, Box<dyn FnOnce() + Send>> {
        let workers = self.pool.worker_num();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A worker may stop accepting between the check and the spawn (a recycle): it then
        // refuses the coroutine, and the connection goes to the next worker. The coroutine
        // that does start takes the connection from here.
        let serve = Arc::new(parking_lot::Mutex::new(Some(serve)));
        for id in (0..workers).map(|offset| (start + offset) % workers) {
            let Some(worker) = self.pool.worker(id).filter(Worker::is_accepting) else {
                continue;
            };
            let closing = worker.exiting().clone();
            let owner = worker.clone();
            let connection = Arc::clone(&serve);
            let spawned =
                worker.spawn_with(runtime::Builder::new().stack_size(stack_size), move || {
                    let _served_by = ServedBy::set(owner);
                    let serve = connection.lock().take();
                    if let Some(serve) = serve {
                        serve();
                    }
                });
            match spawned {
                Ok(handle) => {
                    return Ok(Ok(Spawned {
                        handle,
                        closing: vec![closing, self.pool.worker_exit().clone()],
                    }));
                }
                Err(runtime::WorkerError::NotAccepting) => continue,
                Err(error) => return Ok(Err(io::Error::other(error.to_string()))),
            }
        }
        let serve = serve.lock().take();
        Err(serve.expect("no worker's coroutine started, so none took the connection"))
    }
}

impl ConnectionSpawner for WorkerSpawner {
    fn spawn(&self, serve: Box<dyn FnOnce() + Send>, stack_size: usize) -> io::Result<Spawned> {
        let mut serve = serve;
        loop {
            serve = match self.spawn_on_a_worker(serve, stack_size) {
                Ok(spawned) => return spawned,
                Err(serve) => serve,
            };
            if !self.wait_for_a_worker() {
                // The pool is shutting down: serve the connection on its own (the engine's
                // stop winds it down) rather than refuse it.
                return CoroutineSpawner.spawn(serve, stack_size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use runtime::Workers;

    use super::*;

    /// The id of the worker `CONNECTION_WORKER` names in the current coroutine, if any.
    fn connection_worker() -> Option<usize> {
        CONNECTION_WORKER.with(|w| w.borrow().as_ref().map(Worker::id))
    }

    fn one_worker_pool() -> runtime::WorkerPool<Message> {
        let pool = Workers::<Message>::new()
            .worker_num(1)
            .handle_signals(false)
            .start()
            .expect("a pool of one worker");
        pool.worker_start().r#yield();
        pool
    }

    #[test]
    fn a_connection_worker_is_set_while_served_and_cleared_after() {
        let pool = one_worker_pool();
        let worker = pool.worker(0).expect("worker 0");
        let seen = runtime::spawn(move || {
            let during = {
                let _served_by = ServedBy::set(worker);
                connection_worker()
            };
            (during, connection_worker())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (Some(0), None));
        pool.shutdown();
        pool.wait();
    }

    #[test]
    fn a_connection_worker_is_cleared_when_serving_panics() {
        let pool = one_worker_pool();
        let worker = pool.worker(0).expect("worker 0");
        let after = runtime::spawn(move || {
            let served = catch_unwind(AssertUnwindSafe(|| {
                let _served_by = ServedBy::set(worker);
                panic!("the connection's handler panics");
            }));
            assert!(served.is_err());
            connection_worker()
        })
        .join()
        .unwrap();
        assert_eq!(after, None);
        pool.shutdown();
        pool.wait();
    }
}
