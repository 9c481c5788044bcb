//! The offload pool's bounds and shutdown, on a pool of two threads and a queue of two, in a
//! process of its own (the pool is process-wide). The tests share the pool, so they take turns.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, eventually, within};
use parking_lot::Mutex;
use runtime::OffloadError;

static TURN: Mutex<()> = Mutex::new(());

fn setup() {
    let _ = runtime::configure(
        runtime::Config::default()
            .workers(2)
            .offload_threads(2)
            .offload_queue(2),
    );
    // Starts the scheduler, which fixes the configuration above.
    runtime::spawn(|| ()).join().unwrap();
}

/// Occupies both pool threads until the returned senders are dropped or sent to; returns once
/// both closures run.
fn occupy_the_threads() -> Vec<mpsc::Sender<()>> {
    let (started, has_started) = mpsc::channel();
    let gates: Vec<_> = (0..2)
        .map(|_| {
            let (open, gate) = mpsc::channel::<()>();
            let started = started.clone();
            std::thread::spawn(move || {
                runtime::offload(move || {
                    started.send(()).unwrap();
                    let _ = gate.recv();
                })
                .unwrap()
            });
            open
        })
        .collect();
    for _ in 0..2 {
        has_started.recv_timeout(LIMIT).unwrap();
    }
    gates
}

#[test]
fn a_full_queue_makes_the_caller_wait_until_the_timeout() {
    let _turn = TURN.lock();
    setup();
    within(LIMIT, || {
        let gates = occupy_the_threads();
        // Fill the queue (two closures) from coroutines that wait for them.
        let queued: Vec<_> = (0..2)
            .map(|n| runtime::spawn(move || runtime::offload(move || n)))
            .collect();
        eventually(LIMIT, "both closures are queued", || {
            runtime::offload::queued() == 2
        });
        let full = runtime::spawn(|| runtime::offload_timeout(|| 3, Duration::from_millis(5)));
        assert!(matches!(full.join().unwrap(), Err(OffloadError::QueueFull)));
        drop(gates);
        let values: Vec<_> = queued
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert_eq!(values, [0, 1]);
    });
}

#[test]
fn a_caller_waiting_for_room_gets_in_when_the_queue_drains() {
    let _turn = TURN.lock();
    setup();
    within(LIMIT, || {
        let gates = occupy_the_threads();
        let callers: Vec<_> = (0..4)
            .map(|n| runtime::spawn(move || runtime::offload(move || n)))
            .collect();
        eventually(LIMIT, "the queue is full", || {
            runtime::offload::queued() == 2
        });
        drop(gates);
        let values: Vec<_> = callers
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert_eq!(values, [0, 1, 2, 3]);
    });
}

#[test]
fn a_queued_closure_of_a_timed_out_caller_never_runs() {
    let _turn = TURN.lock();
    setup();
    within(LIMIT, || {
        let gates = occupy_the_threads();
        let (ran, has_run) = mpsc::channel();
        let outcome =
            runtime::offload_timeout(move || ran.send(()).unwrap(), Duration::from_millis(5));
        assert!(matches!(outcome, Err(OffloadError::Timeout)));
        drop(gates);
        // The skipped closure was marked before the threads were freed: it never runs, and
        // its sender is dropped unused once a thread has taken it off the queue.
        eventually(LIMIT, "the queue is empty", || {
            runtime::offload::queued() == 0
        });
        runtime::offload(|| ()).unwrap();
        assert!(has_run.try_recv().is_err());
    });
}

#[test]
fn shutdown_runs_the_queued_closures_then_joins_the_threads() {
    let _turn = TURN.lock();
    setup();
    within(LIMIT, || {
        let gates = occupy_the_threads();
        let queued: Vec<_> = (0..2)
            .map(|n| runtime::spawn(move || runtime::offload(move || n)))
            .collect();
        eventually(LIMIT, "both closures are queued", || {
            runtime::offload::queued() == 2
        });
        let shutdown = std::thread::spawn(runtime::offload::shutdown);
        drop(gates);
        assert_eq!(shutdown.join().unwrap(), 2);
        let values: Vec<_> = queued
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert_eq!(values, [0, 1]);
        assert_eq!(runtime::offload::queued(), 0);
    });
}

#[test]
fn an_offload_after_shutdown_starts_a_new_pool() {
    let _turn = TURN.lock();
    setup();
    within(LIMIT, || {
        runtime::offload(|| ()).unwrap();
        assert_eq!(runtime::offload::shutdown(), 2);
        assert_eq!(runtime::offload::shutdown(), 0, "nothing left to join");
        let name = runtime::offload(|| std::thread::current().name().map(str::to_owned));
        assert!(name.unwrap().unwrap().starts_with("hyperf-offload-"));
    });
}
