//! The latch: timeouts, release, waiter bookkeeping, cancellation.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use coordinator::Coordinator;

fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    setup();
    within(LIMIT, move || may::go!(f).join().unwrap())
}

#[test]
fn fresh_coordinator_times_out_after_one_millisecond_in_a_coroutine() {
    let c = Coordinator::new();
    assert!(!in_coroutine(
        move || c.yield_timeout(Duration::from_millis(1))
    ));
}

#[test]
fn fresh_coordinator_times_out_after_one_microsecond_in_a_coroutine() {
    let c = Coordinator::new();
    assert!(!in_coroutine(
        move || c.yield_timeout(Duration::from_micros(1))
    ));
}

#[test]
fn fresh_coordinator_times_out_after_one_millisecond_on_a_thread() {
    let c = Coordinator::new();
    assert!(!within(LIMIT, move || c.yield_timeout(Duration::from_millis(1))));
}

#[test]
fn fresh_coordinator_times_out_after_one_microsecond_on_a_thread() {
    let c = Coordinator::new();
    assert!(!within(LIMIT, move || c.yield_timeout(Duration::from_micros(1))));
}

#[test]
fn zero_timeout_is_a_poll() {
    let c = Coordinator::new();
    assert!(!c.yield_timeout(Duration::ZERO));
    c.resume();
    assert!(c.yield_timeout(Duration::ZERO));
    assert_eq!(c.waiters(), 0);
}

#[test]
fn resumed_coordinator_returns_true_at_once() {
    let c = Coordinator::new();
    c.resume();
    let on_thread = c.clone();
    assert!(within(LIMIT, move || on_thread.r#yield()
        && on_thread.yield_timeout(Duration::from_secs(3600))));
    assert!(in_coroutine(
        move || c.r#yield() && c.yield_timeout(Duration::from_secs(3600))
    ));
}

