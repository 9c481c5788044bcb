//! Turning a toolkit wait's `Option<Duration>` timeout into the instant the wait must end.

use std::time::{Duration, Instant};

/// The instant a wait of `timeout` started now must end, `None` for no end (also when the
/// timeout is too large to represent, which is as good as forever).
pub(super) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}
