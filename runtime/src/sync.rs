//! The primitives of the task protocol (`task_state.rs`), swapped for `loom`'s under
//! `--cfg loom` so that its model check explores every interleaving of them. The rest of the
//! crate uses std and `parking_lot` directly.

#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};

/// `parking_lot`'s locking interface over loom's mutex.
#[cfg(loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .expect("no model thread panics while holding the lock")
    }
}
