//! The protocol between a task, its cancel and the coroutine that runs it — the part of
//! `task.rs` that must never let a cancel reach the coroutine's next task. Generic over the
//! coroutine so that `--cfg loom` can model-check it with a stand-in (`loom_model` below).
//!
//! | state | meaning | who moves it on |
//! |---|---|---|
//! | `RUNNING` | handed to a coroutine, not yet finished (it may not have started) | a cancel: → `CANCELLING`; the coroutine, when the task ends: → `DONE` |
//! | `CANCELLING` | a cancel was asked while it ran; its coroutine is (or is about to be) cancelled in may | the coroutine, when the task ends: → `DONE` |
//! | `DONE` | finished; the result is stored | nobody: final |
//!
//! - A cancel moves `RUNNING` to `CANCELLING` and only then cancels the coroutine, under the
//!   slot's lock. So it never reaches a task that has ended.
//! - The coroutine swaps in `DONE` when the task ends. If it swapped out `CANCELLING`, may's
//!   cancellation is (or will be) set on it for good (may never clears it), so it retires
//!   instead of taking another task. If it swapped out `RUNNING`, no cancel of this task will
//!   ever touch it: the next one fails its exchange.
//! - The coroutine is recorded in the slot (`install`) when a spawner hands the task to a
//!   parked coroutine, or by a new coroutine when it starts. A cancel that comes before it finds
//!   the slot empty and leaves the cancelling to `install`, which looks at the state under
//!   the same lock. So one of the two always cancels it.
//! - `finish` empties the slot, so a handle of a finished task keeps no coroutine alive.

use crate::sync::{AtomicU8, Mutex, Ordering};

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

/// A coroutine that can be cancelled (may's, or the model's stand-in).
pub(crate) trait CancelCoroutine {
    /// # Safety
    ///
    /// may's contract for `Coroutine::cancel`: everything the coroutine holds is dropped at
    /// its next blocking call.
    unsafe fn cancel(&self);
}

impl CancelCoroutine for may::coroutine::Coroutine {
    unsafe fn cancel(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { may::coroutine::Coroutine::cancel(self) }
    }
}

/// Where one task stands, and the coroutine running it while it runs.
pub(crate) struct TaskState<C> {
    state: AtomicU8,
    coroutine: Mutex<Option<C>>,
}

impl<C: CancelCoroutine> TaskState<C> {
    pub(crate) fn new() -> Self {
        TaskState {
            state: AtomicU8::new(RUNNING),
            coroutine: Mutex::new(None),
        }
    }

    /// Records the coroutine that runs the task; cancels it if a cancel came first.
    pub(crate) fn install(&self, coroutine: C) {
        let mut slot = self.coroutine.lock();
        match self.state.load(Ordering::Acquire) {
            RUNNING => *slot = Some(coroutine),
            CANCELLING => {
                // SAFETY: the cancel's caller took on may's contract (`JoinHandle::cancel`)
                // before the coroutine was known. The task has not ended (`finish` would have
                // made the state `DONE`), so the coroutine still runs it and retires after it.
                unsafe { coroutine.cancel() };
                *slot = Some(coroutine);
            }
            // Finished before its spawner got here: nothing to keep.
            _ => {}
        }
    }

    /// Called by the task's coroutine once the task (its defers included) has ended and its
    /// result is stored: whether the coroutine may run another task.
    pub(crate) fn finish(&self) -> AfterTask {
        let before = self.state.swap(DONE, Ordering::AcqRel);
        // Taken under the lock a cancel holds while it cancels: once this returns, no cancel
        // of this task is under way.
        drop(self.coroutine.lock().take());
        if before == CANCELLING {
            AfterTask::Retire
        } else {
            AfterTask::Reuse
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Cancels the task's coroutine if the task is still running.
    ///
    /// # Safety
    ///
    /// As for [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    pub(crate) unsafe fn cancel(&self) {
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
            // `CANCELLING`, so the task has not ended and its coroutine retires after it.
            unsafe { coroutine.cancel() };
        }
        // Otherwise `install` has not run yet and will cancel the coroutine itself.
    }
}

