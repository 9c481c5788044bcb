//! [`Worker`]: one worker of a [`WorkerPool`](crate::WorkerPool) — its id, its in-flight work,
//! its own pair of coordinators.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use coordinator::{Coordinator, WaitList, WaitOutcome};
use parking_lot::Mutex;

use super::error::WorkerError;
use super::post::{Command, Post};
use crate::coroutine::{self, Builder, JoinHandle};
use crate::defer::defer;
use crate::task::Canceller;

/// The top bit of [`Admission`]'s word: set once the worker takes no new work.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Whether a worker takes new work and how much of it is in flight, in one atomic word (the
/// [`CLOSED`] bit above the count), so that admitting a coroutine and closing the worker are
/// ordered: a coroutine is either admitted before the close, and so counted by the stop that
/// follows, or refused. With a flag and a separate count, a spawn that checked the flag before
/// a stop and counted itself after it would run unseen by the stop's drain.
pub(crate) struct Admission(AtomicUsize);

impl Admission {
    pub(crate) fn new() -> Self {
        Admission(AtomicUsize::new(0))
    }

    /// Counts one more coroutine in flight, unless the worker is closed.
    pub(crate) fn admit(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word & CLOSED == 0).then_some(word + 1)
            })
            .is_ok()
    }

    /// Counts one coroutine done (or one admitted that could not be spawned).
    pub(crate) fn release(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }

    /// Refuses all new work from now on; returns how many coroutines were in flight then.
    pub(crate) fn close(&self) -> usize {
        self.0.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED
    }

    pub(crate) fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire) & CLOSED == 0
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.0.load(Ordering::Acquire) & !CLOSED
    }
}

/// One life of a worker: a recycle (after `max_request`, or `reload`) starts a new generation
/// under the same id.
pub(crate) struct Generation<M: Send + 'static> {
    pub(crate) id: usize,
    pub(crate) number: u64,
    /// Open until the worker stops; counts the coroutines spawned through the worker and not
    /// yet finished (their defers included), from the moment `spawn` is called.
    pub(crate) admission: Admission,
    /// Resumed when this generation's start callbacks have run.
    pub(crate) started: Coordinator,
    /// Resumed when this generation begins to exit.
    pub(crate) exiting: Coordinator,
    requests: AtomicU64,
    /// The pool's `max_request` (fixed for its life), copied here so that a request done
    /// costs no upgrade of `post` when there is no limit.
    max_request: u64,
    recycle_requested: AtomicBool,
    /// Handles to cancel the running ones, by coroutine id (a coroutine adds itself when it
    /// starts).
    running: Mutex<HashMap<u64, Canceller>>,
    /// Set when the worker cancels its work: a coroutine that starts afterwards cancels itself.
    cancelling: AtomicBool,
    /// Notified whenever a coroutine finishes.
    drained: WaitList,
    /// The coroutine delivering pipe messages, and the latch it resumes when it ends.
    pub(crate) dispatcher: Mutex<Option<Canceller>>,
    /// Whether the dispatcher is inside a message handler (rather than waiting for a message).
    pub(crate) handling: AtomicBool,
    pub(crate) dispatcher_done: Coordinator,
    /// What the worker sends to its pool goes through the pool's post.
    pub(crate) post: Weak<Post<M>>,
}

impl<M: Send + 'static> Generation<M> {
    pub(crate) fn new(id: usize, number: u64, post: Weak<Post<M>>) -> Self {
        Generation {
            id,
            number,
            admission: Admission::new(),
            started: Coordinator::new(),
            exiting: Coordinator::new(),
            requests: AtomicU64::new(0),
            max_request: post.upgrade().map_or(0, |post| post.max_request),
            recycle_requested: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            cancelling: AtomicBool::new(false),
            drained: WaitList::new(),
            dispatcher: Mutex::new(None),
            handling: AtomicBool::new(false),
            dispatcher_done: Coordinator::new(),
            post,
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }

    /// Waits until no coroutine of this generation is in flight, or until `deadline`; returns
    /// whether it drained.
    pub(crate) fn wait_drained(&self, deadline: Instant) -> bool {
        loop {
            let outcome = self.drained.wait(Some(deadline), || self.in_flight() == 0);
            match outcome {
                WaitOutcome::Ready => return true,
                WaitOutcome::TimedOut => return self.in_flight() == 0,
                WaitOutcome::Notified => {}
            }
        }
    }

    /// Cancels every coroutine still in flight; returns how many there were. One that has
    /// been spawned but has not started yet cancels itself when it starts.
    pub(crate) fn cancel_in_flight(&self) -> usize {
        self.cancelling.store(true, Ordering::Release);
        let in_flight = self.in_flight();
        let running: Vec<_> = self.running.lock().values().cloned().collect();
        for task in &running {
            // SAFETY: the pool's documented contract: work still running after `max_wait_time`
            // is cancelled, unwinding at its next blocking call; its destructors and defers run.
            unsafe { task.cancel() };
        }
        in_flight
    }

    /// Cancels the message dispatcher, stuck in a message handler past the stop's deadline.
    pub(crate) fn cancel_dispatcher(&self) {
        if let Some(dispatcher) = self.dispatcher.lock().take() {
            log::warn!(
                "worker {}: a pipe message handler outlived max_wait_time; cancelled",
                self.id
            );
            // SAFETY: as for `cancel_in_flight`.
            unsafe { dispatcher.cancel() };
        }
    }

    /// Called first thing in each of the worker's coroutines.
    fn started_running(&self, coroutine: u64, task: Canceller) {
        self.running.lock().insert(coroutine, task);
        if self.cancelling.load(Ordering::Acquire) {
            // Started after the worker gave up on its work: leave as a cancelled coroutine would.
            std::panic::resume_unwind(Box::new(generator::Error::Cancel));
        }
    }

    /// Called last thing (the earliest defer) in each of the worker's coroutines.
    fn finished(&self, coroutine: u64) {
        self.running.lock().remove(&coroutine);
        self.admission.release();
        self.drained.notify_all();
    }
}

