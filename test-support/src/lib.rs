//! What the workspace's tests share: waits that fail a test instead of hanging it, a raw
//! HTTP/1.1 client that reads responses byte for byte, the one `log` recorder a test binary
//! can have ([`record_logs`]), and a walk down a coroutine's stack ([`write_stack_down_to`]).
//!
//! ```
//! use std::time::Duration;
//! use test_support::{eventually, within};
//!
//! let answer = within(Duration::from_secs(5), || 6 * 7);
//! assert_eq!(answer, 42);
//! let mut polls = 0;
//! eventually(Duration::from_secs(5), "the third poll", || {
//!     polls += 1;
//!     polls == 3
//! });
//! ```
//!
//! Dev-only: no crate of the workspace depends on it outside its tests.

mod client;
mod logs;
mod stack;
mod wait;

pub use crate::client::{Client, Cut, Reply, find, get, request};
pub use crate::logs::{Record, logged_at, messages_of, record_logs, records};
pub use crate::stack::write_stack_down_to;
pub use crate::wait::{eventually, within};
