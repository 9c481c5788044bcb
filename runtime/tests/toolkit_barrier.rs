//! Barrier: waiting until every token is dropped.

mod common;

use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use runtime::{Barrier, Channel};

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn barrier_wait_returns_once_every_token_is_dropped() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        let gate = Channel::new(3);
        for _ in 0..3 {
            let (token, gate) = (barrier.token(), gate.clone());
            runtime::spawn(move || {
                gate.pop(None).unwrap();
                drop(token);
            });
        }
        assert_eq!(barrier.holders(), 3);
        assert!(!barrier.wait(Some(SHORT)));
        for _ in 0..3 {
            gate.push((), None).unwrap();
        }
        assert!(barrier.wait(None));
        assert_eq!(barrier.holders(), 0);
    });
}

#[test]
fn barrier_wait_without_tokens_returns_true_at_once() {
    setup();
    let barrier = Barrier::new();
    assert!(barrier.wait(Some(Duration::ZERO)));
}

#[test]
fn barrier_cloned_tokens_count_as_holders() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        let token = barrier.token();
        let clone = token.clone();
        assert_eq!(barrier.holders(), 2);
        drop(token);
        assert!(!barrier.wait(Some(SHORT)), "the clone is still held");
        drop(clone);
        assert!(barrier.wait(Some(Duration::ZERO)));
    });
}

#[test]
fn barrier_wait_times_out_while_a_token_is_held() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        let _held = barrier.token();
        assert!(!barrier.wait(Some(SHORT)));
        let waiter = barrier.clone();
        assert!(
            !runtime::spawn(move || waiter.wait(Some(Duration::from_micros(100))))
                .join()
                .unwrap()
        );
        assert_eq!(barrier.waiters(), 0);
    });
}

#[test]
fn barrier_parks_a_coroutine_until_a_thread_drops_its_token() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        let token = barrier.token();
        let waiter = barrier.clone();
        let waiting = runtime::spawn(move || waiter.wait(None));
        eventually(LIMIT, "the coroutine waits", || barrier.waiters() == 1);
        std::thread::spawn(move || drop(token)).join().unwrap();
        assert!(waiting.join().unwrap());
    });
}

#[test]
fn barrier_token_of_a_panicking_coroutine_is_dropped_too() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        let token = barrier.token();
        let panicked = runtime::spawn(move || {
            let _token = token;
            panic!("the holder failed");
        });
        assert!(panicked.join().is_err());
        assert!(barrier.wait(None));
    });
}

#[test]
fn barrier_can_be_used_for_another_round() {
    setup();
    within(LIMIT, || {
        let barrier = Barrier::new();
        for _ in 0..3 {
            let tokens: Vec<_> = (0..4).map(|_| barrier.token()).collect();
            for token in tokens {
                runtime::spawn(move || drop(token));
            }
            assert!(barrier.wait(None));
        }
    });
}
