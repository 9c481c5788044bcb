//! The wait queue under the latch.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{LIMIT, eventually, setup, within};
use coordinator::{WaitList, WaitOutcome};

#[test]
fn ready_condition_returns_without_parking() {
    let list = WaitList::new();
    assert_eq!(list.wait(None, || true), WaitOutcome::Ready);
    assert!(list.is_empty());
}

#[test]
fn passed_deadline_times_out_without_parking() {
    let list = WaitList::new();
    let outcome = list.wait(Some(Instant::now()), || false);
    assert_eq!(outcome, WaitOutcome::TimedOut);
    assert!(list.is_empty());
}

#[test]
fn notify_one_wakes_the_longest_waiting_first() {
    setup();
    let list = Arc::new(WaitList::new());
    let (woke, order) = mpsc::channel();
    let mut handles = Vec::new();
    for n in 0..3 {
        let (waiters, woke) = (Arc::clone(&list), woke.clone());
        // Each waiter registers before the next starts, so arrival order is 0, 1, 2.
        handles.push(may::go!(move || {
            assert_eq!(waiters.wait(None, || false), WaitOutcome::Notified);
            woke.send(n).unwrap();
        }));
        eventually(LIMIT, "the waiter parks", || list.len() == n + 1);
    }
    for expected in 0..3 {
        assert!(list.notify_one());
        assert_eq!(order.recv_timeout(LIMIT).unwrap(), expected);
    }
    assert!(!list.notify_one(), "nobody is left to wake");
    within(LIMIT, move || {
        handles.into_iter().for_each(|h| h.join().unwrap())
    });
}

#[test]
fn notify_one_skips_a_waiter_that_timed_out() {
    let list = Arc::new(WaitList::new());
    let timed = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || {
            list.wait(Some(Instant::now() + Duration::from_millis(1)), || false)
        })
    };
    assert_eq!(
        within(LIMIT, move || timed.join().unwrap()),
        WaitOutcome::TimedOut
    );
    let patient = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || list.wait(None, || false))
    };
    eventually(LIMIT, "the patient waiter parks", || list.len() == 1);
    assert!(list.notify_one());
    assert_eq!(
        within(LIMIT, move || patient.join().unwrap()),
        WaitOutcome::Notified
    );
}

#[test]
fn notify_all_counts_the_waiters_it_woke() {
    let list = Arc::new(WaitList::new());
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let list = Arc::clone(&list);
            std::thread::spawn(move || list.wait(None, || false))
        })
        .collect();
    eventually(LIMIT, "all four park", || list.len() == 4);
    assert_eq!(list.notify_all(), 4);
    for waiter in waiters {
        assert_eq!(
            within(LIMIT, move || waiter.join().unwrap()),
            WaitOutcome::Notified
        );
    }
    assert!(list.is_empty());
}
