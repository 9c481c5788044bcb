//! The experiment behind `coordinator`'s handling of cancelled waits: may 0.3.51 alone, no code
//! of this workspace. A coroutine parks on a `may::sync::Blocker` it owns; one thread unparks it
//! while another cancels it. Now and then the coroutine never finishes and its worker thread
//! spins at 100 % CPU for good:
//!
//! 1. The unpark lands between the coroutine's switch out and may's `Park::subscribe`. Seeing
//!    it, `subscribe` runs the coroutine again at once, *inside itself*, while its guard keeps
//!    the park's `wait_kernel` flag set (it is cleared when `subscribe` returns).
//! 2. The cancel flag is set by then, so the resumed park raises the cancellation, and the
//!    coroutine unwinds, dropping the `Blocker` — the last reference — on the way.
//! 3. `Park::drop` waits for `wait_kernel` to clear with `yield_now()`. In a cancelled
//!    coroutine may's `yield_with` does not switch out ("cancel detected in user space"), so
//!    the loop never lets `subscribe`, lower on the same thread's stack, return: it spins.
//!
//! Run it with `cargo test -p hyperf-runtime --test may_cancel_spin -- --ignored`; it passes
//! when the spin is reproduced (and leaves a worker thread spinning until the process ends).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const ROUNDS: usize = 100_000;

#[test]
#[ignore = "an experiment on may itself: it leaves a worker thread spinning when it succeeds"]
fn may_spins_when_a_cancelled_coroutine_drops_the_park_it_was_woken_through() {
    may::config().set_workers(2).set_worker_pin(false);
    let start = Arc::new(Barrier::new(2));
    let (blockers, to_wake) = mpsc::channel::<Arc<may::sync::Blocker>>();
    let waker = {
        let start = Arc::clone(&start);
        std::thread::spawn(move || {
            for blocker in to_wake {
                start.wait();
                blocker.unpark();
            }
        })
    };
    for round in 0..ROUNDS {
        let (parked, is_parked) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        // SAFETY: the coroutine holds a blocker and a channel sender, both fine to unwind.
        let handle = unsafe {
            may::coroutine::spawn(move || {
                struct Finished(Arc<AtomicBool>);
                impl Drop for Finished {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::Release);
                    }
                }
                let _finished = Finished(done);
                let blocker = Arc::new(may::sync::Blocker::new(false));
                parked.send(Arc::clone(&blocker)).unwrap();
                let _ = blocker.park(None);
                // Dropped here (or while unwinding): the waker thread has let go of its clone.
            })
        };
        let blocker = is_parked.recv().unwrap();
        blockers.send(blocker).unwrap();
        start.wait();
        // SAFETY: as above.
        unsafe { handle.coroutine().cancel() };
        let (joined, has_joined) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = handle.join();
            let _ = joined.send(());
        });
        let cpu_before = cpu_seconds();
        if has_joined.recv_timeout(Duration::from_secs(10)).is_err() {
            println!(
                "round {round}: the coroutine did not finish in 10 s (its end ran: {}); the \
                 process used {:.1} s of CPU meanwhile",
                finished.load(Ordering::Acquire),
                cpu_seconds() - cpu_before
            );
            return;
        }
    }
    drop(blockers);
    waker.join().unwrap();
    panic!("not reproduced in {ROUNDS} rounds");
}

/// The CPU time of the process so far (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
