//! A worker's admission of new coroutines against its stop: every coroutine `spawn` accepted is
//! one the stop waits for (or cancels); none runs on unseen after the pool reports it stopped.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{LIMIT, setup, within};
use coordinator::Coordinator;
use runtime::{WorkerError, Workers};

/// Counts a coroutine finished when it is dropped in a coroutine: on return and on a
/// cancellation's unwind. A refused spawn drops it on the spawning thread, uncounted.
struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        if runtime::in_coroutine() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One round: `spawners` threads spawn coroutines (each blocked on a latch nobody resumes) on
/// worker 0 until it refuses, while the pool shuts down at once. Returns (accepted, finished
/// by the time `wait` returned, the report's abandoned count).
fn spawn_against_shutdown(spawners: usize) -> (usize, usize, usize) {
    let pool = Workers::<()>::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .start()
        .unwrap();
    assert!(pool.worker_start().yield_timeout(LIMIT));
    let worker = pool.worker(0).unwrap();
    let never = Coordinator::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(std::sync::Barrier::new(spawners + 1));
    let threads: Vec<_> = (0..spawners)
        .map(|_| {
            let (worker, never) = (worker.clone(), never.clone());
            let (accepted, finished, go) = (accepted.clone(), finished.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                loop {
                    let (never, finished) = (never.clone(), Finished(finished.clone()));
                    match worker.spawn(move || {
                        let _finished = finished;
                        never.r#yield();
                    }) {
                        Ok(_) => accepted.fetch_add(1, Ordering::SeqCst),
                        Err(WorkerError::NotAccepting) => return,
                        Err(other) => panic!("spawn failed: {other}"),
                    };
                }
            })
        })
        .collect();
    go.wait();
    pool.shutdown_now();
    let report = pool.wait();
    let finished_at_wait = finished.load(Ordering::SeqCst);
    for thread in threads {
        thread.join().unwrap();
    }
    (
        accepted.load(Ordering::SeqCst),
        finished_at_wait,
        report.abandoned,
    )
}

#[test]
fn every_coroutine_a_worker_accepted_is_finished_when_its_stop_reports() {
    setup();
    within(LIMIT * 3, || {
        for round in 0..20 {
            let (accepted, finished, abandoned) = spawn_against_shutdown(3);
            assert_eq!(abandoned, 0, "round {round}");
            assert_eq!(finished, accepted, "round {round}");
        }
    });
}