#[test]
fn resume_is_idempotent() {
    let c = Coordinator::new();
    c.resume();
    c.resume();
    assert!(c.is_closing());
    assert!(c.r#yield());
}

#[test]
fn a_timeout_too_large_to_represent_waits_until_resumed() {
    let c = Coordinator::new();
    let waiter = c.clone();
    let handle = std::thread::spawn(move || waiter.yield_timeout(Duration::MAX));
    eventually(LIMIT, "the thread parks", || c.waiters() == 1);
    c.resume();
    assert!(within(LIMIT, move || handle.join().unwrap()));
}

/// Parks 1,000 coroutines, 8 threads and 8 async tasks on one coordinator and returns their
/// join handles once every one of them is registered.
fn park_everyone(c: &Coordinator) -> Vec<Box<dyn FnOnce() -> bool + Send>> {
    setup();
    let mut joins: Vec<Box<dyn FnOnce() -> bool + Send>> = Vec::new();
    for _ in 0..1000 {
        let c = c.clone();
        let handle = may::go!(move || c.r#yield());
        joins.push(Box::new(move || handle.join().unwrap()));
    }
    for _ in 0..8 {
        let c = c.clone();
        let handle = std::thread::spawn(move || c.r#yield());
        joins.push(Box::new(move || handle.join().unwrap()));
    }
    for _ in 0..8 {
        let c = c.clone();
        let handle = std::thread::spawn(move || {
            futures_executor::block_on(c.resumed());
            c.is_closing()
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }
    eventually(LIMIT, "all 1,016 waiters park", || c.waiters() == 1016);
    joins
}

/// Parks everyone, resumes from the party `resume_from` starts, and checks all were released.
fn one_resume_releases_everyone(resume_from: impl FnOnce(Coordinator)) {
    let c = Coordinator::new();
    let joins = park_everyone(&c);
    resume_from(c.clone());
    let released = within(LIMIT, move || {
        joins.into_iter().map(|j| j()).filter(|&r| r).count()
    });
    assert_eq!(released, 1016);
    assert_eq!(c.waiters(), 0);
}

#[test]
fn one_resume_from_a_coroutine_releases_coroutines_threads_and_tasks() {
    one_resume_releases_everyone(|c| may::go!(move || c.resume()).join().unwrap());
}

#[test]
fn one_resume_from_a_thread_releases_coroutines_threads_and_tasks() {
    one_resume_releases_everyone(|c| std::thread::spawn(move || c.resume()).join().unwrap());
}

#[test]
fn timed_out_waits_leave_nothing_behind() {
    // 1,000,000 timed-out waits in all. The timeouts run from 1 µs (often over before the
    // waiter registers) to 64 µs (the waiter parks and the deadline wakes it).
    const COROUTINES: usize = 100;
    const THREADS: usize = 2;
    const WAITS_EACH: usize = 9_000;
    // Threads sleep with the OS's timer slack (~50 µs a wait), so they take a smaller share.
    const THREAD_WAITS_EACH: usize = 50_000;
    let timeout = |i: usize| Duration::from_micros(1 << (i % 7));
    setup();
    let c = Coordinator::new();
    let timed_out = Arc::new(AtomicUsize::new(0));
    let mut coroutines = Vec::new();
    for _ in 0..COROUTINES {
        let (c, timed_out) = (c.clone(), Arc::clone(&timed_out));
        coroutines.push(may::go!(move || {
            for i in 0..WAITS_EACH {
                if !c.yield_timeout(timeout(i)) {
                    timed_out.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (c, timed_out) = (c.clone(), Arc::clone(&timed_out));
            std::thread::spawn(move || {
                for i in 0..THREAD_WAITS_EACH {
                    if !c.yield_timeout(timeout(i)) {
                        timed_out.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    within(Duration::from_secs(120), move || {
        coroutines.into_iter().for_each(|h| h.join().unwrap());
        threads.into_iter().for_each(|h| h.join().unwrap());
    });
    let expected = COROUTINES * WAITS_EACH + THREADS * THREAD_WAITS_EACH;
    assert_eq!(timed_out.load(Ordering::Relaxed), expected);
    assert_eq!(c.waiters(), 0);

    // A resume after all that wakes nobody, needs no stack and leaves the latch usable.
    let resumer = c.clone();
    may::go!(move || resumer.resume()).join().unwrap();
    assert!(c.r#yield());
}

#[test]
fn resume_racing_timed_waits_wakes_every_waiter() {
    setup();
    for round in 0..200u64 {
        let c = Coordinator::new();
        // Set (SeqCst) only after `resume` has returned: a wait that starts later must succeed.
        let resume_returned = Arc::new(AtomicBool::new(false));
        let wait_loop = {
            let (c, resume_returned) = (c.clone(), Arc::clone(&resume_returned));
            move |step: u64| loop {
                let after_resume = resume_returned.load(Ordering::SeqCst);
                let resumed = if step == 0 {
                    c.r#yield() // never times out: a missed wake-up would hang here
                } else {
                    c.yield_timeout(Duration::from_micros(step * 37 % 400))
                };
                assert!(
                    resumed || !after_resume,
                    "a wait that began after resume timed out"
                );
                if resumed {
                    return;
                }
            }
        };
        let mut coroutines = Vec::new();
        for i in 0..8 {
            let wait_loop = wait_loop.clone();
            coroutines.push(may::go!(move || wait_loop((round + i) % 5)));
        }
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let wait_loop = wait_loop.clone();
                std::thread::spawn(move || wait_loop((round + i) % 3))
            })
            .collect();
        if round % 2 == 0 {
            std::thread::yield_now();
        }
        c.resume();
        resume_returned.store(true, Ordering::SeqCst);
        within(LIMIT, move || {
            coroutines.into_iter().for_each(|h| h.join().unwrap());
            threads.into_iter().for_each(|h| h.join().unwrap());
        });
        assert_eq!(c.waiters(), 0);
    }
}

#[test]
fn cancelled_coroutine_unwinds_and_leaves_the_waiters() {
    setup();
    let c = Coordinator::new();
    let unwound = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (waiter, flag) = (c.clone(), SetOnDrop(Arc::clone(&unwound)));
    let handle = may::go!(move || {
        let _flag = flag;
        waiter.r#yield()
    });
    eventually(LIMIT, "the coroutine parks", || c.waiters() == 1);
    // SAFETY: the coroutine owns nothing that cancellation could leave half-updated.
    unsafe { handle.coroutine().cancel() };
    assert!(
        within(LIMIT, move || handle.join()).is_err(),
        "a cancelled coroutine reports its unwind"
    );
    assert!(unwound.load(Ordering::SeqCst), "the stack was unwound");
    assert_eq!(c.waiters(), 0);
}

#[test]
fn cancelled_timed_waiter_leaves_the_waiters() {
    setup();
    let c = Coordinator::new();
    let waiter = c.clone();
    let handle = may::go!(move || waiter.yield_timeout(Duration::from_secs(3600)));
    eventually(LIMIT, "the coroutine parks", || c.waiters() == 1);
    // SAFETY: the coroutine owns nothing that cancellation could leave half-updated.
    unsafe { handle.coroutine().cancel() };
    assert!(within(LIMIT, move || handle.join()).is_err());
    assert_eq!(c.waiters(), 0);
}

#[test]
fn dropped_future_leaves_the_waiters() {
    let c = Coordinator::new();
    let mut future = c.resumed();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
    assert_eq!(c.waiters(), 1);
    drop(future);
    assert_eq!(c.waiters(), 0);
}

#[test]
fn future_of_a_resumed_coordinator_is_ready_at_once() {
    let c = Coordinator::new();
    c.resume();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut c.resumed()).poll(&mut cx).is_ready());
    assert_eq!(c.waiters(), 0);
}

#[test]
fn clones_share_one_latch() {
    let a = Coordinator::new();
    let b = a.clone();
    assert!(a.ptr_eq(&b));
    assert!(!a.ptr_eq(&Coordinator::new()));
    b.resume();
    assert!(a.is_closing());
}
