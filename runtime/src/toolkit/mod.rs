//! The coroutine toolkit: Hyperf's coordination types for may coroutines and OS threads alike.
//!
//! | type | use it to |
//! |---|---|
//! | [`WaitGroup`] | wait until a counted set of tasks has finished |
//! | [`Channel`] | pass values between coroutines and threads through a bounded buffer |
//! | [`Parallel`] | run a set of keyed callbacks at once and collect their results in order |
//! | [`Concurrent`] | start fire-and-forget tasks with at most `limit` running |
//! | [`Barrier`] | wait until every holder of a token has dropped it |
//! | [`Mutex`] | mutual exclusion by name, process-wide, first come first served |
//! | [`Locker`] | single flight by name: one caller does the work, the others wait for it |
//! | [`Waiter`] | run a closure in a fresh coroutine and wait for its value, with a timeout |
//!
//! ```
//! use std::time::Duration;
//! use runtime::{Channel, WaitGroup};
//!
//! let results = Channel::new(8);
//! let group = WaitGroup::new();
//! for n in 1..=3 {
//!     group.add(1);
//!     let (results, group) = (results.clone(), group.clone());
//!     runtime::spawn(move || {
//!         results.push(n * n, None).unwrap();
//!         group.done().unwrap();
//!     });
//! }
//! assert!(group.wait(Some(Duration::from_secs(10))));
//! let mut squares: Vec<i32> = (0..3).map(|_| results.pop(None).unwrap()).collect();
//! squares.sort();
//! assert_eq!(squares, [1, 4, 9]);
//! ```
//!
//! # Waiting
//!
//! Every blocking call parks the calling coroutine (never its OS thread) and works the same from
//! a plain thread. Waits are built on [`coordinator::WaitList`], so waiters are woken in arrival
//! order and a wait that times out (or a coroutine cancelled while waiting) leaves nothing
//! behind — a polling loop can run for the life of a server.
//!
//! Timeouts are `Option<Duration>`: `None` waits as long as it takes, `Some(Duration::ZERO)` only
//! checks and never parks, and every positive timeout is honoured, also below a millisecond and
//! in a coroutine. A timeout too large to represent waits as long as it takes.

mod barrier;
mod channel;
mod concurrent;
mod locker;
mod mutex;
mod parallel;
mod slots;
mod timeout;
mod wait_group;
mod waiter;

pub use self::barrier::{Barrier, BarrierToken};
pub use self::channel::{Channel, PopError, PushError};
pub use self::concurrent::Concurrent;
pub use self::locker::{Locker, LockerGuard};
pub use self::mutex::{KeyedMutexGuard, Mutex};
pub use self::parallel::{Parallel, ParallelError, TaskError, TaskFailure};
pub use self::wait_group::{WaitGroup, WaitGroupError};
pub use self::waiter::{Waiter, WaiterError};
