//! Keyed Mutex: exclusion by name, arrival-order handover, timeouts, guards, registry cleanup.
//!
//! The registry is process-wide and the tests of this file run at once: each test uses keys of
//! its own.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use runtime::{Channel, Mutex};

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn mutex_five_coroutines_write_hello_in_the_order_they_asked() {
    setup();
    const KEY: &str = "test:mutex:hello";
    let written = within(LIMIT, || {
        let written = Arc::new(parking_lot::Mutex::new(String::new()));
        // Held while the writers line up, so the order they ask in is known.
        assert!(Mutex::lock(KEY, None));
        let writers: Vec<_> = "hello"
            .chars()
            .enumerate()
            .map(|(queued, letter)| {
                let written = Arc::clone(&written);
                let writer = runtime::spawn(move || {
                    assert!(Mutex::lock(KEY, None));
                    may::coroutine::sleep(Duration::from_millis(1));
                    written.lock().push(letter);
                    assert!(Mutex::unlock(KEY));
                });
                eventually(LIMIT, "the writer is queued", || {
                    Mutex::waiters(KEY) == queued + 1
                });
                writer
            })
            .collect();
        assert!(Mutex::unlock(KEY));
        for writer in writers {
            writer.join().unwrap();
        }
        written.lock().clone()
    });
    assert_eq!(written, "hello");
    assert!(!Mutex::is_locked(KEY));
}

#[test]
fn mutex_excludes_coroutines_and_threads_from_each_other() {
    setup();
    const KEY: &str = "test:mutex:exclusion";
    const ROUNDS: usize = 200;
    let total = within(LIMIT, || {
        let counter = Arc::new(AtomicUsize::new(0));
        // A read, a yield, then a write: without exclusion, increments get lost.
        let increment = |counter: Arc<AtomicUsize>, pause: fn()| {
            move || {
                for _ in 0..ROUNDS {
                    let _guard = Mutex::lock_guard(KEY, None).unwrap();
                    let seen = counter.load(Ordering::SeqCst);
                    pause();
                    counter.store(seen + 1, Ordering::SeqCst);
                }
            }
        };
        let coroutines: Vec<_> = (0..4)
            .map(|_| runtime::spawn(increment(Arc::clone(&counter), may::coroutine::yield_now)))
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(increment(Arc::clone(&counter), std::thread::yield_now)))
            .collect();
        for coroutine in coroutines {
            coroutine.join().unwrap();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        counter.load(Ordering::SeqCst)
    });
    assert_eq!(total, 6 * ROUNDS);
}

#[test]
fn mutex_lock_times_out_while_the_key_is_held() {
    setup();
    const KEY: &str = "test:mutex:timeout";
    within(LIMIT, || {
        assert!(Mutex::lock(KEY, None));
        assert!(!Mutex::lock(KEY, Some(SHORT)));
        let in_coroutine = runtime::spawn(|| Mutex::lock(KEY, Some(Duration::from_micros(100))));
        assert!(!in_coroutine.join().unwrap());
        assert_eq!(Mutex::waiters(KEY), 0);
        assert!(Mutex::unlock(KEY));
    });
}

#[test]
fn mutex_zero_timeout_only_tries() {
    setup();
    const KEY: &str = "test:mutex:try";
    assert!(Mutex::lock(KEY, Some(Duration::ZERO)));
    assert!(!Mutex::lock(KEY, Some(Duration::ZERO)));
    assert_eq!(Mutex::waiters(KEY), 0);
    assert!(Mutex::unlock(KEY));
}

#[test]
fn mutex_timed_out_waiters_leave_the_queue() {
    setup();
    const KEY: &str = "test:mutex:leftovers";
    within(LIMIT, || {
        assert!(Mutex::lock(KEY, None));
        runtime::spawn(|| {
            for _ in 0..1_000 {
                assert!(!Mutex::lock(KEY, Some(Duration::from_micros(20))));
            }
        })
        .join()
        .unwrap();
        assert_eq!(Mutex::waiters(KEY), 0);
        // Nobody is queued, so the unlock frees the key instead of handing it to a ghost.
        assert!(Mutex::unlock(KEY));
        assert!(!Mutex::is_locked(KEY));
        assert!(Mutex::lock(KEY, Some(Duration::ZERO)));
        assert!(Mutex::unlock(KEY));
    });
}

