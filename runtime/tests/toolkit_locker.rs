//! Locker: single flight by key — one owner, waiters released together with `false`.
//!
//! The registry is process-wide and the tests of this file run at once: each test uses keys of
//! its own.

mod common;

use std::sync::Arc;

use common::{LIMIT, eventually, setup, within};
use runtime::{Channel, Locker, WaitGroup};

fn record(order: &parking_lot::Mutex<Vec<u8>>, step: u8) {
    order.lock().push(step);
}

#[test]
fn locker_owner_works_while_others_wait_and_one_unlock_releases_them_all_with_false() {
    setup();
    const KEY: &str = "test:locker:flight";
    let order = within(LIMIT, || {
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let owned = Channel::new(2);
        let release = Channel::new(1);
        let waiters_done = WaitGroup::new();
        waiters_done.add(2);

        // A, a coroutine: owns the flight, then, once released, waits for both waiters to be
        // through before writing its 4.
        let owner = {
            let (order, owned, release, waiters_done) = (
                Arc::clone(&order),
                owned.clone(),
                release.clone(),
                waiters_done.clone(),
            );
            runtime::spawn(move || {
                assert!(Locker::lock(KEY));
                record(&order, 1);
                owned.push((), None).unwrap();
                owned.push((), None).unwrap();
                release.pop(None).unwrap();
                assert!(Locker::unlock(KEY));
                assert!(waiters_done.wait(None));
                record(&order, 4);
            })
        };
        // B, a coroutine, and C, a thread: each writes its number, then waits for the flight.
        let b = {
            let (order, owned, waiters_done) =
                (Arc::clone(&order), owned.clone(), waiters_done.clone());
            runtime::spawn(move || {
                owned.pop(None).unwrap();
                record(&order, 2);
                let owner = Locker::lock(KEY);
                record(&order, 5);
                waiters_done.done().unwrap();
                owner
            })
        };
        eventually(LIMIT, "B waits", || Locker::waiters(KEY) == 1);
        let c = {
            let (order, owned, waiters_done) =
                (Arc::clone(&order), owned.clone(), waiters_done.clone());
            std::thread::spawn(move || {
                owned.pop(None).unwrap();
                record(&order, 3);
                let owner = Locker::lock(KEY);
                record(&order, 6);
                waiters_done.done().unwrap();
                owner
            })
        };
        eventually(LIMIT, "B and C wait", || Locker::waiters(KEY) == 2);
        // Nobody got past the flight while the owner held it.
        assert_eq!(*order.lock(), [1, 2, 3]);

        release.push((), None).unwrap();
        assert!(!b.join().unwrap(), "B did not own the flight");
        assert!(!c.join().unwrap(), "C did not own the flight");
        owner.join().unwrap();
        order.lock().clone()
    });
    // B and C are released together, so 5 and 6 come in either order, both before 4.
    assert_eq!(order.len(), 6, "{order:?}");
    assert_eq!(order[..3], [1, 2, 3], "{order:?}");
    let mut released = order[3..5].to_vec();
    released.sort();
    assert_eq!(released, [5, 6], "{order:?}");
    assert_eq!(order[5], 4, "{order:?}");
    assert!(!Locker::is_locked(KEY));
}

#[test]
fn locker_lock_of_a_free_key_returns_true_at_once() {
    setup();
    const KEY: &str = "test:locker:free";
    assert!(Locker::lock(KEY));
    assert!(Locker::is_locked(KEY));
    assert_eq!(Locker::waiters(KEY), 0);
    assert!(Locker::unlock(KEY));
    assert!(!Locker::is_locked(KEY));
}

#[test]
fn locker_unlock_of_an_unlocked_key_returns_false() {
    setup();
    assert!(!Locker::unlock("test:locker:never-locked"));
}

#[test]
fn locker_key_can_be_owned_again_after_unlock() {
    setup();
    const KEY: &str = "test:locker:again";
    for _ in 0..3 {
        assert!(runtime::spawn(|| Locker::lock(KEY)).join().unwrap());
        assert!(Locker::unlock(KEY));
    }
}

#[test]
fn locker_waiters_get_false_even_when_a_new_owner_comes_first() {
    setup();
    const KEY: &str = "test:locker:next-flight";
    within(LIMIT, || {
        assert!(Locker::lock(KEY));
        let waiter = runtime::spawn(|| Locker::lock(KEY));
        eventually(LIMIT, "the coroutine waits", || Locker::waiters(KEY) == 1);
        assert!(Locker::unlock(KEY));
        // A new flight starts before the released waiter has run: it was released by the end
        // of the old one all the same.
        assert!(Locker::lock(KEY));
        assert!(!waiter.join().unwrap());
        assert!(Locker::unlock(KEY));
    });
}

#[test]
fn locker_guard_owns_the_key_and_releases_waiters_when_dropped() {
    setup();
    const KEY: &str = "test:locker:guard";
    within(LIMIT, || {
        let guard = Locker::lock_guard(KEY).expect("a free key is owned");
        assert_eq!(guard.key(), KEY);
        let waiter = std::thread::spawn(|| Locker::lock_guard(KEY).is_none());
        eventually(LIMIT, "the thread waits", || Locker::waiters(KEY) == 1);
        drop(guard);
        assert!(waiter.join().unwrap(), "the waiter got no guard");
        assert!(!Locker::is_locked(KEY));
    });
}

#[test]
fn locker_guard_of_a_panicking_owner_releases_its_waiters() {
    setup();
    const KEY: &str = "test:locker:guard-panic";
    within(LIMIT, || {
        let gate = Channel::new(1);
        let opened = gate.clone();
        let owner = runtime::spawn(move || {
            let _guard = Locker::lock_guard(KEY).unwrap();
            opened.pop(None).unwrap();
            panic!("the rebuild failed");
        });
        eventually(LIMIT, "the owner owns the key", || Locker::is_locked(KEY));
        let waiter = runtime::spawn(|| Locker::lock(KEY));
        eventually(LIMIT, "the coroutine waits", || Locker::waiters(KEY) == 1);
        gate.push((), None).unwrap();
        assert!(owner.join().is_err());
        assert!(!waiter.join().unwrap());
        assert!(!Locker::is_locked(KEY));
    });
}
