//! `WorkerPool::accepting`: the latch a host waits on while no worker takes work.
//!
//! Each test holds the pool between two lives of its only worker by blocking in a callback of
//! the old life's stop, so the state is fixed while the test looks at it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{LIMIT, setup};
use coordinator::Coordinator;
use runtime::{Worker, WorkerPool, Workers};

/// A one-worker pool whose `on_worker_exit` of generation 0 resumes `entered` and then waits
/// for `release`.
fn held_at_first_exit(entered: &Coordinator, release: &Coordinator) -> WorkerPool<()> {
    setup();
    let (entered, release) = (entered.clone(), release.clone());
    let once = Arc::new(AtomicBool::new(false));
    let pool = Workers::<()>::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .on_worker_exit(move |worker: &Worker<()>| {
            if worker.generation() == 0 && !once.swap(true, Ordering::SeqCst) {
                entered.resume();
                release.yield_timeout(LIMIT);
            }
        })
        .start()
        .unwrap();
    assert!(pool.worker_start().yield_timeout(LIMIT));
    pool
}

#[test]
fn accepting_is_resumed_while_a_worker_accepts() {
    let (entered, release) = (Coordinator::new(), Coordinator::new());
    let pool = held_at_first_exit(&entered, &release);
    assert!(pool.accepting().is_closing());
    pool.shutdown();
    release.resume();
    pool.wait();
}

#[test]
fn accepting_waits_while_the_only_worker_recycles_and_its_next_life_resumes_it() {
    let (entered, release) = (Coordinator::new(), Coordinator::new());
    let pool = held_at_first_exit(&entered, &release);
    pool.reload();
    assert!(entered.yield_timeout(LIMIT));

    let latch = pool.accepting();
    assert!(!latch.is_closing(), "no worker accepts between two lives");
    release.resume();
    assert!(latch.yield_timeout(LIMIT));
    let worker = pool.worker(0).unwrap();
    assert_eq!(worker.generation(), 1);
    assert!(worker.is_accepting());
    pool.shutdown();
    pool.wait();
}

#[test]
fn accepting_is_resumed_by_the_shutdown_when_no_worker_will_accept_again() {
    let (entered, release) = (Coordinator::new(), Coordinator::new());
    let pool = held_at_first_exit(&entered, &release);
    pool.shutdown();
    assert!(entered.yield_timeout(LIMIT));

    assert!(pool.accepting().is_closing());
    assert!(pool.worker_exit().is_closing());
    release.resume();
    pool.wait();
}
