//! [`Barrier`]: wait until every holder of a token has dropped it.

use std::fmt;
use std::time::Duration;

use super::wait_group::WaitGroup;

/// Hands out [`BarrierToken`]s and waits until every one of them has been dropped.
///
/// Use it when the parties to wait for are easier to count by ownership than by calls: give a
/// token (or a clone of one) to every coroutine to wait for, and [`wait`](Self::wait) returns
/// once the last token is gone — whether its holder returned, panicked or was cancelled, since
/// unwinding drops it too. Unlike [`std::sync::Barrier`], the holders never wait for each
/// other; only the callers of `wait` do.
///
/// A `wait` with no token out returns at once: hand the tokens out before waiting. Once a `wait`
/// has returned, new tokens start the next round.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use runtime::Barrier;
///
/// let barrier = Barrier::new();
/// for _ in 0..3 {
///     let token = barrier.token();
///     runtime::spawn(move || {
///         // ... the coroutine's work, holding the token ...
///         drop(token);
///     });
/// }
/// assert!(barrier.wait(Some(Duration::from_secs(10))));
/// assert_eq!(barrier.holders(), 0);
/// ```
#[derive(Clone, Default)]
pub struct Barrier {
    // A token is one pending task of a wait group: made by `add(1)`, dropped by `done()`.
    holders: WaitGroup,
}

/// A token of a [`Barrier`]: the barrier's waiters wait until every token — clones included —
/// has been dropped.
pub struct BarrierToken {
    holders: WaitGroup,
}

impl Barrier {
    /// A barrier with no token out.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new token; the barrier's waiters now wait for it too.
    pub fn token(&self) -> BarrierToken {
        self.holders.add(1);
        BarrierToken {
            holders: self.holders.clone(),
        }
    }

    /// Waits until every token has been dropped; `true` once they have, `false` when `timeout`
    /// ran out first (`None`: waits as long as it takes).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        self.holders.wait(timeout)
    }

    /// How many tokens are out.
    pub fn holders(&self) -> usize {
        self.holders.count()
    }

    /// How many callers are parked in [`wait`](Self::wait) right now.
    pub fn waiters(&self) -> usize {
        self.holders.waiters()
    }
}

impl Clone for BarrierToken {
    /// Another token of the same barrier, counted on its own.
    fn clone(&self) -> Self {
        self.holders.add(1);
        BarrierToken {
            holders: self.holders.clone(),
        }
    }
}

impl Drop for BarrierToken {
    fn drop(&mut self) {
        // Every token was counted by `add(1)` when it was made: the count cannot be zero here.
        let _ = self.holders.done();
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("holders", &self.holders())
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl fmt::Debug for BarrierToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierToken")
            .field("holders", &self.holders.count())
            .finish()
    }
}
