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

/// Left in a coroutine by its task (a `may::coroutine_local!` lives as long as the coroutine,
/// worker coroutines included): reports on its channel when the coroutine ends.
struct ReportsEnd(std::sync::mpsc::Sender<()>);

impl Drop for ReportsEnd {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

may::coroutine_local!(static END: std::cell::RefCell<Option<ReportsEnd>> = std::cell::RefCell::new(None));

/// Makes the coroutine the caller runs on send on `ended` when it ends.
pub fn report_coroutine_end(ended: std::sync::mpsc::Sender<()>) {
    END.with(|end| *end.borrow_mut() = Some(ReportsEnd(ended)));
}
