//! One spawned task's shared state — its result, whether it has finished, who waits for it, the
//! coroutine it runs on — and [`JoinHandle`], its owner's view of it.
//!
//! A task runs on a coroutine that may have run other tasks before and may run others after it
//! (see `pool.rs`), so cancelling one goes through the task, never straight to its coroutine:
//! `task_state.rs` states that protocol and model-checks it.

use std::fmt;

use coordinator::WaitList;
use parking_lot::Mutex;

use crate::panic::Panic;
pub(crate) use crate::task_state::AfterTask;
use crate::task_state::TaskState;

/// The state shared by a task, its [`JoinHandle`] and the coroutine that runs it.
pub(crate) struct Task<T> {
    state: TaskState<may::coroutine::Coroutine>,
    /// Written once, before the state becomes done; taken once, by `join`.
    result: Mutex<Option<Result<T, Panic>>>,
    joiners: WaitList,
}

impl<T> Task<T> {
    pub(crate) fn new() -> Self {
        Task {
            state: TaskState::new(),
            result: Mutex::new(None),
            joiners: WaitList::new(),
        }
    }

    /// Records the coroutine that runs the task; cancels it if a cancel came first.
    pub(crate) fn install(&self, coroutine: may::coroutine::Coroutine) {
        self.state.install(coroutine);
    }

    /// Called by the task's coroutine once the task (its defers included) has ended: stores
    /// the result, wakes the joiners, and says whether the coroutine may be reused.
    pub(crate) fn finish(&self, result: Result<T, Panic>) -> AfterTask {
        *self.result.lock() = Some(result);
        let after = self.state.finish();
        self.joiners.notify_all();
        after
    }

    fn is_done(&self) -> bool {
        self.state.is_done()
    }

    fn join(&self) -> Result<T, Panic> {
        while !self.is_done() {
            self.joiners.wait(None, || self.is_done());
        }
        self.result
            .lock()
            .take()
            .expect("a finished task has a result, taken only by its one join")
    }

    /// See [`JoinHandle::cancel`].
    ///
    /// # Safety
    ///
    /// As for [`JoinHandle::cancel`].
    unsafe fn cancel(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.state.cancel() }
    }
}

/// A type-erased way to cancel a task, for the code that keeps track of running work (a
/// worker's stop cancels what outlived its `max_wait_time`).
#[derive(Clone)]
pub(crate) struct Canceller(std::sync::Arc<dyn Cancel>);

trait Cancel: Send + Sync {
    /// # Safety
    ///
    /// As for [`JoinHandle::cancel`].
    unsafe fn cancel(&self);
}

impl<T: Send> Cancel for Task<T> {
    unsafe fn cancel(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { Task::cancel(self) }
    }
}

impl Canceller {
    pub(crate) fn new<T: Send + 'static>(task: std::sync::Arc<Task<T>>) -> Self {
        Canceller(task)
    }

    /// Cancels the task if it is still running; see [`JoinHandle::cancel`].
    ///
    /// # Safety
    ///
    /// As for [`JoinHandle::cancel`].
    pub(crate) unsafe fn cancel(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.0.cancel() }
    }
}

/// A handle to join a coroutine spawned by [`spawn`](crate::spawn). Dropping it detaches the
/// coroutine.
pub struct JoinHandle<T> {
    pub(crate) task: std::sync::Arc<Task<T>>,
    pub(crate) id: u64,
}

impl<T> JoinHandle<T> {
    /// The coroutine's [`id`](crate::id).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits for the coroutine to finish (its defers included); its value, or the payload of
    /// its panic or cancellation. Parks the caller: a coroutine or a thread.
    pub fn join(self) -> Result<T, Panic> {
        self.task.join()
    }

    /// Whether the coroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_done()
    }

    /// Cancels the coroutine: at its next blocking call (a may yield point) it unwinds, running
    /// its destructors and its defers; [`join`](Self::join) then reports the cancellation.
    /// A coroutine that never blocks cannot be cancelled, and one that has finished is not
    /// affected (nor is any later work of the may coroutine it ran on).
    ///
    /// # Safety
    ///
    /// may's contract: everything the coroutine holds is dropped mid-operation. Cancel only
    /// coroutines whose state stays consistent when unwound at any blocking call.
    pub unsafe fn cancel(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.task.cancel() }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
