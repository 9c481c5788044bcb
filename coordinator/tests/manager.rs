//! The process-wide registry of named coordinators.

mod common;

use std::sync::{Arc, Barrier};

use common::{LIMIT, eventually, setup, within};
use coordinator::CoordinatorManager;

#[test]
fn until_gives_every_thread_the_same_coordinator() {
    const THREADS: usize = 16;
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait(); // all look the name up for the first time at once
                CoordinatorManager::until("manager-test-same-everywhere")
            })
        })
        .collect();
    let handles: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(handles.iter().all(|h| h.ptr_eq(&handles[0])));
    handles[0].resume();
    assert!(CoordinatorManager::until("manager-test-same-everywhere").is_closing());
}

#[test]
fn until_gives_coroutines_the_same_coordinator() {
    setup();
    let from_thread = CoordinatorManager::until("manager-test-coroutines");
    let from_coroutines: Vec<_> = (0..32)
        .map(|_| may::go!(|| CoordinatorManager::until("manager-test-coroutines")))
        .collect();
    for handle in from_coroutines {
        assert!(handle.join().unwrap().ptr_eq(&from_thread));
    }
}

#[test]
fn different_names_are_different_coordinators() {
    let a = CoordinatorManager::until("manager-test-a");
    let b = CoordinatorManager::until("manager-test-b");
    assert!(!a.ptr_eq(&b));
    a.resume();
    assert!(!b.is_closing());
}

#[test]
fn clear_hands_back_the_old_coordinator_and_until_makes_a_fresh_one() {
    let name = "manager-test-clear";
    let old = CoordinatorManager::until(name);
    let waiter = {
        let old = old.clone();
        std::thread::spawn(move || old.r#yield())
    };
    eventually(LIMIT, "the waiter parks", || old.waiters() == 1);

    let cleared = CoordinatorManager::clear(name).expect("the name was registered");
    assert!(cleared.ptr_eq(&old));
    let fresh = CoordinatorManager::until(name);
    assert!(!fresh.ptr_eq(&old));
    assert!(!fresh.is_closing());

    // The cleared handle still works: resuming it releases its waiters, not the fresh one.
    cleared.resume();
    assert!(within(LIMIT, move || waiter.join().unwrap()));
    assert!(!fresh.is_closing());
}

#[test]
fn clear_is_seen_by_threads_that_cached_the_name() {
    let name = "manager-test-clear-cached";
    let before = CoordinatorManager::until(name);
    let other_thread_before = std::thread::spawn(move || CoordinatorManager::until(name));
    assert!(other_thread_before.join().unwrap().ptr_eq(&before));
    // This thread has the name cached; clear must invalidate that cache.
    CoordinatorManager::clear(name);
    assert!(!CoordinatorManager::until(name).ptr_eq(&before));
}

#[test]
fn clear_of_an_unknown_name_returns_none() {
    assert!(CoordinatorManager::clear("manager-test-never-registered").is_none());
}
