//! A counting semaphore for the toolkit's concurrency limits, with a wait for "none taken".

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;

/// `limit` slots; [`Parallel`](super::Parallel) and [`Concurrent`](super::Concurrent) take one
/// per running task. A slot is a guard, so a task that fails, panics or is cancelled frees it.
pub(crate) struct Slots {
    limit: usize,
    taken: Mutex<usize>,
    /// Parked in `acquire`, waiting for a slot.
    acquirers: WaitList,
    /// Parked in `wait_idle`, waiting for every slot to be free.
    idlers: WaitList,
}

/// One taken slot; dropping it frees the slot.
pub(crate) struct Slot {
    slots: Arc<Slots>,
}

impl Slots {
    /// `limit` slots (callers make sure it is at least 1).
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Slots {
            limit,
            taken: Mutex::new(0),
            acquirers: WaitList::new(),
            idlers: WaitList::new(),
        })
    }

    /// Takes a slot, waiting until one is free or `deadline` passes (then `None`).
    pub(crate) fn acquire(self: &Arc<Self>, deadline: Option<Instant>) -> Option<Slot> {
        loop {
            if let Some(slot) = self.try_acquire() {
                return Some(slot);
            }
            let free = || *self.taken.lock() < self.limit;
            if self.acquirers.wait(deadline, free) == WaitOutcome::TimedOut {
                return self.try_acquire();
            }
        }
    }

    fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut taken = self.taken.lock();
        if *taken < self.limit {
            *taken += 1;
            Some(Slot {
                slots: Arc::clone(self),
            })
        } else {
            None
        }
    }

    /// Waits until no slot is taken or `deadline` passes; whether none is taken.
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let idle = || *self.taken.lock() == 0;
        loop {
            match self.idlers.wait(deadline, idle) {
                WaitOutcome::Ready => return true,
                WaitOutcome::Notified => {}
                WaitOutcome::TimedOut => return idle(),
            }
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn taken(&self) -> usize {
        *self.taken.lock()
    }

    fn release(&self) {
        let idle = {
            let mut taken = self.taken.lock();
            *taken -= 1;
            *taken == 0
        };
        self.acquirers.notify_one();
        if idle {
            self.idlers.notify_all();
        }
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("limit", &self.limit)
            .field("taken", &self.taken())
            .field("acquirers", &self.acquirers.len())
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}
