//! Concurrent: the caller waits while `limit` tasks run; panics free their slots.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LIMIT, setup, within};
use runtime::{Channel, Concurrent};

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn concurrent_create_waits_while_limit_tasks_run() {
    setup();
    // Hyperf's test (limit 10, 15 tasks) with tasks that end when given a token instead of
    // after 100 ms: five tokens are there from the start, so the create loop can only finish
    // once exactly five tasks have ended.
    within(LIMIT, || {
        let concurrent = Concurrent::new(10);
        let tokens = Channel::new(15);
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            tokens.push((), None).unwrap();
        }
        for _ in 0..15 {
            let (tokens, done) = (tokens.clone(), Arc::clone(&done));
            concurrent.create(move || {
                tokens.pop(None).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(done.load(Ordering::SeqCst), 5);
        assert_eq!(concurrent.length(), 10);
        assert!(concurrent.is_full());
        assert!(!concurrent.is_empty());

        for _ in 0..10 {
            tokens.push((), None).unwrap();
        }
        assert!(concurrent.wait_idle(None));
        assert_eq!(done.load(Ordering::SeqCst), 15);
        assert_eq!(concurrent.length(), 0);
        assert!(concurrent.is_empty());
        assert!(!concurrent.is_full());
    });
}

#[test]
fn concurrent_panicking_tasks_free_their_slots() {
    setup();
    within(LIMIT, || {
        let concurrent = Concurrent::new(2);
        let ran = Arc::new(AtomicUsize::new(0));
        // Every task panics; with one leaked slot the third create would wait for ever.
        for n in 0..10 {
            let ran = Arc::clone(&ran);
            concurrent.create(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                panic!("task {n} failed");
            });
        }
        assert!(concurrent.wait_idle(None));
        assert_eq!(ran.load(Ordering::SeqCst), 10);
        assert!(concurrent.is_empty());
    });
}

#[test]
fn concurrent_wait_idle_times_out_while_a_task_runs() {
    setup();
    within(LIMIT, || {
        let concurrent = Concurrent::new(1);
        let gate = Channel::new(1);
        let opened = gate.clone();
        concurrent.create(move || opened.pop(None).unwrap());
        assert!(!concurrent.wait_idle(Some(SHORT)));
        assert!(!concurrent.wait_idle(Some(Duration::ZERO)));
        assert_eq!(concurrent.length(), 1);
        gate.push((), None).unwrap();
        assert!(concurrent.wait_idle(None));
    });
}

#[test]
fn concurrent_wait_idle_on_no_task_returns_true_at_once() {
    setup();
    let concurrent = Concurrent::new(3);
    assert!(concurrent.wait_idle(Some(Duration::ZERO)));
    assert_eq!(concurrent.limit(), 3);
}

#[test]
fn concurrent_limit_zero_is_treated_as_one() {
    setup();
    assert_eq!(Concurrent::new(0).limit(), 1);
}

#[test]
fn concurrent_clones_share_limit_and_tasks() {
    setup();
    within(LIMIT, || {
        let concurrent = Concurrent::new(1);
        let clone = concurrent.clone();
        let gate = Channel::new(1);
        let opened = gate.clone();
        concurrent.create(move || opened.pop(None).unwrap());
        assert!(clone.is_full());
        gate.push((), None).unwrap();
        assert!(clone.wait_idle(None));
    });
}

#[test]
fn concurrent_create_from_a_coroutine_parks_it_while_full() {
    setup();
    within(LIMIT, || {
        let concurrent = Concurrent::new(1);
        let gate = Channel::new(1);
        let opened = gate.clone();
        concurrent.create(move || opened.pop(None).unwrap());
        let creator = {
            let concurrent = concurrent.clone();
            runtime::spawn(move || {
                concurrent.create(|| {});
                "created"
            })
        };
        // The coroutine cannot create while the first task holds the only slot.
        assert!(!concurrent.wait_idle(Some(SHORT)));
        assert!(!creator.is_finished());
        gate.push((), None).unwrap();
        assert_eq!(creator.join().unwrap(), "created");
        assert!(concurrent.wait_idle(None));
    });
}