#[test]
fn mutex_unlock_hands_the_key_to_the_waiter_before_any_newcomer() {
    setup();
    const KEY: &str = "test:mutex:handover";
    within(LIMIT, || {
        assert!(Mutex::lock(KEY, None));
        let release = Channel::new(1);
        let waiter = {
            let release = release.clone();
            std::thread::spawn(move || {
                assert!(Mutex::lock(KEY, None));
                release.pop(None).unwrap();
                Mutex::unlock(KEY)
            })
        };
        eventually(LIMIT, "the thread waits", || Mutex::waiters(KEY) == 1);
        assert!(Mutex::unlock(KEY));
        // Handed over: it stays locked, for the waiter, whether or not the waiter has run yet.
        assert!(!Mutex::lock(KEY, Some(Duration::ZERO)));
        assert!(Mutex::is_locked(KEY));
        release.push((), None).unwrap();
        assert!(waiter.join().unwrap());
        assert!(!Mutex::is_locked(KEY));
    });
}

#[test]
fn mutex_unlock_of_an_unlocked_key_returns_false() {
    setup();
    assert!(!Mutex::unlock("test:mutex:never-locked"));
}

#[test]
fn mutex_keys_are_independent() {
    setup();
    const A: &str = "test:mutex:independent-a";
    const B: &str = "test:mutex:independent-b";
    assert!(Mutex::lock(A, None));
    assert!(Mutex::lock(B, Some(Duration::ZERO)));
    assert!(Mutex::unlock(A));
    assert!(Mutex::is_locked(B));
    assert!(Mutex::unlock(B));
}

#[test]
fn mutex_guard_unlocks_when_dropped() {
    setup();
    const KEY: &str = "test:mutex:guard";
    within(LIMIT, || {
        let guard = Mutex::lock_guard(KEY, None).unwrap();
        assert_eq!(guard.key(), KEY);
        assert!(Mutex::lock_guard(KEY, Some(SHORT)).is_none());
        drop(guard);
        assert!(!Mutex::is_locked(KEY));
    });
}

#[test]
fn mutex_guard_of_a_panicking_coroutine_unlocks() {
    setup();
    const KEY: &str = "test:mutex:guard-panic";
    within(LIMIT, || {
        let failed = runtime::spawn(|| {
            let _guard = Mutex::lock_guard(KEY, None).unwrap();
            panic!("the holder failed");
        });
        assert!(failed.join().is_err());
        assert!(!Mutex::is_locked(KEY));
    });
}

#[test]
fn mutex_cancelled_waiter_leaves_the_queue() {
    setup();
    const KEY: &str = "test:mutex:cancelled";
    within(LIMIT, || {
        assert!(Mutex::lock(KEY, None));
        let waiter = runtime::spawn(|| Mutex::lock(KEY, None));
        eventually(LIMIT, "the coroutine waits", || Mutex::waiters(KEY) == 1);
        // SAFETY: the coroutine holds nothing but its queue entry, which unwinding removes.
        unsafe { waiter.cancel() };
        let payload = waiter.join().unwrap_err();
        assert!(runtime::is_cancelled(&payload));
        assert_eq!(Mutex::waiters(KEY), 0);
        assert!(Mutex::unlock(KEY));
        assert!(!Mutex::is_locked(KEY), "the key went to nobody");
    });
}

#[test]
fn mutex_unlocked_keys_leave_the_registry() {
    setup();
    within(LIMIT, || {
        let keys: Vec<String> = (0..1_000).map(|n| format!("test:mutex:many:{n}")).collect();
        for key in &keys {
            assert!(Mutex::lock(key, None));
        }
        assert!(Mutex::locked_keys() >= 1_000);
        for key in &keys {
            assert!(Mutex::unlock(key));
        }
        // Other tests of this file hold a few keys of their own at most.
        assert!(
            Mutex::locked_keys() < 100,
            "{} keys left",
            Mutex::locked_keys()
        );
    });
}
