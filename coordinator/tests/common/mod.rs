//! Shared set-up for the integration tests.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::sync::Once;
use std::time::Duration;

pub use test_support::{eventually, within};

/// Configures may once per test binary, before its first coroutine: two workers, no pinning
/// (pinned workers on a shared machine make timings erratic).
pub fn setup() {
    static CONFIGURE: Once = Once::new();
    CONFIGURE.call_once(|| {
        may::config().set_workers(2).set_worker_pin(false);
    });
}

/// A generous bound for things that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(20);
