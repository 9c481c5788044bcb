//! A one-shot slot one side fills and the other waits on — a coroutine or an OS thread — shared
//! by the async bridge and the offload pool.
//!
//! # Cancellation, and may's cancel-versus-wake race
//!
//! The wait is a [`coordinator::WaitList`] wait. A cancelled waiter deregisters itself on the
//! way out, and the list hands its may park to another thread to drop: may 0.3.51 can resume a
//! coroutine inside the `subscribe` of the park it is parking on (an unpark landing just as it
//! parks), and a cancelled coroutine dropping that park there spins forever (see
//! `coordinator`'s `HeldCell`, `reaper.rs` for the coroutine's own park, and
//! `tests/may_cancel_spin.rs`, which reproduces it with may alone).
//!
//! The code around a wait must not park again while a cancellation unwinds it either: may keeps
//! a coroutine's cancel flag set for good and, while the thread is panicking, returns from every
//! later park at once instead of raising the cancellation again, so a `Drop` that waits in a
//! loop spins until its condition holds (`tests/cancel_race.rs`,
//! `a_park_in_a_drop_of_a_cancelled_coroutine_returns_at_once`). Hence the rule for every
//! cancel path in this crate: what runs while a cancellation unwinds (the guards of `block_on`
//! and `offload`, a task's end, a worker's bookkeeping) only flips state and wakes others; it
//! never waits.

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
