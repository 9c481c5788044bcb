//! Shared set-up for the integration tests.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::time::Duration;

pub use test_support::{eventually, within};

/// Configures the runtime for tests: two workers (the default leaves workers unpinned). Every
/// test calls it; only the first call of a test binary can take effect.
pub fn setup() {
    let _ = runtime::configure(runtime::Config::default().workers(2));
}

/// A generous bound for things that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(20);