// `RUSTFLAGS="--cfg loom" cargo test -p hyperf-runtime --lib --release loom` explores every
// interleaving of a task's end, its cancel and the recording of its coroutine.
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    use super::*;

    /// A stand-in for a may coroutine: may's cancel flag (set for good), and which task the
    /// coroutine runs (1, then 2 if it is reused).
    #[derive(Default)]
    struct Coroutine {
        cancelled: AtomicBool,
        /// The task running when the flag was set (0: never set).
        cancelled_during: AtomicU8,
        running: AtomicU8,
    }

    #[derive(Clone, Default)]
    struct Handle(Arc<Coroutine>);

    impl CancelCoroutine for Handle {
        unsafe fn cancel(&self) {
            if !self.0.cancelled.swap(true, Ordering::SeqCst) {
                let running = self.0.running.load(Ordering::SeqCst);
                self.0.cancelled_during.store(running, Ordering::SeqCst);
            }
        }
    }

    /// One task's life on a coroutine that then runs a second task if it may, against one
    /// cancel of the first task. `installed_by_spawner`: a hand-off records the coroutine
    /// before anyone knows of the task; otherwise the new coroutine records itself when it
    /// starts. `ends_after_the_cancel`: the task ends only once the cancel has returned (it
    /// was blocked in the meantime), so the cancel must reach it.
    fn model(installed_by_spawner: bool, ends_after_the_cancel: bool) {
        loom::model(move || {
            let coroutine = Handle::default();
            coroutine.0.running.store(1, Ordering::SeqCst);
            let task = Arc::new(TaskState::<Handle>::new());
            if installed_by_spawner {
                task.install(coroutine.clone());
            }
            let cancel_returned = Arc::new(AtomicBool::new(false));
            let canceller = {
                let (task, returned) = (Arc::clone(&task), Arc::clone(&cancel_returned));
                loom::thread::spawn(move || {
                    // SAFETY: a stand-in coroutine; nothing is dropped.
                    unsafe { task.cancel() };
                    returned.store(true, Ordering::SeqCst);
                })
            };
            let worker = {
                let (task, coroutine) = (Arc::clone(&task), coroutine.clone());
                loom::thread::spawn(move || {
                    if !installed_by_spawner {
                        task.install(coroutine.clone());
                    }
                    while ends_after_the_cancel && !cancel_returned.load(Ordering::SeqCst) {
                        loom::thread::yield_now();
                    }
                    let after = task.finish();
                    if after == AfterTask::Reuse {
                        coroutine.0.running.store(2, Ordering::SeqCst);
                    }
                    after
                })
            };
            canceller.join().unwrap();
            let after = worker.join().unwrap();
            let cancelled = coroutine.0.cancelled.load(Ordering::SeqCst);
            if after == AfterTask::Reuse {
                // The cancel lost: it must not have touched the coroutine at all, or the
                // second task would unwind.
                assert!(!cancelled, "a cancel reached a reused coroutine");
            }
            if cancelled {
                assert_eq!(coroutine.0.cancelled_during.load(Ordering::SeqCst), 1);
            }
            if ends_after_the_cancel {
                assert!(cancelled, "a cancel of a running task never reached it");
                assert_eq!(after, AfterTask::Retire);
            }
            assert!(task.is_done());
        });
    }

    #[test]
    fn loom_a_cancel_never_reaches_the_next_task_of_a_coroutine_handed_the_task() {
        model(true, false);
    }

    #[test]
    fn loom_a_cancel_never_reaches_the_next_task_of_a_coroutine_that_records_itself() {
        model(false, false);
    }

    #[test]
    fn loom_a_cancel_reaches_a_running_task_handed_to_a_coroutine() {
        model(true, true);
    }

    #[test]
    fn loom_a_cancel_reaches_a_running_task_whose_coroutine_records_itself_late() {
        model(false, true);
    }
}
