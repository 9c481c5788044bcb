//! The deadline thread as the loom model sees it (built under `--cfg loom` in place of
//! `deadline.rs`).
//!
//! Time does not pass in a model, so a deadline here is "due" whenever a model thread calls
//! [`expire_due`]: that thread plays the deadline thread at the moment the earliest deadline
//! passes. Everything else is as in `deadline.rs`: a pending deadline holds its target, the
//! guard withdraws it under the lock, and the firing thread takes due targets out under the lock
//! and expires them after releasing it.

use std::time::Instant;

use crate::sync::{Arc, Mutex};

/// Something a deadline ends; see `deadline.rs`.
pub(crate) trait Expire {
    /// Called when the deadline has passed, outside the deadline lock, with the deadline's
    /// reference. (Not a method: loom's `Arc` cannot be a receiver.)
    fn expire(this: Arc<Self>);
}

type Expiring = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Pending {
    next_key: u64,
    targets: Vec<(u64, Expiring)>,
}

loom::lazy_static! {
    static ref PENDING: Mutex<Pending> = Mutex::new(Pending::default());
}

/// A registered deadline; dropping it withdraws the deadline if it has not fired yet.
pub(crate) struct DeadlineGuard {
    key: u64,
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        PENDING.lock().targets.retain(|(key, _)| *key != self.key);
    }
}

/// Expires `target` at the next [`expire_due`], unless the returned guard is dropped first.
pub(crate) fn schedule<T: Expire + Send + Sync + 'static>(
    _at: Instant,
    target: Arc<T>,
) -> DeadlineGuard {
    let mut pending = PENDING.lock();
    let key = pending.next_key;
    pending.next_key += 1;
    pending
        .targets
        .push((key, Box::new(move || T::expire(target))));
    DeadlineGuard { key }
}

/// Every pending deadline passes now.
// Only the model tests call it: the crate built under `--cfg loom` for a dependent's models
// (the runtime's) does not.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn expire_due() {
    let due = std::mem::take(&mut PENDING.lock().targets);
    for (_, expire) in due {
        expire();
    }
}
