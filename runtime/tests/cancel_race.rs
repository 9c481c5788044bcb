//! may's cancel racing a wake-up: a coroutine cancelled just as its park is woken must still
//! end, and leave nothing running.
//!
//! What spun (may 0.3.51; `may_cancel_spin.rs` reproduces it with may alone): an unpark that
//! lands just as a coroutine parks makes may resume it inside the park's `subscribe`, which
//! holds the park's `wait_kernel` flag until it returns. A coroutine cancelled meanwhile unwinds
//! from there, or ends there, and if the last reference to that park is dropped on that stack —
//! a `WaitList` cell's blocker, or the coroutine's own handle when it ends — `Park::drop` waits
//! for the flag forever with a `yield_now()` that does not switch out (a cancelled coroutine's,
//! or the scheduler's own `sched_yield`). `coordinator` now drops a cancelled wait's cell on a
//! thread of its own, and `runtime` sends each coroutine's last handle to a reaper thread; before
//! that the three stress tests below hung within a few thousand rounds, with a worker thread at
//! 100 % CPU in `Park::drop`.
//!
//! Separately, `a_park_in_a_drop_of_a_cancelled_coroutine_returns_at_once` shows why nothing
//! may wait while a cancellation unwinds: every park there returns at once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

use common::{LIMIT, eventually, setup, within};

const ROUNDS: usize = 10_000;

/// Runs `round` on two threads at once, `ROUNDS` times: the first wakes, the second cancels.
fn race(wake: impl Fn(usize) + Send + Sync + 'static, mut cancel: impl FnMut(usize)) {
    let start = Arc::new(Barrier::new(2));
    let waker = {
        let start = Arc::clone(&start);
        std::thread::spawn(move || {
            for round in 0..ROUNDS {
                start.wait();
                wake(round);
            }
        })
    };
    for round in 0..ROUNDS {
        start.wait();
        cancel(round);
    }
    waker.join().unwrap();
}

#[test]
fn raw_may_park_woken_and_cancelled_at_once_ends() {
    setup();
    within(LIMIT * 3, || {
        let (sender, receiver) = std::sync::mpsc::channel();
        let handles: Arc<parking_lot::Mutex<Vec<Option<may::coroutine::JoinHandle<()>>>>> =
            Arc::new(parking_lot::Mutex::new((0..ROUNDS).map(|_| None).collect()));
        for round in 0..ROUNDS {
            let sender = sender.clone();
            // SAFETY: the coroutine holds nothing but a channel sender.
            let handle = unsafe {
                may::coroutine::spawn(move || {
                    let _ = sender.send(round);
                    may::coroutine::park();
                })
            };
            handles.lock()[round] = Some(handle);
        }
        for _ in 0..ROUNDS {
            receiver.recv().unwrap();
        }
        let wake_handles = Arc::clone(&handles);
        let cancel_handles = Arc::clone(&handles);
        race(
            move |round| {
                let guard = wake_handles.lock();
                let co = guard[round].as_ref().unwrap().coroutine().clone();
                drop(guard);
                co.unpark();
            },
            move |round| {
                let guard = cancel_handles.lock();
                let co = guard[round].as_ref().unwrap().coroutine().clone();
                drop(guard);
                // SAFETY: as above.
                unsafe { co.cancel() };
            },
        );
        for handle in handles.lock().iter_mut() {
            let _ = handle.take().unwrap().join();
        }
    });
}

#[test]
fn a_park_in_a_drop_of_a_cancelled_coroutine_returns_at_once() {
    setup();
    static PARKS: AtomicUsize = AtomicUsize::new(0);
    /// Parks 1,000 times when dropped; nobody ever unparks it.
    struct ParksInDrop(may::sync::Blocker);
    impl Drop for ParksInDrop {
        fn drop(&mut self) {
            for _ in 0..1_000 {
                let _ = self.0.park(None);
                PARKS.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let (waiting, is_waiting) = mpsc::channel();
    let handle = runtime::spawn(move || {
        let _parks = ParksInDrop(may::sync::Blocker::new(false));
        waiting.send(()).unwrap();
        coordinator::Coordinator::new().r#yield();
    });
    is_waiting.recv_timeout(LIMIT).unwrap();
    // SAFETY: the coroutine holds nothing a cancellation could leave inconsistent.
    unsafe { handle.cancel() };
    // Every one of the 1,000 parks returned without an unpark: a waiting loop there would spin.
    let error = within(LIMIT, move || handle.join().unwrap_err());
    assert!(runtime::is_cancelled(&error));
    assert_eq!(PARKS.load(Ordering::SeqCst), 1_000);
}

/// Spawns `ROUNDS` coroutines, one at a time, each running `wait` once it has said it runs;
/// races `wake(round)` against its cancel; then checks that every one finished and that no
/// coroutine of this crate is left running.
fn cancels_race_wake_ups<W, R>(wait: W, wake: impl Fn(usize) + Send + Sync + 'static)
where
    W: Fn(usize) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    setup();
    let wait = Arc::new(wait);
    let handles = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(ROUNDS)));
    let spawned = Arc::clone(&handles);
    let (running, is_running) = mpsc::channel();
    within(LIMIT * 3, move || {
        race(wake, move |round| {
            let (wait, running) = (Arc::clone(&wait), running.clone());
            let handle = runtime::spawn(move || {
                running.send(()).unwrap();
                wait(round)
            });
            is_running.recv().unwrap();
            // SAFETY: the waits hold nothing a cancellation could leave inconsistent.
            unsafe { handle.cancel() };
            spawned.lock().push(handle);
        });
    });
    let handles = std::mem::take(&mut *handles.lock());
    let (cancelled, ended) = within(LIMIT, move || {
        let mut cancelled = 0;
        for handle in handles {
            if handle.join().is_err() {
                cancelled += 1;
            }
        }
        (cancelled, ROUNDS)
    });
    println!("{cancelled} of {ended} coroutines were cancelled, the others woke first");
    eventually(LIMIT, "no coroutine of the crate is left running", || {
        runtime::stats().live == 0
    });
}

#[test]
fn ten_thousand_cancels_racing_coordinator_wake_ups_leave_nothing_running() {
    let latches: Arc<Vec<coordinator::Coordinator>> = Arc::new(
        (0..ROUNDS)
            .map(|_| coordinator::Coordinator::new())
            .collect(),
    );
    let waited = Arc::clone(&latches);
    cancels_race_wake_ups(
        move |round| {
            waited[round].r#yield();
        },
        move |round| latches[round].resume(),
    );
}

#[test]
fn ten_thousand_cancels_racing_offload_returns_leave_nothing_running() {
    let gates: Arc<Vec<coordinator::Coordinator>> = Arc::new(
        (0..ROUNDS)
            .map(|_| coordinator::Coordinator::new())
            .collect(),
    );
    let waited = Arc::clone(&gates);
    cancels_race_wake_ups(
        move |round| {
            let gate = waited[round].clone();
            runtime::offload(move || {
                gate.r#yield();
            })
        },
        move |round| gates[round].resume(),
    );
}

#[cfg(feature = "tokio")]
#[test]
fn ten_thousand_cancels_racing_block_on_wake_ups_leave_nothing_running() {
    let gates: Arc<Vec<coordinator::Coordinator>> = Arc::new(
        (0..ROUNDS)
            .map(|_| coordinator::Coordinator::new())
            .collect(),
    );
    let waited = Arc::clone(&gates);
    cancels_race_wake_ups(
        move |round| {
            let gate = waited[round].clone();
            runtime::block_on(async move {
                gate.resumed().await;
            })
        },
        move |round| gates[round].resume(),
    );
}
