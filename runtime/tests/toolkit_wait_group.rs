//! WaitGroup: waiting for a count to reach zero, misuse, timeouts, reuse.

mod common;

use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use runtime::{Channel, WaitGroup, WaitGroupError};

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn wait_group_wait_returns_true_once_every_task_is_done() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        let finished = Channel::new(8);
        for n in 0..8 {
            group.add(1);
            let (group, finished) = (group.clone(), finished.clone());
            runtime::spawn(move || {
                finished.push(n, None).unwrap();
                group.done().unwrap();
            });
        }
        assert!(group.wait(None));
        assert_eq!(group.count(), 0);
        // Every task had finished its work before the wait returned.
        assert_eq!(finished.len(), 8);
    });
}

#[test]
fn wait_group_wait_on_a_zero_count_returns_true_at_once() {
    setup();
    let group = WaitGroup::new();
    assert!(group.wait(Some(Duration::ZERO)));
    assert!(group.wait(None));
}

#[test]
fn wait_group_done_below_zero_is_an_error_and_leaves_the_count_unchanged() {
    setup();
    let group = WaitGroup::new();
    assert_eq!(group.done(), Err(WaitGroupError));
    assert_eq!(group.count(), 0);
    group.add(1);
    assert_eq!(group.done(), Ok(()));
    assert_eq!(group.done(), Err(WaitGroupError));
    assert_eq!(group.count(), 0);
    assert!(!WaitGroupError.to_string().is_empty());
}

#[test]
fn wait_group_wait_times_out_while_a_task_is_pending() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(1);
        assert!(!group.wait(Some(SHORT)));
        assert!(!group.wait(Some(Duration::from_micros(50))));
        assert!(!group.wait(Some(Duration::ZERO)));
        assert_eq!(group.count(), 1);
    });
}

#[test]
fn wait_group_wait_times_out_inside_a_coroutine() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(1);
        let waiter = group.clone();
        let timed_out = runtime::spawn(move || !waiter.wait(Some(SHORT)));
        assert!(timed_out.join().unwrap());
    });
}

#[test]
fn wait_group_parks_a_coroutine_until_a_thread_calls_done() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(2);
        let waiter = group.clone();
        let waiting = runtime::spawn(move || waiter.wait(None));
        eventually(LIMIT, "the coroutine waits", || group.waiters() == 1);
        group.done().unwrap();
        // One task is still pending: the waiter is not woken.
        assert_eq!(group.waiters(), 1);
        group.done().unwrap();
        assert!(waiting.join().unwrap());
    });
}

#[test]
fn wait_group_parks_a_thread_until_a_coroutine_calls_done() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(1);
        let gate = Channel::new(1);
        let (doer, opened) = (group.clone(), gate.clone());
        runtime::spawn(move || {
            opened.pop(None).unwrap();
            doer.done().unwrap();
        });
        let waiter = group.clone();
        let waiting = std::thread::spawn(move || waiter.wait(None));
        eventually(LIMIT, "the thread waits", || group.waiters() == 1);
        gate.push((), None).unwrap();
        assert!(waiting.join().unwrap());
    });
}

#[test]
fn wait_group_is_reusable_once_wait_returned() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        for round in 0..3 {
            group.add(2);
            for _ in 0..2 {
                let group = group.clone();
                runtime::spawn(move || group.done().unwrap());
            }
            assert!(group.wait(None), "round {round}");
            assert_eq!(group.count(), 0);
        }
    });
}

#[test]
fn wait_group_releases_a_waiter_even_if_the_count_rises_again_at_once() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(1);
        let waiter = group.clone();
        let waiting = runtime::spawn(move || waiter.wait(None));
        eventually(LIMIT, "the coroutine waits", || group.waiters() == 1);
        // The count touches zero and rises again before the waiter can run: the waiter saw the
        // batch end and must be released anyway.
        group.done().unwrap();
        group.add(1);
        assert!(waiting.join().unwrap());
        assert_eq!(group.count(), 1);
    });
}

#[test]
fn wait_group_clones_share_the_count() {
    setup();
    let group = WaitGroup::new();
    let clone = group.clone();
    group.add(3);
    assert_eq!(clone.count(), 3);
    clone.done().unwrap();
    assert_eq!(group.count(), 2);
}

#[test]
fn wait_group_timed_out_waits_leave_no_waiter_behind() {
    setup();
    within(LIMIT, || {
        let group = WaitGroup::new();
        group.add(1);
        let waiter = group.clone();
        // Well past the ~600 leftovers that overflow a coroutine's stack with may's SyncFlag.
        runtime::spawn(move || {
            for _ in 0..2_000 {
                assert!(!waiter.wait(Some(Duration::from_micros(20))));
            }
        })
        .join()
        .unwrap();
        assert_eq!(group.waiters(), 0);
        let waiter = group.clone();
        let waiting = runtime::spawn(move || waiter.wait(None));
        eventually(LIMIT, "the coroutine waits", || group.waiters() == 1);
        group.done().unwrap();
        assert!(waiting.join().unwrap());
        assert_eq!(group.waiters(), 0);
    });
}
