//! `runtime::block_on`: futures of async crates, run on tokio, awaited from coroutines.
#![cfg(feature = "tokio")]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, setup, within};

/// Signals on its channel when dropped: shows that a future was dropped.
struct SignalsDrop(mpsc::Sender<()>);

impl Drop for SignalsDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A future that signals `polled` when first polled and never finishes; drops `guard` when
/// dropped.
async fn pending_until_dropped(polled: mpsc::Sender<()>, guard: SignalsDrop) {
    let _guard = guard;
    let _ = polled.send(());
    std::future::pending::<()>().await;
}

#[test]
fn block_on_returns_a_ready_futures_output_in_a_coroutine() {
    setup();
    let handle = runtime::spawn(|| runtime::block_on(async { 6 * 7 }));
    assert_eq!(within(LIMIT, move || handle.join().unwrap()), 42);
}

#[test]
fn block_on_returns_the_output_of_a_future_woken_by_a_tokio_task() {
    setup();
    let handle = runtime::spawn(|| {
        runtime::block_on(async {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            tokio::spawn(async move { sender.send("woken").unwrap() });
            receiver.await.unwrap()
        })
    });
    assert_eq!(within(LIMIT, move || handle.join().unwrap()), "woken");
}

#[test]
fn block_on_parks_the_coroutine_not_its_thread() {
    setup();
    within(LIMIT, || {
        // More waiting coroutines than may worker threads (two): if a wait held its thread,
        // the coroutine that releases them could never run.
        let (release, released) = tokio::sync::watch::channel(false);
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let mut released = released.clone();
                runtime::spawn(move || {
                    runtime::block_on(async move {
                        released.wait_for(|go| *go).await.unwrap();
                    })
                })
            })
            .collect();
        runtime::spawn(move || release.send(true).unwrap())
            .join()
            .unwrap();
        for handle in waiting {
            handle.join().unwrap();
        }
    });
}

#[test]
fn block_on_from_an_os_thread_blocks_it_until_the_future_is_done() {
    setup();
    let output = within(LIMIT, || {
        runtime::block_on(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            "slept"
        })
    });
    assert_eq!(output, "slept");
}

#[test]
fn block_on_on_a_tokio_worker_thread_panics_saying_why() {
    setup();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let message = within(LIMIT, move || {
        tokio.block_on(async {
            tokio::spawn(async {
                let error = catch_unwind(|| runtime::block_on(async { 1 })).unwrap_err();
                runtime::panic_message(&error).to_owned()
            })
            .await
            .unwrap()
        })
    });
    assert!(message.contains("thread of a tokio runtime"), "{message}");
    assert!(message.contains(".await"), "{message}");
}

#[test]
fn a_cancelled_block_on_drops_its_future() {
    setup();
    let (polled, was_polled) = mpsc::channel();
    let (dropped, was_dropped) = mpsc::channel();
    let handle = runtime::spawn(move || {
        runtime::block_on(pending_until_dropped(polled, SignalsDrop(dropped)));
    });
    was_polled.recv_timeout(LIMIT).unwrap();
    // SAFETY: the coroutine holds nothing but the future's guard.
    unsafe { handle.cancel() };
    was_dropped.recv_timeout(LIMIT).unwrap();
    let error = within(LIMIT, move || handle.join().unwrap_err());
    assert!(runtime::is_cancelled(&error));
}

#[test]
fn a_panic_in_the_future_is_a_panic_of_the_calling_coroutine() {
    setup();
    let handle = runtime::spawn(|| {
        runtime::block_on(async {
            tokio::task::yield_now().await;
            panic!("the future broke")
        })
    });
    let error = within(LIMIT, move || handle.join().unwrap_err());
    assert!(!runtime::is_cancelled(&error));
    assert_eq!(runtime::panic_message(&error), "the future broke");
}

#[test]
fn block_on_works_after_a_future_panicked() {
    setup();
    within(LIMIT, || {
        for _ in 0..4 {
            let panicked = catch_unwind(AssertUnwindSafe(|| {
                runtime::block_on(async {
                    tokio::task::yield_now().await;
                    panic!("again")
                })
            }));
            assert!(panicked.is_err());
        }
        let output = runtime::spawn(|| {
            runtime::block_on(async {
                tokio::task::yield_now().await;
                "still running"
            })
        })
        .join()
        .unwrap();
        assert_eq!(output, "still running");
    });
}

#[test]
fn block_on_timeout_drops_a_late_future_and_reports_elapsed() {
    setup();
    let (polled, _was_polled) = mpsc::channel();
    let (dropped, was_dropped) = mpsc::channel();
    let handle = runtime::spawn(move || {
        runtime::block_on_timeout(
            pending_until_dropped(polled, SignalsDrop(dropped)),
            Duration::from_millis(5),
        )
    });
    let outcome = within(LIMIT, move || handle.join().unwrap());
    assert_eq!(outcome, Err(runtime::bridge::Elapsed));
    was_dropped.recv_timeout(LIMIT).unwrap();
}

#[test]
fn block_on_timeout_returns_a_future_done_in_time() {
    setup();
    let handle = runtime::spawn(|| {
        runtime::block_on_timeout(
            async {
                tokio::task::yield_now().await;
                1
            },
            LIMIT,
        )
    });
    assert_eq!(within(LIMIT, move || handle.join().unwrap()), Ok(1));
}

#[test]
fn a_worker_pool_drain_drops_the_future_of_a_waiting_block_on() {
    setup();
    let (polled, was_polled) = mpsc::channel();
    let (dropped, was_dropped) = mpsc::channel();
    let pool = runtime::Workers::<()>::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .max_wait_time(Duration::from_millis(1))
        .start()
        .unwrap();
    assert!(
        pool.worker_start().yield_timeout(LIMIT),
        "the worker started"
    );
    pool.worker(0)
        .unwrap()
        .spawn(move || runtime::block_on(pending_until_dropped(polled, SignalsDrop(dropped))))
        .unwrap();
    was_polled.recv_timeout(LIMIT).unwrap();
    pool.shutdown();
    let report = within(LIMIT, move || pool.wait());
    assert_eq!((report.cancelled, report.abandoned), (1, 0));
    was_dropped.recv_timeout(LIMIT).unwrap();
}
