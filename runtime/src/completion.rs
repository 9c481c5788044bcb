//! A one-shot slot one side fills and the other waits on — a coroutine or an OS thread — shared
//! by the async bridge and the offload pool.
//!
//! # Cancellation, and may's cancel-versus-wake race
//!
//! The wait is a [`coordinator::WaitList`] wait, so a cancelled waiter deregisters itself on
//! the way out. What the code *around* a wait must not do is park again while a cancellation
//! unwinds it. may keeps a coroutine's cancel flag set for good and, while the thread is
//! panicking, does not raise it again at the next park: it reschedules the coroutine at once
//! instead. So every park in a `Drop` that runs during a cancellation returns immediately, and a
//! loop waiting there for a condition spins, busy, until the condition holds (forever if it
//! never does). A coroutine cancelled just as a wake-up lets it leave its park is already past
//! the park that would have raised the cancellation, and meets it in whatever it parks on next —
//! often its clean-up. (`tests/cancel_race.rs` shows both: a park inside a `Drop` of a
//! cancelled coroutine returns at once, over and over; and 10,000 cancels racing wake-ups leave
//! nothing running when nothing parks on the way out.)
//!
//! Hence the rule for every cancel path in this crate: what runs while a cancellation unwinds
//! (the guards of `block_on` and `offload`, a task's end, a worker's bookkeeping) only flips
//! state and wakes others; it never waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;

pub(crate) struct Completion<T> {
    done: AtomicBool,
    value: Mutex<Option<T>>,
    waiters: WaitList,
}

impl<T> Completion<T> {
    pub(crate) fn new() -> Self {
        Completion {
            done: AtomicBool::new(false),
            value: Mutex::new(None),
            waiters: WaitList::new(),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Stores the value and wakes the waiter. Never parks: safe from a `Drop` and from tokio.
    pub(crate) fn complete(&self, value: T) {
        *self.value.lock() = Some(value);
        self.done.store(true, Ordering::Release);
        self.waiters.notify_all();
    }

    /// Parks the caller until the value is there (then takes it) or until `deadline` (`None`).
    /// A cancellation unwinds out of it.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<T> {
        while !self.is_done() {
            if self.waiters.wait(deadline, || self.is_done()) == WaitOutcome::TimedOut {
                break;
            }
        }
        if self.is_done() {
            self.value.lock().take()
        } else {
            None
        }
    }
}
