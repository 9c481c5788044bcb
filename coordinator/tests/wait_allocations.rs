//! Blocking waits reuse their wait cell: after the first wait on a thread, waiting again does
//! not allocate (see `FEW` for the few allocations that remain, none of them per wait).
//!
//! The binary counts allocations with its own global allocator, per OS thread, so tests running
//! side by side do not see each other's allocations. Coroutines run on one may worker here, so
//! a coroutine never moves to another thread (and counter) in the middle of a count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use coordinator::{WaitList, WaitOutcome};

/// The system allocator, counting the allocations of each thread.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the count is a const-initialised
// thread-local `Cell` without a destructor, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count_one() {
    // A thread being torn down has no counter any more; its allocations are not ours to count.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

/// Allocations made by the calling thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// How many waits each test makes after its warm-up wait.
const WAITS: u64 = 1_000;

/// Runs `wait` once to warm up, then `WAITS` times; returns the allocations of those.
fn allocations_of_repeated(mut wait: impl FnMut()) -> u64 {
    wait();
    let before = allocations();
    for _ in 0..WAITS {
        wait();
    }
    allocations() - before
}

/// The most allocations `WAITS` waits may make: far fewer than one per wait, not none.
///
/// - may's run queue allocates a block of 32 slots of its own for every 32 coroutines it
///   schedules, on whichever thread schedules them.
/// - A notifier or the deadline thread preempted between ending a wait and letting go of its
///   cell makes the waiter give that cell up; the next wait there allocates a new one.
/// - `parking_lot` allocates the first time a thread really parks, which a warm-up wait whose
///   deadline has passed before it parks does not do.
///
/// An allocation per wait, as before cells were reused, makes it `WAITS` or more.
const FEW: u64 = WAITS / 10;

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_micros(20))
}

/// A thread that notifies `list` whenever a waiter is registered, until dropped.
struct Notifier {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    fn start(list: Arc<WaitList>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                if !list.notify_one() {
                    std::thread::yield_now();
                }
            }
        });
        Notifier {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn timed_out_thread_waits_do_not_allocate_after_the_first() {
    let list = WaitList::new();
    let allocated = allocations_of_repeated(|| {
        assert_eq!(list.wait(soon(), || false), WaitOutcome::TimedOut);
    });
    assert!(allocated <= FEW, "{allocated} allocations in {WAITS} waits");
}

#[test]
fn notified_thread_waits_do_not_allocate_after_the_first() {
    let list = Arc::new(WaitList::new());
    let _notifier = Notifier::start(Arc::clone(&list));
    let allocated = allocations_of_repeated(|| {
        assert_eq!(list.wait(None, || false), WaitOutcome::Notified);
    });
    assert!(allocated <= FEW, "{allocated} allocations in {WAITS} waits");
}

/// Runs `body` in a coroutine on may's single worker; returns what it returns. One at a time:
/// two coroutines on the worker would count each other's allocations.
fn in_coroutine<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    may::config().set_workers(1).set_worker_pin(false);
    // SAFETY: the closure owns what it uses and touches no thread-local state of the test
    // thread.
    unsafe { may::coroutine::spawn(body) }.join().unwrap()
}

#[test]
fn timed_out_coroutine_waits_do_not_allocate_after_the_first() {
    let list = WaitList::new();
    let allocated = in_coroutine(move || {
        allocations_of_repeated(|| {
            assert_eq!(list.wait(soon(), || false), WaitOutcome::TimedOut);
        })
    });
    assert!(allocated <= FEW, "{allocated} allocations in {WAITS} waits");
}

#[test]
fn notified_coroutine_waits_do_not_allocate_after_the_first() {
    let list = Arc::new(WaitList::new());
    let _notifier = Notifier::start(Arc::clone(&list));
    let allocated = in_coroutine(move || {
        allocations_of_repeated(|| {
            assert_eq!(list.wait(None, || false), WaitOutcome::Notified);
        })
    });
    assert!(allocated <= FEW, "{allocated} allocations in {WAITS} waits");
}
