//! [`CoordinatorManager`]: the process-wide registry of named coordinators.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::coordinator::{Coordinator, Latch};

/// The process-wide registry of named [`Coordinator`]s.
///
/// `until(name)` is on the hot path of every request (the HTTP server waits on
/// [`WORKER_START`](crate::constants::WORKER_START) before serving), so a lookup of a known name
/// takes no lock and touches no shared cache line: each OS thread keeps a cache of the names it
/// has looked up, invalidated by a generation counter that only [`clear`](Self::clear) bumps.
///
/// # Example
///
/// ```
/// use coordinator::{CoordinatorManager, constants::WORKER_START};
///
/// let gate = CoordinatorManager::until(WORKER_START);
/// let request = std::thread::spawn(|| {
///     // Parks until the worker has started; the same coordinator, looked up by name.
///     CoordinatorManager::until(WORKER_START).r#yield();
///     "served"
/// });
/// // ... start the worker, then:
/// gate.resume();
/// assert_eq!(request.join().unwrap(), "served");
/// ```
///
/// # Memory
///
/// The latch behind a name lives for the rest of the process, also after `clear` (a few dozen
/// bytes each). That is what lets `until` hand out handles without a contended reference count.
/// Names are meant to be a fixed set (events such as "workerStart"), and `clear` is for tests
/// and restarts: do not make a fresh name per request.
#[derive(Debug)]
pub struct CoordinatorManager {
    _private: (),
}

static REGISTRY: LazyLock<Mutex<HashMap<Box<str>, &'static Latch>>> =
    LazyLock::new(Default::default);

/// Bumped by every `clear`; a thread's cache from an older generation is discarded.
static GENERATION: AtomicU64 = AtomicU64::new(0);

struct ThreadCache {
    generation: u64,
    latches: HashMap<Box<str>, &'static Latch>,
}

thread_local! {
    // A cache of process-wide values, not per-coroutine state: a coroutine that migrates to
    // another thread simply reads that thread's cache.
    static CACHE: RefCell<ThreadCache> = RefCell::new(ThreadCache {
        generation: 0,
        latches: HashMap::new(),
    });
}

impl CoordinatorManager {
    /// The coordinator registered under `name`, created (not resumed) on first use.
    ///
    /// Every caller, from any thread or coroutine, gets a handle to the same latch until the
    /// name is [`clear`](Self::clear)ed.
    #[inline]
    pub fn until(name: &str) -> Coordinator {
        Coordinator::from_static(cached_latch(name))
    }

    /// Removes `name` from the registry and hands back the coordinator it named, if any.
    ///
    /// Waiters of the old coordinator stay parked on it: resume the returned handle to release
    /// them. The next [`until`](Self::until) with this name gets a fresh, unresumed coordinator.
    pub fn clear(name: &str) -> Option<Coordinator> {
        let removed = REGISTRY.lock().remove(name);
        // Bumped after the removal: a thread that sees the new generation also misses the old
        // entry in the registry.
        GENERATION.fetch_add(1, Ordering::AcqRel);
        removed.map(Coordinator::from_static)
    }
}

// Not inlined: the thread-local's address must be computed inside a function that never
// yields, or a coroutine resumed on another thread could reuse the old thread's address.
#[inline(never)]
fn cached_latch(name: &str) -> &'static Latch {
    let generation = GENERATION.load(Ordering::Acquire);
    let lookup = |cache: &RefCell<ThreadCache>| {
        let mut cache = cache.borrow_mut();
        if cache.generation != generation {
            cache.latches.clear();
            cache.generation = generation;
        }
        if let Some(latch) = cache.latches.get(name) {
            return *latch;
        }
        let latch = registered_latch(name);
        cache.latches.insert(name.into(), latch);
        latch
    };
    // `try_with` fails only while the thread's locals are being destroyed.
    CACHE
        .try_with(lookup)
        .unwrap_or_else(|_| registered_latch(name))
}

#[cold]
fn registered_latch(name: &str) -> &'static Latch {
    let mut registry = REGISTRY.lock();
    if let Some(latch) = registry.get(name) {
        return latch;
    }
    let latch: &'static Latch = Box::leak(Box::new(Latch::new()));
    registry.insert(name.into(), latch);
    latch
}
