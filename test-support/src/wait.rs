//! Bounded waits: a lost wake-up or a hang shows as a failed test, not as a stuck test run.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `f` on a thread of its own and returns its value; fails the test (at the caller's
/// line) if `f` has not finished within `limit`, and goes on with `f`'s panic if it panicked.
/// A thread that overruns is abandoned.
#[track_caller]
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match finished.recv_timeout(limit) {
        Ok(value) => {
            runner
                .join()
                .expect("the thread sent its value, so it did not panic");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the thread ended without sending its value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

/// Polls `condition` every millisecond until it holds; fails the test (at the caller's line)
/// after `limit`, naming `what` it waited for. For states that nothing signals (a counter of
/// another process, a socket's state); prefer a latch or a channel where there is one.
#[track_caller]
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
