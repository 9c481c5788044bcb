//! Shared set-up for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Configures the runtime for tests: two workers (the default leaves workers unpinned). Every
/// test calls it; only the first call of a test binary can take effect.
pub fn setup() {
    let _ = runtime::configure(runtime::Config::default().workers(2));
}

/// Runs `f` on its own thread and fails the test if it has not finished within `limit`: a
/// lost wake-up shows as a failure, not as a hung test run.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match finished.recv_timeout(limit) {
        Ok(value) => {
            runner.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

/// Polls `condition` (every millisecond) until it holds; fails the test after `limit`.
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A generous bound for things that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(20);
