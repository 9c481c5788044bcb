//! [`Mutex`]: process-wide mutual exclusion by key, first come first served.

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use coordinator::Coordinator;

/// Mutual exclusion by name, across every coroutine and thread of the process, with the lock
/// handed over in arrival order.
///
/// Use it to serialise work on a resource you can name but do not hold an object for — "the
/// order 42", "the cache entry `user:7`" — from code that shares nothing else. It is Hyperf's
/// static API: [`lock`](Self::lock) and [`unlock`](Self::unlock) by key, with an optional
/// timeout; [`lock_guard`](Self::lock_guard) gives a guard that unlocks when dropped (also when
/// the holder panics), which is the safer form.
///
/// Fairness: an unlock hands the lock straight to the longest-waiting caller; a newcomer never
/// takes it in between. Any caller may unlock a key, as in Hyperf: the lock is not owned by a
/// coroutine. A key that is unlocked with nobody waiting leaves the registry, so keys made per
/// request do not pile up.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::Mutex;
///
/// let order = "order:42";
/// assert!(Mutex::lock(order, None));
/// // Another caller cannot get it while it is held.
/// assert!(!Mutex::lock(order, Some(Duration::from_millis(5))));
/// assert!(Mutex::unlock(order));
///
/// {
///     let _guard = Mutex::lock_guard(order, Some(Duration::from_secs(10))).unwrap();
///     assert!(Mutex::is_locked(order));
/// }
/// assert!(!Mutex::is_locked(order));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Mutex;

/// Holds a key of [`Mutex`] locked; dropping it unlocks the key.
#[must_use = "the key is unlocked as soon as the guard is dropped"]
#[derive(Debug)]
pub struct KeyedMutexGuard {
    key: String,
}

/// One queued caller: its id (to find it again on timeout) and the latch the unlock resumes.
struct Queued {
    id: u64,
    handoff: Coordinator,
}

/// A key is in the map exactly while it is locked; its queue holds the callers waiting for it.
static LOCKS: LazyLock<parking_lot::Mutex<HashMap<String, VecDeque<Queued>>>> =
    LazyLock::new(Default::default);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Mutex {
    /// Locks `key`, waiting for it up to `timeout` (`None`: as long as it takes;
    /// `Some(Duration::ZERO)`: not at all); whether it was locked.
    ///
    /// Waiters get the key in the order they asked for it.
    pub fn lock(key: &str, timeout: Option<Duration>) -> bool {
        let (id, handoff) = {
            let mut locks = LOCKS.lock();
            let Some(queue) = locks.get_mut(key) else {
                locks.insert(key.to_owned(), VecDeque::new());
                return true;
            };
            if timeout == Some(Duration::ZERO) {
                return false;
            }
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let handoff = Coordinator::new();
            queue.push_back(Queued {
                id,
                handoff: handoff.clone(),
            });
            (id, handoff)
        };
        // Leaves the queue if the wait unwinds (a cancelled coroutine), and passes the key on if
        // it had been handed over already.
        let mut pending = Pending {
            key,
            id,
            settled: false,
        };
        let handed_over = match timeout {
            None => handoff.r#yield(),
            Some(timeout) => handoff.yield_timeout(timeout),
        };
        pending.settled = true;
        // Out of the queue means handed over: the unlock may have dequeued this caller just as
        // its time ran out, before it resumed the latch.
        handed_over || !withdraw(key, id)
    }

    /// Locks `key` like [`lock`](Self::lock) and returns a guard that unlocks it when dropped;
    /// `None` when the timeout ran out.
    pub fn lock_guard(key: &str, timeout: Option<Duration>) -> Option<KeyedMutexGuard> {
        Self::lock(key, timeout).then(|| KeyedMutexGuard {
            key: key.to_owned(),
        })
    }

    /// Unlocks `key`, handing it to the longest-waiting caller if there is one; whether it was
    /// locked.
    pub fn unlock(key: &str) -> bool {
        let next = {
            let mut locks = LOCKS.lock();
            let Some(queue) = locks.get_mut(key) else {
                return false;
            };
            let next = queue.pop_front();
            if next.is_none() {
                locks.remove(key);
            }
            next
        };
        // The key stays locked, now for the waiter; it is woken outside the registry's lock.
        if let Some(next) = next {
            next.handoff.resume();
        }
        true
    }

    /// Whether `key` is locked.
    pub fn is_locked(key: &str) -> bool {
        LOCKS.lock().contains_key(key)
    }

    /// How many callers wait for `key` right now (a timed-out caller has left).
    pub fn waiters(key: &str) -> usize {
        LOCKS.lock().get(key).map_or(0, VecDeque::len)
    }

    /// How many keys are locked right now: the registry's size, since unlocked keys leave it.
    pub fn locked_keys() -> usize {
        LOCKS.lock().len()
    }
}

/// Takes the caller `id` out of `key`'s queue; whether it was still there.
fn withdraw(key: &str, id: u64) -> bool {
    let mut locks = LOCKS.lock();
    let Some(queue) = locks.get_mut(key) else {
        return false;
    };
    match queue.iter().position(|queued| queued.id == id) {
        Some(position) => {
            queue.remove(position);
            true
        }
        None => false,
    }
}

/// A queued caller until its wait has returned normally.
struct Pending<'a> {
    key: &'a str,
    id: u64,
    settled: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled && !withdraw(self.key, self.id) {
            // The key was handed to this caller, which is unwinding: pass it on.
            Mutex::unlock(self.key);
        }
    }
}

impl KeyedMutexGuard {
    /// The key this guard holds.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for KeyedMutexGuard {
    fn drop(&mut self) {
        Mutex::unlock(&self.key);
    }
}
