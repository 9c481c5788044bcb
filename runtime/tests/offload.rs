//! `runtime::offload`: blocking closures on a pool of OS threads, awaited from coroutines.

mod common;

use std::sync::mpsc;

use common::{LIMIT, setup, within};

#[test]
fn offload_returns_the_closures_value() {
    setup();
    let handle = runtime::spawn(|| runtime::offload(|| 6 * 7));
    assert_eq!(within(LIMIT, move || handle.join().unwrap().unwrap()), 42);
}

#[test]
fn offload_runs_the_closure_on_a_named_pool_thread() {
    setup();
    let handle =
        runtime::spawn(|| runtime::offload(|| std::thread::current().name().map(str::to_owned)));
    let name = within(LIMIT, move || handle.join().unwrap().unwrap()).unwrap();
    assert!(name.starts_with("hyperf-offload-"), "{name}");
}

#[test]
fn a_panic_in_an_offloaded_closure_comes_back_as_join_reports_one() {
    setup();
    let handle = runtime::spawn(|| runtime::offload(|| -> u8 { panic!("the query broke") }));
    let error = within(LIMIT, move || handle.join().unwrap().unwrap_err());
    assert!(!runtime::is_cancelled(&error));
    assert_eq!(runtime::panic_message(&error), "the query broke");
    // The pool goes on.
    assert_eq!(within(LIMIT, || runtime::offload(|| 1).unwrap()), 1);
}

#[test]
fn offload_parks_the_coroutine_not_its_thread() {
    setup();
    within(LIMIT, || {
        // More callers blocked in their closures than may worker threads (two): if a caller
        // held its thread, the coroutine that releases them could never run.
        let (release, released) = crossbeam_free_gate(8);
        let waiting: Vec<_> = released
            .into_iter()
            .map(|gate| runtime::spawn(move || runtime::offload(move || gate.recv().unwrap())))
            .collect();
        runtime::spawn(move || release.into_iter().for_each(|r| r.send(()).unwrap()))
            .join()
            .unwrap();
        for handle in waiting {
            handle.join().unwrap().unwrap();
        }
    });
}

/// `n` one-message gates: the senders open them, the receivers wait at them.
fn crossbeam_free_gate(n: usize) -> (Vec<mpsc::Sender<()>>, Vec<mpsc::Receiver<()>>) {
    (0..n).map(|_| mpsc::channel()).unzip()
}

#[test]
fn offload_from_an_os_thread_blocks_it_until_the_closure_returns() {
    setup();
    let name = within(LIMIT, || {
        runtime::offload(|| std::thread::current().name().map(str::to_owned)).unwrap()
    });
    assert!(name.unwrap().starts_with("hyperf-offload-"));
}

#[test]
fn a_cancelled_offload_caller_leaves_while_its_closure_runs_on() {
    setup();
    let (started, has_started) = mpsc::channel();
    let (finish, may_finish) = mpsc::channel::<()>();
    let (finished, has_finished) = mpsc::channel();
    let handle = runtime::spawn(move || {
        runtime::offload(move || {
            started.send(()).unwrap();
            may_finish.recv().unwrap();
            finished.send(()).unwrap();
        })
    });
    has_started.recv_timeout(LIMIT).unwrap();
    // SAFETY: the coroutine holds nothing but its wait.
    unsafe { handle.cancel() };
    let error = within(LIMIT, move || handle.join().unwrap_err());
    assert!(runtime::is_cancelled(&error));
    // The closure was still running all along: threads cannot be interrupted.
    finish.send(()).unwrap();
    has_finished.recv_timeout(LIMIT).unwrap();
}

#[test]
fn a_worker_pool_drain_releases_a_coroutine_waiting_for_offload() {
    setup();
    let (started, has_started) = mpsc::channel();
    let (finish, may_finish) = mpsc::channel::<()>();
    let pool = runtime::Workers::<()>::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .max_wait_time(std::time::Duration::from_millis(1))
        .start()
        .unwrap();
    assert!(
        pool.worker_start().yield_timeout(LIMIT),
        "the worker started"
    );
    let handle = pool
        .worker(0)
        .unwrap()
        .spawn(move || {
            runtime::offload(move || {
                started.send(()).unwrap();
                let _ = may_finish.recv();
            })
        })
        .unwrap();
    has_started.recv_timeout(LIMIT).unwrap();
    pool.shutdown();
    let report = within(LIMIT, move || pool.wait());
    assert_eq!((report.cancelled, report.abandoned), (1, 0));
    assert!(runtime::is_cancelled(&handle.join().unwrap_err()));
    drop(finish);
}
