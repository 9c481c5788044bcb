//! One spawned task's shared state — its result, whether it has finished, who waits for it, the
//! coroutine it runs on — and [`JoinHandle`], its owner's view of it.
//!
//! A task runs on a coroutine that may have run other tasks before and may run others after it
//! (see `pool.rs`), so cancelling one goes through the task, never straight to its coroutine:
//!
//! | state | meaning | who moves it on |
//! |---|---|---|
//! | `RUNNING` | handed to a coroutine, not yet finished (it may not have started) | a cancel: → `CANCELLING`; the coroutine, when the task ends: → `DONE` |
//! | `CANCELLING` | a cancel was asked while it ran; its coroutine is (or is about to be) cancelled in may | the coroutine, when the task ends: → `DONE` |
//! | `DONE` | finished; the result is stored | nobody: final |
//!
//! A cancel moves `RUNNING` to `CANCELLING` first and cancels the coroutine in may only if that
//! succeeded, so it can never reach a task that has already ended, nor the coroutine's next
//! task. The coroutine swaps in `DONE` when the task ends: if it swapped out `CANCELLING`, may's
//! cancellation is (or will be) set on it for good (may never clears it), so the coroutine
//! retires instead of taking another task. The coroutine is installed in the task under a lock
//! *before* anyone is told of the task, or — for a fresh coroutine, which only exists once
//! may has spawned it — right after; whoever installs it checks for a cancel that came first.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use coordinator::WaitList;
use parking_lot::Mutex;

use crate::panic::Panic;

const RUNNING: u8 = 0;
const CANCELLING: u8 = 1;
const DONE: u8 = 2;

/// What a task's coroutine may do once the task has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterTask {
    /// Nothing was done to the coroutine itself: it may run another task.
    Reuse,
    /// It was cancelled in may, which cannot be undone: it must end.
    Retire,
}

/// The state shared by a task, its [`JoinHandle`] and the coroutine that runs it.
pub(crate) struct Task<T> {
    state: AtomicU8,
    /// The coroutine running the task, once known (see the module docs).
    coroutine: Mutex<Option<may::coroutine::Coroutine>>,
    /// Written once, before `state` becomes `DONE`; taken once, by `join`.
    result: Mutex<Option<Result<T, Panic>>>,
    joiners: WaitList,
}

impl<T> Task<T> {
    pub(crate) fn new() -> Self {
        Task {
            state: AtomicU8::new(RUNNING),
            coroutine: Mutex::new(None),
            result: Mutex::new(None),
            joiners: WaitList::new(),
        }
    }

    /// Records the coroutine that runs the task; cancels it if a cancel came first.
    pub(crate) fn install(&self, coroutine: may::coroutine::Coroutine) {
        let mut slot = self.coroutine.lock();
        if self.state.load(Ordering::Acquire) == CANCELLING {
            // SAFETY: a cancel of this task was asked (and its caller took on may's contract,
            // see `JoinHandle::cancel`) before its coroutine was known; the task has not ended
            // (that would have moved the state to `DONE`), so the coroutine still runs it.
            unsafe { coroutine.cancel() };
        }
        *slot = Some(coroutine);
    }

    /// Called by the task's coroutine once the task (its defers included) has ended: stores
    /// the result, wakes the joiners, and says whether the coroutine may be reused.
    pub(crate) fn finish(&self, result: Result<T, Panic>) -> AfterTask {
        *self.result.lock() = Some(result);
        let before = self.state.swap(DONE, Ordering::AcqRel);
        // The coroutine handle is not needed any more; dropping it here rather than with the
        // task keeps a detached task's `Arc` from holding the coroutine's `Arc` for nothing.
        drop(self.coroutine.lock().take());
        self.joiners.notify_all();
        if before == CANCELLING {
            AfterTask::Retire
        } else {
            AfterTask::Reuse
        }
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
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
        if self
            .state
            .compare_exchange(RUNNING, CANCELLING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Finished (or being cancelled already): nothing to do, and the coroutine may be
            // running another task by now.
            return;
        }
        if let Some(coroutine) = &*self.coroutine.lock() {
            // SAFETY: forwarded to the caller. The state was `RUNNING` and is now
            // `CANCELLING`, so the task has not ended and its coroutine will retire after it:
            // no later task can see this cancellation.
            unsafe { coroutine.cancel() };
        }
        // Otherwise `install` has not run yet and will cancel the coroutine itself.
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
