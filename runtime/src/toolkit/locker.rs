//! [`Locker`]: single flight by key — one caller does the work, the others wait for it.

use std::collections::HashMap;
use std::sync::LazyLock;

use coordinator::Coordinator;

/// Single flight by name: the first caller of [`lock`](Self::lock) for a key gets `true` and
/// does the work; every caller that comes while it works waits, and all of them get `false`
/// together when the first one calls [`unlock`](Self::unlock).
///
/// Use it to stop a thundering herd: when a cache entry expires, one request rebuilds it and the
/// others wait, then read what it built, instead of all rebuilding it at once. It is not a mutex:
/// the waiters are released at the same time and do not get the key; a `false` means "someone
/// else did the work, go and read it". A caller that comes after the unlock gets `true` again.
///
/// Always unlock — [`lock_guard`](Self::lock_guard) does it when the guard is dropped, also when
/// the owner panics; a key never unlocked keeps its waiters waiting.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::Locker;
///
/// // This request found the cache entry expired: it owns the rebuild.
/// assert!(Locker::lock("cache:home"));
/// // Another request comes meanwhile and waits for the rebuild instead of doing it again.
/// let other = runtime::spawn(|| Locker::lock("cache:home"));
/// while Locker::waiters("cache:home") == 0 {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// // ... rebuild the entry ...
/// assert!(Locker::unlock("cache:home"));
/// assert!(!other.join().unwrap(), "the other request did not own the rebuild");
/// assert!(!Locker::is_locked("cache:home"));
/// /// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Locker;

/// Owns a key of [`Locker`]; dropping it unlocks the key and releases its waiters.
#[must_use = "the key is unlocked as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockerGuard {
    key: String,
}

/// A key is in the map while its owner works; waiters park on its latch.
static FLIGHTS: LazyLock<parking_lot::Mutex<HashMap<String, Coordinator>>> =
    LazyLock::new(Default::default);

impl Locker {
    /// `true` when the caller now owns `key` (it was free); otherwise waits until the owner
    /// unlocks it and returns `false`.
    pub fn lock(key: &str) -> bool {
        let flight = {
            let mut flights = FLIGHTS.lock();
            match flights.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    flights.insert(key.to_owned(), Coordinator::new());
                    return true;
                }
            }
        };
        flight.r#yield();
        false
    }

    /// [`lock`](Self::lock) with a guard: `Some` when the caller now owns `key` (the guard
    /// unlocks it when dropped), `None` after waiting for another owner.
    pub fn lock_guard(key: &str) -> Option<LockerGuard> {
        Self::lock(key).then(|| LockerGuard {
            key: key.to_owned(),
        })
    }

    /// Frees `key` and releases every caller waiting for it; whether it was locked.
    pub fn unlock(key: &str) -> bool {
        let flight = FLIGHTS.lock().remove(key);
        match flight {
            Some(flight) => {
                flight.resume();
                true
            }
            None => false,
        }
    }

    /// Whether `key` has an owner.
    pub fn is_locked(key: &str) -> bool {
        FLIGHTS.lock().contains_key(key)
    }

    /// How many callers are parked waiting for `key`'s owner right now.
    pub fn waiters(key: &str) -> usize {
        FLIGHTS.lock().get(key).map_or(0, Coordinator::waiters)
    }
}

impl LockerGuard {
    /// The key this guard owns.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for LockerGuard {
    fn drop(&mut self) {
        Locker::unlock(&self.key);
    }
}