/// A handle to one worker of a running [`WorkerPool`](crate::WorkerPool), as passed to the
/// lifecycle callbacks. Cheap to clone.
///
/// A handle belongs to one *generation* of the worker: once that generation stops (recycled
/// after `max_request`, reloaded, or shut down) the handle refuses new work, and the pool's
/// [`worker(id)`](crate::WorkerPool::worker) hands out the next generation's.
pub struct Worker<M: Send + 'static> {
    pub(crate) generation: Arc<Generation<M>>,
}

impl<M: Send + 'static> Clone for Worker<M> {
    fn clone(&self) -> Self {
        Worker {
            generation: Arc::clone(&self.generation),
        }
    }
}

impl<M: Send + 'static> Worker<M> {
    /// The worker's id, `0..worker_num`; it stays the same across recycles.
    pub fn id(&self) -> usize {
        self.generation.id
    }

    /// Which life of the worker this is: 0 for the first start, +1 for each recycle.
    pub fn generation(&self) -> u64 {
        self.generation.number
    }

    /// Whether the worker takes new work (it has started and is not stopping).
    pub fn is_accepting(&self) -> bool {
        self.generation.admission.is_open()
    }

    /// Resumed once this worker's start callback has returned.
    pub fn started(&self) -> &Coordinator {
        &self.generation.started
    }

    /// Resumed when this worker begins to exit: loops that belong to this worker wait on it
    /// (rather than on the process-wide `WORKER_EXIT`), so one worker's recycle does not
    /// stop another's.
    pub fn exiting(&self) -> &Coordinator {
        &self.generation.exiting
    }

    /// Coroutines spawned through this worker and still running.
    pub fn in_flight(&self) -> usize {
        self.generation.in_flight()
    }

    /// Requests this generation has reported done.
    pub fn requests(&self) -> u64 {
        self.generation.requests.load(Ordering::Relaxed)
    }

    /// Spawns `f` as work of this worker: the worker's stop waits for it (up to the pool's
    /// `max_wait_time`, then cancels it).
    pub fn spawn<F, T>(&self, f: F) -> Result<JoinHandle<T>, WorkerError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(Builder::new(), f)
    }

    /// [`spawn`](Self::spawn) with coroutine options (a name, a stack size).
    pub fn spawn_with<F, T>(&self, builder: Builder, f: F) -> Result<JoinHandle<T>, WorkerError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Counted before the coroutine exists, so a stop cannot miss it.
        if !self.generation.admission.admit() {
            return Err(WorkerError::NotAccepting);
        }
        let generation = Arc::clone(&self.generation);
        let spawned = builder.spawn_task(move |task| {
            let id = coroutine::id().expect("a runtime coroutine has an id");
            let finished = Arc::clone(&generation);
            // The first defer runs last: the coroutine is in flight until its defers are done.
            defer(move || finished.finished(id));
            generation.started_running(id, Canceller::new(Arc::clone(task)));
            f()
        });
        spawned.map_err(|_| {
            self.generation.admission.release();
            self.generation.drained.notify_all();
            WorkerError::Spawn
        })
    }

    /// Reports one request done. When the generation has served `max_request` requests, the
    /// worker is recycled: it stops, exits, and starts again under the same id.
    pub fn request_done(&self) {
        let served = self.generation.requests.fetch_add(1, Ordering::AcqRel) + 1;
        let limit = self.generation.max_request;
        if limit == 0 || served < limit {
            return;
        }
        let Some(post) = self.generation.post.upgrade() else {
            return;
        };
        if !self
            .generation
            .recycle_requested
            .swap(true, Ordering::AcqRel)
        {
            post.command(Command::Recycle {
                id: self.id(),
                generation: self.generation(),
            });
        }
    }

    /// Sends `message` to worker `to`'s `on_pipe_message`, which receives this worker's id as
    /// the sender. Messages from one sender arrive in the order sent.
    #[doc(alias = "sendMessage")]
    pub fn send_message(&self, to: usize, message: M) -> Result<(), WorkerError> {
        let post = self
            .generation
            .post
            .upgrade()
            .ok_or(WorkerError::PoolStopped)?;
        post.deliver(Some(self.id()), to, message)
    }
}

impl<M: Send + 'static> fmt::Debug for Worker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id())
            .field("generation", &self.generation())
            .field("accepting", &self.is_accepting())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Admission;

    #[test]
    fn close_reports_what_was_admitted_before_it() {
        let admission = Admission::new();
        assert!(admission.admit());
        assert!(admission.admit());
        admission.release();
        assert_eq!(admission.close(), 1);
        assert_eq!(admission.in_flight(), 1);
    }

    #[test]
    fn nothing_is_admitted_after_close() {
        let admission = Admission::new();
        admission.close();
        assert!(!admission.admit());
        assert_eq!(admission.in_flight(), 0);
        assert!(!admission.is_open());
    }

    #[test]
    fn work_admitted_before_close_is_released_after_it() {
        let admission = Admission::new();
        assert!(admission.admit());
        admission.close();
        admission.release();
        assert_eq!(admission.in_flight(), 0);
        assert!(!admission.is_open());
    }
}
