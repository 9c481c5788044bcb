//! The deadline thread: ends timed waits of coroutines.
//!
//! may keeps coroutine timeouts in whole milliseconds (so anything shorter waits forever) and
//! can lose a timeout when its worker thread stalls between arming the timer and parking. A
//! timed coroutine wait here parks with no timeout and registers its deadline with one OS thread
//! of ours, which sleeps on a condition variable until the earliest deadline (with the OS's
//! resolution, microseconds on Linux) and then times the waiter out. A wait that ends first
//! withdraws its deadline, so nothing piles up.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Something a deadline ends: the deadline thread calls [`expire`](Self::expire) once the
/// deadline passes.
///
/// The thread knows waiters only through this trait, so the wait queue can depend on the
/// deadline thread without the deadline thread depending on the wait queue.
pub(crate) trait Expire {
    /// Called on the deadline thread, outside its lock, when the deadline has passed. It takes
    /// the thread's reference, so the target can let go of it before it wakes anyone.
    fn expire(self: Arc<Self>);
}

/// What the deadline thread holds for each pending deadline.
type Expiring = Arc<dyn Expire + Send + Sync>;

struct Deadlines {
    timers: Mutex<Timers>,
    earliest_changed: Condvar,
}

#[derive(Default)]
struct Timers {
    next_seq: u64,
    /// Ordered by deadline; the sequence number tells equal deadlines apart.
    pending: BTreeMap<(Instant, u64), Expiring>,
}

/// A registered deadline; dropping it withdraws the deadline if it has not fired yet.
pub(crate) struct DeadlineGuard {
    key: (Instant, u64),
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        deadlines().timers.lock().pending.remove(&self.key);
    }
}

/// Expires `target` at `at`, unless the returned guard is dropped first.
pub(crate) fn schedule(at: Instant, target: Expiring) -> DeadlineGuard {
    let service = deadlines();
    let mut timers = service.timers.lock();
    let key = (at, timers.next_seq);
    timers.next_seq += 1;
    let becomes_earliest = timers
        .pending
        .first_key_value()
        .is_none_or(|(k, _)| key < *k);
    timers.pending.insert(key, target);
    drop(timers);
    if becomes_earliest {
        service.earliest_changed.notify_one();
    }
    DeadlineGuard { key }
}

fn deadlines() -> &'static Deadlines {
    static SERVICE: OnceLock<&'static Deadlines> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let service: &'static Deadlines = Box::leak(Box::new(Deadlines {
            timers: Mutex::new(Timers::default()),
            earliest_changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("coordinator-deadlines".into())
            .spawn(move || run(service))
            .expect("the coordinator cannot time out coroutine waits without its deadline thread");
        service
    })
}

fn run(service: &'static Deadlines) -> ! {
    let mut expired = Vec::new();
    let mut timers = service.timers.lock();
    loop {
        let now = Instant::now();
        while let Some(entry) = timers.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            expired.push(entry.remove());
        }
        if !expired.is_empty() {
            // Wake outside the lock so waiters withdrawing their deadlines are not held up.
            drop(timers);
            for target in expired.drain(..) {
                target.expire();
            }
            timers = service.timers.lock();
            continue;
        }
        match timers.pending.first_key_value() {
            Some(((at, _), _)) => {
                let at = *at;
                service.earliest_changed.wait_until(&mut timers, at);
            }
            None => service.earliest_changed.wait(&mut timers),
        }
    }
}
